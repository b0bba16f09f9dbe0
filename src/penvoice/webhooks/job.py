"""Delivering webhooks (run by `penvoice worker`).

The sweep (every WORKER_POLL_SECONDS) enqueues one `webhooks.deliver` job per enabled
endpoint whose oldest pending message is due. The job works through that endpoint's pending
messages in event order, one at a time, holding a session advisory lock on the endpoint so
that two workers never deliver to it at once (PostgreSQL releases the lock of a worker that
dies), until none is due or WEBHOOK_JOB_BUDGET_SECONDS have passed: then the job ends, and
the next sweep queues the endpoint again, behind the others. Each attempt is signed afresh
(Standard Webhooks: `webhook-id` = the message id, the same on every attempt;
`webhook-timestamp` = now; `webhook-signature` = one `v1,` signature per secret still
signing) and recorded with the first MAX_RESPONSE_BYTES of its response,
all of it read within one deadline (WEBHOOK_TIMEOUT_SECONDS). A message is delivered on a 2xx
answer. Anything else (redirects are not followed) is retried with exponential backoff
until WEBHOOK_MAX_ATTEMPTS, then given up as `failed`; later messages wait behind a message
that is being retried. An endpoint without a single success for WEBHOOK_DISABLE_AFTER_SECONDS
is disabled. A worker killed mid-delivery leaves the message pending: it is delivered again,
with the same webhook-id (at least once; receivers deduplicate on it)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import httpx
from standardwebhooks.webhooks import Webhook

from penvoice.config import WorkerSettings
from penvoice.db import Database
from penvoice.events import repository as events
from penvoice.jobs import repository as jobs
from penvoice.jobs.kinds import JobContext, JobKind, Periodic
from penvoice.tenancy import repository as tenancy
from penvoice.webhooks import repository, targets
from penvoice.webhooks.repository import MessageRow

log = logging.getLogger("penvoice.webhooks")

DELIVER_JOB = "webhooks.deliver"
ACTOR = "penvoice-worker"
USER_AGENT = "Penvoice-Webhooks/1"
MAX_RESPONSE_BYTES = 2000


@dataclass(frozen=True)
class Outcome:
    status: int | None
    body: str | None
    error: str | None
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300


def signed_headers(
    message_id: str, body: bytes, secrets: list[str], at: datetime
) -> dict[str, str]:
    signatures = " ".join(Webhook(secret).sign(message_id, at, body) for secret in secrets)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


async def post(
    url: str, message: MessageRow, secrets: list[str], settings: WorkerSettings
) -> Outcome:
    """One attempt: resolve and check the target, then, within WEBHOOK_TIMEOUT_SECONDS in
    all, connect to the checked address, POST and read the head of the answer."""
    started = time.perf_counter()

    def took() -> int:
        return int((time.perf_counter() - started) * 1000)

    try:
        target = targets.parse(url)
        addresses = await targets.resolve(
            target, allow_private=settings.webhook_allow_private_targets
        )
    except targets.TargetRefused as exc:
        return Outcome(None, None, f"refused target: {exc}", took())
    body = message.payload.encode()
    headers = signed_headers(message.id, body, secrets, datetime.now(UTC))
    headers["host"] = target.host_header
    headers["accept-encoding"] = "identity"  # nothing to decompress: no decompression bomb
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    deadline = settings.webhook_timeout_seconds
    response: httpx.Response | None = None
    try:
        async with (
            asyncio.timeout(deadline),  # the whole exchange, however slowly bytes trickle
            httpx.AsyncClient(
                follow_redirects=False, timeout=settings.webhook_timeout_seconds, trust_env=False
            ) as client,
            client.stream(
                "POST",
                target.url_for(addresses[0]),
                content=body,
                headers=headers,
                extensions=extensions,
            ) as response,
        ):
            head = await read_head(response)
    except TimeoutError:
        status = None if response is None else response.status_code
        return Outcome(status, None, f"DeadlineExceeded: no full answer in {deadline:g} s", took())
    except httpx.HTTPError as exc:
        return Outcome(None, None, f"{type(exc).__name__}: {exc}"[:MAX_RESPONSE_BYTES], took())
    text = head.decode("utf-8", errors="replace")
    error = "redirects are not followed" if response.is_redirect else None
    return Outcome(response.status_code, text, error, took())


async def read_head(response: httpx.Response) -> bytes:
    """The first MAX_RESPONSE_BYTES of the body as sent. The rest is never read: closing the
    unfinished response drops the connection."""
    head = bytearray()
    async for chunk in response.aiter_raw():
        head += chunk
        if len(head) >= MAX_RESPONSE_BYTES:
            break
    return bytes(head[:MAX_RESPONSE_BYTES])


def retry_delay(settings: WorkerSettings, attempts: int) -> float:
    """Seconds before attempt `attempts + 1` (after `attempts` failures): doubling, capped."""
    delay = settings.webhook_retry_first_delay_seconds * 2 ** max(0, attempts - 1)
    return float(min(delay, settings.webhook_retry_max_delay_seconds))


async def deliver_endpoint(context: JobContext, payload: dict[str, object]) -> None:
    org_id = UUID(str(payload["org_id"]))
    endpoint_id = UUID(str(payload["endpoint_id"]))
    async with context.database.connection() as lock_conn:
        if not await repository.try_lock_endpoint(lock_conn, endpoint_id):
            return  # another worker is delivering to it and works through its queue
        ends = time.monotonic() + context.settings.webhook_job_budget_seconds
        try:
            while time.monotonic() < ends and await _deliver_next(
                context.database, context.settings, org_id, endpoint_id
            ):
                pass  # past the budget the job ends; the next sweep queues what is left
        finally:
            await repository.unlock_endpoint(lock_conn, endpoint_id)


async def _deliver_next(
    database: Database, settings: WorkerSettings, org_id: UUID, endpoint_id: UUID
) -> bool:
    """Deliver the endpoint's next due message; True when the next one may follow now."""
    async with database.connection() as conn, conn.transaction():
        await tenancy.enter_org(conn, org_id)
        endpoint = await repository.get_endpoint(conn, org_id, endpoint_id)
        if endpoint is None or not endpoint.enabled:
            return False
        message = await repository.head_message(conn, org_id, endpoint_id)
        if message is None or message.next_attempt_at > datetime.now(UTC):
            return False
        secrets = await repository.signing_secrets(conn, org_id, endpoint_id)
    outcome = await post(endpoint.url, message, secrets, settings)
    async with database.connection() as conn, conn.transaction():
        await tenancy.enter_org(conn, org_id)
        await repository.record_attempt(
            conn,
            org_id,
            message.id,
            outcome.status,
            outcome.body,
            outcome.error,
            outcome.duration_ms,
        )
        if outcome.delivered:
            await repository.message_delivered(conn, org_id, message.id)
            if endpoint.failing_since is not None:
                await repository.update_endpoint(conn, org_id, endpoint_id, {"failing_since": None})
            return True
        attempts = message.attempts + 1
        give_up = attempts >= settings.webhook_max_attempts
        await repository.message_failed(
            conn, org_id, message.id, None if give_up else retry_delay(settings, attempts)
        )
        failing_since = endpoint.failing_since or datetime.now(UTC)
        if endpoint.failing_since is None:
            await repository.update_endpoint(
                conn, org_id, endpoint_id, {"failing_since": failing_since}
            )
        failing_for = (datetime.now(UTC) - failing_since).total_seconds()
        if failing_for >= settings.webhook_disable_after_seconds:
            reason = f"no successful delivery for {int(failing_for)} s"
            await repository.update_endpoint(
                conn, org_id, endpoint_id, {"enabled": False, "disabled_reason": reason}
            )
            await events.append(
                conn,
                org_id,
                "webhook_endpoint.disabled",
                ACTOR,
                ("webhook_endpoint", endpoint_id),
                {"reason": reason},
            )
            log.warning("webhook endpoint %s disabled: %s", endpoint_id, reason)
            return False
        return give_up  # a given-up message lets the next one go; a retried one holds them


async def sweep(database: Database, settings: WorkerSettings) -> None:
    """Enqueue a delivery job for every endpoint with a message due (one per endpoint)."""
    async with database.connection() as conn, conn.transaction():
        due = await repository.due_endpoints(conn)
        for org_id, endpoint_id in due:
            await jobs.enqueue_unless_queued(
                conn,
                DELIVER_JOB,
                {"org_id": str(org_id), "endpoint_id": str(endpoint_id)},
                dedupe_key=f"{DELIVER_JOB}:{endpoint_id}",
            )


DELIVER_WEBHOOKS = JobKind(DELIVER_JOB, deliver_endpoint)
SWEEP_WEBHOOKS = Periodic("webhooks.sweep", sweep)
