"""Token checking against a real local issuer: discovery, JWKS over HTTP, real RSA keys."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from penvoice.auth import (
    ClientCredentialsRejected,
    InvalidToken,
    IssuerKeys,
    IssuerUnavailable,
    Principal,
    TokenVerifier,
    _signing_keys,
    check_client_credentials,
)
from penvoice.dev.issuer import LocalIssuer
from penvoice.dev.postgres import free_port
from tests.conftest import app_environ, running_app

pytestmark = pytest.mark.anyio
AUDIENCE = "penvoice-api"
CHALLENGE = 'Bearer realm="penvoice", error="invalid_token", error_description="'


class CountingServer:
    """A loopback HTTP server that answers every GET with `body` and counts the hits."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body, self.hits = body, 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                data = json.dumps(outer.body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/keys"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture(scope="module")
def local_issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer() as issuer:
        yield issuer


@pytest.fixture
def fresh_issuer() -> Iterator[LocalIssuer]:
    """An issuer of its own, for tests that rotate keys or simulate outages."""
    with LocalIssuer() as issuer:
        yield issuer


@pytest.fixture(scope="module")
def attacker_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
async def http(anyio_backend: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


def make_verifier(
    issuer: LocalIssuer, http: httpx.AsyncClient, *, leeway: int = 10, interval: float = 60.0
) -> TokenVerifier:
    keys = IssuerKeys(issuer.issuer_url, http, min_refresh_interval=interval, timeout=5.0)
    return TokenVerifier(keys, issuer=issuer.issuer_url, audience=AUDIENCE, leeway_seconds=leeway)


@pytest.fixture
async def verifier(local_issuer: LocalIssuer, http: httpx.AsyncClient) -> TokenVerifier:
    verifier = make_verifier(local_issuer, http)
    await verifier.keys.refresh()
    return verifier


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], claims: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def good_claims(issuer: LocalIssuer) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        issuer.mint_token("user-1"), options={"verify_signature": False}
    )
    return claims


async def rejected(verifier: TokenVerifier, token: str) -> str:
    """Assert the token is refused with an RFC 6750 challenge; return the description."""
    with pytest.raises(InvalidToken) as caught:
        await verifier.verify(token)
    response = caught.value.response()  # what the client gets
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    challenge = response.headers["www-authenticate"]
    assert challenge == caught.value.headers["WWW-Authenticate"]
    assert challenge.startswith(CHALLENGE)
    assert challenge.endswith('"')
    return caught.value.detail


async def test_valid_token_gives_principal(
    local_issuer: LocalIssuer, verifier: TokenVerifier
) -> None:
    token = local_issuer.mint_token("user-1", email="ada@example.com", name="Ada Lovelace")
    principal = await verifier.verify(token)
    assert principal == Principal(
        subject="user-1",
        email="ada@example.com",
        email_verified=True,
        name="Ada Lovelace",
        username="ada@example.com",
    )


async def test_optional_claims_absent_or_unverified(
    local_issuer: LocalIssuer, verifier: TokenVerifier
) -> None:
    token = local_issuer.mint_token(
        "user-2", email_verified=False, omit_claims=["preferred_username", "typ"]
    )
    principal = await verifier.verify(token)
    assert principal == Principal("user-2", None, False, None, None)


async def test_audience_list_containing_ours_is_accepted(
    local_issuer: LocalIssuer, verifier: TokenVerifier
) -> None:
    token = local_issuer.mint_token("user-1", audience=["account", AUDIENCE])
    assert (await verifier.verify(token)).subject == "user-1"


NOW = int(time.time())
BAD_MINTS: dict[str, tuple[Callable[[LocalIssuer], dict[str, Any]], str]] = {
    "expired": (lambda i: {"issued_at": NOW - 400, "expires_in": 300}, "expired"),
    "nbf in future": (lambda i: {"not_before": int(time.time()) + 60}, "not valid yet"),
    "iat in future": (lambda i: {"issued_at": int(time.time()) + 60}, "not valid yet"),
    "other realm": (lambda i: {"issuer": i.issuer_url.replace("penvoice", "other")}, "issuer"),
    "issuer + slash": (lambda i: {"issuer": i.issuer_url + "/"}, "issuer"),
    "other audience": (lambda i: {"audience": "account"}, "aud"),
    "audience list without ours": (lambda i: {"audience": ["account", "broker"]}, "aud"),
    "no exp": (lambda i: {"omit_claims": ["exp"]}, "lacks"),
    "no iat": (lambda i: {"omit_claims": ["iat"]}, "lacks"),
    "no sub": (lambda i: {"omit_claims": ["sub"]}, "lacks"),
    "no aud": (lambda i: {"omit_claims": ["aud"]}, "lacks"),
    "no iss": (lambda i: {"omit_claims": ["iss"]}, "lacks"),
    "typ ID": (lambda i: {"extra_claims": {"typ": "ID"}}, "typ"),
    "typ Refresh": (lambda i: {"extra_claims": {"typ": "Refresh"}}, "typ"),
    "unknown kid": (lambda i: {"kid": "not-a-key-we-know"}, "unknown key"),
    "missing kid": (lambda i: {"omit_headers": ["kid"]}, "kid"),
    "kid path": (lambda i: {"kid": "../../../etc/passwd"}, "kid"),
    "kid sql": (lambda i: {"kid": "' OR '1'='1'; DROP TABLE keys;--"}, "kid"),
    "PS256 with an RS256 key": (lambda i: {"algorithm": "PS256"}, "does not match"),
    "RS512 with an RS256 key": (lambda i: {"algorithm": "RS512"}, "does not match"),
    "nested (cty JWT)": (lambda i: {"extra_headers": {"cty": "JWT"}}, "header parameter"),
    "crit header": (lambda i: {"extra_headers": {"crit": ["exp"]}}, "malformed"),
}


@pytest.mark.parametrize("case", BAD_MINTS, ids=list(BAD_MINTS))
async def test_bad_tokens_are_rejected(
    case: str, local_issuer: LocalIssuer, verifier: TokenVerifier
) -> None:
    make_kwargs, expected = BAD_MINTS[case]
    token = local_issuer.mint_token("user-1", **make_kwargs(local_issuer))
    assert expected in await rejected(verifier, token)


async def test_bad_signature_with_our_kid(
    local_issuer: LocalIssuer, verifier: TokenVerifier, attacker_key: rsa.RSAPrivateKey
) -> None:
    token = local_issuer.mint_token("user-1", signing_key=attacker_key)
    assert "signature" in await rejected(verifier, token)


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
async def test_alg_none_is_rejected(
    alg: str, local_issuer: LocalIssuer, verifier: TokenVerifier
) -> None:
    header = {"alg": alg, "typ": "JWT", "kid": local_issuer.current_kid}
    token = forge(header, good_claims(local_issuer), lambda _: b"")
    assert "algorithm is not accepted" in await rejected(verifier, token)


async def test_hs256_with_public_key_as_secret_is_rejected(
    local_issuer: LocalIssuer, verifier: TokenVerifier
) -> None:
    pem = local_issuer.public_key_pem()
    header = {"alg": "HS256", "typ": "JWT", "kid": local_issuer.current_kid}
    token = forge(header, good_claims(local_issuer), lambda m: hmac.digest(pem, m, hashlib.sha256))
    assert "algorithm is not accepted" in await rejected(verifier, token)


@pytest.mark.parametrize("header", ["jku", "x5u", "jwk", "x5c"])
async def test_keys_named_or_carried_by_the_token_are_never_used(
    header: str,
    local_issuer: LocalIssuer,
    verifier: TokenVerifier,
    attacker_key: rsa.RSAPrivateKey,
) -> None:
    jwk = json.loads(RSAAlgorithm.to_jwk(attacker_key.public_key())) | {"kid": "evil"}
    listener = CountingServer({"keys": [jwk]})
    try:
        values = {"jku": listener.url, "x5u": listener.url, "jwk": jwk, "x5c": ["MIIB"]}
        before = local_issuer.jwks_requests
        for kid in ("evil", local_issuer.current_kid):
            token = local_issuer.mint_token(
                "user-1", kid=kid, signing_key=attacker_key, extra_headers={header: values[header]}
            )
            assert "header parameter" in await rejected(verifier, token)
        assert listener.hits == 0
        assert local_issuer.jwks_requests == before
    finally:
        listener.close()


GARBAGE = {
    "empty": "",
    "word": "garbage",
    "dots": "a.b.c",
    "only dots": "..",
    "JWE shape": "a.b.c.d.e",
    "two tokens": "x.y.z.x.y.z",
    "non-ascii": "é.é.é",
    "header not json": f"{b64(b'nope')}.{b64(b'{}')}.c2ln",
    "header array": f"{b64(b'[1,2]')}.{b64(b'{}')}.c2ln",
    "kid number": f"{b64(json.dumps({'alg': 'RS256', 'kid': 7}).encode())}.e30.c2ln",
    "alg list": f"{b64(json.dumps({'alg': ['RS256'], 'kid': 'k'}).encode())}.e30.c2ln",
    "payload not json": f"{b64(json.dumps({'alg': 'RS256', 'kid': 'k'}).encode())}.!!!.c2ln",
}


@pytest.mark.parametrize("token", GARBAGE.values(), ids=list(GARBAGE))
async def test_garbage_is_rejected(token: str, verifier: TokenVerifier) -> None:
    await rejected(verifier, token)


async def test_nested_token_as_payload_is_rejected(
    local_issuer: LocalIssuer, verifier: TokenVerifier
) -> None:
    inner = local_issuer.mint_token("user-1")
    header = {"alg": "RS256", "typ": "JWT", "kid": local_issuer.current_kid}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(inner.encode())}"
    signature = jwt.get_algorithm_by_name("RS256").sign(signing_input.encode(), local_issuer._key)
    await rejected(verifier, f"{signing_input}.{b64(signature)}")


async def test_token_size_is_bounded_before_parsing(
    local_issuer: LocalIssuer, verifier: TokenVerifier
) -> None:
    big = local_issuer.mint_token("user-1", extra_claims={"pad": "x" * 5500})
    assert 7000 < len(big) <= 8192
    assert (await verifier.verify(big)).subject == "user-1"
    before = local_issuer.jwks_requests
    huge = local_issuer.mint_token("user-1", extra_claims={"pad": "x" * 6500}, kid="unknown-kid")
    assert len(huge) > 8192
    assert "too large" in await rejected(verifier, huge)
    assert local_issuer.jwks_requests == before


async def test_leeway_applies_to_exp_and_iat(
    local_issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    now = int(time.time())
    expired_5s_ago = local_issuer.mint_token("user-1", issued_at=now - 305, expires_in=300)
    iat_5s_ahead = local_issuer.mint_token("user-1", issued_at=now + 5)
    lenient, strict = make_verifier(local_issuer, http), make_verifier(local_issuer, http, leeway=0)
    assert (await lenient.verify(expired_5s_ago)).subject == "user-1"
    assert (await lenient.verify(iat_5s_ahead)).subject == "user-1"
    assert "expired" in await rejected(strict, expired_5s_ago)
    assert "not valid yet" in await rejected(strict, iat_5s_ahead)


async def test_ec_keys_are_supported_and_other_keys_ignored(
    local_issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_jwk = json.loads(ECAlgorithm.to_jwk(ec_key.public_key())) | {"kid": "ec-1", "use": "sig"}
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    jwks = {
        "keys": [
            ec_jwk,
            json.loads(RSAAlgorithm.to_jwk(weak.public_key())) | {"kid": "weak"},
            {"kty": "oct", "k": b64(b"secret"), "kid": "hmac"},
            json.loads(RSAAlgorithm.to_jwk(weak.public_key())) | {"kid": "enc", "use": "enc"},
            ec_jwk | {"kid": "ec-wrong-alg", "alg": "ES384"},
            ec_jwk | {"kid": "bad/kid"},
        ]
    }
    assert set(_signing_keys(jwks)) == {"ec-1"}
    assert _signing_keys(jwks)["ec-1"].algorithms == {"ES256"}
    server = CountingServer(jwks)
    local_issuer.discovery_overrides["jwks_uri"] = server.url
    try:
        verifier = make_verifier(local_issuer, http)
        token = local_issuer.mint_token(
            "user-ec", kid="ec-1", algorithm="ES256", signing_key=ec_key
        )
        assert (await verifier.verify(token)).subject == "user-ec"
        assert server.hits == 1
    finally:
        local_issuer.discovery_overrides.clear()
        server.close()


async def test_key_rotation_needs_exactly_one_refresh(
    fresh_issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    verifier = make_verifier(fresh_issuer, http, interval=0.2)
    old_token = fresh_issuer.mint_token("user-1")
    assert (await verifier.verify(old_token)).subject == "user-1"
    assert fresh_issuer.jwks_requests == 1
    new_kid = fresh_issuer.rotate_key()
    await asyncio.sleep(0.25)
    new_token = fresh_issuer.mint_token("user-1")
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    assert (await verifier.verify(new_token)).subject == "user-1"
    assert (await verifier.verify(new_token)).subject == "user-1"
    assert fresh_issuer.jwks_requests == 2
    assert "unknown key" in await rejected(verifier, old_token)


async def test_unknown_kid_flood_refreshes_at_most_once_per_interval(
    fresh_issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    verifier = make_verifier(fresh_issuer, http, interval=1.0)
    await verifier.keys.refresh()
    flood = [fresh_issuer.mint_token("x", kid=f"forged-{n}") for n in range(40)]
    for round_number in (2, 3):
        await asyncio.sleep(1.05)
        results = await asyncio.gather(*(verifier.verify(t) for t in flood), return_exceptions=True)
        assert all(isinstance(result, InvalidToken) for result in results)
        for token in flood[:10]:
            await rejected(verifier, token)
        assert fresh_issuer.jwks_requests == round_number


async def test_concurrent_first_use_shares_one_key_load(
    local_issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    verifier = make_verifier(local_issuer, http)
    before = local_issuer.jwks_requests
    token = local_issuer.mint_token("user-1")
    principals = await asyncio.gather(*(verifier.verify(token) for _ in range(20)))
    assert {p.subject for p in principals} == {"user-1"}
    assert local_issuer.jwks_requests == before + 1
    assert verifier.keys.loaded


async def test_unreachable_issuer(http: httpx.AsyncClient) -> None:
    issuer = f"http://127.0.0.1:{free_port()}/realms/penvoice"
    keys = IssuerKeys(issuer, http, timeout=1.0)
    with pytest.raises(IssuerUnavailable, match="cannot reach issuer"):
        await keys.refresh()
    assert not keys.loaded
    assert keys.token_endpoint is None
    verifier = TokenVerifier(keys, issuer=issuer, audience=AUDIENCE, leeway_seconds=10)
    header = {"alg": "RS256", "kid": "some-key"}
    with pytest.raises(IssuerUnavailable, match="not loaded"):
        await verifier.verify(forge(header, {}, lambda _: b"sig"))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"outage": "error"}, "answered 503"),
        ({"outage": "hang"}, "did not answer within"),
        ({"discovery_overrides": {"issuer": "https://evil.example/realms/penvoice"}}, "evil"),
        ({"discovery_overrides": {"jwks_uri": None}}, "no jwks_uri"),
        ({"discovery_overrides": {"jwks_uri": "http://127.0.0.1:1/nowhere"}}, "cannot reach"),
    ],
)
async def test_discovery_failures(
    change: dict[str, Any], reason: str, fresh_issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    for name, value in change.items():
        setattr(fresh_issuer, name, value)
    keys = IssuerKeys(fresh_issuer.issuer_url, http, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(IssuerUnavailable, match=reason):
        await keys.refresh()
    assert time.monotonic() - started < 2
    assert not keys.loaded
    assert keys.last_error is not None


async def test_loaded_keys_survive_an_outage(
    fresh_issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    verifier = make_verifier(fresh_issuer, http, interval=0.0)
    await verifier.keys.refresh()
    assert verifier.keys.token_endpoint == fresh_issuer.token_endpoint
    fresh_issuer.outage = "error"
    with pytest.raises(IssuerUnavailable):
        await verifier.keys.refresh()
    assert verifier.keys.loaded
    assert (await verifier.verify(fresh_issuer.mint_token("user-1"))).subject == "user-1"
    with pytest.raises(IssuerUnavailable):
        await verifier.verify(fresh_issuer.mint_token("user-1", kid="rotated-meanwhile"))


async def test_client_credentials(local_issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    endpoint = local_issuer.token_endpoint
    await check_client_credentials(http, endpoint, "penvoice-api", "dev-secret", timeout=1.0)
    with pytest.raises(ClientCredentialsRejected, match="invalid_client"):
        await check_client_credentials(http, endpoint, "penvoice-api", "wrong", timeout=1.0)
    with pytest.raises(ClientCredentialsRejected, match="invalid_client"):
        await check_client_credentials(http, endpoint, "someone-else", "dev-secret", timeout=1.0)
    unreachable = f"http://127.0.0.1:{free_port()}/token"
    with pytest.raises(IssuerUnavailable, match="cannot reach"):
        await check_client_credentials(http, unreachable, "penvoice-api", "x", timeout=1.0)


async def test_client_credentials_during_outage(
    fresh_issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    fresh_issuer.outage = "error"
    endpoint = fresh_issuer.token_endpoint
    with pytest.raises(IssuerUnavailable, match="503"):
        await check_client_credentials(http, endpoint, "penvoice-api", "dev-secret", timeout=1.0)
    fresh_issuer.outage = "hang"
    with pytest.raises(IssuerUnavailable, match="did not answer"):
        await check_client_credentials(http, endpoint, "penvoice-api", "dev-secret", timeout=0.3)


@pytest.fixture
async def app_client(
    local_issuer: LocalIssuer, database_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The real app: its edge authenticates every request to `/v1/me`."""
    async with running_app(app_environ(database_url, local_issuer)) as (_, client):
        yield client


async def test_dependency_accepts_a_bearer_token(
    local_issuer: LocalIssuer, app_client: httpx.AsyncClient
) -> None:
    token = local_issuer.mint_token("user-9")
    response = await app_client.get("/v1/me", headers={"Authorization": f"bearer  {token}"})
    assert response.status_code == 200
    assert response.json()["subject"] == "user-9"


@pytest.mark.parametrize("authorization", [None, "Basic dXNlcjpwdw==", "Bearer", "Bearer   "])
async def test_dependency_without_bearer_token(
    authorization: str | None, app_client: httpx.AsyncClient
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = await app_client.get("/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="penvoice"'
    assert response.headers["content-type"] == "application/problem+json"


async def test_dependency_ignores_tokens_in_the_query_string(
    local_issuer: LocalIssuer, app_client: httpx.AsyncClient
) -> None:
    token = local_issuer.mint_token("user-9")
    response = await app_client.get("/v1/me", params={"access_token": token})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="penvoice"'


async def test_dependency_rejects_bad_tokens(
    local_issuer: LocalIssuer, app_client: httpx.AsyncClient
) -> None:
    expired = local_issuer.mint_token("user-9", expires_in=-60)
    response = await app_client.get("/v1/me", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith(CHALLENGE)
    assert response.json()["detail"] == "The token has expired."
    assert expired not in response.text
    good = local_issuer.mint_token("user-9")
    twice = [("Authorization", f"Bearer {good}"), ("Authorization", f"Bearer {good}")]
    response = await app_client.get("/v1/me", headers=twice)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith(CHALLENGE)


# --- Keycloak interoperability ------------------------------------------------------------


async def test_typ_is_compared_case_insensitively(
    local_issuer: LocalIssuer, verifier: TokenVerifier
) -> None:
    """Keycloak writes "bearer" when a client's "lower-case bearer type" option is on."""

    def token(typ: object) -> str:
        return local_issuer.mint_token(f"user-{typ}", extra_claims={"typ": typ})

    for typ in ("bearer", "BEARER", "Bearer"):
        assert (await verifier.verify(token(typ))).subject == f"user-{typ}"
    assert "typ" in await rejected(verifier, token("bearerx"))
    assert "typ" in await rejected(verifier, token(1))


async def test_ed25519_realms_are_supported(http: httpx.AsyncClient) -> None:
    """Keycloak's `eddsa-generated` key provider: an OKP key in the JWKS, tokens `EdDSA`."""
    with LocalIssuer(key_type="Ed25519") as issuer:
        jwk = issuer.jwks()["keys"][0]
        assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("OKP", "Ed25519", "EdDSA")
        verifier = make_verifier(issuer, http)
        await verifier.keys.refresh()
        assert verifier.keys.loaded
        token = issuer.mint_token("user-ed")
        assert jwt.get_unverified_header(token)["alg"] == "EdDSA"
        assert (await verifier.verify(token)).subject == "user-ed"
        # The key is an Ed25519 key: an RS256 token naming its kid is refused.
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = issuer.mint_token("user-ed", algorithm="RS256", signing_key=rsa_key)
        assert "algorithm" in await rejected(verifier, forged)
        # Another Ed25519 key with our kid: a bad signature.
        other = ed25519.Ed25519PrivateKey.generate()
        assert "signature" in await rejected(
            verifier, issuer.mint_token("user-ed", algorithm="EdDSA", signing_key=other)
        )


def test_okp_keys_of_other_curves_or_algorithms_are_ignored() -> None:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    jwk = json.loads(OKPAlgorithm.to_jwk(key)) | {"kid": "ed", "use": "sig"}
    keys = {"keys": [jwk, jwk | {"kid": "x25519", "crv": "X25519"},
                     jwk | {"kid": "wrong-alg", "alg": "ES256"}]}  # fmt: skip
    assert set(_signing_keys(keys)) == {"ed"}
    assert _signing_keys(keys)["ed"].algorithms == {"EdDSA"}


async def test_client_credentials_with_client_secret_basic(http: httpx.AsyncClient) -> None:
    with LocalIssuer(client_auth_methods=("client_secret_basic",)) as issuer:
        endpoint = issuer.token_endpoint
        await check_client_credentials(
            http, endpoint, "penvoice-api", "dev-secret", timeout=1.0, method="client_secret_basic"
        )
        with pytest.raises(ClientCredentialsRejected):  # the secret in the body is refused
            await check_client_credentials(
                http, endpoint, "penvoice-api", "dev-secret", timeout=1.0
            )
        with pytest.raises(ClientCredentialsRejected):
            await check_client_credentials(
                http, endpoint, "penvoice-api", "wrong", timeout=1.0, method="client_secret_basic"
            )
