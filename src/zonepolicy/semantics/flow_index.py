"""Which flows can match a packet, given the zones of its source and destination.

:meth:`Meaning.decide` used to test every flow of the policy against every packet; most of them
name zones the packet is not in. A flow's side can match a packet only when the packet's zone on
that side is one of the zones the side names, or when the side names addresses (an address object
or literal can hold addresses of any zone, and of no zone). So for each (source zone, destination
zone) the candidate flows are known before looking at the packet, and of each candidate only what
the zones cannot settle is left to check: the address endpoints of a side whose zones did not
match, and the services.

The index is built lazily, per zone and per pair actually asked about: a province has thousands
of zones and most pairs never see a packet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..model.policy import Endpoint, Flow

#: (family, first, last) address ranges of a side's address endpoints.
Ranges = tuple[tuple[int, int, int], ...]

#: Past this many cached pairs the cache starts over (a long capture over a province could see
#: millions of pairs; rebuilding one costs about as much as one plain scan).
MAX_PAIRS = 200_000


@dataclass(frozen=True, slots=True)
class Candidate:
    """A flow that may match packets of one zone pair; ``None`` ranges: that side already matches."""

    position: int
    flow: Flow
    src_ranges: Ranges | None
    dst_ranges: Ranges | None


class _Side:
    """One side (sources or destinations) of every flow, indexed by the zones it names."""

    def __init__(self, sides: Sequence[tuple[Endpoint, ...]]) -> None:
        self._zone_sets: list[frozenset[str]] = []
        self.ranges: list[Ranges] = []
        # Zone tuples are shared by the resolver (one per subtree): index each distinct tuple once,
        # so a `*` named by a thousand flows costs one pass over the zones, not a thousand.
        by_tuple: dict[int, tuple[tuple[str, ...], list[int]]] = {}
        addressed: list[int] = []
        for i, endpoints in enumerate(sides):
            zones: set[str] = set()
            ranges: list[tuple[int, int, int]] = []
            for ep in endpoints:
                if ep.is_zone:
                    entry = by_tuple.setdefault(id(ep.zones), (ep.zones, []))
                    if not entry[1] or entry[1][-1] != i:
                        entry[1].append(i)
                    zones.update(ep.zones)
                else:
                    ranges.extend((n.version, int(n.network_address), int(n.broadcast_address))
                                  for n in ep.networks)
            self._zone_sets.append(frozenset(zones))
            self.ranges.append(tuple(ranges))
            if ranges:
                addressed.append(i)
        self._tuples_of_zone: dict[str, list[int]] = {}
        self._flows_of_tuple: dict[int, list[int]] = {}
        for key, (names, flows) in by_tuple.items():
            self._flows_of_tuple[key] = flows
            for z in set(names):
                self._tuples_of_zone.setdefault(z, []).append(key)
        self._addressed = frozenset(addressed)
        self._per_zone: dict[str | None, frozenset[int]] = {}

    def flows_for(self, zone: str | None) -> frozenset[int]:
        """Positions of the flows whose side can match an address of ``zone`` (None: of no zone)."""
        found = self._per_zone.get(zone)
        if found is None:
            out = set(self._addressed)
            if zone is not None:
                for key in self._tuples_of_zone.get(zone, ()):
                    out.update(self._flows_of_tuple[key])
            found = self._per_zone[zone] = frozenset(out)
        return found

    def settled_by_zone(self, position: int, zone: str | None) -> bool:
        return zone is not None and zone in self._zone_sets[position]


class FlowIndex:
    """The candidate flows of each (source zone, destination zone), in policy order."""

    def __init__(self, flows: Sequence[Flow]) -> None:
        self._flows = tuple(flows)
        self._src = _Side([f.sources for f in self._flows])
        self._dst = _Side([f.destinations for f in self._flows])
        self._pairs: dict[tuple[str | None, str | None], tuple[Candidate, ...]] = {}

    def candidates(self, src_zone: str | None, dst_zone: str | None) -> tuple[Candidate, ...]:
        key = (src_zone, dst_zone)
        found = self._pairs.get(key)
        if found is None:
            if len(self._pairs) >= MAX_PAIRS:
                self._pairs.clear()
            found = self._pairs[key] = self._build(src_zone, dst_zone)
        return found

    def _build(self, sz: str | None, dz: str | None) -> tuple[Candidate, ...]:
        src, dst = self._src, self._dst
        out = []
        for i in sorted(src.flows_for(sz) & dst.flows_for(dz)):
            out.append(Candidate(
                i, self._flows[i],
                None if src.settled_by_zone(i, sz) else src.ranges[i],
                None if dst.settled_by_zone(i, dz) else dst.ranges[i],
            ))
        return tuple(out)


def in_ranges(family: int, address: int, ranges: Ranges) -> bool:
    for fam, lo, hi in ranges:
        if fam == family and lo <= address <= hi:
            return True
    return False
