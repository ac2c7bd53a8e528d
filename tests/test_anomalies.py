"""Rule anomalies (ANO-01 … ANO-06): hand-written cases per code, the witness of every finding
checked against the one meaning, the redundancy definition checked by really removing the flow,
and the indexed analysis against the all-pairs baseline."""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
from collections import Counter

import pytest
from hypothesis import given, settings

from strategies import Sizes, policies, small_policies
from zonepolicy import api
from zonepolicy.model.policy import Flow, Policy
from zonepolicy.model.values import Action
from zonepolicy.semantics.meaning import Meaning
from zonepolicy.semantics.packetset import PacketSet
from zonepolicy.verify.anomalies import NAMED, RULES, find_anomalies, find_anomalies_naive
from zonepolicy.verify.checks import Context
from zonepolicy.verify.engine import verify
from zonepolicy.verify.findings import Finding, Level
from conftest import REPO, load_policy_text as load_text

HEADER = "policy t { default deny; intrazone allow }\n"
ZONES = """
zone a { networks 10.1.0.0/16 }
zone a.x { networks 10.1.1.0/24 }
zone b { networks 10.2.0.0/16 }
zone c { networks 10.3.0.0/16, fd00:3::/32 }
zone v6 { networks fd00:6::/32 }
"""




def analyse(body: str, header: str = HEADER, zones: str = ZONES) -> tuple[Policy, list[Finding]]:
    policy = load_text(header + zones + body)
    ctx = Context(policy)
    found = find_anomalies(ctx)
    assert found == find_anomalies_naive(Context(policy, ctx.meaning)), "fast and naive disagree"
    for f in found:
        check_finding(policy, ctx.meaning, f)
    return policy, found


def of(found: list[Finding], code: str) -> list[Finding]:
    return [f for f in found if f.rule == code]


def codes(found: list[Finding]) -> Counter:
    return Counter(f.rule for f in found)


# ---------------------------------------------------------------- what a finding must show


def untracked(meaning: Meaning) -> PacketSet:
    """Allowed packets whose replies are not tracked: allowed by flows, none of them stateful."""
    allow = meaning.matched(Action.ALLOW)
    stateful = PacketSet.empty()
    for f in meaning.policy.flows:
        if f.action is Action.ALLOW and f.options.stateful:
            stateful = stateful | meaning.flow_set(f)
    return allow - meaning.matched(Action.DENY) - stateful


def without(policy: Policy, flow: Flow) -> Meaning:
    return Meaning(dataclasses.replace(policy, flows=tuple(f for f in policy.flows if f.id != flow.id)))


def same_meaning(m1: Meaning, m2: Meaning) -> bool:
    """Same verdict and same reply tracking for every packet (the anomaly module's notion of meaning)."""
    return m1.allowed() == m2.allowed() and untracked(m1) == untracked(m2)


def check_finding(policy: Policy, meaning: Meaning, f: Finding) -> None:
    """The witness of ``f`` shows the anomaly under the one meaning, and the flows it names are right."""
    assert f.rule in RULES and f.level is RULES[f.rule].severity
    flows = [policy.flow(i) for i in f.flows]
    if flows:
        assert f.span is not None
    w = f.witness
    if f.rule == "ANO-05":
        assert len(flows) == 1 and meaning.flow_set(flows[0]).is_empty() and w is None
        return
    assert w is not None and f.affected and f.affected_total >= len(f.affected)
    d = meaning.decide(w)
    if f.rule == "ANO-06":
        (zone,) = f.zones
        assert d.dst_zone == zone and d.src_zone != zone and not d.allowed
        return
    first = next(fl for fl in flows if fl.span == f.span)  # the flow the finding is about
    assert meaning.flow_matches(first, w) and w in meaning.flow_set(first)
    if f.rule == "ANO-01":
        assert first.action is Action.ALLOW and not d.allowed and d.reason == "flow"
        denies = [fl for fl in flows if fl is not first]
        assert denies and all(fl.action is Action.DENY for fl in denies)
        if len(denies) < NAMED:
            cover = PacketSet.empty()
            for fl in denies:
                cover = cover | meaning.flow_set(fl)
            assert meaning.flow_set(first) <= cover
    elif f.rule == "ANO-02":
        after = without(policy, first)
        assert same_meaning(meaning, after)
        d2 = after.decide(w)
        assert (d2.action, d2.allowed and d2.stateful) == (d.action, d.allowed and d.stateful)
        assert all(fl.action is first.action for fl in flows)
    elif f.rule == "ANO-03":
        allow, deny = flows if flows[0].action is Action.ALLOW else flows[::-1]
        assert meaning.flow_matches(allow, w) and meaning.flow_matches(deny, w) and not d.allowed
        sa, sd = meaning.flow_set(allow), meaning.flow_set(deny)
        assert not sa <= sd and not sd <= sa
    elif f.rule == "ANO-04":
        assert first.action is Action.DENY
        (allow,) = [fl for fl in flows if fl is not first]
        assert meaning.flow_matches(allow, w) and not d.allowed
        assert meaning.flow_set(first) < meaning.flow_set(allow)


def check_complete(policy: Policy, meaning: Meaning, found: list[Finding]) -> None:
    """The other direction: every flow that is empty, shadowed or redundant is reported as such."""
    by_flow: dict[str, set[str]] = {}
    for f in found:
        if f.rule in ("ANO-01", "ANO-02", "ANO-05"):
            by_flow.setdefault(_subject(policy, f), set()).add(f.rule)
    deny = meaning.matched(Action.DENY)
    for fl in policy.flows:
        s = meaning.flow_set(fl)
        got = by_flow.get(fl.id, set())
        if s.is_empty():
            assert got == {"ANO-05"}, (fl.id, got)
        elif fl.action is Action.ALLOW and s <= deny:
            assert got == {"ANO-01"}, (fl.id, got)
        else:
            assert (got == {"ANO-02"}) == same_meaning(meaning, without(policy, fl)), (fl.id, got)


def _subject(policy: Policy, f: Finding) -> str:
    """The flow a finding is about: the one its span points at (it names others too)."""
    return next(fl.id for fl in (policy.flow(i) for i in f.flows) if fl.span == f.span)


# ---------------------------------------------------------------- ANO-05 empty flow


def test_empty_flow_between_families_is_an_error() -> None:
    _, found = analyse("allow a -> v6 : https { id mixed }\n")
    (f,) = of(found, "ANO-05")
    assert f.level is Level.ERROR and f.flows == ("mixed",) and "address family" in f.message


def test_icmpv6_between_ipv4_zones_is_empty() -> None:
    # an icmpv6 term matches IPv6 packets only, and a and b have IPv4 addresses only
    _, found = analyse("allow a -> b : icmpv6/echo-request { id ping6 }\n")
    (f,) = of(found, "ANO-05")
    assert f.flows == ("ping6",) and "services match no packet" in f.message


def test_empty_flow_to_a_zone_without_networks() -> None:
    _, found = analyse("allow a -> planned : https { id early }\n", zones=ZONES + "zone planned { }\n")
    (f,) = of(found, "ANO-05")
    assert "destinations match no address" in f.message
    assert ("planned",) not in {f.zones for f in of(found, "ANO-06")}  # no addresses: nothing to reach


def test_dual_stack_flow_is_not_empty() -> None:
    _, found = analyse("allow a -> c : ping { id p }\nallow c -> a : https { id q }\n")
    assert not of(found, "ANO-05")


# ---------------------------------------------------------------- ANO-01 shadowed allow


def test_allow_shadowed_by_a_union_of_denies() -> None:
    _, found = analyse("""
allow a -> b : tcp/1-200 { id wide }
deny  a -> b : tcp/1-100 { id low }
deny  a -> b : tcp/101-300 { id high }
""")
    (f,) = of(found, "ANO-01")
    assert f.flows == ("high", "low", "wide") and "low, high" in f.message
    assert f.level is Level.WARNING
    # shadowed allows are not reported again as redundant or in pairs
    assert not of(found, "ANO-02") and not of(found, "ANO-03") and not of(found, "ANO-04")


def test_allow_shadowed_through_a_parent_zone() -> None:
    _, found = analyse("deny a -> b { id block }\nallow a.x -> b : https { id sub }\n")
    assert [f.flows for f in of(found, "ANO-01")] == [("block", "sub")]


def test_partly_denied_allow_is_not_shadowed() -> None:
    _, found = analyse("allow a -> b : tcp/1-200 { id wide }\ndeny a -> b : tcp/150-300 { id d }\n")
    assert not of(found, "ANO-01")
    assert [f.flows for f in of(found, "ANO-03")] == [("d", "wide")]


# ---------------------------------------------------------------- ANO-02 redundant flow


def test_allow_covered_by_another_allow() -> None:
    _, found = analyse("allow a -> b : tcp/any { id all }\nallow a.x -> b : https { id web }\n")
    (f,) = of(found, "ANO-02")
    assert f.flows == ("all", "web") and f.span is not None and "web is redundant" in f.message
    assert "6.1.3.2 b" in f.message and "删除多余或无效" in f.message and f.level is Level.WARNING


def test_allow_covered_by_two_allows_together() -> None:
    _, found = analyse("""
allow a -> b : tcp/1-100 { id low }
allow a -> b : tcp/101-200 { id high }
allow a -> b : tcp/50-150 { id mid }
""")
    assert [f.flows for f in of(found, "ANO-02")] == [("high", "low", "mid")]


def test_allow_covered_by_intrazone_allow() -> None:
    _, found = analyse("allow zone(b) -> zone(b) : https { id inside }\n")
    (f,) = of(found, "ANO-02")
    assert "intrazone allow" in f.message


def test_allow_inside_a_zone_is_needed_under_intrazone_deny() -> None:
    _, found = analyse("allow zone(b) -> zone(b) : https { id inside }\n",
                       header="policy t { default deny; intrazone deny }\n")
    assert not of(found, "ANO-02")


def test_allow_where_a_deny_removes_the_other_allow_is_needed() -> None:
    # y is wholly denied (ANO-01); x is the only allow of ports 51-100, so it is needed
    _, found = analyse("""
allow a -> b : tcp/1-100 { id x }
allow a -> b : tcp/1-50 { id y }
deny  a -> b : tcp/1-50 { id d }
""")
    assert [f.flows for f in of(found, "ANO-01")] == [("d", "y")]
    assert not of(found, "ANO-02")  # x allows 51-100, which nothing else does


def test_stateful_allow_covered_only_by_a_stateless_one_is_needed() -> None:
    _, found = analyse("allow a -> b : tcp/any { stateless; id raw }\nallow a -> b : https { id web }\n")
    assert not of(found, "ANO-02")  # removing web would stop reply tracking for https


def test_stateless_allow_covered_by_a_stateful_one_is_redundant() -> None:
    _, found = analyse("allow a -> b : tcp/any { id all }\nallow a -> b : https { stateless; id web }\n")
    assert [f.flows for f in of(found, "ANO-02")] == [("all", "web")]


def test_stateless_allow_covered_by_intrazone_is_needed() -> None:
    _, found = analyse("allow zone(b) -> zone(b) : syslog { stateless; id log }\n")
    assert not of(found, "ANO-02")


def test_two_copies_are_each_redundant() -> None:
    _, found = analyse("allow a -> b : https { id one }\nallow a -> b : tcp/443 { id two }\n")
    assert sorted(f.flows for f in of(found, "ANO-02")) == [("one", "two"), ("one", "two")]


def test_deny_covered_by_another_deny() -> None:
    _, found = analyse("""
allow a -> b : tcp/any { id all }
deny  a -> b : tcp/20-30 { id wide }
deny  a -> b : tcp/22 { id ssh }
""")
    (f,) = of(found, "ANO-02")
    assert f.flows == ("ssh", "wide") and "deny flow ssh is redundant" in f.message


def test_deny_of_what_the_default_denies_anyway() -> None:
    _, found = analyse("deny b -> a : tcp/any { id pointless }\n")
    (f,) = of(found, "ANO-02")
    assert f.flows == ("pointless",) and "default deny" in f.message


def test_deny_that_blocks_an_allow_is_needed() -> None:
    _, found = analyse("allow a -> b : tcp/any { id all }\ndeny a -> b : tcp/22 { id ssh }\n")
    assert not of(found, "ANO-02")


def test_deny_needed_under_default_allow() -> None:
    _, found = analyse("deny b -> a : tcp/any { id block }\n", header="policy t { default allow; intrazone allow }\n")
    assert not of(found, "ANO-02")


def test_deny_inside_a_zone_needed_under_intrazone_allow() -> None:
    _, found = analyse("deny zone(b) -> zone(b) : telnet { id t }\n")
    assert not of(found, "ANO-02")


def test_named_flows_are_capped() -> None:
    # ``span`` is covered by NAMED + 3 one-port allows together: the finding names the first NAMED
    body = f"allow a -> b : tcp/1000-{1000 + NAMED + 2} {{ id span }}\n" + "".join(
        f"allow a -> b : tcp/{1000 + k} {{ id p{k:02} }}\n" for k in range(NAMED + 3))
    policy, found = analyse(body)
    (target,) = [f for f in of(found, "ANO-02") if _subject(policy, f) == "span"]
    assert target.flows == tuple(sorted(["span"] + [f"p{k:02}" for k in range(NAMED)]))
    assert "and others" in target.message


# ---------------------------------------------------------------- ANO-03 / ANO-04 pairs


def test_correlation_witness_is_in_the_overlap() -> None:
    policy, found = analyse("allow a -> b : tcp/1-100 { id lo }\ndeny a.x -> b : tcp/50-200 { id hi }\n")
    (f,) = of(found, "ANO-03")
    assert f.level is Level.NOTE and f.flows == ("hi", "lo")
    w = f.witness
    assert 50 <= w.dport <= 100 and policy.flow("hi").sources[0].text == "a.x"
    m = Meaning(policy)
    assert w in m.flow_set(policy.flow("lo")) & m.flow_set(policy.flow("hi"))


def test_disjoint_allow_and_deny_are_no_pair() -> None:
    _, found = analyse("allow a -> b : tcp/1-100 { id lo }\ndeny a -> b : tcp/101-200 { id hi }\n")
    assert not of(found, "ANO-03") and not of(found, "ANO-04")


def test_generalisation_deny_carved_out_of_allow() -> None:
    _, found = analyse("allow a -> b : tcp/any { id all }\ndeny a.x -> b : tcp/22 { id nossh }\n")
    (f,) = of(found, "ANO-04")
    assert f.level is Level.NOTE and f.flows == ("all", "nossh") and f.message.startswith("deny flow nossh")
    assert not of(found, "ANO-03")


def test_equal_allow_and_deny_is_shadowing_not_generalisation() -> None:
    _, found = analyse("allow a -> b : https { id x }\ndeny a -> b : tcp/443 { id y }\n")
    assert codes(found)["ANO-01"] == 1 and not of(found, "ANO-04") and not of(found, "ANO-03")


# ---------------------------------------------------------------- ANO-06 unreachable zone


def test_unreachable_zones() -> None:
    _, found = analyse("allow a -> b : https { id web }\nallow b -> c : https { id web2 }\n")
    assert sorted(f.zones for f in of(found, "ANO-06")) == [("a",), ("a.x",), ("v6",)]
    f = of(found, "ANO-06")[0]
    assert f.level is Level.NOTE and f.span is not None and "cannot be reached" in f.message


def test_reachable_from_a_parent_or_child_zone_counts() -> None:
    _, found = analyse("allow a -> a.x : https { id down }\nallow a.x -> zone(a) : https { id up }\n"
                       "allow a -> b, c : https { id out }\nallow c -> v6 : https { id six }\n")
    assert not of(found, "ANO-06")


def test_nothing_is_unreachable_under_default_allow() -> None:
    _, found = analyse("", header="policy t { default allow; intrazone deny }\n")
    assert not of(found, "ANO-06")


def test_zone_reached_only_through_an_address_object() -> None:
    _, found = analyse("address srv = 10.2.0.5\nallow a -> srv : https { id s }\n",
                       zones="zone a { networks 10.1.0.0/16 }\nzone b { networks 10.2.0.0/16 }\n")
    assert [f.zones for f in of(found, "ANO-06")] == [("a",)]


def test_index_finds_pairs_through_address_objects_and_the_any_zone() -> None:
    # an address endpoint spanning several zones, a literal outside every zone, the any zone
    _, found = analyse("""
address wide = 10.0.0.0/8
allow wide -> b : tcp/any { id w }
deny a.x -> b : tcp/22 { id d1 }
allow internet -> b : https { id i }
deny 192.0.2.0/24 -> b : tcp/400-500 { id d2 }
allow 198.51.100.0/24 -> 10.2.0.0/24 : tcp/any { id lit }
deny internet -> 10.2.0.7 : tcp/1-1000 { id d3 }
""", zones=ZONES + "zone internet { networks any }\n")
    assert {f.flows for f in of(found, "ANO-04")} >= {("d1", "w")}
    assert {f.flows for f in of(found, "ANO-03")} >= {("d2", "i"), ("d3", "lit")}


# ---------------------------------------------------------------- the verifier runs it


def test_verify_reports_anomalies_and_honours_select() -> None:
    policy = load_text(HEADER + ZONES + "allow a -> b : tcp/any { id all }\nallow a.x -> b : https { id web }\n")
    report = verify(policy, packs=[], select=["ANO-02"])
    assert [f.rule for f in report.findings] == ["ANO-02"]
    report = verify(policy, packs=[], ignore=["ANO"])
    assert not report.findings


def test_quickstart_example() -> None:
    policy = api.load_policy(str(REPO / "examples" / "quickstart" / "policy.zp"))
    ctx = Context(policy)
    found = find_anomalies(ctx)
    assert found == find_anomalies_naive(Context(policy, ctx.meaning))
    for f in found:
        check_finding(policy, ctx.meaning, f)
    check_complete(policy, ctx.meaning, found)
    assert not of(found, "ANO-05") and not of(found, "ANO-01")


# ---------------------------------------------------------------- generated policies


@settings(max_examples=40)
@given(small_policies())
def test_small_policies_witnesses_definitions_and_baseline(text: str) -> None:
    policy = load_text(text)
    ctx = Context(policy)
    found = find_anomalies(ctx)
    for f in found:
        check_finding(policy, ctx.meaning, f)
    check_complete(policy, ctx.meaning, found)
    assert found == find_anomalies_naive(Context(policy, ctx.meaning))


@settings(max_examples=15)
@given(policies(comments=False, sizes=Sizes(top_zones=5, children=3, addresses=4, services=3, flows=24)))
def test_larger_policies_fast_equals_naive(text: str) -> None:
    policy = load_text(text)
    ctx = Context(policy)
    found = find_anomalies(ctx)
    assert found == find_anomalies_naive(Context(policy, ctx.meaning))
    for f in found:
        check_finding(policy, ctx.meaning, f)
    check_complete(policy, ctx.meaning, found)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_province_policies_fast_equals_naive(seed: int) -> None:
    sys.path.insert(0, str(REPO / "bench"))
    try:
        from gen_policy import generate
    finally:
        sys.path.pop(0)
    policy = load_text(generate(40, 150, 20, seed=seed))
    ctx = Context(policy)
    found = find_anomalies(ctx)
    assert found == find_anomalies_naive(Context(policy, ctx.meaning))
    assert codes(found)["ANO-02"] > 0  # the generator does make redundant flows: the test is not vacuous
    for f in found[:40]:
        check_finding(policy, ctx.meaning, f)
