"""Sending handoffs: `Mailer.send(message) -> message_id`, and nothing else talks SMTP.

yagmail opens and authenticates the connection (plain, STARTTLS or SSL, login or none). The
MIME message is built here, not by yagmail's content magic: yagmail treats a content string
that names a file as an attachment, puts plain text unescaped into the HTML part and cannot
give a plain-text alternative that differs from the HTML. We render both bodies ourselves
(HTML autoescaped) and hand yagmail's connection the finished message.

Errors are classified for the outbox: connection problems, timeouts and 4xx replies are
transient (retry later), 5xx replies are permanent (the server's reason is kept).
"""

from __future__ import annotations

import contextlib
import smtplib
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate
from typing import Protocol

import yagmail

from minqing.settings import Settings


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


class SendError(Exception):
    """A message was not accepted. `transient` says whether trying again later may work."""

    def __init__(self, reason: str, *, transient: bool, code: int | None = None) -> None:
        super().__init__(reason)
        self.transient = transient
        self.code = code


class Mailer(Protocol):
    def send(self, message: OutgoingMessage) -> str: ...

    def close(self) -> None: ...


def build_mime(message: OutgoingMessage, sender: str, sender_name: str) -> EmailMessage:
    """multipart/alternative (text + HTML) plus attachments; headers refuse line breaks."""
    mime = EmailMessage()
    mime["From"] = Address(display_name=sender_name, addr_spec=sender)
    mime["To"] = Address(display_name=message.to_name or "", addr_spec=message.to)
    mime["Subject"] = message.subject
    mime["Date"] = formatdate(localtime=False)
    mime["Message-ID"] = message.message_id
    # base64 keeps every line short: long Chinese lines in 8bit break the 998-byte SMTP limit.
    mime.set_content(message.text, subtype="plain", charset="utf-8", cte="base64")
    mime.add_alternative(message.html, subtype="html", charset="utf-8", cte="base64")
    for att in message.attachments:
        maintype, _, subtype = att.mime_type.partition("/")
        mime.add_attachment(att.content, maintype=maintype, subtype=subtype, filename=att.filename)
    return mime


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
        mime = build_mime(message, self.sender, self.sender_name)
        try:
            if not self._connected:
                self._client.login()
                self._connected = True
            # CRLF line ends: smtplib sends bytes as they are, and servers count a bare-LF body as one line.
            refused = self._client.smtp.sendmail(
                self.sender, [message.to], mime.as_bytes(policy=SMTP_POLICY)
            )
        except smtplib.SMTPResponseException as exc:
            self._drop_connection()
            reason = (
                exc.smtp_error.decode("utf-8", "replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            raise SendError(
                f"{exc.smtp_code} {reason}", transient=exc.smtp_code < 500, code=exc.smtp_code
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            self._drop_connection()
            code, reason = next(iter(exc.recipients.values()))
            text = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
            raise SendError(f"{code} {text}", transient=code < 500, code=code) from exc
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            self._drop_connection()
            raise SendError(f"connection: {exc.__class__.__name__}: {exc}", transient=True) from exc
        if refused:
            code, reason = next(iter(refused.values()))
            raise SendError(f"{code} {reason!r}", transient=code < 500, code=code)
        return message.message_id

    def _drop_connection(self) -> None:
        if self._connected:
            with contextlib.suppress(Exception):  # the connection is already broken
                self._client.close()
        self._connected = False

    def close(self) -> None:
        self._drop_connection()


class DryRunMailer:
    """Renders and records, sends nothing: for operators checking what a run would send."""

    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []

    def send(self, message: OutgoingMessage) -> str:
        build_mime(message, "dry-run@localhost", "dry run")  # the same header checks as real
        self.sent.append(message)
        return message.message_id

    def close(self) -> None:
        pass


def make_mailer(settings: Settings, sender: str, sender_name: str) -> Mailer:
    if settings.mail_mode == "dry-run":
        return DryRunMailer()
    return SmtpMailer(settings, sender, sender_name)
