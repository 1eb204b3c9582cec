"""send_duty_alert reaches the duty contacts on both channels: the group robots at once (a
loopback HTTP server stands in for 企业微信 and 钉钉), and the duty mailbox through the outbox —
while the SMTP server is down the e-mail waits, and the next delivery brings it exactly once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import shutil
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import yaml
from sqlalchemy import select

from db.engine import Session
from db.models import Handoff, HandoffKind, HandoffStatus
from mail.sink import stored_messages
from minqing.settings import reset_settings
from tasks.deliver import deliver_now
from tasks.duty import send_duty_alert

REPO = Path(__file__).resolve().parents[2]


def duty_config(tmp: Path, robot_url: str) -> Path:
    """The shipped config with a duty section: one mailbox, a 企业微信 and a 钉钉 robot."""
    folder = tmp / "config"
    shutil.copytree(REPO / "config", folder, dirs_exist_ok=True)
    office = yaml.safe_load((folder / "office.yaml").read_text(encoding="utf-8"))
    office["duty"] = {
        "contacts": [{"name": "值班员小李", "email": "duty@street.example.gov.cn"}],
        "robots": [
            {"kind": "wecom", "name": "民情值班群", "url_env": "TEST_WECOM_URL"},
            {
                "kind": "dingtalk",
                "name": "工委值班群",
                "url_env": "TEST_DINGTALK_URL",
                "keyword": "民情直通车",
                "secret_env": "TEST_DINGTALK_SECRET",
            },
        ],
        "console_url": "http://127.0.0.1:4200",
    }
    (folder / "office.yaml").write_text(
        yaml.safe_dump(office, allow_unicode=True), encoding="utf-8"
    )
    return folder


def subject(message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def test_a_duty_alert_reaches_the_robots_now_and_the_mailbox_when_smtp_is_back(
    minq, robot, monkeypatch, tmp_path
):
    monkeypatch.setenv("MINQING_CONFIG_DIR", str(duty_config(tmp_path, robot.url)))
    monkeypatch.setenv("TEST_WECOM_URL", robot.url + "/wecom?key=k1")
    monkeypatch.setenv("TEST_DINGTALK_URL", robot.url + "/dingtalk?access_token=t1")
    monkeypatch.setenv("TEST_DINGTALK_SECRET", "SECtest")
    reset_settings()

    # The SMTP sink is not running: the mail server is the thing that is down.
    result = send_duty_alert(
        "夜间运行部分失败", "14 封消息未送达：邮件服务器无法连接。", kind="night"
    )
    assert [r["ok"] for r in result["robots"]] == [True, True], result
    assert result["emails_queued"] == 1 and result["emails_sent"] == 0

    wecom, dingtalk = robot.received
    assert wecom["path"] == "/robot/wecom?key=k1"
    assert wecom["json"]["msgtype"] == "text"
    content = wecom["json"]["text"]["content"]
    assert content.splitlines()[:2] == [
        "【示例街道人大工委·民情直通车】夜间运行部分失败",
        "14 封消息未送达：邮件服务器无法连接。",
    ]
    assert "查看与处理：http://127.0.0.1:4200" in content
    query = parse_qs(urlsplit(dingtalk["path"]).query)
    expected = hmac.new(
        b"SECtest", f"{query['timestamp'][0]}\nSECtest".encode(), hashlib.sha256
    ).digest()
    assert query["sign"] == [base64.b64encode(expected).decode()]
    assert "民情直通车" in dingtalk["json"]["text"]["content"]

    with Session() as s:
        (pending,) = s.scalars(select(Handoff).where(Handoff.kind == HandoffKind.DUTY)).all()
        assert pending.status is HandoffStatus.PENDING and pending.case_id is None
        assert pending.last_error.startswith("connection:")

    # Raised again (a retried run): the mailbox is not queued twice.
    again = send_duty_alert(
        "夜间运行部分失败", "14 封消息未送达：邮件服务器无法连接。", kind="night", robots=False
    )
    assert again["emails_queued"] == 0

    with minq.sink():  # the mail server is back; the next delivery (after the backoff) sends it
        later = datetime.now(UTC) + timedelta(hours=1)
        assert deliver_now(later)["sent"] == 1
        assert deliver_now(later + timedelta(hours=1))["sent"] == 0
    (mail,) = stored_messages(minq.mail_dir)
    assert mail["To"].endswith("<duty@street.example.gov.cn>")
    assert subject(mail) == "【值班提醒】夜间运行部分失败"
    body = mail.get_body(("plain",)).get_content()
    assert "值班员小李" in body and "14 封消息未送达" in body


def test_one_robot_down_does_not_keep_the_alert_from_the_others(minq, robot, monkeypatch, tmp_path):
    monkeypatch.setenv("MINQING_CONFIG_DIR", str(duty_config(tmp_path, robot.url)))
    monkeypatch.setenv("TEST_WECOM_URL", "http://127.0.0.1:9/closed")  # nothing listens
    monkeypatch.setenv("TEST_DINGTALK_URL", robot.url + "/dingtalk?access_token=t1")
    monkeypatch.setenv("TEST_DINGTALK_SECRET", "SECtest")
    reset_settings()
    with minq.sink():
        result = send_duty_alert("紧急诉求", "有一件紧急诉求待处理。", kind="urgent")
    assert [r["ok"] for r in result["robots"]] == [False, True]
    assert result["emails_sent"] == 1
    assert len(robot.received) == 1
