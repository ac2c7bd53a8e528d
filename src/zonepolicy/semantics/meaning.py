"""What a policy means: the one place that says whether a packet is allowed.

A packet is judged by three facts — does some ``allow`` flow match it, does some ``deny`` flow
match it, are its source and destination in the same zone — combined by one law,
:func:`verdict_law`. The law is written once and evaluated two ways: on booleans for one concrete
packet (:meth:`Meaning.decide`) and on exact packet sets for all packets at once
(:meth:`Meaning.allowed`). The verifier, the compilers' proofs, the probe planner and the reports
all ask this module; none of them decides a packet on its own.

The rules, also stated in docs/language.md:

* a packet's zone is the most specific zone whose networks contain its address (a sub-zone wins
  over its parent; the ``networks any`` zone takes every address no other zone claims);
* a zone named in a flow stands for the zone and all its sub-zones; ``x.*`` for the strict
  sub-zones of ``x``; ``*`` for every zone; an address object or literal for its addresses;
* a flow matches a packet when the source matches one of its sources, the destination one of its
  destinations, and the packet one of its services (no services: every packet);
* a service term of protocol 1 (``icmp/…``, ``ip/icmp``) matches IPv4 packets only, one of protocol
  58 (``icmpv6/…``, ``ip/icmpv6``) IPv6 packets only: ICMP is IPv4's control protocol and ICMPv6
  IPv6's, so ``ping`` (both echoes) means ICMP echo over IPv4 and ICMPv6 echo over IPv6;
* deny wins: a packet matched by any ``deny`` flow is denied; otherwise one matched by any
  ``allow`` flow is allowed; otherwise a packet whose source and destination zone are the same
  zone gets the ``intrazone`` action, and every other packet the ``default`` action;
* flows describe the packets that open a connection; replies to a connection opened under a
  ``stateful`` allow are allowed by connection tracking.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Protocol, TypeVar

from ..model.policy import Endpoint, Firewall, Flow, Policy, Zone
from ..model.values import Action, Network, ServiceTerm
from .flow_index import FlowIndex, in_ranges
from .packet import ICMP, ICMPV6, Packet
from .packetset import PacketSet


class _Algebra(Protocol):
    def __and__(self, other): ...
    def __or__(self, other): ...
    def __invert__(self): ...


T = TypeVar("T", bound=_Algebra)


def verdict_law(allow: T, deny: T, same_zone: T, intrazone: T, default: T) -> T:
    """The allowed packets, given who matches what. ``intrazone``/``default`` are top or bottom."""
    unmatched = ~allow & ~deny
    return (allow & ~deny) | (unmatched & same_zone & intrazone) | (unmatched & ~same_zone & default)


@dataclass(frozen=True, slots=True)
class Bit:
    """A boolean with the operators of a set algebra, so :func:`verdict_law` runs on one packet."""

    value: bool

    def __and__(self, other: "Bit") -> "Bit":
        return Bit(self.value and other.value)

    def __or__(self, other: "Bit") -> "Bit":
        return Bit(self.value or other.value)

    def __invert__(self) -> "Bit":
        return Bit(not self.value)


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict for one packet and why: the flows that decided it, or the stance that applied."""

    action: Action
    reason: str  # "flow", "intrazone" or "default"
    flows: tuple[str, ...]
    src_zone: str | None
    dst_zone: str | None
    stateful: bool = True  # for an allow by flows: whether replies are allowed by connection tracking

    @property
    def allowed(self) -> bool:
        return self.action is Action.ALLOW


class ZoneIndex:
    """Longest-prefix lookup from an address to its most specific zone."""

    def __init__(self, zones: Iterable[Zone]) -> None:
        self._tables: dict[int, dict[int, dict[int, tuple[int, str]]]] = {4: {}, 6: {}}
        self._fallback: dict[int, str] = {}
        for z in zones:
            if z.is_any:
                self._fallback = {4: z.name, 6: z.name}
                continue
            for net in z.networks:
                table = self._tables[net.version].setdefault(net.prefixlen, {})
                key = int(net.network_address)
                if key not in table or table[key][0] < z.depth:
                    table[key] = (z.depth, z.name)
        self._lengths = {v: sorted(t, reverse=True) for v, t in self._tables.items()}

    def zone_of(self, family: int, address: int) -> str | None:
        bits = 32 if family == 4 else 128
        table = self._tables[family]
        for length in self._lengths[family]:
            key = (address >> (bits - length)) << (bits - length) if length else 0
            hit = table[length].get(key)
            if hit is not None:
                return hit[1]
        return self._fallback.get(family)


def _in_networks(family: int, address: int, networks: tuple[Network, ...]) -> bool:
    for net in networks:
        if net.version == family and int(net.network_address) <= address <= int(net.broadcast_address):
            return True
    return False


# The one family an ICMP protocol belongs to (see the module docstring); other protocols: both.
_ICMP_FAMILY = {ICMP: 4, ICMPV6: 6}


def _term_matches(term: ServiceTerm, p: Packet) -> bool:
    if term.protocol is not None and p.proto != term.protocol:
        return False
    if _ICMP_FAMILY.get(term.protocol, p.family) != p.family:  # type: ignore[arg-type]
        return False
    if term.ports and not any(r.lo <= p.dport <= r.hi for r in term.ports):
        return False
    if term.icmp_type is not None and p.icmp_type != term.icmp_type:
        return False
    if term.icmp_code is not None and p.icmp_code != term.icmp_code:
        return False
    return True


def _term_set(term: ServiceTerm) -> PacketSet:
    return PacketSet.build(
        family=_ICMP_FAMILY.get(term.protocol),  # type: ignore[arg-type]
        proto=None if term.protocol is None else [(term.protocol, term.protocol)],
        dport=[(r.lo, r.hi) for r in term.ports] or None,
        icmp_type=None if term.icmp_type is None else [(term.icmp_type, term.icmp_type)],
        icmp_code=None if term.icmp_code is None else [(term.icmp_code, term.icmp_code)],
    )


def _union(sets: list[PacketSet]) -> PacketSet:
    """The union of ``sets``, pairwise in a balanced tree: operands stay of similar size."""
    if not sets:
        return PacketSet.empty()
    while len(sets) > 1:
        paired = [sets[k] | sets[k + 1] for k in range(0, len(sets) - 1, 2)]
        if len(sets) % 2:
            paired.append(sets[-1])
        sets = paired
    return sets[0]


class Meaning:
    """The meaning of one policy, concrete and symbolic. Build once per policy; it caches its sets."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.index = ZoneIndex(policy.zones)
        self._zones = {z.name: z for z in policy.zones}
        self._children: dict[str, list[Zone]] = {}
        for z in policy.zones:
            if z.parent is not None:
                self._children.setdefault(z.parent, []).append(z)
        self._cache: dict = {}
        self._products: dict[PacketSet, tuple[PacketSet, PacketSet, PacketSet]] = {}
        self._family_masks: dict[tuple[int, str, bool], int] = {}  # see flow_is_empty

    # ---- one packet
    def zone_of(self, family: int, address: int) -> str | None:
        return self.index.zone_of(family, address)

    def _endpoint_hit(self, ep: Endpoint, family: int, address: int, zone: str | None) -> bool:
        if ep.is_zone:
            return zone is not None and zone in self._zone_set(ep)
        return _in_networks(family, address, ep.networks)

    def _zone_set(self, ep: Endpoint) -> frozenset[str]:
        key = ("zs", id(ep.zones))  # identity, not a hash of up to thousands of names (see endpoint_set)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = frozenset(ep.zones)
        return found

    def flow_matches(self, flow: Flow, p: Packet, src_zone: str | None = None, dst_zone: str | None = None) -> bool:
        if src_zone is None:
            src_zone = self.zone_of(p.family, p.src)
        if dst_zone is None:
            dst_zone = self.zone_of(p.family, p.dst)
        return (
            any(self._endpoint_hit(e, p.family, p.src, src_zone) for e in flow.sources)
            and any(self._endpoint_hit(e, p.family, p.dst, dst_zone) for e in flow.destinations)
            and (not flow.services or any(_term_matches(t, p) for t in flow.services))
        )

    def decide(self, p: Packet) -> Decision:
        """The verdict on one connection-opening packet, with the flows that decided it."""
        sz = self.zone_of(p.family, p.src)
        dz = self.zone_of(p.family, p.dst)
        index = self.flow_index()
        fam, src, dst = p.family, p.src, p.dst
        hits = [c.flow for c in index.candidates(sz, dz)
                if (c.src_ranges is None or in_ranges(fam, src, c.src_ranges))
                and (c.dst_ranges is None or in_ranges(fam, dst, c.dst_ranges))
                and (not c.flow.services or any(_term_matches(t, p) for t in c.flow.services))]
        return self._decision(hits, sz, dz)

    def flow_index(self) -> FlowIndex:
        """The policy's flows indexed by the zones they name (built once)."""
        return self._memo(("flow-index",), lambda: FlowIndex(self.policy.flows))

    def _decision(self, hits: list[Flow], sz: str | None, dz: str | None) -> Decision:
        denies = tuple(f.id for f in hits if f.action is Action.DENY)
        allows = tuple(f.id for f in hits if f.action is Action.ALLOW)
        same = sz is not None and sz == dz
        action = self._verdict(bool(allows), bool(denies), same)
        if denies:
            return Decision(action, "flow", denies, sz, dz)
        if allows:
            stateful = any(f.options.stateful for f in hits if f.action is Action.ALLOW)
            return Decision(action, "flow", allows, sz, dz, stateful)
        return Decision(action, "intrazone" if same else "default", (), sz, dz)

    def _verdict(self, allow: bool, deny: bool, same: bool) -> Action:
        """:func:`verdict_law` on one packet's facts; eight possible facts, so each is worked out once."""
        key = ("verdict", allow, deny, same)
        found = self._cache.get(key)
        if found is None:
            law = verdict_law(Bit(allow), Bit(deny), Bit(same),
                              Bit(self.policy.intrazone is Action.ALLOW), Bit(self.policy.default is Action.ALLOW))
            found = self._cache[key] = Action.ALLOW if law.value else Action.DENY
        return found

    def _decide_by_scan(self, p: Packet) -> Decision:
        """:meth:`decide` the plain way, every flow tested: the reference the index is checked against."""
        sz = self.zone_of(p.family, p.src)
        dz = self.zone_of(p.family, p.dst)
        return self._decision([f for f in self.policy.flows if self.flow_matches(f, p, sz, dz)], sz, dz)

    # ---- all packets
    def _memo(self, key, make):
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = make()
        return found

    def own_addresses(self, zone: str, side: str) -> PacketSet:
        """Packets whose ``side`` ("src" or "dst") address has ``zone`` as its most specific zone."""
        def make() -> PacketSet:
            z = self._zones[zone]
            if z.is_any:
                others = [n for o in self.policy.zones if not o.is_any for n in o.networks]
                return PacketSet.universe() - self._addresses(side, others)
            children = [n for c in self._children.get(zone, ()) if not c.is_any for n in c.networks]
            own = self._addresses(side, z.networks)
            return own - self._addresses(side, children) if children else own
        return self._memo(("own", zone, side), make)

    @staticmethod
    def _addresses(side: str, networks: Iterable[Network]) -> PacketSet:
        nets = list(networks)
        if not nets:
            return PacketSet.empty()
        return PacketSet.build(src=nets) if side == "src" else PacketSet.build(dst=nets)

    def zones_addresses(self, zones: Iterable[str], side: str) -> PacketSet:
        names = frozenset(zones)
        return self._memo(("zones", names, side),
                          lambda: _union([self.own_addresses(z, side) for z in sorted(names)]))

    def endpoint_set(self, ep: Endpoint, side: str) -> PacketSet:
        # Keyed by the identity of the tuple: the resolver shares one tuple per subtree, and hashing a
        # 2,000-name tuple for every flow of a province-scale policy would dominate the cost. The
        # policy (held by self) keeps those tuples alive, so ids cannot be reused meanwhile.
        if ep.is_zone:
            return self._memo(("ep", id(ep.zones), side), lambda: self.zones_addresses(ep.zones, side))
        return self._memo(("net", id(ep.networks), side), lambda: self._addresses(side, ep.networks))

    def services_set(self, services: tuple[ServiceTerm, ...]) -> PacketSet:
        if not services:
            return PacketSet.universe()
        # First by identity: a province's 50,000 flows share a few thousand service tuples, and
        # hashing a tuple of terms (with their port ranges) per flow cost more than the rest of the
        # lookup. The entry holds the tuple, so its id cannot be reused while the entry lives (callers
        # also pass short-lived tuples of their own).
        key = ("svc-id", id(services))
        hit = self._cache.get(key)
        if hit is not None and hit[0] is services:
            return hit[1]
        def make() -> PacketSet:
            out = PacketSet.empty()
            for t in services:
                out = out | self._memo(("term", t), lambda: _term_set(t))
            return out
        found = self._memo(("svc", services), make)
        self._cache[key] = (services, found)
        return found

    def _side(self, endpoints: tuple[Endpoint, ...], side: str) -> PacketSet:
        # Most flows name one endpoint per side: skip the union (province scale has 50,000 flows).
        out = self.endpoint_set(endpoints[0], side)
        for e in endpoints[1:]:
            out = out | self.endpoint_set(e, side)
        return out

    def flow_set(self, flow: Flow) -> PacketSet:
        """Every packet the flow matches."""
        def make() -> PacketSet:
            if not flow.sources or not flow.destinations:
                return PacketSet.empty()
            src, dst = self._side(flow.sources, "src"), self._side(flow.destinations, "dst")
            services = self.services_set(flow.services)
            out = src & dst & services if flow.services else src & dst
            self._products[out] = (dst, src, services)
            return out
        return self._memo(("flow", flow.id), make)

    def flows_meeting(self, flows: Iterable[Flow], packets: PacketSet) -> Iterator[tuple[Flow, PacketSet]]:
        """``(flow, flow_set(flow) & packets)`` for each of ``flows`` (in their order) whose set meets
        ``packets``.

        A flow's set meets ``packets`` only if its destination side does. Destination sides are
        shared by many flows, so each is tested once, and a flow's set is built only for the flows
        that pass (a verifier asks this of every allow flow, rule after rule). The destination
        address is the top of the BDDs, so that test costs little; testing the sources or the
        services first would rebuild everything above them, costlier than the flow's own test.
        """
        meets: dict[PacketSet, bool] = {}
        if packets.is_empty():
            return
        for flow in flows:
            if not flow.sources or not flow.destinations:
                continue
            dst = self._side(flow.destinations, "dst")
            found = meets.get(dst)
            if found is None:
                found = meets[dst] = not (dst & packets).is_empty()
            if not found:
                continue
            part = self.flow_set(flow) & packets
            if not part.is_empty():
                yield flow, part

    def product_of(self, packets: PacketSet) -> tuple[PacketSet, PacketSet, PacketSet] | None:
        """(destinations, sources, services) whose intersection is ``packets``, when ``packets`` is
        the set of a flow built here; for :meth:`PacketSet.product_boxes` (reports render flows'
        sets finding after finding)."""
        return self._products.get(packets)

    def same_zone(self) -> PacketSet:
        """Packets whose source and destination have the same most specific zone."""
        def make() -> PacketSet:
            out = PacketSet.empty()
            for z in self.policy.zones:
                out = out | (self.own_addresses(z.name, "src") & self.own_addresses(z.name, "dst"))
            return out
        return self._memo(("same",), make)

    def flow_is_empty(self, flow: Flow) -> bool:
        """Whether the flow matches no packet, without building :meth:`flow_set`.

        A flow's set is sources × destinations × services, and the three depend on disjoint header
        fields apart from the family: the source side on the source address, the destination side
        on the destination address, the services on protocol, ports and ICMP fields. So the product
        is empty exactly when no family is left in all three, which is read off each part once (the
        parts are shared by many flows) instead of built per flow.
        """
        if not flow.sources or not flow.destinations:
            return True
        common = self._side_families(flow.sources, "src") & self._side_families(flow.destinations, "dst")
        if common and flow.services:
            # by identity, as in services_set (the entry keeps the tuple alive)
            key = ("svc-fam", id(flow.services))
            hit = self._cache.get(key)
            if hit is None or hit[0] is not flow.services:
                hit = self._cache[key] = (flow.services, self._families(self.services_set(flow.services)))
            common &= hit[1]
        return not common

    def _side_families(self, endpoints: tuple[Endpoint, ...], side: str) -> int:
        mask = 0
        cache = self._family_masks
        for ep in endpoints:
            # the identity keys of endpoint_set, for the same reason
            key = (id(ep.zones) if ep.is_zone else id(ep.networks), side, ep.is_zone)
            found = cache.get(key)
            if found is None:
                found = cache[key] = self._families(self.endpoint_set(ep, side))
            mask |= found
        return mask

    def _families(self, packets: PacketSet) -> int:
        """The families present in ``packets`` as a bit mask (IPv4: 1, IPv6: 2)."""
        return sum(bit for bit, family in ((1, 4), (2, 6))
                   if not (packets & self._memo(("family", family), lambda: PacketSet.build(family=family))).is_empty())

    def matched(self, action: Action) -> PacketSet:
        """Every packet some flow of ``action`` matches."""
        def make() -> PacketSet:
            # Grouped by destination side: the union of (sources × services) of the flows into one
            # destination, then one intersection with it. Built flow by flow instead (as
            # _matched_by_scan), each flow's set copies the destination's address bits, which sit at
            # the top of the BDD, and each union copies them again: at province scale (50,000 flows
            # into 2,000 zones) that is most of the cost of the meaning.
            groups: dict[PacketSet, list[PacketSet]] = {}
            for f in self.policy.flows:
                if f.action is not action or not f.sources or not f.destinations:
                    continue
                rest = self._side(f.sources, "src")
                if f.services:
                    rest = rest & self.services_set(f.services)
                groups.setdefault(self._side(f.destinations, "dst"), []).append(rest)
            return _union([dst & _union(parts) for dst, parts in groups.items()])
        return self._memo(("matched", action), make)

    def _matched_by_scan(self, action: Action) -> PacketSet:
        """:meth:`matched` the plain way, a union of every flow's set: the reference for tests."""
        out = PacketSet.empty()
        for f in self.policy.flows:
            if f.action is action:
                out = out | self.flow_set(f)
        return out

    def allowed(self) -> PacketSet:
        """Every connection-opening packet the policy allows."""
        top, bottom = PacketSet.universe(), PacketSet.empty()
        return self._memo(("allowed",), lambda: verdict_law(
            self.matched(Action.ALLOW), self.matched(Action.DENY), self.same_zone(),
            top if self.policy.intrazone is Action.ALLOW else bottom,
            top if self.policy.default is Action.ALLOW else bottom,
        ))

    def between(self, src_zone: str, dst_zone: str) -> PacketSet:
        """Packets from the own addresses of one zone to the own addresses of another."""
        return self.own_addresses(src_zone, "src") & self.own_addresses(dst_zone, "dst")

    # ---- enforcement points
    def firewall_scope(self, fw: Firewall) -> PacketSet:
        """Packets that cross ``fw``: from a zone behind one of its interfaces to a zone behind another."""
        def make() -> PacketSet:
            out = PacketSet.empty()
            for i in fw.interfaces:
                for o in fw.interfaces:
                    if i.name != o.name:
                        out = out | (self.zones_addresses(i.zones, "src") & self.zones_addresses(o.zones, "dst"))
            return out
        return self._memo(("scope", fw.name), make)

    def enforced(self, fw: Firewall) -> PacketSet:
        """What ``fw`` must let through: the allowed packets within its scope (it drops the rest)."""
        return self.allowed() & self.firewall_scope(fw)

    def firewall_interfaces(self, fw: Firewall, p: Packet) -> tuple[str, str] | None:
        """The (in, out) interfaces a packet crosses on ``fw``, or None when it does not cross it."""
        sz = self.zone_of(p.family, p.src)
        dz = self.zone_of(p.family, p.dst)
        iin = next((i.name for i in fw.interfaces if sz in i.zones), None)
        iout = next((i.name for i in fw.interfaces if dz in i.zones), None)
        if iin is None or iout is None or iin == iout:
            return None
        return iin, iout
