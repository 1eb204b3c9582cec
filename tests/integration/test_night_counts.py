"""The night counts everything that came in since the last night, whatever the way in (on
SQLite and PostgreSQL): a reply and a rating given on the web pages, a file read by `minqing
ingest`, each once, with where it came from; and 交办 tells first assignments from 重办."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import select
from typer.testing import CliRunner

from cli.main import app
from db.engine import Session
from db.models import Case, Handoff, HandoffKind
from minqing.summary import summary_lines
from tasks.deliver import deliver_now
from tasks.dispatch import dispatch_now
from tasks.imports import import_returns_now
from tasks.ingest import ingest_inbox_now
from tasks.lookback import scan_now
from tasks.metrics import figures, mark_counted
from tasks.reroute import reroute_case
from tasks.surveys import surveys_now
from tasks.triage import triage_now
from web.testing import hidden_fields

LAMP = "东湖社区惠民小区3栋门口路灯坏了一个星期，晚上很黑，老人出门不安全，请尽快维修。"
HEADER = "工单编号,来电人,联系电话,标题,受理时间,诉求内容,所属区域"
ROWS = [
    "GD201,张三,13912340001,夜间施工,2026-11-27 09:32,南苑社区工地夜间施工噪音扰民，严重影响休息。,南苑社区",
    "GD202,李四,13912340002,欠薪,2026-11-27 10:05,北塘社区某公司拖欠工资三个月，社保也没交。,北塘社区",
]


def night() -> dict[str, Any]:
    """One night's stages as flows/nightly.py runs them, its figures, and the mark it leaves."""
    stages = {
        "ingest": ingest_inbox_now(),
        "imports": import_returns_now(),
        "triage": triage_now(),
        "dispatch": dispatch_now(),
        "lookback": scan_now(),
        "surveys": surveys_now(),
        "deliver": deliver_now(),
    }
    f = figures(stages)
    mark_counted(f)
    return f


def link(kind: HandoffKind, path: str) -> str:
    with Session() as s:
        h = s.scalars(
            select(Handoff).where(Handoff.kind == kind).order_by(Handoff.id.desc())
        ).first()
        assert h is not None
        found = re.search(r"http://testserver(" + path + r"[A-Za-z0-9_.\-]+)", h.body_text)
        assert found is not None
        return found.group(1)


def post_form(client, path: str, data: dict[str, str]) -> None:
    page = client.get(path)
    assert client.post(path, data={**hidden_fields(page.text), **data}).status_code == 200


def test_web_replies_web_ratings_and_minqing_ingest_are_counted_once_with_their_way_in(
    client, minq, tmp_path: Path
):
    page = client.get("/s/donghu-jia")
    data = {**hidden_fields(page.text), "content": LAMP, "area": "东湖社区",
            "email": "citizen@example.cn", "consent": "yes", "name": "王芳"}  # fmt: skip
    assert client.post("/s/donghu-jia", data=data).status_code == 200
    first = night()
    assert (first["taken"], first["new_cases"], first["assigned_new"]) == (1, 1, 1)

    # during the day: the department replies on the web page, the citizen rates it 不满意 on
    # the rating page, and a clerk reads the hotline's late export with `minqing ingest`
    post_form(client, link(HandoffKind.ASSIGNMENT, "/r/"),
              {"outcome": "solved", "text": "已更换灯泡。", "handler": "刘工"})  # fmt: skip
    surveys_now()
    post_form(client, link(HandoffKind.SURVEY, "/p/"),
              {"satisfaction": "不满意", "solved": "no", "comment": "灯还是不亮"})  # fmt: skip
    export = tmp_path / "热线补录.csv"
    empty = "GD203,王五,13912340003,,2026-11-27 11:00,,北塘社区"  # no 诉求内容: refused
    export.write_text("\n".join([HEADER, *ROWS, empty]) + "\n", encoding="gb18030")
    result = CliRunner().invoke(app, ["ingest", str(export), "--channel", "hotline"])
    assert result.exit_code == 0, result.output

    second = night()
    assert second["taken"] == second["new_cases"] == 2
    assert second["taken_by_way"] == {"inbox": 0, "command": 2, "earlier": 0}
    assert [(f["name"], f["kept"]) for f in second["command_files"]] == [("热线补录.csv", True)]
    assert second["replies_by_way"] == {"web": 1} and second["ratings_by_way"] == {"web": 1}
    parts = ("assigned", "assigned_new", "assigned_reopened", "assigned_rerouted")
    assert tuple(second[k] for k in parts) == (3, 2, 1, 0)  # the 不满意 case is redone
    lines = dict(summary_lines(second))
    assert lines["收集"] == "2 条（minqing ingest 导入 2；12345热线 2）"
    # the refused row of the operator's file is in the night's 拒收, with its reason
    assert second["rejected"] == 1 and lines["拒收"].startswith("1 条")
    assert second["rejections"] == [{"来源": "热线补录.csv:4", "原因": "内容为空"}]
    assert lines["收到答复"] == "1 件（网页 1）" and lines["评价"] == "1 条（网页 1）"
    assert lines["交办"] == "3 件（新案 2，重办 1，改派 0）"
    assert lines["满意率"].startswith("累计 0.0%（0/1）")

    third = night()  # nothing new: nothing counted twice
    assert (third["taken"], third["replies"], third["ratings"], third["assigned"]) == (0, 0, 0, 0)
    assert third["command_files"] == []


def test_an_operators_reroute_since_the_last_night_is_part_of_the_nights_assignments(client):
    page = client.get("/s/donghu-jia")
    data = {**hidden_fields(page.text), "content": LAMP, "area": "东湖社区"}
    assert client.post("/s/donghu-jia", data=data).status_code == 200
    assert night()["assigned_new"] == 1
    with Session() as s:
        case = s.scalars(select(Case)).one()
        number, lead = case.number, case.lead_department
    other = next(code for code in ("chengguan", "zhujian", "shichang") if code != lead)
    reroute_case(number, other, reason="不属该单位职责", operator="李四")
    after = night()
    parts = ("assigned", "assigned_new", "assigned_reopened", "assigned_rerouted")
    assert tuple(after[k] for k in parts) == (1, 0, 0, 1)
    assert dict(summary_lines(after))["交办"] == "1 件（新案 0，重办 0，改派 1）"
    assert night()["assigned_rerouted"] == 0  # counted once
