"""The cisco-asa back end: golden file, proofs (random policies, broken outputs), injection, names.

The tests are shared with cisco-ios (tests/cisco_suite.py); this module binds them to cisco-asa and
adds what only the ASA has: stateless flows are refused, nameif bindings, unified ACLs.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, strategies as st

from cisco_suite import *  # noqa: F401,F403 -- the shared tests, run here for cisco-asa
from cisco_suite import Backend, any_networks, features, target_rules
from zonepolicy.compile import compile_policy
from zonepolicy.compilers import _cisco as cc
from zonepolicy.compilers import cisco_asa
from zonepolicy.compilers.base import TargetRule
from zonepolicy.compilers.cisco_asa import CiscoAsaCompiler


@pytest.fixture(scope="module")
def backend() -> Backend:
    return Backend("cisco-asa", CiscoAsaCompiler(), "asa", stateless=False, parse=cisco_asa.parse)


def test_stateless_flows_are_refused(backend: Backend) -> None:
    policy, meaning, _ = features(backend)
    flows = tuple(dataclasses.replace(f, options=dataclasses.replace(f.options, stateful=False))
                  if f.id == "to-syslog" else f for f in policy.flows)
    [compiled] = compile_policy(dataclasses.replace(policy, flows=flows), firewalls=["fw1"])
    assert not compiled.ok
    assert any(d.code == "ZP401" and "stateless" in d.message and "to-syslog" in d.message
               for d in compiled.diagnostics)


def test_bindings_use_nameif(backend: Backend) -> None:
    _, _, outs = features(backend)
    text = outs[0].text
    assert "interface Port-channel1.100\n nameif Port-channel1_100\n" in text
    assert "access-group ZP_Port-channel1_100_IN in interface Port-channel1_100\n" in text
    assert text.startswith("! zonepolicy features firewall fw1 (cisco-asa)\n")


@given(rules=st.lists(target_rules(), min_size=1, max_size=6))
def test_rule_lines_are_the_aces_texts(rules: list[TargetRule]) -> None:
    """The render's shared-text path writes what ace_text writes for each ACE of rule_aces, and
    collects the object-groups those ACEs name."""
    lines = cisco_asa.RuleLines()
    groups = {}
    for rule in rules + rules:  # twice: the second time from the shared texts
        try:
            aces = cc.rule_aces(rule, reflect=False, groups=True)
        except (cc.Unexpressible, ValueError) as err:
            with pytest.raises(type(err)):
                lines("ACL", rule)
            continue
        groups.update((cc.group_name(n), n) for a in aces for n in (a.src, a.dst) if len(n) > 1)
        assert lines("ACL", rule) == [cisco_asa.ace_text("ACL", a) for a in aces]
    assert lines.groups == groups


@given(net=any_networks)
def test_addresses_are_printed_as_ipaddress_prints_them(net) -> None:
    expected = f"any{net.version}" if net.prefixlen == 0 else f"host {net.network_address}" \
        if net.prefixlen == net.max_prefixlen else f"{net.network_address} {net.netmask}" if net.version == 4 \
        else str(net)
    assert cisco_asa.address(net) == expected
