"""A local SMTP sink on loopback (aiosmtpd) that stores every message it receives.

Messages land in a Maildir (`var/mail/new/*`), one file each, readable by any mail client or
`minqing mail list`; like a real MTA it prepends `X-Original-To:` with the envelope recipients.
Used by the embedded default (demo) and by the tests, so it does not fsync (a real MTA does;
here it would cost ≈2 ms per message). Tests drive the server's answers:

- `behaviour(envelope)` at the end of DATA: None accepts, "421 ..."/"550 ..." refuses;
- `rcpt_behaviour(address)` at RCPT TO: refuse one recipient only ("550 5.1.1 ...");
- `pipelining`: whether EHLO offers PIPELINING (on by default);
- `stall_seconds` with `stall_at`: "mail" stalls before the server has the message (a client
  timeout there is safe to retry), "data" delays the final reply after the message is stored
  (a client that times out cannot know the outcome; the server has kept it).
"""

from __future__ import annotations

import asyncio
import mailbox
import os
import time
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller

# Returns None to accept, or an SMTP reply like "421 try later" / "550 no such user".
Behaviour = Callable[[Any], str | None]
RecipientBehaviour = Callable[[str], str | None]


class MaildirHandler:
    def __init__(self, directory: Path, behaviour: Behaviour | None = None) -> None:
        for sub in ("tmp", "new", "cur"):
            (directory / sub).mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.behaviour = behaviour
        self.rcpt_behaviour: RecipientBehaviour | None = None
        self.stall_seconds = 0.0
        self.stall_at: Literal["mail", "data"] = "data"
        self.pipelining = True  # advertise RFC 2920 PIPELINING, as Postfix and Exchange do
        self._stored = 0

    async def handle_EHLO(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.stall_seconds and self.stall_at == "mail":
            await asyncio.sleep(self.stall_seconds)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.rcpt_behaviour is not None and (answer := self.rcpt_behaviour(address)):
            return answer
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        answer = self.behaviour(envelope) if self.behaviour is not None else None
        if not answer:
            content = envelope.original_content or envelope.content
            if isinstance(content, str):
                content = content.encode("utf-8")
            recipients = ", ".join(envelope.rcpt_tos).encode("ascii", "replace")
            self._store(b"X-Original-To: " + recipients + b"\r\n" + content)
        if self.stall_seconds and self.stall_at == "data":
            # The message is stored; only the reply is late (a client that gives up now
            # cannot know that the server kept it — RFC 1047).
            await asyncio.sleep(self.stall_seconds)
        return answer or "250 Message accepted for delivery"

    def _store(self, data: bytes) -> None:
        # Maildir delivery (write in tmp/, rename into new/); the name starts with the time,
        # zero-padded, so sorting names sorts by arrival.
        now = time.time()
        self._stored += 1
        name = f"{int(now)}.M{int(now % 1 * 1e6):06d}P{os.getpid()}Q{self._stored}.minqing-sink"
        tmp = self.directory / "tmp" / name
        tmp.write_bytes(data)
        os.rename(tmp, self.directory / "new" / name)


class SmtpSink:
    """Start/stop an SMTP sink in a background thread: `with SmtpSink(dir, port=...) as sink:`."""

    def __init__(
        self,
        directory: Path,
        host: str = "127.0.0.1",
        port: int = 8025,
        behaviour: Behaviour | None = None,
    ) -> None:
        self.directory = directory
        self.handler = MaildirHandler(directory, behaviour)
        self.controller = Controller(self.handler, hostname=host, port=port)

    @property
    def port(self) -> int:
        return self.controller.port

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stored_messages(directory: Path) -> list[EmailMessage]:
    """Every message the sink stored, oldest first."""
    if not (directory / "new").exists():
        return []
    box = mailbox.Maildir(directory, create=False)
    # Maildir names start with the delivery time, so sorting the keys sorts by arrival.
    return [
        message_from_bytes(box.get_bytes(key), policy=policy.default)  # type: ignore[arg-type]
        for key in sorted(box.keys())
    ]


def count_messages(directory: Path) -> int:
    if not (directory / "new").exists():
        return 0
    return sum(1 for p in (directory / "new").iterdir() if p.is_file()) + sum(
        1 for p in (directory / "cur").iterdir() if p.is_file()
    )
