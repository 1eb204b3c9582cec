"""The shortcuts that make normalisation fast change nothing: `normalize_text`, `redact` and
`dedup_key` give exactly what the plain step-by-step versions give, on real messages and on
generated text, and the facts the shortcuts rest on (which characters NFKC and OpenCC leave
alone) hold for the installed Unicode tables and dictionaries."""

from __future__ import annotations

import csv
import re
import subprocess
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minqing.normalize as n

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "tipdm2020c"


def plain_normalize_text(text: str) -> str:
    """normalize_text as written before the shortcuts: every step on every text."""
    parts = n._KEEP_RUN.split(text)
    text = "".join(p if i % 2 else unicodedata.normalize("NFKC", p) for i, p in enumerate(parts))
    text = n._INVISIBLE.sub("", text)
    text = (
        text.replace("\r\n", "\n")
        .replace("\r", "\n")
        .replace("\u2028", "\n")
        .replace("\u2029", "\n")
    )
    text = n._SPACES.sub(" ", text)
    text = n._NEWLINES.sub("\n", text).strip()
    if any("\u3400" <= ch <= "\u9fff" for ch in text):
        text = n._t2s().convert(text)
        converted = text
        for _sign, pattern, replacement in n._ZH_PUNCT:
            converted = pattern.sub(replacement, converted)
        converted = n._PARENS.sub(n._chinese_parens, converted)
        # character references and web addresses are put back as they were
        for m in n._VERBATIM.finditer(text):
            converted = converted[: m.start()] + m.group(0) + converted[m.end() :]
        text = converted
    return text


def plain_redact(text: str) -> n.Redaction:
    found = n.Redaction(text="")

    def take(bucket: list[str], placeholder: str):
        def _sub(m: re.Match[str]) -> str:
            bucket.append(re.sub(r"[-() （）]", "", m.group(0)))
            return placeholder

        return _sub

    text = n._ID_NUMBER.sub(take(found.id_numbers, n.ID_MARK), text)
    text = n._EMAIL.sub(take(found.emails, n.EMAIL_MARK), text)
    text = n._MOBILE.sub(take(found.phones, n.PHONE_MARK), text)
    text = n._LANDLINE.sub(take(found.phones, n.PHONE_MARK), text)
    found.text = text
    return found


def plain_dedup_key(text: str) -> str:
    return n._DEDUP_DROP.sub("", plain_normalize_text(text)).lower()


def same_everywhere(text: str) -> None:
    normalized = n.normalize_text(text)
    assert normalized == plain_normalize_text(text)
    assert n.dedup_key(text) == plain_dedup_key(text)
    assert n.redact(normalized) == plain_redact(normalized)
    assert n.redact(text) == plain_redact(text)


def real_texts() -> list[str]:
    texts = []
    for name in ("messages_with_likes.csv", "messages_with_replies.csv"):
        path = SHARED_DATA / name
        if path.exists():
            with path.open(encoding="utf-8-sig", newline="") as fh:
                for row in csv.DictReader(fh):
                    texts += [row["留言主题"] or "", row["留言详情"] or ""]
    return texts


def test_real_messages_come_out_exactly_as_before() -> None:
    texts = real_texts()
    if not texts:
        pytest.skip("TIPDM data not present")
    for text in texts:
        same_everywhere(text)


ALPHABET = list(
    "路灯坏了這個問題請儘快處理深沈答覆毛坏藉口瞭解甦醒乾隆著名，。！？：；（）,.!?:;()<>/&@"
    "ａｂ１２３ＡＢ　 \t\r\n\u2028\u200b\ufeff①…—“”《》〇㎡％．×é\u0301\u1100\u1161"
    "0123456789-+x@abcXK豐麵\U00020bb7\U0002a6a5\uf900\ufa0e"
)


@settings(max_examples=600, deadline=None)
@given(st.text(alphabet=st.sampled_from(ALPHABET), max_size=80))
def test_generated_text_comes_out_exactly_as_before(text: str) -> None:
    same_everywhere(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_any_text_comes_out_exactly_as_before(text: str) -> None:
    same_everywhere(text)


@pytest.mark.parametrize(
    "text",
    [
        "电话13912345678，身份证430102199001011234，邮箱a.b@qq.com，座机0731-88886666",
        "+86 139 1234 5678 和 (0731)88886666 以及 （0731）8888666",
        "订单号12345678901234567890不是电话，2019年5月1日，1,200元",
        "13912345678@qq.com",
    ],
)
def test_personal_data_is_found_as_before(text: str) -> None:
    same_everywhere(text)


def test_the_characters_that_skip_nfkc_are_left_alone_by_it() -> None:
    stable = re.compile(f"[{n._NFKC_STABLE}]")
    chars = [chr(c) for c in range(0x110000) if stable.match(chr(c))]
    assert len(chars) > 27_000
    second_halves = set()
    for c in range(0x110000):
        decomposition = unicodedata.decomposition(chr(c)).split()
        if len(decomposition) == 2 and not decomposition[0].startswith("<"):
            second_halves.add(chr(int(decomposition[1], 16)))
    for ch in chars:
        assert unicodedata.normalize("NFKC", ch) == ch, ch
        assert unicodedata.combining(ch) == 0, ch
        assert ch not in second_halves, ch


def test_every_t2s_phrase_that_changes_text_holds_a_character_that_triggers_conversion() -> None:
    """Read OpenCC's own phrase dictionary (with the opencc_dict tool its wheel ships)."""
    import opencc

    share = Path(opencc.__file__).parent / "clib" / "share" / "opencc"
    tool = Path(opencc.__file__).parent / "clib" / "bin" / "opencc_dict"
    if not tool.exists():
        pytest.skip("opencc_dict not shipped with this OpenCC")
    bmp, astral = n._t2s_changes()
    for name in ("TSPhrases", "TSCharacters", "TSCharactersExt"):
        out = subprocess.run(
            [str(tool), "-i", str(share / f"{name}.ocd2"), "-o", "/dev/stdout", "-f", "ocd2"]
            + ["-t", "text"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for line in out.splitlines():
            key, values = line.split("\t")
            if key != values.split(" ")[0]:
                assert bmp.search(key) or not astral.isdisjoint(key), (name, key)
