"""What the HTML report shows, gathered once as plain values: the matrix cells, the verifier's findings
grouped by the clause of the standard they come from, probe results (failing first) and the
semantic diff. Rendering is in :mod:`zonepolicy.report.html`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Iterable

from ..errors import UsageError
from ..model.policy import Policy
from ..probe.results import RESULTS, ProbeResult, read_results_file, summary
from ..semantics.meaning import Meaning
from .cells import PairCell, pair_cells

if TYPE_CHECKING:
    from ..verify.diff import PolicyDiff
    from ..verify.findings import Finding
    from ..verify.output import RuleInfo

_RESULT_ORDER = {"fail": 0, "inconclusive": 1, "pass": 2}


@dataclass(frozen=True, slots=True)
class ClauseGroup:
    """The findings of the rules that cite one clause (or one family, for rules that cite none)."""

    clause: str
    rules: tuple[RuleInfo, ...]
    findings: tuple[Finding, ...]  # active first
    worst: str | None  # level label of the worst active finding


@dataclass(frozen=True, slots=True)
class Verification:
    summary: str
    counts: dict[str, int]
    groups: tuple[ClauseGroup, ...]
    by_pair: dict[tuple[str, str], list[Finding]]  # active findings whose witness (or two zones) is this pair
    by_zone: dict[str, list[Finding]]  # active findings that name one zone only


@dataclass(frozen=True, slots=True)
class Probes:
    source: str
    summary: str
    counts: dict[str, int]
    results: tuple[ProbeResult, ...]  # failing first, then inconclusive, then passing
    stale: int = 0  # results that name a policy hash other than this policy's (taken against another version)


@dataclass(frozen=True, slots=True, kw_only=True)
class Content:
    policy: Policy
    names: list[str]
    cells: dict[tuple[str, str], PairCell]
    verification: Verification | None = None
    probes: Probes | None = None
    diff: PolicyDiff | None = None
    timestamp: str | None = None


def _worse(a: str | None, b: str) -> str:
    order = {"note": 1, "warning": 2, "error": 3}
    return b if a is None or order[b] > order[a] else a


def worst(findings: Iterable[Finding]) -> str | None:
    """The level label of the most severe finding, None for none."""
    out = None
    for f in findings:
        out = _worse(out, f.level.label)
    return out


def verification(policy: Policy, meaning: Meaning, *, today: dt.date | None = None) -> Verification:
    """Run the verifier with the packs the policy header names, and group its findings by clause."""
    from ..verify.engine import default_packs, verify
    from ..verify.output import anomaly_rules, rule_catalogue

    report = verify(policy, default_packs(policy), today=today, meaning=meaning)
    infos = {i.code: i for i in rule_catalogue(report, anomaly_rules())}
    grouped: dict[str, list] = {}
    for f in report.findings:
        info = infos.get(f.rule)
        clause = (info.clause if info and info.clause else
                  f"{info.family} (no clause of a standard)" if info and info.family else "other checks")
        grouped.setdefault(clause, []).append(f)
    groups = []
    for clause, found in grouped.items():
        found.sort(key=lambda f: (f.suppressed, f.sort_key()))
        codes = sorted({f.rule for f in found})
        groups.append(ClauseGroup(clause, tuple(infos[c] for c in codes if c in infos), tuple(found),
                                  worst(f for f in found if not f.suppressed)))
    rank = {"error": 0, "warning": 1, "note": 2, None: 3}
    groups.sort(key=lambda g: (rank[g.worst], g.clause))
    by_pair: dict[tuple[str, str], list[Finding]] = {}
    by_zone: dict[str, list[Finding]] = {}
    for f in report.active():
        pair = None
        if f.witness is not None:
            w = f.witness
            a, b = meaning.zone_of(w.family, w.src), meaning.zone_of(w.family, w.dst)
            if a is not None and b is not None:
                pair = (a, b)
        elif len(f.zones) == 2:
            pair = (f.zones[0], f.zones[1])
        if pair is not None:
            by_pair.setdefault(pair, []).append(f)
        elif len(f.zones) == 1:
            by_zone.setdefault(f.zones[0], []).append(f)
    return Verification(report.summary(), report.counts(), tuple(groups), by_pair, by_zone)


def read_probes(path: str) -> Probes:
    """Probe results from a JSONL file the runners wrote; any malformed line is an error (exit 2)."""
    results = read_results_file(path)
    for n, r in enumerate(results, 1):
        if r.result not in RESULTS:
            raise UsageError(f"{path}: record {n} ({r.probe!r}): result {r.result!r}, expected result one of "
                             f"{', '.join(RESULTS)}\nhint: give the JSONL file a probe runner wrote (one result per line)")
    results.sort(key=lambda r: (_RESULT_ORDER[r.result], r.site, r.probe, r.five_tuple))
    counts = {k: sum(1 for r in results if r.result == k) for k in RESULTS}
    return Probes(path, summary(results), counts, tuple(results))


def gather(policy: Policy, *, verify: bool = False, probes: str | None = None, old: Policy | None = None,
           old_label: str = "OLD", new_label: str = "NEW", today: dt.date | None = None,
           timestamp: str | None = None) -> Content:
    """Everything the report shows, computed with one shared meaning of the policy."""
    pr = read_probes(probes) if probes else None  # bad input fails before any long computation
    if pr is not None and any(r.policy_hash for r in pr.results):
        from ..probe.suite import policy_hash

        mine = policy_hash(policy)
        pr = replace(pr, stale=sum(1 for r in pr.results if r.policy_hash and r.policy_hash != mine))
    meaning = Meaning(policy)
    names, cells = pair_cells(policy, meaning)
    ver = verification(policy, meaning, today=today) if verify else None
    diff = None
    if old is not None:
        from ..verify.diff import diff_policies

        diff = diff_policies(old, policy, old_label=old_label, new_label=new_label, new_meaning=meaning)
    return Content(policy=policy, names=names, cells=cells, verification=ver, probes=pr, diff=diff,
                   timestamp=timestamp)
