"""A large file is read in a second process while its batches are stored: the database ends up
exactly as when the file is read in the importing process, re-reading adds nothing, and a file
that turns out unreadable goes to failed/ with its reason (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

import tasks.ingest
from db.engine import Session
from db.models import IngestedFile, Person, Rejection, Submission
from db.queries import truncate_all
from tasks.context import context
from tasks.ingest import ingest_file

HEADER = "工单编号,来电人,联系电话,标题,受理时间,诉求内容,所属区域"


def write_export(minq, name: str, rows: range) -> Any:
    lines = [HEADER]
    for i in rows:
        lines.append(
            f"GD{i:05d},张{i},139{i % 40:08d},路灯,2026-11-27 09:{i % 60:02d},"
            f"東湖社區{i}號樓路燈壞了，電話0731-8888{i % 10000:04d}，身份證430102199001011234,"
            f"{'东湖' if i % 2 else '南苑社区'}"
        )
        if i % 9 == 0:
            lines.append(f"GD{i:05d}x,,,,2026-11-27,,西城社区")  # rejected: empty text
    path = minq.inbox("hotline") / name
    path.write_text("\n".join(lines) + "\n", encoding="gb18030")
    return path


def snapshot() -> dict[str, list[tuple]]:
    with Session() as s:
        persons = dict(s.execute(select(Person.id, Person.identity_key)).all())
        subs = s.execute(
            select(
                Submission.source_key,
                Submission.source_ref,
                Submission.received_at,
                Submission.area_code,
                Submission.area_text,
                Submission.title,
                Submission.text,
                Submission.text_key,
                Submission.person_id,
                Submission.flags,
                Submission.raw,
            )
        ).all()
        rejections = s.execute(
            select(Rejection.source_key, Rejection.reason, Rejection.excerpt)
        ).all()
    return {
        "submissions": sorted(
            (*row[:8], persons.get(row[8]), repr(row[9]), repr(row[10])) for row in subs
        ),
        "rejections": sorted(tuple(r) for r in rejections),
    }


def forget_everything() -> None:
    with Session() as s, s.begin():
        truncate_all(
            s,
            [
                Submission.__table__,
                Rejection.__table__,
                Person.__table__,
                IngestedFile.__table__,
            ],
        )


def test_reading_in_the_background_stores_the_same_as_reading_here(minq, monkeypatch):
    ref = context().ref
    monkeypatch.setattr(tasks.ingest, "BATCH", 16)
    monkeypatch.setattr(tasks.ingest, "BACKGROUND_READ_BYTES", 0)
    report = ingest_file("hotline", write_export(minq, "a.csv", range(100)), ref)
    assert (report.status, report.taken, report.rejected) == ("taken", 100, 12)
    background = snapshot()
    assert len(background["submissions"]) == 100

    forget_everything()
    monkeypatch.setattr(tasks.ingest, "BACKGROUND_READ_BYTES", 1 << 40)
    report = ingest_file("hotline", write_export(minq, "a.csv", range(100)), ref)
    assert (report.status, report.taken, report.rejected) == ("taken", 100, 12)
    assert snapshot() == background


def test_an_overlapping_export_read_in_the_background_adds_only_the_new_rows(minq, monkeypatch):
    ref = context().ref
    monkeypatch.setattr(tasks.ingest, "BATCH", 16)
    monkeypatch.setattr(tasks.ingest, "BACKGROUND_READ_BYTES", 0)
    ingest_file("hotline", write_export(minq, "a.csv", range(60)), ref)
    report = ingest_file("hotline", write_export(minq, "b.csv", range(40, 80)), ref)
    assert (report.taken, report.known) == (20, 20)
    with Session() as s:
        assert len(s.scalars(select(Submission.id)).all()) == 80
        assert len(s.scalars(select(Person.id)).all()) == 40  # phones repeat every 40 rows


def test_an_unreadable_file_read_in_the_background_goes_to_failed(minq, monkeypatch):
    monkeypatch.setattr(tasks.ingest, "BACKGROUND_READ_BYTES", 0)
    path = minq.inbox("hotline") / "wrong.csv"
    path.write_text("姓名,电话\n张三,139\n", encoding="utf-8")
    report = ingest_file("hotline", path, context().ref)
    assert report.status == "failed" and "缺少必需的列" in (report.reason or "")
    assert (minq.settings.failed_dir / "hotline" / "wrong.csv").exists()
