"""The rule catalogue, generated from the rule packs in ``policy/`` (one source for docs and tools).

``docs/verifier.md`` is this module's Markdown output (``zonepolicy rules --format markdown``); a test
keeps the two equal, so the published catalogue cannot drift from the rules that run.
"""

from __future__ import annotations

import inspect

from .checks import CHECKS
from .output import META_RULES, RuleInfo
from .packs import builtin_pack, builtin_pack_names

INTRO = """# Verifier rule catalogue

`zonepolicy verify POLICY` checks a policy against the rule packs its header names (`standard`,
`model`) or those given with `--pack`, and runs the rule-anomaly analysis. Every finding about traffic
carries a witness packet — checked against the policy's one semantics — and the whole affected packet
set rendered as prefixes and port ranges.

This page is generated from the packs in `policy/` and the check library
(`zonepolicy rules --format markdown > docs/verifier.md`); do not edit it by hand.
Rules marked *operationalisation* are our reading of a requirement, not the standard's text.

Select and ignore rules with `--select CODE` / `--ignore CODE` (a code or a prefix such as `BND`);
accept a finding with a dated waiver in the policy:
`waive BND-12 for internet -> portal : https { reason "…"; owner "…"; expires 2027-01-01 }`.
An expired waiver is itself a finding (WVR-01).
"""


def _levels(levels: tuple[int, ...]) -> str:
    return ", ".join(map(str, levels)) if levels else "all"


def _check_doc(name: str) -> str:
    fn = CHECKS.get(name)
    doc = inspect.getdoc(fn) if fn else None
    return doc or ""


def _rule_md(info: RuleInfo, check: str | None) -> list[str]:
    out = [f'<a id="{info.code}"></a>', f"### {info.code} — {info.title_en}", "", f"**{info.title_zh}**", ""]
    rows = [("Severity", info.severity.label), ("Levels", _levels(info.levels))]
    if info.clause:
        rows.append(("Clause", info.clause))
    if check:
        rows.append(("Check", f"`{check}`"))
    out += ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows] + [""]
    if info.rationale:
        out += [" ".join(info.rationale.split()), ""]
    if info.operationalisation:
        out += ["*Operationalisation:* " + " ".join(info.operationalisation.split()), ""]
    doc = _check_doc(check) if check else ""
    if doc:
        out += ["> " + line if line else ">" for line in doc.splitlines()] + [""]
    if info.hint:
        out += [f"*Fix:* {info.hint}", ""]
    return out


def render_markdown() -> str:
    lines = [INTRO]
    for name in builtin_pack_names():
        pack = builtin_pack(name)
        lines += [f"## Pack `{pack.name}` — {pack.title_en}", "", f"{pack.title_zh}", ""]
        lines += [f"- [{r.code}](#{r.code}) {r.title_en}" for r in pack.rules] + [""]
        for rule in pack.rules:
            lines += _rule_md(RuleInfo.of_rule(rule), rule.check)
    try:
        from .anomalies import RULES as ANOMALY_RULES
    except ImportError:  # pragma: no cover - the analysis ships with the package
        ANOMALY_RULES = {}
    lines += ["## Rule anomalies", "",
              "Found by `verify/anomalies.py` on every run (switch off with `--no-anomalies`).", ""]
    for code, rule in sorted(ANOMALY_RULES.items()):
        lines += _rule_md(RuleInfo.of_rule(rule), None)
    lines += ["## Waivers", ""]
    for code, info in sorted(META_RULES.items()):
        lines += _rule_md(info, None)
    return "\n".join(lines).rstrip() + "\n"


def render_text() -> str:
    rows = []
    for name in builtin_pack_names():
        for r in builtin_pack(name).rules:
            rows.append(f"{r.code:<8} {r.severity.label:<8} L{_levels(r.levels):<12} {r.title_en} / {r.title_zh}")
    return "\n".join(rows) + "\n"
