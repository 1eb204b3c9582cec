"""Sending handoffs: `Mailer.send(message) -> message_id`, and nothing else talks SMTP.

yagmail opens and authenticates the connection (plain, STARTTLS or SSL, login or none). The
MIME message is built here, not by yagmail's content magic: yagmail treats a content string
that names a file as an attachment, puts plain text unescaped into the HTML part and cannot
give a plain-text alternative that differs from the HTML. We render both bodies ourselves
(HTML autoescaped) and hand yagmail's connection the finished message.

Errors are classified for the outbox by the SMTP phase they happen in:

- before the server has the message (connect, greeting, MAIL, RCPT, the DATA command):
  connection problems, timeouts and 4xx replies are transient (retry later), 5xx replies are
  permanent (the server's reason is kept);
- a 4xx/5xx reply to the message itself is definite in the same way;
- a timeout or a dropped connection *after the message was handed over* is **uncertain**: the
  server may have queued it and only its "250" got lost (RFC 1047). Retrying would risk a
  second copy, so such a send is reported as `uncertain` and the outbox leaves it to an
  operator, like a crash in the same place.

That is why the DATA phase is spelled out here instead of calling `smtplib.sendmail`, which
cannot tell a timeout waiting for "354" (safe to retry) from one waiting for the final "250".
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import smtplib
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes
from email.message import Message
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, formataddr
from typing import Protocol
from urllib.parse import quote

import yagmail

from minqing.addresses import USABLE_ADDRESS
from minqing.settings import Settings
from minqing.workdays import LOCAL_TZ

_CRLF = "\r\n"
_UNSAFE_IN_HEADER = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)
_MIME_TYPE = re.compile(r"[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*")
_NEEDS_ENCODING = re.compile(r'["\\]')


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mime_type: str = "application/octet-stream"


@dataclass(frozen=True)
class OutgoingMessage:
    to: str
    subject: str
    text: str
    html: str
    message_id: str  # deterministic per handoff, e.g. <handoff-12.3f2a@minqing>
    to_name: str | None = None
    attachments: tuple[Attachment, ...] = field(default_factory=tuple)


# How the reason of a SendError starts when the message never reached the server's DATA
# (tasks/deliver.py sends those early once the server answers again).
CONNECTION_FAILED = "connection: "


class SendError(Exception):
    """A message was not accepted. `transient`: trying again later may work. `uncertain`: the
    server may have accepted it (the connection failed after the message was handed over)."""

    def __init__(
        self,
        reason: str,
        *,
        transient: bool,
        code: int | None = None,
        uncertain: bool = False,
        unreachable: bool = False,
    ) -> None:
        super().__init__(reason)
        self.transient = transient and not uncertain
        self.code = code
        self.uncertain = uncertain
        self.unreachable = unreachable  # no SMTP conversation at all: the server is down or cut off


class Mailer(Protocol):
    def send(self, message: OutgoingMessage) -> str: ...

    def close(self) -> None: ...


def _header_value(name: str, value: str) -> str:
    """Header values are one line: a CR/LF (or any control character) is refused, never
    folded into a second header (`Subject: x\\r\\nBcc: ...`)."""
    if _UNSAFE_IN_HEADER.search(value):
        raise ValueError(f"{name} contains a line break or control character: {value[:80]!r}")
    return value


def _address(name: str, display: str | None, addr: str) -> str:
    display = _header_value(name, display or "")
    if not USABLE_ADDRESS.fullmatch(addr):
        raise ValueError(f"{name}: not a usable e-mail address: {addr!r}")
    if not display:
        return addr
    if display.isascii():
        return formataddr((display, addr))
    return f"{_encoded_words(display)}{_CRLF} <{addr}>"


def _encoded_words(text: str) -> str:
    """RFC 2047 base64 encoded-words of at most 75 characters (45 UTF-8 bytes each, never
    splitting a character), one per folded header line."""
    words, chunk = [], b""
    for char in text:
        data = char.encode("utf-8")
        if len(chunk) + len(data) > 45:
            words.append(chunk)
            chunk = b""
        chunk += data
    words.append(chunk)
    encoded = (f"=?utf-8?b?{base64.b64encode(w).decode('ascii')}?=" for w in words)
    return f"{_CRLF} ".join(encoded)


def wire_bytes(message: OutgoingMessage, sender: str, sender_name: str) -> bytes:
    """The message as it goes over SMTP: multipart/alternative (text + HTML), inside
    multipart/mixed when there are attachments, every part base64, CRLF line ends.

    Written out directly rather than through the email package's generator, which folds every
    header through `email.header.Header` (≈0.5 ms of a ≈1.4 ms message; the result is parsed
    back by the tests with the email package). Raises SendError (permanent) when a header value
    would break the header block (see `_header_value`) or an address is unusable.
    """
    try:
        return _render(message, sender, sender_name)
    except (ValueError, UnicodeError) as exc:
        raise SendError(f"message cannot be built: {exc}", transient=False) from exc


def build_mime(message: OutgoingMessage, sender: str, sender_name: str) -> Message:
    """The message as an email.message.Message (for inspection; sending uses `wire_bytes`)."""
    return message_from_bytes(wire_bytes(message, sender, sender_name), policy=SMTP_POLICY)


def _render(message: OutgoingMessage, sender: str, sender_name: str) -> bytes:
    subject = _header_value("Subject", message.subject)
    # Fixed boundaries with "_", which base64 (every part here) can never produce.
    tag = hashlib.sha1(message.message_id.encode("utf-8")).hexdigest()[:16]
    alt, mix = f"=_minqing_alt_{tag}", f"=_minqing_mix_{tag}"
    head = [
        f"From: {_address('From', sender_name, sender)}",
        f"To: {_address('To', message.to_name, message.to)}",
        f"Subject: {subject if subject.isascii() else _encoded_words(subject)}",
        # The office's time (+0800), so a clerk's client that shows the raw header reads it.
        f"Date: {format_datetime(datetime.now(LOCAL_TZ))}",
        f"Message-ID: {_header_value('Message-ID', message.message_id)}",
        "MIME-Version: 1.0",
    ]
    body = [
        f'Content-Type: multipart/alternative; boundary="{alt}"',
        "",
        f"--{alt}",
        *_part_head("text/plain", None),
        _base64(message.text.encode("utf-8")),
        f"--{alt}",
        *_part_head("text/html", None),
        _base64(message.html.encode("utf-8")),
        f"--{alt}--",
    ]
    if message.attachments:
        body = [f'Content-Type: multipart/mixed; boundary="{mix}"', "", f"--{mix}", *body, ""]
        for att in message.attachments:
            body += [f"--{mix}", *_part_head(att.mime_type, att.filename), _base64(att.content)]
        body.append(f"--{mix}--")
    return _CRLF.join([*head, *body, ""]).encode("ascii")


def _part_head(mime_type: str, filename: str | None) -> list[str]:
    if not _MIME_TYPE.fullmatch(mime_type):
        mime_type = "application/octet-stream"
    charset = '; charset="utf-8"' if mime_type.startswith("text/") else ""
    lines = [f"Content-Type: {mime_type}{charset}", "Content-Transfer-Encoding: base64"]
    if filename is not None:
        name = _header_value("attachment filename", filename)
        if name.isascii() and not _NEEDS_ENCODING.search(name):
            lines.append(f'Content-Disposition: attachment; filename="{name}"')
        else:  # RFC 2231
            lines.append(
                f"Content-Disposition: attachment; filename*=utf-8''{quote(name, safe='')}"
            )
    return [*lines, ""]


def _base64(data: bytes) -> str:
    # 76-character lines; the last line break is the one before the next boundary.
    return base64.encodebytes(data).decode("ascii").replace("\n", _CRLF).removesuffix(_CRLF)


def _decoded(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


class SmtpMailer:
    """Sends through one SMTP connection, reconnecting after a failure."""

    def __init__(self, settings: Settings, sender: str, sender_name: str) -> None:
        self.sender = sender
        self.sender_name = sender_name
        if settings.mail_mode == "sink":
            host, port, security, user, password = (
                settings.sink_host,
                settings.sink_port,
                "none",
                None,
                None,
            )
        else:
            host = settings.smtp_host or ""
            security = settings.smtp_security
            port = settings.smtp_port or {"ssl": 465, "starttls": 587, "none": 25}[security]
            user = settings.smtp_user
            password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        self._client = yagmail.SMTP(
            user=user or sender,
            password=password,
            host=host,
            port=port,
            smtp_ssl=security == "ssl",
            smtp_starttls=security == "starttls",
            smtp_skip_login=user is None,
            timeout=settings.smtp_timeout,
        )
        self._connected = False

    def send(self, message: OutgoingMessage) -> str:
        payload = wire_bytes(message, self.sender, self.sender_name)
        handed_over = False
        connecting = not self._connected
        try:
            if connecting:
                self._client.login()
                self._connected = True
                connecting = False
            smtp = self._client.smtp
            smtp.ehlo_or_helo_if_needed()
            self._envelope(smtp, message.to)
            # From here on the server holds the message; only its final reply is missing.
            handed_over = True
            stuffed = _LEADING_DOT.sub(b"..", payload)
            smtp.send(stuffed + (b"" if stuffed.endswith(b"\r\n") else b"\r\n") + b".\r\n")
            code, reply = smtp.getreply()
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)
        except smtplib.SMTPResponseException as exc:
            self._drop_connection()
            raise SendError(
                f"{exc.smtp_code} {_decoded(exc.smtp_error)}",
                transient=exc.smtp_code < 500,
                code=exc.smtp_code,
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            self._drop_connection()
            code, reply = next(iter(exc.recipients.values()))
            raise SendError(f"{code} {_decoded(reply)}", transient=code < 500, code=code) from exc
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            self._drop_connection()
            if handed_over:
                raise SendError(
                    f"uncertain: the connection failed after the message was handed over "
                    f"({exc.__class__.__name__}: {exc}); the server may have accepted it",
                    transient=False,
                    uncertain=True,
                ) from exc
            raise SendError(
                f"{CONNECTION_FAILED}{exc.__class__.__name__}: {exc}",
                transient=True,
                unreachable=connecting,
            ) from exc
        return message.message_id

    def _envelope(self, smtp: smtplib.SMTP, to: str) -> None:
        """MAIL FROM, RCPT TO, DATA up to the server's "354"; raises on any refusal.

        With PIPELINING (RFC 2920) the three commands go in one write and the three replies are
        read after it: one round trip instead of three, per message.
        """
        commands = [
            f"MAIL FROM:<{self.sender}>",  # both checked by _ADDRESS in wire_bytes
            f"RCPT TO:<{to}>",
        ]
        if smtp.has_extn("pipelining"):
            smtp.send("".join(f"{c}\r\n" for c in [*commands, "DATA"]))
            mail, rcpt, data = smtp.getreply(), smtp.getreply(), smtp.getreply()
        else:
            mail = smtp.docmd(commands[0])
            rcpt = smtp.docmd(commands[1]) if mail[0] == 250 else (503, b"")
            data = smtp.docmd("DATA") if rcpt[0] in (250, 251) else (503, b"")
        if data[0] == 354 and (mail[0] != 250 or rcpt[0] not in (250, 251)):
            smtp.send(b".\r\n")  # a server that said 354 anyway gets an empty message ended
            smtp.getreply()
        if mail[0] != 250:
            raise smtplib.SMTPSenderRefused(mail[0], mail[1], self.sender)
        if rcpt[0] not in (250, 251):
            raise smtplib.SMTPRecipientsRefused({to: rcpt})
        if data[0] != 354:
            raise smtplib.SMTPDataError(*data)

    def _drop_connection(self) -> None:
        # Close the socket without QUIT: after a timeout, QUIT would wait the timeout again.
        if self._connected:
            with contextlib.suppress(Exception):  # the connection is already broken
                self._client.smtp.close()
        self._connected = False

    def close(self) -> None:
        if self._connected:
            with contextlib.suppress(Exception):
                self._client.smtp.quit()
        self._drop_connection()


class DryRunMailer:
    """Renders and records, sends nothing: for operators checking what a run would send."""

    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []

    def send(self, message: OutgoingMessage) -> str:
        wire_bytes(message, "dry-run@localhost", "dry run")  # the same header checks as real
        self.sent.append(message)
        return message.message_id

    def close(self) -> None:
        pass


def make_mailer(settings: Settings, sender: str, sender_name: str) -> Mailer:
    if settings.mail_mode == "dry-run":
        return DryRunMailer()
    return SmtpMailer(settings, sender, sender_name)
