"""Which hosts the server may connect to on behalf of a newsletter owner.

Owners type URLs and host names (an outgoing webhook, an SMTP server), so those must
not become a way into the server's own network (SSRF): the cloud metadata service,
Redis, an admin port. A host is resolved once, every address it resolves to must be
public, and the caller connects to the checked address (never resolving again), so
a DNS answer that changes in between (DNS rebinding) cannot redirect it. An
instance admin may allow private addresses (an intranet mail relay or receiver).

Used by the HTTP client of outgoing webhooks and feeds (``newsletter/outbound.py``) and
by the SMTP connection of newsletters' own sending backends (``delivery/backends/smtp.py``).
"""

import ipaddress
import socket

# NAT64 (RFC 6052): the last 32 bits are an IPv4 address that a gateway reaches for us.
NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Local-use NAT64 (RFC 8215): translated inside the operator's own network.
NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


class Refused(Exception):
    """The address may not be connected to at all: retrying cannot help."""


class TransportError(Exception):
    """The host could not be resolved or reached: worth retrying."""


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order, once each."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise TransportError(f"cannot resolve {host}: {error}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public(address: str) -> bool:
    """Whether ``address`` is a globally routed unicast address.

    An IPv6 address can carry an IPv4 address that the packet ends up going to:
    IPv4-mapped and IPv4-compatible addresses, 6to4 (2002::/16), Teredo's client and
    server, NAT64 (64:ff9b::/96). Each embedded address must be public too, so
    ``2002:a9fe:a9fe::1`` (6to4 for 169.254.169.254) is not.
    """
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # connects over IPv4 to that address
            return _routed(ip.ipv4_mapped)
        if ip in NAT64_LOCAL:
            return False
        if not all(_routed(embedded) for embedded in _embedded_ipv4(ip)):
            return False
    return _routed(ip)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    embedded = []
    if ip.sixtofour is not None:
        embedded.append(ip.sixtofour)
    if ip.teredo is not None:
        embedded.extend(ip.teredo)
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in NAT64 or int(ip) >> 32 == 0:  # NAT64, or IPv4-compatible ::a.b.c.d
        embedded.append(low32)
    return embedded


def _routed(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def pick_address(host: str, port: int, *, allow_private: bool) -> str:
    """Resolve once; refuse if any answer is private (a mixed answer is a rebinding trick)."""
    addresses = resolve(host, port)
    if not addresses:
        raise TransportError(f"{host} resolves to no address")
    if not allow_private:
        refused = [address for address in addresses if not is_public(address)]
        if refused:
            raise Refused(f"{host} resolves to a non-public address ({refused[0]})")
    return addresses[0]
