"""What a job kind is: a name, an async handler of the job's JSON payload, a concurrency."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from penvoice.config import WorkerSettings
    from penvoice.db import Database
    from penvoice.documents.render import Renderer


@dataclass(frozen=True)
class JobContext:
    """What a handler gets besides its payload."""

    database: Database
    settings: WorkerSettings
    attempt: int  # 0 on the first run; retries after failures count up
    renderer: Renderer  # the worker's bounded PDF renders (documents/render.py)


JobHandler = Callable[[JobContext, dict[str, object]], Awaitable[None]]


@dataclass(frozen=True)
class Periodic:
    """Work every worker does every WORKER_POLL_SECONDS outside any job (e.g. the webhook
    sweep that enqueues jobs); it must be safe to run in several workers at once."""

    name: str
    run: Callable[[Database, WorkerSettings], Awaitable[None]]


@dataclass(frozen=True)
class JobKind:
    name: str
    handler: JobHandler
    # At most this many jobs of the kind run at once across all workers (0: no limit).
    concurrency_limit: int = 0
