"""Cluster time and wall time.

The lab runs the cluster's clock `factor` times faster than the wall clock. Every duration
that belongs to the cluster — pauses, analysis intervals, the error-retry interval, probe
periods, the scrape interval, PromQL ranges, the drain delay — is divided by `factor`, and
every rate (user requests, probes, scrapes) is multiplied by it, so each window holds the
same number of samples and requests as in the cluster. Reports are written in cluster
seconds. `factor == 1` is the real-time mode.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class Clock:
    factor: float
    origin: float = field(default_factory=time.monotonic)

    def now(self) -> float:
        """Cluster seconds since the lab started."""
        return (time.monotonic() - self.origin) * self.factor

    def wall(self, cluster_seconds: float) -> float:
        return cluster_seconds / self.factor

    def cluster(self, wall_seconds: float) -> float:
        return wall_seconds * self.factor

    async def sleep(self, cluster_seconds: float) -> None:
        await asyncio.sleep(max(0.0, cluster_seconds) / self.factor)

    async def sleep_until(self, cluster_time: float) -> None:
        await self.sleep(cluster_time - self.now())
