"""Streaming: the other text channels read a 30 MB file in bounded memory too (the hotline's
100 MB test is in test_channels_hotline.py). Each parse runs in a fresh interpreter whose peak
RSS is compared with the same parse of a small file."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SIZE = 30 * 1024 * 1024
TEXT = "东湖社区路灯坏了很久晚上很黑请尽快修理" * 18

_PROBE = textwrap.dedent(
    """
    import resource, sys
    from pathlib import Path
    from minqing.channels import get_parser
    count = sum(1 for _ in get_parser(sys.argv[1]).parse(Path(sys.argv[2]), "x"))
    print(count, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """
)


def peak_rss_kb(channel: str, path: Path) -> tuple[int, int]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, channel, str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    count, rss = done.stdout.split()
    return int(count), int(rss)


def register_csv(path: Path, size: int) -> int:
    rows = 0
    with path.open("w", encoding="gb18030", newline="") as fh:
        fh.write("接待日期,群众姓名,联系电话,反映内容,接待代表,是否现场答复\n")
        while fh.tell() < size:
            fh.write(
                "".join(
                    f"2026-11-27 09:{i % 60:02d},周{i},139{i:08d},{TEXT}{i},李秀英,否\n"
                    for i in range(rows, rows + 500)
                )
            )
            rows += 500
    return rows


def wechat_txt(path: Path, size: int) -> int:
    rows = 0
    with path.open("w", encoding="utf-8") as fh:
        while fh.tell() < size:
            fh.write(
                "".join(
                    f"2026-11-27 {8 + i // 3600 % 12:02d}:{i // 60 % 60:02d}:{i % 60:02d} 居民{i % 50}\n{TEXT}{i}\n"
                    for i in range(rows, rows + 500)
                )
            )
            rows += 500
    return rows


def visits_csv(path: Path, size: int) -> int:
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("企业名称,走访日期,走访代表,问题与建议\n")
        while fh.tell() < size:
            fh.write(
                "".join(
                    f"企业{i},2026-11-27,王磊,1、{TEXT}{i}；2、停车难{i}\n"
                    for i in range(rows, rows + 500)
                )
            )
            rows += 500
    return rows * 2  # two points per visit


@pytest.mark.parametrize(
    ("channel", "make"),
    [("register", register_csv), ("wechat", wechat_txt), ("visits", visits_csv)],
)
def test_a_large_file_is_streamed_in_bounded_memory(
    tmp_path, channel: str, make: Callable[[Path, int], int]
) -> None:
    big, small = tmp_path / "big.txt", tmp_path / "small.txt"
    expected = make(big, SIZE)
    make(small, 1)
    count, big_rss = peak_rss_kb(channel, big)
    _, small_rss = peak_rss_kb(channel, small)
    assert count == expected
    # The file whole in memory would be > 60 MB (bytes + text); the per-row key counters
    # (8-byte digests) are the only thing that grows.
    assert big_rss - small_rss < 25 * 1024, (big_rss, small_rss)
