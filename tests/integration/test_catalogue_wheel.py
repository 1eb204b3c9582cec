"""A wheel built from the checkout carries the compiled message catalogues (minqing/i18n.py)."""

from __future__ import annotations

import gettext
import io
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from minqing import catalogue

ROOT = Path(__file__).resolve().parents[2]
SKIP = shutil.ignore_patterns(".venv", ".git", "var", "build", "dist", "*.egg-info", "__pycache__")


def test_a_wheel_ships_every_compiled_catalogue(tmp_path):
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=SKIP)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("minqing-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        for language in catalogue.target_languages():
            name = f"minqing/locale/{language}/LC_MESSAGES/messages.mo"
            shipped = gettext.GNUTranslations(io.BytesIO(zf.read(name)))
            assert zf.read(name) == catalogue.mo_path(language).read_bytes()
            assert shipped.gettext("待人工审核") != "待人工审核"
