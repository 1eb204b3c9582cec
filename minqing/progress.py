"""查询办理进度: what a citizen may learn about their own matter, and how they prove it is theirs.

A citizen gives the receipt number of what they submitted (the QR form's 留言编号, a 12345
ticket number, or the case number from a message) and the last four digits of the phone they
gave. The answer says where the matter stands in plain words, which department handles it, by
when, and what the department answered — never a name, a phone number or anybody's own words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from minqing.i18n import N_, _, label
from minqing.normalize import normalize_phone, normalize_text, redact
from minqing.states import CaseStatus

RECEIPT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-:.]{2,59}$")
LAST_FOUR = re.compile(r"^\d{4}$")

# What each case status means to the citizen who raised it (办理进度, in the office's words).
PROGRESS_LABELS = {
    CaseStatus.NEW: N_("已登记，正在整理"),
    CaseStatus.TRIAGED: N_("已登记，正在整理"),
    CaseStatus.NEEDS_REVIEW: N_("已登记，工作人员正在核对分类"),
    CaseStatus.ASSIGNED: N_("已交办，承办单位正在办理"),
    CaseStatus.REOPENED: N_("重新交办，承办单位正在重新办理"),
    CaseStatus.REPLIED: N_("承办单位已答复，等待回访和回头看"),
    CaseStatus.VERIFIED: N_("已答复，人大代表已回头看核实"),
    CaseStatus.RATED: N_("已答复，已回访评价"),
    CaseStatus.CLOSED: N_("已办结"),
    CaseStatus.MERGED: N_("已与反映同一问题的案件合并办理"),
}
ASSIGNED_STATUSES = {CaseStatus.ASSIGNED, CaseStatus.REOPENED, CaseStatus.REPLIED,
                     CaseStatus.VERIFIED, CaseStatus.RATED, CaseStatus.CLOSED}  # fmt: skip


def clean_receipt(text: str) -> str | None:
    """The receipt number as typed (spaces and full-width characters tolerated), or None when it
    cannot be one."""
    value = normalize_text(text or "").replace(" ", "")
    return value if RECEIPT.match(value) else None


QR_RECEIPT = re.compile(r"^(QR)(\d{8}-)([0-9A-F]{12})$", re.IGNORECASE)


def receipt_forms(receipt: str) -> tuple[str, ...]:
    """The stored spellings a receipt typed in any case may have. Phone keyboards capitalise
    (or not) on their own: the QR form's 留言编号 is stored as ``QR20261208-1e91a15a53b7``
    (capital prefix, lowercase hex), a 12345 ticket in whatever case the hotline's export used
    (``gd202611230040`` or ``GD201``). Comparing with these few spellings keeps the lookup an
    indexed ``IN`` on submissions.source_ref, on SQLite and PostgreSQL alike."""
    m = QR_RECEIPT.match(receipt)
    if m:  # the form's own pattern: one stored spelling
        return (f"QR{m.group(2)}{m.group(3).lower()}",)
    forms = [receipt, receipt.lower(), receipt.upper()]
    prefix = re.match(r"^[A-Za-z]+", receipt)
    if prefix:  # a letter prefix in capitals, the rest in lowercase (Reg-2026-abc…)
        forms.append(prefix.group(0).upper() + receipt[prefix.end() :].lower())
    return tuple(dict.fromkeys(forms))


def clean_last_four(text: str) -> str | None:
    value = normalize_text(text or "").replace(" ", "")
    return value if LAST_FOUR.match(value) else None


def phone_ends_with(phone: str | None, last_four: str) -> bool:
    digits = normalize_phone(phone)
    return bool(digits) and len(digits or "") >= 7 and (digits or "").endswith(last_four)


def public_text(text: str) -> str:
    """A department's reply as a citizen may read it: mobile numbers, ID numbers and e-mail
    addresses taken out; numbers with an area code stay — a reply's 咨询电话 0731-… is the
    office's own, for the citizen to call. Every place that shows a reply to a citizen uses
    it: this page, the survey e-mail (tasks/surveys.py) and the rating page (web/links.py).
    The markers are in the reader's language: unlike intake's, they are written when the
    reply is shown."""
    return redact(
        text,
        phone_mark=_("[电话已隐去]"),
        id_mark=_("[身份证号已隐去]"),
        email_mark=_("[邮箱已隐去]"),
        landlines=False,
    ).text


@dataclass(frozen=True)
class Progress:
    """What the progress page shows: no person, no submitted text."""

    case_number: str
    status: CaseStatus
    department: str | None
    due_at: datetime | None
    reply_outcome: str | None = None  # an Outcome value
    reply_at: datetime | None = None
    reply_text: str | None = None

    @property
    def status_text(self) -> str:
        return label(PROGRESS_LABELS, self.status)

    @property
    def handled_by(self) -> str:
        if self.department and self.status in ASSIGNED_STATUSES:
            return self.department
        return _("尚未交办")
