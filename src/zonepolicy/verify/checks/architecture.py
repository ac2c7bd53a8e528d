"""Checks of the architecture family: GB/T 22239 安全通信网络 / 网络架构 (zoning, addresses, isolation)."""

from __future__ import annotations

from typing import Iterator

from ...model.policy import Flow
from ...semantics.packetset import PacketSet
from ..findings import Finding
from ..packs import Rule
from . import Context, check
from ._support import blame, children, crossing, dst, kinds_param, src, touching, with_descendants, zones_of


@check("address-plan")
def address_plan(ctx: Context, rule: Rule) -> Iterator[Finding]:
    """Every graded zone has an address plan: networks of its own or of its sub-zones.

    Anti-pattern: ``zone billing { level 3 }`` with no ``networks`` and no sub-zones — the zone
    exists on paper, but no packet can ever be in it, so no flow to it means anything and no
    firewall can enforce its boundary (7.1.2.1 a: 为各网络区域分配地址).
    Best practice: give the zone its prefixes, or make it a parent whose sub-zones hold them.
    Overlapping zones are resolver errors (ZP203), so they are not checked again here.
    """
    kids = children(ctx)
    for z in ctx.policy.zones:
        if not rule.applies_to_level(z.level) or z.is_any or z.networks:
            continue
        tree = with_descendants(ctx, kids.get(z.name, ()))
        if any(ctx.zones[d].networks or ctx.zones[d].is_any for d in tree):
            continue  # a parent that groups addressed sub-zones
        yield ctx.finding(rule, f"zone {z.name} (level {z.level}) has no networks, and no sub-zone has any",
                          span=z.span, zones=(z.name,))


def _own_interfaces(ctx: Context, zone: str, tree: frozenset[str]) -> list[tuple[str, str, tuple[str, ...]]]:
    """(firewall, interface, zones) for every interface that binds ``zone`` and nothing outside its tree."""
    out = []
    for fw in ctx.policy.firewalls:
        for iface in fw.interfaces:
            if zone in iface.zones and set(iface.zones) <= tree:
                out.append((fw.name, iface.name, iface.zones))
    return out


def _shared_with(ctx: Context, zone: str, tree: frozenset[str]) -> list[str]:
    """Human text: the interfaces that bind ``zone`` and which other zones share them."""
    out = []
    for fw in ctx.policy.firewalls:
        for iface in fw.interfaces:
            if zone in iface.zones:
                others = sorted(set(iface.zones) - tree)
                shown = ", ".join(others[:3]) + (" …" if len(others) > 3 else "")
                out.append(f"{fw.name} {iface.name} (shared with {shown})")
    return out


@check("important-isolated")
def important_isolated(ctx: Context, rule: Rule) -> Iterator[Finding]:
    """Important zones (重要网络区域) are not at the border and are reliably isolated.

    Anti-pattern: ``allow internet -> dedicated.police : https`` — an important zone reached straight
    from outside (部署在边界处); or an important zone bound to a firewall interface together with
    other zones, so traffic between it and its neighbours never crosses that firewall.
    Best practice: reach important zones only through intermediate zones, and give each one a
    firewall interface of its own through which all its traffic passes.
    Our reading of 7.1.2.1 b / 8.1.2.1 d (the standard defines neither term):

    * not at the border: allowed ∩ ((src(I) ∩ dst(E)) ∪ (src(E) ∩ dst(I))) = ∅, I the important zones
      (with their sub-zones) graded at the rule's levels, E the zones of ``external-kinds``;
    * reliable isolation: each important zone is bound, on some firewall, to an interface that binds
      nothing but the zone and its sub-zones; and every allowed packet between the zone and any other
      zone enters or leaves through such an interface.
    """
    roots = sorted(z.name for z in ctx.policy.zones if z.important and rule.applies_to_level(z.level))
    if not roots:
        return
    important = with_descendants(ctx, roots)
    external = zones_of(ctx, kinds_param(rule, "external-kinds", ["external"]))
    if external:
        direct = crossing(ctx) & ((src(ctx, important) & dst(ctx, external)) |
                                  (src(ctx, external) & dst(ctx, important)))
        yield from blame(
            ctx, rule, direct,
            message=lambda f: f"flow {f.id} allows traffic directly between an important zone and an external zone",
            stance="the policy's `default allow` lets traffic pass directly between an important zone and an "
                   "external zone (no flow matches it)",
        )
    for root in roots:
        tree = with_descendants(ctx, [root])
        if not any(ctx.zones[z].networks or ctx.zones[z].is_any for z in tree):
            continue  # holds no address: nothing to isolate
        own = _own_interfaces(ctx, root, tree)
        if not own:
            shared = _shared_with(ctx, root, tree)
            more = f"; and {len(shared) - 3} more" if len(shared) > 3 else ""
            where = ("; it is bound only to " + "; ".join(shared[:3]) + more) if shared else "; no firewall binds it"
            yield ctx.finding(rule, f"important zone {root} sits behind no firewall interface of its own{where}",
                              span=ctx.zones[root].span, zones=(root,))
            continue
        guarded = PacketSet.empty()
        for fw_name, _iface, zones in own:
            guarded = guarded | (ctx.meaning.firewall_scope(ctx.policy.firewall(fw_name)) & touching(ctx, zones))
        inside_src, inside_dst = src(ctx, tree), dst(ctx, tree)
        boundary = crossing(ctx) & ((inside_src - inside_dst) | (inside_dst - inside_src))
        bypass = boundary - guarded
        names = ", ".join(f"{fw} {iface}" for fw, iface, _ in own)

        def message(f: Flow, root: str = root, names: str = names) -> str:
            return f"flow {f.id} reaches important zone {root} without crossing its own firewall interface ({names})"

        yield from blame(
            ctx, rule, bypass, message=message,
            stance=f"the policy's `default allow` lets traffic reach important zone {root} without crossing its "
                   f"own firewall interface ({names})",
        )
