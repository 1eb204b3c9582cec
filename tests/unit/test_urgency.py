"""紧急件: the urgency policy decides from words, categories and the office's rules, and says
what decided it."""

import shutil
from pathlib import Path

import pytest
import yaml

from minqing.reference import ConfigError, UrgentPolicy, UrgentRule, load_reference
from minqing.urgency import NOT_URGENT, Urgency, UrgentCase, assess, assess_case, duty_message

CONFIG = Path(__file__).resolve().parents[2] / "config"

POLICY = UrgentPolicy(
    words=["燃气泄漏", "火灾", "触电", "坍塌", "人身安全"],
    categories=["燃气安全"],
    rules=[
        UrgentRule(name="市政井盖", words=["井盖"], categories=["市政设施"]),
        UrgentRule(name="学校周边", words=["施工"], areas=["东湖社区", "东湖"]),
        UrgentRule(name="电梯困人", words=["电梯", "困在"]),
    ],
    ignore=["消防演练", "火灾演习"],
)


@pytest.mark.parametrize(
    ("text", "categories", "areas", "expected"),
    [
        # policy words, whatever the category
        ("楼道里燃气泄漏，味道很大", (), (), Urgency(True, "word", "燃气泄漏")),
        ("仓库着了火灾", ("城乡建设",), (), Urgency(True, "word", "火灾")),
        ("小区配电箱漏水，孩子差点触电", (), (), Urgency(True, "word", "触电")),
        ("围墙坍塌压住了人行道", (), (), Urgency(True, "word", "坍塌")),
        # the first word of the list wins when several appear
        ("火灾后又发现燃气泄漏", (), (), Urgency(True, "word", "燃气泄漏")),
        # ignored phrases are no fire, but a real word beside them still counts
        ("周六上午小区组织消防演练", (), (), NOT_URGENT),
        ("火灾演习时发现楼道燃气泄漏", (), (), Urgency(True, "word", "燃气泄漏")),
        # an urgent category, and a child of it (the chain comes most specific first)
        ("天然气表有点问题", ("燃气安全",), (), Urgency(True, "category", "燃气安全")),
        ("天然气表有点问题", ("燃气表", "燃气安全"), (), Urgency(True, "category", "燃气安全")),
        # office rules: every condition given must hold
        ("路口井盖不见了", ("市政设施", "城乡建设"), (), Urgency(True, "rule", "市政井盖")),
        ("路口井盖不见了", ("物业管理", "城乡建设"), (), NOT_URGENT),
        ("路口井盖不见了", (), (), NOT_URGENT),
        ("夜间施工", (), ("东湖",), Urgency(True, "rule", "学校周边")),
        ("夜间施工", (), ("西城社区",), NOT_URGENT),
        ("电梯坏了，有人困在里面", (), (), Urgency(True, "rule", "电梯困人")),
        ("电梯维修很困难", (), (), NOT_URGENT),
        # ordinary opinions
        ("广场舞噪音扰民", ("噪声污染",), ("东湖社区",), NOT_URGENT),
        ("", (), (), NOT_URGENT),
    ],
)
def test_urgency_is_decided_by_words_then_categories_then_rules(text, categories, areas, expected):
    assert assess(text, POLICY, categories=categories, areas=areas) == expected


@pytest.mark.parametrize(
    ("decision", "reason"),
    [
        (Urgency(True, "word", "燃气泄漏"), "政策词“燃气泄漏”"),
        (Urgency(True, "category", "燃气安全"), "类别“燃气安全”"),
        (Urgency(True, "rule", "市政井盖"), "本单位规则“市政井盖”"),
        (NOT_URGENT, ""),
    ],
)
def test_the_reason_says_what_decided_it_in_the_offices_words(decision, reason):
    assert decision.reason == reason
    assert decision.as_dict()["reason"] == reason


def test_an_empty_policy_makes_nothing_urgent():
    assert assess("燃气泄漏", UrgentPolicy()) == NOT_URGENT


def test_the_shipped_policy_reads_a_case_with_its_category_chain_and_area_aliases():
    ref = load_reference(CONFIG)
    assert assess_case("楼道燃气泄漏", "物业管理", "donghu", ref).reason == "政策词“燃气泄漏”"
    # 市政设施 is a child of 城乡建设; the rule names the child
    assert assess_case("井盖被偷了", "市政设施", "东湖", ref).decided_by == "rule"
    assert not assess_case("井盖响", "物业管理", None, ref).urgent
    assert not assess_case("小区组织消防演练", "物业管理", None, ref).urgent
    assert not assess_case("路灯坏了", None, "没有这个社区", ref).urgent


def _policy_copy(tmp_path, text: str) -> Path:
    target = tmp_path / "config"
    shutil.copytree(CONFIG, target)
    path = target / "policy.yaml"
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")
    return target


def test_an_urgent_category_or_area_that_does_not_exist_is_named(tmp_path):
    target = _policy_copy(tmp_path, "")
    path = target / "policy.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["urgent"]["categories"] = ["燃气安全"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match="urgent.categories：未知的分类“燃气安全”"):
        load_reference(target)
    data["urgent"]["categories"] = []
    data["urgent"]["rules"] = [{"name": "某社区", "areas": ["月亮社区"]}]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"urgent.rules 第 1 个.areas：未知的社区“月亮社区”"):
        load_reference(target)


def test_a_rule_without_a_condition_and_the_old_keyword_list_are_refused(tmp_path):
    target = _policy_copy(tmp_path, "")
    path = target / "policy.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["urgent"]["rules"] = [{"name": "空规则"}]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match="空规则"):
        load_reference(target)
    data["urgent"]["rules"] = []
    data["deadlines"]["urgent_keywords"] = ["燃气泄漏"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match="已改为 urgent.words"):
        load_reference(target)


def _urgent(number: str, waiting: bool) -> UrgentCase:
    return UrgentCase(
        number=number, title="标题", excerpt="内容", reason="政策词“被困”", source="扫码留言",
        link=f"/console/cases/{number}", waiting_for="待人工审核" if waiting else None,
        departments=None if waiting else "区住房和城乡建设局（承办）", due="12月09日", sent=True,
    )  # fmt: skip


def test_a_duty_message_that_lists_some_counts_all_and_says_how_many_it_left_out():
    listed = [_urgent("MQ2026-000012", True), _urgent("MQ2026-000001", False)]
    title, text = duty_message(listed, more_waiting=1, more_assigned=2, more_link="/console/review")
    assert title == "紧急件 5 件：待人工分办 2 件，已交办 3 件"
    assert text.startswith(
        "另有 3 件紧急件未列出（待人工分办 1 件，已交办 2 件），请在工作台查看：/console/review"
    )
    assert text.index("MQ2026-000012") < text.index("MQ2026-000001")
    # one listed and more left out: still the count, not the one case's title
    title, _ = duty_message(listed[:1], more_assigned=1, more_link="/console")
    assert title == "紧急件 2 件：待人工分办 1 件，已交办 1 件"
    # all listed: nothing said about left-out ones
    title, text = duty_message(listed)
    assert title == "紧急件 2 件：待人工分办 1 件，已交办 1 件" and "未列出" not in text


def test_the_title_says_to_phone_when_an_urgent_assignment_has_not_left():
    import dataclasses

    unsent = dataclasses.replace(_urgent("MQ2026-000003", False), sent=False)
    title, text = duty_message([unsent])
    assert title == "紧急件交办单未发出，请电话通知承办单位：MQ2026-000003 标题"
    assert "交办单尚未发出" in text
    assert duty_message([_urgent("MQ2026-000004", False)])[0] == "紧急件已交办：MQ2026-000004 标题"
    title, _ = duty_message([_urgent("MQ2026-000012", True), unsent])
    assert title == "紧急件 2 件：待人工分办 1 件，已交办 1 件（其中 1 件交办单未发出，请电话通知）"
