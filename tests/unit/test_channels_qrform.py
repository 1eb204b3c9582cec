"""QR-code form submissions (扫码留言): JSON lines as the web form stores them."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minqing.channels import file_checksum, get_parser
from minqing.intake import prepared_batches
from minqing.normalize import normalize_text
from minqing.records import Item, Rejected

GOOD = {
    "id": "qr-1",
    "station": "dh-station-01",
    "submitted_at": "2026-11-27T08:15:00+08:00",
    "content": "东湖花园北门路灯坏了",
    "name": "张阿姨",
    "phone": "13800138000",
    "area": "东湖社区",
    "consent": False,
    "attachments": ["photo-1.jpg"],
}


def parse(path: Path) -> list[Item | Rejected]:
    return list(get_parser("qrform").parse(path, file_checksum(path)))


def test_a_submission_becomes_an_item(tmp_path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_text(json.dumps(GOOD, ensure_ascii=False) + "\n", encoding="utf-8")
    [item] = parse(path)
    assert item.source_ref == "qr-1" and item.recorded_by == "dh-station-01"
    assert item.contact.phone == "13800138000" and item.contact.consent is False
    assert item.attachments == ("photo-1.jpg",) and item.area == "东湖社区"


def test_bad_lines_are_rejected_with_reasons(tmp_path) -> None:
    lines = [
        "{not json",
        "[1, 2]",
        json.dumps({**GOOD, "id": "qr-2", "content": "  "}),
        json.dumps({**GOOD, "id": "qr-3", "submitted_at": "下周"}),
    ]
    path = tmp_path / "f.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    reasons = [str(o.reason) for o in parse(path)]
    assert reasons[0].startswith("记录格式损坏，无法读取")
    assert reasons[1:] == ["记录格式不对：不是一条留言", "内容为空", "提交时间无法识别：“下周”"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
records = st.fixed_dictionaries(
    {},
    optional={
        k: json_values
        for k in (
            "id",
            "station",
            "submitted_at",
            "content",
            "title",
            "name",
            "phone",
            "email",
            "area",
            "consent",
            "attachments",
        )
    },
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.one_of(
            records.map(json.dumps),
            st.text(max_size=30).filter(lambda t: "\n" not in t and "\r" not in t),
        ),
        max_size=8,
    )
)
def test_arbitrary_lines_never_crash_and_each_is_one_item_or_rejection(tmp_path, lines) -> None:
    path = tmp_path / "prop.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    out = parse(path)
    assert len(out) == sum(1 for line in lines if line.strip())


def test_fields_of_the_wrong_type_are_ignored_or_rejected_never_fatal(tmp_path) -> None:
    lines = [
        {**GOOD, "id": "qr-4", "attachments": 5, "title": {"x": 1}, "consent": "否"},
        {**GOOD, "id": {"nested": 1}, "content": ["list"]},
        {**GOOD, "id": "qr-6", "submitted_at": {"when": "now"}},
    ]
    path = tmp_path / "f.jsonl"
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines), encoding="utf-8")
    item, no_text, no_date = parse(path)
    assert item.attachments == () and item.title == "" and item.contact.consent is False
    assert str(no_text.reason) == "内容为空" and str(no_date.reason).startswith("提交时间无法识别")


SAMPLE = Path(__file__).resolve().parents[2] / "sample" / "night1" / "inbox" / "qrform"
RICH_TEXT_ID = "qr-20261124-0005"  # written in the form's rich-text editor
RICH_TEXT_SHOWS = (
    "尊敬的代表：\n"
    "新华社区健身广场的健身器材 多处损坏，单杠扶手断裂，存在安全隐患，孩子在上面玩很危险。\n"
    "希望尽快维修更换。"
)


def sample_line(submission_id: str) -> dict:
    for line in next(SAMPLE.glob("*.jsonl")).read_text(encoding="utf-8").splitlines():
        if f'"id": "{submission_id}"' in line:
            return json.loads(line)
    raise AssertionError(submission_id)


def test_rich_text_content_becomes_the_text_it_shows_with_its_paragraphs(tmp_path) -> None:
    rich = sample_line(RICH_TEXT_ID)
    assert rich["content"].startswith("<p>") and "&nbsp;" in rich["content"]
    lines = [
        rich,
        # a plain submission keeps its angle-bracket quotes, and even <script>, as text
        {**GOOD, "id": "qr-plain", "content": "关于<A市新图>的意见：<script>x</script>路灯坏了"},
        # this project's own form says its content is plain: a typed "<b>" is text
        {**GOOD, "id": "qr-own", "content": "<b>路灯</b>坏了", "content_format": "plain"},
        {**GOOD, "id": "qr-said", "content": "路灯&amp;电线杆", "content_format": "html"},
        {**GOOD, "id": "qr-empty", "content": "<p>&nbsp;</p><br>"},
    ]
    path = tmp_path / "扫码留言_20261127.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), "utf-8")
    item, plain, own, said, empty = parse(path)
    assert isinstance(item, Item) and item.source_ref == RICH_TEXT_ID
    # paragraphs and <br> are line breaks, tags are gone, &nbsp; is a space
    assert normalize_text(item.text) == RICH_TEXT_SHOWS
    assert "html_body" in item.flags and "markup" not in item.flags
    assert item.raw["content"] == rich["content"]  # the submission as sent stays in raw
    assert plain.text == "关于<A市新图>的意见：<script>x</script>路灯坏了"
    assert "html_body" not in plain.flags and "markup" in plain.flags
    assert own.text == "<b>路灯</b>坏了" and said.text == "路灯&电线杆"
    assert isinstance(empty, Rejected) and str(empty.reason) == "内容为空"


def test_the_stored_text_of_a_rich_text_submission_holds_no_markup(tmp_path) -> None:
    path = tmp_path / "扫码留言_20261127.jsonl"
    path.write_text(json.dumps(sample_line(RICH_TEXT_ID), ensure_ascii=False) + "\n", "utf-8")
    (batch,) = prepared_batches("qrform", {}, path, "sum", {"新华社区": "xinhua"}, 16)
    (row,) = batch.rows
    assert row["text"] == RICH_TEXT_SHOWS and row["title"] == "健身器材损坏"
    for leftover in ("<", ">", "&nbsp", "nbsp", "；多处"):
        assert leftover not in row["text"]
