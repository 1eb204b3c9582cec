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

from minqing.i18n import N_, _, ngettext
from minqing.reasons import Reason, render
from minqing.reference import Reference, UrgentPolicy

# What decided it, in the office's words (shown to the duty operator and in the console).
REASONS = {
    "word": N_("政策词“%(what)s”"),
    "category": N_("类别“%(what)s”"),
    "rule": N_("本单位规则“%(what)s”"),
}


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
        return _(REASONS[self.decided_by]) % {"what": self.detail}

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


# --- what the duty operator (值班) receives -----------------------------------------------------


@dataclass(frozen=True)
class UrgentCase:
    """An urgent case as the duty operator sees it (plain data, already in the office's words)."""

    number: str
    title: str
    excerpt: str  # the text departments see (phone and ID numbers redacted at intake)
    reason: str  # what made it urgent, e.g. 政策词“燃气泄漏”
    source: str  # channel · area · when, e.g. "扫码留言 · 东湖社区 · 12月07日 10:02"
    link: str  # its page in the console
    waiting_for: str | None = None  # why no department could be chosen (needs a person now)
    departments: str | None = None  # whom it went to, e.g. "区住房和城乡建设局（承办）"
    due: str | None = None  # its deadline
    sent: bool = False  # the assignment message has left
    refused: bool = False  # the mail server refused the assignment: it will not go by itself

    @property
    def needs_person(self) -> bool:
        return self.waiting_for is not None


def waiting_reason(review_reason: Reason | None) -> str:
    """Why a case waits for a person: its review reason worded from its code in the reader's
    language (one written before the codes as it was written), 待人工审核 when there is none."""
    return render(review_reason) or _("待人工审核")


def duty_message(
    cases: Sequence[UrgentCase],
    *,
    more_waiting: int = 0,
    more_assigned: int = 0,
    more_link: str = "",
    part: tuple[int, int] | None = None,
) -> tuple[str, str]:
    """The duty alert's title and text for one run's urgent cases: those that need a person
    first (what it is, why nobody was chosen, where to act), then those already dispatched
    (whom to, by when).

    When a message cannot list them all, `cases` are the listed ones and `more_waiting` /
    `more_assigned` count the rest: the title counts every case, and the text begins by saying
    how many were left out and where they are (`more_link`). A run's alert in several messages
    gives each its `part` (number, of how many) in the title."""
    waiting = [c for c in cases if c.needs_person]
    assigned = [c for c in cases if not c.needs_person]
    unsent = [c for c in assigned if not c.sent]  # the department does not know yet: phone it
    more = more_waiting + more_assigned
    if len(cases) == 1 and not more:
        case = cases[0]
        if waiting:
            template = N_("紧急件待人工分办：%(number)s %(title)s")
        elif unsent:
            template = N_("紧急件交办单未发出，请电话通知承办单位：%(number)s %(title)s")
        else:
            template = N_("紧急件已交办：%(number)s %(title)s")
        title = _(template) % {"number": case.number, "title": case.title}
    else:
        title = _("紧急件 %(n)d 件：待人工分办 %(waiting)d 件，已交办 %(assigned)d 件") % {
            "n": len(cases) + more,
            "waiting": len(waiting) + more_waiting,
            "assigned": len(assigned) + more_assigned,
        }
        if unsent:
            title += _("（其中 %(n)d 件交办单未发出，请电话通知）") % {"n": len(unsent)}
    if part is not None:
        title += _("（第 %(number)d 条，共 %(of)d 条）") % {"number": part[0], "of": part[1]}
    blocks = [_case_block(c) for c in (*waiting, *assigned)]
    if more:  # first, so that a robot's message, cut at its size limit, still says so
        blocks.insert(
            0,
            ngettext(
                "另有 %(n)d 件紧急件未列出（待人工分办 %(waiting)d 件，已交办 %(assigned)d 件），"
                "请在工作台查看：%(link)s",
                "另有 %(n)d 件紧急件未列出（待人工分办 %(waiting)d 件，已交办 %(assigned)d 件），"
                "请在工作台查看：%(link)s",
                more,
            )
            % {"n": more, "waiting": more_waiting, "assigned": more_assigned, "link": more_link},
        )
    return title, "\n\n".join(blocks)


def _case_block(case: UrgentCase) -> str:
    lines = [
        f"{case.number} {case.title}",
        _("紧急原因：%(reason)s") % {"reason": case.reason},
        _("来源：%(source)s") % {"source": case.source},
        _("内容：%(text)s") % {"text": case.excerpt},
    ]
    if case.needs_person:
        lines.append(
            _("未能自动交办（%(why)s），请立即在工作台确认分类并交办：%(link)s")
            % {"why": case.waiting_for, "link": case.link}
        )
    else:
        if case.sent:
            done = N_("已交办%(departments)s，办理期限 %(due)s，交办单已发送。")
        elif case.refused:
            done = N_(
                "已交办%(departments)s，办理期限 %(due)s，但交办单被邮件服务器拒收，"
                "不会自动重发：请电话通知承办单位，并在工作台核对收件地址后重发。"
            )
        else:
            done = N_(
                "已交办%(departments)s，办理期限 %(due)s，交办单尚未发出（邮件服务器恢复后自动发出），"
                "急事请先电话通知承办单位。"
            )
        lines.append(_(done) % {"departments": case.departments or "", "due": case.due or ""})
        lines.append(_("案件详情：%(link)s") % {"link": case.link})
    return "\n".join(lines)
