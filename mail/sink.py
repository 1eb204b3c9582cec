"""A local SMTP sink on loopback (aiosmtpd) that stores every message it receives.

Messages land in a Maildir (`var/mail/new/*`), one file each, readable by any mail client or
`minqing mail list`. Used by the embedded default (demo) and by the tests. `behaviour` lets a
test make the server refuse (421/550) or stall, to exercise the outbox's error handling.
"""

from __future__ import annotations

import mailbox
import time
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

# Returns None to accept, or an SMTP reply like "421 try later" / "550 no such user".
Behaviour = Callable[[Any], str | None]


class MaildirHandler:
    def __init__(self, directory: Path, behaviour: Behaviour | None = None) -> None:
        for sub in ("tmp", "new", "cur"):
            (directory / sub).mkdir(parents=True, exist_ok=True)
        self.maildir = mailbox.Maildir(directory, create=False)
        self.behaviour = behaviour
        self.stall_seconds = 0.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.stall_seconds:
            time.sleep(self.stall_seconds)
        if self.behaviour is not None and (answer := self.behaviour(envelope)):
            return answer
        self.maildir.add(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


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
