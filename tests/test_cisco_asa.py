"""The cisco-asa back end: golden file, proofs (random policies, broken outputs), injection, names.

The tests are shared with cisco-ios (tests/cisco_suite.py); this module binds them to cisco-asa and
adds what only the ASA has: stateless flows are refused, nameif bindings, unified ACLs.
"""

from __future__ import annotations

import dataclasses

import pytest

from cisco_suite import *  # noqa: F401,F403 -- the shared tests, run here for cisco-asa
from cisco_suite import Backend, features
from zonepolicy.compile import compile_policy
from zonepolicy.compilers import cisco_asa
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
