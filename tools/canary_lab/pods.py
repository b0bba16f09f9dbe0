"""Pods: real `penvoice serve` processes on loopback, a kubelet that probes them, a Service.

Each pod is one process on its own port ("slot"), started with the environment the Rollout
gives the container (the ConfigMap, the Secrets) pointed at the lab's database and issuer.
The kubelet runs the Rollout's startup, readiness and liveness probes with their periods
compressed; the Service sends user traffic round-robin to ready, non-terminating pods only,
as kube-proxy's endpoints do. Every process runs under `timeout`, so none outlives the lab.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from tools.canary_lab.clock import Clock
from tools.canary_lab.manifests import REPO_ROOT, Probe, RolloutSpec
from tools.canary_lab.procs import SPAWNED, TIMEOUT, stop_process_group

# (ok, consecutive successes, consecutive failures) -> keep probing?
ProbeCallback = Callable[[bool, int, int], bool]

_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' rand.SafeEncodeString alphabet


def _safe_encode(data: bytes, length: int) -> str:
    digest = hashlib.sha256(data).digest()
    return "".join(_SAFE[b % len(_SAFE)] for b in digest[:length])


def template_hash(template: object, revision: str) -> str:
    """A pod-template-hash-like value (10 safe characters) for a template and revision."""
    return _safe_encode(f"{template!r}|{revision}".encode(), 10)


@dataclass(frozen=True)
class Build:
    """What a ReplicaSet runs: its hash, its revision and how the process is configured."""

    role: str  # "stable" or "canary"
    template_hash: str
    revision: str
    environ: dict[str, str]
    fault: str | None = None  # CANARY_LAB_FAULT for tools/canary_lab/fault.py (a bad release)

    def argv(self, go_file: Path) -> list[str]:
        """The pre-warmed launcher: `penvoice serve` (or the fault shim) once go_file exists."""
        entry = "fault" if self.fault else "serve"
        return [sys.executable, "-m", "tools.canary_lab.launch", str(go_file), entry]


@dataclass(frozen=True)
class Slot:
    role: str
    index: int
    port: int
    pod_name: str


@dataclass
class Pod:
    slot: Slot
    build: Build
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None
    started_at: float | None = None
    ready: bool = False
    ready_at: float | None = None
    started: bool = False
    terminating_at: float | None = None
    exited_at: float | None = None
    exit_code: int | None = None
    probes: Counter[str] = field(default_factory=Counter)
    events: list[tuple[float, str]] = field(default_factory=list)
    restarts: int = 0  # container restarts (CrashLoopBackOff), as kubectl shows them
    restart_pending: bool = False  # its container exited unasked; the kubelet restarts it
    kubelet_active: bool = False  # created by the cluster and not yet given up by its kubelet

    @property
    def name(self) -> str:
        return self.slot.pod_name

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.slot.port}"

    @property
    def alive(self) -> bool:
        """The process runs (asked of the OS: the exit watcher may be gone on teardown)."""
        return self.process is not None and self.process.poll() is None

    @property
    def exists(self) -> bool:
        """The pod is there: its container runs, or has crashed and is being restarted (a
        kubelet never gives up on a pod it runs, unless the pod is terminating)."""
        return (
            self.alive
            or self.restart_pending
            or (self.kubelet_active and self.terminating_at is None)
        )

    @property
    def serving(self) -> bool:
        """In the Service's endpoints: ready and not terminating."""
        return self.alive and self.ready and self.terminating_at is None

    def summary(self) -> dict[str, object]:
        return {
            "pod": self.name,
            "role": self.build.role,
            "hash": self.build.template_hash,
            "revision": self.build.revision,
            "port": self.slot.port,
            "started_at": self.started_at,
            "ready_at": self.ready_at,
            "terminating_at": self.terminating_at,
            "exited_at": self.exited_at,
            "exit_code": self.exit_code,
            "probes": dict(sorted(self.probes.items())),
            "restarts": self.restarts,
            "events": [{"t": round(t, 1), "event": text} for t, text in self.events],
        }


class Cluster:
    """The pods of one Rollout, their kubelet and their Service."""

    def __init__(
        self,
        *,
        clock: Clock,
        rollout: RolloutSpec,
        slots: list[Slot],
        workdir: Path,
        lifetime: float,
        grace_period: float,
    ) -> None:
        self.clock = clock
        self.rollout = rollout
        self.slots = slots
        self.workdir = workdir
        self.lifetime = lifetime
        self.grace_period = grace_period  # cluster seconds
        self.pods: list[Pod] = []
        self._warm: dict[Slot, Pod] = {}  # spawned, importing or waiting for their go file
        self._tasks: list[asyncio.Task[None]] = []
        self._round_robin = 0
        self.in_flight: Callable[[Pod], int] | None = None  # set by the user traffic
        self._changed = asyncio.Event()
        self._stopping = False  # shutdown: no container restarts
        self.http = httpx.AsyncClient()  # the kubelet's probes (kept alive: cheaper here)

    # -- pods ------------------------------------------------------------------------------

    def pods_of(self, role: str, *, include_terminating: bool = False) -> list[Pod]:
        return [
            p
            for p in self.pods
            if p.build.role == role and p.exists and (include_terminating or not p.terminating_at)
        ]

    def available(self, role: str) -> int:
        return sum(1 for p in self.pods_of(role) if p.ready)

    def prewarm(self, build: Build) -> None:
        """Spawn the interpreter of the next pod of this build; it imports and waits."""
        # A slot is free again once its pod's process has exited (its port with it).
        taken = {p.slot for p in self.pods if p.exists} | set(self._warm)
        slot = next((s for s in self.slots if s.role == build.role and s not in taken), None)
        if slot is None:
            return
        pod = Pod(slot=slot, build=build, log_path=self._log_path(slot))
        self._spawn(pod)
        self._warm[slot] = pod

    def _log_path(self, slot: Slot) -> Path:
        log_path = self.workdir / f"{slot.pod_name}.log"
        reuse = 1
        while log_path.exists():  # an exited pod's (or container's) log stays for the report
            reuse += 1
            log_path = self.workdir / f"{slot.pod_name}.{reuse}.log"
        return log_path

    def _spawn(self, pod: Pod) -> None:
        """Start the pod's (next) container process: it imports and waits for its go file."""
        slot, build = pod.slot, pod.build
        environ = {
            **os.environ,
            **build.environ,
            "HOST": "127.0.0.1",
            "PORT": str(slot.port),
            "PENVOICE_REVISION": build.revision,
        }
        if build.fault:
            environ["CANARY_LAB_FAULT"] = build.fault
            environ["CANARY_LAB_FACTOR"] = str(self.clock.factor)
        go_file = self._go_file(slot)
        go_file.unlink(missing_ok=True)
        go_file.with_suffix(".warm").unlink(missing_ok=True)
        pod.log = pod.log_path.open("wb")
        pod.process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [TIMEOUT, "-k", "5", str(round(self.lifetime)), *build.argv(go_file)],
            env=environ,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=pod.log,
            stderr=subprocess.STDOUT,
        )
        SPAWNED.append(pod.process)

    def _go_file(self, slot: Slot) -> Path:
        return self.workdir / f"{slot.pod_name}.go"

    async def wait_warm(self, build: Build, count: int, timeout: float = 120.0) -> None:
        """Until `count` pre-warmed processes of this build have imported the app (wall s)."""
        for _ in range(round(timeout / 0.02)):
            warm = [
                p
                for p in self._warm.values()
                if p.build == build and self._go_file(p.slot).with_suffix(".warm").exists()
            ]
            if len(warm) >= count:
                return
            if any(
                p.process is not None and p.process.poll() is not None for p in self._warm.values()
            ):
                raise RuntimeError(f"a pre-warmed pod exited: see the logs in {self.workdir}")
            await asyncio.sleep(0.02)
        raise RuntimeError(f"{build.role} processes did not finish importing in {timeout:g}s")

    def start_pod(self, build: Build) -> Pod:
        """Create a pod: the next pre-warmed process of this build starts serving."""
        if not any(p.build == build for p in self._warm.values()):
            self.prewarm(build)  # a cold start: it imports first, so it becomes ready later
        found = next(((s, p) for s, p in self._warm.items() if p.build == build), None)
        if found is None:
            raise RuntimeError(
                f"no free {build.role} slot for a new pod: every one is held by a live "
                f"process ({[p.name for p in self.pods_of(build.role, include_terminating=True)]})"
            )
        slot, pod = found
        del self._warm[slot]
        self._go_file(slot).touch()
        pod.started_at = self.clock.now()
        pod.events.append((pod.started_at, "created"))
        self.pods.append(pod)
        pod.kubelet_active = True
        self._tasks.append(asyncio.create_task(self._kubelet(pod), name=f"kubelet {pod.name}"))
        self._notify()
        return pod

    async def terminate(self, pod: Pod) -> None:
        """Out of the endpoints at once; SIGTERM once the requests already routed to it are
        answered (the app then drains for SHUTDOWN_DRAIN_SECONDS, compressed).

        In the cluster the two happen together and the drain covers the endpoints' update.
        Here the update is instant, but a request routed just before it may still be on its
        way, delayed by the client — a latency no clock compression shrinks — so the lab
        lets those land first rather than lengthen the drain (which would add readiness
        503s to the gate's count)."""
        if pod.terminating_at is not None:
            return
        if not pod.alive:  # crashed, between two containers: no process to signal
            pod.terminating_at = self.clock.now()
            pod.events.append((pod.terminating_at, "terminating (no container running)"))
            self._notify()
            return
        pod.terminating_at = self.clock.now()
        pod.events.append((pod.terminating_at, "terminating: out of the endpoints"))
        self._notify()
        for _ in range(250):  # at most 5 s of wall time
            if self.in_flight is None or not self.in_flight(pod):
                break
            await asyncio.sleep(0.02)
        pod.events.append((self.clock.now(), "SIGTERM"))
        assert pod.process is not None
        with contextlib.suppress(ProcessLookupError):
            pod.process.send_signal(signal.SIGTERM)

    async def wait_exit(self, pod: Pod) -> None:
        deadline = (pod.terminating_at or self.clock.now()) + self.grace_period
        while pod.alive and self.clock.now() < deadline:  # noqa: ASYNC110 - a process, polled
            await asyncio.sleep(0.02)
        if pod.alive and pod.process is not None:
            pod.events.append((self.clock.now(), "grace period over: SIGKILL"))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pod.process.pid, signal.SIGKILL)
            for _ in range(250):  # SIGKILL is not refused; 5 s at most all the same
                if not pod.alive:
                    break
                await asyncio.sleep(0.02)

    async def wait_available(self, role: str, count: int, deadline: float | None) -> bool:
        """Until `count` pods of `role` are ready (True) or the cluster time `deadline` (False)."""
        while self.available(role) < count:
            if deadline is not None and self.clock.now() >= deadline:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=0.05)
        return True

    async def wait_change(self, timeout: float = 0.05) -> None:
        """Until a pod is created, becomes ready or unready, terminates or exits (wall s)."""
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout=timeout)

    def _notify(self) -> None:
        self._changed.set()

    # -- the Service ---------------------------------------------------------------------------

    def endpoints(self) -> list[Pod]:
        return [p for p in self.pods if p.serving]

    def pick(self) -> Pod | None:
        """Round-robin over the ready endpoints, as the one Service does for all pods."""
        endpoints = self.endpoints()
        if not endpoints:
            return None
        self._round_robin += 1
        return endpoints[self._round_robin % len(endpoints)]

    # -- the kubelet ---------------------------------------------------------------------------

    async def _probe(self, pod: Pod, name: str, probe: Probe) -> bool:
        try:
            response = await self.http.get(
                f"{pod.base_url}{probe.path}",
                timeout=probe.timeout,  # a latency bound: never compressed
                headers={"User-Agent": "kube-probe/1.34"},
            )
        except httpx.HTTPError:
            pod.probes[f"{name} error"] += 1
            return False
        pod.probes[f"{name} {response.status_code}"] += 1
        return 200 <= response.status_code < 400

    async def _every(self, probe: Probe, pod: Pod, name: str, on_result: ProbeCallback) -> None:
        """A probe worker: one probe per period, never overlapping, until the process exits."""
        successes = failures = 0
        while pod.alive:
            started = self.clock.now()
            ok = await self._probe(pod, name, probe)
            if not pod.alive:
                return
            successes, failures = (successes + 1, 0) if ok else (0, failures + 1)
            if not on_result(ok, successes, failures):
                return
            await self.clock.sleep(probe.period - (self.clock.now() - started))

    async def _kubelet(self, pod: Pod) -> None:
        """Probe the container; when it exits unasked, restart it in the same pod after
        CrashLoopBackOff's delay (restartPolicy Always: 10 s, doubling, at most 300 s)."""
        try:
            await self._restarting(pod)
        finally:
            pod.kubelet_active = False

    async def _restarting(self, pod: Pod) -> None:
        while True:
            await self._container(pod)
            if pod.terminating_at is not None or self._stopping:
                pod.restart_pending = False
                return
            delay = min(300.0, 10.0 * 2**pod.restarts)
            pod.events.append((self.clock.now(), f"back-off {delay:g}s, then restart"))
            pod.log_path = self._log_path(pod.slot)
            self._spawn(pod)  # the new container's interpreter imports during the back-off
            pod.restart_pending = False
            await self.clock.sleep(delay)
            if pod.terminating_at is not None or self._stopping:
                return
            pod.restarts += 1
            pod.started = False
            self._go_file(pod.slot).touch()
            pod.events.append((self.clock.now(), f"container restarted ({pod.restarts})"))
            self._notify()

    async def _container(self, pod: Pod) -> None:
        watcher = asyncio.create_task(self._watch_exit(pod))
        try:
            rollout = self.rollout

            def startup(ok: bool, successes: int, failures: int) -> bool:
                if ok and successes >= rollout.startup.success_threshold:
                    pod.started = True
                    pod.events.append((self.clock.now(), "started (startup probe passed)"))
                    return False
                if failures == rollout.startup.failure_threshold:
                    pod.events.append(
                        (
                            self.clock.now(),
                            "startup probe failed failureThreshold times: the kubelet would "
                            "restart the container (process start is not time-compressed)",
                        )
                    )
                return True

            def readiness(ok: bool, successes: int, failures: int) -> bool:
                if ok and not pod.ready and successes >= rollout.readiness.success_threshold:
                    pod.ready, pod.ready_at = True, self.clock.now()
                    pod.events.append((pod.ready_at, "ready"))
                    self._notify()
                elif not ok and pod.ready and failures >= rollout.readiness.failure_threshold:
                    pod.ready = False
                    pod.events.append((self.clock.now(), "not ready"))
                    self._notify()
                return True

            def liveness(ok: bool, successes: int, failures: int) -> bool:
                if failures == rollout.liveness.failure_threshold:
                    pod.events.append(
                        (self.clock.now(), "liveness failed: the kubelet would restart it")
                    )
                return True

            await self._every(rollout.startup, pod, "startup", startup)
            if pod.started:
                await asyncio.gather(
                    self._every(rollout.readiness, pod, "readiness", readiness),
                    self._every(rollout.liveness, pod, "liveness", liveness),
                )
        finally:
            await watcher

    async def _watch_exit(self, pod: Pod) -> None:
        assert pod.process is not None
        while pod.process.poll() is None:  # noqa: ASYNC110 - a process, polled
            await asyncio.sleep(0.02)
        pod.exit_code = pod.process.returncode
        pod.exited_at = self.clock.now()
        pod.ready = False
        unasked = "" if pod.terminating_at is not None else f" unasked: see {pod.log_path.name}"
        pod.restart_pending = pod.terminating_at is None and not self._stopping
        pod.events.append((pod.exited_at, f"exited {pod.exit_code}{unasked}"))
        if pod.log is not None:
            pod.log.close()
            pod.log = None
        self._notify()

    # -- teardown ------------------------------------------------------------------------------

    async def shutdown(self) -> None:
        self._stopping = True
        for pod in self.pods:
            await self.terminate(pod)
        await asyncio.gather(*(self.wait_exit(p) for p in self.pods))
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.http.aclose()

    def kill_all(self) -> None:
        """Last resort, and the unused warm processes: no process survives the lab."""
        self._stopping = True
        for pod in [*self.pods, *self._warm.values()]:
            if pod.process is not None and pod.process.poll() is None:
                stop_process_group(pod.process)
            if pod.log is not None:
                pod.log.close()
                pod.log = None
            for path in (self._go_file(pod.slot), self._go_file(pod.slot).with_suffix(".warm")):
                path.unlink(missing_ok=True)
            if pod.log_path.exists() and not pod.log_path.stat().st_size:
                pod.log_path.unlink()  # a spare that was never needed
        self._warm.clear()
