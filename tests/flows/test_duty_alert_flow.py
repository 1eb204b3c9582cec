"""The duty-alert flow (what the automations run) under Prefect's test harness: its run shows in
the runs list whether the duty contacts were told — 部分失败 while the duty e-mail waits for the
mail server or a robot did not take the alert, plain Completed when both channels got it."""

from __future__ import annotations

from flows.duty_alert import duty_alert
from minqing.settings import reset_settings
from tests.integration.test_duty_alert import duty_config


def configure(monkeypatch, tmp_path, robot, dingtalk_url: str) -> None:
    monkeypatch.setenv("MINQING_CONFIG_DIR", str(duty_config(tmp_path, robot.url)))
    monkeypatch.setenv("TEST_WECOM_URL", robot.url + "/wecom?key=k1")
    monkeypatch.setenv("TEST_DINGTALK_URL", dingtalk_url)
    monkeypatch.setenv("TEST_DINGTALK_SECRET", "SECtest")
    reset_settings()


def run(**kwargs):
    return duty_alert(
        title="夜间运行部分失败",
        text="14 封消息未送达：邮件服务器无法连接。",
        kind="night-partial",
        return_state=True,
        **kwargs,
    )


def test_a_duty_mail_that_waits_for_the_mail_server_makes_the_alerts_run_partial(
    minq, robot, monkeypatch, tmp_path
):
    configure(monkeypatch, tmp_path, robot, robot.url + "/dingtalk?access_token=t1")
    state = run()  # no SMTP sink running
    assert state.name == "部分失败", state
    assert "邮件服务器无法连接" in state.message
    assert "1 封消息未送达" in state.message
    assert state.result()["emails_queued"] == 1


def test_a_signed_robot_that_does_not_answer_is_named_in_the_runs_state(
    minq, robot, monkeypatch, tmp_path
):
    configure(monkeypatch, tmp_path, robot, "http://127.0.0.1:9/closed")  # nothing listens
    with minq.sink():
        state = run(robot_names=["工委值班群"])
    assert state.name == "部分失败", state
    assert "群机器人“工委值班群”未收到提醒" in state.message
    assert "核对 config/office.yaml 中该机器人的地址" in state.message
    assert "未送达" not in state.message  # the e-mail went


def test_an_alert_both_channels_took_is_plain_completed(minq, robot, monkeypatch, tmp_path):
    configure(monkeypatch, tmp_path, robot, robot.url + "/dingtalk?access_token=t1")
    with minq.sink():
        state = run(robot_names=["工委值班群"])
    assert state.name == "Completed", state
    assert state.result()["emails_sent"] == 1
    assert [r["path"].split("?")[0] for r in robot.received] == ["/robot/dingtalk"]
