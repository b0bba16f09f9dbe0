"""Soak: `SOAK_SECONDS` (default 600) of mixed traffic against a real server (`make soak`).

Not collected by `make test` (the file name does not match `test_*.py`); `make soak` names it.
Workers drive the whole invoice life (drafts with Idempotency-Keys, finalizations, payments,
edits) and the reads around it (one invoice, lists, AR aging, events, /v1/me) over two
organisations, one request after another, never retrying. A sampler reads `/metrics` every
`SOAK_SAMPLE_SECONDS`: resident memory, the pool's connections, open file descriptors.

Then: zero errors (every answer the expected 2xx, no transport failure), every created
invoice readable with what it was created with, each organisation's numbers gapless from 1,
and memory, connections and descriptors flat — a least-squares slope over the run after a
warm-up, reported and bounded. The figures go to `SOAK_REPORT` (JSON) and stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from penvoice.dev.issuer import LocalIssuer
from tests.conftest import app_environ
from tests.reliability.load import Call, Outcome, bearer, new_key, send
from tests.reliability.server import serve

pytestmark = pytest.mark.anyio

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "600"))
SAMPLE_SECONDS = float(os.environ.get("SOAK_SAMPLE_SECONDS", "5"))
WORKERS = int(os.environ.get("SOAK_WORKERS", "6"))
REPORT = Path(os.environ.get("SOAK_REPORT", ".local/soak/report.json"))
WARM_UP = 0.2  # the first fifth of the run: imports, caches, the pool filling up
POOL_MAX = 10


@dataclass
class Org:
    id: str
    token: str
    customer_id: str
    tax_rate_id: str
    drafts: list[str] = field(default_factory=list)
    open: list[tuple[str, int]] = field(default_factory=list)  # (id, amount due)
    created: dict[str, dict[str, Any]] = field(default_factory=dict)  # id → what was sent
    numbers: list[str] = field(default_factory=list)


@dataclass
class Sample:
    t: float
    rss: float
    pool_open: float
    pool_in_use: float
    fds: float


def metric(text: str, name: str, labels: str = "") -> float:
    prefix = f"{name}{{{labels}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(prefix + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {prefix} in /metrics")


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x (units of y per unit of x)."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / var if var else 0.0


async def seed(client: httpx.AsyncClient, issuer: LocalIssuer, n: int) -> Org:
    token = issuer.mint_token(f"soak-owner-{n}", expires_in=int(SOAK_SECONDS) + 3600)
    org = await client.post(
        "/v1/orgs",
        json={"name": f"Soak {n}", "default_currency": "EUR", "invoice_prefix": f"S{n}-"},
        headers=bearer(token),
    )
    base = f"/v1/orgs/{org.json()['id']}"
    customer = await client.post(f"{base}/customers", json={"name": "C"}, headers=bearer(token))
    rate = await client.post(
        f"{base}/tax-rates",
        json={"display_name": "VAT", "percentage": "19", "inclusive": False},
        headers=bearer(token),
    )
    assert {org.status_code, customer.status_code, rate.status_code} == {201}
    return Org(org.json()["id"], token, customer.json()["id"], rate.json()["id"])


async def worker(
    number: int, base_url: str, orgs: list[Org], stop: asyncio.Event, outcomes: list[Outcome]
) -> None:
    rng = random.Random(number)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(
        base_url=base_url, timeout=30, limits=limits, trust_env=False
    ) as client:
        while not stop.is_set():
            org = orgs[rng.randrange(len(orgs))]
            base, auth = f"/v1/orgs/{org.id}", bearer(org.token)
            choice = rng.random()
            if choice < 0.15 or not org.created:
                lines = [
                    {
                        "description": f"Work {rng.randrange(10**6)}",
                        "quantity": str(rng.randrange(1, 20)),
                        "unit_amount": rng.randrange(100, 100_000),
                        "tax_rate_ids": [org.tax_rate_id] if rng.random() < 0.5 else [],
                    }
                    for _ in range(rng.randrange(1, 5))
                ]
                body = {"customer_id": org.customer_id, "lines": lines}
                call = Call("POST", f"{base}/invoices", body, auth | new_key())
                outcome = await send(client, number, call)
                if outcome.status == 201:
                    org.created[outcome.body["id"]] = {
                        "lines": len(lines),
                        "total": outcome.body["total"],
                    }
                    org.drafts.append(outcome.body["id"])
            elif choice < 0.27 and org.drafts:
                invoice_id = org.drafts.pop(rng.randrange(len(org.drafts)))
                call = Call("POST", f"{base}/invoices/{invoice_id}/finalize", {}, auth)
                outcome = await send(client, number, call)
                if outcome.status == 200:
                    org.numbers.append(outcome.body["number"])
                    if outcome.body["amount_due"] > 1:
                        org.open.append((invoice_id, outcome.body["amount_due"]))
            elif choice < 0.35 and org.open:
                invoice_id, due = org.open.pop(rng.randrange(len(org.open)))
                payment = {
                    "amount": due // 2,
                    "currency": "EUR",
                    "paid_on": "2026-01-15",
                    "method": "bank_transfer",
                }
                call = Call("POST", f"{base}/invoices/{invoice_id}/payments", payment, auth)
                outcome = await send(client, number, call)
            else:
                invoice_id = rng.choice(list(org.created))
                reads = [
                    Call("GET", f"{base}/invoices/{invoice_id}", None, auth),
                    Call("GET", f"{base}/invoices?limit=25", None, auth),
                    Call("GET", f"{base}/invoices?status=open&limit=10", None, auth),
                    Call("GET", f"{base}/customers", None, auth),
                    Call("GET", f"{base}/reports/ar-aging", None, auth),
                    Call("GET", f"{base}/events?limit=20", None, auth),
                    Call("GET", "/v1/me", None, auth),
                    Call("PATCH", f"{base}/customers/{org.customer_id}", {"notes": "n"}, auth),
                ]
                outcome = await send(client, number, rng.choice(reads))
            outcomes.append(outcome)


async def sampler(
    base_url: str, stop: asyncio.Event, started: float, samples: list[Sample]
) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=10, trust_env=False) as client:
        while not stop.is_set():
            text = (await client.get("/metrics")).text
            idle = metric(text, "penvoice_db_pool_connections", 'state="idle"')
            in_use = metric(text, "penvoice_db_pool_connections", 'state="in_use"')
            samples.append(
                Sample(
                    time.monotonic() - started,
                    metric(text, "process_resident_memory_bytes"),
                    idle + in_use,
                    in_use,
                    metric(text, "process_open_fds"),
                )
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SAMPLE_SECONDS)


def write_report(report: dict[str, Any]) -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2) + "\n")


@pytest.mark.timeout(SOAK_SECONDS + 600)
async def test_soak(database_url: str, issuer: LocalIssuer) -> None:
    environ = app_environ(database_url, issuer, DB_POOL_MAX_SIZE=str(POOL_MAX))
    outcomes: list[Outcome] = []
    samples: list[Sample] = []
    with serve(environ) as server:
        async with httpx.AsyncClient(base_url=server.base_url, trust_env=False) as client:
            orgs = [await seed(client, issuer, n) for n in range(2)]
            stop = asyncio.Event()
            started = time.monotonic()
            tasks = [
                asyncio.create_task(worker(n, server.base_url, orgs, stop, outcomes))
                for n in range(WORKERS)
            ]
            watch = asyncio.create_task(sampler(server.base_url, stop, started, samples))
            await asyncio.sleep(SOAK_SECONDS)
            stop.set()
            await asyncio.gather(*tasks, watch)
            elapsed = time.monotonic() - started
            unreadable, wrong = [], []
            for org in orgs:
                for invoice_id, sent in org.created.items():
                    got = await client.get(
                        f"/v1/orgs/{org.id}/invoices/{invoice_id}", headers=bearer(org.token)
                    )
                    if got.status_code != 200:
                        unreadable.append((invoice_id, got.status_code))
                    elif (len(got.json()["lines"]), got.json()["total"]) != (
                        sent["lines"],
                        sent["total"],
                    ):
                        wrong.append(invoice_id)
            numbered = {}
            for org in orgs:
                numbers, cursor = [], None
                while True:
                    page = await client.get(
                        f"/v1/orgs/{org.id}/invoices",
                        params={"limit": 100, **({"cursor": cursor} if cursor else {})},
                        headers=bearer(org.token),
                    )
                    numbers += [i["number"] for i in page.json()["items"] if i["number"]]
                    cursor = page.json()["next_cursor"]
                    if not cursor:
                        break
                numbered[org.id] = numbers
        errors = server.error_lines()

    steady = [s for s in samples if s.t >= WARM_UP * elapsed]
    rss_slope = slope([(s.t / 60, s.rss / 2**20) for s in steady])  # MiB per minute
    pool_slope = slope([(s.t / 60, s.pool_open) for s in steady])
    fds_slope = slope([(s.t / 60, s.fds) for s in steady])
    statuses: dict[int, int] = {}
    for outcome in outcomes:
        statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
    latencies = sorted(o.elapsed for o in outcomes)
    report = {
        "seconds": round(elapsed, 1),
        "workers": WORKERS,
        "requests": len(outcomes),
        "requests_per_second": round(len(outcomes) / elapsed, 1),
        "statuses": statuses,
        "latency_ms": {
            "p50": round(latencies[len(latencies) // 2] * 1000, 1),
            "p99": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
            "max": round(latencies[-1] * 1000, 1),
        },
        "invoices_created": sum(len(o.created) for o in orgs),
        "invoices_finalized": sum(len(o.numbers) for o in orgs),
        "unreadable": len(unreadable),
        "different_from_sent": len(wrong),
        "samples": len(samples),
        "rss_mib": {
            "first": round(samples[0].rss / 2**20, 1),
            "after_warm_up": round(steady[0].rss / 2**20, 1),
            "last": round(samples[-1].rss / 2**20, 1),
            "max": round(max(s.rss for s in samples) / 2**20, 1),
            "slope_per_minute": round(rss_slope, 3),
        },
        "pool_connections": {
            "max_open": max(s.pool_open for s in samples),
            "max_in_use": max(s.pool_in_use for s in samples),
            "last_open": samples[-1].pool_open,
            "slope_per_minute": round(pool_slope, 3),
        },
        "open_fds": {
            "first": samples[0].fds,
            "last": samples[-1].fds,
            "max": max(s.fds for s in samples),
            "slope_per_minute": round(fds_slope, 3),
        },
        "server_error_lines": len(errors),
    }
    await asyncio.to_thread(write_report, report)
    print("soak:", json.dumps(report, indent=2))

    failed = [o for o in outcomes if o.status not in {200, 201}]
    assert not failed, failed[:5]
    assert not unreadable, unreadable[:5]
    assert not wrong, wrong[:5]
    for org in orgs:
        expected = [f"S{orgs.index(org)}-{n:06d}" for n in range(1, len(org.numbers) + 1)]
        assert sorted(numbered[org.id]) == expected, "numbers have gaps or duplicates"
        assert sorted(org.numbers) == expected
    assert not errors, "\n".join(errors[:10])
    assert len(steady) >= 3
    # Flat: memory grows by less than 2 MiB a minute after the warm-up (a leak of one
    # object per request would show as tens), the pool and descriptors not at all.
    assert rss_slope < 2.0, report["rss_mib"]
    assert max(s.pool_open for s in samples) <= POOL_MAX
    assert abs(pool_slope) < 0.5, report["pool_connections"]
    assert abs(fds_slope) < 0.5, report["open_fds"]
