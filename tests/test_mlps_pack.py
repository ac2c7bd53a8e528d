"""The mlps-2.0 pack (GB/T 22239-2019 / GB/T 22240-2020) as a whole.

Rule-by-rule behaviour lives in tests/rule_cases/; here: the pack documents every rule the way the
rule catalogue needs it, its level lists follow the standard's per-level clauses, and the shipped
examples — written to comply — draw no error from it.
"""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import EXAMPLES
from zonepolicy.api import load_policy
from zonepolicy.verify.checks import CHECKS
from zonepolicy.verify.engine import verify
from zonepolicy.verify.findings import Level
from zonepolicy.verify.packs import builtin_pack

PACK = builtin_pack("mlps-2.0")
RULES = {r.code: r for r in PACK.rules}
TODAY = dt.date(2026, 1, 1)

# Where an item exists, per GB/T 22239-2019 (chapter 6 = level 1 … 9 = level 4); see the catalogue.
LEVELS = {
    "BND-01": (1, 2, 3, 4), "BND-02": (1, 2, 3, 4), "BND-03": (2, 3, 4), "BND-10": (1, 2, 3, 4),
    "BND-11": (2, 3, 4), "BND-12": (3,), "BND-13": (4,), "BND-14": (2, 3, 4), "BND-15": (3,),
    "MGT-01": (3, 4), "NET-01": (2, 3, 4), "NET-02": (2, 3, 4),
}


def test_the_pack_has_the_grading_architecture_and_boundary_rules() -> None:
    assert set(LEVELS) | {"GRD-01", "GRD-02", "GRD-03"} <= set(RULES)


@pytest.mark.parametrize("code", sorted(LEVELS))
def test_levels_follow_the_clauses(code: str) -> None:
    assert RULES[code].levels == LEVELS[code]


@pytest.mark.parametrize("code", sorted(RULES))
def test_every_rule_is_documented(code: str) -> None:
    rule = RULES[code]
    assert rule.title_zh and rule.title_en and rule.clause.startswith("GB/T")
    assert rule.rationale and rule.hint
    # the Chinese requirement text is quoted in the rationale
    assert any("\u4e00" <= ch <= "\u9fff" for ch in rule.rationale), code
    doc = CHECKS[rule.check].__doc__ or ""
    assert "Anti-pattern" in doc and "Best practice" in doc, rule.check


@pytest.mark.parametrize("root", ["jiangsu/main.zp", "quickstart/policy.zp"])
def test_examples_draw_no_error_from_the_pack(root: str) -> None:
    policy = load_policy(str(EXAMPLES / root))
    report = verify(policy, [PACK], anomalies=False, today=TODAY)
    errors = [f for f in report.active() if f.level is Level.ERROR]
    assert not errors, "\n".join(f"{f.rule} {f.span}: {f.message}" for f in errors)


def test_jiangsu_waivers_all_match_findings() -> None:
    """The accepted risks of the example name real findings of this pack (none is stale)."""
    policy = load_policy(str(EXAMPLES / "jiangsu" / "main.zp"))
    report = verify(policy, anomalies=False, today=TODAY)
    assert not [f for f in report.active() if f.rule == "WVR-02"]
    assert {f.rule for f in report.findings if f.suppressed} == {"BND-12", "BND-13"}
