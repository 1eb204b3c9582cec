"""收集 ingest: read every channel's inbox files into Submissions, Persons and Rejections.

Rows are written in batches with INSERT … ON CONFLICT DO NOTHING on `source_key`, so the
same file, an overlapping export or a re-run after a crash adds nothing twice.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from prefect import task
from sqlalchemy import select

from db.engine import Session
from db.models import IngestedFile, Person, Rejection, Submission
from db.queries import insert_ignoring_conflicts
from minqing.channels import file_checksum, get_parser
from minqing.channels.base import MAX_TEXT_CHARS
from minqing.normalize import dedup_key, normalize_phone, normalize_text, redact
from minqing.records import Item, Rejected, UnreadableFile
from minqing.reference import Reference
from tasks.context import context
from tasks.inbox import archive, move_to_failed, waiting_files
from web.spool import publish as publish_spool

BATCH = 2000
RETURN_CHANNELS = ("replies", "ratings")  # read by tasks/imports.py, not here


@dataclass
class FileReport:
    channel: str
    name: str
    status: str  # taken | already_taken | failed
    taken: int = 0
    known: int = 0  # rows whose source_key was already stored (overlapping export)
    rejected: int = 0
    reason: str | None = None
    rejections: list[dict[str, str]] = field(default_factory=list)


def intake_channels(ref: Reference) -> list[str]:
    from minqing.channels import registered_channels

    configured = [c for c in ref.channels if c not in RETURN_CHANNELS]
    return configured or [c for c in registered_channels() if c not in RETURN_CHANNELS]


def ingest_file(
    channel: str,
    path: Path,
    ref: Reference,
    *,
    progress: Callable[[int], None] | None = None,
) -> FileReport:
    """Read one file of one channel into the database; move it to archive/ or failed/."""
    settings = context().settings
    checksum = file_checksum(path)
    with Session() as s, s.begin():
        seen = s.scalar(
            select(IngestedFile).where(
                IngestedFile.channel == channel, IngestedFile.checksum == checksum
            )
        )
    if seen is not None and seen.status == "taken":
        archive(settings, channel, path, checksum)
        return FileReport(channel, path.name, "already_taken")
    report = FileReport(channel, path.name, "taken")
    parser = get_parser(channel, ref.channels.get(channel, {}))
    size = path.stat().st_size
    try:
        for batch in _batches(parser.parse(path, checksum), BATCH):
            _store_batch(batch, ref, report)
            if progress:
                progress(len(batch))
    except UnreadableFile as exc:
        report.status, report.reason = "failed", str(exc)
    with Session() as s, s.begin():
        if seen is None:
            s.add(
                IngestedFile(
                    channel=channel,
                    name=path.name,
                    checksum=checksum,
                    size=size,
                    status=report.status,
                    reason=report.reason,
                    items=report.taken,
                    rejected=report.rejected,
                )
            )
        else:  # a file that failed before and was read now (e.g. a parser was fixed)
            row = s.get(IngestedFile, seen.id)
            row.status, row.reason = report.status, report.reason
            row.items, row.rejected = report.taken, report.rejected
    if report.status == "failed":
        move_to_failed(settings, channel, path, report.reason or "unreadable")
    else:
        archive(settings, channel, path, checksum)
    return report


def _batches(records: Iterable[Item | Rejected], size: int) -> Iterator[list[Item | Rejected]]:
    it = iter(records)
    while batch := list(islice(it, size)):
        yield batch


def _store_batch(batch: list[Item | Rejected], ref: Reference, report: FileReport) -> None:
    items = [r for r in batch if isinstance(r, Item)]
    rejected = [r for r in batch if isinstance(r, Rejected)]
    prepared = [_prepare(item, ref) for item in items]
    with Session() as s, s.begin():
        person_ids = _upsert_persons(s, [p["person"] for p in prepared])
        rows = []
        for p in prepared:
            row = p["row"]
            row["person_id"] = person_ids.get(p["person"]["identity_key"]) if p["person"] else None
            rows.append(row)
        added = insert_ignoring_conflicts(s, Submission.__table__, rows, ["source_key"])
        rejection_rows = [
            {
                "source_key": r.source_key,
                "channel": r.channel,
                "source_file": r.source_file,
                "source_ref": r.source_ref,
                "reason": r.reason,
                "excerpt": r.excerpt[:500],
            }
            for r in rejected
        ]
        insert_ignoring_conflicts(s, Rejection.__table__, rejection_rows, ["source_key"])
    report.taken += added
    report.known += len(rows) - added
    report.rejected += len(rejected)
    report.rejections.extend({"来源": r.source_ref, "原因": r.reason} for r in rejected)


def _prepare(item: Item, ref: Reference) -> dict[str, Any]:
    """Normalise and redact the text; split the personal data off into a Person row."""
    text = normalize_text(item.text)
    red = redact(text)
    flags = list(item.flags)
    if len(text) > MAX_TEXT_CHARS and "overlong" not in flags:
        flags.append("overlong")
    title = normalize_text(item.title) if item.title else ""
    title = redact(title).text if title else red.text[:30]
    area = ref.area_by_name.get(item.area or "")
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
        "area_code": area.code if area else None,
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
    return {"row": row, "person": person}


def _upsert_persons(s: Any, persons: list[dict[str, Any] | None]) -> dict[str, int]:
    unique = {p["identity_key"]: p for p in persons if p}
    if not unique:
        return {}
    insert_ignoring_conflicts(s, Person.__table__, list(unique.values()), ["identity_key"])
    found: dict[str, int] = {}
    keys = list(unique)
    for start in range(0, len(keys), 500):
        for person in s.scalars(
            select(Person).where(Person.identity_key.in_(keys[start : start + 500]))
        ):
            found[person.identity_key] = person.id
            wanted = unique[person.identity_key]
            if not wanted["contact_ok"] and person.contact_ok:
                person.contact_ok = False  # a later "do not contact" wins
            if wanted["email"] and not person.email:
                person.email = wanted["email"]
    return found


def ingest_inbox_now() -> dict[str, Any]:
    """Read every waiting file of every intake channel; return the night's intake figures."""
    ctx = context()
    publish_spool(ctx.settings)  # the web QR form's files of the day join the qrform inbox
    reports = [
        ingest_file(channel, path, ctx.ref)
        for channel in intake_channels(ctx.ref)
        for path in waiting_files(ctx.settings, channel)
    ]
    by_channel: Counter[str] = Counter()
    for r in reports:
        by_channel[r.channel] += r.taken
    return {
        "taken": sum(r.taken for r in reports),
        "by_channel": dict(by_channel),
        "rejected": sum(r.rejected for r in reports),
        "rejections": [
            {"渠道": r.channel, "文件": r.name, **rej} for r in reports for rej in r.rejections
        ],
        "files": [{k: v for k, v in asdict(r).items() if k != "rejections"} for r in reports],
    }


@task(name="ingest", retries=1, retry_delay_seconds=10)
def ingest_inbox() -> dict[str, Any]:
    """收集: every channel's waiting files into the database."""
    return ingest_inbox_now()
