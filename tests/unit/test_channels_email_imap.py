"""IMAP fetch against a real IMAP server (Dovecot) on loopback, started for this module.

Skipped where Dovecot is not installed (`apt-get install dovecot-imapd`) or the tests do not
run as root (Dovecot's master process needs it to switch to the mail user). About 1 s.
"""

from __future__ import annotations

import imaplib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from minqing.channels import file_checksum, get_parser
from minqing.channels.email import ImapSettings, fetch_imap

DOVECOT = shutil.which("dovecot") or (
    "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
)
# CI installs Dovecot (.ci/run), so there a missing server is a failure, not a skip.
pytestmark = pytest.mark.skipif(
    (DOVECOT is None or os.geteuid() != 0) and not os.environ.get("CI"),
    reason="needs Dovecot (apt-get install dovecot-imapd) and root",
)
PASSWORD = "loopback-only"
CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={root}/home/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def imap_port() -> Iterator[int]:
    # Not under pytest's tmp folder: that is private to root, and Dovecot's auth and mail
    # processes run as their own users.
    root = Path(tempfile.mkdtemp(prefix="minqing-dovecot-"))
    os.chmod(root, 0o755)
    for sub in ("run", "state", "home"):
        (root / sub).mkdir()
    shutil.chown(root / "home", "nobody", "nogroup")
    (root / "users").write_text(
        "".join(f"{u}:{{PLAIN}}{PASSWORD}\n" for u in ("seen", "move", "again"))
    )
    port = _free_port()
    (root / "dovecot.conf").write_text(CONFIG.format(root=root, port=port))
    server = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(root / "dovecot.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log = (
                        (root / "dovecot.log").read_text()
                        if (root / "dovecot.log").exists()
                        else ""
                    )
                    pytest.fail(
                        f"Dovecot did not start: {server.stderr.read().decode() if server.stderr else ''} {log}"
                    )
                time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


def client(port: int, user: str) -> imaplib.IMAP4:
    c = imaplib.IMAP4("127.0.0.1", port)
    c.login(user, PASSWORD)
    return c


def deliver(port: int, user: str, *messages: bytes, seen: bool = False) -> None:
    c = client(port, user)
    for raw in messages:
        c.append("INBOX", "(\\Seen)" if seen else None, None, raw)
    c.logout()


def eml(n: int, text: str = "东湖花园北门路灯坏了") -> bytes:
    return (
        f"From: =?utf-8?B?5byg6Zi/5aeo?= <resident{n}@example.cn>\r\n"
        f"To: minqing@street.example.gov.cn\r\n"
        f"Subject: =?utf-8?B?5Y+N5pig6Zeu6aKY?=\r\n"
        f"Date: Fri, 27 Nov 2026 08:{n:02d}:00 +0800\r\n"
        f"Message-ID: <msg{n}@example.cn>\r\n"
        f"MIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode() + f"{text}（第{n}封）\r\n".encode()


def settings(port: int, user: str, **extra) -> ImapSettings:
    return ImapSettings(
        host="127.0.0.1", port=port, user=user, password=PASSWORD, ssl=False, timeout=10, **extra
    )


def flags_in(port: int, user: str) -> list[bytes]:
    c = client(port, user)
    c.select("INBOX")
    _, data = c.fetch("1:*", "(FLAGS)")
    c.logout()
    return [d for d in data if isinstance(d, bytes)]


def imap_name(name: str) -> str:
    from imap_tools.imap_utf7 import utf7_encode

    return '"' + utf7_encode(name).decode() + '"'


def count(port: int, user: str, folder: str) -> int:
    c = client(port, user)
    status, data = c.select(imap_name(folder))
    c.logout()
    return int(data[0]) if status == "OK" else -1


def test_new_mail_is_fetched_once_and_marked_read(imap_port, tmp_path) -> None:
    deliver(imap_port, "seen", eml(1), eml(2))
    deliver(imap_port, "seen", eml(3, "已经读过的信"), seen=True)
    inbox = tmp_path / "inbox" / "email"
    written = fetch_imap(settings(imap_port, "seen"), inbox)
    assert len(written) == 2 and all(p.suffix == ".eml" and p.parent == inbox for p in written)
    assert not list(inbox.glob(".fetching-*"))
    assert all(b"\\Seen" in f for f in flags_in(imap_port, "seen"))
    assert fetch_imap(settings(imap_port, "seen"), inbox) == []  # nothing twice
    items = [o for p in sorted(written) for o in get_parser("email").parse(p, file_checksum(p))]
    assert sorted(i.source_ref for i in items) == ["<msg1@example.cn>", "<msg2@example.cn>"]
    assert {i.contact.name for i in items} == {"张阿姨"} and all(
        i.title == "反映问题" for i in items
    )


def test_with_move_to_mail_is_moved_out_of_the_inbox(imap_port, tmp_path) -> None:
    deliver(imap_port, "move", eml(4), eml(5))
    deliver(imap_port, "move", eml(6), seen=True)  # opened in a mail client: still an opinion
    inbox = tmp_path / "inbox" / "email"
    written = fetch_imap(settings(imap_port, "move", move_to="已收取"), inbox)
    assert len(written) == 3
    assert count(imap_port, "move", "INBOX") == 0 and count(imap_port, "move", "已收取") == 3
    assert fetch_imap(settings(imap_port, "move", move_to="已收取"), inbox) == []


def test_a_message_fetched_again_lands_in_the_same_file(imap_port, tmp_path) -> None:
    deliver(imap_port, "again", eml(7))
    inbox = tmp_path / "inbox"
    [first] = fetch_imap(settings(imap_port, "again"), inbox)
    c = client(imap_port, "again")  # as if the \Seen flag had been lost in a crash
    c.select("INBOX")
    c.store("1", "-FLAGS", "(\\Seen)")
    c.logout()
    [second] = fetch_imap(settings(imap_port, "again"), inbox)
    assert first == second and len(list(inbox.iterdir())) == 1
