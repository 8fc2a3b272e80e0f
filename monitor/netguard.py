"""The one network gate (SSRF guard) for every URL rasid fetches or posts to.

Sources, feed entry links, redirects and alert webhooks all come from users or from
hostile documents, so each request is checked twice: the URL when it is accepted
(scheme, userinfo, backslashes, numeric host tricks) and the address actually connected
to (a host is refused if ANY of its addresses is not global, so DNS rebinding and
mixed A records cannot reach 127.0.0.1, 10/8, 169.254.169.254, ...). Scrapy's resolver
and the alert HTTP client both call :meth:`NetworkPolicy.resolve`.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from monitor.errors import NetworkGuardError, ResolutionError

ALLOWED_SCHEMES = frozenset({"http", "https"})
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _unwrap(address: IPAddress) -> IPAddress:
    """The IPv4 address hidden in a v4-mapped, 6to4 or Teredo IPv6 address, if any."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
    return address


@dataclass(frozen=True)
class NetworkPolicy:
    """Which destinations are allowed. By default only globally routable addresses."""

    allow_private_networks: bool = False
    allowed_networks: tuple[IPNetwork, ...] = field(default_factory=tuple)

    def address_allowed(self, address: str | IPAddress) -> bool:
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        if self.allow_private_networks:
            return True
        inner = _unwrap(ip)
        if any(inner in network or ip in network for network in self.allowed_networks):
            return True
        return ip.is_global and inner.is_global and not inner.is_multicast

    def check_url(self, url: str) -> None:
        """Refuse a URL by its form alone: scheme, userinfo, backslashes, odd numeric hosts.

        Also refuses an IP-literal host outside the policy; a host name is checked when it
        is resolved, at connect time.
        """
        if "\\" in url:
            raise NetworkGuardError(f"refused URL {url!r}: backslashes are not allowed")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise NetworkGuardError(f"refused URL {url!r}: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            raise NetworkGuardError(
                f"refused URL {url!r}: scheme {scheme or '(none)'!r} is not http or https"
            )
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            raise NetworkGuardError(f"refused URL {url!r}: credentials in URLs are not allowed")
        host = parts.hostname
        if not host:
            raise NetworkGuardError(f"refused URL {url!r}: no host")
        if port == 0:
            raise NetworkGuardError(f"refused URL {url!r}: port 0")
        literal = _ip_literal(host)
        if literal is not None and not self.address_allowed(literal):
            raise NetworkGuardError(
                f"refused URL {url!r}: {literal} is a private, loopback or reserved address "
                "(set crawl.allow_private_networks = true to allow it)"
            )

    def resolve(self, host: str, port: int = 0) -> list[str]:
        """Resolve a host and return its addresses, or refuse it if any is not allowed."""
        literal = _ip_literal(host)
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                infos = socket.getaddrinfo(host, port or None, proto=socket.IPPROTO_TCP)
            except (socket.gaierror, UnicodeError) as exc:
                raise ResolutionError(f"cannot resolve host {host!r}: {exc}") from None
            addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        refused = [address for address in addresses if not self.address_allowed(address)]
        if refused:
            raise NetworkGuardError(
                f"refused host {host!r}: it resolves to {', '.join(refused)}, a private, "
                "loopback or reserved address (set crawl.allow_private_networks = true "
                "to allow it)"
            )
        return addresses


def _ip_literal(host: str) -> IPAddress | None:
    """The address a host string denotes by itself, including forms like 2130706433.

    Those forms (decimal, hex, octal, short dotted) are resolved by the C library to a
    real address, so they are treated as the address they denote.
    """
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None
