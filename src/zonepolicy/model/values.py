"""Value types of the model: actions, zone kinds, networks, port ranges, protocols, service terms.

Parsing of literal text into values lives here too (``parse_network``, ``parse_service_literal``)
because the JSON/YAML loader needs exactly the same rules as the DSL; errors are ``ValueError``
with a message and an optional hint that the caller turns into a diagnostic.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

ANY_V4 = ipaddress.IPv4Network("0.0.0.0/0")
ANY_V6 = ipaddress.IPv6Network("::/0")

TCP, UDP, SCTP, ICMP, ICMPV6 = 6, 17, 132, 1, 58
PORT_PROTOCOLS = frozenset({TCP, UDP, SCTP})
ICMP_PROTOCOLS = frozenset({ICMP, ICMPV6})


class Action(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"


class ZoneKind(enum.Enum):
    """What part of the extranet a zone is (the zone model's vocabulary)."""

    GENERIC = "generic"
    BACKBONE = "backbone"
    NATIONAL = "national"
    PUBLIC = "public"
    DEDICATED = "dedicated"
    INTERNET_ACCESS = "internet-access"
    EXTERNAL = "external"
    MANAGEMENT = "management"
    CLOUD = "cloud"
    DISASTER_RECOVERY = "disaster-recovery"
    CITY = "city"
    CLASSIFIED = "classified"
    INTERCONNECT = "interconnect"
    PRIVATE = "private"
    REMOTE_ACCESS = "remote-access"


class ValueProblem(ValueError):
    """A literal that cannot be a value; ``hint`` says what would be."""

    def __init__(self, message: str, hint: str | None = None, code: str = "ZP206") -> None:
        super().__init__(message)
        self.hint = hint
        self.code = code


# The everyday form, dotted decimal without leading zeros and an optional /0–/32: read here in a
# few steps, then built from numbers (three times faster than from text); anything else, and any
# value out of range or with host bits set, goes to ipaddress's own reading of the text.
_PLAIN_V4 = re.compile(r"(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})"
                       r"(?:/(0|[1-9][0-9]?))?")


def parse_network(text: str) -> Network:
    """An IPv4/IPv6 prefix or host address; host bits set is an error whose hint gives the right prefix."""
    m = _PLAIN_V4.fullmatch(text)
    if m is not None:
        a, b, c, d, length = m.groups()
        a, b, c, d = int(a), int(b), int(c), int(d)
        bits = 32 if length is None else int(length)
        if a < 256 and b < 256 and c < 256 and d < 256 and bits <= 32:
            address = (a << 24) | (b << 16) | (c << 8) | d
            if not address & ((1 << (32 - bits)) - 1):
                return ipaddress.IPv4Network((address, bits))
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as err:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueProblem(f"'{text}' is not an IPv4 or IPv6 address or prefix ({err})",
                               "write e.g. 10.1.0.0/16, 10.1.2.3 or 2001:db8::/48") from None
        raise ValueProblem(f"host bits set in '{text}'", f"did you mean {loose}?", code="ZP205") from None


@dataclass(frozen=True, slots=True, order=True)
class PortRange:
    lo: int
    hi: int

    def __post_init__(self) -> None:
        if not 0 <= self.lo <= self.hi <= 65535:
            raise ValueProblem(f"bad port range {self.lo}-{self.hi}", "ports are 0–65535, low end first",
                               code="ZP207")

    def __str__(self) -> str:
        return str(self.lo) if self.lo == self.hi else f"{self.lo}-{self.hi}"


@dataclass(frozen=True, slots=True, order=True)
class ServiceTerm:
    """One protocol with its destination ports or ICMP type/code.

    ``protocol`` None means every IP protocol. ``ports`` empty means every port. ``icmp_type`` /
    ``icmp_code`` None mean every type / code.
    """

    protocol: int | None
    ports: tuple[PortRange, ...] = ()
    icmp_type: int | None = None
    icmp_code: int | None = None

    def __str__(self) -> str:
        return format_service_term(self)


ICMP_TYPES = {
    "echo-reply": 0, "destination-unreachable": 3, "source-quench": 4, "redirect": 5, "echo-request": 8,
    "router-advertisement": 9, "router-solicitation": 10, "time-exceeded": 11, "parameter-problem": 12,
    "timestamp-request": 13, "timestamp-reply": 14,
}
ICMPV6_TYPES = {
    "destination-unreachable": 1, "packet-too-big": 2, "time-exceeded": 3, "parameter-problem": 4,
    "echo-request": 128, "echo-reply": 129, "router-solicitation": 133, "router-advertisement": 134,
    "neighbor-solicitation": 135, "neighbor-advertisement": 136,
}
PROTOCOL_NAMES = {
    "icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "gre": 47, "esp": 50, "ah": 51, "icmpv6": 58, "ospf": 89,
    "pim": 103, "vrrp": 112, "sctp": 132,
}
_NAME_OF_PROTOCOL = {v: k for k, v in PROTOCOL_NAMES.items()}


def protocol_name(number: int | None) -> str:
    if number is None:
        return "ip"
    return _NAME_OF_PROTOCOL.get(number, str(number))


def _int(text: str, what: str, hi: int, code: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise ValueProblem(f"'{text}' is not a {what}", None, code)
    digits = text.lstrip("0") or "0"  # int() refuses over 4300 digits: never convert a huge one
    if len(digits) > len(str(hi)) or int(digits) > hi:
        raise ValueProblem(f"{what} {digits} is out of range 0–{hi}", None, code)
    return int(digits)


def _ports(spec: str) -> tuple[PortRange, ...]:
    if spec == "any":
        return ()
    lo, sep, hi = spec.partition("-")
    a = _int(lo, "port", 65535, "ZP207")
    b = _int(hi, "port", 65535, "ZP207") if sep else a
    if a > b:
        raise ValueProblem(f"port range {spec} runs backwards", f"write {b}-{a}", "ZP207")
    return (PortRange(a, b),)


def parse_service_literal(text: str) -> ServiceTerm:
    """``tcp/443``, ``udp/10000-10010``, ``tcp/any``, ``icmp/echo-request``, ``icmp/3:4``, ``ip/47``, ``ip/gre``."""
    proto, _, rest = text.partition("/")
    if proto in ("tcp", "udp", "sctp"):
        if ":" in rest:
            raise ValueProblem(f"'{text}': only ICMP takes a code", f"write {proto}/{rest.split(':')[0]}",
                               "ZP207")
        return ServiceTerm(PROTOCOL_NAMES[proto], _ports(rest))
    if proto in ("icmp", "icmpv6"):
        names = ICMP_TYPES if proto == "icmp" else ICMPV6_TYPES
        number = PROTOCOL_NAMES[proto]
        if rest == "any":
            return ServiceTerm(number)
        kind, _, code = rest.partition(":")
        if kind in names:
            icmp_type = names[kind]
        elif kind.isdigit():
            icmp_type = _int(kind, "ICMP type", 255, "ZP208")
        else:
            raise ValueProblem(f"unknown {proto} type '{kind}'",
                               "known types: " + ", ".join(sorted(names)) + ", or a number 0–255", "ZP208")
        icmp_code = _int(code, "ICMP code", 255, "ZP208") if code else None
        return ServiceTerm(number, (), icmp_type, icmp_code)
    if proto == "ip":
        if rest == "any":
            return ServiceTerm(None)
        if rest in PROTOCOL_NAMES:
            number = PROTOCOL_NAMES[rest]
        elif rest.isdigit():
            number = _int(rest, "protocol number", 255, "ZP208")
        else:
            raise ValueProblem(f"unknown protocol '{rest}'",
                               "write a number 0–255 or one of: " + ", ".join(sorted(PROTOCOL_NAMES)), "ZP208")
        return ServiceTerm(number)
    raise ValueProblem(f"unknown protocol '{proto}'", "write tcp/, udp/, sctp/, icmp/, icmpv6/ or ip/", "ZP208")


def format_service_term(term: ServiceTerm) -> str:
    """The literal that :func:`parse_service_literal` reads back as ``term`` (one literal per port range)."""
    p = term.protocol
    if p in PORT_PROTOCOLS:
        ports = ",".join(f"{protocol_name(p)}/{r}" for r in term.ports) if term.ports else f"{protocol_name(p)}/any"
        return ports
    if p in ICMP_PROTOCOLS:
        name = protocol_name(p)
        if term.icmp_type is None:
            return f"{name}/any"
        names = {v: k for k, v in (ICMP_TYPES if p == ICMP else ICMPV6_TYPES).items()}
        kind = names.get(term.icmp_type, str(term.icmp_type))
        code = f":{term.icmp_code}" if term.icmp_code is not None else ""
        return f"{name}/{kind}{code}"
    if p is None:
        return "ip/any"
    return f"ip/{protocol_name(p)}"


def split_ports(term: ServiceTerm) -> tuple[ServiceTerm, ...]:
    """One term per port range, so every term prints as one literal."""
    if len(term.ports) <= 1:
        return (term,)
    return tuple(ServiceTerm(term.protocol, (r,), term.icmp_type, term.icmp_code) for r in term.ports)
