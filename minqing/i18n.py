"""The message catalogue (消息目录): every text a clerk, a department, a representative or a
citizen reads goes through here, so the office reads Chinese and an English reader can switch.

The message ids are the office's own Chinese (zh_CN, the default language): write the text as
the clerk should read it, and the English catalogue (minqing/locale/en/LC_MESSAGES/messages.po)
translates it. Codes stay in the database (``hotline``, ``assigned``); labels come from here
when a code is shown. Log lines for engineers stay English and do not use the catalogue.

In Python::

    from minqing.i18n import N_, _, label, ngettext, pgettext

    _("交办")                                    # a text
    _("已交办 %(n)d 件") % {"n": 3}              # values: named %-placeholders, never f-strings in _()
    ngettext("%(n)d 条", "%(n)d 条", n) % {"n": n}   # counts (English has plurals, Chinese not)
    pgettext("rating", "满意")                   # the same Chinese meaning two things in English
    CHANNEL_LABELS = {"hotline": N_("12345热线")}  # a table of labels: mark with N_ where defined…
    NP_("trail", "改派")                         # …or NP_ for one shown with pgettext("trail", …)
    label(CHANNEL_LABELS, "hotline")             # …translate when shown (unknown codes as they are)
    headed(scores, SCORE_LABELS)                 # a frame keyed by codes, headed by its labels

Don't translate at import time (module constants, default arguments): the language can change
(``using("en")``) after the import. Keep the msgid one whole sentence; don't glue fragments.

In Jinja2 templates, an environment passed through `install_jinja` has the i18n extension
(new-style gettext, trimmed blocks)::

    {{ _("交办单") }}   {{ _("共 %(n)d 件", n=cases|length) }}   {% trans %}……{% endtrans %}
    {{ ngettext("%(num)d 件", "%(num)d 件", total) }}

The language is `Settings.language` (``MINQING_LANGUAGE=zh_CN`` or ``en``); `using(language)`
switches it for a block (a test, one rendering).

After adding or changing texts: ``minqing catalogue update`` (extracts the texts and merges them
into the .po), write the English for each new empty ``msgstr`` in the .po, then ``minqing
catalogue compile``. The compiled .mo files are committed, so an editable install and a wheel
both carry them; tests/unit/test_i18n.py fails when the catalogue is behind the code or the .mo
behind the .po.
"""

from __future__ import annotations

import gettext as _gettext
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
DEFAULT_LANGUAGE = "zh_CN"
LANGUAGES = ("zh_CN", "en")

_language: ContextVar[str | None] = ContextVar("minqing_language", default=None)


def normalise_language(value: str) -> str:
    """'zh-CN', 'zh_cn', 'zh' → 'zh_CN'; 'en', 'en_US', 'en-GB' → 'en'; anything else is an error."""
    key = value.strip().replace("-", "_").lower()
    if key in ("zh", "zh_cn", "zh_hans", "zh_hans_cn"):
        return "zh_CN"
    if key == "en" or key.startswith("en_"):
        return "en"
    raise ValueError(f"unsupported language {value!r}: choose one of {', '.join(LANGUAGES)}")


def current_language() -> str:
    """The language of this block (`using`) or else the settings' (zh_CN by default)."""
    chosen = _language.get()
    if chosen is not None:
        return chosen
    from minqing.settings import get_settings

    return get_settings().language


@contextmanager
def using(language: str) -> Iterator[str]:
    """Render in `language` inside the block (contextvar: safe across threads and tasks)."""
    token = _language.set(normalise_language(language))
    try:
        yield _language.get() or DEFAULT_LANGUAGE
    finally:
        _language.reset(token)


@cache
def translations(language: str) -> _gettext.NullTranslations:
    """The compiled catalogue of `language`; zh_CN is the message ids themselves."""
    if language == DEFAULT_LANGUAGE:
        return _gettext.NullTranslations()
    with open(LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo", "rb") as fp:
        return _gettext.GNUTranslations(fp)


def gettext(message: str) -> str:
    return translations(current_language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current_language()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return translations(current_language()).pgettext(context, message)


def npgettext(context: str, singular: str, plural: str, n: int) -> str:
    return translations(current_language()).npgettext(context, singular, plural, n)


_ = gettext


def N_(message: str) -> str:  # noqa: N802 — the conventional name extractors know
    """Mark `message` for the catalogue without translating it now (tables, constants)."""
    return message


def NP_(context: str, message: str) -> str:  # noqa: N802
    """Like N_, for a text translated later with pgettext(context, message)."""
    return message


def label(table: Mapping[Any, str], code: Any) -> str:
    """The translated label of `code` in a table of N_-marked labels; an unknown code as is."""
    if code is None:
        return ""
    text = table.get(code)
    if text is None:
        text = table.get(str(code))
    return gettext(text) if text is not None else str(code)


def headed(frame: Any, labels: Mapping[Any, str]) -> Any:
    """A DataFrame keyed by codes, with each column named by its translated label in `labels`
    (a table of N_-marked labels); a column without a label keeps its name (e.g. data)."""
    return frame.rename(columns={c: label(labels, c) for c in frame.columns})


def install_jinja(env: Any) -> Any:
    """Give a Jinja2 environment the i18n extension bound to this catalogue; returns `env`.

    New-style gettext: ``_("…%(n)s…", n=…)`` formats and escapes the values itself, so a literal
    percent sign in a template text is written ``%%``.
    """
    env.add_extension("jinja2.ext.i18n")
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_callables(
        gettext=gettext,
        ngettext=ngettext,
        pgettext=pgettext,
        npgettext=npgettext,
        newstyle=True,
    )
    return env
