"""Tests shared by the Cisco IOS and ASA back ends (tests/test_cisco_ios.py, tests/test_cisco_asa.py).

Each of those modules imports these test functions and defines the ``backend`` fixture (a
:class:`Backend`); pytest then runs every test once per target. Golden files live in
tests/golden/<target>/<case>/; regenerate them after a reviewed change with
``ZONEPOLICY_UPDATE_GOLDEN=1 python -m pytest tests/test_cisco_ios.py tests/test_cisco_asa.py``.
No IOS or ASA device is available here, so acceptance by the real CLI is not tested; the strict
reader (which refuses any line it did not emit) and the proof are the check.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from hypothesis import assume, given, settings, strategies as st

from backend_cases import assert_golden, assert_same_under_hash_seeds, case_loader
from conftest import REPO, load_policy_text as load_text
from strategies import SMALL, policy_specs, render_policy
from zonepolicy.compile import check_outputs, compile_policy, write_outputs
from zonepolicy.compilers import _cisco as cc
from zonepolicy.compilers.base import Compiler, Output, TargetRule, check_capabilities, get_compiler, lower, prove
from zonepolicy.errors import InvalidPolicy
from zonepolicy.model.policy import Policy
from zonepolicy.model.values import Action
from zonepolicy.semantics.meaning import Meaning
from zonepolicy.semantics.packet import Packet

FEATURES = "tests/data/cisco/features.zp"
JIANGSU = "examples/jiangsu/main.zp"


@dataclass(frozen=True)
class Backend:
    """What a test needs to know about one Cisco target."""

    target: str
    compiler: Compiler
    extension: str
    stateless: bool  # whether the target can express stateless flows
    parse: Callable[[str], object]  # the strict parser of emitted text


_LOADERS: dict[str, Callable[[str], tuple[Policy, Meaning]]] = {}


def load_case(path: str, target: str) -> tuple[Policy, Meaning]:
    """The policy (path relative to the repo) with every firewall retargeted to ``target``."""
    return _LOADERS.setdefault(target, case_loader(target))(path)




def features(backend: Backend) -> tuple[Policy, Meaning, list[Output]]:
    policy, meaning = load_case(FEATURES, backend.target)
    if not backend.stateless:  # the ASA cannot write a stateless flow; the features file has none
        assert all(f.options.stateful for f in policy.flows)
    [compiled] = compile_policy(policy, firewalls=["fw1"], meaning=meaning)
    assert compiled.ok, compiled.diagnostics
    return policy, meaning, list(compiled.outputs)


def mismatches(backend: Backend, policy: Policy, meaning: Meaning, outs: list[Output]):
    fw = policy.firewall("fw1")
    return prove(policy, fw, backend.compiler.read_outputs(outs, fw), meaning)


def edited(outs: list[Output], edit: Callable[[str], str]) -> list[Output]:
    return [Output(o.filename, edit(o.text)) for o in outs]


# ---------------------------------------------------------------- golden file and proof
def test_golden_features(backend: Backend) -> None:
    _, _, outs = features(backend)
    assert [o.filename for o in outs] == [f"fw1.{backend.extension}"]
    golden = REPO / "tests" / "golden" / backend.target / "features" / outs[0].filename
    assert_golden(golden, outs[0].text)


def test_features_prove_equal_to_the_policy(backend: Backend) -> None:
    policy, meaning, outs = features(backend)
    assert mismatches(backend, policy, meaning, outs) == []


@pytest.mark.parametrize("fw", ["huaian-edge", "changzhou-edge", "taizhou-edge", "dr-edge"])
def test_example_firewalls_with_ping_compile_and_prove(backend: Backend, fw: str) -> None:
    """These firewalls' slices hold the prelude's ``ping`` in both families. ICMP is IPv4's and ICMPv6
    IPv6's (language.md 12.3), so the IPv4 ACL gets ICMP echo and the IPv6 ACL ICMPv6 echo — each in
    the ACL's own family, which Cisco can write — and the result proves equal to the policy."""
    policy, meaning = load_case(JIANGSU, backend.target)
    [compiled] = compile_policy(policy, firewalls=[fw], meaning=meaning)
    assert compiled.ok, [d.message for d in compiled.diagnostics]
    firewall = policy.firewall(fw)
    assert prove(policy, firewall, backend.compiler.read_outputs(list(compiled.outputs), firewall), meaning) == []
    aces = [line.split() for o in compiled.outputs for line in o.text.splitlines()]
    icmp_words = {w for words in aces for w in words if w in ("icmp", "icmp6")}
    assert icmp_words, "the slice allows ping: some ACE must match ICMP"


def test_written_files_are_checked_as_compile_check_does(backend: Backend, tmp_path: Path) -> None:
    """What ``zonepolicy compile --check`` runs: write, read the files back from disk, prove."""
    policy, meaning = load_case(FEATURES, backend.target)
    compiled = compile_policy(policy, firewalls=["fw1"], meaning=meaning)
    write_outputs(str(tmp_path), compiled)
    [checked] = check_outputs(policy, compiled, str(tmp_path), meaning)
    assert checked.ok, checked
    broken = tmp_path / f"fw1.{backend.extension}"
    broken.write_text(broken.read_text(encoding="utf-8") + "crypto key generate rsa\n", encoding="utf-8")
    [checked] = check_outputs(policy, compiled, str(tmp_path), meaning)
    assert not checked.ok  # a line the reader does not know is a failed check, not a pass


def test_registered_and_capabilities_are_honest(backend: Backend) -> None:
    assert isinstance(get_compiler(backend.target), type(backend.compiler))
    caps = {f.value for f in backend.compiler.capabilities}
    assert "inspect" not in caps
    assert {"ipv4", "ipv6", "icmp", "log", "protocol-numbers", "comments"} <= caps
    assert ("stateless" in caps) == backend.stateless


def test_every_rule_carries_its_flow_and_logging(backend: Backend) -> None:
    _, _, outs = features(backend)
    text = outs[0].text
    assert "remark flow deny-legacy features.zp:16" in text
    lines = text.split("\n")
    start = next(n for n, line in enumerate(lines) if "remark flow deny-legacy" in line)
    aces = [line for line in lines[start + 1:start + 6] if " deny " in f" {line}"]
    assert aces and all(line.endswith(" log") for line in aces)
    assert text.count("deny ip any any") >= 5  # the explicit final deny of every ingress ACL


def test_deterministic_across_processes(backend: Backend) -> None:
    script = (
        "import hashlib\n"
        "from zonepolicy.api import load_policy\n"
        "from zonepolicy.compilers.base import lower, get_compiler\n"
        f"p = load_policy({FEATURES!r})\n"
        "fw = p.firewall('fw1')\n"
        "h = hashlib.sha256()\n"
        f"for o in get_compiler({backend.target!r}).render(lower(p, fw)):\n"
        "    h.update(o.filename.encode() + o.text.encode())\n"
        "print(h.hexdigest())\n"
    )
    assert_same_under_hash_seeds(script)


# ---------------------------------------------------------------- random policies
def _cisco_spec(spec, target: str, toggles: int, stateless: bool):
    fws = tuple(dataclasses.replace(f, target=target, interfaces=tuple(
        (f"GigabitEthernet0/{n}", zones) for n, (_, zones) in enumerate(f.interfaces))) for f in spec.firewalls)
    flows = []
    for n, f in enumerate(spec.flows):
        opts = list(f.options or ())
        if stateless and toggles >> (2 * n) & 1 and not any(o in ("stateful", "stateless") for o in opts):
            opts.append("stateless")
        if toggles >> (2 * n + 1) & 1 and "log" not in opts:
            opts.append("log")
        flows.append(dataclasses.replace(f, options=tuple(opts) if opts or f.options is not None else None))
    return dataclasses.replace(spec, firewalls=fws, flows=tuple(flows))


RANDOM_SIZES = dataclasses.replace(SMALL, top_zones=4, children=2, flows=6, firewalls=2)


def expressible(text: str) -> str:
    """Policy text with the services an ACL cannot write exactly made writable: ICMP types become
    whole ICMP protocols (the prelude's and the generator's types apply to both families, and an ACL
    matches ICMP types in its own family only), SCTP ports the SCTP protocol."""
    text = re.sub(r"\bsctp/[0-9a-z-]+", "ip/132", text)
    text = re.sub(r"\b(icmp|icmpv6)/[0-9a-z:-]+", r"\1/any", text)
    return re.sub(r"\bping\b", "icmp", text)


def _random_check(backend: Backend, spec, seed: int, toggles: int, writable: bool = False) -> int:
    """Render, read back and prove every firewall of a random policy; the number of rules proved."""
    assume(spec.firewalls)
    text = render_policy(_cisco_spec(spec, backend.target, toggles, backend.stateless), seed, with_comments=False)
    policy = load_text(expressible(text) if writable else text)
    meaning = Meaning(policy)
    proved = 0
    for fw in policy.firewalls:
        model = lower(policy, fw, meaning)
        refused = backend.compiler.diagnose(policy, fw)
        # diagnose lowers only the flows that can need it: the same findings as the whole model's
        assert cc.expressibility_diagnostics(backend.target, policy, fw) == \
            cc.expressibility_diagnostics(backend.target, policy, fw, model)
        if refused:  # what cannot be written is refused by render too, never dropped
            with pytest.raises(InvalidPolicy):
                backend.compiler.render(model)
            continue
        outs = backend.compiler.render(model)
        proved += sum(len(p.rules) for p in model.pairs)
        acls = backend.parse(outs[0].text)[0]
        factors = cc.AceFactors()  # the reader's shared factors build what each entry builds alone
        assert all(factors.packets(e.ace) == e.ace.packets() for es in acls.values() for e in es if e.ace)
        found = prove(policy, fw, backend.compiler.read_outputs(outs, fw), meaning)
        assert found == [], "\n".join(m.describe() for m in found)
        errors = [d for d in check_capabilities(policy, fw, model, backend.compiler.capabilities)
                  if d.code == "ZP401"]
        assert backend.stateless or errors or all(r.stateful for p in model.pairs for r in p.rules)
    return proved


@settings(deadline=None, max_examples=60)
@given(spec=policy_specs(RANDOM_SIZES), seed=st.integers(0, 2**16), toggles=st.integers(0, 2**12 - 1))
def test_random_policies_render_read_back_and_prove(backend: Backend, spec, seed: int, toggles: int) -> None:
    _random_check(backend, spec, seed, toggles)


RULES_PROVED: dict[str, int] = {}


@settings(deadline=None, max_examples=60)
@given(spec=policy_specs(RANDOM_SIZES), seed=st.integers(0, 2**16), toggles=st.integers(0, 2**12 - 1))
def test_random_writable_policies_prove(backend: Backend, spec, seed: int, toggles: int) -> None:
    """The same with services every ACL can write, so that most firewalls compile and are proved."""
    RULES_PROVED[backend.target] = RULES_PROVED.get(backend.target, 0) + _random_check(
        backend, spec, seed, toggles, writable=True)


def test_random_writable_policies_proved_real_rules(backend: Backend) -> None:
    """Guards the test above against proving only empty rule lists (runs after it in file order)."""
    if backend.target in RULES_PROVED:
        assert RULES_PROVED[backend.target] > 20


# ---------------------------------------------------------------- broken outputs are caught
def _drop_first(predicate: Callable[[str], bool]) -> Callable[[str], str]:
    def edit(text: str) -> str:
        lines = text.split("\n")
        n = next(n for n, line in enumerate(lines) if predicate(line))
        del lines[n]
        return "\n".join(lines)
    return edit


def test_dropping_a_permit_is_caught(backend: Backend) -> None:
    policy, meaning, outs = features(backend)
    broken = edited(outs, _drop_first(lambda line: "permit tcp " in line and "eq 443" in line))
    found = mismatches(backend, policy, meaning, broken)
    assert [(m.in_if, m.out_if) for m in found] == [("GigabitEthernet0/0", "Port-channel1.100")]
    assert found[0].extra.is_empty() and found[0].witness() is not None
    assert Packet.of("10.1.0.1", "10.2.0.1", 6, dport=443) in found[0].missing


def test_widening_a_port_is_caught(backend: Backend) -> None:
    policy, meaning, outs = features(backend)
    broken = edited(outs, lambda t: t.replace("range 8080 8090", "range 8080 8099", 1))
    found = mismatches(backend, policy, meaning, broken)
    assert [(m.in_if, m.out_if) for m in found] == [("GigabitEthernet0/0", "Port-channel1.100")]
    assert Packet.of("10.1.0.1", "10.2.0.1", 6, dport=8095) in found[0].extra


def test_swapping_interface_bindings_is_caught(backend: Backend) -> None:
    policy, meaning, outs = features(backend)

    def edit(text: str) -> str:
        out = []
        for line in text.split("\n"):
            if "access-group" in line:
                line = line.replace("GigabitEthernet0_0_IN", "@")
                line = line.replace("Port-channel1_100_IN", "GigabitEthernet0_0_IN")
                line = line.replace("@", "Port-channel1_100_IN")
            out.append(line)
        return "\n".join(out)

    found = {(m.in_if, m.out_if): m for m in mismatches(backend, policy, meaning, edited(outs, edit))}
    assert Packet.of("10.1.0.1", "10.2.0.1", 6, dport=443) in found["GigabitEthernet0/0", "Port-channel1.100"].missing


def test_swapping_egress_zones_is_caught(backend: Backend) -> None:
    """A pair section labelled with the wrong egress interface claims that interface routes the
    section's destinations: the ACL then accepts, towards it, what the policy only allows elsewhere."""
    policy, meaning, outs = features(backend)
    broken = edited(outs, lambda t: t.replace("zp pair GigabitEthernet0/0 -> Port-channel1.100",
                                              "zp pair GigabitEthernet0/0 -> TenGigabitEthernet1/0/1", 1))
    found = {(m.in_if, m.out_if): m for m in mismatches(backend, policy, meaning, broken)}
    wrong = found["GigabitEthernet0/0", "TenGigabitEthernet1/0/1"]
    assert Packet.of("10.1.0.1", "10.2.0.1", 6, dport=443) in wrong.extra


def test_moving_a_permit_before_a_deny_is_caught(backend: Backend) -> None:
    policy, meaning, outs = features(backend)

    def edit(text: str) -> str:
        lines = text.split("\n")
        deny = next(n for n, line in enumerate(lines) if "deny tcp " in line and "eq 23" in line)
        lines.insert(deny, lines[deny].replace("deny", "permit", 1))
        return "\n".join(lines)

    found = mismatches(backend, policy, meaning, edited(outs, edit))
    assert Packet.of("10.1.0.1", "10.2.0.1", 6, dport=23) in found[0].extra


@pytest.mark.parametrize("line", ["permit tcp any any established", "access-list X extended permit tcp any any eq www",
                                  "crypto map foo", "permit ip any any ; deny", "deny ip any any fragments"])
def test_reader_refuses_what_it_does_not_emit(backend: Backend, line: str) -> None:
    _, _, outs = features(backend)
    text = outs[0].text.replace("\n!\n", f"\n{line}\n", 1)
    with pytest.raises(cc.CiscoReadError):
        backend.parse(text)


# ---------------------------------------------------------------- injection
HOSTILE = [
    "line\nbreak permit ip any any", 'quote" permit ip any any "', "semi; colon; reload", "back\\slash\\",
    "tab\there", "x" * 600, "南京市政务外网" * 40, "bidi\u202egnp.exe", "nul\0byte", "cr\rreturn",
    "sep\u2028line", "# not a comment", "! comment", "? help", "{brace}", "zp pair A -> B",
    "end\ninterface Gi0/0\n no ip access-group X in", "",
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_names_and_remarks_cannot_break_the_file(backend: Backend, text: str) -> None:
    policy, meaning = load_case(FEATURES, backend.target)
    model = lower(policy, policy.firewall("fw1"), meaning)
    pairs = tuple(dataclasses.replace(p, rules=tuple(dataclasses.replace(r, flow_id=text + r.flow_id, origin=text)
                                                     for r in p.rules)) for p in model.pairs)
    model = dataclasses.replace(model, pairs=pairs, description=text, policy=text, firewall=text[:60])
    [out] = backend.compiler.render(model)
    assert "/" not in out.filename and not out.filename.startswith(".")
    for line in out.text.split("\n"):
        assert all(32 <= ord(c) <= 126 for c in line), repr(line)
        if " remark " in line:
            remark = line.split(" remark ", 1)[1]
            assert len(remark) <= cc.MAX_REMARK and not set(remark) & set("?!#\"\\;|")
    backend.parse(out.text)  # every line is one the reader knows: nothing was injected
    fw = policy.firewall("fw1")
    assert prove(policy, fw, backend.compiler.read_outputs([out], fw), meaning) == []


@pytest.mark.parametrize("name", ["GigabitEthernet0/0 in", "Gi0/0\ninterface", "a" * 80, "0/1", "Gi0/0;",
                                  "网卡0", '"Gi0/0"', "", "Gi0/0?"])
def test_interface_names_the_target_cannot_use_are_refused(backend: Backend, name: str) -> None:
    policy, meaning = load_case(FEATURES, backend.target)
    fw = policy.firewall("fw1")
    bad_fw = dataclasses.replace(fw, interfaces=(dataclasses.replace(fw.interfaces[0], name=name),) + fw.interfaces[1:])
    diags = backend.compiler.diagnose(policy, bad_fw)
    assert [d.code for d in diags] == ["ZP403"] and diags[0].span is not None
    with pytest.raises(InvalidPolicy):
        backend.compiler.render(lower(policy, bad_fw, meaning))


def test_text_helpers() -> None:
    assert cc.clean_remark("a\nb?c!d#e\"f\\g;h|i 南") == "a b_c_d_e_f_g_h_i _"
    assert len(cc.clean_remark("x" * 300)) == cc.MAX_REMARK
    tokens = cc.interface_tokens(["Gi0/1.2", "Gi0/1/2"], 60)
    assert tokens["Gi0/1.2"] != tokens["Gi0/1/2"] and len(set(tokens.values())) == 2
    assert cc.safe_token("", 64) and cc.safe_token("fw1", 64) == "fw1"


def test_prefix_lists_become_object_groups_defined_before_use(backend: Backend) -> None:
    _, _, outs = features(backend)
    text = outs[0].text
    group = text.index("object-group network ZP-NET-")
    assert group < text.index("access-list") and "object-group ZP-NET-" in text
    assert "10.1.0.0 255.255.128.0" in text  # office minus office.voip, as netmasks inside the group


def test_undefined_object_group_is_refused(backend: Backend) -> None:
    _, _, outs = features(backend)
    name = outs[0].text.split("object-group network ", 1)[1].split("\n", 1)[0]
    text = outs[0].text.replace(f"object-group network {name}\n", "object-group network ZP-NET-other\n", 1)
    with pytest.raises(cc.CiscoReadError):
        backend.parse(text)


# ---------------------------------------------------------------- target rules for render shortcuts
_RULE_NETS = [ipaddress.ip_network(n) for n in ("0.0.0.0/0", "10.0.0.0/8", "10.1.2.3/32", "192.168.0.0/24", "::/0",
                                                "2001:db8::/32", "2001:db8::1/128")]
_RULE_IVS = {
    "proto": [((0, 255),), ((6, 6),), ((6, 6), (17, 17)), ((1, 1),), ((58, 58),), ((47, 47), (50, 51)), ((17, 17),)],
    "dport": [((0, 65535),), ((443, 443),), ((0, 0),), ((1000, 2000), (8080, 8080))],
    "icmp": [((0, 255),), ((0, 0),), ((8, 8),), ((3, 4),)],
}


@st.composite
def target_rules(draw) -> TargetRule:
    """Small target rules of either family, with the protocol parts that exercise every ACE form."""
    family = draw(st.sampled_from((4, 6)))
    nets = st.lists(st.sampled_from(_RULE_NETS), min_size=1, max_size=3, unique=True).map(tuple)
    return TargetRule(
        action=draw(st.sampled_from(Action)), family=family, src=draw(nets), dst=draw(nets),
        proto=draw(st.sampled_from(_RULE_IVS["proto"])), dport=draw(st.sampled_from(_RULE_IVS["dport"])),
        icmp_type=draw(st.sampled_from(_RULE_IVS["icmp"])), icmp_code=draw(st.sampled_from(_RULE_IVS["icmp"])),
        flow_id="f", origin="", log=draw(st.booleans()), stateful=draw(st.booleans()))


any_networks = st.one_of(
    st.builds(lambda a, p: ipaddress.ip_network((a, p), strict=False), st.integers(0, 2**32 - 1), st.integers(0, 32)),
    st.builds(lambda a, p: ipaddress.ip_network((a, p), strict=False), st.integers(0, 2**128 - 1),
              st.integers(0, 128)))
