"""The nftables back end: golden files, proofs (examples, random policies, broken outputs), the reader
on ``nft list`` output, injection safety, determinism, kernel acceptance.

Golden files live in tests/golden/nftables/<case>/<firewall>.nft; regenerate them after a reviewed
change with ``ZONEPOLICY_UPDATE_GOLDEN=1 python -m pytest tests/test_nftables.py`` and read the diff.
The kernel tests create their own network namespace (``ip netns add``), check (``nft -c -f``) and
load (``nft -f``) every golden file inside it, read the loaded table back with ``nft list`` and prove
it, and delete the namespace; one test sends real packets through a loaded file (stateful replies
pass, stateless replies do not). They skip, saying why, when not root or when nft/ip are missing.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import given, strategies as st

from backend_cases import assert_golden, case_loader
from conftest import REPO, load_policy_text as load_text
from strategies import Sizes, policy_specs, render_policy
from zonepolicy import api
from zonepolicy.compile import compile_policy
from zonepolicy.compilers import nftables as nft
from zonepolicy.compilers.base import (
    PairRules, TargetModel, TargetRule, get_compiler, lower, prove,
)
from zonepolicy.compilers.nftables import (
    NftablesCompiler, NftReadError, derived_name, file_name, log_prefix, log_problems, nft_string, split_box,
    stateless_problems, table_name,
)
from zonepolicy.model.values import Action
from zonepolicy.semantics.meaning import Meaning
from zonepolicy.semantics.packetset import PacketSet

GOLDEN = REPO / "tests" / "golden" / "nftables"
DATA = REPO / "tests" / "data" / "nftables"
COMPILER = NftablesCompiler()

CASES = [
    ("quickstart", "examples/quickstart/policy.zp", ("edge",)),
    ("jiangsu", "examples/jiangsu/main.zp", ("cloud-fw", "nantong-edge", "suqian-edge", "yancheng-edge")),
    ("features", "tests/data/nftables/features.zp", ("edge-fw",)),
    ("default-allow", "tests/data/nftables/default-allow.zp", ("lab-gw",)),
]
CASE_FWS = [(case, path, fw) for case, path, fws in CASES for fw in fws]
CASE_IDS = [f"{case}-{fw}" for case, _, fw in CASE_FWS]

load_case = case_loader()


def compiled_text(path: str, fw: str) -> str:
    policy, meaning = load_case(path)
    [result] = compile_policy(policy, firewalls=[fw], meaning=meaning)
    assert result.ok, result.diagnostics
    [out] = result.outputs
    assert out.filename == f"{fw}.nft"
    return out.text




def _line(needle: str) -> int:
    """The line of tests/data/nftables/features.zp that contains ``needle``."""
    lines = (DATA / "features.zp").read_text(encoding="utf-8").splitlines()
    return next(k for k, ln in enumerate(lines, 1) if needle in ln)


# ---------------------------------------------------------------- golden files and proofs
@pytest.mark.parametrize("case, path, fw", CASE_FWS, ids=CASE_IDS)
def test_golden(case: str, path: str, fw: str) -> None:
    text = compiled_text(path, fw)
    golden = GOLDEN / case / f"{fw}.nft"
    assert_golden(golden, text)


@pytest.mark.parametrize("case, path, fw", CASE_FWS, ids=CASE_IDS)
def test_output_proves_equal_to_the_policy(case: str, path: str, fw: str) -> None:
    policy, meaning = load_case(path)
    firewall = policy.firewall(fw)
    text = compiled_text(path, fw)
    assert prove(policy, firewall, COMPILER.read(text, firewall), meaning) == []
    assert stateless_problems(policy, firewall, text, meaning) == []
    assert log_problems(policy, firewall, text, meaning) == []


def test_registered_and_capabilities_honest() -> None:
    assert isinstance(get_compiler("nftables"), NftablesCompiler)
    caps = {f.value for f in COMPILER.capabilities}
    assert "inspect" not in caps  # nftables filters packets; no application inspection
    assert {"ipv6", "icmp", "stateless", "log", "protocol-numbers"} <= caps


def test_inspect_is_a_warning_not_a_silent_drop() -> None:
    policy, meaning = load_case("tests/data/nftables/features.zp")
    [result] = compile_policy(policy, "nftables", meaning=meaning)
    assert [d.code for d in result.diagnostics] == ["ZP402"]
    assert "publish" in result.diagnostics[0].message and result.diagnostics[0].span.line == _line("id publish")


def test_layout_dispatches_by_pair_and_looks_up_flows() -> None:
    text = compiled_text("tests/data/nftables/features.zp", "edge-fw")
    forward = text[text.index("chain forward {"):]
    assert "policy drop;" in forward
    assert forward.index("ct state established,related") < forward.index("ct state invalid") \
        < forward.index("iifname . oifname vmap @pairs")
    pair = text[text.index("chain fwd_eth1/bond0.10 {"):]
    pair = pair[: pair.index("\n    }")]
    lines = [ln.strip() for ln in pair.splitlines()[2:]]
    # denies first, then stateful allows, then the final drop; one lookup per family and key shape
    assert lines[0].startswith("ip saddr . ip daddr . meta l4proto . th dport vmap @deny_")
    assert all(ln.endswith(tuple(f"_{c}" for c in ("port", "proto", "icmp", "icmpv6"))) for ln in lines[:-1])
    assert lines[-1].startswith("counter drop")
    first_allow = next(k for k, ln in enumerate(lines) if ln.startswith("ct state new"))
    assert all(ln.startswith("ct state new") for ln in lines[first_allow:-1])
    assert all("@deny_" in ln for ln in lines[:first_allow])
    # flow chains carry the id and file:line, log prefixes the id
    origin = f"features.zp:{_line('id no-legacy')}"
    assert f'log prefix "zp deny no-legacy: " counter drop comment "no-legacy {origin}"' in text
    assert "chain flow_phones {" in text and 'log prefix "zp allow phones' not in text  # no 'log' option


def test_stateless_flows_are_notracked_and_accepted_untracked() -> None:
    text = compiled_text("tests/data/nftables/features.zp", "edge-fw")
    assert "type filter hook prerouting priority raw; policy accept;" in text
    key = "ip saddr . ip daddr . meta l4proto . th dport"
    assert f'iifname "bond0.10" {key} @notrack_bond0.10_v4_port notrack' in text
    assert f"ct state untracked {key} vmap @untracked_bond0.10/ens3f1_v4_port" in text
    policy, meaning = load_case("tests/data/nftables/features.zp")
    firewall = policy.firewall("edge-fw")
    # without the notrack rules the proof fails (untracked lookups match nothing) and so does the state check
    broken = "\n".join(ln for ln in text.splitlines() if not ln.strip().startswith('iifname "bond0.10"'))
    assert prove(policy, firewall, COMPILER.read(broken, firewall), meaning)
    problems = stateless_problems(policy, firewall, broken, meaning)
    assert problems and all(p.extra.is_empty() and not p.missing.is_empty() for p in problems)


def test_a_packet_is_logged_when_a_logging_flow_of_the_deciding_kind_matches() -> None:
    """branch-443 (no log) lies inside branch-web (log), and core-syslog (stateless, log) overlaps a
    stateful flow without log: the logging flows get the shared packets, and log_problems sees
    a missing or a needless log."""
    policy, meaning = load_case("tests/data/nftables/features.zp")
    firewall = policy.firewall("edge-fw")
    text = compiled_text("tests/data/nftables/features.zp", "edge-fw")
    assert "jump flow_branch-443" not in text  # all its packets are logged under branch-web
    assert "10.2.0.0/16 . 192.0.2.20 . udp . 514 : jump flow_core-syslog" in text  # a stateful lookup
    quiet = text.replace('log prefix "zp allow branch-web: " ', "")
    problems = log_problems(policy, firewall, quiet, meaning)
    assert {(m.in_if, m.out_if) for m in problems} == {("eth1", "bond0.10"), ("eth1.200", "bond0.10")}
    assert all(m.extra.is_empty() and "branch-web" in meaning.decide(m.witness()).flows for m in problems)
    noisy = text.replace('counter accept comment "phones', 'log counter accept comment "phones')
    [m] = log_problems(policy, firewall, noisy, meaning)
    assert m.missing.is_empty() and m.witness().proto in (17, 132)


def test_default_allow_ends_each_pair_with_the_remainder() -> None:
    text = compiled_text("tests/data/nftables/default-allow.zp", "lab-gw")
    assert "chain default_allow {" in text and "vmap @default_guest0/lab0_v4_proto" in text


# ---------------------------------------------------------------- the boxes
_IV8 = st.tuples(st.integers(0, 255), st.integers(0, 255)).map(lambda t: (min(t), max(t)))
_IV16 = st.tuples(st.integers(0, 70), st.integers(0, 65535)).map(lambda t: (min(t), max(t)))
_PROTO = st.sampled_from([(0, 255), (6, 6), (17, 17), (1, 1), (58, 58), (0, 5), (6, 17), (50, 60), (132, 132),
                          (1, 58), (47, 47)])


@given(st.lists(_PROTO, min_size=1, max_size=3), st.lists(_IV16, min_size=1, max_size=2),
       st.lists(_IV8, min_size=1, max_size=2), st.lists(_IV8, min_size=1, max_size=2), st.sampled_from([4, 6]))
def test_split_box_is_exact_and_disjoint(proto, dport, itype, icode, family) -> None:
    def union(ivs):
        return tuple(nft._union(ivs))

    nets = [ipaddress.ip_network("10.0.0.0/8" if family == 4 else "2001:db8::/32")]
    rule = TargetRule(action=Action.ALLOW, family=family, src=tuple(nets), dst=tuple(nets), proto=union(proto),
                      dport=union(dport), icmp_type=union(itype), icmp_code=union(icode), flow_id="x", origin="")
    pieces = split_box(family, nets, nets, rule.proto, rule.dport, rule.icmp_type, rule.icmp_code)
    sets = []
    for p in pieces:
        kw = dict(family=family, src=list(p.src), dst=list(p.dst))
        if p.cls == "port":
            sets.append(PacketSet.build(**kw, proto=list(p.a), dport=list(p.b)))
        elif p.cls == "proto":
            sets.append(PacketSet.build(**kw, proto=list(p.a)))
        else:
            n = 1 if p.cls == "icmp" else 58
            sets.append(PacketSet.build(**kw, proto=[(n, n)], icmp_type=list(p.a), icmp_code=list(p.b)))
    total = PacketSet.empty()
    for s in sets:
        assert (s & total).is_empty()
        total = total | s
    assert total == rule.to_set()


# ---------------------------------------------------------------- random policies
def as_nftables(spec):
    """The spec with every firewall targeting nftables and named eth0, eth1, … (Linux names)."""
    fws = tuple(dataclasses.replace(f, target="nftables",
                                    interfaces=tuple((f"eth{k}", refs) for k, (_, refs) in enumerate(f.interfaces)))
                for f in spec.firewalls)
    return dataclasses.replace(spec, firewalls=fws)


# small, but with firewalls that have two interfaces or more, so that flows cross them
ROUNDTRIP = Sizes(top_zones=3, children=2, grandchildren=False, addresses=2, services=2, flows=6, firewalls=2,
                  waivers=0)


@given(policy_specs(ROUNDTRIP).filter(lambda s: any(len(f.interfaces) > 1 for f in s.firewalls)),
       st.integers(0, 2**32 - 1))
def test_random_policies_compile_read_back_and_prove(kernel_ns: str | None, spec, seed) -> None:
    policy = load_text(render_policy(as_nftables(spec), seed))
    meaning = Meaning(policy)
    for result in compile_policy(policy, "nftables", meaning=meaning) if policy.firewalls else []:
        assert result.ok, result.diagnostics
        [out] = result.outputs
        fw = result.firewall
        assert prove(policy, fw, COMPILER.read(out.text, fw), meaning) == []
        assert stateless_problems(policy, fw, out.text, meaning) == []
        assert log_problems(policy, fw, out.text, meaning) == []
        if kernel_ns:
            _nft(kernel_ns, "-c", "-f", "-", stdin=out.text)


# ---------------------------------------------------------------- broken outputs are caught
def _pairs(text: str) -> tuple[str, str]:
    start = text.index("    map pairs {")
    return text[:start], text[start:]


def test_dropping_an_element_is_caught_with_a_witness() -> None:
    policy, meaning = load_case("examples/quickstart/policy.zp")
    fw = policy.firewall("edge")
    text = compiled_text("examples/quickstart/policy.zp", "edge")
    lines = text.splitlines()
    k = next(i for i, ln in enumerate(lines) if ": jump flow_f5822e8eed5" in ln)  # internet-access -> portal https
    broken = "\n".join(lines[:k] + lines[k + 1:])
    mismatches = prove(policy, fw, COMPILER.read(broken, fw), meaning)
    assert [(m.in_if, m.out_if) for m in mismatches] == [("eth1", "eth2")]
    w = mismatches[0].witness()
    assert w is not None and meaning.decide(w).allowed and w.dport == 443
    assert "drops what the policy allows" in mismatches[0].describe()


def test_swapping_interfaces_is_caught() -> None:
    policy, meaning = load_case("examples/quickstart/policy.zp")
    fw = policy.firewall("edge")
    text = compiled_text("examples/quickstart/policy.zp", "edge")
    head, tail = _pairs(text)
    tail = tail.replace('"eth1" . "eth2" : jump', '"eth2" . "eth1" : jumpX', 1)
    tail = tail.replace('"eth2" . "eth1" : jump fwd_eth2/eth1', '"eth1" . "eth2" : jump fwd_eth2/eth1', 1)
    tail = tail.replace(": jumpX", ": jump")
    mismatches = prove(policy, fw, COMPILER.read(head + tail, fw), meaning)
    assert {(m.in_if, m.out_if) for m in mismatches} == {("eth1", "eth2"), ("eth2", "eth1")}
    # the witness: a packet now accepted on a pair it does not cross (it belongs to the other direction)
    extra = next(m for m in mismatches if not m.extra.is_empty())
    w = extra.witness()
    assert meaning.firewall_interfaces(fw, w) != (extra.in_if, extra.out_if)


def test_accept_turned_into_drop_and_deny_into_accept_are_caught() -> None:
    policy, meaning = load_case("examples/quickstart/policy.zp")
    fw = policy.firewall("edge")
    text = compiled_text("examples/quickstart/policy.zp", "edge")
    deny_chain = "chain flow_f6cfceff322 {"
    k = text.index(deny_chain)
    broken = text[:k] + text[k:].replace("counter drop", "counter accept", 1)
    [m] = prove(policy, fw, COMPILER.read(broken, fw), meaning)
    assert (m.in_if, m.out_if) == ("eth0", "eth3") and m.missing.is_empty()
    assert not meaning.decide(m.witness()).allowed
    # an accept after the pair dispatch only reaches traffic of interfaces the policy does not know
    broken = text.replace("iifname . oifname vmap @pairs", "iifname . oifname vmap @pairs\n        accept")
    mismatches = prove(policy, fw, COMPILER.read(broken, fw), meaning)
    assert mismatches and all("(other)" in (m.in_if, m.out_if) for m in mismatches)


def test_overlapping_elements_are_refused_like_the_kernel_does() -> None:
    policy, _ = load_case("tests/data/nftables/default-allow.zp")
    text = compiled_text("tests/data/nftables/default-allow.zp", "lab-gw")
    broken = text.replace("10.9.0.0/24 . 10.8.0.0/24 . tcp . 23-65535 : jump default_allow",
                          "10.9.0.0/24 . 10.8.0.0/24 . tcp . 21-65535 : jump default_allow")
    with pytest.raises(NftReadError, match="overlap"):
        COMPILER.read(broken, policy.firewall("lab-gw"))


@pytest.mark.parametrize("snippet, message", [
    ("ip saddr 10.0.0.0/8 th dport 80 accept", "th dport"),
    ("ip saddr != 10.0.0.0/8 accept", "negated"),
    ("meta mark 1 accept", "unknown expression"),
    ("ip saddr 10.0.0.0/8 queue", "unknown expression"),
])
def test_reader_refuses_what_it_does_not_understand(snippet: str, message: str) -> None:
    policy, _ = load_case("examples/quickstart/policy.zp")
    text = compiled_text("examples/quickstart/policy.zp", "edge")
    anchor = "        ct state invalid counter drop"
    broken = text.replace(anchor, f"{anchor}\n        {snippet}")
    with pytest.raises(NftReadError, match=message):
        COMPILER.read(broken, policy.firewall("edge"))


# ---------------------------------------------------------------- reading `nft list ruleset` output
def test_reads_the_listing_of_a_loaded_table() -> None:
    """tests/data/nftables/listed-quickstart-edge.nft is `nft list ruleset` after loading the
    quickstart's edge (nft 1.0.6): tabs, counters with values, symbolic names, merged elements."""
    policy, meaning = load_case("examples/quickstart/policy.zp")
    fw = policy.firewall("edge")
    listed = (DATA / "listed-quickstart-edge.nft").read_text(encoding="utf-8")
    assert "counter packets" in listed and "echo-request" in listed
    assert prove(policy, fw, COMPILER.read(listed, fw), meaning) == []


def test_reader_understands_nft_list_spellings() -> None:
    policy, meaning = load_case("tests/data/nftables/default-allow.zp")
    fw = policy.firewall("lab-gw")
    text = compiled_text("tests/data/nftables/default-allow.zp", "lab-gw")
    respelt = (text.replace(". 8 . 0-255", ". echo-request . net-unreachable-255")
               .replace(". 47 :", ". gre :").replace("counter drop", "counter packets 12 bytes 3400 drop")
               .replace("\n        ", "\n\t\t"))
    assert prove(policy, fw, COMPILER.read(respelt, fw), meaning) == []


# ---------------------------------------------------------------- safety of names and strings
HOSTILE = [
    'line\nbreak', 'quote " inside', 'back\\slash', 'semi; colon } brace { ', "dollar $var",
    "tab\tand\r\ncrlf", "\u2028line sep\u2029para", "zero\u200bwidth\u202eRLO", "x" * 400,
    "边界防火墙" * 40, "\x00nul\x7fdel\x1besc", "# not a comment\naccept",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_nft_string_cannot_break_out(text: str) -> None:
    q = nft_string(text)
    inner = q[1:-1]
    assert q.startswith('"') and q.endswith('"')
    assert '"' not in inner and "\\" not in inner and "$" not in inner
    assert not any(ord(c) < 32 or c in "\x7f\u2028\u2029\u200b\u202e" for c in inner)
    assert len(q[1:-1].encode("utf-8")) <= nft.COMMENT_MAX
    inner.encode("utf-8").decode("utf-8")  # never a cut in the middle of a character


def test_derived_names_are_identifiers_and_injective() -> None:
    ident = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")
    names = ["edge", "prov-core", "a.b", "a/b", "a b", "a_b", 'x";drop', "防火墙", "x" * 300, "a__b", "a_b/"]
    derived = [derived_name("flow_", n) for n in names]
    assert all(ident.fullmatch(d) and len(d) < 200 for d in derived)
    assert len(set(derived)) == len(names)
    assert derived_name("flow_", "a b") != derived_name("flow_", "a_b")
    assert table_name("edge") == "zonepolicy_edge"
    for n in names:
        f = file_name(n)
        assert "/" not in f and not f.startswith(".") and f.endswith(".nft") and re.fullmatch(r"[A-Za-z0-9_.-]+", f)
    assert log_prefix("allow", "f" * 300).count("~") == 1
    assert len(log_prefix("allow", "f" * 300)[1:-1].encode()) <= nft.LOG_PREFIX_MAX


def _model(description: str, policy: str = "p", origin: str = "main.zp:3", firewall: str = "fw") -> TargetModel:
    net = (ipaddress.ip_network("10.1.0.0/16"),)
    other = (ipaddress.ip_network("10.2.0.0/16"),)
    rule = TargetRule(action=Action.ALLOW, family=4, src=net, dst=other, proto=((6, 6),), dport=((443, 443),),
                      icmp_type=((0, 255),), icmp_code=((0, 255),), flow_id="web", origin=origin, log=True)
    deny = dataclasses.replace(rule, action=Action.DENY, dport=((22, 22),), flow_id="no-ssh")
    pair = PairRules(in_if="eth0", out_if="eth1", in_zones=("a",), out_zones=("b",), rules=(deny, rule))
    return TargetModel(policy=policy, firewall=firewall, description=description, target="nftables",
                       interfaces=(("eth0", ("a",)), ("eth1", ("b",))), pairs=(pair,),
                       flows=(("no-ssh", origin), ("web", origin)))


def _skeleton(text: str) -> str:
    """The text without its strings and # comments: what nft executes."""
    text = re.sub(r'"[^"]*"', '""', text)
    return "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_injects_nothing(text: str, kernel_ns: str | None) -> None:
    benign = nft.render_model(_model("plain", "p", "main.zp:3"))
    hostile = nft.render_model(_model(text, text, f"{text}.zp:3"))
    assert _skeleton(hostile) == _skeleton(benign)
    for line in hostile.splitlines():  # every quoted string is within nft's limit
        for s in re.findall(r'"([^"]*)"', line):
            assert len(s.encode("utf-8")) <= nft.COMMENT_MAX
    if kernel_ns:
        _nft(kernel_ns, "-c", "-f", "-", stdin=hostile)


def test_hostile_firewall_name_gets_a_safe_table_and_file(kernel_ns: str | None) -> None:
    model = _model("d", firewall='fw"; flush ruleset; "')
    [out] = COMPILER.render(model)
    assert re.fullmatch(r"[A-Za-z0-9_.-]+\.nft", out.filename)
    assert "flush ruleset" not in _skeleton(out.text)
    if kernel_ns:
        _nft(kernel_ns, "-c", "-f", "-", stdin=out.text)


def test_hostile_policy_texts_end_to_end(tmp_path: Path, kernel_ns: str | None) -> None:
    """Descriptions with escapes, a flow comment, a long explicit id and a file name full of syntax."""
    long_id = "a" + "-very-long-flow-id" * 12
    src = (
        'policy evil "line\\nbreak; \\"quoted\\" } {" { default deny; intrazone allow }\n'
        'zone a "a\\\\b" { networks 10.1.0.0/16 }\n'
        'zone b { networks 10.2.0.0/16 }\n'
        f'allow a -> b : https {{ log; id {long_id}; comment "x\\"; accept; #" }}\n'
        'firewall fw "drop\\n}\\ntable inet x {" { target nftables; interface eth0 -> a; interface eth1 -> b }\n'
    )
    path = tmp_path / 'e"v;i{l} $x.zp'
    path.write_text(src, encoding="utf-8")
    policy = api.load_policy(str(path))
    [result] = compile_policy(policy, "nftables")
    [out] = result.outputs
    skeleton = _skeleton(out.text)
    assert "table inet x" not in skeleton and skeleton.count("table inet zonepolicy_fw") == 3
    assert prove(policy, result.firewall, COMPILER.read(out.text, result.firewall)) == []
    if kernel_ns:
        _nft(kernel_ns, "-c", "-f", "-", stdin=out.text)


def test_interface_names_linux_cannot_use_are_errors() -> None:
    policy = load_text(
        'policy p { default deny; intrazone allow }\nzone a { networks 10.1.0.0/16 }\nzone b { networks 10.2.0.0/16 }\n'
        'allow a -> b : https\n'
        'firewall fw { target nftables\n interface GE1/0/1 -> a\n interface "eth1; drop" -> b }\n')
    [result] = compile_policy(policy, "nftables")
    assert not result.ok and result.outputs == ()
    assert [(d.code, d.span.line) for d in result.diagnostics] == [("ZP403", 6), ("ZP403", 7)]


def test_rule_form_for_boxes_too_big_for_a_map(monkeypatch: pytest.MonkeyPatch, kernel_ns: str | None) -> None:
    """Above MAP_ELEMENT_LIMIT a box becomes one rule with sets (named when the list repeats)."""
    monkeypatch.setattr(nft, "MAP_ELEMENT_LIMIT", 0)
    policy, meaning = load_case("tests/data/nftables/features.zp")
    fw = policy.firewall("edge-fw")
    [out] = COMPILER.render(lower(policy, fw, meaning))
    assert " vmap @" not in out.text.split("chain forward {")[0].replace("vmap @pairs", "")
    assert re.search(r"set addr4_[0-9a-f]{10} \{", out.text)
    assert re.search(r"ct state new ip saddr @addr4_\w+ ip daddr", out.text)
    assert prove(policy, fw, COMPILER.read(out.text, fw), meaning) == []
    assert stateless_problems(policy, fw, out.text, meaning) == []
    if kernel_ns:
        _nft(kernel_ns, "-c", "-f", "-", stdin=out.text)


# ---------------------------------------------------------------- determinism
def test_two_compiles_are_byte_identical_wherever_they_run(tmp_path: Path) -> None:
    first = compiled_text("examples/jiangsu/main.zp", "cloud-fw")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        policy = api.load_policy(os.path.relpath(REPO / "examples/jiangsu/main.zp"))
        [again] = compile_policy(policy, firewalls=["cloud-fw"])
    finally:
        os.chdir(cwd)
    assert again.outputs[0].text == first
    assert str(REPO) not in first  # origins are relative to the policy's main file


# ---------------------------------------------------------------- the kernel
def _tool(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")


def _kernel_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create a network namespace"
    if not _tool("nft") or not _tool("ip"):
        return "needs nft and ip (apt-get install nftables iproute2)"
    return None


def _nft(ns: str, *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run([_tool("ip") or "ip", "netns", "exec", ns, _tool("nft") or "nft", *args], input=stdin,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"nft {' '.join(args)} failed:\n{proc.stderr[:3000]}"
    return proc.stdout


def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([_tool("ip") or "ip", *args], capture_output=True, text=True, timeout=60)


def _remove_stale_namespaces(prefix: str) -> None:
    """Namespaces a killed run of this module left behind (named after a process that is gone)."""
    for line in _ip("netns", "list").stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        m = re.fullmatch(re.escape(prefix) + r"(\d+)(-\w+)?", name)
        if m and not Path(f"/proc/{m.group(1)}").exists():
            _ip("netns", "del", name)


@pytest.fixture(scope="module")
def kernel_ns() -> Iterator[str | None]:
    """A network namespace of this test module's own (None when the kernel tests cannot run);
    deleted afterwards whatever happens."""
    if _kernel_reason():
        yield None
        return
    _remove_stale_namespaces("zp-nfttest-")
    ns = f"zp-nfttest-{os.getpid()}"
    _ip("netns", "del", ns)
    if _ip("netns", "add", ns).returncode != 0:
        yield None
        return
    try:
        yield ns
    finally:
        _ip("netns", "del", ns)


def _golden_files() -> list[Path]:
    return sorted(GOLDEN.glob("*/*.nft"))


@pytest.mark.root
@pytest.mark.parametrize("path", _golden_files(), ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_kernel_accepts_golden_file(path: Path, kernel_ns: str | None) -> None:
    if kernel_ns is None:
        pytest.skip(_kernel_reason() or "could not create a network namespace")
    _nft(kernel_ns, "-c", "-f", str(path))


@pytest.mark.root
@pytest.mark.parametrize("case, path, fw", CASE_FWS, ids=CASE_IDS)
def test_kernel_loads_twice_and_the_listing_proves(case: str, path: str, fw: str, kernel_ns: str | None) -> None:
    """Load into the test's namespace (twice: the file replaces its table atomically), list it back
    as nft prints it, and prove the listing."""
    if kernel_ns is None:
        pytest.skip(_kernel_reason() or "could not create a network namespace")
    policy, meaning = load_case(path)
    firewall = policy.firewall(fw)
    golden = GOLDEN / case / f"{fw}.nft"
    _nft(kernel_ns, "-f", str(golden))
    _nft(kernel_ns, "-f", str(golden))
    listed = _nft(kernel_ns, "list", "table", "inet", table_name(fw))
    assert prove(policy, firewall, COMPILER.read(listed, firewall), meaning) == []
    assert stateless_problems(policy, firewall, listed, meaning) == []
    assert log_problems(policy, firewall, listed, meaning) == []
    _nft(kernel_ns, "delete", "table", "inet", table_name(fw))


LAB_POLICY = """\
policy lab { default deny; intrazone allow }
zone lab { networks 10.8.0.0/24 }
zone guests { networks 10.9.0.0/24 }
allow lab -> guests : udp/69 { stateless; log; id tftp }
allow lab -> guests : tcp/80 { id web }
firewall gw { target nftables; interface lab0 -> lab; interface guest0 -> guests }
"""

_SERVER = """
import socket, sys, threading
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 69)); s.settimeout(4)
    try:
        while True:
            data, addr = s.recvfrom(100); print("udp", addr[0], flush=True); s.sendto(b"reply", addr)
    except socket.timeout:
        pass
def tcp():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 80))
    s.listen(); s.settimeout(4)
    try:
        while True:
            c, a = s.accept(); c.sendall(b"hi"); c.close()
    except socket.timeout:
        pass
ts = [threading.Thread(target=udp), threading.Thread(target=tcp)]
[t.start() for t in ts]
print("ready", flush=True)
[t.join() for t in ts]
"""

_CLIENT = """
import socket, sys
s = socket.socket(); s.settimeout(1.5)
try:
    s.connect((sys.argv[1], 80)); print("tcp", s.recv(10).decode())
except OSError:
    print("tcp none")
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(1.5)
u.sendto(b"x", (sys.argv[1], 69))
try:
    print("udp", u.recvfrom(10)[0].decode())
except OSError:
    print("udp none")
"""


@pytest.mark.root
def test_kernel_traffic_stateful_and_stateless(tmp_path: Path, kernel_ns: str | None) -> None:
    """Real packets through a loaded file: a stateful flow gets its replies, a stateless one does
    not (its reply is judged like any packet and dropped), the reverse direction is closed, and the
    flow chains count. Three namespaces of this test's own, deleted afterwards."""
    if kernel_ns is None:
        pytest.skip(_kernel_reason() or "could not create a network namespace")
    import sys

    policy = load_text(LAB_POLICY)
    [result] = compile_policy(policy, "nftables")
    rules = tmp_path / "gw.nft"
    rules.write_text(result.outputs[0].text, encoding="utf-8")
    fw, lab, guest = (f"{kernel_ns}-{x}" for x in ("fw", "lab", "guest"))
    ip = _tool("ip") or "ip"
    servers: list[subprocess.Popen] = []
    try:
        for ns in (fw, lab, guest):
            assert _ip("netns", "add", ns).returncode == 0
        for leg, ns, net in (("lab0", lab, "10.8.0"), ("guest0", guest, "10.9.0")):
            veth = ("type", "veth", "peer", "name", "eth0", "netns", ns)
            assert _ip("link", "add", leg, "netns", fw, *veth).returncode == 0
            for cmd in (["addr", "add", f"{net}.1/24", "dev", leg], ["link", "set", leg, "up"]):
                assert _ip("-n", fw, *cmd).returncode == 0
            for cmd in (["addr", "add", f"{net}.10/24", "dev", "eth0"], ["link", "set", "eth0", "up"],
                        ["link", "set", "lo", "up"], ["route", "add", "default", "via", f"{net}.1"]):
                assert _ip("-n", ns, *cmd).returncode == 0
        subprocess.run([ip, "netns", "exec", fw, "sysctl", "-qw", "net.ipv4.ip_forward=1"], check=True)
        _nft(fw, "-f", str(rules))
        for ns in (guest, lab):
            p = subprocess.Popen([ip, "netns", "exec", ns, sys.executable, "-c", _SERVER], stdout=subprocess.PIPE,
                                 text=True)
            servers.append(p)
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"

        def client(ns: str, dst: str) -> list[str]:
            out = subprocess.run([ip, "netns", "exec", ns, sys.executable, "-c", _CLIENT, dst], capture_output=True,
                                 text=True, timeout=30)
            return out.stdout.split("\n")[:2]

        assert client(lab, "10.9.0.10") == ["tcp hi", "udp none"]  # stateless: no implicit reply
        assert client(guest, "10.8.0.10") == ["tcp none", "udp none"]  # nothing allows guests -> lab
        received = [p.communicate(timeout=30)[0] for p in servers]
        assert "udp 10.8.0.10" in received[0]  # the stateless datagram did arrive
        assert "udp" not in received[1]
        counts = _nft(fw, "list", "chain", "inet", "zonepolicy_gw", "flow_tftp")
        assert re.search(r'log prefix "zp allow tftp: " counter packets 1 ', counts)
    finally:
        for p in servers:
            p.kill()
        for ns in (fw, lab, guest):
            _ip("netns", "del", ns)
