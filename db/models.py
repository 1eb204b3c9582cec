"""The data model (the nouns of DESIGN.md) as SQLAlchemy 2.x typed models."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from db.types import UTCDateTime
from minqing.reasons import Reason, stored
from minqing.states import CaseStatus, Outcome


def utcnow() -> datetime:
    return datetime.now(UTC)


def _enum(cls: type[StrEnum], name: str) -> Enum:
    # Stored as VARCHAR + CHECK on both backends, so adding a value needs no type migration.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=24,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class HandoffKind(StrEnum):
    ASSIGNMENT = "assignment"  # 交办
    REMINDER = "reminder"  # 到期提醒
    ESCALATION = "escalation"  # 超期督办 (department head)
    LEADER = "leader"  # 领导领衔督办
    REOPEN = "reopen"  # 重办通知
    WITHDRAWAL = "withdrawal"  # 改派撤回
    SURVEY = "survey"  # 满意度回访
    VERIFICATION = "verification"  # 回头看 request to the representative
    DUTY = "duty"  # 值班提醒: an alert to the office's duty contacts (tasks/duty.py)
    DEADLINE = "deadline"  # 办理时限调整: a provisional deadline recounted (tasks/deadlines.py)


# The messages written to departments about a case. A new assignment shows the department these
# (its history); the others go to the citizen, a representative or the duty contacts, whose
# names and addresses a department never sees.
DEPARTMENT_KINDS = frozenset(
    {
        HandoffKind.ASSIGNMENT,
        HandoffKind.REMINDER,
        HandoffKind.ESCALATION,
        HandoffKind.LEADER,
        HandoffKind.REOPEN,
        HandoffKind.WITHDRAWAL,
        HandoffKind.DEADLINE,
    }
)


class HandoffStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a deliverer; the SMTP outcome is not recorded yet
    SENT = "sent"
    FAILED = "failed"  # permanent refusal (5xx) or an uncertain send needing an operator
    DEAD = "dead"  # transient failures until the attempt limit


class LookbackKind(StrEnum):
    REMINDER = "reminder"
    ESCALATION = "escalation"
    LEADER = "leader"
    VERIFICATION = "verification"


class Satisfaction(StrEnum):
    SATISFIED = "满意"
    BASICALLY = "基本满意"
    DISSATISFIED = "不满意"


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


# Reference data, loaded from config/ (codes are stable; names may change)


class Department(Base):
    __tablename__ = "departments"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(254))
    head_name: Mapped[str | None] = mapped_column(String(60))
    head_email: Mapped[str | None] = mapped_column(String(254))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Area(Base):
    __tablename__ = "areas"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    representative_name: Mapped[str | None] = mapped_column(String(60))
    representative_email: Mapped[str | None] = mapped_column(String(254))


class Category(Base):
    __tablename__ = "categories"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    top: Mapped[str] = mapped_column(String(60))
    parent: Mapped[str | None] = mapped_column(String(60))
    deadline_days: Mapped[int] = mapped_column(Integer)


# People and what they sent


class Person(Base):
    """A citizen's identity and contact, kept apart from the text of what they wrote."""

    __tablename__ = "persons"
    id: Mapped[int] = mapped_column(primary_key=True)
    # "phone:<digits>" or "email:<address>": one person per contact; NULL for anonymous.
    identity_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    name: Mapped[str | None] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(40), index=True)
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    contact_ok: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IngestedFile(Base):
    """One input file seen by intake: taken (archived) or failed (unreadable), by checksum."""

    __tablename__ = "ingested_files"
    __table_args__ = (UniqueConstraint("channel", "checksum"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(400))
    checksum: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))  # taken | failed
    # Why it failed: a code of minqing/reasons.py and its values, worded when shown; `reason`
    # holds the text of rows written before the codes.
    reason_code: Mapped[str | None] = mapped_column(String(40))
    reason_params: Mapped[dict[str, Any] | None]
    reason: Mapped[str | None] = mapped_column(Text)
    items: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    ingested_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def why(self) -> Reason | None:
        return stored(self.reason_code, self.reason_params, self.reason)


class Submission(Base):
    """One item as it arrived, with provenance; several can belong to one case."""

    __tablename__ = "submissions"
    id: Mapped[int] = mapped_column(primary_key=True)
    source_key: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(40))
    source_file: Mapped[str | None] = mapped_column(String(400))
    file_checksum: Mapped[str | None] = mapped_column(String(64))
    source_ref: Mapped[str] = mapped_column(String(200), index=True)
    received_at: Mapped[datetime] = mapped_column(index=True)
    recorded_by: Mapped[str | None] = mapped_column(String(120))
    on_behalf_of: Mapped[str | None] = mapped_column(String(200))
    area_code: Mapped[str | None] = mapped_column(String(40))
    area_text: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(500), default="")
    text: Mapped[str] = mapped_column(Text)  # normalised, personal data redacted
    text_key: Mapped[str] = mapped_column(String(64))  # exact-duplicate key (hash)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    link_method: Mapped[str | None] = mapped_column(String(20))  # new | exact | near | operator
    similarity: Mapped[float | None] = mapped_column(Float)
    answered_on_spot: Mapped[bool] = mapped_column(Boolean, default=False)
    on_spot_reply: Mapped[str | None] = mapped_column(Text)
    group_ref: Mapped[str | None] = mapped_column(String(200))
    likes: Mapped[int | None] = mapped_column(Integer)
    attachments: Mapped[list[Any]] = mapped_column(default=list)
    flags: Mapped[list[Any]] = mapped_column(default=list)
    raw: Mapped[dict[str, Any]] = mapped_column(default=dict)  # restricted: the original
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case | None] = relationship(back_populates="submissions")
    person: Mapped[Person | None] = relationship()


CASE_NUMBER = re.compile(r"^MQ(\d{4})-(\d{6,})$")


class Case(Base):
    """The unit of handling: one problem, one lead department, one answer to every citizen."""

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_status_due", "status", "due_at"),
        # The console's case list pages newest-first by id within a filter (keyset pagination);
        # these also serve plain lookups by status, department or area (no single-column ones).
        Index("ix_cases_status_id", "status", "id"),
        Index("ix_cases_lead_department_id", "lead_department", "id"),
        Index("ix_cases_area_code_id", "area_code", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(500), default="")
    text: Mapped[str] = mapped_column(Text)
    text_key: Mapped[str] = mapped_column(String(64))
    area_code: Mapped[str | None] = mapped_column(String(40))
    category: Mapped[str | None] = mapped_column(String(60), index=True)
    category_confidence: Mapped[float | None] = mapped_column(Float)
    category_source: Mapped[str | None] = mapped_column(String(20))  # rule | model | operator
    category_top3: Mapped[list[Any]] = mapped_column(default=list)
    lead_department: Mapped[str | None] = mapped_column(ForeignKey("departments.code"))
    co_departments: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[CaseStatus] = mapped_column(_enum(CaseStatus, "case_status"))
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    # 审核原因: a code of minqing/reasons.py and its values, worded when shown; `review_reason`
    # holds the text of cases that waited before the codes.
    review_reason_code: Mapped[str | None] = mapped_column(String(40))
    review_reason_params: Mapped[dict[str, Any] | None]
    review_reason: Mapped[str | None] = mapped_column(Text)
    assigned_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    # 暂定: due_at was counted Monday–Friday through a year whose holidays are not configured
    # yet; recounted when config/calendar.yaml gains the year (tasks/deadlines.py).
    due_provisional: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    replied_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    outcome: Mapped[Outcome | None] = mapped_column(_enum(Outcome, "case_outcome"))
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)  # 1 head, 2 leaders
    supporters: Mapped[int] = mapped_column(Integer, default=1)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    submissions: Mapped[list[Submission]] = relationship(back_populates="case")

    @property
    def review(self) -> Reason | None:
        """Why the case waits for a person (审核原因), worded when shown."""
        return stored(self.review_reason_code, self.review_reason_params, self.review_reason)

    @review.setter
    def review(self, why: Reason | None) -> None:
        self.review_reason_code = why.code if why else None
        self.review_reason_params = dict(why.params) if why else None
        self.review_reason = None

    @property
    def number(self) -> str:
        return case_number(self.id, self.created_at)


def case_number(case_id: int, created_at: datetime) -> str:
    """The number people quote (案件编号), e.g. MQ2026-000123: year + database id."""
    return f"MQ{created_at:%Y}-{case_id:06d}"


def case_id_from_number(number: str) -> int | None:
    m = CASE_NUMBER.match(number.strip().upper())
    return int(m.group(2)) if m else None


class DedupEntry(Base):
    """A submission in the near-duplicate index: its shingles (for exact Jaccard) and MinHash
    sketch. Its case is the submission's current case, so merges and splits need no update."""

    __tablename__ = "dedup_entries"
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), primary_key=True)
    area: Mapped[str | None] = mapped_column(String(40))
    sketch: Mapped[bytes] = mapped_column(LargeBinary)
    shingles: Mapped[bytes] = mapped_column(LargeBinary)
    fingerprint: Mapped[str] = mapped_column(String(40))  # DedupParams it was made with


class DedupBand(Base):
    """MinHash LSH band hashes of indexed submissions: a night looks candidates up by hash."""

    __tablename__ = "dedup_bands"
    __table_args__ = ({"sqlite_with_rowid": False},)
    band_hash: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    submission_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)


class Handoff(Base):
    """An outgoing message in the transactional outbox: committed before it is sent."""

    __tablename__ = "handoffs"
    __table_args__ = (Index("ix_handoffs_status_next", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[HandoffKind] = mapped_column(_enum(HandoffKind, "handoff_kind"))
    department_code: Mapped[str | None] = mapped_column(String(40), index=True)
    recipient: Mapped[str] = mapped_column(String(254))
    recipient_name: Mapped[str | None] = mapped_column(String(120))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    attachments: Mapped[list[Any]] = mapped_column(default=list)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[HandoffStatus] = mapped_column(
        _enum(HandoffStatus, "handoff_status"), default=HandoffStatus.PENDING, index=True
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None]
    message_id: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sending_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]


class Reply(Base):
    """A department's answer to a case."""

    __tablename__ = "replies"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    department_code: Mapped[str | None] = mapped_column(String(40))
    received_at: Mapped[datetime]
    outcome: Mapped[Outcome] = mapped_column(_enum(Outcome, "reply_outcome"))
    text: Mapped[str] = mapped_column(Text)
    handler: Mapped[str | None] = mapped_column(String(120))  # 经办人
    via: Mapped[str] = mapped_column(String(20))  # import | web | email
    source_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Lookback(Base):
    """A scheduled check on a case: reminder, escalation, or 回头看 verification."""

    __tablename__ = "lookbacks"
    __table_args__ = (
        UniqueConstraint("case_id", "kind", "due_at"),
        Index("ix_lookbacks_open_due", "done_at", "due_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[LookbackKind] = mapped_column(_enum(LookbackKind, "lookback_kind"))
    due_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    result: Mapped[str | None] = mapped_column(
        String(40)
    )  # sent | verified | not_verified | cancelled
    checked_by: Mapped[str | None] = mapped_column(String(120))
    note: Mapped[str | None] = mapped_column(Text)
    handoff_id: Mapped[int | None] = mapped_column(ForeignKey("handoffs.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Survey(Base):
    """One satisfaction question to one citizen about one round of a case."""

    __tablename__ = "surveys"
    __table_args__ = (UniqueConstraint("case_id", "person_id", "round"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    round: Mapped[int] = mapped_column(Integer, default=0)  # the case's reopen_count when asked
    channel: Mapped[str] = mapped_column(String(20))  # email | phone
    handoff_id: Mapped[int | None] = mapped_column(ForeignKey("handoffs.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None]


class Rating(Base):
    """A citizen's answer; immutable — a newer answer supersedes, the old row stays."""

    __tablename__ = "ratings"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    survey_id: Mapped[int | None] = mapped_column(ForeignKey("surveys.id"))
    satisfaction: Mapped[Satisfaction] = mapped_column(_enum(Satisfaction, "satisfaction"))
    solved: Mapped[bool | None] = mapped_column(Boolean)  # 办成
    comment: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(20))  # web | phone | import
    rated_at: Mapped[datetime]
    source_key: Mapped[str] = mapped_column(String(200), unique=True)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("ratings.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RepresentativeEvaluation(Base):
    """代表集体评议: one representative's score for one department over one period. Immutable —
    a new score for the same (representative, department, period) supersedes, the old row stays."""

    __tablename__ = "representative_evaluations"
    __table_args__ = (Index("ix_representative_evaluations_period", "period_start", "period_end"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    representative: Mapped[str] = mapped_column(String(60))
    department_code: Mapped[str] = mapped_column(ForeignKey("departments.code"), index=True)
    score: Mapped[str] = mapped_column(String(10))  # 满意 / 基本满意 / 不满意, or 0–100 as written
    period: Mapped[str] = mapped_column(String(40))  # as written: 2026年, 2026年第四季度, 2026-11
    period_start: Mapped[date]  # the Beijing days the period covers, both inclusive
    period_end: Mapped[date]
    source_file: Mapped[str | None] = mapped_column(String(400))
    source_ref: Mapped[str] = mapped_column(String(200))
    source_key: Mapped[str] = mapped_column(String(200), unique=True)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("representative_evaluations.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Rejection(Base):
    """An input item that could not be taken, with the reason."""

    __tablename__ = "rejections"
    id: Mapped[int] = mapped_column(primary_key=True)
    source_key: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(40), index=True)
    source_file: Mapped[str | None] = mapped_column(String(400))
    source_ref: Mapped[str] = mapped_column(String(200))
    # A code of minqing/reasons.py and its values, worded when shown; `reason` holds the text
    # of rows written before the codes.
    reason_code: Mapped[str | None] = mapped_column(String(40))
    reason_params: Mapped[dict[str, Any] | None]
    reason: Mapped[str | None] = mapped_column(Text)
    excerpt: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    @property
    def why(self) -> Reason | None:
        return stored(self.reason_code, self.reason_params, self.reason)


class AuditEvent(Base):
    """Append-only record of every state change, re-route, merge/split, extension, rating."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(120))  # "system:<stage>" or an operator's name
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(60))
    from_state: Mapped[str | None] = mapped_column(String(40))
    to_state: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


# The web app (web/)


class Operator(Base):
    """A person who may log in to the operator console; the name is what the audit trail shows."""

    __tablename__ = "operators"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Part of every session cookie; raising it (logout, password change) ends all sessions.
    session_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]


class Upload(Base):
    """A file sent through a web form (reply attachment, look-back photo), kept under
    var/uploads by a random name and served to operators only."""

    __tablename__ = "uploads"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    entity: Mapped[str] = mapped_column(String(20))  # reply | lookback
    entity_id: Mapped[int | None] = mapped_column(Integer)
    original_name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(60))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    stored_name: Mapped[str] = mapped_column(String(200), unique=True)
    uploaded_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FormReceipt(Base):
    """A QR form submission as the web app answered it: the rendered form's one-time token
    (which is its 留言编号) and a keyed hash of what was sent from which browser. Pressing Back
    re-renders the form with a new token while the browser puts back what was typed; sent
    again, it finds the first answer here and gets the same 留言编号, and nothing new is
    spooled (the citizen is not counted twice)."""

    __tablename__ = "form_receipts"
    id: Mapped[int] = mapped_column(primary_key=True)
    form_id: Mapped[str] = mapped_column(String(40), unique=True)  # the receipt number
    content_key: Mapped[str] = mapped_column(String(64), index=True)  # HMAC, nothing readable
    station: Mapped[str] = mapped_column(String(40))
    with_phone: Mapped[bool] = mapped_column(Boolean, default=False)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
