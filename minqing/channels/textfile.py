"""Reading text files whose encoding is detected, not assumed (UTF-8, UTF-8 BOM, GB18030/GBK).

Offices mix encodings: a GBK export with a few rows pasted from a UTF-8 web page, a UTF-8 file
whose first 256 KB are plain ASCII. So the file's encoding is a *default* and every line is
decoded on its own: a line that is not valid in the default but valid in the other common
encoding is read in that one, and a line valid in neither keeps its bad bytes as surrogates
(`has_undecodable`) so that its row alone can be rejected.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from charset_normalizer import from_bytes

from minqing.reasons import reason
from minqing.records import UnreadableFile

_SAMPLE_BYTES = 256 * 1024
_SCAN_BLOCK = 1 << 20
_SURROGATE = re.compile("[\udc80-\udcff]")
_NON_ASCII = re.compile(rb"[\x80-\xff]")
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]+")


def detect_encoding(path: Path) -> str:
    """The encoding to read `path` with: BOM first, then UTF-8 vs GB18030 on the first
    non-ASCII bytes (scanning past an ASCII-only start), then charset-normalizer's guess."""
    with path.open("rb") as fh:
        sample = fh.read(_SAMPLE_BYTES)
        if not sample:
            return "utf-8"
        if sample.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        if sample.count(b"\x00") > len(sample) * 0.3:
            # A stray NUL in a cell happens (its row is cleaned later); this many is binary.
            raise UnreadableFile(reason("binary_not_text"))
        # An ASCII-only start says nothing: look further for the first non-ASCII bytes.
        while not _NON_ASCII.search(sample):
            block = fh.read(_SCAN_BLOCK)
            if not block:
                return "utf-8"
            sample = sample[-8:] + block
        start = max(_NON_ASCII.search(sample).start() - 8, 0)  # type: ignore[union-attr]
        sample = sample[start : start + _SAMPLE_BYTES] + fh.read(_SAMPLE_BYTES)
    return _choose_encoding(sample)


def _choose_encoding(sample: bytes) -> str:
    if _decodes(sample, "utf-8"):
        return "utf-8"
    # Mostly UTF-8 with a few foreign bytes is a UTF-8 file with a few bad rows; GB18030
    # would decode it all, into mojibake.
    bad = _count(_SURROGATE, sample.decode("utf-8", errors="surrogateescape"))
    if _count(_UTF8_MULTIBYTE, sample) > bad:
        return "utf-8"
    # GB18030 with a few bytes valid in no encoding: those rows are rejected, not the file.
    gb_bad = _count(_SURROGATE, sample.decode("gb18030", errors="surrogateescape"))
    if gb_bad <= max(3, 0.02 * _count(_NON_ASCII, sample)):
        return "gb18030"
    best = from_bytes(sample).best()
    if best is None:
        raise UnreadableFile(reason("unknown_encoding"))
    return best.encoding


def _decodes(sample: bytes, encoding: str) -> bool:
    # The sample may end in the middle of a multi-byte character: let the decoder keep it.
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        decoder.decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    return True


_ALTERNATE = {"utf-8": "gb18030", "utf-8-sig": "gb18030", "gb18030": "utf-8"}


def decode_line(raw: bytes, encoding: str) -> str:
    """Decode one line: the file's encoding, else the other common one, else with surrogates."""
    alternate = _ALTERNATE.get(encoding)
    if encoding == "gb18030" and _UTF8_MULTIBYTE.search(raw):
        # GB18030 Chinese bytes sometimes happen to be valid UTF-8 too, but then they decode to
        # Latin letters and symbols; a line that decodes to Chinese was pasted from UTF-8.
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            if _looks_chinese(text):
                return text
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        pass
    if alternate:
        try:
            return raw.decode(alternate)
        except UnicodeDecodeError:
            pass
    return raw.decode(encoding, errors="surrogateescape")


_CHINESE = re.compile("[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
_NON_ASCII_TEXT = re.compile("[^\x00-\x7f]")


def _looks_chinese(text: str) -> bool:
    non_ascii = _count(_NON_ASCII_TEXT, text)
    return non_ascii > 0 and _count(_CHINESE, text) >= 0.8 * non_ascii


def _count(pattern: re.Pattern, text):  # type: ignore[type-arg]
    """How often `pattern` occurs, without building a list of the matches."""
    return sum(1 for _ in pattern.finditer(text))


class TextLines:
    """An open text file as a stream of decoded lines (line endings kept, for `csv.reader`).

    Use as a context manager; iterating reads one line at a time, so memory stays bounded
    by the longest line, not the file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.encoding = detect_encoding(path)
        self._fh: io.BufferedReader | io.TextIOWrapper | None = None

    def __enter__(self) -> TextLines:
        if self.encoding == "utf-16":
            self._fh = self.path.open("r", encoding="utf-16", errors="surrogateescape", newline="")
        elif _cr_only(self.path):
            # "CSV (Macintosh)" from old Excel ends lines with CR alone: universal newlines.
            self._fh = self.path.open(
                "r", encoding=self.encoding, errors="surrogateescape", newline=None
            )
        else:
            self._fh = self.path.open("rb")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __iter__(self) -> Iterator[str]:
        if self._fh is None:
            self.__enter__()
        fh = self._fh
        assert fh is not None
        if isinstance(fh, io.TextIOWrapper):
            yield from fh
            return
        first = True
        for raw in fh:
            if first:
                first = False
                if raw.startswith(codecs.BOM_UTF8):
                    raw = raw[len(codecs.BOM_UTF8) :]
            yield decode_line(raw, "utf-8" if self.encoding == "utf-8-sig" else self.encoding)


def _cr_only(path: Path) -> bool:
    with path.open("rb") as fh:
        sample = fh.read(64 * 1024)
    return b"\r" in sample and b"\n" not in sample


def open_text(path: Path) -> TextLines:
    """Open for streaming; undecodable bytes become surrogates so a row can be rejected alone."""
    return TextLines(path)


def has_undecodable(text: str) -> bool:
    return bool(_SURROGATE.search(text))
