"""Concrete packets: the points of the packet universe.

A :class:`Packet` is one header tuple. The *canonical* packets form the universe of
:mod:`zonepolicy.semantics.packetset`: ports are only meaningful for TCP/UDP/SCTP and
ICMP type/code only for ICMP/ICMPv6, so a canonical packet carries zeros in the fields
its protocol does not have. Keeping one representative per real packet is what makes
counting and equality of packet sets meaningful.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

TCP = 6
UDP = 17
SCTP = 132
ICMP = 1
ICMPV6 = 58

PORT_PROTOCOLS: frozenset[int] = frozenset({TCP, UDP, SCTP})
ICMP_PROTOCOLS: frozenset[int] = frozenset({ICMP, ICMPV6})

PROTOCOL_NAMES: dict[int, str] = {TCP: "tcp", UDP: "udp", SCTP: "sctp", ICMP: "icmp", ICMPV6: "icmpv6"}

ADDRESS_BITS: dict[int, int] = {4: 32, 6: 128}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _check_range(name: str, value: int, hi: int) -> None:
    # bool is an int subclass; a True port is always a caller bug
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not 0 <= value <= hi:
        raise ValueError(f"{name}={value} out of range 0..{hi}")


@dataclass(frozen=True, slots=True, order=True)
class Packet:
    """One packet header: family, addresses, protocol, ports, ICMP type/code.

    Addresses are integers within the family (``0..2**32-1`` for IPv4,
    ``0..2**128-1`` for IPv6). Field values are range-checked on construction, but
    non-canonical combinations (e.g. an ICMP packet with a port) are allowed so that
    callers can ask whether such a packet is in a set (it never is); see
    :meth:`is_canonical`.

    Ordering is the dataclass field order (family, src, dst, proto, sport, dport, ...).
    """

    family: int
    src: int
    dst: int
    proto: int
    sport: int = 0
    dport: int = 0
    icmp_type: int = 0
    icmp_code: int = 0

    def __post_init__(self) -> None:
        if self.family not in ADDRESS_BITS:
            raise ValueError(f"family must be 4 or 6, got {self.family!r}")
        amax = (1 << ADDRESS_BITS[self.family]) - 1
        _check_range("src", self.src, amax)
        _check_range("dst", self.dst, amax)
        _check_range("proto", self.proto, 255)
        _check_range("sport", self.sport, 65535)
        _check_range("dport", self.dport, 65535)
        _check_range("icmp_type", self.icmp_type, 255)
        _check_range("icmp_code", self.icmp_code, 255)

    @classmethod
    def of(
        cls,
        src: str | IPAddress,
        dst: str | IPAddress,
        proto: int,
        dport: int = 0,
        sport: int = 0,
        icmp_type: int = 0,
        icmp_code: int = 0,
    ) -> Packet:
        """Build a packet from address strings/objects; the family is inferred.

        Raises ``ValueError`` when the two addresses are of different families.
        """
        s = ipaddress.ip_address(src)
        d = ipaddress.ip_address(dst)
        if s.version != d.version:
            raise ValueError(f"address families differ: {s} vs {d}")
        return cls(s.version, int(s), int(d), proto, sport, dport, icmp_type, icmp_code)

    @property
    def src_ip(self) -> IPAddress:
        """Source address as an :mod:`ipaddress` object."""
        return _addr(self.family, self.src)

    @property
    def dst_ip(self) -> IPAddress:
        """Destination address as an :mod:`ipaddress` object."""
        return _addr(self.family, self.dst)

    def is_canonical(self) -> bool:
        """True iff this packet belongs to the packet-set universe (see module doc)."""
        if self.proto not in PORT_PROTOCOLS and (self.sport or self.dport):
            return False
        if self.proto not in ICMP_PROTOCOLS and (self.icmp_type or self.icmp_code):
            return False
        return True

    def __str__(self) -> str:
        name = PROTOCOL_NAMES.get(self.proto, f"proto {self.proto}")
        s, d = self.src_ip, self.dst_ip
        if self.proto in PORT_PROTOCOLS:
            # bracket IPv6 so the port separator stays unambiguous
            fs = f"[{s}]:{self.sport}" if self.family == 6 else f"{s}:{self.sport}"
            fd = f"[{d}]:{self.dport}" if self.family == 6 else f"{d}:{self.dport}"
            return f"{name} {fs} -> {fd}"
        text = f"{name} {s} -> {d}"
        if self.proto in ICMP_PROTOCOLS:
            text += f" type {self.icmp_type} code {self.icmp_code}"
        elif self.sport or self.dport or self.icmp_type or self.icmp_code:
            # non-canonical leftovers are shown rather than silently hidden
            text += f" sport {self.sport} dport {self.dport} type {self.icmp_type} code {self.icmp_code}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict with addresses as strings."""
        return {
            "family": self.family,
            "src": str(self.src_ip),
            "dst": str(self.dst_ip),
            "proto": self.proto,
            "sport": self.sport,
            "dport": self.dport,
            "icmp_type": self.icmp_type,
            "icmp_code": self.icmp_code,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Packet:
        """Inverse of :meth:`to_dict`; addresses may be strings or integers."""
        family = int(data["family"])

        def addr(v: Any) -> int:
            if isinstance(v, int):
                return v
            a = ipaddress.ip_address(v)
            if a.version != family:
                raise ValueError(f"address {a} is not IPv{family}")
            return int(a)

        return cls(
            family,
            addr(data["src"]),
            addr(data["dst"]),
            int(data["proto"]),
            int(data.get("sport", 0)),
            int(data.get("dport", 0)),
            int(data.get("icmp_type", 0)),
            int(data.get("icmp_code", 0)),
        )


def _addr(family: int, value: int) -> IPAddress:
    return ipaddress.IPv4Address(value) if family == 4 else ipaddress.IPv6Address(value)
