"""评议 surveys: ask every citizen linked to a replied case how it went — after the reply, or
after the 回头看 when `surveys.after: verification`. Citizens with an e-mail get a survey message;
phone-only citizens go on the day's callback list (回访清单), an Excel file under
var/reports/callbacks/ whose filled-in copy comes back through inbox/ratings. Nobody who asked
not to be contacted is surveyed; cases answered on the spot only when `surveys.on_the_spot`.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import task
from sqlalchemy import Select, exists, or_, select

from db.engine import Session
from db.models import (
    Case,
    Department,
    HandoffKind,
    Lookback,
    LookbackKind,
    Person,
    Reply,
    Submission,
    Survey,
)
from db.queries import audit, write_first
from minqing.followups import NO_REPRESENTATIVE
from minqing.i18n import _
from minqing.progress import public_text
from minqing.reference import SurveyPolicy
from minqing.states import CaseStatus, Outcome
from minqing.workbooks import Sheet, write_workbook
from minqing.workdays import LOCAL_TZ
from tasks.context import context
from tasks.outbox import case_view, local_text, queue_handoff, render_for
from web.tokens import rating_link

ACTOR = "system:surveys"

# The callback list: the rating import's columns first (filled in by the caller), then what the
# caller needs to know. Saved as-is (or as CSV), it is a valid file for inbox/ratings.
CALLBACK_ANSWER_COLUMNS = (
    "案件编号",
    "联系电话",
    "满意度",
    "是否办成",
    "评价意见",
    "评价时间",
    "回访方式",
)
CALLBACK_INFO_COLUMNS = (
    "群众姓名",
    "问题标题",
    "承办单位",
    "答复时间",
    "办理结果",
    "答复内容",
    "回访轮次",
)


def survey_statuses(policy: SurveyPolicy) -> list[CaseStatus]:
    """Statuses of cases whose citizens are due a survey under `policy`."""
    statuses = (
        [CaseStatus.REPLIED]
        if policy.after == "reply"
        else [CaseStatus.VERIFIED, CaseStatus.REPLIED]
    )
    if policy.on_the_spot:
        statuses.append(CaseStatus.CLOSED)
    return statuses


def surveys_now(now: datetime | None = None) -> dict[str, Any]:
    ctx = context()
    now = now or datetime.now(UTC)
    policy = ctx.ref.policy.surveys
    totals: dict[str, Any] = {"emailed": 0, "callback": 0, "callback_file": None}
    with Session() as s, s.begin():
        write_first(s)  # SQLite: a second run reads the surveys the first one created
        cases = s.scalars(
            select(Case).where(Case.id.in_(unsurveyed_cases(policy))).order_by(Case.id)
        ).all()
        for case in cases:
            if due_a_survey(s, case, policy.after):
                _survey_case(s, ctx, case, now, totals)
    path = write_callback_list(now)
    totals["callback_file"] = str(path) if path else None
    return totals


def unsurveyed_cases(policy: SurveyPolicy) -> Select[tuple[int]]:
    """Ids of cases in a surveyed status with a citizen who may be contacted and was not asked
    in the case's current round (the nightly stage then checks `due_a_survey`)."""
    asked = exists().where(
        Survey.case_id == Case.id, Survey.person_id == Person.id, Survey.round == Case.reopen_count
    )
    return (
        select(Case.id)
        .join(Submission, Submission.case_id == Case.id)
        .join(Person, Person.id == Submission.person_id)
        .where(
            Case.status.in_(survey_statuses(policy)),
            Person.contact_ok.is_(True),
            or_(Person.email.is_not(None), Person.phone.is_not(None)),
            ~asked,
        )
    )


def due_a_survey(s: Any, case: Case, after: str) -> bool:
    if case.status is CaseStatus.CLOSED:  # only reached with surveys.on_the_spot
        return case.outcome is Outcome.ON_THE_SPOT and case.reopen_count == 0
    if case.status is CaseStatus.REPLIED and after == "verification":
        # Without a representative for the area there is no 回头看 to wait for.
        latest = s.scalars(
            select(Lookback.result)
            .where(Lookback.case_id == case.id, Lookback.kind == LookbackKind.VERIFICATION)
            .order_by(Lookback.due_at.desc(), Lookback.id.desc())
        ).first()
        return latest == NO_REPRESENTATIVE
    return True


def _survey_case(s: Any, ctx: Any, case: Case, now: datetime, totals: dict[str, Any]) -> None:
    people = s.scalars(
        select(Person)
        .join(Submission, Submission.person_id == Person.id)
        .where(Submission.case_id == case.id)
        .distinct()
    ).all()
    reply = s.scalars(
        select(Reply)
        .where(Reply.case_id == case.id)
        .order_by(Reply.received_at.desc(), Reply.id.desc())
    ).first()
    dept = s.scalar(select(Department.name).where(Department.code == case.lead_department)) or _(
        "承办单位"
    )
    view = None
    for person in sorted(people, key=lambda p: p.id):
        if not person.contact_ok:
            continue
        if s.scalar(
            select(Survey.id).where(
                Survey.case_id == case.id,
                Survey.person_id == person.id,
                Survey.round == case.reopen_count,
            )
        ):
            continue
        channel = "email" if person.email else "phone" if person.phone else None
        if channel is None:
            continue
        survey = Survey(
            case_id=case.id,
            person_id=person.id,
            round=case.reopen_count,
            channel=channel,
            created_at=now,
        )
        s.add(survey)
        s.flush()
        if channel == "email":
            view = view or case_view(s, case, ctx.ref)
            rendered = render_for(
                ctx.ref,
                "survey",
                _("【满意度回访】您反映的问题已答复（%(number)s）") % {"number": view["number"]},
                _("办理结果回访"),
                citizen=person.name or _("市民"),
                case=view,
                department=dept,
                reply=public_text(reply.text) if reply else "",
                rating_link=rating_link(ctx.settings, case.id, survey.id, person.id),
            )
            handoff = queue_handoff(
                s,
                ctx.ref,
                # the survey's (case, person, round), as two runs would both name it
                key=f"survey:{case.id}:{person.id}:{survey.round}",
                kind=HandoffKind.SURVEY,
                recipient=person.email,
                recipient_name=person.name,
                case_id=case.id,
                rendered=rendered,
            )
            survey.handoff_id = handoff.id if handoff else None
            totals["emailed"] += 1
        else:
            totals["callback"] += 1
        audit(
            s,
            ACTOR,
            "survey_created",
            case_id=case.id,
            entity="survey",
            entity_id=survey.id,
            channel=channel,
        )


def callback_list_path(day: Any) -> Path:
    return context().settings.reports_dir / "callbacks" / f"回访清单_{day:%Y%m%d}.xlsx"


def write_callback_list(now: datetime) -> Path | None:
    """回访清单 of `now`'s Beijing day: every phone survey created that day, one row each.

    Rewritten whole on each run of the day, so a second run gives the same file; None (and no
    file) when there is nobody to call.
    """
    day = now.astimezone(LOCAL_TZ).date()
    start = datetime.combine(day, time(0), LOCAL_TZ).astimezone(UTC)
    with Session() as s:
        rows = s.execute(
            select(Survey, Person, Case)
            .join(Person, Person.id == Survey.person_id)
            .join(Case, Case.id == Survey.case_id)
            .where(
                Survey.channel == "phone",
                Survey.created_at >= start,
                Survey.created_at < start + timedelta(days=1),
            )
            .order_by(Case.id, Survey.id)
        ).all()
        if not rows:
            return None
        names = dict(s.execute(select(Department.code, Department.name)).all())
        replies = _latest_replies(s, [case.id for _, _, case in rows])
    records = []
    for survey, person, case in rows:
        reply = replies.get(case.id)
        records.append(
            {
                "案件编号": case.number,
                "联系电话": person.phone,
                "满意度": "",
                "是否办成": "",
                "评价意见": "",
                "评价时间": "",
                "回访方式": "电话回访",
                "群众姓名": person.name or "",
                "问题标题": case.title,
                "承办单位": names.get(case.lead_department or "", ""),
                "答复时间": local_text(reply.received_at, with_time=True) if reply else "",
                "办理结果": reply.outcome.value if reply else "",
                "答复内容": reply.text if reply else "",
                "回访轮次": survey.round + 1,
            }
        )
    frame = pd.DataFrame(records, columns=[*CALLBACK_ANSWER_COLUMNS, *CALLBACK_INFO_COLUMNS])
    frame["办理结果"] = frame["办理结果"].map(_outcome_label)
    sheet = Sheet(
        f"回访清单{day:%m%d}",
        frame,
        choices={"满意度": ("满意", "基本满意", "不满意"), "是否办成": ("是", "否")},
        widths={"答复内容": 60, "问题标题": 30, "评价意见": 30},
    )
    return write_workbook(callback_list_path(day), [sheet])


def _latest_replies(s: Any, case_ids: list[int]) -> dict[int, Reply]:
    latest: dict[int, Reply] = {}
    for reply in s.scalars(
        select(Reply).where(Reply.case_id.in_(case_ids)).order_by(Reply.received_at, Reply.id)
    ):
        latest[reply.case_id] = reply
    return latest


def _outcome_label(value: str) -> str:
    from minqing.labels import outcome_label

    return outcome_label(value)


@task(name="surveys")
def send_surveys() -> dict[str, Any]:
    """评议: queue satisfaction surveys for replied cases and write the day's callback list."""
    return surveys_now()
