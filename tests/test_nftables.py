"""The nftables back end: golden files, proofs (examples, random policies, broken outputs), the reader
on ``nft list`` output, injection safety, determinism, kernel acceptance.

Golden files live in tests/golden/nftables/<case>/<firewall>.nft; regenerate them after a reviewed
change with ``ZONEPOLICY_UPDATE_GOLDEN=1 python -m pytest tests/test_nftables.py`` and read the diff.
The kernel tests create their own network namespace (``ip netns add``), check (``nft -c -f``) and
load (``nft -f``) every golden file inside it, read the loaded table back with ``nft list`` and prove
it, and delete the namespace; they skip, saying why, when not root or when nft/ip are missing.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import given, strategies as st

from conftest import REPO
from strategies import Sizes, policy_specs, render_policy
from zonepolicy import api
from zonepolicy.compile import compile_policy
from zonepolicy.compilers import nftables as nft
from zonepolicy.compilers.base import (
    PairRules, TargetModel, TargetRule, get_compiler, lower, prove,
)
from zonepolicy.compilers.nftables import (
    NftablesCompiler, NftReadError, derived_name, file_name, log_prefix, nft_string, split_box,
    stateless_problems, table_name,
)
from zonepolicy.model.policy import Policy
from zonepolicy.model.values import Action
from zonepolicy.semantics.meaning import Meaning
from zonepolicy.semantics.packetset import PacketSet

GOLDEN = REPO / "tests" / "golden" / "nftables"
DATA = REPO / "tests" / "data" / "nftables"
UPDATE = os.environ.get("ZONEPOLICY_UPDATE_GOLDEN") == "1"
COMPILER = NftablesCompiler()

CASES = [
    ("quickstart", "examples/quickstart/policy.zp", ("edge",)),
    ("jiangsu", "examples/jiangsu/main.zp", ("cloud-fw", "nantong-edge", "suqian-edge", "yancheng-edge")),
    ("features", "tests/data/nftables/features.zp", ("edge-fw",)),
    ("default-allow", "tests/data/nftables/default-allow.zp", ("lab-gw",)),
]
CASE_FWS = [(case, path, fw) for case, path, fws in CASES for fw in fws]
CASE_IDS = [f"{case}-{fw}" for case, _, fw in CASE_FWS]

_LOADED: dict[str, tuple[Policy, Meaning]] = {}


def load_case(path: str) -> tuple[Policy, Meaning]:
    if path not in _LOADED:
        policy = api.load_policy(str(REPO / path))
        _LOADED[path] = (policy, Meaning(policy))
    return _LOADED[path]


def compiled_text(path: str, fw: str) -> str:
    policy, meaning = load_case(path)
    [result] = compile_policy(policy, firewalls=[fw], meaning=meaning)
    assert result.ok, result.diagnostics
    [out] = result.outputs
    assert out.filename == f"{fw}.nft"
    return out.text


def load_text(text: str, name: str = "p.zp") -> Policy:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, name)
        Path(path).write_text(text, encoding="utf-8")
        return api.load_policy(path)


# ---------------------------------------------------------------- golden files and proofs
@pytest.mark.parametrize("case, path, fw", CASE_FWS, ids=CASE_IDS)
def test_golden(case: str, path: str, fw: str) -> None:
    text = compiled_text(path, fw)
    golden = GOLDEN / case / f"{fw}.nft"
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"no golden file {golden}; run with ZONEPOLICY_UPDATE_GOLDEN=1"
    assert text == golden.read_text(encoding="utf-8"), f"{golden} differs (regenerate and review the diff)"


@pytest.mark.parametrize("case, path, fw", CASE_FWS, ids=CASE_IDS)
def test_output_proves_equal_to_the_policy(case: str, path: str, fw: str) -> None:
    policy, meaning = load_case(path)
    firewall = policy.firewall(fw)
    text = compiled_text(path, fw)
    assert prove(policy, firewall, COMPILER.read(text, firewall), meaning) == []
    assert stateless_problems(policy, firewall, text, meaning) == []


def test_registered_and_capabilities_honest() -> None:
    assert isinstance(get_compiler("nftables"), NftablesCompiler)
    caps = {f.value for f in COMPILER.capabilities}
    assert "inspect" not in caps  # nftables filters packets; no application inspection
    assert {"ipv6", "icmp", "stateless", "log", "protocol-numbers"} <= caps


def test_inspect_is_a_warning_not_a_silent_drop() -> None:
    policy, meaning = load_case("tests/data/nftables/features.zp")
    [result] = compile_policy(policy, "nftables", meaning=meaning)
    assert [d.code for d in result.diagnostics] == ["ZP402"]
    assert "publish" in result.diagnostics[0].message and result.diagnostics[0].span.line == 25


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
    assert 'log prefix "zp deny no-legacy: " counter drop comment "no-legacy features.zp:18"' in text
    assert "chain flow_phones {" in text and 'log prefix "zp allow phones' not in text  # no 'log' option


def test_stateless_flows_are_notracked_and_accepted_untracked() -> None:
    text = compiled_text("tests/data/nftables/features.zp", "edge-fw")
    assert "type filter hook prerouting priority raw; policy accept;" in text
    assert re.search(r'iifname "bond0\.10" ip saddr \. ip daddr \. meta l4proto \. th dport @notrack_bond0\.10_v4_port notrack',
                     text)
    assert "ct state untracked ip saddr . ip daddr . meta l4proto . th dport vmap @untracked_bond0.10/ens3f1_v4_port" in text
    policy, meaning = load_case("tests/data/nftables/features.zp")
    firewall = policy.firewall("edge-fw")
    # without the notrack rules the proof fails (untracked lookups match nothing) and so does the state check
    broken = "\n".join(ln for ln in text.splitlines() if not ln.strip().startswith('iifname "bond0.10"'))
    assert prove(policy, firewall, COMPILER.read(broken, firewall), meaning)
    problems = stateless_problems(policy, firewall, broken, meaning)
    assert problems and all(p.extra.is_empty() and not p.missing.is_empty() for p in problems)


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
def test_random_policies_compile_read_back_and_prove(spec, seed) -> None:
    policy = load_text(render_policy(as_nftables(spec), seed))
    meaning = Meaning(policy)
    for result in compile_policy(policy, "nftables", meaning=meaning) if policy.firewalls else []:
        assert result.ok, result.diagnostics
        [out] = result.outputs
        fw = result.firewall
        assert prove(policy, fw, COMPILER.read(out.text, fw), meaning) == []
        assert stateless_problems(policy, fw, out.text, meaning) == []
        if _KERNEL_NS:
            _nft(_KERNEL_NS, "-c", "-f", "-", stdin=out.text)


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
    broken = text.replace("        ct state invalid counter drop", f"        ct state invalid counter drop\n        {snippet}")
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
def test_hostile_text_injects_nothing(text: str) -> None:
    benign = nft.render_model(_model("plain", "p", "main.zp:3"))
    hostile = nft.render_model(_model(text, text, f"{text}.zp:3"))
    assert _skeleton(hostile) == _skeleton(benign)
    for line in hostile.splitlines():  # every quoted string is within nft's limit
        for s in re.findall(r'"([^"]*)"', line):
            assert len(s.encode("utf-8")) <= nft.COMMENT_MAX
    if _KERNEL_NS:
        _nft(_KERNEL_NS, "-c", "-f", "-", stdin=hostile)


def test_hostile_firewall_name_gets_a_safe_table_and_file() -> None:
    model = _model("d", firewall='fw"; flush ruleset; "')
    [out] = COMPILER.render(model)
    assert re.fullmatch(r"[A-Za-z0-9_.-]+\.nft", out.filename)
    assert "flush ruleset" not in _skeleton(out.text)
    if _KERNEL_NS:
        _nft(_KERNEL_NS, "-c", "-f", "-", stdin=out.text)


def test_hostile_policy_texts_end_to_end(tmp_path: Path) -> None:
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
    if _KERNEL_NS:
        _nft(_KERNEL_NS, "-c", "-f", "-", stdin=out.text)


def test_interface_names_linux_cannot_use_are_errors() -> None:
    policy = load_text(
        'policy p { default deny; intrazone allow }\nzone a { networks 10.1.0.0/16 }\nzone b { networks 10.2.0.0/16 }\n'
        'allow a -> b : https\n'
        'firewall fw { target nftables\n interface GE1/0/1 -> a\n interface "eth1; drop" -> b }\n')
    [result] = compile_policy(policy, "nftables")
    assert not result.ok and result.outputs == ()
    assert [(d.code, d.span.line) for d in result.diagnostics] == [("ZP403", 6), ("ZP403", 7)]


def test_rule_form_for_boxes_too_big_for_a_map(monkeypatch: pytest.MonkeyPatch) -> None:
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
    if _KERNEL_NS:
        _nft(_KERNEL_NS, "-c", "-f", "-", stdin=out.text)


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


def _make_ns() -> str | None:
    if _kernel_reason():
        return None
    ns = f"zp-nfttest-{os.getpid()}"
    subprocess.run([_tool("ip") or "ip", "netns", "del", ns], capture_output=True)  # a stale one of ours
    proc = subprocess.run([_tool("ip") or "ip", "netns", "add", ns], capture_output=True, text=True)
    return ns if proc.returncode == 0 else None


_KERNEL_NS: str | None = _make_ns()


@pytest.fixture(scope="module", autouse=True)
def _delete_namespace() -> Iterator[None]:
    yield
    if _KERNEL_NS:
        subprocess.run([_tool("ip") or "ip", "netns", "del", _KERNEL_NS], capture_output=True)


def _golden_files() -> list[Path]:
    return sorted(GOLDEN.glob("*/*.nft"))


@pytest.mark.root
@pytest.mark.parametrize("path", _golden_files(), ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_kernel_accepts_golden_file(path: Path) -> None:
    if _KERNEL_NS is None:
        pytest.skip(_kernel_reason() or "could not create a network namespace")
    _nft(_KERNEL_NS, "-c", "-f", str(path))


@pytest.mark.root
@pytest.mark.parametrize("case, path, fw", CASE_FWS, ids=CASE_IDS)
def test_kernel_loads_twice_and_the_listing_proves(case: str, path: str, fw: str) -> None:
    """Load into the test's namespace (twice: the file replaces its table atomically), list it back
    as nft prints it, and prove the listing."""
    if _KERNEL_NS is None:
        pytest.skip(_kernel_reason() or "could not create a network namespace")
    policy, meaning = load_case(path)
    firewall = policy.firewall(fw)
    golden = GOLDEN / case / f"{fw}.nft"
    _nft(_KERNEL_NS, "-f", str(golden))
    _nft(_KERNEL_NS, "-f", str(golden))
    listed = _nft(_KERNEL_NS, "list", "table", "inet", table_name(fw))
    assert prove(policy, firewall, COMPILER.read(listed, firewall), meaning) == []
    assert stateless_problems(policy, firewall, listed, meaning) == []
    _nft(_KERNEL_NS, "delete", "table", "inet", table_name(fw))
