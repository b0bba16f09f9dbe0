"""create_app(settings): wiring only — the declared routes, the edge, the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from penvoice import __version__
from penvoice.auth import IssuerKeys, TokenVerifier
from penvoice.config import Settings
from penvoice.credit_notes.router import router as credit_notes_router
from penvoice.customers.router import router as customers_router
from penvoice.db import Database
from penvoice.deliveries.router import router as deliveries_router
from penvoice.docs import router as docs_router
from penvoice.documents.router import router as documents_router
from penvoice.einvoices.router import router as einvoices_router
from penvoice.events.router import router as events_router
from penvoice.guards import guards_of, install_guards
from penvoice.health import ReadinessChecks
from penvoice.health import router as health_router
from penvoice.idempotency.keys import purge_expired_keys
from penvoice.invoices.router import router as invoices_router
from penvoice.me.router import router as me_router
from penvoice.metrics import HttpMetrics, PoolCollector
from penvoice.openapi import document_validation_problems
from penvoice.orgs.router import router as orgs_router
from penvoice.payments.router import router as payments_router
from penvoice.recurring.router import router as recurring_router
from penvoice.reports.router import router as reports_router
from penvoice.taxes.router import router as taxes_router
from penvoice.web.edge import Edge
from penvoice.web.ratelimit import TokenBuckets
from penvoice.webhooks.router import router as webhooks_router

log = logging.getLogger("penvoice.app")

REVISION = os.environ.get("PENVOICE_REVISION", "unknown")
STARTUP_KEYS_WAIT_SECONDS = 1.0


def _buckets(rate: float, burst: float) -> TokenBuckets | None:
    return TokenBuckets(rate, burst) if rate > 0 else None


def create_app(settings: Settings) -> Edge:
    """The routers, declared once, compiled behind the request edge (`penvoice.web`)."""
    database = Database(settings)
    metrics = HttpMetrics(version=__version__, revision=REVISION)
    metrics.add_collector(PoolCollector(database.pool_state))

    @contextlib.asynccontextmanager
    async def lifespan(app: Edge) -> AsyncIterator[None]:
        async with httpx.AsyncClient(follow_redirects=False) as http:
            keys = IssuerKeys(settings.kc_issuer, http)
            readiness = ReadinessChecks(settings, database, keys)
            app.state.readiness = readiness
            app.state.token_verifier = TokenVerifier(
                keys,
                issuer=settings.kc_issuer,
                audience=settings.kc_audience,
                leeway_seconds=settings.token_leeway_seconds,
            )
            await database.open()
            background = [
                asyncio.create_task(readiness.keep_keys_loaded(), name="issuer-keys"),
                asyncio.create_task(
                    readiness.keep_checking_client_credentials(http), name="client-credentials"
                ),
                asyncio.create_task(purge_expired_keys(database), name="idempotency-purge"),
            ]
            # Give the first key load a moment so a healthy start is ready at once.
            await asyncio.wait(background[:1], timeout=STARTUP_KEYS_WAIT_SECONDS)
            try:
                yield
            finally:
                for task in background:
                    task.cancel()
                await asyncio.gather(*background, return_exceptions=True)
                await guards_of(app).close()  # the render worker, when one was started
                await database.close(timeout=5)

    declared = FastAPI(
        title="Penvoice API",
        version=__version__,
        summary="Invoicing for freelancers and small teams.",
        license_info={"name": "MIT", "identifier": "MIT"},
        docs_url=None,  # served by penvoice.docs from the bundled Swagger UI
        redoc_url=None,
        openapi_url=None,  # served by the edge from `openapi()`
    )
    declared.include_router(health_router)
    declared.include_router(docs_router)
    for router in (
        me_router,
        orgs_router,
        events_router,
        invoices_router,
        deliveries_router,
        documents_router,
        einvoices_router,
        credit_notes_router,
        payments_router,
        reports_router,
        customers_router,
        taxes_router,
        webhooks_router,
        recurring_router,
    ):
        declared.include_router(router, prefix="/v1")

    @declared.get(
        "/metrics",
        summary="Prometheus metrics",
        tags=["platform"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}}},
    )
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    document_validation_problems(declared)
    app = Edge(
        declared,
        database=database,
        metrics=metrics,
        lifespan=lifespan,
        max_body_bytes=settings.max_body_bytes,
        max_small_body_bytes=settings.max_small_body_bytes,
        cors_origins=settings.cors_origins,
        per_principal=_buckets(
            settings.rate_limit_per_principal, settings.rate_limit_principal_burst
        ),
        per_org=_buckets(settings.rate_limit_per_org, settings.rate_limit_org_burst),
    )
    app.state.settings = settings
    app.state.database = database
    app.state.metrics = metrics
    install_guards(app, settings)  # export slots, the PDF render worker and its cache
    metrics.expose_errors_from_zero(app.operations())
    return app
