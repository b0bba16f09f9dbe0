"""create_app(settings): wiring only — routers, middleware, error handlers, lifespan."""

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
from penvoice.access import AccessMiddleware
from penvoice.auth import IssuerKeys, TokenVerifier
from penvoice.config import Settings
from penvoice.cors import StrictCORSMiddleware
from penvoice.customers.router import router as customers_router
from penvoice.db import Database, install_database_error_handlers
from penvoice.docs import router as docs_router
from penvoice.documents.router import RenderSlots
from penvoice.documents.router import router as documents_router
from penvoice.errors import install_error_handlers
from penvoice.events.router import router as events_router
from penvoice.health import ReadinessChecks
from penvoice.health import router as health_router
from penvoice.idempotency.keys import install_replay_handler, purge_expired_keys
from penvoice.invoices.router import router as invoices_router
from penvoice.limits import RequestLimitsMiddleware
from penvoice.me.router import router as me_router
from penvoice.metrics import HttpMetrics, MetricsMiddleware, PoolCollector, RouteTemplates
from penvoice.openapi import document_validation_problems
from penvoice.orgs.router import router as orgs_router
from penvoice.payments.router import router as payments_router
from penvoice.reports.router import router as reports_router
from penvoice.taxes.router import router as taxes_router

log = logging.getLogger("penvoice.app")

REVISION = os.environ.get("PENVOICE_REVISION", "unknown")
STARTUP_KEYS_WAIT_SECONDS = 1.0


def create_app(settings: Settings) -> FastAPI:
    database = Database(settings)
    metrics = HttpMetrics(version=__version__, revision=REVISION)
    metrics.add_collector(PoolCollector(database.pool_state))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
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
                await database.close(timeout=5)

    app = FastAPI(
        title="Penvoice API",
        version=__version__,
        summary="Invoicing for freelancers and small teams.",
        lifespan=lifespan,
        docs_url=None,  # served by penvoice.docs from the bundled Swagger UI
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.metrics = metrics
    app.state.render_slots = RenderSlots()
    app.include_router(health_router)
    app.include_router(docs_router)
    for router in (
        me_router,
        orgs_router,
        events_router,
        invoices_router,
        documents_router,
        payments_router,
        reports_router,
        customers_router,
        taxes_router,
    ):
        app.include_router(router, prefix="/v1")

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        tags=["platform"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}}},
    )
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    document_validation_problems(app)
    install_error_handlers(app)
    install_database_error_handlers(app)
    install_replay_handler(app)
    routes = RouteTemplates(app)
    metrics.expose_errors_from_zero(routes.operations())
    # add_middleware wraps: the last added is outermost. The request limits are innermost,
    # so metrics and the access log count their refusals; metrics sit directly around them.
    app.add_middleware(RequestLimitsMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=routes)
    if settings.cors_origins:
        app.add_middleware(StrictCORSMiddleware, origins=settings.cors_origins)
    app.add_middleware(AccessMiddleware, routes=routes)
    return app
