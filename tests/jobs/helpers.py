"""Shared pieces of the job tests: settings for a worker, waiting on a condition, a worker
process with its probe port."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from penvoice.config import WorkerSettings
from penvoice.dev.postgres import free_port


def worker_settings(database_url: str, **overrides: str) -> WorkerSettings:
    environ = {
        "DB_URL": database_url,
        "WORKER_PORT": "0",
        "WORKER_HEARTBEAT_TIMEOUT_SECONDS": "2",
        "WORKER_POLL_SECONDS": "0.1",
        "JOB_RETRY_FIRST_DELAY_SECONDS": "0.05",
        "JOB_RETRY_MAX_DELAY_SECONDS": "0.2",
        "JOB_MAX_ATTEMPTS": "3",
    }
    environ.update(overrides)
    return WorkerSettings.from_environ(environ)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"worker not ready in {timeout}s:\n{self.output()}")

    def wait_answering(self, path: str, timeout: float = 30.0) -> httpx.Response:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                return httpx.get(f"{self.base}{path}", timeout=1)
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"worker not answering in {timeout}s")

    def output(self) -> str:
        if self.process.poll() is None:
            return "(still running)"
        assert self.process.stdout is not None
        return self.process.stdout.read().decode(errors="replace")

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)


@contextmanager
def worker_process(database_url: str, **environ: str) -> Iterator[WorkerProcess]:
    """A real `penvoice worker` process on a free loopback port."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "PYTHONPATH"}},
        "DB_URL": database_url,
        "WORKER_HOST": "127.0.0.1",
        "WORKER_PORT": str(port),
        "WORKER_HEARTBEAT_TIMEOUT_SECONDS": "2",
        "JOB_RETRY_FIRST_DELAY_SECONDS": "0.2",
        "WORKER_POLL_SECONDS": "0.2",
        "SHUTDOWN_TIMEOUT_SECONDS": "10",
        **environ,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "penvoice.cli", "worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    running = WorkerProcess(process, port)
    try:
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        if process.stdout is not None:
            process.stdout.close()
