"""Generated invoices through the real server: every stored figure reconciles exactly and
matches the independent `decimal` reference of tests/test_money.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from penvoice.dev.issuer import LocalIssuer
from penvoice.dev.postgres import free_port
from penvoice.dev.roles import OWNER_ROLE
from tests.conftest import PostgresServer, app_environ
from tests.test_money import CURRENCIES, Rate, Spec, reference_invoice, specs

POOL = (
    Rate("vat", Decimal(20), True),
    Rate("qst", Decimal("9.975"), True),
    Rate("levy", Decimal(5), False),
    Rate("duty", Decimal("7.5"), False),
)
OWNER = "property-owner"

pytestmark = pytest.mark.slow


class Server:
    def __init__(self, base: str, issuer: LocalIssuer, admin_url: str) -> None:
        self.client = httpx.Client(base_url=base, timeout=30)
        self.issuer = issuer
        self.admin_url = admin_url
        self.org = ""
        self.customer = ""
        self.rate_ids: dict[str, str] = {}

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        token = self.issuer.mint_token(OWNER)
        return self.client.request(
            method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs
        )


@pytest.fixture(scope="module")
def server(
    postgres_server: PostgresServer, migrated_template: str, issuer: LocalIssuer
) -> Iterator[Server]:
    name = postgres_server.create_database(template=migrated_template, owner=OWNER_ROLE)
    port = free_port()
    environ = {
        **os.environ,
        **app_environ(postgres_server.app_url_for(name), issuer, HOST="127.0.0.1", PORT=str(port)),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "penvoice.cli", "serve"],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    running = Server(f"http://127.0.0.1:{port}", issuer, postgres_server.url_for(name))
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if running.client.get("/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        org = running.call("POST", "/v1/orgs", json={"name": "Property Ltd"}).json()
        running.org = f"/v1/orgs/{org['id']}"
        running.customer = running.call(
            "POST", f"{running.org}/customers", json={"name": "Buyer"}
        ).json()["id"]
        for rate in POOL:
            created = running.call(
                "POST",
                f"{running.org}/tax-rates",
                json={
                    "display_name": rate.key,
                    "percentage": str(rate.percentage),
                    "inclusive": rate.inclusive,
                },
            )
            running.rate_ids[rate.key] = created.json()["id"]
        yield running
    finally:
        running.client.close()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        postgres_server.drop_database(name)


def _line(spec: Spec, rate_ids: dict[str, str], index: int) -> dict[str, Any]:
    line: dict[str, Any] = {
        "description": f"line {index}",
        "quantity": str(spec.quantity),
        "unit_amount": spec.unit_amount,
        "tax_rate_ids": [rate_ids[rate.key] for rate in spec.rates],
    }
    if spec.discount_percent is not None:
        line["discount"] = {"percent": str(spec.discount_percent)}
    elif spec.discount_fixed is not None:
        line["discount"] = {"amount": spec.discount_fixed}
    return line


@st.composite
def invoices(draw: st.DrawFn) -> tuple[str, list[Spec], int]:
    currency = draw(st.sampled_from(CURRENCIES))
    lines = draw(st.lists(specs(POOL, st.integers(0, 10**9)), min_size=1, max_size=12))
    paid_share = draw(st.integers(0, 1000))
    return currency, lines, paid_share


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(invoices())
def test_stored_figures_match_the_reference_and_reconcile(
    server: Server, invoice: tuple[str, list[Spec], int]
) -> None:
    currency, lines, paid_share = invoice
    created = server.call(
        "POST",
        f"{server.org}/invoices",
        json={
            "customer_id": server.customer,
            "currency": currency,
            "lines": [_line(spec, server.rate_ids, i) for i, spec in enumerate(lines)],
        },
    )
    assert created.status_code == 201, created.text
    stored = created.json()
    expected = reference_invoice(lines, 0)
    for got, want in zip(stored["lines"], expected["lines"], strict=True):
        for figure in ("amount", "discount_amount", "net", "total"):
            assert got[figure] == want[figure], figure
        assert got["tax_amount"] == want["inclusive_tax"] + want["exclusive_tax"]
        by_name = {tax["display_name"]: tax["amount"] for tax in got["taxes"]}
        assert by_name == {key: amount for key, _, amount in want["taxes"]}
    for figure in ("subtotal", "tax_total", "total"):
        assert stored[figure] == expected[figure], figure
    paid = stored["total"] * paid_share // 1000
    if stored["total"] > 0:
        finalized = server.call("POST", f"{server.org}/invoices/{stored['id']}/finalize")
        assert finalized.status_code == 200, finalized.text
        if paid:
            payment = server.call(
                "POST",
                f"{server.org}/invoices/{stored['id']}/payments",
                json={
                    "amount": paid,
                    "currency": currency,
                    "paid_on": "2026-11-26",
                    "method": "cash",
                },
            )
            assert payment.status_code == 201, payment.text
    _assert_reconciles(server.admin_url, stored["id"], paid)


def _assert_reconciles(admin_url: str, invoice_id: str, paid: int) -> None:
    import asyncio

    async def check() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            head = await conn.fetchrow("SELECT * FROM invoices WHERE id = $1", invoice_id)
            sums = await conn.fetchrow(
                """SELECT sum(net) AS net, sum(total) AS total, sum(tax_amount) AS tax,
                          sum(total - net) AS exclusive,
                          bool_and(amount - discount_amount = net) AS nets_ok
                   FROM invoice_lines WHERE invoice_id = $1""",
                invoice_id,
            )
            line_taxes = await conn.fetchval(
                """SELECT coalesce(sum(t.amount), 0) FROM invoice_line_taxes t
                   JOIN invoice_lines l ON l.id = t.line_id WHERE l.invoice_id = $1""",
                invoice_id,
            )
        finally:
            await conn.close()
        assert head is not None
        assert sums is not None
        assert head["subtotal"] == sums["net"]
        assert head["total"] == sums["total"] == head["subtotal"] + sums["exclusive"]
        assert head["tax_total"] == sums["tax"] == line_taxes
        assert sums["nets_ok"] is True
        assert head["amount_paid"] == paid
        assert head["amount_due"] == head["total"] - paid

    asyncio.run(check())
