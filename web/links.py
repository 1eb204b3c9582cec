"""The pages behind the signed links in handoff e-mails: a department's reply (/r/…), a
citizen's rating (/p/…) and a representative's look-back (/v/…).

Every page checks the token (signature, role, age), then the database: the link's case,
round and recipient must still be current. Storing goes through the same functions as the
file imports (tasks/imports.py, tasks/verifications.py), inside one transaction with the
checks, so a link can never do what an import row could not.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select, update
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from db.engine import Session
from db.models import (
    Area,
    Case,
    Department,
    Lookback,
    LookbackKind,
    Person,
    Reply,
    Satisfaction,
    Survey,
)
from minqing.followups import NOT_VERIFIED, RECORDED, VERIFIED, VerificationRow
from minqing.i18n import N_, _
from minqing.normalize import normalize_text
from minqing.progress import public_text
from minqing.records import ALREADY_IMPORTED
from minqing.returns import RatingRow, ReplyRow
from minqing.states import CaseStatus, Outcome
from tasks.context import context
from tasks.imports import store_rating, store_reply
from tasks.lookback import AWAITING_VERIFICATION
from tasks.outbox import case_view
from tasks.verifications import store_verification
from web.common import REPLY_OUTCOMES, client_ip, field_file, field_text, now_utc, web_of
from web.tokens import Grant, LinkError, Role, matches, read_token
from web.uploads import UploadRefused, check_upload, remove_file, store_file, upload_row

router = APIRouter()

FORM_ID = re.compile(r"^[0-9a-f]{32}$")
REPLY_EDITABLE = (CaseStatus.ASSIGNED, CaseStatus.REPLIED)
LINK_PROBLEMS = {
    "invalid": (
        403,
        N_("链接无效"),
        N_("这个链接无效或已被改动。请使用邮件中的原始链接，或联系民情直通车工作人员。"),
    ),
    "expired": (
        410,
        N_("链接已过期"),
        N_("这个链接已超过有效期。请联系民情直通车工作人员重新发送。"),
    ),
    "superseded": (
        410,
        N_("链接已失效"),
        N_("本案已改派、重新交办或合并，这个链接不再有效。请使用最新邮件中的链接。"),
    ),
}


class Refused(Exception):
    """A form that cannot be stored: (status, title, message) for the error page."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


def _problem(reason: str) -> Refused:
    status, title, message = LINK_PROBLEMS[reason]
    return Refused(status, _(title), _(message))


def _grant(request: Request, role: Role, token: str) -> Grant:
    try:
        return read_token(web_of(request).settings, role, token)
    except LinkError as exc:
        raise _problem(exc.reason) from None


def _refusal_page(request: Request, exc: Refused) -> HTMLResponse:
    return web_of(request).error(request, exc.status, exc.title, exc.message)


def _form_id(form: FormData) -> str | None:
    value = field_text(form, "form_id", 40)
    return value if FORM_ID.match(value) else None


async def _guarded_form(request: Request, max_files: int) -> FormData:
    """The posted form after the rate limit and the CSRF check (raises Refused)."""
    web = web_of(request)
    if not web.public_limiter.allow(f"link:{client_ip(request)}"):
        raise Refused(429, _("提交过于频繁"), _("您提交得太快了，这次的内容未收到，请稍后再提交。"))
    form = await request.form(max_files=max_files, max_fields=20)
    if not web.public_csrf_ok(request, form):
        raise Refused(
            403, _("页面已失效"), _("表单已过期或来源不明，请重新打开邮件中的链接后再提交。")
        )
    return form


# --- 答复: the department's reply ------------------------------------------------------------


def _reply_case(s: Any, request: Request, grant: Grant) -> Case:
    case = s.get(Case, grant.case_id)
    if case is None:
        raise _problem("invalid")
    current = grant.target == case.reopen_count and case.merged_into_id is None
    if not current or not matches(web_of(request).settings, grant, case.lead_department):
        raise _problem("superseded")
    return case


def _latest_reply(s: Any, case: Case) -> Reply | None:
    """The answer of the case's current round, if there is one."""
    this_round = select(Reply).where(Reply.case_id == case.id)
    if case.assigned_at is not None:  # a reopened case starts a new answer
        this_round = this_round.where(Reply.received_at >= case.assigned_at)
    return s.scalars(this_round.order_by(Reply.received_at.desc(), Reply.id.desc())).first()


def _reply_view(s: Any, case: Case) -> dict[str, Any]:
    ref = context().ref
    latest = _latest_reply(s, case)
    dept = ref.department_by_code.get(case.lead_department or "")
    return {
        "case": case_view(s, case, ref),
        "department": dept.name if dept else "",
        "case_status": case.status.value,
        "editable": case.status in REPLY_EDITABLE,
        "latest": latest,
        "outcomes": REPLY_OUTCOMES,
    }


def _load_reply(request: Request, grant: Grant) -> dict[str, Any]:
    with Session() as s:
        return _reply_view(s, _reply_case(s, request, grant))


@router.get("/r/{token}", response_class=HTMLResponse)
async def reply_page(request: Request, token: str) -> HTMLResponse:
    try:
        grant = _grant(request, Role.REPLY, token)
        view = await run_in_threadpool(_load_reply, request, grant)
    except Refused as exc:
        return _refusal_page(request, exc)
    return _reply_form(request, view)


def _reply_form(
    request: Request, view: dict[str, Any], status: int = 200, **values: Any
) -> HTMLResponse:
    latest = view["latest"]
    defaults = {
        "outcome": latest.outcome.value if latest else "",
        "text": latest.text if latest else "",
        "handler": (latest.handler or "") if latest else "",
    }
    return web_of(request).public_page(
        request,
        "reply.html",
        status,
        **view,
        form_id=secrets.token_hex(16),
        values={**defaults, **values.pop("values", {})},
        errors=values.pop("errors", {}),
        max_mb=max(1, web_of(request).settings.upload_max_bytes // (1024 * 1024)),
    )


@router.post("/r/{token}", response_class=HTMLResponse)
async def reply_submit(request: Request, token: str) -> HTMLResponse:
    web = web_of(request)
    try:
        grant = _grant(request, Role.REPLY, token)
        form = await _guarded_form(request, max_files=1)
        view = await run_in_threadpool(_load_reply, request, grant)  # the link is still current
        values = {
            "outcome": field_text(form, "outcome", 30),
            "text": field_text(form, "text", 5000, multiline=True),
            "handler": field_text(form, "handler", 40),
        }
        errors = _check_reply(values)
        upload = field_file(form, "attachment")
        checked = None
        if upload is not None:
            try:
                checked = await check_upload(upload, web.settings.upload_max_bytes)
            except UploadRefused as exc:
                errors["attachment"] = str(exc)
        form_id = _form_id(form)
        if form_id is None:
            raise Refused(400, _("页面已失效"), _("表单不完整，请重新打开邮件中的链接。"))
        if errors:
            return _reply_form(request, view, 400, values=values, errors=errors)
        number, again = await run_in_threadpool(
            _save_reply, request, grant, values, form_id, checked
        )
    except Refused as exc:
        return _refusal_page(request, exc)
    if again:  # the same form, or the same answer sent again after Back: nothing new stored
        return web.render(request, "done.html", title=_("已收到您的答复"), number=number,
                          message=_("这份答复已经记录，没有重复保存。本案核实之前，您可以通过同一链接修改答复。"),
                          back=f"/r/{token}")  # fmt: skip
    return web.render(request, "done.html", title=_("答复已提交"), number=number,
                      message=_("感谢！答复已记录。本案核实之前，您可以通过同一链接修改答复。"),
                      back=f"/r/{token}")  # fmt: skip


def _check_reply(values: dict[str, str]) -> dict[str, str]:
    errors = {}
    if values["outcome"] not in {o.value for o in REPLY_OUTCOMES}:
        errors["outcome"] = _("请选择办理结果")
    if not values["text"]:
        errors["text"] = _("请填写答复内容")
    elif len(values["text"]) > 5000:
        errors["text"] = _("答复内容不能超过 5000 字")
    if not values["handler"]:
        errors["handler"] = _("请填写经办人")
    elif len(values["handler"]) > 40:
        errors["handler"] = _("经办人不能超过 40 字")
    return errors


def _save_reply(
    request: Request, grant: Grant, values: dict[str, str], form_id: str, checked: Any
) -> tuple[str, bool]:
    """Store the answer; (case number, whether it was already stored). A form sent twice has
    the same form_id (the reply's unique source_key); one re-rendered by Back has a new one,
    but the clerk sends the answer already stored for this round — the same outcome, text and
    经办人, no new file — and that is not a second answer either."""
    settings = web_of(request).settings
    ctx = context()
    stored = None
    try:
        with Session() as s, s.begin():
            case = _reply_case(s, request, grant)
            if case.status not in REPLY_EDITABLE:
                raise Refused(
                    409,
                    _("不能再修改"),
                    _("本案已核实或已办结，答复不能再修改。如需补充，请联系民情直通车工作人员。"),
                )
            number = case.number
            latest = _latest_reply(s, case)
            text = normalize_text(values["text"])
            if (
                checked is None
                and latest is not None
                and (latest.outcome.value, latest.text, latest.handler)
                == (values["outcome"], text, values["handler"])
            ):
                return number, True
            actor = f"{case.lead_department}·{values['handler']}"[:120]
            row = ReplyRow(
                source_key=f"web-reply:{case.id}:{form_id}",
                source_ref=f"web:{number}",
                case_ref=number,
                received_at=now_utc(),
                outcome=Outcome(values["outcome"]),
                text=text,
                handler=values["handler"],
            )
            reason = store_reply(s, ctx, row, via="web", actor=actor)
            if reason == ALREADY_IMPORTED:
                return number, True  # the same form sent twice: stored once
            if reason is not None:
                raise Refused(
                    409, _("未能保存"), _("答复未能保存：%(reason)s") % {"reason": reason}
                )
            if checked is not None:
                s.flush()
                reply_id = s.scalar(select(Reply.id).where(Reply.source_key == row.source_key))
                stored = store_file(settings, checked)
                s.add(
                    upload_row(
                        checked,
                        stored,
                        case_id=case.id,
                        entity="reply",
                        entity_id=reply_id,
                        by=actor,
                    )
                )
        return number, False
    except BaseException:
        if stored:
            remove_file(settings, stored)
        raise


# --- 评价: the citizen's rating, once --------------------------------------------------------


@dataclass
class RatingTarget:
    survey: Survey
    case: Case
    person: Person


def _rating_target(s: Any, request: Request, grant: Grant) -> RatingTarget:
    survey = s.get(Survey, grant.target)
    if survey is None or survey.case_id != grant.case_id:
        raise _problem("invalid")
    if not matches(web_of(request).settings, grant, f"person:{survey.person_id}"):
        raise _problem("invalid")
    case = s.get(Case, survey.case_id)
    person = s.get(Person, survey.person_id)
    if case is None or person is None:
        raise _problem("invalid")
    if survey.answered_at is not None:
        raise Refused(
            409, _("您已评价"), _("感谢您的评价！这个评价链接只能使用一次，您的评价已经记录。")
        )
    if survey.round != case.reopen_count or case.merged_into_id is not None:
        raise _problem("superseded")
    if case.replied_at is None:  # the rules after that are store_rating's
        raise Refused(
            409, _("暂不能评价"), _("本案当前不在待评价状态。如有疑问，请联系民情直通车工作人员。")
        )
    return RatingTarget(survey, case, person)


def _load_rating(request: Request, grant: Grant) -> dict[str, Any]:
    ref = context().ref
    with Session() as s:
        target = _rating_target(s, request, grant)
        reply = s.scalars(
            select(Reply)
            .where(Reply.case_id == target.case.id)
            .order_by(Reply.received_at.desc(), Reply.id.desc())
        ).first()
        dept = s.scalar(
            select(Department.name).where(Department.code == target.case.lead_department)
        )
        return {
            "case": case_view(s, target.case, ref),
            "department": dept or _("承办单位"),
            "reply": reply,
            "reply_text": public_text(reply.text) if reply else "",
            "citizen": target.person.name or "",
            "satisfaction_codes": [x.value for x in Satisfaction],
        }


@router.get("/p/{token}", response_class=HTMLResponse)
async def rating_page(request: Request, token: str) -> HTMLResponse:
    try:
        grant = _grant(request, Role.RATE, token)
        view = await run_in_threadpool(_load_rating, request, grant)
    except Refused as exc:
        return _refusal_page(request, exc)
    return web_of(request).public_page(request, "rate.html", values={}, errors={}, **view)


@router.post("/p/{token}", response_class=HTMLResponse)
async def rating_submit(request: Request, token: str) -> HTMLResponse:
    web = web_of(request)
    try:
        grant = _grant(request, Role.RATE, token)
        form = await _guarded_form(request, max_files=0)
        values = {
            "satisfaction": field_text(form, "satisfaction", 10),
            "solved": field_text(form, "solved", 5),
            "comment": field_text(form, "comment", 1000, multiline=True),
        }
        errors = {}
        if values["satisfaction"] not in {x.value for x in Satisfaction}:
            errors["satisfaction"] = _("请选择满意、基本满意或不满意")
        if values["solved"] not in ("yes", "no"):
            errors["solved"] = _("请选择问题是否已办成")
        if len(values["comment"]) > 1000:
            errors["comment"] = _("意见不能超过 1000 字")
        if errors:
            view = await run_in_threadpool(_load_rating, request, grant)
            return web.public_page(request, "rate.html", 400, values=values, errors=errors, **view)
        number = await run_in_threadpool(_save_rating, request, grant, values)
    except Refused as exc:
        return _refusal_page(request, exc)
    return web.render(request, "done.html", title=_("评价已提交"), number=number,
                      message=_("感谢您的评价！我们会根据您的意见督促改进。"), back=None)  # fmt: skip


def _save_rating(request: Request, grant: Grant, values: dict[str, str]) -> str:
    ctx = context()
    now = now_utc()
    with Session() as s, s.begin():
        target = _rating_target(s, request, grant)
        # The one-time use is decided by this conditional update: of two concurrent posts of
        # the same link, exactly one changes the row.
        claimed = s.execute(
            update(Survey)
            .where(Survey.id == target.survey.id, Survey.answered_at.is_(None))
            .values(answered_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed != 1:
            raise Refused(
                409, _("您已评价"), _("感谢您的评价！这个评价链接只能使用一次，您的评价已经记录。")
            )
        row = RatingRow(
            source_key=f"web-rating:{target.survey.id}",
            source_ref=f"web:survey:{target.survey.id}",
            case_ref=target.case.number,
            phone=target.person.phone,
            satisfaction=values["satisfaction"],
            solved=values["solved"] == "yes",
            comment=normalize_text(values["comment"]) or None,
            rated_at=now,
            channel="web",
        )
        reason = store_rating(
            s,
            ctx,
            row,
            person=target.person,
            survey=target.survey,
            actor=f"citizen:survey:{target.survey.id}",
        )
        if reason is not None:
            raise Refused(409, _("未能保存"), _("评价未能保存，请联系民情直通车工作人员。"))
        return target.case.number


# --- 回头看: the representative's look-back, once --------------------------------------------


def _lookback_target(s: Any, request: Request, grant: Grant) -> tuple[Lookback, Case, Area]:
    lb = s.get(Lookback, grant.target)
    if lb is None or lb.case_id != grant.case_id or lb.kind is not LookbackKind.VERIFICATION:
        raise _problem("invalid")
    case = s.get(Case, lb.case_id)
    area = (
        s.scalar(select(Area).where(Area.code == case.area_code))
        if case and case.area_code
        else None
    )
    if (
        case is None
        or area is None
        or not matches(web_of(request).settings, grant, area.representative_email)
    ):
        raise _problem("invalid")
    if lb.result in RECORDED:
        raise Refused(
            409,
            _("已记录"),
            _("这次回头看的结果已经记录，感谢！如需更正，请联系民情直通车工作人员。"),
        )
    latest = s.scalar(
        select(Lookback.id)
        .where(Lookback.case_id == case.id, Lookback.kind == LookbackKind.VERIFICATION)
        .order_by(Lookback.due_at.desc(), Lookback.id.desc())
        .limit(1)
    )
    if case.merged_into_id is not None or latest != lb.id:
        raise _problem("superseded")
    if case.status not in AWAITING_VERIFICATION:
        raise Refused(
            409, _("暂不需要回头看"), _("本案当前不在待核实状态（可能已重办或办结），无需记录。")
        )
    return lb, case, area


def _load_lookback(request: Request, grant: Grant) -> dict[str, Any]:
    ref = context().ref
    with Session() as s:
        lb, case, area = _lookback_target(s, request, grant)
        reply = s.scalars(
            select(Reply)
            .where(Reply.case_id == case.id)
            .order_by(Reply.received_at.desc(), Reply.id.desc())
        ).first()
        dept = ref.department_by_code.get(case.lead_department or "")
        return {
            "case": case_view(s, case, ref),
            "department": dept.name if dept else _("承办单位"),
            "reply": reply,
            "representative": area.representative_name or "",
        }


@router.get("/v/{token}", response_class=HTMLResponse)
async def lookback_page(request: Request, token: str) -> HTMLResponse:
    try:
        grant = _grant(request, Role.VERIFY, token)
        view = await run_in_threadpool(_load_lookback, request, grant)
    except Refused as exc:
        return _refusal_page(request, exc)
    return web_of(request).public_page(
        request, "verify.html", values={}, errors={}, max_mb=_max_mb(request), **view
    )


def _max_mb(request: Request) -> int:
    return max(1, web_of(request).settings.upload_max_bytes // (1024 * 1024))


@router.post("/v/{token}", response_class=HTMLResponse)
async def lookback_submit(request: Request, token: str) -> HTMLResponse:
    web = web_of(request)
    try:
        grant = _grant(request, Role.VERIFY, token)
        form = await _guarded_form(request, max_files=1)
        values = {
            "result": field_text(form, "result", 20),
            "note": field_text(form, "note", 2000, multiline=True),
        }
        errors = {}
        if values["result"] not in RECORDED:
            errors["result"] = _("请选择“已核实”或“未核实”")
        if values["result"] == NOT_VERIFIED and not values["note"]:
            errors["note"] = _("未核实时请说明情况，承办单位会据此重新办理")
        if len(values["note"]) > 2000:
            errors["note"] = _("说明不能超过 2000 字")
        checked = None
        photo = field_file(form, "photo")
        if photo is not None:
            try:
                checked = await check_upload(photo, web.settings.upload_max_bytes)
            except UploadRefused as exc:
                errors["photo"] = str(exc)
        if errors:
            view = await run_in_threadpool(_load_lookback, request, grant)
            return web.public_page(
                request,
                "verify.html",
                400,
                values=values,
                errors=errors,
                max_mb=_max_mb(request),
                **view,
            )
        number = await run_in_threadpool(_save_lookback, request, grant, values, checked)
    except Refused as exc:
        return _refusal_page(request, exc)
    return web.render(request, "done.html", title=_("回头看已记录"), number=number,
                      message=_("感谢您的回头看！结果已记录。"), back=None)  # fmt: skip


def _save_lookback(request: Request, grant: Grant, values: dict[str, str], checked: Any) -> str:
    settings = web_of(request).settings
    ctx = context()
    stored = None
    try:
        with Session() as s, s.begin():
            lb, case, area = _lookback_target(s, request, grant)
            checker = area.representative_name or _("代表")
            row = VerificationRow(
                source_key=f"web-verification:{lb.id}",
                source_ref=f"web:lookback:{lb.id}",
                case_ref=case.number,
                verified=values["result"] == VERIFIED,
                note=normalize_text(values["note"]) or None,
                checker=checker,
                checked_at=now_utc(),
            )
            reason = store_verification(s, ctx, row)
            if reason is not None:
                raise Refused(409, _("未能保存"), _("回头看结果未能保存：本案当前不在待核实状态。"))
            if checked is not None:
                stored = store_file(settings, checked)
                s.add(
                    upload_row(
                        checked,
                        stored,
                        case_id=case.id,
                        entity="lookback",
                        entity_id=lb.id,
                        by=checker,
                    )
                )
            return case.number
    except BaseException:
        if stored:
            remove_file(settings, stored)
        raise
