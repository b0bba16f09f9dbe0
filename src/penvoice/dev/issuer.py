"""A local OIDC issuer shaped like a Keycloak realm: real RSA keys, real JWKS over HTTP.

`penvoice dev` and the tests take their tokens from here, so token checking is exercised
end to end (discovery, JWKS fetch, signature, claims) without a patched verifier.

    issuer URL      http://127.0.0.1:{port}/realms/{realm}
    discovery       {issuer}/.well-known/openid-configuration
    JWKS            {issuer}/protocol/openid-connect/certs
    token endpoint  {issuer}/protocol/openid-connect/token   (client_credentials only)

The server is the standard library's `ThreadingHTTPServer` in a daemon thread, so it serves
sync code, async code and other processes alike. Standalone:
`python -m penvoice.dev.issuer --port 8081` prints the issuer URL and serves until stopped.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qs, unquote_plus

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

Outage = Literal["none", "error", "hang"]
SigningKey = Any  # a `cryptography` private key, or bytes/str for forged HMAC tokens


KeyType = Literal["RSA", "Ed25519"]
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
ClientAuthMethod = Literal["client_secret_basic", "client_secret_post"]
_ALGORITHM: dict[KeyType, str] = {"RSA": "RS256", "Ed25519": "EdDSA"}


def _new_key(key_type: KeyType) -> tuple[str, PrivateKey]:
    if key_type == "Ed25519":
        return uuid.uuid4().hex, ed25519.Ed25519PrivateKey.generate()
    return uuid.uuid4().hex, rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _audience(audience: str | Sequence[str]) -> str | list[str]:
    return audience if isinstance(audience, str) else list(audience)


class LocalIssuer:
    """A Keycloak-like realm on loopback; see the module docstring for its URLs."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        realm: str = "penvoice",
        audience: str = "penvoice-api",
        client_id: str = "penvoice-api",
        client_secret: str = "dev-secret",  # noqa: S107 - the well-known dev secret
        key_type: KeyType = "RSA",
        key: tuple[str, PrivateKey] | None = None,
        client_auth_methods: Sequence[ClientAuthMethod] = (
            "client_secret_basic",
            "client_secret_post",
        ),
    ) -> None:
        """`key_type` "Ed25519" signs with EdDSA like Keycloak's `eddsa-generated` provider;
        `key` (kid, private key) signs instead of a new key of `key_type`;
        `client_auth_methods` are the ways the token endpoint accepts the client's secret."""
        self.host, self.port, self.realm = host, port, realm
        self.key_type = key_type
        self.client_auth_methods = tuple(client_auth_methods)
        self.audience, self.client_id, self.client_secret = audience, client_id, client_secret
        self.jwks_requests = 0
        self.discovery_requests = 0
        self.token_requests = 0
        self.outage: Outage = "none"  # "error": every request gets 503; "hang": no answer
        self.discovery_overrides: dict[str, Any] = {}  # merged into the discovery document
        self._kid, self._key = key if key is not None else _new_key(key_type)
        self._lock = threading.Lock()
        self._released = threading.Event()  # wakes hanging requests on stop()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> LocalIssuer:
        if self._server is not None:
            return self
        self._released.clear()
        server = ThreadingHTTPServer((self.host, self.port), _Handler)
        server.daemon_threads = True
        server.issuer = self  # type: ignore[attr-defined]
        self.port = int(server.server_address[1])
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._released.set()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LocalIssuer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- URLs and keys ---------------------------------------------------------------------

    @property
    def issuer_url(self) -> str:
        if not self.port:
            raise RuntimeError("LocalIssuer has no port yet: call start() first")
        return f"http://{self.host}:{self.port}/realms/{self.realm}"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer_url}/protocol/openid-connect/certs"

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer_url}/protocol/openid-connect/token"

    @property
    def current_kid(self) -> str:
        return self._kid

    def public_key_pem(self) -> bytes:
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def rotate_key(self) -> str:
        """Make a new key current; the old one disappears from the JWKS. Returns its kid."""
        kid, key = _new_key(self.key_type)
        with self._lock:
            self._kid, self._key = kid, key
        return kid

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            kid, key = self._kid, self._key
        public = key.public_key()
        if isinstance(public, ed25519.Ed25519PublicKey):
            jwk: dict[str, Any] = json.loads(OKPAlgorithm.to_jwk(public))
        else:
            jwk = json.loads(RSAAlgorithm.to_jwk(public))
        jwk.update(kid=kid, use="sig", alg=_ALGORITHM[self.key_type])
        return {"keys": [jwk]}

    def discovery(self) -> dict[str, Any]:
        base = f"{self.issuer_url}/protocol/openid-connect"
        return {
            "issuer": self.issuer_url,
            "authorization_endpoint": f"{base}/auth",
            "token_endpoint": self.token_endpoint,
            "jwks_uri": self.jwks_url,
            "grant_types_supported": ["client_credentials"],
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [_ALGORITHM[self.key_type]],
            "token_endpoint_auth_methods_supported": list(self.client_auth_methods),
        } | self.discovery_overrides

    # -- tokens ----------------------------------------------------------------------------

    def mint_token(
        self,
        subject: str,
        *,
        email: str | None = None,
        email_verified: bool = True,
        name: str | None = None,
        audience: str | Sequence[str] | None = None,
        expires_in: int = 300,
        issued_at: int | None = None,
        not_before: int | None = None,
        issuer: str | None = None,
        kid: str | None = None,
        algorithm: str | None = None,
        extra_headers: Mapping[str, Any] | None = None,
        extra_claims: Mapping[str, Any] | None = None,
        signing_key: SigningKey | None = None,
        omit_claims: Iterable[str] = (),
        omit_headers: Iterable[str] = (),
    ) -> str:
        """A signed access token as Keycloak issues them; every part can be bent for tests.

        `None` means "the issuer's own" for audience, issuer, kid, algorithm and signing_key,
        and "absent"
        for email, name and not_before. `omit_claims` / `omit_headers` drop any claim or `kid`.
        """
        now = int(time.time()) if issued_at is None else issued_at
        claims: dict[str, Any] = {
            "exp": now + expires_in,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "iss": issuer if issuer is not None else self.issuer_url,
            "aud": self.audience if audience is None else _audience(audience),
            "sub": subject,
            "typ": "Bearer",
            "azp": self.client_id,
            "email_verified": email_verified,
            "preferred_username": email or subject,
        }
        if not_before is not None:
            claims["nbf"] = not_before
        if email is not None:
            claims["email"] = email
        if name is not None:
            claims["name"] = name
        claims.update(extra_claims or {})
        for claim in omit_claims:
            claims.pop(claim, None)
        with self._lock:
            own_kid, own_key = self._kid, self._key
        headers: dict[str, Any] = {"kid": kid if kid is not None else own_kid}
        headers.update(extra_headers or {})
        for header in omit_headers:
            headers.pop(header, None)
        key = signing_key if signing_key is not None else own_key
        alg = algorithm if algorithm is not None else _ALGORITHM[self.key_type]
        return jwt.encode(claims, key, algorithm=alg, headers=headers)

    def _client_token(self) -> dict[str, Any]:
        token = self.mint_token(
            f"service-account-{self.client_id}",
            extra_claims={"preferred_username": f"service-account-{self.client_id}"},
        )
        return {
            "access_token": token,
            "expires_in": 300,
            "refresh_expires_in": 0,
            "token_type": "Bearer",
            "not-before-policy": 0,
            "scope": "profile email",
        }

    def _client_authenticated(self, form: Mapping[str, str], authorization: str | None) -> bool:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if secret is not None and "client_secret_post" not in self.client_auth_methods:
            return False
        if authorization and "client_secret_basic" not in self.client_auth_methods:
            return False
        if authorization and authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            except ValueError:
                return False
            raw_id, _, raw_secret = decoded.partition(":")
            client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        return client_id == self.client_id and secret == self.client_secret


STATE_FILE = "issuer.json"
KEY_FILE = "signing-key.pem"


def persistent_issuer(directory: Path, *, port: int = 0) -> LocalIssuer:
    """A started issuer whose RSA key and port live in `directory` (created, mode 0700):
    a token it signed stays valid across restarts for as long as its `exp` says. `port`
    0 reuses the saved port (a free one the first time, or when the saved one is taken)."""
    kid, key, saved_port = load_state(directory)
    issuer = LocalIssuer(port=port or saved_port, key=(kid, key))
    try:
        issuer.start()
    except OSError:
        if port:  # asked for explicitly: say so
            raise
        issuer.port = 0
        issuer.start()
    _write(directory / STATE_FILE, json.dumps({"kid": kid, "port": issuer.port}).encode())
    return issuer


def load_state(directory: Path) -> tuple[str, rsa.RSAPrivateKey, int]:
    """The saved (kid, key, port) of `directory`, made (port 0) when there is none yet."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_path, state_path = directory / KEY_FILE, directory / STATE_FILE
    if key_path.exists() and state_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        state = json.loads(state_path.read_text(encoding="utf-8"))
        if isinstance(key, rsa.RSAPrivateKey):
            return str(state["kid"]), key, int(state.get("port", 0))
    kid, new = uuid.uuid4().hex, rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = new.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write(key_path, pem)
    _write(state_path, json.dumps({"kid": kid, "port": 0}).encode())
    return kid, new, 0


def _write(path: Path, data: bytes) -> None:
    """Owner-only, replaced atomically."""
    partial = path.with_suffix(path.suffix + ".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    os.replace(partial, path)


class _Handler(BaseHTTPRequestHandler):
    server_version = "penvoice-local-issuer"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and `penvoice dev` have their own logs."""

    @property
    def issuer(self) -> LocalIssuer:
        issuer: LocalIssuer = self.server.issuer  # type: ignore[attr-defined]
        return issuer

    def _reply(self, status: int, body: Mapping[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def _outage(self) -> bool:
        if self.issuer.outage == "hang":
            self.issuer._released.wait(timeout=30)
            return True
        if self.issuer.outage == "error":
            self._reply(503, {"error": "temporarily_unavailable"})
            return True
        return False

    def do_GET(self) -> None:
        issuer, path = self.issuer, self.path.split("?", 1)[0]
        routes = {
            "/.well-known/openid-configuration": ("discovery_requests", issuer.discovery),
            "/protocol/openid-connect/certs": ("jwks_requests", issuer.jwks),
        }
        counter, document = routes.get(path.removeprefix(f"/realms/{issuer.realm}"), ("", None))
        if document is None:
            self._reply(404, {"error": "not_found"})
            return
        with issuer._lock:
            setattr(issuer, counter, getattr(issuer, counter) + 1)
        if not self._outage():
            self._reply(200, document())

    def do_POST(self) -> None:
        issuer = self.issuer
        if self.path.split("?", 1)[0] != f"/realms/{issuer.realm}/protocol/openid-connect/token":
            self._reply(404, {"error": "not_found"})
            return
        with issuer._lock:
            issuer.token_requests += 1
        length = min(int(self.headers.get("Content-Length") or 0), 65536)
        fields = parse_qs(self.rfile.read(length).decode(errors="replace"))
        form = {name: values[0] for name, values in fields.items()}
        if self._outage():
            return
        if not issuer._client_authenticated(form, self.headers.get("Authorization")):
            self._reply(401, _INVALID_CLIENT)  # Keycloak's answer, word for word
        elif form.get("grant_type") != "client_credentials":
            self._reply(400, _UNSUPPORTED_GRANT)
        else:
            self._reply(200, issuer._client_token())


_INVALID_CLIENT = {
    "error": "invalid_client",
    "error_description": "Invalid client or Invalid client credentials",
}
_UNSUPPORTED_GRANT = {
    "error": "unsupported_grant_type",
    "error_description": "Unsupported grant_type",
}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a local Keycloak-like OIDC issuer.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--realm", default="penvoice")
    parser.add_argument("--audience", default="penvoice-api")
    parser.add_argument("--client-id", default="penvoice-api")
    parser.add_argument("--client-secret", default="dev-secret")
    args = parser.parse_args(argv)
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    with LocalIssuer(**vars(args)) as issuer:
        print(issuer.issuer_url, flush=True)
        while not done.wait(0.5):
            pass


if __name__ == "__main__":
    main()
