"""Cursor (keyset) pagination: `limit` 1-100 (default 25) and an opaque `next_cursor`.

A cursor is the sort key of the last item of a page, base64url-encoded JSON. Pages are
stable under inserts (no offsets) and cost the same at any depth with the right index.
A cursor that does not decode is a 422 naming `query.cursor`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

from fastapi import Query
from pydantic import BaseModel

from penvoice.errors import ValidationFailed
from penvoice.money import BIGINT_MAX

T = TypeVar("T")
K = TypeVar("K")

Limit = Annotated[int, Query(ge=1, le=100, description="Page size, 1 to 100.")]
CursorParam = Annotated[
    str | None,
    Query(max_length=512, description="The `next_cursor` of the previous page."),
]
DEFAULT_LIMIT = 25


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(*values: Any) -> str:
    raw = json.dumps([str(value) for value in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, parse: Callable[[list[str]], K]) -> K:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ValueError("not a list of strings")
        return parse(values)
    except (ValueError, TypeError, IndexError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed.for_field(
            "query.cursor", "not a cursor this API issued", "cursor"
        ) from None


def created_id_key(values: list[str]) -> tuple[datetime, UUID]:
    """The (created_at, id) key most lists are ordered by, newest first."""
    created_at, item_id = values
    moment = datetime.fromisoformat(created_at)
    if moment.tzinfo is None:
        raise ValueError("cursor timestamps carry a time zone")
    return moment.astimezone(UTC), UUID(item_id)  # OverflowError past year 9999


def id_key(values: list[str]) -> int:
    """A bigint id key (the event trail)."""
    (value,) = values
    number = int(value)
    if not 1 <= number <= BIGINT_MAX:
        raise ValueError("cursor id out of range")
    return number


def page_of(items: list[T], limit: int, key: Callable[[T], tuple[Any, ...]]) -> Page[T]:
    """Repositories fetch `limit + 1` rows; the extra one says whether a next page exists."""
    return page_ending(items[:limit], len(items) > limit, key)


def page_ending(items: list[T], more: bool, key: Callable[[T], tuple[Any, ...]]) -> Page[T]:
    """A page whose end the repository chose (a row limit, or a byte budget): `more` says
    whether rows follow the last of `items`."""
    cursor = encode_cursor(*key(items[-1])) if more and items else None
    return Page(items=items, next_cursor=cursor)


def page_json(items: list[tuple[bytes, tuple[Any, ...]]], limit: int) -> bytes:
    """`page_of` for items already rendered as JSON: the same `Page` document."""
    shown = items[:limit]
    cursor = None
    if len(items) > limit:
        cursor = json.dumps(encode_cursor(*shown[-1][1])).encode()
    return (
        b'{"items":['
        + b",".join(item for item, _ in shown)
        + b'],"next_cursor":'
        + (cursor or b"null")
        + b"}"
    )
