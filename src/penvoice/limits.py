"""Limits on what a client may send: the request head, the URL's encoding, the body.

The edge (`penvoice.web.edge`) answers 413 problem+json (`PayloadTooLarge`) for a body over
`MAX_BODY_BYTES`: at once when `Content-Length` says so (the body is never read), and
otherwise by counting the bytes as they stream in, so a chunked or lying upload is cut off
at the limit rather than buffered whole. A path or query string that is not UTF-8 once
percent-decoded is a 400 problem+json (`url_is_utf8`): decoding would silently replace the
bad bytes with U+FFFD, so a malformed filter would quietly become a different filter.

`bounded_httptools_protocol` is uvicorn's httptools protocol with a bound on the request
head (request line and headers, `MAX_HEADER_BYTES`): httptools itself buffers a header of
any size, so a 20 MB header would otherwise be read into memory. An oversized head is
answered 431 problem+json and the connection closed. The parser's own refusals (malformed
requests, bytes that are not ASCII in the request line) are problem+json too.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.types import Scope
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from penvoice.errors import PROBLEM_BASE, PROBLEM_MEDIA_TYPE, PenvoiceError

log = logging.getLogger("penvoice.limits")


class PayloadTooLarge(PenvoiceError):
    """A body over the limit: refused when `Content-Length` says so (never read), or as
    soon as the streamed bytes pass it. The rest is not read, so the connection closes."""

    status = 413
    slug = "payload-too-large"
    title = "Request body too large"

    def __init__(self, max_bytes: int) -> None:
        super().__init__(
            f"The request body exceeds the limit of {max_bytes} bytes.",
            headers={"Connection": "close"},
        )


def url_is_utf8(scope: Scope) -> bool:
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
    query: bytes = scope.get("query_string", b"")
    try:
        unquote_to_bytes(raw_path).decode("utf-8")
        unquote_to_bytes(query.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _raw_problem(
    status: int, reason: str, slug: str, title: str, detail: str
) -> tuple[bytes, bytes]:
    """Status line and headers (unterminated), and the body, of a problem sent by hand."""
    body = json.dumps(
        {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail},
        separators=(",", ":"),
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        f"content-type: {PROBLEM_MEDIA_TYPE}\r\n"
        f"content-length: {len(body)}\r\n"
        "x-content-type-options: nosniff\r\n"
        "connection: close\r\n"
    )
    return head.encode("ascii"), body


class _BoundedHttpToolsProtocol(HttpToolsProtocol):
    max_head_bytes = 32 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = False  # between the first byte of a request and its blank line
        self._head_bytes = 0  # bytes read while the current head stayed incomplete
        self._head_size = 0  # request target and headers as parsed
        self._head_too_large = False

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_size = 0

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        if self._head_size > self.max_head_bytes:
            # A whole head that arrived in one read: refused as it completes. The parser
            # turns the exception into an HttpParserError, and uvicorn calls send_400_response.
            self._head_too_large = True
            raise ValueError("request head too large")
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        super().data_received(data)
        # A head still incomplete after this read: httptools holds it, however long, until
        # its blank line. Counting every such read bounds what it holds to the limit plus
        # one read; a head that completes is measured exactly in on_headers_complete.
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._refuse_head()

    def _refuse_head(self) -> None:
        log.warning("request head over %d bytes refused", self.max_head_bytes)
        detail = f"The request line and headers exceed the limit of {self.max_head_bytes} bytes."
        self._send_problem(
            431,
            "Request Header Fields Too Large",
            "header-too-large",
            "Request header fields too large",
            detail,
        )

    def send_400_response(self, msg: str) -> None:
        if self._head_too_large:
            self._refuse_head()
            return
        self._send_problem(400, "Bad Request", "bad-request", "Bad request", msg)

    def _send_problem(self, status: int, reason: str, slug: str, title: str, detail: str) -> None:
        if self.transport.is_closing():
            return
        # Mid-response (a pipelined request behind one still being answered): only close.
        if self.cycle is None or self.cycle.response_complete:
            head, body = _raw_problem(status, reason, slug, title, detail)
            defaults = b"".join(
                name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers
            )
            self.transport.write(head + defaults + b"\r\n" + body)
        self.transport.close()


def bounded_httptools_protocol(max_head_bytes: int) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol, refusing request heads over `max_head_bytes`."""
    return type(
        "BoundedHttpToolsProtocol", (_BoundedHttpToolsProtocol,), {"max_head_bytes": max_head_bytes}
    )
