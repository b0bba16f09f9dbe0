"""Token attacks over HTTP, through the whole app: each a 401 problem with an RFC 6750
challenge, no data, the token never echoed, and nothing logged at error level.

`tests/test_auth.py` proves each refusal on the verifier and `tests/test_me.py` sends the
classic ones (expired, alg none, HS256 with the public key, another key with our kid,
another issuer, query-string tokens) over HTTP. This adds, over HTTP, the rest of the
issue's list — keys named or carried by the token, odd kids, wrong `typ`, nesting, size,
a key rotated out of the JWKS — and, for the classic ones too, the logs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from penvoice.dev.issuer import LocalIssuer
from tests.conftest import app_environ, running_app
from tests.test_auth import CountingServer, b64
from tests.test_me import _bad_tokens

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def attacker_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def listener(attacker_key: rsa.RSAPrivateKey) -> Iterator[CountingServer]:
    """A loopback 'JWKS' with the attacker's key: it must never be asked."""
    jwk = json.loads(RSAAlgorithm.to_jwk(attacker_key.public_key())) | {"kid": "evil"}
    server = CountingServer({"keys": [jwk]})
    yield server
    server.close()


def attacks(
    issuer: LocalIssuer, attacker_key: rsa.RSAPrivateKey, listener: CountingServer
) -> dict[str, str]:
    our_kid = issuer.current_kid
    evil_jwk = json.loads(RSAAlgorithm.to_jwk(attacker_key.public_key())) | {"kid": our_kid}

    def forged(kid: str = our_kid, **kwargs: object) -> str:
        return issuer.mint_token("victim", kid=kid, signing_key=attacker_key, **kwargs)  # type: ignore[arg-type]

    inner = issuer.mint_token("victim")
    header = {"alg": "RS256", "typ": "JWT", "kid": our_kid}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(inner.encode())}"
    nested = jwt.get_algorithm_by_name("RS256").sign(signing_input.encode(), issuer._key)
    return {
        "jku to an attacker's JWKS": forged("evil", extra_headers={"jku": listener.url}),
        "jku with our kid": forged(extra_headers={"jku": listener.url}),
        "x5u to an attacker's certificate": forged("evil", extra_headers={"x5u": listener.url}),
        "jwk carried in the header": forged(extra_headers={"jwk": evil_jwk}),
        "x5c carried in the header": forged(extra_headers={"x5c": ["MIIBIjANBgkq"]}),
        "kid with a path": issuer.mint_token("victim", kid="../../../../etc/passwd"),
        "kid with a URL": issuer.mint_token("victim", kid="http://127.0.0.1:1/keys"),
        "kid with SQL": issuer.mint_token("victim", kid="' OR '1'='1'; DROP TABLE keys;--"),
        "kid with NUL": issuer.mint_token("victim", kid="a\x00b"),
        "kid of 10 KB": issuer.mint_token("victim", kid="k" * 10_000),
        "another issuer's key with our kid": forged(),
        "typ ID": issuer.mint_token("victim", extra_claims={"typ": "ID"}),
        "typ Refresh": issuer.mint_token("victim", extra_claims={"typ": "Refresh"}),
        "typ Logout": issuer.mint_token("victim", extra_claims={"typ": "Logout"}),
        "nested: cty JWT": issuer.mint_token("victim", extra_headers={"cty": "JWT"}),
        "nested: a JWT as the payload": f"{signing_input}.{b64(nested)}",
        "JWE (five parts)": "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d",
        "oversized (9 KB)": issuer.mint_token("victim", extra_claims={"pad": "x" * 7000}),
        "oversized (1 MB)": "a." + "b" * 1_000_000 + ".c",
        "crit header": issuer.mint_token("victim", extra_headers={"crit": ["exp"]}),
        "b64 false": issuer.mint_token("victim", extra_headers={"b64": False}),
    }


async def test_token_attacks_are_401_and_log_no_error(
    database_url: str,
    issuer: LocalIssuer,
    attacker_key: rsa.RSAPrivateKey,
    listener: CountingServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cases = attacks(issuer, attacker_key, listener) | {
        f"classic: {name}": token for name, token in _bad_tokens(issuer).items()
    }
    caplog.set_level(logging.DEBUG)
    async with running_app(app_environ(database_url, issuer)) as (_, client):
        good = issuer.mint_token("victim")
        valid = await client.get("/v1/me", headers={"Authorization": f"Bearer {good}"})
        for case, token in cases.items():
            response = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, (case, response.text)
            assert response.headers["content-type"] == "application/problem+json", case
            challenge = response.headers["www-authenticate"]
            assert challenge.startswith('Bearer realm="penvoice", error="invalid_token"'), case
            assert "victim" not in response.text, case
            assert token[:40] not in response.text, case
    assert valid.status_code == 200
    assert listener.hits == 0
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [(r.name, r.getMessage()) for r in errors]
    logged = caplog.text
    for case, token in cases.items():
        signature = token.rsplit(".", 1)[-1]
        if len(signature) >= 20:
            assert signature[:40] not in logged, f"{case}: the token was logged"


async def test_a_token_whose_key_was_rotated_out_is_401(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with LocalIssuer() as issuer:
        old = issuer.mint_token("rotated")
        issuer.rotate_key()  # the old key leaves the JWKS before the app loads it
        new = issuer.mint_token("rotated")
        async with running_app(app_environ(database_url, issuer)) as (_, client):
            fresh = await client.get("/v1/me", headers={"Authorization": f"Bearer {new}"})
            stale = await client.get("/v1/me", headers={"Authorization": f"Bearer {old}"})
            again = await client.get("/v1/me", headers={"Authorization": f"Bearer {old}"})
            jwks_requests = issuer.jwks_requests
    assert fresh.status_code == 200
    for response in (stale, again):
        assert response.status_code == 401
        assert response.json()["detail"] == "The token is signed by an unknown key."
    assert jwks_requests == 1  # a stale kid does not make the app hammer the issuer
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
