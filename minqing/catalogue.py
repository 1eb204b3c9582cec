"""Keeping the message catalogue (minqing/i18n.py) in step with the code: extract the texts
marked with _()/N_()/ngettext/pgettext and the templates' {% trans %}, merge them into each
language's .po, compile the .mo, and check that nothing is missing, stale or untranslated.

Used by `minqing catalogue update|compile|check` and by tests/unit/test_i18n.py.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po, write_po

from minqing.i18n import DEFAULT_LANGUAGE, DOMAIN, LANGUAGES, LOCALE_DIR

PROJECT = "minqing"
# The packages whose texts people read; relative to the project root.
PACKAGES = ("minqing", "db", "tasks", "flows", "mail", "web", "cli")
_JINJA = {"extensions": "jinja2.ext.i18n", "trimmed": "true", "newstyle_gettext": "true"}
METHOD_MAP = [
    ("**/templates/**.html", "jinja2"),
    ("**/templates/**.txt", "jinja2"),
    ("**.py", "python"),
]
OPTIONS_MAP = {"**/templates/**.html": _JINJA, "**/templates/**.txt": _JINJA}
COMMENT_TAGS = ("TRANSLATORS:",)
HEADER = """\
# The {language} catalogue of minqing (民情直通车). The message ids are the zh_CN texts.
# Refresh with `minqing catalogue update`, translate, then `minqing catalogue compile`.
#"""


def project_root() -> Path:
    return LOCALE_DIR.parent.parent


def target_languages() -> list[str]:
    """Languages with a catalogue of their own (zh_CN is the message ids)."""
    return [lang for lang in LANGUAGES if lang != DEFAULT_LANGUAGE]


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(language: str) -> Path:
    return po_path(language).with_suffix(".mo")


def extract(root: Path | None = None) -> Catalog:
    """Every marked text of the project's packages, as a template catalogue."""
    root = root or project_root()
    template = Catalog(project=PROJECT, locale=DEFAULT_LANGUAGE, fuzzy=False)
    for package in PACKAGES:
        folder = root / package
        if not folder.is_dir():
            continue
        for filename, lineno, message, comments, context in extract_from_dir(
            folder,
            method_map=METHOD_MAP,
            options_map=OPTIONS_MAP,
            keywords={**DEFAULT_KEYWORDS, "NP_": ((1, "c"), 2)},
            comment_tags=COMMENT_TAGS,
            strip_comment_tags=True,
        ):
            template.add(
                message,
                None,
                [(f"{package}/{filename}", lineno)],
                auto_comments=comments,
                context=context,
            )
    return template


def _new_catalogue(language: str) -> Catalog:
    return Catalog(
        locale=language,
        domain=DOMAIN,
        header_comment=HEADER.format(language=language),
        project=PROJECT,
        version="1",
        copyright_holder=PROJECT,
        msgid_bugs_address="",
        last_translator=PROJECT,
        language_team=language,
        fuzzy=False,
    )


def read_catalogue(language: str) -> Catalog:
    with open(po_path(language), "rb") as fp:
        return read_po(fp, locale=language, domain=DOMAIN)


def _write_po(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    # No line numbers and sorted ids: the .po changes only when texts change, which keeps
    # parallel edits from conflicting over moved lines.
    write_po(buffer, catalog, sort_output=True, include_lineno=False, ignore_obsolete=True)
    path.write_bytes(buffer.getvalue())


def update(languages: Iterable[str] | None = None) -> dict[str, int]:
    """Merge the extracted texts into each .po; returns how many texts wait for a translation."""
    template = extract()
    waiting: dict[str, int] = {}
    for language in languages or target_languages():
        path = po_path(language)
        catalog = read_catalogue(language) if path.exists() else _new_catalogue(language)
        created = catalog.creation_date
        catalog.update(template, no_fuzzy_matching=False, update_header_comment=False)
        catalog.creation_date = created  # no date churn in the file when no text changed
        _write_po(catalog, path)
        waiting[language] = sum(1 for m in catalog if m.id and (m.fuzzy or not _translated(m)))
    return waiting


def compile_mo(languages: Iterable[str] | None = None) -> list[Path]:
    """Write each language's .mo from its .po (untranslated and fuzzy texts left out)."""
    written = []
    for language in languages or target_languages():
        catalog = read_catalogue(language)
        buffer = io.BytesIO()
        write_mo(buffer, catalog, use_fuzzy=False)
        mo_path(language).write_bytes(buffer.getvalue())
        written.append(mo_path(language))
    return written


def _translated(message: object) -> bool:
    string = getattr(message, "string", None)
    if isinstance(string, tuple | list):
        return all(string)
    return bool(string)


def _key(message: object) -> tuple[str | None, str]:
    msgid = getattr(message, "id", "")
    first = msgid[0] if isinstance(msgid, tuple | list) else msgid
    return getattr(message, "context", None), first


def _compiled_messages(catalog: Catalog) -> dict[tuple[str | None, str], object]:
    return {
        _key(m): tuple(m.string) if isinstance(m.string, list | tuple) else m.string
        for m in catalog
        if m.id and not m.fuzzy and _translated(m)
    }


def problems(template: Catalog | None = None) -> list[str]:
    """What keeps the catalogue from matching the code (or `template`); empty when in step."""
    template = template if template is not None else extract()
    wanted = {_key(m) for m in template if m.id}
    found: list[str] = []
    for language in target_languages():
        if not po_path(language).exists():
            found.append(f"{language}: no catalogue at {po_path(language)}")
            continue
        catalog = read_catalogue(language)
        present = {_key(m) for m in catalog if m.id}
        for context, msgid in sorted(wanted - present, key=str):
            found.append(f"{language}: not in the catalogue: {msgid!r}" + _ctx(context))
        for context, msgid in sorted(present - wanted, key=str):
            found.append(f"{language}: no longer in the code: {msgid!r}" + _ctx(context))
        for message in catalog:
            if not message.id:
                continue
            _, msgid = _key(message)
            if message.fuzzy:
                found.append(f"{language}: fuzzy (check and clear the flag): {msgid!r}")
            elif not _translated(message):
                found.append(f"{language}: not translated: {msgid!r}")
        for message, errors in catalog.check():
            for error in errors:
                found.append(f"{language}: {_key(message)[1]!r}: {error}")
        if not mo_path(language).exists():
            found.append(f"{language}: not compiled ({mo_path(language)} missing)")
            continue
        with open(mo_path(language), "rb") as fp:
            compiled = _compiled_messages(read_mo(fp))
        if compiled != _compiled_messages(catalog):
            found.append(
                f"{language}: the .mo differs from the .po — run `minqing catalogue compile`"
            )
    return found


def _ctx(context: str | None) -> str:
    return f" (context {context!r})" if context else ""
