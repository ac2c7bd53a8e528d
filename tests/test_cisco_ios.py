"""The cisco-ios back end: golden file, proofs (random policies, broken outputs), injection, names.

The tests are shared with cisco-asa (tests/cisco_suite.py); this module binds them to cisco-ios and
adds what only IOS has: reflexive entries for stateful flows, IPv6 ACLs with neighbour discovery.
"""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest
from hypothesis import given, strategies as st

from cisco_suite import *  # noqa: F401,F403 -- the shared tests, run here for cisco-ios
from cisco_suite import Backend, any_networks, features, target_rules
from zonepolicy.compilers import cisco_ios
from zonepolicy.compilers import _cisco as cc
from zonepolicy.compilers.base import TargetRule, lower, prove
from zonepolicy.compilers.cisco_ios import CiscoIosCompiler
from zonepolicy.model.policy import Policy


@pytest.fixture(scope="module")
def backend() -> Backend:
    return Backend("cisco-ios", CiscoIosCompiler(), "ios", stateless=True, parse=cisco_ios.parse)


def test_stateful_permits_reflect_and_stateless_ones_do_not(backend: Backend) -> None:
    policy, _, outs = features(backend)
    text = outs[0].text
    assert text.count(" evaluate zp-reflect\n") == 5 and text.count(" evaluate zp-reflect6\n") == 5
    permits = [line for line in text.split("\n") if line.startswith(" permit ") and "nd-n" not in line]
    assert permits and all(line.endswith(("reflect zp-reflect", "reflect zp-reflect6")) for line in permits)
    stateless = all_stateless(policy)
    fw = stateless.firewall("fw1")
    outs = CiscoIosCompiler().render(lower(stateless, fw))
    assert " reflect " not in outs[0].text  # their replies are new packets for the other ACL
    assert prove(stateless, fw, CiscoIosCompiler().read_outputs(outs, fw)) == []


def all_stateless(policy: Policy) -> Policy:
    """``policy`` with every flow stateless."""
    return dataclasses.replace(policy, flows=tuple(
        dataclasses.replace(f, options=dataclasses.replace(f.options, stateful=False)) for f in policy.flows))


def test_ipv6_acl_keeps_neighbour_discovery_and_ends_with_a_deny(backend: Backend) -> None:
    _, _, outs = features(backend)
    text = outs[0].text
    block = text.split("ipv6 access-list ZP6_GigabitEthernet0_0_IN\n", 1)[1].split("\n!\n", 1)[0].split("\n")
    assert block[-3:] == [" permit icmp any any nd-na", " permit icmp any any nd-ns", " deny ipv6 any any"]
    assert " ipv6 traffic-filter ZP6_GigabitEthernet0_0_IN in" in text


@given(rules=st.lists(target_rules(), min_size=1, max_size=6))
def test_rule_lines_are_the_aces_texts(rules: list[TargetRule]) -> None:
    """The render's shared-text path writes what ace_text writes for each ACE of rule_aces, and
    collects the object-groups those ACEs name."""
    lines = cisco_ios.RuleLines()
    groups = {}
    for rule in rules + rules:  # twice: the second time from the shared texts
        try:
            aces = cc.rule_aces(rule, reflect=True, groups=rule.family == 4)
        except (cc.Unexpressible, ValueError) as err:
            with pytest.raises(type(err)):
                lines(rule)
            continue
        groups.update((cc.group_name(n), n) for a in aces for n in (a.src, a.dst) if len(n) > 1)
        assert lines(rule) == [cisco_ios.ace_text(a) for a in aces]
    assert lines.groups == groups


@given(net=any_networks)
def test_addresses_are_printed_as_ipaddress_prints_them(net) -> None:
    expected = "any" if net.prefixlen == 0 else f"host {net.network_address}" \
        if net.prefixlen == net.max_prefixlen else f"{net.network_address} {net.hostmask}" if net.version == 4 \
        else str(net)
    assert cisco_ios.address(net) == expected
