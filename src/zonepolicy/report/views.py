"""Views of a policy for people: zone list, flow list and the zone × zone matrix of allowed services."""

from __future__ import annotations

from dataclasses import dataclass

from ..model.policy import Policy
from ..model.values import Action, PortRange, ServiceTerm, format_service_term, split_ports
from ..semantics.meaning import Meaning
from ..semantics.packetset import Box, PacketSet

FULL8 = ((0, 255),)
FULL16 = ((0, 65535),)


def zone_rows(policy: Policy) -> tuple[list[str], list[list[str]]]:
    header = ["zone", "description", "kind", "level", "networks", "attributes"]
    rows = []
    for z in policy.zones:
        attrs = []
        if z.important:
            attrs.append("important")
        if z.classified:
            attrs.append("classified")
        if z.vpn:
            attrs.append(f"vpn {z.vpn}")
        if z.grading:
            attrs.append(z.grading.label)
        if z.owner:
            attrs.append(f"owner {z.owner}")
        nets = "any" if z.is_any else "\n".join(str(n) for n in z.networks) or "-"
        level = "-" if z.level is None else str(z.level)
        rows.append([z.name, z.description, z.kind.value, level, nets, ", ".join(attrs)])
    return header, rows


def flow_rows(policy: Policy) -> tuple[list[str], list[list[str]]]:
    header = ["id", "action", "from", "to", "services", "options", "at"]
    rows = []
    for f in policy.flows:
        o = f.options
        opts = [x for x in (
            "log" if o.log else "", "stateless" if not o.stateful else "",
            f"inspect {o.inspect}" if o.inspect else "", f"via {o.via}" if o.via else "",
            f"ticket {o.ticket}" if o.ticket else "", f"expires {o.expires}" if o.expires else "",
        ) if x]
        where = f"{f.span.file}:{f.span.line}" if f.span else ""
        rows.append([f.id, f.action.value, ", ".join(e.text for e in f.sources),
                     ", ".join(e.text for e in f.destinations), ", ".join(f.service_names) or "any",
                     ", ".join(opts), where])
    return header, rows


def _box_terms(box: Box) -> list[ServiceTerm]:
    """The service terms a box covers, for display (protocol ranges listed one by one when short)."""
    terms: list[ServiceTerm] = []
    if box.proto == FULL8:
        return [ServiceTerm(None)]
    for lo, hi in box.proto:
        for p in range(lo, min(hi, lo + 8) + 1):
            if p in (6, 17, 132):
                ports = () if box.dport == FULL16 else tuple(PortRange(a, b) for a, b in box.dport)
                terms.append(ServiceTerm(p, ports))
            elif p in (1, 58):
                if box.icmp_type == FULL8:
                    terms.append(ServiceTerm(p))
                else:
                    for a, b in box.icmp_type:
                        for t in range(a, min(b, a + 8) + 1):
                            terms.append(ServiceTerm(p, (), t))
            else:
                terms.append(ServiceTerm(p))
    return terms


@dataclass(frozen=True, slots=True)
class Cell:
    services: tuple[str, ...]  # empty: nothing allowed
    everything: bool  # every packet between the two zones is allowed
    partial: bool  # the listed services are allowed only for some addresses

    def text(self) -> str:
        if self.everything:
            return "all"
        if not self.services:
            return "-"
        return ", ".join(self.services) + (" *" if self.partial else "")


def matrix(policy: Policy, meaning: Meaning | None = None) -> tuple[list[str], dict[tuple[str, str], Cell]]:
    """For every ordered pair of zones, what the policy allows from the first to the second."""
    meaning = meaning or Meaning(policy)
    allowed = meaning.allowed()
    names = [z.name for z in policy.zones]
    cells: dict[tuple[str, str], Cell] = {}
    for a in names:
        for b in names:
            cells[(a, b)] = cell(meaning, allowed, meaning.between(a, b))
    return names, cells


def cell(meaning: Meaning, allowed: PacketSet, between: PacketSet) -> Cell:
    """What ``allowed`` holds of ``between`` (the packets of one zone pair, perhaps narrowed to some
    services), as a matrix cell. Exposed so that one row or column (``zonepolicy query``) costs one
    row or column, not the whole matrix."""
    got = allowed & between
    if not got:
        return Cell((), False, False)
    if got == between:
        return Cell((), True, False)
    terms = sorted({t for box in got.boxes() for term in _box_terms(box) for t in split_ports(term)},
                   key=lambda t: (t.protocol or 0, t.ports, t.icmp_type or 0))
    covered = between & meaning.services_set(tuple(terms))
    return Cell(tuple(dict.fromkeys(format_service_term(t) for t in terms)), False, got != covered)


def matrix_rows(policy: Policy, meaning: Meaning | None = None) -> tuple[list[str], list[list[str]]]:
    names, cells = matrix(policy, meaning)
    header = ["from \\ to"] + names
    rows = [[a] + [cells[(a, b)].text() for b in names] for a in names]
    return header, rows


def matrix_pairs(policy: Policy, meaning: Meaning | None = None) -> tuple[list[str], list[list[str]]]:
    """The matrix as one row per zone pair with something allowed (readable for many zones)."""
    names, cells = matrix(policy, meaning)
    header = ["from", "to", "allowed"]
    rows = [[a, b, cells[(a, b)].text()] for a in names for b in names if cells[(a, b)].text() != "-"]
    return header, rows
