"""The retry-handoffs and lookback flows under Prefect's test harness, on both databases, with a
real SMTP sink: the resend form's preview and result tables, the operator's name on a real
run, and the failed-handoffs / every-item-answered tables refreshed by every run that changes
them."""

from __future__ import annotations

import json
import time
from collections import Counter

from prefect.artifacts import Artifact
from sqlalchemy import select

from db.engine import Session
from db.models import AuditEvent, Case, Handoff
from flows.lookback import lookback
from flows.retry_handoffs import Department, Status, retry_handoffs
from mail.sink import stored_messages
from minqing.states import CaseStatus
from tasks.deliver import deliver_now
from tasks.dispatch import dispatch_now


def assign(n: int) -> list[int]:
    """n dispatched cases of 交通运输 (→ jiaotong); their assignment handoffs' ids."""
    with Session() as s, s.begin():
        s.add_all(
            Case(title=f"公交站台{i}", text=f"第{i}个公交站台顶棚破损。", text_key=f"k{i}",
                 area_code="xicheng", category="交通运输", status=CaseStatus.TRIAGED)
            for i in range(n)
        )  # fmt: skip
    dispatch_now()
    with Session() as s:
        return list(s.scalars(select(Handoff.id).order_by(Handoff.id)))


def statuses(ids: list[int]) -> list[str]:
    with Session() as s:
        found = dict(s.execute(select(Handoff.id, Handoff.status).where(Handoff.id.in_(ids))).all())
    return [found[i].value for i in ids]


def arrived(minq) -> Counter[str]:
    time.sleep(0.1)
    return Counter(m["Message-ID"] for m in stored_messages(minq.mail_dir))


def table(key: str) -> list[dict]:
    artifact = Artifact.get(key, _sync=True)
    assert artifact is not None, key
    return json.loads(artifact.data)


def test_pending_messages_are_previewed_then_resent_once_under_the_operators_name(minq, caplog):
    ids = assign(3)
    night = deliver_now()  # the SMTP port is closed: the first try fails, the rest wait untried
    assert (night["retry_later"], night["postponed"]) == (1, 2)
    pending = (Status["pending"],)

    preview = retry_handoffs(status=pending, department=Department["jiaotong"])
    assert [row["id"] for row in preview["selected"]] == ids and preview["delivery"] is None
    rows = table("retry-handoffs-preview")
    assert [r["编号"] for r in rows] == ids
    assert {r["类型"] for r in rows} == {"交办"} and {r["承办单位"] for r in rows} == {
        "区交通运输局"
    }
    assert all(r["案件编号"].startswith("MQ") for r in rows)
    # the error in the office's words, the server's own text after it; the two messages not
    # tried while the server was down wait for it, they have no error of their own
    tried, *held = rows
    assert tried["上次错误"].startswith("无法连接邮件服务器（connection: ConnectionRefused")
    assert [r["上次错误"] for r in held] == ["等待邮件服务器恢复后发送"] * 2
    assert {r["收件地址"] for r in rows} == {"banli@jiaotong.example.gov.cn"}
    logged = caplog.text
    assert (
        "预览：符合条件的消息 3 封（待发送 3，发送失败 0，已放弃 0），未发送。"
        "核对无误后取消“仅预览”并填写操作人再运行。" in logged
    )
    assert all(f"编号 {i}" in logged for i in ids)
    assert f"编号 {ids[0]} | " in logged and "上次错误 无法连接邮件服务器（connection: " in logged
    assert logged.count("上次错误 等待邮件服务器恢复后发送") == 2
    assert statuses(ids) == ["pending"] * 3

    # A real resend without a name is refused before anything runs: 未执行 with the reason, a
    # Completed state, so the automation for failed runs does not page the duty contacts.
    for operator in ("", " "):
        state = retry_handoffs(status=pending, dry_run=False, operator=operator, return_state=True)
        assert state.is_completed() and state.name == "未执行"
        assert "真实重发必须填写操作人姓名" in state.message
    assert statuses(ids) == ["pending"] * 3

    with minq.sink():
        done = retry_handoffs(status=pending, dry_run=False, operator="王小明")
        assert deliver_now()["sent"] == 0
    assert done["summary"].startswith("重发 3 封：已发送 3，再次失败 0")
    assert arrived(minq) == {h["message_id"]: 1 for h in message_ids(ids)}
    assert [r["结果"] for r in table("retry-handoffs-result")] == ["已发送"] * 3
    assert table("failed-handoffs") == [{"编号": "", "原因": "（无）"}]  # refreshed by the run
    with Session() as s:
        actors = set(
            s.scalars(select(AuditEvent.actor).where(AuditEvent.action == "handoff_retry"))
        )
    assert actors == {"王小明"}


def message_ids(ids: list[int]) -> list[dict]:
    with Session() as s:
        return [
            {"id": i, "message_id": m}
            for i, m in s.execute(select(Handoff.id, Handoff.message_id).where(Handoff.id.in_(ids)))
        ]


def test_a_lookback_whose_messages_are_all_refused_says_so_and_refreshes_the_tables(minq, caplog):
    ids = assign(4)
    refusal = "550 5.1.1 <banli@jiaotong.example.gov.cn>: User unknown"
    with minq.sink(behaviour=lambda envelope: refusal):
        result = lookback()
    assert result["deliver"]["failed"] == 4 and result["deliver"]["sent"] == 0
    logged = caplog.text
    assert "尝试发送 4 封：已发送 0，发送失败 4，已放弃 0，稍后重试 0" in logged
    assert "发送 0 封" not in logged
    # what the server said, after what it means in the office's words
    assert (
        f"消息 {ids[0]} → banli@jiaotong.example.gov.cn：发送失败，收件地址被拒（{refusal}）"
        in logged
    )
    assert "未送达 4 封（待发送 0，发送中 0，发送失败 4，已放弃 0）" in logged
    failed = table("failed-handoffs")
    assert [(r["编号"], r["状态"], r["原因"], r["服务器原文"]) for r in failed] == [
        (i, "发送失败", "收件地址被拒", refusal) for i in ids
    ]
    assert list(failed[0])[:6] == ["编号", "案件编号", "类型", "承办单位", "状态", "原因"]
    assert Artifact.get("every-item-answered", _sync=True) is not None
    assert statuses(ids) == ["failed"] * 4
    assert result["open_items"]["outstanding"] == {
        "pending": 0, "sending": 0, "failed": 4, "dead": 0,
    }  # fmt: skip


def test_the_quarter_hour_delivery_refreshes_the_table_after_a_resend_outside_prefect(minq):
    """An operator resends from the command line (no flow run): the next `deliver` run has
    nothing due, yet the failed-handoffs table it finds stale is published again; one more
    run with nothing changed publishes nothing."""
    from flows.deliver import deliver
    from tasks.handoffs import retry_now

    ids = assign(2)
    deliver()  # SMTP down: tried, left pending, and the table lists both
    assert [row["编号"] for row in table("failed-handoffs")] == ids
    with minq.sink():
        done = retry_now(ids=ids, operator="李工")  # `minqing handoffs retry`, outside Prefect
        assert [row["outcome"] for row in done["selected"]] == ["sent", "sent"]
        before = Artifact.get("failed-handoffs", _sync=True).updated
        deliver()
        assert table("failed-handoffs") == [{"编号": "", "原因": "（无）"}]
        refreshed = Artifact.get("failed-handoffs", _sync=True).updated
        assert refreshed > before
        deliver()
        assert Artifact.get("failed-handoffs", _sync=True).updated == refreshed
