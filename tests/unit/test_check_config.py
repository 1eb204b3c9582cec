"""`minqing check-config` as an office's engineer runs it: every config file the program reads
is checked through its own loader, and every problem is listed with its file, key (list
positions counted from 1), line and what is wrong, in Chinese, with exit status 2 — never a
traceback, never a false 配置无误. The runs' load-reference stage refuses the same files."""

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from minqing.reference import ConfigError
from minqing.settings import reset_settings

CONFIG = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped config that MINQING_CONFIG_DIR points at."""
    target = tmp_path / "config"
    shutil.copytree(CONFIG, target)
    monkeypatch.setenv("MINQING_CONFIG_DIR", str(target))
    monkeypatch.setenv("MINQING_LANGUAGE", "zh_CN")
    reset_settings()
    yield target
    reset_settings()


def edit(config: Path, name: str, old: str, new: str) -> int:
    """Replace the first `old` in config/name by `new`; the line (from 1) it was on."""
    path = config / name
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return text[: text.index(old)].count("\n") + 1


def check() -> tuple[int, str]:
    result = CliRunner().invoke(app, ["check-config"])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.output


def test_the_shipped_config_is_all_clear(config: Path) -> None:
    code, output = check()
    assert code == 0
    assert output.startswith("配置无误：部门 10 个")


CALENDAR_2027 = (
    "years:\n  2027:\n    holidays:\n      - 2027-01-01\n      - 2027-02-06..2027-02-13\n"
)


def test_a_misspelt_calendar_key_is_named_with_its_line(config: Path) -> None:
    (config / "calendar.yaml").write_text(CALENDAR_2027.replace("holidays", "holidys"), "utf-8")
    code, output = check()
    assert code == 2
    assert (
        "calendar.yaml 第 3 行，years.2027.holidys：不认识的键（拼写错误，或不该写在这里）"
        in output
    )
    assert "Extra inputs" not in output


def test_a_date_that_does_not_exist_is_named_with_its_place_in_the_list(config: Path) -> None:
    (config / "calendar.yaml").write_text(
        CALENDAR_2027.replace("2027-02-06..2027-02-13", "2027-02-30"), "utf-8"
    )
    code, output = check()
    assert code == 2
    assert (
        "calendar.yaml 第 5 行，years.2027.holidays 第 2 个：“2027-02-30”不是有效的日期" in output
    )


@pytest.mark.parametrize(
    ("new", "key", "problem"),
    [
        ("review_threshold: 九十", "review_threshold", "应为数字"),
        ("review_threshold: 1.5", "review_threshold", "不能大于 1"),
        ("reveiw_threshold: 0.90", "reveiw_threshold", "不认识的键（拼写错误，或不该写在这里）"),
    ],
)
def test_a_wrong_classifier_setting_is_refused_before_the_night(
    config: Path, new: str, key: str, problem: str
) -> None:
    line = edit(config, "classifier.yaml", "review_threshold: 0.90", new)
    code, output = check()
    assert code == 2
    assert f"classifier.yaml 第 {line} 行，{key}：{problem}" in output
    assert "配置无误" not in output


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        ("  window_days: 90", "  window_days: -5", "dedup.window_days", "不能小于 0"),
        ("  threshold: 0.5", "  threshhold: 0.5", "dedup.threshhold", "不认识的键"),
    ],
)
def test_a_wrong_triage_setting_is_refused_before_the_night(
    config: Path, old: str, new: str, key: str, problem: str
) -> None:
    line = edit(config, "triage.yaml", old, new)
    code, output = check()
    assert code == 2
    assert f"triage.yaml 第 {line} 行，{key}：{problem}" in output


def test_a_misspelt_channel_column_is_refused(config: Path) -> None:
    line = edit(config, "channels.yaml", "      ticket: [", "      tiket: [")
    code, output = check()
    assert code == 2
    assert f"channels.yaml 第 {line} 行，channels.hotline.columns.tiket：不认识的键" in output
    assert "ticket" in output  # what it should be


def test_a_full_width_colon_is_pointed_at(config: Path) -> None:
    line = edit(config, "departments.yaml", "    email: banli@zhujian", "    email：banli@zhujian")
    code, output = check()
    assert code == 2
    assert (
        f"departments.yaml 第 {line} 行：不是有效的 YAML：找不到应有的冒号“:”；"
        f"第 {line} 行有全角冒号“：”，YAML 需要半角冒号“:”"
    ) in output
    assert "while scanning" not in output and "<unicode string>" not in output


def test_a_full_width_space_is_pointed_at(config: Path) -> None:
    line = edit(
        config, "departments.yaml", "    name: 区城市管理局", "\u3000\u3000name: 区城市管理局"
    )
    code, output = check()
    assert code == 2
    assert "departments.yaml 第" in output and "不是有效的 YAML" in output
    assert f"第 {line} 行有全角空格，YAML 需要半角空格" in output


def test_a_yaml_syntax_error_is_said_in_chinese_with_line_and_column(config: Path) -> None:
    line = edit(config, "office.yaml", "mail_from: ", "mail_from ")
    code, output = check()
    assert code == 2
    assert (
        f"office.yaml 第 {line + 1} 行：不是有效的 YAML：找不到应有的冒号“:”（第 1 列）" in output
    )


def test_list_positions_are_counted_from_one(config: Path) -> None:
    line = edit(
        config, "departments.yaml", "    email: banli@chengguan", "    mail: banli@chengguan"
    )
    code, output = check()
    assert code == 2
    assert f"departments.yaml 第 {line} 行，departments 第 2 个.mail：不认识的键" in output
    assert "departments 第 2 个.email：缺少此项（必填）" in output
    assert "departments[1]" not in output


def test_every_broken_file_is_listed_not_only_the_first(config: Path) -> None:
    edit(config, "departments.yaml", "    email: banli@chengguan", "    mail: banli@chengguan")
    rule = edit(config, "routing.yaml", "lead: zhujian", "lead: nosuch")
    (config / "calendar.yaml").write_text(CALENDAR_2027.replace("holidays", "holidys"), "utf-8")
    edit(config, "classifier.yaml", "review_threshold: 0.90", "review_threshold: 九十")
    edit(config, "triage.yaml", "  window_days: 90", "  window_days: -5")
    code, output = check()
    assert code == 2
    for said in (
        "departments 第 2 个.mail",
        "calendar.yaml 第 3 行",
        "classifier.yaml",
        "dedup.window_days",
    ):
        assert said in output
    # the routing rule's unknown department is found once departments.yaml is fixed
    edit(config, "departments.yaml", "    mail: banli@chengguan", "    email: banli@chengguan")
    code, output = check()
    assert code == 2
    assert f"routing.yaml 第 {rule} 行，rules 第 1 个：未知的部门代码“nosuch”" in output
    assert "calendar.yaml 第 3 行" in output


def test_the_runs_load_reference_stage_refuses_the_same_files_with_the_same_words(
    config: Path,
) -> None:
    from tasks.reference import sync_reference_now

    edit(config, "classifier.yaml", "review_threshold: 0.90", "review_threshold: 九十")
    edit(config, "triage.yaml", "  window_days: 90", "  window_days: -5")
    _code, output = check()
    with pytest.raises(ConfigError) as refused:
        sync_reference_now()  # refused before it touches the database
    said = str(refused.value)
    assert "classifier.yaml" in said and "triage.yaml" in said
    assert said.splitlines() == output.strip().splitlines()


def test_a_misspelt_channel_name_is_refused(config: Path) -> None:
    line = edit(config, "channels.yaml", "  hotline:", "  hotlin:")
    code, output = check()
    assert code == 2
    assert f"channels.yaml 第 {line} 行，channels.hotlin：未知的渠道“hotlin”" in output


def test_a_value_of_the_wrong_kind_is_said_once_with_its_alternatives(config: Path) -> None:
    line = edit(
        config, "channels.yaml", "    label: 12345热线", "    label: 12345热线\n    sheet: [1, 2]"
    )
    code, output = check()
    assert code == 2
    assert f"channels.yaml 第 {line + 1} 行，channels.hotline.sheet：应为文字，或应为整数" in output
    assert "sheet.str" not in output and "sheet.int" not in output


def test_a_category_threshold_for_a_category_the_office_has_not_is_refused(
    config: Path,
) -> None:
    line = edit(
        config, "classifier.yaml", "category_thresholds: {}", "category_thresholds: {交通: 0.95}"
    )
    code, output = check()
    assert code == 2
    assert (
        f"classifier.yaml 第 {line} 行，category_thresholds.交通："
        "没有这个分类（分类见 config/categories.yaml，如 城乡建设、"
    ) in output
    assert "配置无误" not in output


def test_a_category_threshold_for_a_category_of_the_office_is_accepted(config: Path) -> None:
    edit(
        config,
        "classifier.yaml",
        "category_thresholds: {}",
        "category_thresholds: {物业管理: 0.95}",
    )
    code, output = check()
    assert code == 0, output


def test_a_duplicate_code_is_named_at_the_second_entry_alongside_other_problems(
    config: Path,
) -> None:
    line = edit(config, "departments.yaml", "  - code: jiaotong", "  - code: chengguan")
    mail = edit(config, "departments.yaml", "    email: banli@zhujian", "    mail: banli@zhujian")
    code, output = check()
    assert code == 2
    assert (
        f"departments.yaml 第 {line} 行，departments 第 4 个.code：代码 chengguan 与第 2 个重复"
        in output
    )
    assert f"departments.yaml 第 {mail} 行，departments 第 1 个.mail：不认识的键" in output
    assert "代码重复" not in output and "第 3 行，departments：" not in output
    # alone, it is still said at its entry's line
    edit(config, "departments.yaml", "    mail: banli@zhujian", "    email: banli@zhujian")
    code, output = check()
    assert code == 2
    assert output.strip().splitlines()[1:] == [
        f"  departments.yaml 第 {line} 行，departments 第 4 个.code：代码 chengguan 与第 2 个重复"
    ]


@pytest.mark.parametrize(
    ("new", "problem"),
    [
        (
            "banli＠jiaotong.example.gov.cn",
            "“banli＠jiaotong.example.gov.cn”中有全角“＠”，邮箱地址需要半角“@”",
        ),
        (
            "banli@jiaotong",
            "“banli@jiaotong”不是有效的邮箱地址（应如 banli@zhujian.example.gov.cn）",
        ),
        ("", "不能为空，需要填写邮箱地址"),
        (
            "banli @jiaotong.example.gov.cn",
            "“banli @jiaotong.example.gov.cn”不是有效的邮箱地址（应如 banli@zhujian.example.gov.cn）",
        ),
        # a full-width comma for the dot, a sentence's full stop at the end: the mailer cannot
        # put either in a To: header, so config must not let them through
        (
            "banli@jiaotong，example.gov.cn",
            "“banli@jiaotong，example.gov.cn”中有“，”，邮箱地址只能用半角英文字母、数字和符号"
            "（应如 banli@zhujian.example.gov.cn）",
        ),
        (
            "banli@jiaotong.example.gov.cn。",
            "“banli@jiaotong.example.gov.cn。”末尾多了“。”，邮箱地址只能用半角英文字母、数字和符号"
            "（应如 banli@zhujian.example.gov.cn）",
        ),
        (
            "办理@jiaotong.example.gov.cn",
            "“办理@jiaotong.example.gov.cn”中有“办”，邮箱地址只能用半角英文字母、数字和符号"
            "（应如 banli@zhujian.example.gov.cn）",
        ),
    ],
)
def test_a_wrong_department_email_is_refused(config: Path, new: str, problem: str) -> None:
    line = edit(
        config, "departments.yaml", "    email: banli@jiaotong.example.gov.cn", f"    email: {new}"
    )
    code, output = check()
    assert code == 2
    assert f"departments.yaml 第 {line} 行，departments 第 4 个.email：{problem}" in output
    assert "应为文字" not in output


def test_a_wrong_head_or_duty_email_is_refused(config: Path) -> None:
    head = edit(
        config,
        "departments.yaml",
        "zhou.tao@jiaotong.example.gov.cn",
        "zhou.tao＠jiaotong.example.gov.cn",
    )
    duty = edit(config, "office.yaml", "zhiban@street.example.gov.cn", "zhiban@street")
    code, output = check()
    assert code == 2
    assert f"departments.yaml 第 {head} 行，departments 第 4 个.head.email：" in output
    assert "中有全角“＠”" in output
    assert (
        f"office.yaml 第 {duty} 行，duty.contacts 第 1 个.email：“zhiban@street”不是有效的邮箱地址"
        in output
    )


@pytest.mark.parametrize(
    ("new", "problem"),
    [
        ("review_threshold: 0", "应大于 0"),
        ("review_threshold: -0.5", "应大于 0"),
        ("review_threshold: 1.5", "不能大于 1"),
    ],
)
def test_a_limit_is_worded_as_it_is(config: Path, new: str, problem: str) -> None:
    line = edit(config, "classifier.yaml", "review_threshold: 0.90", new)
    code, output = check()
    assert code == 2
    assert f"classifier.yaml 第 {line} 行，review_threshold：{problem}" in output
    assert "不能小于" not in output


def test_a_year_written_with_a_letter_is_said_to_be_a_year(config: Path) -> None:
    (config / "calendar.yaml").write_text(CALENDAR_2027.replace("2027:", "2O27:"), "utf-8")
    code, output = check()
    assert code == 2
    assert "calendar.yaml 第 2 行，years.2O27：年份应为四位数字，如 2027" in output
    assert "应为整数" not in output


def test_a_known_year_listed_in_part_is_warned_of_but_not_refused(config: Path) -> None:
    (config / "calendar.yaml").write_text(
        "years:\n  2026:\n    holidays:\n      - 2026-10-01..2026-10-07\n", "utf-8"
    )
    code, output = check()
    assert code == 0
    assert output.startswith("配置无误")
    assert (
        "注意：calendar.yaml 第 2 行，years.2026：这里列出的 2026 年会替换 chinese-calendar 包中"
        "该年的全部安排，但只列了 1 个假期（包中有 7 个）；未列出的假期将按工作日计算。"
        "请列出全年，或删去这一年改用包中的数据"
    ) in output


def test_a_year_the_package_does_not_know_or_listed_in_full_is_not_warned_of(
    config: Path,
) -> None:
    from minqing.workdays import _package_schedule

    full = "".join(f"      - {day}\n" for day in sorted(_package_schedule(2025).holidays))
    (config / "calendar.yaml").write_text(
        CALENDAR_2027 + "  2025:\n    holidays:\n" + full, "utf-8"
    )
    code, output = check()
    assert code == 0, output
    assert "注意" not in output
