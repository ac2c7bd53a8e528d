"""The namespace lab: real kernels running the compiled rules, judged against the policy's meaning.

Tests that build labs need root (network namespaces); CI runs as root. The topology tests are
pure and run everywhere.
"""

from __future__ import annotations

import collections
import ipaddress
import os
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, strategies as st

from zonepolicy.api import load_policy
from zonepolicy.model.values import Action
from zonepolicy.probe.engine import SealError, ZoneSockets, check_seal, run_suite
from zonepolicy.probe.wire import _csum, _words, build, build_fast
from zonepolicy.probe.lab import (LabError, LabManager, compile_rules, lab_view, existing_namespaces, list_states,
                                  plan_topology, remove_stale, route_lookup, tool)
from zonepolicy.probe.suite import dump_suite
from zonepolicy.semantics.meaning import Meaning
from zonepolicy.semantics.packet import Packet

from conftest import EXAMPLES, load_policy_text, run_cli

sys.path.insert(0, str(Path(__file__).parent))
from lab_suites import build_suite  # noqa: E402

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces")
QUICKSTART = str(EXAMPLES / "quickstart" / "policy.zp")
JIANGSU = str(EXAMPLES / "jiangsu" / "main.zp")


@pytest.fixture(scope="module")
def quickstart():
    return load_policy(QUICKSTART)


@pytest.fixture(scope="module")
def jiangsu():
    return load_policy(JIANGSU)


@pytest.fixture(scope="module")
def qs_suite(quickstart):
    from zonepolicy.probe.plan import plan_suite

    return plan_suite(quickstart, "edge")


def failures(results):
    return [r for r in results if r.result != "pass"]


def lab_namespaces() -> set[str]:
    return {n for n in existing_namespaces() if n.startswith("zp")}


# ---------------------------------------------------------------- topology (no root needed)

def test_topology_bridges_an_interface_with_several_zones(quickstart):
    topo = plan_topology(quickstart, quickstart.firewalls[0], "zp000000-")
    kinds = {name: kind for name, kind, _ in topo.interfaces}
    assert kinds == {"eth0": "veth", "eth1": "veth", "eth2": "bridge", "eth3": "veth", "eth4": "veth"}
    behind = collections.defaultdict(set)
    for z in topo.zones:
        behind[z.iface].add(z.zone)
    assert behind["eth2"] == {"public", "public.portal"}
    # every zone namespace is its own, and the firewall's devices are named as in the policy
    assert len({z.ns for z in topo.zones}) == len(topo.zones) == 6
    assert {"eth0", "eth1", "eth2", "eth3", "eth4"} <= topo.fw_devices()


@given(st.one_of(st.integers(0, 2 ** 32 - 1).map(ipaddress.IPv4Address),
                 st.sampled_from(["10.10.8.0/24", "10.10.0.0/16", "10.20.0.0/16", "203.0.113.0/24",
                                  "10.99.0.0/24", "2001:db8:10::/48"]).flatmap(
                     lambda n: st.integers(0, ipaddress.ip_network(n).num_addresses - 1).map(
                         lambda i, n=n: ipaddress.ip_network(n).network_address + i))))
def test_lab_routes_send_every_address_to_the_namespace_of_its_zone(quickstart, addr):
    """The firewall's routes are the meaning's zone_of: longest prefix, the any zone as default."""
    meaning = Meaning(quickstart)
    topo = plan_topology(quickstart, quickstart.firewalls[0], "zp000000-")
    zone = meaning.zone_of(addr.version, int(addr))
    assert route_lookup(topo.routes, str(addr)) == zone


@given(st.sampled_from([4, 6]).flatmap(lambda fam: st.builds(
    lambda src, dst, proto, port, t, c: Packet(fam, src, dst, proto, 0, port if proto in (6, 17) else 0,
                                               t if proto in (1, 58) else 0, c if proto in (1, 58) else 0),
    st.integers(0, 2 ** (32 if fam == 4 else 128) - 1), st.integers(0, 2 ** (32 if fam == 4 else 128) - 1),
    st.sampled_from([6, 17, 1, 58]), st.integers(0, 65535), st.integers(0, 255), st.integers(0, 255))),
    st.integers(0, 65535))
def test_fast_packet_building_gives_the_same_bytes_with_valid_checksums(pk, u):
    wire, l4, src, dst = build(pk, u)
    assert build_fast(pk, u, src, dst, _words(src), _words(dst)) == (wire, l4)
    # the receiver's check: the one's-complement sum over the covered bytes is 0xffff
    if pk.proto in (6, 17) or pk.proto == 58:
        pseudo = src + dst + (struct.pack("!xBH", pk.proto, len(l4)) if pk.family == 4
                              else struct.pack("!I3xB", len(l4), pk.proto))
        assert _csum(pseudo + l4) == 0
    else:
        assert _csum(l4) == 0
    if pk.family == 4:
        assert _csum(wire[:20]) == 0


def test_interface_names_longer_than_linux_allows_are_refused():
    policy = load_policy_text("""
policy p { default deny; intrazone allow }
zone a { networks 10.1.0.0/16 }
zone b { networks 10.2.0.0/16 }
firewall fw { target nftables; interface a-very-long-interface -> a; interface eth1 -> b }
""")
    with pytest.raises(LabError, match=r"'a-very-long-interface'.*21 characters.*at most 15"):
        plan_topology(policy, policy.firewalls[0], "zp000000-")


@pytest.mark.parametrize("name", ['"a b"', '"x\\"y"', '"e;1"', '"lo"', '"a/b"', '"a{b"'])
def test_interface_names_that_could_break_the_lab_commands_are_refused(name):
    policy = load_policy_text(f"""
policy p {{ default deny; intrazone allow }}
zone a {{ networks 10.1.0.0/16 }}
zone b {{ networks 10.2.0.0/16 }}
firewall fw {{ target nftables; interface {name} -> a; interface eth1 -> b }}
""")
    with pytest.raises(LabError, match="cannot be a lab device name"):
        plan_topology(policy, policy.firewalls[0], "zp000000-")


def test_vendor_interface_names_get_lab_device_names_and_the_rules_follow():
    policy = load_policy_text("""
policy p { default deny; intrazone allow }
zone a { networks 10.1.0.0/16 }
zone b { networks 10.2.0.0/16 }
allow a -> b : https
firewall fw { target cisco-ios; interface "GigabitEthernet0/0/1" -> a; interface eth1 -> b }
""")
    view, renamed = lab_view(policy, "fw")
    assert renamed == {"GigabitEthernet0/0/1": "zpif0"}
    assert [i.name for i in view.firewalls[0].interfaces] == ["zpif0", "eth1"]
    plan_topology(view, view.firewalls[0], "zp000000-")          # every device name is now acceptable
    text = "".join(t for _, t in compile_rules(view, "fw", "nftables"))
    assert "zpif0" in text and "GigabitEthernet" not in text
    # the meaning is untouched: same zones behind the same interfaces, same verdicts
    assert [i.zones for i in view.firewalls[0].interfaces] == [i.zones for i in policy.firewalls[0].interfaces]


def test_a_lab_name_that_clashes_with_an_existing_interface_is_refused():
    policy = load_policy_text("""
policy p { default deny; intrazone allow }
zone a { networks 10.1.0.0/16 }
zone b { networks 10.2.0.0/16 }
firewall fw { target nftables; interface "GigabitEthernet0/0/1" -> a; interface zpif0 -> b }
""")
    with pytest.raises(LabError, match="already has an interface named 'zpif0'"):
        lab_view(policy, "fw")


def test_iptables_lab_of_an_nftables_firewall_uses_the_iptables_compiler(quickstart):
    files = dict(compile_rules(quickstart, "edge", "iptables"))
    assert sorted(files) == ["edge.ip6tables", "edge.iptables"]
    assert "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT" in files["edge.iptables"]


# ---------------------------------------------------------------- real labs

@needs_root
@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_quickstart_passes_every_probe(quickstart, qs_suite, backend):
    mine = build_suite(quickstart, "edge")
    with LabManager(quickstart, "edge", backend) as lab:
        lab.up()
        for suite in (qs_suite, mine):
            results = run_suite(lab.state, suite)
            assert failures(results) == []
            assert len(results) == len(suite.probes)
            observed = collections.Counter(r.observed for r in results)
            assert observed["allow"] == sum(p.expected is Action.ALLOW for p in suite.probes) > 0
            assert observed["deny"] > 0
            # the return path was seen, not assumed
            reasons = collections.Counter(r.reason for r in results if r.observed == "allow")
            assert reasons["reset"] > 0 and reasons["echo-reply"] > 0
            assert reasons["no-reply"] == 0


MIXED = """
policy mixed { default deny; intrazone allow }
zone a { networks 10.1.0.0/16, 2001:db8:a::/48 }
zone b { networks 10.2.0.0/16, 2001:db8:b::/48 }
zone c { networks 10.3.0.0/16, 2001:db8:c::/48 }
allow a -> b : tcp/443, udp/53, icmpv6/echo-request, icmp/echo-request, sctp/3868
allow b -> c : udp/123 { stateless }
allow c -> a : ip/gre
firewall fw { target nftables; interface e1 -> a; interface e2 -> b; interface e3 -> c }
"""


@needs_root
@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_ipv6_sctp_gre_and_stateless_flows(backend):
    """Every kind of return path, in both families: RST, port unreachable, echo reply, SCTP ABORT;
    a stateless allow arrives and needs no reply."""
    policy = load_policy_text(MIXED)
    services = ((6, 443, 0), (17, 53, 0), (17, 123, 0), (1, 0, 8), (58, 0, 128), (132, 3868, 0), (47, 0, 0))
    suite = build_suite(policy, "fw", services)
    with LabManager(policy, "fw", backend) as lab:
        lab.up()
        results = run_suite(lab.state, suite)
    assert failures(results) == []
    seen = {(r.five_tuple.split()[0], ":" in r.five_tuple.split()[1].rsplit(":", 1)[0], r.reason)
            for r in results if r.observed == "allow"}
    for v6 in (False, True):
        assert {("tcp", v6, "reset"), ("udp", v6, "icmp-unreachable"),
                ("udp", v6, "arrived")} <= seen      # udp/123 is stateless: no reply expected
        # an ABORT from a kernel with SCTP, protocol unreachable (parameter problem) from one without
        assert {("sctp", v6, "reset"), ("sctp", v6, "icmp-unreachable")} & seen
    assert ("icmp", False, "echo-reply") in seen and ("icmpv6", True, "echo-reply") in seen
    assert not any(reason == "no-reply" for _, _, reason in seen)


def _jiangsu_firewalls():
    names = sorted(f.name for f in load_policy(JIANGSU).firewalls)
    # every firewall of the example, vendor targets included (compiled for the lab's kernel back end),
    # the two back ends taking turns
    return [(fw, ("nftables", "iptables")[k % 2]) for k, fw in enumerate(names)]


@needs_root
@pytest.mark.parametrize("firewall,backend", _jiangsu_firewalls())
def test_jiangsu_firewalls_pass_every_probe(jiangsu, firewall, backend):
    from zonepolicy.probe.plan import plan_suite

    policy = jiangsu
    suite = plan_suite(policy, firewall)
    with LabManager(policy, firewall, backend) as lab:
        lab.up()
        results = run_suite(lab.state, suite)
    assert failures(results) == []
    assert sum(r.observed == "allow" for r in results) > 0


def _mutate(text: str, old: str, new: str, count: int = -1) -> str:
    assert old in text, f"the compiled rules no longer contain {old!r}; update the mutation"
    return text.replace(old, new, count)


def _swap(text: str, a: str, b: str) -> str:
    """The ruleset of a firewall whose cables to ``a`` and ``b`` were swapped."""
    assert a in text and b in text
    return text.replace(a, "\0").replace(b, a).replace("\0", b)


@needs_root
def test_probes_this_lab_cannot_send_are_inconclusive_with_the_reason(quickstart, qs_suite):
    from dataclasses import replace

    from zonepolicy.probe.suite import Probe

    extra = (Probe(id="same-iface", packet=Packet.of("10.10.1.5", "10.10.8.5", 6, dport=443), src_zone="public",
                   dst_zone="public.portal", expected=Action.DENY),
             Probe(id="loopback", packet=Packet.of("127.0.0.1", "203.0.113.10", 6, dport=443),
                   src_zone="internet", dst_zone="internet-access", expected=Action.ALLOW))
    suite = replace(qs_suite, probes=qs_suite.probes[:5] + extra)
    with LabManager(quickstart, "edge", "nftables") as lab:
        lab.up()
        why: dict[str, str] = {}
        results = {r.probe: r for r in run_suite(lab.state, suite, not_sent=why)}
    assert all(results[p.id].result == "pass" for p in qs_suite.probes[:5])
    for pid in ("same-iface", "loopback"):
        assert (results[pid].result, results[pid].reason, results[pid].observed) == ("inconclusive", "not-sent", None)
    assert "behind the same interface" in why["same-iface"]
    assert "127.0.0.1 cannot be forwarded" in why["loopback"]


@needs_root
def test_broken_nftables_rulesets_are_caught(quickstart, qs_suite):
    (fn, good), = compile_rules(quickstart, "edge", "nftables")
    allow_flow = "f2311dd305e"     # allow public -> internet-access : http, https
    missing_allow = _mutate(good, f'accept comment "{allow_flow}', f'drop comment "{allow_flow}')
    extra_allow = _mutate(good, 'counter drop comment "no flow allows eth0 -> eth2"',
                          'counter accept comment "no flow allows eth0 -> eth2"')
    no_conntrack = _mutate(good, "ct state established,related counter accept", "")
    swapped = _swap(good, "eth1", "eth2")
    with LabManager(quickstart, "edge", "nftables") as lab:
        lab.up()
        lab.load([(fn, missing_allow)])
        bad = failures(run_suite(lab.state, qs_suite))
        assert bad and all(r.expected == "allow" and r.observed == "deny" and r.expected_flow == allow_flow
                           for r in bad)

        lab.load([(fn, extra_allow)])
        bad = failures(run_suite(lab.state, qs_suite))
        assert bad and all(r.expected == "deny" and r.observed == "allow" and
                           (r.src_zone, r.dst_zone) in {("internet", "public"), ("internet", "public.portal")}
                           for r in bad)

        lab.load([(fn, no_conntrack)])
        bad = failures(run_suite(lab.state, qs_suite))
        assert bad and all(r.observed == "allow" and r.reason == "no-reply" for r in bad)

        lab.load([(fn, swapped)])
        bad = failures(run_suite(lab.state, qs_suite))
        assert bad and all(r.observed == "deny" and r.expected == "allow" for r in bad)
        assert {("internet-access", "public.portal"), ("public", "internet-access")} <= \
            {(r.src_zone, r.dst_zone) for r in bad}

        lab.load([(fn, good)])          # and the real rules pass again in the same lab
        assert failures(run_suite(lab.state, qs_suite)) == []


@needs_root
def test_broken_iptables_rulesets_are_caught(quickstart, qs_suite):
    files = compile_rules(quickstart, "edge", "iptables")
    v4 = dict(files)["edge.iptables"]
    no_conntrack = _mutate(v4, "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n", "")
    swapped = _swap(v4, "eth1", "eth2")
    with LabManager(quickstart, "edge", "iptables") as lab:
        lab.up(files)
        lab.load([("edge.iptables", no_conntrack)])
        bad = failures(run_suite(lab.state, qs_suite))
        assert bad and all(r.reason == "no-reply" for r in bad)
        lab.load([("edge.iptables", swapped)])
        bad = failures(run_suite(lab.state, qs_suite))
        assert bad and all(r.observed == "deny" and r.expected == "allow" for r in bad)


@needs_root
@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_explain_names_the_rule_and_flow_that_decided(quickstart, qs_suite, backend):
    with LabManager(quickstart, "edge", backend) as lab:
        lab.up()
        results = run_suite(lab.state, qs_suite, explain=True)
        tables = subprocess.run([tool("ip"), "netns", "exec", lab.topology.fw_ns, tool("nft"), "list", "tables"],
                                capture_output=True, text=True, check=True).stdout
    assert "zp_trace" not in tables          # the tracing table goes with the run
    assert failures(results) == []
    assert all(r.matched_rule for r in results)
    for r in results:
        if r.expected == "allow" or r.expected_flow is not None:   # decided by a flow of the policy
            assert r.matched_flow == r.expected_flow, r
        else:                                                       # the default: no flow's rule
            assert r.matched_flow is None, r


@needs_root
def test_simulator_and_kernel_agree_on_every_probe(quickstart, qs_suite):
    from zonepolicy.probe.simulate import iptables_ruleset, nft_ruleset, simulate

    for backend in ("nftables", "iptables"):
        files = compile_rules(quickstart, "edge", backend)
        ruleset = nft_ruleset(files[0][1], "edge", files[0][0]) if backend == "nftables" else iptables_ruleset(files)
        simulated = {r.probe: r.observed for r in simulate(qs_suite, ruleset)}
        with LabManager(quickstart, "edge", backend) as lab:
            lab.up(files)
            kernel = {r.probe: r.observed for r in run_suite(lab.state, qs_suite)}
        assert kernel == simulated


# ---------------------------------------------------------------- clean-up and the seal

@needs_root
def test_teardown_leaves_no_namespace_even_when_the_run_raises(quickstart):
    before = lab_namespaces()
    with pytest.raises(RuntimeError, match="boom"):
        with LabManager(quickstart, "edge", "nftables") as lab:
            lab.up()
            mine = set(lab.topology.namespaces())
            assert mine <= existing_namespaces()
            raise RuntimeError("boom")
    assert not (mine & existing_namespaces())
    assert lab_namespaces() <= before
    assert lab.name not in {s["name"] for s in list_states()}


@needs_root
def test_a_failed_load_tears_the_lab_down(quickstart):
    lab = LabManager(quickstart, "edge", "nftables")
    with pytest.raises(LabError, match="loading edge.nft failed"):
        lab.up([("edge.nft", "table inet broken { chain c { this is not nft } }\n")])
    assert not (set(lab.topology.namespaces()) & existing_namespaces())


@needs_root
def test_sigterm_unwinds_and_tears_the_lab_down(tmp_path):
    script = tmp_path / "term.py"
    script.write_text(
        "import os, signal, time\nfrom zonepolicy.api import load_policy\n"
        "from zonepolicy.probe.lab import LabManager\nfrom zonepolicy.probe.lab_cmd import _interruptible\n"
        "with _interruptible():\n"
        f"    with LabManager(load_policy({QUICKSTART!r}), 'edge', 'nftables', name='term') as lab:\n"
        "        lab.up()\n        print(' '.join(lab.topology.namespaces()), flush=True)\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n        time.sleep(30)\n", encoding="utf-8")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "KeyboardInterrupt" in r.stderr
    made = set(r.stdout.split())
    assert made and not (made & existing_namespaces())
    assert "term" not in {s["name"] for s in list_states()}


@needs_root
def test_stale_labs_are_removed():
    orphan = "zp0dead0-z0"
    subprocess.run([tool("ip"), "netns", "add", orphan], check=True)
    try:
        assert orphan in remove_stale()
        assert orphan not in existing_namespaces()
    finally:
        subprocess.run([tool("ip"), "netns", "del", orphan], capture_output=True)


@needs_root
def test_a_lab_whose_owner_died_is_removed_by_the_next_one(quickstart, tmp_path):
    script = tmp_path / "crash.py"
    script.write_text(
        "import os\nfrom zonepolicy.api import load_policy\nfrom zonepolicy.probe.lab import LabManager\n"
        f"lab = LabManager(load_policy({QUICKSTART!r}), 'edge', 'nftables', name='crashed')\n"
        "lab.up()\nprint(' '.join(lab.topology.namespaces()), flush=True)\nos._exit(9)\n", encoding="utf-8")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 9, r.stderr
    left = set(r.stdout.split())
    assert left and left <= existing_namespaces()        # a crash skips every finally
    removed = remove_stale()
    assert "crashed" in removed
    assert not (left & existing_namespaces())


@needs_root
def test_a_persistent_lab_whose_namespaces_were_deleted_by_hand_is_forgotten(quickstart):
    lab = LabManager(quickstart, "edge", "nftables", name="byhand", persistent=True)
    with lab:
        lab.up()
    assert "byhand" in {s["name"] for s in list_states()}
    subprocess.run([tool("ip"), "-force", "-b", "-"], input="".join(f"netns del {n}\n" for n in lab.topology.namespaces()),
                   text=True, check=True)
    assert "byhand" in remove_stale()
    assert "byhand" not in {s["name"] for s in list_states()}


@needs_root
def test_the_seal_refuses_a_socket_in_the_host_namespace(quickstart):
    with LabManager(quickstart, "edge", "nftables") as lab:
        lab.up()
        topo = lab.topology
        z = topo.zones[0]
        host = [socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW),
                socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW),
                socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, 0)]
        try:
            with pytest.raises(SealError, match="host's network namespace"):
                check_seal(topo, [ZoneSockets(z.zone, z.ns, 0, *host)])
        finally:
            for s in host:
                s.close()


@needs_root
def test_the_seal_refuses_a_namespace_with_a_foreign_device(quickstart, qs_suite):
    with LabManager(quickstart, "edge", "nftables") as lab:
        lab.up()
        z = lab.topology.zones[0]
        subprocess.run([tool("ip"), "-n", z.ns, "link", "add", "stray0", "type", "veth", "peer", "name", "stray1"],
                       check=True)
        with pytest.raises(SealError, match=r"stray0"):
            run_suite(lab.state, qs_suite)


@needs_root
def test_a_second_run_on_a_busy_lab_is_refused(quickstart, qs_suite):
    import fcntl

    from zonepolicy.probe.lab import run_dir

    with LabManager(quickstart, "edge", "nftables") as lab:
        lab.up()
        with open(os.path.join(run_dir(), f"lab-{lab.name}.lock"), "w") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            with pytest.raises(LabError, match="busy with another run"):
                run_suite(lab.state, qs_suite)


# ---------------------------------------------------------------- the command line

@needs_root
def test_cli_up_run_down(tmp_path, qs_suite):
    suite_file = tmp_path / "suite.yaml"
    suite_file.write_text(dump_suite(qs_suite), encoding="utf-8")
    name = f"clitest{os.getpid()}"
    up = run_cli("lab", "up", QUICKSTART, "--firewall", "edge", "--backend", "nftables", "--name", name)
    try:
        assert up.returncode == 0, up.stderr
        assert f"lab {name} up" in up.stdout
        status = run_cli("lab", "status")
        assert name in status.stdout and "persistent" in status.stdout
        out = tmp_path / "results.jsonl"
        ok = run_cli("lab", "run", str(suite_file), "--lab", name, "-o", str(out))
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert f"{len(qs_suite.probes)} probes, {len(qs_suite.probes)} passed, 0 failed" in ok.stdout
        assert len(out.read_text().splitlines()) == len(qs_suite.probes)
        # a suite that expects the opposite for one probe: reported, exit 1
        data = yaml.safe_load(suite_file.read_text())
        data["probes"][0]["expected"] = "deny" if data["probes"][0]["expected"] == "allow" else "allow"
        suite_file.write_text(yaml.safe_dump(data), encoding="utf-8")
        bad = run_cli("lab", "run", str(suite_file), "--lab", name, "-o", str(out))
        assert bad.returncode == 1, bad.stdout + bad.stderr
        assert f"FAIL {data['probes'][0]['id']} " in bad.stdout and "1 failed" in bad.stdout
    finally:
        down = run_cli("lab", "down", "--lab", name)
    assert down.returncode == 0, down.stderr
    assert name not in run_cli("lab", "status").stdout


def test_lab_run_names_the_labs_when_the_one_asked_for_is_not_up(tmp_path):
    suite_file = tmp_path / "suite.yaml"
    suite_file.write_text("version: 1\npolicy: p\nprobes: []\n", encoding="utf-8")
    r = run_cli("lab", "run", str(suite_file), "--lab", "no-such-lab")
    assert r.returncode == 2
    assert "error: no lab named 'no-such-lab' is up" in r.stderr and "Traceback" not in r.stderr
