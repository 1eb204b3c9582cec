"""回头督办 and 评议 decisions in plain functions: when look-backs fall due, what a complaint
leads to (重办 or 领导领衔督办), when a case's loop is complete, and the 回头看 results that
representatives send back (inbox/verifications: 案件编号, 核实结果, 说明, 核实人, 核实时间).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum
from pathlib import Path

from minqing.channels.base import make_source_key, parse_datetime, undecodable_reason
from minqing.channels.tabular import (
    open_table,
    row_excerpt,
    row_is_blank,
    row_undecodable,
)
from minqing.i18n import _, ngettext
from minqing.normalize import normalize_text
from minqing.reasons import Reason, reason
from minqing.records import Rejected
from minqing.workdays import LOCAL_TZ, WorkCalendar

# Lookback.result values once a 回头看 is recorded.
VERIFIED = "verified"
NOT_VERIFIED = "not_verified"
RECORDED = (VERIFIED, NOT_VERIFIED)
# Lookback.result of a 回头看 that nobody can do: the case still closes on the citizens' word.
NO_REPRESENTATIVE = "cancelled: no representative"  # Lookback.result holds 40 characters

# The hour (Beijing time) at which scheduled look-backs fall due on their working day.
DUE_HOUR = time(9)

VERIFICATION_COLUMNS: dict[str, list[str]] = {
    "case_ref": ["案件编号", "工单编号", "编号"],
    "result": ["核实结果", "回头看结果", "结果"],
    "note": ["说明", "核实说明", "情况说明", "备注"],
    "checker": ["核实人", "代表", "核实代表"],
    "checked_at": ["核实时间", "回头看时间", "时间"],
}
VERIFIED_WORDS = {"已核实": True, "核实": True, "已解决": True, "是": True,
                  "未核实": False, "未解决": False, "否": False}  # fmt: skip


# --- when look-backs fall due -----------------------------------------------------------------


def at_due_hour(day: date) -> datetime:
    """09:00 Beijing time on `day`, in UTC: when a look-back scheduled for that day is due."""
    return datetime.combine(day, DUE_HOUR, LOCAL_TZ).astimezone(UTC)


def local_day(moment: datetime) -> date:
    return moment.astimezone(LOCAL_TZ).date()


def end_of_local_day(moment: datetime) -> datetime:
    """The last instant of `moment`'s Beijing day: a scan acts on everything due that day, so
    the 08:30 run sends the reminders of 09:00 and the 02:00 night run those of the morning."""
    day = local_day(moment)
    return datetime.combine(day, time(23, 59, 59), LOCAL_TZ).astimezone(UTC)


def deferred_until(now: datetime, calendar: WorkCalendar) -> datetime | None:
    """None on a working day; otherwise when look-backs wait for (09:00 of the next working
    day): escalation goes out "the working day after the deadline", never on a Sunday."""
    today = local_day(now)
    if calendar.is_working_day(today):
        return None
    return at_due_hour(calendar.next_working_day(today))


def next_escalation_due(now: datetime, calendar: WorkCalendar, repeat_days: int) -> datetime:
    """超期督办 again `repeat_days` working days after today, at 09:00."""
    return at_due_hour(calendar.add_working_days(local_day(now), repeat_days))


def leader_escalation_due(
    case_due: datetime, calendar: WorkCalendar, overdue_days: int
) -> datetime:
    """领导领衔督办 once the case is `overdue_days` working days past its deadline, at 09:00."""
    return at_due_hour(calendar.add_working_days(local_day(case_due), overdue_days))


def overdue_working_days(case_due: datetime, now: datetime, calendar: WorkCalendar) -> int:
    """Working days after the deadline's day up to today (the day after the deadline is 1)."""
    return max(0, calendar.working_days_between(local_day(case_due), local_day(now)))


# --- complaints and closing -----------------------------------------------------------------


class Complaint(StrEnum):
    """What a 不满意 / 未办成 answer or a failed 回头看 leads to."""

    REOPEN = "reopen"  # 重办: back to the department with the reason
    LEADERS = "leaders"  # 领导领衔督办: reopened max_reopen times already


def after_complaint(reopen_count: int, max_reopen: int) -> Complaint:
    """Reopen while the case has been reopened fewer than `max_reopen` times, then the leaders."""
    return Complaint.REOPEN if reopen_count < max_reopen else Complaint.LEADERS


def is_complaint(satisfaction: str, solved: bool | None) -> bool:
    """不满意, or 办成 answered "no" (基本满意 but not solved is still not solved)."""
    return satisfaction == "不满意" or solved is False


def ready_to_close(
    verification_settled: bool,
    current_ratings: Sequence[tuple[str, bool | None]],
    contactable: int,
) -> bool:
    """A replied case closes (办结) when its loop is complete:

    - the 回头看 is recorded as verified (or the area has no representative to do it), and
    - the citizens have had their say: at least one current answer and no complaint among
      them — or nobody linked to the case can be contacted at all.

    Closing says nothing about the outcome: a case closed as B/C/D is still not solved.
    """
    if not verification_settled:
        return False
    if any(is_complaint(sat, solved) for sat, solved in current_ratings):
        return False
    return bool(current_ratings) or contactable == 0


# --- 回头看 results -----------------------------------------------------------------------------


@dataclass(frozen=True)
class VerificationRow:
    source_key: str
    source_ref: str
    case_ref: str
    verified: bool
    note: str | None
    checker: str | None
    checked_at: datetime | None


def parse_verifications(path: Path, checksum: str) -> Iterator[VerificationRow | Rejected]:
    """Rows of a 回头看 result file (CSV in any common encoding, or .xlsx)."""
    table = open_table(path, VERIFICATION_COLUMNS, ("case_ref", "result"))
    for row in table.rows:
        if row_is_blank(row):
            continue
        ref = f"{path.name}:{row.number}"

        def reject(
            why: Reason, ref: str = ref, number: int = row.number, excerpt: str = row_excerpt(row)
        ) -> Rejected:
            key = make_source_key("verification", checksum, number)
            return Rejected("verifications", key, ref, why, path.name, excerpt)

        if row_undecodable(row):
            yield reject(undecodable_reason())
            continue
        case_ref = table.text(row, "case_ref")
        result = table.text(row, "result").replace(" ", "")
        note = normalize_text(table.text(row, "note")) or None
        checker = table.text(row, "checker") or None
        when_text = table.text(row, "checked_at")
        checked_at = parse_datetime(table.cell(row, "checked_at")) if when_text else None
        if not case_ref:
            yield reject(reason("missing_case_number"))
        elif result not in VERIFIED_WORDS:
            yield reject(reason("unknown_verification", value=result))
        elif when_text and checked_at is None:
            yield reject(reason("unreadable_verification_time", value=when_text))
        elif not VERIFIED_WORDS[result] and not note:
            yield reject(reason("unverified_needs_note"))
        else:
            yield VerificationRow(
                source_key=make_source_key(
                    "verification", case_ref, result, checker, when_text, note
                ),
                source_ref=ref,
                case_ref=case_ref,
                verified=VERIFIED_WORDS[result],
                note=note,
                checker=checker,
                checked_at=checked_at,
            )


# --- what the look-back messages say ------------------------------------------------------------
# Each notice is one whole sentence of the catalogue; the case's number, its department and the
# dates (already formatted by the catalogue) are its values.


def reminder_notice(number: str, due: str) -> str:
    """到期提醒 to the department before the deadline."""
    return _("案件 %(number)s 将于 %(due)s 到期，请抓紧办理并按时答复。") % {
        "number": number,
        "due": due,
    }


def escalation_notice(department: str, number: str, due: str, days: int) -> str:
    """超期督办 to the department head, `days` working days after the deadline."""
    return ngettext(
        "%(department)s承办的案件 %(number)s 已于 %(due)s 超过办理时限（已超期 %(days)d 个"
        "工作日），至今未答复，请您督促办理。",
        "%(department)s承办的案件 %(number)s 已于 %(due)s 超过办理时限（已超期 %(days)d 个"
        "工作日），至今未答复，请您督促办理。",
        days,
    ) % {"department": department, "number": number, "due": due, "days": days}


def overdue_leaders_notice(department: str, number: str, due: str, days: int) -> str:
    """领导领衔督办 of a case still unanswered long after its deadline."""
    return ngettext(
        "%(department)s承办的案件 %(number)s 办理期限为 %(due)s，已超期 %(days)d 个工作日仍未"
        "答复，经多次督办未果，提请领导领衔督办。",
        "%(department)s承办的案件 %(number)s 办理期限为 %(due)s，已超期 %(days)d 个工作日仍未"
        "答复，经多次督办未果，提请领导领衔督办。",
        days,
    ) % {"department": department, "number": number, "due": due, "days": days}


def verification_request(number: str) -> str:
    """回头看: the area's representative is asked to check on the spot."""
    return _(
        "案件 %(number)s 已由承办单位答复，请您到现场回头看，核实问题是否真正解决，"
        "并记录“已核实”或“未核实”及说明。"
    ) % {"number": number}


# Where a complaint comes from (reopen_notice, complaint_leaders_notice).
FROM_VERIFICATION = "verification"  # the representative's 回头看 found it not done
FROM_RATING = "rating"  # a citizen answered 不满意 or 未办成
COMPLAINT_SOURCES = (FROM_VERIFICATION, FROM_RATING)
FROM_OFFICE = "office"  # an operator reopened it (reassignment_notice)


def complaint_note(note: str | None) -> str:
    """What the complaint said, ready to quote: its own closing stop dropped (a quoted 。 would
    double ours), or （未填写） when nothing was said."""
    said = note.rstrip("。.！!；;，, ") if note else ""
    return said or _("（未填写）")


def reopen_notice(source: str, number: str, round_: int, note: str) -> str:
    """重办通知 to the department: why the case comes back (the `source`'s reason and what the
    representative or the citizen said), and which time it is."""
    values = {"number": number, "round": round_, "note": note}
    if source == FROM_VERIFICATION:
        return (
            _(
                "案件 %(number)s 经回头看核实未通过，退回重办（第 %(round)d 次）。代表核实说明："
                "%(note)s。请重新办理；系统将重新交办并设定新的办理期限。"
            )
            % values
        )
    return (
        _(
            "案件 %(number)s 经群众评价不满意或未办成，退回重办（第 %(round)d 次）。群众评价意见："
            "%(note)s。请重新办理；系统将重新交办并设定新的办理期限。"
        )
        % values
    )


def reassignment_notice(source: str, round_: int, note: str) -> str:
    """What the top of a reopened case's new assignment says, to the lead and the co-handlers:
    that it is 重办, which time, and why (the representative's, the citizen's or the office's
    words, already redacted — never who said them)."""
    values = {"round": round_, "note": note}
    if source == FROM_OFFICE:
        return (
            _(
                "【重办】本案经本办复核，退回重办（第 %(round)d 次）。重办理由：%(note)s。请重新办理。"
            )
            % values
        )
    if source == FROM_VERIFICATION:
        return (
            _(
                "【重办】本案经回头看核实未通过，退回重办（第 %(round)d 次）。代表核实说明："
                "%(note)s。请针对核实发现的问题重新办理。"
            )
            % values
        )
    return (
        _(
            "【重办】本案经群众评价不满意或未办成，退回重办（第 %(round)d 次）。群众评价意见："
            "%(note)s。请针对群众意见重新办理。"
        )
        % values
    )


def complaint_leaders_notice(source: str, number: str, reopened: int, note: str) -> str:
    """领导领衔督办 of a case that was reopened `reopened` times and still fails."""
    values = {"number": number, "n": reopened, "note": note}
    if source == FROM_VERIFICATION:
        return (
            ngettext(
                "案件 %(number)s 已重办 %(n)d 次，仍回头看核实未通过（代表核实说明：%(note)s），"
                "提请领导领衔督办。",
                "案件 %(number)s 已重办 %(n)d 次，仍回头看核实未通过（代表核实说明：%(note)s），"
                "提请领导领衔督办。",
                reopened,
            )
            % values
        )
    return (
        ngettext(
            "案件 %(number)s 已重办 %(n)d 次，仍群众评价不满意或未办成（群众评价意见：%(note)s），"
            "提请领导领衔督办。",
            "案件 %(number)s 已重办 %(n)d 次，仍群众评价不满意或未办成（群众评价意见：%(note)s），"
            "提请领导领衔督办。",
            reopened,
        )
        % values
    )
