"""The huawei-usg back end: golden files, proofs (random policies, broken outputs), injection, determinism.

Golden files live in tests/golden/huawei-usg/<case>/; regenerate them after a reviewed change with
``ZONEPOLICY_UPDATE_GOLDEN=1 python -m pytest tests/test_huawei_usg.py`` and read the diff.
No device is available here, so there is no acceptance test on a real USG; the reader is the check.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re

import pytest
from hypothesis import assume, given, settings, strategies as st

from backend_cases import assert_golden, assert_same_under_hash_seeds, case_loader, retargeted
from conftest import REPO, load_policy_text as load_text
from strategies import SMALL, policy_specs, render_policy
from zonepolicy.compile import _policy_root, _relative_origins
from zonepolicy.compilers.base import Feature, Output, check_capabilities, lower, prove
from zonepolicy.compilers.huawei_usg import (
    HuaweiUsgCompiler, ReadError, address_members, check_interface_name, clean_text, clean_text_scan, log_problems,
    parse, rule_set, rule_sets, safe_id, zone_name,
)
from zonepolicy.diagnostics import Severity
from zonepolicy.errors import InvalidPolicy
from zonepolicy.model.policy import Policy
from zonepolicy.semantics.meaning import Meaning
from zonepolicy.semantics.packet import Packet

GOLDEN = REPO / "tests" / "golden" / "huawei-usg"
COMPILER = HuaweiUsgCompiler()

# (case, policy file relative to the repo, firewalls). The quickstart's edge firewall is an nftables
# firewall; it is compiled as if it were a USG (its eth0.. names are valid VRP-style names).
CASES = [
    ("quickstart", "examples/quickstart/policy.zp", ("edge",)),
    ("jiangsu", "examples/jiangsu/main.zp", ("js-core", "nanjing-edge", "suzhou-edge")),
    ("features", "tests/data/huawei-usg/features.zp", ("fw1",)),
    ("default-allow", "tests/data/huawei-usg/default-allow.zp", ("gw",)),
]


def as_usg(policy: Policy) -> Policy:
    return retargeted(policy, "huawei-usg")


load_case = case_loader("huawei-usg")




def compile_fw(policy: Policy, name: str, meaning: Meaning) -> list[Output]:
    """What ``zonepolicy compile`` writes for the firewall (origins relative to the policy's directory);
    done without the registry so this file tests this back end only."""
    fw = policy.firewall(name)
    model = _relative_origins(lower(policy, fw, meaning), _policy_root(policy))
    diags = check_capabilities(policy, fw, model, COMPILER.capabilities) + COMPILER.diagnose(policy, fw)
    assert not [d for d in diags if d.severity is Severity.ERROR], diags
    return COMPILER.render(model)


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
    assert [o.filename for o in outs] == [f"{fw}.cfg"]
    assert prove(policy, firewall, COMPILER.read_outputs(outs, firewall), meaning) == []
    assert log_problems(policy, firewall, outs[0].text, meaning) == []


@pytest.mark.parametrize("case, path, fw", CASE_FWS, ids=CASE_IDS)
def test_every_rule_is_traceable_and_every_pair_ends_in_deny(case: str, path: str, fw: str) -> None:
    policy, meaning = load_case(path)
    [out] = compile_fw(policy, fw, meaning)
    cfg = parse(out.text)
    assert not cfg.default_permit and out.text.rstrip().endswith(" default action deny\n#\nreturn")
    flows = {f.id for f in policy.flows}
    for rule in cfg.rules:
        if rule.name.endswith("-drop"):
            assert rule.action == "deny" and rule.description.startswith("no flow allows ")
            continue
        if rule.description == "zonepolicy default allow":
            assert rule.action == "permit" and policy.default.value == "allow"
            continue
        words = rule.description.split()
        assert words[0] == "flow" and words[1] in flows
        assert re.fullmatch(r"[^:]+\.zp:\d+", words[2]), rule.description  # file:line, relative
        assert not words[2].startswith("/")
    model = lower(policy, policy.firewall(fw), meaning)
    assert sum(r.name.endswith("-drop") for r in cfg.rules) == sum(1 for p in model.pairs if p.rules)


def test_capabilities_are_declared_honestly() -> None:
    caps = COMPILER.capabilities
    assert Feature.STATELESS not in caps  # USG policies always create sessions: replies pass
    assert Feature.INSPECT not in caps
    assert {Feature.IPV4, Feature.IPV6, Feature.ICMP, Feature.LOG, Feature.COMMENTS} <= caps


def test_stateless_flow_is_refused_not_dropped() -> None:
    policy = as_usg(load_text(
        'policy p "x" { default deny; intrazone allow }\nzone a { networks 10.0.0.0/24 }\nzone b { networks 10.0.1.0/24 }\n'
        'allow a -> b : udp/514 { stateless; id syslog }\n'
        'firewall fw { target huawei-usg\n interface GigabitEthernet1/0/1 -> a\n interface GigabitEthernet1/0/2 -> b }\n'))
    fw = policy.firewall("fw")
    diags = check_capabilities(policy, fw, lower(policy, fw), COMPILER.capabilities)
    assert [d.code for d in diags] == ["ZP401"] and "syslog" in diags[0].message


def test_deterministic_across_processes() -> None:
    script = (
        "import hashlib\n"
        "from zonepolicy.api import load_policy\n"
        "from zonepolicy.compilers.base import lower\n"
        "from zonepolicy.compilers.huawei_usg import HuaweiUsgCompiler\n"
        "p = load_policy('tests/data/huawei-usg/features.zp')\n"
        "h = hashlib.sha256()\n"
        "for o in HuaweiUsgCompiler().render(lower(p, p.firewall('fw1'))): h.update(o.filename.encode() + o.text.encode())\n"
        "print(h.hexdigest())\n"
    )
    assert_same_under_hash_seeds(script)
    policy, meaning = load_case("tests/data/huawei-usg/features.zp")
    assert compile_fw(policy, "fw1", meaning) == compile_fw(policy, "fw1", meaning)


# ---------------------------------------------------------------- random policies
def _usg_spec(spec, logs: int = 0):
    """USG firewalls with VRP interface names; flows made stateful (USG has no stateless policy) and
    logged by the bits of ``logs``."""
    fws = tuple(dataclasses.replace(f, target="huawei-usg", interfaces=tuple(
        (f"GigabitEthernet1/0/{n}", zones) for n, (_, zones) in enumerate(f.interfaces))) for f in spec.firewalls)
    flows = []
    for n, f in enumerate(spec.flows):
        opts = [o for o in (f.options or ()) if o != "stateless"]
        if logs >> n & 1 and "log" not in opts:
            opts.append("log")
        flows.append(dataclasses.replace(f, options=tuple(opts) if opts or f.options is not None else None))
    return dataclasses.replace(spec, firewalls=fws, flows=tuple(flows))


RANDOM_SIZES = dataclasses.replace(SMALL, top_zones=4, children=2, flows=6, firewalls=2)


@settings(deadline=None)
@given(spec=policy_specs(RANDOM_SIZES), seed=st.integers(0, 2**16), logs=st.integers(0, 63))
def test_random_policies_render_read_back_and_prove(spec, seed: int, logs: int) -> None:
    assume(spec.firewalls)
    policy = load_text(render_policy(_usg_spec(spec, logs), seed, with_comments=False))
    meaning = Meaning(policy)
    for fw in policy.firewalls:
        model = lower(policy, fw, meaning)
        outs = COMPILER.render(model)
        mismatches = prove(policy, fw, COMPILER.read_outputs(outs, fw), meaning)
        assert mismatches == [], "\n".join(m.describe() for m in mismatches)
        assert log_problems(policy, fw, outs[0].text, meaning) == []
        cfg = parse(outs[0].text)
        assert rule_sets(cfg) == [rule_set(cfg, r) for r in cfg.rules]  # shared factors, same sets
        logged = {r.flow_id for p in model.pairs for r in p.rules if r.log}
        for rule in cfg.rules:
            if not rule.name.endswith("-drop"):
                assert rule.log == (rule.description.split()[1] in logged)


# ---------------------------------------------------------------- broken outputs are caught
def _features() -> tuple[Policy, Meaning, str]:
    policy, meaning = load_case("tests/data/huawei-usg/features.zp")
    [out] = compile_fw(policy, "fw1", meaning)
    return policy, meaning, out.text


def _mismatches(policy: Policy, meaning: Meaning, text: str):
    fw = policy.firewall("fw1")
    return {(m.in_if, m.out_if): m for m in prove(policy, fw, COMPILER.read(text, fw), meaning)}


def _rule_blocks(text: str) -> list[tuple[int, int]]:
    """(start, end) line indexes of every rule block."""
    lines = text.split("\n")
    starts = [n for n, line in enumerate(lines) if line.startswith(" rule name ")]
    ends = starts[1:] + [next(n for n, line in enumerate(lines) if line.startswith(" default action "))]
    return list(zip(starts, ends))


def _without_rule(text: str, predicate) -> str:
    lines = text.split("\n")
    for start, end in _rule_blocks(text):
        if predicate("\n".join(lines[start:end])):
            return "\n".join(lines[:start] + lines[end:])
    raise AssertionError("no such rule")


def test_dropping_a_permit_is_caught() -> None:
    policy, meaning, text = _features()
    broken = _without_rule(text, lambda b: "flow f" in b and "action permit" in b
                           and "source-zone GigabitEthernet1_0_0\n" in b and "destination-zone Eth-Trunk1-100" in b)
    found = _mismatches(policy, meaning, broken)
    assert list(found) == [("GigabitEthernet1/0/0", "Eth-Trunk1.100")]
    m = found[("GigabitEthernet1/0/0", "Eth-Trunk1.100")]
    assert m.extra.is_empty() and m.witness() is not None


def test_dropping_a_deny_is_caught() -> None:
    """In the default-allow case a later allow (flow ``shadowed``) overlaps the deny: without the deny
    rule first, ssh from wan to lan gets through."""
    policy, meaning = load_case("tests/data/huawei-usg/default-allow.zp")
    fw = policy.firewall("gw")
    [out] = compile_fw(policy, "gw", meaning)
    broken = out.text
    while "flow no-ssh" in broken:
        broken = _without_rule(broken, lambda b: "flow no-ssh" in b)
    found = {(m.in_if, m.out_if): m for m in prove(policy, fw, COMPILER.read(broken, fw), meaning)}
    m = found[("GigabitEthernet0/0/2", "GigabitEthernet0/0/1")]
    assert Packet.of("10.0.1.1", "10.0.0.1", 6, dport=22) in m.extra and m.witness() is not None


def test_swapping_zones_is_caught() -> None:
    policy, meaning, text = _features()
    lines = text.split("\n")
    a = lines.index(" add interface GigabitEthernet1/0/0")
    b = lines.index(" add interface Eth-Trunk1.100")
    lines[a], lines[b] = lines[b], lines[a]
    found = _mismatches(policy, meaning, "\n".join(lines))
    assert ("GigabitEthernet1/0/0", "Eth-Trunk1.100") in found
    m = found[("GigabitEthernet1/0/0", "Eth-Trunk1.100")]
    assert m.witness() is not None


def test_widening_a_port_is_caught() -> None:
    policy, meaning, text = _features()
    broken = text.replace("protocol tcp destination-port 443\n", "protocol tcp destination-port 443 to 444\n", 1)
    assert broken != text
    found = _mismatches(policy, meaning, broken)
    assert any(Packet.of("10.1.0.1", "10.2.0.1", 6, dport=444) in m.extra for m in found.values())


def test_flipping_a_verdict_is_caught() -> None:
    policy, meaning, text = _features()
    lines = text.split("\n")
    start, end = next((s, e) for s, e in _rule_blocks(text) if "deny-legacy" in lines[s])
    block = "\n".join(lines[start:end]).replace("action deny", "action permit")
    found = _mismatches(policy, meaning, "\n".join(lines[:start] + [block] + lines[end:]))
    assert Packet.of("10.1.0.1", "10.2.0.1", 6, dport=23) in found[("GigabitEthernet1/0/0", "Eth-Trunk1.100")].extra


def test_default_permit_is_caught() -> None:
    """Pairs without rules are closed by the default action only: a permissive default opens them."""
    policy, meaning, text = _features()
    found = _mismatches(policy, meaning, text.replace(" default action deny", " default action permit"))
    m = found[("GigabitEthernet1/0/3", "MEth0/0/0")]  # dmz -> mgmt: no flow
    assert m.missing.is_empty() and m.witness() in m.extra
    # a pair with rules keeps its own closing deny
    assert ("GigabitEthernet1/0/0", "Eth-Trunk1.100") not in found


def test_missing_policy_logging_is_caught() -> None:
    policy, meaning, text = _features()
    fw = policy.firewall("fw1")
    assert log_problems(policy, fw, text, meaning) == []
    broken = text.replace("  policy logging\n", "", 1)
    found = log_problems(policy, fw, broken, meaning)
    assert found and "logging differs" in found[0]
    assert prove(policy, fw, COMPILER.read(broken, fw), meaning) == []  # the verdicts are unchanged


def test_logged_allow_flows_take_shared_packets_first() -> None:
    """A silent allow written before a logged one that overlaps it: the logged rule goes first."""
    policy = as_usg(load_text(
        'policy p "x" { default deny; intrazone allow }\nzone a { networks 10.0.0.0/24 }\n'
        'zone b { networks 10.0.1.0/24 }\nallow a -> b : tcp/1-1000 { id quiet }\n'
        'allow a -> b : https { log; id loud }\n'
        'firewall fw { target huawei-usg\n interface GigabitEthernet1/0/1 -> a\n interface GigabitEthernet1/0/2 -> b }\n'))
    fw = policy.firewall("fw")
    [out] = COMPILER.render(lower(policy, fw))
    assert out.text.index("-loud\n") < out.text.index("-quiet\n")
    assert log_problems(policy, fw, out.text) == [] and prove(policy, fw, COMPILER.read(out.text, fw)) == []


def test_foreign_interface_is_caught() -> None:
    policy, meaning, text = _features()
    broken = text.replace("#\nip address-set", "#\nfirewall zone name Vlanif9\n set priority 98\n"
                          " add interface Vlanif9\n#\nip address-set", 1)
    broken = broken.replace(" default action deny", " rule name x\n  source-zone Vlanif9\n  action permit\n"
                            " default action deny")
    found = _mismatches(policy, meaning, broken)
    assert ("Vlanif9", "GigabitEthernet1/0/0") in found


@pytest.mark.parametrize("line", [
    "firewall zone trust", " rule name x\n  source-zone a\n  time-range work\n  action permit", "nat-policy",
    "ip address-set a type object\n address 0 range 10.0.0.1 10.0.0.9",
    "ip service-set s type object\n service 0 protocol tcp source-port 1 destination-port 2",
    "interface GigabitEthernet1/0/1\n undo shutdown", " rule name y\n  action permit\n  action deny",
    "ip service-set s type object\n service 300 protocol 50",
])
def test_reader_is_strict(line: str) -> None:
    text = "#\n" + (line if not line.startswith(" rule") else "security-policy\n" + line) + "\n#\nreturn\n"
    with pytest.raises(ReadError):
        parse(text)


# ---------------------------------------------------------------- hostile policies
HOSTILE = [
    "line\nbreak\n action permit", 'quote" action permit "', "semi; colon; rm -rf /", "back\\slash\\",
    "tab\there", "x" * 600, "南京市政务外网" * 40, "bidi\u202egnp.exe", "nul\0byte", "cr\rreturn", "sep\u2028line",
    "'single' and `back`", "# not a comment", "! bang", "? help", "{ braces }", "\n#\nsecurity-policy\n rule name evil",
]


def _hostile_model(text: str):
    policy, meaning = load_case("tests/data/huawei-usg/features.zp")
    model = lower(policy, policy.firewall("fw1"), meaning)
    pairs = tuple(dataclasses.replace(p, rules=tuple(dataclasses.replace(r, flow_id=text + r.flow_id, origin=text)
                                                     for r in p.rules)) for p in model.pairs)
    return policy, meaning, dataclasses.replace(model, pairs=pairs, description=text, policy=text, firewall=text[:60])


_LINE = re.compile(r"#( .*)?|(firewall zone name|ip address-set|ip service-set) \S+( type object)?|security-policy|"
                   r"return| (set priority|add interface|address|service|rule name|default action) .*|"
                   r"  (description|source-zone|destination-zone|source-address|destination-address|service|"
                   r"policy logging|action) ?.*")


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_names_and_comments_cannot_break_the_file(text: str) -> None:
    policy, meaning, model = _hostile_model(text)
    [out] = COMPILER.render(model)
    assert "/" not in out.filename and not out.filename.startswith(".")
    for line in out.text.split("\n")[:-1]:
        assert _LINE.fullmatch(line), repr(line[:80])
        assert all(" " <= c < "\x7f" for c in line), repr(line[:80])
        if line.startswith("  description "):
            desc = line[len("  description "):]
            assert len(desc) <= 127 and not set(desc) & set("?#!\"'\\`")
        if line.startswith(" rule name "):
            assert re.fullmatch(r"[A-Za-z0-9_.~-]{1,63}", line[len(" rule name "):])
    fw = policy.firewall("fw1")
    assert prove(policy, fw, COMPILER.read_outputs([out], fw), meaning) == []
    # the executable part (everything but descriptions and header comments) is what the benign policy gives
    benign = COMPILER.render(lower(policy, fw, meaning))[0].text

    def executable(t: str) -> list[str]:
        return [re.sub(r"^( rule name p\d+(r\d+)?)-.*", r"\1", line) for line in t.split("\n")
                if not line.startswith(("#", "  description"))]
    assert executable(out.text) == executable(benign)


@pytest.mark.parametrize("name", ["eth0 action permit", "Gi1/0/1\nrule", "GigabitEthernet1/0/1;", "网卡0",
                                  '"GE1/0/1"', "", "1/0/1", "GigabitEthernet1_0_1", "GigabitEthernet1/0/1 "])
def test_interface_names_the_usg_cannot_use_are_refused(name: str) -> None:
    policy, meaning = load_case("tests/data/huawei-usg/features.zp")
    fw = policy.firewall("fw1")
    bad_fw = dataclasses.replace(fw, interfaces=(dataclasses.replace(fw.interfaces[0], name=name),) + fw.interfaces[1:])
    diags = COMPILER.diagnose(policy, bad_fw)
    assert [d.code for d in diags] == ["ZP403"]
    with pytest.raises(InvalidPolicy):
        COMPILER.render(lower(policy, bad_fw, meaning))


def test_names_and_text_helpers() -> None:
    assert check_interface_name("Eth-Trunk7.211") == "" and check_interface_name("GigabitEthernet1/0/0.200") == ""
    assert zone_name("GigabitEthernet1/0/1") == "GigabitEthernet1_0_1"
    assert zone_name("Eth-Trunk1.10") == "Eth-Trunk1-10" != zone_name("Eth-Trunk1/10")
    long = "GigabitEthernet" + "1/0/1" * 3
    assert len(zone_name(long)) <= 32 and zone_name(long) != zone_name(long + "1")
    assert safe_id("web-public") == "web-public"
    assert "~" in safe_id("a b") and safe_id("a b") != safe_id("ab") and len(safe_id("x" * 100)) <= 32
    assert clean_text("a\nb?c#d\u2028e") == "a b_c_d e"
    assert clean_text("南京") == "~~"
    assert len(clean_text("y" * 300)) == 127


def test_more_interfaces_than_zone_priorities_are_refused() -> None:
    policy, meaning = load_case("tests/data/huawei-usg/features.zp")
    fw = policy.firewall("fw1")
    many = tuple(dataclasses.replace(fw.interfaces[0], name=f"GigabitEthernet1/0/{n}") for n in range(97))
    diags = COMPILER.diagnose(policy, dataclasses.replace(fw, interfaces=many))
    assert [d.code for d in diags] == ["ZP403"] and "priority" in diags[0].message


def test_zone_priorities_are_distinct_and_avoid_the_built_in_zones() -> None:
    policy, meaning = load_case("examples/jiangsu/main.zp")
    cfg = parse(compile_fw(policy, "js-core", meaning)[0].text)
    priorities = list(cfg.zones.values())
    assert len(set(priorities)) == len(priorities) == 28
    assert not set(priorities) & {5, 50, 85, 100} and all(1 <= p <= 99 for p in priorities)
    assert len(set(cfg.zone_of.values())) == len(cfg.zone_of)  # one zone per interface


_AWKWARD = st.text(alphabet=st.sampled_from('ab ?#!"\'\\`\t\n\x7f\u00a0\u2028e\u0301南'), max_size=40)


@given(text=_AWKWARD, limit=st.integers(2, 40))
def test_clean_text_fast_path_is_the_scan(text: str, limit: int) -> None:
    assert clean_text(text, limit) == clean_text_scan(text, limit)


@given(nets=st.lists(st.one_of(
    st.builds(lambda a, p: ipaddress.ip_network((a, p), strict=False), st.integers(0, 2**32 - 1), st.integers(0, 32)),
    st.builds(lambda a, p: ipaddress.ip_network((a, p), strict=False), st.integers(0, 2**128 - 1),
              st.integers(0, 128))), max_size=4).map(tuple))
def test_address_members_print_as_ipaddress_prints(nets) -> None:
    assert address_members(nets) == tuple(f"{n.network_address} mask {n.prefixlen}" if n.version == 4
                                          else f"{n.network_address} {n.prefixlen}" for n in nets)
