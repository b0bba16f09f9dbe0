"""The request edge: one pure-ASGI pass from the socket to the handler and back.

For every HTTP request, in this order, in one function:

1. request id (a sane incoming `X-Request-ID` is kept), URL encoding check, CORS;
2. the route table gives the compiled operation (`penvoice.web.operations`), or 404/405;
3. the bearer token is verified (a cache hit for a token seen before) **before the body is
   read**, so an anonymous client cannot make the server read or parse anything;
4. path, query and header parameters are validated in one call; the body is read up to the
   limit and validated;
5. the request's transaction opens, and one statement enters the principal and, for
   organisation routes, checks the membership and enters the tenant (`penvoice_enter`);
6. the handler runs; its transaction commits before anything is sent;
7. the answer goes out with the request id, `nosniff` and CORS headers, and the request is
   counted (`http_requests_total`, `http_request_duration_seconds`, labelled by route
   template) and logged (one JSON access line).

Every error on the way is an RFC 9457 problem; an unexpected one is a logged 500.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from urllib.parse import quote
from uuid import UUID

from fastapi import FastAPI
from starlette.datastructures import QueryParams, State
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from penvoice.access import AccessLog
from penvoice.auth import Principal, TokenVerifier, bearer_token
from penvoice.db import (
    DATABASE_UNAVAILABLE_ERRORS,
    UNSTORABLE_TEXT_ERRORS,
    Database,
    database_unavailable,
    request_transaction,
    unstorable_text,
)
from penvoice.errors import NotFound, PenvoiceError, ServiceUnavailable, problem_response
from penvoice.idempotency.keys import IdempotentReplay, replay_response
from penvoice.limits import PayloadTooLarge, url_is_utf8
from penvoice.metrics import UNMATCHED_ROUTE, HttpMetrics
from penvoice.openapi import complete
from penvoice.tenancy.access import check_access, enter
from penvoice.web.cors import Cors
from penvoice.web.operations import Call, Operation, compile_operation
from penvoice.web.ratelimit import RateLimited, TokenBuckets
from penvoice.web.routes import RouteTable

log = logging.getLogger("penvoice.errors")

_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class _RequestIds:
    """32 hex digits, unique across pods and restarts: 64 random bits chosen when the
    process starts, then a counter (a uuid4 per request cost a `getrandom` call and an
    object, a tenth of a health probe's CPU)."""

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._next = itertools.count(secrets.randbits(48)).__next__

    def __call__(self) -> str:
        return f"{self._prefix}{self._next() & 0xFFFF_FFFF_FFFF_FFFF:016x}"


_new_request_id = _RequestIds()
_JSON = [(b"content-type", b"application/json")]
Lifespan = Callable[["Edge"], AbstractAsyncContextManager[None]]
Handler = Callable[[Scope, Receive, Send], Any]


class Edge:
    """The ASGI application: the declared routes, compiled, behind the one edge pass."""

    def __init__(
        self,
        declared: FastAPI,
        *,
        database: Database,
        metrics: HttpMetrics,
        lifespan: Lifespan,
        max_body_bytes: int,
        max_small_body_bytes: int | None = None,
        cors_origins: tuple[str, ...] = (),
        per_principal: TokenBuckets | None = None,
        per_org: TokenBuckets | None = None,
    ) -> None:
        self.declared = declared
        self.database = database
        self.metrics = metrics
        self.state = State()
        self._per_principal = per_principal
        self._per_org = per_org
        self._lifespan = lifespan
        self._cors = Cors(cors_origins) if cors_origins else None
        self._access_log = AccessLog()
        self.routes = RouteTable()
        from fastapi.routing import APIRoute, iter_route_contexts  # noqa: PLC0415

        for context in iter_route_contexts(declared.routes):
            route = context.original_route
            if not isinstance(route, APIRoute) or context.path is None:
                continue
            for method in sorted(context.methods or ()):
                operation = compile_operation(method, context.path, route)
                # Only an invoice's lines make a body large; every other body gets the small
                # limit, so a route that never needs megabytes never reads them.
                if not operation.body_has_lists and max_small_body_bytes is not None:
                    operation.max_body_bytes = min(max_small_body_bytes, max_body_bytes)
                else:
                    operation.max_body_bytes = max_body_bytes
                self.routes.add(operation)
        self._dispatch: Handler = self._run
        self._openapi_bytes: bytes | None = None
        self._openapi: dict[str, Any] | None = None

    # --- what tests, the CLI and the server use -----------------------------------------

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document: the declarations, as FastAPI writes them, completed once
        (security, servers, exact bounds: `penvoice.openapi.complete`)."""
        if self._openapi is None:
            authenticated = {
                (op.method, op.template) for op in self.routes.operations() if op.authenticate
            }
            self._openapi = complete(self.declared.openapi(), authenticated)
        return self._openapi

    def operations(self) -> set[tuple[str, str]]:
        """Every (method, route template) the app answers."""
        return {(op.method, op.template) for op in self.routes.operations()}

    def wrap_handlers(self, wrap: Callable[[Handler], Handler]) -> None:
        """Put an ASGI wrapper where a failing handler is: inside the metrics and the access
        log, around routing and handling (the canary lab's fault injection)."""
        self._dispatch = wrap(self._dispatch)

    @asynccontextmanager
    async def lifespan_context(self) -> AsyncIterator[None]:
        async with self._lifespan(self):
            yield

    # --- ASGI --------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan_protocol(receive, send)

    async def _lifespan_protocol(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        started = False
        try:
            async with self._lifespan(self):
                started = True
                await send({"type": "lifespan.startup.complete"})
                await receive()  # lifespan.shutdown
        except BaseException as exc:
            log.exception("lifespan failed")
            kind = "lifespan.shutdown.failed" if started else "lifespan.startup.failed"
            await send({"type": kind, "message": repr(exc)})
            if started:
                raise
            return
        await send({"type": "lifespan.shutdown.complete"})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        scope["app"] = self
        request_id = None
        origin = None
        preflight = False
        for name, value in scope["headers"]:
            if name == b"x-request-id" and request_id is None:
                candidate = value.decode("latin-1")
                request_id = candidate if _SAFE_REQUEST_ID.fullmatch(candidate) else ""
            elif name == b"origin":
                origin = value.decode("latin-1")
            elif name == b"access-control-request-method":
                preflight = True
        if not request_id:
            request_id = _new_request_id()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        extra = [(b"x-request-id", request_id.encode()), (b"x-content-type-options", b"nosniff")]
        if origin is not None and self._cors is not None and not preflight:
            extra.extend(self._cors.response_headers(origin))
        status = 500

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        try:
            await self._dispatch(scope, receive, answer)
        finally:
            route = state.get("route", UNMATCHED_ROUTE)
            elapsed = time.perf_counter() - started
            self.metrics.observe(scope["method"], route, status, elapsed)
            self._access_log.write(
                scope["method"],
                route,
                status,
                round(elapsed * 1000, 2),
                request_id,
                state.get("principal_subject"),
            )

    async def _run(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route and handle one request; every failure before the answer is a problem."""
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self._handle(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise  # mid-stream: abort the transfer rather than end a short file
            await _send_response(_problem_for(exc, scope), scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        if self._cors is not None and method == "OPTIONS":
            preflight = self._cors.preflight(scope)
            if preflight is not None:
                await _send_response(preflight, scope, receive, send)
                return
        if not url_is_utf8(scope):
            raise PenvoiceError(  # 400 bad-request
                "The path or query string is not valid UTF-8 once percent-decoded."
            )
        match = self.routes.match(method, path)
        if match is None:
            if path == "/openapi.json" and method == "GET":
                scope["state"]["route"] = "/openapi.json"
                await self._send_openapi(send)
                return
            other = path[:-1] if path.endswith("/") else path + "/"
            if path != "/" and self.routes.match(method, other) is not None:
                await _send_response(_redirect(scope, other), scope, receive, send)
                return
            raise NotFound("No resource at this path.")
        scope["state"]["route"] = match.template
        if match.operation is None:
            raise _MethodNotAllowed(match.allowed)
        await self._serve(match.operation, match.values, scope, receive, send)

    async def _serve(
        self,
        operation: Operation,
        path_values: dict[str, str],
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """One matched operation: authenticate, validate, run in its transaction, answer."""
        call = Call(scope, receive, scope["path"])
        if operation.authenticate:
            call.principal = await self._authenticate(scope)
            scope["state"]["principal_subject"] = call.principal.subject
            if self._per_principal is not None:
                self._limit("principal", self._per_principal, call.principal.subject)
        query = QueryParams(scope["query_string"]) if scope["query_string"] else _NO_QUERY
        operation.validate_parameters(call, path_values, query)
        if self._per_org is not None and "org_id" in call.params:
            self._limit("organisation", self._per_org, call.params["org_id"])
        if operation.takes_body:
            headers = dict(scope["headers"])
            call.body_bytes = await self._read_body(receive, headers, operation.max_body_bytes)
            content_type = headers.get(b"content-type")
            operation.validate_body(call, content_type and content_type.decode("latin-1"))
        if operation.transaction:
            async with request_transaction(self.database) as conn:
                call.conn = conn
                if operation.enter_user:
                    await self._enter(call, operation)
                result = await operation.endpoint(**await operation.arguments_of(call))
        elif operation.pooled:
            async with self.database.connection() as conn:
                call.conn = conn
                result = await operation.endpoint(**await operation.arguments_of(call))
        else:
            result = await operation.endpoint(**await operation.arguments_of(call))
        await self._answer(operation, call, result, scope, receive, send)

    async def _enter(self, call: Call, operation: Operation) -> None:
        assert call.conn is not None
        assert call.principal is not None
        if operation.role is None:
            await enter(call.conn, call.principal, None)
            return
        org_id: UUID = call.params["org_id"]
        role = await enter(call.conn, call.principal, org_id)
        call.access = check_access(org_id, call.principal, role, operation.role)

    async def _authenticate(self, scope: Scope) -> Principal:
        token = bearer_token(
            [
                value.decode("latin-1")
                for name, value in scope["headers"]
                if name == b"authorization"
            ]
        )
        verifier: TokenVerifier | None = getattr(self.state, "token_verifier", None)
        if verifier is None:
            raise ServiceUnavailable("The app is starting.", headers={"Retry-After": "1"})
        return await verifier.verify(token)

    def _limit(self, scope: str, buckets: TokenBuckets, key: object) -> None:
        wait = buckets.take(key)
        if wait > 0.0:
            self.metrics.rate_limited(scope)
            raise RateLimited(scope, wait)

    async def _read_body(self, receive: Receive, headers: dict[bytes, bytes], limit: int) -> bytes:
        declared = headers.get(b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            raise PayloadTooLarge(limit)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise PenvoiceError("The client went away.")  # before its body arrived
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _answer(
        self,
        operation: Operation,
        call: Call,
        result: Any,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        if isinstance(result, Response):
            await _send_response(result, scope, receive, send, call.response)
            return
        if operation.serialize is not None:
            body = operation.serialize(result)
        else:
            body = result.model_dump_json().encode()
        status = operation.status_code
        headers = [*_JSON, (b"content-length", str(len(body)).encode())]
        sub = call.response
        if sub is not None:
            headers.extend(sub.raw_headers)
            status = sub.status_code or status
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _send_openapi(self, send: Send) -> None:
        if self._openapi_bytes is None:
            import json  # noqa: PLC0415

            self._openapi_bytes = json.dumps(self.openapi(), separators=(",", ":")).encode()
        body = self._openapi_bytes
        headers = [*_JSON, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


_NO_QUERY = QueryParams("")


async def _send_response(
    response: Response,
    scope: Scope,
    receive: Receive,
    send: Send,
    sub: Response | None = None,
) -> None:
    if sub is not None:
        for name, value in sub.raw_headers:
            if name not in {n for n, _ in response.raw_headers}:
                response.raw_headers.append((name, value))
    if type(response).__call__ is Response.__call__:
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": response.raw_headers,
            }
        )
        await send({"type": "http.response.body", "body": response.body})
        return
    await response(scope, receive, send)


def _redirect(scope: Scope, path: str) -> Response:
    """307 to the same request at `path` (a trailing slash added or taken away), as an
    absolute URL: the scheme uvicorn believed (X-Forwarded-Proto only from trusted peers)."""
    host = next(
        (value.decode("latin-1") for name, value in scope["headers"] if name == b"host"), None
    )
    if host is None:
        server_host, port = scope.get("server") or ("localhost", None)
        host = f"{server_host}:{port}" if port else str(server_host)
    query = scope.get("query_string", b"")
    location = f"{scope['scheme']}://{host}{quote(path)}" + (
        f"?{query.decode('latin-1')}" if query else ""
    )
    return Response(status_code=307, headers={"Location": location})


class _MethodNotAllowed(PenvoiceError):
    status = 405
    slug = "method-not-allowed"
    title = "Method not allowed"

    def __init__(self, allowed: tuple[str, ...]) -> None:
        super().__init__(
            f"This path answers {', '.join(allowed)}.", headers={"Allow": ", ".join(allowed)}
        )


def _problem_for(exc: Exception, scope: Scope) -> Response:
    if isinstance(exc, PenvoiceError):
        return exc.response()
    if isinstance(exc, IdempotentReplay):
        return replay_response(exc.stored)
    if isinstance(exc, DATABASE_UNAVAILABLE_ERRORS):
        return database_unavailable(exc)
    if isinstance(exc, UNSTORABLE_TEXT_ERRORS):
        return unstorable_text(exc)
    log.error(
        "unhandled exception", exc_info=exc, extra={"request_id": scope["state"].get("request_id")}
    )
    return problem_response(
        500,
        "internal-error",
        "Internal server error",
        "The server failed to handle this request; it has been logged.",
    )
