"""WeChat group exports (随手拍): messages, noise, photos, overlapping exports."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minqing.channels import file_checksum, get_parser
from minqing.channels.wechat import is_noise, parse_header
from minqing.records import Item, Rejected

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample" / "night1" / "inbox" / "wechat" / "随手拍群_20261127.txt"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def parse(path: Path, options=None) -> list[Item | Rejected]:
    return list(get_parser("wechat", options).parse(path, file_checksum(path)))


def by_ref(out):
    return {o.source_ref.split(":")[1]: o for o in out}


CHAT = """\
2026-11-27 08:15:32 张阿姨
[图片]
2026-11-27 08:15:58 张阿姨
东湖花园北门的路灯坏了一个多星期了
晚上黑乎乎的
2026-11-27 08:16:20 李师傅
收到👍
2026-11-27 08:40:03 刘先生
湖滨路菜场门口电动车乱停，把盲道都占了
[图片]
[图片: IMG_0815.jpg]
2026-11-27 08:41:10 王奶奶
[表情]
2026-11-27 08:42:00 赵女士
[语音]
2026-11-27 08:43:00 系统消息
"小林"撤回了一条消息
2026-11-27 09:10:45 李大爷
3栋楼下化粪池冒了
2026-11-27 09:11:02 李大爷
[图片]
2026-11-27 11:00:00 孙老师
[图片]
"""


def test_each_message_becomes_one_item_or_one_rejection(tmp_path) -> None:
    out = parse(write(tmp_path / "随手拍群_20261127.txt", CHAT))
    refs = by_ref(out)
    assert sorted(refs, key=int) == ["1", "3", "6", "8", "12", "14", "16", "18", "20", "22"]
    assert refs["3"].text == "东湖花园北门的路灯坏了一个多星期了\n晚上黑乎乎的"
    assert refs["3"].contact.name == "张阿姨" and refs["3"].recorded_by == "随手拍群"
    assert refs["3"].received_at.isoformat() == "2026-11-27T00:15:58+00:00"
    assert refs["6"].reason.code == "not_an_opinion"
    assert refs["12"].reason.code == "not_an_opinion"
    assert str(refs["14"].reason) == "语音或通话，没有文字"
    assert str(refs["16"].reason) == "群系统消息"


def test_photos_are_attachments_of_their_message(tmp_path) -> None:
    refs = by_ref(parse(write(tmp_path / "随手拍群_20261127.txt", CHAT)))
    assert refs["8"].attachments == ("图片:随手拍群_20261127.txt:8#1", "图片:IMG_0815.jpg")
    # a photo sent alone just before or after the sender's text joins that text
    assert refs["3"].attachments == ("图片:随手拍群_20261127.txt:1#1",)
    assert str(refs["1"].reason) == "只有照片：已附在 随手拍群_20261127.txt:3 的留言后"
    assert refs["18"].attachments == ("图片:随手拍群_20261127.txt:20#1",)
    assert str(refs["20"].reason).startswith("只有照片：已附在")
    # a photo that no text of its sender follows is kept as a rejection, not dropped
    assert str(refs["22"].reason) == "只有照片，没有文字"


@pytest.mark.parametrize(
    "text",
    [
        "收到",
        "好的",
        "好的好的",
        "收到收到！",
        "谢谢👍",
        "👍👍",
        "[强][强]",
        "早上好",
        "大家好[抱拳]",
        "@张阿姨 收到",
        "OK",
        "谢谢大家，辛苦了",
        "好的呀",
        "+1",
        "已处理",
    ],
)
def test_chat_noise_is_not_an_opinion(text: str) -> None:
    assert is_noise(text, ("已处理",))


@pytest.mark.parametrize(
    "text",
    ["好的路灯什么时候修", "收到通知了，但是停车问题还没解决", "谢谢，另外3栋漏水", "路灯坏了"],
)
def test_messages_with_content_are_not_noise(text: str) -> None:
    assert not is_noise(text)


@pytest.mark.parametrize(
    ("line", "sender", "written"),
    [
        ("2026-11-27 08:15:32 张阿姨", "张阿姨", "2026-11-27 08:15:32"),
        ("张阿姨 2026/11/27 8:15", "张阿姨", "2026/11/27 8:15"),
        ("[2026-11-27 08:15:32] Lucy 王:", "Lucy 王", "2026-11-27 08:15:32"),
        ("2026年11月27日 08:15 东湖·老周", "东湖·老周", "2026年11月27日 08:15"),
    ],
)
def test_both_header_forms_are_recognised(line: str, sender: str, written: str) -> None:
    header = parse_header(line)
    assert header is not None and header[1:3] == (sender, written)


def test_once_the_header_form_is_known_a_message_line_is_not_taken_for_a_header(tmp_path) -> None:
    chat = "2026-11-27 08:15:00 张阿姨\n路灯坏了，\n反映时间 2026-11-27 07:00\n2026-11-27 08:20:00 王先生\n停车难\n"
    out = parse(write(tmp_path / "g.txt", chat))
    assert [o.text for o in out] == ["路灯坏了，\n反映时间 2026-11-27 07:00", "停车难"]


def test_the_export_preamble_sets_the_group_and_other_text_is_not_dropped(tmp_path) -> None:
    chat = "群聊：东湖随手拍群\n导出时间：2026-11-27 22:00\n这是一段说明\n2026-11-27 08:15:32 张阿姨\n路灯坏了\n"
    out = parse(write(tmp_path / "export.txt", chat))
    assert str(out[0].reason).startswith("第一条消息之前的文字")
    assert out[1].recorded_by == "东湖随手拍群"


def test_a_file_without_any_header_is_one_rejection(tmp_path) -> None:
    out = parse(write(tmp_path / "notes.txt", "随便写的一些字\n没有时间也没有发送人\n"))
    assert len(out) == 1 and isinstance(out[0], Rejected)


def test_staff_senders_are_rejected(tmp_path) -> None:
    chat = "2026-11-27 07:02:11 网格员小李\n各位居民请配图反映问题\n"
    [out] = parse(write(tmp_path / "g.txt", chat), {"staff_senders": ["网格员小李"]})
    assert str(out.reason) == "工作人员发言，不是群众意见"


def test_an_overlapping_export_of_the_next_day_adds_nothing(tmp_path) -> None:
    day1 = parse(write(tmp_path / "随手拍群_20261127.txt", CHAT))
    more = "2026-11-28 08:00:00 张阿姨\n路灯还没修\n"
    day2 = parse(
        write(
            tmp_path / "随手拍群_20261128.txt",
            CHAT.split("2026-11-27 08:16:20")[0]
            + "2026-11-27 08:16:20"
            + CHAT.split("2026-11-27 08:16:20")[1]
            + more,
            "gb18030",
        )
    )
    keys1 = {o.source_key for o in day1}
    new = [o for o in day2 if o.source_key not in keys1]
    assert [o.text for o in new] == ["路灯还没修"]
    assert [o.source_key for o in parse(tmp_path / "随手拍群_20261127.txt")] == [
        o.source_key for o in day1
    ]


def test_identical_messages_in_the_same_second_keep_separate_keys(tmp_path) -> None:
    chat = "2026-11-27 08:15:32 张阿姨\n路灯坏了\n2026-11-27 08:15:32 张阿姨\n路灯坏了\n"
    out = parse(write(tmp_path / "g.txt", chat))
    assert len({o.source_key for o in out}) == 2


def test_undecodable_and_overlong_messages(tmp_path) -> None:
    path = tmp_path / "g.txt"
    path.write_bytes(
        "2026-11-27 08:15:32 张阿姨\n路灯坏了\n2026-11-27 08:16:00 王先生\n".encode()
        + b"\xff\xfe\xfd\n"
        + ("2026-11-27 08:17:00 李四\n" + "很长" * 6000 + "\n").encode()
    )
    out = by_ref(parse(path))
    assert str(out["3"].reason) == "文字编码无法识别（文件混用了不同编码，或编码有误）"
    assert "overlong" in out["5"].flags and len(out["5"].text) == 12000


def test_the_demo_sample_is_accounted_for(tmp_path) -> None:
    path = Path(shutil.copy(SAMPLE, tmp_path / SAMPLE.name))
    options = yaml.safe_load((REPO / "config" / "channels.yaml").read_text(encoding="utf-8"))[
        "channels"
    ]["wechat"]
    out = parse(path, options)
    headers = [line for line in path.read_text(encoding="utf-8").splitlines() if parse_header(line)]
    items = [o for o in out if isinstance(o, Item)]
    assert len(out) == len(headers) == 25
    assert len(items) == 8 and sum(bool(i.attachments) for i in items) == 4


lines = st.one_of(
    st.text(
        alphabet=st.characters(
            blacklist_categories=("Cs",),
            blacklist_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029",
        ),
        max_size=30,
    ),
    st.sampled_from(["[图片]", "收到", "路灯坏了", "[语音]", "👍", "[文件: a.pdf]"]),
)
messages = st.tuples(
    st.sampled_from(["张阿姨", "李师傅", "系统消息"]),
    st.integers(0, 3600),
    st.lists(lines, max_size=3),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(messages, max_size=10))
def test_arbitrary_messages_never_crash_and_each_is_one_item_or_rejection(tmp_path, msgs) -> None:
    text = "".join(
        f"2026-11-27 {8 + second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d} {sender}\n"
        + "".join(line + "\n" for line in body)
        for sender, second, body in msgs
    )
    path = write(tmp_path / "prop.txt", text)
    out = parse(path)
    header_lines = [i for i, line in enumerate(text.split("\n"), start=1) if parse_header(line, 0)]
    assert sorted(int(o.source_ref.split(":")[1]) for o in out) == header_lines
