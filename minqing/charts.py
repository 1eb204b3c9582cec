"""The report's charts as PNG files (matplotlib, no display needed): 满意率 by department, cases
by category over time, and the funnel 收集 → 立案 → 交办 → 答复 → 办成 → 满意.

The charts speak the reader's language (titles, axes, stages from the catalogue) and show the
departments and categories as the office named them, in Chinese: they need a font with Chinese
glyphs whatever the language. `cjk_font()` finds one even
when matplotlib's font list was cached before the font was installed (a common order: first
run, then `apt-get install fonts-wqy-zenhei`); when the machine has none at all the report
draws no charts and says so at the top of its summary (`NO_CJK_WARNING`) — never boxes, never
pinyin department codes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import font_manager, ft2font, rc_context
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from minqing.i18n import N_, _, ngettext
from minqing.report import UNCATEGORISED
from minqing.scores import stage_label

log = logging.getLogger(__name__)

# Preferred when present, in this order: e.g. Debian's fonts-noto-cjk and fonts-wqy-zenhei, or
# the fonts of Windows and macOS. Any other font that has the glyphs below is used after these.
CJK_FONTS = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
    "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Sarasa Gothic SC", "SimHei", "Microsoft YaHei",
    "PingFang SC", "Heiti SC", "Noto Sans CJK JP", "Droid Sans Fallback", "AR PL UMing CN",
    "Noto Serif CJK SC",
)  # fmt: skip
# A font that draws all of these draws the charts' words (titles, departments, categories).
PROBE = "民情直通车各部门满意率办理漏斗收集交办答复办成样本不足件数类问题"
NO_CJK_WARNING = N_(
    "本机未安装中文字体，本期报告未生成图表（以免图中文字显示为方框）；表格和数据不受影响。"
    "请安装中文字体（如 Debian 的 fonts-noto-cjk 或 fonts-wqy-zenhei）后重新生成报告。"
)
NO_CJK_NIGHT_WARNING = N_(
    "本机未安装中文字体：评议报告将不含图表。请安装中文字体（如 Debian 的 fonts-noto-cjk 或 "
    "fonts-wqy-zenhei）。"
)
INSUFFICIENT = N_("样本不足")


def _covers(path: str, face_index: int = 0) -> bool:
    try:
        face = ft2font.FT2Font(path, face_index=face_index) if face_index else ft2font.FT2Font(path)
        charmap = face.get_charmap()
    except (OSError, RuntimeError, ValueError):
        return False
    return all(ord(ch) in charmap for ch in PROBE)


def _preferred(fonts: Iterable[font_manager.FontEntry]) -> str | None:
    names = {f.name for f in fonts}
    return next((name for name in CJK_FONTS if name in names), None)


def _any_covering(fonts: Iterable[font_manager.FontEntry]) -> str | None:
    """A font of the system (not one of matplotlib's own, whose "Last Resort" font has a
    placeholder for every character) that has a glyph for every character of PROBE."""
    bundled = str(Path(matplotlib.get_data_path()).resolve())
    seen: set[tuple[str, int]] = set()
    for f in sorted(fonts, key=lambda f: f.name):
        key = (f.fname, getattr(f, "index", 0))  # faces of a .ttc (matplotlib ≥ 3.10)
        if key in seen or str(Path(f.fname).resolve()).startswith(bundled):
            continue
        seen.add(key)
        if f.fname.lower().endswith((".ttf", ".otf", ".ttc")) and _covers(*key):
            return f.name
    return None


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family name of an installed font that draws Chinese, or None when there is none.

    matplotlib keeps its list of the system's fonts in a cache file built on first use and never
    refreshed; a font installed later is missing from it. When the list has no known Chinese
    font, the font files on the system that it does not know yet are registered directly
    (cheap: only the new files are read) before looking again, by name and then by glyphs."""
    manager = font_manager.fontManager
    found = _preferred(manager.ttflist)
    if found is not None:
        return found
    known, names = {f.fname for f in manager.ttflist}, {f.name for f in manager.ttflist}
    for path in font_manager.findSystemFonts():
        if path not in known:
            try:
                manager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                log.debug("unreadable font file %s", path)
    found = _preferred(manager.ttflist) or _any_covering(manager.ttflist)
    if found is not None and found not in names:
        log.info("font %r was missing from matplotlib's cached font list; registered it", found)
    return found


@contextmanager
def drawing(font: str) -> Iterator[None]:
    """Draw with `font` (DejaVu Sans for what it lacks). matplotlib's notes that e.g. WenQuanYi
    has weight 500 where 400 was asked for are not an operator's concern: kept out of the log."""
    logger = logging.getLogger("matplotlib.font_manager")
    level = logger.level
    logger.setLevel(logging.ERROR)
    rc = {"font.family": "sans-serif", "font.sans-serif": [font, "DejaVu Sans"],
          "axes.unicode_minus": False}  # fmt: skip
    try:
        with rc_context(rc):  # type: ignore[arg-type]  # keys are rcParams names
            yield
    finally:
        logger.setLevel(level)


RATE = "satisfaction_rate"


def satisfaction_figure(scores: pd.DataFrame, min_rated: int) -> Figure:
    """Horizontal bars: 满意率 per department with its number of ratings, highest on top.

    Like the score table, a department with fewer than `min_rated` ratings is not compared: it
    is listed below the others as 样本不足 with its count, without a bar (one rating would
    otherwise rank it first at 100 %). Departments without any rating are left out."""
    rated = scores[scores["rated"] > 0]
    enough = rated[rated["rated"] >= min_rated].sort_values(RATE, kind="stable")
    few = rated[rated["rated"] < min_rated].sort_values(
        "department", ascending=False, kind="stable"
    )
    fig = Figure(figsize=(8, 0.45 * max(len(rated), 3) + 1.8), dpi=110)
    ax = fig.subplots()
    names = [*few["department"], *enough["department"]]
    if names:
        values = np.concatenate([np.zeros(len(few)), 100 * enough[RATE].astype(float).to_numpy()])
        ax.barh(names, values, color="#4472c4")
        counts = [*few["rated"], *enough["rated"]]
        for y, (value, n) in enumerate(zip(values, counts, strict=True)):
            if y < len(few):
                text = ngettext(
                    "样本不足（%(n)d 条评价，少于 %(min)d 条）",
                    "样本不足（%(n)d 条评价，少于 %(min)d 条）",
                    n,
                ) % {"n": n, "min": min_rated}
                colour = "#888888"
            else:
                text = ngettext(
                    "%(rate).1f%%（%(n)d 条评价）", "%(rate).1f%%（%(n)d 条评价）", n
                ) % {"rate": value, "n": n}
                colour = "#222222"
            ax.text(min(value, 100) + 1, y, text, va="center", fontsize=8, color=colour)
    else:
        ax.set_yticks([])
        ax.text(0.5, 0.5, _("本期无评价"), ha="center", transform=ax.transAxes)
    ax.set_xlim(0, 125)  # room for the labels right of a full bar
    ax.set_xticks(range(0, 101, 20))
    ax.set_xlabel(_("满意率（满意 + 基本满意）%"))
    ax.set_title(_("各部门满意率"))
    if len(few):
        note = ngettext(
            "评价少于 %(min)d 条的部门标为样本不足，不比较满意率、不排名。",
            "评价少于 %(min)d 条的部门标为样本不足，不比较满意率、不排名。",
            min_rated,
        ) % {"min": min_rated}
        fig.text(0.01, 0.01, note, fontsize=8, color="#666666")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def categories_figure(categories: pd.DataFrame) -> Figure:
    """Stacked bars: cases collected per category in each month (or week); the table of
    minqing.report.categories_over_time."""
    bucket = categories.columns[0] if len(categories.columns) else "month"
    kinds = [c for c in categories.columns[1:] if c != "total"]
    fig = Figure(figsize=(9, 4.8), dpi=110)
    ax = fig.subplots()
    x = np.arange(len(categories))
    bottom = np.zeros(len(categories))
    for kind in kinds:
        values = categories[kind].to_numpy(dtype=float)
        ax.bar(x, values, bottom=bottom, label=_(UNCATEGORISED) if kind == UNCATEGORISED else kind)
        bottom += values
    step = max(1, -(-len(categories) // 24))  # at most about 24 labels under the bars
    ax.set_xticks(x[::step], [str(v) for v in categories[bucket]][::step], rotation=45, ha="right")
    ax.set_ylabel(_("件数"))
    ax.set_title(_("各类问题件数"))
    if kinds:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # cases are counted whole
    else:  # no scale to read: no 0.0–1.0 axis either
        ax.text(0.5, 0.5, _("本期没有新立案的案件"), ha="center", transform=ax.transAxes)
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def funnel_figure(funnel: pd.DataFrame, *, split: bool = False) -> Figure:
    """The funnel as bars that only shrink, each with its count and share of 收集. `split`:
    交办 and the stages after it count other cases than 收集 and 立案 (those assigned in the
    period, `funnel(..., assigned=...)`): a dashed line between them says so."""
    fig = Figure(figsize=(8, 4), dpi=110)
    ax = fig.subplots()
    stages = list(funnel["stage"])[::-1]
    names = [stage_label(stage) for stage in stages]
    counts = funnel["count"].to_numpy()[::-1]
    shares = funnel["share_of_collected"].to_numpy()[::-1]
    top = max(int(counts.max()) if len(counts) else 0, 1)
    ax.barh(names, counts, left=(top - counts) / 2, color="#70ad47")
    for y, (stage, n, share) in enumerate(zip(stages, counts, shares, strict=True)):
        if stage == "collected":  # opinions received are counted in 条, cases in 件
            text = (
                ngettext("%(n)d 条", "%(n)d 条", n) % {"n": n}
                if pd.isna(share)
                else ngettext("%(n)d 条（%(share).1f%%）", "%(n)d 条（%(share).1f%%）", n)
                % {"n": n, "share": 100 * share}
            )
        elif pd.isna(share):
            text = ngettext("%(n)d 件", "%(n)d 件", n) % {"n": n}
        else:
            text = ngettext("%(n)d 件（%(share).1f%%）", "%(n)d 件（%(share).1f%%）", n) % {
                "n": n,
                "share": 100 * share,
            }
        ax.text(top / 2, y, text, ha="center", va="center", fontsize=9)
    if split and len(counts) > 2:
        line = len(counts) - 2.5  # between 立案 and 交办 (the bars are drawn bottom up)
        ax.axhline(line, color="#7f7f7f", linestyle="--", linewidth=1)
        ax.set_xlabel(_("虚线以上为本期收到的意见和案件，以下为本期交办的案件"), fontsize=9)
    ax.set_xticks([])
    ax.set_title(_("办理漏斗：收集 → 立案 → 交办 → 答复 → 办成 → 满意"))
    fig.tight_layout()
    return fig


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path)
    return path


def satisfaction_chart(scores: pd.DataFrame, path: Path, font: str, min_rated: int) -> Path:
    with drawing(font):
        return _save(satisfaction_figure(scores, min_rated), path)


def categories_chart(categories: pd.DataFrame, path: Path, font: str) -> Path:
    with drawing(font):
        return _save(categories_figure(categories), path)


def funnel_chart(funnel: pd.DataFrame, path: Path, font: str, *, split: bool = False) -> Path:
    with drawing(font):
        return _save(funnel_figure(funnel, split=split), path)
