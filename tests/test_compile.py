"""``zonepolicy compile`` and :mod:`zonepolicy.compile`: selection, diagnostics, writing, --check.

The back-end specifics are in tests/test_nftables.py (and one test module per back end); here the
nftables back end stands in for any back end.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings

from conftest import REPO, load_policy_text, run_cli
from strategies import Sizes, policies
from zonepolicy import api, cli
from zonepolicy.compile import Compiled, check_outputs, compile_policy, select_firewalls, write_outputs
from zonepolicy.compilers import TARGETS, load_backends
from zonepolicy.compilers.base import REGISTRY, Output, get_compiler, lower
from zonepolicy.compilers.nftables import NftablesCompiler
from zonepolicy.errors import UsageError
from zonepolicy.model.values import Action
from zonepolicy.semantics.meaning import Meaning

QUICKSTART = "examples/quickstart/policy.zp"
JIANGSU = "examples/jiangsu/main.zp"

TWO_FIREWALLS = """\
policy p { default deny; intrazone allow }
zone a { networks 10.1.0.0/16 }
zone b { networks 10.2.0.0/16 }
allow a -> b : https { log }
firewall good { target nftables; interface eth0 -> a; interface eth1 -> b }
firewall bad {
    target nftables
    interface "eth 0" -> a
    interface eth1 -> b
}
"""


def _write(tmp_path: Path, text: str, name: str = "p.zp") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _no_backend_target() -> str | None:
    load_backends()  # get_compiler imports only the target's own module
    missing = [t for t in TARGETS if t not in REGISTRY]
    return missing[0] if missing else None


# ---------------------------------------------------------------- the command
def test_compile_and_check_quickstart(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = run_cli("compile", QUICKSTART, "--target", "nftables", "-o", str(out), "--check")
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(out)) == ["edge.nft"]  # no temporary files left behind
    assert f"edge (nftables): wrote {out / 'edge.nft'}" in r.stdout
    assert "edge (nftables): proved" in r.stdout
    assert "warning[ZP402]" in r.stderr and "quickstart/policy.zp:30" in r.stderr  # inspect: a warning


def test_firewall_option_selects_and_target_is_optional(tmp_path: Path) -> None:
    r = run_cli("compile", JIANGSU, "--firewall", "suqian-edge", "-f", "cloud-fw", "-o", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(tmp_path)) == ["cloud-fw.nft", "suqian-edge.nft"]


def test_same_policy_gives_byte_identical_files(tmp_path: Path) -> None:
    for d in ("one", "two"):
        assert run_cli("compile", JIANGSU, "-t", "nftables", "-o", str(tmp_path / d)).returncode == 0
    names = sorted(os.listdir(tmp_path / "one"))
    assert names == ["cloud-fw.nft", "nantong-edge.nft", "suqian-edge.nft", "yancheng-edge.nft"]
    for n in names:
        assert (tmp_path / "one" / n).read_bytes() == (tmp_path / "two" / n).read_bytes()


@pytest.mark.parametrize("args, message", [
    (("-o", "OUT"), "say which firewalls to compile"),
    (("-t", "nftables", "-f", "nope", "-o", "OUT"), "has no firewall 'nope'"),
    (("-t", "iptables", "-f", "edge", "-o", "OUT"), "firewall 'edge' has target nftables, not iptables"),
    (("-t", "cisco-ios", "-o", "OUT"), "has no firewall with target cisco-ios"),
    (("-t", "junos", "-o", "OUT"), "unknown target 'junos'"),
])
def test_usage_errors_exit_2_and_write_nothing(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    out = tmp_path / "out"
    r = run_cli("compile", QUICKSTART, *[str(out) if a == "OUT" else a for a in args])
    assert r.returncode == 2, r.stderr
    assert message in r.stderr
    assert not out.exists()


def test_target_without_a_back_end_is_a_clear_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = _no_backend_target()
    if target is None:  # every target has one by now: take one away for this test
        target = "cisco-asa"
        monkeypatch.delitem(REGISTRY, target)
    r = CliRunner().invoke(cli.main, ["compile", str(REPO / JIANGSU), "-t", target, "-o", str(tmp_path / "out")])
    assert r.exit_code == 2
    assert f"target '{target}' has no back end yet" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "out").exists()


def test_an_error_in_one_firewall_writes_no_file_at_all(tmp_path: Path) -> None:
    policy = _write(tmp_path, TWO_FIREWALLS)
    out = tmp_path / "out"
    r = run_cli("compile", policy, "-t", "nftables", "-o", str(out))
    assert r.returncode == 2
    assert "p.zp:8:5: error[ZP403]" in r.stderr and "interface 'eth 0'" in r.stderr
    assert 'interface "eth 0" -> a' in r.stderr  # the caret excerpt of the line
    assert not out.exists()


def _broken_render(drop: str):
    original = NftablesCompiler.render

    def render(self, model):
        return [Output(o.filename, "\n".join(ln for ln in o.text.splitlines() if drop not in ln) + "\n")
                for o in original(self, model)]
    return render


def test_check_reports_pair_and_witness_and_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a back end that loses the element for internet-access -> public.portal https
    monkeypatch.setattr(NftablesCompiler, "render", _broken_render("jump flow_f5822e8eed5"))
    r = CliRunner().invoke(cli.main, ["compile", str(REPO / QUICKSTART), "-t", "nftables",
                                      "-o", str(tmp_path), "--check"])
    assert r.exit_code == 1, r.output
    assert "edge (nftables): the files do not mean the policy on\neth1 -> eth2:" in r.output
    assert "drops what the policy allows, e.g. tcp 203.0.113.0:0 -> 10.10.8.0:443" in r.output
    assert (tmp_path / "edge.nft").exists()  # written, so it can be inspected


def test_check_reports_unreadable_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(NftablesCompiler, "render", _broken_render("type filter hook forward"))
    r = CliRunner().invoke(cli.main, ["compile", str(REPO / QUICKSTART), "-t", "nftables",
                                      "-o", str(tmp_path), "--check"])
    assert r.exit_code == 1
    assert "cannot read the output back" in r.output and "forward base chain" in r.output


# ---------------------------------------------------------------- the API
def test_api_compile_policy_returns_files_and_diagnostics() -> None:
    policy = api.load_policy(str(REPO / QUICKSTART))
    [result] = compile_policy(policy, "nftables")
    assert isinstance(result, Compiled) and result.ok
    fw, outputs, diags = result  # unpacks as (firewall, outputs, diagnostics)
    assert fw.name == "edge" and [o.filename for o in outputs] == ["edge.nft"]
    assert {d.code for d in diags} == {"ZP402"}
    assert api.compile_policy(policy, "nftables")[0].outputs == outputs  # the API entry point


def test_api_errors_leave_outputs_empty(tmp_path: Path) -> None:
    policy = api.load_policy(_write(tmp_path, TWO_FIREWALLS))
    bad, good = compile_policy(policy, "nftables")  # firewalls come sorted by name
    assert good.ok and good.outputs
    assert not bad.ok and bad.outputs == () and [d.code for d in bad.diagnostics] == ["ZP403"]
    with pytest.raises(UsageError, match="has errors; nothing was written"):
        write_outputs(str(tmp_path / "out"), [good, bad])
    assert not (tmp_path / "out").exists()


def test_select_firewalls_keeps_order_and_drops_repeats() -> None:
    policy = api.load_policy(str(REPO / JIANGSU))
    chosen = select_firewalls(policy, None, ["yancheng-edge", "cloud-fw", "yancheng-edge"])
    assert [f.name for f in chosen] == ["yancheng-edge", "cloud-fw"]


@pytest.mark.parametrize("name", ["../x.nft", ".hidden", "a/b.nft", "", "a\\b"])
def test_write_refuses_unsafe_names(tmp_path: Path, name: str) -> None:
    policy = api.load_policy(str(REPO / QUICKSTART))
    [result] = compile_policy(policy, "nftables")
    bad = result._replace(outputs=(Output(name, "x"),))
    with pytest.raises(UsageError, match="unsafe file name"):
        write_outputs(str(tmp_path / "out"), [bad])
    assert not (tmp_path / "out").exists()


def test_write_refuses_two_firewalls_writing_one_file(tmp_path: Path) -> None:
    policy = api.load_policy(str(REPO / QUICKSTART))
    [result] = compile_policy(policy, "nftables")
    with pytest.raises(UsageError, match="would both write edge.nft"):
        write_outputs(str(tmp_path), [result, result])
    assert os.listdir(tmp_path) == []


def test_check_outputs_reads_what_is_on_disk(tmp_path: Path) -> None:
    policy = api.load_policy(str(REPO / QUICKSTART))
    results = compile_policy(policy, "nftables")
    [path] = write_outputs(str(tmp_path), results)
    assert all(c.ok for c in check_outputs(policy, results, str(tmp_path)))
    text = Path(path).read_text(encoding="utf-8")
    Path(path).write_text(text.replace("tcp . 443 : jump flow_f5822e8eed5", "tcp . 444 : jump flow_f5822e8eed5"),
                          encoding="utf-8")
    [checked] = check_outputs(policy, results, str(tmp_path))
    assert not checked.ok and [(m.in_if, m.out_if) for m in checked.mismatches] == [("eth1", "eth2")]
    assert all(c.ok for c in check_outputs(policy, results))  # the rendered texts are still right


# ---------------------------------------------------------------- lower(): factored = direct
@settings(deadline=None)
@given(policies(sizes=Sizes(top_zones=4, children=2, addresses=3, services=2, flows=8, firewalls=2)))
def test_lower_equals_the_direct_decomposition_of_each_flow_within_each_pair(text: str) -> None:
    """lower() builds a flow's rules in a pair from memoised factors (source prefixes behind the in
    interface × destination prefixes behind the out interface × service boxes). They must be exactly
    the boxes of (the flow's packets ∩ the pair's scope), in deny-then-allow policy order."""
    policy = load_policy_text(text)
    meaning = Meaning(policy)
    for fw in policy.firewalls:
        model = lower(policy, fw, meaning)
        got = {(p.in_if, p.out_if): p.rules for p in model.pairs}
        for i in fw.interfaces:
            for o in fw.interfaces:
                if i.name == o.name:
                    continue
                scope = meaning.zones_addresses(i.zones, "src") & meaning.zones_addresses(o.zones, "dst")
                if scope.is_empty():
                    assert (i.name, o.name) not in got
                    continue
                want = []
                for action in (Action.DENY, Action.ALLOW):
                    for flow in policy.flows:
                        if flow.action is action:
                            want += [(flow.id, b.family, b.src, b.dst, b.proto, b.dport, b.icmp_type, b.icmp_code)
                                     for b in (meaning.flow_set(flow) & scope).boxes()]
                rules = [r for r in got[i.name, o.name] if r.flow_id != "default"]
                assert [(r.flow_id, r.family, r.src, r.dst, r.proto, r.dport, r.icmp_type, r.icmp_code)
                        for r in rules] == want
