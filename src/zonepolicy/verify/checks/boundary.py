"""Boundary checks: access control at zone boundaries (GB/T 22239 安全区域边界)."""

from __future__ import annotations

from typing import Iterator

from ..findings import Finding
from ..packs import Rule
from . import Context, check


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
    for flow in ctx.flows_into(unenforced):
        part = unenforced & ctx.meaning.flow_set(flow)
        yield ctx.finding(
            rule, f"flow {flow.id} allows traffic that crosses no declared firewall",
            packets=part, flows=(flow,),
            zones=[z for e in flow.sources + flow.destinations for z in e.zones],
        )
