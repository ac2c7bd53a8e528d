"""The zone × zone matrix for the HTML report and the zone graph: one cell per ordered zone pair,
with the flows that decide it.

The cells are the same :class:`~zonepolicy.report.views.Cell` values ``zonepolicy show matrix``
prints, computed faster: ``views.cell`` splits each cell's packet set into boxes, which at province
scale costs seconds. Here the verdict law is used to skip pairs that can hold nothing, and a cell's
services are first guessed from the services of the allow flows that reach the pair and then
*checked* exactly (the allowed packets of the pair must equal the pair's packets of those services);
only a cell whose guess fails falls back to ``views.cell``. So every cell equals what ``views.cell``
says — tests compare both on the examples and on random policies.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..diagnostics import Span
from ..model.policy import Endpoint, Flow, Policy
from ..model.values import ICMP_PROTOCOLS, PORT_PROTOCOLS, Action, PortRange, ServiceTerm, format_service_term
from ..semantics.meaning import Meaning
from ..semantics.packetset import PacketSet
from .views import Cell, cell as exact_cell

NOTHING = Cell((), False, False)
# views._box_terms lists at most nine consecutive protocol numbers or ICMP types per run; a guess with a
# longer run would print more than show matrix does, so it is left to views.cell.
_RUN_LIMIT = 9


@dataclass(frozen=True, slots=True)
class FlowRef:
    """A flow as a cell shows it: what it says and where it is written."""

    id: str
    action: str
    text: str
    span: Span | None
    effective: bool  # an allow flow some of whose packets of this pair are allowed; a deny flow that denies some


@dataclass(frozen=True, slots=True)
class PairCell:
    src: str
    dst: str
    cell: Cell
    flows: tuple[FlowRef, ...]
    stance: str | None  # "intrazone" / "default" when unmatched packets of the pair are allowed by the stance

    @property
    def allowed(self) -> bool:
        return bool(self.cell.services) or self.cell.everything


def flow_text(f: Flow) -> str:
    services = ", ".join(f.service_names) or "any"
    return (f"{f.action.value} {', '.join(e.text for e in f.sources)} -> "
            f"{', '.join(e.text for e in f.destinations)} : {services}")


def _endpoint_zones(policy: Policy, ep: Endpoint, memo: dict[int, list[str]]) -> list[str]:
    """Zones that may hold addresses of ``ep``: a superset (a prefix overlap test, cheap), which
    :func:`_reach` narrows exactly with packet sets."""
    if ep.is_zone:
        return list(ep.zones)
    found = memo.get(id(ep.networks))
    if found is None:
        found = memo[id(ep.networks)] = [
            z.name for z in policy.zones
            if z.is_any or any(n.version == m.version and n.overlaps(m) for n in ep.networks for m in z.networks)]
    return found


def _reach(meaning: Meaning, policy: Policy) -> dict[tuple[str, str], list[Flow]]:
    """For every pair, the flows (in policy order) that match some of its packets."""
    reach: dict[tuple[str, str], list[Flow]] = {}
    memo: dict[int, list[str]] = {}  # keyed by the identity of a networks tuple, which the policy keeps alive
    for f in policy.flows:
        srcs = dict.fromkeys(z for e in f.sources for z in _endpoint_zones(policy, e, memo))
        dsts = dict.fromkeys(z for e in f.destinations for z in _endpoint_zones(policy, e, memo))
        fs = meaning.flow_set(f)
        if not fs:
            continue
        for a in srcs:
            part = fs & meaning.own_addresses(a, "src")
            if not part:
                continue
            for b in dsts:
                if part & meaning.own_addresses(b, "dst"):
                    reach.setdefault((a, b), []).append(f)
    return reach


def _runs_ok(values: list[int]) -> bool:
    run = 1
    for x, y in zip(values, values[1:]):
        run = run + 1 if y == x + 1 else 1
        if run > _RUN_LIMIT:
            return False
    return True


def _guess(flows: list[Flow]) -> tuple[ServiceTerm, ...] | None:
    """The services of ``flows`` merged the way a box decomposition shows them, or None when unsure."""
    ports: dict[int, list[tuple[int, int]]] = {}
    whole: set[int] = set()
    icmp_types: dict[int, set[int]] = {}
    for f in flows:
        if not f.services:
            return None
        for t in f.services:
            p = t.protocol
            if p is None or t.icmp_code is not None:
                return None
            if p in PORT_PROTOCOLS:
                if t.ports:
                    ports.setdefault(p, []).extend((r.lo, r.hi) for r in t.ports)
                else:
                    whole.add(p)
            elif p in ICMP_PROTOCOLS and t.icmp_type is not None:
                icmp_types.setdefault(p, set()).add(t.icmp_type)
            else:
                whole.add(p)
    terms: list[ServiceTerm] = []
    plain = sorted(p for p in whole if p not in PORT_PROTOCOLS)
    if not _runs_ok(plain):
        return None
    for p in sorted(whole):
        terms.append(ServiceTerm(p))
    for p, ivs in ports.items():
        if p in whole:
            continue
        for lo, hi in _merge(ivs):
            terms.append(ServiceTerm(p, (PortRange(lo, hi),) if (lo, hi) != (0, 65535) else ()))
    for p, types in icmp_types.items():
        if p in whole:
            continue
        ordered = sorted(types)
        if not _runs_ok(ordered):
            return None
        terms.extend(ServiceTerm(p, (), t) for t in ordered)
    return tuple(sorted(terms, key=lambda t: (t.protocol or 0, t.ports, t.icmp_type or 0)))


def _merge(ivs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ivs):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _fast_cell(meaning: Meaning, got: PacketSet, between: PacketSet, allows: list[Flow]) -> Cell:
    if not got:
        return NOTHING
    if got == between:
        return Cell((), True, False)
    terms = _guess(allows) if allows else None
    if terms is not None and got == between & meaning.services_set(terms):
        # A box decomposition shows only what is there: ICMPv6 between IPv4-only zones is not. Other
        # protocols exist in both families, so a term of theirs is there whenever the pair has packets.
        shown = [t for t in terms if t.protocol not in ICMP_PROTOCOLS or got & meaning.services_set((t,))]
        return Cell(tuple(dict.fromkeys(format_service_term(t) for t in shown)), False, False)
    return exact_cell(meaning, meaning.allowed(), between)


def pair_cells(policy: Policy, meaning: Meaning | None = None) -> tuple[list[str], dict[tuple[str, str], PairCell]]:
    """Every ordered zone pair that something reaches or allows, as a :class:`PairCell` (pairs not
    in the dict allow nothing and no flow reaches them)."""
    meaning = meaning or Meaning(policy)
    allowed = meaning.allowed()
    names = [z.name for z in policy.zones]
    reach = _reach(meaning, policy)
    intrazone = policy.intrazone is Action.ALLOW
    default = policy.default is Action.ALLOW
    out: dict[tuple[str, str], PairCell] = {}
    for a in names:
        src = allowed & meaning.own_addresses(a, "src")
        for b in names:
            flows = reach.get((a, b), [])
            # The law allows an unmatched packet only by a stance: intrazone within one zone, default
            # between two. A pair no flow reaches and no stance opens therefore holds nothing.
            stance = ("intrazone" if intrazone else None) if a == b else ("default" if default else None)
            if not flows and stance is None:
                continue
            between = meaning.between(a, b)
            got = src & meaning.own_addresses(b, "dst")
            allows = [f for f in flows if f.action is Action.ALLOW and meaning.flow_set(f) & got]
            # Under a stance, unmatched packets count too: no guess from the flows, views.cell decides.
            cell = _fast_cell(meaning, got, between, allows if stance is None else [])
            refs = tuple(FlowRef(f.id, f.action.value, flow_text(f), f.span,
                                 f in allows if f.action is Action.ALLOW
                                 else bool(meaning.flow_set(f) & between))
                         for f in flows)
            if stance is not None and not (between - meaning.matched(Action.ALLOW) - meaning.matched(Action.DENY)):
                stance = None
            out[(a, b)] = PairCell(a, b, cell, refs, stance)
    return names, out
