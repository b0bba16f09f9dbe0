"""The invoice list as CSV, streamed in bounded memory.

The export runs on its own pooled connection, taken when the response is *sent*: the
request's transaction (which checked membership) has closed by then, and a stream may
outlive it by minutes. Before the status line goes out the export re-enters the tenant
context, checks the membership again and renders the first chunk, so a missing
membership is still a 404 and an unavailable database still a 503 problem. From then on
rows are fetched `CHUNK_ROWS` at a time through a server-side cursor inside one read-only
transaction (one consistent snapshot), and each chunk is written as it is fetched: memory
stays bounded whatever the number of invoices. A failure mid-stream aborts the response
(the client sees a truncated transfer, never a short file that looks complete).

Formula injection (OWASP "CSV Injection"): a spreadsheet runs a cell that starts with `=`,
`+`, `-`, `@`, a tab or a carriage return as a formula (`=HYPERLINK(…)` sends the row away).
By default every text cell a user wrote (the invoice number, the customer name) that starts
with one of those — or with a line feed or a fullwidth `＝ ＋ － ＠`, which some spreadsheets
read the same way — is prefixed with a single quote, which spreadsheets show as text; the
cell stays quoted by the CSV writer whenever it holds a comma, quote or newline. `raw=True`
writes every value verbatim, for programs rather than spreadsheets.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from datetime import date, datetime
from typing import Any
from uuid import UUID

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from penvoice.auth import Principal
from penvoice.db import Database
from penvoice.documents import repository
from penvoice.errors import NotFound
from penvoice.invoices.repository import InvoiceFilters
from penvoice.money import minor_digits
from penvoice.tenancy.repository import enter_org, enter_principal, role_in

CHUNK_ROWS = 1000
COLUMNS = (
    "id",
    "number",
    "status",
    "customer_name",
    "currency",
    "issue_date",
    "due_date",
    "subtotal",
    "tax_total",
    "total",
    "amount_paid",
    "amount_due",
    "created_at",
)
AMOUNTS = ("subtotal", "tax_total", "total", "amount_paid", "amount_due")
FORMULA_STARTS = frozenset("=+-@\t\r\n＝＋－＠")
"""First characters that make a spreadsheet read a cell as a formula (OWASP's list plus
line feed and the fullwidth forms)."""


def neutralise(value: str) -> str:
    """`value` as a spreadsheet shows it as text: quote-prefixed if it starts a formula."""
    return "'" + value if value[:1] in FORMULA_STARTS else value


@functools.cache
def _digits(currency: str) -> int:
    return minor_digits(currency)


def major_units(amount: int, currency: str) -> str:
    """Minor units as a plain decimal in major units: USD 123450 → "1234.50", JPY 5 → "5".

    Exactly `format(money.to_decimal(amount, currency), "f")` (a property test holds them
    equal), without its per-call ISO 4217 lookup and digit tuple: that was two thirds of
    the export's CPU time."""
    digits = _digits(currency)
    if not digits:
        return str(amount)
    whole, fraction = divmod(abs(amount), 10**digits)
    sign = "-" if amount < 0 else ""
    return f"{sign}{whole}.{fraction:0{digits}d}"


def _iso(value: date | datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def csv_row(record: Any, *, raw: bool = False) -> list[str]:
    """One invoice in the order of COLUMNS; amounts in major units, dates ISO 8601; the
    user-written text cells neutralised against formula injection unless `raw`."""
    currency: str = record["currency"]
    text = (lambda value: value) if raw else neutralise
    return [
        str(record["id"]),
        text(record["number"] or ""),
        record["status"],
        text(record["customer_name"] or ""),
        currency,
        _iso(record["issue_date"]),
        _iso(record["due_date"]),
        *(major_units(record[name], currency) for name in AMOUNTS),
        _iso(record["created_at"]),
    ]


async def csv_chunks(
    records: AsyncIterator[Any], chunk_rows: int, *, raw: bool = False
) -> AsyncGenerator[bytes, None]:
    """The header, then the rows, as UTF-8 CSV (RFC 4180: CRLF, quotes doubled), in chunks
    of `chunk_rows` rows; the header travels with the first chunk. `raw`: see `csv_row`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # QUOTE_MINIMAL: commas, quotes and newlines are quoted
    writer.writerow(COLUMNS)
    pending = 0
    async for record in records:
        writer.writerow(csv_row(record, raw=raw))
        pending += 1
        if pending == chunk_rows:
            yield _take(buffer)
            pending = 0
    if rest := _take(buffer):
        yield rest


def _take(buffer: io.StringIO) -> bytes:
    data = buffer.getvalue().encode()
    buffer.seek(0)
    buffer.truncate()
    return data


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


async def _chain(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk


class InvoiceCsvExport(StreamingResponse):
    """A StreamingResponse that owns a pooled connection for exactly as long as it sends."""

    media_type = "text/csv"

    def __init__(
        self,
        database: Database,
        principal: Principal,
        org_id: UUID,
        filters: InvoiceFilters,
        *,
        filename: str = "invoices.csv",
        chunk_rows: int | None = None,
        raw: bool = False,
    ) -> None:
        """`raw=True` writes values verbatim (no formula-injection guard; see the module)."""
        super().__init__(
            _nothing(),
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "private, no-store",
            },
        )
        self._database = database
        self._principal = principal
        self._org_id = org_id
        self._filters = filters
        self._chunk_rows = chunk_rows or CHUNK_ROWS
        self._raw = raw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal = self._principal
        async with self._database.connection() as conn, conn.transaction(readonly=True):
            email = principal.email if principal.email_verified else None
            await enter_principal(conn, principal.subject, email)
            if await role_in(conn, self._org_id, principal.subject) is None:
                raise NotFound("No organisation with this id.")
            await enter_org(conn, self._org_id)
            rows = repository.export_rows(
                conn, self._org_id, self._filters, chunk_rows=self._chunk_rows
            )
            async with (
                aclosing(rows) as records,
                aclosing(csv_chunks(records, self._chunk_rows, raw=self._raw)) as chunks,
            ):
                first = await anext(chunks)  # errors so far still become problem responses
                self.body_iterator = _chain(first, chunks)
                await super().__call__(scope, receive, send)
