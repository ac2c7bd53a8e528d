"""Checks of the grading family: GB/T 22240-2020 定级 and the levels the rest of the pack relies on."""

from __future__ import annotations

from dataclasses import replace
from typing import Iterator

from ...model.policy import Zone
from ..findings import Finding, Level
from ..packs import Rule
from . import Context, check
from ._support import ancestors, blame, crossing, kinds_param, touching, with_descendants


def _owns_addresses(zone: Zone) -> bool:
    return zone.is_any or bool(zone.networks)


def _declared_level(ctx: Context, zone: Zone) -> bool:
    """Whether the zone's level is its own rather than inherited from its parent.

    The resolved model keeps only the level, so a sub-zone repeating its parent's level reads as
    inherited; the parent then carries the note, which is where the grading inputs belong anyway.
    """
    if zone.parent is None:
        return True
    parent = ctx.zones[zone.parent]
    return parent.level != zone.level


@check("zone-graded")
def zone_graded(ctx: Context, rule: Rule) -> Iterator[Finding]:
    """Every zone that holds addresses carries a protection level (GB/T 22240 定级).

    Anti-pattern: a zone of the system with neither ``level`` nor ``grading`` — no requirement of
    GB/T 22239 can be applied to it, so every level-scoped rule silently skips it.
    Best practice: give each zone a ``grading { business-info …; system-service … }`` block, so the
    level is max(S, A) by the GB/T 22240 matrix (the resolver rejects a ``level`` that disagrees).
    A zone that declares ``level`` without grading inputs is reported as a note: the level is
    asserted, not derived. Zones of the ``exempt-kinds`` (external, classified), classified zones and
    zones that own no address (pure parents) are not graded.
    """
    exempt = kinds_param(rule, "exempt-kinds", ["external", "classified"])
    for z in ctx.policy.zones:
        if z.kind in exempt or z.classified or not _owns_addresses(z):
            continue
        if z.level is None:
            yield ctx.finding(rule, f"zone {z.name} has no protection level (neither `level` nor `grading`)",
                              span=z.span, zones=(z.name,))
        elif z.grading is None and rule.applies_to_level(z.level) and _declared_level(ctx, z):
            note = ctx.finding(
                rule, f"zone {z.name} declares level {z.level} without grading inputs (GB/T 22240 定级要素)",
                span=z.span, zones=(z.name,),
                hint="add a grading block (business-info and system-service: harmed object and degree) so the "
                     "level is derived and checked, not only asserted")
            yield replace(note, level=Level.NOTE)


@check("classified-isolated")
def classified_isolated(ctx: Context, rule: Rule) -> Iterator[Finding]:
    """Classified (涉密) zones carry no MLPS level and exchange no traffic with any other zone.

    Anti-pattern: ``zone secret { classified; level 3 }`` — GB/T 22240 grades only non-classified
    objects; or any allow flow (or a ``default allow``) reaching a classified zone from the
    extranet — the classified network is physically isolated (物理隔离).
    Best practice: declare the classified network only so the tools can prove nothing reaches it.
    Exact: allowed ∩ (src(C) ∪ dst(C)) − same-zone = ∅, C the classified zones and their sub-zones.
    """
    roots = [z.name for z in ctx.policy.zones if z.classified]
    if not roots:
        return
    classified = with_descendants(ctx, roots)
    for name in sorted(classified):
        z = ctx.zones[name]
        if z.level is not None:
            yield ctx.finding(rule, f"classified zone {name} carries MLPS level {z.level}; GB/T 22240 grades "
                                    "non-classified objects only", span=z.span, zones=(name,))
    offending = crossing(ctx) & touching(ctx, classified)
    yield from blame(
        ctx, rule, offending,
        message=lambda f: f"flow {f.id} allows traffic to or from a classified zone",
        stance="the policy's `default allow` lets traffic reach or leave a classified zone (no flow matches it)",
    )


@check("hosting-level")
def hosting_level(ctx: Context, rule: Rule) -> Iterator[Finding]:
    """A hosting platform (政务云) carries nothing graded above its own level.

    Anti-pattern: ``zone police-app { level 4; hosted-on cloud }`` with ``cloud`` at level 3, or a
    level-4 tenant sub-zone of a level-3 cloud zone.
    Best practice: host each system on a platform graded at least as high, or raise the platform.
    A zone is hosted on what its own or an ancestor's ``hosted-on`` names, and on every ancestor of
    a ``platform-kinds`` kind (cloud). The rule applies to platforms graded at one of its levels; a
    graded zone hosted on an ungraded platform is reported too (the condition cannot be shown).
    """
    platform_kinds = kinds_param(rule, "platform-kinds", ["cloud"])
    for z in ctx.policy.zones:
        if z.level is None:
            continue
        hosts: dict[str, str] = {}
        if z.hosted_on:
            hosts[z.hosted_on] = "hosted-on"
        for a in ancestors(ctx, z.name):
            anc = ctx.zones[a]
            if anc.hosted_on and anc.hosted_on not in hosts:
                hosts[anc.hosted_on] = f"hosted-on of {a}"
            if anc.kind in platform_kinds and a not in hosts:
                hosts[a] = "sub-zone"
        for host, why in sorted(hosts.items()):
            platform = ctx.zones.get(host)
            if platform is None or host == z.name:
                continue
            if platform.level is None:
                yield ctx.finding(rule, f"zone {z.name} (level {z.level}) is hosted on {host}, which has no "
                                        f"protection level ({why})", span=z.span, zones=(z.name, host))
            elif rule.applies_to_level(platform.level) and z.level > platform.level:
                yield ctx.finding(rule, f"zone {z.name} (level {z.level}) is hosted on {host} (level "
                                        f"{platform.level}), a platform graded lower ({why})",
                                  span=z.span, zones=(z.name, host))

