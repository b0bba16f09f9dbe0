"""Shared OpenAPI response declarations, so every route documents its problem responses."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI

from penvoice.errors import PROBLEM_MEDIA_TYPE
from penvoice.money import BIGINT_MAX

_DESCRIPTIONS = {
    401: "Missing or invalid bearer token",
    403: "Your role in this organisation does not allow this",
    404: "Not found, or not a member of the organisation",
    409: "Conflicts with the resource's state, or a duplicate request in progress",
    412: "If-Match does not match the current ETag",
    429: "Over a rate limit (per principal or organisation) or a concurrency bound; retry "
    "after `Retry-After`",
    422: "Invalid input; `errors` names each field",
    503: "Temporarily unavailable (the database, or no capacity free); retry after `Retry-After`",
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


def document_validation_problems(app: FastAPI) -> None:
    """Every 422 in the document is the problem+json the app really answers.

    FastAPI adds its own 422 (`HTTPValidationError`, application/json) to each route with
    parameters that does not declare one, but the error handlers answer every validation
    failure as a problem; a client generated from the document must not expect otherwise.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.get("responses", {})
                if "422" in responses and PROBLEM_MEDIA_TYPE not in responses["422"].get(
                    "content", {}
                ):
                    responses["422"] = PROBLEMS(422)[422]
        schemas = document.get("components", {}).get("schemas", {})
        if "HTTPValidationError" not in json.dumps(document.get("paths", {})):
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


BEARER_SCHEME = "bearer"
_BOUNDS = ("maximum", "minimum", "exclusiveMaximum", "exclusiveMinimum")


def complete(document: dict[str, Any], authenticated: set[tuple[str, str]]) -> dict[str, Any]:
    """What FastAPI's generator leaves out or bends, put right once per document:

    - the bearer scheme, and `security` on every operation that needs a token (so the docs
      page offers "Authorize" and generated clients send the token); the others say `[]`;
    - a 429 problem on every such operation (the per-principal and per-organisation rates);
    - a relative `servers` entry (the document describes the server that serves it);
    - integer bounds as exact integers: FastAPI's models hold them as floats, which turned
      bigint's 9223372036854775807 into 9.223372036854776e18, a value above the column's.
    """
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {})[BEARER_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token of the Keycloak realm (`make run` prints one).",
    }
    document["servers"] = [{"url": "/", "description": "the server that serves this document"}]
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            needs_token = (method.upper(), path) in authenticated
            operation["security"] = [{BEARER_SCHEME: []}] if needs_token else []
            if needs_token:  # the rate limits apply to every authenticated request
                operation.setdefault("responses", {}).setdefault("429", PROBLEMS(429)[429])
    _exact_integer_bounds(document)
    return document


def _exact_integer_bounds(node: object) -> None:
    if isinstance(node, dict):
        for key in _BOUNDS:
            value = node.get(key)
            if isinstance(value, float) and value.is_integer():
                exact = int(value)
                node[key] = BIGINT_MAX if exact == BIGINT_MAX + 1 else exact
        for child in node.values():
            _exact_integer_bounds(child)
    elif isinstance(node, list):
        for child in node:
            _exact_integer_bounds(child)
