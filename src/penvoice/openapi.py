"""Shared OpenAPI response declarations, so every route documents its problem responses."""

from __future__ import annotations

from typing import Any

from penvoice.errors import PROBLEM_MEDIA_TYPE

_DESCRIPTIONS = {
    401: "Missing or invalid bearer token",
    403: "Your role in this organisation does not allow this",
    404: "Not found, or not a member of the organisation",
    409: "Conflicts with the resource's state, or a duplicate request in progress",
    412: "If-Match does not match the current ETag",
    422: "Invalid input; `errors` names each field",
    503: "The database is unavailable; retry after `Retry-After`",
}

_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    "required": ["type", "title", "status"],
}


def PROBLEMS(*statuses: int) -> dict[int | str, dict[str, Any]]:  # noqa: N802 - reads as a constant
    """`responses=` for a route: each status as an RFC 9457 problem, plus 503 always."""
    return {
        status: {
            "description": _DESCRIPTIONS[status],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_SCHEMA}},
        }
        for status in (*statuses, 503)
    }
