"""The local OIDC issuer looks like a Keycloak realm from the outside."""

from __future__ import annotations

import base64
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from penvoice.dev.issuer import KEY_FILE, LocalIssuer, persistent_issuer
from penvoice.dev.postgres import free_port
from penvoice.dev.run import main as dev_main


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer(realm="acme", audience="acme-api", client_id="acme-api") as running:
        yield running


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=2.0) as client:
        yield client


def verify_with_jwks(token: str, jwks: dict[str, Any], audience: str) -> dict[str, Any]:
    kid = jwt.get_unverified_header(token)["kid"]
    jwk = next(key for key in jwks["keys"] if key["kid"] == kid)
    claims: dict[str, Any] = jwt.decode(
        token, jwt.PyJWK(jwk).key, algorithms=["RS256"], audience=audience
    )
    return claims


def test_urls_have_keycloak_shape(issuer: LocalIssuer) -> None:
    base = f"http://127.0.0.1:{issuer.port}/realms/acme"
    assert issuer.port > 0
    assert issuer.issuer_url == base
    assert issuer.jwks_url == f"{base}/protocol/openid-connect/certs"
    assert issuer.token_endpoint == f"{base}/protocol/openid-connect/token"


def test_discovery_document(issuer: LocalIssuer, http: httpx.Client) -> None:
    before = issuer.discovery_requests
    response = http.get(f"{issuer.issuer_url}/.well-known/openid-configuration")
    assert response.status_code == 200
    document = response.json()
    assert document["issuer"] == issuer.issuer_url
    assert document["jwks_uri"] == issuer.jwks_url
    assert document["token_endpoint"] == issuer.token_endpoint
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert "client_credentials" in document["grant_types_supported"]
    assert issuer.discovery_requests == before + 1


def test_jwks_has_only_the_current_public_key(issuer: LocalIssuer, http: httpx.Client) -> None:
    before = issuer.jwks_requests
    keys = http.get(issuer.jwks_url).json()["keys"]
    assert len(keys) == 1
    key = keys[0]
    assert (key["kid"], key["kty"], key["use"], key["alg"]) == (
        issuer.current_kid,
        "RSA",
        "sig",
        "RS256",
    )
    assert not {"d", "p", "q", "dp", "dq", "qi"} & key.keys()
    assert issuer.jwks_requests == before + 1


def test_minted_token_has_keycloak_claims(issuer: LocalIssuer, http: httpx.Client) -> None:
    token = issuer.mint_token("u-1", email="ada@example.com", name="Ada")
    claims = verify_with_jwks(token, http.get(issuer.jwks_url).json(), "acme-api")
    assert jwt.get_unverified_header(token) == {
        "alg": "RS256",
        "typ": "JWT",
        "kid": issuer.current_kid,
    }
    assert claims["iss"] == issuer.issuer_url
    assert claims["sub"] == "u-1"
    assert claims["aud"] == "acme-api"
    assert claims["exp"] - claims["iat"] == 300
    assert abs(claims["iat"] - time.time()) < 5
    assert (claims["typ"], claims["azp"]) == ("Bearer", "acme-api")
    assert (claims["email"], claims["email_verified"], claims["name"]) == (
        "ada@example.com",
        True,
        "Ada",
    )
    assert claims["preferred_username"] == "ada@example.com"
    assert claims["jti"]
    assert "nbf" not in claims


def test_mint_token_bends_every_part(issuer: LocalIssuer) -> None:
    token = issuer.mint_token(
        "u-2",
        audience=["a", "b"],
        issued_at=1000,
        expires_in=10,
        not_before=1001,
        issuer="https://elsewhere",
        kid="other",
        extra_headers={"jku": "https://evil"},
        extra_claims={"typ": "ID"},
        omit_claims=["jti"],
    )
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (header["kid"], header["jku"]) == ("other", "https://evil")
    assert (claims["aud"], claims["iat"], claims["exp"], claims["nbf"]) == (
        ["a", "b"],
        1000,
        1010,
        1001,
    )
    assert (claims["iss"], claims["typ"]) == ("https://elsewhere", "ID")
    assert "jti" not in claims
    assert "kid" not in jwt.get_unverified_header(issuer.mint_token("u", omit_headers=["kid"]))


def test_token_endpoint_client_credentials(issuer: LocalIssuer, http: httpx.Client) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": "acme-api",
        "client_secret": "dev-secret",
    }
    before = issuer.token_requests
    response = http.post(issuer.token_endpoint, data=form)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    claims = verify_with_jwks(body["access_token"], http.get(issuer.jwks_url).json(), "acme-api")
    assert claims["preferred_username"] == "service-account-acme-api"
    basic = http.post(
        issuer.token_endpoint,
        data={"grant_type": "client_credentials"},
        auth=("acme-api", "dev-secret"),
    )
    assert basic.status_code == 200
    assert issuer.token_requests == before + 2


@pytest.mark.parametrize(
    ("form", "auth", "status", "error"),
    [
        ({"client_id": "acme-api", "client_secret": "wrong"}, None, 401, "invalid_client"),
        ({}, ("acme-api", "wrong"), 401, "invalid_client"),
        ({}, None, 401, "invalid_client"),
        ({"client_id": "intruder", "client_secret": "dev-secret"}, None, 401, "invalid_client"),
        ({"grant_type": "password"}, ("acme-api", "dev-secret"), 400, "unsupported_grant_type"),
    ],
)
def test_token_endpoint_refusals(
    form: dict[str, str],
    auth: tuple[str, str] | None,
    status: int,
    error: str,
    issuer: LocalIssuer,
    http: httpx.Client,
) -> None:
    data = {"grant_type": "client_credentials"} | form
    basic = httpx.BasicAuth(*auth) if auth else httpx.USE_CLIENT_DEFAULT
    response = http.post(issuer.token_endpoint, data=data, auth=basic)
    assert (response.status_code, response.json()["error"]) == (status, error)


def test_malformed_basic_auth_is_invalid_client(issuer: LocalIssuer, http: httpx.Client) -> None:
    headers = {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe").decode() + "!"}
    response = http.post(
        issuer.token_endpoint, data={"grant_type": "client_credentials"}, headers=headers
    )
    assert response.status_code == 401


def test_unknown_paths_are_404(issuer: LocalIssuer, http: httpx.Client) -> None:
    assert (
        http.get(
            f"http://127.0.0.1:{issuer.port}/realms/other/protocol/openid-connect/certs"
        ).status_code
        == 404
    )
    assert http.post(f"{issuer.issuer_url}/protocol/openid-connect/certs").status_code == 404


def test_rotate_key_replaces_the_published_key(http: httpx.Client) -> None:
    with LocalIssuer() as issuer:
        old_kid, old_token = issuer.current_kid, issuer.mint_token("u")
        new_kid = issuer.rotate_key()
        assert new_kid != old_kid
        assert issuer.current_kid == new_kid
        jwks = http.get(issuer.jwks_url).json()
        assert [key["kid"] for key in jwks["keys"]] == [new_kid]
        assert jwt.get_unverified_header(issuer.mint_token("u"))["kid"] == new_kid
        with pytest.raises(StopIteration):
            verify_with_jwks(old_token, jwks, "penvoice-api")


def test_outage_modes(http: httpx.Client) -> None:
    with LocalIssuer() as issuer:
        issuer.outage = "error"
        assert http.get(issuer.jwks_url).status_code == 503
        issuer.outage = "hang"
        with pytest.raises(httpx.ReadTimeout):
            http.get(issuer.jwks_url, timeout=0.2)
        issuer.outage = "none"
        assert http.get(issuer.jwks_url).status_code == 200
        assert issuer.jwks_requests == 3


def test_restart_keeps_the_port_and_stop_closes_it(http: httpx.Client) -> None:
    issuer = LocalIssuer()
    with pytest.raises(RuntimeError):
        _ = issuer.issuer_url
    with issuer:
        url = issuer.jwks_url
        assert http.get(url).status_code == 200
    with pytest.raises(httpx.ConnectError):
        http.get(url)
    issuer.start()
    try:
        assert issuer.jwks_url == url
        assert http.get(url).status_code == 200
    finally:
        issuer.stop()
    issuer.stop()  # idempotent


@pytest.mark.slow
def test_runs_standalone_as_a_module(http: httpx.Client) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "penvoice.dev.issuer", "--port", str(port), "--realm", "lab"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line == f"http://127.0.0.1:{port}/realms/lab"
        document = http.get(f"{line}/.well-known/openid-configuration").json()
        assert document["issuer"] == line
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


# --- the dev issuer's state, kept between runs ----------------------------------------------


def test_a_persistent_issuer_keeps_its_key_and_port_so_tokens_outlive_restarts(
    tmp_path: Path, http: httpx.Client
) -> None:
    state = tmp_path / "issuer"
    first = persistent_issuer(state)
    try:
        url, token = first.issuer_url, first.mint_token("dev-user", expires_in=12 * 3600)
    finally:
        first.stop()
    assert stat.S_IMODE((state / KEY_FILE).stat().st_mode) == 0o600
    second = persistent_issuer(state)
    try:
        assert second.issuer_url == url
        jwks = http.get(second.jwks_url).json()
        assert verify_with_jwks(token, jwks, "penvoice-api")["sub"] == "dev-user"
    finally:
        second.stop()
    elsewhere = persistent_issuer(tmp_path / "other")
    try:
        assert elsewhere.current_kid != second.current_kid  # a new directory, a new key
    finally:
        elsewhere.stop()


def test_a_taken_saved_port_falls_back_to_a_free_one(tmp_path: Path) -> None:
    state = tmp_path / "issuer"
    first = persistent_issuer(state)
    try:
        second = persistent_issuer(state)  # the saved port is busy
        try:
            assert second.port != first.port
            assert second.current_kid == first.current_kid
        finally:
            second.stop()
    finally:
        first.stop()


def test_dev_token_mints_for_any_subject_and_email(
    tmp_path: Path, http: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "issuer"
    with pytest.raises(SystemExit):  # before `make run`: nothing to sign with
        dev_main(["token", "--sub", "bob", "--issuer-dir", str(state)])
    assert "make run" in capsys.readouterr().err
    running = persistent_issuer(state)
    try:
        argv = ["token", "--sub", "bob", "--email", "bob@example.com", "--name", "Bob"]
        assert dev_main([*argv, "--hours", "2", "--issuer-dir", str(state)]) == 0
        token = capsys.readouterr().out.strip()
        claims = verify_with_jwks(token, http.get(running.jwks_url).json(), "penvoice-api")
        assert claims["iss"] == running.issuer_url
        assert (claims["sub"], claims["email"], claims["name"]) == ("bob", "bob@example.com", "Bob")
        assert claims["email_verified"] is True
        assert claims["exp"] - claims["iat"] == 2 * 3600
        assert dev_main(["token", "--sub", "eve", "--unverified", "--issuer-dir", str(state)]) == 0
        unverified = jwt.decode(
            capsys.readouterr().out.strip(), options={"verify_signature": False}
        )
        assert unverified["email_verified"] is False
    finally:
        running.stop()
