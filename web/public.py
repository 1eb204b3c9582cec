"""扫码留言 QR intake: the short form behind each station's QR code (/s/<station-code>).

A submission is appended to the day's spool file in the qrform channel's schema (see
web/spool.py for why not straight into the inbox), so the intake takes it like any other
channel file: same parser, same redaction, same rejections and figures. The form carries a
random id: a double-click or a reload stores it once (its source_key is the id). Pressing Back
re-renders the form with a new id while the browser puts back what was typed, so the web app
also remembers each answer (db.models.FormReceipt): the same message from the same browser
sent again gets its first 留言编号 and is not spooled again. Each new
submission is announced to the Prefect server (web/events.py), which starts the daytime
intake: an urgent one is dispatched within minutes instead of at night.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import unicodedata
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from db.engine import Session
from db.models import FormReceipt
from minqing.channels.base import check_text
from minqing.i18n import N_, _, label
from minqing.reference import Station
from minqing.urgency import assess
from web import spool
from web.common import client_ip, field_text, now_utc, web_of
from web.events import announce_submission
from web.security import CSRF_COOKIE

log = logging.getLogger(__name__)
router = APIRouter()

KIND_LABELS = {"家": N_("人大代表之家"), "站": N_("人大代表联络站"), "点": N_("代表联系点")}
FORM_ID = re.compile(r"^QR\d{8}-[0-9a-f]{12}$")
# What a citizen gives as a phone (spaces and hyphens tolerated, full-width digits too): an
# 11-digit mobile starting with 1 (+86 allowed), or a landline with its area code — 0 and two
# or three digits, an optional hyphen (or brackets), then 7 or 8 digits.
MOBILE = re.compile(r"^(?:\+?86)?1\d{10}$")
LANDLINE = re.compile(r"^(?:0\d{2,3}|\(0\d{2,3}\))-?[1-9]\d{6,7}$")
EMAIL = re.compile(r"^[^@\s<>\"']{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,24}$")
AGAIN = timedelta(days=1)  # the same message from the same browser within a day: sent again
LIMITS = {"content": 5000, "name": 40, "phone": 20, "email": 120}


def phone_ok(text: str) -> bool:
    compact = re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", text))
    if MOBILE.match(compact):
        return True
    # the one hyphen a landline may have is between area code and number: test it as typed
    typed = re.sub(r"\s", "", unicodedata.normalize("NFKC", text))
    return bool(LANDLINE.match(typed) or LANDLINE.match(compact))


def new_form_id() -> str:
    return f"QR{now_utc().astimezone(spool.LOCAL):%Y%m%d}-{secrets.token_hex(6)}"


def _station(request: Request, code: str) -> Station | None:
    return web_of(request).ref.station_by_code.get(code)


def _form_page(
    request: Request, station: Station, status: int = 200, **values: Any
) -> HTMLResponse:
    web = web_of(request)
    ref = web.ref
    area = ref.area_by_name.get(station.area)
    defaults = {
        "content": "",
        "name": "",
        "phone": "",
        "email": "",
        "area": area.name if area else "",
        "consent": False,
        "form_id": new_form_id(),
    }
    return web.public_page(
        request,
        "qr_form.html",
        status,
        station=station,
        kind=label(KIND_LABELS, station.kind),
        areas=[a.name for a in ref.areas],
        values={**defaults, **values.pop("values", {})},
        errors=values.pop("errors", {}),
        limits=LIMITS,
        **values,
    )


@router.get("/s/{code}", response_class=HTMLResponse)
def qr_form(request: Request, code: str) -> HTMLResponse:
    station = _station(request, code)
    if station is None:
        return web_of(request).error(
            request, 404, _("未找到该站点"), _("二维码对应的站点不存在或已停用，请联系工作人员。")
        )
    return _form_page(request, station)


@router.post("/s/{code}", response_class=HTMLResponse)
async def qr_submit(request: Request, code: str) -> HTMLResponse:
    web = web_of(request)
    station = _station(request, code)
    if station is None:
        return web.error(
            request, 404, _("未找到该站点"), _("二维码对应的站点不存在或已停用，请联系工作人员。")
        )
    if not web.public_limiter.allow(f"qr:{client_ip(request)}"):
        return web.error(
            request, 429, _("提交过于频繁"), _("您提交得太快了，这次的内容未收到，请稍后再提交。")
        )
    form = await request.form(max_files=0, max_fields=20)
    if not web.public_csrf_ok(request, form):
        return web.error(
            request, 403, _("页面已失效"), _("表单已过期或来源不明，请重新扫码或刷新页面后再提交。")
        )
    values = {
        name: field_text(form, name, limit, multiline=name == "content")
        for name, limit in LIMITS.items()
    }
    values["area"] = field_text(form, "area", 60)
    values["consent"] = form.get("consent") == "yes"
    form_id = field_text(form, "form_id", 40)
    values["form_id"] = form_id if FORM_ID.match(form_id) else new_form_id()
    errors = _check(values, web.ref.area_by_name)
    if errors:
        return _form_page(request, station, 400, values=values, errors=errors)
    key = content_key(web.secret, request.cookies.get(CSRF_COOKIE) or "", station.code, values)
    now = now_utc()
    first = await run_in_threadpool(earlier_receipt, values["form_id"], key, now)
    if first is not None:  # sent again (Back, then 提交): the first answer, nothing recorded
        return _thanks(request, station, first.form_id, first.with_phone, first.urgent, True)
    record = {
        "id": values["form_id"],
        "station": station.code,
        "submitted_at": now.isoformat(),
        "content": values["content"],
        "content_format": "plain",  # a textarea: "<b>" typed here is text, not markup
        "title": "",
        "name": values["name"] or None,
        "phone": values["phone"] or None,
        "email": values["email"].lower() or None,
        "area": values["area"] or None,
        "consent": values["consent"],
    }
    await web.spool.append(record, now)
    area = web.ref.area_by_name.get(values["area"] or station.area)
    # 紧急件 from the words alone (the category comes at triage); the event starts the intake.
    urgency = assess(
        values["content"],
        web.ref.policy.urgent,
        areas=(area.name, area.code, *area.aliases) if area else (),
    )
    await run_in_threadpool(
        remember_receipt,
        FormReceipt(form_id=values["form_id"], content_key=key, station=station.code,
                    with_phone=bool(values["phone"]), urgent=urgency.urgent, created_at=now),
    )  # fmt: skip
    response = _thanks(
        request, station, values["form_id"], bool(values["phone"]), urgency.urgent, False
    )
    response.background = BackgroundTask(
        announce_submission, values["form_id"], station.code, area.name if area else None, urgency
    )
    return response


def _thanks(
    request: Request, station: Station, receipt: str, with_phone: bool, urgent: bool, again: bool
) -> HTMLResponse:
    web = web_of(request)
    return web.render(request, "qr_thanks.html", station=station, receipt=receipt,
                      with_phone=with_phone, urgent=urgent, again=again,
                      dispatch_all=web.ref.policy.daytime.dispatch_all)  # fmt: skip


def content_key(secret: str, browser: str, station: str, values: dict[str, Any]) -> str:
    """What was sent, from which browser (its CSRF cookie), to which station: a keyed hash, so
    the table keeps nothing a reader could use. Two citizens sending the same words from two
    phones are two submissions; one citizen sending them twice is one."""
    sent = [browser, station, *(str(values[f]) for f in ("content", "area", "name", "phone",
                                                          "email", "consent"))]  # fmt: skip
    message = json.dumps(sent, ensure_ascii=False).encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def earlier_receipt(form_id: str, key: str, now: datetime) -> FormReceipt | None:
    """The answer already given to this rendered form, or to the same message from the same
    browser within the last day. None too when the database cannot be reached: the form takes
    the message into its spool all the same (the night merges a duplicate into its case)."""
    try:
        return _earlier_receipt(form_id, key, now)
    except SQLAlchemyError:
        log.warning("form receipts unavailable; the submission is spooled without the check")
        return None


def _earlier_receipt(form_id: str, key: str, now: datetime) -> FormReceipt | None:
    with Session() as s:
        return s.scalars(
            select(FormReceipt)
            .where(
                or_(
                    FormReceipt.form_id == form_id,
                    and_(FormReceipt.content_key == key, FormReceipt.created_at >= now - AGAIN),
                )
            )
            .order_by(FormReceipt.id)
        ).first()


def remember_receipt(row: FormReceipt) -> None:
    try:
        with Session() as s, s.begin():
            s.add(row)
    except IntegrityError:  # a double click's twin was first; the spool keeps one (same id)
        pass
    except SQLAlchemyError:  # the database is down: the message is in the spool already
        log.warning("form receipt %s not recorded: database unavailable", row.form_id)


def _check(values: dict[str, Any], areas: dict[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for name, limit in LIMITS.items():
        if len(values[name]) > limit:
            errors[name] = _("不能超过 %(limit)d 个字") % {"limit": limit}
    if "content" not in errors and check_text(values["content"]):
        errors["content"] = _("请填写您要反映的问题")
    if values["phone"] and not phone_ok(values["phone"]):
        errors["phone"] = _("请填写 11 位手机号或带区号的座机号（如 0731-12345678）")
    if values["email"] and not EMAIL.match(values["email"]):
        errors["email"] = _("邮箱格式不对")
    if values["area"] and values["area"] not in areas:
        errors["area"] = _("请从列表中选择社区")
    if values["consent"] and not (values["phone"] or values["email"]):
        errors["phone"] = _("如需回访，请留下电话或邮箱")
    return errors
