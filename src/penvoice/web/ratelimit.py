"""Request rates per principal and per organisation, in process (per pod).

A token bucket per key: `rate` requests a second on average, bursts up to `burst`. A request
that finds its bucket empty is answered 429 with `Retry-After` (the seconds until a token is
back) and counted in `penvoice_rate_limited_total{scope}`. The buckets are bounded: at most
`max_keys` keys each, the least recently used forgotten first, so a flood of new principals
costs a fixed amount of memory. Per pod, so the Rollout's two or three pods admit two or
three times the rate; the Ingress (Traefik) holds the limits that must be global per client
address (deploy/gitops).
"""

from __future__ import annotations

import math
import time
from collections.abc import Hashable

from penvoice.errors import PenvoiceError


class RateLimited(PenvoiceError):
    status = 429
    slug = "rate-limited"
    title = "Too many requests"

    def __init__(self, scope: str, wait_seconds: float) -> None:
        retry_after = max(1, math.ceil(wait_seconds))
        super().__init__(
            f"Too many requests for this {scope}; retry after {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
            extra={"limit": scope},
        )


class TokenBuckets:
    def __init__(self, rate: float, burst: float, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: dict[Hashable, tuple[float, float]] = {}

    def take(self, key: Hashable) -> float:
        """Take a token for `key`: 0.0 when there was one, else the seconds until there is."""
        now = time.monotonic()
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            tokens = self.burst
            if len(self._buckets) >= self.max_keys:
                del self._buckets[next(iter(self._buckets))]  # the least recently used
        else:
            tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens - 1.0, now)
        return 0.0

    def __len__(self) -> int:
        return len(self._buckets)
