"""Rendering of outgoing messages (handoffs) from the templates in minqing/templates/.

Every message has a plain-text and an HTML body. The HTML templates autoescape, so citizen
text is inert wherever it lands; subjects are cleaned of line breaks (no header injection).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from minqing.i18n import N_, _, current_language, install_jinja, pgettext
from minqing.workdays import LOCAL_TZ

_SUBJECT_UNSAFE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@lru_cache(maxsize=1)
def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("minqing", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["linked"] = linked
    return install_jinja(env)


# A web address in a message's text: up to whitespace or the Chinese punctuation after it.
_URL = re.compile(r"https?://[^\s<>\"'，。；：、）」』》”！？]+")


def linked(text: str) -> Markup:
    """`text` escaped for HTML, with every web address in it a link (a duty alert's case
    pages, a console address) — the plain-text body keeps them as they are."""
    out, end = [], 0
    for match in _URL.finditer(text):
        url = match.group(0)
        out += [escape(text[end : match.start()]), Markup('<a href="{0}">{0}</a>').format(url)]
        end = match.end()
    out.append(escape(text[end:]))
    return Markup("").join(out)


def safe_subject(subject: str, limit: int = 120) -> str:
    """One line, no control characters, at most `limit` characters."""
    cleaned = _SUBJECT_UNSAFE.sub(" ", subject).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def html_language() -> str:
    """The HTML `lang` of a message in the current language (zh_CN → zh-CN)."""
    return current_language().replace("_", "-")


def render(kind: str, subject: str, **context: Any) -> Rendered:
    """Render templates `<kind>.txt` and `<kind>.html` with the same context, in the current
    language (`minqing.i18n.current_language`): a message is written once, when it is queued,
    in the language of that run, and sent as written."""
    env = _env()
    context.setdefault("lang", html_language())
    context.setdefault("office_contact", "")  # config/office.yaml `contact`, in the footer
    text = env.get_template(f"{kind}.txt").render(**context).rstrip("\n")
    return Rendered(
        subject=safe_subject(subject),
        # the plain text ends as the HTML does (_base.html): who sent it, whom to ask
        text=text + "\n\n" + env.get_template("_footer.txt").render(**context),
        html=env.get_template(f"{kind}.html").render(**context),
    )


def excerpt(text: str, limit: int = 4000) -> str:
    """Text for an e-mail body: very long opinions are cut with a visible note."""
    if len(text) <= limit:
        return text
    return text[:limit] + _("……（原文共 %(n)d 字，已截断，全文见系统）") % {"n": len(text)}


# --- deadlines ----------------------------------------------------------------------------------

WEEKDAYS = (N_("星期一"), N_("星期二"), N_("星期三"), N_("星期四"), N_("星期五"), N_("星期六"),
            N_("星期日"))  # fmt: skip


def deadline_text(moment: datetime | None) -> str:
    """A deadline as every message words it — day, weekday and the hour it ends, Beijing time:
    2026年12月09日（星期三）23:59 (Wednesday 2026-12-09, 23:59), so "请于……前答复" cannot be
    read as "before the 9th". '' for no deadline."""
    if moment is None:
        return ""
    local = moment.astimezone(LOCAL_TZ)
    # TRANSLATORS: a deadline: its date (strftime below), weekday and time, e.g.
    # 2026年12月09日（星期三）23:59.
    return pgettext("deadline", "%(date)s（%(weekday)s）%(time)s") % {
        "date": local.strftime(pgettext("strftime", "%Y年%m月%d日")),
        "weekday": _(WEEKDAYS[local.weekday()]),
        "time": local.strftime("%H:%M"),
    }


# --- subjects -----------------------------------------------------------------------------------


def case_subject(heading: str, number: str, title: str) -> str:
    """A message about a case: 【到期提醒】MQ2026-000012 路灯不亮 (`heading` translated)."""
    return _("【%(heading)s】%(number)s %(title)s") % {
        "heading": heading,
        "number": number,
        "title": title,
    }


def assignment_subject(
    number: str, title: str, *, lead: bool, urgent: bool = False, reopened: bool = False
) -> str:
    """An assignment's subject: 【交办·承办】 to the lead department, 【交办·协办】 to a
    co-handler, led by 【重办】 for a reopened case and by 【紧急】 for an urgent one."""
    values = {"number": number, "title": title}
    subject = (
        _("【交办·承办】%(number)s %(title)s") if lead else _("【交办·协办】%(number)s %(title)s")
    ) % values
    # TRANSLATORS: tags in front of a subject; keep the space after them in English.
    tags = (_("【紧急】") if urgent else "") + (_("【重办】") if reopened else "")
    return tags + subject


def listing(names: Iterable[str]) -> str:
    """Names one after another as a sentence lists them (城管科、住建科)."""
    return _("、").join(names)
