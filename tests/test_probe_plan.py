"""The probe planner: every probe's verdict is the policy's, coverage is complete, output is stable."""

from __future__ import annotations

import ipaddress

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from conftest import EXAMPLES, load_policy_text, run_cli
from strategies import Sizes, policies
from zonepolicy import api
from zonepolicy.errors import UsageError
from zonepolicy.model.values import Action
from zonepolicy.probe.plan import Planner, plan_suite
from zonepolicy.probe.suite import dump_suite, suite_from_dict
from zonepolicy.semantics.meaning import Meaning
from zonepolicy.semantics.packetset import PacketSet

QUICKSTART = str(EXAMPLES / "quickstart" / "policy.zp")
JIANGSU = str(EXAMPLES / "jiangsu" / "main.zp")

MEDIUM = Sizes(top_zones=4, children=2, grandchildren=False, addresses=3, services=2, flows=6, firewalls=2, waivers=0)


def check_suite(policy, meaning, suite, firewall=None):
    """The laws every planned suite obeys, whatever the policy."""
    fw = policy.firewall(firewall) if firewall else None
    scope = meaning.firewall_scope(fw) if fw else PacketSet.universe()
    ids = [p.id for p in suite.probes]
    assert ids == [f"p{n:05d}" for n in range(1, len(ids) + 1)]
    assert len({p.packet for p in suite.probes}) == len(suite.probes)
    for p in suite.probes:
        d = meaning.decide(p.packet)
        assert (p.expected, p.flows, p.reason) == (d.action, d.flows, d.reason), p
        assert p.stateful == (d.allowed and d.stateful)
        assert p.packet.is_canonical()
        if fw is not None:
            assert (p.iif, p.oif) == meaning.firewall_interfaces(fw, p.packet)
            assert p.packet in scope
        else:
            assert p.iif is None and p.oif is None
    # every allowed flow with an allowed packet in scope gets a probe that it decides
    allowed = meaning.allowed()
    covered = {f for p in suite.probes if p.expected is Action.ALLOW for f in p.flows}
    for flow in policy.flows:
        if flow.action is Action.ALLOW and not (meaning.flow_set(flow) & allowed & scope).is_empty():
            if suite.budget is None:
                assert flow.id in covered, flow.id
        elif flow.action is Action.ALLOW and not (meaning.flow_set(flow) & scope).is_empty():
            assert flow.id in suite.coverage.uncovered_flows
    # every ordered pair of distinct zones that has packets in scope gets a probe
    if suite.budget is None:
        pairs = {(p.src_zone, p.dst_zone) for p in suite.probes}
        for a in policy.zones:
            for b in policy.zones:
                if a.name != b.name and not (meaning.between(a.name, b.name) & scope).is_empty():
                    assert (a.name, b.name) in pairs
        assert suite.coverage.pairs_covered == suite.coverage.pairs_total
        # every zone whose inside traffic is a decision (intrazone deny, or flows within it) is probed inside
        by_flows = meaning.matched(Action.ALLOW) | meaning.matched(Action.DENY)
        decided = []
        for z in policy.zones:
            within = meaning.between(z.name, z.name) & scope
            if within.is_empty() or (policy.intrazone is Action.ALLOW and (within & by_flows).is_empty()):
                continue
            decided.append(z.name)
            inside = [p for p in suite.probes if p.src_zone == p.dst_zone == z.name]
            assert inside, z.name
            if not (within - by_flows).is_empty():
                assert any(p.reason == "intrazone" and p.expected is policy.intrazone and not p.flows
                           for p in inside), z.name
        assert suite.coverage.intrazone_total == suite.coverage.intrazone_covered == len(decided)
        assert suite.coverage.flows_covered == suite.coverage.flows_total - len(suite.coverage.uncovered_flows)


@given(policies(comments=False, sizes=MEDIUM), st.data())
def test_planned_probes_are_judged_by_the_policy_and_cover_it(text, data):
    policy = load_policy_text(text)
    meaning = Meaning(policy)
    suite = plan_suite(policy, meaning=meaning)
    check_suite(policy, meaning, suite)
    if policy.firewalls:
        fw = data.draw(st.sampled_from([f.name for f in policy.firewalls]))
        check_suite(policy, meaning, plan_suite(policy, fw, meaning=meaning), fw)


@given(policies(comments=False, sizes=MEDIUM))
def test_a_budget_of_flows_plus_pairs_keeps_full_coverage(text):
    policy = load_policy_text(text)
    meaning = Meaning(policy)
    full = plan_suite(policy, meaning=meaning)
    c = full.coverage
    budget = max(1, c.flows_total - len(c.uncovered_flows) + c.pairs_total + c.intrazone_total)
    cut = plan_suite(policy, budget=budget, meaning=meaning)
    assert len(cut.probes) <= budget
    assert cut.coverage.flows_covered == c.flows_covered
    assert cut.coverage.pairs_covered == c.pairs_total
    assert cut.coverage.intrazone_covered == c.intrazone_total
    # prioritising, not reshuffling: a budget keeps a prefix of the full suite
    assert cut.probes == full.probes[:len(cut.probes)]
    check_suite(policy, meaning, cut)


def test_a_small_budget_reports_what_it_leaves_out():
    policy = api.load_policy(QUICKSTART)
    suite = plan_suite(policy, "edge", budget=3)
    assert len(suite.probes) == 3
    assert suite.coverage.flows_covered == 3
    assert len(suite.coverage.uncovered_flows) == 2
    flow_notes = [n for n in suite.coverage.notes if n.startswith("flow ")]
    assert len(flow_notes) == 2 and all("budget" in n for n in flow_notes)


def test_same_policy_same_bytes():
    policy = api.load_policy(QUICKSTART)
    a = dump_suite(plan_suite(policy, "edge"))
    b = dump_suite(plan_suite(api.load_policy(QUICKSTART), "edge", meaning=Meaning(policy)))
    assert a == b
    assert suite_from_dict(yaml.safe_load(a)) == plan_suite(policy, "edge")
    r1 = run_cli("probe", "plan", QUICKSTART, "--firewall", "edge")
    r2 = run_cli("probe", "plan", QUICKSTART, "--firewall", "edge")
    assert r1.returncode == 0 and r1.stdout == r2.stdout == a


def test_quickstart_boundaries_near_misses_and_addresses():
    policy = api.load_policy(QUICKSTART)
    meaning = Meaning(policy)
    suite = plan_suite(policy, "edge", meaning=meaning)
    notes = {p.note: p for p in suite.probes}
    # https from the internet: port 443, and 442/444 next to it are denied
    assert any(p.packet.dport == 443 and p.src_zone == "internet" and p.expected is Action.ALLOW
               for p in suite.probes)
    for note in ("port-1 of tcp/443", "port+1 of tcp/443", "udp instead of tcp/443"):
        assert note in notes, note
        assert notes[note].kind == "near-miss"
    misses = [p for p in suite.probes if p.kind == "near-miss"]
    assert any(p.expected is Action.DENY for p in misses)
    # ping is planned as an ICMP echo request
    pings = [p for p in suite.probes if p.packet.proto == 1 and p.expected is Action.ALLOW]
    assert pings and all((p.packet.icmp_type, p.packet.icmp_code) == (8, 0) for p in pings)
    # the internet zone is probed from documentation addresses no zone claims
    claimed = [n for z in policy.zones if not z.is_any for n in z.networks]
    docs = [ipaddress.ip_network(n) for n in ("198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")]
    for p in suite.probes:
        for zone, addr in ((p.src_zone, p.packet.src_ip), (p.dst_zone, p.packet.dst_ip)):
            if zone == "internet":
                assert any(addr in d for d in docs) and not any(addr in n for n in claimed), p
            # network and broadcast addresses of IPv4 prefixes up to /30 are never used
            for n in claimed:
                if n.version == addr.version == 4 and n.prefixlen <= 30:
                    assert addr not in (n.network_address, n.broadcast_address), p
    # both families where the zones have both (public has 2001:db8:10::/48)
    assert any(p.packet.family == 6 for p in suite.probes)
    # denied zone pairs get negatives, named as such
    assert any(p.kind == "negative" and p.src_zone == "internet" and p.dst_zone == "dedicated.tax"
               and p.flows for p in suite.probes)


def test_a_fully_shadowed_flow_is_reported_not_probed():
    policy = load_policy_text("""
policy shadow { default deny; intrazone allow }
zone a { networks 10.1.0.0/24 }
zone b { networks 10.2.0.0/24 }
allow a -> b : ssh
deny a -> b
firewall fw { target nftables; interface eth0 -> a; interface eth1 -> b }
""")
    suite = plan_suite(policy, "fw")
    assert suite.coverage.flows_total == 1 and suite.coverage.flows_covered == 0
    assert suite.coverage.uncovered_flows == (policy.flows[0].id,)
    assert "shadowed by deny flow(s) " + policy.flows[1].id in suite.coverage.notes[0]
    assert all(p.expected is Action.DENY for p in suite.probes)


def test_examples_plan_for_every_firewall():
    for path in (QUICKSTART, JIANGSU):
        policy = api.load_policy(path)
        meaning = Meaning(policy)
        for fw in policy.firewalls:
            suite = Planner(policy, fw, meaning).plan()
            assert suite.probes and suite.coverage.pairs_covered == suite.coverage.pairs_total
            assert suite.coverage.flows_covered == suite.coverage.flows_total - len(suite.coverage.uncovered_flows)
            for p in suite.probes[:200]:
                assert p.expected is meaning.decide(p.packet).action


def test_cli_errors_exit_2_and_write_nothing(tmp_path):
    out = tmp_path / "suite.yaml"
    r = run_cli("probe", "plan", QUICKSTART, "--firewall", "edgе", "-o", str(out))
    assert r.returncode == 2 and "did you mean 'edge'" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()
    r = run_cli("probe", "plan", QUICKSTART, "--budget", "0", "-o", str(out))
    assert r.returncode == 2 and "--budget must be at least 1" in r.stderr
    assert not out.exists()
    with pytest.raises(UsageError):
        plan_suite(api.load_policy(QUICKSTART), budget=-1)


def test_cli_writes_the_suite_and_the_coverage(tmp_path):
    out = tmp_path / "suite.yaml"
    r = run_cli("probe", "plan", QUICKSTART, "--firewall", "edge", "--budget", "40", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "flows covered 5/5" in r.stderr
    data = yaml.safe_load(out.read_text())
    assert data["budget"] == 40 and len(data["probes"]) == 40
    assert data["coverage"]["flows_covered"] == 5
    assert all(p["iif"].startswith("eth") and p["oif"].startswith("eth") for p in data["probes"])


INTRAZONE = """
policy inside {{ default deny; intrazone {stance} }}
zone a {{ networks 10.1.0.0/16 }}
zone a.x {{ networks 10.1.1.0/24 }}
zone b {{ networks 10.2.0.0/16 }}
allow a -> b : https
{flows}
firewall fw {{ target nftables; interface eth0 -> a; interface eth1 -> b }}
"""


def test_intrazone_deny_gets_probes_inside_every_zone():
    policy = load_policy_text(INTRAZONE.format(stance="deny", flows="allow b -> b : ssh"))
    meaning = Meaning(policy)
    suite = plan_suite(policy, meaning=meaning)
    check_suite(policy, meaning, suite)
    inside = {}
    for p in suite.probes:
        if p.src_zone == p.dst_zone:
            inside.setdefault(p.src_zone, []).append(p)
    assert sorted(inside) == ["a", "a.x", "b"]
    for z, probes in inside.items():
        stance = [p for p in probes if p.note.startswith(f"intrazone {z}, no flow")]
        assert len(stance) == 1 and stance[0].reason == "intrazone", z
        assert stance[0].expected is Action.DENY and stance[0].kind == "negative"
        # from one host to another: a packet to itself never leaves the host
        assert stance[0].packet.src != stance[0].packet.dst
    # inside b ssh is allowed by its flow, and a probe says so
    ssh = [p for p in inside["b"] if p.reason == "flow"]
    assert ssh and all(p.expected is Action.ALLOW and p.packet.dport == 22 for p in ssh)
    assert (suite.coverage.intrazone_total, suite.coverage.intrazone_covered) == (3, 3)


def test_intrazone_allow_without_flows_inside_plans_nothing_inside():
    policy = load_policy_text(INTRAZONE.format(stance="allow", flows=""))
    suite = plan_suite(policy)
    assert not [p for p in suite.probes if p.note.startswith("intrazone")]
    assert suite.coverage.intrazone_total == 0


def test_intrazone_allow_with_a_deny_inside_probes_that_zone_only():
    policy = load_policy_text(INTRAZONE.format(stance="allow", flows="deny a.x -> a.x : telnet"))
    meaning = Meaning(policy)
    suite = plan_suite(policy, meaning=meaning)
    check_suite(policy, meaning, suite)
    inside = [p for p in suite.probes if p.note.startswith("intrazone")]
    assert {p.src_zone for p in inside} == {"a.x"}
    assert any(p.expected is Action.DENY and p.flows == (policy.flows[1].id,) for p in inside)
    assert any(p.expected is Action.ALLOW and p.reason == "intrazone" for p in inside)


def test_intrazone_with_a_firewall_is_noted_not_probed(tmp_path):
    text = INTRAZONE.format(stance="deny", flows="")
    policy = load_policy_text(text)
    suite = plan_suite(policy, "fw")
    assert not [p for p in suite.probes if p.src_zone == p.dst_zone]  # none crosses fw
    assert suite.coverage.intrazone_total == 0
    assert any("3 zone(s) with intrazone decisions" in n and "firewall fw" in n for n in suite.coverage.notes)
    path = tmp_path / "inside.zp"
    path.write_text(text)
    r = run_cli("probe", "plan", str(path), "-o", str(tmp_path / "suite.yaml"))
    assert r.returncode == 0, r.stderr
    assert "intrazone covered 3/3" in r.stderr
    data = yaml.safe_load((tmp_path / "suite.yaml").read_text())
    assert (data["coverage"]["intrazone_total"], data["coverage"]["intrazone_covered"]) == (3, 3)
    assert suite_from_dict(data).coverage.intrazone_covered == 3
