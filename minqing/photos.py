"""Pictures without their metadata (EXIF/XMP): a phone writes into every photo where it was
taken (GPS), when and with which camera, and a citizen's location must not travel on — not to
the departments a case is handed to, not into the uploads operators download. Used by the web
uploads (web/uploads.py) and by delivery for the photos a channel brought (tasks/deliver.py).
"""

from __future__ import annotations

import io

from PIL import ExifTags, Image, ImageOps

_METADATA_KEYS = {"exif", "xmp", "XML:com.adobe.xmp", "comment"}


def strip_metadata(data: bytes) -> bytes:
    """The picture without its metadata, turned upright first (the EXIF orientation goes with
    the rest). An upright JPEG keeps its quantisation tables, so re-encoding it costs next to
    nothing; the colour profile stays. A picture without metadata is returned byte for byte.
    ValueError when the bytes cannot be read as a picture."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            text = getattr(img, "text", None) or {}
            if not (img.getexif() or text or img.info.keys() & _METADATA_KEYS):
                return data
            kind = "JPEG" if img.format in ("JPEG", "MPO") else img.format
            keep = {"icc_profile": img.info["icc_profile"]} if "icc_profile" in img.info else {}
            out = io.BytesIO()
            if kind == "JPEG" and img.getexif().get(ExifTags.Base.Orientation, 1) == 1:
                img.save(out, "JPEG", quality="keep", **keep)  # nothing to turn: same pixels
            else:
                upright = ImageOps.exif_transpose(img)
                upright.save(out, kind, **keep, **({"quality": 95} if kind == "JPEG" else {}))
            return out.getvalue()
    except (OSError, Image.DecompressionBombError) as exc:
        raise ValueError(f"not a readable picture: {exc}") from exc
