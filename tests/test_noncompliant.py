"""The deliberately non-compliant example fails verification with exactly the violations it documents.

``examples/noncompliant/policy.zp`` is valid language (``zonepolicy check`` accepts it, see
test_examples.py) and breaks rules on purpose, each marked ``BREAKS <code>`` in the file. Here the
verifier must find exactly those: no fewer (a rule stopped working) and no more (a rule fires on
compliant flows), for every rule code listed in :data:`EXPECTED`. A rule added later that fires on
the example is added to the table together with its ``BREAKS`` comment.

A finding is identified by its rule and its subject: the flow id for traffic, else the statement
it points at (its first two words, e.g. ``firewall edge``, ``waive EGOV-04``).
"""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import EXAMPLES
from zonepolicy.api import load_policy
from zonepolicy.model.policy import Policy
from zonepolicy.model.values import ZoneKind
from zonepolicy.semantics.meaning import Decision, Meaning
from zonepolicy.verify.engine import Report, verify
from zonepolicy.verify.findings import Finding, Level

EXAMPLE = EXAMPLES / "noncompliant" / "policy.zp"
# Fixed, so that the waiver's expiry (2024-01-01) is in the past however the calendar moves.
TODAY = dt.date(2026, 1, 1)

EXPECTED: set[tuple[str, str]] = {
    ("EGOV-02", "inet-tax"),          # internet → dedicated zone
    ("EGOV-02", "inet-portal-via"),   # internet → public zone, `via` notwithstanding
    ("EGOV-06", "inet-tax"),          # no `via` the secure access platform
    ("EGOV-06", "inet-portal-via"),   # `via` the platform, but the source is the internet, not a pool
    ("EGOV-06", "remote-portal"),     # remote pool → public zone without `via`
    ("EGOV-04", "tax-finance"),       # two department VPNs
    ("EGOV-03", "secret-leak"),       # traffic out of the classified network
    ("EGOV-03", "firewall edge"),     # the classified network bound on an extranet firewall
    ("EGOV-05", "pub-national"),      # public ↔ national without a national-public-ip object
    ("EGOV-07", "public-web"),        # staff browse the internet directly
    ("CLD-02", "lab-any"),            # level 3 → level 2 behind one interface
    ("BND-01", "lab-any"),            # … which therefore crosses no firewall
    ("BND-10", "lab-any"),            # … names no services (any protocol, any port)
    ("BND-11", "lab-any"),            # … and is stateless
    ("GRD-02", "secret-leak"),        # traffic out of the classified network (grading view)
    ("MGT-01", "public-ssh"),         # ssh into a level-3 zone from outside the management zone
    ("WVR-01", "waive EGOV-04"),      # the accepted risk expired
}
RULES = sorted({rule for rule, _ in EXPECTED})

def _witness_shape(rule: str, policy: Policy, d: Decision) -> bool:
    """What the witness of each traffic rule must show, as a fact about its source and destination zone."""
    zone = {z.name: z for z in policy.zones}
    src, dst = zone[d.src_zone], zone[d.dst_zone]
    if rule == "EGOV-02":
        return src.kind is ZoneKind.EXTERNAL and dst.kind not in (ZoneKind.INTERNET_ACCESS, ZoneKind.EXTERNAL)
    if rule == "EGOV-06":
        return (src.kind in (ZoneKind.REMOTE_ACCESS, ZoneKind.EXTERNAL)
                and dst.kind in (ZoneKind.PUBLIC, ZoneKind.DEDICATED))
    if rule == "EGOV-04":
        return src.kind is dst.kind is ZoneKind.DEDICATED and src.vpn != dst.vpn
    if rule == "EGOV-03":
        return src.classified != dst.classified
    if rule == "EGOV-05":
        return {src.kind, dst.kind} == {ZoneKind.PUBLIC, ZoneKind.NATIONAL}
    if rule == "EGOV-07":
        return src.kind in (ZoneKind.PUBLIC, ZoneKind.DEDICATED) and dst.kind is ZoneKind.EXTERNAL
    if rule == "CLD-02":
        return None not in (src.level, dst.level) and src.level != dst.level
    return src.name != dst.name  # BND-01: crosses a boundary


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(str(EXAMPLE))


@pytest.fixture(scope="module")
def meaning(policy: Policy) -> Meaning:
    return Meaning(policy)


@pytest.fixture(scope="module")
def report(policy: Policy, meaning: Meaning) -> Report:
    return verify(policy, select=RULES, anomalies=False, today=TODAY, meaning=meaning)


def _subject(f: Finding) -> str:
    if f.flows:
        assert len(f.flows) == 1, f"{f.rule}: one finding per flow expected, got {f.flows}"
        return f.flows[0]
    assert f.span is not None, f"{f.rule}: '{f.message}' names no flow and points at no statement"
    line = EXAMPLE.read_text(encoding="utf-8").splitlines()[f.span.line - 1]
    return " ".join(line.split()[:2])


def test_the_header_names_both_packs(report: Report) -> None:
    assert set(report.packs) == {"mlps-2.0", "egov-extranet"}
    assert set(RULES) - {"WVR-01"} <= {r.code for r in report.rules}


def test_exactly_the_documented_violations(report: Report) -> None:
    found = {(f.rule, _subject(f)) for f in report.active()}
    assert found == EXPECTED, (f"missing: {sorted(EXPECTED - found)}\n"
                               f"unexpected: {sorted(found - EXPECTED)}")
    assert len(report.active()) == len(EXPECTED), "a violation is reported more than once"
    assert report.fails(Level.ERROR)


def test_every_violation_is_commented_in_the_example() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    for rule in RULES:
        assert f"BREAKS {rule}" in text or f"and {rule}" in text, f"{rule} is not documented in the example"


def test_traffic_findings_carry_a_witness_the_meaning_confirms(report: Report, policy: Policy,
                                                               meaning: Meaning) -> None:
    for f in report.active():
        if not f.flows:
            continue
        w = f.witness
        assert w is not None, f"{f.rule} {f.flows}: a traffic finding needs a witness"
        d = meaning.decide(w)
        assert d.allowed, f"{f.rule}: witness {w} is not allowed ({d})"
        assert f.flows[0] in d.flows, f"{f.rule}: witness {w} is allowed by {d.flows}, not by {f.flows}"
        assert _witness_shape(f.rule, policy, d), f"{f.rule}: witness {w} ({d.src_zone} → {d.dst_zone}) misfits"
        assert f.affected, f"{f.rule}: the whole offending set must be rendered"


def test_the_compliant_flows_draw_no_finding(report: Report) -> None:
    clean = {"inet-web", "remote-finance", "mgmt-ssh"}
    assert not [f for f in report.active() if clean & set(f.flows)]
