"""查询办理进度 (/progress): a citizen's receipt number and the last four digits of their phone
→ where their matter stands (minqing/progress.py decides what may be shown). The link in a
rating e-mail opens the same view for its case (/p/<token>/progress).

Every wrong, unknown or not-yet-registered combination gets the same answer, and attempts are
counted per client address and per receipt number (web.security.SharedLimits), so the page
cannot be used to find out which numbers exist or to guess the digits.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from db.engine import Session
from db.models import Case, Department, Person, Reply, Submission, case_id_from_number
from minqing.i18n import _
from minqing.progress import (
    Progress,
    clean_last_four,
    clean_receipt,
    phone_ends_with,
    public_text,
    receipt_forms,
)
from minqing.states import CaseStatus
from web.common import client_ip, field_text, web_of
from web.tokens import LinkError, Role, read_token

log = logging.getLogger(__name__)
router = APIRouter()


def _lookup_hint() -> str:
    """Under a lookup's error: a lookup submits nothing, so it can change nothing."""
    return _("查询不影响您的留言，留言照常办理。")


REPLIED = (CaseStatus.REPLIED, CaseStatus.VERIFIED, CaseStatus.RATED, CaseStatus.CLOSED)


def _live(s: Any, case: Case | None) -> Case | None:
    """The case that handles the matter now: a merged case's target (merges can chain)."""
    for _hop in range(20):
        if case is None or case.merged_into_id is None:
            return case
        case = s.get(Case, case.merged_into_id)
    return case


def find_case(receipt: str, last_four: str) -> int | None:
    """The case of a submission with this receipt number (or of the case with this number)
    whose citizen gave a phone ending in `last_four`; None otherwise, whatever the reason."""
    with Session() as s:
        query = select(Submission.case_id, Person.phone).join(
            Person, Person.id == Submission.person_id
        )
        number = case_id_from_number(receipt)
        if number is not None:
            case = _live(s, s.get(Case, number))
            if case is None:
                return None
            query = query.where(Submission.case_id == case.id)
        else:
            query = query.where(Submission.source_ref.in_(receipt_forms(receipt)))
        for case_id, phone in s.execute(query.limit(500)):
            if case_id is not None and phone_ends_with(phone, last_four):
                return int(case_id)
    return None


def load_progress(case_id: int) -> Progress | None:
    with Session() as s:
        case = _live(s, s.get(Case, case_id))
        if case is None:
            return None
        department = s.scalar(
            select(Department.name).where(Department.code == case.lead_department)
        )
        reply = None
        if case.status in REPLIED:
            this_round = select(Reply).where(Reply.case_id == case.id)
            if case.assigned_at is not None:  # a reopened case's earlier answer is not its answer
                this_round = this_round.where(Reply.received_at >= case.assigned_at)
            reply = s.scalars(
                this_round.order_by(Reply.received_at.desc(), Reply.id.desc())
            ).first()
        # The case's own outcome is the answer only of a case answered (or closed) in this
        # round: a reopened case — back after 不满意 / 未办成 or a failed 回头看, or assigned
        # again — keeps its last round's outcome and deadline, which are not its answer now.
        # Until the next night assigns it again it has no deadline of its own.
        outcome = None
        if case.status in REPLIED and case.outcome is not None:
            outcome = case.outcome.value
        return Progress(
            case_number=case.number,
            status=case.status,
            department=department,
            due_at=case.due_at if case.status is CaseStatus.ASSIGNED else None,
            reply_outcome=(reply.outcome.value if reply else outcome),
            reply_at=reply.received_at if reply else None,
            reply_text=public_text(reply.text) if reply else None,
        )  # fmt: skip


def _form(request: Request, status: int = 200, **values: Any) -> HTMLResponse:
    return web_of(request).public_page(
        request, "progress.html", status, **{"progress": None, "receipt": "", "problem": "",
                                             "by_link": False, **values},
    )  # fmt: skip


@router.get("/progress", response_class=HTMLResponse)
def progress_form(request: Request) -> HTMLResponse:
    return _form(request, receipt=clean_receipt(request.query_params.get("receipt", "")) or "")


@router.post("/progress", response_class=HTMLResponse)
async def progress_lookup(request: Request) -> HTMLResponse:
    web = web_of(request)
    form = await request.form(max_files=0, max_fields=10)
    typed = field_text(form, "receipt", 60)[:60]
    if not web.public_csrf_ok(request, form):
        return web.error(
            request, 403, _("页面已失效"), _("页面已过期，请刷新后重新查询。"), _lookup_hint()
        )
    receipt = clean_receipt(typed)
    last_four = clean_last_four(field_text(form, "phone4", 10))
    if not _allowed(request, receipt):
        return web.error(
            request,
            429,
            _("查询过于频繁"),
            _("查询次数太多，请过一段时间再试，或联系工作人员。"),
            _lookup_hint(),
        )
    if receipt is None or last_four is None:
        problem = _("请填写留言编号（或工单号、案件编号）和联系电话的后四位数字。")
        return _form(request, 400, receipt=typed, problem=problem)
    case_id = await run_in_threadpool(find_case, receipt, last_four)
    progress = await run_in_threadpool(load_progress, case_id) if case_id is not None else None
    if progress is None:
        # The same words for an unknown number, wrong digits and a message not yet registered.
        problem = _(
            "没有查到与留言编号和电话后四位都相符的记录。留言整理登记后才能查询，最迟在提交后的第二天；"
            "请核对后重试。提交时没有留电话的，请联系工作人员查询。"
        )
        return _form(request, receipt=typed, problem=problem)
    return _form(request, receipt=typed, progress=progress)


def _allowed(request: Request, receipt: str | None) -> bool:
    limits = web_of(request).progress_limits
    try:
        by_ip = limits.allow("ip", client_ip(request))
        return by_ip and limits.allow("receipt", (receipt or "").lower())
    except Exception:  # the shared counter store is down: refuse rather than allow guessing  # noqa: BLE001
        log.exception("rate limit storage unavailable: progress lookup refused")
        return False


@router.get("/p/{token}/progress", response_class=HTMLResponse)
async def progress_by_link(request: Request, token: str) -> HTMLResponse:
    """The rating e-mail's link proves the case is the citizen's: no number or digits needed."""
    web = web_of(request)
    try:
        grant = read_token(web.settings, Role.RATE, token)
    except LinkError:
        return web.error(
            request,
            403,
            _("链接无效"),
            _("这个链接无效或已过期，请用留言编号查询。"),
            _lookup_hint(),
        )
    progress = await run_in_threadpool(load_progress, grant.case_id)
    if progress is None:
        return web.error(request, 404, _("未找到"), _("没有查到这件事的办理记录。"), _lookup_hint())
    return _form(request, progress=progress, by_link=True)
