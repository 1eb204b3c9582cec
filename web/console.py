"""The operator console (/console): log in, find cases, see everything about one case, act on
it (category, re-route, merge/split, retry a message, extend a deadline, reopen), the review
queue and the failed messages. Every action is an AuditEvent with the operator's name."""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy import case as when_then
from sqlalchemy import func, select, union
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from db.engine import Session
from db.models import (
    Area,
    AuditEvent,
    Case,
    Department,
    Handoff,
    HandoffStatus,
    IngestedFile,
    Lookback,
    Operator,
    Person,
    Rating,
    Rejection,
    Reply,
    Satisfaction,
    Submission,
    Survey,
    Upload,
    case_id_from_number,
)
from db.queries import audit
from minqing.handoffs import resend_failure
from minqing.i18n import N_, _, label
from minqing.normalize import normalize_phone
from minqing.states import CaseStatus
from minqing.trail import Names
from tasks.actions import (
    ActionError,
    confirm_category,
    extend_deadline,
    merge,
    reopen,
    reroute,
    split,
)
from tasks.context import context
from tasks.duty import console_url
from web.common import client_ip, field_text, now_utc, web_of
from web.security import (
    SESSION_COOKIE,
    SessionData,
    dump_session,
    hash_password,
    load_session,
    needs_rehash,
    new_nonce,
    verify_password,
)
from web.uploads import stored_path

router = APIRouter(prefix="/console")

PAGE = 50
NOTICES = {
    "category": N_("分类已确认"),
    "category_dispatched": N_("分类已确认；紧急件已交办，交办单已发出"),
    "category_dispatched_queued": N_(
        "分类已确认；紧急件已交办，交办单已排队，邮件服务器恢复后发出"
    ),
    "category_dispatched_failed": N_(
        "分类已确认；紧急件已交办，但交办单未能发出，也不会自动重发：原因见下方“交办与发送”，"
        "排除后请重发，并电话告知承办单位"
    ),
    "route": N_("已改派，交办单已发出"),
    "route_queued": N_("已改派，交办单已排队，将在下次发送时发出"),
    "route_failed": N_(
        "已改派，但有通知未能发出，也不会自动重发：原因见下方“交办与发送”，排除后请重发"
    ),
    "merge": N_("已合并"),
    "split": N_("已拆分为新案件，等待确认分类"),
    "retry": N_("已重新发送"),
    "delivered": N_("已确认送达，不会再发送"),
    "extend": N_("办理时限已延长，已告知承办单位"),
    "extend_queued": N_("办理时限已延长；告知承办单位的通知已排队，将在下次发送时发出"),
    "extend_failed": N_(
        "办理时限已延长，但告知承办单位的通知未能发出，也不会自动重发："
        "原因见下方“交办与发送”，排除后请重发"
    ),
    "reopen": N_("已重办，今晚将重新交办"),
    "login": N_("欢迎"),
}


@dataclass(frozen=True)
class Who:
    id: int
    name: str
    csrf: str


def _session(request: Request) -> Who | None:
    web = web_of(request)
    data = load_session(
        web.secret, request.cookies.get(SESSION_COOKIE), web.settings.session_hours * 3600
    )
    if data is None:
        return None
    with Session() as s:
        op = s.get(Operator, data.operator_id)
        if op is None or not op.active or op.session_version != data.version:
            return None
        return Who(op.id, op.name, data.csrf)


async def _who(request: Request) -> Who | None:
    return await run_in_threadpool(_session, request)


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":  # a form posted after the session ended is not replayed
        target = "/console"
    return RedirectResponse("/console/login?" + urlencode({"next": target}), status_code=303)


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/console") and "//" not in value and "\\" not in value:
        return value
    return "/console"


def _page(request: Request, who: Who, name: str, status: int = 200, **values: Any) -> HTMLResponse:
    web = web_of(request)
    ok = request.query_params.get("ok", "")
    notice = label(NOTICES, ok) if ok in NOTICES else ""
    return web.render(
        request, name, status, who=who, csrf=who.csrf, notice=notice,
        prefect_ui_url=console_url(), **values,
    )  # fmt: skip


async def _posted(request: Request) -> tuple[Who | None, FormData | Response]:
    """The operator and their form, or the response that refuses the post."""
    who = await _who(request)
    if who is None:
        return None, _to_login(request)
    form = await request.form(max_files=0, max_fields=30)
    token = form.get("csrf")
    if not isinstance(token, str) or not hmac.compare_digest(token, who.csrf):
        return who, web_of(request).error(
            request, 403, _("页面已失效"), _("表单已过期，请刷新页面后重试。")
        )
    return who, form


# --- login -----------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    return web_of(request).public_page(
        request, "console/login.html", error="", next=_safe_next(request.query_params.get("next"))
    )


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    web = web_of(request)
    if not web.login_limiter.allow(f"login:{client_ip(request)}"):
        return web.error(
            request, 429, _("尝试次数过多"), _("登录尝试过于频繁，请稍后再试。"), hint=""
        )
    form = await request.form(max_files=0, max_fields=10)
    if not web.public_csrf_ok(request, form):
        return web.error(
            request, 403, _("页面已失效"), _("登录页面已过期，请刷新后重试。"), hint=""
        )
    name, password = field_text(form, "name", 60), form.get("password")
    next_path = _safe_next(field_text(form, "next", 300))
    op_id, version = await run_in_threadpool(
        _check_login, name, password if isinstance(password, str) else ""
    )
    if op_id is None:
        return web.public_page(
            request, "console/login.html", 401, error=_("用户名或密码不正确"), next=next_path
        )
    response = RedirectResponse(next_path, status_code=303)
    cookie = dump_session(web.secret, SessionData(op_id, version, new_nonce()))
    response.set_cookie(SESSION_COOKIE, cookie, max_age=web.settings.session_hours * 3600, httponly=True,
                        samesite="lax", secure=web.secure_cookies, path="/console")  # fmt: skip
    return response


def _check_login(name: str, password: str) -> tuple[int | None, int]:
    with Session() as s, s.begin():
        op = s.scalar(select(Operator).where(Operator.name == name)) if name else None
        ok = verify_password(op.password_hash if op and op.active else None, password[:200])
        if not ok or op is None:
            return None, 0
        if needs_rehash(op.password_hash):
            op.password_hash = hash_password(password)
        op.last_login_at = now_utc()
        audit(s, op.name, "login", entity="operator", entity_id=op.id)
        return op.id, op.session_version


@router.post("/logout")
async def logout(request: Request) -> Response:
    who, form = await _posted(request)
    if who is None or not isinstance(form, FormData):
        return form if isinstance(form, Response) else _to_login(request)

    def bump() -> None:
        with Session() as s, s.begin():
            op = s.get(Operator, who.id)
            if op is not None:
                op.session_version += 1  # every cookie of this operator stops working
                audit(s, op.name, "logout", entity="operator", entity_id=op.id)

    await run_in_threadpool(bump)
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/console")
    return response


# --- case list ---------------------------------------------------------------------------------


@dataclass
class Filters:
    status: str = ""
    dept: str = ""
    area: str = ""
    overdue: bool = False
    review: bool = False
    q: str = ""

    def query(self, **extra: Any) -> str:
        params = {k: v for k, v in vars(self).items() if v}
        params = {k: ("1" if v is True else v) for k, v in params.items()}
        return urlencode({**params, **extra})


def _filters(request: Request) -> Filters:
    p = request.query_params
    status = p.get("status", "")
    return Filters(
        status=status if status in {s.value for s in CaseStatus} else "",
        dept=p.get("dept", "")[:40],
        area=p.get("area", "")[:40],
        overdue=p.get("overdue") == "1",
        review=p.get("review") == "1",
        q=" ".join(p.get("q", "").split())[:100],
    )


def list_cases(f: Filters, now: datetime, after: int | None, before: int | None) -> dict[str, Any]:
    cols_q = _page_query(f, now, after, before)
    with Session() as s:
        rows = list(s.execute(cols_q).all())
    if before is not None:
        rows.reverse()
        has_prev = len(rows) > PAGE
        rows = rows[-PAGE:] if has_prev else rows
        has_next = True
    else:
        has_next = len(rows) > PAGE
        rows = rows[:PAGE]
        has_prev = after is not None
    return {"rows": rows, "has_next": has_next, "has_prev": has_prev}


def _page_query(f: Filters, now: datetime, after: int | None, before: int | None) -> Any:
    q = _base_query(f, now)
    if before is not None:
        return q.where(Case.id > before).order_by(Case.id.asc()).limit(PAGE + 1)
    if after is not None:
        q = q.where(Case.id < after)
    return q.order_by(Case.id.desc()).limit(PAGE + 1)


def _base_query(f: Filters, now: datetime) -> Any:
    q = select(Case.id, Case.title, Case.status, Case.lead_department, Case.area_code, Case.category,
               Case.due_at, Case.created_at, Case.priority, Case.supporters)  # fmt: skip
    if f.status:
        q = q.where(Case.status == CaseStatus(f.status))
    if f.review:
        q = q.where(Case.status == CaseStatus.NEEDS_REVIEW)
    if f.dept:
        q = q.where(Case.lead_department == f.dept)
    if f.area:
        q = q.where(Case.area_code == f.area)
    if f.overdue:
        q = q.where(Case.status == CaseStatus.ASSIGNED, Case.due_at < now)
    if f.q:
        q = q.where(search_condition(f.q))
    return q


IDENTIFIER = re.compile(r"^[A-Za-z0-9_\-:.]+$")


def search_condition(text: str) -> Any:
    """案件编号 → that case; a ticket number or phone (no Chinese) → exact matches through
    indexes; anything else → titles containing the words (trigram index on PostgreSQL)."""
    number = case_id_from_number(text)
    if number is not None:
        return Case.id == number
    if IDENTIFIER.match(text):
        matches: Any = select(Submission.case_id).where(Submission.source_ref == text)
        phone = normalize_phone(text) if text.replace("-", "").isdigit() else None
        if phone:
            by_phone = (
                select(Submission.case_id)
                .join(Person, Person.id == Submission.person_id)
                .where(Person.phone == phone)
            )
            # one IN over a UNION: a semi-join on indexes (an OR of two INs scans every case)
            matches = union(matches, by_phone)
        return Case.id.in_(matches)
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return Case.title.like(f"%{escaped}%", escape="\\")


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 12 else None


@router.get("", response_class=HTMLResponse)
async def case_list(request: Request) -> Response:
    who = await _who(request)
    if who is None:
        return _to_login(request)
    f = _filters(request)
    now = now_utc()
    after, before = (
        _int(request.query_params.get("after")),
        _int(request.query_params.get("before")),
    )
    page = await run_in_threadpool(list_cases, f, now, after, before)
    first_page = after is None and before is None and f == Filters()
    urgent = await run_in_threadpool(load_urgent, now) if first_page else []
    ref = context().ref
    rows = page["rows"]
    return _page(
        request, who, "console/cases.html", f=f, rows=rows, now=now, urgent=urgent,
        departments=ref.departments, areas=ref.areas, statuses=list(CaseStatus),
        dept_names={d.code: d.name for d in ref.departments}, area_names={a.code: a.name for a in ref.areas},
        next_url=f"/console?{f.query(after=rows[-1].id)}" if rows and page["has_next"] else None,
        prev_url=f"/console?{f.query(before=rows[0].id)}" if rows and page["has_prev"] else None,
        first_url=f"/console?{f.query()}",
    )  # fmt: skip


# --- one case ----------------------------------------------------------------------------------


def load_case(case_id: int) -> dict[str, Any] | None:
    ref = context().ref
    with Session() as s:
        case = s.get(Case, case_id)
        if case is None:
            return None
        subs = s.execute(
            select(Submission, Person).outerjoin(Person, Person.id == Submission.person_id)
            .where(Submission.case_id == case.id).order_by(Submission.received_at, Submission.id)
        ).all()  # fmt: skip
        return {
            "case": case,
            "number": case.number,
            "area": s.scalar(select(Area.name).where(Area.code == case.area_code)) if case.area_code else None,
            "department": s.scalar(select(Department.name).where(Department.code == case.lead_department)),
            "merged_into": s.get(Case, case.merged_into_id) if case.merged_into_id else None,
            "submissions": subs,
            "merged_cases": s.scalars(select(Case).where(Case.merged_into_id == case.id).order_by(Case.id)).all(),
            "events": s.scalars(select(AuditEvent).where(AuditEvent.case_id == case.id)
                                .order_by(AuditEvent.at, AuditEvent.id)).all(),
            "handoffs": s.scalars(select(Handoff).where(Handoff.case_id == case.id).order_by(Handoff.id)).all(),
            "replies": s.scalars(select(Reply).where(Reply.case_id == case.id).order_by(Reply.received_at, Reply.id)).all(),
            "ratings": s.scalars(select(Rating).where(Rating.case_id == case.id).order_by(Rating.rated_at)).all(),
            "surveys": s.scalars(select(Survey).where(Survey.case_id == case.id).order_by(Survey.id)).all(),
            "lookbacks": s.scalars(select(Lookback).where(Lookback.case_id == case.id).order_by(Lookback.due_at)).all(),
            "uploads": s.scalars(select(Upload).where(Upload.case_id == case.id).order_by(Upload.id)).all(),
            "categories": category_choices(ref),
            "departments": ref.departments,
            "dept_names": {d.code: d.name for d in ref.departments},
            "stations": {st.code: st.name for st in ref.stations},
        } | {"names": _trail_names(s, case, ref)}  # fmt: skip


def _trail_names(s: Any, case: Case, ref: Any) -> Names:
    """What the trail's codes point at: the cases and messages (留言) its events name."""
    events = s.scalars(select(AuditEvent.detail).where(AuditEvent.case_id == case.id)).all()
    case_ids = {case.id} | {
        v for d in events for k, v in (d or {}).items()
        if k in ("split_from", "new_case", "into", "source") and isinstance(v, int)
    }  # fmt: skip
    sub_ids = {
        v for d in events for k, v in (d or {}).items()
        if k in ("submission", "matched_submission") and isinstance(v, int)
    }  # fmt: skip
    return Names(
        departments={d.code: d.name for d in ref.departments},
        cases={c.id: c.number for c in s.scalars(select(Case).where(Case.id.in_(case_ids)))},
        submissions=dict(
            s.execute(
                select(Submission.id, Submission.source_ref).where(Submission.id.in_(sub_ids))
            ).all()
        ),
    )


@router.get("/cases/{case_id}", response_class=HTMLResponse)
async def case_page(request: Request, case_id: int) -> Response:
    who = await _who(request)
    if who is None:
        return _to_login(request)
    view = await run_in_threadpool(load_case, case_id)
    if view is None:
        return web_of(request).error(request, 404, _("案件不存在"), _("没有这个案件。"))
    problem = await run_in_threadpool(_resend_problem, request)
    return _page(request, who, "console/case.html", **view, **problem)


def _act(case_id: int, action: str, who: Who, form: FormData) -> tuple[str, list[int]]:
    """Run one action in one transaction; returns (notice key, handoff ids to send now)."""
    ctx = context()
    now = datetime.now(UTC)
    with Session() as s, s.begin():
        if action == "category":
            confirm_category(s, ctx, case_id, field_text(form, "category", 60), who.name)
            urgent = s.get(Case, case_id).priority == "urgent"
            return ("category_urgent" if urgent else "category"), []
        if action == "route":
            ids = reroute(
                s,
                ctx,
                case_id,
                field_text(form, "department", 40),
                field_text(form, "reason", 500),
                who.name,
                now,
            )
            return "route", ids
        if action == "merge":
            merge(s, case_id, field_text(form, "into", 40), who.name, now)
            return "merge", []
        if action == "split":
            sub_id = _int(field_text(form, "submission", 12))
            if sub_id is None:
                raise ActionError(_("请选择要拆分的留言"))
            split(s, case_id, sub_id, who.name, now)
            return "split", []
        if action == "extend":
            try:
                day = date.fromisoformat(field_text(form, "due", 10))
            except ValueError:
                raise ActionError(_("请填写新的办理时限（日期）")) from None
            ids = extend_deadline(
                s, ctx, case_id, day, field_text(form, "reason", 500), who.name, now,
                approver=field_text(form, "approver", 60),
            )  # fmt: skip
            return "extend", ids
        if action == "reopen":
            reopen(s, case_id, field_text(form, "reason", 500), who.name, now)
            return "reopen", []
    raise ActionError(_("未知操作"))


ACTIONS = ("category", "route", "merge", "split", "extend", "reopen")


@router.post("/cases/{case_id}/{action}", response_class=HTMLResponse)
async def case_action(request: Request, case_id: int, action: str) -> Response:
    who, form = await _posted(request)
    if who is None or not isinstance(form, FormData):
        return form if isinstance(form, Response) else _to_login(request)
    if action not in ACTIONS:
        return web_of(request).error(request, 404, _("未知操作"), _("没有这个操作。"))
    try:
        notice, to_send = await run_in_threadpool(_act, case_id, action, who, form)
    except ActionError as exc:
        return await _refused(request, who, form, case_id, str(exc))
    if notice == "category_urgent":  # 紧急件: assigned and sent now, not at the next run
        notice, to_send = await run_in_threadpool(_dispatch_urgent, case_id)
    if to_send:
        notice = await run_in_threadpool(_send_now, to_send, notice)
    back = _safe_next(field_text(form, "next", 300))
    back = back if back != "/console" else f"/console/cases/{case_id}"
    return RedirectResponse(f"{back}{'&' if '?' in back else '?'}ok={notice}", status_code=303)


async def _refused(
    request: Request, who: Who, form: FormData, case_id: int, refusal: str, status: int = 409
) -> Response:
    """A refused case action, shown where its form was — the review queue or the case page —
    with the refusal above it (409: nothing was changed), so the operator can choose again."""
    back = _safe_next(field_text(form, "next", 300))
    if back.split("?")[0] == "/console/review":
        return await _review_page(request, who, status, refusal=refusal)
    view = await run_in_threadpool(load_case, case_id)
    if view is None:
        return web_of(request).error(request, 404, _("案件不存在"), _("没有这个案件。"))
    return _page(request, who, "console/case.html", status, refusal=refusal, **view)


def _dispatch_urgent(case_id: int) -> tuple[str, list[int]]:
    """An urgent case whose category an operator has just confirmed (the duty alert asks for
    exactly that) is assigned at once, as the daytime intake does — at 02:00 too, when no
    run would take it before 08:00. Returns the notice and the messages to send now."""
    from tasks.dispatch import dispatch_now

    queued = dispatch_now(urgent_only=True)["handoff_ids"]
    with Session() as s:
        case = s.get(Case, case_id)
        assigned = case is not None and case.status is CaseStatus.ASSIGNED
    # (any other urgent case it found ready goes with it; no routing rule: back to review)
    return ("category_dispatched" if assigned else "category"), queued


def _send_now(ids: list[int], notice: str) -> str:
    from tasks.deliver import deliver_now

    try:
        result = deliver_now(ids=ids)
    except Exception:  # the messages stay queued for the night's delivery  # noqa: BLE001
        return f"{notice}_queued"
    if result["failed"] or result["dead"]:  # refused for good: it will not go by itself
        return f"{notice}_failed"
    return notice if result["sent"] == len(ids) else f"{notice}_queued"


@router.post("/handoffs/{handoff_id}/retry", response_class=HTMLResponse)
async def handoff_retry(request: Request, handoff_id: int) -> Response:
    who, form = await _posted(request)
    if who is None or not isinstance(form, FormData):
        return form if isinstance(form, Response) else _to_login(request)
    from tasks.handoffs import HandoffRefused, retry_now

    try:
        result = await run_in_threadpool(lambda: retry_now(ids=[handoff_id], operator=who.name))
    except HandoffRefused as exc:
        return await _handoff_refused(request, who, form, str(exc))
    if not result["selected"]:
        return await _handoff_refused(request, who, form, _("该消息已发送或正在发送，无需重发。"))
    (row,) = result["selected"]
    back = _safe_next(field_text(form, "next", 300))
    # tried, and not delivered: said as a problem above the list, not as done (the page the
    # redirect leads to words it from the message as it stands: `_resend_problem`)
    done = "ok=retry" if row["outcome"] == "sent" else f"{RESENT}={handoff_id}"
    return RedirectResponse(f"{back}{'&' if '?' in back else '?'}{done}", status_code=303)


RESENT = "resent"  # query parameter: the message a resend from this page did not get through


def _resend_problem(request: Request) -> dict[str, Any]:
    """After a console resend that did not get through (`?resent=<id>`, see handoff_retry):
    why, as the resend said it — `refusal` above the list — while the message is still
    undelivered; nothing once it has gone."""
    value = request.query_params.get(RESENT, "")
    if not value.isdigit() or len(value) > 12:
        return {}
    with Session() as s:
        h = s.get(Handoff, int(value))
        if h is None or h.status is HandoffStatus.SENT:
            return {}
        row = {"outcome": h.status.value, "new_error": h.last_error, "new_attempts": h.attempts}
    return {"refusal": resend_failure(row)}


@router.post("/handoffs/{handoff_id}/delivered", response_class=HTMLResponse)
async def handoff_delivered(request: Request, handoff_id: int) -> Response:
    """确认送达: the recipient says the message arrived; it counts as sent, never resent."""
    who, form = await _posted(request)
    if who is None or not isinstance(form, FormData):
        return form if isinstance(form, Response) else _to_login(request)
    from tasks.handoffs import HandoffRefused, confirm_delivered_now

    reason = field_text(form, "reason", 500)
    try:
        await run_in_threadpool(
            lambda: confirm_delivered_now(handoff_id, reason=reason, operator=who.name)
        )
    except HandoffRefused as exc:
        return await _handoff_refused(request, who, form, str(exc))
    back = _safe_next(field_text(form, "next", 300))
    return RedirectResponse(f"{back}{'&' if '?' in back else '?'}ok=delivered", status_code=303)


async def _handoff_refused(
    request: Request, who: Who, form: FormData, refusal: str, status: int = 409
) -> Response:
    """A refused resend or confirmation (409: nothing was changed), shown above the list it was
    asked from — the case page or the undelivered messages — as it is now."""
    back = _safe_next(field_text(form, "next", 300)).split("?")[0]
    if case := re.fullmatch(r"/console/cases/(\d+)", back):
        return await _refused(request, who, form, int(case.group(1)), refusal, status)
    rows = await run_in_threadpool(load_undelivered)
    return _page(request, who, "console/handoffs.html", status, rows=rows, refusal=refusal)


@router.get("/uploads/{upload_id}")
async def upload_file(request: Request, upload_id: int) -> Response:
    who = await _who(request)
    if who is None:
        return _to_login(request)

    def find() -> Upload | None:
        with Session() as s:
            return s.get(Upload, upload_id)

    upload = await run_in_threadpool(find)
    path = stored_path(web_of(request).settings, upload.stored_name) if upload else None
    if upload is None or path is None:
        return web_of(request).error(request, 404, _("文件不存在"), _("没有这个附件。"))
    return FileResponse(path, media_type=upload.content_type, filename=upload.original_name,
                        content_disposition_type="attachment")  # fmt: skip


# --- review queue, failed messages, figures ------------------------------------------------------


def load_review() -> list[Case]:
    """The review queue, urgent cases (紧急件) first."""
    urgent_first = when_then((Case.priority == "urgent", 0), else_=1)
    with Session() as s:
        return list(s.scalars(
            select(Case).where(Case.status == CaseStatus.NEEDS_REVIEW)
            .order_by(urgent_first, Case.id).limit(200)
        ))  # fmt: skip


URGENT_OPEN = (CaseStatus.NEW, CaseStatus.TRIAGED, CaseStatus.NEEDS_REVIEW, CaseStatus.ASSIGNED,
               CaseStatus.REOPENED)  # fmt: skip
URGENT_RECENT = timedelta(days=7)


def load_urgent(now: datetime) -> list[Any]:
    """紧急件 of the last week still waiting for an answer, shown above the case list: those
    waiting for a person first. (By creation time: an index, however many cases there are.)"""
    waiting_first = when_then((Case.status == CaseStatus.NEEDS_REVIEW, 0), else_=1)
    with Session() as s:
        return list(s.execute(
            _base_query(Filters(), now)
            .where(Case.created_at >= now - URGENT_RECENT, Case.priority == "urgent",
                   Case.status.in_(URGENT_OPEN))
            .order_by(waiting_first, Case.id.desc()).limit(PAGE)
        ).all())  # fmt: skip


def category_choices(ref: Any) -> dict[str, str]:
    """The categories to confirm, in config order: each name with what the clerk reads, a
    sub-category under its first-level category ("城乡建设 / 市政设施"), so the list and a
    suggestion read as one tree rather than a mix of levels."""
    return {
        c.name: c.name if c.name == c.top else f"{c.top} / {c.name}" for c in ref.flat_categories
    }


@router.get("/review", response_class=HTMLResponse)
async def review_queue(request: Request) -> Response:
    who = await _who(request)
    if who is None:
        return _to_login(request)
    return await _review_page(request, who)


async def _review_page(request: Request, who: Who, status: int = 200, **values: Any) -> Response:
    cases = await run_in_threadpool(load_review)
    ref = context().ref
    return _page(
        request,
        who,
        "console/review.html",
        status,
        cases=cases,
        categories=category_choices(ref),
        **values,
    )


def load_undelivered() -> list[dict[str, Any]]:
    from tasks.handoffs import list_handoffs

    return list_handoffs(limit=500)  # duty alerts and urgent cases' first, then the newest


REJECTIONS_SHOWN = 200


def load_rejections() -> dict[str, Any]:
    """The newest rejected rows and the files that could not be read, newest first."""
    with Session() as s:
        rows = s.scalars(
            select(Rejection).order_by(Rejection.id.desc()).limit(REJECTIONS_SHOWN)
        ).all()
        files = s.scalars(
            select(IngestedFile)
            .where(IngestedFile.status == "failed")
            .order_by(IngestedFile.id.desc())
            .limit(PAGE)
        ).all()
        return {"rejections": list(rows), "failed_files": list(files)}


@router.get("/rejections", response_class=HTMLResponse)
async def rejections(request: Request) -> Response:
    who = await _who(request)
    if who is None:
        return _to_login(request)
    return _page(
        request, who, "console/rejections.html", **await run_in_threadpool(load_rejections)
    )


@router.get("/handoffs", response_class=HTMLResponse)
async def failed_handoffs(request: Request) -> Response:
    who = await _who(request)
    if who is None:
        return _to_login(request)
    rows = await run_in_threadpool(load_undelivered)
    problem = await run_in_threadpool(_resend_problem, request)
    return _page(request, who, "console/handoffs.html", rows=rows, **problem)


def load_figures() -> dict[str, Any]:
    with Session() as s:
        by_status = dict(s.execute(select(Case.status, func.count()).group_by(Case.status)).all())
        superseded = select(Rating.supersedes_id).where(Rating.supersedes_id.is_not(None))
        current = s.execute(
            select(Rating.satisfaction, Rating.solved).where(Rating.id.not_in(superseded))
        ).all()
        failed = s.scalar(select(func.count()).select_from(Handoff)
                          .where(Handoff.status.in_([HandoffStatus.FAILED, HandoffStatus.DEAD])))  # fmt: skip
    rated = len(current)
    satisfied = sum(
        1 for sat, _ in current if sat in (Satisfaction.SATISFIED, Satisfaction.BASICALLY)
    )
    solved = sum(1 for _, ok in current if ok)
    return {
        "by_status": [(st, by_status.get(st, 0)) for st in CaseStatus],
        "total": sum(by_status.values()),
        "rated": rated,
        "satisfied_rate": f"{satisfied / rated:.0%}" if rated else "—",
        "solved_rate": f"{solved / rated:.0%}" if rated else "—",
        "failed": failed or 0,
    }


@router.get("/figures", response_class=HTMLResponse)
async def figures(request: Request) -> Response:
    who = await _who(request)
    if who is None:
        return _to_login(request)
    return _page(request, who, "console/figures.html", **await run_in_threadpool(load_figures))
