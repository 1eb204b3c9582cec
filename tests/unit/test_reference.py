"""Config files load into validated reference data; a wrong file names file, key and problem."""

import shutil
from pathlib import Path

import pytest
import yaml

from minqing.reference import ConfigError, load_reference
from minqing.routing import route

CONFIG = Path(__file__).resolve().parents[2] / "config"
SEVEN = ["城乡建设", "环境保护", "交通运输", "教育文体", "劳动和社会保障", "商贸旅游", "卫生计生"]


def test_the_shipped_config_has_the_seven_categories_of_the_real_data():
    ref = load_reference(CONFIG)
    assert ref.top_categories == SEVEN
    assert ref.category_by_name["物业管理"].top == "城乡建设"
    assert ref.category_by_name["物业管理"].deadline_days == 10  # inherited from its parent


def _broken_copy(tmp_path: Path, filename: str, mutate) -> Path:
    target = tmp_path / "config"
    shutil.copytree(CONFIG, target)
    data = yaml.safe_load((target / filename).read_text(encoding="utf-8"))
    mutate(data)
    (target / filename).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


def test_a_department_without_email_is_named_with_file_and_key(tmp_path):
    config = _broken_copy(tmp_path, "departments.yaml", lambda d: d["departments"][2].pop("email"))
    with pytest.raises(ConfigError) as err:
        load_reference(config)
    # list positions counted from 1, as an office counts; the line of the department's entry
    assert "departments.yaml 第 14 行，departments 第 3 个.email：缺少此项（必填）" in str(
        err.value
    )


def test_a_routing_rule_to_an_unknown_department_is_refused_with_its_place(tmp_path):
    config = _broken_copy(tmp_path, "routing.yaml", lambda d: d["rules"][0].update(lead="nosuch"))
    with pytest.raises(ConfigError) as err:
        load_reference(config)
    assert (
        "routing.yaml 第 2 行，rules 第 1 个：未知的部门代码“nosuch”（departments.yaml 中没有）"
        in str(err.value)
    )


def test_a_deadline_that_is_not_a_number_is_refused(tmp_path):
    config = _broken_copy(
        tmp_path, "categories.yaml", lambda d: d["categories"][1].update(deadline_days="七天")
    )
    with pytest.raises(
        ConfigError, match=r"categories.yaml 第 \d+ 行，categories 第 2 个.deadline_days：应为整数"
    ):
        load_reference(config)


def test_a_missing_file_is_named(tmp_path):
    config = tmp_path / "config"
    shutil.copytree(CONFIG, config)
    (config / "areas.yaml").unlink()
    with pytest.raises(ConfigError, match="areas.yaml：文件不存在"):
        load_reference(config)


@pytest.mark.parametrize(
    ("category", "area", "lead", "co"),
    [
        ("城乡建设", "西城社区", "zhujian", ("chengguan",)),
        ("城乡建设", "东湖社区", "jiedao", ("zhujian",)),  # a named area beats "*"
        ("物业管理", "西城社区", "zhujian", ("jiedao",)),  # a sub-category beats its parent
        ("噪声污染", None, "chengguan", ("shengtai",)),
        ("大气污染", "南苑社区", "shengtai", ("chengguan",)),  # no own rule: its parent's
        ("卫生计生", "北塘社区", "weijian", ()),
    ],
)
def test_routing_picks_the_most_specific_rule(category, area, lead, co):
    decision = route(category, area, load_reference(CONFIG))
    assert decision is not None and (decision.lead, decision.co) == (lead, co)


def test_a_case_without_category_has_no_route():
    ref = load_reference(CONFIG)
    assert route(None, "东湖社区", ref) is None
    assert route("不存在的分类", "东湖社区", ref) is None


def test_a_channel_text_format_other_than_plain_or_html_is_refused(tmp_path):
    config = _broken_copy(
        tmp_path, "channels.yaml", lambda d: d["channels"]["hotline"].update(text_format="rtf")
    )
    with pytest.raises(ConfigError, match="channels.hotline.text_format：“rtf”不可用"):
        load_reference(config)


def test_the_annual_sentence_s_words_are_given_per_language_or_once_for_all(tmp_path):
    report = load_reference(CONFIG).policy.report
    assert report.solved_what_in("zh_CN") == "群众身边小事、急事、难事"
    assert (
        report.solved_what_in("en") == "small, urgent and difficult matters in people's daily lives"
    )
    one = _broken_copy(
        tmp_path, "policy.yaml", lambda d: d["report"].update(solved_what="群众身边小事")
    )
    assert load_reference(one).policy.report.solved_what_in("en") == "群众身边小事"
    chinese_only = _broken_copy(
        tmp_path / "b", "policy.yaml", lambda d: d["report"].update(solved_what={"zh_CN": "急事"})
    )
    assert load_reference(chinese_only).policy.report.solved_what_in("en") == "急事"
