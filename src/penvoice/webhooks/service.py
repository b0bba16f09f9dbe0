"""Webhook endpoints: the rules. Every change appends an event (which, like any event, is
itself delivered to the organisation's subscribed endpoints)."""

from __future__ import annotations

import base64
import secrets
from uuid import UUID

from penvoice import quotas
from penvoice.concurrency import check_version
from penvoice.db import Connection
from penvoice.errors import NotFound, ValidationFailed
from penvoice.events import repository as events
from penvoice.tenancy.access import OrgAccess
from penvoice.webhooks import repository, targets
from penvoice.webhooks.repository import AttemptRow as AttemptRow  # the routes' row types
from penvoice.webhooks.repository import EndpointRow as EndpointRow
from penvoice.webhooks.repository import MessageRow as MessageRow
from penvoice.webhooks.schemas import EndpointCreate, EndpointUpdate, RotateSecret

SUBJECT = "webhook_endpoint"


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


async def check_target(url: str, *, allow_private: bool, field: str = "body.url") -> None:
    try:
        await targets.resolve(targets.parse(url), allow_private=allow_private)
    except targets.TargetRefused as exc:
        raise ValidationFailed.for_field(field, str(exc), "url_refused") from None


async def _endpoint(
    conn: Connection, access: OrgAccess, endpoint_id: UUID, *, for_update: bool = False
) -> EndpointRow:
    endpoint = await repository.get_endpoint(
        conn, access.org_id, endpoint_id, for_update=for_update
    )
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


async def create(
    conn: Connection, access: OrgAccess, body: EndpointCreate, *, allow_private: bool
) -> tuple[EndpointRow, str]:
    await check_target(body.url, allow_private=allow_private)
    await quotas.check_new_webhook_endpoint(conn, access.org_id)
    types = list(dict.fromkeys(body.event_types))
    endpoint = await repository.insert_endpoint(
        conn, access.org_id, body.url, body.description, types, access.actor
    )
    secret = new_secret()
    await repository.add_secret(conn, access.org_id, endpoint.id, secret, 0)
    await events.append(
        conn,
        access.org_id,
        "webhook_endpoint.created",
        access.actor,
        (SUBJECT, endpoint.id),
        {"url": endpoint.url, "event_types": types},
    )
    return endpoint, secret


async def get(conn: Connection, access: OrgAccess, endpoint_id: UUID) -> EndpointRow:
    return await _endpoint(conn, access, endpoint_id)


async def list_all(conn: Connection, access: OrgAccess) -> list[EndpointRow]:
    return await repository.list_endpoints(conn, access.org_id)


async def update(
    conn: Connection,
    access: OrgAccess,
    endpoint_id: UUID,
    body: EndpointUpdate,
    expected_version: int | None,
    *,
    allow_private: bool,
) -> EndpointRow:
    endpoint = await _endpoint(conn, access, endpoint_id, for_update=True)
    check_version(expected_version, endpoint.version, "webhook endpoint")
    changes: dict[str, object] = {}
    if body.url is not None and body.url != endpoint.url:
        await check_target(body.url, allow_private=allow_private)
        changes["url"] = body.url
    if body.description is not None:
        changes["description"] = body.description
    if body.event_types is not None:
        changes["event_types"] = list(dict.fromkeys(body.event_types))
    if body.enabled is True and not endpoint.enabled:
        changes.update(enabled=True, disabled_reason=None, failing_since=None)
    if body.enabled is False and endpoint.enabled:
        changes.update(enabled=False, disabled_reason=f"disabled by {access.actor}")
    if not changes:
        return endpoint
    updated = await repository.update_endpoint(conn, access.org_id, endpoint_id, changes)
    await events.append(
        conn,
        access.org_id,
        "webhook_endpoint.updated",
        access.actor,
        (SUBJECT, endpoint_id),
        {"changed": sorted(changes)},
    )
    return updated


async def delete(
    conn: Connection, access: OrgAccess, endpoint_id: UUID, expected_version: int | None
) -> None:
    endpoint = await _endpoint(conn, access, endpoint_id, for_update=True)
    check_version(expected_version, endpoint.version, "webhook endpoint")
    await repository.delete_endpoint(conn, access.org_id, endpoint_id)
    await events.append(
        conn,
        access.org_id,
        "webhook_endpoint.deleted",
        access.actor,
        (SUBJECT, endpoint_id),
        {"url": endpoint.url},
    )


async def rotate_secret(
    conn: Connection, access: OrgAccess, endpoint_id: UUID, body: RotateSecret
) -> tuple[EndpointRow, str]:
    endpoint = await _endpoint(conn, access, endpoint_id, for_update=True)
    secret = new_secret()
    await repository.add_secret(conn, access.org_id, endpoint_id, secret, body.overlap_seconds)
    await events.append(
        conn,
        access.org_id,
        "webhook_endpoint.secret_rotated",
        access.actor,
        (SUBJECT, endpoint_id),
        {"overlap_seconds": body.overlap_seconds},
    )
    return endpoint, secret


async def messages(
    conn: Connection, access: OrgAccess, endpoint_id: UUID
) -> list[tuple[MessageRow, list[AttemptRow]]]:
    await _endpoint(conn, access, endpoint_id)
    return await repository.list_messages(conn, access.org_id, endpoint_id)


async def resend(
    conn: Connection, access: OrgAccess, endpoint_id: UUID, message_id: str
) -> tuple[MessageRow, list[AttemptRow]]:
    """Queue the message again; it, as it is now."""
    await _endpoint(conn, access, endpoint_id)
    if not await repository.requeue_message(conn, access.org_id, endpoint_id, message_id):
        raise NotFound("No such message for this endpoint.")
    await events.append(
        conn,
        access.org_id,
        "webhook_endpoint.message_resent",
        access.actor,
        (SUBJECT, endpoint_id),
        {"message_id": message_id},
    )
    (resent,) = await repository.list_messages(conn, access.org_id, endpoint_id, message_id)
    return resent
