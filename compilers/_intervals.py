"""Interval arithmetic for the parts of lowering whose operands are plain address or port lists.

The packet-set engine is exact for any set, but a BDD operation per endpoint list and interface, or
per rule, dominated compiling a large rule base. Where the operands are known to be simple — an
address constraint on one side only, a service list of port protocols, boxes that are products of
intervals — the same answers come from sorted intervals. Every function here states which
packet-set computation it stands for; tests/test_intervals.py checks each against it.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_left, bisect_right
from heapq import heappop, heappush
from typing import Iterable, Sequence

from zonepolicy.model.values import Network
from zonepolicy.semantics._engine import union_intervals as union  # the engine's canonical form
from zonepolicy.semantics.packetset import PacketSet

Interval = tuple[int, int]
PerFamily = dict[int, tuple[Interval, ...]]  # family -> sorted, merged intervals (families with none left out)

FULL8: tuple[Interval, ...] = ((0, 255),)
FULL16: tuple[Interval, ...] = ((0, 65535),)
_TOP = {4: (1 << 32) - 1, 6: (1 << 128) - 1}
PORT_PROTOCOLS = frozenset({6, 17, 132})
_HOST_MASK = {f: [(1 << (bits - plen)) - 1 for plen in range(bits + 1)] for f, bits in ((4, 32), (6, 128))}


def intersect(a: Sequence[Interval], b: Sequence[Interval]) -> tuple[Interval, ...]:
    """The intersection of two merged interval lists, merged (a linear walk of both)."""
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo = max(a[i][0], b[j][0])
        hi = min(a[i][1], b[j][1])
        if lo <= hi:
            if out and lo <= out[-1][1] + 1:
                out[-1] = (out[-1][0], max(hi, out[-1][1]))
            else:
                out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def overlaps(a: Sequence[Interval], b: Sequence[Interval]) -> bool:
    """Whether two sorted interval lists share a value."""
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i][0] <= b[j][1] and b[j][0] <= a[i][1]:
            return True
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return False


def of_networks(networks: Iterable[Network]) -> PerFamily:
    """Per-family merged intervals of a list of networks."""
    per: dict[int, list[Interval]] = {}
    for n in networks:
        lo = int(n.network_address)
        per.setdefault(n.version, []).append((lo, lo | _HOST_MASK[n.version][n.prefixlen]))
    return {f: union(per[f]) for f in (4, 6) if f in per}


class Prefixes(tuple):
    """A tuple of networks (what a target rule's address field holds) that also carries the merged
    intervals it was made from, so a back end need not convert the networks back."""

    ivs: tuple[Interval, ...]


_PREFIXES: dict[tuple[int, tuple[Interval, ...]], Prefixes] = {}
_PREFIXES_MAX = 1 << 17
_NET_CLASS = {4: ipaddress.IPv4Network, 6: ipaddress.IPv6Network}
_BITS = {4: 32, 6: 128}


def networks(family: int, ivs: tuple[Interval, ...]) -> Prefixes:
    """The prefixes of merged intervals, as ``PacketSet.boxes()`` writes an address field (the
    fewest aligned blocks, in address order: what ``ipaddress.summarize_address_range`` gives)."""
    key = (family, ivs)
    found = _PREFIXES.get(key)
    if found is None:
        if len(_PREFIXES) >= _PREFIXES_MAX:
            _PREFIXES.clear()
        cls, bits = _NET_CLASS[family], _BITS[family]
        out = []
        for lo, hi in ivs:
            while lo <= hi:
                size = (lo & -lo) if lo else 1 << bits
                while size > hi - lo + 1:
                    size >>= 1
                out.append(cls((lo, bits - size.bit_length() + 1)))
                lo += size
        found = _PREFIXES[key] = Prefixes(out)
        found.ivs = ivs
    return found


def ranges(nets: tuple[Network, ...]) -> tuple[Interval, ...]:
    """The merged intervals of one family's networks (read off when made by :func:`networks`)."""
    known = getattr(nets, "ivs", None)
    if known is not None:
        return known
    return union((int(n.network_address), int(n.network_address) | _HOST_MASK[n.version][n.prefixlen]) for n in nets)


def ip_text(family: int, value: int) -> str:
    """An address as ``ipaddress`` prints it (IPv4 by hand: the same text without building an object)."""
    if family == 4:
        return f"{value >> 24}.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}"
    return str(ipaddress.IPv6Address(value))


def network_text(n: Network) -> str:
    """``str(n)`` for a network, faster for IPv4."""
    if n.version == 4:
        return f"{ip_text(4, int(n.network_address))}/{n.prefixlen}"
    return str(n)


def address_intervals(s: PacketSet, side: str) -> PerFamily | None:
    """The per-family intervals of ``s`` if ``s`` constrains nothing but its ``side`` address
    ("src" or "dst"), i.e. ``s`` equals the union over families of ``build(family=f, side=ivs)``;
    ``None`` for any other set (the caller then takes the general path)."""
    other = "dst" if side == "src" else "src"
    out: PerFamily = {}
    for box in s.boxes():
        whole = ((0, _TOP[box.family]),)
        if (box.family in out or box.proto != FULL8 or box.sport != FULL16 or box.dport != FULL16
                or box.icmp_type != FULL8 or box.icmp_code != FULL8
                or of_networks(getattr(box, other)).get(box.family) != whole):
            return None
        out[box.family] = of_networks(getattr(box, side))[box.family]
    return out


ServiceBox = tuple[int, tuple[Interval, ...], tuple[Interval, ...], tuple[Interval, ...], tuple[Interval, ...]]


def port_service_boxes(services) -> dict[int, tuple[ServiceBox, ...]] | None:
    """Family -> service boxes ``(family, proto, dport, icmp_type, icmp_code)`` of a service list
    whose every term is TCP, UDP or SCTP, as the boxes of ``Meaning.services_set(services)`` within
    each family come out; ``None`` when some term is another protocol (or the list is empty).

    Such a set is, per protocol, that protocol's union of port ranges (all ports when a term has
    none), the same in both families. The engine groups protocols that lead to the same port set,
    in the order of their smallest protocol number, one box per group.
    """
    if not services:
        return None
    ports: dict[int, list[Interval]] = {}
    for t in services:
        if t.protocol not in PORT_PROTOCOLS:
            return None
        if t.icmp_type is not None or t.icmp_code is not None:
            return None
        have = ports.setdefault(t.protocol, [])
        have.extend([(r.lo, r.hi) for r in t.ports] if t.ports else [(0, 65535)])
    groups: dict[tuple[Interval, ...], list[Interval]] = {}
    for proto in sorted(ports):
        groups.setdefault(union(ports[proto]), []).append((proto, proto))
    out = {}
    for family in (4, 6):
        out[family] = tuple((family, union(protos), dport, FULL8, FULL8) for dport, protos in groups.items())
    return out


# ---- pairwise overlap of boxes
Box = tuple[int, tuple[Interval, ...], tuple[Interval, ...], tuple[Interval, ...], tuple[Interval, ...],
            tuple[Interval, ...], tuple[Interval, ...]]  # family, src, dst, proto, dport, icmp type, icmp code


def _meets(a: Box, b: Box) -> bool:
    return a[0] == b[0] and all(overlaps(x, y) for x, y in zip(a[1:], b[1:]))


def _pairs_meeting(spans: list[tuple[int, int]]) -> int:
    """How many pairs of the spans share a point (each span meets those opened before it and not closed)."""
    los = sorted(lo for lo, _ in spans)
    his = sorted(hi for _, hi in spans)
    return sum(bisect_right(los, lo) - 1 - bisect_left(his, lo) for lo, _ in spans)


def later_overlapping(groups: Sequence[Sequence[Box]], budget: int) -> set[int] | None:
    """Indices ``k`` of the groups some box of which shares a point with a box of an earlier group
    (raw boxes, before the universe is applied; a group's own boxes may overlap each other).

    Boxes that share no point are disjoint sets, so a group not in the result is disjoint from the
    union of the groups before it. ``None`` when more than ``budget`` candidate pairs would have to
    be compared (the caller then asks the engine). A sweep over one field's ranges (source,
    destination or port, whichever leaves the fewest candidate pairs): only boxes whose ranges in
    that field meet are compared.
    """
    flat: list[tuple[int, Box]] = [(k, box) for k, boxes in enumerate(groups) for box in boxes]
    best: tuple[int, list[tuple[int, int, int]]] | None = None
    for field in (1, 2, 4):  # src, dst, dport
        events = [(box[0] << 130 | lo, box[0] << 130 | hi, idx)
                  for idx, (_, box) in enumerate(flat) for lo, hi in box[field]]
        pairs = _pairs_meeting([(lo, hi) for lo, hi, _ in events])
        if best is None or pairs < best[0]:
            best = (pairs, events)
        if best[0] <= 4 * len(flat):  # a few comparisons per box: another field would not pay for itself
            break
    if best is None:
        return set()
    if best[0] > budget:
        return None
    events = best[1]
    events.sort()
    hit: set[int] = set()
    active: list[tuple[int, int]] = []  # a heap by hi of the boxes whose range is open
    for lo, hi, idx in events:
        while active and active[0][0] < lo:
            heappop(active)
        k, box = flat[idx]
        for _, a_idx in active:
            a_k, a_box = flat[a_idx]
            if a_k != k and max(a_k, k) not in hit and _meets(a_box, box):
                hit.add(max(a_k, k))
        heappush(active, (hi, idx))
    return hit
