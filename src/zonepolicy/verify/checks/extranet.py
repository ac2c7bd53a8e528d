"""Checks of the e-government extranet zone model (国家电子政务外网分区模型) and of mixed-level boundaries.

Every check here is *set-based*: it builds one packet set per zone kind (or per VPN, per level) from
the one meaning, intersects it with the allowed packets, and only then looks at flows to say who is
responsible. Nothing loops over pairs of zones, so a province (thousands of zones, tens of thousands
of flows) costs a handful of set operations plus one pass over the flows that actually offend.

Zone kinds are read from rule parameters (with the defaults below) so that a user pack can widen or
narrow a rule without new code.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

from ...model.policy import Flow, Zone
from ...model.values import Action, ZoneKind
from ...semantics.packetset import PacketSet
from ..findings import Finding
from ..packs import Rule
from . import Context, check
from ._support import kinds_param

FlowFilter = Callable[[Flow], bool]


# ---------------------------------------------------------------- helpers


def _names(rule: Rule, name: str, default: Iterable[str]) -> tuple[str, ...]:
    raw = rule.param(name, tuple(default))
    return (raw,) if isinstance(raw, str) else tuple(str(x) for x in raw)


def _of_kinds(ctx: Context, kinds: frozenset[ZoneKind]) -> tuple[str, ...]:
    return ctx.zones_where(lambda z: z.kind in kinds)


def _via_ok(ctx: Context, flow: Flow, kinds: frozenset[ZoneKind]) -> bool:
    """Whether the flow says it passes through a zone of one of ``kinds`` (``via`` option)."""
    via = flow.options.via
    zone = ctx.zones.get(via) if via else None
    return zone is not None and zone.kind in kinds


def _witness_zones(ctx: Context, packets: PacketSet) -> list[str]:
    p = packets.pick()
    if p is None:
        return []
    return [z for z in (ctx.meaning.zone_of(p.family, p.src), ctx.meaning.zone_of(p.family, p.dst)) if z]


def _involved(ctx: Context, flow: Flow, part: PacketSet) -> list[str]:
    """The zones of the flow's endpoints whose own addresses carry some of ``part``, plus the witness's.

    Only the offending flow's own endpoint zones are tested, so this stays linear in its endpoints.
    """
    out = _witness_zones(ctx, part)
    for side, endpoints in (("src", flow.sources), ("dst", flow.destinations)):
        for ep in endpoints:
            if not ep.is_zone:
                continue
            for z in ep.zones:
                if not (ctx.meaning.own_addresses(z, side) & part).is_empty():
                    out.append(z)
    return out


def _report(ctx: Context, rule: Rule, offending: PacketSet, what: str, *,
            excused: FlowFilter | None = None, flow_message: Callable[[Flow], str] | None = None) -> Iterator[Finding]:
    """One finding per allow flow that lets part of ``offending`` through, one for the rest.

    ``what`` completes "flow X allows …" and "the policy's default/intrazone action allows …".
    ``excused`` flows are not blamed (e.g. a flow marked ``via`` the right zone); packets that no
    allow flow matches are allowed by the ``default``/``intrazone`` stance and reported once.
    """
    if offending.is_empty():
        return
    for flow in ctx.flows_into(offending):
        if excused is not None and excused(flow):
            continue
        part = offending & ctx.meaning.flow_set(flow)
        message = flow_message(flow) if flow_message else f"flow {flow.id} allows {what}"
        yield ctx.finding(rule, message, packets=part, flows=(flow,), zones=_involved(ctx, flow, part))
    residual = offending - ctx.meaning.matched(Action.ALLOW)
    if not residual.is_empty():
        yield ctx.finding(rule, f"the policy's default/intrazone action allows {what} (no flow matches it)",
                          span=ctx.policy.span, packets=residual, zones=_witness_zones(ctx, residual))


# ---------------------------------------------------------------- EGOV-02


@check("internet-only-to-access-zone")
def internet_only_to_access_zone(ctx: Context, rule: Rule) -> Iterator[Finding]:
    """The internet reaches only the internet-access zone (互联网只到达互联网接入区).

    Anti-pattern: ``allow internet -> public.portal : https`` — a public service served straight from
    the public zone, so the internet opens connections into the extranet proper.
    Best practice: publish through a front end (reverse proxy/WAF) in the internet-access zone, which
    opens its own connection to the back end; remote staff come in through the secure access
    platform, whose decapsulated traffic has addresses of a remote-access pool, not of the internet.
    Exact: allowed ∩ src(external) ∩ dst(every zone not internet-access and not external) = ∅.
    Params: ``from-kinds`` (default external), ``to-kinds`` the destinations allowed (default
    internet-access, external).
    """
    sources = _of_kinds(ctx, kinds_param(rule, "from-kinds", ["external"]))
    if not sources:
        return
    permitted = kinds_param(rule, "to-kinds", ["internet-access", "external"])
    inside = ctx.zones_where(lambda z: z.kind not in permitted)
    offending = ctx.allowed & ctx.src(sources) & ctx.dst(inside)
    yield from _report(ctx, rule, offending,
                       "traffic from the internet to a zone other than the internet-access zone")


# ---------------------------------------------------------------- EGOV-06


@check("remote-access-via-platform")
def remote_access_via_platform(ctx: Context, rule: Rule) -> Iterator[Finding]:
    """Remote staff reach public and dedicated zones only through the secure access platform (安全接入平台).

    Anti-pattern: ``allow remote -> dedicated.market : https`` with no ``via``, or
    ``allow internet -> public.oa : https { via internet-access.sap }`` — the source is the internet,
    not the platform's address pool, so the packets do not come out of the platform at all.
    Best practice: one address pool (kind remote-access) per role, and every flow from a pool into
    the public or dedicated zone marked ``via`` the platform's zone in the internet-access zone.
    Two conditions on the allowed packets from ``from-kinds`` (remote-access, external) into
    ``to-kinds`` (public, dedicated): the allow flow that lets them through carries ``via`` a zone of
    ``via-kinds`` (internet-access); and the packets originate in a ``pool-kinds`` (remote-access)
    zone, because a packet leaving the platform carries a pool address.
    """
    from_kinds = kinds_param(rule, "from-kinds", ["remote-access", "external"])
    pool_kinds = kinds_param(rule, "pool-kinds", ["remote-access"])
    via_kinds = kinds_param(rule, "via-kinds", ["internet-access"])
    sources = _of_kinds(ctx, from_kinds)
    targets = _of_kinds(ctx, kinds_param(rule, "to-kinds", ["public", "dedicated"]))
    if not sources or not targets:
        return
    entering = ctx.allowed & ctx.src(sources) & ctx.dst(targets)
    if entering.is_empty():
        return
    via_names = "/".join(sorted(k.value for k in via_kinds))
    yield from _report(
        ctx, rule, entering, "remote traffic into the public or dedicated zone",
        excused=lambda f: _via_ok(ctx, f, via_kinds),
        flow_message=lambda f: (f"flow {f.id} lets remote or internet traffic into the public or dedicated zone "
                                f"without `via` a zone of kind {via_names} (the secure access platform)"
                                if not f.options.via else
                                f"flow {f.id} names `via {f.options.via}`, which is not a zone of kind {via_names}"),
    )
    # Flows that do say `via` the platform but whose packets do not come from a pool: the claim
    # cannot be true of those packets.
    bypass = entering - ctx.src(ctx.zones_where(lambda z: z.kind in pool_kinds))
    if bypass.is_empty():
        return
    for flow in ctx.flows_into(bypass):
        if not _via_ok(ctx, flow, via_kinds):
            continue  # already reported above
        part = bypass & ctx.meaning.flow_set(flow)
        yield ctx.finding(
            rule, f"flow {flow.id} is marked `via {flow.options.via}` but its packets come straight from "
                  f"the internet, not from a remote-access address pool of the platform",
            packets=part, flows=(flow,), zones=_involved(ctx, flow, part),
        )


# ---------------------------------------------------------------- EGOV-04


def _vpn_groups(ctx: Context, dedicated: tuple[str, ...]) -> dict[str, list[str]]:
    """Dedicated zones grouped by the VPN that carries them.

    A zone's VPN is its own ``vpn``, else the nearest dedicated ancestor's; a sub-tree with no
    ``vpn`` anywhere on the path is a VPN of its own, named after the child of the topmost
    dedicated zone that heads it (``dedicated.tax`` for ``dedicated.tax.hq``).
    """
    members = set(dedicated)
    groups: dict[str, list[str]] = {}
    for name in dedicated:
        chain: list[Zone] = []
        z: Zone | None = ctx.zones[name]
        while z is not None and z.name in members:
            chain.append(z)
            z = ctx.zones.get(z.parent) if z.parent else None
        vpn = next((c.vpn for c in chain if c.vpn), None)
        if vpn is not None:
            key = f"vpn {vpn}"
        else:
            head = chain[-2] if len(chain) >= 2 else chain[-1]
            key = f"sub-tree {head.name}"
        groups.setdefault(key, []).append(name)
    return groups


def _between_groups(ctx: Context, groups: list[list[str]]) -> PacketSet:
    """Packets from an own address of a zone of one group to one of a zone of another (groups of
    zones that share no zone)."""
    everyone = [z for zones in groups for z in zones]
    within = [ctx.src(zones) & ctx.dst(zones) for zones in groups]
    while len(within) > 1:
        within = [within[k] | within[k + 1] for k in range(0, len(within) - 1, 2)] + within[len(within) & ~1:]
    return (ctx.src(everyone) & ctx.dst(everyone)) - (within[0] if within else PacketSet.empty())


def _between_groups_by_scan(ctx: Context, groups: list[list[str]]) -> PacketSet:
    """:func:`_between_groups` group by group: the reference it is tested against."""
    all_dst = ctx.dst([z for zones in groups for z in zones])
    out = PacketSet.empty()
    for zones in groups:
        out = out | (ctx.src(zones) & (all_dst - ctx.dst(zones)))
    return out


@check("vpn-isolation")
def vpn_isolation(ctx: Context, rule: Rule) -> Iterator[Finding]:
    """Department VPNs in the dedicated zone are isolated from one another (专网之间相互隔离).

    Anti-pattern: ``allow dedicated.finance -> dedicated.tax : https`` — two MPLS VPNs talking
    directly, which the VRF design is meant to make impossible.
    Best practice: exchange between departments through the data-sharing platform in the public
    zone. Exact: no allowed packet goes from a zone of one VPN to a zone of another, i.e. from
    ``src(V) ∩ (dst(all dedicated) − dst(V))`` for some VPN ``V``. A zone belongs to one VPN and an
    address to one zone, so those sets are the dedicated-to-dedicated packets less the packets within
    one VPN, ``src(V) ∩ dst(V)``: small blocks, one per VPN, unioned pairwise.
    """
    dedicated = _of_kinds(ctx, kinds_param(rule, "kinds", ["dedicated"]))
    groups = _vpn_groups(ctx, dedicated)
    if len(groups) < 2:
        return
    offending = ctx.allowed & _between_groups(ctx, list(groups.values()))
    yield from _report(ctx, rule, offending, "traffic between two different department VPNs")


# ---------------------------------------------------------------- EGOV-05


@check("national-public-ip-only")
def national_public_ip_only(ctx: Context, rule: Rule) -> Iterator[Finding]:
    """Central ↔ local public zones talk only with national public IPs (仅允许国家公共IP互访).

    Anti-pattern: a flow from ``public`` (local public IPs included) to the national backbone.
    Best practice: declare the national public IP range assigned to the province as an address
    object (named by the rule's ``addresses`` parameter, default ``national-public-ip``), put the
    services that talk to the centre inside it, and deny the local range towards the centre.
    The public-zone end of every allowed packet between a ``national`` zone and a ``public`` zone
    must lie in that object; the national end is a national public IP by definition of the central
    public zone. When the policy declares no such object, nothing can be shown compliant and the
    finding says the object is missing.
    """
    national = _of_kinds(ctx, kinds_param(rule, "national-kinds", ["national"]))
    public = _of_kinds(ctx, kinds_param(rule, "public-kinds", ["public"]))
    if not national or not public:
        return
    wanted = _names(rule, "addresses", ["national-public-ip"])
    objects = [a for a in ctx.policy.addresses if a.name in wanted]
    nets = [n for a in objects for n in a.networks]
    npi_src = PacketSet.build(src=nets) if nets else PacketSet.empty()
    npi_dst = PacketSet.build(dst=nets) if nets else PacketSet.empty()
    up = ctx.src(public) & ctx.dst(national) - npi_src
    down = ctx.src(national) & ctx.dst(public) - npi_dst
    offending = ctx.allowed & (up | down)
    if offending.is_empty():
        return
    if objects:
        what = (f"traffic between a national zone and a public zone whose public-zone address is outside "
                f"{', '.join(a.name for a in objects)} (a local public IP)")
        yield from _report(ctx, rule, offending, what)
        return
    missing = " or ".join(wanted)
    yield from _report(
        ctx, rule, offending,
        f"traffic between a national zone and a public zone, but the policy declares no address object "
        f"{missing}, so none of it can be shown to use national public IPs",
    )


# ---------------------------------------------------------------- EGOV-03


def _classified_zones(ctx: Context) -> set[str]:
    """Zones that are classified or lie under a classified zone (a sub-zone of a 涉密 net is 涉密)."""
    memo: dict[str, bool] = {}

    def classified(name: str) -> bool:
        found = memo.get(name)
        if found is None:
            z = ctx.zones[name]
            found = z.classified or (z.parent is not None and classified(z.parent))
            memo[name] = found
        return found

    return {z.name for z in ctx.policy.zones if classified(z.name)}


@check("classified-physically-isolated")
def classified_isolated(ctx: Context, rule: Rule) -> Iterator[Finding]:
    """No path between the extranet and a classified network (与涉密网络物理隔离).

    Anti-pattern: any allow that lets a packet from a classified zone out, or into one; a firewall
    with an interface in the classified network and another in the extranet.
    Best practice: declare the classified network only to prove it unreachable: no allowed packet
    has exactly one end in a classified zone, and no firewall binds a classified zone together with
    any other zone (physical isolation means no shared enforcement point either). Offline one-way
    import is not network traffic and is not modelled.
    """
    classified = _classified_zones(ctx)
    if not classified:
        return
    names = sorted(classified)
    inside_src, inside_dst = ctx.src(names), ctx.dst(names)
    offending = ctx.allowed & ((inside_src - inside_dst) | (inside_dst - inside_src))
    yield from _report(ctx, rule, offending, "traffic between a classified zone and the extranet")
    for fw in ctx.policy.firewalls:
        bound = fw.zones()
        secret = [z for z in bound if z in classified]
        other = [z for z in bound if z not in classified]
        if secret and other:
            yield ctx.finding(
                rule, f"firewall {fw.name} binds classified zone(s) {', '.join(secret)} together with "
                      f"extranet zone(s) {', '.join(other[:5])}{' …' if len(other) > 5 else ''}",
                span=fw.span, zones=secret + other,
            )


# ---------------------------------------------------------------- EGOV-07


@check("internet-egress-via-access-zone")
def internet_egress_via_access_zone(ctx: Context, rule: Rule) -> Iterator[Finding]:
    """Staff internet traffic leaves through the internet-access zone (统一互联网出口).

    Anti-pattern: ``allow public.depts -> internet : web`` — a self-built exit from the public zone.
    Best practice: staff reach an exit proxy in the internet-access zone, and the proxy reaches the
    internet (two flows, the second originating in the internet-access zone); or, for a transparent
    exit gateway, the one flow is marked ``via`` a zone of the internet-access zone.
    Exact: every allowed packet from a ``from-kinds`` zone (public, dedicated, city) to an
    ``to-kinds`` zone (external) is let through only by flows marked ``via`` a ``via-kinds``
    (internet-access) zone; packets the default action allows are always reported.
    """
    sources = _of_kinds(ctx, kinds_param(rule, "from-kinds", ["public", "dedicated"]))
    targets = _of_kinds(ctx, kinds_param(rule, "to-kinds", ["external"]))
    if not sources or not targets:
        return
    via_kinds = kinds_param(rule, "via-kinds", ["internet-access"])
    offending = ctx.allowed & ctx.src(sources) & ctx.dst(targets)
    yield from _report(ctx, rule, offending,
                       "internet-bound traffic that does not leave through the internet-access zone",
                       excused=lambda f: _via_ok(ctx, f, via_kinds))


# ---------------------------------------------------------------- CLD-02


@check("level-boundary-controlled")
def level_boundary_controlled(ctx: Context, rule: Rule) -> Iterator[Finding]:
    """Zones of different protection levels meet only at a boundary with access control.

    Anti-pattern: a level-2 zone and a level-3 zone on one interface (or on no firewall at all)
    with flows between them: nothing applies the stricter level's rules at their boundary.
    Best practice: bind zones of different levels to different interfaces of a firewall.
    Exact: every allowed packet between two zones that both have a level, the levels differ and at
    least one is among the rule's levels, lies in the scope of some declared firewall. Zones are
    grouped by level (at most five groups), so the set is built from level × level terms.
    """
    by_level: dict[int, list[str]] = {}
    for z in ctx.policy.zones:
        if z.level is not None:
            by_level.setdefault(z.level, []).append(z.name)
    if len(by_level) < 2:
        return
    src = {lv: ctx.src(zs) for lv, zs in by_level.items()}
    dst = {lv: ctx.dst(zs) for lv, zs in by_level.items()}
    mixed = PacketSet.empty()
    for a in by_level:
        for b in by_level:
            if a != b and (a in rule.levels or b in rule.levels):
                mixed = mixed | (src[a] & dst[b])
    offending = (ctx.allowed & mixed) - ctx.enforced_anywhere()
    yield from _report(ctx, rule, offending,
                       "traffic between zones of different protection levels that crosses no declared firewall")
