"""延期 rules (minqing/extensions.py), the same for the console's date and `cases extend --days`:
every refusal in the office's words, the deadline on a working day, and the notice a
department gets."""

from __future__ import annotations

from datetime import date

import pytest

from minqing.extensions import extension_notice, extension_refusal, next_deadline_day
from minqing.workdays import WorkCalendar

CONFIGURED = WorkCalendar.from_config(
    {"years": {2027: {"holidays": ["2027-01-01", "2027-02-06..2027-02-13"],
                      "workdays": ["2027-02-14"]}}}
)  # fmt: skip
UNCONFIGURED = WorkCalendar.from_config(None)  # 2027 counted Monday–Friday
DUE = date(2026, 12, 23)  # a Wednesday


@pytest.mark.parametrize("calendar", [CONFIGURED, UNCONFIGURED], ids=["configured", "fallback"])
@pytest.mark.parametrize(
    ("new", "reason", "approver", "refusal"),
    [
        (date(2027, 1, 4), "需协调供电公司", "刘芳", None),
        (date(2027, 1, 4), "需协调供电公司", " ", "请填写批准人（记入办理轨迹，并告知承办单位）"),
        (date(2027, 1, 4), "", "刘芳", "请填写延期理由"),
        (date(2026, 12, 23), "x", "刘芳", "新的办理时限须晚于当前时限（2026年12月23日（星期三））"),
        (date(2026, 12, 21), "x", "刘芳", "新的办理时限须晚于当前时限（2026年12月23日（星期三））"),
        # 元旦: a statutory holiday by date, also in a year whose arrangement is not configured
        (date(2027, 1, 1), "x", "刘芳",
         "2027年01月01日（星期五）不是工作日（周末或法定节假日），办理时限须是工作日；"
         "其后第一个工作日是2027年01月04日（星期一）"),
        (date(2026, 12, 26), "x", "刘芳",
         "2026年12月26日（星期六）不是工作日（周末或法定节假日），办理时限须是工作日；"
         "其后第一个工作日是2026年12月28日（星期一）"),
    ],
)  # fmt: skip
def test_an_extension_is_refused_in_the_office_s_words_or_allowed(
    calendar, new, reason, approver, refusal
):
    assert extension_refusal(DUE, new, calendar, reason=reason, approver=approver) == refusal


def test_an_extension_may_add_at_most_sixty_working_days():
    latest = CONFIGURED.add_working_days(DUE, 60)
    assert extension_refusal(DUE, latest, CONFIGURED, reason="x", approver="刘芳") is None
    later = CONFIGURED.next_working_day(latest)
    assert extension_refusal(DUE, later, CONFIGURED, reason="x", approver="刘芳") == (
        f"延期最多 60 个工作日：办理时限最晚可延至{latest:%Y年%m月%d日}（星期{'一二三四五六日'[latest.weekday()]}）"
    )


def test_a_holiday_in_a_configured_year_is_skipped_to_the_next_working_day():
    assert next_deadline_day(date(2027, 2, 5), CONFIGURED) == date(2027, 2, 14)  # 调休
    assert next_deadline_day(date(2027, 2, 5), UNCONFIGURED) == date(2027, 2, 8)


def test_the_notice_says_the_new_deadline_who_approved_it_and_why():
    assert extension_notice(
        "2026年12月23日（星期三）23:59", "2027年01月04日（星期一）23:59", approver="刘芳",
        reason="需协调供电公司",
    ) == (
        "本案办理时限已延期：由2026年12月23日（星期三）23:59延至2027年01月04日（星期一）23:59"
        "（批准人：刘芳）。延期理由：需协调供电公司。请在新的办理时限前答复。"
    )  # fmt: skip
