"""Delivery policy of the outbox: what a send failure means for the next attempt, and what an
assignment carries besides its body (the reply template, the citizens' photos)."""

from __future__ import annotations

import csv
import io
import mimetypes
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import PurePosixPath, PureWindowsPath

from minqing.channels.safe_cells import defuse_formula
from minqing.i18n import _


@dataclass(frozen=True)
class AfterFailure:
    status: str  # pending (retry later) | failed (permanent or uncertain) | dead (gave up)
    next_attempt_at: datetime | None


def after_failure(
    *,
    transient: bool,
    attempts: int,
    max_attempts: int,
    backoff_seconds: int,
    now: datetime,
    rng: random.Random | None = None,
    uncertain: bool = False,
) -> AfterFailure:
    """Permanent errors fail at once; transient ones back off exponentially with jitter
    (base × 2^(attempts-1) × [0.5, 1.5)) until `max_attempts`, then the handoff is dead.

    An uncertain send (the connection broke after the message was handed over) fails at once
    too: the server may have it, and only an operator can decide to send it again.
    """
    if uncertain or not transient:
        return AfterFailure("failed", None)
    if attempts >= max_attempts:
        return AfterFailure("dead", None)
    jitter = (rng or random).uniform(0.5, 1.5)
    delay = backoff_seconds * (2 ** (attempts - 1)) * jitter
    return AfterFailure("pending", now + timedelta(seconds=delay))


# --- the reply template (答复模板) attached to every assignment ---------------------------

# The columns minqing.returns.parse_replies reads back from the department's answer.
REPLY_COLUMNS = ("案件编号", "答复时间", "办理结果", "答复内容", "经办人")


def reply_template_name(case_number: str) -> str:
    """The attachment's file name, in the language of the assignment (its columns stay the
    ones minqing.returns reads back, whatever the language)."""
    return _("答复模板_%(number)s.csv") % {"number": case_number}


def reply_template_csv(case_number: str) -> str:
    """The template as text: UTF-8 BOM (so Excel and WPS open it as UTF-8), CRLF rows, the
    case number prefilled. Every cell goes through `defuse_formula`, so nothing in it can run
    as a spreadsheet formula."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(REPLY_COLUMNS)
    writer.writerow([defuse_formula(case_number), "", "", "", ""])
    return "\ufeff" + out.getvalue()


# --- photos (随手拍) referenced by a submission ----------------------------------------

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp", ".heic", ".bmp"})
MAX_PHOTOS = 9  # what one WeChat message can carry
MAX_PHOTO_BYTES = 10 * 1024 * 1024
ATTACHMENTS_FOLDER = "attachments"  # inbox/<channel>/attachments/, archive/<channel>/attachments/
_KIND_PREFIXES = frozenset({"图片", "照片", "photo", "image", "img"})


def photo_path(reference: str) -> PurePosixPath | None:
    """The relative path a channel's attachment reference names, if it is a photo.

    References come from citizens' data ("图片:IMG_0012.jpg", "photos/IMG_0012.jpg", a QR
    form's "/uploads/a.png", or something hostile like "/etc/passwd" or "../../x.jpg"). Only a
    relative path without ".." and without hidden parts is kept, and only when it names a photo;
    the caller looks for it inside the channel's own inbox/archive folder and nowhere else.
    """
    text = reference.strip()
    kind, sep, rest = text.partition(":")
    if sep and kind.strip().lower() in _KIND_PREFIXES:
        text = rest.strip()
    path = PurePosixPath(text.replace("\\", "/"))
    if (
        not path.parts
        or path.is_absolute()
        or PureWindowsPath(text).drive
        or any(part == ".." or part.startswith(".") or ":" in part for part in path.parts)
        or path.suffix.lower() not in PHOTO_SUFFIXES
    ):
        return None
    return path


def photo_mime_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name)
    return guessed if guessed and guessed.startswith("image/") else "application/octet-stream"
