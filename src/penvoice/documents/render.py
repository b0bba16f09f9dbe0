"""Bounded PDF renders: in a worker process that is killed when a render runs over its time
or its client leaves, capped in pages, and cached by invoice version so that repeats cost
nothing.

- **Worker process.** `RenderWorker` keeps one child process (`python -m
  penvoice.documents.render`, niced) that imports the renderer once and renders one document
  at a time: the API's event loop and its GIL never run the render. A render over
  `PDF_RENDER_TIMEOUT_SECONDS`, or one whose client hangs up, kills the child (SIGKILL: its
  CPU stops at once) and the next render starts a fresh one.
- **Caps.** `PDF_MAX_PAGES`: the renderer stops at the first page over it. Both refusals are
  a 422 `pdf-too-large` problem (`reason`: `pages` or `time`) and are remembered for that
  invoice version, so asking again costs nothing either.
- **Turns.** One render at a time per worker; a request that gets no turn within
  `PDF_RENDER_WAIT_SECONDS` is a 503 with `Retry-After`, as before.
- **Cache.** Rendered bytes by (invoice, version), up to `PDF_CACHE_MAX_BYTES`
  (least recently used out first). The response carries `ETag: "pdf-<renderer>-<version>"`
  and `Cache-Control: private, no-cache`; `If-None-Match` with that tag is a 304 without a
  render. Every change to an invoice (a payment, a status move) raises its version.

`InvoicePdf(invoice, lines)` is the response; it renders when it is sent, after the request's
transaction has committed, so no pooled connection waits on the render.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import re
import struct
import sys
import time
from collections import OrderedDict
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from penvoice.config import Settings, WorkerSettings
from penvoice.db import RETRY_AFTER_SECONDS
from penvoice.documents.labels import INVOICE_LABELS, Labels
from penvoice.errors import PenvoiceError, ServiceUnavailable
from penvoice.invoices.repository import InvoiceRow, LineRow

log = logging.getLogger("penvoice.documents")

# Part of every ETag: raise it when a change to pdf.py changes the bytes of a document.
RENDERER_REVISION = "1"
WORKER_NICENESS = 10
_FRAME = struct.Struct(">cI")  # status byte, payload length
OK, PAGES, FAILED = b"o", b"p", b"f"
READY = b"ready\n"  # the worker's first line, once the renderer is imported
WORKER_START_SECONDS = 60.0  # a start (interpreter, imports) is not the render's time
RENDER_OUTCOMES = (
    "rendered",  # rendered by the worker
    "cached",  # served from the cache
    "not_modified",  # 304 for If-None-Match
    "too_large_pages",  # 422: past PDF_MAX_PAGES
    "too_large_time",  # 422: past PDF_RENDER_TIMEOUT_SECONDS (the worker was killed)
    "cancelled",  # the client left mid-render (the worker was killed)
    "busy",  # 503: no turn within PDF_RENDER_WAIT_SECONDS
    "failed",  # the worker failed or died otherwise
)
RENDER_SECONDS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class PdfTooLarge(PenvoiceError):
    status = 422
    slug = "pdf-too-large"
    title = "Document too large to render"


@dataclass(frozen=True)
class RenderLimits:
    max_pages: int
    timeout_seconds: float
    wait_seconds: float
    cache_max_bytes: int

    @classmethod
    def of(cls, settings: Settings | WorkerSettings) -> RenderLimits:
        """The `PDF_*` settings of the API or of the job worker (same names)."""
        return cls(
            max_pages=settings.pdf_max_pages,
            timeout_seconds=settings.pdf_render_timeout_seconds,
            wait_seconds=settings.pdf_render_wait_seconds,
            cache_max_bytes=settings.pdf_cache_max_bytes,
        )


class RenderMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.outcomes = Counter(
            "penvoice_pdf_renders_total",
            "PDF requests by outcome (rendered, cached, not_modified, too_large_pages, "
            "too_large_time, cancelled, busy, failed).",
            ["outcome"],
            registry=registry,
        )
        for outcome in RENDER_OUTCOMES:
            self.outcomes.labels(outcome)
        self.seconds = Histogram(
            "penvoice_pdf_render_seconds",
            "Wall time of renders in the worker process (rendered, refused or killed).",
            buckets=RENDER_SECONDS_BUCKETS,
            registry=registry,
        )
        self.worker_starts = Counter(
            "penvoice_pdf_worker_starts_total",
            "Render worker processes started (the first, and one after every kill).",
            registry=registry,
        )

    def outcome(self, outcome: str) -> None:
        self.outcomes.labels(outcome).inc()


class _WorkerDied(ServiceUnavailable):
    """The worker process died or would not start: a 503, the next render starts another."""

    def __init__(self, detail: str = "The document renderer failed; retry shortly.") -> None:
        super().__init__(detail, headers={"Retry-After": RETRY_AFTER_SECONDS})


class RenderWorker:
    """One render process, replaced whenever a render is abandoned."""

    def __init__(self, limits: RenderLimits, metrics: RenderMetrics) -> None:
        self._limits = limits
        self._metrics = metrics
        self._process: asyncio.subprocess.Process | None = None
        self._turn = asyncio.Lock()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def render(
        self,
        invoice: InvoiceRow,
        lines: list[LineRow],
        cii: bytes | None = None,
        labels: Labels = INVOICE_LABELS,
    ) -> bytes:
        try:
            await asyncio.wait_for(self._turn.acquire(), self._limits.wait_seconds)
        except TimeoutError:
            self._metrics.outcome("busy")
            raise ServiceUnavailable(
                "Too many documents are being rendered right now; retry shortly.",
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            ) from None
        try:
            return await self._render_in_worker(invoice, lines, cii, labels)
        finally:
            self._turn.release()

    async def _render_in_worker(
        self,
        invoice: InvoiceRow,
        lines: list[LineRow],
        cii: bytes | None = None,
        labels: Labels = INVOICE_LABELS,
    ) -> bytes:
        process = await self._started()
        assert process.stdin is not None
        assert process.stdout is not None
        request = pickle.dumps((invoice, lines, self._limits.max_pages, cii, labels))
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._limits.timeout_seconds):
                process.stdin.write(struct.pack(">I", len(request)) + request)
                await process.stdin.drain()
                status, length = _FRAME.unpack(await process.stdout.readexactly(_FRAME.size))
                payload = await process.stdout.readexactly(length)
        except TimeoutError:
            await self.kill("render over PDF_RENDER_TIMEOUT_SECONDS")
            self._metrics.outcome("too_large_time")
            raise PdfTooLarge(
                f"Rendering this invoice takes over {self._limits.timeout_seconds:g} s; "
                "it has too much text for one document.",
                extra={"reason": "time", "limit_seconds": self._limits.timeout_seconds},
            ) from None
        except asyncio.CancelledError:
            await self.kill("render cancelled: the client left")
            self._metrics.outcome("cancelled")
            raise
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            await self.kill(f"worker failed ({type(exc).__name__})")
            self._metrics.outcome("failed")
            raise _WorkerDied from exc
        finally:
            self._metrics.seconds.observe(time.perf_counter() - started)
        if status == PAGES:
            self._metrics.outcome("too_large_pages")
            raise PdfTooLarge(
                f"This invoice runs past {self._limits.max_pages} pages.",
                extra={"reason": "pages", "limit_pages": self._limits.max_pages},
            )
        if status != OK:
            self._metrics.outcome("failed")
            raise RuntimeError(f"render failed in the worker: {payload.decode(errors='replace')}")
        self._metrics.outcome("rendered")
        return payload

    async def start(self) -> None:
        """Start the worker ahead of the first render (at app start-up; optional)."""
        async with self._turn:
            await self._started()

    async def _started(self) -> asyncio.subprocess.Process:
        if self._process is not None and self._process.returncode is None:
            return self._process
        environment = {**os.environ, "PENVOICE_WORKER_PATH": os.pathsep.join(sys.path)}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _BOOTSTRAP,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=environment,
        )
        self._process = process
        self._metrics.worker_starts.inc()
        assert process.stdout is not None
        try:
            async with asyncio.timeout(WORKER_START_SECONDS):
                ready = await process.stdout.readline()
        except BaseException:
            await self.kill("worker start abandoned")
            raise
        if ready != READY:
            await self.kill("worker did not start")
            log.warning("pdf worker failed to start: %r", ready[:200])
            raise _WorkerDied
        return process

    async def kill(self, why: str) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        log.warning("pdf worker %d killed: %s", process.pid, why)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()

    async def close(self) -> None:
        await self.kill("shutting down")


# The child gets the parent's sys.path (the image's launcher builds it at run time; `-I -S`
# interpreters would not find /app/site-packages otherwise), then runs `serve_renders`.
_BOOTSTRAP = (
    "import os, sys; sys.path[:0] = os.environ.pop('PENVOICE_WORKER_PATH').split(os.pathsep); "
    "from penvoice.documents.render import serve_renders; serve_renders()"
)


def _document(
    invoice: InvoiceRow,
    lines: list[LineRow],
    max_pages: int,
    cii: bytes | None,
    labels: Labels = INVOICE_LABELS,
) -> bytes:
    """In the worker: the PDF, and with `cii` (an EN 16931-ready invoice's CII XML) a
    Factur-X PDF/A-3 carrying it (`documents/hybrid.py`)."""
    from penvoice.documents.pdf import render_invoice_pdf  # noqa: PLC0415

    if cii is None:
        return render_invoice_pdf(invoice, lines, max_pages=max_pages, labels=labels)
    from penvoice.documents.hybrid import embed  # noqa: PLC0415

    pdf = render_invoice_pdf(invoice, lines, max_pages=max_pages, pdfa=True, labels=labels)
    return embed(pdf, cii, invoice)


def serve_renders() -> None:
    """The worker's loop: a length-prefixed request on stdin, a framed answer on stdout."""
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)  # the API's event loop goes first on a shared CPU
    from penvoice.documents.pdf import TooManyPages  # noqa: PLC0415

    source, sink = sys.stdin.buffer, sys.stdout.buffer
    sink.write(READY)
    sink.flush()
    while header := source.read(4):
        (length,) = struct.unpack(">I", header)
        invoice, lines, max_pages, cii, labels = pickle.loads(source.read(length))  # noqa: S301
        try:
            status, payload = OK, _document(invoice, lines, max_pages, cii, labels)
        except TooManyPages:
            status, payload = PAGES, b""
        except Exception as exc:  # reported to the parent, which logs it
            status, payload = FAILED, f"{type(exc).__name__}: {exc}".encode()
        sink.write(_FRAME.pack(status, len(payload)) + payload)
        sink.flush()


class RenderCache:
    """Rendered documents (or their refusal) by invoice version, bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._entries: OrderedDict[tuple[UUID, int], bytes | PdfTooLarge] = OrderedDict()

    def get(self, key: tuple[UUID, int]) -> bytes | PdfTooLarge | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: tuple[UUID, int], entry: bytes | PdfTooLarge) -> None:
        size = len(entry) if isinstance(entry, bytes) else 0
        if size > self._max_bytes // 4 or key in self._entries:
            return
        self._entries[key] = entry
        self._bytes += size
        while self._bytes > self._max_bytes:
            _, old = self._entries.popitem(last=False)
            self._bytes -= len(old) if isinstance(old, bytes) else 0

    @property
    def size_bytes(self) -> int:
        return self._bytes


class Renderer:
    """The app's PDF renders: the worker, the cache and their metrics."""

    def __init__(self, limits: RenderLimits, registry: CollectorRegistry) -> None:
        self.limits = limits
        self.metrics = RenderMetrics(registry)
        self.worker = RenderWorker(limits, self.metrics)
        self.cache = RenderCache(limits.cache_max_bytes)

    async def document(
        self,
        invoice: InvoiceRow,
        lines: list[LineRow],
        cii: bytes | None = None,
        labels: Labels = INVOICE_LABELS,
    ) -> bytes:
        """The PDF of this version of the invoice (a Factur-X PDF/A-3 with `cii`), from the
        cache or the worker."""
        # Only reached after the request proved access to the invoice (ids are unique).
        key = (invoice.id, invoice.version)
        cached = self.cache.get(key)
        if isinstance(cached, PdfTooLarge):
            self.metrics.outcome(
                "too_large_pages" if cached.extra["reason"] == "pages" else "too_large_time"
            )
            raise cached
        if cached is not None:
            self.metrics.outcome("cached")
            return cached
        try:
            body = await self.worker.render(invoice, lines, cii, labels)
        except PdfTooLarge as refusal:
            self.cache.put(key, refusal)
            raise
        self.cache.put(key, body)
        return body


def etag_of(invoice: InvoiceRow) -> str:
    return f'"pdf-{RENDERER_REVISION}-{invoice.version}"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison, as If-None-Match asks: any listed tag, or `*`."""
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def renderer_of(app: Any) -> Renderer:
    from penvoice.guards import guards_of  # noqa: PLC0415 - guards imports this module

    return guards_of(app).renderer


class InvoicePdf(Response):
    """The invoice's PDF, sent after the request's transaction has committed.

    304 when `If-None-Match` holds the version's tag; otherwise the cached bytes, or a render
    in the worker that stops if the client leaves. Refusals (422, 503) are raised before
    anything is sent, so they are problem+json responses."""

    media_type = "application/pdf"

    def __init__(
        self,
        invoice: InvoiceRow,
        lines: list[LineRow],
        cii: bytes | None = None,
        labels: Labels = INVOICE_LABELS,
    ) -> None:
        super().__init__(media_type=self.media_type)
        self._invoice, self._lines, self._cii, self._labels = invoice, lines, cii, labels

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        renderer = renderer_of(scope["app"])
        etag = etag_of(self._invoice)
        headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
        if matches(Headers(scope=scope).get("if-none-match"), etag):
            renderer.metrics.outcome("not_modified")
            await Response(status_code=304, headers=headers)(scope, receive, send)
            return
        body = await _unless_the_client_leaves(
            renderer.document(self._invoice, self._lines, self._cii, self._labels), receive
        )
        if body is None:
            return  # the client left; the render was stopped
        name = safe_filename(self._invoice.number)
        headers["Content-Disposition"] = f'inline; filename="{name}.pdf"'
        await Response(body, media_type=self.media_type, headers=headers)(scope, receive, send)


async def _unless_the_client_leaves(render: Awaitable[bytes], receive: Receive) -> bytes | None:
    """The render's result, or None once the client has left (the render is then cancelled,
    which kills the worker process mid-render)."""
    task = asyncio.ensure_future(render)
    watcher = asyncio.ensure_future(_departure(receive))
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()
        watcher.cancel()
        raise
    watcher.cancel()
    if task in done:
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return None


async def _departure(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def safe_filename(number: str | None) -> str:
    """A prefix may hold "/" (INV/2026-): keep file names to safe characters."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", number or "invoice")


if __name__ == "__main__":
    serve_renders()
