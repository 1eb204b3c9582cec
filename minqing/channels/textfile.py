"""Reading text files whose encoding is detected, not assumed (UTF-8, UTF-8 BOM, GB18030/GBK)."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from charset_normalizer import from_bytes

from minqing.records import UnreadableFile

_SAMPLE_BYTES = 256 * 1024
_SURROGATE = re.compile("[\udc80-\udcff]")


def detect_encoding(path: Path) -> str:
    """The encoding to read `path` with: BOM first, then strict UTF-8, then GB18030, then a guess."""
    with path.open("rb") as fh:
        sample = fh.read(_SAMPLE_BYTES)
    if not sample:
        return "utf-8"
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in sample:
        raise UnreadableFile("binary file (NUL bytes), not a text export")
    for encoding in ("utf-8", "gb18030"):
        try:
            _decode_prefix(sample, encoding)
            return encoding
        except UnicodeDecodeError:
            continue
    best = from_bytes(sample).best()
    if best is None:
        raise UnreadableFile("cannot detect the text encoding")
    return best.encoding


def _decode_prefix(sample: bytes, encoding: str) -> None:
    # The sample may end in the middle of a multi-byte character: let the decoder keep it.
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    decoder.decode(sample, final=False)


def open_text(path: Path):
    """Open for streaming; undecodable bytes become surrogates so a row can be rejected alone."""
    encoding = detect_encoding(path)
    return path.open("r", encoding=encoding, errors="surrogateescape", newline="")


def has_undecodable(text: str) -> bool:
    return bool(_SURROGATE.search(text))
