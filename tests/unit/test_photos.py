"""Pictures lose their metadata (GPS position, camera) before they reach anyone
(minqing/photos.py)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from minqing.photos import strip_metadata
from web.testing import photo


def test_a_photos_location_and_camera_never_leave_the_upload():
    stripped = strip_metadata(photo(location=True, orientation=6))
    with Image.open(io.BytesIO(stripped)) as img:
        assert len(img.getexif()) == 0 and "exif" not in img.info
        assert img.size == (32, 64)  # turned upright before the orientation tag went
    upright = strip_metadata(photo(location=True))
    with Image.open(io.BytesIO(upright)) as img:
        assert len(img.getexif()) == 0 and img.size == (64, 32)
    assert b"PhoneMaker" in photo(location=True) and b"PhoneMaker" not in upright


def test_pictures_without_metadata_are_kept_byte_for_byte_and_broken_ones_refused():
    for fmt in ("PNG", "JPEG", "WEBP"):
        plain = photo(fmt)
        assert strip_metadata(plain) == plain
    with pytest.raises(ValueError, match="not a readable picture"):
        strip_metadata(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
