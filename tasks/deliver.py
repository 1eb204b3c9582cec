"""Deliver the outbox: send pending handoffs, record Message-ID and time, classify failures.

Each handoff is claimed (`pending` → `sending`, one atomic UPDATE, committed) before the SMTP
call and marked `sent` right after the server's "250". What a crash leaves behind:

- before the claim: the row is still `pending`; the next run sends it, once.
- between the claim and the server's "250" for it, or between that "250" and the `sent` mark:
  the row stays `sending`. The next run never resends it blindly: it marks it `failed` with the
  reason "interrupted during sending …", visible in `minqing handoffs list`, and an operator
  checks with the recipient and retries it deliberately (same Message-ID, so a mail client
  shows a duplicate as one message). This is the **remaining window**: at most one message
  per deliverer — the one in flight. When the crash came before the message was handed over,
  nothing arrived, and the operator's retry sends it once; when after, the retry would be a
  second copy, which is why it is the operator's call and never automatic.
- A timeout or a dropped connection *after* the message was handed over is the same
  uncertainty without a crash: `failed`, reason "uncertain: …" (see mail/mailer.py).

Stale `sending` rows are recognised **immediately** when this run holds the delivery lease —
a lock that the operating system (SQLite: `flock` on `<database>.deliver.lock`) or PostgreSQL
(a session advisory lock) releases the moment its holder dies, so holding it proves that no
other deliverer is alive. Without the lease (another deliverer is running: the nightly flow and
an operator's retry at the same time) only rows older than `STALE_SENDING` count as stale, and
the two deliverers share the queue safely because each claim is one conditional UPDATE.

`deliver_now(after_send=…)` and `before_send=…` are hooks for the crash tests (they run the
deliverer in a subprocess and kill it at exactly those points); production passes neither.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import task
from sqlalchemy import bindparam, insert, or_, select, text, update
from sqlalchemy import case as when_then

from db.engine import Session, get_engine
from db.lease import DELIVER, try_lease
from db.models import AuditEvent, Case, Handoff, HandoffKind, HandoffStatus
from db.queries import audit
from mail.mailer import (
    CONNECTION_FAILED,
    Attachment,
    DryRunMailer,
    Mailer,
    OutgoingMessage,
    SendError,
    make_mailer,
)
from minqing.delivery import after_failure
from minqing.handoffs import delivery_sentence, problem_lines
from minqing.photos import strip_metadata
from tasks.context import context
from tasks.limits import smtp_throttle

STALE_SENDING = timedelta(minutes=15)
ACTOR = "system:deliver"
INTERRUPTED = (
    "interrupted during sending: the SMTP server may have accepted it "
    "(Message-ID {message_id}); check with the recipient, then retry"
)


def deliver_now(
    now: datetime | None = None,
    *,
    ids: Sequence[int] | None = None,
    mailer: Mailer | None = None,
    before_send: Callable[[int], None] | None = None,
    after_send: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Send what is due (or exactly `ids`); returns counts and this run's failures.

    With MINQING_MAIL_MODE=dry-run (and no `mailer` given) nothing is claimed or sent: every
    due message is rendered and counted as `rehearsed`, and stays pending for a real run.
    """
    ctx = context()
    now = now or datetime.now(UTC)
    # The delivery lease (db/lease.py) dies with its holder, so holding it proves that no
    # other deliverer is alive. It does not wait: a second deliverer runs without it.
    with try_lease(DELIVER, entry="deliver") as (exclusive, _):
        interrupted = _fail_interrupted(immediate=exclusive)
        due = _due(now, ids)
        result: dict[str, Any] = {
            "sent": 0,
            "retry_later": 0,
            "failed": 0,
            "dead": 0,
            "interrupted": interrupted,
            "unreachable": 0,  # sends that could not connect to the SMTP server at all
            "postponed": 0,  # left pending untried once the server proved unreachable
            "problems": [],
        }
        if mailer is None and ctx.settings.mail_mode == "dry-run":
            return {**result, "rehearsed": _rehearse(due, ctx.settings.var_dir, result)}
        if not due:
            return result
        throttle = smtp_throttle()
        own_mailer = mailer is None
        mailer = mailer or make_mailer(
            ctx.settings, ctx.ref.office.mail_from, ctx.ref.office.short_name
        )
        policy = ctx.ref.policy.delivery

        answered = False  # the SMTP server answered in this pass (sent, or refused)

        def send(queue: deque[int], held: Held) -> None:
            """Send `queue` in order. Once the server answers, the messages `held` back after a
            connection failure join it: the urgent ones next, the others at the end."""
            nonlocal answered
            while queue:
                handoff_id = queue.popleft()
                throttle()  # before the claim: a missing rate limit leaves nothing `sending`
                row = _claim(handoff_id, datetime.now(UTC))
                if row is None:
                    continue  # another deliverer took it
                if before_send:
                    before_send(handoff_id)
                try:
                    message = _message(row, ctx.settings.var_dir)
                    mailer.send(message)
                except SendError as exc:
                    outcome = _record_failure(
                        handoff_id, exc, now, policy.max_attempts, policy.backoff_seconds
                    )
                    result[outcome] += 1
                    result["unreachable"] += exc.unreachable
                    result["problems"].append(
                        {
                            "handoff": handoff_id,
                            "to": row["to"],
                            "status": outcome,
                            "error": str(exc),
                        }
                    )
                    if exc.unreachable:
                        # The server is down or cut off: each further try would wait out the
                        # connect timeout and spend one of the message's attempts. The rest
                        # stay pending, untouched, for the next pass (deliver, every 15 min).
                        _note_unreachable(list(queue), str(exc))
                        result["postponed"] = len(queue)
                        return
                else:
                    if after_send:
                        after_send(handoff_id)
                    _record_sent(handoff_id, datetime.now(UTC))
                    result["sent"] += 1
                if not answered:
                    answered = True
                    queue.extendleft(reversed(held.urgent))
                    queue.extend(held.ordinary)

        try:
            # What waits out a backoff because the server could not be reached (an urgent
            # assignment tried while it was down) goes as soon as this pass reaches the server,
            # not hours after the messages queued behind it; until then it is not tried, so a
            # server still down costs it no attempt.
            held = Held() if ids is not None else _waiting_for_the_server(now)
            send(deque(due), held)
        finally:
            if own_mailer:
                mailer.close()
    return result


def _rehearse(due: Sequence[int], var_dir: Path, result: dict[str, Any]) -> int:
    """演练: render each due message as it would leave (the same header and attachment checks)
    and change nothing, so the next real run sends every one of them. A message that could not
    be sent is listed in the problems, still pending."""
    rehearsal = DryRunMailer()
    for handoff_id in due:
        with get_engine().connect() as conn:
            found = conn.execute(_ROW, {"handoff_id": handoff_id}).first()
        if found is None:
            continue
        row = _row(found)
        try:
            rehearsal.send(_message(row, var_dir))
        except SendError as exc:
            result["problems"].append(
                {"handoff": handoff_id, "to": row["to"], "status": "pending", "error": str(exc)}
            )
    return len(rehearsal.sent)


# The urgent first: duty alerts and the messages of urgent cases, then the rest in the order
# they were queued.
_URGENT_FIRST = (
    when_then((Handoff.kind == HandoffKind.DUTY, 0), (Case.priority == "urgent", 0), else_=1),
    Handoff.id,
)


def _pending(*conditions: Any) -> list[tuple[int, bool]]:
    """The pending messages that meet `conditions`, urgent first: (id, urgent)."""
    with Session() as s, s.begin():
        query = (
            select(Handoff.id, _URGENT_FIRST[0] == 0)
            .outerjoin(Case, Case.id == Handoff.case_id)
            .where(Handoff.status == HandoffStatus.PENDING, *conditions)
            .order_by(*_URGENT_FIRST)
        )
        return [(handoff_id, bool(urgent)) for handoff_id, urgent in s.execute(query)]


def _due(now: datetime, ids: Sequence[int] | None) -> list[int]:
    if ids is not None:
        found = _pending(Handoff.id.in_(list(ids)))
    else:
        found = _pending(or_(Handoff.next_attempt_at.is_(None), Handoff.next_attempt_at <= now))
    return [handoff_id for handoff_id, _ in found]


@dataclass(frozen=True)
class Held:
    """Pending messages held back until a pass reaches the SMTP server, urgent and others."""

    urgent: list[int] = field(default_factory=list)
    ordinary: list[int] = field(default_factory=list)


def _waiting_for_the_server(now: datetime) -> Held:
    """Pending messages whose backoff runs after a failure to reach the SMTP server."""
    found = _pending(
        Handoff.next_attempt_at > now,
        Handoff.last_error.startswith(CONNECTION_FAILED, autoescape=True),
    )
    return Held(
        urgent=[handoff_id for handoff_id, urgent in found if urgent],
        ordinary=[handoff_id for handoff_id, urgent in found if not urgent],
    )


# The two statements every message runs, built once. They run on a plain connection
# (engine.begin()), not an ORM session: per message, the ORM's session and bulk-update
# bookkeeping cost more than the statements themselves (bench/results/delivery.md).
_MESSAGE_COLUMNS = (
    Handoff.recipient,
    Handoff.recipient_name,
    Handoff.subject,
    Handoff.body_text,
    Handoff.body_html,
    Handoff.message_id,
    Handoff.attachments,
)
_CLAIM = (
    update(Handoff)
    .where(Handoff.id == bindparam("handoff_id"), Handoff.status == HandoffStatus.PENDING)
    .values(
        status=HandoffStatus.SENDING, sending_at=bindparam("now"), attempts=Handoff.attempts + 1
    )
    .returning(*_MESSAGE_COLUMNS)
)
_ROW = select(*_MESSAGE_COLUMNS).where(
    Handoff.id == bindparam("handoff_id"), Handoff.status == HandoffStatus.PENDING
)
_MARK_SENT = (
    update(Handoff)
    .where(Handoff.id == bindparam("handoff_id"))
    .values(
        status=HandoffStatus.SENT, sent_at=bindparam("when"), last_error=None, next_attempt_at=None
    )
    .returning(Handoff.case_id, Handoff.kind, Handoff.recipient)
)
_AUDIT = insert(AuditEvent)


def _note_unreachable(handoff_ids: Sequence[int], error: str) -> None:
    """The messages a pass left untried because the server could not be reached say why (the
    same error) in the list an operator reads; their attempts and due time stay as they were."""
    if not handoff_ids:
        return
    with get_engine().begin() as conn:
        conn.execute(
            update(Handoff)
            .where(Handoff.id.in_(list(handoff_ids)), Handoff.status == HandoffStatus.PENDING)
            .values(last_error=error)
        )


def _claim(handoff_id: int, now: datetime) -> dict[str, Any] | None:
    """pending → sending in one conditional UPDATE: of two deliverers, exactly one wins.

    `now` is the wall-clock time of the claim (not the run's schedule time, which tests move):
    the age rule for stale rows measures real time since the claim.
    """
    with get_engine().begin() as conn:
        row = conn.execute(_CLAIM, {"handoff_id": handoff_id, "now": now}).first()
    return None if row is None else _row(row)


def _row(row: Any) -> dict[str, Any]:
    to, to_name, subject, text_body, html, message_id, attachments = row
    return {
        "to": to,
        "to_name": to_name,
        "subject": subject,
        "text": text_body,
        "html": html,
        "message_id": message_id,
        "attachments": attachments or [],
    }


def _message(row: dict[str, Any], var_dir: Path) -> OutgoingMessage:
    """The message of a claimed row; an attachment that cannot be read is a permanent failure."""
    try:
        attachments = tuple(_attachment(a, var_dir) for a in row["attachments"])
    except (OSError, ValueError) as exc:
        raise SendError(f"attachment unreadable: {exc}", transient=False) from exc
    return OutgoingMessage(
        to=row["to"],
        to_name=row["to_name"],
        subject=row["subject"],
        text=row["text"],
        html=row["html"],
        message_id=row["message_id"],
        attachments=attachments,
    )


def _attachment(spec: dict[str, Any], var_dir: Path) -> Attachment:
    """Inline text ({"content": str}) or a stored file ({"path": relative to var/, "sha256"})."""
    if "content" in spec:
        return Attachment(
            spec["filename"], spec["content"].encode("utf-8"), spec.get("mime_type", "text/csv")
        )
    data = (var_dir / spec["path"]).read_bytes()
    if spec.get("sha256") and hashlib.sha256(data).hexdigest() != spec["sha256"]:
        raise ValueError(f"{spec['path']} changed since the handoff was queued")
    mime_type = spec.get("mime_type", "application/octet-stream")
    if mime_type.startswith("image/"):
        # The kept file stays as it came (provenance); what leaves has no GPS position.
        with contextlib.suppress(ValueError):  # not readable as a picture: nothing to strip
            data = strip_metadata(data)
    return Attachment(spec["filename"], data, mime_type)


def _record_sent(handoff_id: int, when: datetime) -> None:
    with get_engine().begin() as conn:
        _relaxed_commit(conn)
        row = conn.execute(_MARK_SENT, {"handoff_id": handoff_id, "when": when}).one()
        conn.execute(
            _AUDIT,
            {
                "at": when,
                "actor": ACTOR,
                "action": "handoff_sent",
                "case_id": row.case_id,
                "entity": "handoff",
                "entity_id": handoff_id,
                "detail": {"kind": row.kind.value, "to": row.recipient},
            },
        )


def _relaxed_commit(conn: Any) -> None:
    """PostgreSQL: do not wait for the WAL flush when committing a `sent` mark.

    The commit still survives a crash of this process (the common crash, tested); only a crash
    of the database server itself within a fraction of a second could lose it, and a lost
    `sent` mark only turns into "interrupted" for an operator — never into a second send. The
    claim keeps the full synchronous commit, because losing *it* could mean sending twice.
    This is the same bargain SQLite makes here in WAL mode with synchronous=NORMAL, and it
    halves the WAL flushes per message (see bench/results/delivery.md).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL synchronous_commit = off"))


def _record_failure(
    handoff_id: int, exc: SendError, now: datetime, max_attempts: int, backoff: int
) -> str:
    with Session() as s, s.begin():
        h = s.get(Handoff, handoff_id)
        assert h is not None
        decision = after_failure(
            transient=exc.transient,
            uncertain=exc.uncertain,
            attempts=h.attempts,
            max_attempts=max_attempts,
            backoff_seconds=backoff,
            now=now,
        )
        h.status = HandoffStatus(decision.status)
        h.next_attempt_at, h.last_error = decision.next_attempt_at, str(exc)[:2000]
        audit(
            s,
            ACTOR,
            f"handoff_{decision.status}",
            case_id=h.case_id,
            entity="handoff",
            entity_id=h.id,
            error=str(exc)[:500],
            attempts=h.attempts,
        )
        return "retry_later" if decision.status == "pending" else decision.status


def _fail_interrupted(*, immediate: bool = False) -> int:
    """Rows left in `sending` by a crash: delivery is uncertain, so an operator decides.

    `immediate` (this run holds the delivery lease, so no other deliverer is alive): every
    `sending` row is stale. Otherwise only those claimed more than STALE_SENDING ago (wall
    clock: a long, rate-limited run claims each row when it gets to it).
    """
    with Session() as s, s.begin():
        query = select(Handoff).where(Handoff.status == HandoffStatus.SENDING)
        if not immediate:
            query = query.where(Handoff.sending_at < datetime.now(UTC) - STALE_SENDING)
        stale = s.scalars(query).all()
        for h in stale:
            h.status = HandoffStatus.FAILED
            h.last_error = INTERRUPTED.format(message_id=h.message_id)
            audit(
                s,
                ACTOR,
                "handoff_interrupted",
                case_id=h.case_id,
                entity="handoff",
                entity_id=h.id,
                from_state="sending",
                to_state="failed",
                claimed_at=h.sending_at.isoformat() if h.sending_at else None,
            )
        return len(stale)


@task(name="deliver")
def deliver_handoffs() -> dict[str, Any]:
    """发送: deliver every due handoff of the outbox; the log says what failed and why."""
    result = deliver_now()
    print(delivery_sentence(result))
    for line in problem_lines(result["problems"]):
        print(line)
    return result
