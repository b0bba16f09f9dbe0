"""Gapless numbering under concurrency, and no gap when a finalization fails late."""

import asyncio

import asyncpg
import pytest

from penvoice.dev.issuer import LocalIssuer
from tests.conftest import Api, app_environ, running_app
from tests.invoices.conftest import LINE, Billing, make_billing

pytestmark = pytest.mark.anyio

FAILING_MEMO = "explode during finalization"


async def _drafts(billing: Billing, count: int, memo: str = "") -> list[str]:
    return [(await billing.draft([LINE], memo=memo))["id"] for _ in range(count)]


async def test_concurrent_finalizations_number_each_org_1_to_n_without_gaps(
    database_url: str, issuer: LocalIssuer, admin_database_url: str
) -> None:
    # 108 finalizations queue on two counter rows: on a busy machine the default 2 s wait
    # for a pooled connection can pass (a 503), which is not what this test is about.
    environ = app_environ(database_url, issuer, DB_POOL_TIMEOUT_SECONDS="60")
    async with running_app(environ) as (app, client):
        await _number_concurrently(Api(client=client, issuer=issuer, app=app), admin_database_url)


async def _number_concurrently(api: Api, admin_database_url: str) -> None:
    first = await make_billing(api, owner="ann")
    second = await make_billing(api, owner="bob")
    drafts = [(first, d) for d in await _drafts(first, 56)]
    drafts += [(second, d) for d in await _drafts(second, 48)]
    doomed = [(first, d) for d in await _drafts(first, 4, memo=FAILING_MEMO)]
    conn = await asyncpg.connect(admin_database_url)
    # A failure after the number was taken: the UPDATE that stores it raises.
    await conn.execute(f"""
        CREATE FUNCTION explode() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.memo = '{FAILING_MEMO}' AND NEW.status <> 'draft' THEN
                RAISE EXCEPTION 'simulated failure after numbering';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER explode BEFORE UPDATE ON invoices FOR EACH ROW EXECUTE FUNCTION explode();
    """)
    everything = drafts + doomed
    responses = await asyncio.gather(
        *[billing.post(f"/invoices/{invoice_id}/finalize") for billing, invoice_id in everything]
    )
    codes = [r.status_code for r in responses]
    assert codes[: len(drafts)] == [200] * len(drafts)
    assert codes[len(drafts) :] == [500] * len(doomed)
    for billing, expected in ((first, 56), (second, 48)):
        rows = await conn.fetch(
            "SELECT sequence, number FROM invoices WHERE org_id = $1 AND status = 'open'",
            billing.org_id,
        )
        assert sorted(r["sequence"] for r in rows) == list(range(1, expected + 1))
        assert sorted(r["number"] for r in rows) == [f"INV-{n:06d}" for n in range(1, expected + 1)]
        counter = await conn.fetchval(
            "SELECT next_number FROM invoice_number_counters WHERE org_id = $1", billing.org_id
        )
        assert counter == expected + 1
    still_drafts = await conn.fetchval(
        "SELECT count(*) FROM invoices WHERE memo = $1 AND status = 'draft' AND number IS NULL",
        FAILING_MEMO,
    )
    assert still_drafts == len(doomed)
    await conn.execute("DROP TRIGGER explode ON invoices")
    await conn.close()
    # The next finalization continues the sequence: the failures left no gap.
    retried = await first.post(f"/invoices/{doomed[0][1]}/finalize")
    assert retried.json()["number"] == "INV-000057"


async def test_raised_next_number_continues_from_there(billing: Billing) -> None:
    raised = await billing.api.client.patch(
        billing.base, json={"next_invoice_number": 1000}, headers=billing.headers()
    )
    assert raised.status_code == 200
    [draft] = await _drafts(billing, 1)
    done = await billing.post(f"/invoices/{draft}/finalize")
    assert done.json()["number"] == "INV-001000"
