"""Figures of the night: collect each stage's counts, add the running satisfaction rate and
the 件件有回复 check from the database, and publish the summary as Prefect artifacts (fixed
keys) and on the console."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from sqlalchemy import func, or_, select, true

from db.engine import Session
from db.models import (
    AuditEvent,
    Case,
    Department,
    Handoff,
    HandoffStatus,
    Lookback,
    LookbackKind,
    Rating,
    Reply,
    Satisfaction,
    Submission,
    Survey,
)
from minqing.charts import NO_CJK_NIGHT_WARNING, cjk_font
from minqing.followups import at_due_hour, end_of_local_day, local_day, overdue_working_days
from minqing.handoffs import handoff_row, outstanding_sentence
from minqing.i18n import _, label, ngettext
from minqing.labels import LOOKBACK_KIND_LABELS, status_label, table_rows
from minqing.rehearsals import Rehearsal, rehearsal_record, with_rehearsals
from minqing.runstate import calendar_advice, font_advice, run_warning
from minqing.states import ASSIGNMENT_KINDS, CaseStatus
from minqing.summary import summary_markdown
from minqing.workdays import fallback_warning
from tasks.context import Context, context
from tasks.handoffs import AS_QUEUED, list_handoffs, outstanding_counts
from tasks.ingest import COMMAND_INGEST
from tasks.lookback import AWAITING_VERIFICATION
from tasks.outbox import local_text
from tasks.routing_watch import announce_low_precision, routing_precision_now
from tasks.surveys import due_a_survey, unsurveyed_cases
from tasks.urgent import (
    day_since_last_night,
    last_night,
    night_counted_day,
    rehearsals_since_last_night,
)

SUMMARY_KEY = "nightly-summary"
REJECTIONS_KEY = "nightly-rejections"
FAILED_HANDOFFS_KEY = "failed-handoffs"
EVERY_ITEM_KEY = "every-item-answered"
ROUTING_PRECISION_KEY = "routing-precision"
TABLE_LIMIT = 2000  # rows of the failed-handoffs table (the summary counts all)


def arrivals_since_last_night(s: Any) -> dict[str, Any]:
    """What came in since the last night counted, whatever the way in, by when it was stored:
    submissions by channel (inbox files, `minqing ingest`, the QR form's spool — the daytime
    runs' share included: the caller takes it out), replies by `via` (file, web page), ratings
    by channel (web page, phone, file), the files `minqing ingest` read, the operators' 改派,
    and the entries into the review queue (triage, dispatch, a 不属职责 reply, an operator —
    the daytime runs' included here too). `through` is the last row of each table counted: the
    next night starts after it."""
    mark = last_night(s)
    before = (mark.detail.get("through") or {}) if mark is not None else {}
    through = {
        "submission": s.scalar(select(func.max(Submission.id))) or 0,
        "reply": s.scalar(select(func.max(Reply.id))) or 0,
        "rating": s.scalar(select(func.max(Rating.id))) or 0,
        "event": s.scalar(select(func.max(AuditEvent.id))) or 0,
    }

    def window(key: str, id_column: Any, at_column: Any) -> list[Any]:
        if mark is None:
            after = true()
        elif key in before:
            after = id_column > before[key]
        else:  # a mark made before marks said how far they counted: by time
            after = at_column > mark.at
        return [after, id_column <= through[key]]

    def counts(column: Any, key: str, table: Any, *also: Any) -> dict[str, int]:
        rows = s.execute(
            select(column, func.count())
            .where(*window(key, table.id, table.created_at), *also)
            .group_by(column)
        )
        return {str(k): int(n) for k, n in rows}

    events = window("event", AuditEvent.id, AuditEvent.at)
    commands = list(
        s.scalars(
            select(AuditEvent.detail)
            .where(AuditEvent.entity == "run", AuditEvent.action == COMMAND_INGEST, *events)
            .order_by(AuditEvent.id)
        )
    )
    rerouted = s.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.entity == "case", AuditEvent.action == "rerouted", *events)
    )
    entered_review = s.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(
            AuditEvent.entity == "case",
            AuditEvent.to_state == CaseStatus.NEEDS_REVIEW.value,
            *events,
        )
    )
    return {
        "stored_by_channel": counts(Submission.channel, "submission", Submission),
        # a 现场答复 is stored as a reply too (triage): it has its own line
        "replies_by_way": counts(Reply.via, "reply", Reply, Reply.via != "on_the_spot"),
        "ratings_by_way": counts(Rating.channel, "rating", Rating),
        "command_files": commands,
        "rerouted_by_operators": int(rerouted or 0),
        "entered_review": int(entered_review or 0),
        "through": through,
    }


def intake_parts(
    stored: dict[str, int],
    day: dict[str, Any],
    inbox: dict[str, int],
    command_files: list[dict[str, Any]],
) -> dict[str, Any]:
    """收集 of the night: everything stored since the last night but the daytime runs' share
    (the 白天随到随办 line shows that), by channel and by way in — tonight's inbox files,
    `minqing ingest`, and whatever an earlier run stored without a night to show it (a night
    that crashed after 收集)."""
    by_channel = {
        ch: n
        for ch in sorted(set(stored) | set(inbox))
        if (n := max(stored.get(ch, 0) - int((day.get("by_channel") or {}).get(ch, 0)),
                     inbox.get(ch, 0)))
    }  # fmt: skip
    ways = {
        "inbox": sum(inbox.values()),
        "command": sum(int(f.get("taken") or 0) for f in command_files),
    }
    ways["earlier"] = max(0, sum(by_channel.values()) - ways["inbox"] - ways["command"])
    return {"taken": sum(ways.values()), "by_channel": by_channel, "taken_by_way": ways}


def unconfigured_years(ctx: Context, deadlines: Iterable[datetime | None]) -> set[int]:
    """The years of these deadlines (Beijing time) whose holidays are still not configured."""
    years = {local_day(d).year for d in deadlines if d is not None}
    return {y for y in years if ctx.calendar.year_source(y) == "fallback"}


def figures(stages: dict[str, dict[str, Any]], now: datetime | None = None) -> dict[str, Any]:
    """Merge the stage results into one flat dict of the night's figures: a real night's
    include the dry runs' nights since the last real night (minqing/rehearsals.py)."""
    ctx = context()
    with Session() as s, s.begin():
        rehearsals = (
            []
            if is_rehearsal()
            else [
                Rehearsal(local_text(at, with_time=True), kept)
                for at, kept in rehearsals_since_last_night(s)
            ]
        )
    return with_rehearsals(own_figures(stages, ctx, now), rehearsals)


def is_rehearsal() -> bool:
    """A dry run's night (演练): it sends nothing and stands for no night."""
    return context().settings.mail_mode == "dry-run"


def own_figures(
    stages: dict[str, dict[str, Any]], ctx: Context, now: datetime | None = None
) -> dict[str, Any]:
    """This run's figures: its stages' counts and what arrived since the last night's mark."""
    ingest, triage, dispatch = stages["ingest"], stages["triage"], stages["dispatch"]
    imports, lookback, deliver = stages["imports"], stages["lookback"], stages["deliver"]
    duty = stages.get("duty") or {}
    with Session() as s, s.begin():
        day = day_since_last_night(s)
        arrived = arrivals_since_last_night(s)
        latest = _latest_ratings(s)
        unanswered = unanswered_items(s, ctx, now or datetime.now(UTC))
        outstanding = outstanding_counts(s)
        waiting = s.scalar(
            select(func.count()).select_from(Case).where(Case.status == CaseStatus.NEEDS_REVIEW)
        )
        # deadlines still counted Monday–Friday (暂定): the year stays unconfigured for them
        # even on a night that counted none itself (a dry run before it did)
        provisional = s.scalars(
            select(Case.due_at).where(
                Case.due_provisional.is_(True), Case.status == CaseStatus.ASSIGNED
            )
        ).all()
    undelivered = undelivered_rows()
    routing = routing_precision_now(now or datetime.now(UTC))
    rated = len(latest)
    satisfied = sum(1 for sat in latest if sat in (Satisfaction.SATISFIED, Satisfaction.BASICALLY))
    taken = intake_parts(
        arrived["stored_by_channel"], day, ingest["by_channel"], arrived["command_files"]
    )
    assigned = {k: dispatch.get(k, 0) for k in ASSIGNMENT_KINDS}
    assigned["assigned_rerouted"] += arrived["rerouted_by_operators"]
    run_warnings = [
        run_warning(fallback_warning(year), calendar_advice(year))
        for year in sorted(ctx.calendar.fallback_years | unconfigured_years(ctx, provisional))
    ]
    run_warnings += [run_warning(w) for w in triage.get("warnings", [])]
    # Low routing precision has an alert of its own (minqing.classifier.precision_low): said in
    # the summary and the run's message, but the night's work is done — not 部分失败, which
    # would page the duty contacts a second time for the same figure.
    run_warnings += [
        run_warning(w, _("查看 routing-precision 表（按周、按分类）"), partial=False)
        for w in routing["warnings"]
    ]
    if cjk_font() is None:  # lasting, and the night's work is done: a note (minqing/runstate.py)
        run_warnings.append(run_warning(_(NO_CJK_NIGHT_WARNING), font_advice(), partial=False))
    return {
        "day": day,  # 白天随到随办 since the last night: shown apart, never added twice
        **taken,  # taken, by_channel, taken_by_way: since the last night, the day's share apart
        "command_files": arrived["command_files"],
        "through": arrived["through"],
        "files": ingest.get("files", []) + imports.get("files", []),
        # the night's own and those of the files operators read with `minqing ingest` since
        "rejected": ingest["rejected"]
        + imports["rejected"]
        + sum(int(f.get("rejected") or 0) for f in arrived["command_files"]),
        "rejections": ingest["rejections"]
        + imports["rejections"]
        + [r for f in arrived["command_files"] for r in f.get("rejections") or []],
        "linked": triage["linked"],
        "new_cases": triage["new_cases"],
        "on_the_spot": triage["on_the_spot"],
        # 待人工审核: every entry into the review queue since the last night, whatever sent the
        # case there (the daytime runs' triage and dispatch are the 白天随到随办 line's), and
        # how many cases wait in it now
        "needs_review": max(0, arrived["entered_review"] - int(day.get("needs_review") or 0)),
        "review_waiting": int(waiting or 0),
        "assigned": sum(assigned.values()),
        **assigned,
        "replies": sum(arrived["replies_by_way"].values()),
        "replies_by_way": arrived["replies_by_way"],
        "ratings": sum(arrived["ratings_by_way"].values()),
        "ratings_by_way": arrived["ratings_by_way"],
        "reminders": lookback["reminders"],
        "escalations": lookback["escalations"],
        "verifications": lookback["verifications"],
        "leaders": lookback.get("leaders", 0),
        "lookbacks": lookback["reminders"]
        + lookback["escalations"]
        + lookback.get("leaders", 0)
        + lookback["verifications"],
        "verification_results": imports.get("verifications", 0),
        "evaluations": imports.get("evaluations", 0),
        "unanswered": len({row["案件编号"] for row in unanswered}),
        "unanswered_rows": unanswered,
        "surveys": stages["surveys"]["emailed"],
        "callbacks": stages["surveys"]["callback"],
        "rated": rated,
        "satisfied": satisfied,
        "sent": deliver["sent"],
        "duty_sent": int(duty.get("emails_sent") or 0),  # duty alerts, sent apart (tell-duty)
        "rehearsed": deliver.get("rehearsed"),  # a dry run's count (not sent); None otherwise
        "failed": deliver["failed"],
        "dead": deliver["dead"],
        "retry_later": deliver["retry_later"],
        "interrupted": deliver.get("interrupted", 0),
        "outstanding": outstanding,
        "failed_handoffs": sum(outstanding.values()),
        "failed_handoff_rows": undelivered,
        "warnings": [w["text"] for w in run_warnings],
        "run_warnings": run_warnings,  # the same, with what to do and whether it is 部分失败
        "routing_precision_text": routing["summary"],
        "routing_precision_rows": routing["rows"],
        "routing_precision_alerts": routing["alerts"],
        "hot_issues": stages.get("hot_issues", {}).get("rows", []),
        "hot_issues_text": stages.get("hot_issues", {}).get("summary"),
        "hot_issues_items": stages.get("hot_issues", {}).get("items", []),
    }


def undelivered_rows(limit: int = TABLE_LIMIT) -> list[dict[str, Any]]:
    """The failed-handoffs table: every message not delivered (待发送 with its next retry,
    发送中, 发送失败, 已放弃), oldest first, with why."""
    rows = [handoff_row(h) for h in list_handoffs(limit=limit + 1, order=AS_QUEUED)]
    if len(rows) > limit:
        rows[limit:] = [
            {
                "编号": "",
                "原因": _("（仅列出前 %(n)d 封，全部见 minqing handoffs list）") % {"n": limit},
            }
        ]
    return rows


def unanswered_items(s: Any, ctx: Context, now: datetime) -> list[dict[str, str]]:
    """件件有回复: every case that still owes someone something, one row per missing step —
    past its deadline without a reply; replied (or verified) but a citizen who may be contacted
    has no survey, or the survey mail failed; a 回头看 not recorded `report.verification_grace_days`
    working days after it was due; a reminder or escalation the scans missed."""
    cal, policy = ctx.calendar, ctx.ref.policy
    found: list[tuple[Case, str, datetime | None, str]] = []
    for case in s.scalars(
        select(Case).where(Case.status == CaseStatus.ASSIGNED, Case.due_at < now)
    ):
        assert case.due_at is not None
        days = overdue_working_days(case.due_at, now, cal)
        overdue = ngettext("已超期 %(n)d 个工作日", "已超期 %(n)d 个工作日", days) % {"n": days}
        found.append((case, _("超期未答复"), case.due_at, overdue))
    unasked = unsurveyed_cases(policy.surveys)
    for case in s.scalars(select(Case).where(Case.id.in_(unasked)).order_by(Case.id)):
        if due_a_survey(s, case, policy.surveys.after):
            found.append(
                (case, _("已答复未回访"), case.replied_at, _("有可联系的群众尚未收到回访"))
            )
    for case, survey in s.execute(
        select(Case, Survey)
        .join(Survey, Survey.case_id == Case.id)
        .join(Handoff, Handoff.id == Survey.handoff_id)
        .where(
            Handoff.status.in_([HandoffStatus.FAILED, HandoffStatus.DEAD]),
            Survey.answered_at.is_(None),
            Case.status.not_in([CaseStatus.CLOSED, CaseStatus.MERGED]),
        )
    ):
        found.append((case, _("回访邮件发送失败"), survey.created_at, _("请改为电话回访或重发")))
    for lb, case in s.execute(
        select(Lookback, Case)
        .join(Case, Case.id == Lookback.case_id)
        .where(Lookback.due_at <= now, Case.status != CaseStatus.MERGED)
        .where(
            or_(
                Lookback.done_at.is_(None),
                (Lookback.kind == LookbackKind.VERIFICATION) & (Lookback.result == "sent"),
            )
        )
        .order_by(Lookback.due_at)
    ):
        if lb.kind is LookbackKind.VERIFICATION:
            grace = at_due_hour(
                cal.add_working_days(local_day(lb.due_at), policy.report.verification_grace_days)
            )
            if case.status in AWAITING_VERIFICATION and grace < now:
                found.append((case, _("回头看未完成"), lb.due_at, _("代表尚未记录核实结果")))
        elif end_of_local_day(lb.due_at) < now:
            found.append(
                (
                    case,
                    _("督办未执行"),
                    lb.due_at,
                    _("%(kind)s 未按时发出") % {"kind": label(LOOKBACK_KIND_LABELS, lb.kind.value)},
                )
            )
    names = dict(s.execute(select(Department.code, Department.name)).all())
    rows = [
        {
            "案件编号": case.number,
            "标题": case.title,
            "承办单位": names.get(case.lead_department or "", ""),
            "状态": status_label(case.status),
            "待跟进事项": what,
            "应办时间": local_text(when, with_time=True),
            "说明": why,
        }
        for case, what, when, why in found
    ]
    return sorted(rows, key=lambda r: (r["案件编号"], r["待跟进事项"]))


def _latest_ratings(s: Any) -> list[Satisfaction]:
    """The current answer of each (case, citizen): superseded ratings do not count twice."""
    superseded = select(Rating.supersedes_id).where(Rating.supersedes_id.is_not(None))
    return list(s.scalars(select(Rating.satisfaction).where(Rating.id.not_in(superseded))))


def publish_now(
    stages: dict[str, dict[str, Any]], now: datetime | None = None, artifacts: bool = True
) -> dict[str, Any]:
    ctx = context()
    f = figures(stages, now)
    markdown = summary_markdown(
        f, ctx.ref.office.name, local_text(now or datetime.now(UTC), with_time=True)
    )
    f["markdown"] = markdown
    if artifacts:
        mark_counted(f)
        create_markdown_artifact(
            key=SUMMARY_KEY, markdown=markdown, description=_("民情直通车 夜间运行摘要")
        )
        for key, (table, description) in night_tables(f).items():
            create_table_artifact(key=key, table=table, description=description)
    print(markdown)
    return f


def mark_counted(f: dict[str, Any]) -> None:
    """The night has shown these figures: the next night counts what came after them."""
    rehearsal = is_rehearsal()  # a 演练 does not stand for the night: the next real night adds it
    with Session() as s, s.begin():
        night_counted_day(
            s,
            f["day"],
            through=f["through"],
            rehearsal=rehearsal,
            figures=rehearsal_record(f) if rehearsal else None,
        )


def night_tables(f: dict[str, Any]) -> dict[str, tuple[list[dict[str, Any]], str]]:
    """The night's table artifacts as published: key → (rows, with their headers in the
    reader's language, or one row saying there is nothing; description)."""
    return {
        REJECTIONS_KEY: (
            table_rows(
                f["rejections"] or [{"渠道": "", "文件": "", "来源": "", "原因": _("（无）")}]
            ),
            _("今晚拒收的输入及原因"),
        ),
        **open_items_tables(f["failed_handoff_rows"], f["unanswered_rows"]),
        ROUTING_PRECISION_KEY: (
            table_rows(
                f["routing_precision_rows"] or [{"周": "", "分类": _("（本期无模型分类的案件）")}]
            ),
            _("自动分派准确率：模型自动分派的案件中分类正确的比例（按周、按分类）"),
        ),
    }


def open_items_tables(
    undelivered: list[dict[str, Any]], unanswered: list[dict[str, str]]
) -> dict[str, tuple[list[dict[str, Any]], str]]:
    """The two tables of what is still owed: undelivered messages, and 件件有回复."""
    return {
        FAILED_HANDOFFS_KEY: (
            table_rows(undelivered or [{"编号": "", "原因": _("（无）")}]),
            _("尚未送达的消息（待发送、发送中、发送失败、已放弃）及原因"),
        ),
        EVERY_ITEM_KEY: (
            table_rows(unanswered or [{"案件编号": "", "待跟进事项": _("（无）")}]),
            _("件件有回复：超期未答复、已答复未回访、回头看未完成等待跟进的案件"),
        ),
    }


def publish_open_items_now(
    undelivered: list[dict[str, Any]], unanswered: list[dict[str, str]]
) -> None:
    """The two tables of what is still owed (fixed keys, so the newest is always the one shown
    under Artifacts): undelivered messages, and 件件有回复."""
    for key, (table, description) in open_items_tables(undelivered, unanswered).items():
        create_table_artifact(key=key, table=table, description=description)


def open_items_now(now: datetime | None = None) -> dict[str, Any]:
    """What is still owed now: undelivered messages (by status and in detail) and 件件有回复."""
    ctx = context()
    with Session() as s, s.begin():
        unanswered = unanswered_items(s, ctx, now or datetime.now(UTC))
        outstanding = outstanding_counts(s)
    return {
        "outstanding": outstanding,
        "undelivered_rows": undelivered_rows(),
        "unanswered_rows": unanswered,
        "unanswered": len({row["案件编号"] for row in unanswered}),
    }


def failed_table_stale() -> bool:
    """Whether the published failed-handoffs table is not what is undelivered now — after an
    operator's `minqing handoffs retry` or 确认送达, which run outside Prefect — so the
    15-minute delivery refreshes it even when it had nothing to send. True when none is
    published or the Prefect API cannot say."""
    from prefect.artifacts import Artifact

    try:
        published: Any = Artifact.get(FAILED_HANDOFFS_KEY, _sync=True)  # type: ignore[call-arg]
    except Exception:  # noqa: BLE001 — refreshing is the safe answer
        return True
    if published is None or not isinstance(published.data, str):
        return True
    table, _description = open_items_tables(undelivered_rows(), [])[FAILED_HANDOFFS_KEY]
    return json.loads(published.data) != json.loads(json.dumps(table, ensure_ascii=False))


@task(name="refresh-open-items")
def refresh_open_items() -> dict[str, Any]:
    """Refresh the failed-handoffs and every-item-answered artifacts after a run that changed
    what is delivered or answered (look-back, resend, daytime delivery); returns the counts."""
    items = open_items_now()
    publish_open_items_now(items["undelivered_rows"], items["unanswered_rows"])
    print(
        ngettext(
            "未送达 %(messages)s；件件有回复：待跟进 %(n)d 件",
            "未送达 %(messages)s；件件有回复：待跟进 %(n)d 件",
            items["unanswered"],
        )
        % {"messages": outstanding_sentence(items["outstanding"]), "n": items["unanswered"]}
    )
    return {"outstanding": items["outstanding"], "unanswered": items["unanswered"]}


@task(name="metrics")
def publish_metrics(stages: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """统计: compute the night's figures and publish them; 自动分派准确率 below its target is
    also announced as a minqing.classifier.precision_low event."""
    f = publish_now(stages)
    announce_low_precision(f["routing_precision_alerts"])
    return f
