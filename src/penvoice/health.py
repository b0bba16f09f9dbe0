"""Liveness, readiness and the checks behind readiness.

`/healthz` answers while the process and its event loop do; it never touches the database
(a database outage must not restart every pod). `/readyz` runs every check concurrently,
each bounded by `READINESS_CHECK_TIMEOUT_SECONDS`, and answers 503 problem+json naming the
failing checks. Issuer keys and client credentials are kept fresh by background tasks so
that a probe only reads their last result.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass

import httpx
from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import Response

from penvoice.auth import (
    ClientCredentialsRejected,
    IssuerKeys,
    IssuerUnavailable,
    check_client_credentials,
)
from penvoice.config import Settings
from penvoice.db import NO_CONNECTION_ERRORS, Database
from penvoice.errors import ServiceUnavailable, problem_response
from penvoice.migrate.state import read_schema_state
from penvoice.schema import schema_problem

log = logging.getLogger("penvoice.health")

KEYS_RETRY_SECONDS = 2.0
CREDENTIALS_RECHECK_SECONDS = 60.0
CREDENTIALS_RETRY_SECONDS = 5.0
DISCOVERY_POLL_SECONDS = 0.2
DISCOVERY_FIRST_POLL_SECONDS = 0.01  # doubled up to DISCOVERY_POLL_SECONDS: ready sooner


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: str = "ok"


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


class ReadinessChecks:
    def __init__(self, settings: Settings, database: Database, keys: IssuerKeys) -> None:
        self._settings = settings
        self._database = database
        self._keys = keys
        self.draining = False
        self.client_credentials: CheckResult | None = (
            CheckResult(False, "not checked yet") if settings.kc_api_client_secret else None
        )

    async def evaluate(self) -> dict[str, CheckResult]:
        timeout = self._settings.readiness_check_timeout_seconds
        results: dict[str, CheckResult] = {
            "database": await _bounded(self._check_database(), timeout),
            "issuer_keys": CheckResult(True)
            if self._keys.loaded
            else CheckResult(False, f"signing keys of {self._settings.kc_issuer} not loaded"),
        }
        if self.client_credentials is not None:
            results["client_credentials"] = self.client_credentials
        if self.draining:
            results["shutdown"] = CheckResult(False, "draining before shutdown")
        return results

    async def _check_database(self) -> CheckResult:
        timeout = self._settings.readiness_check_timeout_seconds
        try:
            async with self._database.connection(timeout=timeout) as conn:
                state = await read_schema_state(conn)
        except NO_CONNECTION_ERRORS as exc:
            return CheckResult(False, f"unreachable ({type(exc).__name__})")
        problem = schema_problem(state)
        return CheckResult(False, problem) if problem else CheckResult(True)

    async def keep_keys_loaded(self) -> None:
        """Retry loading the issuer's keys until they are loaded (then the verifier refreshes)."""
        while not self._keys.loaded:
            try:
                await self._keys.refresh()
                log.info("issuer keys loaded")
            except IssuerUnavailable as exc:
                log.warning("issuer keys not loaded: %s", exc)
                await asyncio.sleep(KEYS_RETRY_SECONDS)

    async def keep_checking_client_credentials(self, http: httpx.AsyncClient) -> None:
        secret = self._settings.kc_api_client_secret
        if secret is None:
            return
        poll = DISCOVERY_FIRST_POLL_SECONDS
        while True:
            endpoint = self._keys.token_endpoint
            if endpoint is None:  # discovery has not answered yet: usually milliseconds away
                self.client_credentials = CheckResult(False, "waiting for the issuer's discovery")
                await asyncio.sleep(poll)
                poll = min(poll * 2, DISCOVERY_POLL_SECONDS)
                continue
            self.client_credentials = await self._check_client_credentials(
                http, endpoint, secret.get_secret_value()
            )
            ok = self.client_credentials.ok
            await asyncio.sleep(CREDENTIALS_RECHECK_SECONDS if ok else CREDENTIALS_RETRY_SECONDS)

    async def _check_client_credentials(
        self, http: httpx.AsyncClient, endpoint: str, secret: str
    ) -> CheckResult:
        try:
            await check_client_credentials(
                http,
                endpoint,
                self._settings.kc_api_client_id,
                secret,
                timeout=self._settings.readiness_check_timeout_seconds * 4,
                method=self._settings.kc_api_client_auth_method,
            )
        except ClientCredentialsRejected as exc:
            return CheckResult(False, f"client credentials rejected: {exc}")
        except IssuerUnavailable as exc:
            return CheckResult(False, f"issuer unreachable: {exc}")
        return CheckResult(True)


async def _bounded(check: Awaitable[CheckResult], timeout: float) -> CheckResult:
    started = time.perf_counter()
    try:
        return await asyncio.wait_for(check, timeout)
    except TimeoutError:
        return CheckResult(False, f"timed out after {time.perf_counter() - started:.2f}s")


router = APIRouter(tags=["platform"])


@router.get("/healthz", summary="Liveness: the process answers", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    summary="Readiness: database, schema, issuer keys and client credentials",
    response_model=Readiness,
    responses={503: {"description": "Not ready; the problem names the failing checks"}},
)
async def readyz(request: Request) -> Readiness | Response:
    checks: ReadinessChecks = request.app.state.readiness
    results = await checks.evaluate()
    summary = {name: result.detail for name, result in results.items()}
    failing = sorted(name for name, result in results.items() if not result.ok)
    if failing:
        return problem_response(
            503,
            ServiceUnavailable.slug,
            "Not ready",
            f"Failing checks: {', '.join(failing)}.",
            extra={"checks": summary, "failing": failing},
        )
    return Readiness(status="ready", checks=summary)
