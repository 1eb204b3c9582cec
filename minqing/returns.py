"""What comes back from departments and citizens: reply and rating files (CSV/Excel rows).

Reply template columns: 案件编号, 答复时间, 办理结果, 答复内容, 经办人.
Rating columns: 案件编号, 联系电话, 满意度, 是否办成, 评价意见, 评价时间, 回访方式.
`案件编号` is the case number (MQ2026-000123) or the channel's own reference (a 12345 ticket).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from minqing.channels.base import make_source_key, parse_datetime, undecodable_reason
from minqing.channels.textfile import has_undecodable, open_text
from minqing.normalize import normalize_phone, normalize_text
from minqing.reasons import Reason, reason
from minqing.records import Rejected, UnreadableFile
from minqing.states import Outcome, parse_outcome
from minqing.workdays import LOCAL_TZ

SATISFACTION = ("满意", "基本满意", "不满意")
YES = {"是", "y", "yes", "true", "1", "办成", "已办成"}
NO = {"否", "n", "no", "false", "0", "未办成", "没办成"}


@dataclass(frozen=True)
class ReplyRow:
    source_key: str
    source_ref: str
    case_ref: str
    received_at: datetime
    outcome: Outcome
    text: str
    handler: str | None


@dataclass(frozen=True)
class RatingRow:
    source_key: str
    source_ref: str
    case_ref: str
    phone: str | None
    satisfaction: str
    solved: bool | None
    comment: str | None
    rated_at: datetime
    channel: str


def reply_time_problem(
    replied_at: datetime, assigned_at: datetime | None, now: datetime
) -> Reason | None:
    """Why a reply's time cannot be true, or None: dated before the case was assigned, or
    after today. Compared by Beijing day, so a reply dated only by day (read as 00:00) on the
    day of assignment is taken; handling time can then never be negative."""
    day = replied_at.astimezone(LOCAL_TZ).date()
    if assigned_at is not None and day < assigned_at.astimezone(LOCAL_TZ).date():
        return reason(
            "reply_before_assignment",
            replied=f"{replied_at.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M}",
            assigned=f"{assigned_at.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M}",
        )
    if day > now.astimezone(LOCAL_TZ).date():
        return reason(
            "reply_in_future",
            replied=f"{replied_at.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M}",
            today=f"{now.astimezone(LOCAL_TZ):%Y-%m-%d}",
        )
    return None


def read_rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a CSV (any common encoding) as dicts keyed by stripped header names."""
    with open_text(path) as fh:
        reader = csv.reader(fh)
        header = [h.strip().lstrip("\ufeff") for h in next(reader, [])]
        missing = [c for c in required if c not in header]
        if missing:
            raise UnreadableFile(reason("missing_columns", columns="、".join(missing)))
        for line_no, row in enumerate(reader, start=2):
            if any(cell.strip() for cell in row):
                yield (
                    line_no,
                    {h: (row[i].strip() if i < len(row) else "") for i, h in enumerate(header)},
                )


def parse_replies(path: Path, checksum: str) -> Iterator[ReplyRow | Rejected]:
    required = ("案件编号", "答复时间", "办理结果", "答复内容")
    for line_no, row in read_rows(path, required):
        ref = f"{path.name}:{line_no}"
        key = make_source_key("reply", checksum, line_no)

        def reject(
            why: Reason, ref: str = ref, key: str = key, row: dict[str, str] = row
        ) -> Rejected:
            return Rejected("replies", key, ref, why, path.name, ",".join(row.values())[:200])

        if any(has_undecodable(v) for v in row.values()):
            yield reject(undecodable_reason())
            continue
        outcome = parse_outcome(row["办理结果"])
        received = parse_datetime(row["答复时间"])
        if not row["案件编号"]:
            yield reject(reason("missing_case_number"))
        elif outcome is None:
            yield reject(reason("unknown_outcome", value=row["办理结果"]))
        elif received is None:
            yield reject(reason("unreadable_reply_time", value=row["答复时间"]))
        elif not row["答复内容"]:
            yield reject(reason("empty_reply"))
        else:
            yield ReplyRow(
                source_key=make_source_key(
                    "reply", row["案件编号"], received.isoformat(), row["答复内容"]
                ),
                source_ref=ref,
                case_ref=row["案件编号"],
                received_at=received,
                outcome=outcome,
                text=normalize_text(row["答复内容"]),
                handler=row.get("经办人") or None,
            )


def parse_ratings(path: Path, checksum: str) -> Iterator[RatingRow | Rejected]:
    required = ("案件编号", "满意度")
    for line_no, row in read_rows(path, required):
        ref = f"{path.name}:{line_no}"
        key = make_source_key("rating", checksum, line_no)

        def reject(
            why: Reason, ref: str = ref, key: str = key, row: dict[str, str] = row
        ) -> Rejected:
            return Rejected("ratings", key, ref, why, path.name, ",".join(row.values())[:200])

        satisfaction = row["满意度"]
        solved_text = row.get("是否办成", "").lower()
        rated_at = parse_datetime(row.get("评价时间")) if row.get("评价时间") else None
        if not row["案件编号"]:
            yield reject(reason("missing_case_number"))
        elif satisfaction not in SATISFACTION:
            yield reject(reason("unknown_satisfaction", value=satisfaction))
        elif solved_text and solved_text not in YES | NO:
            yield reject(reason("unknown_solved", value=row["是否办成"]))
        elif row.get("评价时间") and rated_at is None:
            yield reject(reason("unreadable_rating_time", value=row["评价时间"]))
        else:
            phone = normalize_phone(row.get("联系电话"))
            yield RatingRow(
                source_key=make_source_key(
                    "rating",
                    row["案件编号"],
                    phone,
                    satisfaction,
                    solved_text,
                    row.get("评价时间", ""),
                ),
                source_ref=ref,
                case_ref=row["案件编号"],
                phone=phone,
                satisfaction=satisfaction,
                solved=True if solved_text in YES else False if solved_text in NO else None,
                comment=normalize_text(row.get("评价意见", "")) or None,
                rated_at=rated_at or datetime.now(UTC),
                channel="phone" if "电话" in row.get("回访方式", "") else "import",
            )


# A citizen's answer to the survey e-mail, in words ("满意，已办成"): the satisfaction, and
# whether it was done. 满意 preceded by a negation other than 不满意 itself (不太满意,
# 不是很满意, 没有满意) is not read as 满意: such an answer is unclear.
_SATISFACTION_WORD = re.compile(r"(基本满意|不满意|满意)")
_NEGATION_BEFORE = re.compile(r"(不|没|未|无)[^，。,.;；！!？?\s]{0,3}$")
_NOT_DONE = re.compile(r"(未|没有?|不能|没能)办成")
_DONE = re.compile(r"办成")
ANSWER_LINES = 5  # an answer's words come first; further down is whatever else was written
# The survey in English asks for these words (the catalogue's msgstr of the survey's line).
_ENGLISH_WORDS = (
    (re.compile(r"\bbasically satisfied\b"), "基本满意"),
    (re.compile(r"\b(?:dissatisfied|unsatisfied|not satisfied)\b"), "不满意"),
    (re.compile(r"\bsatisfied\b"), "满意"),
    (re.compile(r"\b(?:not solved|unsolved)\b"), "未办成"),
    (re.compile(r"\bsolved\b"), "已办成"),
)


def rating_in_words(text: str) -> tuple[str, bool | None] | None:
    """(满意度, 是否办成) a citizen wrote in answer to the survey e-mail, read from the first
    ANSWER_LINES non-empty lines (quoted earlier mail already cut): exactly one of 满意 /
    基本满意 / 不满意, and 已办成 or 未办成 (None when it says neither). None when the answer
    says no satisfaction, two different ones (满意 … 不满意) or both 已办成 and 未办成: nothing
    is guessed. The English survey's words (satisfied, basically satisfied, dissatisfied;
    solved, not solved) count as theirs."""
    text = normalize_text(text).lower()
    for english, chinese in _ENGLISH_WORDS:
        text = english.sub(chinese, text)
    lines = [line for line in text.splitlines() if line.strip()]
    head = "\n".join(lines[:ANSWER_LINES])
    found = set()
    for m in _SATISFACTION_WORD.finditer(head):
        word = m.group(1)
        if word == "满意" and _NEGATION_BEFORE.search(head[: m.start()]):
            return None
        found.add(word)
    if len(found) != 1:
        return None
    not_done = len(_NOT_DONE.findall(head))
    done = len(_DONE.findall(head)) - not_done
    if not_done and done:
        return None
    return found.pop(), (False if not_done else True if done else None)


def answer_action(answered: str | None, survey_found: bool, has_tables: bool) -> str:
    """What an e-mail answering one of our messages about a case becomes: `rating` (a citizen's
    answer to the survey), `reply_file` (an answer to a department's message with tables
    attached: the reply template, imported as a reply file), `no_template` (a department's
    answer without one) or `kept` (anything else: kept for a clerk). `answered` is the kind of
    message answered (HandoffKind's value), None when only the subject named the case;
    `survey_found` says whether it answers a survey of this case (the survey's message, or
    the surveyed citizen's address)."""
    if answered == "survey" or (answered is None and survey_found and not has_tables):
        return "rating" if survey_found else "kept"
    if answered is None or answered in ANSWERED_BY_DEPARTMENTS:
        if has_tables:
            return "reply_file"
        return "no_template" if answered is not None else "kept"
    return "kept"


# The messages to a department that its reply answers (HandoffKind values): the assignment and
# every later message asking for the reply. (An 改派撤回 tells it to stop: an answer is kept.)
ANSWERED_BY_DEPARTMENTS = frozenset(
    {"assignment", "reminder", "escalation", "leader", "reopen", "deadline"}
)
