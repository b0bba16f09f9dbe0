"""Closed-loop HTTP load against a server on loopback: workers that never retry anything.

`run_load` starts `workers` tasks; each sends one request after another (the next when the
previous answered) until `stop` is set, and records every outcome: when it started, how long
it took, the status (0 for a transport error) and the headers that matter. The request each
worker sends next comes from `plan(worker, n)`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Call:
    method: str
    url: str
    json: Any = None
    headers: dict[str, str] | None = None


@dataclass(frozen=True)
class Outcome:
    worker: int
    label: str
    started: float  # time.monotonic()
    elapsed: float
    status: int  # 0: the request failed at the transport (refused, reset, timeout)
    content_type: str
    retry_after: str | None
    body: Any
    error: str | None = None

    @property
    def ended(self) -> float:
        return self.started + self.elapsed


Plan = Callable[[int, int], Call]


async def send(client: httpx.AsyncClient, worker: int, call: Call) -> Outcome:
    started = time.monotonic()
    try:
        response = await client.request(call.method, call.url, json=call.json, headers=call.headers)
    except httpx.HTTPError as exc:
        return Outcome(
            worker,
            f"{call.method} {call.url}",
            started,
            time.monotonic() - started,
            0,
            "",
            None,
            None,
            f"{type(exc).__name__}: {exc}",
        )
    try:
        body = response.json()
    except ValueError:
        body = response.text[:200]
    return Outcome(
        worker,
        f"{call.method} {call.url}",
        started,
        time.monotonic() - started,
        response.status_code,
        response.headers.get("content-type", ""),
        response.headers.get("retry-after"),
        body,
    )


async def run_load(
    base_url: str,
    plan: Plan,
    stop: asyncio.Event,
    outcomes: list[Outcome],
    *,
    workers: int,
    timeout: float = 10,
    pause: float = 0.0,
) -> None:
    async def worker(number: int) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(
            base_url=base_url, timeout=timeout, limits=limits, trust_env=False
        ) as client:
            n = 0
            while not stop.is_set():
                outcomes.append(await send(client, number, plan(number, n)))
                n += 1
                if pause:
                    await asyncio.sleep(pause)

    await asyncio.gather(*(worker(number) for number in range(workers)))


def bearer(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


def new_key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}
