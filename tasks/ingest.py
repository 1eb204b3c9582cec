"""收集 ingest: read every channel's inbox files into Submissions, Persons and Rejections.

Rows are written in batches with INSERT … ON CONFLICT DO NOTHING on `source_key`, so the
same file, an overlapping export or a re-run after a crash adds nothing twice. A large file is
read and prepared in a second process while the batches before are stored; inside a flow run
each file shows its progress as a Prefect progress artifact.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect import task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.context import FlowRunContext
from sqlalchemy import select, text, update

from db.engine import Session
from db.models import IngestedFile, Person, Rejection, Submission, utcnow
from db.queries import audit, insert_ignoring_conflicts
from minqing.channels import file_checksum, get_parser
from minqing.i18n import N_, _, ngettext
from minqing.intake import PreparedBatch, prepared_batches, read_in_background
from minqing.labels import channel_label
from minqing.reasons import Reason
from minqing.reasons import columns as reason_columns
from minqing.records import UnreadableFile
from minqing.reference import Reference
from tasks.context import context
from tasks.inbox import archive, claim, in_inbox, move_to_failed, waiting_files
from tasks.mail_answers import take_answers
from web.spool import publish as publish_spool

BATCH = 2000
# From this size on a file is read in a second process (starting one costs about half a second).
BACKGROUND_READ_BYTES = 8 * 2**20
PROGRESS_EVERY_S = 2.0  # at most one progress artifact update per file this often
RETURN_CHANNELS = ("replies", "ratings")  # read by tasks/imports.py, not here
BUSY = N_("另一个运行正在读取此文件，本次跳过")
# Audit action (entity "run"): one file read by `minqing ingest`, for the night's summary (it
# counts these apart from the inbox files the night read itself: tasks/metrics.py).
COMMAND_INGEST = "ingest_command"

log = logging.getLogger(__name__)
NOT_IN_FILE_ROW = ("rejections", "why", "returned")
MAX_KEPT_REJECTIONS = 200  # an operator's file's refused rows kept for the night's 拒收明细


@dataclass
class FileReport:
    channel: str
    name: str
    status: str  # taken | already_taken | failed | busy (another run has it)
    taken: int = 0
    known: int = 0  # rows whose source_key was already stored (overlapping export)
    rejected: int = 0
    reason: str | None = None  # in the run's language, for the run's report
    why: Reason | None = None  # what is stored: a failed file's reason code and values
    rejections: list[dict[str, str]] = field(default_factory=list)
    answers: int = 0  # e-mails answering our own messages: no case (tasks/mail_answers.py)
    returned: list[dict[str, Any]] = field(default_factory=list)  # reply files they brought


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
    """Read one file of one channel into the database. A file in the inbox then moves to
    archive/ (or failed/ when unreadable); a file elsewhere is copied to archive/ and left as
    it is (tasks/inbox.py). A file another run is reading is skipped: status `busy`.

    `progress` is called with the number of records of each stored batch.
    """
    with claim(path) as ours:
        if not ours:
            return FileReport(channel, path.name, "busy", reason=_(BUSY))
        return _ingest_claimed(channel, path, ref, progress)


def _ingest_claimed(
    channel: str, path: Path, ref: Reference, progress: Callable[[int], None] | None
) -> FileReport:
    settings = context().settings
    keep = not in_inbox(settings, path)  # the operator's own file: copied, never moved
    checksum = file_checksum(path)
    with Session() as s, s.begin():
        seen = s.scalar(
            select(IngestedFile).where(
                IngestedFile.channel == channel, IngestedFile.checksum == checksum
            )
        )
    if seen is not None and seen.status == "taken":
        archive(settings, channel, path, checksum, keep_original=keep)
        return FileReport(channel, path.name, "already_taken")
    report = FileReport(channel, path.name, "taken")
    options = ref.channels.get(channel, {})
    get_parser(channel, options)  # an unknown channel fails here, before anything is read
    area_codes = {name: area.code for name, area in ref.area_by_name.items()}
    size = path.stat().st_size
    read = read_in_background if size >= BACKGROUND_READ_BYTES else prepared_batches
    tracker = FileProgress(channel, path, progress)
    try:
        with closing(read(channel, options, path, checksum, area_codes, BATCH)) as batches:
            for batch in batches:
                if any(batch.answers):
                    take_answers(batch, report)
                _store_batch(batch, report)
                tracker.advance(batch.count, report)
    except UnreadableFile as exc:
        report.status, report.why, report.reason = "failed", exc.reason, str(exc)
    tracker.finish(report)
    with Session() as s, s.begin():
        if seen is None:
            # ON CONFLICT: the same content under another name, read by a concurrent run
            insert_ignoring_conflicts(
                s,
                IngestedFile.__table__,
                [
                    {
                        "channel": channel,
                        "name": path.name,
                        "checksum": checksum,
                        "size": size,
                        "status": report.status,
                        **reason_columns(report.why),
                        "items": report.taken,
                        "rejected": report.rejected,
                        "ingested_at": utcnow(),
                    }
                ],
                ["channel", "checksum"],
            )
        else:  # a file that failed before and was read now (e.g. a parser was fixed)
            row = s.get(IngestedFile, seen.id)
            row.status = report.status
            for name, value in reason_columns(report.why).items():
                setattr(row, name, value)
            row.items, row.rejected = report.taken, report.rejected
    if report.status != "failed":
        archive(settings, channel, path, checksum, keep_original=keep)
    elif not keep:  # an operator's own unreadable file stays where it is; the reason is reported
        move_to_failed(settings, channel, path, report.reason or "unreadable")
    return report


def record_command_file(report: FileReport, *, kept: bool = False) -> None:
    """`minqing ingest` read a file: keep what it took, so the next night's summary shows it
    (`kept`: the file was outside the inbox and stays where it is)."""
    if report.status == "busy":
        return
    row = {k: v for k, v in asdict(report).items() if k not in NOT_IN_FILE_ROW}
    row["kept"] = kept
    row["rejections"] = report.rejections[:MAX_KEPT_REJECTIONS]
    with Session() as s, s.begin():
        audit(s, "system:ingest", COMMAND_INGEST, entity="run", **row)


def _store_batch(batch: PreparedBatch, report: FileReport) -> None:
    """One transaction: the batch's persons, submissions and rejections."""
    with Session() as s, s.begin():
        if s.get_bind().dialect.name == "postgresql":
            # psycopg prepares a statement run five times; PostgreSQL may then keep a generic
            # plan made while the tables were small (a sequential scan for the persons lookup)
            # and use it as they grow to millions of rows.
            s.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        person_ids = _upsert_persons(s, batch.persons)
        for row, person in zip(batch.rows, batch.persons, strict=True):
            row["person_id"] = person_ids.get(person["identity_key"]) if person else None
        added = insert_ignoring_conflicts(s, Submission.__table__, batch.rows, ["source_key"])
        rejection_rows = [
            {
                "source_key": r.source_key,
                "channel": r.channel,
                "source_file": r.source_file,
                "source_ref": r.source_ref,
                **reason_columns(r.reason),
                "excerpt": r.excerpt[:500],
            }
            for r in batch.rejected
        ]
        insert_ignoring_conflicts(s, Rejection.__table__, rejection_rows, ["source_key"])
    report.taken += added
    report.known += len(batch.rows) - added
    report.rejected += len(batch.rejected)
    report.rejections.extend({"来源": r.source_ref, "原因": str(r.reason)} for r in batch.rejected)


def _upsert_persons(s: Any, persons: list[dict[str, Any] | None]) -> dict[str, int]:
    """Person ids by identity key: new persons inserted, known ones updated where the batch
    says more (a later "do not contact" wins; a missing e-mail is filled in)."""
    unique = {p["identity_key"]: p for p in persons if p}
    if not unique:
        return {}
    insert_ignoring_conflicts(s, Person.__table__, list(unique.values()), ["identity_key"])
    found: dict[str, int] = {}
    keys = list(unique)
    for start in range(0, len(keys), 500):
        rows = s.execute(
            select(Person.identity_key, Person.id, Person.contact_ok, Person.email).where(
                Person.identity_key.in_(keys[start : start + 500])
            )
        )
        for key, person_id, contact_ok, email in rows:
            found[key] = person_id
            wanted, changes = unique[key], {}
            if not wanted["contact_ok"] and contact_ok:
                changes["contact_ok"] = False
            if wanted["email"] and not email:
                changes["email"] = wanted["email"]
            if changes:
                s.execute(update(Person).where(Person.id == person_id).values(**changes))
    return found


class FileProgress:
    """A file's progress: the caller's callback after every batch and, inside a flow run, a
    Prefect progress artifact updated at most every PROGRESS_EVERY_S seconds.

    The percentage counts records against the file's lines (a record spans one line or more),
    so it is an estimate below 100 until the file is done; for a workbook it stays at 0.
    A failing artifact call is logged and never stops the import.
    """

    def __init__(
        self, channel: str, path: Path, callback: Callable[[int], None] | None = None
    ) -> None:
        self.callback = callback
        self.label = _("%(channel)s · %(file)s") % {
            "channel": channel_label(channel),
            "file": path.name,
        }
        self.records = 0
        self.artifact: UUID | None = None
        self.lines: int | None = None
        self.updated = time.monotonic()
        if FlowRunContext.get() is not None:
            self.lines = _count_lines(path)
            self.artifact = self._call(
                create_progress_artifact,
                progress=0.0,
                description=_("收集 %(file)s: 开始读取") % {"file": self.label},
            )

    def advance(self, records: int, report: FileReport) -> None:
        self.records += records
        if self.callback:
            self.callback(records)
        if self.artifact and time.monotonic() - self.updated >= PROGRESS_EVERY_S:
            percent = min(99.0, 100.0 * self.records / self.lines) if self.lines else 0.0
            self._update(percent, report, _("读取中"))

    def finish(self, report: FileReport) -> None:
        if self.artifact:
            done = (
                _("已读完")
                if report.status != "failed"
                else _("未能读取：%(reason)s") % {"reason": report.reason}
            )
            self._update(100.0, report, done)

    def _update(self, percent: float, report: FileReport, state: str) -> None:
        self.updated = time.monotonic()
        description = ngettext(
            "收集 %(file)s: %(state)s，已读 %(n)d 条（收录 %(taken)d，已有 %(known)d，拒收 %(rejected)d）",
            "收集 %(file)s: %(state)s，已读 %(n)d 条（收录 %(taken)d，已有 %(known)d，拒收 %(rejected)d）",
            self.records,
        ) % {
            "file": self.label,
            "state": state,
            "n": self.records,
            "taken": report.taken,
            "known": report.known,
            "rejected": report.rejected,
        }
        self._call(
            update_progress_artifact,
            artifact_id=self.artifact,
            progress=round(percent, 1),
            description=description,
        )

    def _call(self, api: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return api(**kwargs)
        except Exception as exc:  # progress is a courtesy; the import goes on
            log.warning("progress artifact for %s: %s: %s", self.label, type(exc).__name__, exc)
            self.artifact = None
            return None


_LINE_FILES = (".csv", ".txt", ".tsv", ".jsonl")


def _count_lines(path: Path) -> int | None:
    if path.suffix.lower() not in _LINE_FILES:
        return None
    lines, last = 0, b""
    with path.open("rb") as fh:
        if fh.read(2) == b"PK":  # a workbook saved under a text name
            return None
        fh.seek(0)
        for block in iter(lambda: fh.read(1 << 20), b""):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (1 if last not in (b"", b"\n") else 0)


def ingest_inbox_now() -> dict[str, Any]:
    """Read every waiting file of every intake channel; return the night's intake figures."""
    ctx = context()
    publish_spool(ctx.settings)  # the web QR form's files of the day join the qrform inbox
    reports = [
        report
        for channel in intake_channels(ctx.ref)
        for path in waiting_files(ctx.settings, channel)
        if (report := ingest_file(channel, path, ctx.ref)).status != "busy"  # the other run's
    ]
    by_channel: Counter[str] = Counter()
    for r in reports:
        by_channel[r.channel] += r.taken
    return {
        "taken": sum(r.taken for r in reports),
        "by_channel": dict(by_channel),
        "rejected": sum(r.rejected for r in reports),
        "rejections": [
            {"渠道": channel_label(r.channel), "文件": r.name, **rej}
            for r in reports
            for rej in r.rejections
        ],
        "files": [
            file
            for r in reports
            for file in (
                {k: v for k, v in asdict(r).items() if k not in NOT_IN_FILE_ROW},
                *r.returned,
            )
        ],
    }


@task(name="ingest", retries=1, retry_delay_seconds=10)
def ingest_inbox() -> dict[str, Any]:
    """收集: every channel's waiting files into the database."""
    return ingest_inbox_now()
