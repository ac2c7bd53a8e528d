"""Boundary checks: access control at zone boundaries (GB/T 22239 安全区域边界)."""

from __future__ import annotations

from typing import Callable, Iterator

from ...model.policy import Flow
from ...model.values import PORT_PROTOCOLS, Action, PortRange, ServiceTerm, format_service_term, parse_service_literal
from ...semantics.packetset import PacketSet
from ..findings import Finding
from ..packs import Rule
from . import Context, check
from ._support import (blame, by_stance, cached, crossing, dst, is_wildcard, kinds_param, may_reach, src, touching,
                       traffic_finding, zones_at, zones_of)


@check("boundary-enforced")
def boundary_enforced(ctx: Context, rule: Rule) -> Iterator[Finding]:
    """Every allowed packet between two different zones crosses a declared firewall.

    Anti-pattern: a flow between zones whose interfaces no firewall binds — the policy allows it,
    but nothing enforces the boundary (no 受控接口).
    Best practice: bind both zones to interfaces of the firewall that stands between them.
    Only zones graded at one of the rule's levels (as source or destination) are considered.
    """
    graded = ctx.zones_where(lambda z: rule.applies_to_level(z.level))
    if not graded:
        return
    crossing = ctx.allowed - ctx.meaning.same_zone()
    scope = (ctx.src(graded) | ctx.dst(graded)) & crossing
    unenforced = scope - ctx.enforced_anywhere()
    if unenforced.is_empty():
        return
    for flow, part in ctx.meaning.flows_meeting(ctx.allow_flows(), unenforced):
        yield ctx.finding(
            rule, f"flow {flow.id} allows traffic that crosses no declared firewall",
            packets=part, flows=(flow,),
            zones=[z for e in flow.sources + flow.destinations for z in e.zones],
        )


# ---------------------------------------------------------------- default deny (BND-02, BND-03)


def _graded(ctx: Context) -> tuple[str, ...]:
    """Zones with a protection level: the system; every other address is outside it."""
    return ctx.zones_where(lambda z: z.level is not None)


@check("default-deny-boundary")
def default_deny_boundary(ctx: Context, rule: Rule) -> Iterator[Finding]:
    """Default deny at the network boundary: the policy's ``default`` is ``deny``.

    Anti-pattern: ``default allow`` — every packet that no flow names passes, so the boundary of
    the system lets in whatever nobody thought of (6.1.3.2 a: 默认情况下除允许通信外受控接口拒绝所有通信).
    Best practice: ``default deny`` and one flow per needed communication.
    The finding shows the packets the default lets across the network boundary: between a zone
    graded at the rule's levels and an address outside every graded zone (external, classified,
    ungraded or no zone).
    """
    graded_here = zones_at(ctx, rule)
    if ctx.policy.default is not Action.ALLOW or not graded_here:
        return
    system = _graded(ctx)
    everything = PacketSet.universe()
    by_default = by_stance(ctx) - ctx.meaning.same_zone()
    leaking = by_default & ((src(ctx, graded_here) & (everything - dst(ctx, system))) |
                            ((everything - src(ctx, system)) & dst(ctx, graded_here)))
    yield traffic_finding(ctx, rule, "the policy's default action is allow: packets that no flow matches cross "
                                     "the network boundary of graded zones", leaking, span=ctx.policy.span)


@check("default-deny-zones")
def default_deny_zones(ctx: Context, rule: Rule) -> Iterator[Finding]:
    """Default deny between zones, and no flow that stands in for a default allow between them.

    Anti-pattern: ``default allow`` with zones graded 2 or higher (7.1.3.2 a: 在网络边界或区域之间 …
    默认拒绝); or ``allow public -> public`` with no services — every packet between the sub-zones of
    ``public`` passes, an ``intrazone allow`` stretched across sub-zone boundaries.
    Best practice: ``default deny``, and flows between sub-zones that name their services.
    By the semantics the ``intrazone`` action never applies across a sub-zone boundary (a sub-zone
    is a different most specific zone), so what is checkable is (1) packets between two graded zones
    that the default lets through and (2) allow flows without any service restriction whose sources
    and destinations share zones, for their packets between different zones of that shared part.
    """
    graded_here = zones_at(ctx, rule)
    if not graded_here:
        return
    near = touching(ctx, graded_here)
    if ctx.policy.default is Action.ALLOW:
        system = _graded(ctx)
        between = (by_stance(ctx) - ctx.meaning.same_zone()) & near & src(ctx, system) & dst(ctx, system)
        if not between.is_empty():
            yield traffic_finding(ctx, rule, "the policy's default action is allow: packets between zones that "
                                             "no flow matches pass", between, span=ctx.policy.span)
    everything = PacketSet.universe()
    for flow in ctx.allow_flows():
        if ctx.meaning.services_set(flow.services) != everything:
            continue
        from_zones = {z for e in flow.sources if e.is_zone for z in e.zones}
        shared = frozenset(from_zones.intersection(z for e in flow.destinations if e.is_zone for z in e.zones))
        if not shared:
            continue
        part = ctx.meaning.flow_set(flow) & crossing(ctx) & near & src(ctx, shared) & dst(ctx, shared)
        if part.is_empty():
            continue
        yield traffic_finding(ctx, rule, f"flow {flow.id} allows every packet between different zones of "
                                         f"{_written(flow)}: a blanket allow across sub-zone boundaries",
                              part, flows=(flow,))


def _written(flow: Flow) -> str:
    """The flow's endpoints as written, for messages."""
    return (", ".join(e.text for e in flow.sources) + " -> " + ", ".join(e.text for e in flow.destinations))


# ---------------------------------------------------------------- explicit five-tuple (BND-10)


def _all_ports(ranges: list[PortRange]) -> bool:
    """Whether the ranges leave no port from 1 to 65535 out (port 0 is not a service)."""
    reach = 0
    for r in sorted(ranges):
        if r.lo > reach + 1:
            return False
        reach = max(reach, r.hi)
    return reach >= 65535


def _wide_terms(ctx: Context, flow: Flow) -> list[tuple[str, list[ServiceTerm]]]:
    """(what to say, terms) for each way the flow's services fail to name protocol and ports.

    ``ip/any`` names no protocol; ``tcp/any`` no port; and terms of one port protocol whose ranges
    together cover every port (``tcp/1-1000, tcp/1001-65535``) are ``tcp/any`` in disguise.
    """
    # By the identity of the services tuple, which thousands of flows share (the entry keeps the
    # tuple alive, so its id is not reused meanwhile).
    key = ("wide-terms", id(flow.services))
    hit = ctx._cache.get(key)
    if hit is None or hit[0] is not flow.services:
        hit = ctx._cache[key] = (flow.services, _wide(flow.services))
    return hit[1]


def _wide(services: tuple[ServiceTerm, ...]) -> list[tuple[str, list[ServiceTerm]]]:
    out: list[tuple[str, list[ServiceTerm]]] = []
    by_protocol: dict[int, list[ServiceTerm]] = {}
    for t in services:
        if t.protocol is None:
            out.append(("`ip/any`", [t]))
        elif t.protocol in PORT_PROTOCOLS:
            if not t.ports:
                out.append((f"`{format_service_term(t)}`", [t]))
            else:
                by_protocol.setdefault(t.protocol, []).append(t)
    for terms in by_protocol.values():
        if _all_ports([r for t in terms for r in t.ports]):
            written = ", ".join(format_service_term(t) for t in terms)
            out.append((f"`{written}` (every port)", terms))
    return out


@check("explicit-five-tuple")
def explicit_five_tuple(ctx: Context, rule: Rule) -> Iterator[Finding]:
    """Allow flows name concrete addresses, protocols and ports — no any/any.

    Anti-pattern: ``allow * -> * : https``, ``allow office -> servers`` (no services: every protocol
    and port), ``: ip/any`` or ``: tcp/any`` — the firewall is asked to check the five-tuple
    (6.1.3.2 c: 对源地址、目的地址、源端口、目的端口和协议等进行检查) but is handed wildcards.
    Best practice: name the zones or address objects on both ends and each service with its ports.
    Our reading: a wildcard (``*``, or an address holding a whole family) on one end is acceptable
    when the other end is specific (e.g. ``mgmt -> *``); on both ends it is not. Reported for the
    allowed packets of the offending part that cross the boundary of a zone graded at the rule's levels.
    """
    graded_here = zones_at(ctx, rule)
    if not graded_here:
        return
    near = crossing(ctx) & touching(ctx, graded_here)
    for flow in ctx.allow_flows():
        problems: list[str] = []
        whole = False
        if any(is_wildcard(e) for e in flow.sources) and any(is_wildcard(e) for e in flow.destinations):
            problems.append("a wildcard on both ends")
            whole = True
        if not flow.services:
            problems.append("no services (every protocol and port)")
            whole = True
        wide = _wide_terms(ctx, flow)
        problems += [text for text, _ in wide]
        if not problems:
            continue
        part = ctx.meaning.flow_set(flow) & near
        if not whole:
            part = part & ctx.meaning.services_set(tuple(t for _, terms in wide for t in terms))
        if part.is_empty():
            continue
        yield traffic_finding(ctx, rule, f"flow {flow.id} is not specific: " + ", ".join(problems), part,
                              flows=(flow,))


# ---------------------------------------------------------------- flow options (BND-11 … BND-14)


def _levels_text(rule: Rule) -> str:
    """The rule's levels for a message: "3", "2 or higher" (a run up to 4), else "2/4"."""
    levels = rule.levels
    if len(levels) == 1:
        return str(levels[0])
    if levels == tuple(range(levels[0], 5)):
        return f"{levels[0]} or higher"
    return "/".join(map(str, levels))


def _missing_option(ctx: Context, rule: Rule, lacks: Callable[[Flow], bool], offending: PacketSet,
                    targets: frozenset[str], sides: tuple[str, ...], text: str) -> Iterator[Finding]:
    """Blame allow flows that lack an option for their part of ``offending``.

    ``targets``/``sides`` give the cheap structural pre-filter: a flow whose endpoints on every
    listed side name none of ``targets`` (and no address) cannot meet ``offending``.
    """
    if offending.is_empty():
        return
    candidates = [f for f in ctx.allow_flows()
                  if lacks(f) and any(may_reach(f, targets, side) for side in sides)]
    yield from blame(ctx, rule, offending, candidates=candidates,
                     message=lambda f: f"flow {f.id} {text}")


@check("stateful")
def stateful(ctx: Context, rule: Rule) -> Iterator[Finding]:
    """Session-state (stateful) control on flows touching zones graded 2 or higher.

    Anti-pattern: ``allow a -> b : tcp/5000 { stateless }`` — replies are then judged by reverse
    rules, not by the session, so the boundary cannot allow or deny by session state
    (7.1.3.2 d: 根据会话状态信息为进出数据流提供明确的允许/拒绝访问的能力).
    Best practice: keep flows stateful (the default).
    """
    graded_here = frozenset(zones_at(ctx, rule))
    if not graded_here:
        return
    yield from _missing_option(ctx, rule, lambda f: not f.options.stateful,
                               crossing(ctx) & touching(ctx, graded_here), graded_here, ("src", "dst"),
                               "is stateless but crosses the boundary of a zone graded "
                               + _levels_text(rule))


@check("app-inspection")
def app_inspection(ctx: Context, rule: Rule) -> Iterator[Finding]:
    """Application-layer inspection on flows entering level-3 zones from another zone.

    Anti-pattern: ``allow dedicated.tax -> public.dsp : https { log }`` into a level-3 zone — the
    boundary filters ports only (8.1.3.2 e: 基于应用协议和应用内容的访问控制).
    Best practice: ``inspect http`` (or the protocol's inspector) on every flow into the zone.
    Every allowed packet from a different zone (or an address of no zone) into a zone graded at the
    rule's levels must be let through by a flow that carries ``inspect``.
    """
    graded_here = frozenset(zones_at(ctx, rule))
    if not graded_here:
        return
    yield from _missing_option(ctx, rule, lambda f: f.options.inspect is None,
                               crossing(ctx) & dst(ctx, graded_here), graded_here, ("dst",),
                               "enters a zone graded " + _levels_text(rule) + " from another zone without `inspect`")


@check("protocol-break")
def protocol_break(ctx: Context, rule: Rule) -> Iterator[Finding]:
    """Data exchange with level-4 zones through a protocol-break gateway (``via``).

    Anti-pattern: ``allow public.dsp -> police : data-exchange`` — a packet filter between a level-4
    zone and the rest (9.1.3.2 e: 通过通信协议转换或通信协议隔离等方式进行数据交换).
    Best practice: exchange through a gateway zone (网闸/安全隔离与信息交换) and say so with
    ``via GATEWAY-ZONE``.
    Parameter ``direction``: ``in`` (flows into the zone) or ``both`` (the default in the pack: the
    text speaks of data exchange at the boundary, which runs either way).
    """
    graded_here = frozenset(zones_at(ctx, rule))
    if not graded_here:
        return
    direction = str(rule.param("direction", "both"))
    if direction not in ("in", "both"):
        raise ValueError(f"rule {rule.code}: parameter direction must be 'in' or 'both', not '{direction}'")
    scope = dst(ctx, graded_here) if direction == "in" else touching(ctx, graded_here)
    sides = ("dst",) if direction == "in" else ("src", "dst")
    yield from _missing_option(ctx, rule, lambda f: f.options.via is None, crossing(ctx) & scope,
                               graded_here, sides,
                               "exchanges data with a zone graded " + _levels_text(rule)
                               + " without `via` a protocol-break gateway zone")


@check("boundary-logging")
def boundary_logging(ctx: Context, rule: Rule) -> Iterator[Finding]:
    """Logging (``log``) on allow flows across the boundary of zones graded 2 or higher.

    Anti-pattern: ``allow city.* -> public.ca : ca`` without ``log`` — the boundary keeps no record
    of who used it (7.1.3.5 a: 在网络边界、重要网络节点进行安全审计，审计覆盖到每个用户).
    Best practice: ``log`` on every allow flow between zones.
    """
    graded_here = frozenset(zones_at(ctx, rule))
    if not graded_here:
        return
    yield from _missing_option(ctx, rule, lambda f: not f.options.log,
                               crossing(ctx) & touching(ctx, graded_here), graded_here, ("src", "dst"),
                               "crosses the boundary of a zone graded " + _levels_text(rule) + " without `log`")


# ---------------------------------------------------------------- separate audit (BND-15)


@check("separate-audit")
def separate_audit(ctx: Context, rule: Rule) -> Iterator[Finding]:
    """Remote access and internet access of level-3 zones are logged by flows of their own.

    Anti-pattern: ``allow remote, public.depts -> public.oa : edoc { log }`` — remote users' records
    are mixed with office users' in one rule's log; or remote access without ``log`` at all
    (8.1.3.5 d: 对远程访问的用户行为、访问互联网的用户行为等单独进行行为审计和数据分析).
    Best practice: one logged flow per remote-access pool or internet egress, carrying nothing else.
    Our reading: the traffic concerned is (a) from a zone of ``remote-kinds`` (remote-access,
    external) into a zone graded at the rule's levels and (b) from such a zone to a zone of
    ``egress-kinds`` (external). Every allow flow carrying some of it must ``log`` and must carry
    only traffic of that sort (from remote/external zones, or to external zones), so that its log is
    the separate record the clause asks for. A ticket is not required: it records approval, not use.
    """
    graded_here = frozenset(zones_at(ctx, rule))
    remote = frozenset(zones_of(ctx, kinds_param(rule, "remote-kinds", ["remote-access", "external"])))
    egress = frozenset(zones_of(ctx, kinds_param(rule, "egress-kinds", ["external"])))
    if not graded_here or not (remote or egress):
        return
    access = crossing(ctx) & ((src(ctx, remote) & dst(ctx, graded_here)) |
                              (src(ctx, graded_here) & dst(ctx, egress)))
    if access.is_empty():
        return
    other = crossing(ctx) - (src(ctx, remote) | dst(ctx, egress))
    # the rule runs once per level with the same kinds: find the flows concerned once
    near = cached(ctx, ("bnd15-near", remote, egress), lambda: [
        f for f in ctx.allow_flows() if may_reach(f, remote, "src") or may_reach(f, egress, "dst")])
    for flow in near:
        matched = ctx.meaning.flow_set(flow)
        part = matched & access
        if part.is_empty():
            continue
        if not flow.options.log:
            yield traffic_finding(ctx, rule, f"flow {flow.id} carries remote or internet access of a zone graded {_levels_text(rule)} "
                                             "without `log`", part, flows=(flow,))
        mixed = matched & other
        if not mixed.is_empty():
            yield traffic_finding(ctx, rule, f"flow {flow.id} mixes remote or internet access of a zone graded {_levels_text(rule)} "
                                             f"with other traffic (e.g. {mixed.pick()}), so its log cannot be "
                                             "audited separately", part, flows=(flow,))


# ---------------------------------------------------------------- management origin (MGT-01)


def _protocols(rule: Rule) -> dict[str, tuple[ServiceTerm, ...]]:
    """The ``protocols`` parameter: name → service literals (read as literals, not as the policy's
    service names, so that a policy redefining ``ssh`` cannot hide its management traffic)."""
    raw = dict(rule.param("protocols", ()))
    out: dict[str, tuple[ServiceTerm, ...]] = {}
    for name, literals in raw.items():
        items = (literals,) if isinstance(literals, str) else tuple(literals)
        try:
            out[str(name)] = tuple(parse_service_literal(str(x)) for x in items)
        except ValueError as err:
            raise ValueError(f"rule {rule.code}: protocol {name}: {err}") from None
    if not out:
        raise ValueError(f"rule {rule.code}: parameter protocols names no management protocol")
    return out


@check("management-origin")
def management_origin(ctx: Context, rule: Rule) -> Iterator[Finding]:
    """Management protocols reach zones graded 3 or higher only from management zones.

    Anti-pattern: ``allow public.depts -> backbone : ssh`` — administrators log in to devices from
    office terminals (8.1.4.4 c: 通过设定终端接入方式或网络地址范围对…管理终端进行限制; 8.1.5.4 a: 划分出特定的管理区域).
    Best practice: management protocols start only in a zone of kind management (bastion hosts).
    Exact: allowed ∩ services(protocols) ∩ dst(zones at the rule's levels) − src(management zones)
    − same-zone = ∅. Parameters: ``protocols`` (name → service literals), ``source-kinds``.
    """
    graded_here = frozenset(zones_at(ctx, rule))
    if not graded_here:
        return
    protocols = _protocols(rule)
    sets = {name: ctx.meaning.services_set(terms) for name, terms in protocols.items()}
    any_mgmt = PacketSet.empty()
    for s in sets.values():
        any_mgmt = any_mgmt | s
    managers = zones_of(ctx, kinds_param(rule, "source-kinds", ["management"]))
    offending = crossing(ctx) & any_mgmt & dst(ctx, graded_here)
    if managers:
        offending = offending - src(ctx, managers)

    def named(packets: PacketSet) -> str:
        return ", ".join(n for n, s in sets.items() if not (s & packets).is_empty())

    yield from blame(
        ctx, rule, offending,
        message=lambda f: (f"flow {f.id} lets management protocols ({named(ctx.meaning.flow_set(f) & offending)}) "
                           f"reach a zone graded {_levels_text(rule)} from outside the management zones"),
        stance=f"the policy's `default allow` lets management protocols reach zones graded {_levels_text(rule)} "
               "from outside the management zones (no flow matches them)",
    )
