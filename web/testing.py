"""Helpers for the web app's tests and benchmark: run it with uvicorn in a thread on a free
loopback port, read what a page or a message holds (form fields, signed links), and make
the pictures a phone would upload."""

from __future__ import annotations

import io
import re
import socket
import threading
import time
from email.message import EmailMessage
from typing import Any

import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """`with ServerThread(app, port) as server:` serves `app` at `server.url` until the block ends."""

    def __init__(self, app: Any, port: int | None = None, **config: Any) -> None:
        self.port = port or free_port()
        options = {"log_level": "warning", "access_log": False, "lifespan": "off", **config}
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, **options)
        )
        self.thread = threading.Thread(target=self.server.run, name="minqing-web", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the web server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


_INPUT = re.compile(r"<input\b[^>]*>")
_ATTR = re.compile(r'(\w+)="([^"]*)"')


def hidden_fields(html: str) -> dict[str, str]:
    """The hidden inputs of a page (csrf, form_id, next …), HTML entities decoded."""
    import html as html_lib

    out = {}
    for tag in _INPUT.findall(html):
        attrs = dict(_ATTR.findall(tag))
        if attrs.get("type") == "hidden" and "name" in attrs:
            out[attrs["name"]] = html_lib.unescape(attrs.get("value", ""))
    return out


def message_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""


def link_in(message: EmailMessage, path: str) -> str | None:
    """The first link to `path` (e.g. "/r/") in a message's plain-text body."""
    m = re.search(r"https?://\S+?" + re.escape(path) + r"[A-Za-z0-9_.\-]+", message_text(message))
    return m.group(0) if m else None


def photo(fmt: str = "JPEG", *, location: bool = False, orientation: int = 1) -> bytes:
    """A small real picture (64 x 32), as a phone would send it: with `location` its EXIF
    holds a GPS position (Beijing) and the camera's make; `orientation` 6 means "turn right"."""
    from PIL import Image

    img = Image.new("RGB", (64, 32), (200, 30, 30))
    exif = Image.Exif()
    if location:
        exif[0x010F] = "PhoneMaker"  # Make
        exif.get_ifd(0x8825).update(  # GPSInfo
            {1: "N", 2: (39.0, 54.0, 27.0), 3: "E", 4: (116.0, 23.0, 30.0)}
        )
    if orientation != 1:
        exif[0x0112] = orientation
    out = io.BytesIO()
    img.save(out, fmt, **({"exif": exif.tobytes()} if len(exif) else {}))
    return out.getvalue()
