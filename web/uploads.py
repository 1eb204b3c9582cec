"""Files sent with a web form: size-limited, typed by their first bytes, pictures stripped of
their metadata (minqing/photos.py), stored under var/uploads by a random name (never the
sender's), recorded as Upload rows."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from starlette.datastructures import UploadFile

from db.models import Upload
from minqing.i18n import N_, _
from minqing.photos import strip_metadata
from minqing.settings import Settings
from web.security import sniff

ALLOWED_TEXT = N_("JPG、PNG、WebP 图片或 PDF 文件")


@dataclass(frozen=True)
class Checked:
    data: bytes
    original_name: str
    ext: str
    content_type: str


class UploadRefused(ValueError):
    """The file cannot be taken; the message is for the person who sent it."""


async def check_upload(upload: UploadFile, max_bytes: int) -> Checked:
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UploadRefused(
            _("文件太大（不能超过 %(mb)d MB）") % {"mb": max_bytes // (1024 * 1024) or 1}
        )
    if not data:
        raise UploadRefused(_("文件是空的"))
    kind = sniff(data[:16])
    if kind is None:
        raise UploadRefused(_("只接受%(kinds)s") % {"kinds": _(ALLOWED_TEXT)})
    name = re.sub(r"[\x00-\x1f\x7f/\\]+", "_", upload.filename or "")[-120:] or f"附件.{kind[0]}"
    if kind[0] != "pdf":
        try:
            data = strip_metadata(data)
        except ValueError as exc:
            raise UploadRefused(_("图片无法读取，请换一张")) from exc
    return Checked(data, name, kind[0], kind[1])


def uploads_root(settings: Settings) -> Path:
    return settings.uploads_dir


def store_file(settings: Settings, checked: Checked) -> str:
    """Write the bytes under a random name; returns the name relative to var/uploads."""
    root = uploads_root(settings)
    name = f"{secrets.token_hex(2)}/{secrets.token_hex(16)}.{checked.ext}"
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    with os.fdopen(fd, "wb") as fh:
        fh.write(checked.data)
    return name


def remove_file(settings: Settings, stored_name: str) -> None:
    (uploads_root(settings) / stored_name).unlink(missing_ok=True)


def upload_row(
    checked: Checked, stored_name: str, *, case_id: int, entity: str, entity_id: int | None, by: str
) -> Upload:
    return Upload(
        case_id=case_id,
        entity=entity,
        entity_id=entity_id,
        original_name=checked.original_name,
        content_type=checked.content_type,
        size=len(checked.data),
        sha256=hashlib.sha256(checked.data).hexdigest(),
        stored_name=stored_name,
        uploaded_by=by[:120],
    )


def stored_path(settings: Settings, stored_name: str) -> Path | None:
    """The file of an Upload row, refusing any name that would leave var/uploads."""
    root = uploads_root(settings).resolve()
    path = (root / stored_name).resolve()
    if root not in path.parents or not path.is_file():
        return None
    return path
