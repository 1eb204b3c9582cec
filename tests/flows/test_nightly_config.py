"""A night with a broken config file stops at its first stage, load-reference, with the words
of `minqing check-config` — not later, half-way through triage, with a Python error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from db.engine import Session
from db.models import Submission
from flows.nightly import nightly
from minqing.reference import ConfigError
from minqing.settings import reset_settings


def test_a_night_with_a_wrong_classifier_or_triage_value_stops_at_load_reference(
    minq, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    broken = tmp_path / "config"
    shutil.copytree(Path(minq.settings.resolved_config_dir), broken)
    for name, old, new in (
        ("classifier.yaml", "review_threshold: 0.90", "review_threshold: 九十"),
        ("triage.yaml", "  window_days: 90", "  window_days: -5"),
    ):
        path = broken / name
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
    monkeypatch.setenv("MINQING_CONFIG_DIR", str(broken))
    reset_settings()
    (minq.inbox("hotline") / "12345.csv").write_text(
        "工单编号,来电人,联系电话,标题,受理时间,诉求内容,所属区域\n"
        "GD101,张三,13912340001,路灯,2026-11-27 09:30,东湖社区惠民小区3栋门口路灯坏了。,东湖社区\n",
        encoding="gb18030",
    )
    with minq.sink(), pytest.raises(ConfigError) as refused:
        nightly()
    said = str(refused.value)
    assert "classifier.yaml 第 " in said and "review_threshold：应为数字" in said
    assert "triage.yaml 第 " in said and "dedup.window_days：不能小于 0" in said
    assert "could not convert" not in said
    with Session() as s:  # refused before anything was read from the inbox
        assert s.scalar(select(func.count()).select_from(Submission)) == 0
    # `minqing nightly` says the same in a few lines and exits 2, as check-config does
    from typer.testing import CliRunner

    from cli.main import app

    with minq.sink():
        ran = CliRunner(env={"COLUMNS": "120"}).invoke(app, ["nightly", "--wait", "0"])
    assert ran.exit_code == 2, ran.output
    assert "review_threshold：应为数字" in ran.output and "运行 minqing check-config" in ran.output
