"""The words and wire formats of duty alerts (minqing/duty.py): 企业微信 / 钉钉 robot bodies,
钉钉's signed URL, the byte limit of a robot message, one mailbox key per alert."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qs, urlsplit

from minqing.duty import alert_key, alert_text, dingtalk_signed_url, fit_bytes, robot_body


def test_wecom_and_dingtalk_robots_get_a_text_message():
    for kind in ("wecom", "dingtalk"):
        assert robot_body(kind, "夜间运行部分失败") == {
            "msgtype": "text",
            "text": {"content": "夜间运行部分失败"},
        }


def test_a_dingtalk_keyword_leads_the_message_unless_it_is_already_there():
    body = robot_body("dingtalk", "夜间运行部分失败", keyword="民情直通车")
    assert body["text"]["content"] == "民情直通车 夜间运行部分失败"
    body = robot_body("dingtalk", "【民情直通车】夜间运行部分失败", keyword="民情直通车")
    assert body["text"]["content"] == "【民情直通车】夜间运行部分失败"


def test_a_generic_webhook_gets_title_text_and_link():
    body = robot_body("webhook", "正文", title="标题", link="http://ui/runs/1")
    assert body == {
        "title": "标题",
        "text": "正文",
        "link": "http://ui/runs/1",
        "source": "minqing",
    }


def test_the_dingtalk_signature_is_the_hmac_of_timestamp_and_secret():
    url = dingtalk_signed_url(
        "https://robot.example/send?access_token=abc", "SECxyz", 1700000000000
    )
    query = parse_qs(urlsplit(url).query)
    assert query["access_token"] == ["abc"] and query["timestamp"] == ["1700000000000"]
    expected = base64.b64encode(
        hmac.new(b"SECxyz", b"1700000000000\nSECxyz", hashlib.sha256).digest()
    ).decode()
    assert query["sign"] == [expected]  # parse_qs undoes the URL encoding


def test_a_long_alert_is_cut_to_what_a_robot_accepts():
    text = "超期" * 2000
    cut = fit_bytes(text, 2000)
    assert len(cut.encode("utf-8")) <= 2000 and cut.endswith("…")
    assert fit_bytes("短消息") == "短消息"


def test_a_long_alert_cut_for_a_robot_keeps_where_to_act():
    link = "https://minqing.example.gov.cn/console/review"
    content = alert_text("紧急件 13 件", "\n\n".join(["紧急件内容" * 30] * 10), link, "示例街道")
    text = robot_body("wecom", content, link=link)["text"]["content"]
    assert len(text.encode("utf-8")) <= 2000
    assert text.startswith("【示例街道·民情直通车】紧急件 13 件")
    assert text.endswith(f"…\n查看与处理：{link}")
    assert robot_body("wecom", "短消息", link=link)["text"]["content"] == "短消息"


def test_the_alert_names_the_office_and_where_to_fix_it():
    text = alert_text(
        "夜间运行部分失败", "14 封消息未送达", "http://ui/runs/flow-run/1", "示例街道"
    )
    assert text.splitlines() == [
        "【示例街道·民情直通车】夜间运行部分失败",
        "14 封消息未送达",
        "查看与处理：http://ui/runs/flow-run/1",
    ]


def test_the_same_alert_has_the_same_key_and_another_alert_another():
    assert alert_key("night", "t", "x", None) == alert_key("night", "t", "x", None)
    assert alert_key("night", "t", "x", None) != alert_key("night", "t", "y", None)
