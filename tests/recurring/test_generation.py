"""Recurring schedules through the API and the generator, on a real PostgreSQL: one draft
per period even with two workers racing, catch-up after downtime (or skip by policy),
finalize and send on request; bad schedules refused naming the field."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from penvoice.db import Database
from penvoice.jobs.worker import Worker
from penvoice.recurring.job import GENERATE_RECURRING, SWEEP_RECURRING, generate_next
from tests.conftest import Api
from tests.invoices.conftest import Billing, make_billing
from tests.jobs.helpers import eventually, worker_settings

pytestmark = pytest.mark.anyio

LINE = {"description": "Retainer", "quantity": "1", "unit_amount": 150000}


async def create(billing: Billing, **body: Any) -> Any:
    payload = {
        "customer_id": billing.customer_id,
        "frequency": "monthly",
        "start_date": "2027-01-31",
        "time_zone": "Europe/Berlin",
        "template": {"memo": "Monthly retainer", "lines": [LINE]},
        **body,
    }
    return await billing.post(
        "/recurring-schedules", payload, **{"Idempotency-Key": str(uuid.uuid4())}
    )


def database(database_url: str) -> Database:
    return Database(worker_settings(database_url))


async def run_until(database_url: str, org_id: str, schedule_id: str, now: datetime) -> int:
    """Generate every period due at `now` (time travel: `now` is ours); periods handled."""
    db = database(database_url)
    await db.open()
    handled = 0
    try:
        while await generate_next(db, UUID(org_id), UUID(schedule_id), now):
            handled += 1
    finally:
        await db.close(5)
    return handled


async def invoices_of(admin_database_url: str, schedule_id: str) -> list[tuple[int, Any, Any]]:
    conn = await asyncpg.connect(admin_database_url)
    try:
        rows = await conn.fetch(
            """SELECT r.period, r.outcome, i.issue_date
               FROM recurring_runs r LEFT JOIN invoices i ON i.id = r.invoice_id
               WHERE r.schedule_id = $1 ORDER BY r.period""",
            UUID(schedule_id),
        )
    finally:
        await conn.close()
    return [(r["period"], r["outcome"], r["issue_date"]) for r in rows]


async def test_catch_up_makes_one_finalized_invoice_per_missed_period(
    api: Api, database_url: str, admin_database_url: str
) -> None:
    billing = await make_billing(api)
    created = await create(billing, auto_finalize=True)
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert schedule["next_run_at"] == "2027-01-31T08:00:00Z"  # 09:00 in Berlin (CET)
    assert schedule["time_of_day"] == "09:00"
    # The worker was down from before the start until May: four periods are due.
    now = datetime(2027, 5, 15, tzinfo=UTC)
    assert await run_until(database_url, billing.org_id, schedule["id"], now) == 4
    assert await run_until(database_url, billing.org_id, schedule["id"], now) == 0  # again
    runs = await invoices_of(admin_database_url, schedule["id"])
    assert runs == [
        (0, "created", date(2027, 1, 31)),
        (1, "created", date(2027, 2, 28)),
        (2, "created", date(2027, 3, 31)),
        (3, "created", date(2027, 4, 30)),
    ]
    shown = await billing.api.client.get(
        f"{billing.base}/recurring-schedules/{schedule['id']}", headers=billing.headers()
    )
    assert shown.json()["next_period"] == 4
    assert shown.json()["next_run_at"] == "2027-05-31T07:00:00Z"  # CEST now
    listed = await billing.api.client.get(
        f"{billing.base}/invoices?status=open", headers=billing.headers()
    )
    numbers = sorted(item["number"] for item in listed.json()["items"])
    assert numbers == ["INV-000001", "INV-000002", "INV-000003", "INV-000004"]
    history = await billing.api.client.get(
        f"{billing.base}/recurring-schedules/{schedule['id']}/runs", headers=billing.headers()
    )
    assert [run["period"] for run in history.json()["items"]] == [3, 2, 1, 0]


async def test_the_skip_policy_makes_only_the_latest_missed_period(
    api: Api, database_url: str, admin_database_url: str
) -> None:
    billing = await make_billing(api)
    schedule = (await create(billing, missed_policy="skip")).json()
    now = datetime(2027, 5, 15, tzinfo=UTC)
    assert await run_until(database_url, billing.org_id, schedule["id"], now) == 4
    runs = await invoices_of(admin_database_url, schedule["id"])
    assert [(period, outcome) for period, outcome, _ in runs] == [
        (0, "skipped"),
        (1, "skipped"),
        (2, "skipped"),
        (3, "created"),
    ]


async def test_two_generators_racing_make_one_draft_per_period(
    api: Api, database_url: str, admin_database_url: str
) -> None:
    billing = await make_billing(api)
    schedules = [
        (await create(billing, start_date=start)).json()["id"]
        for start in ("2026-01-31", "2026-02-28")
    ]
    now = datetime(2027, 1, 15, tzinfo=UTC)
    racers = [
        run_until(database_url, billing.org_id, schedule_id, now)
        for schedule_id in schedules
        for _ in range(3)  # three generators per schedule, each with its own pool
    ]
    handled = await asyncio.gather(*racers)
    assert sum(handled) == 12 + 11  # each period handled by exactly one of them
    for schedule_id in schedules:
        runs = await invoices_of(admin_database_url, schedule_id)
        assert [period for period, _, _ in runs] == list(range(len(runs)))
    conn = await asyncpg.connect(admin_database_url)
    try:
        drafts = await conn.fetchval(
            "SELECT count(*) FROM invoices WHERE org_id = $1", UUID(billing.org_id)
        )
    finally:
        await conn.close()
    assert drafts == 23


async def test_two_real_workers_generate_due_periods_once_and_send(
    api: Api, database_url: str, admin_database_url: str
) -> None:
    billing = await make_billing(api)
    start = (datetime.now(UTC) - timedelta(days=70)).date()
    created = await create(
        billing,
        start_date=start.isoformat(),
        day_of_month=1,
        time_zone="UTC",
        auto_finalize=True,
        auto_send=True,
    )
    schedule = created.json()
    settings = worker_settings(database_url)
    workers = [Worker(settings, [GENERATE_RECURRING], periodic=[SWEEP_RECURRING]) for _ in range(2)]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(worker.run(stop)) for worker in workers]
    try:

        async def caught_up() -> bool:
            shown = await billing.api.client.get(
                f"{billing.base}/recurring-schedules/{schedule['id']}", headers=billing.headers()
            )
            next_run = datetime.fromisoformat(shown.json()["next_run_at"])
            return next_run > datetime.now(UTC)

        await eventually(caught_up)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    runs = await invoices_of(admin_database_url, schedule["id"])
    assert len(runs) in {2, 3}  # the 1sts of the last 70 days
    assert all(outcome == "created" and issued.day == 1 for _, outcome, issued in runs)
    conn = await asyncpg.connect(admin_database_url)
    try:
        queued = await conn.fetchval(
            "SELECT count(*) FROM pgqueuer WHERE entrypoint = 'invoices.send_email'"
        )
    finally:
        await conn.close()
    assert queued == len(runs)  # each finalized invoice's send job, queued with it


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "body.time_zone"),
        ({"frequency": "weekly"}, "body.frequency"),
        ({"frequency": "cron"}, "body.cron"),
        ({"frequency": "cron", "cron": "*/5 * * * *"}, "body.cron"),
        ({"cron": "0 9 1 * *"}, "body.cron"),
        ({"day_of_month": 32}, "body.day_of_month"),
        ({"end_date": "2026-01-01"}, "body.end_date"),
        ({"auto_send": True}, "body.auto_send"),
        ({"template": {"lines": []}}, "body.template.lines"),
        ({"customer_id": "00000000-0000-0000-0000-000000000000"}, "body.customer_id"),
        ({"time_of_day": "25:00"}, "body.time_of_day"),
        ({"time_of_day": "09:00+02:00"}, "body.time_of_day"),
        ({"surprise": 1}, "body.surprise"),
    ],
)
async def test_bad_schedules_are_refused_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    billing = await make_billing(api)
    response = await create(billing, **body)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]], response.text


async def test_pausing_and_ending_a_schedule(api: Api, database_url: str) -> None:
    billing = await make_billing(api)
    schedule = (await create(billing)).json()
    path = f"{billing.base}/recurring-schedules/{schedule['id']}"
    paused = await billing.api.client.patch(
        path, json={"enabled": False}, headers=billing.headers()
    )
    assert paused.json()["enabled"] is False
    now = datetime(2027, 5, 15, tzinfo=UTC)
    assert await run_until(database_url, billing.org_id, schedule["id"], now) == 0
    ended = await billing.api.client.patch(
        path, json={"enabled": True, "end_date": "2027-02-28"}, headers=billing.headers()
    )
    assert ended.status_code == 200, ended.text
    assert await run_until(database_url, billing.org_id, schedule["id"], now) == 2
    finished = await billing.api.client.get(path, headers=billing.headers())
    assert finished.json()["next_run_at"] is None
    stale = await billing.api.client.delete(path, headers={**billing.headers(), "If-Match": '"1"'})
    assert stale.status_code == 412
    deleted = await billing.api.client.delete(path, headers=billing.headers())
    assert deleted.status_code == 204
