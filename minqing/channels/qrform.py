"""QR-code form submissions: one JSON object per line, as the web form stores them.

Schema: {"id", "station", "submitted_at", "content", "content_format", "title", "name", "phone",
"email", "area", "consent", "attachments"}; `station` is the code printed in the station's or
representative's QR code and becomes `recorded_by`. `content` is plain text, or HTML when
written in a form's rich-text editor (<p>, <br>, <b>, &nbsp;): HTML is turned into the text it
shows (paragraphs and line breaks kept as lines, tags dropped, entities decoded) and flagged
`html_body`; the submission as sent stays in `raw`. `content_format` says which ("plain", as
this project's own form writes, or "html"); without it, content holding a tag such an editor
writes is HTML (`minqing.normalize.looks_like_rich_text`). Any field may be missing or of the wrong type: the line is
then rejected (or the field ignored), never the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from minqing.channels.base import (
    ChannelParser,
    check_text,
    make_source_key,
    parse_datetime,
    register,
    safe_excerpt,
    text_digest,
    text_flags,
    undecodable_reason,
)
from minqing.channels.textfile import has_undecodable, open_text
from minqing.normalize import looks_like_rich_text, strip_html
from minqing.reasons import Reason, reason
from minqing.records import Contact, Item, Rejected


@register
class QrFormParser(ChannelParser):
    channel = "qrform"
    suffixes = (".jsonl", ".ndjson", ".json")

    def parse(self, path: Path, checksum: str) -> Iterator[Item | Rejected]:
        with open_text(path) as fh:
            for line_no, line in enumerate(fh, start=1):
                if line.strip():
                    yield self._line(path, checksum, line_no, line)

    def _line(self, path: Path, checksum: str, line_no: int, line: str) -> Item | Rejected:
        ref = f"{path.name}:{line_no}"
        # Without an id the line's own content is its key, so a re-sent file adds nothing.
        fallback_key = make_source_key(self.channel, "line", text_digest(line))

        def reject(why: Reason, key: str = fallback_key) -> Rejected:
            return Rejected(self.channel, key, ref, why, path.name, safe_excerpt(line))

        if has_undecodable(line):
            return reject(undecodable_reason())
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            return reject(reason("record_corrupt", column=exc.colno))
        if not isinstance(data, dict):
            return reject(reason("not_a_message"))
        submission_id = _opt(data.get("id")) or ""
        key = make_source_key(self.channel, submission_id) if submission_id else fallback_key
        text = data.get("content")
        if not isinstance(text, str):
            return reject(reason("empty_text"), key)
        content_format = data.get("content_format")
        rich = content_format == "html" or (
            content_format != "plain" and looks_like_rich_text(text)
        )
        if rich:
            text = strip_html(text)
        if why := check_text(text):
            return reject(why, key)
        received = parse_datetime(data.get("submitted_at"))
        if received is None:
            return reject(
                reason("unreadable_submitted_at", value=str(data.get("submitted_at") or "")), key
            )
        return Item(
            channel=self.channel,
            source_key=key,
            source_ref=submission_id or ref,
            received_at=received,
            title=_opt(data.get("title")) or "",
            text=text,
            source_file=path.name,
            file_checksum=checksum,
            area=_opt(data.get("area")),
            recorded_by=_opt(data.get("station")),
            contact=Contact(
                name=_opt(data.get("name")),
                phone=_opt(data.get("phone")),
                email=_opt(data.get("email")),
                consent=data.get("consent", True) not in _NO_CONSENT,
            ),
            attachments=_strings(data.get("attachments")),
            flags=text_flags(text) + (("html_body",) if rich else ()),
            raw=data,
        )


_NO_CONSENT = (False, 0, "false", "False", "no", "否", "0")


def _opt(value: object) -> str | None:
    if isinstance(value, dict | list):
        return None
    text = str(value).strip() if value is not None else ""
    return text or None


def _strings(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,) if value.strip() else ()
    if isinstance(value, list):
        return tuple(str(v) for v in value if isinstance(v, str | int | float) and str(v).strip())
    return ()
