"""Seed the benchmark database with SQL only, fast, as the superuser.

The superuser bypasses row-level security. During the bulk load the invoicing tables'
primary keys, unique constraints, foreign keys and indexes are dropped and rebuilt
afterwards from their own definitions (`pg_get_constraintdef` / `pg_get_indexdef`), so the
schema ends up exactly as migrated; re-adding the foreign keys validates every reference.
`session_replication_role = replica` keeps the remaining triggers quiet during the load.

Every figure follows `penvoice.money` (half-up per line figure, then sum): a line's
quantity, unit amount, discount and tax choice come from integer hashes of
(invoice key, position), its figures are computed once into an unlogged staging table,
and the invoice totals are the sums of those lines. `verify` proves it (SQL over every
row, and `money.compute_invoice` over a random sample).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from penvoice import money

BENCH_SUBJECT = "bench-user"
SEED_VERSION = 3  # bump when the dataset's shape changes: --reuse then reseeds
KEY_STRIDE = 100_000_000  # invoice key k = org ordinal * KEY_STRIDE + n
LINE_STRIDE = 32  # line hash input = k * LINE_STRIDE + position

BULK_TABLES = ("invoices", "invoice_lines", "invoice_line_taxes", "payments", "events")

DESCRIPTIONS = [
    "Design work",
    "Development",
    "Consulting",
    "Project management",
    "Hosting (monthly)",
    "Support retainer",
    "Copywriting",
    "Photography",
    "Translation",
    "Training session",
    "Travel expenses",
    "Licence fee",
    "Illustration",
    "Code review",
    "Workshop facilitation",
    "Data migration",
]


@dataclass(frozen=True)
class OrgSpec:
    ordinal: int
    name: str
    invoices: int
    customers: int
    currency: str
    prefix: str
    terms: int


def org_specs(scale: float = 1.0) -> list[OrgSpec]:
    """22 organisations: 1,000,000 invoices (big), 100,000 (mid: the CSV export), 1,000
    (small: the 1M-versus-1k comparison) and 19 others of 500 to 3,500."""
    specs = [
        OrgSpec(0, "Bigcorp Studio GmbH", 1_000_000, 2000, "EUR", "BIG-", 30),
        OrgSpec(1, "Midsize Agency Ltd", 100_000, 500, "EUR", "MID-", 14),
        OrgSpec(2, "Small Shop", 1_000, 50, "EUR", "SML-", 14),
    ]
    for i in range(3, 22):
        specs.append(
            OrgSpec(
                i,
                f"Freelancer {i:02d}",
                500 * (i % 7 + 1),
                30 + 10 * (i % 17),
                "USD" if i % 5 == 0 else "EUR",
                f"F{i:02d}-",
                14 if i % 2 else 30,
            )
        )
    if scale != 1.0:
        specs = [
            OrgSpec(
                s.ordinal,
                s.name,
                max(20, int(s.invoices * scale)),
                max(5, int(s.customers * max(scale, 0.05))),
                s.currency,
                s.prefix,
                s.terms,
            )
            for s in specs
        ]
    return specs


def _h(expr: str, salt: int, modulo: int) -> str:
    """A non-negative pseudo-random int in [0, modulo) from an integer hash of `expr`."""
    return f"((hashint8extended(({expr})::bigint, {salt}) & 1073741823) % {modulo})"


# The figures of one line, as `money.compute_line` computes them for the stored inputs.
_LINE_INPUTS = f"""
    CASE WHEN {_h("lk", 1, 5)} = 0 THEN ({_h("lk", 2, 40)} + 1) * 0.25
         ELSE {_h("lk", 2, 10)} + 1 END::numeric(16, 4) AS quantity,
    (({_h("lk", 3, 400)} + 1) * 250)::bigint AS unit_amount,
    {_h("lk", 4, 100)} AS discount_pick,
    {_h("lk", 5, 100)} AS tax_pick
"""

STAGE_LINES = f"""
INSERT INTO bench_line
SELECT k, org_ord, invoice_id, position, description, quantity, unit_amount,
       discount_percent, discount_fixed, amount, discount_amount, net, tax_kind,
       CASE WHEN tax_kind = 3 THEN round(net * 20 / 120.0)::bigint
            WHEN tax_kind = 1 THEN round(net * 19 / 100.0)::bigint
            WHEN tax_kind = 2 THEN round(net * 7 / 100.0)::bigint
            ELSE 0 END AS tax_amount
FROM (
    SELECT k, org_ord, invoice_id, position, description, quantity, unit_amount,
           discount_percent, discount_fixed, amount, tax_kind,
           CASE WHEN discount_percent IS NOT NULL
                    THEN round(amount * discount_percent / 100)::bigint
                WHEN discount_fixed IS NOT NULL THEN discount_fixed
                ELSE 0 END AS discount_amount,
           amount - CASE WHEN discount_percent IS NOT NULL
                             THEN round(amount * discount_percent / 100)::bigint
                         WHEN discount_fixed IS NOT NULL THEN discount_fixed
                         ELSE 0 END AS net
    FROM (
        SELECT k, org_ord, invoice_id, position, description, quantity, unit_amount,
               round(quantity * unit_amount)::bigint AS amount,
               CASE WHEN discount_pick < 8 THEN 10::numeric(7, 4)
                    WHEN discount_pick < 10 THEN 12.5::numeric(7, 4) END AS discount_percent,
               CASE WHEN discount_pick BETWEEN 10 AND 11
                    THEN round(quantity * unit_amount)::bigint / 4 END AS discount_fixed,
               CASE WHEN tax_pick < 30 THEN 1 WHEN tax_pick < 38 THEN 2
                    WHEN tax_pick < 40 THEN 3 ELSE 0 END AS tax_kind
        FROM (
            SELECT i.k, i.org_ord, i.id AS invoice_id, p.position,
                   (ARRAY{DESCRIPTIONS!r})[{_h("i.k * 32 + p.position", 6, len(DESCRIPTIONS))} + 1]
                       || ' #' || (p.position + 1) AS description,
                   {_LINE_INPUTS}
            FROM bench_inv i
            CROSS JOIN LATERAL generate_series(0, i.nlines - 1) AS p(position)
            CROSS JOIN LATERAL (SELECT i.k * {LINE_STRIDE} + p.position AS lk) AS key
            WHERE i.k % $2 = $1
        ) inputs
    ) priced
) figured
"""


async def _parallel(
    url: str,
    sql: str,
    parts: int,
    setup: str = "",
    args: Callable[[int], tuple[Any, ...]] | None = None,
) -> None:
    """Run `sql` (with $1 = part, $2 = parts) on `parts` connections at once."""

    async def one(part: int) -> None:
        conn = await asyncpg.connect(url)
        try:
            if setup:
                await conn.execute(setup)
            await conn.execute(sql, *(args(part) if args else (part, parts)))
        finally:
            await conn.close()

    await asyncio.gather(*(one(part) for part in range(parts)))


SESSION_SETUP = """SET session_replication_role = replica;
SET maintenance_work_mem = '512MB'; SET work_mem = '256MB';
SET synchronous_commit = off; SET statement_timeout = 0; SET TimeZone = 'UTC'"""


async def seed(url: str, scale: float = 1.0, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Load the dataset into the (migrated, empty) database at `url` (a superuser URL)."""
    started = time.monotonic()
    timings: dict[str, float] = {}
    specs = org_specs(scale)

    async def step(name: str, work: Awaitable[Any]) -> None:
        t0 = time.monotonic()
        await work
        timings[name] = round(time.monotonic() - t0, 1)
        log(f"  seed: {name} {timings[name]}s")

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(SESSION_SETUP)
        ddl = await _drop_bulk_constraints(conn)
        await step("organisations, customers, tax rates", _seed_parties(conn, specs))
        await step("invoice plan", _plan_invoices(conn))
        await step(
            "line figures (staging)",
            _parallel(url, STAGE_LINES, 2, SESSION_SETUP),
        )
        await step("invoice totals", _totals(conn))
        await step("invoices", _insert_invoices(conn))
        await step(
            "invoice lines",
            _parallel(
                url,
                """INSERT INTO invoice_lines (id, org_id, invoice_id, position, description,
                       quantity, unit_amount, discount_percent, discount_fixed, amount,
                       discount_amount, net, tax_amount, total)
                   SELECT gen_random_uuid(), o.id, l.invoice_id, l.position, l.description,
                       l.quantity, l.unit_amount, l.discount_percent, l.discount_fixed,
                       l.amount, l.discount_amount, l.net, l.tax_amount,
                       l.net + CASE WHEN l.tax_kind IN (1, 2) THEN l.tax_amount ELSE 0 END
                   FROM bench_line l JOIN bench_org o ON o.ord = l.org_ord
                   WHERE l.k % $2 = $1
                   ORDER BY l.k, l.position""",
                2,
                SESSION_SETUP,
            ),
        )
        await step("line taxes", _line_taxes(url))
        await step("payments", _payments(conn))
        await step("events", _events(conn))
        await step("number counters", _counters(conn))
        await step("usage rows", _usage(conn))
        await step("constraints and indexes rebuilt", _restore(conn, ddl))
        await conn.execute(
            "DROP TABLE bench_line, bench_inv, bench_agg, bench_cust, bench_rate, bench_org"
        )
    finally:
        await conn.close()
    await step("vacuum analyze", _vacuum(url))
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CHECKPOINT")
        counts = await table_counts(conn)
        size = await conn.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
        size_bytes = await conn.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await conn.close()
    return {
        "seconds": round(time.monotonic() - started, 1),
        "steps": timings,
        "rows": counts,
        "database_size": size,
        "database_bytes": size_bytes,
        "organisations": [spec.__dict__ for spec in specs],
    }


async def table_counts(conn: asyncpg.Connection) -> dict[str, int]:
    counts = {}
    for table in (
        "organisations",
        "memberships",
        "customers",
        "tax_rates",
        "invoices",
        "invoice_lines",
        "invoice_line_taxes",
        "payments",
        "events",
    ):
        counts[table] = await conn.fetchval(f"SELECT count(*) FROM {table}")
    return counts


async def _drop_bulk_constraints(conn: asyncpg.Connection) -> list[str]:
    """Drop keys, foreign keys and indexes of the bulk tables; return the DDL to restore."""
    tables = list(BULK_TABLES)
    fks = await conn.fetch(
        """SELECT c.conrelid::regclass::text AS tbl, c.conname, pg_get_constraintdef(c.oid) AS def
           FROM pg_constraint c
           WHERE c.contype = 'f' AND (c.conrelid::regclass::text = ANY($1)
                                      OR c.confrelid::regclass::text = ANY($1))
           ORDER BY c.conname""",
        tables,
    )
    keys = await conn.fetch(
        """SELECT c.conrelid::regclass::text AS tbl, c.conname, pg_get_constraintdef(c.oid) AS def
           FROM pg_constraint c
           WHERE c.contype IN ('p', 'u') AND c.conrelid::regclass::text = ANY($1)
           ORDER BY c.contype, c.conname""",
        tables,
    )
    indexes = await conn.fetch(
        """SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
           FROM pg_index i
           WHERE i.indrelid::regclass::text = ANY($1)
             AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid)
           ORDER BY 1""",
        tables,
    )
    for fk in fks:
        await conn.execute(f'ALTER TABLE {fk["tbl"]} DROP CONSTRAINT "{fk["conname"]}"')
    for key in keys:
        await conn.execute(f'ALTER TABLE {key["tbl"]} DROP CONSTRAINT "{key["conname"]}"')
    for index in indexes:
        await conn.execute(f"DROP INDEX {index['name']}")
    restore = [f'ALTER TABLE {k["tbl"]} ADD CONSTRAINT "{k["conname"]}" {k["def"]}' for k in keys]
    restore += [index["def"] for index in indexes]
    restore += [f'ALTER TABLE {f["tbl"]} ADD CONSTRAINT "{f["conname"]}" {f["def"]}' for f in fks]
    return restore


async def _restore(conn: asyncpg.Connection, ddl: list[str]) -> None:
    await conn.execute("SET session_replication_role = origin")
    for statement in ddl:
        await conn.execute(statement)


async def _seed_parties(conn: asyncpg.Connection, specs: list[OrgSpec]) -> None:
    await conn.execute(
        """CREATE UNLOGGED TABLE bench_org (ord int PRIMARY KEY, id uuid NOT NULL,
               name text, invoices int, customers int, currency char(3), prefix text, terms int,
               address text, tax_id text);
           CREATE UNLOGGED TABLE bench_cust (org_ord int, ord int, id uuid, currency char(3),
               name text, email text, billing_address text, tax_id text,
               PRIMARY KEY (org_ord, ord));
           CREATE UNLOGGED TABLE bench_rate (org_ord int, kind int, id uuid,
               display_name text, percentage numeric(7, 4), inclusive boolean,
               PRIMARY KEY (org_ord, kind))"""
    )
    await conn.executemany(
        """INSERT INTO bench_org (ord, id, name, invoices, customers, currency, prefix, terms,
               address, tax_id)
           VALUES ($1::int, gen_random_uuid(), $2, $3, $4, $5, $6, $7,
                   $1::int || ' Market Street, 10115 Berlin',
                   'DE' || lpad(($1::int * 7919)::text, 9, '0'))""",
        [
            (s.ordinal, s.name, s.invoices, s.customers, s.currency, s.prefix, s.terms)
            for s in specs
        ],
    )
    await conn.execute(
        f"""
        INSERT INTO organisations (id, name, address, tax_id, default_currency,
            payment_terms_days, invoice_prefix, created_at, updated_at)
        SELECT id, name, address, tax_id, currency, terms, prefix,
               now() - interval '1100 days', now() - interval '1100 days'
        FROM bench_org ORDER BY ord;

        INSERT INTO memberships (org_id, subject, role, created_at)
        SELECT id, 'seed-owner-' || ord, 'owner', now() - interval '1100 days' FROM bench_org
        UNION ALL
        SELECT id, 'seed-user-' || ord || '-' || u, 'member', now() - interval '1000 days'
        FROM bench_org, generate_series(1, 2) u
        UNION ALL
        SELECT id, '{BENCH_SUBJECT}', 'member', now() - interval '900 days'
        FROM bench_org WHERE ord IN (0, 1, 2);

        INSERT INTO bench_cust (org_ord, ord, id, currency, name, email, billing_address, tax_id)
        SELECT o.ord, c, gen_random_uuid(),
               CASE WHEN o.currency = 'EUR' AND c % 10 = 3 THEN 'USD' END,
               'Customer ' || lpad(c::text, 5, '0') || CASE c % 3 WHEN 0 THEN ' GmbH'
                   WHEN 1 THEN ' Ltd' ELSE ' SARL' END,
               CASE WHEN c % 8 <> 7 THEN 'ap+' || c || '@customer' || c || '.example' END,
               c || ' Customer Road, ' || (10000 + c) || ' Hamburg',
               CASE WHEN c % 2 = 0 THEN 'DE' || lpad((c * 104729 % 1000000000)::text, 9, '0')
                    ELSE '' END
        FROM bench_org o, generate_series(0, o.customers - 1) c;

        INSERT INTO customers (id, org_id, name, email, billing_address, tax_id, currency,
            created_at, updated_at)
        SELECT c.id, o.id, c.name, c.email, c.billing_address, c.tax_id, c.currency,
               now() - interval '1100 days' + c.ord * interval '1 hour',
               now() - interval '1100 days' + c.ord * interval '1 hour'
        FROM bench_cust c JOIN bench_org o ON o.ord = c.org_ord
        ORDER BY c.org_ord, c.ord;

        INSERT INTO bench_rate (org_ord, kind, id, display_name, percentage, inclusive)
        SELECT o.ord, r.kind, gen_random_uuid(), r.display_name, r.percentage, r.inclusive
        FROM bench_org o, (VALUES (1, 'VAT 19%', 19.0, false), (2, 'VAT 7%', 7.0, false),
                                  (3, 'VAT 20% incl.', 20.0, true))
             AS r(kind, display_name, percentage, inclusive);

        INSERT INTO tax_rates (id, org_id, display_name, percentage, inclusive, created_at,
            updated_at)
        SELECT r.id, o.id, r.display_name, r.percentage, r.inclusive,
               now() - interval '1100 days', now() - interval '1100 days'
        FROM bench_rate r JOIN bench_org o ON o.ord = r.org_ord
        ORDER BY r.org_ord, r.kind;
        """
    )


async def _plan_invoices(conn: asyncpg.Connection) -> None:
    """One row per invoice: ids, customer, dates, status and how it will be paid."""
    await conn.execute(
        f"""
        CREATE UNLOGGED TABLE bench_inv AS
        WITH base AS (
            SELECT o.ord * {KEY_STRIDE}::bigint + n AS k, o.ord AS org_ord, o.id AS org_id, n,
                   o.invoices, o.terms, o.prefix,
                   -- spread over the last 1,095 days, oldest first, ending an hour ago
                   now() - interval '1 hour'
                       - (o.invoices - n) * (interval '1095 days' / o.invoices)
                       - {_h(f"o.ord * {KEY_STRIDE}::bigint + n", 11, 3600)} * interval '1 second'
                       AS created_at,
                   {_h(f"o.ord * {KEY_STRIDE}::bigint + n", 12, 1000)} AS status_pick,
                   {_h(f"o.ord * {KEY_STRIDE}::bigint + n", 13, 1000)} AS pay_pick,
                   {_h(f"o.ord * {KEY_STRIDE}::bigint + n", 14, 20)} + 1 AS nlines,
                   {_h(f"o.ord * {KEY_STRIDE}::bigint + n", 15, 1000000)} AS cust_pick
            FROM bench_org o, generate_series(1, o.invoices) n
        ),
        aged AS (
            SELECT b.*, (current_date - b.created_at::date) AS age,
                   CASE
                       WHEN current_date - b.created_at::date <= 45 THEN
                           CASE WHEN status_pick < 100 THEN 'draft'
                                WHEN status_pick < 650 THEN 'open' ELSE 'paid' END
                       WHEN current_date - b.created_at::date <= 120 THEN
                           CASE WHEN status_pick < 20 THEN 'void'
                                WHEN status_pick < 170 THEN 'open' ELSE 'paid' END
                       ELSE
                           CASE WHEN status_pick < 20 THEN 'void'
                                WHEN status_pick < 35 THEN 'uncollectible'
                                WHEN status_pick < 50 THEN 'open' ELSE 'paid' END
                   END AS status
            FROM base b
        )
        SELECT a.k, a.org_ord, a.org_id, a.n, gen_random_uuid() AS id,
               c.id AS customer_id, coalesce(c.currency, o.currency) AS currency,
               a.nlines, a.status, a.created_at, a.pay_pick, a.terms, a.prefix,
               CASE WHEN a.status <> 'draft' THEN a.created_at + interval '10 minutes' END
                   AS finalized_at,
               CASE WHEN a.status <> 'draft'
                    THEN (a.created_at + interval '10 minutes')::date END AS issue_date
        FROM aged a
        JOIN bench_org o ON o.ord = a.org_ord
        JOIN bench_cust c ON c.org_ord = a.org_ord AND c.ord = a.cust_pick % o.customers;

        ALTER TABLE bench_inv ADD COLUMN sequence bigint, ADD COLUMN due_date date;
        UPDATE bench_inv i SET sequence = s.seq, due_date = i.issue_date + i.terms
        FROM (SELECT k, row_number() OVER (PARTITION BY org_ord ORDER BY created_at, k) AS seq
              FROM bench_inv WHERE status <> 'draft') s
        WHERE s.k = i.k;
        CREATE UNLOGGED TABLE bench_line (k bigint, org_ord int, invoice_id uuid, position int,
            description text, quantity numeric(16, 4), unit_amount bigint,
            discount_percent numeric(7, 4), discount_fixed bigint, amount bigint,
            discount_amount bigint, net bigint, tax_kind int, tax_amount bigint);
        """
    )


async def _totals(conn: asyncpg.Connection) -> None:
    await conn.execute(
        """CREATE UNLOGGED TABLE bench_agg AS
           SELECT k, sum(net)::bigint AS subtotal, sum(tax_amount)::bigint AS tax_total,
                  sum(net + CASE WHEN tax_kind IN (1, 2) THEN tax_amount ELSE 0 END)::bigint
                      AS total
           FROM bench_line GROUP BY k;
           ALTER TABLE bench_agg ADD PRIMARY KEY (k);
           -- How each invoice is paid: payments (1 or 2, or 1 partial), their dates and sums.
           ALTER TABLE bench_inv ADD COLUMN total bigint, ADD COLUMN pay1 bigint,
               ADD COLUMN pay1_on date, ADD COLUMN pay2 bigint, ADD COLUMN pay2_on date,
               ADD COLUMN paid_at timestamptz, ADD COLUMN voided_at timestamptz,
               ADD COLUMN uncollectible_at timestamptz;
           UPDATE bench_inv i SET total = a.total FROM bench_agg a WHERE a.k = i.k;
           UPDATE bench_inv SET
               pay1 = CASE
                   WHEN status = 'paid' AND pay_pick < 250 THEN total / 2
                   WHEN status = 'paid' THEN total
                   WHEN status = 'open' AND pay_pick < 300 THEN greatest(1, round(total * 0.4))
                   WHEN status = 'uncollectible' AND pay_pick < 200
                       THEN greatest(1, round(total * 0.25)) END,
               pay2 = CASE WHEN status = 'paid' AND pay_pick < 250 THEN total - total / 2 END
           WHERE status IN ('paid', 'open', 'uncollectible');
           -- Paid invoices are paid 0 to terms + 20 days after issue (never in the future);
           -- a second payment comes halfway.
           UPDATE bench_inv SET
               pay2_on = CASE WHEN pay2 IS NOT NULL
                   THEN least(current_date, issue_date + (pay_pick % (terms + 21))::int) END,
               pay1_on = CASE
                   WHEN pay2 IS NOT NULL
                       THEN least(current_date, issue_date + ((pay_pick % (terms + 21)) / 2)::int)
                   WHEN pay1 IS NOT NULL
                       THEN least(current_date, issue_date + (pay_pick % (terms + 21))::int) END
           WHERE pay1 IS NOT NULL;
           UPDATE bench_inv SET
               paid_at = CASE WHEN status = 'paid'
                   THEN least(now() - interval '1 minute',
                              coalesce(pay2_on, pay1_on) + interval '12 hours') END,
               voided_at = CASE WHEN status = 'void'
                   THEN least(now() - interval '1 minute',
                              finalized_at + (pay_pick % 10) * interval '1 day') END,
               uncollectible_at = CASE WHEN status = 'uncollectible'
                   THEN least(now() - interval '1 minute', due_date + interval '60 days') END
           WHERE status IN ('paid', 'void', 'uncollectible');
           -- A payment is never dated before its invoice was finalized.
           UPDATE bench_inv SET pay1_on = greatest(pay1_on, finalized_at::date)
           WHERE pay1 IS NOT NULL;
        """
    )


async def _insert_invoices(conn: asyncpg.Connection) -> None:
    await conn.execute(
        """
        INSERT INTO invoices (id, org_id, customer_id, status, currency, number, sequence,
            issue_date, due_date, memo, subtotal, tax_total, total, amount_paid, amount_due,
            org_snapshot, customer_snapshot, version, created_at, created_by, updated_at,
            finalized_at, finalized_by, paid_at, voided_at, voided_by, uncollectible_at,
            uncollectible_by)
        SELECT i.id, i.org_id, i.customer_id, i.status, i.currency,
               CASE WHEN i.sequence IS NOT NULL
                    THEN i.prefix
                         || lpad(i.sequence::text, greatest(6, length(i.sequence::text)), '0')
               END,
               i.sequence, i.issue_date, i.due_date,
               CASE WHEN i.pay_pick % 4 = 0 THEN 'PO ' || (i.k % 100000) ELSE '' END,
               a.subtotal, a.tax_total, a.total,
               coalesce(i.pay1, 0) + coalesce(i.pay2, 0),
               a.total - coalesce(i.pay1, 0) - coalesce(i.pay2, 0),
               CASE WHEN i.status <> 'draft' THEN jsonb_build_object(
                   'name', o.name, 'address', o.address, 'tax_id', o.tax_id) END,
               CASE WHEN i.status <> 'draft' THEN jsonb_build_object(
                   'name', c.name, 'email', c.email, 'billing_address', c.billing_address,
                   'tax_id', c.tax_id) END,
               CASE WHEN i.status = 'draft' THEN 1 ELSE 3 END
                   + (i.pay1 IS NOT NULL)::int + (i.pay2 IS NOT NULL)::int
                   + (i.status IN ('void', 'uncollectible'))::int,
               i.created_at,
               'seed-user-' || i.org_ord || '-' || (1 + i.pay_pick % 2),
               greatest(i.created_at, i.finalized_at, i.paid_at, i.voided_at,
                        i.uncollectible_at,
                        coalesce(i.pay2_on, i.pay1_on) + interval '12 hours'),
               i.finalized_at,
               CASE WHEN i.finalized_at IS NOT NULL
                    THEN 'seed-user-' || i.org_ord || '-' || (1 + i.pay_pick % 2) END,
               i.paid_at, i.voided_at,
               CASE WHEN i.voided_at IS NOT NULL THEN 'seed-owner-' || i.org_ord END,
               i.uncollectible_at,
               CASE WHEN i.uncollectible_at IS NOT NULL THEN 'seed-owner-' || i.org_ord END
        FROM bench_inv i
        JOIN bench_agg a ON a.k = i.k
        JOIN bench_org o ON o.ord = i.org_ord
        JOIN bench_cust c ON c.id = i.customer_id AND c.org_ord = i.org_ord
        ORDER BY i.created_at
        """
    )


async def _line_taxes(url: str) -> None:
    await _parallel(
        url,
        """INSERT INTO invoice_line_taxes (org_id, line_id, tax_rate_id, display_name,
               percentage, inclusive, taxable_amount, amount)
           SELECT l.org_id, l.id, r.id, r.display_name, r.percentage, r.inclusive,
                  CASE WHEN r.inclusive THEN l.net - l.tax_amount ELSE l.net END, l.tax_amount
           FROM invoice_lines l
           JOIN bench_inv i ON i.id = l.invoice_id
           JOIN bench_line s ON s.k = i.k AND s.position = l.position
           JOIN bench_rate r ON r.org_ord = i.org_ord AND r.kind = s.tax_kind
           WHERE s.tax_kind > 0 AND i.k % $2 = $1""",
        2,
        SESSION_SETUP + "; SET enable_nestloop = off",
    )


async def _payments(conn: asyncpg.Connection) -> None:
    await conn.execute(
        """
        INSERT INTO payments (org_id, invoice_id, amount, currency, paid_on, method, reference,
            created_at, created_by)
        SELECT org_id, id, amount, currency, paid_on,
               CASE WHEN pay_pick % 3 = 0 THEN 'card' ELSE 'bank_transfer' END,
               CASE WHEN pay_pick % 2 = 0 THEN 'REF-' || k ELSE '' END,
               least(now() - interval '2 minutes', paid_on + interval '11 hours'),
               'seed-user-' || org_ord || '-1'
        FROM (
            SELECT org_id, id, k, org_ord, currency, pay_pick, pay1 AS amount, pay1_on AS paid_on
            FROM bench_inv WHERE pay1 IS NOT NULL
            UNION ALL
            SELECT org_id, id, k, org_ord, currency, pay_pick, pay2, pay2_on
            FROM bench_inv WHERE pay2 IS NOT NULL
        ) p
        ORDER BY paid_on, k
        """
    )


async def _events(conn: asyncpg.Connection) -> None:
    """The audit trail the app would have written: created, finalized, payments, paid, void."""
    await conn.execute(
        """
        INSERT INTO events (org_id, type, actor, subject_type, subject_id, data, created_at)
        SELECT org_id, type, actor, subject_type, subject_id, data, at FROM (
            SELECT i.org_id, 'invoice.created' AS type, v.created_by AS actor,
                   'invoice' AS subject_type, i.id::text AS subject_id,
                   jsonb_build_object('total', v.total, 'currency', v.currency) AS data,
                   v.created_at AS at
            FROM bench_inv i JOIN invoices v ON v.id = i.id
            UNION ALL
            SELECT i.org_id, 'invoice.finalized', v.finalized_by, 'invoice', i.id::text,
                   jsonb_build_object('number', v.number, 'total', v.total), v.finalized_at
            FROM bench_inv i JOIN invoices v ON v.id = i.id WHERE v.finalized_at IS NOT NULL
            UNION ALL
            SELECT p.org_id, 'payment.recorded', p.created_by, 'payment', p.id::text,
                   jsonb_build_object('invoice_id', p.invoice_id::text, 'amount', p.amount),
                   p.created_at
            FROM payments p
            UNION ALL
            SELECT i.org_id, 'invoice.paid', v.created_by, 'invoice', i.id::text,
                   jsonb_build_object('number', v.number), v.paid_at
            FROM bench_inv i JOIN invoices v ON v.id = i.id WHERE v.status = 'paid'
            UNION ALL
            SELECT i.org_id, 'invoice.voided', v.voided_by, 'invoice', i.id::text,
                   jsonb_build_object('number', v.number), v.voided_at
            FROM bench_inv i JOIN invoices v ON v.id = i.id WHERE v.status = 'void'
            UNION ALL
            SELECT i.org_id, 'invoice.marked_uncollectible', v.uncollectible_by, 'invoice',
                   i.id::text, jsonb_build_object('number', v.number), v.uncollectible_at
            FROM bench_inv i JOIN invoices v ON v.id = i.id WHERE v.status = 'uncollectible'
        ) e
        ORDER BY at
        """
    )


async def _counters(conn: asyncpg.Connection) -> None:
    await conn.execute(
        """INSERT INTO invoice_number_counters (org_id, next_number)
           SELECT o.id, coalesce(max(i.sequence), 0) + 1
           FROM bench_org o LEFT JOIN bench_inv i ON i.org_ord = o.ord
           GROUP BY o.id"""
    )


async def _usage(conn: asyncpg.Connection) -> None:
    """The quotas' per-organisation counts (migration 000025), which the triggers silenced
    by `session_replication_role = replica` did not keep during the load."""
    await conn.execute(
        """INSERT INTO organisation_usage AS u (org_id, invoices, lines)
           SELECT o.id, coalesce(i.n, 0), coalesce(l.n, 0)
           FROM bench_org o
           LEFT JOIN (SELECT org_ord, count(*) AS n FROM bench_inv GROUP BY 1) i
                  ON i.org_ord = o.ord
           LEFT JOIN (SELECT org_ord, count(*) AS n FROM bench_line GROUP BY 1) l
                  ON l.org_ord = o.ord
           ON CONFLICT (org_id) DO UPDATE SET invoices = excluded.invoices,
                                              lines = excluded.lines"""
    )


async def _vacuum(url: str) -> None:
    async def one(tables: list[str]) -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("SET maintenance_work_mem = '512MB'")
            for table in tables:
                await conn.execute(f"VACUUM (ANALYZE) {table}")
        finally:
            await conn.close()

    await asyncio.gather(
        one(["invoice_lines"]),
        one(
            [
                "invoices",
                "invoice_line_taxes",
                "payments",
                "events",
                "customers",
                "tax_rates",
                "organisations",
                "memberships",
                "invoice_number_counters",
            ]
        ),
    )


# --- verification --------------------------------------------------------------------------

CHECKS = {
    "invoice totals are the sums of their lines": """
        SELECT count(*) FROM invoices i JOIN (
            SELECT invoice_id, sum(net) AS subtotal, sum(tax_amount) AS tax_total,
                   sum(total) AS total
            FROM invoice_lines GROUP BY invoice_id) l ON l.invoice_id = i.id
        WHERE (i.subtotal, i.tax_total, i.total) <> (l.subtotal, l.tax_total, l.total)""",
    "every invoice has 1 to 20 lines": """
        SELECT count(*) FROM invoices i LEFT JOIN (
            SELECT invoice_id, count(*) AS n FROM invoice_lines GROUP BY invoice_id) l
            ON l.invoice_id = i.id
        WHERE coalesce(l.n, 0) NOT BETWEEN 1 AND 20""",
    "line figures: net = amount - discount, total = net + exclusive taxes": """
        SELECT count(*) FROM invoice_lines l LEFT JOIN (
            SELECT line_id, sum(amount) FILTER (WHERE NOT inclusive) AS exclusive,
                   sum(amount) AS tax FROM invoice_line_taxes GROUP BY line_id) t
            ON t.line_id = l.id
        WHERE l.net <> l.amount - l.discount_amount
           OR l.total <> l.net + coalesce(t.exclusive, 0)
           OR l.tax_amount <> coalesce(t.tax, 0)""",
    "amount_paid is the sum of live payments, amount_due = total - paid": """
        SELECT count(*) FROM invoices i LEFT JOIN (
            SELECT invoice_id, sum(amount) AS paid FROM payments WHERE deleted_at IS NULL
            GROUP BY invoice_id) p ON p.invoice_id = i.id
        WHERE i.amount_paid <> coalesce(p.paid, 0) OR i.amount_due <> i.total - i.amount_paid""",
    "paid invoices owe nothing, open ones owe something, void ones had no payment": """
        SELECT count(*) FROM invoices
        WHERE (status = 'paid') <> (amount_due = 0 AND status <> 'void' AND status <> 'draft')
           OR (status = 'void' AND amount_paid <> 0)
           OR (status = 'draft' AND amount_paid <> 0)""",
    "numbers are gapless per organisation and match the counter": """
        SELECT count(*) FROM (
            SELECT o.id, c.next_number, count(i.sequence) AS n, min(i.sequence) AS lo,
                   max(i.sequence) AS hi, count(DISTINCT i.sequence) AS distinct_n
            FROM organisations o
            JOIN invoice_number_counters c ON c.org_id = o.id
            LEFT JOIN invoices i ON i.org_id = o.id AND i.status <> 'draft'
            GROUP BY o.id, c.next_number) s
        WHERE n <> distinct_n OR coalesce(hi, 0) <> n OR (n > 0 AND lo <> 1)
           OR next_number <> n + 1""",
    "numbers are prefix + zero-padded sequence, drafts have none": """
        SELECT count(*) FROM invoices i JOIN organisations o ON o.id = i.org_id
        WHERE (i.status = 'draft') <> (i.number IS NULL)
           OR (i.number IS NOT NULL AND i.number <> o.invoice_prefix
               || lpad(i.sequence::text, greatest(6, length(i.sequence::text)), '0'))""",
    "payments are dated between finalization and today": """
        SELECT count(*) FROM payments p JOIN invoices i ON i.id = p.invoice_id
        WHERE p.paid_on < i.finalized_at::date OR p.paid_on > current_date
           OR (i.status = 'paid' AND p.paid_on > i.paid_at::date)""",
    "usage rows count what each organisation stores": """
        SELECT count(*) FROM organisations o
        LEFT JOIN organisation_usage u ON u.org_id = o.id
        LEFT JOIN (SELECT org_id, count(*) AS n FROM invoices GROUP BY 1) i ON i.org_id = o.id
        LEFT JOIN (SELECT org_id, count(*) AS n FROM invoice_lines GROUP BY 1) l
               ON l.org_id = o.id
        WHERE coalesce(u.invoices, 0) <> coalesce(i.n, 0)
           OR coalesce(u.lines, 0) <> coalesce(l.n, 0)""",
}


async def verify(url: str, sample: int = 300, log: Callable[[str], None] = print) -> dict[str, Any]:
    """SQL checks over every row, and `money.compute_invoice` over a random sample."""
    results: dict[str, Any] = {}
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SET work_mem = '256MB'; SET statement_timeout = 0")
        for name, sql in CHECKS.items():
            t0 = time.monotonic()
            bad = await conn.fetchval(sql)
            results[name] = bad
            log(f"  verify: {name}: {bad} bad rows ({time.monotonic() - t0:.1f}s)")
        results["money.compute_invoice sample"] = await _verify_sample(conn, sample)
        log(f"  verify: money sample of {sample}: {results['money.compute_invoice sample']} bad")
    finally:
        await conn.close()
    results["ok"] = all(v == 0 for v in results.values())
    return results


async def _verify_sample(conn: asyncpg.Connection, sample: int) -> int:
    ids = await conn.fetch(
        "SELECT id FROM invoices TABLESAMPLE SYSTEM (1) REPEATABLE ($1) LIMIT $2",
        random.randint(0, 10**6),
        sample,
    )
    bad = 0
    for record in ids:
        invoice = await conn.fetchrow(
            "SELECT currency, subtotal, tax_total, total, amount_paid, amount_due "
            "FROM invoices WHERE id = $1",
            record["id"],
        )
        assert invoice is not None
        lines = await conn.fetch(
            """SELECT l.id, l.quantity, l.unit_amount, l.discount_percent, l.discount_fixed,
                      l.amount, l.discount_amount, l.net, l.tax_amount, l.total
               FROM invoice_lines l WHERE l.invoice_id = $1 ORDER BY l.position""",
            record["id"],
        )
        inputs = []
        for line in lines:
            taxes = await conn.fetch(
                "SELECT tax_rate_id, percentage, inclusive FROM invoice_line_taxes "
                "WHERE line_id = $1",
                line["id"],
            )
            discount = None
            if line["discount_percent"] is not None:
                discount = money.Discount(percent=Decimal(line["discount_percent"]))
            elif line["discount_fixed"] is not None:
                discount = money.Discount(amount=line["discount_fixed"])
            inputs.append(
                money.LineInput(
                    quantity=Decimal(line["quantity"]),
                    unit_amount=line["unit_amount"],
                    discount=discount,
                    taxes=tuple(
                        money.TaxRate(
                            str(t["tax_rate_id"]), Decimal(t["percentage"]), t["inclusive"]
                        )
                        for t in taxes
                    ),
                )
            )
        figures = money.compute_invoice(
            inputs, currency=invoice["currency"], amount_paid=invoice["amount_paid"]
        )
        stored = (
            invoice["subtotal"],
            invoice["tax_total"],
            invoice["total"],
            invoice["amount_due"],
        )
        computed = (figures.subtotal, figures.tax_total, figures.total, figures.amount_due)
        line_ok = all(
            (f.amount, f.discount_amount, f.net, f.inclusive_tax + f.exclusive_tax, f.total)
            == (row["amount"], row["discount_amount"], row["net"], row["tax_amount"], row["total"])
            for f, row in zip(figures.lines, lines, strict=True)
        )
        if stored != computed or not line_ok:
            bad += 1
    return bad
