"""The transactional outbox: handoffs are rows committed before anything is sent.

`queue_handoff` is the one way a stage decides to send a message; it is idempotent by key,
so a stage that runs twice (retry, crash) queues each message once.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Area, Case, Handoff, HandoffKind, HandoffStatus, case_number
from minqing.i18n import pgettext
from minqing.messages import Rendered, deadline_text, excerpt, render
from minqing.reference import Reference
from minqing.states import CaseStatus

LOCAL = ZoneInfo("Asia/Shanghai")
ANSWERED = (CaseStatus.REPLIED, CaseStatus.VERIFIED, CaseStatus.RATED, CaseStatus.CLOSED)


def local_text(moment: datetime | None, with_time: bool = False) -> str:
    if moment is None:
        return ""
    # TRANSLATORS: strftime formats of a Beijing date (and time).
    fmt = (
        pgettext("strftime", "%Y年%m月%d日 %H:%M")
        if with_time
        else pgettext("strftime", "%Y年%m月%d日")
    )
    return moment.astimezone(LOCAL).strftime(fmt)


def message_id_for(key: str, mail_from: str) -> str:
    """Deterministic per handoff: a resend after a crash carries the same Message-ID."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]
    domain = mail_from.rpartition("@")[2] or "minqing.local"
    return f"<minqing.{digest}@{domain}>"


def case_view(s: Session, case: Case, ref: Reference) -> dict[str, Any]:
    """What a message shows about a case (text already redacted at intake)."""
    area = (
        s.scalar(select(Area.name).where(Area.code == case.area_code)) if case.area_code else None
    )
    return {
        "number": case_number(case.id, case.created_at),
        "title": case.title,
        "text": excerpt(case.text),
        "area": area,
        "category": case.category,
        "supporters": case.supporters,
        "due": deadline_text(case.due_at),
        # once answered, the deadline is history: a 回头看 request or a leaders' mail after the
        # reply must not ask for a reply by it ("请于…前答复")
        "replied": local_text(case.replied_at) if case.status in ANSWERED else "",
        "due_provisional": bool(case.due_provisional),
    }


def render_for(ref: Reference, kind: str, subject: str, heading: str, **context: Any) -> Rendered:
    return render(
        kind, subject, office=ref.office.name, office_contact=ref.office.contact or "",
        heading=heading, **context,
    )  # fmt: skip


def queue_handoff(
    s: Session,
    ref: Reference,
    *,
    key: str,
    kind: HandoffKind,
    recipient: str,
    rendered: Rendered,
    case_id: int | None = None,
    recipient_name: str | None = None,
    department_code: str | None = None,
    attachments: list[dict[str, Any]] | None = None,
) -> Handoff | None:
    """Add a pending handoff unless one with this key exists; returns the new row or None."""
    if s.scalar(select(Handoff.id).where(Handoff.idempotency_key == key)) is not None:
        return None
    handoff = Handoff(
        case_id=case_id,
        kind=kind,
        department_code=department_code,
        recipient=recipient,
        recipient_name=recipient_name,
        subject=rendered.subject,
        body_text=rendered.text,
        body_html=rendered.html,
        attachments=attachments or [],
        idempotency_key=key,
        status=HandoffStatus.PENDING,
        message_id=message_id_for(key, ref.office.mail_from),
    )
    s.add(handoff)
    s.flush()
    return handoff
