"""Optimistic concurrency: resources carry a version, sent as `ETag`; `If-Match` guards writes.

`If-Match` is optional (clients that do not send it get last-write-wins); when sent and
stale, the write is refused with 412 and nothing changes.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Header

from penvoice.errors import PreconditionFailed, ValidationFailed

_ETAG = re.compile(r'^(?:W/)?"(\d{1,9})"$')


def etag(version: int) -> str:
    return f'"{version}"'


def _expected_version(
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",
            max_length=64,
            description='The ETag you last saw, e.g. "3"; a stale one gives 412.',
        ),
    ] = None,
) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    match = _ETAG.match(if_match.strip())
    if match is None:
        raise ValidationFailed.for_field(
            "header.If-Match", 'must be an ETag this API issued, like "3"', "etag"
        )
    return int(match.group(1))


ExpectedVersion = Annotated[int | None, Depends(_expected_version)]


def check_version(expected: int | None, actual: int, what: str) -> None:
    if expected is not None and expected != actual:
        raise PreconditionFailed(
            f"The {what} changed since you read it (ETag {etag(actual)}); reload and retry.",
            headers={"ETag": etag(actual)},
        )
