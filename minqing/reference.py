"""The office's reference data from config/*.yaml, validated at load.

A wrong file raises `ConfigError` naming the file, the key and the problem, so an operator
can fix it without reading code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from minqing.addresses import address_problem
from minqing.i18n import N_, _, pgettext

# How a channel's text arrives (channels.yaml `text_format`): markup is stripped only from html.
TEXT_FORMATS = ("plain", "html")


class ConfigError(ValueError):
    """A config file is missing, unreadable or invalid; `problems` lists each (see Problem)."""

    problems: list[Problem]

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.problems = []


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _email(value: Any) -> Any:
    """A required address: not empty, and one a message can be sent to (minqing.addresses)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError(_("不能为空，需要填写邮箱地址"))
    if not isinstance(value, str):
        return value  # pydantic says 应为文字
    problem = address_problem(value.strip())
    if problem:
        raise ValueError(problem)
    return value.strip()


def _optional_email(value: Any) -> Any:
    """An address that may be left out (None); written, it must be one."""
    return None if value is None else _email(value)


Email = Annotated[str, BeforeValidator(_email)]
OptionalEmail = Annotated[str | None, BeforeValidator(_optional_email)]


class PersonRef(_Strict):
    name: str
    email: OptionalEmail = None
    title: str | None = None


class Robot(_Strict):
    """A group robot (群机器人) the duty alerts go to. The URL carries the robot's key, a
    secret: it comes from the environment variable `url_env` (or `url` for a webhook without
    one). 钉钉 robots check a keyword (`keyword`, put in front of every message) or a signature
    (加签: the secret in the environment variable `secret_env`)."""

    kind: Literal["wecom", "dingtalk", "webhook"]  # 企业微信 / 钉钉 / any JSON webhook
    name: str
    url: str | None = None
    url_env: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]*$")
    keyword: str | None = None
    secret_env: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]*$")

    @model_validator(mode="after")
    def _one_url(self) -> Robot:
        if (self.url is None) == (self.url_env is None):
            raise ValueError(
                _("群机器人“%(name)s”：url 和 url_env 要填且只填一个") % {"name": self.name}
            )
        if self.secret_env and self.kind != "dingtalk":
            raise ValueError(
                _("群机器人“%(name)s”：secret_env（加签）只用于钉钉机器人") % {"name": self.name}
            )
        return self


class Duty(_Strict):
    """值班: who is told when a run goes wrong — by e-mail and by the group robots."""

    contacts: list[PersonRef] = Field(default_factory=list)
    robots: list[Robot] = Field(default_factory=list)
    # Where the operator fixes things; alerts link to the run in the Prefect UI when they can.
    console_url: str | None = None


class Office(_Strict):
    name: str
    short_name: str = "民情直通车"
    mail_from: Email
    # How to reach the office (a phone number, a room): every message's footer names it.
    contact: str | None = None
    leaders: list[PersonRef] = Field(default_factory=list)
    duty: Duty = Duty()


class Department(_Strict):
    code: str
    name: str
    email: Email
    head: PersonRef

    @property
    def escalation_email(self) -> str:
        """Where 超期督办 goes: the head, or the department's inbox when no head address is known."""
        return self.head.email or self.email


class Area(_Strict):
    code: str
    name: str
    aliases: list[str] = Field(default_factory=list)
    representative: PersonRef


class Category(_Strict):
    code: str
    name: str
    deadline_days: int | None = Field(default=None, ge=1, le=60)
    keywords: list[str] = Field(default_factory=list)
    children: list[Category] = Field(default_factory=list)


class Station(_Strict):
    """A representatives' home, liaison station or contact point (代表之家/联络站/联系点) with
    its own QR code; `code` is printed in the code's link (/s/<code>) and becomes `recorded_by`."""

    code: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,39}$")
    name: str = Field(min_length=1, max_length=60)
    area: str  # an area's name, alias or code
    kind: Literal["家", "站", "点"]
    representative: PersonRef | None = None


class RoutingRule(_Strict):
    category: str
    area: str = "*"
    lead: str
    co: list[str] = Field(default_factory=list)


class DeadlinePolicy(_Strict):
    urgent_days: int = Field(default=2, ge=1)  # 紧急件 (see `urgent`) get this many working days

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        if isinstance(data, dict) and "urgent_keywords" in data:
            raise ValueError("urgent_keywords: " + _("已改为 urgent.words，请移到那里"))
        return data


class UrgentRule(_Strict):
    """An office's own rule (本单位规则): urgent when every condition given holds — all of
    `words` in the text, the category one of `categories` (or below one), the area one of
    `areas`."""

    name: str = Field(min_length=1, max_length=60)
    words: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    areas: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _has_a_condition(self) -> UrgentRule:
        if not (self.words or self.categories or self.areas):
            raise ValueError(
                _("规则“%(name)s”：words、categories、areas 至少填一项") % {"name": self.name}
            )
        return self


class UrgentPolicy(_Strict):
    """紧急件: what cannot wait for the night (minqing/urgency.py decides)."""

    words: list[str] = Field(default_factory=list)  # 政策词: any one of them in the text
    categories: list[str] = Field(default_factory=list)  # these categories and those below
    rules: list[UrgentRule] = Field(default_factory=list)
    ignore: list[str] = Field(default_factory=list)  # phrases that do not count (消防演练)
    tell_duty: bool = True  # 值班 hears of every urgent case, not only those needing a person


class DaytimePolicy(_Strict):
    """白天随到随办: what the daytime `intake` runs do besides urgent cases."""

    dispatch_all: bool = False  # also dispatch ordinary cases during the day (else: the night)


class LookbackPolicy(_Strict):
    reminder_days_before_deadline: int = Field(default=2, ge=0)
    escalate_repeat_days: int = Field(default=5, ge=1)
    leader_after_overdue_days: int = Field(default=10, ge=1)
    verify_after_reply_days: int = Field(default=20, ge=0)


class SurveyPolicy(_Strict):
    after: Literal["reply", "verification"] = "reply"
    on_the_spot: bool = False
    max_reopen: int = Field(default=1, ge=0)


class DeliveryPolicy(_Strict):
    max_attempts: int = Field(default=6, ge=1)
    backoff_seconds: int = Field(default=60, ge=1)


class ReportPolicy(_Strict):
    """评议报告: words of the annual sentence and how long a 回头看 may wait for its result."""

    # One text for every language, or one per language ({zh_CN: …, en: …}).
    solved_what: str | dict[str, str] = "群众身边小事、急事、难事"
    # 件件有回复: a 回头看 request unanswered this many working days after it was due is listed.
    verification_grace_days: int = Field(default=5, ge=0)

    def solved_what_in(self, language: str) -> str:
        """The annual sentence's words in `language`; zh_CN's when it has none of its own."""
        if isinstance(self.solved_what, str):
            return self.solved_what
        words = self.solved_what
        return words.get(language) or words.get("zh_CN") or next(iter(words.values()), "")


class Policy(_Strict):
    deadlines: DeadlinePolicy = DeadlinePolicy()
    urgent: UrgentPolicy = UrgentPolicy()
    daytime: DaytimePolicy = DaytimePolicy()
    lookback: LookbackPolicy = LookbackPolicy()
    surveys: SurveyPolicy = SurveyPolicy()
    delivery: DeliveryPolicy = DeliveryPolicy()
    # 部门评分: checked by minqing.scores.ScorePolicy (see docs/scores.md, "Policy").
    scoring: dict[str, Any] = Field(default_factory=dict)
    report: ReportPolicy = ReportPolicy()

    @field_validator("scoring")
    @classmethod
    def _check_scoring(cls, value: dict[str, Any]) -> dict[str, Any]:
        from minqing.scores import ScorePolicy  # pandas: loaded only when config is read

        ScorePolicy.from_mapping(value, source="scoring")
        return value

    def score_policy(self) -> Any:
        """The `scoring` section as a `minqing.scores.ScorePolicy`."""
        from minqing.scores import ScorePolicy

        return ScorePolicy.from_mapping(self.scoring, source="config/policy.yaml: scoring")


class FlatCategory(BaseModel):
    """A category with its place in the tree resolved: `top` is its first-level category."""

    model_config = ConfigDict(frozen=True)

    code: str
    name: str
    top: str
    parent: str | None
    deadline_days: int
    keywords: tuple[str, ...]


class Reference(_Strict):
    """Everything the pipeline needs to know about the office, checked for consistency."""

    office: Office
    departments: list[Department]
    areas: list[Area]
    categories: list[Category]
    rules: list[RoutingRule]
    policy: Policy = Policy()
    channels: dict[str, dict[str, Any]] = Field(default_factory=dict)
    stations: list[Station] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_references(self) -> Reference:
        problems: list[str] = []
        known_areas = self.area_by_name
        for i, station in enumerate(self.stations):
            if station.area not in known_areas:
                problems.append(
                    f"stations[{i}].area: "
                    + _unknown(pgettext("config", "社区"), station.area, "areas.yaml")
                )
        dept_codes = {d.code for d in self.departments}
        cat_names = {c.name for c in self.flat_categories}
        area_names = {a.name for a in self.areas}
        for i, rule in enumerate(self.rules):
            where = f"rules[{i}]"
            if rule.category not in cat_names:
                problems.append(
                    f"{where}.category: "
                    + _unknown(pgettext("config", "分类"), rule.category, "categories.yaml")
                )
            if rule.area != "*" and rule.area not in area_names:
                problems.append(
                    f"{where}.area: "
                    + _unknown(pgettext("config", "社区"), rule.area, "areas.yaml")
                )
            for code in [rule.lead, *rule.co]:
                if code not in dept_codes:
                    problems.append(
                        f"{where}: " + _unknown(_("部门代码"), code, "departments.yaml")
                    )
        for name, options in self.channels.items():
            text_format = (options or {}).get("text_format", "plain")
            if text_format not in TEXT_FORMATS:
                problems.append(
                    f"channels.{name}.text_format: "
                    + _("“%(value)s”不可用，应为 %(choices)s 之一")
                    % {"value": text_format, "choices": "、".join(TEXT_FORMATS)}
                )
        problems += self._check_urgent(cat_names)
        for i, cat in enumerate(self.categories):
            if cat.deadline_days is None:
                problems.append(
                    f"categories[{i}].deadline_days: " + _("一级分类必须填写办理时限（工作日）")
                )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _check_urgent(self, cat_names: set[str]) -> list[str]:
        problems: list[str] = []
        urgent = self.policy.urgent
        for name in urgent.categories:
            if name not in cat_names:
                problems.append(
                    "policy.urgent.categories: "
                    + _unknown(pgettext("config", "分类"), name, "categories.yaml")
                )
        for i, rule in enumerate(urgent.rules):
            for name in rule.categories:
                if name not in cat_names:
                    problems.append(
                        f"policy.urgent.rules[{i}].categories: "
                        + _unknown(pgettext("config", "分类"), name, "categories.yaml")
                    )
            for name in rule.areas:
                if name not in self.area_by_name:
                    problems.append(
                        f"policy.urgent.rules[{i}].areas: "
                        + _unknown(pgettext("config", "社区"), name, "areas.yaml")
                    )
        return problems

    @cached_property
    def flat_categories(self) -> list[FlatCategory]:
        out: list[FlatCategory] = []

        def walk(cat: Category, top: Category, parent: Category | None, days: int) -> None:
            own_days = cat.deadline_days or days
            out.append(
                FlatCategory(
                    code=cat.code,
                    name=cat.name,
                    top=top.name,
                    parent=parent.name if parent else None,
                    deadline_days=own_days,
                    keywords=tuple(cat.keywords),
                )
            )
            for child in cat.children:
                walk(child, top, cat, own_days)

        for cat in self.categories:
            walk(cat, cat, None, cat.deadline_days or 10)
        return out

    @cached_property
    def category_by_name(self) -> dict[str, FlatCategory]:
        return {c.name: c for c in self.flat_categories}

    @cached_property
    def top_categories(self) -> list[str]:
        return [c.name for c in self.categories]

    @cached_property
    def department_by_code(self) -> dict[str, Department]:
        return {d.code: d for d in self.departments}

    def department_name(self, code: str | None) -> str:
        """A department's name for people; an unknown code as it is, None as ''."""
        if not code:
            return ""
        dept = self.department_by_code.get(code)
        return dept.name if dept else code

    @cached_property
    def station_by_code(self) -> dict[str, Station]:
        return {st.code: st for st in self.stations}

    @cached_property
    def area_by_name(self) -> dict[str, Area]:
        """Areas by name and by every alias, for matching what channels write."""
        out: dict[str, Area] = {}
        for area in self.areas:
            for key in (area.name, area.code, *area.aliases):
                out[key] = area
        return out


FILES = {
    "office": "office.yaml",
    "departments": "departments.yaml",
    "areas": "areas.yaml",
    "categories": "categories.yaml",
    "rules": "routing.yaml",
    "policy": "policy.yaml",
    "channels": "channels.yaml",
    "stations": "stations.yaml",
}
OPTIONAL = {"policy", "channels", "stations"}


class ChannelOptions(_Strict):
    """The options any channel of channels.yaml may have (each parser reads its own); a key
    not here is a typo. `columns` keys are checked against the channel's DEFAULT_COLUMNS."""

    label: str | None = None
    text_format: str = "plain"
    area: str | None = None
    recorded_by: str | None = None
    sheet: str | int | None = None
    header_search_rows: int = Field(default=10, ge=1)
    columns: dict[str, str | list[str]] = Field(default_factory=dict)
    station: str | None = None
    group: str | None = None
    staff_senders: list[str] = Field(default_factory=list)
    noise_phrases: list[str] = Field(default_factory=list)
    photo_merge_minutes: float = Field(default=5, ge=0)
    imap: dict[str, Any] | None = None


# What each file's section is checked against on its own, before the checks across files.
_SECTION_TYPES: dict[str, Any] = {
    "office": Office,
    "departments": list[Department],
    "areas": list[Area],
    "categories": list[Category],
    "rules": list[RoutingRule],
    "policy": Policy,
    "channels": dict[str, ChannelOptions | None],
    "stations": list[Station],
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a config file: the file, the key (list positions counted from 1), the
    line when known, and what is wrong, for the office."""

    file: str
    key: str
    line: int | None
    problem: str

    def __str__(self) -> str:
        values = {"file": self.file, "key": self.key, "line": self.line, "problem": self.problem}
        if self.key and self.line:
            return _("%(file)s 第 %(line)d 行，%(key)s：%(problem)s") % values
        if self.key:
            return _("%(file)s 中 %(key)s：%(problem)s") % values
        if self.line:
            return _("%(file)s 第 %(line)d 行：%(problem)s") % values
        return _("%(file)s：%(problem)s") % values


def config_error(problems: Sequence[Problem], kind: type[ConfigError] = ConfigError) -> Any:
    """One ConfigError (or subclass `kind`) listing every problem, one a line."""
    message = _("配置有误：") + "".join("\n  " + str(p) for p in problems)
    error = kind(message)
    error.problems = list(problems)
    return error


@dataclass(frozen=True)
class YamlFile:
    """A config file as read: its data, and the line of every key and list item."""

    name: str
    data: Any
    lines: Mapping[tuple[str, ...], int]
    text: Sequence[str]

    def line_of(self, path: Sequence[Any]) -> int | None:
        """The line of `path`, or of the nearest key above it that the file has."""
        parts = tuple(str(p) for p in path if p != "[key]")
        while parts:
            if parts in self.lines:
                return self.lines[parts]
            parts = parts[:-1]
        return None

    def problem(self, path: Sequence[Any], message: str) -> Problem:
        line = self.line_of(path)
        if line is not None:  # a slip on the key's line or the next can make it a plain text
            message += _full_width_hint(self.text, [line - 1, line])
        return Problem(self.name, key_text(path, self.data), line, message)


def read_yaml(path: Path, loader: type[yaml.SafeLoader] = yaml.SafeLoader) -> YamlFile:
    """Read a config file keeping the line of every key; a file that cannot be read or is not
    YAML raises ConfigError saying where, in words an office can act on."""
    name = path.name
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise config_error(
            [Problem(name, "", None, _("不是 UTF-8 编码，请另存为 UTF-8"))]
        ) from None
    except OSError as exc:
        problem = _("无法读取（%(detail)s）") % {"detail": exc.strerror or exc}
        raise config_error([Problem(name, "", None, problem)]) from None
    reader = loader(text)
    try:
        node = reader.get_single_node()
        data = reader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise config_error([_yaml_problem(name, text, exc)]) from None
    except ValueError as exc:  # a constructor's own error, e.g. a date that does not exist
        problem = _("不是有效的 YAML（%(detail)s）") % {"detail": exc}
        raise config_error([Problem(name, "", None, problem)]) from None
    finally:
        reader.dispose()
    lines: dict[tuple[str, ...], int] = {}
    if node is not None:
        _note_lines(node, (), lines)
    return YamlFile(name, data, lines, text.splitlines())


def _note_lines(node: yaml.Node, path: tuple[str, ...], lines: dict[tuple[str, ...], int]) -> None:
    if isinstance(node, yaml.MappingNode):
        children = [(str(k.value), k, v) for k, v in node.value]
    elif isinstance(node, yaml.SequenceNode):
        children = [(str(i), item, item) for i, item in enumerate(node.value)]
    else:
        return
    for part, marked, child in children:
        here = (*path, part)
        if here not in lines:
            lines[here] = marked.start_mark.line + 1
            _note_lines(child, here, lines)


# PyYAML's problems, in words for the office (the first that matches; else 格式不对).
_YAML_PROBLEMS = (
    ("could not find expected ':'", N_("找不到应有的冒号“:”")),
    (
        "mapping values are not allowed",
        N_("这里不能写“键: 值”（多半是缩进不对，或冒号后少了空格）"),
    ),
    ("found character '\\t'", N_("有制表符（Tab），YAML 只能用空格缩进")),
    ("expected ',' or ']'", N_("方括号没有配对")),
    ("expected ',' or '}'", N_("花括号没有配对")),
    ("found unexpected end of stream", N_("引号没有配对")),
    ("expected <block end>", N_("缩进没有对齐")),
    ("did not find expected key", N_("缩进没有对齐")),
    ("did not find expected '-'", N_("列表项应以“- ”开头，缩进要对齐")),
)
_FULL_WIDTH_KEY = re.compile(r"^[\s\u3000]*(?:-[\s\u3000]+)?[^:#\s][^:#]*：")


def _yaml_problem(name: str, text: str, exc: yaml.YAMLError) -> Problem:
    mark = getattr(exc, "problem_mark", None)
    said = f"{getattr(exc, 'context', '') or ''} {getattr(exc, 'problem', '') or exc}"
    what = next((_(words) for found, words in _YAML_PROBLEMS if found in said), _("格式不对"))
    problem = _("不是有效的 YAML：%(what)s") % {"what": what}
    if mark is None:
        return Problem(name, "", None, problem)
    context = getattr(exc, "context_mark", None)
    first = min(mark.line, context.line if context is not None else mark.line)
    near = range(max(first - 1, 0), mark.line + 1)  # the slip is often on a line before
    lines = text.splitlines()
    slips = [i for i in near if _full_width_hint(lines, [i])]
    if slips:  # name the line of the slip, not where PyYAML noticed it
        return Problem(name, "", slips[0] + 1, problem + _full_width_hint(lines, slips))
    problem += _("（第 %(column)d 列）") % {"column": mark.column + 1}
    return Problem(name, "", mark.line + 1, problem)


def _full_width_hint(text: Sequence[str], line_indexes: Iterable[int]) -> str:
    """“；第 10 行有全角冒号…” for the lines given that have a full-width colon after a key or
    a full-width space outside quotes and comments; '' when none has."""
    hints = []
    for i in line_indexes:
        if not 0 <= i < len(text):
            continue
        content = text[i].split(" #")[0]
        if _FULL_WIDTH_KEY.match(content):
            hints.append(_("第 %(line)d 行有全角冒号“：”，YAML 需要半角冒号“:”") % {"line": i + 1})
        if "\u3000" in content.split('"')[0].split("'")[0]:
            hints.append(_("第 %(line)d 行有全角空格，YAML 需要半角空格") % {"line": i + 1})
    return "".join(pgettext("separator", "；") + h for h in hints)


def key_text(path: Sequence[Any], data: Any = None) -> str:
    """departments 第 3 个.email: list positions counted from 1, as an office counts."""
    out, node = "", data
    for part in path:
        if part == "[key]":
            continue
        if isinstance(part, int) and (isinstance(node, list) or node is None):
            out = _("%(list)s 第 %(n)d 个") % {"list": out, "n": part + 1}
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out


@cache
def _section_adapter(key: str) -> TypeAdapter[Any]:
    return TypeAdapter(_SECTION_TYPES[key])


def _channel_columns(name: str) -> set[str] | None:
    """The column fields channel `name` knows, or None when it reads no columns."""
    import importlib

    try:
        module = importlib.import_module(f"minqing.channels.{name}")
    except ImportError:
        return None
    columns = getattr(module, "DEFAULT_COLUMNS", None)
    return set(columns) if columns is not None else None


def load_reference(config_dir: Path) -> Reference:
    """Read and validate config_dir/*.yaml; raise ConfigError naming every problem's file, key,
    line and what is wrong."""
    problems: list[Problem] = []
    data: dict[str, Any] = {}
    files: dict[str, tuple[YamlFile, tuple[str, ...]]] = {}
    for key, filename in FILES.items():
        path = config_dir / filename
        if not path.exists():
            if key not in OPTIONAL:
                problems.append(Problem(filename, "", None, _("文件不存在")))
            continue
        try:
            read = read_yaml(path)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        content = {} if read.data is None else read.data
        if not isinstance(content, dict):
            problems.append(read.problem((), _("最外层应为“键: 值”的映射")))
            continue
        # Files hold one top-level key named like the section (office.yaml holds the mapping).
        top: tuple[str, ...] = ()
        if key not in ("office", "policy"):
            top = (key,) if key in content else ("rules",)
        section = content.get(top[0]) if top else content
        if section is None:
            problem = _("缺少最外层的键 %(key)s") % {"key": key}
            problems.append(Problem(filename, "", None, problem))
            continue
        files[key] = (read, top)
        data[key] = section
        problems.extend(_duplicate_codes(read, top, section))
        try:
            _section_adapter(key).validate_python(section)
        except ValidationError as exc:
            problems.extend(problems_of(exc, read, top))
            continue
        if key == "channels":
            problems.extend(_column_problems(read, section))
    if problems:
        raise config_error(problems)
    try:
        return Reference.model_validate(data)
    except ValidationError as exc:
        raise config_error(_explain(exc, files)) from None


def _duplicate_codes(read: YamlFile, top: tuple[str, ...], section: Any) -> list[Problem]:
    """A code used twice in a list (departments, areas, categories with their children,
    stations), at the second entry's line, read from the file as written so that it is
    listed alongside the file's other problems."""
    out: list[Problem] = []
    seen: dict[str, tuple[Any, ...]] = {}

    def walk(items: Any, path: tuple[Any, ...]) -> None:
        if not isinstance(items, list):
            return
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            code = item.get("code")
            if isinstance(code, str | int):
                first = seen.setdefault(str(code), (*path, i))
                if first != (*path, i):
                    out.append(read.problem((*path, i, "code"), _duplicate(code, first, path)))
            walk(item.get("children"), (*path, i, "children"))

    if top and top[0] in ("departments", "areas", "categories", "stations"):
        walk(section, top)
    return out


def _duplicate(code: object, first: tuple[Any, ...], path: tuple[Any, ...]) -> str:
    if first[:-1] == path:  # in the same list: 与第 2 个重复
        return _("代码 %(code)s 与第 %(n)d 个重复") % {"code": code, "n": first[-1] + 1}
    return _("代码 %(code)s 与 %(other)s 重复") % {"code": code, "other": key_text(first)}


# Channels read by tasks/imports.py rather than by a parser (tasks/ingest.py RETURN_CHANNELS).
_RETURN_CHANNELS = ("replies", "ratings")


def _column_problems(read: YamlFile, channels: Mapping[str, Any]) -> list[Problem]:
    from minqing.channels import registered_channels

    out = []
    names = [*registered_channels(), *_RETURN_CHANNELS]
    for name, options in channels.items():
        if name not in names:
            problem = _("未知的渠道“%(value)s”（应为以下之一：%(expected)s）") % {
                "value": name,
                "expected": pgettext("separator", "、").join(names),
            }
            out.append(read.problem(("channels", name), problem))
            continue
        known = _channel_columns(str(name))
        for field in (options or {}).get("columns") or {}:
            if known is not None and field not in known:
                problem = _("不认识的键（应为以下之一：%(expected)s）") % {
                    "expected": pgettext("separator", "、").join(sorted(known))
                }
                out.append(read.problem(("channels", name, "columns", field), problem))
    return out


def _unknown(what: str, value: object, where: str) -> str:
    return _("未知的%(what)s“%(value)s”（%(where)s 中没有）") % {
        "what": what,
        "value": value,
        "where": where,
    }


# What pydantic's error types mean, for the office (the rest say what they expected).
_PROBLEMS = {
    "missing": N_("缺少此项（必填）"),
    "extra_forbidden": N_("不认识的键（拼写错误，或不该写在这里）"),
    "int_parsing": N_("应为整数"),
    "int_type": N_("应为整数"),
    "int_from_float": N_("应为整数"),
    "float_parsing": N_("应为数字"),
    "float_type": N_("应为数字"),
    "string_type": N_("应为文字"),
    "bool_parsing": N_("应为 true 或 false"),
    "bool_type": N_("应为 true 或 false"),
    "list_type": N_("应为列表"),
    "tuple_type": N_("应为列表"),
    "dict_type": N_("应为“键: 值”的映射"),
    "model_type": N_("应为“键: 值”的映射"),
    "dataclass_type": N_("应为“键: 值”的映射"),
    "string_pattern_mismatch": N_("格式不对"),
    "date_from_datetime_parsing": N_("应为日期（如 2027-01-01）"),
    "date_parsing": N_("应为日期（如 2027-01-01）"),
}


def _problem(err: Mapping[str, Any]) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "value_error":
        return str(ctx.get("error", err["msg"])).removeprefix("Value error, ")
    if kind == "literal_error":
        return _("应为以下之一：%(expected)s") % {"expected": ctx.get("expected", "")}
    if kind == "greater_than":
        return _("应大于 %(limit)s") % {"limit": ctx.get("gt")}
    if kind == "greater_than_equal":
        return _("不能小于 %(limit)s") % {"limit": ctx.get("ge")}
    if kind == "less_than":
        return _("应小于 %(limit)s") % {"limit": ctx.get("lt")}
    if kind == "less_than_equal":
        return _("不能大于 %(limit)s") % {"limit": ctx.get("le")}
    if kind in _PROBLEMS:
        return _(_PROBLEMS[kind])
    return _("不符合要求（%(detail)s）") % {"detail": err["msg"]}


def problems_of(exc: ValidationError, read: YamlFile, prefix: Sequence[Any] = ()) -> list[Problem]:
    """A pydantic error on the data of `read` (found under `prefix`): one Problem per key, the
    alternatives of a union (文字 or 整数) said in one line."""
    out: list[Problem] = []
    for err in exc.errors():
        path = _in_file((*prefix, *err["loc"]), read.data, missing=err["type"] == "missing")
        problem = read.problem(path, _problem(err))
        same = next(
            (i for i, p in enumerate(out) if (p.key, p.line) == (problem.key, problem.line)), None
        )
        if same is None:
            out.append(problem)
        elif problem.problem not in out[same].problem:
            either = _("%(first)s，或%(second)s") % {
                "first": out[same].problem,
                "second": problem.problem,
            }
            out[same] = Problem(problem.file, problem.key, problem.line, either)
    return out


def _in_file(loc: Sequence[Any], data: Any, *, missing: bool) -> list[Any]:
    """`loc` without the names pydantic gives a union's alternatives (str, int, dict[str,str]):
    only the keys and list positions that are in the file, and a missing key at the end."""
    out: list[Any] = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(node, list) and isinstance(part, int):
            out.append(part)
            node = node[part] if 0 <= part < len(node) else None
        elif isinstance(node, dict) and part in node:
            out.append(part)
            node = node[part]
        elif part == "[key]" or (missing and i == len(loc) - 1) or node is None:
            out.append(part)
            node = None
    return out


def _where(text: str) -> list[Any]:
    """stations[0].area → ['stations', 0, 'area'] (the cross-file checks name keys this way)."""
    return [
        int(index) if index else name for index, name in re.findall(r"\[(\d+)\]|([^.\[\]]+)", text)
    ]


def _explain(
    exc: ValidationError, files: Mapping[str, tuple[YamlFile, tuple[str, ...]]]
) -> list[Problem]:
    found: list[tuple[list[Any], str]] = []
    for err in exc.errors():
        loc = list(err["loc"])
        if loc:
            found.append((loc, _problem(err)))
            continue
        # The checks across files: one "key: problem" a line.
        for line in _problem(err).splitlines():
            where, _sep, message = line.partition(": ")
            found.append((_where(where), message))
    out = []
    for loc, message in found:
        section = str(loc[0])
        if section not in files:
            out.append(Problem(FILES.get(section, "config"), key_text(loc), None, message))
            continue
        read, top = files[section]
        out.append(read.problem((*top, *loc[1:]), message))
    return out
