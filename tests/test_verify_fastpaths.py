"""The verifier's shortcuts give exactly what the plain computations they replace give."""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import given, strategies as st

from conftest import EXAMPLES, load_policy_text
from strategies import Sizes, policies
from zonepolicy import api
from zonepolicy.model.values import Action
from zonepolicy.semantics.meaning import Meaning
from zonepolicy.semantics.packetset import PacketSet
from zonepolicy.verify.anomalies import find_anomalies
from zonepolicy.verify.checks import Context
from zonepolicy.verify.checks._support import may_reach
from zonepolicy.verify.checks.extranet import _between_groups, _between_groups_by_scan
from zonepolicy.verify.engine import verify
from zonepolicy.verify.output import OutputOptions, render_json, report_dict
from zonepolicy.verify.packs import builtin_pack

MEDIUM = Sizes(top_zones=4, children=2, grandchildren=True, addresses=3, services=3, flows=12, firewalls=0, waivers=0)


def _context(text: str) -> Context:
    policy = load_policy_text(text)
    return Context(policy, Meaning(policy), dt.date(2026, 1, 1))


@given(policies(comments=False, sizes=MEDIUM), st.randoms(use_true_random=False))
def test_flows_meeting_equals_testing_every_flow(text, rnd):
    ctx = _context(text)
    m = ctx.meaning
    zones = [z.name for z in ctx.policy.zones]
    questions = [m.allowed(), m.matched(Action.DENY), PacketSet.universe(), PacketSet.empty(),
                 m.own_addresses(rnd.choice(zones), "src") & m.own_addresses(rnd.choice(zones), "dst"),
                 m.allowed() & m.zones_addresses(rnd.sample(zones, min(3, len(zones))), "dst")]
    for packets in questions:
        plain = [(f, m.flow_set(f) & packets) for f in ctx.policy.flows if not (m.flow_set(f) & packets).is_empty()]
        assert list(m.flows_meeting(ctx.policy.flows, packets)) == plain


@given(policies(comments=False, sizes=MEDIUM), st.randoms(use_true_random=False))
def test_between_groups_equals_the_group_by_group_union(text, rnd):
    ctx = _context(text)
    zones = [z.name for z in ctx.policy.zones]
    rnd.shuffle(zones)
    cuts = sorted(rnd.sample(range(1, len(zones)), min(len(zones) - 1, rnd.randint(0, 4))))
    groups = [zones[a:b] for a, b in zip([0] + cuts, cuts + [len(zones)])]
    assert _between_groups(ctx, groups) == _between_groups_by_scan(ctx, groups)


@given(policies(comments=False, sizes=MEDIUM))
def test_zones_addresses_is_the_union_of_own_addresses(text):
    policy = load_policy_text(text)
    meaning = Meaning(policy)
    names = [z.name for z in policy.zones]
    for side in ("src", "dst"):
        for k in range(len(names) + 1):
            plain = PacketSet.empty()
            for z in names[:k]:
                plain = plain | meaning.own_addresses(z, side)
            assert meaning.zones_addresses(names[:k], side) == plain
            assert meaning.zones_addresses(reversed(names[:k]), side) == plain  # memo: order does not matter


def test_may_reach_reads_what_a_flow_names():
    ctx = _context("""
policy reach { default deny; intrazone deny }
zone a { networks 10.1.0.0/16 }
zone a.x { networks 10.1.1.0/24 }
zone b { networks 10.2.0.0/16 }
allow a -> b : tcp/22
allow a.x -> 10.2.0.9 : tcp/22
""")
    first, second = ctx.policy.flows
    assert may_reach(first, frozenset({"a.x"}), "src")  # `a` stands for its sub-zones too
    assert not may_reach(first, frozenset({"b"}), "src")
    assert may_reach(second, frozenset({"a"}), "dst")  # an address may lie in any zone


@given(policies(comments=False, sizes=Sizes(top_zones=4, children=2, addresses=3, services=3, flows=12,
                                              firewalls=1, waivers=3)))
def test_json_output_equals_the_report_data_written_as_json(text):
    policy = load_policy_text(text)
    report = verify(policy, packs=[builtin_pack("mlps-2.0")], today=dt.date(2026, 1, 1))
    options = OutputOptions(policy=policy)
    written = render_json(report, options)
    assert written == json.dumps(report_dict(report, options), ensure_ascii=False, indent=2) + "\n"


def test_json_output_of_the_example_with_waivers_equals_the_report_data():
    policy = api.load_policy(str(EXAMPLES / "jiangsu" / "main.zp"))
    report = verify(policy, today=dt.date(2026, 1, 1))
    assert any(f.suppressed for f in report.findings) and any(f.witness for f in report.findings)
    options = OutputOptions(policy=policy)
    assert render_json(report, options) == json.dumps(report_dict(report, options), ensure_ascii=False, indent=2) + "\n"


@given(policies(comments=False, sizes=MEDIUM))
def test_unreachable_zone_findings_show_the_boxes_of_their_set(text):
    ctx = _context(text)
    m = ctx.meaning
    for f in find_anomalies(ctx):
        if f.rule == "ANO-06":
            (zone,) = f.zones
            into = m.own_addresses(zone, "dst") - m.own_addresses(zone, "src")
            boxes = into.boxes()
            assert f.affected == tuple(str(b) for b in boxes) and f.affected_total == len(boxes)
            assert f.witness == into.pick()
