"""The report's charts draw real Chinese glyphs — not boxes, not pinyin — also when matplotlib's
font list was cached before the Chinese font was installed; 样本不足 departments are not ranked."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from minqing.charts import (
    INSUFFICIENT,
    categories_figure,
    cjk_font,
    drawing,
    funnel_figure,
    satisfaction_figure,
)
from minqing.i18n import using
from minqing.scores import funnel

ROOT = Path(__file__).resolve().parents[2]
WORDS = "民情直通车满意率"


def installed_font() -> str:
    font = cjk_font()
    if font is None:
        if os.environ.get("CI"):
            pytest.fail("no Chinese font found although CI installs fonts-wqy-zenhei")
        pytest.skip("no Chinese font installed (apt-get install fonts-wqy-zenhei); CI installs it")
    return font


def glyphs(text: str, font: str) -> tuple[list[np.ndarray], list[str]]:
    """Each character drawn alone, as a black-and-white bitmap, and matplotlib's warnings."""
    bitmaps = []
    with drawing(font), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for ch in text:
            fig = Figure(figsize=(0.6, 0.6), dpi=100)
            fig.text(0.5, 0.5, ch, fontsize=28, ha="center", va="center")
            out = io.BytesIO()
            fig.savefig(out, format="rgba")
            pixels = np.frombuffer(out.getvalue(), dtype=np.uint8).reshape(60, 60, 4)
            bitmaps.append(pixels[..., 0] < 128)
    return bitmaps, [str(w.message) for w in caught]


def rendered(fig: Figure, font: str) -> None:
    """Draw the figure; any missing glyph fails the test."""
    with drawing(font), warnings.catch_warnings():
        warnings.simplefilter("error")
        fig.savefig(io.BytesIO(), format="png")


def test_the_chosen_font_draws_each_chinese_character_as_its_own_glyph():
    font = installed_font()
    drawn, warned = glyphs(WORDS, font)
    assert not warned
    assert all(b.sum() > 20 for b in drawn)  # ink on every character
    assert len({b.tobytes() for b in drawn}) == len(WORDS)  # and each one different
    # the check can fail: a font without Chinese draws the same box for every character
    boxes, box_warnings = glyphs(WORDS, "DejaVu Sans")
    assert any("missing from font" in w for w in box_warnings)
    assert len({b.tobytes() for b in boxes}) < len(WORDS)


def scores() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "department": ["区城市管理局", "区教育局", "区交通运输局", "区卫生健康委"],
            "rated": [12, 1, 20, 0],
            "satisfaction_rate": [0.75, 1.0, 0.9, np.nan],
        }
    )


def test_departments_with_too_few_ratings_are_shown_as_insufficient_not_ranked_first():
    font = installed_font()
    with drawing(font):
        fig = satisfaction_figure(scores(), min_rated=10)
    rendered(fig, font)
    ax = fig.axes[0]
    # bottom to top: the department with one rating below, then by rate, the best on top
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "区教育局",
        "区城市管理局",
        "区交通运输局",
    ]
    bars = [p.get_width() for p in ax.patches]
    assert bars == pytest.approx([0, 75, 90])
    notes = [t.get_text() for t in ax.texts]
    assert notes[0] == f"{INSUFFICIENT}（1 条评价，少于 10 条）"
    assert notes[1:] == ["75.0%（12 条评价）", "90.0%（20 条评价）"]
    assert ax.get_title() == "各部门满意率"
    assert any(INSUFFICIENT in t.get_text() for t in fig.texts)  # the footnote says why


def test_every_chart_is_titled_and_labelled_in_chinese_without_missing_glyphs():
    font = installed_font()
    categories = pd.DataFrame(
        {"month": ["2026-10", "2026-11"], "城乡建设": [3, 4], "未分类": [1, 0], "total": [4, 4]}
    )
    at = pd.Timestamp("2026-11-02 01:00", tz="UTC")
    cases = pd.DataFrame({"case_id": [1, 2], "assigned_at": [at, None], "replied_at": [at, None],
                          "outcome": ["solved", None]})  # fmt: skip
    with drawing(font):
        figures = [
            satisfaction_figure(scores(), 10),
            categories_figure(categories),
            funnel_figure(funnel(cases)),
        ]
    for fig in figures:
        rendered(fig, font)
    titles = [fig.axes[0].get_title() for fig in figures]
    assert titles == [
        "各部门满意率",
        "各类问题件数",
        "办理漏斗：收集 → 立案 → 交办 → 答复 → 办成 → 满意",
    ]
    legend = [t.get_text() for t in figures[1].axes[0].get_legend().get_texts()]
    assert legend == ["城乡建设", "未分类"]
    stages = [t.get_text() for t in figures[2].axes[0].get_yticklabels()]
    assert stages == ["满意", "办成", "答复", "交办", "立案", "收集"]
    bars = [t.get_text() for t in figures[2].axes[0].texts]  # bottom (满意) up to 收集
    assert bars[-1] == "2 条（100.0%）" and bars[-2] == "2 件（100.0%）"  # opinions 条, cases 件
    every_text = [
        t.get_text() for fig in figures for t in fig.findobj(lambda o: hasattr(o, "get_text"))
    ]
    assert not any(w in " ".join(every_text).lower() for w in ("chengguan", "satisf", "cases"))


def test_with_english_chosen_the_charts_speak_english_and_keep_the_office_names_in_chinese():
    font = installed_font()
    categories = pd.DataFrame(
        {"month": ["2026-10", "2026-11"], "城乡建设": [3, 4], "未分类": [1, 0], "total": [4, 4]}
    )
    at = pd.Timestamp("2026-11-02 01:00", tz="UTC")
    cases = pd.DataFrame({"case_id": [1, 2], "assigned_at": [at, None], "replied_at": [at, None],
                          "outcome": ["solved", None]})  # fmt: skip
    with using("en"), drawing(font):
        figures = [
            satisfaction_figure(scores(), 10),
            categories_figure(categories),
            funnel_figure(funnel(cases)),
        ]
    for fig in figures:
        rendered(fig, font)  # the departments' Chinese names still need the Chinese font
    assert [fig.axes[0].get_title() for fig in figures] == [
        "Satisfaction by department",
        "Cases by category",
        "Handling funnel: collected → cases opened → assigned → replied → solved → satisfied",
    ]
    legend = [t.get_text() for t in figures[1].axes[0].get_legend().get_texts()]
    assert legend == ["城乡建设", "Uncategorised"]  # a category of config stays as written
    stages = [t.get_text() for t in figures[2].axes[0].get_yticklabels()]
    assert stages == ["Satisfied", "Solved", "Replied", "Assigned", "Cases opened", "Collected"]
    departments = {"区城市管理局", "区教育局", "区交通运输局", "城乡建设"}
    texts = [t.get_text() for fig in figures for t in fig.findobj(lambda o: hasattr(o, "get_text"))]
    chinese = [t for t in texts if re.search(r"[\u4e00-\u9fff]", t) and t not in departments]
    assert chinese == []
    assert "too few ratings (1, fewer than 10)" in [t.get_text() for t in figures[0].axes[0].texts]


def _python(script: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_font_installed_after_matplotlib_cached_its_font_list_is_still_found(tmp_path):
    font = installed_font()
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path / "mpl")}
    # matplotlib's first run on this machine, before the Chinese font was "installed": its
    # font list is cached without any system font
    _python("import matplotlib.font_manager", {**env, "MPL_IGNORE_SYSTEM_FONTS": "1"})
    assert list((tmp_path / "mpl").glob("fontlist-*.json"))
    # a later run with the font on the system reads that stale cache
    out = _python(
        f"""
        import json, warnings
        from pathlib import Path
        import pandas as pd
        from matplotlib import font_manager
        cached = sorted({{f.name for f in font_manager.fontManager.ttflist}})
        from minqing.charts import cjk_font, satisfaction_chart
        found = cjk_font()
        warnings.simplefilter("error")
        scores = pd.DataFrame({{"department": ["区城市管理局"], "rated": [12], "satisfaction_rate": [0.75]}})
        satisfaction_chart(scores, Path({str(tmp_path / "s.png")!r}), found, 10)
        print(json.dumps({{"cached": cached, "found": found}}))
        """,
        env,
    )
    result = json.loads(out.strip().splitlines()[-1])
    assert font not in result["cached"]  # the cache really was stale
    assert result["found"] == font
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"


def test_without_any_chinese_font_no_font_is_claimed(tmp_path):
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path / "mpl"), "MPL_IGNORE_SYSTEM_FONTS": "1"}
    out = _python("from minqing.charts import cjk_font; print(cjk_font())", env)
    assert out.strip().splitlines()[-1] == "None"


def test_a_period_without_new_cases_says_so_of_the_cases_opened_not_of_all():
    """A month whose cases were all received earlier (and assigned now) opened none: the chart
    says 本期没有新立案的案件, not 本期无案件 beside a report counting 178 assigned."""
    font = installed_font()
    with drawing(font):
        fig = categories_figure(pd.DataFrame({"month": [], "total": []}))
    assert [t.get_text() for t in fig.axes[0].texts] == ["本期没有新立案的案件"]
