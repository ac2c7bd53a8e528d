"""``zonepolicy query``: exact reachability answers, checked against the meaning packet by packet."""

from __future__ import annotations

import json
import os
import random
import tempfile

import pytest
from hypothesis import given, settings, strategies as st

from conftest import EXAMPLES, run_cli, load_policy_text as load_text
from strategies import small_policies
from zonepolicy import api
from zonepolicy.errors import UsageError
from zonepolicy.model.policy import Policy
from zonepolicy.model.values import Action
from zonepolicy.report.views import matrix
from zonepolicy.semantics.meaning import Meaning
from zonepolicy.verify.query import Answer, reach, reachability, resolve_services, resolve_target

QUICKSTART = str(EXAMPLES / "quickstart" / "policy.zp")




def cli(*args: str):
    r = run_cli(*args)
    assert "Traceback" not in r.stdout + r.stderr and "internal error" not in r.stderr, r.stderr
    return r


def check_answer(meaning: Meaning, answer: Answer) -> None:
    """Everything an answer claims, checked with the meaning's one-packet verdict and its sets."""
    allowed, denied = answer.allowed, answer.denied
    assert (allowed.witness is None) == allowed.packets.is_empty()
    assert (denied.witness is None) == denied.packets.is_empty()
    if allowed.witness is not None:
        d = meaning.decide(allowed.witness)
        assert d.allowed and d == allowed.decision
        assert allowed.witness in allowed.packets
    if denied.witness is not None:
        d = meaning.decide(denied.witness)
        assert not d.allowed and d == denied.decision
        assert denied.witness in denied.packets
    assert (allowed.packets & denied.packets).is_empty()
    expected = {(True, True): "empty", (False, True): "all", (True, False): "none", (False, False): "some"}
    assert answer.verdict == expected[(allowed.packets.is_empty(), denied.packets.is_empty())]
    # the flows named for the witnesses' decisions are among the flows the answer lists
    roles = {f.id: f.role for f in answer.flows}
    for part, role in ((allowed, "allows"), (denied, "denies")):
        if part.decision is not None and part.decision.reason == "flow":
            assert all(roles.get(fid) == role for fid in part.decision.flows), (part.decision, roles)
        elif part.decision is not None:
            assert any(s.startswith(part.decision.reason) for s in answer.stances), (part.decision, answer.stances)


# --------------------------------------------------------------------------- the quickstart, by hand

def test_mgmt_may_ssh_everywhere():
    p = api.load_policy(QUICKSTART)
    a = reach(p, "mgmt", "public", ["ssh"])
    assert a.verdict == "all"
    assert str(a.allowed.witness) == "tcp 10.99.0.0:0 -> 10.10.0.0:22"
    assert [(f.role, f.text) for f in a.flows] == [("allows", "allow mgmt -> * : ssh, ping")]
    assert a.flows[0].span.line == 34
    check_answer(Meaning(p), a)


def test_partly_allowed_to_an_address_object():
    p = api.load_policy(QUICKSTART)
    a = reach(p, "dedicated.tax", "public", ["https"])
    assert a.verdict == "some"
    assert str(a.allowed.witness) == "tcp 10.20.0.0:0 -> 10.10.1.10:443"
    assert a.allowed.boxes == ("tcp 10.20.0.0/16 -> 10.10.1.10/32 dport 443",)
    assert a.stances == ("default deny",)
    check_answer(Meaning(p), a)


def test_deny_wins_and_the_deny_flow_is_named():
    p = api.load_policy(QUICKSTART)
    a = reach(p, "internet", "dedicated.tax", ["tcp/443"])
    assert a.verdict == "none"
    assert [(f.role, f.text) for f in a.flows] == [("denies", "deny internet -> dedicated.*")]
    assert a.denied.decision.reason == "flow"


def test_addresses_literals_and_wildcards():
    p = api.load_policy(QUICKSTART)
    m = Meaning(p)
    for src, dst, svc in [("10.99.0.7", "ca-server", []), ("public.*", "internet-access", ["http, https"]),
                          ("*", "10.10.8.0/24", ["tcp/443"]), ("public", "2001:db8:10::/48", ["icmp"]),
                          ("10.99.0.7", "2001:db8:10::1", [])]:
        check_answer(m, reach(p, src, dst, svc, m))
    assert reach(p, "10.99.0.7", "2001:db8:10::1", meaning=m).verdict == "empty"
    # a zone stands for itself and its sub-zones, as in a flow
    assert resolve_target(p, "public").zones == ("public", "public.portal")
    assert resolve_target(p, "dedicated.*").zones == ("dedicated.tax",)


@pytest.mark.parametrize("text, message", [
    ("mgnt", "did you mean 'mgmt'"), ("nothing.*", "matches no zone"), ("10.0.0.1/8", "did you mean 10.0.0.0/8"),
])
def test_unknown_targets(text, message):
    with pytest.raises(UsageError, match=message):
        resolve_target(api.load_policy(QUICKSTART), text)


@pytest.mark.parametrize("text, message", [
    ("sshh", "did you mean 'ssh'"), ("tcp/70000", "out of range"), ("icmp/bogus", "unknown icmp type"),
])
def test_unknown_services(text, message):
    with pytest.raises(UsageError, match=message):
        resolve_services(api.load_policy(QUICKSTART), [text])


def test_what_can_reach_a_zone_is_a_matrix_column():
    p = api.load_policy(QUICKSTART)
    m = Meaning(p)
    names, cells = matrix(p, m)
    for zone in names:
        col = reachability(p, zone, "to", meaning=m)
        assert [(o, c) for o, c in col.cells] == [(o, cells[(o, zone)]) for o in names]
        row = reachability(p, zone, "from", meaning=m)
        assert [(o, c) for o, c in row.cells] == [(o, cells[(zone, o)]) for o in names]


def test_what_can_reach_narrowed_to_a_service():
    p = api.load_policy(QUICKSTART)
    r = dict(reachability(p, "internet-access", "to", ["https"]).cells)
    assert r["internet"].text() == "all" and r["public"].text() == "all" and r["dedicated.tax"].text() == "-"
    with pytest.raises(UsageError, match="not a zone"):
        reachability(p, "ca-server")


# --------------------------------------------------------------------------- the CLI

def test_cli_text_and_json():
    r = cli("query", QUICKSTART, "--from", "public", "--to", "internet-access")
    assert r.returncode == 0 and r.stderr == ""
    out = r.stdout
    assert out.startswith("query: public -> internet-access (any service)\nverdict: some")
    assert "  e.g. tcp 10.10.0.0:0 -> 203.0.113.0:80  [public -> internet-access; allow by flow" in out
    assert "  stance     default deny" in out
    assert "examples/quickstart/policy.zp:33  allow public -> internet-access : http, https" in out
    data = json.loads(cli("query", QUICKSTART, "--from", "mgmt", "--to", "public", "--service", "ssh",
                          "--format", "json").stdout)
    assert data["verdict"] == "all" and data["query"]["services"] == ["ssh"]
    assert data["allowed"]["witness_text"] == "tcp 10.99.0.0:0 -> 10.10.0.0:22"
    assert data["denied"]["empty"] is True
    assert data["flows"][0]["span"]["line"] == 34


def test_cli_one_sided():
    r = cli("query", QUICKSTART, "--to", "internet-access")
    assert r.returncode == 0
    assert "internet         tcp/443" in r.stdout and "public           tcp/80, tcp/443" in r.stdout
    assert r.stdout.endswith("5 zone(s) with something allowed, 1 with nothing\n")
    data = json.loads(cli("query", QUICKSTART, "--from", "mgmt", "--service", "ssh", "--format", "json").stdout)
    assert data["direction"] == "from" and all(z["allowed"] == "all" for z in data["zones"])


@pytest.mark.parametrize("args, message", [
    ([], "give --from, --to, or both"),
    (["--from", "mgnt", "--to", "public"], "did you mean 'mgmt'"),
    (["--to", "ca-server"], "not a zone"),
    (["--from", "mgmt", "--to", "public", "--service", "sshh"], "did you mean 'ssh'"),
    (["--from", "mgmt", "--to", "public", "--format", "yaml"], "Invalid value"),
])
def test_cli_invalid_input_exits_2(args, message):
    r = cli("query", QUICKSTART, *args)
    assert r.returncode == 2 and message in r.stderr, r.stderr


def test_cli_answer_is_deterministic():
    args = ("query", QUICKSTART, "--from", "*", "--to", "public", "--format", "json")
    assert cli(*args).stdout == cli(*args).stdout


# --------------------------------------------------------------------------- properties

def _targets(policy: Policy, rng: random.Random) -> list[str]:
    names = [z.name for z in policy.zones] + [a.name for a in policy.addresses] + ["*"]
    prefixes = sorted({z.name.rsplit(".", 1)[0] + ".*" for z in policy.zones if "." in z.name})
    nets = [str(n) for z in policy.zones for n in z.networks]
    return names + prefixes + nets + ["10.0.0.1", "2001:db8::1"]


@settings(max_examples=25)
@given(small_policies(comments=False), st.integers(0, 2**16))
def test_query_verdicts_agree_with_decide(text: str, seed: int) -> None:
    policy = load_text(text)
    meaning = Meaning(policy)
    rng = random.Random(seed)
    targets = _targets(policy, rng)
    services = [[], ["tcp/22"], ["https, dns"], ["icmp"], ["udp/1-1000"], ["ip/gre"]]
    for _ in range(6):
        answer = reach(policy, rng.choice(targets), rng.choice(targets), rng.choice(services), meaning)
        check_answer(meaning, answer)
        # the two parts are exactly the question split by the meaning's allowed set
        assert (answer.allowed.packets | answer.denied.packets) & meaning.allowed() == answer.allowed.packets


@settings(max_examples=15)
@given(small_policies(comments=False))
def test_reachability_cells_agree_with_decide(text: str) -> None:
    policy = load_text(text)
    meaning = Meaning(policy)
    zones = [z.name for z in policy.zones]
    target = zones[len(zones) // 2]
    for other, c in reachability(policy, target, "to", meaning=meaning).cells:
        between = meaning.between(other, target)
        witness = (between & meaning.allowed()).pick()
        assert (witness is not None) == (c.text() != "-")
        if witness is not None:
            assert meaning.decide(witness).action is Action.ALLOW
        if c.everything:
            assert between <= meaning.allowed()
