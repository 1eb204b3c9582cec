"""Migration 0009 (reason codes) on SQLite and PostgreSQL: reasons written as sentences before
it are still shown as they were written; new ones are codes worded by the reader's language."""

from __future__ import annotations

from sqlalchemy import select, text

from db.engine import Session, get_engine
from db.migrate import current_revision, head_revision, upgrade
from db.models import Case, IngestedFile, Rejection
from minqing.i18n import using
from minqing.reasons import reason, render

OLD_REJECTION = "内容为空"  # a Chinese night's sentence
OLD_REVIEW = "low confidence: model 0.41 < 0.60"  # written in English by an early version
OLD_FILE = "缺少必需的列：工单编号"


def _old_rows() -> None:
    with get_engine().begin() as c:
        c.execute(
            text(
                "INSERT INTO rejections (source_key, channel, source_file, source_ref, reason,"
                " excerpt, created_at) VALUES ('hotline:old', 'hotline', 'a.csv', 'a.csv:2',"
                " :reason, '', CURRENT_TIMESTAMP)"
            ),
            {"reason": OLD_REJECTION},
        )
        c.execute(
            text(
                "INSERT INTO ingested_files (channel, name, checksum, size, status, reason, items,"
                " rejected, ingested_at) VALUES ('hotline', 'b.csv', 'sum', 1, 'failed', :reason,"
                " 0, 0, CURRENT_TIMESTAMP)"
            ),
            {"reason": OLD_FILE},
        )
        c.execute(
            text(
                "INSERT INTO cases (title, text, text_key, category_top3, co_departments, status,"
                " priority, review_reason, reopen_count, escalation_level, supporters, created_at,"
                " updated_at) VALUES ('路灯', '路灯坏了', 'k', '[]', '[]', 'needs_review', 'normal',"
                " :reason, 0, 0, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"reason": OLD_REVIEW},
        )


def test_reasons_written_before_the_codes_are_still_shown_as_written(database) -> None:
    upgrade("0008")
    _old_rows()
    upgrade()
    assert current_revision() == head_revision()  # 0009 and every later migration ran
    with Session() as s:
        rejection = s.scalars(select(Rejection)).one()
        failed = s.scalars(select(IngestedFile)).one()
        case = s.scalars(select(Case)).one()
        for language in ("zh_CN", "en"):  # as written, whatever the reader's language
            with using(language):
                assert render(rejection.why) == OLD_REJECTION
                assert render(failed.why) == OLD_FILE
                assert render(case.review) == OLD_REVIEW
        assert rejection.reason_code is None and case.review_reason_code is None


def test_after_the_migration_reasons_are_codes_worded_when_shown(database) -> None:
    upgrade()
    with Session() as s, s.begin():
        s.add(
            Rejection(
                source_key="hotline:new",
                channel="hotline",
                source_ref="c.csv:3",
                reason_code="unreadable_date",
                reason_params={"value": "2026-13-45"},
            )
        )
        case = Case(title="t", text="t", text_key="t", status="needs_review")
        case.review = reason("split_from", number="MQ2026-000001")
        s.add(case)
    with Session() as s:
        rejection = s.scalars(select(Rejection)).one()
        case = s.scalars(select(Case)).one()
        assert (rejection.reason, case.review_reason) == (None, None)
        assert case.review_reason_params == {"number": "MQ2026-000001"}
        assert render(rejection.why) == "日期无法识别：“2026-13-45”"
        assert render(case.review) == "由 MQ2026-000001 拆分，请确认分类"
        with using("en"):
            assert render(rejection.why).startswith("Unreadable date")
            assert render(case.review) == "Split from MQ2026-000001; please confirm the category"
