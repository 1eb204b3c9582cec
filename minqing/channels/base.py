"""The one interface every channel adapter implements, and the helpers they share."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from minqing.channels.safe_cells import looks_like_formula
from minqing.reasons import Reason, reason
from minqing.records import Item, Rejected

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
MAX_TEXT_CHARS = 10_000


class ChannelParser(ABC):
    """Reads one file of a channel as a stream of Items and Rejections.

    A parser never raises for a bad row (that is a Rejected); it raises
    `minqing.records.UnreadableFile` only when the whole file cannot be read.
    """

    channel: ClassVar[str]
    suffixes: ClassVar[tuple[str, ...]]

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options = dict(options or {})

    @abstractmethod
    def parse(self, path: Path, checksum: str) -> Iterator[Item | Rejected]:
        """Yield one Item or Rejected per row/message of `path`."""

    def accepts(self, path: Path) -> bool:
        return path.suffix.lower() in self.suffixes


_REGISTRY: dict[str, type[ChannelParser]] = {}


def register(cls: type[ChannelParser]) -> type[ChannelParser]:
    _REGISTRY[cls.channel] = cls
    return cls


def registered_channels() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def get_parser(channel: str, options: Mapping[str, Any] | None = None) -> ChannelParser:
    _load_builtin()
    try:
        return _REGISTRY[channel](options)
    except KeyError:
        raise KeyError(
            f"unknown channel {channel!r}; known: {', '.join(sorted(_REGISTRY))}"
        ) from None


def _load_builtin() -> None:
    # Imported for their @register side effect; kept lazy so base has no import cycle.
    from minqing.channels import email, hotline, qrform, register, visits, wechat  # noqa: F401


def file_checksum(path: Path) -> str:
    """SHA-256 of the file's bytes, read in blocks (bounded memory for huge files)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def make_source_key(channel: str, *parts: object) -> str:
    """A stable key for one item of one source: same input, same key, whatever the file name."""
    joined = "\x1f".join(str(p) for p in parts)
    return f"{channel}:{hashlib.sha1(joined.encode('utf-8', 'surrogatepass')).hexdigest()}"


_EXCEL_EPOCH = date(1899, 12, 30)
# Excel serial numbers of 1970-01-01 and 2100-01-01: outside that a number is not a date.
_SERIAL_RANGE = (25_569, 73_051)
_YEARS = range(1970, 2101)
_TIME = (
    r"(?:[\sT,，]*(?P<ap>上午|早上|早晨|凌晨|中午|下午|傍晚|晚上|夜里)?\s*"
    r"(?P<H>\d{1,2})\s*[:：时点]\s*"
    r"(?:(?P<M>\d{1,2}|半)\s*分?\s*(?:[:：]?\s*(?P<S>\d{1,2})(?:\.\d+)?\s*秒?)?)?"
    r"\s*(?P<ap2>[AaPp][Mm])?)?"
)
_DATE_PATTERNS = [
    re.compile(
        r"^(?P<y>\d{4})\s*[年/.\-]\s*(?P<m>\d{1,2})\s*[月/.\-]\s*(?P<d>\d{1,2})\s*[日号]?"
        + _TIME
        + r"\s*(?P<tz>Z|[+\-]\d{2}:?\d{2})?$"
    ),
    re.compile(
        r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})(?:[\sT]*(?P<H>\d{2})(?P<M>\d{2})(?P<S>\d{2})?)?$"
    ),
]
_PM = {"下午", "傍晚", "晚上", "夜里"}


def parse_datetime(value: object) -> datetime | None:
    """Parse the date formats Chinese offices use; naive times are Asia/Shanghai. Returns UTC.

    Accepts datetime/date objects, ISO strings, 2023年5月1日, 2023年5月1日下午3点半,
    2023/5/1 9:32, 2023.5.1, 2023-05-01 09:32:09, 20230501 and Excel serial numbers (as
    numbers or digit strings). Returns None when it cannot tell, including years outside
    1970–2100, which in these files are typing errors.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    elif isinstance(value, int | float):
        if not _SERIAL_RANGE[0] <= value < _SERIAL_RANGE[1]:
            return None
        dt = datetime.combine(_EXCEL_EPOCH, datetime.min.time()) + timedelta(days=float(value))
        dt = dt.replace(microsecond=0) + timedelta(seconds=round(dt.microsecond / 1e6))
    else:
        text = unicodedata.normalize("NFKC", str(value)).strip()
        if not text:
            return None
        if re.fullmatch(r"\d{5}(\.\d+)?", text):
            return parse_datetime(float(text))
        matched = _match_date(text)
        if matched is None:
            return None
        dt = matched
    if dt.year not in _YEARS:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=LOCAL_TZ)
    return dt.astimezone(UTC)


def _match_date(text: str) -> datetime | None:
    text = text.replace("\u3000", " ")
    for pattern in _DATE_PATTERNS:
        m = pattern.match(text)
        if not m:
            continue
        parts = m.groupdict()
        hour = int(parts.get("H") or 0)
        minute_text = parts.get("M") or "0"
        minute = 30 if minute_text == "半" else int(minute_text)
        marker = parts.get("ap") or (parts.get("ap2") or "").upper()
        if marker in _PM or marker == "PM":
            hour = hour + 12 if hour < 12 else hour
        elif marker == "中午":
            hour = hour + 12 if hour < 6 else hour
        elif marker in ("凌晨", "AM") and hour == 12:
            hour = 0
        try:
            dt = datetime(
                int(parts["y"]),
                int(parts["m"]),
                int(parts["d"]),
                hour,
                minute,
                int(parts.get("S") or 0),
            )
        except ValueError:
            return None
        tz = parts.get("tz")
        if tz:
            try:
                return datetime.fromisoformat(dt.isoformat() + (tz if tz != "Z" else "+00:00"))
            except ValueError:
                return None
        return dt
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


_DATE_IN_NAME = re.compile(r"(?<!\d)(20\d{2})[-_.]?(\d{2})[-_.]?(\d{2})(?!\d)")


def date_from_name(path: Path) -> datetime | None:
    """The date written in a file name (…_20261127.xlsx), as local midnight in UTC."""
    m = _DATE_IN_NAME.search(path.stem)
    return parse_datetime("-".join(m.groups())) if m else None


def file_time(path: Path) -> datetime:
    """When a file without dates inside was made: the date in its name, else its mtime."""
    return date_from_name(path) or datetime.fromtimestamp(path.stat().st_mtime, UTC)


_WORD = re.compile(r"[^\W_]")


def check_text(text: str | None) -> Reason | None:
    """The reason a text cannot be an opinion, or None when it can."""
    if text is None or not text.strip():
        return reason("empty_text")
    if not _WORD.search(text):
        return reason("no_words")
    return None


# Reasons several channels give (拒收原因): codes, worded by minqing/reasons.py when shown.


def undecodable_reason() -> Reason:
    return reason("undecodable")


def extra_cells_reason(extra: int) -> Reason:
    return reason("extra_cells", n=extra)


def unreadable_date_reason(value: object) -> Reason:
    return reason("unreadable_date", value=str(value))


FLAG_OVERLONG = "overlong"
FLAG_TRUNCATED_FOR_EMAIL = "truncated_for_email"
FLAG_FORMULA = "formula_like"
FLAG_MARKUP = "markup"
_MARKUP = re.compile(r"<\s*/?\s*[A-Za-z!][^>]*>|&(?:[A-Za-z]{2,8}|#\d{2,6}|#x[0-9A-Fa-f]{2,5});")


def text_flags(text: str) -> tuple[str, ...]:
    """Flags every channel sets on an Item's text.

    overlong + truncated_for_email: over MAX_TEXT_CHARS; the text is kept whole, and whoever
    puts it in a message must cut it and say so. formula_like: starts like a spreadsheet
    formula (kept as text; exports go through `safe_cells.defuse_formula`). markup: holds
    HTML tags or entities (normalisation strips them).
    """
    flags: list[str] = []
    if len(text) > MAX_TEXT_CHARS:
        flags += [FLAG_OVERLONG, FLAG_TRUNCATED_FOR_EMAIL]
    if looks_like_formula(text):
        flags.append(FLAG_FORMULA)
    if _MARKUP.search(text):
        flags.append(FLAG_MARKUP)
    return tuple(flags)


class Occurrences:
    """Numbers repeats of the same content inside one file (0, 1, 2, …).

    Rows without an id get content keys; two identical rows (a double entry, or two people
    with the same words) still need two keys, and counting them in file order keeps both keys
    the same when the file, or an overlapping export of it, is read again.
    """

    def __init__(self) -> None:
        self._seen: dict[int, int] = {}

    def number(self, *parts: object) -> int:
        digest = hashlib.blake2b(
            "\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass"), digest_size=8
        )
        key = int.from_bytes(digest.digest(), "big")
        count = self._seen.get(key, 0)
        self._seen[key] = count + 1
        return count


def text_digest(text: str) -> str:
    """A short hash of a text for keys, blind to spacing and full/half-width differences."""
    compact = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))
    return hashlib.sha1(compact.encode("utf-8", "surrogatepass")).hexdigest()[:16]


_SURROGATES = re.compile("[\ud800-\udfff]")


def safe_excerpt(text: str, limit: int = 200) -> str:
    """An excerpt storable anywhere: cut to `limit`, undecodable bytes shown as U+FFFD."""
    return _SURROGATES.sub("\ufffd", text[:limit])
