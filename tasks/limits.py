"""The outgoing-mail rate limit: Prefect's global concurrency limit `smtp`, used as a rate limit.

Providers cap how fast one account may send (government mail systems often at a few messages per
second); above that they answer 421/451 or block the account for the day. A Prefect global
concurrency limit with a slot decay is a rate limit shared by every worker that talks to the same
Prefect server, so the nightly flow and an operator's `retry-handoffs` run together stay under it.

- `minqing setup-limits` creates or updates the limit (`setup_smtp_limit`);
- delivery calls `smtp_throttle()` once and the returned function before each message. It is
  active only with ``MINQING_SMTP_RATE_LIMIT=on`` *and* inside a Prefect flow or task run (there
  is a server to ask then); otherwise it does nothing. The default is off, so the embedded demo
  and the CLI never need a Prefect server for sending.
- With the limit on and missing on the server, delivery stops before claiming anything, with an
  error that says what to run (`strict=True`: Prefect would otherwise skip a missing limit
  silently and the provider's limit would be exceeded).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SMTP_LIMIT = "smtp"


class RateLimitSettings(BaseSettings):
    """MINQING_SMTP_RATE_LIMIT (on/off), MINQING_SMTP_RATE_PER_SECOND, MINQING_SMTP_RATE_BURST."""

    model_config = SettingsConfigDict(env_prefix="MINQING_", env_file=".env", extra="ignore")

    smtp_rate_limit: Literal["on", "off"] = "off"
    smtp_rate_per_second: float = Field(default=5.0, gt=0)  # what `setup-limits` configures
    smtp_rate_burst: int | None = Field(default=None, ge=1)  # default: one second's worth


class SmtpRateLimitMissing(RuntimeError):
    """MINQING_SMTP_RATE_LIMIT=on, but the Prefect server has no usable `smtp` limit."""


def setup_smtp_limit(per_second: float, burst: int | None = None) -> dict[str, Any]:
    """Create or update the global concurrency limit `smtp` as a rate limit of `per_second`
    messages (slot decay) with `burst` slots; returns what is configured now."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import (
        GlobalConcurrencyLimitCreate,
        GlobalConcurrencyLimitUpdate,
    )
    from prefect.exceptions import ObjectNotFound

    if per_second <= 0:
        from minqing.i18n import _

        raise ValueError(_("每秒发送数须大于 0（--per-second）"))
    slots = burst or max(1, math.ceil(per_second))
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(SMTP_LIMIT)
        except ObjectNotFound:
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(
                    name=SMTP_LIMIT, limit=slots, slot_decay_per_second=per_second, active=True
                )
            )
            action = "created"
        else:
            client.update_global_concurrency_limit(
                SMTP_LIMIT,
                GlobalConcurrencyLimitUpdate(
                    limit=slots, slot_decay_per_second=per_second, active=True
                ),
            )
            action = "updated"
        current = client.read_global_concurrency_limit_by_name(SMTP_LIMIT)
    return {
        "action": action,
        "name": current.name,
        "limit": current.limit,
        "slot_decay_per_second": current.slot_decay_per_second,
        "active": current.active,
    }


def configure_smtp_limit(
    per_second: float | None = None, burst: int | None = None
) -> dict[str, Any]:
    """`setup_smtp_limit` with the MINQING_SMTP_RATE_* defaults (`minqing setup-limits` and
    `minqing setup-prefect` both come here)."""
    settings = RateLimitSettings()
    return setup_smtp_limit(
        per_second or settings.smtp_rate_per_second, burst or settings.smtp_rate_burst
    )


def _inside_prefect_run() -> bool:
    from prefect.context import FlowRunContext, TaskRunContext

    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def smtp_throttle(settings: RateLimitSettings | None = None) -> Callable[[], None]:
    """The function delivery calls before each message: waits for a slot of `smtp`, or does
    nothing when the rate limit is off or there is no Prefect run (see the module docstring)."""
    settings = settings or RateLimitSettings()
    if settings.smtp_rate_limit == "off" or not _inside_prefect_run():
        return _no_limit
    from prefect.concurrency.sync import rate_limit

    try:
        from prefect.concurrency._asyncio import ConcurrencySlotAcquisitionError
    except ImportError:  # pragma: no cover - moved in another Prefect 3 release
        ConcurrencySlotAcquisitionError = RuntimeError  # type: ignore[misc,assignment]  # noqa: N806

    def throttle() -> None:
        try:
            rate_limit(SMTP_LIMIT, occupy=1, strict=True)
        except ConcurrencySlotAcquisitionError as exc:
            raise SmtpRateLimitMissing(
                f"MINQING_SMTP_RATE_LIMIT=on but the Prefect server has no usable global "
                f"concurrency limit {SMTP_LIMIT!r} ({exc}). Create it with "
                "`minqing setup-limits --per-second N`, or set MINQING_SMTP_RATE_LIMIT=off. "
                "Delivery stopped before claiming the next message; nothing is half-sent."
            ) from exc

    return throttle


def _no_limit() -> None:
    return None
