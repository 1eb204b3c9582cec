"""紧急件 urgency: which opinions cannot wait for the night — decided from the text (政策词),
the category and the office's own rules, all in config/policy.yaml (`urgent`).

An urgent case is dispatched and delivered by the daytime intake within minutes, gets the
urgent deadline (`deadlines.urgent_days`), and when no department can be chosen for it with
confidence the duty operator (值班) is told at once. The decision says what decided it, so the
audit trail, the Prefect event and the duty operator's message can show why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from minqing.reference import Reference, UrgentPolicy

# What decided it, in the office's words (shown to the duty operator and in the console).
DECIDED_BY_LABELS = {"word": "政策词", "category": "类别", "rule": "本单位规则"}


@dataclass(frozen=True)
class Urgency:
    urgent: bool
    decided_by: str | None = None  # word | category | rule (None: not urgent)
    detail: str | None = None  # the word, the category or the rule's name

    @property
    def reason(self) -> str:
        """'政策词“燃气泄漏”', '类别“燃气安全”', '本单位规则“井盖缺失”', or '' when not urgent."""
        if not self.urgent or self.decided_by is None:
            return ""
        return f"{DECIDED_BY_LABELS[self.decided_by]}“{self.detail}”"

    def as_dict(self) -> dict[str, object]:
        return {
            "urgent": self.urgent,
            "decided_by": self.decided_by,
            "detail": self.detail,
            "reason": self.reason,
        }


NOT_URGENT = Urgency(False)


def assess(
    text: str,
    policy: UrgentPolicy,
    *,
    categories: Sequence[str] = (),
    areas: Sequence[str] = (),
) -> Urgency:
    """Is this opinion urgent, and what decided it?

    `categories` is the case's category and the ones above it (most specific first), empty
    while it has none (the web form decides from the words alone); `areas` every name of the
    case's area (name, code, aliases), so a rule may name it either way.
    Policy words come first, then the categories, then the office's rules in their order.
    Phrases in `ignore` are blanked out first, so "消防演练" does not count as a fire.
    """
    seen = _without(text, policy.ignore)
    for word in policy.words:
        if word and word in seen:
            return Urgency(True, "word", word)
    for category in categories:
        if category in policy.categories:
            return Urgency(True, "category", category)
    for rule in policy.rules:
        if (
            all(word in seen for word in rule.words)
            and (not rule.categories or any(c in rule.categories for c in categories))
            and (not rule.areas or any(a in rule.areas for a in areas))
        ):
            return Urgency(True, "rule", rule.name)
    return NOT_URGENT


def assess_case(text: str, category: str | None, area: str | None, ref: Reference) -> Urgency:
    """`assess` for a case: its category with the ones above it, its area by every name."""
    chain: list[str] = []
    while category is not None and category in ref.category_by_name and category not in chain:
        chain.append(category)
        category = ref.category_by_name[category].parent
    found = ref.area_by_name.get(area or "")
    names = (found.name, found.code, *found.aliases) if found else ((area,) if area else ())
    return assess(text, ref.policy.urgent, categories=chain, areas=names)


def _without(text: str, phrases: Sequence[str]) -> str:
    for phrase in phrases:
        if phrase:
            text = text.replace(phrase, "\u3000" * len(phrase))
    return text
