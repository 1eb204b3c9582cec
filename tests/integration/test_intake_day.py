"""白天随到随办: the daytime intake's stages against a real database and SMTP sink — an urgent
QR report is dispatched and sent at once, an ordinary one waits for the night (or not, when
the office says so), and the night counts what the day did without counting it twice."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from email.header import decode_header, make_header
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from db.engine import Session
from db.models import AuditEvent, Case, Handoff, HandoffKind, HandoffStatus
from db.queries import assignment_rounds
from mail.sink import stored_messages
from minqing.messages import deadline_text
from minqing.routing import deadline
from minqing.settings import reset_settings
from minqing.states import CaseStatus
from minqing.summary import day_line
from tasks.actions import confirm_category
from tasks.context import context
from tasks.deliver import deliver_now
from tasks.dispatch import dispatch_now
from tasks.ingest import ingest_inbox_now
from tasks.triage import triage_now
from tasks.urgent import (
    MAX_LISTED,
    MAX_MESSAGES,
    NIGHT_ACTOR,
    TOLD,
    day_since_last_night,
    dispatch_day_now,
    duty_warnings,
    night_counted_day,
    record_day_run_now,
    tell_duty_now,
)
from web import spool

REPO = Path(__file__).resolve().parents[2]
GAS = "东湖社区惠民小区2栋楼道里燃气泄漏，味道很大，请马上派人来！"
NOISE = "南苑社区工地夜间施工噪音扰民，严重影响休息。"


def submit(minq, form_id: str, content: str, area: str) -> None:
    """What the QR form stores for one submission (web/public.py), into today's spool file."""
    now = datetime.now(UTC)
    record = {"id": form_id, "station": "donghu-jia", "submitted_at": now.isoformat(),
              "content": content, "title": "", "name": "王女士", "phone": "13912345678",
              "email": None, "area": area, "consent": True}  # fmt: skip
    spool.append(minq.settings, record, now)


def day_run() -> dict:
    """The intake flow's stages (flows/intake.py), without Prefect and without the duty step."""
    stages = {"ingest": ingest_inbox_now(), "triage": triage_now(), "dispatch": dispatch_day_now()}
    stages["deliver"] = deliver_now(ids=stages["dispatch"]["handoff_ids"])
    stages["duty"] = {"told": 0}
    record_day_run_now(stages)
    return stages


def bodies(minq) -> list[str]:
    return [m.get_body(("plain",)).get_content() for m in stored_messages(minq.mail_dir)]


def case_with(text: str) -> Case:
    with Session() as s:
        return s.scalars(select(Case).where(Case.text == text)).one()


def test_an_urgent_report_is_sent_at_once_and_an_ordinary_one_waits_for_the_night(minq):
    submit(minq, "QR20261207-00000000000a", GAS, "东湖社区")
    submit(minq, "QR20261207-00000000000b", NOISE, "南苑社区")
    with minq.sink():
        day = day_run()
    assert day["dispatch"]["assigned"] == day["dispatch"]["urgent"] == 1
    gas = case_with(GAS)
    assert (gas.status, gas.priority) == (CaseStatus.ASSIGNED, "urgent")
    assert gas.lead_department == "zhujian"
    assert [b for b in bodies(minq) if GAS in b], "the gas leak's assignment arrived in the day"
    subjects = [str(m["Subject"]) for m in stored_messages(minq.mail_dir)]
    assert subjects and all(x.startswith("【紧急】【交办·") for x in subjects), subjects
    assert not [b for b in bodies(minq) if NOISE in b]
    assert case_with(NOISE).status is CaseStatus.TRIAGED  # waits for the night
    with Session() as s:
        classified = s.scalars(
            select(AuditEvent.detail).where(
                AuditEvent.case_id == gas.id, AuditEvent.action == "classified"
            )
        ).one()
    assert classified["urgent"] == "政策词“燃气泄漏”"

    # the night dispatches the ordinary one and nothing of the urgent one again
    with minq.sink():
        assert dispatch_now()["assigned"] == 1
        deliver_now()
    messages = bodies(minq)
    assert len([b for b in messages if NOISE in b]) >= 1
    with Session() as s:
        per_recipient = s.execute(
            select(Handoff.recipient).where(
                Handoff.case_id == gas.id, Handoff.kind == HandoffKind.ASSIGNMENT
            )
        ).all()
    assert len(per_recipient) == len(set(per_recipient))
    assert len([b for b in messages if GAS in b]) == len(per_recipient)


def test_the_urgent_case_gets_the_urgent_deadline(minq):
    submit(minq, "QR20261207-00000000000c", GAS, "东湖社区")
    with minq.sink():
        day_run()
    gas = case_with(GAS)
    with Session() as s:
        assigned = s.scalars(
            select(AuditEvent.detail).where(
                AuditEvent.case_id == gas.id, AuditEvent.action == "assigned"
            )
        ).one()
    assert assigned["priority"] == "urgent" and assigned["urgent"] == "政策词“燃气泄漏”"
    ctx = context()
    assert ctx.ref.policy.deadlines.urgent_days == 2
    urgent = deadline(gas.assigned_at, gas.category, True, ctx.ref, ctx.calendar)
    ordinary = deadline(gas.assigned_at, gas.category, False, ctx.ref, ctx.calendar)
    assert gas.due_at == urgent < ordinary


def test_the_night_shows_the_days_work_once_and_apart_from_its_own(minq):
    submit(minq, "QR20261207-00000000000d", GAS, "东湖社区")
    with minq.sink():
        day_run()
        day_run()  # a second run finds nothing new and records nothing
    with Session() as s, s.begin():
        day = day_since_last_night(s)
        assert {k: day[k] for k in ("runs", "taken", "new_cases", "assigned", "urgent")} == {
            "runs": 1, "taken": 1, "new_cases": 1, "assigned": 1, "urgent": 1
        }  # fmt: skip
        assert day["sent"] >= 1 and day["by_channel"] == {"qrform": 1}
        night_counted_day(s, day)
    with Session() as s:
        assert day_since_last_night(s)["runs"] == 0  # the next night starts from zero
    ((label, text),) = day_line({"day": day})
    assert label == "白天随到随办"
    assert text.startswith("收集 1 条，新立案 1 件，交办 1 件（紧急 1 件）")


@pytest.fixture
def dispatch_all(minq, tmp_path, monkeypatch):
    """A copy of config/ whose policy dispatches ordinary cases during the day too."""
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    policy = yaml.safe_load((config / "policy.yaml").read_text(encoding="utf-8"))
    policy["daytime"]["dispatch_all"] = True
    (config / "policy.yaml").write_text(yaml.safe_dump(policy, allow_unicode=True), "utf-8")
    monkeypatch.setenv("MINQING_CONFIG_DIR", str(config))
    reset_settings()
    return minq


def test_an_office_that_dispatches_during_the_day_sends_ordinary_reports_at_once(dispatch_all):
    minq = dispatch_all
    submit(minq, "QR20261207-00000000000e", NOISE, "南苑社区")
    with minq.sink():
        day = day_run()
    assert day["dispatch"]["assigned"] == 1 and day["dispatch"]["urgent"] == 0
    assert case_with(NOISE).priority == "normal"
    assert [b for b in bodies(minq) if NOISE in b]


DROWNING = "滨江社区河边步道有人溺水被困，请马上来人！"


@pytest.fixture
def duty(minq, robot, tmp_path, monkeypatch):
    """config/ with a duty mailbox and a 企业微信 robot (a loopback HTTP server)."""
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config, dirs_exist_ok=True)
    office = yaml.safe_load((config / "office.yaml").read_text(encoding="utf-8"))
    office["duty"] = {
        "contacts": [{"name": "值班员小李", "email": "duty@street.example.gov.cn"}],
        "robots": [{"kind": "wecom", "name": "民情值班群", "url": robot.url}],
    }
    (config / "office.yaml").write_text(yaml.safe_dump(office, allow_unicode=True), "utf-8")
    monkeypatch.setenv("MINQING_CONFIG_DIR", str(config))
    monkeypatch.setenv("MINQING_PUBLIC_URL", "https://minqing.example.gov.cn")
    reset_settings()
    return robot


def test_an_urgent_report_nobody_can_be_chosen_for_goes_to_the_duty_operator_at_once(minq, duty):
    submit(minq, "QR20261207-00000000000f", DROWNING, "滨江社区")
    submit(minq, "QR20261207-000000000010", GAS, "东湖社区")
    with minq.sink():
        day_run()
        told = tell_duty_now()
        again = tell_duty_now()  # told once, not at every run
    drowning = case_with(DROWNING)
    assert (drowning.status, drowning.priority) == (CaseStatus.NEEDS_REVIEW, "urgent")
    assert told["delivery"]["sent"] == 1  # the alert's mail, which the run counts as its own
    assert {k: v for k, v in told.items() if k != "delivery"} == {
        "told": 2, "waiting": 1, "later": 0, "untold": 0, "emails_sent": 1, "warnings": [],
        "rehearsed": 0,
    }  # fmt: skip
    assert again["told"] == 0
    (alert,) = duty.received
    content = alert["json"]["text"]["content"]
    link = f"https://minqing.example.gov.cn/console/cases/{drowning.id}"
    # the one waiting for a person comes first, with why and where to act
    assert content.index(drowning.number) < content.index(case_with(GAS).number)
    assert "紧急件 2 件：待人工分办 1 件，已交办 1 件" in content
    assert "紧急原因：政策词“被困”" in content and DROWNING in content
    assert (
        f"未能自动交办（未能识别分类，请人工确定），请立即在工作台确认分类并交办：{link}" in content
    )
    assert "已交办区住房和城乡建设局（承办）" in content and "交办单已发送" in content
    mail = [m for m in stored_messages(minq.mail_dir) if "duty@street.example.gov.cn" in m["To"]]
    assert len(mail) == 1 and link in mail[0].get_body(("plain",)).get_content()


def test_the_gas_leaks_assignment_says_at_its_top_it_is_urgent_why_and_by_when_like_the_duty_alert(
    minq, duty
):
    submit(minq, "QR20261207-000000000013", GAS, "东湖社区")
    with minq.sink():
        day_run()
        assert tell_duty_now()["told"] == 1
    gas = case_with(GAS)
    due = deadline_text(gas.due_at)  # e.g. 2026年12月09日（星期三）23:59: no "before the 9th"
    assert re.fullmatch(r"\d{4}年\d{2}月\d{2}日（星期[一二三四五六日]）23:59", due), due
    messages = [m for m in stored_messages(minq.mail_dir) if "【交办·" in str(m["Subject"])]
    (lead,) = [m for m in messages if "【交办·承办】" in str(m["Subject"])]
    for part in (lead.get_body(("plain",)).get_content(), lead.get_body(("html",)).get_content()):
        top = part[: part.index("区住房和城乡建设局：")]  # before the salutation
        assert "【紧急件】紧急原因：政策词“燃气泄漏”" in top, part
        assert f"请立即处置并尽快答复，最迟于{due}前答复（紧急件办理时限为 2 个工作日）" in top
    assert f"办理时限：请于{due}前答复" in lead.get_body(("plain",)).get_content()
    for co in (m for m in messages if "【交办·协办】" in str(m["Subject"])):
        text = co.get_body(("plain",)).get_content()
        assert text.startswith("【紧急件】紧急原因：政策词“燃气泄漏”\n请立即配合主办单位")
    # the duty contacts read the same deadline in the same words
    assert f"办理期限 {due}，交办单已发送" in duty.received[0]["json"]["text"]["content"]


def test_once_an_operator_confirms_it_the_next_run_dispatches_it_and_tells_whom_to(minq, duty):
    submit(minq, "QR20261207-000000000011", DROWNING, "滨江社区")
    with minq.sink():
        day_run()
        assert tell_duty_now()["told"] == 1
        with Session() as s, s.begin():
            confirm_category(s, context(), case_with(DROWNING).id, "城乡建设", "王小明")
        assert dispatch_day_now()["assigned"] == 1
        deliver_now()  # as the intake flow does before it tells the duty
        assert tell_duty_now()["told"] == 1  # now assigned: told whom it went to
        assert tell_duty_now()["told"] == 0
    assert len(duty.received) == 2
    assert "紧急件已交办" in duty.received[1]["json"]["text"]["content"]
    with Session() as s:  # telling the duty is no assignment: the case was assigned once
        case_id = case_with(DROWNING).id
        assert assignment_rounds(s, [case_id]) == {case_id: 1}


def test_without_duty_contacts_the_run_says_nobody_was_told_and_tries_again(
    minq, tmp_path, monkeypatch
):
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config, dirs_exist_ok=True)
    office = yaml.safe_load((config / "office.yaml").read_text(encoding="utf-8"))
    office["duty"] = {"contacts": [], "robots": []}
    (config / "office.yaml").write_text(yaml.safe_dump(office, allow_unicode=True), "utf-8")
    monkeypatch.setenv("MINQING_CONFIG_DIR", str(config))
    reset_settings()
    submit(minq, "QR20261207-000000000012", DROWNING, "滨江社区")
    with minq.sink():
        day_run()
        first = tell_duty_now()
        second = tell_duty_now()
    assert first["told"] == 0 and first["untold"] == 1
    assert "未能告知值班人员" in first["warnings"][0]
    assert second["untold"] == 1  # still not told: tried again at every run


# Eleven urgent reports a department can be chosen for, then two nobody can be (滨江社区's
# drownings): more than one duty message lists.
DISPATCHABLE = [
    GAS,
    "西城社区幸福路菜市场旁边的配电箱漏电，有小孩差点触电。",
    "南苑社区工地围墙倒塌，压到人行道上，行人很危险。",
    "北塘社区老旧小区3号楼墙体开裂成了危房，住户不敢住。",
    "东湖社区花园小区5栋楼道里漏气，物业一直没人来处理。",
    "西城社区阳光小区地下车库漏水漏电，物业不管。",
    "南苑社区学校门口电线裸露垂到地面，学生上下学经过。",
    "北塘社区小区电梯困人半小时了，物业电话打不通。",
    "北塘社区和平小区7栋老楼墙体倒塌了一角，物业没有处理。",
    "东湖社区幼儿园门口的配电箱电线裸露，孩子们每天经过。",
    "南苑社区物业管理的小区电梯困人，老人被关在里面出不来。",
]
WAITING = [DROWNING, "滨江社区码头有游客落水溺水，救生圈不够用，请马上来人！"]


def listed_numbers(content: str) -> list[str]:
    return re.findall(r"^(MQ\d{4}-\d{6}) ", content, flags=re.MULTILINE)


def urgent_day(minq) -> tuple[list[Case], list[str], list[str]]:
    """The eleven dispatchable and two waiting urgent reports through a day run: the cases by
    number, and the numbers of those waiting and of those assigned."""
    for n, text in enumerate([*DISPATCHABLE, *WAITING]):
        area = text[: text.index("社区") + 2]
        submit(minq, f"QR20261207-{0x100 + n:012x}", text, area)
    day_run()
    with Session() as s:
        urgent = s.scalars(select(Case).where(Case.priority == "urgent").order_by(Case.id)).all()
    waiting = [c.number for c in urgent if c.status is CaseStatus.NEEDS_REVIEW]
    assigned = [c.number for c in urgent if c.status is CaseStatus.ASSIGNED]
    assert len(urgent) == 13 and len(waiting) == 2 and len(assigned) == 11
    return list(urgent), waiting, assigned


def told_by() -> list[tuple[str, str]]:
    with Session() as s:
        return [
            (case.number, actor)
            for case, actor in s.execute(
                select(Case, AuditEvent.actor)
                .join(AuditEvent, AuditEvent.case_id == Case.id)
                .where(AuditEvent.action == TOLD)
                .order_by(AuditEvent.id)
            )
        ]


def duty_mails(minq) -> list[tuple[str, str]]:
    """(subject, plain body) of every duty alert at the sink, in the order they arrived."""
    mails = [m for m in stored_messages(minq.mail_dir) if "duty@street" in m["To"]]
    mails.sort(key=lambda m: m["Date"].datetime)
    return [
        (str(make_header(decode_header(m["Subject"]))), m.get_body(("plain",)).get_content())
        for m in mails
    ]


def test_every_urgent_case_reaches_the_duty_at_once_those_needing_a_person_first(minq, duty):
    """Thirteen urgent cases, more than one robot message takes: the run sends the group robot
    as many messages as it takes whole (each case with its last line: where to act, or to
    phone the department), and the duty mailbox one e-mail listing them all in the same order;
    the cases a person must act on come first — the two nobody could be chosen for, then the
    one whose assignment the mail server refused — whatever their numbers."""
    with minq.sink():
        urgent, waiting, assigned = urgent_day(minq)
        refused = assigned[-1]  # the newest: by number it would come last
        with Session() as s, s.begin():
            (h,) = s.scalars(
                select(Handoff)
                .join(Case, Case.id == Handoff.case_id)
                .where(
                    Case.id == next(c.id for c in urgent if c.number == refused),
                    Handoff.kind == HandoffKind.ASSIGNMENT,
                    Handoff.department_code == Case.lead_department,
                )
            ).all()
            h.status, h.last_error = HandoffStatus.FAILED, "550 5.1.1 User unknown"
        first = tell_duty_now()
        second = tell_duty_now(actor=NIGHT_ACTOR)
    assert max(waiting) > sorted(c.number for c in urgent)[MAX_LISTED - 1]
    assert (first["told"], first["waiting"], first["later"], first["untold"]) == (13, 2, 0, 0)
    assert first["emails_sent"] == 1 and first["delivery"]["sent"] == 1
    parts = len(duty.received)
    assert second["told"] == 0 and 2 <= parts <= MAX_MESSAGES
    for n, received in enumerate(duty.received, 1):
        head = received["json"]["text"]["content"].splitlines()[0]
        assert head.endswith(f"（第 {n} 条，共 {parts} 条）"), head
    ((subject, body),) = duty_mails(minq)  # one e-mail, however many robot messages
    # the refused assignment is said in the title too: someone must phone
    assert subject.endswith(
        "紧急件 13 件：待人工分办 2 件，已交办 11 件（其中 1 件交办单未发出，请电话通知）"
    ), subject
    assert "条，共" not in subject
    listed = listed_numbers(body)
    assert sorted(listed) == sorted(c.number for c in urgent)  # each exactly once
    assert listed[:3] == [*waiting, refused]
    assert "但交办单被邮件服务器拒收，不会自动重发：请电话通知承办单位" in body
    assert "另有" not in body  # nothing left out
    for received in duty.received:  # every robot message whole: no case loses its last line
        alert = received["json"]["text"]["content"]
        assert len(alert.encode("utf-8")) <= 2000 and "…\n查看与处理" not in alert
        acts = [
            line for line in alert.splitlines() if line.startswith(("案件详情：", "未能自动交办"))
        ]
        assert len(acts) == len(listed_numbers(alert)) >= 1, alert  # each case's last line
        assert alert.endswith("查看与处理：https://minqing.example.gov.cn/console")
    robot_listed = [n for r in duty.received for n in listed_numbers(r["json"]["text"]["content"])]
    assert robot_listed == listed
    assert [number for number, _who in told_by()] == listed
    assert {who for _number, who in told_by()} == {"system:intake"}
    # in the HTML part each case's console page is a link, each case its own paragraph
    (html,) = {
        m.get_body(("html",)).get_content()
        for m in stored_messages(minq.mail_dir)
        if "duty@street" in m["To"]
    }
    case_links = re.findall(
        r'<a href="(https://minqing\.example\.gov\.cn/console/cases/\d+)">\1</a>', html
    )
    assert len(case_links) == len(listed)
    assert html.count('<p style="white-space: pre-wrap;">') == len(listed)


def test_urgent_cases_beyond_the_runs_messages_are_counted_and_the_next_run_lists_them(
    minq, duty, monkeypatch
):
    monkeypatch.setattr("tasks.urgent.MAX_MESSAGES", 1)
    with minq.sink():
        urgent, waiting, assigned = urgent_day(minq)
        first = tell_duty_now()
        later_runs = [tell_duty_now(actor=NIGHT_ACTOR) for _ in range(13)]
    k = first["told"]
    assert 2 <= k <= MAX_LISTED and (first["waiting"], first["later"]) == (2, 13 - k)
    (subject, body), *later_mails = duty_mails(minq)
    assert subject.endswith("紧急件 13 件：待人工分办 2 件，已交办 11 件"), subject
    listed = listed_numbers(body)
    assert len(listed) == k and listed[:2] == waiting
    # those left out are assigned: the console's front page lists the week's urgent cases
    note = (
        f"另有 {13 - k} 件紧急件未列出（待人工分办 0 件，已交办 {13 - k} 件），"
        "请在工作台查看：https://minqing.example.gov.cn/console"
    )
    assert note + "\n" in body + "\n"
    alert = duty.received[0]["json"]["text"]["content"]
    assert "紧急件 13 件：待人工分办 2 件，已交办 11 件" in alert and note in alert
    assert listed_numbers(alert) == listed and "…" not in alert  # whole, not cut
    later = [n for _subject, later_body in later_mails for n in listed_numbers(later_body)]
    assert sorted(listed + later) == sorted(c.number for c in urgent)  # each once, all told
    assert sum(run["told"] for run in later_runs) == 13 - k and later_runs[-1]["told"] == 0
    told = told_by()
    assert {who for _n, who in told[:k]} == {"system:intake"}
    assert {who for _n, who in told[k:]} == {NIGHT_ACTOR}


def test_a_dry_run_tells_nobody_and_leaves_the_cases_for_the_real_run(minq, duty, monkeypatch):
    submit(minq, "QR20261207-000000000020", DROWNING, "滨江社区")
    submit(minq, "QR20261207-000000000021", GAS, "东湖社区")
    monkeypatch.setenv("MINQING_MAIL_MODE", "dry-run")
    reset_settings()
    with minq.sink():
        day_run()
        rehearsed = tell_duty_now()
    assert (rehearsed["rehearsed"], rehearsed["told"], rehearsed["untold"]) == (2, 0, 0)
    (note,) = duty_warnings(rehearsed)
    assert (note["text"], note["partial"]) == (
        "演练：未告知值班 2 件紧急件（正式运行时告知）",
        False,
    )
    assert duty.received == [] and told_by() == []
    with Session() as s:
        assert not s.scalars(select(Handoff).where(Handoff.kind == HandoffKind.DUTY)).all()
    monkeypatch.setenv("MINQING_MAIL_MODE", "sink")
    reset_settings()
    with minq.sink():
        deliver_now()
        real = tell_duty_now()
    assert (real["told"], real["rehearsed"]) == (2, 0)
    assert len(duty.received) == 1
    ((subject, body),) = duty_mails(minq)
    assert "紧急件 2 件" in subject and "交办单已发送" in body
