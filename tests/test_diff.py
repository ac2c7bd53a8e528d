"""``zonepolicy diff``: the semantic change between two policy versions, checked against both meanings."""

from __future__ import annotations

import dataclasses
import re
import json
import os
import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from conftest import EXAMPLES, run_cli, load_policy_text as load_text
from strategies import small_policies
from zonepolicy import api
from zonepolicy.dsl.formatter import format_file
from zonepolicy.model.policy import Endpoint, Flow, Policy
from zonepolicy.model.values import Action, PortRange, ServiceTerm
from zonepolicy.semantics.meaning import Meaning
from zonepolicy.semantics.packetset import PacketSet
from zonepolicy.verify.diff import UNZONED, PolicyDiff, diff_policies, split_by_zone_pair

QUICKSTART = EXAMPLES / "quickstart" / "policy.zp"




def cli(*args: str, cwd: Path | None = None):
    r = run_cli(*args, cwd=cwd)
    assert "Traceback" not in r.stdout + r.stderr and "internal error" not in r.stderr, r.stderr
    return r


def check_diff(old: Policy, new: Policy, d: PolicyDiff) -> None:
    """Every claim of the diff, checked with both meanings: examples, zone pairs, completeness, blame."""
    mo, mn = Meaning(old), Meaning(new)
    plus = mn.allowed() - mo.allowed()
    minus = mo.allowed() - mn.allowed()
    assert d.changed == (mo.allowed() != mn.allowed())
    union_plus, union_minus = PacketSet.empty(), PacketSet.empty()
    for pair in d.pairs:
        assert pair.allowed is not None or pair.denied is not None
        for change, now_allowed, placed_by in ((pair.allowed, True, mn), (pair.denied, False, mo)):
            if change is None:
                continue
            ex = change.example
            assert ex in change.packets
            before, after = mo.decide(ex), mn.decide(ex)
            assert before.allowed is not now_allowed and after.allowed is now_allowed, (str(ex), before, after)
            assert (before, after) == (change.old, change.new)
            # the pair is named by the zones of the version that explains the change
            where = placed_by.decide(ex)
            assert (where.src_zone or UNZONED, where.dst_zone or UNZONED) == (pair.src, pair.dst)
            # the flows deciding the example in the explaining version are among those named
            version, decision = ("new", after) if now_allowed else ("old", before)
            named = {(r.version, r.id) for r in change.responsible}
            texts = {r.text for r in change.responsible if r.id is None and r.version == version}
            if decision.reason == "flow":
                assert {(version, f) for f in decision.flows} <= named, (decision, named)
            else:
                assert f"{decision.reason} {decision.action.value}" in texts, (decision, texts)
            assert change.count == change.packets.count() > 0
        if pair.allowed:
            union_plus = union_plus | pair.allowed.packets
        if pair.denied:
            union_minus = union_minus | pair.denied.packets
    assert union_plus == plus and union_minus == minus


# --------------------------------------------------------------------------- mutations of one policy

def _zone_endpoint(policy: Policy, name: str) -> Endpoint:
    subtree = tuple(z.name for z in policy.zones if z.name == name or z.name.startswith(name + "."))
    return Endpoint(text=name, zones=subtree)


def mutate(policy: Policy, rng: random.Random) -> Policy:
    """A nearby version: a flow dropped, added or turned around, or a header stance changed."""
    flows = list(policy.flows)
    kind = rng.choice(["drop", "add", "flip", "stance"] if flows else ["add", "stance"])
    if kind == "drop":
        del flows[rng.randrange(len(flows))]
    elif kind == "add":
        names = [z.name for z in policy.zones]
        service = rng.choice([(), (ServiceTerm(6, (PortRange(22, 22),)),), (ServiceTerm(17),), (ServiceTerm(1, (), 8),)])
        flows.insert(rng.randrange(len(flows) + 1), Flow(
            id="mutation", action=rng.choice([Action.ALLOW, Action.DENY]),
            sources=(_zone_endpoint(policy, rng.choice(names)),),
            destinations=(_zone_endpoint(policy, rng.choice(names)),), services=service))
    elif kind == "flip":
        i = rng.randrange(len(flows))
        other = Action.DENY if flows[i].action is Action.ALLOW else Action.ALLOW
        flows[i] = dataclasses.replace(flows[i], action=other)
    else:
        field = rng.choice(["default", "intrazone"])
        other = Action.DENY if getattr(policy, field) is Action.ALLOW else Action.ALLOW
        return dataclasses.replace(policy, **{field: other})
    return dataclasses.replace(policy, flows=tuple(flows))


@settings(max_examples=30)
@given(small_policies(comments=False))
def test_a_policy_has_no_diff_with_itself_or_its_formatted_text(text: str) -> None:
    policy = load_text(text)
    d = diff_policies(policy, policy)
    assert not d.changed and d.pairs == () and d.zones == ()
    assert d.summary() == "Diff: 0 zone pairs, 0 newly allowed, 0 newly denied"
    again = load_text(format_file(text, "p.zp"))
    assert not diff_policies(policy, again).changed


@settings(max_examples=30)
@given(small_policies(comments=False), st.integers(0, 2**16))
def test_diff_of_a_mutated_policy_is_judged_right_by_both_meanings(text: str, seed: int) -> None:
    old = load_text(text)
    new = mutate(old, random.Random(seed))
    check_diff(old, new, diff_policies(old, new))
    check_diff(new, old, diff_policies(new, old))


@settings(max_examples=15)
@given(small_policies(comments=False), small_policies(comments=False))
def test_diff_of_unrelated_policies_is_judged_right_by_both_meanings(a: str, b: str) -> None:
    old, new = load_text(a), load_text(b)
    d = diff_policies(old, new)
    check_diff(old, new, d)
    only_old = {z.name for z in old.zones} - {z.name for z in new.zones}
    only_new = {z.name for z in new.zones} - {z.name for z in old.zones}
    assert {z.name for z in d.zones if z.status == "removed"} == only_old
    assert {z.name for z in d.zones if z.status == "added"} == only_new


@settings(max_examples=20)
@given(small_policies(comments=False))
def test_split_by_zone_pair_partitions_the_set(text: str) -> None:
    policy = load_text(text)
    m = Meaning(policy)
    parts = split_by_zone_pair(m, m.allowed())
    union = PacketSet.empty()
    for (a, b), part in parts.items():
        assert part and (union & part).is_empty()
        union = union | part
        ex = part.pick()
        assert (m.zone_of(ex.family, ex.src) or UNZONED, m.zone_of(ex.family, ex.dst) or UNZONED) == (a, b)
    assert union == m.allowed()


# --------------------------------------------------------------------------- by hand and through the CLI

OLD = QUICKSTART.read_text(encoding="utf-8")
# Edited by pattern, not by exact spacing, so reformatting the example does not break the test.
NEW, _edits = re.subn(r"allow public -> internet-access\s*: http, https\s*\{ log \}",
                      "allow public -> internet-access : https { log }\nallow mgmt -> lab", OLD)
assert _edits == 1, "the quickstart example no longer has the flow this test edits"
NEW = NEW.replace('zone mgmt "运维管理区"', 'zone lab { networks 10.50.0.0/16 }\nzone mgmt "运维管理区"', 1)


@pytest.fixture
def versions(tmp_path: Path) -> Path:
    (tmp_path / "old.zp").write_text(OLD, encoding="utf-8")
    (tmp_path / "new.zp").write_text(NEW, encoding="utf-8")
    return tmp_path


def test_quickstart_change_by_hand(versions):
    old, new = api.load_policy(str(versions / "old.zp")), api.load_policy(str(versions / "new.zp"))
    d = diff_policies(old, new, old_label="old.zp", new_label="new.zp")
    check_diff(old, new, d)
    pairs = {(p.src, p.dst): p for p in d.pairs}
    assert [(z.name, z.status, z.new) for z in d.zones] == [("lab", "added", "10.50.0.0/16")]
    lab = pairs[("mgmt", "lab")]
    assert lab.denied is None and lab.allowed is not None
    # ssh and ping from mgmt were allowed to those addresses before (mgmt -> *): not new
    assert not any("dport 22 " in b or b.endswith("dport 22") for b in lab.allowed.boxes)
    assert [(r.version, r.role, r.text) for r in lab.allowed.responsible if r.id] == [
        ("new", "allowed by", "allow mgmt -> lab")]
    http = pairs[("public", "internet-access")]
    assert http.allowed is None and str(http.denied.example) == "tcp 10.10.0.0:0 -> 203.0.113.0:80"
    assert [(r.version, r.role) for r in http.denied.responsible] == [("old", "was allowed by"),
                                                                      ("new", "now denied by")]
    # addresses carved out of the catch-all zone lose their intrazone traffic, placed by OLD's zones
    assert ("internet", "internet") in pairs and pairs[("internet", "internet")].allowed is None
    assert d.summary() == "Diff: 5 zone pairs, 1 newly allowed, 4 newly denied"


def test_cli_exit_codes_and_text(versions):
    same = cli("diff", "old.zp", "old.zp", cwd=versions)
    assert same.returncode == 0
    assert same.stdout.endswith("no change in what the policy allows\n\nDiff: 0 zone pairs, 0 newly allowed, "
                                "0 newly denied\n")
    r = cli("diff", "old.zp", "new.zp", cwd=versions)
    assert r.returncode == 1 and r.stderr == ""
    out = r.stdout
    assert out.startswith("--- old.zp (policy quickstart)\n+++ new.zp (policy quickstart)\n\n+ zone lab: 10.50.0.0/16\n")
    assert "\nmgmt -> lab\n+ " in out
    assert "\npublic -> internet-access\n- tcp 10.10.0.0/21," in out
    assert "    was allowed by f" in out and "(old.zp:33): allow public -> internet-access : http, https" in out
    assert "    now denied by default deny (new)" in out
    assert out.endswith("\nDiff: 5 zone pairs, 1 newly allowed, 4 newly denied\n")
    # reformatting changes no packet
    (versions / "formatted.zp").write_text(format_file(OLD, "old.zp"), encoding="utf-8")
    assert cli("diff", "old.zp", "formatted.zp", cwd=versions).returncode == 0


def test_cli_json_and_markdown(versions):
    data = json.loads(cli("diff", "--format", "json", "old.zp", "new.zp", cwd=versions).stdout)
    assert data["changed"] is True and data["counts"] == {"zone_pairs": 5, "newly_allowed": 1, "newly_denied": 4}
    pair = next(p for p in data["pairs"] if (p["from"], p["to"]) == ("mgmt", "lab"))
    assert pair["newly_denied"] is None
    change = pair["newly_allowed"]
    assert change["old_decision"]["action"] == "deny" and change["new_decision"]["action"] == "allow"
    assert change["packets"] > 0 and change["example"]["family"] == 4
    md = cli("diff", "--format", "markdown", "old.zp", "new.zp", cwd=versions)
    assert md.returncode == 1
    assert md.stdout.startswith("### zonepolicy diff: `old.zp` → `new.zp`\n")
    assert "| `mgmt` | `lab` | `" in md.stdout and "```diff\n+ " in md.stdout
    assert md.stdout.endswith("**Diff: 5 zone pairs, 1 newly allowed, 4 newly denied**\n")


def test_cli_output_file_and_determinism(versions):
    for fmt in ("text", "json", "markdown"):
        a = cli("diff", "--format", fmt, "old.zp", "new.zp", cwd=versions)
        b = cli("diff", "--format", fmt, "old.zp", "new.zp", cwd=versions)
        assert a.stdout == b.stdout
        r = cli("diff", "--format", fmt, "-o", "d.out", "old.zp", "new.zp", cwd=versions)
        assert r.returncode == 1 and r.stdout == "" and r.stderr.startswith("Diff: 5 zone pairs")
        assert (versions / "d.out").read_text(encoding="utf-8") == a.stdout


@pytest.mark.parametrize("args, message", [
    (["old.zp", "missing.zp"], "no such file"),
    (["old.zp", "bad.zp"], "error[ZP"),
    (["old.zp"], "Missing argument"),
    (["--format", "html", "old.zp", "new.zp"], "Invalid value"),
])
def test_cli_invalid_input_exits_2(versions, args, message):
    (versions / "bad.zp").write_text("policy p { default deny }\nallow a -> b\n", encoding="utf-8")
    r = cli("diff", *args, cwd=versions)
    assert r.returncode == 2 and message in r.stderr, r.stderr


def test_json_export_compares_equal_to_its_source(versions):
    assert cli("export", "old.zp", "-o", "old.json", cwd=versions).returncode == 0
    assert cli("diff", "old.zp", "old.json", cwd=versions).returncode == 0
