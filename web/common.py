"""What every page needs: the app's state (settings, secret, templates, rate limits), page and
error rendering, the public forms' CSRF cookie, and the client address."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from starlette.datastructures import FormData, UploadFile

from db.models import case_number
from minqing.handoffs import waiting_for_server
from minqing.i18n import _, install_jinja, label
from minqing.labels import (
    CATEGORY_SOURCE_LABELS,
    LOOKBACK_KIND_LABELS,
    SATISFACTION_LABELS,
    channel_label,
    handoff_kind_label,
    handoff_status_label,
    outcome_label,
    status_label,
)
from minqing.messages import WEEKDAYS, deadline_text, html_language
from minqing.reasons import delivery_problem, server_error
from minqing.reasons import render as render_reason
from minqing.reference import Reference
from minqing.settings import Settings
from minqing.states import Outcome
from minqing.trail import (
    LINK_METHOD_LABELS,
    REPLY_VIA_LABELS,
    SURVEY_CHANNEL_LABELS,
    action_label,
    actor_label,
    event_text,
    lookback_cancelled,
    lookback_result_label,
    server_text,
    state_label,
)
from tasks.context import context
from tasks.outbox import local_text
from web.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    RateLimiter,
    SharedLimits,
    csrf_ok,
    csrf_token_for,
    new_nonce,
)
from web.spool import SpoolWriter

TEMPLATES = Path(__file__).parent / "templates"
REF_RECHECK_SECONDS = 5.0

# The outcomes a department may choose in the reply form (现场答复 is recorded at reception).
REPLY_OUTCOMES = [o for o in Outcome if o is not Outcome.ON_THE_SPOT]


_NAME_BREAKS = re.compile(r"([_\-./])")


def breakable_name(name: str | None) -> Markup:
    """A file name that may break after its separators (12345_ / 20261127.csv), escaped."""
    return Markup(_NAME_BREAKS.sub(r"\1<wbr>", str(escape(name or ""))))


# What a reader quotes or dials, kept on one line inside running text: case numbers, phone
# numbers (0731-12345678, (0731)12345678, 138-1234-5602, +86 139 1234 5603, 13912345601) and
# dates (2026年12月08日, 2026-12-08, with a time after them). A browser breaks Chinese text
# between any two characters and after a hyphen: "2026｜年12月08日", "0731-｜12345678".
_WHOLE_IN_TEXT = re.compile(
    r"MQ\d{4}-\d{6,}"
    r"|(?<![\d+])(?:\+86[ -]?)?1\d{2}(?:[ -]?\d{4}){2}(?!\d)"
    r"|(?<!\d)(?:0\d{2,3}-|\(0\d{2,3}\) ?)\d{7,8}(?:-\d{1,5})?(?!\d)"
    r"|(?<!\d)\d{4}(?:年\d{1,2}月\d{1,2}日|-\d{2}-\d{2})(?: ?\d{1,2}:\d{2}(?::\d{2})?)?"
)


def whole_numbers(text: str | None) -> Markup:
    """A text (a subject, what a citizen or a department wrote) whose case numbers, phone
    numbers and dates never break over two lines, escaped."""
    return Markup(
        _WHOLE_IN_TEXT.sub(
            lambda m: f'<span class="nowrap">{m.group(0)}</span>', str(escape(text or ""))
        )
    )


def whole(text: str) -> Markup:
    """A date or time as a span that never breaks over two lines (a narrow screen would break
    "2026年12月08日" between any two characters); nothing when there is no date."""
    return Markup('<span class="nowrap">%s</span>') % text if text else Markup("")


def deadline_html(moment: datetime | None) -> Markup:
    """A deadline in running text: its date and its weekday each whole, the sentence around
    them free to break (a 390 px phone has no room for "2026年12月09日（星期三）23:59" on one
    line beside its label)."""
    return deadline_words(deadline_text(moment))


def deadline_words(text: str | None) -> Markup:
    """A deadline already in words (`deadline_text`, as a case's view carries it) marked as
    `deadline_html` marks one: date and weekday each whole ("（星｜期三）" is never split)."""
    marked = str(whole_numbers(text))
    for day in WEEKDAYS:
        weekday = str(escape(_(day)))
        if weekday in marked:
            return Markup(marked.replace(weekday, f'<span class="nowrap">{weekday}</span>', 1))
    return Markup(marked)


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local"] = lambda m: whole(local_text(m, with_time=True))
    env.filters["day"] = lambda m: whole(local_text(m))
    env.filters["deadline"] = deadline_html
    env.filters["deadline_words"] = deadline_words
    env.filters["status_label"] = status_label
    env.filters["outcome_label"] = outcome_label
    env.filters["handoff_label"] = handoff_status_label
    env.filters["handoff_kind"] = handoff_kind_label
    env.filters["channel_label"] = channel_label
    env.filters["category_source"] = lambda s: label(CATEGORY_SOURCE_LABELS, s)
    env.filters["lookback_kind"] = lambda k: label(LOOKBACK_KIND_LABELS, k)
    env.filters["lookback_result"] = lookback_result_label
    env.tests["lookback_cancelled"] = lookback_cancelled
    env.filters["link_method"] = lambda m: label(LINK_METHOD_LABELS, m)
    env.filters["survey_channel"] = lambda c: label(SURVEY_CHANNEL_LABELS, c)
    env.filters["reply_via"] = lambda v: label(REPLY_VIA_LABELS, v)
    env.filters["satisfaction"] = lambda v: label(SATISFACTION_LABELS, v)
    env.filters["reason"] = render_reason
    env.filters["delivery_problem"] = delivery_problem
    env.filters["server_error"] = server_error
    env.globals.update(actor_label=actor_label, action_label=action_label, event_text=event_text,
                       state_label=state_label, server_text=server_text,
                       waiting_for_server=waiting_for_server)  # fmt: skip
    env.globals["html_language"] = html_language  # <html lang>, per request's language
    install_jinja(env)
    env.filters["mask_phone"] = mask_phone
    env.filters["case_number"] = lambda row: case_number(row.id, row.created_at)
    env.filters["file_name"] = breakable_name
    env.filters["whole_numbers"] = whole_numbers
    return env


def mask_phone(phone: str | None) -> str:
    if not phone:
        return ""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


@dataclass
class Web:
    """The app's state, reached from a request as `request.app.state.web`."""

    settings: Settings
    secret: str
    public_limiter: RateLimiter
    login_limiter: RateLimiter
    spool: SpoolWriter
    progress_limits: SharedLimits
    env: Environment = field(default_factory=_environment)

    @property
    def secure_cookies(self) -> bool:
        return self.settings.public_url.lower().startswith("https://")

    _ref: Reference | None = None
    _ref_checked: float = 0.0

    @property
    def ref(self) -> Reference:
        """The reference data, re-read (if config changed) at most every few seconds: checking
        the config files' times costs more than the rest of a form post."""
        now = time.monotonic()
        if self._ref is None or now - self._ref_checked > REF_RECHECK_SECONDS:
            self._ref, self._ref_checked = context().ref, now
        return self._ref

    def render(self, request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
        html = self.env.get_template(name).render(
            office=self.ref.office, request_path=request.url.path, **values
        )
        return HTMLResponse(html, status_code=status)

    def error(
        self, request: Request, status: int, title: str, message: str, hint: str | None = None
    ) -> HTMLResponse:
        """An error page: `title`, what went wrong (`message`) and a reassuring `hint` under
        it — by default that what the visitor submitted before stands; a page whose form
        submits nothing (a lookup, the login) says its own, or nothing ("")."""
        if hint is None:
            hint = _("您此前提交的内容不受影响。")
        return self.render(request, "error.html", status, title=title, message=message, hint=hint)

    # Public forms: a random cookie and, in the form, an HMAC of it (signed double submit).

    def public_page(
        self, request: Request, name: str, status: int = 200, **values: Any
    ) -> HTMLResponse:
        cookie = request.cookies.get(CSRF_COOKIE)
        fresh = not cookie or len(cookie) > 64
        if fresh:
            cookie = new_nonce()
        assert cookie is not None
        response = self.render(
            request, name, status, csrf=csrf_token_for(self.secret, cookie), **values
        )
        if fresh:
            response.set_cookie(
                CSRF_COOKIE,
                cookie,
                httponly=True,
                samesite="lax",
                secure=self.secure_cookies,
                path="/",
            )
        return response

    def public_csrf_ok(self, request: Request, form: FormData) -> bool:
        token = form.get(CSRF_FIELD)
        return csrf_ok(
            self.secret, request.cookies.get(CSRF_COOKIE), token if isinstance(token, str) else None
        )


def web_of(request: Request) -> Web:
    return request.app.state.web  # type: ignore[no-any-return]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def field_text(form: FormData, name: str, limit: int, *, multiline: bool = False) -> str:
    """A form field as trimmed text without control characters (None and files → "")."""
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    value = _CONTROL.sub("", value).replace("\r\n", "\n").strip()
    if not multiline:
        value = " ".join(value.split())
    return value[: limit + 1]  # one over: the caller reports "too long" instead of cutting


def field_file(form: FormData, name: str) -> UploadFile | None:
    value = form.get(name)
    if isinstance(value, UploadFile) and value.filename:
        return value
    return None


def now_utc() -> datetime:
    from datetime import UTC

    return datetime.now(UTC)
