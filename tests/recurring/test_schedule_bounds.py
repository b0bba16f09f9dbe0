"""Recurring schedules per organisation are bounded (QUOTA_RECURRING_SCHEDULES_PER_ORG), and
their list is a keyset page that also ends at a byte budget: a template may hold 250 lines
(about 1.5 MB), and a list of 100 of them answered 154 MB before pages had a budget."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import asyncpg
import pytest

from penvoice import quotas
from penvoice.quotas import Quotas
from penvoice.recurring.repository import SCHEDULE_PAGE_BYTES
from tests.conftest import Api
from tests.invoices.conftest import Billing, make_billing
from tests.recurring.test_generation import create

pytestmark = pytest.mark.anyio


@pytest.fixture
async def billing(api: Api) -> Billing:
    return await make_billing(api)


async def _stored(admin_url: str) -> tuple[int, int]:
    conn = await asyncpg.connect(admin_url)
    try:
        row = await conn.fetchrow(
            """SELECT (SELECT count(*) FROM recurring_schedules) AS schedules,
                      (SELECT count(*) FROM events) AS events"""
        )
        assert row is not None
        return row["schedules"], row["events"]
    finally:
        await conn.close()


async def _list(billing: Billing, **params: Any) -> Any:
    response = await billing.api.client.get(
        f"{billing.base}/recurring-schedules", params=params, headers=billing.headers()
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_schedules_per_organisation(billing: Billing, admin_database_url: str) -> None:
    with quotas.using(Quotas(recurring_schedules_per_org=2)):
        first = (await create(billing)).json()
        assert (await create(billing)).status_code == 201
        before = await _stored(admin_database_url)
        key = str(uuid.uuid4())
        payload = {
            "customer_id": billing.customer_id,
            "frequency": "yearly",
            "start_date": "2027-03-01",
            "template": {
                "lines": [{"description": "Hosting", "quantity": "1", "unit_amount": 900}]
            },
        }
        refused = await billing.post("/recurring-schedules", payload, **{"Idempotency-Key": key})
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        problem = refused.json()
        assert problem["type"] == "https://penvoice.app/problems/schedule-quota-exceeded"
        assert (problem["quota"], problem["limit"]) == ("recurring_schedules_per_org", 2)
        assert await _stored(admin_database_url) == before  # no schedule, no event
        other = await make_billing(billing.api, owner="oscar")  # the bound is each organisation's
        assert (await create(other)).status_code == 201
        deleted = await billing.api.client.delete(
            f"{billing.base}/recurring-schedules/{first['id']}", headers=billing.headers()
        )
        assert deleted.status_code == 204, deleted.text
        retried = await billing.post("/recurring-schedules", payload, **{"Idempotency-Key": key})
    assert retried.status_code == 201, retried.text  # the key was not used up


async def test_the_list_is_a_keyset_page_oldest_first(billing: Billing) -> None:
    created = [(await create(billing)).json()["id"] for _ in range(3)]
    first = await _list(billing, limit=2)
    assert [item["id"] for item in first["items"]] == created[:2]
    assert first["next_cursor"]
    second = await _list(billing, limit=2, cursor=first["next_cursor"])
    assert [item["id"] for item in second["items"]] == created[2:]
    assert second["next_cursor"] is None
    whole = await _list(billing)
    assert [item["id"] for item in whole["items"]] == created
    assert whole["next_cursor"] is None
    bad = await billing.api.client.get(
        f"{billing.base}/recurring-schedules",
        params={"cursor": "not-a-cursor"},
        headers=billing.headers(),
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "query.cursor"


async def test_a_page_ends_at_its_byte_budget(billing: Billing, admin_database_url: str) -> None:
    line = {"description": "x" * 1600, "quantity": "1", "unit_amount": 1}
    template = {"lines": [line] * 250}
    created = [(await create(billing, template=template)).json()["id"] for _ in range(4)]
    conn = await asyncpg.connect(admin_database_url)
    try:
        sizes = set(await conn.fetch("SELECT template_bytes FROM recurring_schedules"))
    finally:
        await conn.close()
    ((size,),) = sizes  # about 0.42 MB each: the third starts under the budget, the fourth past it
    assert 2 * size < SCHEDULE_PAGE_BYTES <= 3 * size
    first = await _list(billing, limit=100)
    assert [item["id"] for item in first["items"]] == created[:3]
    assert all(len(item["template"]["lines"]) == 250 for item in first["items"])
    assert first["next_cursor"]
    second = await _list(billing, limit=100, cursor=first["next_cursor"])
    assert [item["id"] for item in second["items"]] == created[3:]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        ({"frequency": "cron", "cron": "0 * * * *", "start_date": "0002-01-01"}, True),
        ({"frequency": "cron", "cron": "0 * * * *", "days_back": 60}, True),  # 1,440 hours
        ({"frequency": "cron", "cron": "0 9 * * 1", "days_back": 60}, True),  # cron: by hours
        ({"frequency": "cron", "cron": "0 * * * *", "days_back": 40}, False),  # 960 hours
        ({"frequency": "monthly", "start_date": "1900-01-31"}, True),
        ({"frequency": "monthly", "days_back": 730}, False),  # 24 months
    ],
)
async def test_a_start_so_far_back_that_over_1000_periods_may_be_due_is_refused(
    billing: Billing, admin_database_url: str, body: dict[str, Any], refused: bool
) -> None:
    if "days_back" in body:
        start = date.today() - timedelta(days=body.pop("days_back"))
        body["start_date"] = start.isoformat()
    before = await _stored(admin_database_url)
    response = await create(billing, time_zone="UTC", **body)
    if refused:
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "body.start_date"
        assert await _stored(admin_database_url) == before
    else:
        assert response.status_code == 201, response.text
