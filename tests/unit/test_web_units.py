"""The web app's small parts without a database: signed links, the QR spool under concurrent
writers, upload sniffing, rate limits and the printable QR codes."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from minqing.reference import Station
from minqing.settings import Settings
from web import spool
from web.qr import write_codes
from web.security import RateLimiter, csrf_ok, csrf_token_for, sniff
from web.tokens import LinkError, Role, make_token, matches, rating_link, read_token, reply_link

SECRET = SecretStr("unit-secret-" + "u" * 40)


def settings(tmp_path: Path, **extra) -> Settings:
    return Settings(
        home=tmp_path, secret_key=SECRET, public_url="https://minqing.example.cn", **extra
    )


def test_a_link_names_its_role_case_and_recipient_and_nothing_else_can_be_read_into_it(tmp_path):
    s = settings(tmp_path)
    link = reply_link(s, 42, 0, "chengguan")
    assert link.startswith("https://minqing.example.cn/r/") and "chengguan" not in link
    grant = read_token(s, Role.REPLY, link.rsplit("/", 1)[1])
    assert (grant.case_id, grant.target) == (42, 0)
    assert (
        matches(s, grant, "chengguan")
        and not matches(s, grant, "zhujian")
        and not matches(s, grant, None)
    )
    with pytest.raises(LinkError, match="invalid"):
        read_token(s, Role.RATE, link.rsplit("/", 1)[1])  # another role's salt
    other = settings(tmp_path).model_copy(update={"secret_key": SecretStr("x" * 48)})
    with pytest.raises(LinkError, match="invalid"):
        read_token(other, Role.REPLY, link.rsplit("/", 1)[1])


def test_links_are_absent_until_a_secret_is_set(tmp_path):
    assert rating_link(Settings(home=tmp_path), 1, 2, 3) is None
    assert rating_link(settings(tmp_path), 1, 2, 3) is not None


def test_a_link_expires_after_its_lifetime(tmp_path, monkeypatch):
    s = settings(tmp_path, rating_link_days=1)
    token = make_token(s, Role.RATE, 1, 2, "person:3")
    import itsdangerous.timed

    real = itsdangerous.timed.time.time
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: real() + 2 * 86400)
    with pytest.raises(LinkError, match="expired"):
        read_token(s, Role.RATE, token)


def test_every_line_written_while_the_night_publishes_lands_in_exactly_one_inbox_file(tmp_path):
    s = settings(tmp_path)
    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    writers, per_writer = 4, 150
    stop = threading.Event()

    def write(n: int) -> None:
        for i in range(per_writer):
            spool.append(s, {"id": f"{n}-{i}", "content": "路灯坏了"}, now, sync=False)

    def publish_often() -> None:
        while not stop.is_set():
            spool.publish(s)

    publisher = threading.Thread(target=publish_often)
    publisher.start()
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    publisher.join()
    spool.publish(s)
    inbox = s.inbox_dir / "qrform"
    ids = [json.loads(line)["id"] for p in inbox.iterdir() for line in p.read_text().splitlines()]
    assert sorted(ids) == sorted(f"{n}-{i}" for n in range(writers) for i in range(per_writer))
    assert all(p.name.startswith("扫码留言_20261128") for p in inbox.iterdir())
    assert not list(spool.spool_folder(s).glob("*.jsonl"))


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xff\xd8\xff\xe0rest", ("jpg", "image/jpeg")),
        (b"\x89PNG\r\n\x1a\nrest", ("png", "image/png")),
        (b"%PDF-1.7\n", ("pdf", "application/pdf")),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", ("webp", "image/webp")),
        (b"<html><script>", None),
        (b"MZ\x90\x00", None),  # a Windows program named photo.jpg
        (b"GIF89a", None),
        (b"", None),
    ],
)
def test_uploads_are_typed_by_their_first_bytes(head, expected):
    assert sniff(head) == expected


def test_the_rate_limit_is_a_sliding_window_per_client():
    limiter = RateLimiter(2, 60)
    assert [limiter.allow("a", now=t) for t in (0, 1, 2)] == [True, True, False]
    assert limiter.allow("b", now=2)
    assert limiter.allow("a", now=61)


def test_a_csrf_token_belongs_to_its_cookie_only():
    token = csrf_token_for("k" * 40, "cookie-1")
    assert csrf_ok("k" * 40, "cookie-1", token)
    assert not csrf_ok("k" * 40, "cookie-2", token)
    assert not csrf_ok("k" * 40, None, token) and not csrf_ok("k" * 40, "cookie-1", None)


def test_qr_codes_are_written_as_png_and_pdf_with_one_page_per_station(tmp_path):
    stations = [
        Station(code="donghu-jia", name="东湖社区人大代表之家", area="东湖社区", kind="家"),
        Station(code="xicheng-zhan", name="西城社区人大代表联络站", area="西城社区", kind="站"),
    ]
    files, combined, _ = write_codes(stations, "https://minqing.example.cn", tmp_path)
    assert [f.url for f in files] == [
        "https://minqing.example.cn/s/donghu-jia",
        "https://minqing.example.cn/s/xicheng-zhan",
    ]
    from PIL import Image

    for f in files:
        with Image.open(f.png) as img:
            assert img.width == 1200 and img.height > img.width
        assert f.pdf.read_bytes().startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b(?!s)", combined.read_bytes())) == 2


def test_minqing_qr_names_each_station_and_keeps_links_and_paths_whole_at_80_columns(
    tmp_path, monkeypatch
):
    from typer.testing import CliRunner

    from cli.main import app
    from minqing.settings import reset_settings

    monkeypatch.setenv("MINQING_HOME", str(tmp_path))
    monkeypatch.setenv("MINQING_CONFIG_DIR", str(Path(__file__).resolve().parents[2] / "config"))
    monkeypatch.setenv("MINQING_PUBLIC_URL", "https://minqing.example.gov.cn")
    reset_settings()
    try:
        result = CliRunner(env={"COLUMNS": "80"}).invoke(app, ["qr", "--out", str(tmp_path)])
    finally:
        reset_settings()
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "东湖社区人大代表之家（donghu-jia）" in lines
    assert "    链接：https://minqing.example.gov.cn/s/donghu-jia" in lines
    pngs = [line for line in lines if line.startswith("    PNG：")]
    assert pngs and all(Path(line.split("：", 1)[1]).exists() for line in pngs)  # whole paths


def test_numbers_people_dial_or_quote_and_dates_are_kept_whole_in_running_text():
    from web.common import whole, whole_numbers

    text = ("请致电 0731-12345678、(0731)87654321、138-1234-5602、+86 139 1234 5603 或 "
            "13912345601；MQ2026-000214 于 2026年12月8日 09:30 与 2026-12-10 办理。<b>")  # fmt: skip
    kept = re.findall(r'<span class="nowrap">(.*?)</span>', str(whole_numbers(text)))
    assert kept == ["0731-12345678", "(0731)87654321", "138-1234-5602", "+86 139 1234 5603",
                    "13912345601", "MQ2026-000214", "2026年12月8日 09:30", "2026-12-10"]  # fmt: skip
    assert "&lt;b&gt;" in whole_numbers(text)  # what people wrote stays escaped
    # a long run of digits (an id, an amount) is not taken for a phone number
    assert "nowrap" not in whole_numbers("工单号 202611210063001，金额 12345678901234")
    assert whole("2026年12月08日") == '<span class="nowrap">2026年12月08日</span>'
    assert whole("") == ""
