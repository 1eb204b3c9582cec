"""The one interface every channel adapter implements, and the helpers they share."""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

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
        raise KeyError(f"unknown channel {channel!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def _load_builtin() -> None:
    # Imported for their @register side effect; kept lazy so base has no import cycle.
    from minqing.channels import hotline, qrform  # noqa: F401


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
    return f"{channel}:{hashlib.sha1(joined.encode('utf-8')).hexdigest()}"


_EXCEL_EPOCH = date(1899, 12, 30)
_DATE_PATTERNS = [
    re.compile(
        r"^(?P<y>\d{4})\s*[年/.\-]\s*(?P<m>\d{1,2})\s*[月/.\-]\s*(?P<d>\d{1,2})\s*日?"
        r"(?:[\sT]*(?P<H>\d{1,2})\s*[:：时]\s*(?P<M>\d{1,2})\s*(?:[:：分]\s*(?P<S>\d{1,2})(?:\.\d+)?\s*秒?)?)?"
        r"\s*(?P<tz>Z|[+\-]\d{2}:?\d{2})?$"
    ),
    re.compile(r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})(?:\s*(?P<H>\d{2})(?P<M>\d{2})(?P<S>\d{2})?)?$"),
]


def parse_datetime(value: object) -> datetime | None:
    """Parse the date formats Chinese offices use; naive times are Asia/Shanghai. Returns UTC.

    Accepts datetime/date objects, ISO strings, 2023年5月1日, 2023/5/1 9:32,
    2023-05-01 09:32:09 and Excel serial numbers. Returns None when it cannot tell.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not 1 <= value < 2_958_466:
            return None
        dt = datetime.combine(_EXCEL_EPOCH, datetime.min.time()) + timedelta(days=float(value))
    else:
        text = str(value).strip()
        if not text:
            return None
        if re.fullmatch(r"\d{5}(\.\d+)?", text):
            return parse_datetime(float(text))
        dt = _match_date(text)
        if dt is None:
            return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=LOCAL_TZ)
    return dt.astimezone(UTC)


def _match_date(text: str) -> datetime | None:
    for pattern in _DATE_PATTERNS:
        m = pattern.match(text)
        if not m:
            continue
        parts = m.groupdict()
        try:
            dt = datetime(
                int(parts["y"]),
                int(parts["m"]),
                int(parts["d"]),
                int(parts.get("H") or 0),
                int(parts.get("M") or 0),
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
    return None


def check_text(text: str | None) -> str | None:
    """The reason a text cannot be an opinion, or None when it can."""
    if text is None or not text.strip():
        return "empty text"
    return None
