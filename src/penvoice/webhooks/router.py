"""Webhook endpoints, secrets and the delivery log (admins). Thin handlers over
`webhooks.service`."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Path, Request, Response

from penvoice.concurrency import ExpectedVersion, etag
from penvoice.idempotency.keys import IdempotentRequest
from penvoice.openapi import PROBLEMS
from penvoice.tenancy.access import AsAdmin, UserTransaction
from penvoice.webhooks import service
from penvoice.webhooks.schemas import (
    Attempt,
    Endpoint,
    EndpointCreate,
    EndpointList,
    EndpointUpdate,
    EndpointWithSecret,
    Message,
    MessageList,
    RotateSecret,
)
from penvoice.webhooks.service import AttemptRow, EndpointRow, MessageRow

router = APIRouter(tags=["webhooks"])

EndpointID = Annotated[UUID, Path(description="The webhook endpoint's id.")]
MessageID = Annotated[
    str, Path(description="The message's webhook-id.", pattern=r"^msg_[0-9a-f]{32}$")
]
LIST = "/orgs/{org_id}/webhook-endpoints"
ITEM = LIST + "/{endpoint_id}"


def _allow_private(request: Request) -> bool:
    return bool(request.app.state.settings.webhook_allow_private_targets)


def _view(row: EndpointRow) -> Endpoint:
    return Endpoint(**row.__dict__)


def _message(row: MessageRow, attempts: list[AttemptRow]) -> Message:
    values = {k: v for k, v in row.__dict__.items() if k != "payload"}
    return Message(**values, log=[Attempt(**a.__dict__) for a in attempts])


@router.post(
    LIST,
    status_code=201,
    summary="Register a webhook endpoint (its signing secret is in this answer only)",
    response_model=EndpointWithSecret,
    responses=PROBLEMS(401, 403, 404, 409, 422),
)
async def create_endpoint(
    request: Request,
    body: EndpointCreate,
    access: AsAdmin,
    conn: UserTransaction,
    key: IdempotentRequest,
) -> Response:
    endpoint, secret = await service.create(
        conn, access, body, allow_private=_allow_private(request)
    )
    view = EndpointWithSecret(**endpoint.__dict__, secret=secret)
    location = f"/v1/orgs/{access.org_id}/webhook-endpoints/{endpoint.id}"
    return await key.respond(201, view, {"ETag": etag(endpoint.version), "Location": location})


@router.get(
    LIST,
    summary="List the organisation's webhook endpoints",
    response_model=EndpointList,
    responses=PROBLEMS(401, 403, 404, 422),
)
async def list_endpoints(access: AsAdmin, conn: UserTransaction) -> EndpointList:
    return EndpointList(items=[_view(row) for row in await service.list_all(conn, access)])


@router.get(
    ITEM,
    summary="Get a webhook endpoint",
    response_model=Endpoint,
    responses=PROBLEMS(401, 403, 404, 422),
)
async def get_endpoint(endpoint_id: EndpointID, access: AsAdmin, conn: UserTransaction) -> Response:
    endpoint = await service.get(conn, access, endpoint_id)
    body = _view(endpoint).model_dump_json().encode()
    return Response(body, media_type="application/json", headers={"ETag": etag(endpoint.version)})


@router.patch(
    ITEM,
    summary="Change an endpoint's URL, description or event types; disable or re-enable it",
    response_model=Endpoint,
    responses=PROBLEMS(401, 403, 404, 412, 422),
)
async def update_endpoint(
    request: Request,
    endpoint_id: EndpointID,
    body: EndpointUpdate,
    access: AsAdmin,
    conn: UserTransaction,
    expected_version: ExpectedVersion,
) -> Response:
    endpoint = await service.update(
        conn, access, endpoint_id, body, expected_version, allow_private=_allow_private(request)
    )
    view = _view(endpoint).model_dump_json().encode()
    return Response(view, media_type="application/json", headers={"ETag": etag(endpoint.version)})


@router.delete(
    ITEM,
    status_code=204,
    summary="Delete a webhook endpoint and its delivery log",
    responses=PROBLEMS(401, 403, 404, 412, 422),
)
async def delete_endpoint(
    endpoint_id: EndpointID,
    access: AsAdmin,
    conn: UserTransaction,
    expected_version: ExpectedVersion,
) -> Response:
    await service.delete(conn, access, endpoint_id, expected_version)
    return Response(status_code=204)


@router.post(
    ITEM + "/rotate-secret",
    summary="Rotate the signing secret; the previous one keeps signing for the overlap",
    response_model=EndpointWithSecret,
    responses=PROBLEMS(401, 403, 404, 409, 422),
)
async def rotate_secret(
    endpoint_id: EndpointID,
    access: AsAdmin,
    conn: UserTransaction,
    key: IdempotentRequest,
    body: Annotated[RotateSecret | None, Body()] = None,
) -> Response:
    endpoint, secret = await service.rotate_secret(
        conn, access, endpoint_id, body or RotateSecret()
    )
    return await key.respond(200, EndpointWithSecret(**endpoint.__dict__, secret=secret))


@router.get(
    ITEM + "/messages",
    summary="The delivery log: the latest 100 messages, each with its latest 20 attempts",
    response_model=MessageList,
    responses=PROBLEMS(401, 403, 404, 422),
)
async def list_messages(
    endpoint_id: EndpointID, access: AsAdmin, conn: UserTransaction
) -> MessageList:
    rows = await service.messages(conn, access, endpoint_id)
    return MessageList(items=[_message(row, attempts) for row, attempts in rows])


@router.post(
    ITEM + "/messages/{message_id}/resend",
    status_code=202,
    summary="Send a message again (same webhook-id), now and with fresh attempts",
    response_model=MessageList,
    responses=PROBLEMS(401, 403, 404, 409, 422),
)
async def resend_message(
    endpoint_id: EndpointID,
    message_id: MessageID,
    access: AsAdmin,
    conn: UserTransaction,
    key: IdempotentRequest,
) -> Response:
    row, attempts = await service.resend(conn, access, endpoint_id, message_id)
    return await key.respond(202, MessageList(items=[_message(row, attempts)]))
