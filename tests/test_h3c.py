"""The h3c back end: golden files in both dialects, proofs (random policies, broken outputs), injection.

Golden files live in tests/golden/h3c/<dialect>/<case>/; regenerate them after a reviewed change with
``ZONEPOLICY_UPDATE_GOLDEN=1 python -m pytest tests/test_h3c.py`` and read the diff.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re

import pytest
from hypothesis import assume, given, strategies as st

from backend_cases import assert_golden, assert_same_under_hash_seeds, case_loader
from conftest import REPO, run_cli, load_policy_text as load_text
from strategies import SMALL, policy_specs, render_policy
from zonepolicy.compilers import _h3c_read as rd
from zonepolicy.compilers.base import Output, check_capabilities, fold, get_compiler, lower, prove
from zonepolicy.compilers.h3c import (
    DIALECT_ENV, DIALECTS, H3cCompiler, box_problems, clean_description, clean_description_scan, dialect_of,
    address_entries, output_name, service_entries, zone_names,
)
from zonepolicy.compile import compile_policy
from zonepolicy.diagnostics import Severity
from zonepolicy.errors import InvalidPolicy, UsageError
from zonepolicy.model.policy import Policy
from zonepolicy.semantics.meaning import Meaning
from zonepolicy.semantics.packet import Packet

GOLDEN = REPO / "tests" / "golden" / "h3c"
COMPILERS = {d: H3cCompiler(d) for d in DIALECTS}

# (case, policy file relative to the repo, firewalls). The Jiangsu firewalls are the example's h3c
# firewalls; quickstart's edge (nftables in the example) is compiled as if it were h3c.
CASES = [
    ("quickstart", "examples/quickstart/policy.zp", ("edge",)),
    ("jiangsu", "examples/jiangsu/main.zp", ("internet-edge", "wuxi-edge", "yangzhou-edge")),
    ("features", "tests/data/h3c/features.zp", ("fw1",)),
    ("default-allow", "tests/data/h3c/default-allow.zp", ("gw",)),
]
CASE_FWS = [(case, path, fw, d) for case, path, fws in CASES for fw in fws for d in DIALECTS]
CASE_IDS = [f"{d}-{case}-{fw}" for case, _, fw, d in CASE_FWS]

load_case = case_loader("h3c")




def compile_fw(policy: Policy, name: str, meaning: Meaning, dialect: str) -> list[Output]:
    """What ``zonepolicy compile`` writes for the firewall in ``dialect`` (origins relative to the policy)."""
    old = os.environ.get(DIALECT_ENV)
    os.environ[DIALECT_ENV] = dialect
    try:
        [compiled] = compile_policy(policy, firewalls=[name], meaning=meaning)
    finally:
        if old is None:
            del os.environ[DIALECT_ENV]
        else:
            os.environ[DIALECT_ENV] = old
    assert compiled.ok, compiled.diagnostics
    return list(compiled.outputs)


def mismatches(policy: Policy, fw: str, meaning: Meaning, text: str, dialect: str = DIALECTS[0]):
    firewall = policy.firewall(fw)
    return prove(policy, firewall, COMPILERS[dialect].read(text, firewall), meaning)


# ---------------------------------------------------------------- golden files and proofs
@pytest.mark.parametrize("case, path, fw, dialect", CASE_FWS, ids=CASE_IDS)
def test_golden(case: str, path: str, fw: str, dialect: str) -> None:
    policy, meaning = load_case(path)
    [out] = compile_fw(policy, fw, meaning, dialect)
    golden = GOLDEN / dialect / case / out.filename
    assert_golden(golden, out.text)


@pytest.mark.parametrize("case, path, fw, dialect", CASE_FWS, ids=CASE_IDS)
def test_output_proves_equal_to_the_policy(case: str, path: str, fw: str, dialect: str) -> None:
    policy, meaning = load_case(path)
    firewall = policy.firewall(fw)
    outs = compile_fw(policy, fw, meaning, dialect)
    assert [o.filename for o in outs] == [f"{fw}.cfg"]
    assert dialect_of(outs[0].text) == dialect
    # either compiler reads either dialect: the reader recognises it from the text
    for reader in COMPILERS.values():
        assert prove(policy, firewall, reader.read_outputs(outs, firewall), meaning) == []


def test_every_rule_carries_its_flow_and_line() -> None:
    policy, meaning = load_case("tests/data/h3c/features.zp")
    sp = compile_fw(policy, "fw1", meaning, "security-policy")[0].text
    op = compile_fw(policy, "fw1", meaning, "object-policy")[0].text
    assert "  description flow deny-legacy features.zp:16" in sp
    assert " comment flow deny-legacy features.zp:16" in op
    assert sp.count(" rule ") == sp.count("  description ")
    assert len(re.findall(r"^ rule \d+ (pass|drop)", op, re.M)) == len(re.findall(r"^ rule \d+ comment ", op, re.M))
    # one explicit drop per pair and family that has rules
    assert "  description zonepolicy drop" in sp and re.search(r"^ rule \d+ drop$", op, re.M)
    assert "logging enable" in sp and " logging\n" in op


def test_registered_under_its_target_with_the_default_dialect(monkeypatch) -> None:
    monkeypatch.delenv(DIALECT_ENV, raising=False)
    compiler = get_compiler("h3c")
    assert isinstance(compiler, H3cCompiler) and compiler.dialect == "security-policy"
    monkeypatch.setenv(DIALECT_ENV, "object-policy")
    assert get_compiler("h3c").dialect == "object-policy"
    assert H3cCompiler("security-policy").dialect == "security-policy"  # an explicit choice wins
    monkeypatch.setenv(DIALECT_ENV, "object-policy\nrule 0 pass")
    with pytest.raises(UsageError):
        get_compiler("h3c")


def test_capabilities_are_declared_honestly() -> None:
    caps = {f.value for f in H3cCompiler.capabilities}
    assert "inspect" not in caps and "stateless" not in caps
    assert {"ipv4", "ipv6", "log", "protocol-numbers", "icmp", "comments", "sctp"} <= caps


def test_stateless_flows_and_sctp_ports_are_refused_not_dropped() -> None:
    policy = load_text(
        'policy p "x" { default deny\n intrazone allow }\nzone a { networks 10.0.0.0/24 }\nzone b { networks 10.0.1.0/24 }\n'
        "allow a -> b : udp/514 { stateless; id sl }\nallow a -> b : sctp/2905 { id sc }\n"
        "deny b -> a : icmpv6/echo-request { id x6 }\n"
        "firewall f { target h3c\n interface GigabitEthernet1/0/1 -> a\n interface GigabitEthernet1/0/2 -> b }\n")
    [compiled] = compile_policy(policy, target="h3c")
    assert not compiled.ok and compiled.outputs == ()
    found = {(d.code, d.severity) for d in compiled.diagnostics}
    assert ("ZP401", Severity.ERROR) in found  # the stateless flow
    assert ("ZP403", Severity.ERROR) in found  # SCTP ports
    # an ICMPv6 type between IPv4-only zones matches nothing (ICMPv6 is IPv6's): nothing to flag
    assert {d.code for d in compiled.diagnostics} <= {"ZP401", "ZP403"}
    messages = " ".join(d.message for d in compiled.diagnostics)
    assert "flow sl" in messages and "flow sc" in messages and "flow x6" not in messages


def test_deterministic_across_processes() -> None:
    """Same policy, different hash seeds: byte-identical files in both dialects."""
    script = (
        "import hashlib\n"
        "from zonepolicy.api import load_policy\n"
        "from zonepolicy.compilers.base import lower\n"
        "from zonepolicy.compilers.h3c import H3cCompiler\n"
        "p = load_policy('tests/data/h3c/features.zp')\n"
        "h = hashlib.sha256()\n"
        "for d in ('security-policy', 'object-policy'):\n"
        "    for o in H3cCompiler(d).render(lower(p, p.firewall('fw1'))): h.update(o.text.encode())\n"
        "print(h.hexdigest())\n"
    )
    assert_same_under_hash_seeds(script)


def test_cli_compile_check_in_both_dialects(tmp_path) -> None:
    for dialect in DIALECTS:
        env_old = os.environ.get(DIALECT_ENV)
        os.environ[DIALECT_ENV] = dialect
        try:
            r = run_cli("compile", "tests/data/h3c/features.zp", "--target", "h3c", "-o", str(tmp_path / dialect),
                        "--check")
        finally:
            if env_old is None:
                del os.environ[DIALECT_ENV]
            else:
                os.environ[DIALECT_ENV] = env_old
        assert r.returncode == 0, r.stdout + r.stderr
        assert "proved" in r.stdout
        assert dialect_of((tmp_path / dialect / "fw1.cfg").read_text(encoding="utf-8")) == dialect


# ---------------------------------------------------------------- random policies
def _h3c_spec(spec):
    """The spec with h3c firewalls on Comware interface names, and no stateless flows (refused by design)."""
    fws = tuple(dataclasses.replace(f, target="h3c", interfaces=tuple(
        (f"GigabitEthernet1/0/{n}", zones) for n, (_, zones) in enumerate(f.interfaces))) for f in spec.firewalls)
    flows = tuple(dataclasses.replace(f, options=tuple(o for o in f.options if o != "stateless"))
                  if f.options else f for f in spec.flows)
    return dataclasses.replace(spec, firewalls=fws, flows=flows)


RANDOM_SIZES = dataclasses.replace(SMALL, top_zones=4, children=2, flows=6, firewalls=2)


@given(spec=policy_specs(RANDOM_SIZES), seed=st.integers(0, 2**16), dialect=st.sampled_from(DIALECTS))
def test_random_policies_render_read_back_and_prove(spec, seed: int, dialect: str) -> None:
    assume(spec.firewalls)
    text = render_policy(_h3c_spec(spec), seed, with_comments=False).replace("sctp/", "udp/")
    policy = load_text(text)
    meaning = Meaning(policy)
    compiler = COMPILERS[dialect]
    for fw in policy.firewalls:
        model = lower(policy, fw, meaning)
        assert compiler.problems(policy, fw) == box_problems(model)  # lowering only awkward flows: same
        diags = check_capabilities(policy, fw, model, compiler.capabilities) + compiler.diagnose(policy, fw)
        errors = [d for d in diags if d.severity is Severity.ERROR]
        assert all(d.code == "ZP403" for d in errors), errors  # only boxes too large for a group
        if errors:
            continue
        [out] = compiler.render(model)
        assert dialect_of(out.text) in (dialect, None)
        cfg = rd.parse(out.text)
        sets = rd._Sets(cfg)  # shared factors give every rule the set its own parts give
        every = [r for table in (*cfg.security.values(), *cfg.objects.values()) for r in table.values()]
        assert all(sets.rule(r) == sets.rule_plain(r) for r in every)
        found = prove(policy, fw, compiler.read_outputs([out], fw), meaning)
        assert found == [], "\n".join(m.describe() for m in found)


# ---------------------------------------------------------------- broken outputs are caught
def _features(dialect: str) -> tuple[Policy, Meaning, str]:
    policy, meaning = load_case("tests/data/h3c/features.zp")
    return policy, meaning, compile_fw(policy, "fw1", meaning, dialect)[0].text


def _security_rule_blocks(text: str) -> list[tuple[int, int]]:
    """(first, end) line indexes of every ``rule`` block of a security-policy text."""
    lines = text.split("\n")
    starts = [n for n, line in enumerate(lines) if line.startswith(" rule ")]
    out = []
    for s in starts:
        e = s + 1
        while e < len(lines) and lines[e].startswith("  "):
            e += 1
        out.append((s, e))
    return out


def _drop_rule(text: str, dialect: str, needle: str) -> str:
    """The text without the first rule whose block (or line) contains ``needle``."""
    lines = text.split("\n")
    if dialect == "security-policy":
        for s, e in _security_rule_blocks(text):
            if any(needle in line for line in lines[s:e]):
                return "\n".join(lines[:s] + lines[e:])
    else:
        for n, line in enumerate(lines):
            if re.match(r" rule \d+ pass ", line) and needle in lines[n + 1]:
                return "\n".join(lines[:n] + lines[n + 2:])
    raise AssertionError(f"no rule with {needle!r}")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_removing_a_permit_is_caught(dialect: str) -> None:
    policy, meaning, text = _features(dialect)
    broken = _drop_rule(text, dialect, "features.zp:17")  # allow office -> servers : https, many-ports
    found = mismatches(policy, "fw1", meaning, broken, dialect)
    assert found and all(m.extra.is_empty() for m in found)
    assert any(Packet.of("10.1.0.1", "10.2.0.1", 6, dport=443) in m.missing for m in found)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_swapping_zones_is_caught(dialect: str) -> None:
    policy, meaning, text = _features(dialect)
    zones = zone_names([i.name for i in policy.firewall("fw1").interfaces])
    office, servers = zones["GigabitEthernet1/0/1"], zones["Route-Aggregation1.100"]
    if dialect == "security-policy":
        broken = text.replace(f"  source-zone {office}\n  destination-zone {servers}\n",
                              f"  source-zone {servers}\n  destination-zone {office}\n")
    else:
        there, back = (f"zone-pair security source {office} destination {servers}\n",
                       f"zone-pair security source {servers} destination {office}\n")
        broken = text.replace(there, "@@").replace(back, there).replace("@@", back)
    assert broken != text
    found = {(m.in_if, m.out_if): m for m in mismatches(policy, "fw1", meaning, broken, dialect)}
    assert ("GigabitEthernet1/0/1", "Route-Aggregation1.100") in found
    assert found[("GigabitEthernet1/0/1", "Route-Aggregation1.100")].witness() is not None


@pytest.mark.parametrize("dialect", DIALECTS)
def test_widening_a_port_is_caught(dialect: str) -> None:
    policy, meaning, text = _features(dialect)
    broken = text.replace("service tcp destination eq 443", "service tcp destination range 443 444", 1)
    assert broken != text
    found = mismatches(policy, "fw1", meaning, broken, dialect)
    assert any(Packet.of("10.1.0.1", "10.2.0.1", 6, dport=444) in m.extra for m in found)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_weakening_a_deny_is_caught(dialect: str) -> None:
    """The deny of telnet decides before the allows of the same pair; without it telnet gets through."""
    policy, meaning, text = _features(dialect)
    broken = text.replace("destination eq 23", "destination eq 7")  # the deny no longer covers telnet ...
    broken = broken.replace("service tcp destination range 1000 1100", "service tcp destination range 23 1100")
    found = mismatches(policy, "fw1", meaning, broken, dialect)
    assert any(Packet.of("10.1.0.1", "10.2.0.1", 6, dport=23) in m.extra for m in found)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_missing_object_group_matches_nothing(dialect: str) -> None:
    """As on the device, a rule naming a group that does not exist matches nothing (fails closed)."""
    policy, meaning, text = _features(dialect)
    # the group with the many ports of 'allow office -> servers'
    name = re.search(r"^object-group service (\S+)\n 0 service tcp destination range 20 21$", text, re.M).group(1)
    broken = text.replace(f"object-group service {name}\n", "object-group service zp-renamed\n")
    found = mismatches(policy, "fw1", meaning, broken, dialect)
    assert found and all(m.extra.is_empty() for m in found)


def test_default_allow_without_its_remainder_is_caught() -> None:
    policy, meaning = load_case("tests/data/h3c/default-allow.zp")
    text = compile_fw(policy, "gw", meaning, "security-policy")[0].text
    lines = text.split("\n")
    s, e = next((s, e) for s, e in _security_rule_blocks(text) if lines[s + 1] == "  description flow default")
    found = mismatches(policy, "gw", meaning, "\n".join(lines[:s] + lines[e:]))
    assert found and all(m.extra.is_empty() and not m.missing.is_empty() for m in found)


# ---------------------------------------------------------------- the reader is strict
@pytest.mark.parametrize("edit, why", [
    (lambda t: t.replace("#\nreturn", "#\nip route-static 0.0.0.0 0 10.0.0.1\nreturn"), "unknown command"),
    (lambda t: t.replace("  action pass\n", "  action pass\n  action drop\n", 1), "two actions"),
    (lambda t: t.replace(" rule 1 name", " rule 0 name", 1), "defined twice"),
    (lambda t: t.replace(" import interface GigabitEthernet1/0/3\n",
                         " import interface GigabitEthernet1/0/3\n import interface Vlan-interface9\n"), "interfaces"),
    (lambda t: t.replace("  source-zone ", "  source-address ", 1), "unknown security-policy rule option"),
    (lambda t: t.replace("service tcp destination eq 443", "service tcp source eq 443", 1), "destination"),
    (lambda t: t + "object-policy ip x\n rule 0 pass\n#\n", "both"),
])
def test_reader_refuses_what_it_does_not_know(edit, why: str) -> None:
    policy, meaning, text = _features("security-policy")
    broken = edit(text)
    assert broken != text
    with pytest.raises(ValueError, match=why):
        rd.read_config(broken)


def test_reader_understands_names_in_any_case_and_lt_gt_ports() -> None:
    text = ("security-zone name A\n import interface Gi1\n#\nsecurity-zone name b\n import interface Gi2\n#\n"
            "object-group service S\n 0 service tcp destination lt 10\n 5 service udp destination gt 65000\n#\n"
            "security-policy ip\n rule 0 name r\n  source-zone a\n  destination-zone B\n  service s\n"
            "  action pass\n rule 1 name r2\n  source-zone b\n  destination-zone a\n#\nreturn\n")
    pairs = {(p.in_if, p.out_if): fold(p.rules) for p in rd.read_config(text)}
    got = pairs[("Gi1", "Gi2")]
    assert Packet.of("1.1.1.1", "2.2.2.2", 6, dport=9) in got and Packet.of("1.1.1.1", "2.2.2.2", 6, dport=10) not in got
    assert Packet.of("::1", "::2", 17, dport=65001) not in got  # 'security-policy ip' is IPv4 only
    assert Packet.of("1.1.1.1", "2.2.2.2", 17, dport=65001) in got
    assert pairs[("Gi2", "Gi1")].is_empty()  # a rule without action drops


# ---------------------------------------------------------------- hostile policies
HOSTILE = [
    "line\nbreak\nsecurity-policy ip\n rule 9 name x\n  action pass", 'quote" action pass "', "semi; colon; quit",
    "back\\slash\\", "tab\there", "x" * 600, "南京市政务外网" * 40, "bidi\u202egnp.exe", "nul\0byte", "cr\rreturn",
    "sep\u2028line", "'single' and `back`", "# not a comment", "! bang", "what? help", "{brace}", "\n#\nreturn\n",
]


def _hostile_model(text: str):
    policy, meaning = load_case("tests/data/h3c/features.zp")
    model = lower(policy, policy.firewall("fw1"), meaning)
    pairs = tuple(dataclasses.replace(p, rules=tuple(dataclasses.replace(r, flow_id=text + r.flow_id, origin=text)
                                                     for r in p.rules)) for p in model.pairs)
    return policy, meaning, dataclasses.replace(model, pairs=pairs, description=text, policy=text,
                                                firewall=text[:60])


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_names_and_comments_cannot_break_the_file(text: str, dialect: str) -> None:
    policy, meaning, model = _hostile_model(text)
    [out] = COMPILERS[dialect].render(model)
    lines = out.text.split("\n")
    for line in lines:
        assert line.isascii() and line.isprintable(), repr(line[:80])
        assert not any(c in line for c in "?!;\"'{}\\`"), repr(line[:80])
        if line.startswith("#"):
            assert line == "#"
        m = re.match(r"  description (.*)$|^ rule \d+ comment (.*)$", line)
        if m:
            assert len(m.group(1) or m.group(2)) <= 127
        m = re.match(r" rule \d+ name (\S+)$", line)
        if m:
            assert len(m.group(1)) <= 63
    assert "/" not in out.filename and not out.filename.startswith(".")
    fw = policy.firewall("fw1")
    assert prove(policy, fw, COMPILERS[dialect].read_outputs([out], fw), meaning) == []


@pytest.mark.parametrize("name", ["Gi1/0/1 ; quit", "Gi1\nrule", "网口1", "1/0/1", '"Gi1"', "", "a" * 64, "Gi#1"])
def test_interface_names_comware_cannot_use_are_refused(name: str) -> None:
    policy, meaning = load_case("tests/data/h3c/features.zp")
    fw = policy.firewall("fw1")
    bad_fw = dataclasses.replace(fw, interfaces=(dataclasses.replace(fw.interfaces[0], name=name),)
                                 + fw.interfaces[1:])
    diags = COMPILERS["security-policy"].diagnose(policy, bad_fw)
    assert [d.code for d in diags] == ["ZP403"] and diags[0].span is not None
    with pytest.raises(InvalidPolicy) as err:
        COMPILERS["security-policy"].render(lower(policy, bad_fw, meaning))
    assert err.value.diagnostics[0].code == "ZP403"


def test_names_are_short_unique_ignoring_case_and_stable() -> None:
    ifs = ["Gi1/0/1", "Gi1.0.1", "gi1/0/1", "Route-Aggregation1023.4094", "GigabitEthernet1/0/1"]
    names = zone_names(ifs)
    assert len({n.lower() for n in names.values()}) == len(ifs)
    assert all(len(n) <= 31 and re.fullmatch(r"[A-Za-z0-9_-]+", n) for n in names.values())
    assert names["GigabitEthernet1/0/1"] == "zp-GigabitEthernet1_0_1"
    assert names == zone_names(list(reversed(ifs)))
    assert output_name("../../etc/passwd") == "_.._etc_passwd.cfg"
    assert clean_description("a\nb?c#d;e\u202ef") == "a b_c_d_e_f"
    assert len(clean_description("南" * 300)) <= 127


def test_service_entries() -> None:
    full8, full16 = ((0, 255),), ((0, 65535),)
    assert service_entries(4, full8, full16, full8, full8) is None
    assert service_entries(4, ((6, 6), (17, 17)), ((53, 53), (8000, 8080)), full8, full8) == (
        "service tcp destination eq 53", "service tcp destination range 8000 8080",
        "service udp destination eq 53", "service udp destination range 8000 8080")
    assert service_entries(4, ((1, 1),), ((0, 0),), ((8, 8),), full8) == ("service icmp 8",)
    assert service_entries(6, ((58, 58),), ((0, 0),), ((1, 1),), ((3, 4),)) == (
        "service icmpv6 1 3", "service icmpv6 1 4")
    assert service_entries(4, ((47, 47), (50, 50)), ((0, 0),), ((0, 0),), ((0, 0),)) == ("service 47", "service 50")


# ---------------------------------------------------------------- diagnose lowers only what can need it
_SERVICES = ["tcp/80", "udp/1000-2000", "sctp/2905", "sctp/any", "icmp/8", "icmp/3:4", "icmp/any", "ip/47", "ip/0",
             "ip/any", "tcp/22, sctp/9", "icmpv6/1:4"]


@given(flows=st.lists(st.tuples(st.sampled_from(["allow", "deny"]), st.sampled_from(_SERVICES), st.booleans()),
                      min_size=1, max_size=5), default=st.sampled_from(["allow", "deny"]))
def test_problems_of_the_awkward_flows_are_the_whole_models(flows, default: str) -> None:
    text = [f'policy p "x" {{ default {default}\n intrazone allow }}',
            "zone a { networks 10.0.0.0/24, 2001:db8::/64 }", "zone b { networks 10.0.1.0/24, 2001:db8:1::/64 }"]
    text += [f"{action} {'a -> b' if forward else 'b -> a'} : {svc} {{ id f{k} }}"
             for k, (action, svc, forward) in enumerate(flows)]
    text.append("firewall f { target h3c\n interface GigabitEthernet1/0/1 -> a\n interface GigabitEthernet1/0/2 -> b }")
    policy = load_text("\n".join(text) + "\n")
    fw = policy.firewall("f")
    assert H3cCompiler().problems(policy, fw) == box_problems(lower(policy, fw))


@given(text=st.text(alphabet=st.sampled_from('ab ?#!;"\'{}\\`\t\n\x7f\u00a0\u2028南~'), max_size=160))
def test_clean_description_fast_path_is_the_scan(text: str) -> None:
    assert clean_description(text) == clean_description_scan(text)


@given(nets=st.lists(st.builds(lambda a, p: ipaddress.ip_network((a, p), strict=False), st.integers(0, 2**32 - 1),
                                 st.integers(1, 32)), max_size=4),
       nets6=st.lists(st.builds(lambda a, p: ipaddress.ip_network((a, p), strict=False), st.integers(0, 2**128 - 1),
                                st.integers(1, 128)), max_size=4))
def test_address_entries_print_as_ipaddress_prints(nets, nets6) -> None:
    for family, some in ((4, nets + nets6), (6, nets6 + nets)):
        mine = sorted((n for n in some if n.version == family), key=lambda n: (int(n.network_address), n.prefixlen))
        expected = tuple(f"network host address {n.network_address}" if n.prefixlen == n.max_prefixlen else
                         f"network subnet {n.network_address} {n.netmask if family == 4 else n.prefixlen}"
                         for n in mine)
        assert address_entries(family, some) == expected


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_rule_list_longer_than_comware_numbers_is_refused_with_a_hint(monkeypatch, dialect: str) -> None:
    """Comware numbers a policy's rules 0..65534; a province-scale firewall can need more. Shrink the
    limit instead of building 65,536 rules: one rule short of the longest list is refused, that list fits."""
    import zonepolicy.compilers.h3c as h3c

    policy, _ = load_case("tests/data/h3c/features.zp")
    model = lower(policy, policy.firewall("fw1"))
    lengths = {f: [len(h3c._family_rules(pair, f)) + 1 for pair in model.pairs] for f in (4, 6)}  # + a drop each
    # security-policy: one list per family across the pairs; object-policy: one per pair and family
    needed = max(map(sum, lengths.values())) if dialect == "security-policy" else max(lengths[4] + lengths[6])
    monkeypatch.setattr(h3c, "MAX_RULE_ID", needed - 2)
    with pytest.raises(InvalidPolicy) as refused:
        h3c.render(model, dialect)
    [d] = refused.value.diagnostics
    assert d.code == "ZP403" and "fw1" in d.message and f"rule IDs run 0 to {needed - 2}" in d.message
    assert d.hint and ("object-policy" in d.hint if dialect == "security-policy" else "split" in d.hint)
    monkeypatch.setattr(h3c, "MAX_RULE_ID", needed - 1)
    assert h3c.render(model, dialect)
