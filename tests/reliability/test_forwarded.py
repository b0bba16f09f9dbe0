"""Proxy headers are believed only from FORWARDED_ALLOW_IPS (issue 17): before, uvicorn
trusted X-Forwarded-* from any peer. Real `penvoice serve` processes; the scheme uvicorn
takes from X-Forwarded-Proto shows in the absolute URL of a trailing-slash redirect."""

from __future__ import annotations

import pytest

from penvoice.config import ConfigError, Settings
from penvoice.dev.issuer import LocalIssuer
from tests.conftest import app_environ
from tests.reliability.server import parse, raw_exchange, serve

pytestmark = pytest.mark.slow

SPOOFED = b"GET /v1/me/ HTTP/1.1\r\nHost: api.example\r\nX-Forwarded-Proto: https\r\n" + (
    b"X-Forwarded-For: 203.0.113.7\r\nConnection: close\r\n\r\n"
)


def _redirect_scheme(environ: dict[str, str]) -> str:
    with serve(environ) as server:
        status, headers, _ = parse(raw_exchange(server, SPOOFED))
    assert status == 307, (status, headers)
    return headers["location"].split(":", 1)[0]


def test_proxy_headers_are_believed_only_from_the_configured_peers(
    database_url: str, issuer: LocalIssuer
) -> None:
    # The test client is on loopback: trusted by default, as a sidecar would be.
    assert _redirect_scheme(app_environ(database_url, issuer)) == "https"
    # The ingress's network only: a peer outside it cannot claim https (or an address).
    elsewhere = app_environ(database_url, issuer, FORWARDED_ALLOW_IPS="10.42.0.0/16")
    assert _redirect_scheme(elsewhere) == "http"


@pytest.mark.parametrize("value", ["*", "10.42.0.1/16", "traefik", "10.0.0.0/8,*"])
def test_a_wildcard_or_a_malformed_peer_is_a_configuration_error(value: str) -> None:
    with pytest.raises(ConfigError, match="FORWARDED_ALLOW_IPS"):
        Settings.from_environ(
            {
                "DB_URL": "postgresql://x/y",
                "KC_ISSUER": "http://x/realms/y",
                "KC_AUDIENCE": "z",
                "FORWARDED_ALLOW_IPS": value,
            }
        )


def test_the_default_trusts_loopback_only() -> None:
    settings = Settings.from_environ(
        {"DB_URL": "postgresql://x/y", "KC_ISSUER": "http://x/realms/y", "KC_AUDIENCE": "z"}
    )
    assert settings.forwarded_allow_ips == ("127.0.0.1", "::1")
    both = Settings.from_environ(
        {
            "DB_URL": "postgresql://x/y",
            "KC_ISSUER": "http://x/realms/y",
            "KC_AUDIENCE": "z",
            "FORWARDED_ALLOW_IPS": "10.42.0.0/16, fd00::/8",
        }
    )
    assert both.forwarded_allow_ips == ("10.42.0.0/16", "fd00::/8")
