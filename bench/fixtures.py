"""Per-run fixtures (drafts to finalize, open invoices to pay, ids, deep cursors) and the
query plans of the repositories' own SQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from bench.seed import BENCH_SUBJECT
from penvoice import money
from penvoice.invoices import repository as invoices
from penvoice.invoices.repository import InvoiceFilters
from penvoice.pagination import encode_cursor
from penvoice.reports import repository as reports

FIXTURE_ACTOR = "bench-fixture"

# The 5 lines of a benchmark draft: description, quantity, unit amount, discount %, tax kind
# (1 = VAT 19 % exclusive, 2 = VAT 7 % exclusive, 0 = none).
DRAFT_LINES = [
    ("Design work", "2", 12500, None, 1),
    ("Development", "1.5", 8000, None, 0),
    ("Hosting (monthly)", "10", 2500, "10", 2),
    ("Licence fee", "1", 99900, None, 0),
    ("Consulting", "3", 4999, None, 1),
]
TAX_PERCENT = {1: Decimal(19), 2: Decimal(7)}


@dataclass
class Fixtures:
    orgs: dict[str, UUID]
    customer: UUID
    rates: dict[int, UUID]
    get_ids: dict[str, list[UUID]]
    list_cursors: dict[str, list[str]]
    drafts: list[UUID] = field(default_factory=list)
    open_invoices: list[UUID] = field(default_factory=list)
    pdf_invoice: UUID | None = None
    counts: dict[str, int] = field(default_factory=dict)
    # A customer and rates of the 1k organisation: the 1M one is past the storage quotas
    # (QUOTA_INVOICES_PER_ORG, issue 17), whose checks count up to the bound on every create.
    small_customer: UUID | None = None
    small_rates: dict[int, UUID] = field(default_factory=dict)

    def draft_body(self, small: bool = False) -> dict[str, Any]:
        rates = self.small_rates if small else self.rates
        return {
            "customer_id": str(self.small_customer if small else self.customer),
            "memo": "Benchmark draft",
            "lines": [
                {
                    "description": description,
                    "quantity": quantity,
                    "unit_amount": unit,
                    **({"discount": {"percent": percent}} if percent else {}),
                    "tax_rate_ids": [str(rates[kind])] if kind else [],
                }
                for description, quantity, unit, percent, kind in DRAFT_LINES
            ],
        }


async def prepare(admin_url: str, drafts: int, open_invoices: int) -> Fixtures:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute("SET statement_timeout = 0; SET work_mem = '256MB'")
        orgs = {
            name: await conn.fetchval("SELECT id FROM organisations WHERE name = $1", full)
            for name, full in (
                ("1M", "Bigcorp Studio GmbH"),
                ("100k", "Midsize Agency Ltd"),
                ("1k", "Small Shop"),
            )
        }
        big = orgs["1M"]
        customer = await conn.fetchval(
            "SELECT id FROM customers WHERE org_id = $1 AND currency IS NULL "
            "AND archived_at IS NULL ORDER BY created_at LIMIT 1",
            big,
        )
        rates = {
            kind: await conn.fetchval(
                "SELECT id FROM tax_rates WHERE org_id = $1 AND display_name = $2", big, name
            )
            for kind, name in ((1, "VAT 19%"), (2, "VAT 7%"))
        }
        get_ids = {
            "1M": await _ten_line_invoices(conn, big, 1000, sample_percent=2),
            "1k": await _ten_line_invoices(conn, orgs["1k"], 1000, sample_percent=100),
        }
        list_cursors = {
            "1M": await _deep_cursors(conn, big, 400_000, 450_000, 1000),
            "1k": await _deep_cursors(conn, orgs["1k"], 300, 350, 1),
        }
        fixtures = Fixtures(orgs, customer, rates, get_ids, list_cursors)
        fixtures.small_customer = await conn.fetchval(
            "SELECT id FROM customers WHERE org_id = $1 AND currency IS NULL "
            "AND archived_at IS NULL ORDER BY created_at LIMIT 1",
            orgs["1k"],
        )
        fixtures.small_rates = {
            kind: await conn.fetchval(
                "SELECT id FROM tax_rates WHERE org_id = $1 AND display_name = $2",
                orgs["1k"],
                name,
            )
            for kind, name in ((1, "VAT 19%"), (2, "VAT 7%"))
        }
        # Drafts left over from an earlier run are deleted; new ones are made for this one.
        await conn.execute(
            "DELETE FROM invoices WHERE org_id = $1 AND created_by = $2 AND status = 'draft'",
            big,
            FIXTURE_ACTOR,
        )
        fixtures.drafts = await _make_drafts(conn, fixtures, drafts)
        fixtures.open_invoices = [
            r["id"]
            for r in await conn.fetch(
                """SELECT id FROM invoices WHERE org_id = $1 AND status = 'open'
                   AND currency = 'EUR' AND amount_due >= 5000
                   ORDER BY created_at DESC LIMIT $2""",
                big,
                open_invoices,
            )
        ]
        fixtures.pdf_invoice = await conn.fetchval(
            """SELECT i.id FROM invoices i WHERE i.org_id = $1 AND i.status IN ('open', 'paid')
               AND (SELECT count(*) FROM invoice_lines l WHERE l.invoice_id = i.id) = 20
               AND EXISTS (SELECT FROM invoice_lines l JOIN invoice_line_taxes t
                           ON t.line_id = l.id WHERE l.invoice_id = i.id)
               ORDER BY i.created_at DESC LIMIT 1""",
            big,
        )
        fixtures.counts = {
            "invoices_in_1M_org": await conn.fetchval(
                "SELECT count(*) FROM invoices WHERE org_id = $1", big
            ),
            "invoices_in_100k_org": await conn.fetchval(
                "SELECT count(*) FROM invoices WHERE org_id = $1", orgs["100k"]
            ),
            "invoices_in_1k_org": await conn.fetchval(
                "SELECT count(*) FROM invoices WHERE org_id = $1", orgs["1k"]
            ),
        }
        return fixtures
    finally:
        await conn.close()


async def _ten_line_invoices(
    conn: asyncpg.Connection, org: UUID, limit: int, sample_percent: int
) -> list[UUID]:
    rows = await conn.fetch(
        f"""SELECT i.id FROM invoices i TABLESAMPLE SYSTEM ({sample_percent}) REPEATABLE (7)
            WHERE i.org_id = $1 AND i.status <> 'draft'
              AND (SELECT count(*) FROM invoice_lines l WHERE l.invoice_id = i.id) = 10
            LIMIT $2""",
        org,
        limit,
    )
    return [r["id"] for r in rows]


async def _deep_cursors(
    conn: asyncpg.Connection, org: UUID, first: int, last: int, step: int
) -> list[str]:
    """Cursors of `status=paid` pages that start `first` to `last` items down the chain."""
    rows = await conn.fetch(
        """SELECT created_at, id FROM (
               SELECT created_at, id,
                      row_number() OVER (ORDER BY created_at DESC, id DESC) AS position
               FROM invoices WHERE org_id = $1 AND status = 'paid') s
           WHERE position BETWEEN $2 AND $3 AND (position - $2) % $4 = 0
           ORDER BY position""",
        org,
        first,
        last,
        step,
    )
    return [encode_cursor(r["created_at"].isoformat(), r["id"]) for r in rows]


async def _make_drafts(conn: asyncpg.Connection, fixtures: Fixtures, count: int) -> list[UUID]:
    """`count` drafts of the 5 benchmark lines, priced by `penvoice.money`."""
    inputs = [
        money.LineInput(
            quantity=Decimal(quantity),
            unit_amount=unit,
            discount=money.Discount(percent=Decimal(percent)) if percent else None,
            taxes=(money.TaxRate(str(kind), TAX_PERCENT[kind], False),) if kind else (),
        )
        for _, quantity, unit, percent, kind in DRAFT_LINES
    ]
    figures = money.compute_invoice(inputs, currency="EUR")
    big = fixtures.orgs["1M"]
    async with conn.transaction():
        ids = [
            r["id"]
            for r in await conn.fetch(
                """INSERT INTO invoices (org_id, customer_id, currency, memo, subtotal, tax_total,
                       total, amount_paid, amount_due, created_by, created_at, updated_at)
                   SELECT $1, $2, 'EUR', 'Benchmark draft', $3, $4, $5, 0, $5, $6,
                          now() - interval '1 day', now() - interval '1 day'
                   FROM generate_series(1, $7) RETURNING id""",
                big,
                fixtures.customer,
                figures.subtotal,
                figures.tax_total,
                figures.total,
                FIXTURE_ACTOR,
                count,
            )
        ]
        for position, ((description, quantity, unit, percent, kind), line) in enumerate(
            zip(DRAFT_LINES, figures.lines, strict=True)
        ):
            await conn.execute(
                """WITH new_lines AS (
                       INSERT INTO invoice_lines (id, org_id, invoice_id, position, description,
                           quantity, unit_amount, discount_percent, amount, discount_amount, net,
                           tax_amount, total)
                       SELECT gen_random_uuid(), $1, invoice_id, $3, $4, $5, $6, $7, $8, $9,
                              $10, $11, $12
                       FROM unnest($2::uuid[]) AS invoice_id
                       RETURNING id)
                   INSERT INTO invoice_line_taxes (org_id, line_id, tax_rate_id, display_name,
                       percentage, inclusive, taxable_amount, amount, vat_category,
                       exemption_reason, exemption_code)
                   SELECT $1, new_lines.id, r.id, r.display_name, r.percentage, r.inclusive,
                          $10, $11, r.vat_category, r.exemption_reason, r.exemption_code
                   FROM new_lines JOIN tax_rates r ON r.id = $13""",
                big,
                ids,
                position,
                description,
                Decimal(quantity),
                unit,
                Decimal(percent) if percent else None,
                line.amount,
                line.discount_amount,
                line.net,
                line.exclusive_tax + line.inclusive_tax,
                line.total,
                fixtures.rates.get(kind),  # NULL: no tax row is inserted
            )
    return ids


# --- query plans -----------------------------------------------------------------------------


class _Recorder:
    """Stands in for the request's connection: records each query, answers with the real one."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.queries: list[tuple[str, tuple[Any, ...]]] = []

    async def fetch(self, query: str, *args: Any) -> Any:
        self.queries.append((query, args))
        return await self.conn.fetch(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> Any:
        self.queries.append((query, args))
        return await self.conn.fetchrow(query, *args)


async def plans(app_url: str, fixtures: Fixtures) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of the SQL the API runs for get, list and AR aging, as the
    app's role inside a tenant context (row-level security applies). Each statement is
    explained 7 times on one connection, as asyncpg's statement cache runs it: the first
    plan is a custom one; from the sixth on PostgreSQL may settle on a generic plan. Both
    are kept when they differ."""
    today = datetime.now(UTC).date()
    out: dict[str, Any] = {}
    conn = await asyncpg.connect(app_url)
    try:
        for label, org_key, work in [
            (
                "get invoice (1M org)",
                "1M",
                lambda c: _get(c, fixtures.orgs["1M"], fixtures.get_ids["1M"][0]),
            ),
            (
                "get invoice (1k org)",
                "1k",
                lambda c: _get(c, fixtures.orgs["1k"], fixtures.get_ids["1k"][0]),
            ),
            (
                "list 50 paid, deep cursor (1M org)",
                "1M",
                lambda c: _list(c, fixtures.orgs["1M"], fixtures.list_cursors["1M"][0]),
            ),
            (
                "list 50 paid, deep cursor (1k org)",
                "1k",
                lambda c: _list(c, fixtures.orgs["1k"], fixtures.list_cursors["1k"][0]),
            ),
            (
                "AR aging (1M org)",
                "1M",
                lambda c: reports.ar_aging(c, fixtures.orgs["1M"], today),
            ),
        ]:
            out[label] = await _explain(conn, fixtures.orgs[org_key], work)
    finally:
        await conn.close()
    return out


async def _get(conn: Any, org: UUID, invoice_id: UUID) -> None:
    await invoices.get_invoice(conn, org, invoice_id)
    await invoices.get_lines(conn, org, invoice_id)


async def _list(conn: Any, org: UUID, cursor: str) -> None:
    from penvoice.pagination import created_id_key, decode_cursor  # noqa: PLC0415

    after = decode_cursor(cursor, created_id_key)
    await invoices.list_invoices(conn, org, InvoiceFilters(status="paid"), limit=50, after=after)


async def _explain(
    conn: asyncpg.Connection, org: UUID, work: Callable[[Any], Awaitable[Any]]
) -> list[dict[str, Any]]:
    results = []
    transaction = conn.transaction()
    await transaction.start()
    try:
        await conn.execute(
            "SELECT set_config('penvoice.subject', $1, true), "
            "set_config('penvoice.org_id', $2, true)",
            BENCH_SUBJECT,
            str(org),
        )
        recorder = _Recorder(conn)
        await work(recorder)
        for query, args in recorder.queries:
            runs = []
            for _ in range(7):
                rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + query, *args)
                runs.append("\n".join(r[0] for r in rows))
            first, settled = runs[0], runs[-1]
            entry = {"query": " ".join(query.split()), "plan": settled}
            if _shape(first) != _shape(settled):
                entry["first_plan"] = first
            results.append(entry)
    finally:
        await transaction.rollback()  # read-only, but never leave anything behind
    return results


def _shape(plan: str) -> str:
    return "\n".join(line.split("(")[0] for line in plan.splitlines() if "Time" not in line)
