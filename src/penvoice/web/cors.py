"""CORS for the origins in `CORS_ORIGINS`: a bearer-token API, so no credentials.

A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) from an allowed
origin, for an allowed method and headers, is a 200; anything else is a 400 problem naming
what was refused. Actual requests from an allowed origin get `Access-Control-Allow-Origin`
and the headers a client may read; other origins get no CORS headers at all.
"""

from __future__ import annotations

from starlette.responses import PlainTextResponse, Response
from starlette.types import Scope

from penvoice.errors import problem_response

ALLOWED_METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")
ALLOWED_HEADERS = frozenset(
    {
        # the CORS-safelisted request headers, then the API's own
        "accept",
        "accept-language",
        "content-language",
        "content-type",
        "authorization",
        "idempotency-key",
        "if-match",
        "if-none-match",
        "x-request-id",
    }
)
EXPOSED_HEADERS = "ETag, Location, Retry-After, X-Request-ID"
MAX_AGE_SECONDS = "600"
_PREFLIGHT_HEADERS = (
    b"origin",
    b"access-control-request-method",
    b"access-control-request-headers",
)


class Cors:
    def __init__(self, origins: tuple[str, ...]) -> None:
        self.origins = frozenset(origins)
        self._preflight_headers = {
            "Access-Control-Allow-Methods": ", ".join(ALLOWED_METHODS),
            "Access-Control-Max-Age": MAX_AGE_SECONDS,
            "Access-Control-Allow-Headers": ", ".join(sorted(ALLOWED_HEADERS)),
            "Vary": "Origin",
        }

    def response_headers(self, origin: str) -> list[tuple[bytes, bytes]]:
        """Headers for an actual (not preflight) request that names `origin`."""
        vary = (b"vary", b"Origin")
        if origin not in self.origins:
            return [vary]
        return [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-expose-headers", EXPOSED_HEADERS.encode()),
            vary,
        ]

    def preflight(self, scope: Scope) -> Response | None:
        """The answer to a preflight request; None when the request is not one."""
        found = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in _PREFLIGHT_HEADERS
        }
        origin = found.get("origin")
        method = found.get("access-control-request-method")
        if origin is None or method is None:
            return None
        refused = []
        if origin not in self.origins:
            refused.append("origin")
        if method not in ALLOWED_METHODS:
            refused.append("method")
        requested = found.get("access-control-request-headers", "")
        names = {h.strip().lower() for h in requested.split(",") if h.strip()}
        if not names <= ALLOWED_HEADERS:
            refused.append("headers")
        if refused:
            return problem_response(
                400,
                "cors-refused",
                "CORS preflight refused",
                f"Disallowed CORS {', '.join(refused)}.",
            )
        headers = {**self._preflight_headers, "Access-Control-Allow-Origin": origin}
        return PlainTextResponse("OK", status_code=200, headers=headers)
