"""The juniper-srx back end: golden files, proofs (random policies, broken outputs), injection, names.

Golden files live in tests/golden/juniper-srx/<case>/; regenerate them after a reviewed change with
``ZONEPOLICY_UPDATE_GOLDEN=1 python -m pytest tests/test_juniper_srx.py`` and read the diff.
No Junos device or simulator is available here, so acceptance by the real CLI is not tested; the
syntax follows the vendor notes (docs/compilers.md, section juniper-srx).
"""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest
from hypothesis import assume, given, strategies as st

from backend_cases import assert_golden, assert_same_under_hash_seeds, case_loader
from conftest import REPO, load_policy_text as load_text
from strategies import SMALL, policy_specs, render_policy
from zonepolicy.compile import compile_policy
from zonepolicy.compilers._intervals import network_text
from zonepolicy.compilers.base import Output, TargetRule, check_capabilities, get_compiler, lower, prove
from zonepolicy.compilers.juniper_srx import (
    App, JuniperSrxCompiler, PolicySets, ReadError, address_name, applications, check_interface_name, junos_text,
    junos_text_scan, log_problems, output_name, parse, policy_name, policy_set, scan_tokens, tokenize, zone_name,
)
from zonepolicy.errors import InvalidPolicy
from zonepolicy.model.policy import Policy
from zonepolicy.model.values import Action
from zonepolicy.semantics.meaning import Meaning
from zonepolicy.semantics.packet import Packet

GOLDEN = REPO / "tests" / "golden" / "juniper-srx"
COMPILER = JuniperSrxCompiler()
FEATURES = "tests/data/juniper-srx/features.zp"

# (case, policy file relative to the repo, firewalls): every firewall of the examples that targets
# juniper-srx, and the back end's feature policy.
CASES = [
    ("jiangsu", "examples/jiangsu/main.zp", ("national-uplink", "xuzhou-edge")),
    ("features", FEATURES, ("fw1",)),
]

load_case = case_loader()




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
    [out] = compile_fw(policy, fw, meaning)
    assert out.filename == f"{fw}.set"
    golden = GOLDEN / case / out.filename
    assert_golden(golden, out.text)


@pytest.mark.parametrize("case, path, fw", CASE_FWS, ids=CASE_IDS)
def test_output_proves_equal_to_the_policy(case: str, path: str, fw: str) -> None:
    policy, meaning = load_case(path)
    firewall = policy.firewall(fw)
    outs = compile_fw(policy, fw, meaning)
    assert prove(policy, firewall, COMPILER.read_outputs(outs, firewall), meaning) == []
    assert log_problems(policy, firewall, outs[0].text, meaning) == []


@pytest.mark.parametrize("case, path, fw", CASE_FWS, ids=CASE_IDS)
def test_every_policy_carries_its_flow_and_every_context_ends_in_deny(case: str, path: str, fw: str) -> None:
    policy, meaning = load_case(path)
    [out] = compile_fw(policy, fw, meaning)
    cfg = parse(out.text)
    origins = dict(lower(policy, policy.firewall(fw), meaning).flows)
    assert cfg.policies and not cfg.default_permit
    for policies in cfg.policies.values():
        *rules, last = policies.values()
        assert last.action == "deny" and last.src == last.dst == last.apps == ["any"]
        for p in rules:
            _, fid, where = p.description.split(" ")
            assert where.endswith(":" + origins[fid].rsplit(":", 1)[1])
            assert fid in p.name or "_" in p.name
    assert out.text.rstrip().endswith("set security policies default-policy deny-all")
    assert out.text.split("\n").index("delete security policies") < out.text.index("set security policies")


def test_registered_under_its_target() -> None:
    assert isinstance(get_compiler("juniper-srx"), JuniperSrxCompiler)


def test_capabilities_are_declared_honestly() -> None:
    caps = {f.value for f in COMPILER.capabilities}
    # an SRX policy always creates a session (replies pass), so no stateless flows; no inspection
    # mapping; SCTP port matching is not used
    assert not caps & {"inspect", "stateless", "sctp"}
    assert {"ipv4", "ipv6", "icmp", "log", "protocol-numbers", "comments"} <= caps


def test_inspect_is_a_warning_and_stateless_and_sctp_are_refused() -> None:
    policy = load_text("""
policy p { default deny; intrazone allow }
zone a { networks 10.0.0.0/24 }
zone b { networks 10.0.1.0/24 }
allow a -> b : https        { inspect http; id web }
allow a -> b : udp/514      { stateless; id syslog }
allow b -> a : sctp/2905    { id sig }
firewall fw { target juniper-srx; interface ge-0/0/0.0 -> a; interface ge-0/0/1.0 -> b }
""")
    [compiled] = compile_policy(policy, target="juniper-srx")
    assert not compiled.ok and not compiled.outputs
    assert any(d.code == "ZP402" and "web" in d.message for d in compiled.diagnostics)
    assert any(d.code == "ZP401" and "stateless" in d.message and "syslog" in d.message for d in compiled.diagnostics)
    assert any(d.code == "ZP401" and "SCTP" in d.message and "sig" in d.message for d in compiled.diagnostics)


def test_default_allow_remainder_needs_sctp_and_is_refused() -> None:
    """The remainder of a `default allow` pair holds SCTP with ports, which this back end does not
    match: the shared check refuses it (flow 'default') instead of emitting something else."""
    policy, meaning = load_case("tests/data/juniper-srx/default-allow.zp")
    fw = policy.firewall("gw")
    diags = check_capabilities(policy, fw, lower(policy, fw, meaning), COMPILER.capabilities)
    assert [(d.code, "SCTP" in d.message, "default" in d.message) for d in diags] == [("ZP401", True, True)]


def test_deterministic_across_processes() -> None:
    """Same policy, different hash seeds: byte-identical files."""
    script = (
        "import hashlib\n"
        "from zonepolicy.api import load_policy\n"
        "from zonepolicy.compilers.base import lower\n"
        "from zonepolicy.compilers.juniper_srx import JuniperSrxCompiler\n"
        f"p = load_policy({FEATURES!r})\n"
        "h = hashlib.sha256()\n"
        "for o in JuniperSrxCompiler().render(lower(p, p.firewall('fw1'))):\n"
        "    h.update(o.filename.encode() + o.text.encode())\n"
        "print(h.hexdigest())\n"
    )
    assert_same_under_hash_seeds(script)
    policy, meaning = load_case(FEATURES)
    assert compile_fw(policy, "fw1", meaning) == compile_fw(policy, "fw1", meaning)


# ---------------------------------------------------------------- random policies
def _srx_spec(spec, toggles: int = 0):
    """The spec with juniper-srx firewalls on ge-0/0/N.0, without what the target refuses (stateless,
    SCTP becomes TCP), and flows logged by ``toggles`` bits (the generator rarely draws ``log``)."""
    fws = tuple(dataclasses.replace(f, target="juniper-srx", interfaces=tuple(
        (f"ge-0/0/{n}.0", zones) for n, (_, zones) in enumerate(f.interfaces))) for f in spec.firewalls)
    flows = []
    for n, f in enumerate(spec.flows):
        opts = [o for o in (f.options or ()) if o not in ("stateless", "stateful")]
        if toggles >> n & 1 and "log" not in opts:
            opts.append("log")
        flows.append(dataclasses.replace(
            f, services=tuple(s.replace("sctp/", "tcp/") for s in f.services),
            options=tuple(opts) if opts or f.options is not None else None))
    objects = tuple(dataclasses.replace(o, members=tuple(m.replace("sctp/", "tcp/") for m in o.members))
                    if o.kind == "service" else o for o in spec.objects)
    return dataclasses.replace(spec, firewalls=fws, flows=tuple(flows), objects=objects)


RANDOM_SIZES = dataclasses.replace(SMALL, top_zones=4, children=2, flows=6, firewalls=2)


@given(spec=policy_specs(RANDOM_SIZES), seed=st.integers(0, 2**16), toggles=st.integers(0, 2**6 - 1))
def test_random_policies_render_read_back_and_prove(spec, seed: int, toggles: int) -> None:
    assume(spec.firewalls)
    policy = load_text(render_policy(_srx_spec(spec, toggles), seed, with_comments=False))
    meaning = Meaning(policy)
    for fw in policy.firewalls:
        model = lower(policy, fw, meaning)
        errors = [d for d in check_capabilities(policy, fw, model, COMPILER.capabilities) if d.code == "ZP401"]
        if errors:  # only a default-allow remainder (SCTP) is refused here
            assert all("flow default" in d.message for d in errors)
            continue
        outs = COMPILER.render(model)
        cfg = parse(outs[0].text)
        shared = PolicySets(cfg)  # the reader's shared factors build what the one-policy reference builds
        assert all(shared(p) == policy_set(cfg, p) for pols in cfg.policies.values() for p in pols.values())
        mismatches = prove(policy, fw, COMPILER.read_outputs(outs, fw), meaning)
        assert mismatches == [], "\n".join(m.describe() for m in mismatches)
        problems = log_problems(policy, fw, outs[0].text, meaning)
        assert problems == [], "\n".join(p.describe() for p in problems)


# ---------------------------------------------------------------- broken outputs are caught
def _features() -> tuple[Policy, Meaning, list[Output]]:
    policy, meaning = load_case(FEATURES)
    return policy, meaning, compile_fw(policy, "fw1", meaning)


def _mismatches(policy: Policy, meaning: Meaning, text: str):
    fw = policy.firewall("fw1")
    return prove(policy, fw, COMPILER.read_outputs([Output("fw1.set", text)], fw), meaning)


def _without_policy(text: str, name_part: str) -> str:
    """The text without every line of the first policy whose name contains ``name_part``."""
    lines = text.split("\n")
    name = next(line.split(" policy ", 1)[1].split(" ")[0] for line in lines
                if " policy " in line and name_part in line.split(" policy ", 1)[1].split(" ")[0])
    return "\n".join(line for line in lines if f" policy {name} " not in line)


def test_removing_a_permit_is_caught() -> None:
    policy, meaning, [out] = _features()
    broken = out.text.replace("match application zp-tcp-443\n", "match application zp-tcp-25\n")
    broken = _without_policy(broken, "-to-syslog")
    found = _mismatches(policy, meaning, broken)
    assert [(m.in_if, m.out_if) for m in found] == [("reth0.100", "xe-1/0/0:1.0")]
    assert found[0].extra.is_empty() and found[0].witness() is not None
    assert Packet.of("10.2.0.1", "192.0.2.10", 17, dport=514) in found[0].missing


def test_swapping_zones_is_caught() -> None:
    policy, meaning, [out] = _features()
    a, b = zone_name("ge-0/0/0.0"), zone_name("reth0.100")
    broken = out.text.replace(f"from-zone {a} to-zone {b} ", "SWAP ").replace(
        f"from-zone {b} to-zone {a} ", f"from-zone {a} to-zone {b} ").replace("SWAP ", f"from-zone {b} to-zone {a} ")
    found = {(m.in_if, m.out_if) for m in _mismatches(policy, meaning, broken)}
    assert ("ge-0/0/0.0", "reth0.100") in found


def test_swapping_interfaces_between_zones_is_caught_with_a_witness() -> None:
    policy, meaning, [out] = _features()
    broken = out.text.replace(" interfaces ge-0/0/0.0\n", " interfaces TMP\n").replace(
        " interfaces reth0.100\n", " interfaces ge-0/0/0.0\n").replace(" interfaces TMP\n", " interfaces reth0.100\n")
    found = _mismatches(policy, meaning, broken)
    assert found and all(m.witness() is not None for m in found)
    assert ("ge-0/0/0.0", "reth0.100") in {(m.in_if, m.out_if) for m in found}


def test_widening_a_port_is_caught() -> None:
    policy, meaning, [out] = _features()
    broken = out.text.replace("application zp-tcp-1000-1100 destination-port 1000-1100",
                              "application zp-tcp-1000-1100 destination-port 1000-2000")
    found = _mismatches(policy, meaning, broken)
    # the application is shared: both office interfaces open the wider range
    assert [(m.in_if, m.out_if) for m in found] == [("ge-0/0/0.0", "reth0.100"), ("ge-0/0/0.200", "reth0.100")]
    assert Packet.of("10.1.0.1", "10.2.0.1", 6, dport=1500) in found[0].extra


def test_deny_moved_after_an_overlapping_permit_is_caught() -> None:
    """Junos evaluates a context's policies in definition order: a deny defined after a permit that
    overlaps it (here widened to every application) no longer stops telnet."""
    policy, meaning, [out] = _features()
    lines = out.text.replace("policy zp7-5-f8c73d9aa18 match application APS_9e856358e5",
                             "policy zp7-5-f8c73d9aa18 match application any").split("\n")
    deny = [line for line in lines if " policy zp7-1-deny-legacy " in line]
    rest = [line for line in lines if " policy zp7-1-deny-legacy " not in line]
    at = max(n for n, line in enumerate(rest) if " policy zp7-5-" in line) + 1
    found = _mismatches(policy, meaning, "\n".join(rest[:at] + deny + rest[at:]))
    assert [(m.in_if, m.out_if) for m in found] == [("ge-0/0/0.0", "reth0.100")]
    assert Packet.of("10.1.0.1", "10.2.0.1", 6, dport=23) in found[0].extra


def test_flipped_verdict_and_default_permit_are_caught() -> None:
    policy, meaning, [out] = _features()
    flipped = out.text.replace("then deny\n", "then permit\n", 1)
    assert any(not m.extra.is_empty() for m in _mismatches(policy, meaning, flipped))
    opened = out.text.replace("default-policy deny-all", "default-policy permit-all")
    assert _mismatches(policy, meaning, opened) == []  # every context ends with its own deny …
    no_final = "\n".join(line for line in opened.split("\n") if "-deny " not in line or "zp1-" not in line)
    found = _mismatches(policy, meaning, no_final)  # … without it, permit-all opens the pair
    assert any(not m.extra.is_empty() for m in found)


def test_missing_or_extra_log_is_caught_by_the_log_check() -> None:
    """prove compares verdicts only; log_problems finds a lost or an added ``then log``."""
    policy, meaning, [out] = _features()
    fw = policy.firewall("fw1")
    lost = "\n".join(line for line in out.text.split("\n")
                     if not line.endswith(" policy zp7-1-deny-legacy then log session-init"))
    assert lost != out.text and _mismatches(policy, meaning, lost) == []
    problems = log_problems(policy, fw, lost, meaning)
    assert [(p.in_if, p.out_if) for p in problems] == [("ge-0/0/0.0", "reth0.100")]
    assert Packet.of("10.1.0.1", "10.2.0.1", 6, dport=23) in problems[0].missing
    assert "does not log" in problems[0].describe()
    ctx = f"set security policies from-zone {zone_name('ge-0/0/0.0')} to-zone {zone_name('reth0.100')}"
    added = out.text + f"{ctx} policy zp7-deny then log session-init\n"  # the final deny now logs
    problems = log_problems(policy, fw, added, meaning)
    assert [(p.in_if, p.out_if) for p in problems] == [("ge-0/0/0.0", "reth0.100")] and problems[0].missing.is_empty()


def test_foreign_interface_in_a_zone_is_caught() -> None:
    policy, meaning, [out] = _features()
    broken = out.text.replace(" interfaces reth0.100\n", " interfaces reth0.100\nset security zones security-zone "
                              f"{zone_name('reth0.100')} interfaces ge-9/0/0.0\n")
    found = {(m.in_if, m.out_if) for m in _mismatches(policy, meaning, broken)}
    assert ("ge-9/0/0.0", "xe-1/0/0:1.0") in found


@pytest.mark.parametrize("line", [
    "set security policies global policy x then permit",
    "set security zones security-zone z host-inbound-traffic system-services all",
    "set applications application zp-tcp-443 source-port 1-2",
    "set applications application a term t1 protocol tcp",
    "set security policies from-zone a to-zone b policy p then permit count",
    "set security policies from-zone a to-zone b policy p match source-address-excluded",
    "set security address-book global address x 10.0.0.1/8",
    "insert security policies from-zone a to-zone b policy p before policy q",
    'set security zones security-zone z description "unterminated',
])
def test_reader_refuses_what_it_does_not_emit(line: str) -> None:
    with pytest.raises(ReadError):
        parse(line + "\n")


def test_reader_refuses_incomplete_policies() -> None:
    policy, meaning, [out] = _features()
    broken = "\n".join(line for line in out.text.split("\n") if not line.endswith(" then permit"))
    with pytest.raises(ReadError):
        _mismatches(policy, meaning, broken)


# ---------------------------------------------------------------- hostile policies
HOSTILE = [
    "line\nbreak\nset security policies default-policy permit-all", 'quote" then permit "', "semi; colon; delete",
    "back\\slash\\", "tab\there", "x" * 600, "南京市政务外网" * 40, "bidi\u202egnp.exe", "nul\0byte", "cr\rreturn",
    "sep\u2028line", "{ braces } [ brackets ]", "# not a comment", "! bang", "'single' and `back`",
]


def _hostile_model(text: str):
    policy, meaning = load_case(FEATURES)
    model = lower(policy, policy.firewall("fw1"), meaning)
    pairs = tuple(dataclasses.replace(p, rules=tuple(dataclasses.replace(r, flow_id=text + r.flow_id, origin=text)
                                                     for r in p.rules), in_zones=(text,))
                  for p in model.pairs)
    interfaces = tuple((name, (text,) + zones) for name, zones in model.interfaces)
    return policy, meaning, dataclasses.replace(model, pairs=pairs, description=text, policy=text,
                                                firewall=text[:60], interfaces=interfaces)


def _executable(text: str) -> list[list[str]]:
    """The commands of a file with descriptions and comments left out: what the device executes."""
    out = []
    for line in text.split("\n"):
        if line.startswith("#") or not line:
            continue
        t = tokenize(line)
        out.append(t[:-1] if t[-2:-1] == ["description"] else t)
    return out


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_names_and_comments_cannot_break_the_file(text: str) -> None:
    policy, meaning, model = _hostile_model(text)
    [out] = COMPILER.render(model)
    assert "/" not in out.filename and not out.filename.startswith(".")
    for line in out.text.split("\n")[:-1]:
        assert line.startswith(("# ", "set ", "delete security policies")), repr(line[:80])
        assert not any(ord(c) < 32 or c in "\u2028\u2029\u202e" for c in line)
        assert line.count('"') in (0, 2)
        if '"' in line:
            assert line.endswith('"') and len(line.split('"')[1].encode()) <= 255
    # the hostile text changed names and descriptions only: same commands, same meaning
    _, _, plain = _hostile_model("")
    [clean] = COMPILER.render(plain)
    strip = lambda cmds: [[w for w in c if " policy " not in " ".join(c) or w != c[8]] for c in cmds]  # noqa: E731
    assert strip(_executable(out.text)) == strip(_executable(clean.text))
    fw = policy.firewall("fw1")
    assert prove(policy, fw, COMPILER.read_outputs([out], fw), meaning) == []


@pytest.mark.parametrize("name", ["GigabitEthernet0/0", "ge-0/0/0.0 then permit", "ge-0/0/0\nset", "eth0;", "网卡0",
                                  "ge_0/0/0", "ge-0/0/0.u", '"ge-0/0/0"', "", "ge-0/0/0 ", "-ge0", "a" * 70])
def test_interface_names_junos_cannot_use_are_refused(name: str) -> None:
    policy, meaning = load_case(FEATURES)
    fw = policy.firewall("fw1")
    bad_fw = dataclasses.replace(fw, interfaces=(dataclasses.replace(fw.interfaces[0], name=name),) + fw.interfaces[1:])
    diags = COMPILER.diagnose(policy, bad_fw)
    assert [d.code for d in diags] == ["ZP403"] and diags[0].span is not None
    with pytest.raises(InvalidPolicy) as err:
        COMPILER.render(lower(policy, bad_fw, meaning))
    assert err.value.diagnostics[0].code == "ZP403"


# ---------------------------------------------------------------- names and helpers
def test_zone_names_are_injective_on_interface_names() -> None:
    names = ["ge-0/0/0.0", "ge-0/0/0", "ge-0/0/00", "xe-1/0/0:1.0", "xe-1/0/0/1.0", "reth0.100", "reth0100",
             "ae1", "irb.10", "irb10", "lo0.0", "st0.1", "fxp0"]
    assert all(check_interface_name(n) is None for n in names)
    zones = [zone_name(n) for n in names]
    assert len(set(zones)) == len(zones)
    assert all(z.replace("-", "").replace("_", "").isalnum() for z in zones)
    assert zone_name("ge-0/0/0.0") == "z-ge-0_0_0-u0"


def test_policy_names_are_unique_and_safe() -> None:
    assert policy_name(1, 2, "web-public") == "zp1-2-web-public"
    odd = policy_name(1, 2, "南京 flow;x")
    assert odd.startswith("zp1-2-") and odd.replace("-", "").replace("_", "").isalnum() and len(odd) <= 63
    assert policy_name(1, 2, "a" * 100) != policy_name(1, 2, "a" * 99)
    assert policy_name(1, 23, "x") != policy_name(12, 3, "x")


def test_text_helpers() -> None:
    assert junos_text('a\nb"c\\d\u202ee') == "a?b'c/d?e"
    cut = junos_text("南" * 200)
    assert len(cut.encode()) <= 255 and cut.endswith("...")
    assert output_name("../../etc/passwd") == "_.._etc_passwd.set"
    assert tokenize('set a "b c" d') == ["set", "a", "b c", "d"]
    with pytest.raises(ReadError):
        tokenize('set a "b\\" c"')


def _rule(**kw) -> TargetRule:
    base = dict(action=Action.ALLOW, family=4, src=(), dst=(), proto=((0, 255),), dport=((0, 65535),),
                icmp_type=((0, 255),), icmp_code=((0, 255),), flow_id="f", origin="")
    base.update(kw)
    return TargetRule(**base)


def test_applications_respect_the_packet_universe() -> None:
    assert applications(_rule()) is None  # Junos "any"
    assert applications(_rule(proto=((6, 6),), dport=((443, 443), (8000, 8080)))) == [
        App(6, ports=(443, 443)), App(6, ports=(8000, 8080))]
    # ports other than 0 exclude the protocols without ports; ICMP types exclude TCP
    assert applications(_rule(proto=((1, 17),), dport=((53, 53),))) == [App(6, ports=(53, 53)), App(17, ports=(53, 53))]
    assert applications(_rule(proto=((1, 1), (6, 6)), icmp_type=((8, 8),))) == [App(1, icmp_type=8)]
    assert applications(_rule(proto=((58, 58),), icmp_type=((1, 1),), icmp_code=((3, 4),))) == [
        App(58, icmp_type=1, icmp_code=3), App(58, icmp_type=1, icmp_code=4)]
    assert [a.name for a in applications(_rule(proto=((47, 47), (58, 58))))] == ["zp-proto-47", "zp-icmp6"]


# ---------------------------------------------------------------- fast paths agree with the general ones
_AWKWARD = st.text(alphabet=st.sampled_from('ab "\\\t\n\x7f\u00a0\u2028\u202e南é?#'), max_size=40)


@given(text=_AWKWARD, limit=st.integers(4, 40))
def test_junos_text_fast_path_is_the_scan(text: str, limit: int) -> None:
    assert junos_text(text, limit) == junos_text_scan(text, limit)


@given(line=_AWKWARD)
def test_tokenize_fast_paths_are_the_scan(line: str) -> None:
    try:
        expected = scan_tokens(line)
    except ReadError:
        with pytest.raises(ReadError):
            tokenize(line)
    else:
        assert tokenize(line) == expected


@given(net=st.one_of(
    st.builds(lambda a, p: ipaddress.ip_network((a, p), strict=False), st.integers(0, 2**32 - 1), st.integers(0, 32)),
    st.builds(lambda a, p: ipaddress.ip_network((a, p), strict=False), st.integers(0, 2**128 - 1),
              st.integers(0, 128))))
def test_address_names_and_prefixes_are_printed_as_ipaddress_prints_them(net) -> None:
    assert address_name(net) == (f"N_{net.network_address}_{net.prefixlen}" if net.version == 4 else
                                 f"N6_{str(net.network_address).replace(':', '-')}_{net.prefixlen}")
    assert network_text(net) == str(net)
