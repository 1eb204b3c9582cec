"""Normalisation of opinion text, and the personal data found in it.

Every channel's text goes through `normalize_text` before anything else; `redact` takes phone
numbers, 18-digit ID numbers and e-mail addresses out of the text departments see (the
original stays in the restricted raw payload).
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

_TAG = re.compile(r"<[^>]*>")
_SCRIPT = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_BREAK = re.compile(r"<\s*(br|/p|/div|/li|/tr)\b[^>]*>", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\u3000\xa0]+")
_NEWLINES = re.compile(r"\s*\n\s*")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Mobile (1[3-9]x xxxx xxxx), landline (0xx-xxxxxxxx) and the 12345-style short numbers are
# not personal; ID numbers are 17 digits + digit/X. Boundaries avoid cutting longer numbers.
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)0\d{2,3}-?\d{7,8}(?!\d)")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_DEDUP_DROP = re.compile(r"[\W_]+", re.UNICODE)


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def strip_html(text: str) -> str:
    """Remove markup safely: scripts and styles with their content, tags, then entities."""
    if "<" not in text and "&" not in text:
        return text
    text = _SCRIPT.sub(" ", text)
    text = _BREAK.sub("\n", text)
    text = _TAG.sub("", text)
    return html.unescape(text)


def normalize_text(text: str) -> str:
    """NFKC (full-width letters/digits → half-width), HTML stripped, traditional → simplified,
    control characters removed and whitespace collapsed (line breaks kept once)."""
    text = unicodedata.normalize("NFKC", text)
    text = strip_html(text)
    text = _CONTROL.sub("", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _SPACES.sub(" ", text)
    text = _NEWLINES.sub("\n", text).strip()
    if any("\u4e00" <= ch <= "\u9fff" for ch in text):
        text = _t2s().convert(text)
    return text


@dataclass
class Redaction:
    """The text departments may see, and the personal data taken out of it."""

    text: str
    phones: list[str] = field(default_factory=list)
    id_numbers: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)

    @property
    def found_any(self) -> bool:
        return bool(self.phones or self.id_numbers or self.emails)


def redact(text: str) -> Redaction:
    """Replace ID numbers, e-mail addresses and phone numbers in `text` with placeholders."""
    found = Redaction(text="")

    def take(bucket: list[str], placeholder: str):
        def _sub(m: re.Match[str]) -> str:
            bucket.append(re.sub(r"[- ]", "", m.group(0)))
            return placeholder

        return _sub

    text = _ID_NUMBER.sub(take(found.id_numbers, "[身份证号已隐去]"), text)
    text = _EMAIL.sub(take(found.emails, "[邮箱已隐去]"), text)
    text = _MOBILE.sub(take(found.phones, "[电话已隐去]"), text)
    text = _LANDLINE.sub(take(found.phones, "[电话已隐去]"), text)
    found.text = text
    return found


def dedup_key(text: str) -> str:
    """The exact-duplicate key: normalised text without punctuation, spaces or case."""
    return _DEDUP_DROP.sub("", normalize_text(text)).lower()


def normalize_phone(phone: str | None) -> str | None:
    if not phone:
        return None
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", phone))
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits or None
