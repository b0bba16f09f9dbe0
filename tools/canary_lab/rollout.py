"""The part of the Argo Rollouts controller a replica-weighted (basic) canary exercises.

- `setWeight: W` moves the canary and stable ReplicaSets toward the counts that best
  approximate W (`tools/canary_lab/replicas.py`, argo-rollouts
  `approximateWeightedCanaryStableReplicaCounts`), one reconcile at a time within `maxSurge`
  and `maxUnavailable`: with 2 replicas 25 % → 1 + 2, 50 % → 1 + 1, 75 % → 2 + 1. The step
  completes when both sets are at their counts and available. With one Service for all
  pods, the canary's share of the traffic is its share of the ready pods, not W.
- `pause: {duration: D}` waits D.
- Background analysis starts when the step index reaches `startingStep` and runs until the
  Rollout completes (the run is then terminated: Successful unless a limit was violated).
- A Failed or Error run aborts: weight 0, reconciled like any weight — from 75 % (2 + 1) a
  canary pod goes first (the surge ceiling is 3 pods), then a stable pod is added, then the
  last canary pod goes once it is available. An Inconclusive run pauses the Rollout.
- After the last step the canary is promoted: the background analysis is terminated first
  (the Rollout is fully promoted, `reconcileBackgroundAnalysisRun` ends the run), then the
  old stable pods are scaled away.
- A canary that never becomes available holds the Rollout at its `setWeight` step; Argo
  then marks it Degraded after `progressDeadlineSeconds` (600 s by default) and, with
  `progressDeadlineAbort` unset, does not abort it: the stable pods keep serving.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from tools.canary_lab.analysis import ERROR, FAILED, INCONCLUSIVE, AnalysisRun
from tools.canary_lab.clock import Clock
from tools.canary_lab.manifests import RolloutSpec, Step
from tools.canary_lab.pods import Build, Pod
from tools.canary_lab.replicas import (
    Fenceposts,
    SetState,
    approximate_counts,
    fenceposts,
    reconcile_counts,
)


class PodSet(Protocol):
    """What the controller needs of the cluster (`pods.Cluster`; a fake in the unit tests)."""

    def pods_of(self, role: str, *, include_terminating: bool = False) -> list[Pod]: ...

    def available(self, role: str) -> int: ...

    def start_pod(self, build: Build) -> Pod: ...

    async def terminate(self, pod: Pod) -> None: ...

    async def wait_change(self, timeout: float = 0.05) -> None: ...


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
    cluster: PodSet
    clock: Clock
    stable: Build
    canary: Build
    start_analysis: Callable[[], list[AnalysisRun]]
    stall_after: float | None = None  # cluster seconds a setWeight step may wait for pods
    step_index: int = -1  # -1: the update has not started
    set_weight: int = 0
    events: list[tuple[float, str]] = field(default_factory=list)
    steps_log: list[tuple[float, int, int]] = field(default_factory=list)  # t, index, weight
    scaling_log: list[tuple[float, int, int]] = field(default_factory=list)  # t, canary, stable
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
        await asyncio.sleep(0)  # a run completed on the last read: its watcher reports it
        if abort.is_set():
            return await self._abort_or_pause(reason[0])
        # Fully promoted: the background run is terminated before the old stable scales away.
        for run in self.runs:
            await run.terminate()
        self.log("promoted: analysis terminated, the canary is the new stable")
        at = self.clock.now()
        await self._scale_to(100)
        return Verdict("promoted", len(steps), 100, at, "all steps passed")

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

    @property
    def fenceposts(self) -> Fenceposts:
        surge, unavailable = fenceposts(
            self.spec.replicas, self.spec.max_surge, self.spec.max_unavailable
        )
        return Fenceposts(self.spec.replicas, surge, unavailable)

    def _state(self, role: str) -> SetState:
        return SetState(len(self.cluster.pods_of(role)), self.cluster.available(role))

    async def _scale_to(self, weight: int) -> bool:
        """Reconcile toward `weight` until both sets are at their counts and available (True)
        or the stall deadline passes (False)."""
        self.set_weight = weight
        self.steps_log.append((self.clock.now(), self.step_index, weight))
        posts = self.fenceposts
        want_canary, want_stable = approximate_counts(posts.replicas, weight, posts.max_surge)
        self.log(f"setWeight {weight}: canary {want_canary}, stable {want_stable} replicas")
        deadline = None if self.stall_after is None else self.clock.now() + self.stall_after
        while True:
            canary, stable = self._state("canary"), self._state("stable")
            if (canary.replicas, stable.replicas) == (want_canary, want_stable) and (
                canary.available,
                stable.available,
            ) == (want_canary, want_stable):
                return True
            if deadline is not None and self.clock.now() >= deadline:
                return False
            to_canary, to_stable = reconcile_counts(posts, weight, canary, stable)
            changed = await self._set_replicas(self.canary, to_canary)
            changed |= await self._set_replicas(self.stable, to_stable)
            if changed:
                self.scaling_log.append((self.clock.now(), to_canary, to_stable))
            await self.cluster.wait_change()

    async def _set_replicas(self, build: Build, count: int) -> bool:
        """Create or delete pods of one set; unready pods go first, then the youngest."""
        pods = self.cluster.pods_of(build.role)
        if len(pods) < count:
            for _ in range(count - len(pods)):
                self.cluster.start_pod(build)
            return True
        if len(pods) > count:
            ranked = sorted(pods, key=lambda p: (p.ready, -(p.started_at or 0.0)))
            for pod in ranked[: len(pods) - count]:
                await self.cluster.terminate(pod)
            return True
        return False

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
