"""Rule cases: every rule of every built-in pack, shown failing and passing on small policies.

A case file ``tests/rule_cases/<CODE>.yaml`` holds a list of cases for the rule ``CODE``::

    - name: default allow lets the internet in       # unique within the file
      expect: fail                                   # fail: ≥ 1 active finding of CODE; pass: none
      today: 2026-01-01                              # optional; the verifier's "today" (default below)
      count: 1                                       # optional; exact number of active findings of CODE
      findings:                                      # optional; each entry must match one finding
        - message_contains: "default"                #   substring of the message
          zones: [internet]                          #   all of these among the finding's zones
          flows: [web-in]                            #   all of these among the finding's flows
          witness: true                              #   the finding carries a witness packet
      policy: |                                      # a complete .zp policy, header included
        policy t { standard mlps-2.0; default deny; intrazone allow }
        ...

The policy's header chooses the built-in packs (``standard``/``model``), exactly as ``zonepolicy
verify`` would, and the case fails if none of them holds ``CODE``: a case cannot pass vacuously.

Whatever the rule, every finding is held to the verifier's contract:

* a witness packet really shows the finding under the one meaning — the policy allows it
  (``Meaning.decide``), one of the flows the finding names matches it, and its source or destination
  zone (or an ancestor of one) is among the zones the finding names;
* a finding that names flows points at a source line.

``test_every_rule_has_a_passing_and_a_failing_case`` keeps every rule of every built-in pack covered.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from zonepolicy.api import load_policy
from zonepolicy.model.policy import Policy
from zonepolicy.semantics.meaning import Meaning
from zonepolicy.verify.engine import verify
from zonepolicy.verify.findings import Finding
from zonepolicy.verify.packs import builtin_pack, builtin_pack_names

CASES_DIR = Path(__file__).parent / "rule_cases"
# A fixed "today", so that cases with dates (expiries, waivers) do not change verdict as time passes.
DEFAULT_TODAY = dt.date(2026, 1, 1)

CASE_KEYS = {"name", "expect", "policy", "today", "findings", "count"}
EXPECTATION_KEYS = {"message_contains", "zones", "flows", "witness"}


@dataclass(frozen=True)
class Case:
    """One rule case as read from its YAML file."""

    code: str
    name: str
    expect: str
    policy: str
    today: dt.date = DEFAULT_TODAY
    findings: tuple[dict[str, Any], ...] = ()
    count: int | None = None
    source: str = field(default="", compare=False)


def _as_date(value: Any, where: str) -> dt.date:
    # YAML reads an unquoted 2026-01-01 as a date already; a quoted one arrives as text.
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{where}: today must be a date YYYY-MM-DD, got {value!r}") from None


def _read_case(code: str, raw: Any, where: str) -> Case:
    """Validate one case strictly: a misspelt key would otherwise silently weaken the test."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: a case is a mapping")
    unknown = set(raw) - CASE_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(CASE_KEYS)}")
    for key in ("name", "expect", "policy"):
        if key not in raw:
            raise ValueError(f"{where}: missing '{key}'")
    if raw["expect"] not in ("pass", "fail"):
        raise ValueError(f"{where}: expect must be pass or fail")
    findings = raw.get("findings") or []
    if not isinstance(findings, list):
        raise ValueError(f"{where}: findings must be a list")
    for f in findings:
        if not isinstance(f, dict) or set(f) - EXPECTATION_KEYS:
            raise ValueError(f"{where}: a finding expectation takes only {sorted(EXPECTATION_KEYS)}")
    if raw["expect"] == "pass" and (findings or raw.get("count")):
        raise ValueError(f"{where}: a pass case expects no finding; drop 'findings'/'count'")
    return Case(code=code, name=str(raw["name"]), expect=raw["expect"], policy=str(raw["policy"]),
                today=_as_date(raw["today"], where) if "today" in raw else DEFAULT_TODAY,
                findings=tuple(findings), count=raw.get("count"), source=where)


def load_cases() -> list[Case]:
    """Every case of every file, in file and then list order."""
    cases: list[Case] = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        code = path.stem
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, list):
            raise ValueError(f"{path.name}: expected a list of cases")
        names: set[str] = set()
        for i, raw in enumerate(data):
            case = _read_case(code, raw, f"{path.name} case #{i + 1}")
            if case.name in names:
                raise ValueError(f"{path.name}: case name '{case.name}' appears twice")
            names.add(case.name)
            cases.append(case)
    return cases


CASES = load_cases()


def _builtin_rule_codes() -> dict[str, str]:
    """Rule code → pack name, over every built-in pack."""
    return {r.code: p for p in builtin_pack_names() for r in builtin_pack(p).rules}


def _load(case: Case, tmp_path: Path) -> Policy:
    path = tmp_path / "policy.zp"
    path.write_text(case.policy, encoding="utf-8")
    return load_policy(str(path))


def _ancestors(policy: Policy, zone: str) -> set[str]:
    """The zone and every declared ancestor of it (a finding naming a parent covers its sub-zones)."""
    parents = {z.name: z.parent for z in policy.zones}
    out: set[str] = set()
    current: str | None = zone
    while current is not None and current not in out:
        out.add(current)
        current = parents.get(current)
    return out


def assert_finding_sound(policy: Policy, meaning: Meaning, f: Finding) -> None:
    """The verifier's contract for one finding: its witness shows it under the one meaning."""
    if f.flows:
        assert f.span is not None, f"{f.rule}: a finding naming flows {f.flows} must point at a source line"
    w = f.witness
    if w is None:
        return
    decision = meaning.decide(w)
    assert decision.allowed, f"{f.rule}: witness {w} of '{f.message}' is not allowed by the policy ({decision})"
    if f.flows:
        flows = [policy.flow(fid) for fid in f.flows]
        assert any(meaning.flow_matches(fl, w) for fl in flows), \
            f"{f.rule}: witness {w} is matched by none of the named flows {f.flows}"
    if f.zones:
        touched = set()
        for z in (decision.src_zone, decision.dst_zone):
            if z is not None:
                touched |= _ancestors(policy, z)
        assert touched & set(f.zones), \
            f"{f.rule}: witness {w} ({decision.src_zone} → {decision.dst_zone}) lies in none of the zones {f.zones}"


def _matches(f: Finding, want: dict[str, Any]) -> bool:
    if "message_contains" in want and str(want["message_contains"]) not in f.message:
        return False
    if not set(want.get("zones") or ()) <= set(f.zones):
        return False
    if not set(want.get("flows") or ()) <= set(f.flows):
        return False
    if want.get("witness") and f.witness is None:
        return False
    return True


def _describe(findings: list[Finding]) -> str:
    return "\n".join(f"  {f.rule} {f.level.label}: {f.message} zones={list(f.zones)} flows={list(f.flows)} "
                     f"witness={f.witness}" for f in findings) or "  (none)"


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.code}/{c.name}")
def test_rule_case(case: Case, tmp_path: Path) -> None:
    policy = _load(case, tmp_path)
    meaning = Meaning(policy)
    report = verify(policy, select=[case.code], anomalies=False, today=case.today, meaning=meaning)
    assert case.code in {r.code for r in report.rules}, \
        f"the case's policy header names no built-in pack holding {case.code} (packs: {report.packs})"
    # select=[CODE] also admits CODE-… sub-codes; only the rule itself counts here.
    mine = [f for f in report.active() if f.rule == case.code]
    for f in report.findings:
        assert_finding_sound(policy, meaning, f)
    if case.expect == "pass":
        assert not mine, f"expected no {case.code} finding, got:\n{_describe(mine)}"
        return
    assert mine, f"expected at least one {case.code} finding, got none"
    if case.count is not None:
        assert len(mine) == case.count, f"expected {case.count} findings, got:\n{_describe(mine)}"
    for want in case.findings:
        assert any(_matches(f, want) for f in mine), f"no finding matches {want}; got:\n{_describe(mine)}"


def test_every_rule_has_a_passing_and_a_failing_case() -> None:
    covered: dict[str, set[str]] = {}
    for c in CASES:
        covered.setdefault(c.code, set()).add(c.expect)
    missing = [f"{code} ({pack}): needs {sorted({'pass', 'fail'} - covered.get(code, set()))}"
               for code, pack in sorted(_builtin_rule_codes().items())
               if covered.get(code, set()) != {"pass", "fail"}]
    assert not missing, "rules without a passing and a failing case:\n" + "\n".join(missing)


def test_every_case_file_names_a_builtin_rule() -> None:
    codes = _builtin_rule_codes()
    strays = sorted({c.code for c in CASES} - set(codes))
    assert not strays, f"case files for rules no built-in pack has: {strays}"
