"""Printable QR codes for the stations (`minqing qr`): the code of /s/<station-code> with the
station's name and a call to action under it, as a PNG and a one-page PDF per station, plus
one PDF with every station for printing at once."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import qrcode
from PIL import Image, ImageDraw, ImageFont
from qrcode.constants import ERROR_CORRECT_M

from minqing.reference import Station

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)
DPI = 300
WIDTH = 1200  # 10 cm at 300 dpi


@dataclass(frozen=True)
class QrFiles:
    station: str
    url: str
    png: Path
    pdf: Path


def chinese_font() -> str | None:
    """A font file that has Chinese glyphs, or None (labels then fall back to the code)."""
    for candidate in FONT_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    if shutil.which("fc-match"):
        found = subprocess.run(
            ["fc-match", "-f", "%{file}", ":lang=zh"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if found and Path(found).exists():
            return found
    return None


def station_url(public_url: str, station: Station) -> str:
    return f"{public_url.rstrip('/')}/s/{station.code}"


def render_card(station: Station, url: str, font_path: str | None) -> Image.Image:
    """The QR code with the station's name (and the call to action) under it."""
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=4)
    qr.add_data(url)
    qr.make(fit=True)
    qr.box_size = (WIDTH - 200) // (qr.modules_count + 2 * qr.border)  # whole pixels per module
    code = qr.make_image(fill_color="black", back_color="white").get_image().convert("RGB")
    lines = [station.name, "扫码反映问题 · 民情直通车"] if font_path else [station.code, url]
    sizes = (64, 44)
    fonts = [
        ImageFont.truetype(font_path, s) if font_path else ImageFont.load_default() for s in sizes
    ]
    height = 100 + code.height + 40 + sum(s + 30 for s in sizes) + 60
    card = Image.new("RGB", (WIDTH, height), "white")
    card.paste(code, ((WIDTH - code.width) // 2, 100))
    draw = ImageDraw.Draw(card)
    y = 100 + code.height + 40
    for text, font, size in zip(lines, fonts, sizes, strict=True):
        width = draw.textlength(text, font=font)
        draw.text(((WIDTH - width) / 2, y), text, fill="black", font=font)
        y += size + 30
    return card


def write_codes(
    stations: list[Station], public_url: str, out: Path
) -> tuple[list[QrFiles], Path | None, bool]:
    """Write <code>.png and <code>.pdf per station and 全部站点二维码.pdf; returns the files,
    the combined PDF and whether a Chinese font was found for the labels."""
    out.mkdir(parents=True, exist_ok=True)
    font = chinese_font()
    files, cards = [], []
    for station in stations:
        url = station_url(public_url, station)
        card = render_card(station, url, font)
        png, pdf = out / f"{station.code}.png", out / f"{station.code}.pdf"
        card.save(png, dpi=(DPI, DPI))
        card.save(pdf, "PDF", resolution=DPI)
        files.append(QrFiles(station.code, url, png, pdf))
        cards.append(card)
    combined = None
    if cards:
        combined = out / "全部站点二维码.pdf"
        cards[0].save(combined, "PDF", resolution=DPI, save_all=True, append_images=cards[1:])
    return files, combined, font is not None
