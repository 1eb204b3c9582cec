"""Per-category review thresholds in the night's triage, and the precision of automatic routing
estimated from what came back: a department's answer (right), 不属职责 (wrong), nothing yet."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy import select

from db.engine import Session
from db.models import Case, CaseStatus, Submission, case_number
from mail.mailer import DryRunMailer
from minqing.classifier import save_model, train_model
from minqing.i18n import using
from minqing.settings import reset_settings
from minqing.workdays import LOCAL_TZ
from tasks.deliver import deliver_now
from tasks.dispatch import dispatch_now
from tasks.imports import import_returns_now
from tasks.ingest import ingest_inbox_now
from tasks.lookback import scan_now
from tasks.metrics import figures
from tasks.report import build_report_now
from tasks.routing_watch import routing_precision_now
from tasks.surveys import surveys_now
from tasks.triage import triage_now
from tests.integration.test_triage_model import drop, keyword_corpus

REPO = Path(__file__).resolve().parents[2]


def office_config(tmp_path: Path, monkeypatch, classifier_yaml: str) -> None:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    (config / "classifier.yaml").write_text(classifier_yaml, encoding="utf-8")
    monkeypatch.setenv("MINQING_CONFIG_DIR", str(config))
    reset_settings()


WAGES = [
    "公司拖欠工资三个月，社保也没有交，请人社部门帮忙。",
    "老板拖欠农民工工资，劳动合同也没签，请帮忙讨薪。",
    "单位不给缴纳养老保险和医保，退休后怎么办。",
]


def three_routed_one_held(minq, tmp_path, monkeypatch) -> None:
    """劳动和社会保障 is routed from confidence 0.01, every other category needs 0.999 (and the
    precision watch speaks from 2 outcomes): three wage complaints and one noise complaint
    are ingested and triaged."""
    office_config(
        tmp_path,
        monkeypatch,
        "review_threshold: 0.999\n"
        "category_thresholds:\n  劳动和社会保障: 0.01\n"
        "precision_watch:\n  target: 0.97\n  min_judged: 2\n  weeks: 4\n",
    )
    texts, labels = keyword_corpus(minq)
    save_model(train_model(texts, labels, cv_folds=0), minq.settings.models_dir)
    rows = [f"GW{k},张三,1390000000{k},欠薪,2026-11-27 09:0{k},{t},北塘社区"
            for k, t in enumerate(WAGES)]  # fmt: skip
    rows.append(
        "GN1,李四,13900000009,噪音,2026-11-27 09:30,工地夜间施工噪音扰民，严重影响休息。,南苑社区"
    )
    drop(minq, rows)
    ingest_inbox_now()
    triage_now()


def one_answered_one_bounced(minq) -> None:
    """Dispatch; the department answers the first wage case and returns the second 不属职责."""
    dispatch_now()
    with Session() as s:
        number = {
            ref: case_number(case_id, created)
            for ref, case_id, created in s.execute(
                select(Submission.source_ref, Case.id, Case.created_at).join(
                    Case, Case.id == Submission.case_id
                )
            ).all()
        }
    today = datetime.now(UTC).astimezone(LOCAL_TZ).date()  # replies dated after the assignment
    (minq.inbox("replies") / "r.csv").write_text(
        "案件编号,答复时间,办理结果,答复内容,经办人\n"
        f"{number['GW0']},{today} 10:00,A,已督促企业发放工资,王五\n"
        f"{number['GW1']},{today} 11:00,不属职责,属劳动监察大队职责,赵六\n",
        encoding="utf-8",
    )
    import_returns_now()


def night_stages() -> dict:
    """What each stage of a night (with nothing new) reports, for the metrics."""
    return {
        "ingest": ingest_inbox_now(),
        "imports": import_returns_now(),
        "triage": triage_now(),
        "dispatch": dispatch_now(),
        "lookback": scan_now(),
        "surveys": surveys_now(),
        "deliver": deliver_now(mailer=DryRunMailer()),
    }


def test_each_category_is_routed_at_its_own_threshold_and_outcomes_give_its_precision(
    minq, tmp_path, monkeypatch
):
    three_routed_one_held(minq, tmp_path, monkeypatch)
    with Session() as s:
        cases = {
            ref: case
            for ref, case in s.execute(
                select(Submission.source_ref, Case).join(Case, Case.id == Submission.case_id)
            ).all()
        }
    assert {cases[f"GW{k}"].status for k in range(3)} == {CaseStatus.TRIAGED}
    noise = cases["GN1"]
    assert noise.status is CaseStatus.NEEDS_REVIEW
    assert noise.review_reason_code == "low_confidence"
    reason = str(noise.review)  # the threshold 0.999, shown with two decimals
    assert reason.startswith("分类把握不足：分类模型的置信度") and reason.endswith("低于 1.00")

    one_answered_one_bounced(minq)

    now = datetime.now(UTC)
    watch = routing_precision_now(now)
    overall = [r for r in watch["rows"] if r["分类"] == "全部"][0]
    # Four classified by the model, three routed; one answered (right), one bounced (wrong),
    # one still open.
    assert (overall["模型分类"], overall["自动分派"], overall["已有结果"], overall["分错"],
            overall["尚无结果"]) == (4, 3, 2, 1, 1)  # fmt: skip
    assert overall["准确率"] == "50.0%"
    labour = [r for r in watch["rows"] if r["分类"] == "劳动和社会保障"][0]
    assert labour["自动分派率"] == "100.0%"
    assert "自动分派 3/4 件（75.0%），准确率 50.0%（1/2 件已有结果" in watch["summary"]
    assert any("全部自动分派准确率 50.0%（1/2），低于目标 97.0%" in w for w in watch["warnings"])

    f = figures(night_stages(), now)
    assert f["routing_precision_text"] == watch["summary"]
    assert any("低于目标" in w for w in f["warnings"])

    # The weekly retrain puts a new model in use: the old model's weak week stays in the table,
    # and no longer pages the duty contacts every night until it leaves the window.
    texts, labels = keyword_corpus(minq)
    save_model(train_model(texts, labels, cv_folds=0), minq.settings.models_dir)
    after = routing_precision_now(datetime.now(UTC))
    assert after["rows"] == watch["rows"] and after["warnings"] == []
    # the summary still shows the week's figure, and says why nobody is warned about it
    assert after["summary"].startswith(watch["summary"])
    assert "起启用：准确率提醒只看它分派的案件" in after["summary"]
    assert "起启用" not in watch["summary"]

    # The period's report carries the same table, in its summary and as a sheet.
    today = now.astimezone(LOCAL_TZ).date()
    report = build_report_now(today - timedelta(days=30), today, now=now, artifacts=False)
    markdown = Path(report["files"]["markdown"]).read_text(encoding="utf-8")
    assert "## 自动分派准确率" in markdown
    assert "| 全部 | 4 | 3 | 75.0% | 2 | 1 | 50.0% |" in markdown
    sheet = pd.read_excel(report["files"]["workbook"], sheet_name="自动分派准确率")
    assert sheet.set_index("分类").loc["劳动和社会保障", "自动分派"] == 3
    # …and in English when English is chosen (the category is the office's own name)
    with using("en"):
        english = build_report_now(today - timedelta(days=30), today, now=now, artifacts=False)
    markdown = Path(english["files"]["markdown"]).read_text(encoding="utf-8")
    assert (
        "## Automatic routing precision" in markdown and "Automatic routing precision:" in markdown
    )
    assert "| All | 4 | 3 | 75.0% | 2 | 1 | 50.0% |" in markdown
    sheet = pd.read_excel(english["files"]["workbook"], sheet_name="Automatic routing precision")
    assert sheet.set_index("Category").loc["劳动和社会保障", "Routed automatically"] == 3
