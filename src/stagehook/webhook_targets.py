"""Where a webhook may point: pure rules shared by the store (save) and the guard (send).

Webhook URLs are user input, so where they point is vetted twice. At save time
:func:`validate_webhook_url` only checks the URL's shape (the allow-list is a send-time
setting and DNS answers change), and :func:`check_literal_target` may refuse a URL whose
host is already a refused IP. At send time ``delivery/guard.py`` vets every address a
hostname resolves to with :class:`TargetGuard`; aiohttp never asks the resolver about
literal IPs, so the sender calls :func:`vet_url_target` before each request.

Attackers spell addresses oddly (``2130706433``, ``0x7f.1``, ``::ffff:127.0.0.1``) because
the C resolver accepts forms a naive string check misses; :func:`parse_ip_host` follows
``inet_aton`` and the WHATWG URL parser so those spellings are recognised as IPs. Nothing
here does I/O.
"""

from __future__ import annotations

import ipaddress
import string
from collections.abc import Sequence
from typing import Final

from yarl import URL

from stagehook.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH: Final = 2048
ALLOW_SETTING: Final = "STAGEHOOK_ALLOWED_TARGET_NETWORKS"

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# Explicit tables instead of ``is_global``: the stdlib's notion lags the IANA registries
# (e.g. 100.64.0.0/10 and 3fff::/20) and changes between Python patch releases.
_IPV4_REFUSED: Final[tuple[tuple[ipaddress.IPv4Network, str], ...]] = (
    (_V4("0.0.0.0/8"), "unspecified"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("10.0.0.0/8"), "private"),
    (_V4("172.16.0.0/12"), "private"),
    (_V4("192.168.0.0/16"), "private"),
    (_V4("100.64.0.0/10"), "cgnat"),
    (_V4("169.254.0.0/16"), "link-local"),
    (_V4("192.0.0.0/24"), "reserved"),
    (_V4("192.0.2.0/24"), "documentation"),
    (_V4("198.51.100.0/24"), "documentation"),
    (_V4("203.0.113.0/24"), "documentation"),
    (_V4("192.88.99.0/24"), "reserved"),
    (_V4("198.18.0.0/15"), "benchmarking"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("255.255.255.255/32"), "broadcast"),
    (_V4("240.0.0.0/4"), "reserved"),
)

_IPV6_UNSPECIFIED: Final = ipaddress.IPv6Address("::")
_IPV6_LOOPBACK: Final = ipaddress.IPv6Address("::1")
_IPV6_REFUSED: Final[tuple[tuple[ipaddress.IPv6Network, str], ...]] = (
    (_V6("64:ff9b:1::/48"), "private"),
    (_V6("100::/64"), "reserved"),
    (_V6("2001:db8::/32"), "documentation"),
    (_V6("3fff::/20"), "documentation"),
    (_V6("2001:2::/48"), "benchmarking"),
    (_V6("2001::/23"), "reserved"),
    (_V6("fc00::/7"), "private"),
    (_V6("fe80::/10"), "link-local"),
    (_V6("fec0::/10"), "site-local"),
    (_V6("ff00::/8"), "multicast"),
)

_IPV6_GLOBAL_UNICAST: Final = _V6("2000::/3")
_MAPPED: Final = _V6("::ffff:0:0/96")
_TRANSLATED: Final = _V6("::ffff:0:0:0/96")
_COMPATIBLE: Final = _V6("::/96")
_NAT64: Final = _V6("64:ff9b::/96")
_SIX_TO_FOUR: Final = _V6("2002::/16")

_DESCRIPTIONS: Final = {
    "cgnat": "carrier-grade NAT (100.64.0.0/10) address",
    "unspecified": "unspecified ('this host') address",
}

_HEX_DIGITS: Final = frozenset(string.hexdigits)
_OCT_DIGITS: Final = frozenset(string.octdigits)


class TargetRefused(Exception):
    """A delivery target resolved to an address the guard does not allow."""

    def __init__(self, target: str, address: IPAddress, reason: str) -> None:
        self.target = target
        self.address = address
        self.reason = reason
        shown = str(address) if target == str(address) else f"{target} ({address})"
        embedded = embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else None
        detail = f", IPv4 {embedded} embedded in IPv6" if embedded is not None else ""
        description = _DESCRIPTIONS.get(reason, f"{reason} address")
        super().__init__(
            f"refused target {shown}: {description}{detail} (add it to {ALLOW_SETTING} to allow)"
        )


def _parse_ipv4_number(part: str) -> int | None:
    if part[:2].lower() == "0x":
        digits = part[2:]
        if not set(digits) <= _HEX_DIGITS:
            return None
        return int(digits, 16) if digits else 0
    if len(part) > 1 and part[0] == "0":
        return int(part, 8) if set(part) <= _OCT_DIGITS else None
    if not (part.isascii() and part.isdigit()) or len(part) > 20:
        return None  # more digits than any 32-bit value needs (and int() caps length)
    return int(part)


def _parse_legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """``inet_aton`` rules: 1-4 parts, each decimal/octal/hex, the last fills the rest."""
    if host.endswith("."):
        host = host[:-1]
    parts = host.split(".")
    if not host or len(parts) > 4 or any(not part for part in parts):
        return None
    numbers = [_parse_ipv4_number(part) for part in parts]
    values = [n for n in numbers if n is not None]
    if len(values) != len(numbers):
        return None
    *head, last = values
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(values)):
        return None
    value = last
    for index, number in enumerate(head):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def parse_ip_host(host: str) -> IPAddress | None:
    """The IP a URL host denotes, in any spelling the system resolver would accept."""
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        address = host.split("%", 1)[0]  # a zone id does not change what the address is
        try:
            return ipaddress.IPv6Address(address)
        except ValueError:
            return None
    return _parse_legacy_ipv4(host)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries and that a connection would reach."""
    if ip in _MAPPED or ip in _TRANSLATED or ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _COMPATIBLE and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _SIX_TO_FOUR:
        return ipaddress.IPv4Address((int(ip) >> 80) & 0xFFFFFFFF)
    return None


def classify(ip: IPAddress) -> str | None:
    """None when ``ip`` is publicly routable, else a one-word reason it is refused."""
    if isinstance(ip, ipaddress.IPv4Address):
        for network, reason in _IPV4_REFUSED:
            if ip in network:
                return reason
        return None if ip.is_global else "reserved"
    if ip == _IPV6_UNSPECIFIED:
        return "unspecified"
    if ip == _IPV6_LOOPBACK:
        return "loopback"
    embedded = embedded_ipv4(ip)
    if embedded is not None:
        inner = classify(embedded)
        if inner is None and ip in _COMPATIBLE:
            return "reserved"  # deprecated form, not routable even for a public IPv4
        return inner
    for network6, reason in _IPV6_REFUSED:
        if ip in network6:
            return reason
    if ip not in _IPV6_GLOBAL_UNICAST or not ip.is_global:
        return "reserved"
    return None


class TargetGuard:
    """Refuses non-public addresses unless the operator explicitly allowed their network."""

    def __init__(self, allowed_networks: Sequence[str]) -> None:
        self.allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = tuple(
            ipaddress.ip_network(network.strip(), strict=False) for network in allowed_networks
        )

    def is_allowed(self, ip: IPAddress) -> bool:
        candidates: list[IPAddress] = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and (inner := embedded_ipv4(ip)) is not None:
            candidates.append(inner)
        return any(
            candidate.version == network.version and candidate in network
            for candidate in candidates
            for network in self.allowed_networks
        )

    def check(self, ip: IPAddress | str, *, target: str | None = None) -> None:
        """Raise :class:`TargetRefused` unless ``ip`` may be connected to."""
        address = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
        reason = classify(address)
        if reason is None or self.is_allowed(address):
            return
        raise TargetRefused(target or str(address), address, reason)


def check_literal_target(url: str, guard: TargetGuard) -> None:
    """Save-time refusal of a URL whose host is an IP the guard would refuse anyway."""
    host = URL(url).raw_host
    address = parse_ip_host(host) if host else None
    if address is None:
        return
    try:
        guard.check(address, target=host)
    except TargetRefused as exc:
        raise InvalidInput(f"webhook URL is not allowed: {exc}") from exc


def vet_url_target(url: str | URL, guard: TargetGuard) -> None:
    """Send-time check for literal-IP hosts, which aiohttp never passes to the resolver."""
    host = (url if isinstance(url, URL) else URL(url)).raw_host
    address = parse_ip_host(host) if host else None
    if address is not None:
        guard.check(address, target=host)


class VettedUrls:
    """:func:`vet_url_target` remembered per URL string, for the sender's hot path.

    Whether a URL passes depends only on its text and the guard's fixed allow-list, so a
    URL that passed once passes again; only passes are remembered (a refusal is checked
    afresh, and is rare). This caches the URL's *literal* host check only: names are
    still resolved and vetted by ``delivery/guard.py`` on every new connection.
    """

    def __init__(self, guard: TargetGuard, *, size: int = 4096) -> None:
        self._guard = guard
        self._size = size
        self._passed: set[str] = set()

    def check(self, url: str) -> None:
        """Raise :class:`TargetRefused` where :func:`vet_url_target` would."""
        if url in self._passed:
            return
        vet_url_target(url, self._guard)
        if len(self._passed) >= self._size:
            self._passed.clear()
        self._passed.add(url)


def _invalid(reason: str) -> InvalidInput:
    return InvalidInput(f"invalid webhook URL: {reason}")


def _looks_numeric(host: str) -> bool:
    last = host.rstrip(".").rsplit(".", 1)[-1].lower()
    if last.startswith("0x"):
        return set(last[2:]) <= _HEX_DIGITS
    return last.isascii() and last.isdigit()


def validate_webhook_url(url: str) -> str:
    """Shape checks only: no DNS, no allow-list (those are send-time decisions)."""
    if len(url) > MAX_URL_LENGTH:
        raise _invalid(f"longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise _invalid("contains whitespace or control characters")
    try:
        parsed = URL(url)
        port = parsed.port
    except ValueError as exc:
        raise _invalid(str(exc) or "cannot be parsed") from exc
    if parsed.scheme not in ("http", "https"):
        shown = f"'{parsed.scheme}'" if parsed.scheme else "none"
        raise _invalid(f"scheme must be http or https, got {shown}")
    host = parsed.raw_host
    if not host:
        raise _invalid("has no host")
    if parsed.raw_user is not None or parsed.raw_password is not None:
        raise _invalid("must not contain credentials (user:password@)")
    if port is None or not 0 < port < 65536:
        raise _invalid("port must be between 1 and 65535")
    if parsed.raw_fragment:
        raise _invalid("must not contain a fragment (#...), it is never sent")
    if "%" in host:
        raise _invalid("host must not contain '%' (percent-encoding or an IPv6 zone id)")
    if ":" not in host and _looks_numeric(host) and parse_ip_host(host) is None:
        raise _invalid(f"host '{host}' looks like an IP address but is not a valid one")
    return str(parsed)
