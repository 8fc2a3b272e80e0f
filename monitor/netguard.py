"""The one network gate (SSRF guard) for every URL rasid fetches or posts to.

Sources, feed entry links, redirects and alert webhooks all come from users or from
hostile documents, so each request is checked twice: the URL when it is accepted
(scheme, userinfo, backslashes, numeric host tricks) and the address actually connected
to (a host is refused if ANY of its addresses is not allowed, so DNS rebinding and
mixed A records cannot reach 127.0.0.1, 10/8, 169.254.169.254, ...). Scrapy's resolver
and the alert HTTP client both call :meth:`NetworkPolicy.resolve`.

Allowed, by default: globally routable addresses only. ``[crawl] allowed_networks`` adds
the ranges it lists; ``allow_private_networks`` adds every private, loopback, link-local
and reserved address. Neither reaches a cloud metadata address (:data:`METADATA_NETWORKS`)
unless ``allowed_networks`` lists that address by itself. Every policy of a running rasid
is built from those two settings by :meth:`NetworkPolicy.from_settings`.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from monitor.errors import NetworkGuardError, ResolutionError

ALLOWED_SCHEMES = frozenset({"http", "https"})
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Instance metadata services hand out cloud credentials to whatever on the machine asks,
# so one request there turns an SSRF into an account takeover. Allowing "private
# networks" (a lab, a LAN feed) must not allow them too. Here: AWS IMDS v4/v6
# (169.254.169.254, fd00:ec2::254; also GCP, Azure, DigitalOcean, Hetzner, OpenStack),
# the ECS task and EKS pod-identity credential endpoints (169.254.170.2, 169.254.170.23,
# fd00:ec2::23), OpenStack's IPv6 one (fe80::a9fe:a9fe), Alibaba (100.100.100.200),
# Tencent (169.254.0.23), Scaleway (169.254.42.42, fd00:42::42), Oracle Cloud Classic
# (192.0.0.192) and Azure's host endpoint (168.63.129.16, a public address).
METADATA_NETWORKS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(address)
    for address in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.170.23",
        "169.254.0.23",
        "169.254.42.42",
        "100.100.100.200",
        "192.0.0.192",
        "168.63.129.16",
        "fd00:ec2::254",
        "fd00:ec2::23",
        "fd00:42::42",
        "fe80::a9fe:a9fe",
    )
)

# IPv6 forms that carry an IPv4 address the packet may end up at: IPv4-compatible
# (::a.b.c.d, deprecated but still parsed) and the NAT64 well-known prefix (RFC 6052).
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

_PRIVATE_HINT = (
    "add its range to crawl.allowed_networks, or set crawl.allow_private_networks = true, "
    "to allow it"
)


def parse_network(text: str) -> IPNetwork:
    """An address range as written in the settings: "10.20.0.0/16", "fd12::/16", or one
    address. Raises ValueError saying what was expected."""
    expected = f'expected an address range such as "10.20.0.0/16" or "fd12::/16", got "{text}"'
    try:
        return ipaddress.ip_network(text.strip())
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValueError(expected) from None
    raise ValueError(f"{expected}: bits are set after the prefix (did you mean {loose}?)")


def _unwrap(address: IPAddress) -> IPAddress:
    """The IPv4 address hidden in an IPv6 address (v4-mapped, 6to4, Teredo,
    IPv4-compatible, NAT64), if any."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
        if address in _IPV4_COMPATIBLE or address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


@dataclass(frozen=True)
class NetworkPolicy:
    """Which destinations are allowed. By default only globally routable addresses."""

    allow_private_networks: bool = False
    allowed_networks: tuple[IPNetwork, ...] = field(default_factory=tuple)

    @classmethod
    def from_settings(
        cls, *, allow_private_networks: bool, allowed_networks: Iterable[str]
    ) -> NetworkPolicy:
        """The policy of ``[crawl] allow_private_networks`` and ``allowed_networks`` (the
        ranges as written in settings.toml)."""
        networks = tuple(parse_network(text) for text in allowed_networks)
        return cls(allow_private_networks=allow_private_networks, allowed_networks=networks)

    def address_allowed(self, address: str | IPAddress) -> bool:
        """Whether a connection to ``address`` may be made under this policy."""
        return self._refusal(address) is None

    def _refusal(self, address: str | IPAddress) -> str | None:
        """What ``address`` is, when refused ("a cloud metadata address (...)", naming the
        setting that would allow it); None when it is allowed."""
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        inner = _unwrap(ip)
        listed = [net for net in self.allowed_networks if inner in net or ip in net]
        metadata = next((net for net in METADATA_NETWORKS if inner in net or ip in net), None)
        if metadata is not None:
            # Only the address itself, listed alone: a wide range written to reach a
            # LAN (or "0.0.0.0/0") must not open the credentials endpoint with it.
            if any(net.num_addresses == 1 for net in listed):
                return None
            return (
                f"a cloud metadata address (list {metadata.network_address} itself in "
                "crawl.allowed_networks to allow it)"
            )
        if listed:
            return None
        if self.allow_private_networks:
            return None
        if ip.is_global and inner.is_global and not inner.is_multicast:
            return None
        return f"a private, loopback or reserved address ({_PRIVATE_HINT})"

    def url_problem(self, url: str) -> str | None:
        """Why a URL is refused by its form alone, without repeating the URL; or None.

        Scheme, userinfo, backslashes, control characters, and an IP-literal host (in any
        notation the C library accepts) outside the policy. A host name is checked when
        it is resolved, at connect time.
        """
        if "\\" in url:
            return "backslashes are not allowed"
        if any(ord(char) < 0x20 or ord(char) == 0x7F for char in url):
            return "control characters are not allowed"
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            return str(exc)
        scheme = parts.scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            return f"scheme {scheme or '(none)'!r} is not http or https"
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            return "credentials in URLs are not allowed"
        host = parts.hostname
        if not host:
            return "no host"
        if any(char.isspace() for char in host):
            return f"spaces in the host {host!r}"
        if port == 0:
            return "port 0"
        literal = _ip_literal(host)
        refusal = None if literal is None else self._refusal(literal)
        return None if refusal is None else f"{literal} is {refusal}"

    def check_url(self, url: str) -> None:
        """Raise :class:`NetworkGuardError` if :meth:`url_problem` finds one."""
        problem = self.url_problem(url)
        if problem is not None:
            raise NetworkGuardError(f"refused URL {url!r}: {problem}")

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
        refused = [
            f"it resolves to {address}, {refusal}"
            for address in addresses
            if (refusal := self._refusal(address)) is not None
        ]
        if refused:
            raise NetworkGuardError(f"refused host {host!r}: {'; '.join(refused)}")
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
