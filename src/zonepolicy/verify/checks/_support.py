"""Shared helpers of the grading, architecture and boundary checks (GB/T 22239 / 22240 pack).

Everything here builds packet sets *once per verification* — by level, by zone kind, by zone tree —
and caches them on the :class:`Context`, so that a check costs a few set operations plus one pass
over the flows that could offend, never a loop over pairs of zones. Flow-level blame is computed
only for flows that a cheap structural test (options, endpoint zones) cannot already clear.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

from ...diagnostics import Span
from ...model.policy import Endpoint, Flow
from ...model.values import Action, ZoneKind
from ...semantics.packetset import PacketSet
from ..findings import Finding
from ..packs import Rule
from . import Context

def cached(ctx: Context, key: tuple, make: Callable[[], object]):
    """Memoise ``make()`` on the context: several rules share the same sets."""
    found = ctx._cache.get(key)
    if found is None:
        found = ctx._cache[key] = make()
    return found


def children(ctx: Context) -> dict[str, tuple[str, ...]]:
    """Zone name → names of its direct sub-zones (built once)."""
    def make() -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {}
        for z in ctx.policy.zones:
            if z.parent is not None:
                out.setdefault(z.parent, []).append(z.name)
        return {k: tuple(v) for k, v in out.items()}
    return cached(ctx, ("bgb", "children"), make)


def with_descendants(ctx: Context, names: Iterable[str]) -> frozenset[str]:
    """The zones and all their sub-zones at any depth."""
    kids = children(ctx)
    out: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out.add(name)
        todo.extend(kids.get(name, ()))
    return frozenset(out)


def ancestors(ctx: Context, name: str) -> Iterator[str]:
    """The declared ancestors of a zone, nearest first."""
    parent = ctx.zones[name].parent
    while parent is not None:
        yield parent
        parent = ctx.zones[parent].parent


def kinds_param(rule: Rule, name: str, default: Iterable[str]) -> frozenset[ZoneKind]:
    """Zone kinds named by a rule parameter; an unknown kind is a pack error and says which."""
    raw = rule.param(name, tuple(default))
    if isinstance(raw, str):
        raw = (raw,)
    try:
        return frozenset(ZoneKind(str(k)) for k in raw)
    except ValueError as err:
        raise ValueError(f"rule {rule.code}: parameter {name}: {err}") from None


def zones_at(ctx: Context, rule: Rule) -> tuple[str, ...]:
    """Zones graded at one of the levels the rule applies to."""
    return ctx.zones_where(lambda z: rule.applies_to_level(z.level))


def zones_of(ctx: Context, kinds: frozenset[ZoneKind]) -> tuple[str, ...]:
    """Zones of the given kinds (kinds are inherited, so sub-zones come along)."""
    return ctx.zones_where(lambda z: z.kind in kinds)


def src(ctx: Context, zones: Iterable[str]) -> PacketSet:
    """Packets whose source is an own address of one of ``zones`` (cached per zone set)."""
    key = frozenset(zones)
    return cached(ctx, ("bgb", "src", key), lambda: ctx.src(key))


def dst(ctx: Context, zones: Iterable[str]) -> PacketSet:
    """Packets whose destination is an own address of one of ``zones`` (cached per zone set)."""
    key = frozenset(zones)
    return cached(ctx, ("bgb", "dst", key), lambda: ctx.dst(key))


def touching(ctx: Context, zones: Iterable[str]) -> PacketSet:
    """Packets with the source or the destination in one of ``zones``."""
    key = frozenset(zones)
    return cached(ctx, ("bgb", "touch", key), lambda: src(ctx, key) | dst(ctx, key))


def crossing(ctx: Context) -> PacketSet:
    """Allowed packets between two different zones (or involving an address of no zone)."""
    return cached(ctx, ("bgb", "crossing"), lambda: ctx.allowed - ctx.meaning.same_zone())


def by_stance(ctx: Context) -> PacketSet:
    """Allowed packets that no flow matches: let through by the ``default``/``intrazone`` stance."""
    return cached(ctx, ("bgb", "stance"), lambda: ctx.allowed - ctx.meaning.matched(Action.ALLOW))


def traffic_finding(ctx: Context, rule: Rule, message: str, packets: PacketSet, *, flows: tuple[Flow, ...] = (),
                    span: Span | None = None) -> Finding:
    """A finding about ``packets`` that names the zones of its witness (picked once, not twice)."""
    zones: tuple[str, ...] = ()
    if not packets.is_empty():
        w = ctx.render(packets)[0]  # cached: ctx.finding reuses it
        zones = tuple(z for z in (ctx.meaning.zone_of(w.family, w.src), ctx.meaning.zone_of(w.family, w.dst)) if z)
    return ctx.finding(rule, message, span=span, packets=packets, flows=flows, zones=zones)


def is_wildcard(ep: Endpoint) -> bool:
    """``*`` / ``zone(*)``, or an address endpoint that holds a whole address family."""
    if ep.is_zone:
        return ep.text.replace(" ", "") in ("*", "zone(*)")
    return any(net.prefixlen == 0 for net in ep.networks)


def may_reach(flow: Flow, zones: frozenset[str], side: str) -> bool:
    """Cheap structural test: could the flow's ``side`` endpoints hold an address of ``zones``?

    A zone endpoint can only if it names one of them; an address endpoint always might (its
    addresses may lie in any zone), so it is left to the exact sets.
    """
    endpoints = flow.sources if side == "src" else flow.destinations
    return any(not ep.is_zone or not zones.isdisjoint(ep.zones) for ep in endpoints)


def blame(ctx: Context, rule: Rule, offending: PacketSet, *, message: Callable[[Flow], str | None],
          candidates: Iterable[Flow] | None = None, stance: str | None = None) -> Iterator[Finding]:
    """One finding per allow flow that lets part of ``offending`` through; one for the rest.

    ``candidates`` limits the flows considered (default: every allow flow); ``message`` gives the
    finding's text for a flow, or None to excuse it. When ``stance`` is given, packets that no allow
    flow matches (let through by the ``default``/``intrazone`` action) are reported once at the
    policy header with that text.
    """
    if offending.is_empty():
        return
    flows = ctx.allow_flows() if candidates is None else tuple(candidates)
    for flow, part in ctx.meaning.flows_meeting(flows, offending):
        text = message(flow)
        if text is None:
            continue
        yield traffic_finding(ctx, rule, text, part, flows=(flow,))
    if stance is not None:
        rest = offending & by_stance(ctx)
        if not rest.is_empty():
            yield traffic_finding(ctx, rule, stance, rest, span=ctx.policy.span)
