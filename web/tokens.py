"""Signed links in handoff e-mails (答复 / 评价 / 回头看): who may do what on which case, until when.

A token is an itsdangerous signature (HMAC-SHA256 with the server secret, a salt per role, a
timestamp) over `[case id, target id, recipient digest]`. Each role has its own salt, so a
reply link cannot be replayed as a rating link; changing any part breaks the signature, so no
other case or survey can be reached by editing a link. The recipient is bound by a keyed
digest (department code, citizen, representative's address) that the page checks against
the database at use, so a link stops working when the case is re-routed or re-assigned.
Whether a link was already used is the database's business (Survey.answered_at, Lookback.result).

This module imports no web framework: the pipeline's tasks use it to put links in mail.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from minqing.settings import Settings

MIN_SECRET_CHARS = 32


class Role(StrEnum):
    REPLY = "reply"  # a department answers a case (答复)
    RATE = "rate"  # a citizen rates the answer (评价), once
    VERIFY = "verify"  # a representative records a look-back (回头看), once


PATHS = {Role.REPLY: "r", Role.RATE: "p", Role.VERIFY: "v"}


@dataclass(frozen=True)
class Grant:
    """What a valid token allows: `role` on `case_id`, for `target` (round, survey or
    look-back id), by the recipient whose digest is `recipient`."""

    role: Role
    case_id: int
    target: int
    recipient: str


class LinkError(Exception):
    """A link that cannot be used; `reason` is one of: invalid, expired."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _secret(settings: Settings) -> str:
    if settings.secret_key is None:
        raise RuntimeError("MINQING_SECRET_KEY is not set")
    return settings.secret_key.get_secret_value()


def _serializer(settings: Settings, role: Role) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        _secret(settings),
        salt=f"minqing-link-{role.value}",
        signer_kwargs={"digest_method": hashlib.sha256},
    )


def recipient_digest(settings: Settings, role: Role, recipient: str) -> str:
    """A keyed digest of the recipient: binds the link without putting an address in it."""
    key = _secret(settings).encode("utf-8")
    msg = f"{role.value}\x1f{recipient.strip().lower()}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()[:16]


def lifetime_seconds(settings: Settings, role: Role) -> int:
    days = {
        Role.REPLY: settings.reply_link_days,
        Role.RATE: settings.rating_link_days,
        Role.VERIFY: settings.verify_link_days,
    }[role]
    return days * 86_400


def make_token(settings: Settings, role: Role, case_id: int, target: int, recipient: str) -> str:
    digest = recipient_digest(settings, role, recipient)
    return _serializer(settings, role).dumps([case_id, target, digest])


def read_token(settings: Settings, role: Role, token: str) -> Grant:
    """The grant a token carries; raises LinkError("invalid" | "expired")."""
    if len(token) > 400:
        raise LinkError("invalid")
    try:
        data = _serializer(settings, role).loads(token, max_age=lifetime_seconds(settings, role))
    except SignatureExpired:
        raise LinkError("expired") from None
    except BadSignature:
        raise LinkError("invalid") from None
    if (
        not isinstance(data, list)
        or len(data) != 3
        or not all(isinstance(x, int) and not isinstance(x, bool) for x in data[:2])
        or not isinstance(data[2], str)
    ):
        raise LinkError("invalid")
    return Grant(role, data[0], data[1], data[2])


def matches(settings: Settings, grant: Grant, recipient: str | None) -> bool:
    """Whether the grant was issued to `recipient` (constant-time comparison)."""
    if not recipient:
        return False
    return hmac.compare_digest(grant.recipient, recipient_digest(settings, grant.role, recipient))


def link(settings: Settings, role: Role, case_id: int, target: int, recipient: str) -> str | None:
    """The full URL for a handoff e-mail, or None when the web app is not configured."""
    if not settings.links_enabled:
        return None
    token = make_token(settings, role, case_id, target, recipient)
    return f"{settings.public_url.rstrip('/')}/{PATHS[role]}/{token}"


def reply_link(
    settings: Settings, case_id: int, reopen_round: int, department_code: str
) -> str | None:
    """答复链接 for the lead department of one round of a case."""
    return link(settings, Role.REPLY, case_id, reopen_round, department_code)


def rating_link(settings: Settings, case_id: int, survey_id: int, person_id: int) -> str | None:
    """评价链接 for one citizen's survey; works once."""
    return link(settings, Role.RATE, case_id, survey_id, f"person:{person_id}")


def verify_link(
    settings: Settings, case_id: int, lookback_id: int, representative: str
) -> str | None:
    """回头看链接 for the area's representative (bound to their e-mail address)."""
    return link(settings, Role.VERIFY, case_id, lookback_id, representative)
