"""Helpers every channel shares: dates in Chinese office formats, text checks, keys, registry."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minqing.channels import get_parser, registered_channels
from minqing.channels.base import (
    MAX_TEXT_CHARS,
    Occurrences,
    check_text,
    date_from_name,
    make_source_key,
    parse_datetime,
    safe_excerpt,
    text_digest,
    text_flags,
)

SH = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH).astimezone(UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2023年5月1日", local(2023, 5, 1)),
        ("2023年05月01日 09:32", local(2023, 5, 1, 9, 32)),
        ("2023年5月1日9时32分5秒", local(2023, 5, 1, 9, 32, 5)),
        ("2023年5月1日下午3点半", local(2023, 5, 1, 15, 30)),
        ("2023年5月1日 晚上8点", local(2023, 5, 1, 20, 0)),
        ("2023年5月1日 中午12:10", local(2023, 5, 1, 12, 10)),
        ("2023年5月1日 凌晨12:10", local(2023, 5, 1, 0, 10)),
        ("2023/5/1 9:32", local(2023, 5, 1, 9, 32)),
        ("2023/5/1 9:32 PM", local(2023, 5, 1, 21, 32)),
        ("2023.5.1", local(2023, 5, 1)),
        ("2023-05-01 09:32:09", local(2023, 5, 1, 9, 32, 9)),
        ("2023-05-01 09:32:09.123", local(2023, 5, 1, 9, 32, 9)),
        ("2023-05-01T09:32:09+08:00", local(2023, 5, 1, 9, 32, 9)),
        ("2023-05-01T01:32:09Z", local(2023, 5, 1, 9, 32, 9)),
        ("20230501", local(2023, 5, 1)),
        ("20230501 093209", local(2023, 5, 1, 9, 32, 9)),
        ("2023－05－01", local(2023, 5, 1)),  # full-width hyphens
        (45047, local(2023, 5, 1)),  # Excel serial number
        (45047.5, local(2023, 5, 1, 12, 0)),
        ("45047", local(2023, 5, 1)),
        (datetime(2023, 5, 1, 9, 32), local(2023, 5, 1, 9, 32)),  # a datetime cell
        (date(2023, 5, 1), local(2023, 5, 1)),
        (datetime(2023, 5, 1, 1, 32, tzinfo=UTC), local(2023, 5, 1, 9, 32)),
    ],
)
def test_parse_datetime_reads_every_common_chinese_format(
    value: object, expected: datetime
) -> None:
    assert parse_datetime(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "下周二",
        "5月1日",
        "2023-13-01",
        "2023-02-30",
        "3",
        3,
        True,
        "0001-01-01",
        "3023-01-01",
        "abc",
    ],
)
def test_parse_datetime_returns_none_when_it_cannot_tell(value: object) -> None:
    assert parse_datetime(value) is None


@given(st.one_of(st.text(max_size=30), st.integers(), st.floats(allow_nan=True)))
def test_parse_datetime_never_raises(value: object) -> None:
    result = parse_datetime(value)
    assert result is None or result.tzinfo is not None


def test_date_in_a_file_name() -> None:
    assert date_from_name(Path("接待登记_东湖站_20261127.xlsx")) == local(2026, 11, 27)
    assert date_from_name(Path("export-2026-11-27.csv")) == local(2026, 11, 27)
    assert date_from_name(Path("no-date.csv")) is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (None, "empty_text"),
        ("", "empty_text"),
        ("  \u3000\n\t ", "empty_text"),
        ("。。。！", "no_words"),
        ("👍👍", "no_words"),
        ("路灯坏了", None),
    ],
)
def test_check_text(text: str | None, reason: str | None) -> None:
    found = check_text(text)
    assert (found.code if found else None) == reason


def test_overlong_text_is_kept_and_flagged() -> None:
    assert text_flags("路" * MAX_TEXT_CHARS) == ()
    assert text_flags("路" * (MAX_TEXT_CHARS + 1)) == ("overlong", "truncated_for_email")


def test_formula_and_markup_are_flagged() -> None:
    assert text_flags('=HYPERLINK("x")') == ("formula_like",)
    assert text_flags("<script>alert(1)</script>") == ("markup",)


def test_keys_are_stable_and_text_digests_ignore_spacing_and_width() -> None:
    assert (
        make_source_key("x", "a", 1) == make_source_key("x", "a", 1) != make_source_key("x", "a", 2)
    )
    assert text_digest("路灯 坏了１") == text_digest("路灯坏了1")
    seen = Occurrences()
    assert [seen.number("a"), seen.number("b"), seen.number("a")] == [0, 0, 1]


def test_excerpts_never_carry_undecodable_bytes() -> None:
    assert safe_excerpt("abc\udcff" * 100) == ("abc\ufffd" * 50)


def test_every_channel_is_registered() -> None:
    assert {"hotline", "qrform", "register", "wechat", "visits", "email"} <= set(
        registered_channels()
    )
    with pytest.raises(KeyError, match="unknown channel"):
        get_parser("fax")
