import base64
import json
import time
import uuid

import asyncpg
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from penvoice.dev.issuer import LocalIssuer
from tests.conftest import app_environ, running_app

pytestmark = pytest.mark.anyio


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_me_returns_the_principal_and_memberships(
    database_url: str, admin_database_url: str, issuer: LocalIssuer
) -> None:
    subject = f"user-{uuid.uuid4()}"
    conn = await asyncpg.connect(admin_database_url)
    acme = await conn.fetchval("INSERT INTO organisations (name) VALUES ('Acme') RETURNING id")
    zeta = await conn.fetchval("INSERT INTO organisations (name) VALUES ('Zeta') RETURNING id")
    other = await conn.fetchval("INSERT INTO organisations (name) VALUES ('Other') RETURNING id")
    await conn.executemany(
        "INSERT INTO memberships (org_id, subject, role) VALUES ($1, $2, $3)",
        [(acme, subject, "owner"), (zeta, subject, "viewer"), (other, "someone-else", "owner")],
    )
    await conn.close()
    token = issuer.mint_token(subject, email="ana@example.com", name="Ana Ñúñez")
    async with running_app(app_environ(database_url, issuer)) as (_, client):
        response = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json() == {
        "subject": subject,
        "email": "ana@example.com",
        "email_verified": True,
        "name": "Ana Ñúñez",
        "username": response.json()["username"],
        "memberships": [
            {"org_id": str(acme), "org_name": "Acme", "role": "owner"},
            {"org_id": str(zeta), "org_name": "Zeta", "role": "viewer"},
        ],
    }


def _bad_tokens(issuer: LocalIssuer) -> dict[str, str]:
    now = int(time.time())
    public_pem = issuer.public_key_pem()
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_pem = other_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    claims = {
        "iss": issuer.issuer_url,
        "aud": "penvoice-api",
        "sub": "x",
        "iat": now,
        "exp": now + 300,
        "typ": "Bearer",
    }
    valid = issuer.mint_token("x")
    header = jwt.get_unverified_header(valid)
    return {
        "expired": issuer.mint_token("x", issued_at=now - 3600, expires_in=60),
        "not yet valid": issuer.mint_token("x", not_before=now + 600),
        "wrong issuer": issuer.mint_token("x", issuer="https://evil.example/realms/penvoice"),
        "wrong audience": issuer.mint_token("x", audience="another-api"),
        "bad signature": jwt.encode(
            claims, other_pem, algorithm="RS256", headers={"kid": header["kid"]}
        ),
        "alg none": _b64({"alg": "none", "typ": "JWT", "kid": header["kid"]})
        + "."
        + _b64(claims)
        + ".",
        "HS256 with the public key": _hs256_with(public_pem, claims, header["kid"]),
        "unknown kid": jwt.encode(
            claims, other_pem, algorithm="RS256", headers={"kid": "no-such-key"}
        ),
        "garbage": "not.a.token",
    }


def _hs256_with(secret: bytes, claims: dict[str, object], kid: str) -> str:
    import hashlib
    import hmac

    signing_input = _b64({"alg": "HS256", "typ": "JWT", "kid": kid}) + "." + _b64(claims)
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


async def test_every_bad_token_is_a_401_problem_with_www_authenticate(
    database_url: str, issuer: LocalIssuer
) -> None:
    async with running_app(app_environ(database_url, issuer)) as (_, client):
        valid = await client.get(
            "/v1/me", headers={"Authorization": f"Bearer {issuer.mint_token('x')}"}
        )
        assert valid.status_code == 200
        for case, token in _bad_tokens(issuer).items():
            response = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, case
            assert response.headers["content-type"] == "application/problem+json", case
            assert response.headers["www-authenticate"].startswith("Bearer "), case
            assert 'error="invalid_token"' in response.headers["www-authenticate"], case
            assert response.json()["status"] == 401, case


async def test_missing_credentials_and_query_string_tokens_are_refused(
    database_url: str, issuer: LocalIssuer
) -> None:
    token = issuer.mint_token("x")
    async with running_app(app_environ(database_url, issuer)) as (_, client):
        missing = await client.get("/v1/me")
        in_query = await client.get(f"/v1/me?access_token={token}")
        basic = await client.get("/v1/me", headers={"Authorization": "Basic dXNlcjpwdw=="})
    for response in (missing, in_query, basic):
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.headers["content-type"] == "application/problem+json"
