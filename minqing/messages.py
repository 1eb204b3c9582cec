"""Rendering of outgoing messages (handoffs) from the templates in minqing/templates/.

Every message has a plain-text and an HTML body. The HTML templates autoescape, so citizen
text is inert wherever it lands; subjects are cleaned of line breaks (no header injection).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from minqing.i18n import install_jinja

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
    return install_jinja(env)


def safe_subject(subject: str, limit: int = 120) -> str:
    """One line, no control characters, at most `limit` characters."""
    cleaned = _SUBJECT_UNSAFE.sub(" ", subject).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def render(kind: str, subject: str, **context: Any) -> Rendered:
    """Render templates `<kind>.txt` and `<kind>.html` with the same context."""
    env = _env()
    return Rendered(
        subject=safe_subject(subject),
        text=env.get_template(f"{kind}.txt").render(**context),
        html=env.get_template(f"{kind}.html").render(**context),
    )


def excerpt(text: str, limit: int = 4000) -> str:
    """Text for an e-mail body: very long opinions are cut with a visible note."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"……（原文共 {len(text)} 字，已截断，全文见系统）"
