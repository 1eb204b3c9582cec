"""Keyword-rule classification (分类): the fallback used until a model is trained.

Each category's keywords come from config/categories.yaml; hits on a sub-category also count
for its first-level category. Mentions are found in one pass, longest keyword first and without
overlap: "物业费" is one mention of 物业费, not also one of 物业. The confidence is the share of hits that went to the winner, so
a text with hits in two categories is sent to review rather than guessed.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass, field

from minqing.reference import FlatCategory


@dataclass(frozen=True)
class Classification:
    category: str | None  # the most specific category decided (sub-category when known)
    top: str | None  # its first-level category
    confidence: float
    source: str  # rule | model | operator
    top3: list[tuple[str, float]] = field(default_factory=list)


@functools.lru_cache(maxsize=8)
def _matcher(
    categories: tuple[FlatCategory, ...],
) -> tuple[re.Pattern[str] | None, dict[str, list[str]]]:
    """One pattern for all keywords, longest first, and the categories each keyword counts for."""
    owners: dict[str, list[str]] = {}
    for cat in categories:
        for word in cat.keywords:
            owners.setdefault(word, []).append(cat.name)
    words = sorted((w for w in owners if w), key=len, reverse=True)
    return (re.compile("|".join(map(re.escape, words))) if words else None), owners


def classify_by_keywords(text: str, categories: list[FlatCategory]) -> Classification:
    pattern, owners = _matcher(tuple(categories))
    hits: Counter[str] = Counter()
    for word in pattern.findall(text) if pattern else ():
        hits.update(owners[word])
    top_hits: Counter[str] = Counter()
    by_name = {c.name: c for c in categories}
    for name, n in hits.items():
        top_hits[by_name[name].top] += n
    if not top_hits:
        return Classification(None, None, 0.0, "rule")
    total = sum(top_hits.values())
    ranked = top_hits.most_common()
    top3 = [(name, round(n / total, 3)) for name, n in ranked[:3]]
    best, best_n = ranked[0]
    confidence = best_n / total
    children = [
        (n, name) for name, n in hits.items() if by_name[name].parent and by_name[name].top == best
    ]
    category = max(children)[1] if children else best
    return Classification(category, best, round(confidence, 3), "rule", top3)
