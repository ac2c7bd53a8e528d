"""The iptables back end: golden files, proofs (random policies, broken outputs), injection, kernel acceptance.

Golden files live in tests/golden/iptables/<case>/; regenerate them after a reviewed change with
``ZONEPOLICY_UPDATE_GOLDEN=1 python -m pytest tests/test_iptables.py`` and read the diff.
The kernel tests create their own network namespace (``ip netns add``), load or ``--test`` every
golden file inside it with iptables-restore / ip6tables-restore, and delete it; they skip, saying
why, when not root or when the tools are missing.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import assume, given, strategies as st

from backend_cases import assert_golden, assert_same_under_hash_seeds, case_loader
from conftest import REPO, load_policy_text as load_text
from strategies import SMALL, policy_specs, render_policy
from zonepolicy.compilers import _iptables_read as rd
from zonepolicy.compilers.base import Output, get_compiler, lower, prove
from zonepolicy.compilers.iptables import (
    IptablesCompiler, StateProblem, chain_names, check_states, clean_text, cut_bytes, flow_comment, log_prefix,
    output_names, protocol_alts,
)
from zonepolicy.compile import compile_policy
from zonepolicy.errors import InvalidPolicy
from zonepolicy.model.policy import Policy
from zonepolicy.semantics.meaning import Meaning
from zonepolicy.semantics.packet import Packet
from zonepolicy.semantics.packetset import PacketSet

GOLDEN = REPO / "tests" / "golden" / "iptables"
COMPILER = IptablesCompiler()

# (case, policy file relative to the repo, firewalls; None: every firewall). Firewalls of other
# targets are compiled as if they were iptables, which is what the golden files show.
CASES = [
    ("quickstart", "examples/quickstart/policy.zp", ("edge",)),
    ("jiangsu", "examples/jiangsu/main.zp", ("lianyungang-edge", "zhenjiang-edge", "cloud-fw")),
    ("features", "tests/data/iptables/features.zp", ("fw1",)),
    ("default-allow", "tests/data/iptables/default-allow.zp", ("gw",)),
]


load_case = case_loader("iptables")




def compile_fw(policy: Policy, name: str, meaning: Meaning) -> list[Output]:
    """What ``zonepolicy compile`` writes for the firewall (origins relative to the policy's directory)."""
    [compiled] = compile_policy(policy, firewalls=[name], meaning=meaning)
    assert compiled.ok, compiled.diagnostics
    return list(compiled.outputs)


CASE_FWS = [(case, path, fw) for case, path, fws in CASES for fw in fws]
CASE_IDS = [f"{case}-{fw}" for case, _, fw in CASE_FWS]


# ---------------------------------------------------------------- golden files and proofs
@pytest.mark.parametrize("case, path, fw", CASE_FWS, ids=CASE_IDS)
def test_golden(case: str, path: str, fw: str) -> None:
    policy, meaning = load_case(path)
    for out in compile_fw(policy, fw, meaning):
        golden = GOLDEN / case / out.filename
        assert_golden(golden, out.text)


@pytest.mark.parametrize("case, path, fw", CASE_FWS, ids=CASE_IDS)
def test_output_proves_equal_to_the_policy(case: str, path: str, fw: str) -> None:
    policy, meaning = load_case(path)
    firewall = policy.firewall(fw)
    outs = compile_fw(policy, fw, meaning)
    assert [o.filename for o in outs] == [f"{fw}.iptables", f"{fw}.ip6tables"]
    assert prove(policy, firewall, COMPILER.read_outputs(outs, firewall), meaning) == []
    assert check_states(policy, firewall, outs, meaning) == []


def test_registered_under_its_target() -> None:
    assert isinstance(get_compiler("iptables"), IptablesCompiler)


def test_capabilities_are_declared_honestly() -> None:
    caps = {f.value for f in COMPILER.capabilities}
    assert "inspect" not in caps  # iptables has no application inspection
    assert {"ipv4", "ipv6", "stateless", "log", "protocol-numbers", "sctp", "icmp", "comments"} <= caps


def test_deterministic_across_processes() -> None:
    """Same policy, different hash seeds: byte-identical files."""
    script = (
        "import sys, hashlib, dataclasses\n"
        "from zonepolicy.api import load_policy\n"
        "from zonepolicy.compilers.base import lower\n"
        "from zonepolicy.compilers.iptables import IptablesCompiler\n"
        "p = load_policy('tests/data/iptables/features.zp')\n"
        "fw = p.firewall('fw1')\n"
        "h = hashlib.sha256()\n"
        "for o in IptablesCompiler().render(lower(p, fw)): h.update(o.filename.encode() + o.text.encode())\n"
        "print(h.hexdigest())\n"
    )
    assert_same_under_hash_seeds(script)
    policy, meaning = load_case("tests/data/iptables/features.zp")
    assert compile_fw(policy, "fw1", meaning) == compile_fw(policy, "fw1", meaning)


# ---------------------------------------------------------------- random policies
def _iptables_spec(spec, toggles: int = 0):
    """The spec with iptables firewalls named eth0.., and flows made stateless / logged by ``toggles`` bits
    (the generator rarely draws those options, and they are what the raw table and LOG rules are for)."""
    fws = tuple(dataclasses.replace(f, target="iptables",
                                    interfaces=tuple((f"eth{n}", zones) for n, (_, zones) in enumerate(f.interfaces)))
                for f in spec.firewalls)
    flows = []
    for n, f in enumerate(spec.flows):
        opts = list(f.options or ())
        if toggles >> (2 * n) & 1 and not any(o in ("stateful", "stateless") for o in opts):
            opts.append("stateless")
        if toggles >> (2 * n + 1) & 1 and "log" not in opts:
            opts.append("log")
        flows.append(dataclasses.replace(f, options=tuple(opts) if opts or f.options is not None else None))
    return dataclasses.replace(spec, firewalls=fws, flows=tuple(flows))


RANDOM_SIZES = dataclasses.replace(SMALL, top_zones=4, children=2, flows=6, firewalls=2)


@given(spec=policy_specs(RANDOM_SIZES), seed=st.integers(0, 2**16), toggles=st.integers(0, 2**12 - 1))
def test_random_policies_render_read_back_and_prove(spec, seed: int, toggles: int) -> None:
    assume(spec.firewalls)
    policy = load_text(render_policy(_iptables_spec(spec, toggles), seed, with_comments=False))
    meaning = Meaning(policy)
    for fw in policy.firewalls:
        model = lower(policy, fw, meaning)
        outs = COMPILER.render(model)
        for out in outs:
            rd.parse(out.text, 4 if out.filename.endswith(".iptables") else 6)  # parses as emitted
        mismatches = prove(policy, fw, COMPILER.read_outputs(outs, fw), meaning)
        assert mismatches == [], "\n".join(m.describe() for m in mismatches)
        problems = check_states(policy, fw, outs, meaning)
        assert problems == [], "\n".join(p.describe() for p in problems)


# ---------------------------------------------------------------- broken outputs are caught
def _features() -> tuple[Policy, Meaning, list[Output]]:
    policy, meaning = load_case("tests/data/iptables/features.zp")
    return policy, meaning, compile_fw(policy, "fw1", meaning)


def _edit(outs: list[Output], family_file: str, edit) -> list[Output]:
    return [Output(o.filename, edit(o.text)) if o.filename.endswith(family_file) else o for o in outs]


def _drop_first(pattern: str):
    def edit(text: str) -> str:
        lines = text.split("\n")
        for n, line in enumerate(lines):
            if pattern in line:
                del lines[n]
                return "\n".join(lines)
        raise AssertionError(f"no line with {pattern!r}")
    return edit


def _mismatches(policy: Policy, meaning: Meaning, outs: list[Output]):
    fw = policy.firewall("fw1")
    return prove(policy, fw, COMPILER.read_outputs(outs, fw), meaning)


def test_removing_an_accept_is_caught() -> None:
    policy, meaning, outs = _features()
    broken = _edit(outs, ".iptables", _drop_first(",443,465,587,"))  # one ACCEPT... or its LOG line
    broken = _edit(broken, ".iptables", _drop_first(",443,465,587,"))  # ...and then the other one
    found = _mismatches(policy, meaning, broken)
    assert [(m.in_if, m.out_if) for m in found] == [("eth0", "bond0.100")]
    assert found[0].extra.is_empty()
    assert Packet.of("10.1.0.1", "10.2.0.1", 6, dport=443) in found[0].missing


def test_swapping_in_and_out_is_caught() -> None:
    policy, meaning, outs = _features()
    broken = _edit(outs, ".iptables", lambda t: t.replace("-A FORWARD -i eth0 -o bond0.100 ",
                                                          "-A FORWARD -i bond0.100 -o eth0 ", 1))
    found = _mismatches(policy, meaning, broken)
    # office -> servers loses its chain; the chain now reached from bond0.100 opens nothing, because its
    # rules match the office addresses too (the swap fails closed, and the proof still names it)
    assert [(m.in_if, m.out_if) for m in found] == [("eth0", "bond0.100")]
    assert Packet.of("10.1.0.1", "10.2.0.1", 6, dport=443) in found[0].missing and found[0].extra.is_empty()


def test_dropping_addresses_and_swapping_is_caught_as_extra() -> None:
    """The same swap on a chain whose rules carry no addresses accepts what the policy denies."""
    policy, meaning, outs = _features()

    def edit(text: str) -> str:
        text = text.replace("-A FORWARD -i eth0 -o bond0.100 -j zp-eth0-bond0.100\n", "")
        text = text.replace("--ctstate INVALID -j DROP\n", "--ctstate INVALID -j DROP\n"
                            "-A FORWARD -i bond0.100 -o eth0 -j zp-eth0-bond0.100\n")  # before the right chain
        return text.replace("-A zp-eth0-bond0.100 -s 10.1.0.0/17 -d 10.2.0.0/16 ", "-A zp-eth0-bond0.100 ")

    found = {(m.in_if, m.out_if): m for m in _mismatches(policy, meaning, _edit(outs, ".iptables", edit))}
    assert Packet.of("10.2.0.1", "10.1.0.1", 6, dport=443) in found[("bond0.100", "eth0")].extra


def test_flipping_deny_order_is_caught() -> None:
    """Moving an allow before the deny it overlaps lets denied packets through."""
    policy, meaning, outs = _features()

    def edit(text: str) -> str:
        lines = text.split("\n")
        deny = next(n for n, line in enumerate(lines) if "-p tcp -m tcp --dport 23" in line)  # its LOG line
        allow = next(n for n, line in enumerate(lines) if line.startswith("-A zp-eth0-bond0.100 -s 10.1.0.0/17 ")
                     and "--dports 20:21,25," in line and line.endswith("ACCEPT"))
        lines.insert(deny, lines[allow].replace("--dports 20:21,25,", "--dports 20:25,"))
        return "\n".join(lines)

    found = _mismatches(policy, meaning, _edit(outs, ".iptables", edit))
    assert [(m.in_if, m.out_if) for m in found] == [("eth0", "bond0.100")]
    assert Packet.of("10.1.0.1", "10.2.0.1", 6, dport=23) in found[0].extra  # the denied telnet gets through


def test_missing_conntrack_rule_is_caught_by_the_state_check() -> None:
    """prove compares connection-opening packets, which the RELATED,ESTABLISHED rule never matches;
    check_states evaluates the rules for ESTABLISHED packets and finds them dropped."""
    policy, meaning, outs = _features()
    broken = _edit(outs, ".iptables", _drop_first("--ctstate RELATED,ESTABLISHED"))
    assert _mismatches(policy, meaning, broken) == []  # invisible to the proof, by design
    problems = check_states(policy, policy.firewall("fw1"), broken, meaning)
    kinds = {(p.kind, p.family) for p in problems}
    assert ("established", 4) in kinds and ("related", 4) in kinds
    assert all(p.family == 4 for p in problems)
    assert "ESTABLISHED" in problems[0].describe()


def test_missing_invalid_drop_is_caught() -> None:
    policy, meaning, outs = _features()
    # semantic, not structural: INVALID packets only get through where a rule without state matches
    # them — the stateless syslog flow (IPv4 only); without it the IPv6 file is unharmed
    v6 = _edit(outs, ".ip6tables", _drop_first("--ctstate INVALID"))
    assert check_states(policy, policy.firewall("fw1"), v6, meaning) == []
    v4 = _edit(outs, ".iptables", _drop_first("--ctstate INVALID"))
    problems = check_states(policy, policy.firewall("fw1"), v4, meaning)
    assert [(p.kind, p.in_if, p.out_if, p.family) for p in problems] == [("invalid", "bond0.100", "ens3f1", 4)]
    assert problems[0].extra.pick().dport == 514


def test_missing_notrack_for_a_stateless_flow_is_caught() -> None:
    policy, meaning, outs = _features()
    broken = _edit(outs, ".iptables", _drop_first("-j CT --notrack"))
    assert _mismatches(policy, meaning, broken) == []
    problems = check_states(policy, policy.firewall("fw1"), broken, meaning)
    assert [(p.kind, p.in_if, p.out_if) for p in problems] == [("untracked", "bond0.100", "ens3f1")]
    assert problems[0].missing.pick().dport == 514


def test_stateless_rule_made_stateful_is_caught_by_the_proof() -> None:
    """With the notrack rule in place, a 'NEW' state on the stateless rule no longer matches its packets."""
    policy, meaning, outs = _features()
    broken = _edit(outs, ".iptables", lambda t: "\n".join(
        line.replace("--dport 514 -m comment", "--dport 514 -m conntrack --ctstate NEW -m comment")
        if line.startswith("-A zp-") else line for line in t.split("\n")))
    found = _mismatches(policy, meaning, broken)
    assert found and found[0].missing.pick().dport == 514


def test_missing_log_is_caught() -> None:
    policy, meaning, outs = _features()
    broken = _edit(outs, ".iptables", _drop_first("-j LOG --log-prefix \"zp deny-legacy \""))
    problems = check_states(policy, policy.firewall("fw1"), broken, meaning)
    assert [p.kind for p in problems] == ["logged"] and not problems[0].missing.is_empty()


def test_foreign_interface_in_dispatch_is_caught() -> None:
    policy, meaning, outs = _features()
    broken = _edit(outs, ".iptables", lambda t: t.replace("-A FORWARD -i eth0 -o bond0.100 ",
                                                          "-A FORWARD -i eth9 -o bond0.100 ", 1))
    found = _mismatches(policy, meaning, broken)
    assert ("eth9", "bond0.100") in {(m.in_if, m.out_if) for m in found}


# ---------------------------------------------------------------- hostile policies
HOSTILE = [
    "line\nbreak -A FORWARD -j ACCEPT", 'quote" -j ACCEPT "', "semi; colon; rm -rf /", "back\\slash\\",
    "tab\there", "x" * 600, "南京市政务外网" * 40, "bidi\u202egnp.exe", "nul\0byte", "cr\rreturn", "sep\u2028line",
    "'single' and `back`", "# not a comment", "--comment", "-j ACCEPT",
]


def _hostile_model(text: str):
    policy, meaning = load_case("tests/data/iptables/features.zp")
    model = lower(policy, policy.firewall("fw1"), meaning)
    pairs = tuple(dataclasses.replace(p, rules=tuple(dataclasses.replace(r, flow_id=text + r.flow_id, origin=text)
                                                     for r in p.rules)) for p in model.pairs)
    return policy, meaning, dataclasses.replace(model, pairs=pairs, description=text, policy=text,
                                                firewall=text[:60])


def _check_lines(text: str) -> None:
    for line in text.split("\n")[:-1]:
        assert line.startswith(("#", "*", ":", "-A ", "COMMIT")), repr(line[:80])
        assert not any(ord(c) < 32 for c in line)
        if line.startswith("-A "):
            args = rd.tokenize(line)
            if "--comment" in args:
                comment = args[args.index("--comment") + 1]
                assert len(comment.encode()) <= 255
                assert comment == clean_text(comment)
            if "--log-prefix" in args:
                assert len(args[args.index("--log-prefix") + 1].encode()) <= 29


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_names_and_comments_cannot_break_the_file(text: str) -> None:
    policy, meaning, model = _hostile_model(text)
    outs = COMPILER.render(model)
    for out in outs:
        _check_lines(out.text)
        assert "/" not in out.filename and not out.filename.startswith(".")
    fw = policy.firewall("fw1")
    assert prove(policy, fw, COMPILER.read_outputs(outs, fw), meaning) == []


def test_hostile_comment_survives_as_one_argument() -> None:
    comment = flow_comment('a"b\\c\'d', "f e;g.zp:3")
    line = f"-A X -m comment --comment {rd.quote(comment)} -j ACCEPT"
    assert rd.tokenize(line) == ["-A", "X", "-m", "comment", "--comment", comment, "-j", "ACCEPT"]


@pytest.mark.parametrize("name", ["GigabitEthernet0/0", "eth0 -j ACCEPT", "eth0\n-A", "a" * 16, "-i", "eth+",
                                  "eth0;", "网卡0", "eth0:1", ".", "..", '"eth0"', ""])
def test_interface_names_iptables_cannot_use_are_refused(name: str) -> None:
    policy, meaning = load_case("tests/data/iptables/features.zp")
    fw = policy.firewall("fw1")
    bad_if = dataclasses.replace(fw.interfaces[0], name=name)
    bad_fw = dataclasses.replace(fw, interfaces=(bad_if,) + fw.interfaces[1:])
    diags = COMPILER.diagnose(policy, bad_fw)
    assert [d.code for d in diags] == ["ZP403"] and diags[0].span is not None
    model = lower(policy, bad_fw, meaning)
    with pytest.raises(InvalidPolicy) as err:
        COMPILER.render(model)
    assert err.value.diagnostics[0].code == "ZP403"


def test_text_helpers() -> None:
    assert clean_text("a\nb\u202ec\td") == "a?b?c?d"
    cut = cut_bytes("南" * 200, 255)
    assert len(cut.encode()) <= 255 and cut.endswith("...")
    assert log_prefix("f0123456789") == "zp f0123456789 "
    long = log_prefix("x" * 100)
    assert len(long) <= 29 and long != log_prefix("x" * 99)
    assert output_names("../../etc/passwd") == ("_.._etc_passwd.iptables", "_.._etc_passwd.ip6tables")


def test_chain_names_are_short_unique_and_stable() -> None:
    pairs = [("a-b", "c"), ("a", "b-c"), ("eth0", "eth1"), ("verylonginterf", "anotherlongnam")]
    names = chain_names(pairs)
    assert len(set(names.values())) == 4 and all(len(n) <= 28 for n in names.values())
    assert names[("eth0", "eth1")] == "zp-eth0-eth1"
    assert names[("a-b", "c")] != "zp-a-b-c" and names[("a", "b-c")] != "zp-a-b-c"
    assert names == chain_names(reversed(pairs))


def test_multiport_split_respects_fifteen_slots() -> None:
    ports = tuple((p, p) for p in range(1, 40, 2)) + ((100, 200), (300, 400))
    alts = protocol_alts(4, ((6, 6),), ports, ((0, 255),), ((0, 255),))
    got = []
    for alt in alts:
        toks = list(alt.tokens)
        value = toks[toks.index("--dports") + 1] if "--dports" in toks else toks[toks.index("--dport") + 1]
        slots = sum(2 if ":" in part else 1 for part in value.split(","))
        assert slots <= 15
        got.extend(rd._ports(value, 0))
    assert tuple(got) == ports


# ---------------------------------------------------------------- the reader on iptables-save text
SAVED = """\
# Generated by iptables-save v1.8.9 (nf_tables) on Wed Nov 25 04:55:10 2026
*raw
:PREROUTING ACCEPT [12:3456]
:OUTPUT ACCEPT [0:0]
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [7:420]
:OUTPUT ACCEPT [0:0]
:pair - [0:0]
:sub - [0:0]
[5:300] -A FORWARD -m state --state RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -i lan+ -o wan0 -j pair
-A pair -s 10.0.0.1 -d 10.9.0.0/16 -p tcp -m tcp --dport 22 -j ACCEPT
-A pair -s 10.0.0.0/24 ! -d 10.9.0.0/16 -p gre -j ACCEPT
-A pair -p icmp -m icmp --icmp-type 255 -j ACCEPT
-A pair -p udp -m multiport --dports 53,1000:1001 -m conntrack --ctstate NEW -j sub
-A pair -p sctp -g sub
-A pair -p ipv6-icmp -m u32 --u32 "0x0>>0x16&0x3c@0x0>>0x18=0x80" -m comment --comment "a \\"q\\" \\'s\\'" -j REJECT --reject-with icmp-port-unreachable
-A sub -s 10.0.0.66/32 -j RETURN
-A sub -j ACCEPT
COMMIT
# Completed on Wed Nov 25 04:55:10 2026
"""


def test_reader_understands_iptables_save_forms() -> None:
    fw = dataclasses.replace(load_case("tests/data/iptables/default-allow.zp")[0].firewall("gw"))
    pairs = {(p.in_if, p.out_if): p for p in COMPILER.read(SAVED, fw)}
    assert ("lan0", "wan0") in pairs and ("eth1", "wan0") not in pairs
    from zonepolicy.compilers.base import fold
    got = fold(pairs[("lan0", "wan0")].rules)
    assert fold(pairs[("wan0", "lan0")].rules).is_empty()

    def allowed(p: Packet) -> bool:
        return p in got

    assert allowed(Packet.of("10.0.0.1", "10.9.1.1", 6, dport=22))
    assert not allowed(Packet.of("10.0.0.2", "10.9.1.1", 6, dport=22))  # '-s 10.0.0.1' is a /32
    assert allowed(Packet.of("10.0.0.5", "10.8.0.1", 47)) and not allowed(Packet.of("10.0.0.5", "10.9.0.1", 47))
    assert allowed(Packet.of("1.1.1.1", "2.2.2.2", 1, icmp_type=13, icmp_code=7))  # type 255 reads as "any"
    assert allowed(Packet.of("1.1.1.1", "2.2.2.2", 17, dport=1001))
    assert not allowed(Packet.of("10.0.0.66", "2.2.2.2", 17, dport=53))  # RETURN from sub, then FORWARD policy
    assert not allowed(Packet.of("10.0.0.66", "2.2.2.2", 132, dport=9))  # -g: RETURN leaves FORWARD too
    assert allowed(Packet.of("10.0.0.7", "2.2.2.2", 132, dport=9))
    assert not allowed(Packet.of("1.1.1.1", "2.2.2.2", 58, icmp_type=128))  # REJECT
    assert not allowed(Packet.of("1.1.1.1", "2.2.2.2", 17, dport=54))


@pytest.mark.parametrize("rule, message", [
    ("-A FORWARD -p tcp --syn -j ACCEPT", "--syn"),
    ("-A FORWARD -m iprange --src-range 1.1.1.1-1.1.1.9 -j ACCEPT", "iprange"),
    ("-A FORWARD -j MARK --set-mark 1", "MARK"),
    ("-A FORWARD -f -j ACCEPT", "fragment"),
    ("-A FORWARD -p tcp -m u32 --u32 \"0>>24=1\" -j ACCEPT", "u32"),
    ("-A FORWARD -s 2001:db8::1 -j ACCEPT", "IPv4"),
    ("-A FORWARD -m comment --comment \"open -j ACCEPT", "quote"),
    ("-A NOPE -j ACCEPT", "undeclared"),
    ("-I FORWARD -j ACCEPT", "-A"),
])
def test_reader_refuses_what_it_does_not_understand(rule: str, message: str) -> None:
    text = f"*filter\n:FORWARD DROP [0:0]\n{rule}\nCOMMIT\n"
    with pytest.raises(rd.ReadError) as err:
        rd.parse(text, 4)
    assert err.value.line == 3 and message in str(err.value)


def test_reader_needs_a_family() -> None:
    fw = load_case("tests/data/iptables/default-allow.zp")[0].firewall("gw")
    with pytest.raises(rd.ReadError):
        COMPILER.read("*filter\n:FORWARD DROP [0:0]\n-A FORWARD -p tcp -j ACCEPT\nCOMMIT\n", fw)
    assert COMPILER.read("*filter\n:FORWARD DROP [0:0]\n-A FORWARD -p tcp -j ACCEPT\nCOMMIT\n", fw, family=6)


def test_state_problem_describes_itself() -> None:
    p = StateProblem("a", "b", 4, "invalid", PacketSet.build(family=4, proto=[(6, 6)]), PacketSet.empty())
    assert "INVALID" in p.describe() and "a -> b" in p.describe()


# ---------------------------------------------------------------- kernel acceptance
def _tool(name: str) -> str | None:
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def _kernel_skip() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create a network namespace"
    for tool in ("ip", "iptables-restore", "ip6tables-restore", "iptables-save", "ip6tables-save"):
        if _tool(tool) is None:
            return f"{tool} is not installed (apt-get install iptables iproute2)"
    return None


@pytest.fixture
def netns():
    """A fresh network namespace for this test, removed afterwards whatever happens."""
    reason = _kernel_skip()
    if reason:
        pytest.skip(reason)
    name = f"zp-ipt-{os.getpid()}"
    ip = _tool("ip")
    subprocess.run([ip, "netns", "del", name], capture_output=True)  # a stale one from a killed run
    made = subprocess.run([ip, "netns", "add", name], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {made.stderr.strip()}")
    try:
        yield lambda *cmd, stdin=None: subprocess.run([ip, "netns", "exec", name, *cmd], input=stdin,
                                                      capture_output=True, text=True, timeout=120)
    finally:
        subprocess.run([ip, "netns", "del", name], capture_output=True)


def _golden_files() -> list[Path]:
    return sorted(GOLDEN.glob("*/*.ip*tables"))


def _restore(path_or_name: str) -> str:
    return _tool("ip6tables-restore" if path_or_name.endswith(".ip6tables") else "iptables-restore")


@pytest.mark.root
def test_kernel_accepts_every_golden_file(netns) -> None:
    files = _golden_files()
    assert len(files) == 2 * len(CASE_FWS)
    for f in files:
        r = netns(_restore(f.name), "--test", str(f))
        assert r.returncode == 0, f"{f}: {r.stderr}"
    legacy = [_tool("iptables-legacy-restore"), _tool("ip6tables-legacy-restore")]
    if all(legacy):  # the legacy (x_tables) variant parses the same files
        for f in files:
            r = netns(legacy[f.name.endswith(".ip6tables")], "--test", str(f))
            assert r.returncode == 0, f"{f} (legacy): {r.stderr}"


@pytest.mark.root
def test_kernel_accepts_hostile_output(netns) -> None:
    for text in HOSTILE:
        _, _, model = _hostile_model(text)
        for out in COMPILER.render(model):
            r = netns(_restore(out.filename), "--test", stdin=out.text)
            assert r.returncode == 0, f"{text[:20]!r}: {r.stderr}"


@pytest.mark.root
@pytest.mark.parametrize("case, path, fw", CASE_FWS, ids=CASE_IDS)
def test_loaded_rules_saved_back_prove_equal(case: str, path: str, fw: str, netns) -> None:
    """Load into the namespace's kernel, iptables-save, read the saved text: the same proof holds."""
    policy, meaning = load_case(path)
    firewall = policy.firewall(fw)
    saved = []
    for out in compile_fw(policy, fw, meaning):
        six = out.filename.endswith(".ip6tables")
        r = netns(_restore(out.filename), stdin=out.text)
        assert r.returncode == 0, r.stderr
        s = netns(_tool("ip6tables-save" if six else "iptables-save"))
        assert s.returncode == 0, s.stderr
        assert rd.detect_family(s.stdout) == (6 if six else 4)
        saved.append(Output(out.filename, s.stdout))
    assert prove(policy, firewall, COMPILER.read_outputs(saved, firewall), meaning) == []
    assert check_states(policy, firewall, saved, meaning) == []
