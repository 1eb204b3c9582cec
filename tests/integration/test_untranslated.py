"""Nothing people read is left in English or in codes: after two nights on the bundled sample
(with rejected rows, cases waiting for review, replies, ratings, a refused message and its
audit trail), every console page, the public pages, every e-mail and the night's artifacts
are rendered and their visible text searched for Latin words. What may be Latin is what the
office or the citizens wrote (data), addresses, links, numbers and file names, and a short
list of product and format names; anything else is an untranslated text.

With English chosen, the same pages are searched for Chinese that is not data; and nights run
in English write every kind of e-mail (assignment to the lead and to a co-handler, reminder,
escalation, 重办, survey, 回头看 request, withdrawal, duty alert) without a Chinese word of
their own.
"""

from __future__ import annotations

import html as html_lib
import re
import shutil
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from rich.console import Console
from sqlalchemy import select
from typer.testing import CliRunner

from db.engine import Session
from db.models import (
    Area,
    AuditEvent,
    Case,
    Handoff,
    IngestedFile,
    Lookback,
    LookbackKind,
    Operator,
    Person,
    Rating,
    Rejection,
    Reply,
    Submission,
)
from mail.sink import stored_messages
from minqing.settings import reset_settings
from minqing.states import CaseStatus
from tasks.actions import reroute
from tasks.context import context
from tasks.deliver import deliver_now
from tasks.dispatch import dispatch_now
from tasks.hotissues import hot_issues_now
from tasks.imports import import_returns_now
from tasks.ingest import ingest_inbox_now
from tasks.lookback import scan_now
from tasks.metrics import night_tables, publish_now
from tasks.report import build_report_now
from tasks.surveys import surveys_now
from tasks.triage import triage_now
from tasks.urgent import tell_duty_now
from web.app import create_app
from web.testing import hidden_fields, link_in, message_text
from web.tokens import verify_link

SAMPLE = Path(__file__).resolve().parents[2] / "sample"
SECRET = "untranslated-secret-" + "u" * 40
OPERATOR, PASSWORD = "王小明", "long enough pw"

# Latin that is not a translation gap: product and format names, units, the outcome letters.
ALLOWED_WORDS = {
    "minqing", "Prefect", "Excel", "CSV", "JSON", "PDF", "PNG", "JPEG", "GIF", "QR", "KB",
    "MB", "UTF", "GB", "WeChat", "SMTP", "OK",
}  # fmt: skip
ALLOWED_PATTERNS = [
    r"https?://\S+",  # links
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",  # e-mail addresses
    # file names (before the case numbers: 答复模板_MQ2026-000001.csv is one name)
    r"[\w\-.（）()\u4e00-\u9fff]+\.(?:csv|xlsx|xls|jsonl|txt|eml|yaml|png|jpg|jpeg|pdf)\b",
    r"MQ\d{4}-\d{6}",  # case numbers
    r"\b[A-Za-z]*[-_]?\d[\w-]*",  # receipt and ticket numbers (GD2026…, qr-20261126-0009)
    r"\b(?:nightly-summary|nightly-rejections|failed-handoffs|every-item-answered|hot-issues|"
    r"routing-precision)\b",  # the artifacts' keys, as the Prefect UI lists them
    r"minqing handoffs list",  # a command the operator types
    r"docs/scores\.md",  # where the report's formulas are written down
    r"`/[^`]+`",  # a path on the worker's disk (the report's charts)
]
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def latin_words(text: str, data: Iterable[str]) -> list[str]:
    """The Latin words of `text` that are neither data nor allowed."""
    for value in sorted({d for d in data if d and re.search("[A-Za-z]", d)}, key=len, reverse=True):
        text = text.replace(value, " ")
    for pattern in ALLOWED_PATTERNS:
        text = re.sub(pattern, " ", text)
    return [w for w in _LATIN_WORD.findall(text) if w not in ALLOWED_WORDS]


_HIDDEN = re.compile(r"<(script|style)\b.*?</\1>|<!--.*?-->", re.S | re.I)
_ATTRS = re.compile(r'\b(?:placeholder|title|aria-label|alt|data-label)="([^"]*)"')
_BUTTON_VALUE = re.compile(r'<input[^>]*type="(?:submit|button)"[^>]*value="([^"]*)"')
_TAG = re.compile(r"<[^>]+>")
_INLINE = re.compile(r"</?(?:span|wbr|strong|em)\b[^>]*>")


def visible_text(page: str) -> str:
    """What a reader sees of an HTML page: text and the attributes shown on screen."""
    page = _INLINE.sub("", _HIDDEN.sub(" ", page))  # inline markup (<wbr>, a span) adds no space
    shown = _ATTRS.findall(page) + _BUTTON_VALUE.findall(page)
    return html_lib.unescape(" ".join([_TAG.sub(" ", page), *shown]))


def data_values(minq: Any) -> set[str]:
    """Everything the office's config or the citizens wrote, as stored: shown as it is."""
    ref = context().ref
    values: set[str] = {ref.office.name, ref.office.contact or ""}
    for items in (ref.departments, ref.areas, ref.stations):
        for item in items:
            values |= {str(v) for v in item.model_dump().values() if isinstance(v, str)}
    values |= {c.name for c in ref.flat_categories}
    urgent = ref.policy.urgent  # the words and rules that make a case urgent, quoted as reasons
    values |= {*urgent.words, *urgent.categories, *(r.name for r in urgent.rules)}
    with Session() as s:
        for model, columns in (
            (Submission, ("title", "text", "source_ref", "source_file", "recorded_by")),
            (Person, ("name", "email")),
            (Reply, ("text", "handler")),
            (Rating, ("comment",)),
            (Rejection, ("excerpt", "source_ref", "source_file")),
            (Handoff, ("recipient", "recipient_name", "last_error")),
            (Case, ("title", "text")),
            (IngestedFile, ("name",)),
        ):
            for row in s.execute(select(*(getattr(model, c) for c in columns))):
                values |= {str(v) for v in row if v}
        # the values inside kept reasons (a date as typed, a department's reply…)
        for params in (
            *s.scalars(select(Rejection.reason_params)),
            *s.scalars(select(IngestedFile.reason_params)),
            *s.scalars(select(Case.review_reason_params)),
        ):
            values |= {v for v in (params or {}).values() if isinstance(v, str) and v}
    return values


def copy_night(minq: Any, night: str) -> None:
    for folder in (SAMPLE / night / "inbox").iterdir():
        for path in folder.iterdir():
            shutil.copy(path, minq.inbox(folder.name) / path.name)


def refuse_jiaotong(envelope: Any) -> str | None:
    if any("jiaotong" in rcpt for rcpt in envelope.rcpt_tos):
        return "550 5.1.1 mailbox unavailable"
    return None


def run_night(minq: Any, now: datetime, behaviour: Any = None) -> dict[str, Any]:
    stages = {"ingest": ingest_inbox_now(), "imports": import_returns_now(now)}
    stages["triage"] = triage_now(now)
    stages["hot_issues"] = hot_issues_now(now)
    stages["dispatch"] = dispatch_now(now)
    stages["lookback"] = scan_now(now)
    stages["surveys"] = surveys_now(now)
    with minq.sink(behaviour=behaviour):
        stages["deliver"] = deliver_now(now)
    return publish_now(stages, now, artifacts=False)


def run_nights(minq: Any) -> list[dict[str, Any]]:
    """Two nights on the sample and one a month later (one department's inbox refusing mail),
    with rows the night must refuse; the figures of each night."""
    copy_night(minq, "night1")
    # Rows the night must refuse, each with its reason.
    (minq.inbox("hotline") / "12345_bad.csv").write_text(
        "工单编号,来电人,联系电话,标题,受理时间,诉求内容,所属区域\n"
        "GDX1,赵六,,,2026-11-27 09:00,,西城社区\n"
        "GDX2,钱七,13912340005,欠薪,2026-13-45,公司拖欠工资三个月。,北塘社区\n"
        ",孙八,13912340006,咨询,2026-11-27 11:00,我想问一下。,新华社区\n",
        encoding="gb18030",
    )
    (minq.inbox("qrform") / "qr_bad.jsonl").write_text('{"id": "x1", "content": \n[1]\n', "utf-8")
    first_night = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    nights = [run_night(minq, first_night, refuse_jiaotong)]
    copy_night(minq, "night2")
    nights.append(run_night(minq, first_night + timedelta(days=1), refuse_jiaotong))
    nights.append(run_night(minq, first_night + timedelta(days=30), refuse_jiaotong))
    return nights


@pytest.fixture
def office(minq: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The nights of `run_nights`, an operator logged in."""
    monkeypatch.setenv("MINQING_SECRET_KEY", SECRET)
    reset_settings()
    nights = run_nights(minq)

    import cli.web_cmds as web_cmds

    app = typer.Typer()
    web_cmds.register(app)
    app.command("noop")(lambda: None)
    added = CliRunner().invoke(
        app, ["operators", "add", OPERATOR], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert added.exit_code == 0, added.output
    with TestClient(create_app()) as client:
        yield {"client": client, "nights": nights}


def console_pages(client: TestClient) -> dict[str, str]:
    page = client.get("/console/login")
    pages = {"/console/login": page.text}
    r = client.post(
        "/console/login",
        data={**hidden_fields(page.text), "name": OPERATOR, "password": PASSWORD},
    )
    assert r.status_code == 200
    for path in (
        "/console",
        "/console/review",
        "/console/handoffs",
        "/console/rejections",
        "/console/figures",
    ):
        pages[path] = client.get(path).text
    pages["/console?ok=route_queued"] = client.get("/console?ok=route_queued").text  # a notice
    pages["/console/cases/0"] = client.get("/console/cases/0").text  # an error page
    with Session() as s:
        ids = list(s.scalars(select(Case.id).order_by(Case.id)))
    for case_id in ids:
        pages[f"/console/cases/{case_id}"] = client.get(f"/console/cases/{case_id}").text
    return pages


def public_pages(client: TestClient, mails: list[Any]) -> dict[str, str]:
    ref = context().ref
    station = ref.stations[0].code
    pages = {
        f"/s/{station}": client.get(f"/s/{station}").text,
        "/progress": client.get("/progress").text,
    }
    for prefix in ("/r/", "/p/", "/v/"):
        url = next((link_in(m, prefix) for m in mails if link_in(m, prefix)), None)
        if url is None and prefix == "/v/":  # no 回头看 fell due in these nights: the link it sends
            url = verification_link()
        assert url is not None, f"no e-mail carries a {prefix} link"
        path = url.split("://", 1)[1].split("/", 1)[1]
        pages[f"/{path}"] = client.get(f"/{path}").text
        if prefix == "/p/":
            pages[f"/{path}/progress"] = client.get(f"/{path}/progress").text
    return pages


def verification_link() -> str | None:
    with Session() as s:
        lb, area = s.execute(
            select(Lookback, Area)
            .join(Case, Case.id == Lookback.case_id)
            .join(Area, Area.code == Case.area_code)
            .where(Lookback.kind == LookbackKind.VERIFICATION, Lookback.done_at.is_(None))
            .limit(1)
        ).one()
        return verify_link(context().settings, lb.case_id, lb.id, area.representative_email)


def night_outputs(nights: list[dict[str, Any]]) -> dict[str, str]:
    """Each night's summary and table artifacts as they are published (headers and all)."""
    out: dict[str, str] = {}
    for number, f in enumerate(nights, start=1):
        out[f"night {number}: nightly-summary"] = f["markdown"]
        tables = {key: rows for key, (rows, _description) in night_tables(f).items()}
        tables["hot-issues"] = f["hot_issues"]
        for key, (_rows, description) in night_tables(f).items():
            out[f"night {number}: {key} (description)"] = description
        for key, rows in tables.items():
            out[f"night {number}: {key}"] = "\n".join(
                " | ".join(f"{k}: {v}" for k, v in row.items()) for row in rows
            )
    return out


def mail_texts(mails: list[Any]) -> dict[str, str]:
    out = {}
    for n, m in enumerate(mails):
        html = m.get_body(preferencelist=("html",))
        out[f"mail {n}: {m['Subject']}"] = "\n".join(
            [str(m["Subject"]), message_text(m), visible_text(html.get_content()) if html else ""]
        )
    return out


@pytest.mark.parametrize("minq", ["sqlite"], indirect=True)
def test_everything_people_read_is_in_chinese(minq, office):
    client = office["client"]
    mails = stored_messages(minq.mail_dir)
    outputs = {k: visible_text(v) for k, v in console_pages(client).items()}
    outputs |= {k: visible_text(v) for k, v in public_pages(client, mails).items()}
    outputs |= mail_texts(mails) | night_outputs(office["nights"])
    outputs |= report_outputs(datetime(2026, 12, 28, 15, 0, tzinfo=UTC))

    # The night really had what the pages must show in words.
    with Session() as s:
        assert s.scalar(select(Rejection.id).limit(1)) is not None
        assert s.scalar(select(Case.id).where(Case.review_reason_code.is_not(None)).limit(1))
        assert s.scalar(select(Handoff.id).where(Handoff.last_error.is_not(None)).limit(1))
        assert s.scalar(select(Reply.id).limit(1)) and s.scalar(select(Rating.id).limit(1))
    assert len(mails) > 10 and sum(k.startswith("/console/cases/") for k in outputs) > 10

    data = data_values(minq)
    found = {where: words for where, text in outputs.items() if (words := latin_words(text, data))}
    assert found == {}, "untranslated text:\n" + "\n".join(
        f"{where}: {sorted(set(words))}" for where, words in sorted(found.items())
    )


def test_the_check_finds_an_english_word_and_lets_data_and_formats_pass():
    data = {"Sunshine Garden", "li@example.cn"}
    assert latin_words("已交办 assigned", data) == ["assigned"]
    assert latin_words("system:triage created", data) == ["system", "triage", "created"]
    assert latin_words("反映 Sunshine Garden 路灯", data) == []
    assert latin_words("收件人 li@example.cn，详见 https://x.example/r/abc", data) == []
    assert latin_words("MQ2026-000012 · GD202611260153 · 12345热线工单_20261127.csv", data) == []
    assert latin_words("Excel 文件（PDF、CSV）", data) == []
    assert latin_words("也可填写本邮件附件“答复模板_MQ2026-000012.csv”", data) == []
    assert visible_text('<p title="hot line">x</p><script>var y</script>') == " x   hot line"


_CJK_RUN = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]+")


def chinese_left(text: str, data: Iterable[str], *, punctuation: bool = False) -> list[str]:
    """Chinese in `text` that is not data (what citizens and the office's config wrote); with
    `punctuation`, Chinese punctuation between data too (城管科、住建科 is not English)."""
    for value in sorted({d for d in data if d and _CJK_RUN.search(d)}, key=len, reverse=True):
        text = text.replace(value, " ")
    runs = _CJK_RUN.findall(text)
    return runs if punctuation else [run for run in runs if re.search(r"[\u4e00-\u9fff]", run)]


def workbook_texts(path: Path) -> dict[str, str]:
    """Every sheet's name, headers and text cells (what a reader of the workbook sees)."""
    book = load_workbook(path)
    out = {"workbook: sheet names": "\n".join(book.sheetnames)}
    for ws in book.worksheets:
        rows = ws.iter_rows(values_only=True)
        out[f"workbook: {ws.title}: headers"] = "\n".join(str(v) for v in next(rows, ()) if v)
        out[f"workbook: {ws.title}: cells"] = "\n".join(
            v for row in rows for v in row if isinstance(v, str)
        )
    return out


def report_outputs(now: datetime) -> dict[str, str]:
    """The period report of the nights (workbook, summary, artifacts) and the hot-issue table
    of the second night."""
    result = build_report_now(date(2026, 10, 1), date(2026, 12, 31), now=now, artifacts=False)
    files = result["files"]
    out = workbook_texts(Path(files["workbook"]))
    out["report.md"] = html_lib.unescape(Path(files["markdown"]).read_text(encoding="utf-8"))
    out["report.html"] = visible_text(Path(files["html"]).read_text(encoding="utf-8"))
    for key, artifact in result["artifacts"].items():
        rows = artifact.get("table", [])
        out[f"artifact {key}"] = "\n".join(
            [artifact["description"], html_lib.unescape(artifact.get("markdown", ""))]
            + [" | ".join(f"{k}: {'' if v is None else v}" for k, v in row.items()) for row in rows]
        )
    out["report: warnings"] = "\n".join(result["warnings"])
    hot = hot_issues_now(datetime(2026, 11, 28, 15, 0, tzinfo=UTC))  # the second night's table
    assert hot["rows"], "the second night has hot issues to show"
    out["hot-issues"] = "\n".join(
        [hot["summary"], *(" | ".join(f"{k}: {v}" for k, v in row.items()) for row in hot["rows"])]
    )
    return out


@pytest.mark.parametrize("minq", ["sqlite"], indirect=True)
def test_with_english_chosen_the_pages_and_the_report_read_english(minq, office, monkeypatch):
    mails = stored_messages(minq.mail_dir)  # sent while the office read Chinese
    monkeypatch.setenv("MINQING_LANGUAGE", "en")
    reset_settings()
    client = office["client"]
    pages = {k: visible_text(v) for k, v in console_pages(client).items()}
    pages |= {k: visible_text(v) for k, v in public_pages(client, mails).items()}
    report = report_outputs(datetime(2026, 12, 28, 15, 0, tzinfo=UTC))
    assert "Department scores" in report["workbook: sheet names"]
    assert "(small, urgent and difficult matters in people's daily lives)" in report["report.md"]
    pages |= report
    # kept texts were written when the night ran (in Chinese) and stay as written
    data = data_values(minq) | kept_texts()
    data.add("民情直通车")  # the product's name
    found = {where: words for where, text in pages.items() if (words := chinese_left(text, data))}
    assert found == {}, "Chinese left in English:\n" + "\n".join(
        f"{where}: {sorted(set(words))}" for where, words in sorted(found.items())
    )
    assert "Case trail" in pages[next(k for k in pages if k.startswith("/console/cases/1"))]
    assert "the assignment is queued" in pages["/console?ok=route_queued"]
    assert "There is no such case." in pages["/console/cases/0"]


def kept_texts() -> set[str]:
    """Texts written when a night ran and kept as written (in that run's language)."""
    texts: set[str] = set()
    with Session() as s:
        texts |= {v for v in s.scalars(select(Case.category)) if v}
        texts |= {v for v in s.scalars(select(Handoff.subject)) if v}
        texts |= {v for v in s.scalars(select(Reply.handler)) if v}
        texts |= {v for v in s.scalars(select(Operator.name)) if v}
        for detail in s.scalars(select(AuditEvent.detail)):  # e.g. why a case is urgent
            texts |= {v for v in (detail or {}).values() if isinstance(v, str)}
        for excerpt in s.scalars(select(Rejection.excerpt)):  # a refused row's cells, quoted
            texts |= {cell.strip() for cell in (excerpt or "").split(",") if cell.strip()}
    return texts


@pytest.mark.parametrize("minq", ["sqlite"], indirect=True)
def test_with_english_chosen_the_nights_summary_and_tables_read_english(minq, monkeypatch):
    """The same nights run with MINQING_LANGUAGE=en: the summary, every table artifact (headers,
    values, the row saying there is nothing) and their descriptions are English around data."""
    monkeypatch.setenv("MINQING_LANGUAGE", "en")
    reset_settings()
    nights = run_nights(minq)
    outputs = night_outputs(nights)
    data = data_values(minq) | kept_texts() | {"民情直通车"}
    # the nights had something in each table, in English
    last = nights[-1]
    assert "| Collected |" in last["markdown"] and "| Not delivered |" in last["markdown"]
    tables = {key: rows for key, (rows, _d) in night_tables(last).items()}
    assert {"Case number", "To follow up", "Due"} <= set(tables["every-item-answered"][0])
    assert {"No.", "Status", "Attempts"} <= set(tables["failed-handoffs"][0])
    assert {"Case number", "Attention", "Likes"} <= set(nights[1]["hot_issues"][0])
    assert any(night["rejections"] for night in nights)
    found = {where: words for where, text in outputs.items() if (words := chinese_left(text, data))}
    assert found == {}, "Chinese left in English:\n" + "\n".join(
        f"{where}: {sorted(set(words))}" for where, words in sorted(found.items())
    )


def operator_cli(monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    """The operators' commands, printing wide enough that no cell is broken over two lines."""
    import cli.main as main_cmds
    from cli import cases_cmds, handoffs_cmds, index_cmds, review_cmds

    app = typer.Typer()
    for module in (cases_cmds, review_cmds, handoffs_cmds, index_cmds):
        monkeypatch.setattr(module, "console", Console(width=400))
        module.register(app)
    monkeypatch.setattr(main_cmds, "console", Console(width=400))
    app.command("check-config")(main_cmds.check_config)
    return app


@pytest.mark.parametrize("minq", ["sqlite"], indirect=True)
def test_with_english_chosen_the_operator_commands_read_english(
    minq, office, monkeypatch, tmp_path
):
    """After the Chinese nights, an operator reading English works the review queue, decides on
    cases (re-route, extend, merge, split, and two refusals), lists and previews the resend of
    undelivered messages, and checks a good and a broken config: English around data."""
    monkeypatch.setenv("MINQING_LANGUAGE", "en")
    reset_settings()
    app = operator_cli(monkeypatch)
    with Session() as s:
        cases = list(s.scalars(select(Case).order_by(Case.id)))
        review = [c.number for c in cases if c.status == CaseStatus.NEEDS_REVIEW][:2]
        open_cases = [c for c in cases if c.status == CaseStatus.ASSIGNED][:3]
        assigned = [c.number for c in open_cases]
        other = next(
            d.code for d in context().ref.departments if d.code != open_cases[0].lead_department
        )
        split_from = s.scalar(
            select(Submission.id)
            .join(Case, Case.id == Submission.case_id)
            .where(Case.supporters > 1, Case.status != CaseStatus.MERGED)
            .limit(1)
        )
    category = context().ref.flat_categories[0].name
    commands = {
        "review list": ["review", "list"],
        "review confirm": ["review", "confirm", review[0], "--operator", OPERATOR],
        "review correct": ["review", "correct", review[1], "--category", category,
                           "--operator", OPERATOR],
        "review correct (unknown category)": ["review", "correct", assigned[2], "--category",
                                              "nonesuch", "--operator", OPERATOR],
        "cases reroute": ["cases", "reroute", assigned[0], "--to", other, "--reason",
                          "not ours", "--operator", OPERATOR],
        "cases extend": ["cases", "extend", assigned[1], "--days", "3", "--reason",
                         "needs a survey", "--approver", OPERATOR],
        "cases merge": ["cases", "merge", assigned[2], "--into", assigned[1],
                        "--operator", OPERATOR],
        "cases merge (into itself)": ["cases", "merge", assigned[1], "--into", assigned[1],
                                      "--operator", OPERATOR],
        "cases split": ["cases", "split", str(split_from), "--operator", OPERATOR],
        "handoffs list": ["handoffs", "list"],
        "handoffs retry --dry-run": ["handoffs", "retry", "--dry-run"],
        "check-config": ["check-config"],
        "index status": ["index", "status"],
        "index rebuild (dry)": ["index", "rebuild"],
    }  # fmt: skip
    data = data_values(minq) | kept_texts() | {category}  # before the commands change cases
    outputs: dict[str, str] = {}
    exits: dict[str, int] = {}
    for name, args in commands.items():
        result = CliRunner().invoke(app, args)
        assert result.exception is None or isinstance(result.exception, SystemExit), name
        outputs[name], exits[name] = result.output, result.exit_code
    refused = {"review correct (unknown category)", "cases merge (into itself)"}
    assert {k for k, code in exits.items() if code} == refused, outputs
    assert "cases awaiting review" in outputs["review list"]
    assert "Case number" in outputs["review list"] and "Status" in outputs["handoffs list"]
    assert "deadline" in outputs["cases reroute"] and "confirmed" in outputs["review confirm"]
    from cli import handoffs_cmds, review_cmds

    for module in (review_cmds, handoffs_cmds):  # one block per row, each line "Header: value"
        monkeypatch.setattr(module, "console", Console(width=80))
    for name in ("review list", "handoffs list", "handoffs retry --dry-run"):
        narrow = CliRunner().invoke(app, commands[name]).output
        # the lines joined again, so that data wrapped over two lines is found whole
        outputs[f"{name} (80 columns)"] = "".join(line.strip() for line in narrow.splitlines())
    assert "Reason: " in outputs["review list (80 columns)"]
    assert "Department: " in outputs["handoffs retry --dry-run (80 columns)"]

    broken = tmp_path / "config"
    shutil.copytree(Path(minq.settings.resolved_config_dir), broken)
    departments = broken / "departments.yaml"
    departments.write_text(
        departments.read_text("utf-8").replace(
            "    email: banli@zhujian", "    mail: banli@zhujian"
        ),
        "utf-8",
    )
    (broken / "policy.yaml").write_text("policy: [\n", "utf-8")
    monkeypatch.setenv("MINQING_CONFIG_DIR", str(broken))
    reset_settings()
    invalid_yaml = CliRunner().invoke(app, ["check-config"])
    (broken / "policy.yaml").unlink()
    unknown_key = CliRunner().invoke(app, ["check-config"])
    assert invalid_yaml.exit_code == 2 and unknown_key.exit_code == 2
    outputs["check-config (invalid YAML)"] = invalid_yaml.output
    outputs["check-config (unknown key)"] = unknown_key.output
    assert "mail" in unknown_key.output

    found = {where: words for where, text in outputs.items() if (words := chinese_left(text, data))}
    assert found == {}, "Chinese left in English:\n" + "\n".join(
        f"{where}: {sorted(set(words))}\n{outputs[where]}" for where, words in sorted(found.items())
    )


# --- e-mails written while the office reads English ------------------------------------------

REROUTE_REASON = "应由区交通运输局办理"  # what the operator wrote: kept as written
REPRESENTATIVE_NOTE = "现场查看，路灯还是不亮"  # what the representative wrote


def assigned_case_with_co_handler() -> tuple[int, str]:
    """An assigned case and a department it may be re-routed to."""
    ref = context().ref
    with Session() as s:
        case = s.scalars(
            select(Case).where(Case.status == "assigned").order_by(Case.id).limit(1)
        ).one()
        other = next(d.code for d in ref.departments if d.code != case.lead_department)
        return case.id, other


def verification_file(minq: Any) -> None:
    """A representative's 回头看 result that fails the first case waiting for it (重办)."""
    with Session() as s:
        number = (
            s.scalars(
                select(Case)
                .join(Lookback, Lookback.case_id == Case.id)
                .where(Lookback.kind == LookbackKind.VERIFICATION, Lookback.done_at.is_(None))
                .order_by(Case.id)
                .limit(1)
            )
            .one()
            .number
        )
    (minq.inbox("verifications") / "回头看结果.csv").write_text(
        "案件编号,核实结果,说明,核实人,核实时间\n"
        f"{number},未核实,{REPRESENTATIVE_NOTE},李代表,2026-12-20 10:00\n",
        encoding="utf-8",
    )


@pytest.fixture
def english_nights(minq: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sample's nights run with English chosen, plus what the nights alone do not write: a
    re-routing, the duty alert about urgent cases, the 回头看 requests and a failed 回头看.
    Returns the kinds of the messages written."""
    monkeypatch.setenv("MINQING_SECRET_KEY", SECRET)
    monkeypatch.setenv("MINQING_LANGUAGE", "en")
    reset_settings()
    first_night = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    copy_night(minq, "night1")
    run_night(minq, first_night)
    with minq.sink():
        assert tell_duty_now(first_night + timedelta(minutes=5))["told"] > 0
    case_id, other = assigned_case_with_co_handler()
    with Session() as s, s.begin():
        assert reroute(
            s, context(), case_id, other, REROUTE_REASON, OPERATOR, first_night + timedelta(hours=1)
        )
    copy_night(minq, "night2")
    run_night(minq, first_night + timedelta(days=1))
    for days in (7, 20):  # deadlines near (到期提醒), then long past (超期督办, 领导领衔督办)
        run_night(minq, first_night + timedelta(days=days))
    verification_file(minq)
    run_night(minq, first_night + timedelta(days=24))
    run_night(minq, first_night + timedelta(days=34))  # the replies' 回头看 fall due
    with Session() as s:
        return sorted({k.value for k in s.scalars(select(Handoff.kind))})


def every_message(minq: Any) -> dict[str, str]:
    """Every message as written (subject, text and HTML of each outbox row) and as received."""
    out = {}
    with Session() as s:
        for h in s.scalars(select(Handoff).order_by(Handoff.id)):
            out[f"handoff {h.id} ({h.kind.value}): {h.subject}"] = "\n".join(
                [h.subject, h.body_text, visible_text(h.body_html)]
            )
    return out | mail_texts(stored_messages(minq.mail_dir))


@pytest.mark.parametrize("minq", ["sqlite"], indirect=True)
def test_with_english_chosen_every_email_reads_english(minq, english_nights):
    assert set(english_nights) >= {
        "assignment", "reminder", "escalation", "leader", "reopen", "withdrawal", "survey",
        "verification", "duty",
    }  # fmt: skip
    messages = every_message(minq)
    assert any("[Assignment · co-handling]" in k for k in messages)  # a co-handler's copy
    data = data_values(minq) | {REROUTE_REASON, REPRESENTATIVE_NOTE}
    data |= {" ".join(d.split()) for d in data}  # a title on one line, as a subject holds it
    data |= {d.rstrip("。.！!；;，, ") for d in data}  # a comment quoted without its own stop
    found = {
        where: words
        for where, text in messages.items()
        if (words := chinese_left(text, data, punctuation=True))
    }
    assert found == {}, "Chinese left in English e-mails:\n" + "\n".join(
        f"{where}: {sorted(set(words))}" for where, words in sorted(found.items())
    )
