"""E-mail (来信): .eml files, mbox files and maildir folders (stdlib `mailbox`), and an IMAP
mailbox fetched into the inbox as .eml files (`fetch_imap`).

One message is one opinion: the subject is the title, the body (plain text preferred, HTML
stripped) the text, the sender the contact; the Message-ID is the key, so a message fetched
twice or present in two mbox exports is one Submission. Auto-replies and bounces are rejected.
A message that may answer one of minqing's own (In-Reply-To / References, or a case number in
a subject that starts 回复/答复/Re:/转发…) carries a `MailAnswer`: intake opens no case for it
when it answers an assignment or a survey (tasks/mail_answers.py).

Options (config/channels.yaml `channels.email`):
  recorded_by: who this mailbox belongs to (default: the first To address)
  area:        default area
  imap:        {host, port, user, folder, move_to, ssl, starttls, limit}; the password comes
               from the environment (MINQING_IMAP_PASSWORD), never from a file
"""

from __future__ import annotations

import codecs
import hashlib
import mailbox
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path
from typing import Any

from minqing.channels.base import (
    LOCAL_TZ,
    ChannelParser,
    check_text,
    file_time,
    make_source_key,
    register,
    safe_excerpt,
    text_digest,
    text_flags,
)
from minqing.normalize import strip_html
from minqing.reasons import Reason, reason
from minqing.records import Contact, Item, MailAnswer, Rejected, UnreadableFile

CHANNEL = "email"
_PARSER = BytesParser(policy=policy.default)
# Chinese mail often declares gb2312 but uses GBK characters; GB18030 is a superset of both.
_CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "hz-gb-2312": "hz",
    "unknown-8bit": "utf-8",
    "us-ascii": "utf-8",
}
_QUOTE_START = re.compile(
    r"^\s*(?:-{2,}\s*(?:原始邮件|Original Message|转发邮件|Forwarded message)\s*-{2,}"
    r"|(?:在|On)\s.{0,200}(?:写道|wrote)\s*[:：]?"
    r"|发件人\s*[:：].*|From:\s.*<[^>]+>\s*)$",
    re.IGNORECASE,
)
_AUTOMATIC_SENDER = re.compile(
    r"^(mailer-daemon|postmaster|no-?reply|noreply|bounce)", re.IGNORECASE
)
# A reply's or a forward's subject, as Chinese and other mail clients write it.
_ANSWER_SUBJECT = re.compile(
    r"^\s*(?:回复|答复|回覆|转发|re|fwd?|aw|sv)\s*(?:\[\d+\])?\s*[:：]", re.IGNORECASE
)
_CASE_NUMBER = re.compile(r"MQ\d{4}-\d{6,}", re.IGNORECASE)
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_TABLE_SUFFIXES = (".csv", ".xlsx")
_TABLE_TYPES = (
    "text/csv",
    "application/csv",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
)
MAX_TABLE_BYTES = 5 * 2**20


# --- one message → Item | Rejected ------------------------------------------------------


def parse_message(data: bytes) -> EmailMessage:
    return _PARSER.parsebytes(data)  # type: ignore[return-value]


def message_to_item(
    msg: Message,
    *,
    source_file: str | None,
    checksum: str | None,
    ref: str,
    fallback_time: datetime,
    options: Mapping[str, Any] | None = None,
) -> Item | Rejected:
    """The Item for one message, or why it cannot be one (automatic mail, no text)."""
    options = options or {}
    message_id = _header(msg, "Message-ID").strip().strip("<>").strip()
    subject = _header(msg, "Subject").strip()
    body, kind = message_body(msg)
    name, address = _sender(msg)
    if message_id:
        key = make_source_key(CHANNEL, message_id)
    else:
        key = make_source_key(CHANNEL, address, _header(msg, "Date"), subject, text_digest(body))
    source_ref = f"<{message_id}>" if message_id else ref

    def reject(why: Reason) -> Rejected:
        return Rejected(
            CHANNEL,
            key,
            source_ref,
            why,
            source_file,
            safe_excerpt(f"{address} {subject} {body}"),
        )

    if automatic := _automatic(msg, address):
        return reject(automatic)
    text = body.strip() or subject
    if why := check_text(text):
        return reject(why)
    flags = list(text_flags(text))
    if not message_id:
        flags.append("no_message_id")
    if kind == "html":
        flags.append("html_body")
    received = _date(msg)
    if received is None:
        flags.append("date_missing")
    to = [addr for _, addr in getaddresses([_header(msg, "To")]) if addr]
    references = answered_ids(msg)
    return Item(
        channel=CHANNEL,
        source_key=key,
        source_ref=source_ref,
        received_at=received or fallback_time,
        text=text,
        title=subject,
        source_file=source_file,
        file_checksum=checksum,
        area=options.get("area"),
        recorded_by=options.get("recorded_by") or (to[0] if to else None),
        contact=Contact(name=name or None, email=address or None),
        attachments=tuple(attachment_names(msg)),
        flags=tuple(flags),
        raw={
            "message_id": message_id,
            "from": _header(msg, "From"),
            "to": _header(msg, "To"),
            "date": _header(msg, "Date"),
            "subject": subject,
            "body_kind": kind,
            **({"in_reply_to": list(references)} if references else {}),
        },
        answer=mail_answer(msg, subject, body, name, address, references),
    )


def answered_ids(msg: Message) -> tuple[str, ...]:
    """The Message-IDs a message answers: In-Reply-To first, then References newest first."""
    found = _MESSAGE_ID.findall(_header(msg, "In-Reply-To"))
    found += reversed(_MESSAGE_ID.findall(_header(msg, "References")))
    return tuple(dict.fromkeys(found))


def answered_case(subject: str) -> str | None:
    """The case number in a reply's or forward's subject (回复：【交办·承办】MQ2026-000210 …)."""
    if not _ANSWER_SUBJECT.match(subject):
        return None
    found = _CASE_NUMBER.search(subject)
    return found.group(0).upper() if found else None


def mail_answer(
    msg: Message, subject: str, body: str, name: str, address: str, references: tuple[str, ...]
) -> MailAnswer | None:
    """What the message would answer, if it looks like an answer at all (else None)."""
    case_ref = answered_case(subject)
    if not references and case_ref is None:
        return None
    return MailAnswer(
        references=references,
        case_ref=case_ref,
        sender=address,
        sender_name=name or None,
        text=body.strip(),
        tables=tuple(attached_tables(msg)),
    )


def attached_tables(msg: Message) -> list[tuple[str, bytes]]:
    """The attached .csv and .xlsx files (a filled-in 答复模板), (name, content) each."""
    tables = []
    for part in msg.walk():
        if part.is_multipart() or not _is_attachment(part):
            continue
        filename = part.get_filename() or ""
        if not (
            filename.lower().endswith(_TABLE_SUFFIXES) or part.get_content_type() in _TABLE_TYPES
        ):
            continue
        content = part.get_payload(decode=True)
        if isinstance(content, bytes) and 0 < len(content) <= MAX_TABLE_BYTES:
            tables.append((filename, content))
    return tables


def message_body(msg: Message) -> tuple[str, str]:
    """(text, 'plain' | 'html' | '') of the message: the first text/plain part that is not an
    attachment, else the first text/html part with its markup stripped; quoted earlier mail
    ('-----原始邮件-----', '> …', 'On … wrote:') cut off."""
    plain = html = None
    for part in msg.walk():
        if part.is_multipart() or _is_attachment(part):
            continue
        ctype = part.get_content_type()
        if ctype == "text/plain" and plain is None:
            plain = _decode(part)
        elif ctype == "text/html" and html is None:
            html = _decode(part)
    if plain is not None and plain.strip():
        return _cut_quoted(plain), "plain"
    if html is not None:
        return _cut_quoted(strip_html(html)), "html"
    return "", ""


def attachment_names(msg: Message) -> list[str]:
    names = []
    for n, part in enumerate(msg.walk(), start=1):
        if not part.is_multipart() and _is_attachment(part):
            names.append(part.get_filename() or f"{part.get_content_type()}#{n}")
    return names


def _is_attachment(part: Message) -> bool:
    disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
    if disposition == "attachment":
        return True
    return bool(part.get_filename()) or part.get_content_maintype() not in ("text", "multipart")


def _decode(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return str(part.get_payload() or "")
    declared = (part.get_content_charset() or "utf-8").lower()
    charset = _CHARSET_ALIASES.get(declared, declared)
    try:
        codecs.lookup(charset)
    except LookupError:
        charset = "utf-8"
    for candidate in dict.fromkeys((charset, "utf-8", "gb18030")):
        try:
            return payload.decode(candidate)
        except UnicodeDecodeError:
            continue
    return payload.decode(charset, errors="replace")


def _cut_quoted(text: str) -> str:
    kept = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if _QUOTE_START.match(line):
            break
        if not line.lstrip().startswith(">"):
            kept.append(line)
    return "\n".join(kept).strip()


def _header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:  # a malformed header the policy cannot parse
        value = msg.get_all(name, [None])[0] if hasattr(msg, "get_all") else None
    return str(value) if value is not None else ""


def _sender(msg: Message) -> tuple[str, str]:
    pairs = [(n, a) for n, a in getaddresses([_header(msg, "From")]) if a or n]
    if not pairs:
        return "", ""
    name, address = pairs[0]
    return name.strip().strip('"'), address.strip().lower()


def _automatic(msg: Message, address: str) -> Reason | None:
    """Why this is an automatic message (自动回复、群发、退信、系统发件人), or None."""
    auto = _header(msg, "Auto-Submitted").strip().lower()
    if auto and auto != "no":
        return reason("automatic_mail", kind="auto_reply")
    if _header(msg, "X-Autoreply") or _header(msg, "X-Autorespond"):
        return reason("automatic_mail", kind="auto_reply")
    if _header(msg, "Precedence").strip().lower() in ("bulk", "junk", "auto_reply", "list"):
        return reason("automatic_mail", kind="bulk")
    if msg.get_content_type() == "multipart/report":
        return reason("automatic_mail", kind="report")
    if _AUTOMATIC_SENDER.match(address):
        return reason("automatic_mail", kind="system_sender", address=address)
    return None


def _date(msg: Message) -> datetime | None:
    try:
        when = parsedate_to_datetime(_header(msg, "Date"))
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": time zone unknown; the office is in China
        when = when.replace(tzinfo=LOCAL_TZ)
    return when.astimezone(UTC)


# --- files: .eml, mbox, maildir -----------------------------------------------------------


def _kind(path: Path) -> str:
    if path.is_dir():
        if all((path / sub).is_dir() for sub in ("cur", "new", "tmp")):
            return "maildir"
        raise UnreadableFile(reason("not_a_maildir"))
    with path.open("rb") as fh:
        head = fh.read(4096)
    if not head.strip():
        raise UnreadableFile(reason("empty_file"))
    if head.startswith(b"From "):
        return "mbox"
    if head.count(b"\x00") > len(head) * 0.3:
        raise UnreadableFile(reason("binary_not_mail"))
    if not re.search(
        rb"^(from|subject|message-id|date|received|return-path|mime-version)\s*:", head, re.I | re.M
    ):
        raise UnreadableFile(reason("not_a_mail"))
    return "eml"


@register
class EmailParser(ChannelParser):
    channel = CHANNEL
    suffixes = (".eml", ".mbox", ".mbx", "")

    def accepts(self, path: Path) -> bool:
        return path.is_dir() or path.suffix.lower() in self.suffixes

    def parse(self, path: Path, checksum: str) -> Iterator[Item | Rejected]:
        kind = _kind(path)
        fallback = file_time(path)
        if kind == "eml":
            msg = parse_message(path.read_bytes())
            yield self._item(msg, path, checksum, path.name, fallback)
            return
        box: mailbox.Mailbox = (
            mailbox.Maildir(path, factory=None, create=False)
            if kind == "maildir"
            else mailbox.mbox(path, create=False)
        )
        try:
            for number, key in enumerate(box.iterkeys(), start=1):
                try:
                    data = box.get_bytes(key)
                except (KeyError, OSError) as exc:  # a message file removed or unreadable meanwhile
                    ref = f"{path.name}#{number}"
                    yield Rejected(
                        CHANNEL,
                        make_source_key(CHANNEL, checksum, key),
                        ref,
                        reason("mail_unreadable"),
                        path.name,
                        safe_excerpt(str(exc)),
                    )
                    continue
                yield self._item(
                    parse_message(data), path, checksum, f"{path.name}#{number}", fallback
                )
        finally:
            box.close()

    def _item(
        self, msg: Message, path: Path, checksum: str, ref: str, fallback: datetime
    ) -> Item | Rejected:
        try:
            return message_to_item(
                msg,
                source_file=path.name,
                checksum=checksum,
                ref=ref,
                fallback_time=fallback,
                options=self.options,
            )
        except Exception as exc:  # the email package can fail on pathological messages
            key = make_source_key(CHANNEL, checksum, ref)
            return Rejected(
                CHANNEL,
                key,
                ref,
                reason("mail_corrupt"),
                path.name,
                safe_excerpt(f"{type(exc).__name__}: {exc}"),
            )


# --- IMAP ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImapSettings:
    """Where the office's mailbox is. The password comes from the environment."""

    host: str
    user: str
    password: str
    port: int = 993
    folder: str = "INBOX"
    move_to: str | None = None  # e.g. "已收取"; None: mark read (\\Seen) and leave in place
    ssl: bool = True
    starttls: bool = False
    limit: int | None = None
    timeout: float = 60.0

    @classmethod
    def from_options(
        cls, options: Mapping[str, Any], environ: Mapping[str, str] | None = None
    ) -> ImapSettings:
        """From `channels.email.imap` in config plus MINQING_IMAP_PASSWORD; a missing password is
        an error, never an empty string."""
        environ = os.environ if environ is None else environ
        password = environ.get("MINQING_IMAP_PASSWORD")
        if not password:
            raise ValueError("MINQING_IMAP_PASSWORD is not set")
        known = {f for f in cls.__dataclass_fields__ if f != "password"}
        unknown = set(options) - known
        if unknown:
            raise ValueError(f"unknown imap option(s): {', '.join(sorted(unknown))}")
        return cls(password=password, **{k: v for k, v in options.items() if k in known})


def fetch_imap(settings: ImapSettings, dest: Path) -> list[Path]:
    """Download the mailbox's new messages into `dest` as .eml files; return their paths.

    Each message is written completely (temporary file, then rename) *before* it is marked
    read or moved, so a crash never loses one; a crash in between means it is fetched again
    into the same file name (named by Message-ID), and the Message-ID key makes that harmless.
    With `move_to` every message left in the folder is fetched (someone may have opened it in
    a mail client); without it only unseen ones.
    """
    from imap_tools import (
        BaseMailBox,
        MailBox,
        MailBoxStartTls,
        MailBoxUnencrypted,
        MailMessageFlags,
    )

    dest.mkdir(parents=True, exist_ok=True)
    box: BaseMailBox
    if settings.ssl:
        box = MailBox(settings.host, settings.port, timeout=settings.timeout)
    elif settings.starttls:
        box = MailBoxStartTls(settings.host, settings.port, timeout=settings.timeout)
    else:
        box = MailBoxUnencrypted(settings.host, settings.port, timeout=settings.timeout)
    written: list[Path] = []
    with box.login(settings.user, settings.password, initial_folder=settings.folder):
        if settings.move_to and not box.folder.exists(settings.move_to):
            box.folder.create(settings.move_to)
        uids = box.uids("ALL" if settings.move_to else "UNSEEN")
        for uid in uids[: settings.limit] if settings.limit else uids:
            status, data = box.client.uid("fetch", uid, "(BODY.PEEK[])")
            raw = next((part[1] for part in data or () if isinstance(part, tuple)), None)
            if status != "OK" or raw is None:
                continue  # expunged meanwhile
            written.append(_write_eml(dest, raw))
            if settings.move_to:
                box.move(uid, settings.move_to)
            else:
                box.flag(uid, MailMessageFlags.SEEN, True)
    return written


def _write_eml(dest: Path, raw: bytes) -> Path:
    msg = parse_message(raw)
    identity = _header(msg, "Message-ID").strip() or hashlib.sha256(raw).hexdigest()
    target = dest / f"imap-{hashlib.sha1(identity.encode('utf-8', 'replace')).hexdigest()[:20]}.eml"
    fd, tmp = tempfile.mkstemp(dir=dest, prefix=".fetching-", suffix=".eml")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
