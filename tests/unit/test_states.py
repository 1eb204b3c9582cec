"""Every (status, status) pair of the case state machine: allowed ones pass, the rest refuse."""

from itertools import product

import pytest

from minqing.states import (
    TRANSITIONS,
    CaseStatus,
    Outcome,
    TransitionError,
    check_transition,
    parse_outcome,
)

S = CaseStatus
ALLOWED = {
    (S.NEW, S.TRIAGED),
    (S.NEW, S.NEEDS_REVIEW),
    (S.NEW, S.CLOSED),
    (S.NEW, S.MERGED),
    (S.TRIAGED, S.ASSIGNED),
    (S.TRIAGED, S.NEEDS_REVIEW),
    (S.TRIAGED, S.MERGED),
    (S.NEEDS_REVIEW, S.TRIAGED),
    (S.NEEDS_REVIEW, S.ASSIGNED),
    (S.NEEDS_REVIEW, S.CLOSED),
    (S.NEEDS_REVIEW, S.MERGED),
    (S.ASSIGNED, S.ASSIGNED),
    (S.ASSIGNED, S.REPLIED),
    (S.ASSIGNED, S.NEEDS_REVIEW),
    (S.ASSIGNED, S.MERGED),
    (S.REPLIED, S.REPLIED),
    (S.REPLIED, S.VERIFIED),
    (S.REPLIED, S.RATED),
    (S.REPLIED, S.CLOSED),
    (S.REPLIED, S.REOPENED),
    (S.REPLIED, S.NEEDS_REVIEW),
    (S.VERIFIED, S.RATED),
    (S.VERIFIED, S.CLOSED),
    (S.VERIFIED, S.REOPENED),
    (S.RATED, S.RATED),
    (S.RATED, S.CLOSED),
    (S.RATED, S.REOPENED),
    (S.CLOSED, S.REOPENED),
    (S.REOPENED, S.ASSIGNED),
    (S.REOPENED, S.NEEDS_REVIEW),
    (S.REOPENED, S.MERGED),
    (S.MERGED, S.REOPENED),
}


@pytest.mark.parametrize(("current", "target"), list(product(CaseStatus, CaseStatus)))
def test_each_transition_is_allowed_exactly_when_the_table_says_so(current, target):
    if (current, target) in ALLOWED:
        assert check_transition(current, target) is target
    else:
        with pytest.raises(TransitionError, match=f"from {current.value} to {target.value}"):
            check_transition(current, target)


def test_the_table_in_the_code_matches_the_table_in_this_test():
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == ALLOWED


def test_closed_is_never_a_way_to_skip_the_reply():
    assert not any((s, S.CLOSED) in ALLOWED for s in (S.TRIAGED, S.ASSIGNED, S.REOPENED))


@pytest.mark.parametrize(
    ("written", "outcome"),
    [
        ("A", Outcome.SOLVED),
        ("b", Outcome.IN_PROGRESS),
        ("C", Outcome.PLANNED),
        ("D", Outcome.FOR_REFERENCE),
        ("不属职责", Outcome.NOT_RESPONSIBLE),
        ("现场答复", Outcome.ON_THE_SPOT),
        ("A 已解决", Outcome.SOLVED),
        ("E", None),
        ("", None),
        ("还行", None),
    ],
)
def test_outcomes_written_by_departments_are_read_honestly(written, outcome):
    assert parse_outcome(written) is outcome
