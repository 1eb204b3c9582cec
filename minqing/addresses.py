"""E-mail addresses: what a message can be sent to, and what is wrong with one an office wrote
(in its words) — one definition for the config loader and the mailer, so an address that passes
`minqing check-config` is one every message can carry."""

from __future__ import annotations

import re

from minqing.i18n import _

# The local part: ASCII letters, digits and the RFC 5322 atom symbols (no spaces, brackets,
# quotes or commas, nothing full-width).
_LOCAL = r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+"
# What the mailer puts in a To/From header (a safety net: no header can be broken by it).
USABLE_ADDRESS = re.compile(rf"{_LOCAL}@[A-Za-z0-9.-]+")
# What an office may write in config: the same, with a domain of dot-separated labels
# (banli@zhujian.example.gov.cn).
OFFICE_ADDRESS = re.compile(rf"{_LOCAL}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_LOCAL_CHAR = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~@-]")


def address_problem(value: str) -> str | None:
    """What is wrong with an address as written, in the office's words (naming the character
    that does not belong: a full-width comma, a trailing “。”), or None when it is usable."""
    if "＠" in value:
        return _("“%(value)s”中有全角“＠”，邮箱地址需要半角“@”") % {"value": value}
    if OFFICE_ADDRESS.fullmatch(value):
        return None
    for i, char in enumerate(value):
        if _LOCAL_CHAR.fullmatch(char):
            continue
        if char.isspace():
            break  # said by the general sentence below, as before
        where = (_("末尾多了“%(char)s”") if i == len(value) - 1 else _("中有“%(char)s”")) % {
            "char": char
        }
        return _(
            "“%(value)s”%(where)s，邮箱地址只能用半角英文字母、数字和符号"
            "（应如 banli@zhujian.example.gov.cn）"
        ) % {"value": value, "where": where}
    return _("“%(value)s”不是有效的邮箱地址（应如 banli@zhujian.example.gov.cn）") % {
        "value": value
    }
