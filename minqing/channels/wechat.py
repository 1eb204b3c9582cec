"""WeChat group export (随手拍): a plain-text chat log, one message per header line.

    2026-11-27 08:15:32 张阿姨            or      张阿姨 2026/11/27 8:15
    滨江路3号路灯坏了一个星期
    [图片]

Every message ends as one Item or one Rejected: chat noise (收到, 好的, 👍, stickers, 早上好 …)
is rejected as "not an opinion", system lines as "system message". Photos ([图片], [视频],
[文件: x.pdf]) become `Item.attachments`; a photo sent on its own just before or after the
sender's text (within `photo_merge_minutes`) is attached to that text and its own message is
recorded as a Rejected saying where it went. The key is group + time + sender + text hash, so
the overlapping export of the next day adds nothing.

Options (config/channels.yaml `channels.wechat`):
  group:               group name (default: 群聊： line of the export, else the file name
                       without its date: 随手拍群_20261127.txt → 随手拍群)
  area:                default area of the group's messages
  staff_senders:       senders whose messages are the office's own (notices, replies)
  noise_phrases:       more phrases that alone are not an opinion
  photo_merge_minutes: default 5
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from minqing.channels.base import (
    ChannelParser,
    Occurrences,
    check_text,
    make_source_key,
    parse_datetime,
    register,
    safe_excerpt,
    text_digest,
    text_flags,
    undecodable_reason,
)
from minqing.channels.textfile import has_undecodable, open_text
from minqing.reasons import Reason, reason
from minqing.records import Contact, Item, Rejected

MAX_MESSAGE_CHARS = 100_000

_DATE = r"\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*日?"
_TIME = r"\d{1,2}:\d{2}(?::\d{2})?"
# "2026-11-27 08:15:32 张阿姨" (optionally "[…] 张阿姨:") and "张阿姨 2026/11/27 8:15".
_HEADER_TIME_FIRST = re.compile(
    rf"^\s*[\[【(]?(?P<date>{_DATE})\s+(?P<time>{_TIME})[\]】)]?\s+(?P<sender>[^\s].{{0,39}}?)\s*[:：]?\s*$"
)
_HEADER_SENDER_FIRST = re.compile(
    rf"^\s*(?P<sender>[^\s\[【].{{0,39}}?)\s+[\[【(]?(?P<date>{_DATE})\s+(?P<time>{_TIME})[\]】)]?\s*[:：]?\s*$"
)
_GROUP_LINE = re.compile(r"^\s*(?:群聊|群名称|群聊名称|群名|聊天对象)\s*[:：]\s*(?P<name>.+?)\s*$")
# What export tools write above the messages about the export itself.
_EXPORT_META = re.compile(
    r"^\s*(?:导出时间|导出工具|导出范围|聊天记录|消息总数|消息数量|共\s*\d+\s*条|=+|-+)"
)

_PLACEHOLDER = re.compile(
    r"\[(?P<kind>图片|照片|视频|小视频|文件|表情|动画表情|语音|链接|位置|名片|小程序|红包|转账|"
    r"聊天记录|音乐|视频号|语音通话|视频通话)(?:\s*[:：]\s*(?P<name>[^\]\n]{0,200}))?\]"
)
_ATTACHMENT_KINDS = {"图片", "照片", "视频", "小视频", "文件"}
_VOICE_KINDS = {"语音", "语音通话", "视频通话"}
_SYSTEM = re.compile(
    r"撤回了一条消息|加入了群聊|移出了群聊|退出了群聊|修改群名为|拍了拍|成为新群主|"
    r"开启了群聊邀请确认|以上是打招呼的内容|现在可以开始聊天了|与群里其他人都不是朋友关系"
)
_SYSTEM_SENDERS = {"系统消息", "系统", "system"}
_MENTION = re.compile(r"[@＠]\S{1,20}(?:\s|$)")
_EMOJI_CODE = re.compile(r"\[[^\[\]\s]{1,4}\]")  # WeChat's text emoji: [强] [握手] [玫瑰]

NOISE_PHRASES = (
    "收到",
    "好的",
    "好滴",
    "好嘞",
    "好",
    "嗯",
    "嗯嗯",
    "哦",
    "噢",
    "ok",
    "okay",
    "谢谢",
    "谢谢大家",
    "感谢",
    "多谢",
    "谢了",
    "辛苦了",
    "辛苦",
    "辛苦啦",
    "大家辛苦了",
    "点赞",
    "赞",
    "支持",
    "同意",
    "哈哈",
    "呵呵",
    "早上好",
    "早安",
    "早",
    "大家好",
    "大家早上好",
    "中午好",
    "下午好",
    "晚上好",
    "晚安",
    "你好",
    "您好",
    "各位好",
    "明白",
    "了解",
    "知道了",
    "已阅",
    "1",
    "+1",
    "对",
    "是的",
    "谢谢领导",
    "谢谢书记",
    "谢谢主任",
    "感谢领导",
    "感谢社区",
    "谢谢社区",
    "为你点赞",
    "给力",
)


@dataclass
class _Message:
    line: int
    sender: str
    time_text: str
    time: datetime
    lines: list[str] = field(default_factory=list)
    chars: int = 0
    cut: bool = False

    def add(self, line: str) -> None:
        if self.chars >= MAX_MESSAGE_CHARS:
            self.cut = True
            return
        self.lines.append(line)
        self.chars += len(line) + 1

    @property
    def body(self) -> str:
        return "\n".join(self.lines).strip()


_HEADERS = (_HEADER_TIME_FIRST, _HEADER_SENDER_FIRST)


def parse_header(line: str, form: int | None = None) -> tuple[int, str, str, datetime] | None:
    """(form, sender, time as written, time in UTC) when `line` starts a message.

    `form` is the header form the export uses (0: time first, 1: sender first); once the
    first header is seen only that form counts, so a message line such as "反映时间
    2026-11-27 08:00" is not taken for a header of the other form.
    """
    for index, pattern in enumerate(_HEADERS):
        if form is not None and index != form:
            continue
        m = pattern.match(line)
        if m:
            written = f"{m.group('date')} {m.group('time')}"
            when = parse_datetime(re.sub(r"\s+", "", m.group("date")) + " " + m.group("time"))
            sender = m.group("sender").strip().rstrip(":：")
            if when is not None and sender and not _PLACEHOLDER.fullmatch(sender):
                return index, sender, written, when
    return None


def is_noise(text: str, extra: tuple[str, ...] = ()) -> bool:
    """True when a message's words are only chat noise: acknowledgements, thanks, greetings,
    emoji and stickers ('收到', '好的好的', '谢谢👍', '@张三 收到', '[强][强]')."""
    text = _PLACEHOLDER.sub("", text)
    text = _MENTION.sub("", text + " ")
    text = _EMOJI_CODE.sub("", text)
    compact = "".join(
        ch for ch in unicodedata.normalize("NFKC", text).lower() if ch.isalnum() or ch == "+"
    )
    return not compact or _noise_pattern(extra).fullmatch(compact) is not None


@lru_cache(maxsize=8)
def _noise_pattern(extra: tuple[str, ...]) -> re.Pattern[str]:
    phrases = sorted({p.lower() for p in (*NOISE_PHRASES, *extra)}, key=len, reverse=True)
    # Any run of noise phrases, with trailing particles: 好的好的, 收到啦, 谢谢哈.
    return re.compile("(?:" + "|".join(map(re.escape, phrases)) + ")+[啊呀啦哈哦嘛呢吧了的!]*")


@register
class WeChatParser(ChannelParser):
    channel = "wechat"
    suffixes = (".txt", ".log", ".csv")

    def parse(self, path: Path, checksum: str) -> Iterator[Item | Rejected]:
        state = _State(self, path, checksum)
        with open_text(path) as lines:
            yield from state.read(lines)


class _State:
    """One pass over one export; holds at most the messages of the last few minutes."""

    def __init__(self, parser: WeChatParser, path: Path, checksum: str) -> None:
        options = parser.options
        self.channel = parser.channel
        self.path = path
        self.checksum = checksum
        self.group = (
            options.get("group") or re.sub(r"[_\-\s]*\d{6,8}.*$", "", path.stem) or path.stem
        )
        self.group_from_file = not options.get("group")
        self.area = options.get("area")
        self.staff = {str(s) for s in options.get("staff_senders") or ()}
        self.noise = tuple(str(p) for p in options.get("noise_phrases") or ())
        self.window = timedelta(minutes=float(options.get("photo_merge_minutes", 5)))
        self.seen = Occurrences()
        self.held: dict[str, tuple[Item, datetime]] = {}  # last text item per sender
        self.photos: dict[str, list[tuple[Rejected, list[str], datetime]]] = {}

    def read(self, lines) -> Iterator[Item | Rejected]:
        current: _Message | None = None
        preamble: list[tuple[int, str]] = []
        form: int | None = None
        for line_no, line in enumerate(lines, start=1):
            line = line.rstrip("\r\n")
            header = parse_header(line, form) if not has_undecodable(line) else None
            if header:
                if current is not None:
                    yield from self.message(current)
                elif preamble:
                    yield from self.preamble(preamble)
                    preamble = []
                form = header[0]
                current = _Message(line_no, *header[1:])
            elif current is not None:
                current.add(line)
            elif line.strip():
                m = _GROUP_LINE.match(line)
                if m:
                    if self.group_from_file:
                        self.group = m.group("name")
                elif not _EXPORT_META.match(line) and len(preamble) < 50:
                    preamble.append((line_no, line))
        if current is not None:
            yield from self.message(current)
        elif preamble:
            yield from self.preamble(preamble)
        yield from self.flush(None)

    def preamble(self, lines: list[tuple[int, str]]) -> Iterator[Rejected]:
        text = "\n".join(line for _, line in lines)
        key = make_source_key(self.channel, self.group, "preamble", text_digest(text))
        ref = f"{self.path.name}:{lines[0][0]}"
        why = reason("before_first_message")
        yield Rejected(self.channel, key, ref, why, self.path.name, safe_excerpt(text))

    def message(self, msg: _Message) -> Iterator[Item | Rejected]:
        yield from self.flush(msg.time)
        body = msg.body
        digest = text_digest(body)
        parts = (self.group, msg.time.isoformat(), msg.sender, digest)
        key = make_source_key(self.channel, *parts, self.seen.number(*parts))
        ref = f"{self.path.name}:{msg.line}"

        def reject(why: Reason) -> Rejected:
            excerpt = f"{msg.time_text} {msg.sender}: {body}"
            return Rejected(self.channel, key, ref, why, self.path.name, safe_excerpt(excerpt))

        if has_undecodable(body):
            yield reject(undecodable_reason())
            return
        if msg.sender in _SYSTEM_SENDERS or _SYSTEM.search(body):
            yield reject(reason("group_system_message"))
            return
        if msg.sender in self.staff:
            yield reject(reason("staff_message"))
            return
        kinds = [m.group("kind") for m in _PLACEHOLDER.finditer(body)]
        attachments = [
            f"{m.group('kind')}:{(m.group('name') or '').strip() or f'{ref}#{n}'}"
            for n, m in enumerate(_PLACEHOLDER.finditer(body), start=1)
            if m.group("kind") in _ATTACHMENT_KINDS
        ]
        text = _PLACEHOLDER.sub("", body).strip()
        if not text:
            if attachments:
                yield from self.photo_only(msg, reject(reason("photo_only")), attachments)
            elif any(k in _VOICE_KINDS for k in kinds):
                yield reject(reason("voice_or_call"))
            else:
                yield reject(reason("not_an_opinion"))
            return
        if check_text(text) or is_noise(text, self.noise):
            yield reject(reason("not_an_opinion"))
            return
        flags = list(text_flags(text))
        if msg.cut:
            flags.append(f"cut_at_{MAX_MESSAGE_CHARS}_chars")
        item = Item(
            channel=self.channel,
            source_key=key,
            source_ref=ref,
            received_at=msg.time,
            text=text,
            source_file=self.path.name,
            file_checksum=self.checksum,
            area=self.area,
            recorded_by=self.group,
            contact=Contact(name=msg.sender),
            attachments=tuple(attachments),
            flags=tuple(flags),
            raw={
                "line": msg.line,
                "group": self.group,
                "sender": msg.sender,
                "time": msg.time_text,
                "message": body,
            },
        )
        if msg.sender in self.held:
            yield self.held.pop(msg.sender)[0]
        for photo, refs, _when in self.photos.pop(msg.sender, []):
            item.attachments += tuple(refs)
            yield _moved(photo, item)
        self.held[msg.sender] = (item, msg.time)

    def photo_only(self, msg: _Message, rejected: Rejected, refs: list[str]) -> Iterator[Rejected]:
        held = self.held.get(msg.sender)
        if held and timedelta(0) <= msg.time - held[1] <= self.window:
            held[0].attachments += tuple(refs)
            yield _moved(rejected, held[0])
        else:
            self.photos.setdefault(msg.sender, []).append((rejected, refs, msg.time))

    def flush(self, now: datetime | None) -> Iterator[Item | Rejected]:
        """Give out what can no longer be joined: everything at the end, else what is older
        than the window (or out of order) relative to `now`."""

        def stale(when: datetime) -> bool:
            return now is None or not timedelta(0) <= now - when <= self.window

        for sender in [s for s, (_held, when) in self.held.items() if stale(when)]:
            yield self.held.pop(sender)[0]
        for sender in [s for s, photos in self.photos.items() if stale(photos[-1][2])]:
            for photo, _refs, _when in self.photos.pop(sender):
                yield photo


def _moved(photo: Rejected, item: Item) -> Rejected:
    return Rejected(
        photo.channel,
        photo.source_key,
        photo.source_ref,
        reason("photo_attached", ref=item.source_ref),
        photo.source_file,
        photo.excerpt,
    )
