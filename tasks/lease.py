"""One run of stages at a time, for flows and the command line.

`@one_run_at_a_time("lookback")` under `@flow`: the flow's body runs holding the run lease
(db/lease.py). When another run holds it, this run waits as its entry does (minqing/runs.py:
up to MINQING_RUN_WAIT_MINUTES, or not at all for the 15-minute delivery); if the lease is
still held then, the body does not run and the flow run ends in the Completed state named
已跳过 with a message saying which run was in progress. `run_lease_or_refusal` is the same for
a command that prints instead of logging.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger
from prefect.states import Completed, State

from db.lease import RUN, try_lease
from minqing.runs import (
    SKIPPED,
    Holder,
    busy_message,
    done_message,
    wait_seconds,
    waiting_message,
)
from minqing.settings import get_settings

P = ParamSpec("P")
R = TypeVar("R")


@contextlib.contextmanager
def run_lease_or_refusal(
    entry: str,
    say: Callable[[str], None],
    *,
    wait: float | None = None,
    queued_since: datetime | None = None,
) -> Iterator[str | None]:
    """Hold the run lease as `entry` for the block and yield None; or, when another run still
    holds it after the wait (default: the entry's, see minqing/runs.py), yield the Chinese
    refusal ("另一个夜间运行正在进行（…开始），本次…未执行") — the caller then does nothing;
    the same when it waited while another night did the night's work (`_done_meanwhile`).
    `queued_since`: when the run was due to start, if it may have waited before getting here
    (a deployment's run held in Prefect's queue by the deployment's concurrency limit).
    `say` hears, once, that this run is waiting."""
    if wait is None:
        wait = wait_seconds(entry, get_settings().run_wait_minutes)
    waited_since: list[datetime] = []

    def waiting(holder: Holder | None) -> None:
        waited_since.append(datetime.now(UTC))
        say(waiting_message(entry, holder))

    with try_lease(RUN, entry=entry, wait=wait, on_wait=waiting) as (held, holder):
        since = min([*waited_since, *([queued_since] if queued_since else [])], default=None)
        if held and since is not None:
            yield _done_meanwhile(entry, since)
            return
        yield None if held else busy_message(entry, holder)


class DoneMeanwhile(str):
    """A refusal because the work is done, not because another run is busy."""


def _done_meanwhile(entry: str, since: datetime) -> str | None:
    """For a run that waited: the refusal when the run it waited for did its work meanwhile —
    a night that finished (its summary published) while a second night waited — else None."""
    if entry != "nightly":
        return None
    from tasks.urgent import night_done_since

    finished = night_done_since(since)
    return None if finished is None else DoneMeanwhile(done_message(entry, finished))


def _logger() -> Any:
    """The flow run's logger (its lines show in the Prefect UI); the module's outside a run
    (a flow's body called directly, `flow.fn()`)."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(__name__)


def _scheduled_start() -> datetime | None:
    """When the current flow run was due to start (None outside one): a deployment's run may
    wait in Prefect's queue for its concurrency slot before it gets here."""
    from prefect.context import FlowRunContext

    run_context = FlowRunContext.get()
    run = run_context.flow_run if run_context else None
    return run.expected_start_time if run is not None else None


def one_run_at_a_time(
    entry: str, *, unless: Callable[[dict[str, Any]], bool] | None = None
) -> Callable[[Callable[P, R]], Callable[P, R | State[Any]]]:
    """Flow decorator (put it below `@flow`): the body runs holding the run lease, or the run
    ends 已跳过 (see the module docstring). `unless(arguments)` true: a run that changes
    nothing (a dry run), which needs no lease."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R | State[Any]]:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R | State[Any]:
            if unless is not None:
                bound = signature.bind(*args, **kwargs)
                bound.apply_defaults()
                if unless(bound.arguments):
                    return fn(*args, **kwargs)
            logger = _logger()
            queued = _scheduled_start()
            with run_lease_or_refusal(entry, logger.warning, queued_since=queued) as refusal:
                if refusal is None:
                    return fn(*args, **kwargs)
            logger.warning(refusal)
            return Completed(name=SKIPPED, message=refusal)

        # Prefect validates parameters against the signature in the wrapper's module, where
        # the flow's annotations (strings under `from __future__ import annotations`) do not
        # resolve: hand it the flow's signature with the annotations evaluated.
        run.__signature__ = inspect.signature(fn, eval_str=True)  # type: ignore[attr-defined]
        return run

    return decorate
