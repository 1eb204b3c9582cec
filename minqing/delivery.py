"""Delivery policy of the outbox: what a send failure means for the next attempt."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class AfterFailure:
    status: str  # pending (retry later) | failed (permanent) | dead (gave up)
    next_attempt_at: datetime | None


def after_failure(
    *,
    transient: bool,
    attempts: int,
    max_attempts: int,
    backoff_seconds: int,
    now: datetime,
    rng: random.Random | None = None,
) -> AfterFailure:
    """Permanent errors fail at once; transient ones back off exponentially with jitter
    (base × 2^(attempts-1) × [0.5, 1.5)) until `max_attempts`, then the handoff is dead."""
    if not transient:
        return AfterFailure("failed", None)
    if attempts >= max_attempts:
        return AfterFailure("dead", None)
    jitter = (rng or random).uniform(0.5, 1.5)
    delay = backoff_seconds * (2 ** (attempts - 1)) * jitter
    return AfterFailure("pending", now + timedelta(seconds=delay))
