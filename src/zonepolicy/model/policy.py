"""The resolved, immutable policy: what every later stage (verifier, compilers, probes, reports) reads.

Everything here is a frozen value: names are resolved, wildcards expanded, objects flattened into
networks and service terms, grading inputs turned into levels. Source spans stay attached so any
finding can point back at the line that caused it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from ..diagnostics import Span
from .values import Action, Network, ServiceTerm, ZoneKind


@dataclass(frozen=True, slots=True, kw_only=True)
class Grading:
    """GB/T 22240 grading inputs: harmed object and degree, for business information and system service."""

    business_info: tuple[str, str]
    system_service: tuple[str, str]
    business_level: int
    service_level: int

    @property
    def level(self) -> int:
        return max(self.business_level, self.service_level)

    @property
    def label(self) -> str:
        """The S?A? notation of GB/T 22239 Annex A, e.g. ``S3A2``."""
        return f"S{self.business_level}A{self.service_level}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Zone:
    name: str
    description: str = ""
    kind: ZoneKind = ZoneKind.GENERIC
    level: int | None = None
    grading: Grading | None = None
    networks: tuple[Network, ...] = ()
    is_any: bool = False  # ``networks any``: every address no other zone claims
    important: bool = False
    classified: bool = False
    vpn: str | None = None
    owner: str | None = None
    hosted_on: str | None = None
    parent: str | None = None  # nearest declared ancestor by dotted name
    span: Span | None = field(default=None, compare=False)

    @property
    def depth(self) -> int:
        return self.name.count(".")


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """A resolved flow endpoint: either a set of zones or a set of addresses (never both).

    ``text`` is the endpoint as written (``dedicated.*``, ``ca-server``), kept for display.
    """

    text: str
    zones: tuple[str, ...] = ()
    networks: tuple[Network, ...] = ()
    is_zone: bool = True
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowOptions:
    log: bool = False
    stateful: bool = True
    inspect: str | None = None
    via: str | None = None
    ticket: str | None = None
    comment: str | None = None
    expires: dt.date | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Flow:
    id: str
    action: Action
    sources: tuple[Endpoint, ...]
    destinations: tuple[Endpoint, ...]
    services: tuple[ServiceTerm, ...]  # empty: every packet (no service given)
    service_names: tuple[str, ...] = ()  # as written, for display
    options: FlowOptions = FlowOptions()
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Interface:
    name: str
    zones: tuple[str, ...]  # zones bound to this interface (wildcards expanded)
    written: tuple[str, ...] = ()  # as written
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Firewall:
    name: str
    description: str = ""
    target: str
    interfaces: tuple[Interface, ...]
    span: Span | None = field(default=None, compare=False)

    def zones(self) -> tuple[str, ...]:
        return tuple(sorted({z for i in self.interfaces for z in i.zones}))


@dataclass(frozen=True, slots=True, kw_only=True)
class Waiver:
    rule: str
    sources: tuple[Endpoint, ...] | None = None
    destinations: tuple[Endpoint, ...] | None = None
    services: tuple[ServiceTerm, ...] = ()
    reason: str = ""
    owner: str = ""
    expires: dt.date | None = None
    ticket: str | None = None
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class AddressObject:
    name: str
    description: str = ""
    networks: tuple[Network, ...]
    members: tuple[str, ...] = ()  # as written (literals and names), for export/display
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceObject:
    name: str
    description: str = ""
    terms: tuple[ServiceTerm, ...]
    members: tuple[str, ...] = ()
    builtin: bool = False
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """A whole resolved policy. Collections are tuples sorted by name (flows keep source order)."""

    name: str
    description: str = ""
    standard: str | None = None
    model: str | None = None
    default: Action = Action.DENY
    intrazone: Action = Action.ALLOW
    zones: tuple[Zone, ...] = ()
    addresses: tuple[AddressObject, ...] = ()
    services: tuple[ServiceObject, ...] = ()
    flows: tuple[Flow, ...] = ()
    firewalls: tuple[Firewall, ...] = ()
    waivers: tuple[Waiver, ...] = ()
    files: tuple[str, ...] = ()
    span: Span | None = field(default=None, compare=False)

    def zone(self, name: str) -> Zone:
        for z in self.zones:
            if z.name == name:
                return z
        raise KeyError(name)

    def firewall(self, name: str) -> Firewall:
        for f in self.firewalls:
            if f.name == name:
                return f
        raise KeyError(name)

    def flow(self, flow_id: str) -> Flow:
        for f in self.flows:
            if f.id == flow_id:
                return f
        raise KeyError(flow_id)

    def children(self, name: str) -> tuple[Zone, ...]:
        return tuple(z for z in self.zones if z.parent == name)
