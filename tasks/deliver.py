"""Deliver the outbox: send pending handoffs, record Message-ID and time, classify failures.

Each handoff is claimed (`sending`) and committed before the SMTP call, and marked `sent`
right after it. A crash between the SMTP server's acceptance and that mark leaves the row in
`sending`: the next run never resends it blindly but marks it `failed` with the reason
"interrupted", so an operator checks and retries it deliberately. That window — one message,
between the server's 250 and our commit — is the only place a message can be lost to
uncertainty; nothing is ever sent twice by the pipeline itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import task
from sqlalchemy import or_, select

from db.engine import Session
from db.models import Handoff, HandoffStatus
from db.queries import audit
from mail.mailer import Attachment, Mailer, OutgoingMessage, SendError, make_mailer
from minqing.delivery import after_failure
from tasks.context import context

STALE_SENDING = timedelta(minutes=15)
ACTOR = "system:deliver"


def deliver_now(
    now: datetime | None = None,
    *,
    ids: Sequence[int] | None = None,
    mailer: Mailer | None = None,
    before_send: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Send what is due (or exactly `ids`); returns counts and this run's failures."""
    ctx = context()
    now = now or datetime.now(UTC)
    interrupted = _fail_interrupted(now)
    with Session() as s, s.begin():
        query = select(Handoff.id).where(Handoff.status == HandoffStatus.PENDING)
        if ids is not None:
            query = query.where(Handoff.id.in_(list(ids)))
        else:
            query = query.where(
                or_(Handoff.next_attempt_at.is_(None), Handoff.next_attempt_at <= now)
            )
        due = list(s.scalars(query.order_by(Handoff.id)))
    result: dict[str, Any] = {
        "sent": 0,
        "retry_later": 0,
        "failed": 0,
        "dead": 0,
        "interrupted": interrupted,
        "problems": [],
    }
    if not due:
        return result
    own_mailer = mailer is None
    mailer = mailer or make_mailer(
        ctx.settings, ctx.ref.office.mail_from, ctx.ref.office.short_name
    )
    policy = ctx.ref.policy.delivery
    try:
        for handoff_id in due:
            message = _claim(handoff_id, now)
            if message is None:
                continue
            if before_send:
                before_send(handoff_id)
            try:
                mailer.send(message)
            except SendError as exc:
                outcome = _record_failure(
                    handoff_id, exc, now, policy.max_attempts, policy.backoff_seconds
                )
                result[outcome] += 1
                result["problems"].append(
                    {"handoff": handoff_id, "to": message.to, "status": outcome, "error": str(exc)}
                )
            else:
                _record_sent(handoff_id, datetime.now(UTC))
                result["sent"] += 1
    finally:
        if own_mailer:
            mailer.close()
    return result


def _claim(handoff_id: int, now: datetime) -> OutgoingMessage | None:
    with Session() as s, s.begin():
        h = s.get(Handoff, handoff_id, with_for_update=True)
        if h is None or h.status != HandoffStatus.PENDING:
            return None  # another deliverer took it
        h.status, h.sending_at, h.attempts = HandoffStatus.SENDING, now, h.attempts + 1
        return OutgoingMessage(
            to=h.recipient,
            to_name=h.recipient_name,
            subject=h.subject,
            text=h.body_text,
            html=h.body_html,
            message_id=h.message_id,
            attachments=tuple(
                Attachment(
                    a["filename"], a["content"].encode("utf-8"), a.get("mime_type", "text/csv")
                )
                for a in h.attachments
            ),
        )


def _record_sent(handoff_id: int, when: datetime) -> None:
    with Session() as s, s.begin():
        h = s.get(Handoff, handoff_id)
        assert h is not None
        h.status, h.sent_at, h.last_error, h.next_attempt_at = HandoffStatus.SENT, when, None, None
        audit(
            s,
            ACTOR,
            "handoff_sent",
            case_id=h.case_id,
            entity="handoff",
            entity_id=h.id,
            kind=h.kind.value,
            to=h.recipient,
        )


def _record_failure(
    handoff_id: int, exc: SendError, now: datetime, max_attempts: int, backoff: int
) -> str:
    with Session() as s, s.begin():
        h = s.get(Handoff, handoff_id)
        assert h is not None
        decision = after_failure(
            transient=exc.transient,
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


def _fail_interrupted(now: datetime) -> int:
    """Rows left in `sending` by a crash: delivery is uncertain, so an operator decides."""
    with Session() as s, s.begin():
        stale = s.scalars(
            select(Handoff).where(
                Handoff.status == HandoffStatus.SENDING, Handoff.sending_at < now - STALE_SENDING
            )
        ).all()
        for h in stale:
            h.status = HandoffStatus.FAILED
            h.last_error = (
                "interrupted during sending: the SMTP server may have accepted it "
                f"(Message-ID {h.message_id}); check with the recipient, then retry"
            )
            audit(
                s, ACTOR, "handoff_interrupted", case_id=h.case_id, entity="handoff", entity_id=h.id
            )
        return len(stale)


@task(name="deliver")
def deliver_handoffs() -> dict[str, Any]:
    """发送: deliver every due handoff of the outbox."""
    return deliver_now()
