"""The invoice list as CSV, streamed in bounded memory, never at the client's pace.

The request's transaction (which checked membership) has closed before anything is sent.
The export then reads the invoices in keyset pages of `CHUNK_ROWS` (created_at, id — the
list's own order and index), each page on a pooled connection taken for that page only, in
its own short read-only transaction that re-enters the tenant context and re-checks the
membership. The connection is back in the pool before the page is written to the client,
so a client that reads slowly, or never, holds no connection, no transaction and no
snapshot: only its slot (guards.ExportSlots, per pod and per organisation).

Before the status line goes out the first page is read and rendered, so a lost membership
is still a 404, an unavailable database a 503 and a refused slot a 429/503 problem. After
it, every write is bounded by EXPORT_SEND_TIMEOUT_SECONDS and the whole response by
EXPORT_DEADLINE_SECONDS; past either, or on a failure mid-stream, the transfer is aborted
(the client sees a truncated transfer, never a short file that looks complete). A client
that leaves stops the paging.

Formula injection (OWASP "CSV Injection"): a spreadsheet runs a cell that starts with `=`,
`+`, `-`, `@`, a tab or a carriage return as a formula (`=HYPERLINK(…)` sends the row away).
By default every text cell a user wrote (the invoice number, the customer name) that starts
with one of those — or with a line feed or a fullwidth `＝ ＋ － ＠`, which some spreadsheets
read the same way — is prefixed with a single quote, which spreadsheets show as text; the
cell stays quoted by the CSV writer whenever it holds a comma, quote or newline. `raw=True`
writes every value verbatim, for programs rather than spreadsheets.

Pages are separate snapshots: an invoice created during an export is newer than the
position and never appears; one changed between two pages shows as it was when its page
was read.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import io
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from datetime import date, datetime
from typing import Any
from uuid import UUID

from starlette.responses import StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from penvoice.auth import Principal
from penvoice.db import Database
from penvoice.documents import repository
from penvoice.errors import NotFound
from penvoice.guards import Guards, guards_of
from penvoice.invoices.repository import InvoiceFilters
from penvoice.money import minor_digits
from penvoice.tenancy.repository import enter

log = logging.getLogger("penvoice.documents")

CHUNK_ROWS = 1000  # rows per page: one short transaction, one write
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
    "amount_credited",  # by credit notes, off the amount due (issue 13)
    "amount_refunded",  # by credit notes, paid back
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
        major_units(record["amount_credited"], currency),
        major_units(record["amount_refunded"], currency),
    ]


def csv_bytes(records: Iterable[Any], *, header: bool, raw: bool = False) -> bytes:
    """Rows as UTF-8 CSV (RFC 4180: CRLF, quotes doubled), the header first when asked:
    each page of an export, written the one way."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # QUOTE_MINIMAL: commas, quotes and newlines are quoted
    if header:
        writer.writerow(COLUMNS)
    writer.writerows(csv_row(record, raw=raw) for record in records)
    return buffer.getvalue().encode()


async def csv_chunks(
    records: AsyncIterator[Any], chunk_rows: int, *, raw: bool = False
) -> AsyncGenerator[bytes, None]:
    """`csv_bytes` over a stream of rows, in chunks of `chunk_rows` rows; the header travels
    with the first chunk (the benchmark's in-memory control, and the encoding's tests)."""
    pending: list[Any] = []
    header = True
    async for record in records:
        pending.append(record)
        if len(pending) == chunk_rows:
            yield csv_bytes(pending, header=header, raw=raw)
            pending, header = [], False
    if pending or header:
        yield csv_bytes(pending, header=header, raw=raw)


class ExportAborted(Exception):
    """The response has started and cannot become a problem: the transfer is cut short."""


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


class InvoiceCsvExport(StreamingResponse):
    """The export as an ASGI response: pages read in short transactions, bounded writes."""

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
        self._raw = raw  # values verbatim: no formula-injection guard (see the module)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        guards = guards_of(scope["app"])
        with guards.exports.take(self._org_id):
            await _Stream(self, guards, receive, send).run()

    async def read_page(
        self, after: tuple[datetime, UUID] | None, guards: Guards
    ) -> tuple[bytes, tuple[datetime, UUID] | None, int]:
        """One page as CSV bytes, the keyset position after it (None: the last page), and
        its row count; the connection is held for this page only."""
        principal = self._principal
        started = time.perf_counter()
        async with self._database.connection() as conn, conn.transaction(readonly=True):
            email = principal.email if principal.email_verified else None
            if await enter(conn, principal.subject, email, self._org_id) is None:
                raise NotFound("No organisation with this id.")
            records = await repository.export_page(
                conn, self._org_id, self._filters, after=after, limit=self._chunk_rows
            )
        guards.export_metrics.page_seconds.observe(time.perf_counter() - started)
        last = records[-1] if len(records) == self._chunk_rows else None
        position = (last["created_at"], last["id"]) if last is not None else None
        return csv_bytes(records, header=after is None, raw=self._raw), position, len(records)


class _Stream:
    """One export's sending: bounded writes, a total deadline, and the client's departure."""

    def __init__(
        self, export: InvoiceCsvExport, guards: Guards, receive: Receive, send: Send
    ) -> None:
        self._export = export
        self._guards = guards
        self._receive = receive
        self._send = send
        settings = guards.settings
        self._send_timeout = settings.export_send_timeout_seconds
        self._deadline = asyncio.get_running_loop().time() + settings.export_deadline_seconds
        self._gone = asyncio.Event()

    async def run(self) -> None:
        metrics = self._guards.export_metrics
        # Errors here still become problem responses: nothing has been sent.
        chunk, position, rows = await self._export.read_page(None, self._guards)
        watcher = asyncio.create_task(self._watch_for_departure())
        try:
            await self._write(
                {
                    "type": "http.response.start",
                    "status": self._export.status_code,
                    "headers": self._export.raw_headers,
                }
            )
            while True:
                await self._write({"type": "http.response.body", "body": chunk, "more_body": True})
                metrics.rows.inc(rows)
                if position is None:
                    break
                self._check_time()
                chunk, position, rows = await self._page(position)
            await self._write({"type": "http.response.body", "body": b"", "more_body": False})
        except _ClientGone:
            metrics.outcome("disconnected")
            return
        except ExportAborted as exc:
            log.warning("csv export aborted: %s", exc)
            raise
        finally:
            watcher.cancel()
        metrics.outcome("completed")

    async def _page(
        self, position: tuple[datetime, UUID]
    ) -> tuple[bytes, tuple[datetime, UUID] | None, int]:
        try:
            return await self._export.read_page(position, self._guards)
        except Exception as exc:
            if self._gone.is_set():
                raise _ClientGone from exc
            self._guards.export_metrics.outcome("failed")
            raise ExportAborted(f"page failed mid-stream ({type(exc).__name__})") from exc

    def _check_time(self) -> None:
        if self._gone.is_set():
            raise _ClientGone
        if asyncio.get_running_loop().time() >= self._deadline:
            self._guards.export_metrics.outcome("deadline")
            raise ExportAborted("past EXPORT_DEADLINE_SECONDS")

    async def _write(self, message: Message) -> None:
        self._check_time()
        left = self._deadline - asyncio.get_running_loop().time()
        timeout = min(self._send_timeout, left)
        try:
            async with asyncio.timeout(timeout):
                await self._send(message)
        except TimeoutError:
            if self._gone.is_set():
                raise _ClientGone from None
            past_deadline = timeout < self._send_timeout
            self._guards.export_metrics.outcome("deadline" if past_deadline else "send_timeout")
            what = "EXPORT_DEADLINE_SECONDS" if past_deadline else "EXPORT_SEND_TIMEOUT_SECONDS"
            raise ExportAborted(f"a write waited past {what}") from None
        except OSError as exc:  # the server reports the client's departure on send
            raise _ClientGone from exc
        if self._gone.is_set():
            raise _ClientGone

    async def _watch_for_departure(self) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self._gone.set()
                return


class _ClientGone(Exception):
    """The client left: stop paging, send nothing more, no error."""
