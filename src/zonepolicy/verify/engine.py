"""The verifier: run the rule packs and the anomaly analysis, apply waivers, sort the findings."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Iterable

from ..errors import UsageError
from ..model.policy import Flow, Policy, Waiver
from ..model.values import Action
from ..semantics.meaning import Meaning
from ..semantics.packet import Packet
from .checks import CHECKS, Context
from .findings import Finding, Level, Suppression
from .packs import Pack, Rule, builtin_pack, builtin_pack_names

WAIVER_EXPIRED = "WVR-01"
WAIVER_UNUSED = "WVR-02"


@dataclass(frozen=True, slots=True)
class Report:
    """The outcome of one verification: findings (waived ones included, marked) and the rules run."""

    policy: str
    findings: tuple[Finding, ...]
    rules: tuple[Rule, ...]
    packs: tuple[str, ...]

    def active(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.suppressed)

    def counts(self) -> dict[str, int]:
        active = self.active()
        return {
            "error": sum(f.level is Level.ERROR for f in active),
            "warning": sum(f.level is Level.WARNING for f in active),
            "note": sum(f.level is Level.NOTE for f in active),
            "waived": sum(f.suppressed for f in self.findings),
            "rules": len(self.rules),
        }

    def summary(self) -> str:
        c = self.counts()
        return (f"{c['rules']} rules, {c['error']} errors, {c['warning']} warnings, {c['note']} notes, "
                f"{c['waived']} waived")

    def fails(self, threshold: Level) -> bool:
        return any(f.level >= threshold for f in self.active())


def default_packs(policy: Policy) -> list[Pack]:
    """The packs the policy header names (``standard`` and ``model``)."""
    packs = []
    for ref in (policy.standard, policy.model):
        if ref is None:
            continue
        if ref not in builtin_pack_names():
            raise UsageError(f"the policy names '{ref}', which has no built-in rule pack "
                             f"(built-in: {', '.join(builtin_pack_names())}); pass --pack FILE")
        packs.append(builtin_pack(ref))
    return packs


def _selected(code: str, select: Iterable[str] | None, ignore: Iterable[str]) -> bool:
    def hit(patterns: Iterable[str]) -> bool:
        return any(code == p or code.startswith(p.rstrip("*").rstrip("-") + "-") for p in patterns)

    if select and not hit(select):
        return False
    return not hit(ignore)


def verify(policy: Policy, packs: Iterable[Pack] | None = None, *, select: Iterable[str] | None = None,
           ignore: Iterable[str] = (), today: dt.date | None = None, anomalies: bool = True,
           meaning: Meaning | None = None) -> Report:
    """Verify ``policy`` against ``packs`` (default: those its header names) and find rule anomalies."""
    today = today or dt.date.today()
    packs = list(packs) if packs is not None else default_packs(policy)
    ctx = Context(policy, meaning, today)
    select = tuple(select or ())
    ignore = tuple(ignore)
    rules = tuple(r for p in packs for r in p.rules if _selected(r.code, select, ignore))
    findings: list[Finding] = []
    for rule in rules:
        findings.extend(CHECKS[rule.check](ctx, rule))
    if anomalies:
        from .anomalies import find_anomalies

        findings.extend(f for f in find_anomalies(ctx) if _selected(f.rule, select, ignore))
    ran = {r.code for r in rules} | {f.rule for f in findings}
    findings = _apply_waivers(ctx, findings, today, ran)
    findings = [f for f in findings if f.rule not in (WAIVER_EXPIRED, WAIVER_UNUSED)
                or _selected(f.rule, select, ignore)]
    findings.sort(key=Finding.sort_key)
    return Report(policy.name, tuple(findings), rules, tuple(p.name for p in packs))


def _waiver_covers(ctx: Context, waiver: Waiver, finding: Finding) -> bool:
    if waiver.rule != finding.rule:
        return False
    if waiver.sources is None:
        return True
    if finding.witness is not None:
        return _scope_matches(ctx, waiver, finding.witness)
    zones = set(finding.zones)
    scoped = {z for e in (waiver.sources or ()) + (waiver.destinations or ()) for z in e.zones}
    return bool(zones) and zones <= scoped


def _scope_matches(ctx: Context, waiver: Waiver, p: Packet) -> bool:
    # A waiver's scope reads like a flow; the meaning decides whether the packet lies in it.
    pseudo = Flow(id="waiver", action=Action.ALLOW, sources=waiver.sources or (),
                  destinations=waiver.destinations or (), services=waiver.services)
    return ctx.meaning.flow_matches(pseudo, p)


def _apply_waivers(ctx: Context, findings: list[Finding], today: dt.date, ran: set[str]) -> list[Finding]:
    """Mark covered findings as waived; report expired waivers, and unused ones for rules that ran."""
    out: list[Finding] = []
    used: set[int] = set()
    waivers = ctx.policy.waivers
    live = [(i, w) for i, w in enumerate(waivers) if w.expires is None or w.expires >= today]
    for f in findings:
        cover = next(((i, w) for i, w in live if _waiver_covers(ctx, w, f)), None)
        if cover is None:
            out.append(f)
            continue
        i, w = cover
        used.add(i)
        out.append(replace(f, suppression=Suppression(reason=w.reason, owner=w.owner, expires=w.expires,
                                                      ticket=w.ticket, span=w.span)))
    for i, w in enumerate(waivers):
        if w.expires is not None and w.expires < today:
            out.append(Finding(rule=WAIVER_EXPIRED, level=Level.ERROR, span=w.span,
                               message=f"waiver of {w.rule} expired on {w.expires.isoformat()} (owner {w.owner})",
                               hint="review the accepted risk: fix the policy, or renew the waiver with a new date"))
        elif i not in used and w.rule in ran:
            out.append(Finding(rule=WAIVER_UNUSED, level=Level.NOTE, span=w.span,
                               message=f"waiver of {w.rule} matches no finding",
                               hint="remove the waiver, or check its rule code and scope"))
    return out
