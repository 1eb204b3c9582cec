"""A dry run's night (演练) takes in for real — its files are archived, its cases opened and
assigned — but stands for no night: the next real night's figures include what it counted, so
the office's nights add up to everything it took in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# What a night counts of its own work (since the previous night's mark, of either kind), added
# into the next real night. Not carried: what a rehearsal did not do (sending: its messages stay
# pending and the real night's delivery counts them) and what is a state of now (待人工审核
# 目前共, 满意率, 未送达, 件件有回复, 热点, 自动分派准确率).
COUNTS = ("taken", "rejected", "linked", "new_cases", "on_the_spot", "needs_review", "assigned",
          "assigned_new", "assigned_reopened", "assigned_rerouted", "replies", "ratings",
          "reminders", "escalations", "verifications", "leaders", "lookbacks",
          "verification_results", "evaluations", "surveys", "callbacks")  # fmt: skip
BREAKDOWNS = ("by_channel", "replies_by_way", "ratings_by_way")
LISTS = ("rejections", "files", "command_files")


@dataclass(frozen=True)
class Rehearsal:
    """A rehearsal night since the last real night: when it ran (as the summary writes it) and
    the figures it kept (`rehearsal_record`)."""

    at: str
    figures: Mapping[str, Any]


def rehearsal_record(f: Mapping[str, Any]) -> dict[str, Any]:
    """What a rehearsal night keeps of its figures for the next real night (plain JSON)."""
    return {
        **{k: int(f.get(k) or 0) for k in COUNTS},
        **{k: dict(f.get(k) or {}) for k in BREAKDOWNS},
        **{k: list(f.get(k) or []) for k in LISTS},
        "day": dict(f.get("day") or {}),
    }


def _add(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> dict[str, Any]:
    """Two breakdowns added key by key (numbers; nested breakdowns likewise)."""
    out: dict[str, Any] = dict(a or {})
    for k, v in (b or {}).items():
        if isinstance(v, Mapping):
            out[k] = _add(out.get(k), v)
        elif isinstance(v, int | float) and not isinstance(v, bool):
            out[k] = out.get(k, 0) + v
    return out


def with_rehearsals(f: Mapping[str, Any], rehearsals: Sequence[Rehearsal]) -> dict[str, Any]:
    """A real night's figures with those of the rehearsal nights since the last real night
    added: each count and breakdown, the rejected rows, the 白天随到随办 day; 收集's ways gain
    `rehearsal` (what the rehearsals took in), and `rehearsal_files` and `rehearsals` say what
    they read and when they ran. Each rehearsal counted only its own work: nothing twice."""
    merged = dict(f)
    if not rehearsals:
        return merged
    merged["rehearsal_files"] = list(merged.get("rehearsal_files") or [])
    for r in rehearsals:
        g = r.figures
        for k in COUNTS:
            merged[k] = int(merged.get(k) or 0) + int(g.get(k) or 0)
        for k in BREAKDOWNS:
            merged[k] = _add(merged.get(k), g.get(k))
        merged["rejections"] = [*(merged.get("rejections") or []), *(g.get("rejections") or [])]
        merged["rehearsal_files"] += [
            *({**x, "rehearsal": True} for x in g.get("files") or []),
            *({**x, "rehearsal": True, "command": True} for x in g.get("command_files") or []),
        ]
        merged["day"] = _add(merged.get("day"), g.get("day"))
    ways = dict(merged.get("taken_by_way") or {})
    ways["rehearsal"] = sum(int(r.figures.get("taken") or 0) for r in rehearsals)
    merged["taken_by_way"] = ways
    merged["rehearsals"] = [
        {"at": r.at, **{k: int(r.figures.get(k) or 0) for k in ("taken", "new_cases", "assigned")}}
        for r in rehearsals
    ]
    return merged
