"""Text normalisation and redaction of personal data."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minqing.normalize import (
    dedup_key,
    derive_title,
    normalize_phone,
    normalize_text,
    redact,
    strip_html,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # full-width letters, digits, spaces and symbols become half-width
        ("ＡＢＣ１２３　全角＃", "ABC123 全角#"),
        # Chinese punctuation stays Chinese
        ("你好，世界！路灯坏了？（急）", "你好，世界！路灯坏了？（急）"),
        # ASCII punctuation inside Chinese text becomes Chinese, between digits it stays
        (
            "路灯坏了,请尽快修理!时间:8:30,金额1,200元",
            "路灯坏了，请尽快修理！时间:8:30，金额1,200元",
        ),
        ("在(3栋)门口 (see note)", "在（3栋）门口 (see note)"),
        # circled numbers and the Chinese ellipsis survive NFKC
        ("①路灯②停车……", "①路灯②停车……"),
        # traditional → simplified
        ("這個問題請儘快處理，謝謝", "这个问题请尽快处理，谢谢"),
        # whitespace: runs collapsed, line breaks kept once, ends trimmed
        ("  路灯 \t 坏了\r\n\r\n\n  请修  ", "路灯 坏了\n请修"),
        # control and zero-width characters, BOMs and undecodable bytes removed
        ("路\u200b灯\x00坏\ufeff了\udcff", "路灯坏了"),
    ],
)
def test_normalize_text_gives_the_form_later_stages_expect(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<p>路灯<b>坏了</b></p><script>alert('x')</script>", "路灯坏了"),
        ("<style>p{color:red}</style>噪音<br>扰民", "噪音\n扰民"),
        ('<a href="javascript:alert(1)" onclick="steal()">点击</a>', "点击"),
        ("温度<0度，a<b", "温度<0度，a<b"),  # a '<' that is a sign stays
        # escaped markup is the text the page shows: inert, and kept as written
        ("&lt;script&gt;alert(1)&lt;/script&gt;停车", "<script>alert(1)</script>停车"),
        ("关于&lt;A4区KTV噪音扰民&gt;的投诉", "关于<A4区KTV噪音扰民>的投诉"),
        ("物业&amp;业委会", "物业&业委会"),
        ("<img src=x onerror=alert(1)>路灯", "路灯"),
        ("<script>unclosed", ""),
        ("＜b＞全角不是标签＜/b＞", "<b>全角不是标签</b>"),  # full-width signs are text in HTML
    ],
)
def test_markup_is_stripped_from_html_content(raw: str, expected: str) -> None:
    assert normalize_text(raw, html=True) == expected


REAL_MESSAGE_22687 = "我写过关于了篇贴子<A4区捞刀河镇白霞村梦之旅KTV噪音严重扰民>的投诉"


@pytest.mark.parametrize(
    "raw",
    [
        REAL_MESSAGE_22687,
        "依据<西地省物业管理条例>第十条",
        "<<中华人民共和国招标投标法>",
        "<script>alert('x')</script>请修路灯",  # hostile text is only text: every output escapes it
        "<p>路灯<b>坏了</b></p>",
        "标题 &lt;b&gt; &amp; 物业",
    ],
)
def test_plain_text_keeps_angle_brackets_and_what_is_between_them(raw: str) -> None:
    assert normalize_text(raw) == raw


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # a character reference in plain text is written as it is, not "&nbsp；"
        ("健身器材&nbsp;多处损坏,请修", "健身器材&nbsp;多处损坏，请修"),
        ("物业&amp;业委会;&#21333;杠", "物业&amp;业委会；&#21333;杠"),
        # a web address stays a working link, Chinese in it or not
        (
            "见https://map.example.cn/search/东湖花园?q=1,2 (东湖)",
            "见https://map.example.cn/search/东湖花园?q=1,2 （东湖）",
        ),
        ("网址:http://a.example.cn/b?c=路灯;d=1。", "网址：http://a.example.cn/b?c=路灯;d=1。"),
        # the sentence's punctuation after an address is the sentence's
        ("(详见https://a.example.cn/x)谢谢!", "（详见https://a.example.cn/x）谢谢！"),
    ],
)
def test_punctuation_is_made_chinese_around_references_and_addresses_not_in_them(
    raw: str, expected: str
) -> None:
    assert normalize_text(raw) == expected


def test_strip_html_leaves_plain_text_untouched() -> None:
    assert strip_html("路灯坏了 3<5 & 6>4") == "路灯坏了 3<5 & 6>4"


def test_nested_brackets_in_chinese_text_all_become_chinese_at_once() -> None:
    assert normalize_text("((了))") == "（（了））"  # found by the property below


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("路灯坏了這個問題，。！？,.!?:;()（）<>/&;ab１２3 \n\t①…")),
        max_size=60,
    )
)
def test_normalize_text_is_idempotent(text: str) -> None:
    once = normalize_text(text)
    assert normalize_text(once) == once


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("<p>路灯坏了&lt;amp;gt#x3c</b>script，,() \n＜＞ab１")),
        max_size=60,
    )
)
def test_html_content_normalises_to_plain_text_that_stays_as_it_is(text: str) -> None:
    once = normalize_text(text, html=True)
    assert normalize_text(once) == once


def _letters_digits_cjk(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum())


# Letters, digits and CJK characters (less the few whose simplified form depends on the
# phrase around them), among every sign that looks like markup, entities, Chinese and ASCII
# punctuation, spaces, control and zero-width characters.
_SIGNS = list("<>/&;#!?=\"' \n\t\r，。！？：（）()《》【】“”…①\u200b\x00\ufeff\u3000＜＞＆／")
_ALNUM = st.characters(categories=("Lu", "Ll", "Nd")) | st.characters(
    min_codepoint=0x4E00, max_codepoint=0x9FFF, exclude_characters="沈坏藉哩覆衹瞭甦"
)


_PLAIN = st.text(alphabet=st.sampled_from(_SIGNS) | _ALNUM, max_size=12)
# Pieces that look like tags, comments and entities, so that an HTML stripper would bite.
_MARKUP_LOOKALIKES = st.one_of(
    st.builds("<{}{}>".format, st.sampled_from(["", "/", "!", "!--", "?"]), _PLAIN),
    st.builds("&{};".format, st.text(alphabet=_ALNUM, min_size=1, max_size=8)),
    st.sampled_from(["<script>", "</script>", "<style>", "<br>", "&lt;", "&amp;", "&#60;"]),
)
_TEXT_WITH_MARKUP = st.lists(_PLAIN | _MARKUP_LOOKALIKES, max_size=10).map("".join)


@settings(max_examples=500, deadline=None)
@given(_TEXT_WITH_MARKUP)
def test_plain_text_never_loses_a_letter_digit_or_cjk_character(text: str) -> None:
    # Each letter, digit and CJK character survives, in order, in its normalised spelling
    # (full-width → half-width, traditional → simplified): nothing between '<' and '>' goes.
    expected = "".join(normalize_text(ch) for ch in text if ch.isalnum())
    assert _letters_digits_cjk(normalize_text(text)) == _letters_digits_cjk(expected)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_normalize_text_never_fails_and_leaves_no_surrogates_or_controls(text: str) -> None:
    out = normalize_text(text)
    out.encode("utf-8")  # storable
    assert not any(ord(ch) < 32 and ch != "\n" for ch in out)


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("我的电话13800138000请回电", "phones", "13800138000"),
        ("电话 138-0013-8000", "phones", "13800138000"),
        ("手机 +86 138 0013 8000", "phones", "+8613800138000"),
        ("座机0731-88888888", "phones", "073188888888"),
        ("座机(0731)88888888", "phones", "073188888888"),
        ("身份证43010219900101123X", "id_numbers", "43010219900101123X"),
        ("身份证号430102199001011234。", "id_numbers", "430102199001011234"),
        ("邮箱 zhang.san@example.com.cn 联系", "emails", "zhang.san@example.com.cn"),
    ],
)
def test_redact_finds_and_hides_personal_data(text: str, kind: str, value: str) -> None:
    red = redact(text)
    assert getattr(red, kind) == [value]
    assert value not in red.text and "已隐去" in red.text
    assert red.found_any


@pytest.mark.parametrize(
    "text",
    [
        "请拨打12345热线",  # service numbers are not personal
        "工单号GD202611200047",
        "金额13800元，面积120平方米",
        "订单号 1380013800012345",  # longer than a phone number
        "2026年11月27日 08:15",
    ],
)
def test_redact_leaves_numbers_that_are_not_personal(text: str) -> None:
    assert redact(text).text == text


def test_redact_takes_id_numbers_before_they_look_like_phones() -> None:
    red = redact("证件430102199001011234电话13900001111")
    assert red.id_numbers == ["430102199001011234"] and red.phones == ["13900001111"]


def test_dedup_key_ignores_punctuation_spacing_width_and_script() -> None:
    assert dedup_key("路灯坏了！ 請修理") == dedup_key("路灯坏了,请修理") == "路灯坏了请修理"


def test_normalize_phone() -> None:
    assert normalize_phone("+86 138-0013-8000") == "13800138000"
    assert normalize_phone("１３８００１３８０００") == "13800138000"
    assert normalize_phone("") is None


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("路灯坏了。东湖社区惠民小区3栋门口。", "路灯坏了"),
        ("小区门口有人烧垃圾！烟很大。", "小区门口有人烧垃圾！"),
        (
            "我家楼下的餐馆每天晚上油烟很大，排风机噪音持续到凌晨两点，怀疑燃气泄漏，请尽快处理",
            "我家楼下的餐馆每天晚上油烟很大，排风机噪音持续到凌晨两点…",
        ),
        ("一" * 40, "一" * 29 + "…"),
        ("第一行\n第二行", "第一行"),
    ],
)
def test_a_message_without_a_title_is_titled_by_a_whole_sentence_or_clause(text, title):
    assert derive_title(text) == title
    assert len(derive_title(text)) <= 30


def test_a_reply_keeps_its_office_numbers_and_loses_mobiles() -> None:
    """`landlines=False` (a department's reply shown to the citizen): the area-coded office
    number stays, a mobile number goes."""
    text = "请致电维修班13800138000，咨询电话0731-88881234或(0731)88885678。"
    kept = redact(text, landlines=False)
    assert kept.text == "请致电维修班[电话已隐去]，咨询电话0731-88881234或(0731)88885678。"
    assert kept.phones == ["13800138000"]
    assert redact(text).text.count("[电话已隐去]") == 3
