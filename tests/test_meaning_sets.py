"""The meaning's shortcuts for whole sets give exactly what the plain constructions give."""

from __future__ import annotations

from hypothesis import given

from conftest import load_policy_text
from strategies import Sizes, policies
from zonepolicy.model.values import Action
from zonepolicy.semantics.meaning import Meaning
from zonepolicy.semantics.packetset import PacketSet

MEDIUM = Sizes(top_zones=4, children=2, grandchildren=True, addresses=3, services=3, flows=12, firewalls=0, waivers=0)


@given(policies(comments=False, sizes=MEDIUM))
def test_grouped_matched_equals_the_union_of_flow_sets(text):
    policy = load_policy_text(text)
    fast, plain = Meaning(policy), Meaning(policy)
    for action in (Action.ALLOW, Action.DENY):
        assert fast.matched(action) == plain._matched_by_scan(action)


@given(policies(comments=False, sizes=MEDIUM))
def test_flow_is_empty_without_the_set_equals_the_set_being_empty(text):
    policy = load_policy_text(text)
    fast, plain = Meaning(policy), Meaning(policy)
    for f in policy.flows:
        assert fast.flow_is_empty(f) == plain.flow_set(f).is_empty(), f.id
        assert plain.flow_is_empty(f) == plain.flow_set(f).is_empty(), f.id  # from the built set


def test_empty_flows_of_every_kind_are_found_without_their_sets():
    policy = load_policy_text("""
policy fam { default deny; intrazone deny }
zone v4 { networks 10.1.0.0/16 }
zone v6 { networks 2001:db8:1::/48 }
zone both { networks 10.2.0.0/16, 2001:db8:2::/48 }
zone hollow { }
allow v4 -> v6 : tcp/22
allow v4 -> both : icmpv6/echo-request
allow v6 -> both : icmp/echo-request
allow v6 -> both : icmpv6/echo-request, tcp/443
allow both -> hollow : tcp/80
allow v4, v6 -> both : icmp/echo-request
allow v4 -> 2001:db8:2::1 : tcp/22
""")
    meaning = Meaning(policy)
    empty = [meaning.flow_is_empty(f) for f in policy.flows]
    assert empty == [True, True, True, False, True, False, True]
    assert empty == [Meaning(policy).flow_set(f).is_empty() for f in policy.flows]


@given(policies(comments=False, sizes=MEDIUM))
def test_a_flow_sets_boxes_from_its_parts_equal_its_own_boxes(text):
    policy = load_policy_text(text)
    meaning = Meaning(policy)
    for f in policy.flows:
        packets = meaning.flow_set(f)
        parts = meaning.product_of(packets)
        assert parts is not None and parts[0] & parts[1] & parts[2] == packets
        assert PacketSet.product_boxes(*parts) == packets.boxes(), f.id
