"""Real citizens' messages (TipDM 2020 C) written as four channel files and ingested into the
database: every row is either a submission or a rejection, and ingesting again adds nothing."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlalchemy import func, select

from db.engine import Session
from db.models import Rejection, Submission
from tasks.ingest import ingest_inbox_now

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "tipdm2020c"
LIKES, REPLIES = DATA / "messages_with_likes.csv", DATA / "messages_with_replies.csv"

pytestmark = pytest.mark.skipif(
    not (LIKES.exists() and REPLIES.exists()),
    reason=f"real data not found at {DATA.resolve()} (shared/data/tipdm2020c beside the repository)",
)


def rows(path: Path, limit: int) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))[:limit]


def build_files(folder: Path) -> dict[str, int]:
    likes, replies = rows(LIKES, 2000), rows(REPLIES, 1500)
    (folder / "hotline").mkdir(parents=True)
    with (folder / "hotline" / "12345_real.csv").open("w", encoding="gb18030", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["工单编号", "受理时间", "来电人", "标题", "诉求内容", "点赞数"])
        out.writerows(
            [m["留言编号"], m["留言时间"], m["留言用户"], m["留言主题"], m["留言详情"], m["点赞数"]]
            for m in likes
        )
    (folder / "qrform").mkdir()
    with (folder / "qrform" / "qr_real.jsonl").open("w", encoding="utf-8") as fh:
        for m in replies[:1000]:
            fh.write(
                json.dumps(
                    {
                        "id": f"qr-{m['留言编号']}",
                        "station": "dh-station-01",
                        "submitted_at": m["留言时间"],
                        "title": m["留言主题"],
                        "content": m["留言详情"],
                        "name": m["留言用户"],
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
    (folder / "register").mkdir()
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("接待登记")
    ws.append(
        ["接待日期", "群众姓名", "所属社区", "反映内容", "接待代表", "是否现场答复", "答复内容"]
    )
    for n, m in enumerate(replies[1000:], start=1):
        spot = n % 10 == 0
        ws.append(
            [
                m["留言时间"],
                m["留言用户"],
                "东湖社区",
                ILLEGAL_CHARACTERS_RE.sub("", m["留言详情"]),
                "李秀英",
                "是" if spot else "否",
                ILLEGAL_CHARACTERS_RE.sub("", m["答复意见"]) if spot else None,
            ]
        )
    wb.save(folder / "register" / "接待登记_东湖站_real.xlsx")
    (folder / "wechat").mkdir()
    with (folder / "wechat" / "随手拍群_real.txt").open("w", encoding="utf-8") as fh:
        for m in likes[:500]:
            fh.write(f"{m['留言时间'].replace('/', '-')} {m['留言用户']}\n")
            fh.write("\n".join(line for line in m["留言详情"].splitlines() if line.strip()) + "\n")
    return {"hotline": 2000, "qrform": 1000, "register": 500, "wechat": 500}


def stored() -> dict[str, int]:
    with Session() as s:
        subs = dict(
            s.execute(select(Submission.channel, func.count()).group_by(Submission.channel)).all()
        )
        rejs = dict(
            s.execute(select(Rejection.channel, func.count()).group_by(Rejection.channel)).all()
        )
    return {ch: subs.get(ch, 0) + rejs.get(ch, 0) for ch in set(subs) | set(rejs)}


def test_every_real_row_is_taken_or_rejected_and_a_second_ingest_adds_nothing(minq, tmp_path):
    expected = build_files(tmp_path / "built")
    shutil.copytree(tmp_path / "built", minq.settings.inbox_dir, dirs_exist_ok=True)
    first = ingest_inbox_now()
    assert stored() == expected
    assert first["taken"] + first["rejected"] == sum(expected.values())
    assert {f["status"] for f in first["files"]} == {"taken"}
    shutil.copytree(tmp_path / "built", minq.settings.inbox_dir, dirs_exist_ok=True)
    second = ingest_inbox_now()
    assert second["taken"] == 0 and {f["status"] for f in second["files"]} == {"already_taken"}
    assert stored() == expected
