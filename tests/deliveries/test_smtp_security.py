"""SMTP security against a real aiosmtpd: STARTTLS with a certificate the worker verifies
(`SMTP_CA_FILE`) and credentials only over TLS; a server without STARTTLS, a certificate the
worker does not trust, or wrong credentials send nothing and end `failed` with the reason."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import Api
from tests.deliveries.smtp_sink import SmtpSink
from tests.deliveries.test_send import open_invoice, running_worker, send, settled
from tests.invoices.conftest import make_billing

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # sends render in the worker's render process

USER, PASSWORD = "penvoice", "s3cret-smtp"


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "smtp.crt", tmp_path / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


def tls_sink(tmp_path: Path) -> tuple[SmtpSink, Path]:
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    sink = SmtpSink(
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=authenticator,
    )
    return sink, cert


STARTTLS = {"SMTP_SECURITY": "starttls", "SMTP_USERNAME": USER, "SMTP_PASSWORD": PASSWORD}


async def test_starttls_with_a_verified_certificate_and_credentials(
    api: Api, database_url: str, tmp_path: Path
) -> None:
    billing = await make_billing(api)
    invoice = await open_invoice(billing)
    sink, cert = tls_sink(tmp_path)
    with sink:
        assert (await send(billing, invoice["id"])).status_code == 202
        async with running_worker(database_url, sink, **STARTTLS, SMTP_CA_FILE=str(cert)):
            done = await settled(billing, invoice["id"])
        assert done["status"] == "sent", done
        assert len(sink.arrived) == 1


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("untrusted certificate", "SSL"),
        ("wrong password", "SMTPAuthenticationError"),
        ("no STARTTLS offered", "SMTP"),
    ],
)
async def test_an_unsafe_or_unauthorised_session_sends_nothing(
    api: Api, database_url: str, tmp_path: Path, case: str, expected: str
) -> None:
    billing = await make_billing(api)
    invoice = await open_invoice(billing)
    if case == "no STARTTLS offered":
        sink, cert = SmtpSink(), self_signed(tmp_path)[0]  # a plain server
    else:
        sink, cert = tls_sink(tmp_path)
    env = {**STARTTLS, "SMTP_CA_FILE": str(cert)}
    if case == "untrusted certificate":
        env.pop("SMTP_CA_FILE")
    if case == "wrong password":
        env["SMTP_PASSWORD"] = "wrong"
    with sink:
        assert (await send(billing, invoice["id"])).status_code == 202
        async with running_worker(database_url, sink, **env):
            done = await settled(billing, invoice["id"])
        assert sink.arrived == []
    assert done["status"] == "failed"
    (recipient,) = done["recipients"]
    assert recipient["state"] == "failed"
    assert expected in recipient["smtp_response"], recipient
    assert env["SMTP_PASSWORD"] not in recipient["smtp_response"]  # the one the worker holds
