"""Checks on how zones share the address space.

Zones form a tree by dotted name; a sub-zone's networks lie inside its parent's, and apart from
that no two zones share an address, so every address has exactly one most specific zone. The
``networks any`` zone (at most one) takes every address no other zone claims.
"""

from __future__ import annotations

from ..diagnostics import Diagnostic, Span
from .policy import Zone


def is_ancestor(a: str, b: str) -> bool:
    """True when zone ``a`` is a strict ancestor of zone ``b`` by dotted name."""
    return b.startswith(a + ".")


def check_zone_networks(zones: tuple[Zone, ...]) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    by_name = {z.name: z for z in zones}
    any_zones = [z for z in zones if z.is_any]
    for extra in any_zones[1:]:
        diags.append(Diagnostic("ZP220", f"zones '{any_zones[0].name}' and '{extra.name}' both claim 'networks any'",
                                extra.span, hint="one zone (usually the internet) takes every unclaimed address",
                                related=(("first claim", any_zones[0].span),)))
    diags += _overlaps([z for z in zones if not z.is_any])
    for z in zones:
        parent = by_name.get(z.parent) if z.parent else None
        if parent is None or parent.is_any or not parent.networks:
            continue
        if z.is_any:
            diags.append(Diagnostic("ZP204", f"sub-zone '{z.name}' claims 'networks any' inside '{parent.name}'",
                                    z.span, hint="a sub-zone's networks lie inside its parent's"))
            continue
        outer = [_bounds(p) for p in parent.networks]
        for net in z.networks:
            version, first, last = _bounds(net)
            if not any(v == version and f <= first and last <= l for v, f, l in outer):
                diags.append(Diagnostic(
                    "ZP204", f"network {net} of sub-zone '{z.name}' lies outside its parent '{parent.name}'",
                    z.span, hint=f"{parent.name} has {', '.join(map(str, parent.networks))}; move the network "
                    f"or widen the parent", related=(("parent zone", parent.span),) if parent.span else ()))
    return diags


def _bounds(net) -> tuple[int, int, int]:
    """(version, first address, last address) as integers: ``a.subnet_of(b)`` is then two integer
    comparisons (same version, b's range holds a's), without ipaddress's per-call checks."""
    first = int(net.network_address)
    return (net.version, first, first + net.num_addresses - 1)


def _overlaps(zones: list[Zone]) -> list[Diagnostic]:
    entries = sorted(((_bounds(n), n, z) for z in zones for n in z.networks),
                     key=lambda e: (e[0][0], e[0][1], e[1].prefixlen, e[2].name))
    stack: list = []
    reported: set[tuple[str, str]] = set()
    diags: list[Diagnostic] = []
    for (version, first, last), net, zone in entries:
        while stack and not (stack[-1][0][0] == version and stack[-1][0][1] <= first and last <= stack[-1][0][2]):
            stack.pop()
        if stack:
            _, outer_net, outer = stack[-1]
            related = not (is_ancestor(outer.name, zone.name) or is_ancestor(zone.name, outer.name))
            key = (outer.name, zone.name)
            if outer.name != zone.name and related and key not in reported:
                reported.add(key)
                diags.append(Diagnostic(
                    "ZP203", f"zone '{zone.name}' ({net}) overlaps zone '{outer.name}' ({outer_net})",
                    zone.span or Span("<input>", 1, 1, 1, 2),
                    hint=f"give each zone its own addresses, or make it a sub-zone: zone {outer.name}.{zone.name.split('.')[-1]}",
                    related=(("the other zone", outer.span),) if outer.span else ()))
        stack.append(((version, first, last), net, zone))
    return diags
