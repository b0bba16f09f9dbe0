"""The part of the Argo Rollouts controller a replica-weighted (basic) canary exercises.

- `setWeight: W` scales the canary ReplicaSet to ceil(replicas·W/100) and the stable one to
  ceil(replicas·(1−W/100)) — both rounded up, as `DesiredReplicaCountsForCanary` does when
  there is no traffic routing — scaling up first and down once the new pods are available;
  the step completes when both sets are at their counts and available. With one Service for
  all pods, the canary's share of the traffic is its share of the ready pods, not W.
- `pause: {duration: D}` waits D.
- Background analysis starts when the step index reaches `startingStep` and runs until the
  Rollout completes (the run is then terminated: Successful unless a limit was violated).
- A Failed or Error run aborts: weight 0, the stable set back to `replicas`, canary pods
  terminated. An Inconclusive run pauses the Rollout for a human.
- After the last step the canary is promoted: 100 %, the old stable pods terminated.
- A canary that never becomes available holds the Rollout at its `setWeight` step; Argo
  then marks it Degraded after `progressDeadlineSeconds` (600 s by default) and, with
  `progressDeadlineAbort` unset, does not abort it: the stable pods keep serving.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from tools.canary_lab.analysis import ERROR, FAILED, INCONCLUSIVE, AnalysisRun
from tools.canary_lab.clock import Clock
from tools.canary_lab.manifests import RolloutSpec, Step
from tools.canary_lab.pods import Build, Cluster


def desired_counts(replicas: int, weight: int) -> tuple[int, int]:
    """(canary, stable) replica counts for a weight, both rounded up (argo-rollouts)."""
    canary = -(-replicas * weight // 100)
    stable = -(-replicas * (100 - weight) // 100)
    return canary, stable


@dataclass
class Verdict:
    outcome: str  # promoted | aborted | stalled | paused
    step_index: int  # status.currentStepIndex when it was decided
    set_weight: int  # the setWeight in force when it was decided
    at: float
    reason: str

    def headline(self, steps: int) -> str:
        if self.outcome == "promoted":
            return f"promoted after all {steps} steps"
        where = f"step {self.step_index + 1}/{steps} (setWeight {self.set_weight})"
        return f"{self.outcome} at {where}"

    def as_dict(self, steps: int) -> dict[str, object]:
        return {
            "outcome": self.outcome,
            "step_index": self.step_index,
            "step": f"{min(self.step_index + 1, steps)}/{steps}",
            "set_weight": self.set_weight,
            "at": round(self.at, 1),
            "reason": self.reason,
            "headline": self.headline(steps),
        }


@dataclass
class Controller:
    spec: RolloutSpec
    cluster: Cluster
    clock: Clock
    stable: Build
    canary: Build
    start_analysis: Callable[[], list[AnalysisRun]]
    stall_after: float | None = None  # cluster seconds a setWeight step may wait for pods
    step_index: int = -1  # -1: the update has not started
    set_weight: int = 0
    events: list[tuple[float, str]] = field(default_factory=list)
    steps_log: list[tuple[float, int, int]] = field(default_factory=list)  # t, index, weight
    runs: list[AnalysisRun] = field(default_factory=list)
    _watchers: list[asyncio.Task[None]] = field(default_factory=list)

    def log(self, text: str) -> None:
        self.events.append((self.clock.now(), text))

    def _enter(self, index: int) -> None:
        self.step_index = index
        self.steps_log.append((self.clock.now(), index, self.set_weight))

    async def run(self) -> Verdict:
        steps = self.spec.steps
        abort = asyncio.Event()
        reason: list[tuple[str, str]] = []  # (the driving run's phase, why)
        self.log(f"update: canary {self.canary.template_hash}, stable {self.stable.template_hash}")
        for index, step in enumerate(steps):
            self._enter(index)
            if index == self.spec.starting_step and not self.runs:
                self._start_analysis(abort, reason)
            self.log(f"step {index + 1}/{len(steps)}: {step.describe()}")
            done = await self._race(self._execute(step), abort)
            if abort.is_set():
                return await self._abort_or_pause(reason[0])
            if not done:
                return Verdict(
                    "stalled",
                    index,
                    self.set_weight,
                    self.clock.now(),
                    "the canary never became available; Argo would report Degraded "
                    f"(ProgressDeadlineExceeded) after {self.spec.progress_deadline:g}s and, "
                    "without progressDeadlineAbort, keep the stable pods serving",
                )
        self._enter(len(steps))
        if not self.runs and self.spec.starting_step <= len(steps):
            self._start_analysis(abort, reason)
        done = await self._race(self._execute(Step(set_weight=100)), abort)
        if abort.is_set():
            return await self._abort_or_pause(reason[0])
        for run in self.runs:
            await run.terminate()
        self.log("promoted: the canary is the new stable")
        return Verdict("promoted", len(steps), 100, self.clock.now(), "all steps passed")

    def _start_analysis(self, abort: asyncio.Event, reason: list[tuple[str, str]]) -> None:
        self.runs = self.start_analysis()
        for run in self.runs:
            run.start()
            self.log(f"analysis {run.label} started ({run.template.name})")

            async def watch(run: AnalysisRun = run) -> None:
                await run.completed.wait()
                self.log(f"analysis {run.label}: {run.phase} {run.message}".rstrip())
                if run.driving and run.phase in {FAILED, ERROR, INCONCLUSIVE}:
                    reason.append((run.phase, f"{run.label}: {run.phase}: {run.message}"))
                    abort.set()

            self._watchers.append(asyncio.create_task(watch()))

    async def _race(self, work: Coroutine[Any, Any, bool], abort: asyncio.Event) -> bool:
        task = asyncio.create_task(work)
        waiter = asyncio.create_task(abort.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        for pending in (task, waiter):
            if not pending.done():
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pending
        return task.result() if task.done() and not task.cancelled() else False

    async def _execute(self, step: Step) -> bool:
        if step.pause is not None:
            await self.clock.sleep(step.pause)
            await self._reads_landed()
            return True
        assert step.set_weight is not None
        return await self._scale_to(step.set_weight)

    async def _reads_landed(self, limit: float = 5.0) -> None:
        """Let a read that is on its way land before the pause ends (at most `limit` wall s).

        In the cluster a query takes milliseconds; in the lab it can take a good part of a
        second of wall time, which the clock would count 15 times over. A read started
        inside the pause belongs to it."""
        for _ in range(round(limit / 0.01)):
            if not any(run.querying for run in self.runs):
                return
            await asyncio.sleep(0.01)

    async def _scale_to(self, weight: int) -> bool:
        self.set_weight = weight
        self.steps_log.append((self.clock.now(), self.step_index, weight))
        canary, stable = desired_counts(self.spec.replicas, weight)
        self.log(f"setWeight {weight}: canary {canary}, stable {stable} replicas")
        deadline = None if self.stall_after is None else self.clock.now() + self.stall_after
        for build, count in ((self.canary, canary), (self.stable, stable)):
            while len(self.cluster.pods_of(build.role)) < count:
                self.cluster.start_pod(build)
            if not await self.cluster.wait_available(build.role, count, deadline):
                return False
        for build, count in ((self.stable, stable), (self.canary, canary)):
            extra = self.cluster.pods_of(build.role)[count:]
            for pod in reversed(extra):
                await self.cluster.terminate(pod)
        return True

    async def _abort_or_pause(self, cause: tuple[str, str]) -> Verdict:
        phase, reason = cause
        index, weight = self.step_index, self.set_weight
        if phase == INCONCLUSIVE:
            self.log("paused: inconclusive analysis needs a human")
            for run in self.runs:
                await run.terminate()
            return Verdict("paused", index, weight, self.clock.now(), reason)
        at = self.clock.now()
        self.log(f"aborted: {reason}")
        for run in self.runs:
            await run.terminate()
        await self._scale_to(0)
        return Verdict("aborted", index, weight, at, reason)

    async def close(self) -> None:
        """Every analysis run terminated and its watcher done."""
        for run in self.runs:
            await run.terminate()
        await asyncio.gather(*self._watchers, return_exceptions=True)

    def step_at(self, t: float) -> tuple[int, int]:
        """(step index, setWeight) in force at cluster time t."""
        index, weight = -1, 0
        for when, step, set_weight in self.steps_log:
            if when > t:
                break
            index, weight = step, set_weight
        return index, weight
