"""Rule anomalies: flows that do nothing, flows that fight, zones nothing reaches.

The classic firewall anomaly taxonomy (Al-Shaer & Hamed: shadowing, redundancy, correlation,
generalisation, irrelevance) is defined for *first-match* rule lists, where a later rule can be
hidden by an earlier one. A zonepolicy policy is not ordered: deny wins, and a packet's verdict
depends only on which flows match it (docs/language.md §12.5). The taxonomy is adapted to that law
below. Everything is stated on exact packet sets from the one meaning
(:class:`~zonepolicy.semantics.meaning.Meaning`); nothing here decides a packet itself.

Notation. For a flow ``f``, ``M(f)`` is ``meaning.flow_set(f)``, every packet it matches. ``A`` and
``D`` are the unions of ``M`` over the allow and the deny flows; ``A₋f``/``D₋f`` the same unions
without ``f``. ``B`` is what the header allows when no flow matches (``same_zone`` packets when
``intrazone allow``, the others when ``default allow``). The *meaning* of a policy is, for every
packet, the verdict of :meth:`Meaning.decide` and, for an allowed packet, whether replies are
tracked (``Decision.stateful``: true unless every allow flow that allows it is ``stateless``;
packets allowed by the header count as tracked, as ``decide`` reports them). A flow is *live* when
``M(f)`` is not empty.

Codes (a flow gets at most one of ANO-05, ANO-01, ANO-02, checked in that order):

ANO-05 empty flow — **error**. ``M(f) = ∅``: the flow matches no packet, e.g. an IPv4 source with
    an IPv6 destination, an endpoint naming zones without addresses, or ``icmpv6`` services between
    IPv4 addresses (an ``icmp`` term matches IPv4 packets only, an ``icmpv6`` term IPv6 only). Error, not warning, because unlike every other anomaly it has no reading in which it is
    intended: the author asked for traffic and the flow as written can never match, so the
    intent is certainly not implemented — for a deny, the traffic it was written to block is not
    blocked by it. (A zone declared ahead of its networks is the one benign cause; waive it.)

ANO-01 shadowed allow — **warning**. A live allow ``a`` with ``M(a) ⊆ D``: every packet it
    matches is denied by deny flows, so it never takes effect (dead rule, 无效规则). Shadowing by a
    *union* of denies counts, not just by one. The finding names the deny flows meeting ``M(a)``;
    witness and affected set are from ``M(a)``.

ANO-02 redundant flow — **warning** (GB/T 22239-2019 6.1.3.2 b 应删除多余或无效的访问控制规则).
    A live flow, not ANO-01, whose removal does not change the meaning. Exactly:

    * allow ``a``: every packet of ``L = M(a) − D`` (what ``a`` actually allows) keeps its verdict
      and its reply tracking without ``a``. For a stateful ``a`` that means each packet of ``L`` is
      matched by another *stateful* allow, or by no other allow and allowed by the header (``B``);
      for a ``stateless`` ``a``, each packet of ``L`` is matched by another allow (the header would
      turn reply tracking on). A stateful allow covered only by stateless ones is not redundant:
      deleting it would break replies.
    * deny ``d``: every packet of ``M(d)`` not matched by another deny is matched by no allow and
      not allowed by the header — ``(M(d) − D₋d) ∩ (A ∪ B) = ∅``: other denies and the header's
      deny already deny all of it.

    The finding names the other flows of the same action meeting ``L`` (allow) or ``M(d)``
    (deny); the witness is a packet of ``L`` (allow) or ``M(d)`` (deny), the affected set that set.
    Redundancy is judged one flow at a time: of two identical flows, each is redundant (the other
    stays); remove one.

ANO-03 correlation — **note**. A live allow ``a`` that is not ANO-01 and a live deny ``d`` whose
    sets overlap, ``X = M(a) ∩ M(d) ≠ ∅``, neither containing the other (``M(a) ⊄ M(d)``,
    ``M(d) ⊄ M(a)``). In a first-match list the winner on ``X`` would depend on order; here the
    deny always wins, so ``X`` is denied although ``a`` asks for it. Witness and affected set: ``X``.

ANO-04 generalisation — **note**. A live deny ``d`` and a live allow ``a`` that is not ANO-01
    with ``M(d) ⊊ M(a)``: the deny carves an exception out of the allow, usually on purpose.
    Witness and affected set: ``M(d)``.

ANO-06 unreachable zone — **note**. A zone ``z`` with addresses of its own (``own_addresses``
    not empty) into which no packet from outside it is allowed: ``allowed ∩ own(z, dst) − own(z, src)
    = ∅`` (sources in another zone or in none). Witness and affected set: the packets from outside
    into ``z`` (all denied).

Pairs in which one flow contains the other with the same action are redundancy, not listed again.
An allow ``a`` with ``M(a) ⊆ M(d)`` for one deny is ANO-01; with ``M(a) = M(d)`` it is ANO-01 too.

Algorithms. Nothing compares all pairs of flows:

* ``A``, ``D``: the meaning's unions, computed once.
* "matched by another flow of the same action" without a union per flow: a balanced fold computes
  ``two`` = the packets matched by at least two flows of a kind (``(o₁, t₁) ⊕ (o₂, t₂) = (o₁ ∪ o₂,
  t₁ ∪ t₂ ∪ (o₁ ∩ o₂))`` is associative). For ``p ∈ M(f)``, ``p ∈ A₋f ⇔ p ∈ two``: O(1) set operations
  per flow and two sets in memory, where prefix/suffix unions would keep 2n sets alive. Only flows
  that share a source and a destination zone key with another flow (see the index below) enter the
  fold: the others overlap nothing, so they cannot add to ``two``. The unions
  that make an allow needless (``D ∪ two_stateful ∪ (B − two)``, resp. ``D ∪ two``) are built once,
  so an allow that is neither shadowed nor redundant costs one set difference.
* Pairs (ANO-03/04) and the flows a finding names are found through an index: each side of a flow
  maps to the zones its addresses can lie in (an address object to the zones its networks meet, via
  longest-prefix lookup and a sorted list of zone networks); only flows sharing a destination zone
  *and* a source zone are candidates, and only candidates meet a set operation — ``M(a) ∩ M(d)``,
  whose equality with ``M(a)`` or ``M(d)`` (O(1) on BDDs) settles containment.
* ANO-06: one intersection per zone with ``allowed − same_zone``.

:func:`find_anomalies_naive` computes the same findings by brute force over all pairs, as the
baseline for tests and ``bench/anomaly_bench.py``.
"""

from __future__ import annotations

import bisect
import ipaddress
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from ..model.policy import Endpoint, Flow, Policy
from ..model.values import Action
from ..semantics.meaning import Meaning, verdict_law
from ..semantics.packetset import PacketSet
from .checks import Context
from .findings import Finding, Level
from .packs import Rule

# How many other flows a finding names; a redundant flow under a broad allow would otherwise name
# thousands. Those named are the first ones in policy order.
NAMED = 8

CLAUSE_REDUNDANT = "GB/T 22239-2019 6.1.3.2 b / 7.1.3.2 b / 8.1.3.2 b / 9.1.3.2 b"
STANDARD_TEXT = "GB/T 22239-2019 6.1.3.2 b) 应删除多余或无效的访问控制规则"
ALL_LEVELS = (1, 2, 3, 4, 5)


def _rule(code: str, zh: str, en: str, severity: Level, clause: str, rationale: str, hint: str) -> Rule:
    return Rule(code=code, title_zh=zh, title_en=en, clause=clause, levels=ALL_LEVELS, severity=severity,
                check="anomalies", rationale=rationale, hint=hint, family="anomaly", pack="anomalies")


SHADOWED = _rule(
    "ANO-01", "被拒绝规则完全遮蔽的允许规则（无效规则）", "Allow flow shadowed by deny flows", Level.WARNING,
    CLAUSE_REDUNDANT, "Every packet the allow flow matches is denied by deny flows (deny wins): it never "
    "takes effect.",
    f"remove the allow flow ({STANDARD_TEXT}), or narrow the deny flows if the traffic is meant to pass")
REDUNDANT = _rule(
    "ANO-02", "多余的访问控制规则", "Redundant flow", Level.WARNING, CLAUSE_REDUNDANT,
    "Removing the flow changes no verdict and no reply handling.",
    f"remove the flow ({STANDARD_TEXT}); keep it only if it documents intent, and then waive ANO-02")
CORRELATED = _rule(
    "ANO-03", "允许与拒绝规则部分重叠", "Allow and deny flows partly overlap", Level.NOTE, "",
    "The overlap is denied (deny wins) although the allow flow asks for it; in a first-match list the "
    "outcome would depend on rule order.",
    "if the overlap should pass, narrow the deny flow; otherwise narrow the allow flow so it states what passes")
GENERALISED = _rule(
    "ANO-04", "拒绝规则是允许规则的例外", "Deny flow carves an exception out of an allow flow", Level.NOTE, "",
    "Every packet of the deny flow is matched by the allow flow too; the deny wins. Usually intended.",
    "nothing to do if the exception is intended; a comment on the deny flow helps reviewers")
EMPTY = _rule(
    "ANO-05", "不匹配任何报文的规则（无效规则）", "Flow that matches no packet", Level.ERROR, CLAUSE_REDUNDANT,
    "The flow can never match, so what it was written for is not implemented.",
    f"fix the endpoints or services (address families, zones without networks), or remove the flow "
    f"({STANDARD_TEXT})")
UNREACHABLE = _rule(
    "ANO-06", "任何其他区域都不可达的区域", "Zone that nothing outside it can reach", Level.NOTE, "",
    "No packet from outside the zone into it is allowed.",
    "nothing to do if the zone is meant to be closed; otherwise add the allow flows it needs")

RULES: dict[str, Rule] = {r.code: r for r in (SHADOWED, REDUNDANT, CORRELATED, GENERALISED, EMPTY, UNREACHABLE)}


# ---------------------------------------------------------------- what both algorithms share


class _Common:
    """The flows in policy order, their sets and the policy-wide sets, for both algorithms."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        m = ctx.meaning
        policy = ctx.policy
        self.flows: tuple[Flow, ...] = policy.flows
        # Built on demand: in a maintained policy most flows overlap nothing, and their sets are never
        # needed beyond knowing they are not empty, which the meaning tells without building them.
        self.sets = _FlowSets(m, self.flows)
        self.live: list[bool] = [not m.flow_is_empty(f) for f in self.flows]
        self.allows = [i for i, f in enumerate(self.flows) if f.action is Action.ALLOW]
        self.denies = [i for i, f in enumerate(self.flows) if f.action is Action.DENY]
        same = m.same_zone()
        self.intrazone_allow = policy.intrazone is Action.ALLOW
        self.default_allow = policy.default is Action.ALLOW
        base = PacketSet.empty()
        if self.intrazone_allow:
            base = base | same
        if self.default_allow:
            base = base | ~same
        self.base = base

    def stance(self, action: Action) -> str:
        """The header lines that give ``action`` to unmatched packets, for messages."""
        words = []
        if self.policy.intrazone is action:
            words.append(f"intrazone {action.value}")
        if self.policy.default is action:
            words.append(f"default {action.value}")
        return " / ".join(words)

    @property
    def policy(self) -> Policy:
        return self.ctx.policy


class _FlowSets(Sequence[PacketSet]):
    """``meaning.flow_set`` of each flow by position, built when first asked for."""

    def __init__(self, meaning: Meaning, flows: Sequence[Flow]) -> None:
        self._meaning = meaning
        self._flows = flows

    def __len__(self) -> int:
        return len(self._flows)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self._meaning.flow_set(f) for f in self._flows[i]]
        return self._meaning.flow_set(self._flows[i])


@dataclass(frozen=True, slots=True)
class _Named:
    """Flows a finding names: the first :data:`NAMED` in policy order, and whether there are more."""

    positions: tuple[int, ...]
    more: bool


def _name_list(c: _Common, named: _Named) -> str:
    ids = ", ".join(c.flows[i].id for i in named.positions)
    return ids + (" and others" if named.more else "")


# Finding builders: both algorithms call these with the same inputs, so their findings are equal.

def _empty_finding(c: _Common, i: int) -> Finding:
    flow = c.flows[i]
    m = c.ctx.meaning
    src = PacketSet.empty()
    for e in flow.sources:
        src = src | m.endpoint_set(e, "src")
    dst = PacketSet.empty()
    for e in flow.destinations:
        dst = dst | m.endpoint_set(e, "dst")
    if src.is_empty() and dst.is_empty():
        why = "neither its sources nor its destinations match any address (zones without networks?)"
    elif src.is_empty():
        why = "its sources match no address (zones without networks?)"
    elif dst.is_empty():
        why = "its destinations match no address (zones without networks?)"
    elif (src & dst).is_empty():
        why = "its sources and destinations have no address family in common (IPv4 vs IPv6)"
    else:
        why = "its services match no packet between its endpoints"
    return c.ctx.finding(EMPTY, f"{flow.action.value} flow {flow.id} matches no packet: {why}", flows=(flow,))


def _shadowed_finding(c: _Common, i: int, denies: _Named) -> Finding:
    flow = c.flows[i]
    return c.ctx.finding(
        SHADOWED, f"allow flow {flow.id} never takes effect: every packet it matches is denied by deny flow(s) "
                  f"{_name_list(c, denies)}",
        packets=c.sets[i], flows=(flow, *(c.flows[j] for j in denies.positions)))


def _redundant_finding(c: _Common, i: int, packets: PacketSet, others: _Named, by_stance: bool) -> Finding:
    flow = c.flows[i]
    action = flow.action
    verb = "allows" if action is Action.ALLOW else "matches"
    ways = []
    if others.positions:
        ways.append(f"{action.value} flow(s) {_name_list(c, others)}")
    if by_stance:
        ways.append(f"the header's {c.stance(action)}"
                    + ("" if action is Action.ALLOW else " (no allow flow matches those packets)"))
    return c.ctx.finding(
        REDUNDANT, f"{action.value} flow {flow.id} is redundant: every packet it {verb} gets the same verdict "
                   f"without it, from {' and '.join(ways)} ({STANDARD_TEXT})",
        packets=packets, flows=(flow, *(c.flows[j] for j in others.positions)))


def _correlation_finding(c: _Common, a: int, d: int, overlap: PacketSet) -> Finding:
    fa, fd = c.flows[a], c.flows[d]
    return c.ctx.finding(
        CORRELATED, f"allow flow {fa.id} and deny flow {fd.id} partly overlap: their common packets are denied "
                    f"(deny wins), the rest of each applies",
        packets=overlap, flows=(fa, fd))


def _generalisation_finding(c: _Common, d: int, a: int) -> Finding:
    fa, fd = c.flows[a], c.flows[d]
    return c.ctx.finding(
        GENERALISED, f"deny flow {fd.id} carves an exception out of allow flow {fa.id}: every packet it matches "
                     f"is matched by {fa.id} too, and is denied",
        packets=c.sets[d], flows=(fd, fa))


def _unreachable_finding(c: _Common, zone: str) -> Finding:
    m = c.ctx.meaning
    inside, outside = m.own_addresses(zone, "dst"), PacketSet.universe() - m.own_addresses(zone, "src")
    span = c.ctx.zones[zone].span
    return c.ctx.finding(
        UNREACHABLE, f"zone {zone} cannot be reached: no packet from outside it into it is allowed",
        packets=inside & outside, zones=(zone,), span=span, product=(inside, outside, PacketSet.universe()))


def _ordered(found: list[tuple[tuple, Finding]]) -> list[Finding]:
    """Findings in a fixed order (code, then the flows' positions or the zone's), whichever algorithm."""
    return [f for _, f in sorted(found, key=lambda kf: kf[0])]


def _first_meeting(positions: Iterable[int], target: PacketSet, sets: Sequence[PacketSet]) -> _Named:
    """The first :data:`NAMED` of ``positions`` (policy order) whose sets meet ``target``."""
    hits: list[int] = []
    for j in sorted(positions):
        if not (sets[j] & target).is_empty():
            if len(hits) == NAMED:
                return _Named(tuple(hits), True)
            hits.append(j)
    return _Named(tuple(hits), False)


def _unreachable_zones(c: _Common, crossing: Callable[[str], bool]) -> list[tuple[tuple, Finding]]:
    out = []
    m = c.ctx.meaning
    for k, z in enumerate(c.policy.zones):
        if m.own_addresses(z.name, "dst").is_empty():
            continue  # nothing of its own to reach (no networks, or all taken by sub-zones)
        if not crossing(z.name):
            out.append(((UNREACHABLE.code, k), _unreachable_finding(c, z.name)))
    return out


# ---------------------------------------------------------------- the fast analysis


def _fold_two(sets: Sequence[PacketSet]) -> tuple[PacketSet, PacketSet]:
    """(union, packets in at least two of ``sets``) by a balanced fold.

    Balanced rather than left-to-right: the partial results stay small and local, which keeps BDD
    operations cheap; the combination is associative, so the grouping does not change the result.
    """
    empty = PacketSet.empty()
    level = [(s, empty) for s in sets]
    if not level:
        return empty, empty
    while len(level) > 1:
        nxt = []
        for k in range(0, len(level) - 1, 2):
            (o1, t1), (o2, t2) = level[k], level[k + 1]
            # Most flows of a real policy are disjoint from their neighbours and most partial
            # "at least two" sets are empty: skip the unions with an empty side (emptiness is O(1)).
            t = t1 | t2 if t1 and t2 else t1 or t2
            both = o1 & o2
            if both:
                t = t | both if t else both
            nxt.append((o1 | o2, t))
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


NO_ZONE = -1  # index key for addresses in no zone
_SHARED = -1  # a key pair held by two flows or more
_PAIRS = 64  # a flow with more (destination, source) key pairs is indexed as broad


class _ZoneKeys:
    """Which zones (as integers) the addresses an endpoint matches can lie in — an over-approximation.

    Sound for pruning: if two flows' packet sets meet, some packet lies in both, so its source zone
    is a key of both flows' source sides, and likewise for destinations.
    """

    def __init__(self, policy: Policy) -> None:
        self.ids = {z.name: k for k, z in enumerate(policy.zones)}
        self.any_zone = next((self.ids[z.name] for z in policy.zones if z.is_any), None)
        # longest-prefix tables as in ZoneIndex: (family, prefix length) → network address → zone
        self.tables: dict[tuple[int, int], dict[int, tuple[int, int]]] = {}
        starts: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        for z in policy.zones:
            if z.is_any:
                continue
            for net in z.networks:
                table = self.tables.setdefault((net.version, net.prefixlen), {})
                key = int(net.network_address)
                if key not in table or table[key][0] < z.depth:
                    table[key] = (z.depth, self.ids[z.name])
                starts[net.version].append((key, self.ids[z.name]))
        self.lengths = {v: sorted((n for f, n in self.tables if f == v), reverse=True) for v in (4, 6)}
        for v in starts:
            starts[v].sort()
        self.starts = starts
        self.start_keys = {v: [s for s, _ in starts[v]] for v in starts}
        self._cache: dict[tuple[str, int], frozenset[int]] = {}

    def endpoint(self, ep: Endpoint) -> frozenset[int]:
        # Keyed by identity: the resolver shares one tuple per subtree, and hashing a 2,000-name
        # tuple for each of 50,000 flows would dominate (the policy keeps the tuples alive).
        key = ("z", id(ep.zones)) if ep.is_zone else ("n", id(ep.networks))
        found = self._cache.get(key)
        if found is None:
            if ep.is_zone:
                found = frozenset(self.ids[n] for n in ep.zones)
            else:
                keys: set[int] = set()
                for net in ep.networks:
                    self._network(net, keys)
                found = frozenset(keys)
            self._cache[key] = found
        return found

    def side(self, endpoints: tuple[Endpoint, ...]) -> frozenset[int]:
        if len(endpoints) == 1:
            return self.endpoint(endpoints[0])
        out: frozenset[int] = frozenset()
        for e in endpoints:
            out = out | self.endpoint(e)
        return out

    def _network(self, net: ipaddress.IPv4Network | ipaddress.IPv6Network, keys: set[int]) -> None:
        fam, bits = net.version, net.max_prefixlen
        lo, hi = int(net.network_address), int(net.broadcast_address)
        # the zone of the addresses of ``net`` outside every zone network nested in it: the longest
        # zone prefix containing ``net`` (as ZoneIndex decides), else the any zone, else none
        for length in self.lengths[fam]:
            if length > net.prefixlen:
                continue
            hit = self.tables[(fam, length)].get((lo >> (bits - length)) << (bits - length) if length else 0)
            if hit is not None:
                keys.add(hit[1])
                break
        else:
            keys.add(self.any_zone if self.any_zone is not None else NO_ZONE)
        # zones with a network inside ``net`` (zone prefixes nest or are disjoint)
        starts = self.starts[fam]
        for k in range(bisect.bisect_left(self.start_keys[fam], lo), len(starts)):
            start, zone = starts[k]
            if start > hi:
                break
            keys.add(zone)


class _Index:
    """Live flows of one action by destination zone key, with their source keys, for candidate pairs."""

    def __init__(self, c: _Common, side_keys: Sequence[tuple[frozenset[int], frozenset[int]]],
                 positions: Iterable[int]) -> None:
        self.by_dst: dict[int, list[int]] = {}
        self.src: dict[int, frozenset[int]] = {}
        # (destination key, source key) → the one flow holding it, or _SHARED; for flows with at most
        # _PAIRS key pairs. Broader flows (a whole area on one side) are found by their destination.
        self.pairs: dict[tuple[int, int], int] = {}
        self.broad: set[int] = set()
        self.broad_by_dst: dict[int, list[int]] = {}
        for i in positions:
            if not c.live[i]:
                continue
            src, dst = side_keys[i]
            self.src[i] = src
            for k in dst:
                self.by_dst.setdefault(k, []).append(i)
            if len(src) * len(dst) > _PAIRS:
                self.broad.add(i)
                for k in dst:
                    self.broad_by_dst.setdefault(k, []).append(i)
                continue
            for k in dst:
                for s in src:
                    self.pairs[(k, s)] = _SHARED if (k, s) in self.pairs else i

    def meets_another(self, i: int, src: frozenset[int], dst: frozenset[int]) -> bool:
        """Whether some indexed flow other than ``i`` shares a destination and a source key with it
        (answers True for broad flows without looking: that is always safe for the folds).

        When none does, flow ``i`` overlaps no other flow of this index (a common packet would put
        its zones in both flows' keys), so it cannot add to "matched by at least two flows"."""
        if i in self.broad:
            return True
        pairs = self.pairs
        for k in dst:
            for s in src:
                if pairs[(k, s)] != i:
                    return True
            for j in self.broad_by_dst.get(k, ()):
                if not src.isdisjoint(self.src[j]):
                    return True
        return False

    def meets(self, src: frozenset[int], dst: frozenset[int]) -> bool:
        """Whether some indexed flow shares a destination key and a source key with (src, dst)."""
        by_dst, srcs = self.by_dst, self.src
        for k in dst:
            for i in by_dst.get(k, ()):
                if not src.isdisjoint(srcs[i]):
                    return True
        return False

    def candidates(self, src: frozenset[int], dst: frozenset[int]) -> list[int]:
        """Flows that share a destination key and a source key with (src, dst), in policy order."""
        found: set[int] = set()
        for k in dst:
            bucket = self.by_dst.get(k)
            if bucket:
                found.update(bucket)
        return sorted(i for i in found if not src.isdisjoint(self.src[i]))


def find_anomalies(ctx: Context) -> list[Finding]:
    """Every anomaly of ``ctx.policy`` (codes and definitions in the module docstring)."""
    c = _Common(ctx)
    m = ctx.meaning
    found: list[tuple[tuple, Finding]] = []
    for i in range(len(c.flows)):
        if not c.live[i]:
            found.append(((EMPTY.code, i), _empty_finding(c, i)))

    keys = _ZoneKeys(c.policy)
    side_keys = [(keys.side(f.sources), keys.side(f.destinations)) for f in c.flows]
    allow_index = _Index(c, side_keys, c.allows)
    deny_index = _Index(c, side_keys, c.denies)

    deny_all = m.matched(Action.DENY)
    allow_all = m.matched(Action.ALLOW)
    # Only flows that overlap another can put packets in "matched by at least two": fold those
    # alone (in a maintained policy, few flows share a source zone and a destination zone).
    overlapping = [i for i in c.allows if c.live[i] and allow_index.meets_another(i, *side_keys[i])]
    _, allow_two = _fold_two([c.sets[i] for i in overlapping])
    stateful = [i for i in overlapping if c.flows[i].options.stateful]
    if len(stateful) == len(overlapping):
        stateful_two = allow_two
    elif stateful:
        stateful_two = _fold_two([c.sets[i] for i in stateful])[1]
    else:
        stateful_two = PacketSet.empty()
    base_alone = c.base - allow_two  # allowed by the header where no second allow matches
    # What makes an allow's packet need no such allow; a shadowed allow lies wholly inside too, so one
    # difference per flow settles the common case (an allow that is neither shadowed nor redundant).
    cover_stateful = deny_all | stateful_two | base_alone
    cover_stateless = deny_all | allow_two

    # An allow that meets no part of its cover is neither shadowed nor redundant (it is live, so
    # M(a) − cover = M(a) is not empty); the index shows most of them without building M(a). It
    # meets allow_two only if it is one of the overlapping flows, deny_all only if a deny shares its
    # keys, and the header's allowed packets (stateful allows only) only if the header allows
    # packets between different zones or the allow's two sides share a zone key (a same-zone
    # packet's zone is a key of both sides).
    folded = set(overlapping)

    def may_meet_cover(i: int) -> bool:
        if i in folded or deny_index.meets(*side_keys[i]):
            return True
        if not c.flows[i].options.stateful or base_alone.is_empty():
            return False
        return c.default_allow or not side_keys[i][0].isdisjoint(side_keys[i][1])

    shadowed: set[int] = set()
    for i in c.allows:
        if not c.live[i] or not may_meet_cover(i):
            continue
        s = c.sets[i]
        # p ∈ M(a) is matched by another allow iff p ∈ allow_two (a itself is one of the two)
        cover = cover_stateful if c.flows[i].options.stateful else cover_stateless
        if not (s - cover).is_empty():
            continue
        live = s - deny_all
        if live.is_empty():
            shadowed.add(i)
            denies = _first_meeting(deny_index.candidates(*side_keys[i]), s, c.sets)
            found.append(((SHADOWED.code, i), _shadowed_finding(c, i, denies)))
            continue
        by_stance = not (live - allow_two).is_empty()
        others = [j for j in allow_index.candidates(*side_keys[i]) if j != i]
        found.append(((REDUNDANT.code, i),
                      _redundant_finding(c, i, live, _first_meeting(others, live, c.sets), by_stance)))

    _, deny_two = _fold_two([c.sets[i] for i in c.denies
                             if c.live[i] and deny_index.meets_another(i, *side_keys[i])])
    # where removing a deny would let packets through, unless another deny matches them too
    opened_alone = (allow_all | c.base) - deny_two
    for i in c.denies:
        if not c.live[i]:
            continue
        s = c.sets[i]
        if (s & opened_alone).is_empty():
            others = [j for j in deny_index.candidates(*side_keys[i]) if j != i]
            alone = s - deny_two  # packets of d that no other deny matches: the header denies them
            found.append(((REDUNDANT.code, i),
                          _redundant_finding(c, i, s, _first_meeting(others, s, c.sets), not alone.is_empty())))

    for d in c.denies:
        if not c.live[d]:
            continue
        sd = c.sets[d]
        for a in allow_index.candidates(*side_keys[d]):
            if a in shadowed:
                continue
            sa = c.sets[a]
            overlap = sa & sd
            if overlap.is_empty() or overlap == sa:
                continue  # disjoint, or a ⊆ d (then a is shadowed: ANO-01)
            if overlap == sd:
                found.append(((GENERALISED.code, d, a), _generalisation_finding(c, d, a)))
            else:
                found.append(((CORRELATED.code, a, d), _correlation_finding(c, a, d, overlap)))

    crossing = m.allowed() - m.same_zone()
    found += _unreachable_zones(c, lambda z: not (crossing & m.own_addresses(z, "dst")).is_empty())
    return _ordered(found)


# ---------------------------------------------------------------- the naive baseline


def find_anomalies_naive(ctx: Context) -> list[Finding]:
    """The same findings as :func:`find_anomalies`, by brute force: the reference for tests and benchmarks.

    Every pair of flows meets a set operation, and redundancy is tested by evaluating the verdict
    law on the policy without the flow (unions over all other flows, O(n) per flow). O(n²) set
    operations; not used by the verifier.
    """
    c = _Common(ctx)
    c.live = [not s.is_empty() for s in c.sets]  # from the sets themselves, not the meaning's shortcut
    m = ctx.meaning
    n = len(c.flows)
    found: list[tuple[tuple, Finding]] = []
    same = m.same_zone()

    def union(pred: Callable[[int], bool]) -> PacketSet:
        out = PacketSet.empty()
        for j in range(n):
            if pred(j):
                out = out | c.sets[j]
        return out

    def meaning_without(skip: int | None) -> tuple[PacketSet, PacketSet]:
        """(allowed, allowed without reply tracking) of the policy without flow ``skip``."""
        allow = union(lambda j: j != skip and c.flows[j].action is Action.ALLOW)
        tracked = union(lambda j: j != skip and c.flows[j].action is Action.ALLOW and c.flows[j].options.stateful)
        deny = union(lambda j: j != skip and c.flows[j].action is Action.DENY)
        top, bottom = PacketSet.universe(), PacketSet.empty()
        allowed = verdict_law(allow, deny, same, top if c.intrazone_allow else bottom,
                              top if c.default_allow else bottom)
        return allowed, (allow - deny) - tracked

    whole = meaning_without(None)
    deny_all = union(lambda j: c.flows[j].action is Action.DENY)
    shadowed: set[int] = set()
    for i in range(n):
        f = c.flows[i]
        s = c.sets[i]
        if s.is_empty():
            found.append(((EMPTY.code, i), _empty_finding(c, i)))
            continue
        if f.action is Action.ALLOW:
            cover = PacketSet.empty()
            meeting = []
            for j in c.denies:
                part = c.sets[j] & s
                if not part.is_empty():
                    cover = cover | part
                    meeting.append(j)
            if cover == s:
                shadowed.add(i)
                found.append(((SHADOWED.code, i), _shadowed_finding(c, i, _cap(meeting))))
                continue
        if meaning_without(i) != whole:
            continue
        same_kind = [j for j in range(n) if j != i and c.flows[j].action is f.action]
        target = s - deny_all if f.action is Action.ALLOW else s
        others = PacketSet.empty()
        for j in same_kind:
            others = others | c.sets[j]
        meeting = [j for j in same_kind if not (c.sets[j] & target).is_empty()]
        found.append(((REDUNDANT.code, i), _redundant_finding(c, i, target, _cap(meeting),
                                                              not (target - others).is_empty())))

    for d in c.denies:
        for a in c.allows:
            if a in shadowed or not c.live[a] or not c.live[d]:
                continue
            sa, sd = c.sets[a], c.sets[d]
            overlap = sa & sd
            if overlap.is_empty() or sa <= sd:
                continue
            if sd < sa:
                found.append(((GENERALISED.code, d, a), _generalisation_finding(c, d, a)))
            elif not sd <= sa:
                found.append(((CORRELATED.code, a, d), _correlation_finding(c, a, d, overlap)))

    allowed = m.allowed()
    found += _unreachable_zones(
        c, lambda z: not (allowed & m.own_addresses(z, "dst") - m.own_addresses(z, "src")).is_empty())
    return _ordered(found)


def _cap(positions: list[int]) -> _Named:
    ordered = sorted(positions)
    return _Named(tuple(ordered[:NAMED]), len(ordered) > NAMED)


__all__ = ["RULES", "find_anomalies", "find_anomalies_naive"]
