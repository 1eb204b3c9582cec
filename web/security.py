"""The web app's defences, each small and separately testable: password hashing, CSRF tokens,
operator session cookies, per-client rate limits, upload sniffing and a request-body limit."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer
from limits import parse_many
from limits.storage import storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter

# Passwords (argon2id with the library's current defaults)

_hasher = PasswordHasher()
# Verified against when the name is unknown, so a login takes as long either way.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


# CSRF: public forms use a signed double-submit token (a random cookie, and the form carries
# an HMAC of it); console forms carry the random value bound into the signed session cookie.

CSRF_COOKIE = "mq_csrf"
CSRF_FIELD = "csrf"


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def csrf_token_for(secret: str, cookie_value: str) -> str:
    mac = hmac.new(secret.encode(), f"csrf\x1f{cookie_value}".encode(), hashlib.sha256)
    return mac.hexdigest()


def csrf_ok(secret: str, cookie_value: str | None, token: str | None) -> bool:
    if not cookie_value or not token or len(cookie_value) > 64 or len(token) > 128:
        return False
    return hmac.compare_digest(csrf_token_for(secret, cookie_value), token)


# Operator sessions: a signed, timestamped cookie naming the operator, their session version
# (raised at logout, so old cookies die) and the session's CSRF value.

SESSION_COOKIE = "mq_session"


@dataclass(frozen=True)
class SessionData:
    operator_id: int
    version: int
    csrf: str


def _session_serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        secret, salt="minqing-console-session", signer_kwargs={"digest_method": hashlib.sha256}
    )


def dump_session(secret: str, data: SessionData) -> str:
    return _session_serializer(secret).dumps([data.operator_id, data.version, data.csrf])


def load_session(secret: str, cookie: str | None, max_age: int) -> SessionData | None:
    if not cookie or len(cookie) > 400:
        return None
    try:
        raw = _session_serializer(secret).loads(cookie, max_age=max_age)
    except BadSignature:
        return None
    if not (isinstance(raw, list) and len(raw) == 3 and isinstance(raw[0], int)):
        return None
    if not isinstance(raw[1], int) or not isinstance(raw[2], str):
        return None
    return SessionData(raw[0], raw[1], raw[2])


# Rate limits: a sliding window per (bucket, client) in this process's memory. Behind a
# reverse proxy, run uvicorn with --forwarded-allow-ips so the client address is the real one.


class RateLimiter:
    def __init__(
        self, limit: int, window_seconds: float = 60.0, max_clients: int = 100_000
    ) -> None:
        self.limit = limit
        self.window = window_seconds
        self.max_clients = max_clients
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.get(client)
            if hits is None:
                if len(self._hits) >= self.max_clients:
                    self._prune(now)
                hits = self._hits[client] = deque()
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True

    def _prune(self, now: float) -> None:
        stale = [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]
        for key in stale:
            del self._hits[key]
        if len(self._hits) >= self.max_clients:  # still full: forget the oldest half
            for key in list(self._hits)[: self.max_clients // 2]:
                del self._hits[key]


# Rate limits that must hold across worker processes (the progress page, which a guesser would
# hammer): the `limits` library, its counts in MINQING_RATE_LIMIT_STORAGE — memory:// counts in
# each process; redis://host:6379 or memcached://host:11211 share them between every uvicorn
# worker and server (install the client: pip install 'limits[redis]' or 'limits[memcached]').


class SharedLimits:
    """Named rules ("ip": "30/hour", "receipt": "10/day;3/minute"), each a `limits` string."""

    def __init__(self, storage_uri: str, rules: dict[str, str]) -> None:
        self.storage = storage_from_string(storage_uri)
        # The sliding window counter works on every storage (memory, Redis, Memcached).
        self.limiter = SlidingWindowCounterRateLimiter(self.storage)
        self.rules = {name: parse_many(text) for name, text in rules.items()}

    def allow(self, rule: str, key: str) -> bool:
        """Count one attempt for `key`; False when any of the rule's limits is exceeded. Every
        attempt counts, allowed or not, so waiting out the short window does not reset the long."""
        return all([self.limiter.hit(item, "minqing", rule, key) for item in self.rules[rule]])


# Uploads: the type is what the first bytes say, never what the name or the browser claims.

_MAGIC: list[tuple[bytes, int, str, str]] = [
    (b"\xff\xd8\xff", 0, "jpg", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "png", "image/png"),
    (b"%PDF-", 0, "pdf", "application/pdf"),
]


def sniff(head: bytes) -> tuple[str, str] | None:
    """(extension, content type) of an accepted file from its first bytes, else None."""
    for magic, offset, ext, content_type in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return ext, content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp", "image/webp"
    return None


class BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuse a request whose body is larger than `limit` bytes before it is parsed: by its
    Content-Length when given, else by counting while it streams in."""

    def __init__(self, app: Any, limit: int, on_refuse: Any) -> None:
        self.app = app
        self.limit = limit
        self.on_refuse = on_refuse  # ASGI app that answers 413

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await self.on_refuse(scope, receive, send)
            return
        seen = 0
        started = False

        async def limited_receive() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self.on_refuse(scope, receive, send)


SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        b"frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # Links carry tokens in their path: never hand them to another site as a Referer.
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class SecurityHeadersMiddleware:
    def __init__(self, app: Any, hsts: bool) -> None:
        self.app = app
        self.headers = list(SECURITY_HEADERS)
        if hsts:
            self.headers.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.headers if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
