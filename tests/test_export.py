"""The JSON/YAML data form: the round-trip law, determinism, the CLI, and the strict loader."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import EXAMPLES, REPO, run_cli
from strategies import policies
from zonepolicy.api import load
from zonepolicy.diagnostics import Severity
from zonepolicy.errors import InvalidPolicy
from zonepolicy.model.policy import Policy
from zonepolicy.model.serialize import FORMAT_VERSION, dump_json, dump_yaml, load_data, loads_data, to_data
from zonepolicy.model.values import PortRange, ServiceTerm

DUMPS: dict[str, Callable[[Policy], str]] = {"json": dump_json, "yaml": dump_yaml}

# Every feature the data form has to carry: grading, sub-zones, hosted-on, any-zone, address and
# service objects with every kind of literal, all flow options, waivers with and without scope,
# quoted interface names and wildcard bindings.
RICH = r'''
policy rich "富策略" { standard mlps-2.0; model egov-extranet; default deny; intrazone deny }
zone core "核心" {
    kind backbone
    grading { business-info national-security serious; system-service citizen general }
    networks 10.0.0.0/8, 2001:db8::/32
    important
    owner "信息中心"
}
zone core.db { networks 10.1.0.0/16; classified }
zone core.db.hot { networks 10.1.2.0/24; hosted-on cloud }
zone cloud { kind cloud; level 2; networks 172.16.0.0/12 }
zone dmz { networks 192.168.0.0/24, 192.168.1.0/24; vpn v1; description "tab\there" }
zone world { kind external; networks any }
address ext-dns "外部 DNS" = 8.8.8.8, 2001:4860::8888
address grp = ext-dns, 1.1.1.1
service web = tcp/80, tcp/443, tcp/8000-8080
service odd "奇怪" = icmp/destination-unreachable:4, icmpv6/packet-too-big, ip/gre, ip/200, udp/any, sctp/9,
    icmp/7
allow core.* -> grp : dns, web {
    log; stateless; ticket "T-1"; comment "注释 \"quoted\""; expires 2027-06-30; id dns-out
}
allow zone(core) -> address(ext-dns) : odd { via dmz; inspect dns }
allow 10.1.2.3 -> 2001:db8::1 : ping
deny world -> zone(*)
allow dmz -> zone(core.*) : tcp/22
waive R-001 for world -> dmz : https { reason "legacy"; owner "张三"; expires 2026-12-31; ticket "W-9" }
waive R-002 { reason ""; owner "ops"; expires 2026-01-01 }
firewall fw1 {
    target iptables; interface eth0 -> core, cloud; interface "GigabitEthernet0/1" -> core.db
    interface eth2 -> world, dmz
}
firewall fw0 "第二" { target cisco-asa; interface x -> core.* }
'''


def _example_files() -> list[Path]:
    found = {EXAMPLES / "quickstart" / "policy.zp"}
    found.update(EXAMPLES.glob("**/main.zp"))
    found.update(EXAMPLES.glob("**/policy.zp"))
    return sorted(p for p in found if p.exists())


def _load_text(text: str) -> Policy:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "p.zp")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        return load(path).policy


def _round_trip(policy: Policy, fmt: str) -> Policy:
    loaded, diags = loads_data(DUMPS[fmt](policy), f"export.{fmt}", fmt)
    assert not diags, diags
    assert loaded is not None
    return loaded


def _without_at(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _without_at(v) for k, v in data.items() if k != "at"}
    if isinstance(data, list):
        return [_without_at(v) for v in data]
    return data


@pytest.fixture(scope="module")
def rich() -> Policy:
    return _load_text(RICH)


# ---------------------------------------------------------------- the law

@pytest.mark.parametrize("fmt", sorted(DUMPS))
@pytest.mark.parametrize("example", _example_files(), ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_examples_round_trip(example: Path, fmt: str) -> None:
    try:
        policy = load(str(example.relative_to(REPO))).policy
    except InvalidPolicy as err:
        pytest.fail(f"example {example.relative_to(REPO)} does not load: {err}")
    assert _round_trip(policy, fmt) == policy


@pytest.mark.parametrize("fmt", sorted(DUMPS))
def test_rich_policy_round_trips(rich: Policy, fmt: str) -> None:
    assert _round_trip(rich, fmt) == rich


@pytest.mark.parametrize("fmt", sorted(DUMPS))
def test_export_of_a_loaded_export_differs_only_in_at(rich: Policy, fmt: str) -> None:
    again = _round_trip(rich, fmt)
    assert _without_at(to_data(again)) == _without_at(to_data(rich))


@pytest.mark.parametrize("fmt", sorted(DUMPS))
def test_multi_range_service_term_round_trips(rich: Policy, fmt: str) -> None:
    # The DSL writes one range per literal, but the model allows several; the data form must not lose them.
    term = ServiceTerm(6, (PortRange(80, 80), PortRange(8000, 8080)))
    svc = dataclasses.replace(rich.services[0], terms=(term,))
    policy = dataclasses.replace(rich, services=(svc,) + rich.services[1:])
    assert _round_trip(policy, fmt) == policy


@given(text=policies())
@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example])
def test_generated_policies_round_trip(text: str) -> None:
    policy = _load_text(text)
    for fmt in DUMPS:
        assert _round_trip(policy, fmt) == policy


# ---------------------------------------------------------------- the form itself

@pytest.mark.parametrize("fmt", sorted(DUMPS))
def test_dump_is_deterministic(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "rich.zp"
    path.write_text(RICH, encoding="utf-8")
    first = DUMPS[fmt](load(str(path)).policy)
    second = DUMPS[fmt](load(str(path)).policy)
    assert first == second


def test_data_form_shape(rich: Policy) -> None:
    data = json.loads(dump_json(rich))
    assert list(data) == ["zonepolicy", "policy", "zones", "addresses", "services", "flows", "firewalls",
                          "waivers"]
    assert data["zonepolicy"] == FORMAT_VERSION
    assert [z["name"] for z in data["zones"]] == sorted(z["name"] for z in data["zones"])
    world = next(z for z in data["zones"] if z["name"] == "world")
    assert world["networks"] == "any"
    core = next(z for z in data["zones"] if z["name"] == "core")
    assert core["grading"]["business_info"] == {"object": "national-security", "degree": "serious", "level": 4}
    assert core["at"].endswith(":3:1")
    deny = next(f for f in data["flows"] if f["action"] == "deny")
    assert deny["services"] == "any"
    dns_out = next(f for f in data["flows"] if f["id"] == "dns-out")
    assert dns_out["options"]["expires"] == "2027-06-30"
    assert "tcp/8000-8080" in dns_out["services"]
    assert dns_out["destinations"][0]["networks"] == ["1.1.1.1/32", "8.8.8.8/32", "2001:4860::8888/128"]


@pytest.mark.parametrize("fmt", sorted(DUMPS))
def test_chinese_stays_readable(rich: Policy, fmt: str) -> None:
    text = DUMPS[fmt](rich)
    assert "富策略" in text and "信息中心" in text
    assert "\\u" not in text


@pytest.mark.parametrize("fmt", sorted(DUMPS))
def test_awkward_strings_round_trip(rich: Policy, fmt: str) -> None:
    # NEL and the Unicode line separators are folded into spaces by YAML readers unless escaped.
    odd = "x\x85y\u2028z\u2029 😀\t\"q\" \\ 'yes' null 2027-01-01 #c: -"
    policy = dataclasses.replace(rich, description=odd, zones=(dataclasses.replace(rich.zones[0], owner=odd),)
                                 + rich.zones[1:])
    assert _round_trip(policy, fmt) == policy


@pytest.mark.parametrize("block", [0, 1])
def test_documented_examples_load(block: int) -> None:
    doc = (REPO / "docs" / "data-format.md").read_text(encoding="utf-8")
    examples = [part.split("```", 1)[0] for part in doc.split("```yaml\n")[1:]]
    loaded, diags = loads_data(examples[block], "data-format.md", "yaml")
    assert not diags and loaded is not None


def test_yaml_and_json_carry_the_same_data(rich: Policy) -> None:
    assert yaml.safe_load(dump_yaml(rich)) == json.loads(dump_json(rich))


# ---------------------------------------------------------------- the CLI

def test_cli_export_then_check_and_show(tmp_path: Path) -> None:
    src = "examples/quickstart/policy.zp"
    out, again = tmp_path / "out.yaml", tmp_path / "again.yaml"
    for path in (out, again):
        done = run_cli("export", "--format", "yaml", src, "-o", str(path))
        assert done.returncode == 0, done.stderr
    assert out.read_bytes() == again.read_bytes()
    checked = run_cli("check", str(out))
    assert checked.returncode == 0, checked.stderr
    assert "ok — 6 zones, 6 flows, 1 firewalls" in checked.stdout
    shown = run_cli("show", "zones", str(out))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[2].split()[:2] == ["dedicated.tax", "税务专网"]


def test_cli_json_export_is_the_library_dump() -> None:
    # Another process, same bytes: nothing in the text depends on hashing order or the run.
    src = "examples/quickstart/policy.zp"
    done = run_cli("export", src)
    assert done.returncode == 0, done.stderr
    assert done.stdout == dump_json(load(src).policy)


# ---------------------------------------------------------------- broken data files

@pytest.fixture(scope="module")
def quick_json() -> str:
    return dump_json(load("examples/quickstart/policy.zp").policy)


def _line_col(text: str, needle: str, offset: int = 0) -> str:
    at = text.index(needle) + offset
    line = text.count("\n", 0, at) + 1
    col = at - (text.rfind("\n", 0, at) + 1) + 1
    return f"{line}:{col}"


# (name, text to replace, replacement, where the diagnostic points in the broken text, code)
BROKEN_JSON: list[tuple[str, str, str, tuple[str, int], str]] = [
    ("bad-syntax", '"kind": "dedicated",', '"kind": "dedicated"', ('"level": 3', 0), "ZP302"),
    ("wrong-type", '"level": 3,', '"level": "3",', ('"level": "3"', 9), "ZP306"),
    ("unknown-key", '"vpn": "tax-vpn",', '"vnp": "tax-vpn",', ('"vnp"', 0), "ZP304"),
    ("bad-prefix", '"10.20.0.0/16"', '"10.20.0.1/16"', ('"10.20.0.1/16"', 0), "ZP308"),
    ("unknown-zone-in-flow", '"zones": [\n            "internet-access"', '"zones": [\n            "internet-acess"',
     ('"internet-acess"', 0), "ZP310"),
    ("bad-port", '"tcp/443"', '"tcp/70000"', ('"tcp/70000"', 0), "ZP309"),
    ("version", '"zonepolicy": 1', '"zonepolicy": 2', ('2,', 0), "ZP303"),
    ("missing-key", '"target": "nftables",', "", ('"edge"', 0), "ZP305"),
    ("overlap", '"10.20.0.0/16"', '"10.10.0.0/16"', ('"public"', 0), "ZP203"),
    ("duplicate-key", '"kind": "dedicated",', '"kind": "dedicated", "kind": "public",', ('"kind": "public"', 0),
     "ZP311"),
]


def _expect_invalid(path: Path, where: str, code: str) -> None:
    with pytest.raises(InvalidPolicy) as err:
        load(str(path))
    found = [f"{d.span}: {d.code}" for d in err.value.diagnostics]
    assert f"{path}:{where}: {code}" in found, found


@pytest.mark.parametrize("name, old, new, where, code", BROKEN_JSON, ids=[b[0] for b in BROKEN_JSON])
def test_broken_json_is_reported_where_it_is(tmp_path: Path, quick_json: str, name: str, old: str, new: str,
                                             where: tuple[str, int], code: str) -> None:
    assert old in quick_json
    text = quick_json.replace(old, new, 1)
    path = tmp_path / f"{name}.json"
    path.write_text(text, encoding="utf-8")
    _expect_invalid(path, _line_col(text, *where), code)


BROKEN_YAML = [
    ("bad-syntax", "zonepolicy: 1\npolicy: {name: x, default: deny\n", "3:1", "ZP302"),
    ("wrong-type", "zonepolicy: 1\npolicy: {name: x, default: deny, intrazone: allow}\nzones:\n- name: a\n"
                   "  important: 'yes'\n", "5:14", "ZP306"),
    ("unknown-key", "zonepolicy: 1\npolicy: {name: x, default: deny, intrazone: allow, colour: red}\n", "2:52",
     "ZP304"),
    ("bad-prefix", "zonepolicy: 1\npolicy: {name: x, default: deny, intrazone: allow}\nzones:\n- name: a\n"
                   "  networks: [10.0.0.0/33]\n", "5:14", "ZP308"),
    ("unknown-zone-in-flow", "zonepolicy: 1\npolicy: {name: x, default: deny, intrazone: allow}\n"
                             "zones: [{name: a, networks: [10.0.0.0/8]}]\nflows:\n"
                             "- {id: a, action: allow, sources: [{text: a, zones: [a]}],\n"
                             "   destinations: [{text: b, zones: [b]}], services: any}\n", "6:37", "ZP310"),
    ("not-a-policy", "- 1\n- 2\n", "1:1", "ZP303"),
    ("python-tag", "zonepolicy: 1\npolicy: !!python/object:os.system {}\n", "2:9", "ZP306"),
    ("recursive-alias", "zonepolicy: 1\npolicy: &a [*a]\n", "1:1", "ZP314"),
    ("empty", "", "1:1", "ZP303"),
]


@pytest.mark.parametrize("name, text, where, code", BROKEN_YAML, ids=[b[0] for b in BROKEN_YAML])
def test_broken_yaml_is_reported_where_it_is(tmp_path: Path, name: str, text: str, where: str, code: str) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    _expect_invalid(path, where, code)


# What a user meets most; run through the real command line (exit code, rendering, no traceback).
CLI_BROKEN = ["bad-syntax", "wrong-type", "unknown-key", "bad-prefix", "unknown-zone-in-flow"]


@pytest.mark.parametrize("name", CLI_BROKEN)
def test_cli_rejects_broken_json(tmp_path: Path, quick_json: str, name: str) -> None:
    _, old, new, where, code = next(b for b in BROKEN_JSON if b[0] == name)
    text = quick_json.replace(old, new, 1)
    path = tmp_path / f"{name}.json"
    path.write_text(text, encoding="utf-8")
    done = run_cli("check", str(path))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert f"{path}:{_line_col(text, *where)}: error[{code}]" in done.stderr, done.stderr
    assert "= help:" in done.stderr


def test_cli_rejects_broken_yaml(tmp_path: Path) -> None:
    _, text, where, code = next(b for b in BROKEN_YAML if b[0] == "unknown-zone-in-flow")
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    done = run_cli("show", "zones", str(path))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"{path}:{where}: error[{code}]" in done.stderr, done.stderr


def test_unreadable_files_are_diagnostics(tmp_path: Path) -> None:
    policy, diags, _ = load_data(str(tmp_path / "missing.json"))
    assert policy is None and [d.code for d in diags] == ["ZP301"]
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("zonepolicy: 1\nname: caf\xe9\n".encode("latin-1"))
    policy, diags, _ = load_data(str(bad))
    assert policy is None and [d.code for d in diags] == ["ZP301"]


# ---------------------------------------------------------------- checks the loader re-runs

def _load_changed(policy: Policy, change: Callable[[dict], None], fmt: str = "json") -> list[str]:
    data = copy.deepcopy(to_data(policy))
    change(data)
    text = json.dumps(data, ensure_ascii=False, indent=1) if fmt == "json" else yaml.safe_dump(data)
    loaded, diags = loads_data(text, f"x.{fmt}", fmt)
    assert (loaded is None) == any(d.severity is Severity.ERROR for d in diags)
    return [d.code for d in diags]


def _zone(data: dict, name: str) -> dict:
    return next(z for z in data["zones"] if z["name"] == name)


@pytest.mark.parametrize("change, code", [
    (lambda d: _zone(d, "core.db")["networks"].__setitem__(0, "11.0.0.0/16"), "ZP204"),
    (lambda d: _zone(d, "dmz").__setitem__("networks", "any"), "ZP220"),
    (lambda d: _zone(d, "cloud").__setitem__("networks", ["10.200.0.0/16"]), "ZP203"),
    (lambda d: _zone(d, "core").__setitem__("level", 2), "ZP312"),
    (lambda d: _zone(d, "core")["grading"]["system_service"].__setitem__("level", 3), "ZP312"),
    (lambda d: _zone(d, "core")["grading"]["system_service"].__setitem__("degree", "huge"), "ZP307"),
    (lambda d: _zone(d, "core.db.hot").__setitem__("parent", "core"), "ZP312"),
    (lambda d: _zone(d, "core.db.hot").__setitem__("hosted_on", "clod"), "ZP310"),
    (lambda d: _zone(d, "cloud").__setitem__("level", 6), "ZP307"),
    (lambda d: _zone(d, "cloud").__setitem__("level", True), "ZP306"),
    (lambda d: _zone(d, "cloud").__setitem__("kind", "clouds"), "ZP307"),
    (lambda d: _zone(d, "cloud").__setitem__("name", "bad name"), "ZP307"),
    (lambda d: d["zones"].append(dict(_zone(d, "cloud"))), "ZP311"),
    (lambda d: d["addresses"][0].__setitem__("name", "dmz"), "ZP311"),
    (lambda d: d["flows"][1].__setitem__("id", d["flows"][0]["id"]), "ZP311"),
    (lambda d: d["flows"][0].__setitem__("services", []), "ZP307"),
    (lambda d: d["flows"][0].__setitem__("services", ["tcp/80,udp/53"]), "ZP309"),
    (lambda d: d["flows"][0].pop("services"), "ZP305"),
    (lambda d: d["flows"][0]["options"].__setitem__("via", "nowhere"), "ZP310"),
    (lambda d: d["flows"][0]["options"].__setitem__("expires", "2027-02-30"), "ZP313"),
    (lambda d: d["flows"][0]["sources"][0].__setitem__("networks", ["10.0.0.0/8"]), "ZP305"),
    (lambda d: d["firewalls"][0].__setitem__("target", "pf"), "ZP307"),
    (lambda d: d["firewalls"][1]["interfaces"][0]["zones"].append("world"), "ZP311"),
    (lambda d: d["waivers"][0].__setitem__("expires", None), "ZP307"),
    (lambda d: d["waivers"][0].pop("owner"), "ZP305"),
    (lambda d: d.__setitem__("zonepolicy", 1.0), "ZP303"),
])
@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_loader_rejects(rich: Policy, change: Callable[[dict], None], code: str, fmt: str) -> None:
    assert code in _load_changed(rich, change, fmt)


def test_loader_accepts_plain_yaml_dates_and_defaults(rich: Policy) -> None:
    text = dump_yaml(rich).replace("expires: '2027-06-30'", "expires: 2027-06-30")
    loaded, diags = loads_data(text, "x.yaml", "yaml")
    assert not diags and loaded == rich
    minimal = ("zonepolicy: 1\npolicy: {name: m, default: deny, intrazone: allow}\n"
               "zones: [{name: a, networks: [10.0.0.0/8]}, {name: a.b, networks: [10.1.0.0/16]}]\n")
    loaded, diags = loads_data(minimal, "m.yaml", "yaml")
    assert not diags and loaded is not None
    assert loaded.zone("a.b").parent == "a" and loaded.services == ()


def test_yaml_strings_that_look_like_other_things_hint_at_quotes() -> None:
    text = "zonepolicy: 1\npolicy: {name: yes, default: deny, intrazone: allow}\n"
    loaded, diags = loads_data(text, "x.yaml", "yaml")
    assert loaded is None
    assert diags[0].code == "ZP306" and "quotes" in (diags[0].hint or "")


def test_loaded_records_point_into_the_data_file(rich: Policy) -> None:
    text = dump_yaml(rich)
    loaded, _ = loads_data(text, "x.yaml", "yaml")
    assert loaded is not None
    span = loaded.zone("cloud").span
    assert span is not None and span.file == "x.yaml"
    assert text.splitlines()[span.line - 1].strip() == "- name: cloud"


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.sampled_from(["any", "tcp/80", "10.0.0.0/8"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["zonepolicy", "policy", "zones", "name", "networks", "flows", "id", "x"]), inner, max_size=5),
    max_leaves=30)


@given(value=_json_values, fmt=st.sampled_from(["json", "yaml"]))
@settings(max_examples=60)
def test_loader_never_raises_on_arbitrary_data(value: Any, fmt: str) -> None:
    text = json.dumps(value) if fmt == "json" else yaml.safe_dump(value)
    policy, diags = loads_data(text, f"fuzz.{fmt}", fmt)
    assert policy is None or not diags
    assert all(d.code != "ZP315" for d in diags), diags


@given(data=st.data())
@settings(max_examples=60)
def test_loader_never_raises_on_damaged_exports(rich: Policy, data: st.DataObject) -> None:
    doc = to_data(rich)
    # Replace one value somewhere in a real export with something arbitrary.
    node: Any = doc
    while isinstance(node, (dict, list)) and node and data.draw(st.integers(0, 4)):
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        key = data.draw(st.sampled_from(keys))
        if not isinstance(node[key], (dict, list)) or not node[key]:
            node[key] = data.draw(_json_values)
            break
        node = node[key]
    fmt = data.draw(st.sampled_from(["json", "yaml"]))
    text = json.dumps(doc) if fmt == "json" else yaml.safe_dump(doc)
    policy, diags = loads_data(text, f"fuzz.{fmt}", fmt)
    assert all(d.code != "ZP315" for d in diags), diags
    assert (policy is None) == bool(diags)
