"""Plain records that travel between the channel parsers and the rest of the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from minqing.reasons import Reason, reason


@dataclass(frozen=True)
class Contact:
    """A citizen's identity and contact as given by the channel (all parts optional)."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None
    consent: bool = True  # False: the citizen asked not to be contacted (no survey)

    @property
    def is_empty(self) -> bool:
        return not (self.name or self.phone or self.email)


@dataclass
class Item:
    """One opinion as it arrived through a channel, before it is stored as a Submission.

    `source_key` is stable for the same row of the same source, so re-reading a file or an
    export that overlaps yesterday's adds nothing.
    """

    channel: str
    source_key: str
    source_ref: str  # row / line / message id inside the source, for people
    received_at: datetime  # timezone-aware
    text: str
    title: str = ""
    source_file: str | None = None
    file_checksum: str | None = None
    area: str | None = None
    recorded_by: str | None = None
    on_behalf_of: str | None = None
    contact: Contact = field(default_factory=Contact)
    answered_on_spot: bool = False
    on_spot_reply: str | None = None
    attachments: tuple[str, ...] = ()
    group_ref: str | None = None  # e.g. one enterprise visit that produced several items
    likes: int | None = None
    flags: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)
    # an e-mail that may answer one of minqing's own messages: stored as an opinion only when
    # it turns out to answer none (tasks/mail_answers.py)
    answer: MailAnswer | None = None


@dataclass(frozen=True)
class MailAnswer:
    """What an e-mail that looks like an answer says about what it answers: the Message-IDs it
    refers to (In-Reply-To, References) and the case number in a reply's subject
    (回复：【交办·承办】MQ2026-000210 …), with what an answer needs — the sender, the body (quoted
    earlier mail cut) and the attached tables (a filled-in 答复模板, .csv or .xlsx)."""

    references: tuple[str, ...] = ()  # "<…>", as minqing's handoffs keep their Message-IDs
    case_ref: str | None = None
    sender: str = ""
    sender_name: str | None = None
    text: str = ""
    tables: tuple[tuple[str, bytes], ...] = ()  # (file name, content)


@dataclass(frozen=True)
class Rejected:
    """An input item that could not be taken, with the reason. Nothing is silently dropped."""

    channel: str
    source_key: str
    source_ref: str
    reason: Reason  # a code and its values (minqing/reasons.py), rendered when shown
    source_file: str | None = None
    excerpt: str = ""


# What a store_* function returns for a row it already has: counted as known, not a rejection.
ALREADY_IMPORTED = "already_imported"


def unknown_case_reason(case_ref: str) -> Reason:
    """Why a returned row (reply, rating, 回头看) naming no known case is refused."""
    return reason("unknown_case", case=case_ref)


class UnreadableFile(Exception):
    """The whole file cannot be read (wrong format, truncated archive, missing columns);
    `str(exc)` is the reason in the current language."""

    def __init__(self, why: Reason) -> None:
        super().__init__(why)
        self.reason = why

    def __str__(self) -> str:
        return str(self.reason)
