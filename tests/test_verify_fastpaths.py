"""The verifier's shortcuts give exactly what the plain computations they replace give."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, strategies as st

from conftest import load_policy_text
from strategies import Sizes, policies
from zonepolicy.model.values import Action
from zonepolicy.semantics.meaning import Meaning
from zonepolicy.semantics.packetset import PacketSet
from zonepolicy.verify.checks import Context
from zonepolicy.verify.checks._support import may_reach
from zonepolicy.verify.checks.extranet import _between_groups, _between_groups_by_scan

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
