"""延期 (extending a case's deadline): what an extension must satisfy, whoever asks for it — the
console's date or `minqing cases extend --days` — and the notice the department gets. Plain
data in, the office's words out."""

from __future__ import annotations

from datetime import date

from minqing.i18n import _, pgettext
from minqing.messages import WEEKDAYS
from minqing.workdays import WorkCalendar

# The most an extension may add, in working days after the current deadline (about three months).
MAX_EXTENSION_DAYS = 60
# Statutory holidays fixed by date (全国年节及纪念日放假办法: 元旦, 劳动节, 国庆节): holidays in
# every year, also in one whose arrangement is not configured yet (counted Monday–Friday).
_FIXED_HOLIDAYS = frozenset({(1, 1), (5, 1), (10, 1), (10, 2), (10, 3)})


def day_text(day: date) -> str:
    """2027年01月04日（星期一）: a date with its weekday, as a clerk checks it."""
    return pgettext("deadline", "%(date)s（%(weekday)s）") % {
        "date": day.strftime(pgettext("strftime", "%Y年%m月%d日")),
        "weekday": _(WEEKDAYS[day.weekday()]),
    }


def is_deadline_day(day: date, calendar: WorkCalendar) -> bool:
    """Whether a deadline may fall on `day`: a working day, and never a statutory holiday fixed
    by date (which a year counted Monday–Friday does not know of)."""
    if (day.month, day.day) in _FIXED_HOLIDAYS:
        return False
    return calendar.is_working_day(day)


def next_deadline_day(day: date, calendar: WorkCalendar) -> date:
    """The first day after `day` a deadline may fall on."""
    day = calendar.next_working_day(day)
    while not is_deadline_day(day, calendar):
        day = calendar.next_working_day(day)
    return day


def extension_refusal(
    current: date, new: date, calendar: WorkCalendar, *, reason: str, approver: str
) -> str | None:
    """Why this extension cannot be made (in the office's words), or None. `current`: the
    day of the case's deadline now; `new`: the day asked for (its deadline is that day's end)."""
    if not reason.strip():
        return _("请填写延期理由")
    if not approver.strip():
        return _("请填写批准人（记入办理轨迹，并告知承办单位）")
    if new <= current:
        return _("新的办理时限须晚于当前时限（%(due)s）") % {"due": day_text(current)}
    if not is_deadline_day(new, calendar):
        return _(
            "%(day)s不是工作日（周末或法定节假日），办理时限须是工作日；其后第一个工作日是%(next)s"
        ) % {"day": day_text(new), "next": day_text(next_deadline_day(new, calendar))}
    latest = calendar.add_working_days(current, MAX_EXTENSION_DAYS)
    if new > latest:
        return _("延期最多 %(max)d 个工作日：办理时限最晚可延至%(latest)s") % {
            "max": MAX_EXTENSION_DAYS,
            "latest": day_text(latest),
        }
    return None


def extension_notice(previous: str, due: str, *, approver: str, reason: str) -> str:
    """What the lead department is told: the new deadline, who approved it and why."""
    return _(
        "本案办理时限已延期：由%(previous)s延至%(due)s（批准人：%(approver)s）。"
        "延期理由：%(reason)s。请在新的办理时限前答复。"
    ) % {"previous": previous, "due": due, "approver": approver, "reason": reason.rstrip("。.")}
