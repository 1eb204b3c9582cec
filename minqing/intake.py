"""收集 intake, the part without a database: a channel file's records as the rows to store.

`prepare_item` normalises and redacts an Item's text and splits the personal data off into a
Person row; `prepared_batches` does that for a whole file in batches. `read_in_background` runs
the same in a second process, a batch ahead, so that on a machine with two cores reading a
large file overlaps with storing it.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
import traceback
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from minqing.channels import get_parser
from minqing.channels.base import MAX_TEXT_CHARS
from minqing.normalize import dedup_key, derive_title, normalize_phone, normalize_text, redact
from minqing.records import Item, MailAnswer, Rejected, UnreadableFile


@dataclass
class PreparedBatch:
    """One batch of a file: Submission rows (without person_id), each row's Person (or None)
    and what it may answer of minqing's own mail (or None), and the records that were
    rejected."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    persons: list[dict[str, Any] | None] = field(default_factory=list)
    answers: list[MailAnswer | None] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    def keep(self, indexes: list[int]) -> None:
        """Keep only the rows at `indexes` (the others were taken as something else)."""
        self.rows = [self.rows[i] for i in indexes]
        self.persons = [self.persons[i] for i in indexes]
        self.answers = [self.answers[i] for i in indexes]

    @property
    def count(self) -> int:
        """Records read: rows and rejections."""
        return len(self.rows) + len(self.rejected)


def text_is_html(options: Mapping[str, Any]) -> bool:
    """Whether a channel's options declare its text HTML (`text_format: html`); plain otherwise."""
    return options.get("text_format", "plain") == "html"


def prepare_item(
    item: Item, area_codes: Mapping[str, str], *, html: bool = False
) -> tuple[dict[str, Any], dict | None]:
    """Normalise and redact the text; split the personal data off into a Person row.

    `area_codes` maps every area name and alias to its code; `html` says the channel's text
    and title are HTML (markup stripped), else they are plain text and keep every character.
    Returns (Submission row, Person).
    """
    text = normalize_text(item.text, html=html)
    red = redact(text)
    flags = list(item.flags)
    if len(text) > MAX_TEXT_CHARS and "overlong" not in flags:
        flags.append("overlong")
    title = normalize_text(item.title, html=html) if item.title else ""
    title = redact(title).text if title else derive_title(red.text)
    phone = normalize_phone(item.contact.phone) or (red.phones[0] if red.phones else None)
    email = (
        item.contact.email or (red.emails[0] if red.emails else None) or ""
    ).strip().lower() or None
    person = None
    if phone or email:
        person = {
            "identity_key": f"phone:{phone}" if phone else f"email:{email}",
            "name": item.contact.name,
            "phone": phone,
            "email": email,
            "contact_ok": item.contact.consent,
        }
    raw = dict(item.raw)
    raw["original_text"] = item.text
    if red.id_numbers:
        raw["id_numbers"] = red.id_numbers
    row = {
        "source_key": item.source_key,
        "channel": item.channel,
        "source_file": item.source_file,
        "file_checksum": item.file_checksum,
        "source_ref": item.source_ref,
        "received_at": item.received_at,
        "recorded_by": item.recorded_by,
        "on_behalf_of": item.on_behalf_of,
        "area_code": area_codes.get(item.area or ""),
        "area_text": item.area,
        "title": title[:500],
        "text": red.text,
        "text_key": hashlib.sha1(dedup_key(red.text).encode("utf-8")).hexdigest(),
        "answered_on_spot": item.answered_on_spot,
        "on_spot_reply": item.on_spot_reply,
        "group_ref": item.group_ref,
        "likes": item.likes,
        "attachments": list(item.attachments),
        "flags": flags,
        "raw": raw,
    }
    return row, person


def prepare_batch(
    records: Iterable[Item | Rejected], area_codes: Mapping[str, str], *, html: bool = False
) -> PreparedBatch:
    batch = PreparedBatch()
    for record in records:
        if isinstance(record, Item):
            row, person = prepare_item(record, area_codes, html=html)
            batch.rows.append(row)
            batch.persons.append(person)
            batch.answers.append(record.answer)
        else:
            batch.rejected.append(record)
    return batch


def prepared_batches(
    channel: str,
    options: Mapping[str, Any],
    path: Path,
    checksum: str,
    area_codes: Mapping[str, str],
    size: int,
) -> Iterator[PreparedBatch]:
    """The file read by its channel's parser, `size` records at a time, prepared.

    A file that turns out unreadable part-way raises UnreadableFile after the full batches
    before it; the records of the unfinished batch are not yielded.
    """
    records = iter(get_parser(channel, options).parse(path, checksum))
    html = text_is_html(options)
    while chunk := list(islice(records, size)):
        yield prepare_batch(chunk, area_codes, html=html)


def read_in_background(
    channel: str,
    options: Mapping[str, Any],
    path: Path,
    checksum: str,
    area_codes: Mapping[str, str],
    size: int,
) -> Iterator[PreparedBatch]:
    """`prepared_batches(...)` computed in a second Python process, one batch ahead.

    The reader writes each batch pickled to a pipe and prepares the next one while the caller
    stores this one; the pipe holds it back when it is ahead. (A fresh interpreter, not
    multiprocessing: that would re-import the caller's main script in the child.) Raises what
    reading raised: UnreadableFile with its reason, anything else as RuntimeError carrying the
    reader's traceback. Closing the iterator early stops the reader.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parents[1]), *filter(None, [env.get("PYTHONPATH")])]
    )
    reader = subprocess.Popen(
        [sys.executable, "-c", "from minqing.intake import serve_reader; serve_reader()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    assert reader.stdin is not None and reader.stdout is not None
    finished = False
    try:
        pickle.dump((channel, dict(options), path, checksum, dict(area_codes), size), reader.stdin)
        reader.stdin.close()
        while True:
            try:
                kind, payload = pickle.load(reader.stdout)
            except EOFError:
                raise RuntimeError(
                    f"the process reading {path.name} stopped (exit code {reader.wait()})"
                ) from None
            if kind == "batch":
                yield payload
            elif kind == "done":
                finished = True
                return
            elif kind == "unreadable":
                raise UnreadableFile(payload)
            else:
                raise RuntimeError(f"reading {path.name} failed:\n{payload}")
    finally:
        if not finished and reader.poll() is None:
            reader.kill()  # the caller stopped early or reading failed: no need to wait
        reader.wait()
        reader.stdin.close()
        reader.stdout.close()


def serve_reader() -> None:
    """The reader process: arguments pickled on stdin, (kind, payload) pickled on stdout."""
    channel, options, path, checksum, area_codes, size = pickle.load(sys.stdin.buffer)
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the stream

    def send(kind: str, payload: Any) -> None:
        pickle.dump((kind, payload), out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()

    try:
        for batch in prepared_batches(channel, options, path, checksum, area_codes, size):
            send("batch", batch)
    except UnreadableFile as exc:
        send("unreadable", exc.reason)
    except BaseException:
        send("error", traceback.format_exc())
    else:
        send("done", None)
