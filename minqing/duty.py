"""Duty alerts (值班提醒): the words and the wire formats of a message to the office's duty
contacts — the text, a 企业微信 / 钉钉 group robot's JSON body, 钉钉's signed URL (加签), and the
generic webhook's body. Sending is tasks/duty.py's job."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import quote_plus

from minqing.i18n import _

# What a robot accepts in one text message (企业微信: 2048 bytes of UTF-8; 钉钉: about 20,000
# characters). Chinese is 3 bytes a character, so cut at characters that stay under the bytes.
ROBOT_MAX_BYTES = 2000


def alert_text(title: str, text: str, link: str | None = None, office: str | None = None) -> str:
    """One message for the operator: what went wrong, then where to fix it."""
    head = _("【%(office)s·民情直通车】") % {"office": office} if office else _("【民情直通车】")
    lines = [f"{head}{title}", text.strip()]
    if link:
        lines.append(_("查看与处理：%(link)s") % {"link": link})
    return "\n".join(line for line in lines if line)


def fit_bytes(text: str, limit: int = ROBOT_MAX_BYTES, *, keep: str = "") -> str:
    """`text` cut (with "…") so that its UTF-8 encoding stays within `limit` bytes; when it
    ends with the line `keep` (where to act), that line stays and the text before it is cut."""
    if len(text.encode("utf-8")) <= limit:
        return text
    if keep and text.endswith("\n" + keep):
        tail = "\n" + keep
        return fit_bytes(text[: -len(tail)], limit - len(tail.encode("utf-8"))) + tail
    cut = text.encode("utf-8")[: limit - 3].decode("utf-8", errors="ignore")
    return cut + "…"


def robot_body(
    kind: str, content: str, *, title: str = "", link: str | None = None, keyword: str | None = None
) -> dict[str, Any]:
    """The JSON a robot of `kind` takes: 企业微信 and 钉钉 both read
    `{"msgtype": "text", "text": {"content": …}}`; a 钉钉 robot that checks a keyword drops a
    message without it, so the keyword leads. A generic webhook gets title, text and link."""
    if kind == "webhook":
        return {"title": title, "text": content, "link": link, "source": "minqing"}
    if keyword and keyword not in content:
        content = f"{keyword} {content}"
    last = content.rpartition("\n")[2]  # alert_text's 查看与处理 line: kept when cut
    keep = last if link and link in last else ""
    return {"msgtype": "text", "text": {"content": fit_bytes(content, keep=keep)}}


def dingtalk_signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    """钉钉 加签: the URL with `timestamp` and `sign` = base64(HMAC-SHA256(secret,
    "<timestamp>\\n<secret>")), URL-encoded. The robot refuses a timestamp an hour off."""
    digest = hmac.new(
        secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    sign = quote_plus(base64.b64encode(digest).decode("ascii"))
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}timestamp={timestamp_ms}&sign={sign}"


def alert_key(kind: str, title: str, text: str, link: str | None) -> str:
    """The same alert (kind, words, link) is queued to a mailbox once, however often it is
    raised (a retried run, an automation firing twice)."""
    digest = hashlib.sha256("\x1f".join((kind, title, text, link or "")).encode("utf-8"))
    return f"duty:{kind}:{digest.hexdigest()[:32]}"
