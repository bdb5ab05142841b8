"""Accept webhooks only from the addresses a deployment publishes at ``GET /api/v1/meta``.

A signature proves who sent a request; the allowlist additionally lets receivers on
strict networks drop traffic from anywhere else before doing any work.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


class Allowlist:
    """A set of CIDRs; a peer address is allowed when it falls in one of them."""

    def __init__(
        self, cidrs: Iterable[str], *, deployment: str | None = None, enforcing: bool = True
    ) -> None:
        self.networks: tuple[_Network, ...] = tuple(
            ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs
        )
        self.deployment = deployment
        #: False for a deployment that publishes no addresses: every sender is allowed
        #: and the signature alone decides.
        self.enforcing = enforcing

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any], *, required: bool = False) -> Allowlist:
        """Build from the JSON of ``GET /api/v1/meta`` (``deployment``, ``egress_cidrs``).

        A deployment that publishes no ``egress_cidrs`` (the default: its deliveries leave
        from whatever address the host has) gives a non-enforcing allowlist that lets every
        sender through, so the same receiver code works against a laptop and against a
        deployment with fixed egress. With ``required=True`` that case raises instead, for
        receivers that must fail closed.
        """
        cidrs = meta.get("egress_cidrs")
        deployment = meta.get("deployment")
        name = deployment if isinstance(deployment, str) else None
        if not isinstance(cidrs, list) or not all(isinstance(c, str) for c in cidrs):
            raise ValueError("meta has no 'egress_cidrs' list of strings")
        if cidrs:
            return cls(cidrs, deployment=name)
        if required:
            raise ValueError(
                f"deployment {deployment!r} publishes no egress_cidrs (its operator has not "
                "set STAGEHOOK_EGRESS_CIDRS); there are no source addresses to enforce"
            )
        return cls([], deployment=name, enforcing=False)

    def allows(self, ip: str) -> bool:
        """Whether ``ip`` may send webhooks; unparseable addresses are never allowed."""
        try:
            address = ipaddress.ip_address(ip.strip())
        except ValueError:
            return False
        if not self.enforcing:
            return True
        candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [address]
        # Dual-stack servers report IPv4 peers as ::ffff:a.b.c.d.
        if isinstance(address, ipaddress.IPv6Address) and address in _MAPPED:
            candidates.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        return any(
            candidate.version == network.version and candidate in network
            for candidate in candidates
            for network in self.networks
        )

    def __repr__(self) -> str:
        cidrs = ", ".join(str(network) for network in self.networks)
        enforcing = "" if self.enforcing else ", enforcing=False"
        return f"Allowlist([{cidrs}], deployment={self.deployment!r}{enforcing})"
