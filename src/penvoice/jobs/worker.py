"""`penvoice worker`: runs the queued jobs, with its own probes and metrics.

One dedicated connection LISTENs for new jobs and takes them (pgqueuer's QueueManager:
`FOR UPDATE SKIP LOCKED`, so any number of workers share the queue); handlers use a small
pool. A job that fails is retried with exponential backoff (`JOB_RETRY_*`) and kept as
`failed` after `JOB_MAX_ATTEMPTS` runs, never deleted. A worker that dies (SIGKILL, lost
node) stops sending heartbeats, and its jobs are taken again by another worker after
`WORKER_HEARTBEAT_TIMEOUT_SECONDS`: delivery is at least once, so handlers are idempotent.

On SIGTERM the worker stops taking jobs, turns unready, lets the running jobs finish
(bounded by `SHUTDOWN_TIMEOUT_SECONDS`; what is still running then is taken again later by
another worker) and exits 0. The database may be down at start or go away: the worker
keeps retrying, unready, and its liveness still answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping, Sequence
from datetime import timedelta
from typing import Any

import asyncpg
import uvicorn
from pgqueuer import AsyncpgDriver, DatabaseRetryEntrypointExecutor, QueueManager
from pgqueuer.executors import AbstractEntrypointExecutor, EntrypointExecutorParameters
from pgqueuer.models import Job
from pgqueuer.queries import Queries
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from penvoice import __version__
from penvoice.config import WorkerSettings
from penvoice.db import NO_CONNECTION_ERRORS, Database
from penvoice.documents.render import Renderer, RenderLimits
from penvoice.errors import PROBLEM_BASE, NotFound, ServiceUnavailable
from penvoice.jobs.kinds import JobContext, JobKind, Periodic
from penvoice.jobs.metrics import WorkerMetrics
from penvoice.jobs.repository import queue_state
from penvoice.migrate.state import read_schema_state
from penvoice.schema import schema_problem

log = logging.getLogger("penvoice.worker")

QUEUE_ERRORS: tuple[type[Exception], ...] = (*NO_CONNECTION_ERRORS, asyncpg.PostgresError)
READING_ERRORS: tuple[type[Exception], ...] = (TimeoutError, *QUEUE_ERRORS)
RECONNECT_SECONDS = 2.0
BATCH_SIZE = 1  # take one job at a time: a job waits for a free worker, not a busy one

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class Worker:
    def __init__(
        self,
        settings: WorkerSettings,
        kinds: Sequence[JobKind],
        periodic: Sequence[Periodic] = (),
    ) -> None:
        self.settings = settings
        self.kinds = {kind.name: kind for kind in kinds}
        self.periodic = list(periodic)
        self.database = Database(settings, application_name="penvoice-worker")
        revision = os.environ.get("PENVOICE_REVISION", "unknown")
        self.metrics = WorkerMetrics(sorted(self.kinds), __version__, revision)
        # One render process per worker, started by the first render, as the API's.
        self.renderer = Renderer(RenderLimits.of(settings), self.metrics.registry)
        self.consuming = False
        self.draining = False

    # --- running jobs ---------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Take and run jobs until `stop` is set; serve probes and metrics meanwhile."""
        await self.database.open()
        health = HealthServer(self) if self.settings.worker_port else None
        health_task = asyncio.create_task(health.serve()) if health else None
        chores = [asyncio.create_task(self._every_poll(task, stop)) for task in self.periodic]
        try:
            while not stop.is_set():
                try:
                    await self._consume(stop)
                except QUEUE_ERRORS as exc:
                    log.warning("job queue unavailable (%s: %s); retrying", type(exc).__name__, exc)
                if not stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), RECONNECT_SECONDS)
        finally:
            self.draining = True
            for chore in chores:
                chore.cancel()
            await asyncio.gather(*chores, return_exceptions=True)
            if health is not None and health_task is not None:
                health.should_exit = True
                await asyncio.gather(health_task, return_exceptions=True)
            await self.renderer.worker.close()
            await self.database.close(timeout=5)

    async def _every_poll(self, task: Periodic, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await task.run(self.database, self.settings)
            except QUEUE_ERRORS as exc:
                log.warning("%s: database unavailable (%s)", task.name, type(exc).__name__)
            except Exception:
                log.exception("%s failed", task.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.worker_poll_seconds)

    async def _consume(self, stop: asyncio.Event) -> None:
        conn = await asyncpg.connect(
            self.settings.db_url.get_secret_value(),
            timeout=self.settings.db_pool_timeout_seconds,
            server_settings={"application_name": "penvoice-worker-queue", "TimeZone": "UTC"},
        )
        stopping = asyncio.create_task(stop.wait())
        try:
            manager = QueueManager(Queries(AsyncpgDriver(conn)))
            for kind in self.kinds.values():
                manager.entrypoint(
                    kind.name,
                    concurrency_limit=kind.concurrency_limit,
                    on_failure="hold",
                    executor_factory=self._executor,
                )(self._entry(kind))
            concurrency = self.settings.worker_concurrency
            running = asyncio.create_task(
                manager.run(
                    dequeue_timeout=timedelta(seconds=self.settings.worker_poll_seconds),
                    batch_size=BATCH_SIZE,
                    max_concurrent_tasks=max(concurrency, 2 * BATCH_SIZE),
                    shutdown_on_listener_failure=True,
                    heartbeat_timeout=timedelta(
                        seconds=self.settings.worker_heartbeat_timeout_seconds
                    ),
                )
            )
            self.consuming = True
            log.info("worker taking jobs: %s", ", ".join(sorted(self.kinds)) or "(no kinds)")
            await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not running.done():
                self.consuming = False
                self.draining = True
                manager.shutdown.set()
                try:
                    await asyncio.wait_for(running, self.settings.shutdown_timeout_seconds)
                except TimeoutError:
                    log.warning(
                        "jobs still running at the shutdown timeout; another worker "
                        "takes them after the heartbeat timeout"
                    )
                return
            running.result()  # the queue connection failed: raise, reconnect
        finally:
            self.consuming = False
            stopping.cancel()
            with contextlib.suppress(*NO_CONNECTION_ERRORS):
                await asyncio.wait_for(conn.close(), 2)

    def _executor(self, parameters: EntrypointExecutorParameters) -> AbstractEntrypointExecutor:
        settings = self.settings
        return DatabaseRetryEntrypointExecutor(
            parameters=parameters,
            # pgqueuer counts retries (0 on the first run); we count runs.
            max_attempts=settings.job_max_attempts - 1,
            initial_delay=timedelta(seconds=settings.job_retry_first_delay_seconds),
            max_delay=timedelta(seconds=settings.job_retry_max_delay_seconds),
        )

    def _entry(self, kind: JobKind) -> Callable[[Job], Awaitable[None]]:
        metrics = self.metrics

        async def run(job: Job) -> None:
            started = time.time()
            due = max(job.created, job.execute_after).timestamp()
            metrics.latency.labels(kind.name).observe(max(0.0, started - due))
            payload = json.loads(job.payload or b"{}")
            context = JobContext(
                database=self.database,
                settings=self.settings,
                attempt=job.attempts,
                renderer=self.renderer,
            )
            metrics.running.labels(kind.name).inc()
            outcome = "error"
            try:
                await kind.handler(context, payload)
                outcome = "success"
            except Exception as exc:
                metrics.failures.labels(kind.name, type(exc).__name__).inc()
                last = job.attempts >= self.settings.job_max_attempts - 1
                if last:
                    metrics.gave_up.labels(kind.name).inc()
                log.warning(
                    "job %s %d failed (run %d of %d%s): %s: %s",
                    kind.name,
                    job.id,
                    job.attempts + 1,
                    self.settings.job_max_attempts,
                    ", kept as failed" if last else ", will retry",
                    type(exc).__name__,
                    exc,
                )
                raise
            finally:
                metrics.running.labels(kind.name).dec()
                metrics.jobs.labels(kind.name, outcome).inc()
                metrics.duration.labels(kind.name, outcome).observe(time.time() - started)

        return run

    # --- probes and metrics ---------------------------------------------------------------

    async def readiness(self) -> dict[str, tuple[bool, str]]:
        timeout = self.settings.readiness_check_timeout_seconds
        checks = {"database": await self._check_database(timeout)}
        checks["queue"] = (
            (True, "ok") if self.consuming else (False, "not taking jobs (connecting)")
        )
        if self.draining:
            checks["shutdown"] = (False, "draining before shutdown")
        return checks

    async def _check_database(self, timeout: float) -> tuple[bool, str]:
        try:
            async with asyncio.timeout(timeout), self.database.connection(timeout) as conn:
                state = await read_schema_state(conn)
        except TimeoutError:
            return False, f"timed out after {timeout}s"
        except NO_CONNECTION_ERRORS as exc:
            return False, f"unreachable ({type(exc).__name__})"
        problem = schema_problem(state)
        return (False, problem) if problem else (True, "ok")

    async def metrics_text(self) -> bytes:
        queue = self.metrics.queue
        timeout = self.settings.readiness_check_timeout_seconds
        try:
            async with asyncio.timeout(timeout), self.database.connection(timeout) as conn:
                queue.rows = await queue_state(conn)
            queue.fresh = True
        except READING_ERRORS:
            queue.fresh = False  # keep the last reading
        return generate_latest(self.metrics.registry)


class HealthServer(uvicorn.Server):
    """`/healthz`, `/readyz`, `/metrics` on WORKER_PORT, inside the worker's event loop."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker
        config = uvicorn.Config(
            self._app,
            host=worker.settings.worker_host,
            port=worker.settings.worker_port,
            log_config=None,
            access_log=False,
            server_header=False,
            lifespan="off",
            interface="asgi3",
            proxy_headers=False,
        )
        super().__init__(config)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the worker handles the signals

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if method not in {"GET", "HEAD"}:
            await _answer(send, 405, {"title": "Method Not Allowed", "status": 405})
        elif path == "/healthz":
            await _answer(send, 200, {"status": "ok"})
        elif path == "/readyz":
            checks = await self._worker.readiness()
            summary = {name: detail for name, (_, detail) in checks.items()}
            failing = sorted(name for name, (ok, _) in checks.items() if not ok)
            if failing:
                body = {
                    "type": PROBLEM_BASE + ServiceUnavailable.slug,
                    "title": "Not ready",
                    "status": 503,
                    "detail": f"Failing checks: {', '.join(failing)}.",
                    "checks": summary,
                    "failing": failing,
                }
                await _answer(send, 503, body, "application/problem+json")
            else:
                await _answer(send, 200, {"status": "ready", "checks": summary})
        elif path == "/metrics":
            text = await self._worker.metrics_text()
            await _raw(send, 200, text, CONTENT_TYPE_LATEST)
        else:
            body = {
                "type": PROBLEM_BASE + NotFound.slug,
                "title": "Not Found",
                "status": 404,
            }
            await _answer(send, 404, body, "application/problem+json")


async def _answer(
    send: Send, status: int, body: object, media_type: str = "application/json"
) -> None:
    await _raw(send, status, json.dumps(body).encode(), media_type)


async def _raw(send: Send, status: int, body: bytes, media_type: str) -> None:
    headers = [(b"content-type", media_type.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def run_worker(
    settings: WorkerSettings, kinds: Sequence[JobKind], periodic: Sequence[Periodic] = ()
) -> None:
    """The process's entry: SIGTERM/SIGINT stop it gracefully (exit 0)."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, _stopper(stop, sig))
        await Worker(settings, kinds, periodic=periodic).run(stop)

    asyncio.run(main())


def _stopper(stop: asyncio.Event, sig: signal.Signals) -> Callable[[], None]:
    def handle() -> None:
        log.info("signal %s: stopping after the running jobs", sig.name)
        stop.set()

    return handle


class BackgroundWorker:
    """A worker on its own thread and event loop, beside a server in the same process
    (`penvoice dev`, so that `make run` alone sends mail, webhooks and recurring invoices)."""

    def __init__(
        self,
        settings: WorkerSettings,
        kinds: Sequence[JobKind],
        periodic: Sequence[Periodic] = (),
    ) -> None:
        self._settings = settings
        self._kinds = list(kinds)
        self._periodic = list(periodic)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._main, name="penvoice-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._started.wait(10)

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._started.set()
            await Worker(self._settings, self._kinds, periodic=self._periodic).run(self._stop)

        asyncio.run(main())

    def stop(self, timeout: float = 30.0) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        self._thread.join(timeout)
