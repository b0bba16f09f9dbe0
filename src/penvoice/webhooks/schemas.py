"""Webhook endpoints, their secrets and their delivery log, as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints

from penvoice.fields import Strict

MAX_EVENT_TYPES = 50
EventType = Annotated[
    str, StringConstraints(pattern=r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$", max_length=100)
]
Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=8, max_length=2000)]
MessageStatus = Literal["pending", "delivered", "failed"]
DEFAULT_OVERLAP_SECONDS = 24 * 3600


class EndpointCreate(Strict):
    url: Url = Field(description="http(s) URL; no credentials; never a private address.")
    description: Annotated[str, Field(max_length=500)] = ""
    event_types: Annotated[list[EventType], Field(max_length=MAX_EVENT_TYPES)] = Field(
        default_factory=list,
        description="Event types to receive (`invoice.finalized`, …); empty: every event.",
    )


class EndpointUpdate(Strict):
    url: Url | None = None
    description: Annotated[str, Field(max_length=500)] | None = None
    event_types: Annotated[list[EventType], Field(max_length=MAX_EVENT_TYPES)] | None = None
    enabled: bool | None = Field(
        default=None, description="false disables; true re-enables and clears the failure"
    )


class RotateSecret(Strict):
    overlap_seconds: Annotated[int, Field(ge=0, le=7 * 24 * 3600)] = Field(
        default=DEFAULT_OVERLAP_SECONDS,
        description="How long the previous secret keeps signing too (both signatures sent).",
    )


class Endpoint(BaseModel):
    id: UUID
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


class EndpointWithSecret(Endpoint):
    secret: str = Field(description="The signing secret (whsec_…): shown only here.")


class EndpointList(BaseModel):
    items: list[Endpoint]


class Attempt(BaseModel):
    attempted_at: datetime
    response_status: int | None
    response_body: str | None
    error: str | None
    duration_ms: int


class Message(BaseModel):
    id: str = Field(description="The webhook-id header, the same on every attempt.")
    event_id: int
    event_type: str
    status: MessageStatus
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None
    log: list[Attempt]


class MessageList(BaseModel):
    items: list[Message]
