"""Keyword-rule classification (分类): the fallback used until a model is trained.

Each category's keywords come from config/categories.yaml; hits on a sub-category also count
for its first-level category. The confidence is the share of hits that went to the winner, so
a text with hits in two categories is sent to review rather than guessed.
"""

from __future__ import annotations

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


def classify_by_keywords(text: str, categories: list[FlatCategory]) -> Classification:
    hits: Counter[str] = Counter()
    for cat in categories:
        n = sum(text.count(word) for word in cat.keywords)
        if n:
            hits[cat.name] += n
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
