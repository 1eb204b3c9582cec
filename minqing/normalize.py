"""Normalisation of opinion text, and the personal data found in it.

Every channel's text goes through `normalize_text` before anything else; `redact` takes phone
numbers, 18-digit ID numbers and e-mail addresses out of the text departments see (the
original stays in the restricted raw payload).

Plain text keeps every letter, digit and sign the citizen wrote: "<A4区…KTV噪音扰民>" is a
title in angle-bracket quotes, and even "<script>" is only text — every page and e-mail
escapes what it shows. Markup is removed only from content that is HTML (an e-mail's HTML
part, a QR-code form submission written in its rich-text editor, a channel configured with
`text_format: html`): `normalize_text(text, html=True)` or `strip_html`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from html.parser import HTMLParser

# NFKC would turn Chinese punctuation into ASCII ("，" → ","), circled numbers into digits
# ("①" → "1", losing the list) and "……" into "......"; these stay as written.
_KEEP_AS_IS = "，！？：；（）｛｝～＂｀…‥①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"
_KEEP_RUN = re.compile(f"([{re.escape(_KEEP_AS_IS)}]+)")
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# ASCII punctuation written inside Chinese text becomes the Chinese form ("坏了,请修" →
# "坏了，请修"); between digits or Latin text ("8:30", "1,200", "a.b") it stays ASCII.
# Each entry: the ASCII sign, where it becomes Chinese, the Chinese sign.
_ZH_PUNCT = [
    (",", re.compile(f"(?<=[{_CJK}]),|,(?=[{_CJK}])"), "，"),
    ("!", re.compile(f"(?<=[{_CJK}])!"), "！"),
    ("?", re.compile(f"(?<=[{_CJK}])\\?"), "？"),
    (";", re.compile(f"(?<=[{_CJK}]);|;(?=[{_CJK}])"), "；"),
    (":", re.compile(f"(?<=[{_CJK}]):(?!\\d)|(?<!\\d):(?=[{_CJK}])"), "："),
]
_PARENS = re.compile(r"\(([^()\n]{0,80})\)")
# Written exactly as they are, whatever Chinese text is around them: a character reference
# ("&nbsp;" left in plain text must not become "&nbsp；") and a web address, which may hold
# Chinese ("https://map.example.cn/search/东湖花园?q=1,2" must stay a working link). An
# address ends at a space, a bracket, a quote or Chinese punctuation; ASCII punctuation at
# its end (the sentence's, as a link finder reads it) is not part of it.
_NOT_IN_URL = "\\s()<>\"'，。；：！？、（）《》“”‘’【】"
_VERBATIM = re.compile(
    r"&(?:[A-Za-z][A-Za-z0-9]{1,31}|#\d{1,7}|#[xX][0-9A-Fa-f]{1,6});"
    f"|[A-Za-z][A-Za-z0-9+.-]*://[^{_NOT_IN_URL}]*[^{_NOT_IN_URL}.,;:!?]"
)
_HAS_CJK = re.compile(f"[{_CJK}]")
_CJK_BMP = re.compile("[\u3400-\u9fff]")
_LOOKS_LIKE_MARKUP = re.compile(
    r"<\s*/?\s*[A-Za-z!?]|&(?:[A-Za-z]{2,8}|#\d{1,7}|#[xX][0-9A-Fa-f]{1,6});"
)
# The elements a rich-text editor writes, as real tags: "<p>", "<br/>", "</b>", '<span style=…>'.
# Not "<A市新图>" or "<某小区噪音扰民>" (no space, "/" or ">" after the name), nor "<script>",
# which no editor writes: plain text holding it stays plain.
_RICH_TEXT_TAG = re.compile(
    r"</?(?:p|br|div|span|b|strong|i|em|u|s|strike|font|ul|ol|li|h[1-6]|a|img|hr|pre"
    r"|blockquote|table|thead|tbody|tr|td|th|sub|sup)(?:\s[^<>]*)?/?>",
    re.IGNORECASE,
)
_SPACES = re.compile(r"[ \t\u3000\xa0\u2000-\u200a\u202f\u205f]+")
_NEWLINES = re.compile(r" *\n[\s]*")
# Control characters, zero-width characters, BOMs and lone surrogates (undecodable bytes).
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200d\u2060\ufeff\ud800-\udfff]"
)

# Mobile (1[3-9]x xxxx xxxx), landline (0xx-xxxxxxxx) and the 12345-style short numbers are
# not personal; ID numbers are 17 digits + digit/X. Boundaries avoid cutting longer numbers.
_ID_NUMBER = re.compile(
    r"(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])"
)
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(?:\(0\d{2,3}\)|（0\d{2,3}）|0\d{2,3}[- ]?)\d{7,8}(?!\d)")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Every ID number, mobile and landline above holds this (the patterns start with a
# look-behind, so re tries them at every character; this one it can skip through).
_MAYBE_PERSONAL_NUMBER = re.compile(r"\d{3}[- ]?\d{4}")
_DEDUP_DROP = re.compile(r"[\W_]+", re.UNICODE)
_WORD_RUN = re.compile(r"\w+")


# Characters NFKC leaves alone, each on its own and next to any other (no decomposition,
# combining class 0, never the second half of a composition; tests/unit/test_normalize_speed.py
# checks this): a text made only of these and _KEEP_AS_IS skips NFKC.
_NFKC_STABLE = "\t\n\r -~\u3400-\u4dbf\u4e00-\u9fff、。〈〉《》「」『』【】〔〕“”‘’—·・"
_NFKC_MAY_CHANGE = re.compile(f"[^{_NFKC_STABLE}{re.escape(_KEEP_AS_IS)}]")
_SPACE = re.compile(r"[ \t\u3000\xa0\u2000-\u200a\u202f\u205f]")
# The one-character dictionaries of t2s change none of these, but phrases do (深沈 → 深沉,
# 答覆 → 答复, 毛坏 → 毛坯): every such phrase of OpenCC's TSPhrases holds one of them.
_T2S_PHRASE_ONLY = "沈坏藉哩覆衹瞭甦"
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


@lru_cache(maxsize=1)
def _t2s_changes() -> tuple[re.Pattern[str], frozenset[str]]:
    """What t2s may change: the BMP characters as a regex, the others as a set.

    Found by converting every CJK character once (≈0.1 s), so it follows the installed
    dictionaries; a text with none of them (most simplified text) needs no conversion.
    """
    ranges = [(0x2E80, 0xA000), (0xF900, 0xFB00), (0x20000, 0x32400)]
    chars = [chr(c) for start, stop in ranges for c in range(start, stop)]
    converted = _t2s().convert("\n".join(chars)).split("\n")
    if len(converted) != len(chars):  # a dictionary maps one character to several
        converted = [_t2s().convert(ch) for ch in chars]
    changes = {ch for ch, out in zip(chars, converted, strict=True) if ch != out}
    changes.update(_T2S_PHRASE_ONLY)
    bmp = "".join(sorted(ch for ch in changes if ord(ch) < 0x10000))
    return re.compile(f"[{re.escape(bmp)}]"), frozenset(ch for ch in changes if ord(ch) >= 0x10000)


def _to_simplified(text: str) -> str:
    bmp, astral = _t2s_changes()
    if bmp.search(text) or (_ASTRAL.search(text) and not astral.isdisjoint(text)):
        return _t2s().convert(text)
    return text


class _TextExtractor(HTMLParser):
    """Keeps the text of an HTML fragment: no tags, no attributes, no script/style content."""

    _SKIP = {"script", "style", "head", "title", "template", "noscript", "iframe", "object"}
    _BREAKS = {
        "br",
        "p",
        "div",
        "li",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "table",
        "ul",
        "ol",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def strip_html(markup: str) -> str:
    """The text an HTML fragment shows: tags and attributes dropped, script and style content
    dropped, entities decoded. One pass: '&lt;A4区&gt;' in HTML is the text '<A4区>' and stays
    so (inert, since every page and message escapes it). A fragment with no tag or entity
    ("温度<0度") is returned as it is."""
    if not _LOOKS_LIKE_MARKUP.search(markup):
        return markup
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    return "".join(parser.parts)


def looks_like_rich_text(text: str) -> bool:
    """Whether a text from a channel that takes both plain and rich text (the QR-code form's
    editor) is HTML: it holds a tag such an editor writes (<p>, <br>, <b>, <div>, …)."""
    return "<" in text and _RICH_TEXT_TAG.search(text) is not None


def _nfkc_keeping_chinese_punctuation(text: str) -> str:
    if not _NFKC_MAY_CHANGE.search(text):
        return text
    parts = _KEEP_RUN.split(text)
    return "".join(p if i % 2 else unicodedata.normalize("NFKC", p) for i, p in enumerate(parts))


def _chinese_parens(m: re.Match[str]) -> str:
    before = m.string[m.start() - 1] if m.start() else ""
    if _HAS_CJK.search(m.group(1)) or _HAS_CJK.match(before):
        return f"（{m.group(1)}）"
    return m.group(0)


def _chinese_punctuation(text: str) -> str:
    """ASCII , ! ? ; : and ( ) inside Chinese text → Chinese forms, except inside the
    character references and web addresses of _VERBATIM. Every change is one character for
    one, so those spans are put back where they were, their context seen as it is."""
    converted = _to_chinese_punctuation(text)
    if converted == text or ("&" not in text and "://" not in text):
        return converted
    kept = list(converted)
    for m in _VERBATIM.finditer(text):
        kept[m.start() : m.end()] = m.group(0)
    return "".join(kept)


def _to_chinese_punctuation(text: str) -> str:
    # The patterns start with a look-behind, which makes re try them at every character:
    # look for the ASCII sign first.
    for sign, pattern, replacement in _ZH_PUNCT:
        if sign in text:
            text = pattern.sub(replacement, text)
    while "(" in text:  # innermost pairs first: "((了))" takes two rounds
        changed = _PARENS.sub(_chinese_parens, text)
        if changed == text:
            break
        text = changed
    return text


def normalize_text(text: str, *, html: bool = False) -> str:
    """The form every later stage works on.

    NFKC (full-width letters, digits and symbols → half-width; Chinese punctuation, circled
    numbers and "……" kept), traditional → simplified (OpenCC t2s), ASCII punctuation inside
    Chinese text → Chinese punctuation, control and zero-width characters removed, runs of
    spaces collapsed, line breaks kept (once). No letter, digit or CJK character is removed:
    angle brackets and anything between them stay.

    `html=True` is for content that is HTML: its markup is stripped first (`strip_html`); the
    result is plain text, which normalises to itself.
    """
    if html:
        text = strip_html(text)
    text = _nfkc_keeping_chinese_punctuation(text)
    text = _INVISIBLE.sub("", text)
    text = (
        text.replace("\r\n", "\n")
        .replace("\r", "\n")
        .replace("\u2028", "\n")
        .replace("\u2029", "\n")
    )
    if _SPACE.search(text):
        text = _SPACES.sub(" ", text)
    if "\n" in text:
        text = _NEWLINES.sub("\n", text)
    text = text.strip()
    if _CJK_BMP.search(text):
        text = _to_simplified(text)
        text = _chinese_punctuation(text)
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


PHONE_MARK = "[电话已隐去]"
ID_MARK = "[身份证号已隐去]"
EMAIL_MARK = "[邮箱已隐去]"


def redact(
    text: str,
    *,
    phone_mark: str = PHONE_MARK,
    id_mark: str = ID_MARK,
    email_mark: str = EMAIL_MARK,
    landlines: bool = True,
) -> Redaction:
    """Replace ID numbers, e-mail addresses and phone numbers in `text` with placeholders (the
    stored markers unless others are given, e.g. in the reader's language). `landlines=False`
    keeps numbers with an area code: in a department's reply they are its office's numbers
    (咨询电话 0731-…), which the citizen is meant to call.

    Expects normalised text (half-width digits). Mobile numbers may be written with spaces or
    hyphens and a +86 prefix; landlines with an area code (0731-8xxxxxxx, (0731)8xxxxxxx).
    """
    found = Redaction(text="")

    def take(bucket: list[str], placeholder: str):
        def _sub(m: re.Match[str]) -> str:
            bucket.append(re.sub(r"[-() （）]", "", m.group(0)))
            return placeholder

        return _sub

    # Most texts hold no number long enough to be personal; the placeholders hold no digits,
    # so a text without one keeps having none after each step.
    numbers = _MAYBE_PERSONAL_NUMBER.search(text) is not None
    if numbers:
        text = _ID_NUMBER.sub(take(found.id_numbers, id_mark), text)
    if "@" in text:
        text = _EMAIL.sub(take(found.emails, email_mark), text)
    if numbers:
        text = _MOBILE.sub(take(found.phones, phone_mark), text)
        if landlines:
            text = _LANDLINE.sub(take(found.phones, phone_mark), text)
    found.text = text
    return found


TITLE_CHARS = 30
_SENTENCE_END = re.compile(r"[。！？!?；;]")
_CLAUSE_BREAKS = "，、：,: "
_TRAILING = "，、；：。,.;: "


def derive_title(text: str, limit: int = TITLE_CHARS) -> str:
    """A title for a message that came without one: its first sentence when that is short
    enough, else its opening cut after a clause (，、：) with "…" — never mid-word, as in
    "……怀疑燃气泄漏，请"."""
    line = text.strip().split("\n", 1)[0].strip()
    end = _SENTENCE_END.search(line)
    sentence = line[: end.start() + (line[end.start()] in "！？!?")] if end else line
    if len(sentence) <= limit:
        return sentence.rstrip(_TRAILING) or line[:limit]
    head = line[: limit - 1]
    cut = max(head.rfind(ch) for ch in _CLAUSE_BREAKS)
    if cut >= limit // 2:
        head = head[:cut]
    return head.rstrip(_TRAILING) + "…"


def dedup_key(text: str) -> str:
    """The exact-duplicate key: normalised text without punctuation, spaces or case."""
    # The same as _DEDUP_DROP.sub("", …), a quarter faster: runs of word characters joined,
    # then the underscores (word characters for re) dropped.
    return "".join(_WORD_RUN.findall(normalize_text(text))).replace("_", "").lower()


def normalize_phone(phone: str | None) -> str | None:
    if not phone:
        return None
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", phone))
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits or None
