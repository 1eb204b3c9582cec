"""评议 on a real database (SQLite and PostgreSQL): who is surveyed and how, the phone callback
list (回访清单) and its way back, and what a 不满意 / 未办成 answer does to a case."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from openpyxl import load_workbook
from sqlalchemy import select

from db.engine import Session
from db.models import (
    Case,
    Handoff,
    HandoffKind,
    Lookback,
    LookbackKind,
    Person,
    Rating,
    Reply,
    Submission,
    Survey,
)
from minqing.followups import NO_REPRESENTATIVE
from minqing.settings import reset_settings
from minqing.states import CaseStatus, Outcome
from tasks.dispatch import dispatch_now
from tasks.imports import import_returns_now
from tasks.surveys import (
    CALLBACK_ANSWER_COLUMNS,
    CALLBACK_INFO_COLUMNS,
    callback_list_path,
    surveys_now,
)

BJ = ZoneInfo("Asia/Shanghai")
REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 28, 2, tzinfo=BJ).astimezone(UTC)
RATING_HEADER = "案件编号,联系电话,满意度,是否办成,评价意见,评价时间,回访方式\n"


def replied_case(
    people, *, title="路灯坏了", status=CaseStatus.REPLIED, outcome=Outcome.SOLVED, area="donghu"
) -> int:
    """A case of 区城市管理局 replied on 20 Nov, linked to `people` (name, phone, email, contact_ok)."""
    replied = datetime(2026, 11, 20, 15, tzinfo=BJ).astimezone(UTC)
    with Session() as s, s.begin():
        case = Case(
            title=title,
            text="东湖社区惠民小区3栋门口路灯坏了。",
            text_key=title,
            area_code=area,
            category="市政设施",
            lead_department="chengguan",
            status=status,
            outcome=outcome,
            assigned_at=replied,
            replied_at=replied,
            created_at=replied,
        )
        s.add(case)
        s.flush()
        s.add(
            Reply(
                case_id=case.id,
                department_code="chengguan",
                received_at=replied,
                outcome=outcome,
                text="已更换路灯。",
                via="import",
                source_key=f"reply:{case.id}",
            )
        )
        for i, (name, phone, email, ok) in enumerate(people):
            key = f"phone:{phone}" if phone else f"email:{email}" if email else None
            person = s.scalar(select(Person).where(Person.identity_key == key)) if key else None
            if person is None:
                person = Person(
                    identity_key=key, name=name, phone=phone, email=email, contact_ok=ok
                )
                s.add(person)
                s.flush()
            s.add(
                Submission(
                    source_key=f"t:{case.id}:{i}",
                    channel="hotline",
                    source_ref=f"GD{case.id:03d}-{i}",
                    received_at=replied,
                    text="路灯坏了",
                    text_key=title,
                    person_id=person.id,
                    case_id=case.id,
                )
            )
        return case.id


def use_policy(minq, monkeypatch, **surveys) -> None:
    """This test's own copy of config/ with the given `surveys:` settings."""
    target = minq.home / "config"
    shutil.copytree(REPO / "config", target, dirs_exist_ok=True)
    policy = yaml.safe_load((target / "policy.yaml").read_text(encoding="utf-8"))
    policy["surveys"].update(surveys)
    (target / "policy.yaml").write_text(
        yaml.safe_dump(policy, allow_unicode=True), encoding="utf-8"
    )
    monkeypatch.setenv("MINQING_CONFIG_DIR", str(target))
    reset_settings()


def rows_of(kind: HandoffKind) -> list[Handoff]:
    with Session() as s:
        return list(s.scalars(select(Handoff).where(Handoff.kind == kind).order_by(Handoff.id)))


def case_row(case_id: int) -> Case:
    with Session() as s:
        return s.get(Case, case_id)


def rate(minq, name: str, *lines: str) -> dict:
    (minq.inbox("ratings") / name).write_text(
        RATING_HEADER + "".join(f"{x}\n" for x in lines), encoding="utf-8-sig"
    )
    return import_returns_now()


HOSTILE = '=HYPERLINK("http://evil.example","点我")'


def test_each_citizen_who_may_be_contacted_gets_one_survey_by_mail_or_on_the_callback_list(minq):
    case_id = replied_case(
        [
            ("周女士", None, "zhou@example.com", True),
            (HOSTILE, "13912340002", None, True),
            ("不愿回访", "13912340003", "no@example.com", False),
            (None, None, None, True),
        ],
        title="=1+2 路灯不亮",
    )
    first, again = surveys_now(now=NOW), surveys_now(now=NOW)
    assert (first["emailed"], first["callback"]) == (1, 1) and (
        again["emailed"],
        again["callback"],
    ) == (0, 0)
    [mail] = rows_of(HandoffKind.SURVEY)
    assert mail.recipient == "zhou@example.com" and mail.case_id == case_id
    with Session() as s:
        assert sorted(sv.channel for sv in s.scalars(select(Survey))) == ["email", "phone"]
    path = callback_list_path(NOW.astimezone(BJ).date())
    assert (
        first["callback_file"] == again["callback_file"] == str(path)
        and path.name == "回访清单_20261128.xlsx"
    )
    ws = load_workbook(path).active
    assert [c.value for c in ws[1]] == [*CALLBACK_ANSWER_COLUMNS, *CALLBACK_INFO_COLUMNS]
    assert ws.freeze_panes == "A2" and ws.max_row == 2
    row = {
        h: c for h, c in zip(CALLBACK_ANSWER_COLUMNS + CALLBACK_INFO_COLUMNS, ws[2], strict=True)
    }
    assert (
        row["案件编号"].value == f"MQ2026-{case_id:06d}" and row["联系电话"].value == "13912340002"
    )
    assert row["回访方式"].value == "电话回访" and row["承办单位"].value == "区城市管理局"
    assert row["群众姓名"].value == "'" + HOSTILE and row["群众姓名"].data_type == "s"
    assert row["问题标题"].value == "'=1+2 路灯不亮" and row["问题标题"].data_type == "s"


def test_the_filled_in_callback_list_comes_back_through_the_ratings_inbox(minq):
    case_id = replied_case(
        [("王五", "13912340005", None, True), ("赵六", "13912340006", None, True)]
    )
    surveys_now(now=NOW)
    path = callback_list_path(NOW.astimezone(BJ).date())
    wb = load_workbook(path)
    ws = wb.active
    ws["C2"], ws["D2"], ws["E2"], ws["F2"] = (
        "满意",
        "是",
        "修好了",
        "2026-11-28 10:00",
    )  # 赵六 not reached yet
    wb.save(minq.inbox("ratings") / path.name)
    result = import_returns_now()
    assert result["ratings"] == 1 and result["rejected"] == 0
    with Session() as s:
        rating = s.scalars(select(Rating)).one()
        person = s.get(Person, rating.person_id)
        survey = s.get(Survey, rating.survey_id)
    assert (
        person.phone == "13912340005" and rating.channel == "phone" and rating.comment == "修好了"
    )
    assert survey.answered_at == rating.rated_at and case_row(case_id).status is CaseStatus.RATED


def test_a_case_answered_on_the_spot_is_surveyed_only_when_configured(minq, monkeypatch):
    replied_case(
        [("孙八", "13912340008", None, True)], status=CaseStatus.CLOSED, outcome=Outcome.ON_THE_SPOT
    )
    assert surveys_now(now=NOW)["callback"] == 0
    use_policy(minq, monkeypatch, on_the_spot=True)
    assert surveys_now(now=NOW)["callback"] == 1


def test_with_surveys_after_verification_the_citizen_is_asked_once_the_case_is_verified(
    minq, monkeypatch
):
    use_policy(minq, monkeypatch, after="verification")
    waiting = replied_case([("钱七", "13912340007", None, True)])
    nobody_to_check = replied_case(
        [("周九", "13912340009", None, True)], title="无代表片区", area=None
    )
    with Session() as s, s.begin():
        s.add(
            Lookback(
                case_id=nobody_to_check,
                kind=LookbackKind.VERIFICATION,
                due_at=NOW,
                done_at=NOW,
                result=NO_REPRESENTATIVE,
            )
        )
    assert surveys_now(now=NOW)["callback"] == 1  # only the case nobody can verify
    with Session() as s, s.begin():
        s.get(Case, waiting).status = CaseStatus.VERIFIED
    assert surveys_now(now=NOW)["callback"] == 1
    with Session() as s:
        assert sorted(s.scalars(select(Survey.case_id))) == sorted([waiting, nobody_to_check])


def test_dissatisfied_reopens_the_case_once_with_the_comment_then_the_leaders_take_it(minq):
    case_id = replied_case(
        [("王五", "13912340005", None, True), ("赵六", "13912340006", None, True)]
    )
    surveys_now(now=NOW)
    with Session() as s, s.begin():  # a 回头看 asked for and not yet recorded
        s.add(Lookback(case_id=case_id, kind=LookbackKind.VERIFICATION, due_at=NOW, done_at=NOW,
                       result="sent"))  # fmt: skip
    result = rate(
        minq,
        "r1.csv",
        f"GD{case_id:03d}-0,13912340005,不满意,否,灯还是不亮，有事打我电话13900001111,2026-11-28 10:00,电话回访",
        f"GD{case_id:03d}-1,13912340006,不满意,否,一样不亮,2026-11-28 10:30,电话回访",
    )
    assert result["ratings"] == 2 and result["rejected"] == 0  # the second answer is kept too
    case = case_row(case_id)
    assert case.status is CaseStatus.REOPENED and case.reopen_count == 1
    with Session() as s:  # cancelled when the rating reopened the case, and says so
        (check,) = s.scalars(select(Lookback).where(Lookback.case_id == case_id))
        assert check.result == "cancelled: reopened"
        assert check.done_at.replace(tzinfo=check.done_at.tzinfo or UTC) == datetime(
            2026, 11, 28, 10, tzinfo=BJ
        )
    [notice] = rows_of(HandoffKind.REOPEN)
    assert notice.recipient == "banli@chengguan.example.gov.cn"
    assert "灯还是不亮" in notice.body_text and "13900001111" not in notice.body_text
    # second round: re-assigned, replied again, surveyed again — and still not solved
    assert dispatch_now(now=datetime(2026, 11, 30, 9, tzinfo=BJ).astimezone(UTC))["assigned"] == 1
    (minq.inbox("replies") / "r2.csv").write_text(
        "案件编号,答复时间,办理结果,答复内容,经办人\n"
        f"MQ2026-{case_id:06d},2026-12-01 15:00,A,已再次维修。,刘工\n",
        encoding="utf-8",
    )
    assert import_returns_now()["replies"] == 1
    assert surveys_now(now=datetime(2026, 12, 2, 2, tzinfo=BJ).astimezone(UTC))["callback"] == 2
    rate(
        minq,
        "r2.csv",
        f"MQ2026-{case_id:06d},13912340005,基本满意,否,修了两天又坏,2026-12-02 10:00,电话回访",
    )
    case = case_row(case_id)
    assert case.reopen_count == 1 and case.escalation_level == 2 and case.status is CaseStatus.RATED
    assert len(rows_of(HandoffKind.REOPEN)) == 1
    leaders = rows_of(HandoffKind.LEADER)
    assert len(leaders) == 2 and all("修了两天又坏" in h.body_text for h in leaders)


def test_a_new_answer_supersedes_the_old_one_which_stays(minq):
    case_id = replied_case([("王五", "13912340005", None, True)])
    surveys_now(now=NOW)
    rate(minq, "a.csv", f"GD{case_id:03d}-0,13912340005,基本满意,是,,2026-11-28 10:00,电话回访")
    rate(
        minq, "b.csv", f"GD{case_id:03d}-0,13912340005,满意,是,补充：很好,2026-11-29 10:00,电话回访"
    )
    with Session() as s:
        first, second = s.scalars(select(Rating).order_by(Rating.id)).all()
    assert second.supersedes_id == first.id and first.satisfaction.value == "基本满意"
    assert case_row(case_id).status is CaseStatus.RATED


def test_the_department_that_takes_a_reopened_case_never_sees_who_rated_it(minq):
    case_id = replied_case([("苏琳", "13912340007", "su.lin@example.net", True)])
    assert surveys_now(now=NOW)["emailed"] == 1  # the survey went to the citizen's own address
    rate(
        minq,
        "r3.csv",
        f"MQ2026-{case_id:06d},13912340007,不满意,否,还是不亮,2026-11-28 10:00,电子邮件",
    )
    assert case_row(case_id).status is CaseStatus.REOPENED
    assert dispatch_now(now=datetime(2026, 11, 30, 9, tzinfo=BJ).astimezone(UTC))["assigned"] == 1
    [again] = [h for h in rows_of(HandoffKind.ASSIGNMENT) if h.case_id == case_id]
    for body in (again.body_text, again.body_html):
        assert "重办通知" in body  # the department's own history is listed…
        for private in ("su.lin@example.net", "苏琳", "13912340007", "满意度回访"):
            assert private not in body  # …the citizen's survey is not
