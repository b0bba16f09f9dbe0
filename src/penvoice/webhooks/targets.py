"""Where a webhook may go: server-side request forgery protection.

A target is refused when its host is, or resolves to, an address that is loopback,
private, link-local (the cloud metadata service 169.254.169.254), shared, multicast,
reserved or unspecified — unless the operator allows private targets
(`WEBHOOK_ALLOW_PRIVATE_TARGETS`). Every address a name resolves to must pass, and the
delivery connects to the address that was checked (no second lookup to rebind), with
redirects never followed."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
RESOLVE_TIMEOUT_SECONDS = 5.0


class TargetRefused(Exception):
    """The URL is malformed or points somewhere a webhook may not go."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written (a name or an address)
    port: int
    path: str  # path and query

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    def url_for(self, address: str) -> str:
        """The URL with the checked address in place of the name (the Host header and TLS
        server name keep the name)."""
        shown = f"[{address}]" if ":" in address else address
        return f"{self.scheme}://{shown}:{self.port}{self.path}"


def parse(url: str) -> Target:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"not a URL: {exc}") from None
    if parts.scheme not in {"http", "https"}:
        raise TargetRefused("must be an http or https URL")
    if not parts.hostname:
        raise TargetRefused("must name a host")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("must not carry credentials; use the signature to authenticate")
    if parts.fragment:
        raise TargetRefused("must not carry a fragment")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, parts.hostname, port or default, path)


def refusal(address: IPAddress) -> str | None:
    """Why this address is no place for a webhook, or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return refusal(address.ipv4_mapped)
    checks = (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("unspecified", address.is_unspecified),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private or not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


async def resolve(target: Target, *, allow_private: bool) -> list[str]:
    """The addresses to connect to, every one of them allowed; else TargetRefused."""
    try:
        literal: IPAddress | None = ipaddress.ip_address(target.host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM),
                RESOLVE_TIMEOUT_SECONDS,
            )
        except (OSError, TimeoutError) as exc:
            raise TargetRefused(f"{target.host} does not resolve ({exc})") from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
        if not addresses:
            raise TargetRefused(f"{target.host} does not resolve")
    if not allow_private:
        for address in addresses:
            reason = refusal(address)
            if reason:
                shown = "" if literal is not None else f"{target.host} resolves to "
                raise TargetRefused(f"{shown}{address}, a {reason} address")
    return [str(address) for address in addresses]
