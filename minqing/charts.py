"""The report's charts as PNG files (matplotlib, no display needed): 满意率 by department, cases
by category over time, and the funnel 收集 → 交办 → 答复 → 办成 → 满意.

Chinese labels need a CJK font. When none is installed (a bare server), the charts are drawn
with the codes from config (department and category codes) and English words instead of
showing empty boxes; `cjk_font()` tells which case applies, and the report says so.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import font_manager, rc_context
from matplotlib.figure import Figure

# Installed by e.g. Debian's fonts-noto-cjk or fonts-wqy-zenhei, or present on Windows/macOS.
CJK_FONTS = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
    "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Sarasa Gothic SC", "SimHei", "Microsoft YaHei",
    "PingFang SC", "Heiti SC", "Droid Sans Fallback", "AR PL UMing CN", "Noto Serif CJK SC",
)  # fmt: skip
STAGES_EN = {
    "收集": "collected",
    "交办": "assigned",
    "答复": "replied",
    "办成": "solved",
    "满意": "satisfied",
}
NO_CJK_NOTE = (
    "未安装中文字体（例如 Debian 的 fonts-noto-cjk 或 fonts-wqy-zenhei），图表中的部门和分类以"
    "config 中的代码、标题以英文显示。"
)


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The name of an installed font that has Chinese glyphs, or None."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


class Labels:
    """Chinese labels with a CJK font; otherwise codes and English."""

    def __init__(self, codes: Mapping[str, str], font: str | None) -> None:
        self.font, self.codes = font, codes

    def __call__(self, chinese: str, english: str | None = None) -> str:
        if self.font:
            return chinese
        if english is not None:
            return english
        return self.codes.get(chinese, chinese if chinese.isascii() else "?")

    def rc(self) -> dict[str, Any]:
        if not self.font:
            return {"font.family": "DejaVu Sans"}
        return {
            "font.family": "sans-serif",
            "font.sans-serif": [self.font, "DejaVu Sans"],
            "axes.unicode_minus": False,
        }

    @contextmanager
    def drawing(self) -> Iterator[None]:
        """The chart's fonts. matplotlib's notes that e.g. WenQuanYi has weight 500 where 400
        was asked for are not an operator's concern, so they stay out of the flow's log."""
        logger = logging.getLogger("matplotlib.font_manager")
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            with rc_context(self.rc()):  # type: ignore[arg-type]  # keys are rcParams names
                yield
        finally:
            logger.setLevel(level)


def satisfaction_chart(scores: pd.DataFrame, path: Path, labels: Labels) -> Path:
    """Horizontal bars: 满意率(满意+基本满意) per department with its number of ratings."""
    rated = scores[scores["评价数"] > 0].sort_values("满意率(满意+基本满意)")
    with labels.drawing():
        fig = Figure(figsize=(8, 0.45 * max(len(rated), 3) + 1.5), dpi=110)
        ax = fig.subplots()
        if len(rated):
            names = [labels(n) for n in rated["部门"]]
            values = 100 * rated["满意率(满意+基本满意)"].astype(float).to_numpy()
            ax.barh(names, values, color="#4472c4")
            for y, (value, n) in enumerate(zip(values, rated["评价数"], strict=True)):
                ax.text(
                    min(value, 100) + 1, y, f"{value:.1f}% (n={int(n)})", va="center", fontsize=8
                )
        else:
            ax.set_yticks([])
            ax.text(
                0.5,
                0.5,
                labels("本期无评价", "no ratings in this period"),
                ha="center",
                transform=ax.transAxes,
            )
        ax.set_xlim(0, 118)
        ax.set_xlabel(labels("满意率（满意+基本满意）%", "satisfied or basically satisfied, %"))
        ax.set_title(labels("各部门满意率", "Satisfaction rate by department"))
        fig.tight_layout()
        fig.savefig(path)
    return path


def categories_chart(categories: pd.DataFrame, path: Path, labels: Labels) -> Path:
    """Stacked bars: cases collected per category in each month (or week)."""
    bucket = categories.columns[0] if len(categories.columns) else "bucket"
    kinds = [c for c in categories.columns[1:] if c != "合计"]
    with labels.drawing():
        fig = Figure(figsize=(9, 4.8), dpi=110)
        ax = fig.subplots()
        x = np.arange(len(categories))
        bottom = np.zeros(len(categories))
        for kind in kinds:
            values = categories[kind].to_numpy(dtype=float)
            ax.bar(x, values, bottom=bottom, label=labels(kind))
            bottom += values
        step = max(1, -(-len(categories) // 24))  # at most about 24 labels under the bars
        ax.set_xticks(
            x[::step],
            [str(v) for v in categories[bucket]][::step],
            rotation=45,
            ha="right",
        )
        ax.set_ylabel(labels("件数", "cases"))
        ax.set_title(labels("各类问题件数", "Cases by category"))
        if kinds:
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        else:
            ax.text(
                0.5,
                0.5,
                labels("本期无案件", "no cases in this period"),
                ha="center",
                transform=ax.transAxes,
            )
        fig.tight_layout()
        fig.savefig(path)
    return path


def funnel_chart(funnel: pd.DataFrame, path: Path, labels: Labels) -> Path:
    """The funnel as bars that only shrink, each with its count and share of 收集."""
    with labels.drawing():
        fig = Figure(figsize=(8, 4), dpi=110)
        ax = fig.subplots()
        names = [labels(s, STAGES_EN.get(s, s)) for s in funnel["阶段"]][::-1]
        counts = funnel["件数"].to_numpy()[::-1]
        shares = funnel["占收集"].to_numpy()[::-1]
        top = max(int(counts.max()) if len(counts) else 0, 1)
        ax.barh(names, counts, left=(top - counts) / 2, color="#70ad47")
        for y, (n, share) in enumerate(zip(counts, shares, strict=True)):
            text = f"{int(n)}" + ("" if pd.isna(share) else f" ({100 * share:.1f}%)")
            ax.text(top / 2, y, text, ha="center", va="center", fontsize=9)
        ax.set_xticks([])
        ax.set_title(
            labels(
                "办理漏斗：收集 → 交办 → 答复 → 办成 → 满意",
                "Funnel: collected → assigned → replied → solved → satisfied",
            )
        )
        fig.tight_layout()
        fig.savefig(path)
    return path
