"""Bearer tokens from Keycloak → `Principal`.

`IssuerKeys` finds the realm's JWKS through OIDC discovery and caches the signing keys; an
unknown `kid` refreshes them at most once per `min_refresh_interval`, so a flood of forged
tokens cannot hammer Keycloak. `TokenVerifier` checks a token against those keys and the
configured issuer and audience, refusing everything a Keycloak access token never is:
symmetric or `none` algorithms, keys named by URL or carried in the header, other token
types. Failures are `InvalidToken` (401 with an RFC 6750 `WWW-Authenticate` header).
Token contents are never logged.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import quote_plus

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, Request

from penvoice.errors import ServiceUnavailable, Unauthorized

log = logging.getLogger("penvoice.auth")

MAX_TOKEN_LENGTH = 8192
EC_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
# Keycloak's `eddsa-generated` provider: OKP keys, `alg` "EdDSA" (Ed25519 by default).
OKP_ALGORITHMS = {"Ed25519": "EdDSA", "Ed448": "EdDSA"}
RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
ALGORITHMS = RSA_ALGORITHMS | frozenset(EC_ALGORITHMS.values()) | frozenset(OKP_ALGORITHMS.values())
ClientAuthMethod = Literal["client_secret_post", "client_secret_basic"]
# Keys named by URL or carried in the token itself, nesting, encryption: never from Keycloak.
REFUSED_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c", "crit", "b64", "enc", "zip", "cty"})
KID_PATTERN = re.compile(r"[A-Za-z0-9_.=+-]{1,128}")  # Keycloak kids are base64url
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]


class InvalidToken(Unauthorized):
    """The bearer token is not acceptable; `description` goes into `WWW-Authenticate`."""

    def __init__(self, description: str) -> None:
        safe = re.sub(r'[^\x20-\x7e]|["\\]', "", description)  # RFC 6750 error_description
        challenge = f'Bearer realm="penvoice", error="invalid_token", error_description="{safe}"'
        super().__init__(description, headers={"WWW-Authenticate": challenge})


class MissingToken(Unauthorized):
    """No bearer token at all: RFC 6750 says the challenge then carries no error code."""

    def __init__(self) -> None:
        super().__init__(
            "This request needs an 'Authorization: Bearer <token>' header.",
            headers={"WWW-Authenticate": 'Bearer realm="penvoice"'},
        )


class IssuerUnavailable(ServiceUnavailable):
    """The identity provider could not be asked (or answered nonsense)."""


class ClientCredentialsRejected(Exception):
    """The token endpoint answered, and refused our client id and secret."""


@dataclass(frozen=True)
class Principal:
    subject: str
    email: str | None
    email_verified: bool
    name: str | None
    username: str | None


@dataclass(frozen=True)
class SigningKey:
    """A public key from the JWKS and the algorithms a token signed by it may name."""

    algorithms: frozenset[str]
    key: Any  # a cryptography public key, as PyJWK builds it


def _signing_keys(jwks: object) -> dict[str, SigningKey]:
    """The usable signature keys of a JWKS document: RSA ≥ 2048 bits, EC or OKP (EdDSA),
    `use` sig."""
    entries = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(entries, list):
        raise ValueError("no 'keys' list")
    keys: dict[str, SigningKey] = {}
    for jwk in entries:
        if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
            continue
        kid, kty, alg = jwk.get("kid"), jwk.get("kty"), jwk.get("alg")
        if not isinstance(kid, str) or not KID_PATTERN.fullmatch(kid):
            continue
        if kty == "RSA":
            allowed = RSA_ALGORITHMS if alg is None else RSA_ALGORITHMS & {alg}
        elif kty in ("EC", "OKP"):
            curves = EC_ALGORITHMS if kty == "EC" else OKP_ALGORITHMS
            curve_alg = curves.get(jwk.get("crv", ""))
            allowed = frozenset({curve_alg} if curve_alg and alg in (None, curve_alg) else ())
        else:
            continue
        try:
            key = jwt.PyJWK(jwk, min(allowed)).key if allowed else None
        except jwt.PyJWTError:
            key = None
        if key is None or (isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048):
            continue
        keys[kid] = SigningKey(frozenset(allowed), key)
    return keys


class IssuerKeys:
    """The issuer's signing keys, found by OIDC discovery and cached."""

    def __init__(
        self,
        issuer: str,
        http: httpx.AsyncClient,
        *,
        min_refresh_interval: float = 10.0,
        timeout: float = 2.0,
    ) -> None:
        self.issuer = issuer
        self._http = http
        self._min_refresh_interval = min_refresh_interval
        self._timeout = timeout
        self._keys: dict[str, SigningKey] = {}
        self._token_endpoint: str | None = None
        self._last_attempt: float | None = None
        self._lock = asyncio.Lock()
        self.last_error: str | None = None

    @property
    def loaded(self) -> bool:
        return bool(self._keys)

    @property
    def token_endpoint(self) -> str | None:
        return self._token_endpoint

    def cached(self, kid: str) -> SigningKey | None:
        """The key now cached under `kid`, without ever fetching."""
        return self._keys.get(kid)

    async def refresh(self) -> None:
        """Fetch discovery and JWKS now; `IssuerUnavailable` says why it failed."""
        async with self._lock:
            await self._refresh()

    async def key_for(self, kid: str) -> SigningKey:
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:  # concurrent misses wait for one refresh and share it
            key = self._keys.get(kid)
            if key is not None:
                return key
            recent = self._last_attempt is not None and (
                time.monotonic() - self._last_attempt < self._min_refresh_interval
            )
            if recent and not self._keys:
                raise IssuerUnavailable(f"signing keys not loaded: {self.last_error}")
            if not recent:
                await self._refresh()
                key = self._keys.get(kid)
        if key is None:
            raise InvalidToken("The token is signed by an unknown key.")
        return key

    async def _refresh(self) -> None:
        self._last_attempt = time.monotonic()
        try:
            async with asyncio.timeout(self._timeout):
                keys, token_endpoint = await self._fetch()
        except TimeoutError:
            self.last_error = f"issuer {self.issuer} did not answer within {self._timeout}s"
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            self.last_error = f"cannot reach issuer {self.issuer}: {type(exc).__name__}"
        except ValueError as exc:
            self.last_error = f"issuer {self.issuer}: {exc}"
        else:
            self._keys, self._token_endpoint, self.last_error = keys, token_endpoint, None
            log.info("loaded %d signing keys of %s", len(keys), self.issuer)
            return
        log.warning("refreshing signing keys failed: %s", self.last_error)
        raise IssuerUnavailable(self.last_error)

    async def _fetch(self) -> tuple[dict[str, SigningKey], str | None]:
        discovery = await self._get_json(f"{self.issuer}/.well-known/openid-configuration")
        if discovery.get("issuer") != self.issuer:
            raise ValueError(f"discovery names issuer {discovery.get('issuer')!r}, not ours")
        jwks_uri, token_endpoint = discovery.get("jwks_uri"), discovery.get("token_endpoint")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise ValueError("discovery has no jwks_uri")
        keys = _signing_keys(await self._get_json(jwks_uri))
        if not keys:
            raise ValueError(f"JWKS at {jwks_uri} has no usable signing key")
        return keys, token_endpoint if isinstance(token_endpoint, str) else None

    async def _get_json(self, url: str) -> dict[str, Any]:
        response = await self._http.get(url)  # bounded by the timeout around the refresh
        if response.status_code != 200:
            raise ValueError(f"GET {url} answered {response.status_code}")
        document = response.json()  # a JSONDecodeError is a ValueError
        if not isinstance(document, dict):
            raise ValueError(f"GET {url} did not answer a JSON object")
        return document


@dataclass(frozen=True)
class _Verified:
    """A token that passed every check: what its next use must still satisfy."""

    key: SigningKey  # the very key object it was verified with
    kid: str
    exp: int
    iat: int
    nbf: int | None
    principal: Principal


class TokenVerifier:
    """Keycloak access token → `Principal`, or `InvalidToken`.

    A client sends the same token with every request until it expires, and checking it
    (parsing plus an RSA signature) is most of a small request's CPU. Tokens that passed
    are remembered (at most `VERIFIED_CACHE_SIZE`); a remembered token is accepted again
    only while its signing key is still the cached key object and its time claims still
    pass with the leeway — anything else goes through the full check, so every answer,
    including every refusal, is the one the full check gives.
    """

    VERIFIED_CACHE_SIZE = 4096

    def __init__(
        self, keys: IssuerKeys, *, issuer: str, audience: str, leeway_seconds: int
    ) -> None:
        self.keys, self.issuer, self.audience = keys, issuer, audience
        self.leeway_seconds = leeway_seconds
        self._verified: dict[str, _Verified] = {}

    async def verify(self, token: str) -> Principal:
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("The token is too large.")
        known = self._verified.pop(token, None)
        if known is not None and self._still_valid(known):
            self._verified[token] = known  # now the most recently used
            return known.principal
        principal, verified = await self._verify(token)
        if verified is not None:
            if len(self._verified) >= self.VERIFIED_CACHE_SIZE:
                del self._verified[next(iter(self._verified))]  # the oldest
            self._verified[token] = verified
        return principal

    def _still_valid(self, known: _Verified) -> bool:
        """PyJWT's own time checks (exp, iat, nbf with the leeway) and the same key."""
        now = time.time()
        leeway = self.leeway_seconds
        return (
            self.keys.cached(known.kid) is known.key
            and known.exp > now - leeway
            and known.iat <= now + leeway
            and (known.nbf is None or known.nbf <= now + leeway)
        )

    async def _verify(self, token: str) -> tuple[Principal, _Verified | None]:
        if not token.isascii() or token.count(".") != 2:
            raise InvalidToken("The token is not a signed JWT.")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("The token is malformed.") from None
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in ALGORITHMS:
            raise InvalidToken("The token's signing algorithm is not accepted.")
        if REFUSED_HEADERS & header.keys():
            raise InvalidToken("The token carries a header parameter that is not accepted.")
        if not isinstance(kid, str) or not KID_PATTERN.fullmatch(kid):
            raise InvalidToken("The token names no valid signing key (kid).")
        key = await self.keys.key_for(kid)
        if alg not in key.algorithms:
            raise InvalidToken("The token's algorithm does not match its signing key.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_seconds,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as exc:
            log.debug("token rejected: %s", type(exc).__name__)
            raise InvalidToken(_describe(exc)) from None
        principal = _principal(claims, self.issuer)
        try:  # PyJWT accepted them, so they are numbers; anything odd is simply not cached
            nbf = claims.get("nbf")
            verified = _Verified(
                key,
                kid,
                int(claims["exp"]),
                int(claims["iat"]),
                None if nbf is None else int(nbf),
                principal,
            )
        except (KeyError, TypeError, ValueError, OverflowError):
            verified = None
        return principal, verified


_DESCRIPTIONS: list[tuple[type[jwt.PyJWTError], str]] = [
    (jwt.ExpiredSignatureError, "The token has expired."),
    (jwt.ImmatureSignatureError, "The token is not valid yet."),
    (jwt.InvalidAudienceError, "The token is not meant for this API (aud)."),
    (jwt.InvalidIssuerError, "The token comes from another issuer (iss)."),
    (jwt.MissingRequiredClaimError, "The token lacks a required claim."),
    (jwt.InvalidSignatureError, "The token signature is invalid."),
]


def _describe(exc: jwt.PyJWTError) -> str:
    return next((text for kind, text in _DESCRIPTIONS if isinstance(exc, kind)), "Invalid token.")


def _principal(claims: dict[str, Any], issuer: str) -> Principal:
    subject = claims.get("sub")
    if claims.get("iss") != issuer or not isinstance(subject, str) or not subject:
        raise InvalidToken("The token has no valid subject or issuer.")
    typ = claims.get("typ", "Bearer")  # Keycloak may write "bearer"; it compares ignoring case
    if not isinstance(typ, str) or typ.lower() != "bearer":
        raise InvalidToken("The token is not an access token (typ).")

    def text(name: str) -> str | None:
        value = claims.get(name)
        return value if isinstance(value, str) else None

    return Principal(
        subject=subject,
        email=text("email"),
        email_verified=claims.get("email_verified") is True,
        name=text("name"),
        username=text("preferred_username"),
    )


async def check_client_credentials(
    http: httpx.AsyncClient,
    token_endpoint: str,
    client_id: str,
    client_secret: str,
    *,
    timeout: float,
    method: ClientAuthMethod = "client_secret_post",
) -> None:
    """Prove the confidential client can still get a token, authenticating the way the
    issuer expects: the secret in the form body (`client_secret_post`) or in an
    `Authorization: Basic` header (`client_secret_basic`, RFC 6749 §2.3.1: id and secret
    form-urlencoded, then base64)."""
    form = {"grant_type": "client_credentials", "client_id": client_id}
    headers: dict[str, str] = {}
    if method == "client_secret_basic":
        pair = f"{quote_plus(client_id, safe='')}:{quote_plus(client_secret, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    else:
        form["client_secret"] = client_secret
    try:
        async with asyncio.timeout(timeout):
            response = await http.post(token_endpoint, data=form, headers=headers)
    except TimeoutError:
        raise IssuerUnavailable(f"token endpoint did not answer within {timeout}s") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise IssuerUnavailable(f"cannot reach token endpoint: {type(exc).__name__}") from None
    if response.status_code == 200:
        return
    if response.status_code in (400, 401):
        try:
            error = response.json().get("error")
        except (ValueError, AttributeError):
            error = None
        raise ClientCredentialsRejected(f"client {client_id!r} rejected: {error or 'unknown'}")
    raise IssuerUnavailable(f"token endpoint answered {response.status_code}")


def bearer_token(authorization: list[str]) -> str:
    """The token of the request's `Authorization` values: exactly one, `Bearer <token>` (the
    scheme in any case). Never from the query string or a cookie."""
    if not authorization:
        raise MissingToken()
    if len(authorization) > 1:
        raise InvalidToken("Send exactly one Authorization header.")
    scheme, _, token = authorization[0].partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise MissingToken()
    return token


async def require_principal(request: Request) -> Principal:
    """The declaration of `CurrentPrincipal`: the edge (`penvoice.web.edge`) recognises it and
    verifies the token itself, before it reads the body; this body is what it means."""
    verifier: TokenVerifier = request.app.state.token_verifier
    return await verifier.verify(bearer_token(request.headers.getlist("authorization")))


CurrentPrincipal = Annotated[Principal, Depends(require_principal)]
