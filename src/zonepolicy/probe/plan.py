"""The probe planner: a suite of packets, with the verdicts the policy gives them.

Packets are *found* in the exact packet sets of :class:`~zonepolicy.semantics.meaning.Meaning`
(``flow_set``, ``allowed``, ``own_addresses``, ``firewall_scope``) and *judged* by
:meth:`Meaning.decide` on the final packet; the planner never decides a packet itself.

What it plans, in three tiers (the budget takes whole tiers first, round-robin within a tier):

0. coverage — one packet for every allowed flow that has an allowed packet in scope, and one for
   every ordered pair of distinct zones in scope (a denied packet when the pair has one, else an
   allowed one), and one for every zone whose inside traffic the policy decides (``intrazone deny``,
   or flows that match packets within the zone): a packet no flow matches, judged by the stance;
1. boundaries — per allowed flow: the first and last port of each port range, each protocol of its
   services (ICMP with its type and code), each address family, the first and last usable host of
   every source and destination prefix; per deny flow one packet it denies; per zone pair a denied
   packet of the other family; per such zone a packet within it denied and one allowed by flows;
2. near misses — port-1 and port+1 just outside a range, the other of TCP/UDP on the same port, a
   sibling zone (or another zone on the same firewall) as the destination or source.

Choosing among the packets of a set, the planner prefers, in this order: usable hosts (not the
network or broadcast address of an IPv4 prefix up to /30, nor 0/8, loopback, multicast or
link-local — the lab puts zone prefixes on real interfaces, where those addresses are taken or
meaningless); for the ``networks any`` zone an address in 198.51.100.0/24, 203.0.113.0/24 or
2001:db8::/32 when no other zone claims it; ICMP echo requests; a destination port other than 0;
TCP. Each preference is dropped when the set has no packet that meets it, so a probe is found
whenever the set is not empty. ``pick`` is deterministic, so the same policy gives the same suite.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
from dataclasses import dataclass, field
from typing import Iterable

from ..errors import UsageError
from ..model.policy import Endpoint, Firewall, Flow, Policy
from ..model.values import Action, Network
from ..semantics.meaning import Meaning
from ..semantics.packet import ICMP, ICMPV6, PORT_PROTOCOLS, PROTOCOL_NAMES, SCTP, TCP, UDP, Packet
from ..semantics.packetset import PacketSet
from .suite import Coverage, Probe, Suite, policy_hash

#: Source ports are the planner's suggestion only (runners choose fresh ones): one per probe from here.
SPORT_BASE = 40000
SPORT_SPAN = 20000

DOCUMENTATION = ("198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
UNUSABLE = ("0.0.0.0/8", "127.0.0.0/8", "224.0.0.0/3", "::/8", "fe80::/10", "ff00::/8")
NO_ZONE = "(no zone)"


@dataclass(frozen=True, slots=True)
class _Want:
    """A packet the planner would like to probe: where to look, and what to tell a human."""

    packets: PacketSet
    kind: str
    note: str


@dataclass
class _Group:
    """The wanted packets for one flow or one zone pair, per tier."""

    key: str
    pair: tuple[str, str] | None = None
    tiers: list[list[_Want]] = field(default_factory=lambda: [[], [], []])


def find_firewall(policy: Policy, name: str) -> Firewall:
    for fw in policy.firewalls:
        if fw.name == name:
            return fw
    names = [f.name for f in policy.firewalls]
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    known = ", ".join(names) if names else "none"
    raise UsageError(f"policy {policy.name} has no firewall '{name}'{hint} (firewalls: {known})")


class Planner:
    """Plans one suite; build one per (policy, firewall)."""

    def __init__(self, policy: Policy, firewall: Firewall | None = None, meaning: Meaning | None = None) -> None:
        self.policy = policy
        self.fw = firewall
        self.m = meaning or Meaning(policy)
        self.scope = self.m.firewall_scope(firewall) if firewall else PacketSet.universe()
        self.allowed = self.m.allowed()
        self.denied_by_flows = self.m.matched(Action.DENY)
        self._prefs = self._preferences()
        self._all_prefs = PacketSet.universe()
        for pref in self._prefs:
            self._all_prefs = self._all_prefs & pref
        self._zones = {z.name: z for z in policy.zones}
        self._picked: dict[PacketSet, Packet | None] = {}
        self._family: dict[str | None, list[str]] | None = None  # zone names by parent (see _neighbours)
        self._fw_zones: list[tuple[Firewall, frozenset[str]]] = []

    # ------------------------------------------------------------ choosing a packet
    def _preferences(self) -> list[PacketSet]:
        claimed = [n for z in self.policy.zones if not z.is_any for n in z.networks]
        edges: list[tuple[int, int]] = []
        docs = [ipaddress.ip_network(n) for n in DOCUMENTATION]
        for net in claimed + docs + [n for f in self.policy.flows for e in f.sources + f.destinations for n in e.networks]:
            if net.version == 4 and net.prefixlen <= 30:
                edges += [(int(net.network_address),) * 2, (int(net.broadcast_address),) * 2]
        bad4 = PacketSet.build(family=4, src=sorted(set(edges))) | PacketSet.build(family=4, dst=sorted(set(edges))) \
            if edges else PacketSet.empty()
        unusable = [ipaddress.ip_network(n) for n in UNUSABLE]
        bad = bad4 | PacketSet.build(src=unusable) | PacketSet.build(dst=unusable)
        usable = PacketSet.universe() - bad
        ok_addr = claimed + docs
        documented = PacketSet.build(src=ok_addr) & PacketSet.build(dst=ok_addr)
        non_icmp = PacketSet.build(proto=[(0, ICMP - 1), (ICMP + 1, ICMPV6 - 1), (ICMPV6 + 1, 255)])
        echo = non_icmp | PacketSet.build(family=4, proto=[(ICMP, ICMP)], icmp_type=[(8, 8)], icmp_code=[(0, 0)]) \
            | PacketSet.build(family=6, proto=[(ICMPV6, ICMPV6)], icmp_type=[(128, 128)], icmp_code=[(0, 0)])
        ports = [(p, p) for p in sorted(PORT_PROTOCOLS)]
        port_not_zero = PacketSet.universe() - PacketSet.build(proto=ports, dport=[(0, 0)])
        tcp = PacketSet.build(proto=[(TCP, TCP)])
        return [usable, documented, echo, port_not_zero, tcp]

    def pick(self, s: PacketSet) -> Packet | None:
        """The packet of ``s`` the probe should be: see the module docstring for the preferences."""
        # The same set is often asked twice (a pair's first denied packet decides its other-family
        # want, then is realised): sets are hashed by their BDD node, so remember the answer.
        if s in self._picked:
            return self._picked[s]
        found = self._picked[s] = self._pick(s)
        return found

    def _pick(self, s: PacketSet) -> Packet | None:
        if s.is_empty():
            return None
        everything = s & self._all_prefs  # usually not empty: then it is what the greedy loop reaches
        if not everything.is_empty():
            return everything.pick()
        for pref in self._prefs:
            narrowed = s & pref
            if not narrowed.is_empty():
                s = narrowed
        return s.pick()

    # ------------------------------------------------------------ sets
    def _side(self, endpoints: tuple[Endpoint, ...], side: str) -> PacketSet:
        out = PacketSet.empty()
        for e in endpoints:
            out = out | self.m.endpoint_set(e, side)
        return out

    def _addresses_of(self, flow: Flow) -> PacketSet:
        """The flow's address part (any service), within scope."""
        return self._side(flow.sources, "src") & self._side(flow.destinations, "dst") & self.scope

    def _prefixes(self, endpoints: tuple[Endpoint, ...]) -> list[Network]:
        nets: list[Network] = []
        for e in endpoints:
            if e.is_zone:
                for z in e.zones:
                    if not self._zones[z].is_any:  # its "prefix" is everything: no boundary to probe
                        nets.extend(self._zones[z].networks)
            else:
                nets.extend(e.networks)
        return sorted(set(nets), key=lambda n: (n.version, int(n.network_address), n.prefixlen))

    # ------------------------------------------------------------ what to probe
    def _flow_group(self, flow: Flow, target: PacketSet) -> _Group:
        g = _Group(f"flow {flow.id}")
        g.tiers[0].append(_Want(target, "boundary", f"allowed by {flow.id}"))
        b, near = g.tiers[1], g.tiers[2]
        for fam in (4, 6):
            part = target & PacketSet.build(family=fam)
            if not part.is_empty() and not (target - part).is_empty():
                b.append(_Want(part, "boundary", f"IPv{fam} of {flow.id}"))
        for term in flow.services:
            protos = [term.protocol] if term.protocol is not None else [TCP, UDP, ICMP, ICMPV6]
            for proto in protos:
                name = PROTOCOL_NAMES.get(proto, str(proto))
                by_proto = target & PacketSet.build(proto=[(proto, proto)])
                if proto not in PORT_PROTOCOLS or not term.ports:
                    detail = f"{name}" + (f" type {term.icmp_type}" if term.icmp_type is not None else "") + \
                        (f" code {term.icmp_code}" if term.icmp_code is not None else "")
                    b.append(_Want(by_proto, "boundary", f"{detail} of {flow.id}"))
                    continue
                for r in term.ports:
                    rng = f"{r.lo}-{r.hi}" if r.lo != r.hi else str(r.lo)
                    b.append(_Want(by_proto & _dport(r.lo), "boundary", f"first port of {name}/{rng}"))
                    if r.hi != r.lo:
                        b.append(_Want(by_proto & _dport(r.hi), "boundary", f"last port of {name}/{rng}"))
                    near.extend(self._port_misses(flow, proto, name, r.lo, r.hi))
        for side, endpoints in (("src", flow.sources), ("dst", flow.destinations)):
            for net in self._prefixes(endpoints):
                first, last = _usable_range(net)
                for which, addr in (("first", first), ("last", last)):
                    host = PacketSet.build(family=net.version, **{side: [(addr, addr)]})
                    b.append(_Want(target & host, "boundary", f"{which} host of {side} {net}"))
                    if first == last:
                        break
        near.extend(self._zone_misses(flow))
        return g

    def _port_misses(self, flow: Flow, proto: int, name: str, lo: int, hi: int) -> list[_Want]:
        addresses = self._addresses_of(flow)
        outside = addresses - self.m.flow_set(flow)
        other = {TCP: UDP, UDP: TCP}.get(proto)
        wants = []
        if lo > 0:
            wants.append(_Want(outside & _proto(proto) & _dport(lo - 1), "near-miss", f"port-1 of {name}/{lo}"))
        if hi < 65535:
            wants.append(_Want(outside & _proto(proto) & _dport(hi + 1), "near-miss", f"port+1 of {name}/{hi}"))
        if other is not None:
            oname = PROTOCOL_NAMES[other]
            wants.append(_Want(outside & _proto(other) & _dport(lo), "near-miss", f"{oname} instead of {name}/{lo}"))
        return wants

    def _neighbours(self, zones: Iterable[str]) -> list[str]:
        """Zones next to ``zones``: their siblings, and the zones sharing a firewall with them."""
        mine = set(zones)
        if self._family is None:  # once per planner: a province asks for every flow's zones
            self._family = {}
            for s in self.policy.zones:
                self._family.setdefault(s.parent, []).append(s.name)
            self._fw_zones = [(f, frozenset(f.zones())) for f in self.policy.firewalls]
        out: set[str] = set()
        for z in mine:
            out.update(self._family.get(self._zones[z].parent, ()))
        if self.fw:
            out.update(self.fw.zones())
        else:
            for _, fz in self._fw_zones:
                if mine & fz:
                    out.update(fz)
        return sorted(out - mine)

    def _zone_misses(self, flow: Flow) -> list[_Want]:
        services = self.m.services_set(flow.services)
        wants = []
        for side, endpoints, other in (("dst", flow.destinations, flow.sources), ("src", flow.sources, flow.destinations)):
            zones = [z for e in endpoints if e.is_zone for z in e.zones]
            if not zones:
                continue
            other_side = "src" if side == "dst" else "dst"
            base = self._side(other, other_side) & services & self.scope
            for n in self._neighbours(zones)[:2]:
                s = (base & self.m.own_addresses(n, side)) - self.m.flow_set(flow)
                wants.append(_Want(s, "near-miss", f"neighbouring zone {n} as {side} of {flow.id}"))
        return wants

    def _pair_group(self, a: str, b: str, between: PacketSet) -> _Group:
        g = _Group(f"pair {a} -> {b}", (a, b))
        denied = between - self.allowed
        if denied.is_empty():
            g.tiers[0].append(_Want(between, "boundary", f"{a} -> {b} (every packet allowed)"))
            return g
        g.tiers[0].append(_Want(denied, "negative", f"denied {a} -> {b}"))
        first = self.pick(denied)
        if first is not None:
            other = denied - PacketSet.build(family=first.family)
            g.tiers[1].append(_Want(other, "negative", f"denied {a} -> {b} (other family)"))
        return g

    # ------------------------------------------------------------ the suite
    def plan(self, budget: int | None = None) -> Suite:
        if budget is not None and budget < 1:
            raise UsageError(f"--budget must be at least 1, got {budget}")
        flow_groups: list[_Group] = []
        uncovered: list[str] = []
        notes: list[str] = []
        relevant = 0
        outside = 0
        for flow in self.policy.flows:
            fs = self.m.flow_set(flow)
            if flow.action is Action.DENY:
                hit = fs & self.scope
                if not hit.is_empty():
                    g = _Group(f"deny {flow.id}")
                    g.tiers[1].append(_Want(hit, "negative", f"denied by {flow.id}"))
                    flow_groups.append(g)
                continue
            if (fs & self.scope).is_empty() and not fs.is_empty():
                outside += 1
                continue
            relevant += 1
            target = fs & self.allowed & self.scope
            if target.is_empty():
                uncovered.append(flow.id)
                notes.append(f"flow {flow.id}: {self._why_not(flow, fs)}")
                continue
            flow_groups.append(self._flow_group(flow, target))
        if outside and self.fw:
            notes.append(f"{outside} allowed flow(s) do not cross firewall {self.fw.name}")
        pair_groups: list[_Group] = []
        names = sorted(z.name for z in self.policy.zones)
        for a in names:
            src = self.m.own_addresses(a, "src") & self.scope
            if src.is_empty():
                continue
            for b in names:
                if a == b:
                    continue
                between = src & self.m.own_addresses(b, "dst")
                if not between.is_empty():
                    pair_groups.append(self._pair_group(a, b, between))
        intra_groups = self._intrazone_groups(names, notes)
        groups = flow_groups + pair_groups + intra_groups
        probes = self._realise(groups, budget)
        flows_total = relevant
        covered_flows = {f for p in probes if p.expected is Action.ALLOW for f in p.flows}
        allow_ids = [f.id for f in self.policy.flows if f.action is Action.ALLOW]
        pairs_done = {(p.src_zone, p.dst_zone) for p in probes}
        pairs_all = [g.pair for g in pair_groups if g.pair is not None]
        planned = {g.key for g in flow_groups}
        for fid in allow_ids:
            if fid not in covered_flows and f"flow {fid}" in planned:
                uncovered.append(fid)
                notes.append(f"flow {fid}: left out by the budget")
        intra_all = [g.pair for g in intra_groups if g.pair is not None]
        coverage = Coverage(
            flows_total=flows_total,
            flows_covered=sum(1 for fid in allow_ids if fid in covered_flows),
            pairs_total=len(pairs_all),
            pairs_covered=sum(1 for a, b in pairs_all if (a, b) in pairs_done),
            intrazone_total=len(intra_all),
            intrazone_covered=sum(1 for pair in intra_all if pair in pairs_done),
            uncovered_flows=tuple(uncovered), notes=tuple(notes),
        )
        return Suite(policy=self.policy.name, policy_hash=policy_hash(self.policy),
                     firewall=self.fw.name if self.fw else None, probes=tuple(probes), coverage=coverage,
                     budget=budget)

    def _intrazone_groups(self, names: list[str], notes: list[str]) -> list[_Group]:
        """Packets within one zone, where the policy makes them a decision worth probing.

        Under ``intrazone allow`` with no flow inside a zone every packet within it passes by the
        stance and there is nothing to tell apart; under ``intrazone deny``, or where flows allow or
        deny packets inside the zone, a firewall between two parts of the zone must enforce it.
        A firewall sees such packets only when the zone sits behind two of its interfaces, which
        the language forbids (ZP219), so with a firewall they are outside its scope and noted.
        """
        deny_stance = self.policy.intrazone is Action.DENY
        by_flows = self.m.matched(Action.ALLOW) | self.denied_by_flows
        groups: list[_Group] = []
        out_of_scope = 0
        for z in names:
            within = self.m.between(z, z)
            if within.is_empty():
                continue
            flows_within = within & by_flows
            if not deny_stance and flows_within.is_empty():
                continue
            crossing = within & self.scope
            if crossing.is_empty():
                out_of_scope += 1
                continue
            stance = crossing - by_flows
            stance_kind = "negative" if deny_stance else "boundary"
            wants = [
                _Want(stance, stance_kind, f"intrazone {z}, no flow matches (intrazone {self.policy.intrazone.value})"),
                _Want(crossing & self.denied_by_flows, "negative", f"intrazone {z}, denied by a flow"),
                _Want(crossing & self.allowed & by_flows, "boundary", f"intrazone {z}, allowed by a flow"),
            ]
            wants = [_Want(self._two_hosts(w.packets), w.kind, w.note) for w in wants if not w.packets.is_empty()]
            g = _Group(f"intrazone {z}", (z, z))
            g.tiers[0].append(wants[0])  # the zone's coverage probe; the others are boundaries
            g.tiers[1].extend(wants[1:])
            groups.append(g)
        if out_of_scope and self.fw is not None:
            notes.append(f"{out_of_scope} zone(s) with intrazone decisions: their packets do not cross firewall "
                         f"{self.fw.name} (a zone sits behind one interface); plan without --firewall to probe them")
        return groups

    def _two_hosts(self, s: PacketSet) -> PacketSet:
        """``s`` without the packets from a host to itself when it has others: those never leave the host."""
        p = self.pick(s)
        if p is None or p.src != p.dst:
            return s
        other = s - PacketSet.build(family=p.family, dst=[(p.dst, p.dst)])
        return s if other.is_empty() else other

    def _why_not(self, flow: Flow, fs: PacketSet) -> str:
        if fs.is_empty():
            return "matches no packet (an endpoint has no addresses)"
        if (fs - self.denied_by_flows).is_empty():
            shadows = [f.id for f in self.policy.flows
                       if f.action is Action.DENY and not (self.m.flow_set(f) & fs).is_empty()]
            return "cannot be probed: entirely shadowed by deny flow(s) " + ", ".join(shadows)
        return f"cannot be probed: none of its packets crossing firewall {self.fw.name if self.fw else ''} is allowed"

    def _order(self, groups: list[_Group]) -> Iterable[_Want]:
        for tier in range(3):
            # round i visits the groups that still have an i-th want, in group order; dropping the
            # exhausted ones keeps a province (thousands of groups, a few deep ones) linear
            lists = [x for x in (g.tiers[tier] for g in groups) if x]
            i = 0
            while lists:
                for x in lists:
                    yield x[i]
                i += 1
                lists = [x for x in lists if len(x) > i]

    def _realise(self, groups: list[_Group], budget: int | None) -> list[Probe]:
        seen: set[Packet] = set()
        out: list[Probe] = []
        for want in self._order(groups):
            if budget is not None and len(out) >= budget:
                break
            packet = self.pick(want.packets)
            if packet is None or packet in seen:
                continue
            seen.add(packet)
            probe = self._probe(len(out) + 1, packet, want)
            if probe is not None:
                out.append(probe)
        return out

    def _probe(self, n: int, packet: Packet, want: _Want) -> Probe | None:
        if packet.proto in PORT_PROTOCOLS:
            packet = Packet(packet.family, packet.src, packet.dst, packet.proto,
                            SPORT_BASE + (n - 1) % SPORT_SPAN, packet.dport)
        iif = oif = None
        if self.fw is not None:
            crossing = self.m.firewall_interfaces(self.fw, packet)
            if crossing is None:  # cannot happen for packets of the scope; never emit a probe that lies
                return None
            iif, oif = crossing
        d = self.m.decide(packet)
        return Probe(
            id=f"p{n:05d}", packet=packet, src_zone=d.src_zone or NO_ZONE, dst_zone=d.dst_zone or NO_ZONE,
            expected=d.action, flows=d.flows, reason=d.reason, stateful=d.allowed and d.stateful,
            kind=want.kind, note=want.note, firewall=self.fw.name if self.fw else None, iif=iif, oif=oif,
        )


# A province's flows name the same few hundred ports over and over; the sets are immutable.
@functools.lru_cache(maxsize=4096)
def _proto(p: int) -> PacketSet:
    return PacketSet.build(proto=[(p, p)])


@functools.lru_cache(maxsize=4096)
def _dport(port: int) -> PacketSet:
    return PacketSet.build(proto=[(TCP, TCP), (UDP, UDP), (SCTP, SCTP)], dport=[(port, port)])


def _usable_range(net: Network) -> tuple[int, int]:
    lo, hi = int(net.network_address), int(net.broadcast_address)
    if net.version == 4 and net.prefixlen <= 30:
        return lo + 1, hi - 1
    return lo, hi


def plan_suite(policy: Policy, firewall: str | None = None, budget: int | None = None,
               meaning: Meaning | None = None) -> Suite:
    """The probe suite of ``policy`` (for the named firewall only, when given)."""
    fw = find_firewall(policy, firewall) if firewall is not None else None
    return Planner(policy, fw, meaning).plan(budget)


def coverage_text(suite: Suite) -> str:
    c = suite.coverage
    lines = [f"{len(suite.probes)} probes; flows covered {c.flows_covered}/{c.flows_total}, "
             f"zone pairs covered {c.pairs_covered}/{c.pairs_total}"
             + (f", intrazone covered {c.intrazone_covered}/{c.intrazone_total}" if c.intrazone_total else "")]
    lines += [f"  {n}" for n in c.notes]
    return "\n".join(lines)
