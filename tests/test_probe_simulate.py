"""probe simulate: compiled rules pass their planned suites; broken rulesets are caught."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import uuid

import pytest
from hypothesis import assume, given, settings

from conftest import EXAMPLES, load_policy_text, run_cli
from strategies import Sizes, policies
from zonepolicy import api
from zonepolicy.compilers.base import get_compiler, lower
from zonepolicy.model.policy import Firewall, Interface, Policy
from zonepolicy.probe.plan import plan_suite
from zonepolicy.probe.results import read_jsonl
from zonepolicy.probe.simulate import SimulationError, iptables_ruleset, nft_ruleset, reply_of, simulate
from zonepolicy.probe.suite import dump_suite
from zonepolicy.semantics.meaning import Meaning
from zonepolicy.semantics.packet import Packet

QUICKSTART = str(EXAMPLES / "quickstart" / "policy.zp")
JIANGSU = str(EXAMPLES / "jiangsu" / "main.zp")


def compiled(policy: Policy, fw: str, target: str) -> dict[str, str]:
    firewall = policy.firewall(fw)
    outs = get_compiler(target).render(lower(policy, firewall))
    return {o.filename: o.text for o in outs}


def ruleset_of(files: dict[str, str], target: str, fw: str):
    if target == "nftables":
        (name, text), = files.items()
        return nft_ruleset(text, fw, name)
    return iptables_ruleset(sorted(files.items()))


def failures(suite, rs):
    return [r for r in simulate(suite, rs) if r.result != "pass"]


def test_compiled_rules_pass_every_planned_probe():
    for path in (QUICKSTART, JIANGSU):
        policy = api.load_policy(path)
        meaning = Meaning(policy)
        for fw in policy.firewalls:
            targets = [fw.target] if fw.target in ("nftables", "iptables") else []
            if path == QUICKSTART:
                targets = ["nftables", "iptables"]
            for target in targets:
                suite = plan_suite(policy, fw.name, meaning=meaning)
                results = simulate(suite, ruleset_of(compiled(policy, fw.name, target), target, fw.name))
                assert len(results) == len(suite.probes)
                assert all(r.result == "pass" for r in results), (fw.name, target, [
                    r for r in results if r.result != "pass"][:3])
                allowed = [r for r in results if r.observed == "allow"]
                assert allowed and all(r.matched_flow for r in allowed)


@settings(max_examples=15)  # each example compiles and reads a ruleset; the planner's laws run on more
@given(policies(comments=False, sizes=Sizes(top_zones=4, children=2, grandchildren=False, addresses=2, services=2,
                                               flows=6, firewalls=0, waivers=0)))
def test_random_policies_compiled_to_nftables_pass_their_suites(text):
    policy = load_policy_text(text)
    tops = [z.name for z in policy.zones if z.parent is None]
    assume(len(tops) >= 2)
    # one leg per top-level zone, carrying its sub-zones (as the resolver expands a binding)
    legs = tuple(Interface(name=f"eth{n}", zones=tuple(sorted(z.name for z in policy.zones
                                                             if z.name == top or z.name.startswith(top + "."))))
                 for n, top in enumerate(tops))
    pol = dataclasses.replace(policy, firewalls=(Firewall(name="fw", target="nftables", interfaces=legs),))
    suite = plan_suite(pol, "fw")
    files = compiled(pol, "fw", "nftables")
    assert failures(suite, ruleset_of(files, "nftables", "fw")) == []


# ---- mutations: each broken ruleset is caught by at least one planned probe

def _edit_lines(text: str, drop: str | None = None, after: str | None = None, insert: str = "") -> str:
    out, done = [], False
    for line in text.splitlines(keepends=True):
        if drop and not done and drop in line:
            done = True
            continue
        out.append(line)
        if after and not done and after in line:
            out.append(insert)
            done = True
    assert done, (drop, after)
    return "".join(out)


def _swap(text: str, a: str, b: str) -> str:
    return re.sub(rf"\b({re.escape(a)}|{re.escape(b)})\b", lambda m: b if m.group(1) == a else a, text)


def _nft_mutations(text: str) -> dict[str, str]:
    return {
        "delete an allow rule": _edit_lines(text, drop="vmap @allow_eth1/eth2_v4_port"),
        "add an extra allow": _edit_lines(text, after="ct state invalid counter drop",
                                          insert='        iifname "eth0" oifname "eth3" accept\n'),
        "delete the ct established rule": _edit_lines(text, drop="ct state established,related"),
        "swap two interface names": _swap(text, "eth0", "eth1"),
    }


def test_broken_nftables_rulesets_are_detected():
    policy = api.load_policy(QUICKSTART)
    suite = plan_suite(policy, "edge")
    (name, text), = compiled(policy, "edge", "nftables").items()
    assert failures(suite, nft_ruleset(text, "edge", name)) == []
    for what, broken in _nft_mutations(text).items():
        assert broken != text
        fails = failures(suite, nft_ruleset(broken, "edge", name))
        assert fails, what
        if what == "delete the ct established rule":
            assert {r.reason for r in fails} == {"no-reply"}
            assert all(r.observed == "allow" for r in fails)
        if what == "add an extra allow":
            assert all(r.expected == "deny" and r.observed == "allow" for r in fails)


def test_broken_iptables_rulesets_are_detected():
    policy = api.load_policy(JIANGSU)
    fw = "lianyungang-edge"
    names = [i.name for i in policy.firewall(fw).interfaces]
    suite = plan_suite(policy, fw)
    files = compiled(policy, fw, "iptables")
    v4 = next(n for n in files if n.endswith(".iptables"))
    text = files[v4]
    first_accept = next(line for line in text.splitlines() if "--ctstate NEW" in line and "-j ACCEPT" in line)
    mutations = {
        "delete an allow rule": _edit_lines(text, drop=first_accept),
        "add an extra allow": _edit_lines(text, after="--ctstate RELATED,ESTABLISHED -j ACCEPT",
                                          insert=f"-A FORWARD -i {names[0]} -o {names[1]} -j ACCEPT\n"),
        "delete the ct established rule": _edit_lines(text, drop="--ctstate RELATED,ESTABLISHED -j ACCEPT"),
        "swap two interface names": _swap(text, names[0], names[1]),
    }
    for what, broken in mutations.items():
        assert broken != text
        fails = failures(suite, iptables_ruleset(sorted({**files, v4: broken}.items())))
        assert fails, what
        if what == "delete the ct established rule":
            assert {r.reason for r in fails} == {"no-reply"}


def test_reply_of_swaps_ends_and_answers_echo():
    p = Packet.of("10.0.0.1", "10.0.0.2", 6, dport=443, sport=40000)
    assert reply_of(p) == Packet.of("10.0.0.2", "10.0.0.1", 6, dport=40000, sport=443)
    ping = Packet.of("2001:db8::1", "2001:db8::2", 58, icmp_type=128)
    assert reply_of(ping).icmp_type == 129 and reply_of(ping).src == ping.dst


# ---- the command

def test_cli_simulate_writes_results_and_exits_by_result(tmp_path):
    policy = api.load_policy(QUICKSTART)
    suite_file = tmp_path / "suite.yaml"
    suite_file.write_text(dump_suite(plan_suite(policy, "edge")))
    (name, text), = compiled(policy, "edge", "nftables").items()
    good = tmp_path / name
    good.write_text(text)
    out = tmp_path / "results.jsonl"
    r = run_cli("probe", "simulate", str(suite_file), "--rules", str(good), "-o", str(out))
    assert r.returncode == 0, r.stderr
    results = list(read_jsonl(out.read_text()))
    assert results and all(x.result == "pass" and x.reason == "simulated" for x in results)
    assert r.stderr.strip().endswith(f"{len(results)} probes, {len(results)} passed, 0 failed, 0 inconclusive")
    bad = tmp_path / "broken.nft"
    bad.write_text(_nft_mutations(text)["delete the ct established rule"])
    r = run_cli("probe", "simulate", str(suite_file), "--rules", str(bad))
    assert r.returncode == 1
    assert "FAIL p0" in r.stderr and "reply dropped" in r.stderr
    assert any(json.loads(line)["result"] == "fail" for line in r.stdout.splitlines())


def test_cli_simulate_bad_input_exits_2(tmp_path):
    policy = api.load_policy(QUICKSTART)
    suite_file = tmp_path / "suite.yaml"
    suite_file.write_text(dump_suite(plan_suite(policy, "edge")))
    garbage = tmp_path / "rules.nft"
    garbage.write_text("table inet zonepolicy_edge {\n  chain forward {\n    type filter hook forward priority 0;\n"
                       "    frobnicate accept\n  }\n}\n")
    out = tmp_path / "results.jsonl"
    r = run_cli("probe", "simulate", str(suite_file), "--rules", str(garbage), "-o", str(out))
    assert r.returncode == 2 and "rules.nft: line 4" in r.stderr and "frobnicate" in r.stderr
    assert "Traceback" not in r.stderr and not out.exists()
    unplanned = tmp_path / "all.yaml"
    unplanned.write_text(dump_suite(plan_suite(policy)))
    (name, text), = compiled(policy, "edge", "nftables").items()
    (tmp_path / name).write_text(text)
    r = run_cli("probe", "simulate", str(unplanned), "--rules", str(tmp_path / name))
    assert r.returncode == 2 and "no iif/oif" in r.stderr and "--firewall" in r.stderr
    r = run_cli("probe", "simulate", str(tmp_path / "missing.yaml"), "--rules", str(tmp_path / name))
    assert r.returncode == 2 and "cannot read" in r.stderr
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(b"probes: [caf\xe9]\n")
    r = run_cli("probe", "simulate", str(latin1), "--rules", str(tmp_path / name))
    assert r.returncode == 2 and "latin1.yaml: not UTF-8 text" in r.stderr and "Traceback" not in r.stderr
    with pytest.raises(SimulationError):
        nft_ruleset("table inet other_a {\n}\ntable inet other_b {\n}\n", "edge", "x.nft")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces")
@pytest.mark.skipif(shutil.which("nft") is None and not os.path.exists("/usr/sbin/nft"), reason="needs nft")
def test_nft_list_ruleset_of_a_loaded_table_passes(tmp_path):
    nft = shutil.which("nft") or "/usr/sbin/nft"
    policy = api.load_policy(QUICKSTART)
    (name, text), = compiled(policy, "edge", "nftables").items()
    rules = tmp_path / name
    rules.write_text(text)
    ns = f"zptest-sim-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", ns, nft, "-f", str(rules)], check=True)
        listed = subprocess.run(["ip", "netns", "exec", ns, nft, "list", "ruleset"], check=True,
                                capture_output=True, text=True).stdout
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
    assert "counter packets" in listed  # the listed form, not our own text
    suite = plan_suite(policy, "edge")
    assert failures(suite, nft_ruleset(listed, "edge", "listed")) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces")
@pytest.mark.skipif(not (shutil.which("iptables-save") or os.path.exists("/usr/sbin/iptables-save")),
                    reason="needs iptables")
def test_iptables_save_of_a_loaded_ruleset_passes(tmp_path):
    def tool(name: str) -> str:
        return shutil.which(name) or f"/usr/sbin/{name}"

    policy = api.load_policy(JIANGSU)
    fw = "lianyungang-edge"
    files = compiled(policy, fw, "iptables")
    ns = f"zptest-sim-{uuid.uuid4().hex[:8]}"
    saved = []
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        for name, text in sorted(files.items()):
            v6 = name.endswith(".ip6tables")
            path = tmp_path / name
            path.write_text(text)
            subprocess.run(["ip", "netns", "exec", ns, tool("ip6tables-restore" if v6 else "iptables-restore"),
                            str(path)], check=True)
            out = subprocess.run(["ip", "netns", "exec", ns, tool("ip6tables-save" if v6 else "iptables-save")],
                                 check=True, capture_output=True, text=True).stdout
            saved.append((f"saved-{'v6' if v6 else 'v4'}", out))
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
    assert all("Generated by ip" in text for _, text in saved)  # iptables-save's form, not ours
    suite = plan_suite(policy, fw)
    assert failures(suite, iptables_ruleset(saved)) == []
