"""Department scores (部门评分), the handling funnel and the office's annual sentence.

DataFrames in, DataFrames out. Every formula here is written out, with its Chinese name, in
docs/scores.md ("Formulas"); a rate whose denominator is zero is NaN (shown as "—"), never 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from minqing.i18n import N_, NP_, _, label, ngettext, pgettext
from minqing.labels import SATISFACTION_LABELS
from minqing.states import Outcome
from minqing.workdays import LOCAL_TZ, WorkCalendar

SATISFIED = "满意"
BASICALLY_SATISFIED = "基本满意"
DISSATISFIED = "不满意"
SATISFACTION_LEVELS = (SATISFIED, BASICALLY_SATISFIED, DISSATISFIED)

# A case assigned without a department still shows up, under a name nobody can miss.
NO_DEPARTMENT = N_("（未指定部门）")  # translated where it is put in a frame

CASE_COLUMNS = (
    "case_id",
    "department",
    "assigned_at",
    "due_at",
    "replied_at",
    "closed_at",
    "outcome",
    "reopen_count",
)
RATING_COLUMNS = ("case_id", "person_id", "satisfaction", "solved", "rated_at")
SURVEY_COLUMNS = ("case_id", "person_id", "sent_at")
REP_EVALUATION_COLUMNS = ("representative", "department", "score")

# The columns of department_scores(), in order: codes, labelled where the table is shown
# (SCORE_LABELS; the workbook's sheet, the summary, the artifact).
SCORE_COLUMNS = (
    "department",
    "received",
    "replied",
    "reply_rate",
    "on_time_rate",
    "mean_working_days",
    "solved_rate_closed",
    "solved_rate_rated",
    "satisfaction_rate",
    "fully_satisfied_rate",
    "response_rate",
    "reopen_rate",
    "rated",
    "citizen_score",
    "representative_score",
    "composite_score",
    "rank",
    "unranked_reason",
)
SCORE_LABELS: Mapping[str, str] = MappingProxyType(
    {
        "department": N_("部门"),
        "received": N_("受理数"),
        "replied": N_("回复数"),
        "reply_rate": N_("回复率"),
        "on_time_rate": N_("按期办结率"),
        "mean_working_days": N_("平均办理工作日"),
        "solved_rate_closed": N_("办成率(A类/办结)"),
        "solved_rate_rated": N_("办成率(评价)"),
        "satisfaction_rate": N_("满意率(满意+基本满意)"),
        "fully_satisfied_rate": N_("满意率(仅满意)"),
        "response_rate": N_("参评率"),
        "reopen_rate": N_("重办率"),
        "rated": N_("评价数"),
        "citizen_score": N_("群众评价得分"),
        "representative_score": N_("代表评议得分"),
        "composite_score": N_("综合得分"),
        "rank": N_("排名"),
        "unranked_reason": N_("未排名原因"),
    }
)

# The stages of funnel(), in order, with their labels (shown by `stage_label`).
FUNNEL_STAGES: Mapping[str, str] = MappingProxyType(
    {
        "collected": NP_("funnel", "收集"),
        "opened": NP_("funnel", "立案"),
        "assigned": NP_("funnel", "交办"),
        "replied": NP_("funnel", "答复"),
        "solved": NP_("funnel", "办成"),
        "satisfied": NP_("funnel", "满意"),
    }
)
# The columns of funnel() and their labels (the stage is shown by its label).
FUNNEL_LABELS: Mapping[str, str] = MappingProxyType(
    {
        "stage": N_("阶段"),
        "count": N_("件数"),
        "share_of_previous": N_("占上一阶段"),
        "share_of_collected": N_("占收集"),
    }
)

# The figures of annual_sentences(), in the order of its clauses.
ANNUAL_FIGURES = (
    "citizens_received",
    "opinions_collected",
    "answered_on_the_spot",
    "suggestions_made",
    "matters_solved",
)


# --- policy ---------------------------------------------------------------------------------


class _PolicyModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_rated: int = Field(default=10, ge=0)
    weight_citizen: float = Field(default=0.7, ge=0)
    weight_representative: float = Field(default=0.3, ge=0)
    points: dict[str, float] = Field(
        default_factory=lambda: {SATISFIED: 100.0, BASICALLY_SATISFIED: 80.0, DISSATISFIED: 0.0}
    )

    @model_validator(mode="after")
    def _check(self) -> _PolicyModel:
        if self.weight_citizen + self.weight_representative <= 0:
            raise ValueError("weight_citizen and weight_representative cannot both be 0")
        if set(self.points) != set(SATISFACTION_LEVELS):
            raise ValueError(f"points must give exactly {', '.join(SATISFACTION_LEVELS)}")
        if any(not 0 <= p <= 100 for p in self.points.values()):
            raise ValueError("points must lie between 0 and 100")
        return self


@dataclass(frozen=True)
class ScorePolicy:
    """How departments are scored (评分办法).

    - `min_rated`: a department with fewer citizen ratings (评价数) in the period is listed but
      not ranked — a handful of answers is not a score.
    - `points`: 满意 / 基本满意 / 不满意 as points out of 100; used for the citizens' answers and
      for representatives who evaluate with the same three words.
    - `weight_citizen`, `weight_representative`: 综合得分 = the weighted mean of 群众评价得分 (the
      mean points of the citizens' ratings) and 代表评议得分 (the representatives' mean score).
      A part with weight 0 is left out; a part with a positive weight that is missing makes
      综合得分 missing (so a period without 代表集体评议 needs weight_representative = 0 to rank).
    """

    min_rated: int = 10
    weight_citizen: float = 0.7
    weight_representative: float = 0.3
    points: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType(
            {SATISFIED: 100.0, BASICALLY_SATISFIED: 80.0, DISSATISFIED: 0.0}
        )
    )

    def __post_init__(self) -> None:
        try:
            checked = _PolicyModel(
                min_rated=self.min_rated,
                weight_citizen=self.weight_citizen,
                weight_representative=self.weight_representative,
                points=dict(self.points),
            )
        except ValidationError as exc:
            raise ValueError(_explain(exc, "ScorePolicy")) from None
        object.__setattr__(self, "points", MappingProxyType(dict(checked.points)))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, source: str = "config") -> ScorePolicy:
        """A policy from a config section such as::

            scoring:
              min_rated: 10
              weight_citizen: 0.7
              weight_representative: 0.3
              points: {满意: 100, 基本满意: 80, 不满意: 0}

        Raises ValueError naming `source`, the key and the problem.
        """
        try:
            model = _PolicyModel.model_validate(dict(data or {}))
        except ValidationError as exc:
            raise ValueError(_explain(exc, source)) from None
        return cls(
            min_rated=model.min_rated,
            weight_citizen=model.weight_citizen,
            weight_representative=model.weight_representative,
            points=model.points,
        )

    def rule(self) -> str:
        """How a department is scored, in one paragraph for the report's reader (the office's
        own weights, points and minimum): what docs/scores.md says to an engineer."""
        citizen, representative = self.weight_citizen, self.weight_representative
        if representative == 0:
            overall = _("综合得分 = 群众评价得分")
        elif citizen == 0:
            overall = _("综合得分 = 代表评议得分")
        else:
            total = citizen + representative
            overall = _("综合得分 = 群众评价得分 × %(citizen)s + 代表评议得分 × %(rep)s") % {
                "citizen": f"{citizen / total:.2g}",
                "rep": f"{representative / total:.2g}",
            }
        points = _("、").join(
            _("%(answer)s %(points)s 分")
            % {"answer": label(SATISFACTION_LABELS, a), "points": f"{p:g}"}
            for a, p in self.points.items()
        )
        return _(
            "%(overall)s；群众评价得分是每条评价按%(points)s计分的平均；"
            "评价少于 %(min)d 条或缺少评议得分的部门列出但不排名。"
        ) % {"overall": overall, "points": points, "min": self.min_rated}


def _explain(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"{source}: {key}: {str(err['msg']).removeprefix('Value error, ')}")
    return "\n".join(lines)


# --- input checks ---------------------------------------------------------------------------


def _require(frame: pd.DataFrame, name: str, columns: Iterable[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{name} lacks column(s) {', '.join(missing)}; it has {list(frame.columns)}"
        )


def _utc(values: pd.Series) -> pd.Series:
    # Naive values are taken as UTC: that is how the database stores every time.
    return pd.to_datetime(values, utc=True, format="ISO8601")


def _check_values(values: pd.Series, allowed: Iterable[str], what: str) -> None:
    bad = sorted({str(v) for v in values.dropna().unique()} - set(allowed))
    if bad:
        raise ValueError(f"unknown {what} value(s) {bad}; expected one of {sorted(allowed)}")


def _optional_bool(values: pd.Series, what: str) -> tuple[pd.Series, pd.Series]:
    """(answered, true) masks for a column of True / False / missing."""
    answered = values.notna()
    bad = {v for v in values[answered].unique() if v not in (True, False, 1, 0)}
    if bad:
        raise ValueError(f"{what} must be True, False or empty; got {sorted(map(str, bad))}")
    is_true = answered & values.where(answered, False).astype(bool)
    return answered.astype(bool), is_true.astype(bool)


def _prepared_cases(cases: pd.DataFrame, calendar: WorkCalendar | None) -> pd.DataFrame:
    _require(cases, "cases", CASE_COLUMNS)
    duplicated = cases["case_id"][cases["case_id"].duplicated()].unique().tolist()
    if duplicated:
        raise ValueError(f"cases: case_id must be unique; repeated: {duplicated[:10]}")
    c = cases.copy()
    if "status" in c.columns:  # a merged duplicate is counted in the case it was folded into
        c = c[c["status"].astype("object") != "merged"]
    for column in ("assigned_at", "due_at", "replied_at", "closed_at"):
        c[column] = _utc(c[column])
    c["outcome"] = c["outcome"].astype("object").where(c["outcome"].notna(), None)
    _check_values(c["outcome"], [o.value for o in Outcome], "outcome")
    c["department"] = (
        c["department"].astype("object").where(c["department"].notna(), _(NO_DEPARTMENT))
    )
    c["reopen_count"] = pd.to_numeric(c["reopen_count"]).fillna(0)
    days = (
        pd.to_numeric(c["handling_working_days"], errors="raise").astype(float)
        if "handling_working_days" in c.columns
        else pd.Series(np.nan, index=c.index)
    )
    if calendar is not None:
        todo = days.isna() & c["assigned_at"].notna() & c["replied_at"].notna()
        if todo.any():
            days[todo] = calendar.working_days_between_many(
                _local_days(c.loc[todo, "assigned_at"]), _local_days(c.loc[todo, "replied_at"])
            )
    c["reply_before_assignment"] = reply_before_assignment(c["assigned_at"], c["replied_at"])
    c["reply_before_assignment"] |= days < 0
    c["handling_working_days"] = days.where(~c["reply_before_assignment"])
    return c


def stage_label(stage: str) -> str:
    """A stage of the funnel as the reader reads it (收集, 交办, …)."""
    return pgettext("funnel", FUNNEL_STAGES[stage]) if stage in FUNNEL_STAGES else str(stage)


def reply_before_assignment(assigned_at: pd.Series, replied_at: pd.Series) -> pd.Series:
    """Cases whose reply is dated on a Beijing day before the day of their assignment.

    Such a reply cannot be true (the import refuses it since minqing checks reply times; rows
    stored before that may remain): it has no handling time and is not judged on time.
    """
    both = assigned_at.notna() & replied_at.notna()
    out = pd.Series(False, index=assigned_at.index)
    if both.any():
        out[both] = _local_days(replied_at[both]) < _local_days(assigned_at[both])
    return out


def _local_days(instants: pd.Series) -> np.ndarray:
    return instants.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None).to_numpy("datetime64[D]")


def _bound(value: date | datetime, name: str, *, end: bool) -> pd.Timestamp:
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware or a date, got naive {value!r}")
        return pd.Timestamp(value).tz_convert("UTC")
    if isinstance(value, date):
        day = value + timedelta(days=1) if end else value  # a date end is inclusive
        return pd.Timestamp(datetime.combine(day, time(0), tzinfo=LOCAL_TZ)).tz_convert("UTC")
    raise TypeError(f"{name} must be a date or a timezone-aware datetime, got {value!r}")


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    return numerator.astype(float) / denominator.where(denominator > 0).astype(float)


# --- ratings --------------------------------------------------------------------------------


def latest_ratings(ratings: pd.DataFrame) -> pd.DataFrame:
    """Each citizen's current answer per case: superseded and older ratings are dropped.

    A rating is superseded when another row's `supersedes_id` names its `rating_id` (both
    columns optional), or when an optional boolean column `superseded` is True. Of what is left,
    the row with the latest `rated_at` wins per (case_id, person_id); on a tie the later row in
    the frame wins; a missing `rated_at` loses to any date. Ratings without a person_id (e.g. an
    anonymous import) are each kept. Rows keep their order and index.
    """
    _require(ratings, "ratings", ("case_id", "person_id", "rated_at"))
    alive = np.ones(len(ratings), dtype=bool)
    if "rating_id" in ratings.columns and "supersedes_id" in ratings.columns:
        alive &= ~ratings["rating_id"].isin(set(ratings["supersedes_id"].dropna())).to_numpy()
    if "superseded" in ratings.columns:
        alive &= ~ratings["superseded"].astype("object").fillna(False).astype(bool).to_numpy()
    candidates = pd.DataFrame(
        {
            "case_id": ratings["case_id"].to_numpy(),
            "person_id": ratings["person_id"].to_numpy(),
            "rated_at": _utc(ratings["rated_at"]).to_numpy(),
            "row": np.arange(len(ratings)),
        }
    )[alive]
    candidates = candidates.sort_values(["rated_at", "row"], na_position="first", kind="stable")
    newest = ~candidates.duplicated(["case_id", "person_id"], keep="last")
    newest |= candidates["person_id"].isna()
    return ratings.iloc[np.sort(candidates.loc[newest, "row"].to_numpy())]


def _prepared_ratings(ratings: pd.DataFrame | None) -> pd.DataFrame:
    if ratings is None:
        ratings = pd.DataFrame(columns=list(RATING_COLUMNS))
    _require(ratings, "ratings", RATING_COLUMNS)
    r = latest_ratings(ratings).reset_index(drop=True)
    r["satisfaction"] = r["satisfaction"].astype("object").where(r["satisfaction"].notna(), None)
    _check_values(r["satisfaction"], SATISFACTION_LEVELS, "satisfaction")
    r["solved_answered"], r["solved_yes"] = _optional_bool(r["solved"].astype("object"), "solved")
    return r


# --- representatives' evaluation -----------------------------------------------------------


def representative_scores(rep_evaluations: pd.DataFrame | None, policy: ScorePolicy) -> pd.Series:
    """代表评议得分 per department: the mean over representatives of each one's mean score.

    `score` is either 满意 / 基本满意 / 不满意 (mapped to `policy.points`) or a number 0–100.
    Averaging per representative first keeps a representative who filled in two rows from
    counting twice.
    """
    if rep_evaluations is None or rep_evaluations.empty:
        return pd.Series(dtype=float, name="representative_score")
    _require(rep_evaluations, "rep_evaluations", REP_EVALUATION_COLUMNS)
    e = rep_evaluations.dropna(subset=["score"])
    points = [_rep_points(v, policy, i) for i, v in zip(e.index, e["score"], strict=True)]
    frame = pd.DataFrame(
        {
            "department": e["department"].to_numpy(),
            "representative": e["representative"].to_numpy(),
            "points": points,
        }
    )
    if frame.empty:
        return pd.Series(dtype=float, name="representative_score")
    per_rep = frame.groupby(["department", "representative"], sort=False)["points"].mean()
    return per_rep.groupby(level="department").mean().rename("representative_score")


def _rep_points(value: Any, policy: ScorePolicy, row: Any) -> float:
    if isinstance(value, str):
        text = value.strip()
        if text in policy.points:
            return float(policy.points[text])
        try:
            number = float(text)
        except ValueError:
            raise ValueError(
                f"rep_evaluations row {row}: score {value!r} is neither "
                f"{'/'.join(SATISFACTION_LEVELS)} nor a number 0–100"
            ) from None
    elif isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"rep_evaluations row {row}: score {value!r} is not a score")
    else:
        number = float(value)
    if not 0 <= number <= 100:
        raise ValueError(f"rep_evaluations row {row}: score {value!r} is outside 0–100")
    return number


# --- department scores ------------------------------------------------------------------------


def department_scores(
    cases: pd.DataFrame,
    ratings: pd.DataFrame | None,
    surveys: pd.DataFrame | None,
    rep_evaluations: pd.DataFrame | None,
    period_start: date | datetime,
    period_end: date | datetime,
    policy: ScorePolicy,
    *,
    as_of: datetime | None = None,
    calendar: WorkCalendar | None = None,
    departments: Sequence[str] = (),
) -> pd.DataFrame:
    """One row per department with the figures of docs/scores.md, ranked by 综合得分.

    Every figure is about the department's cases assigned (受理) in the period — a date bound is
    a whole Asia/Shanghai day, inclusive at both ends; a datetime pair is [start, end). Ratings
    and surveys count when they belong to those cases, whenever they were given: the frames are
    the snapshot. `as_of` (default: period_end) is the moment an unreplied case is judged late
    once its due_at has passed. `calendar` fills missing `handling_working_days` from
    assigned_at → replied_at. `departments` are listed even without cases.

    Inputs (extra columns are ignored; naive times are taken as UTC):

    - cases: case_id, department (the lead department's code), assigned_at, due_at, replied_at
      (first reply, nullable), closed_at (nullable), outcome (solved / in_progress / planned /
      for_reference / not_responsible / on_the_spot / null), reopen_count; optional
      handling_working_days (float) and status (rows with status "merged" are dropped).
    - ratings: case_id, person_id, satisfaction (满意 / 基本满意 / 不满意 / null), solved (办成:
      True / False / null), rated_at; optional rating_id + supersedes_id or superseded. Only the
      latest rating per (case, person) counts (see `latest_ratings`).
    - surveys: case_id, person_id, sent_at — one row per question sent (repeats are fine).
    - rep_evaluations: representative, department, score (满意 / 基本满意 / 不满意 or 0–100).

    Output columns: `SCORE_COLUMNS` (codes; `SCORE_LABELS` gives their Chinese names, e.g.
    composite_score 综合得分). Rates are fractions 0–1, NaN when the denominator is 0; rank 排名
    is a nullable integer (<NA> when not ranked, with the reason in unranked_reason). Rows are
    sorted by rank, then department.
    """
    start = _bound(period_start, "period_start", end=False)
    end = _bound(period_end, "period_end", end=True)
    if end <= start:
        raise ValueError(f"the period ends ({period_end}) before it starts ({period_start})")
    now = end if as_of is None else _bound(as_of, "as_of", end=True)

    c = _prepared_cases(cases, calendar)
    c = c[(c["assigned_at"] >= start) & (c["assigned_at"] < end)]
    replied = c["replied_at"].notna()
    closed = c["closed_at"].notna()
    has_due = c["due_at"].notna() & ~c["reply_before_assignment"]
    on_time = replied & has_due & (c["replied_at"] <= c["due_at"])
    judged = has_due & (replied | (c["due_at"] < now))  # late or done: no longer pending
    per_case = pd.DataFrame(
        {
            "department": c["department"],
            "received": 1,
            "replied": replied,
            "judged": judged,
            "on_time": on_time,
            "closed": closed,
            "solved_closed": closed & (c["outcome"] == Outcome.SOLVED.value),
            "reopened_replied": replied & (c["reopen_count"] > 0),
            "handling_days": c["handling_working_days"].where(replied),
        }
    )
    by_case = per_case.groupby("department").agg(
        received=("received", "sum"),
        replied=("replied", "sum"),
        judged=("judged", "sum"),
        on_time=("on_time", "sum"),
        closed=("closed", "sum"),
        solved_closed=("solved_closed", "sum"),
        reopened_replied=("reopened_replied", "sum"),
        handling_days=("handling_days", "mean"),
    )

    case_department = c[["case_id", "department"]]
    r = _prepared_ratings(ratings).drop(columns=["department"], errors="ignore")
    r = r.merge(case_department, on="case_id", how="inner")
    rated = r["satisfaction"].notna()
    per_rating = pd.DataFrame(
        {
            "department": r["department"],
            "rated": rated,
            "satisfied": r["satisfaction"] == SATISFIED,
            "satisfied_or_basic": r["satisfaction"].isin([SATISFIED, BASICALLY_SATISFIED]),
            "points": r["satisfaction"].map(dict(policy.points)).astype(float),
            "solved_answered": r["solved_answered"],
            "solved_yes": r["solved_yes"],
        }
    )
    by_rating = per_rating.groupby("department").agg(
        rated=("rated", "sum"),
        satisfied=("satisfied", "sum"),
        satisfied_or_basic=("satisfied_or_basic", "sum"),
        points=("points", "sum"),
        solved_answered=("solved_answered", "sum"),
        solved_yes=("solved_yes", "sum"),
    )

    by_survey = _participation(surveys, r, case_department)
    rep = representative_scores(rep_evaluations, policy)

    names = sorted(
        set(by_case.index) | set(by_rating.index) | set(rep.index) | set(departments), key=str
    )
    f = pd.concat([by_case, by_rating, by_survey], axis=1).reindex(names)
    counts = f.drop(columns=["handling_days", "points"]).fillna(0).astype("int64")

    out = pd.DataFrame(index=pd.Index(names))
    out["department"] = names
    out["received"] = counts["received"]
    out["replied"] = counts["replied"]
    out["reply_rate"] = _ratio(counts["replied"], counts["received"])
    out["on_time_rate"] = _ratio(counts["on_time"], counts["judged"])
    out["mean_working_days"] = f["handling_days"].astype(float)
    out["solved_rate_closed"] = _ratio(counts["solved_closed"], counts["closed"])
    out["solved_rate_rated"] = _ratio(counts["solved_yes"], counts["solved_answered"])
    out["satisfaction_rate"] = _ratio(counts["satisfied_or_basic"], counts["rated"])
    out["fully_satisfied_rate"] = _ratio(counts["satisfied"], counts["rated"])
    out["response_rate"] = _ratio(counts["asked_and_rated"], counts["asked"])
    out["reopen_rate"] = _ratio(counts["reopened_replied"], counts["replied"])
    out["rated"] = counts["rated"]
    out["citizen_score"] = _ratio(f["points"].fillna(0), counts["rated"])
    out["representative_score"] = rep.reindex(names).astype(float)
    out["composite_score"] = _composite(out["citizen_score"], out["representative_score"], policy)
    out["unranked_reason"] = [
        _unranked_reason(n_rated, citizen, representative, policy)
        for n_rated, citizen, representative in zip(
            out["rated"], out["citizen_score"], out["representative_score"], strict=True
        )
    ]
    eligible = out["unranked_reason"].isna()
    out["rank"] = (
        out["composite_score"].where(eligible).rank(method="min", ascending=False).astype("Int64")
    )
    out = out.sort_values(["rank", "department"], na_position="last", kind="stable")
    return out.reset_index(drop=True)[list(SCORE_COLUMNS)]


def _participation(
    surveys: pd.DataFrame | None, latest: pd.DataFrame, case_department: pd.DataFrame
) -> pd.DataFrame:
    """asked = distinct (case, person) surveyed; asked_and_rated = those with a current rating."""
    if surveys is None:
        surveys = pd.DataFrame(columns=list(SURVEY_COLUMNS))
    _require(surveys, "surveys", SURVEY_COLUMNS)
    asked = (
        surveys[["case_id", "person_id"]]
        .dropna(subset=["person_id"])
        .drop_duplicates()
        .merge(case_department, on="case_id", how="inner")
    )
    answered = latest.dropna(subset=["person_id"])[["case_id", "person_id"]].drop_duplicates()
    answered = answered.assign(has_rating=True)
    asked = asked.merge(answered, on=["case_id", "person_id"], how="left")
    asked["has_rating"] = asked["has_rating"].astype("boolean").fillna(False).astype(bool)
    grouped = asked.groupby("department").agg(
        asked=("case_id", "size"), asked_and_rated=("has_rating", "sum")
    )
    return grouped


def _composite(citizen: pd.Series, representative: pd.Series, policy: ScorePolicy) -> pd.Series:
    parts = [
        (w, s)
        for w, s in (
            (policy.weight_citizen, citizen),
            (policy.weight_representative, representative),
        )
        if w > 0
    ]
    total = sum(w for w, _ in parts)
    # NaN in any weighted part propagates: a score missing half its inputs is not a score.
    return sum(w * s for w, s in parts) / total


def _unranked_reason(
    n_rated: int, citizen: float, representative: float, policy: ScorePolicy
) -> str | None:
    if n_rated < policy.min_rated:
        return _("评价数不足（%(rated)d 条，少于 %(min)d 条）") % {
            "rated": n_rated,
            "min": policy.min_rated,
        }
    if policy.weight_citizen > 0 and np.isnan(citizen):
        return _("无群众评价得分")
    if policy.weight_representative > 0 and np.isnan(representative):
        return _("无代表评议得分")
    return None


# --- funnel -----------------------------------------------------------------------------------


def funnel(
    cases: pd.DataFrame,
    ratings: pd.DataFrame | None = None,
    submissions: int | None = None,
    *,
    assigned: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """收集 → 立案 → 交办 → 答复 → 办成 → 满意: how many opinions came in, and how many of the
    given cases reached each stage.

    Each stage is at most the one before, so the counts only fall (from 交办 on, when
    `assigned` is given):

    - 收集 collected: `submissions`, the opinions received (every citizen's, a near-duplicate
      (一案多诉) included); when not given, one per case;
    - 立案 opened: every case given (rows with status "merged" dropped) — a case is one or
      more of those opinions;
    - 交办 assigned: assigned_at is set;
    - 答复 replied: …and replied_at is set;
    - 办成 solved: …and outcome is solved (class A);
    - 满意 satisfied: …and the case has at least one current rating and none is 不满意.

    Cases answered on the spot (现场答复) are never assigned, so they leave after 立案. Pass the
    cases of the period you want (e.g. first received in the year) and the submissions received
    in it. Columns (FUNNEL_LABELS): stage (a key of FUNNEL_STAGES), count, share_of_previous (of
    the previous stage), share_of_collected (of 收集); NaN when dividing by 0.

    `assigned`: the cases 交办 and the later stages count, when they are not those of 立案 — a
    period's report counts from 交办 on the cases assigned in the period, as its department
    scores do, while 收集 and 立案 count what was received in it. Then 交办 is not a share of
    立案 nor any later stage one of 收集: those shares are NaN.
    """
    _require(cases, "cases", ("case_id", "assigned_at", "replied_at", "outcome"))
    opened = _not_merged(cases)
    c = opened if assigned is None else _not_merged(assigned)
    if assigned is not None:
        _require(c, "assigned", ("case_id", "assigned_at", "replied_at", "outcome"))
    assigned_at = c["assigned_at"].notna()
    replied = assigned_at & c["replied_at"].notna()
    solved = replied & (c["outcome"].astype("object") == Outcome.SOLVED.value)

    r = _prepared_ratings(ratings)
    r = r[r["satisfaction"].notna()]
    unhappy = set(r.loc[r["satisfaction"] == DISSATISFIED, "case_id"])
    rated = set(r["case_id"])
    satisfied = solved & c["case_id"].isin(rated - unhappy)

    counts = [
        len(opened) if submissions is None else int(submissions),
        len(opened),
        int(assigned_at.sum()),
        int(replied.sum()),
        int(solved.sum()),
        int(satisfied.sum()),
    ]
    frame = pd.DataFrame({"stage": list(FUNNEL_STAGES), "count": counts})
    previous = pd.Series([counts[0], *counts[:-1]])
    frame["share_of_previous"] = _ratio(frame["count"], previous)
    frame["share_of_collected"] = _ratio(frame["count"], pd.Series([counts[0]] * len(counts)))
    if assigned is not None:  # two sets of cases: no share across them
        frame.loc[2, "share_of_previous"] = np.nan
        frame.loc[2:, "share_of_collected"] = np.nan
    return frame


def _not_merged(cases: pd.DataFrame) -> pd.DataFrame:
    if "status" not in cases.columns:
        return cases
    return cases[cases["status"].astype("object") != "merged"]


# --- the annual sentence ----------------------------------------------------------------------


def annual_sentences(figures: Mapping[str, int | None], *, solved_what: str = "") -> str:
    """The office's yearly sentence, e.g. "接待选民群众328人次，收集社情民意96条，…，推动解决33件。".

    `figures` must give every key of `ANNUAL_FIGURES` (a typo is an error, not a missing
    clause); a value of None leaves that clause out on purpose. `solved_what` is inserted
    before the last number, e.g. "群众身边小事、急事、难事". What each figure means is in
    docs/scores.md ("The annual sentence").
    """
    unknown = sorted(set(figures) - set(ANNUAL_FIGURES))
    missing = [key for key in ANNUAL_FIGURES if key not in figures]
    if unknown or missing:
        raise KeyError(
            f"annual figures: unknown {unknown or '-'}, missing {missing or '-'}; "
            f"expected {list(ANNUAL_FIGURES)}"
        )
    clauses = []
    for key in ANNUAL_FIGURES:
        value = figures[key]
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise ValueError(f"annual figure {key} must be a whole number ≥ 0, got {value!r}")
        clauses.append(_annual_clause(key, int(value), solved_what))
    if not clauses:
        return ""
    sentence = pgettext("list", "，").join(clauses) + pgettext("sentence end", "。")
    return sentence[:1].upper() + sentence[1:]


def _annual_clause(key: str, n: int, solved_what: str) -> str:
    """One clause of the annual sentence; each is a whole text of the catalogue."""
    values = {"n": n, "what": solved_what}
    if key == "citizens_received":
        return ngettext("接待选民群众%(n)d人次", "接待选民群众%(n)d人次", n) % values
    if key == "opinions_collected":
        return ngettext("收集社情民意%(n)d条", "收集社情民意%(n)d条", n) % values
    if key == "answered_on_the_spot":
        return ngettext("现场答复%(n)d条", "现场答复%(n)d条", n) % values
    if key == "suggestions_made":
        return ngettext("形成意见建议%(n)d条", "形成意见建议%(n)d条", n) % values
    if solved_what:
        return ngettext("推动解决%(what)s%(n)d件", "推动解决%(what)s%(n)d件", n) % values
    return ngettext("推动解决%(n)d件", "推动解决%(n)d件", n) % values
