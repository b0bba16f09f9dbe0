"""Stopping on SIGTERM/SIGINT without ever leaving a half-applied file.

golang-migrate traps only SIGINT (and then finishes the running file); SIGTERM kills it
mid-file and leaves the database dirty. Here a stop request:
- while a provably atomic file runs: cancels it (`pg_cancel_backend` from a second
  connection, resent until it lands); PostgreSQL rolls the file back and the runner
  restores the previous clean version;
- while a file that is not provably atomic runs: lets it finish (golang-migrate's
  graceful stop);
- in every case: no further file starts, a lock wait ends.
Further signals change nothing (SIGKILL remains the hard stop).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg

from penvoice.migrate import state as sql
from penvoice.migrate.output import Log
from penvoice.migrate.plan import Step
from penvoice.migrate.session import DB_ERRORS

CANCEL_RESEND_SECONDS = 0.5


@dataclass
class RunningBody:
    step: Step
    pid: int
    atomic: bool
    cancel_sent: bool = False


class StopControl:
    def __init__(self, dsn: str, log: Log) -> None:
        self._dsn = dsn
        self._log = log
        self.reason: str | None = None
        self._running: RunningBody | None = None
        self._canceller: asyncio.Task[None] | None = None

    def request(self, reason: str) -> None:
        if self.reason is not None:
            return
        self.reason = reason
        running = self._running
        if running is None:
            self._log(f"Received {reason}: stopping before the next migration ...")
        elif running.atomic:
            self._log(
                f"Received {reason}: cancelling {running.step.log_string()} "
                "(one transaction: PostgreSQL rolls it back) ..."
            )
            self._canceller = asyncio.get_running_loop().create_task(self._cancel(running))
        else:
            self._log(
                f"Received {reason}: stopping after this running migration "
                f"({running.step.log_string()} is not provably atomic) ..."
            )

    @contextlib.asynccontextmanager
    async def body(self, step: Step, pid: int, atomic: bool) -> AsyncIterator[RunningBody]:
        """Mark a file as running for the duration of the block (a stop may cancel it)."""
        running = RunningBody(step, pid, atomic)
        self._running = running
        if self.reason is not None and atomic:  # the stop came between two statements of ours
            self._canceller = asyncio.get_running_loop().create_task(self._cancel(running))
        try:
            yield running
        finally:
            self._running = None
            await self.stop_canceller()

    async def stop_canceller(self) -> None:
        task, self._canceller = self._canceller, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})

    async def _cancel(self, running: RunningBody) -> None:
        try:
            conn = await asyncpg.connect(self._dsn)
        except DB_ERRORS as exc:
            self._log(f"could not cancel ({exc}): stopping after this running migration ...")
            return
        try:
            while self._running is running:  # resend: the first may land before it started
                running.cancel_sent = True
                await sql.cancel_backend(conn, running.pid)
                await asyncio.sleep(CANCEL_RESEND_SECONDS)
        except DB_ERRORS as exc:
            self._log(f"could not cancel ({exc}): stopping after this running migration ...")
        finally:
            conn.terminate()
