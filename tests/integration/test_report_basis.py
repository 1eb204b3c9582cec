"""Through the import: November's visitors and calls, read in by a December night, count in
November's sentence both as 接待 and as 收集 — the office's sentence agrees with itself."""

from __future__ import annotations

from datetime import date

from tasks.dispatch import dispatch_now
from tasks.ingest import ingest_inbox_now
from tasks.report import build_report_now
from tasks.triage import triage_now

REGISTER = [
    "序号,接待日期,群众姓名,联系电话,所属社区/网格,反映内容,接待代表,是否现场答复,答复内容",
    "1,2026-11-27 09:05,周桂兰,13907310001,东湖社区,东湖花园3栋电梯经常停运，上周困住老人半小时，请督促物业尽快维修。,李秀英,否,",
    "2,2026-11-27 09:20,孙建华,13907310002,东湖社区,小区东门外夜宵摊每晚经营到凌晨两点，油烟和噪音严重影响休息。,李秀英,否,",
    "3,2026-11-27 09:48,吴国庆,13907310004,东湖社区,想咨询孩子明年上小学的学位怎么申请。,李秀英,是,已告知报名时间和所需材料。",
]
HOTLINE = [
    "工单编号,来电人,联系电话,标题,受理时间,诉求内容,所属区域",
    "GD101,张三,13912340001,路灯坏了,2026-11-28 09:32,西城路与建设路交叉口的路灯坏了半个多月，晚上过马路很危险。,西城社区",
]


def test_a_months_visitors_and_opinions_count_in_the_month_they_were_received(minq):
    (minq.inbox("register") / "接待登记_东湖站_20261127.csv").write_text(
        "\n".join(REGISTER) + "\n", encoding="utf-8"
    )
    (minq.inbox("hotline") / "12345_20261128.csv").write_text(
        "\n".join(HOTLINE) + "\n", encoding="utf-8"
    )
    ingest_inbox_now()  # read in now, in December (or later)
    triage_now()
    dispatch_now()
    november = build_report_now(date(2026, 11, 1), date(2026, 11, 30), artifacts=False)
    assert november["annual"]["citizens_received"] == 3
    assert november["annual"]["opinions_collected"] == 4
    assert november["annual"]["answered_on_the_spot"] == 1
    assert november["sentence"].startswith("接待选民群众3人次，收集社情民意4条，现场答复1条")
    later = build_report_now(date(2026, 12, 1), date(2027, 12, 31), artifacts=False)
    assert later["annual"]["citizens_received"] == later["annual"]["opinions_collected"] == 0
