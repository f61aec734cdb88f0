"""Backoff for the partial failures AWS reports inside a successful response.

botocore's own retries (adaptive mode, `ecomflow.aws.RETRY_CONFIG`) cover throttled and failed
calls; they cannot see a 200 response whose body says that some entries failed (Kinesis
`FailedRecordCount`, DynamoDB `UnprocessedItems`). The writers re-send just those entries on this
schedule: exponential backoff with jitter, capped, a bounded number of attempts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to re-send entries that AWS did not accept."""

    max_attempts: int = 8
    base_delay: float = 0.05
    max_delay: float = 5.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before re-sending after failed attempt number `attempt` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)  # "equal jitter": never zero, never in lockstep


DEFAULT_RETRY = RetryPolicy()
