"""Network exposure judged by meaning: how much of the internet a list of CIDRs lets in, and what
a bind address publishes. One rule for the config checks (model/types.py) and the policy pack.

Standard library only: the policy pack imports this module in its own virtualenv.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# The most an operators' allowlist (SSH and the admin UIs) may cover: a /8 of IPv4 (16.7 million
# addresses), and a /24 of IPv6 global unicast. A list covering more lets in a good part of the
# internet whether or not it adds up to 0.0.0.0/0 (eight ranges covering all but 0/8, 2000::/3).
MAX_IPV4_ADDRESSES = 2**24
MAX_IPV6_ADDRESSES = 2 ** (128 - 24)
# IPv6 ranges that carry IPv4 addresses: IPv4-mapped, NAT64 and 6to4. They count as the IPv4 they hold.
_IPV4_IN_IPV6 = (ipaddress.ip_network("::ffff:0:0/96"), ipaddress.ip_network("64:ff9b::/96"))
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")


def _as_ipv4(network: Network) -> ipaddress.IPv4Network | None:
    """The IPv4 range an IPv6 range stands for, if it embeds IPv4 (None if it does not)."""
    if network.version == 4:
        return network
    for prefix in _IPV4_IN_IPV6:
        if network.subnet_of(prefix):  # type: ignore[arg-type]
            start = int(network.network_address) - int(prefix.network_address)
            return ipaddress.IPv4Network((start, max(0, network.prefixlen - 96)))
        if prefix.subnet_of(network):  # type: ignore[arg-type]
            return ipaddress.IPv4Network("0.0.0.0/0")
    if network.subnet_of(_SIX_TO_FOUR):  # type: ignore[arg-type]
        start = (int(network.network_address) >> 80) & 0xFFFFFFFF
        return ipaddress.IPv4Network((start, min(32, max(0, network.prefixlen - 16))), strict=False)
    if _SIX_TO_FOUR.subnet_of(network):  # type: ignore[arg-type]
        return ipaddress.IPv4Network("0.0.0.0/0")
    return None


def coverage(networks: Iterable[Network]) -> tuple[int, int]:
    """(IPv4 addresses, IPv6 addresses) the ranges let in together, overlaps counted once; IPv6
    ranges that embed IPv4 count as IPv4 (and as IPv6 too)."""
    v4: list[ipaddress.IPv4Network] = []
    v6: list[ipaddress.IPv6Network] = []
    for n in networks:
        embedded = _as_ipv4(n)
        if embedded is not None:
            v4.append(embedded)
        if n.version == 6:
            v6.append(n)
    return (
        sum(n.num_addresses for n in ipaddress.collapse_addresses(v4)),
        sum(n.num_addresses for n in ipaddress.collapse_addresses(v6)),
    )


def too_broad(networks: Iterable[Network]) -> str:
    """Why an operators' allowlist covers too much of the internet; empty when it does not."""
    ipv4, ipv6 = coverage(networks)
    if ipv4 > MAX_IPV4_ADDRESSES:
        share = ipv4 / 2**32
        return f"they let in {ipv4:,} IPv4 addresses ({share:.1%} of IPv4), more than a /8"
    if ipv6 > MAX_IPV6_ADDRESSES:
        return f"they let in {ipv6 / 2**125:.2%} of the IPv6 internet, more than a /24"
    return ""


def parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as Docker reads a port's host IP: IPv4-mapped IPv6 is the IPv4 it maps."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return getattr(address, "ipv4_mapped", None) or address


def bind_problem(text: str, *, firewalled: bool, public_ok: bool) -> str:
    """Why publishing on `text` is wrong (empty: it is fine).

    `firewalled`: the host has a firewall this program configures (the cloud VMs), so every
    address beyond loopback is reachable only from the allowlists. `public_ok`: the port is meant
    for the internet (the API), so any address of the host will do.
    """
    if "%" in text:
        return "has a zone id, which Docker does not take as a bind address"
    address = parse_address(text)
    if address is None:
        return "is not an IP address"
    if address.is_loopback:
        return ""
    if address.is_multicast or (address.is_reserved and not address.is_unspecified):
        return "is not an address a host can bind"
    if address.is_link_local:
        return "is link-local (where the clouds' metadata services answer), not an address to publish on"
    if public_ok or firewalled:
        return ""
    if address.is_unspecified:
        return "publishes on every address of a host with no firewall this program controls: to the world"
    if address.is_global:
        return "is a public address of a host with no firewall this program controls: the world could reach it"
    return ""


# Host names that mean this machine or a cloud's metadata service, wherever they are resolved.
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "metadata", "metadata.google.internal", "instance-data")
_AWS_METADATA_V6 = ipaddress.ip_address("fd00:ec2::254")


def unreachable_from_a_container(host: str) -> str:
    """Why a receiver at `host` would not be the operator's (empty: it may be): loopback is the
    Alertmanager container itself, link-local holds the clouds' metadata services (169.254.169.254,
    fd00:ec2::254), and unspecified or multicast addresses are no receiver at all."""
    name = host.strip("[]").lower().rstrip(".")
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        return "names this machine or a metadata service"
    address = parse_address(name)
    if address is None:
        return ""
    if address.is_loopback:
        return "is loopback (inside the Alertmanager container: itself)"
    if address.is_link_local or address == _AWS_METADATA_V6:
        return "is link-local, where the clouds' metadata services answer"
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        return "is not an address a receiver can have"
    return ""
