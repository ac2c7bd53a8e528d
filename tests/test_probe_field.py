"""Field probing: probe send / probe listen between network namespaces this test creates.

The lab is three namespaces, alpha — fw — beta, with documentation addresses that exist only
inside them, and a small nftables ruleset in fw that enforces the test policy. The listener runs in
beta and the sender in alpha, each as its own `zonepolicy` process under `ip netns exec`, as a
field tester would run them on two hosts.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from conftest import REPO, load_policy_text, run_cli
from zonepolicy.model.values import Action
from zonepolicy.probe import field
from zonepolicy.probe import field_packets as fp
from zonepolicy.probe.results import read_jsonl
from zonepolicy.probe.suite import Probe, Suite, dump_suite, policy_hash
from zonepolicy.semantics.meaning import Meaning
from zonepolicy.semantics.packet import ICMP, ICMPV6, TCP, UDP, Packet

POLICY = """\
policy fieldtest "现场测试" {
    default deny
    intrazone allow
}
zone alpha "甲区" { networks 192.0.2.0/26, 2001:db8::a:0:0:0/80 }
zone beta "乙区" { networks 192.0.2.64/26, 2001:db8::b:0:0:0/80 }
zone internet "互联网" { kind external; networks any }
allow alpha -> beta : https, ping, dns
"""

A4, A6 = "192.0.2.10", "2001:db8::a:0:0:10"
B4, B6 = "192.0.2.70", "2001:db8::b:0:0:70"

# the firewall between the zones enforces POLICY (what a correct device would load), plus the path to
# the listener's control channel that a site opens for field testing (often a management network)
RULES = """\
table inet t {
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "a0" oifname "b0" tcp dport { 53, 443 } accept
    iifname "a0" oifname "b0" udp dport 53 accept
    iifname "a0" oifname "b0" icmp type echo-request accept
    iifname "a0" oifname "b0" icmpv6 type echo-request accept
    iifname "a0" oifname "b0" ip daddr 192.0.2.70 tcp dport 47001 accept comment "listener control channel"
  }
}
"""
# the same verdicts, but refused loudly: a forged RST for tcp/22, an ICMP admin-prohibited for the rest
REJECT_RULES = RULES.replace("  }\n}", """    iifname "a0" oifname "b0" tcp dport 22 reject with tcp reset
    iifname "a0" oifname "b0" reject with icmpx type admin-prohibited
  }
}""")
OPEN_RULES = "table inet t {\n  chain forward {\n    type filter hook forward priority filter; policy accept;\n  }\n}\n"


def _probe(meaning: Meaning, pid: str, src: str, dst: str, proto: int, dport: int = 0, icmp_type: int = 0) -> Probe:
    pk = Packet.of(src, dst, proto, dport=dport, sport=40000 if dport else 0, icmp_type=icmp_type)
    d = meaning.decide(pk)
    return Probe(id=pid, packet=pk, src_zone=d.src_zone, dst_zone=d.dst_zone, expected=d.action, flows=d.flows,
                 reason=d.reason, stateful=d.allowed and d.stateful)


def make_suite(policy, extra: tuple[tuple, ...] = ()) -> Suite:
    m = Meaning(policy)
    specs = [
        ("p01", A4, B4, TCP, 443), ("p02", A4, B4, TCP, 22), ("p03", A4, B4, UDP, 53), ("p04", A4, B4, UDP, 123),
        ("p05", A4, B4, ICMP, 0, 8), ("p06", A6, B6, TCP, 443), ("p07", A6, B6, TCP, 22),
        ("p08", A6, B6, ICMPV6, 0, 128),
        ("p09", B4, A4, TCP, 443), *extra,
    ]
    return Suite(policy=policy.name, policy_hash=policy_hash(policy), probes=tuple(_probe(m, *s) for s in specs))


@pytest.fixture(scope="module")
def policy():
    return load_policy_text(POLICY)


@pytest.fixture
def files(tmp_path, policy):
    (tmp_path / "p.zp").write_text(POLICY, encoding="utf-8")
    (tmp_path / "suite.yaml").write_text(dump_suite(make_suite(policy)), encoding="utf-8")
    return tmp_path


# ------------------------------------------------------------------ laws and pure parts (no root)

@given(rate=st.floats(1, 10_000), burst=st.integers(1, 20),
       steps=st.lists(st.floats(0, 0.05), min_size=1, max_size=200))
def test_token_bucket_never_exceeds_burst_plus_rate_times_time(rate, burst, steps):
    now = [0.0]
    bucket = field.TokenBucket(rate, burst, clock=lambda: now[0])
    taken = 0
    for dt in steps:
        now[0] += dt
        while bucket.take():
            taken += 1
        assert taken <= burst + rate * now[0] + 1e-6
        assert bucket.wait_time() > 0  # just emptied: the next token is in the future


def test_token_bucket_wait_time_is_enough():
    now = [0.0]
    bucket = field.TokenBucket(50, 1, clock=lambda: now[0])
    assert bucket.take() and not bucket.take()
    now[0] += bucket.wait_time()
    assert bucket.take()


@given(st.sampled_from(["p1", "x-ü-7", "a b c", "p" * 150]), st.binary(max_size=40))
def test_tag_round_trips_and_needs_to_start_the_payload(pid, junk):
    tag = fp.make_tag("0a1b2c3d", pid)
    assert fp.read_tag(tag + junk) == ("0a1b2c3d", pid)
    if not (junk + tag).startswith(fp.MAGIC):
        assert fp.read_tag(junk + tag) is None or junk == b""


def test_probes_decode_to_what_was_built_for_every_protocol():
    tag = fp.make_tag("0a1b2c3d", "p1")
    cases = [Packet.of(A4, B4, TCP, 443, 20001), Packet.of(A4, B4, UDP, 53, 20002), Packet.of(A4, B4, 132, 9, 20003),
             Packet.of(A4, B4, ICMP, icmp_type=8), Packet.of(A4, B4, ICMP, icmp_type=13),
             Packet.of(A6, B6, ICMPV6, icmp_type=128), Packet.of(A6, B6, ICMPV6, icmp_type=2),
             Packet.of(A6, B6, TCP, 22, 20004), Packet.of(A4, B4, 47)]
    for pk in cases:
        d = fp.decode(fp.build(pk, tag, 777))
        assert d is not None and d.tag == ("0a1b2c3d", "p1"), pk
        assert (d.src, d.dst, d.proto, d.sport, d.dport, d.icmp_type) == \
            (str(pk.src_ip), str(pk.dst_ip), pk.proto, pk.sport, pk.dport, pk.icmp_type), pk


addr4 = st.integers(0, 2**32 - 1).map(lambda v: str(ipaddress.IPv4Address(v)))
addr6 = st.integers(0, 2**128 - 1).map(lambda v: str(ipaddress.IPv6Address(v)))


@st.composite
def packets(draw):
    v6 = draw(st.booleans())
    src, dst = draw(addr6 if v6 else addr4), draw(addr6 if v6 else addr4)
    proto = draw(st.sampled_from([TCP, UDP, ICMPV6 if v6 else ICMP]))
    if proto in (TCP, UDP):
        return Packet.of(src, dst, proto, dport=draw(st.integers(0, 65535)), sport=draw(st.integers(0, 65535)))
    return Packet.of(src, dst, proto, icmp_type=draw(st.sampled_from([8, 128, 0, 3, 13, 255])),
                     icmp_code=draw(st.integers(0, 255)))


@given(packets(), st.integers(0, 65535), st.text(min_size=1, max_size=40).filter(lambda t: "\n" not in t))
def test_packed_probes_are_the_bytes_scapy_builds(pk, ident, pid):
    tag = fp.make_tag("0a1b2c3d", pid)
    fast = fp.build(pk, tag, ident)
    assert fast == fp.build_with_scapy(pk, tag, ident)
    assert fp.decode(fast).tag == ("0a1b2c3d", pid)


@given(st.binary(max_size=120), st.sampled_from([b"", b"\x45\x00", b"\x60\x00"]))
def test_decode_takes_any_bytes_without_raising(data, head):
    d = fp.decode(head + data)
    assert d is None or d.family in (4, 6)


def test_an_icmp_error_quoting_a_probe_is_not_an_arrival_but_matches_the_probe():
    from scapy.layers.inet import ICMP as S_ICMP, IP

    pk = Packet.of(A4, B4, UDP, 123, 20002)
    probe_bytes = fp.build(pk, fp.make_tag("0a1b2c3d", "p04"), 9)
    error = bytes(IP(src=B4, dst=A4) / S_ICMP(type=3, code=3) / probe_bytes)
    d = fp.decode(error)
    assert d.tag is None  # the quote does not count as the probe arriving
    assert d.inner is not None and d.inner.tag == ("0a1b2c3d", "p04")
    sent = field.Sent(Probe(id="p04", packet=pk, src_zone="alpha", dst_zone="beta", expected=Action.DENY),
                      9, b"", ("k",))
    hit = field.classify_reply(d, {}, {"p04": sent}, "0a1b2c3d")
    assert hit is not None and hit[1].kind == "icmp-unreachable" and hit[1].from_host


def test_verdicts_by_arrival_and_reply():
    pk = Packet.of(A4, B4, TCP, 443, 20001)
    allow = Probe(id="p", packet=pk, src_zone="a", dst_zone="b", expected=Action.ALLOW, stateful=True)
    v = field.field_verdict
    assert v(allow, listened=True, arrival={"local": True}, reply=field.Reply("syn-ack", True)) == \
        (Action.ALLOW, "arrived", True)
    assert v(allow, listened=True, arrival={"local": True}, reply=None) == (Action.ALLOW, "no-reply", False)
    assert v(allow, listened=True, arrival={"local": False}, reply=None) == (Action.ALLOW, "arrived", None)
    assert v(allow, listened=True, arrival=None, reply=None) == (Action.DENY, "not-arrived", None)
    # not seen by the listener: a RST is a firewall's reject in the destination's name, a SYN-ACK is not
    assert v(allow, listened=True, arrival=None, reply=field.Reply("reset", True)) == (Action.DENY, "reset", None)
    assert v(allow, listened=True, arrival=None, reply=field.Reply("syn-ack", True)) == \
        (Action.ALLOW, "syn-ack", True)
    assert v(allow, listened=False, arrival=None, reply=None) == (None, "no-response", None)
    assert v(allow, listened=False, arrival=None, reply=field.Reply("reset", True)) == (Action.ALLOW, "reset", True)
    assert v(allow, listened=False, arrival=None, reply=field.Reply("icmp-unreachable", False)) == \
        (Action.DENY, "icmp-unreachable", None)


def test_interlock_refuses_outside_internet_foreign_sources_and_stale_suites(policy):
    m = Meaning(policy)
    suite = make_suite(policy, extra=(("x1", A4, "198.51.100.7", TCP, 443), ("x2", "192.0.2.12", B4, TCP, 443)))
    mine = {A4, A6}

    def local(family, addr):
        return addr in mine

    probes = [p for p in suite.probes if p.src_zone == "alpha"]
    refusals = field.interlock(m, suite, probes, allow_internet=False, spoof=False, local=local)
    assert any(r.startswith("x1:") and "catch-all zone 'internet'" in r and "--allow-internet" in r for r in refusals)
    assert any(r.startswith("x2:") and "not an address of this host" in r for r in refusals)
    assert not any(r.startswith("p0") for r in refusals)
    assert field.interlock(m, suite, probes, allow_internet=True, spoof=True, local=local) == []
    stale = Suite(policy=suite.policy, policy_hash="0" * 64, probes=suite.probes)
    (only,) = field.interlock(m, stale, probes, allow_internet=True, spoof=True, local=local)
    assert "another version of the policy" in only and "probe plan" in only
    # without a catch-all zone, an address outside every zone is refused whatever the flags say
    closed = load_policy_text(POLICY.replace('zone internet "互联网" { kind external; networks any }\n', ""))
    suite2 = Suite(policy=closed.name, policy_hash=policy_hash(closed),
                   probes=(Probe(id="x1", packet=Packet.of(A4, "198.51.100.7", TCP, 443, 1), src_zone="alpha",
                                 dst_zone="internet", expected=Action.DENY),))
    (r,) = field.interlock(Meaning(closed), suite2, suite2.probes, allow_internet=True, spoof=True, local=local)
    assert "outside every network the policy declares" in r


def test_prepare_gives_unique_source_ports_and_idents(policy):
    sent = field.prepare(make_suite(policy).probes, "00ffff00")
    ports = [s.probe.packet.sport for s in sent if s.probe.packet.proto in (TCP, UDP)]
    assert len(set(ports)) == len(ports) and all(field.SPORT_BASE <= p < field.SPORT_BASE + field.SPORT_SPAN
                                                 for p in ports)
    assert len({s.ident for s in sent}) == len(sent)
    assert len({s.key for s in sent}) == len(sent)


def test_send_refusals_exit_2_with_a_clear_message(files, policy):
    r = run_cli("probe", "send", str(files / "suite.yaml"), "--policy", str(files / "p.zp"), "--from", "nowhere",
                "--dry-run")
    assert r.returncode == 2 and "unknown zone 'nowhere'" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("probe", "send", str(files / "suite.yaml"), "--policy", str(files / "p.zp"), "--from", "alpah",
                "--dry-run")
    assert r.returncode == 2 and "unknown zone 'alpah'; did you mean 'alpha'?" in r.stderr
    r = run_cli("probe", "send", str(files / "suite.yaml"), "--policy", str(files / "p.zp"), "--from", "internet",
                "--dry-run")
    assert r.returncode == 2 and "no probes from zone 'internet'" in r.stderr
    (files / "bad.yaml").write_text("version: 1\nprobes: [\n", encoding="utf-8")
    r = run_cli("probe", "send", str(files / "bad.yaml"), "--policy", str(files / "p.zp"), "--from", "alpha")
    assert r.returncode == 2 and re.search(r"bad\.yaml:\d+:\d+: not valid YAML", r.stderr)
    changed = files / "changed.zp"
    changed.write_text(POLICY.replace("https, ping, dns", "https, ping"), encoding="utf-8")
    r = run_cli("probe", "send", str(files / "suite.yaml"), "--policy", str(changed), "--from", "alpha", "--dry-run",
                "--spoof")
    assert r.returncode == 2 and "another version of the policy" in r.stderr and r.stdout == ""


def test_dry_run_prints_the_probes_and_writes_not_sent_results(files):
    out = files / "dry.jsonl"
    r = run_cli("probe", "send", str(files / "suite.yaml"), "--policy", str(files / "p.zp"), "--from", "alpha",
                "--dry-run", "--spoof", "-o", str(out))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 8 and all("ZP1 " in ln for ln in lines) and "nothing was sent" in r.stderr
    results = list(read_jsonl(out.read_text(encoding="utf-8")))
    assert [x.probe for x in results] == [f"p0{i}" for i in range(1, 9)]
    assert {(x.reason, x.result) for x in results} == {("not-sent", "inconclusive")}


# ------------------------------------------------------------------ the namespace lab (root)

needs_root = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("nft"),
                                reason="needs root for network namespaces (and ip, nft)")


def _sh(*args: str, input: str | None = None) -> None:
    subprocess.run(args, check=True, input=input, text=True, capture_output=True)


class Lab:
    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.a, self.fw, self.b = f"zpf{tag}a", f"zpf{tag}f", f"zpf{tag}b"

    def up(self) -> None:
        a, fw, b = self.a, self.fw, self.b
        _sh("ip", "-b", "-", input=f"netns add {a}\nnetns add {fw}\nnetns add {b}\n")
        for ns in (a, fw, b):
            # without duplicate address detection the link-local addresses are usable at once: a
            # tentative one holds back neighbour discovery for about a second, longer than a reply wait
            _sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0",
                "net.ipv6.conf.default.accept_dad=0")
        _sh("ip", "-b", "-", input=f"link add a0 netns {fw} type veth peer name eth0 netns {a}\n"
            f"link add b0 netns {fw} type veth peer name eth0 netns {b}\n")
        for ns, addrs, gw4, gw6 in ((a, (A4 + "/26", A6 + "/80"), "192.0.2.1", "2001:db8::a:0:0:1"),
                                    (b, (B4 + "/26", B6 + "/80"), "192.0.2.65", "2001:db8::b:0:0:1")):
            _sh("ip", "-n", ns, "-b", "-", input="link set lo up\nlink set eth0 up\n"
                f"addr add {addrs[0]} dev eth0\naddr add {addrs[1]} dev eth0 nodad\n"
                f"route add default via {gw4}\nroute add default via {gw6}\n")
        _sh("ip", "-n", fw, "-b", "-", input="link set lo up\nlink set a0 up\nlink set b0 up\n"
            "addr add 192.0.2.1/26 dev a0\naddr add 2001:db8::a:0:0:1/80 dev a0 nodad\n"
            "addr add 192.0.2.65/26 dev b0\naddr add 2001:db8::b:0:0:1/80 dev b0 nodad\n")
        _sh("ip", "netns", "exec", fw, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
        _sh("ip", "netns", "exec", b, "sysctl", "-qw", "net.ipv4.icmp_ratelimit=0", "net.ipv6.icmp.ratelimit=0")
        self.load(RULES)

    def load(self, rules: str) -> None:
        _sh("ip", "netns", "exec", self.fw, "nft", "-f", "-", input="flush ruleset\n" + rules)

    def down(self) -> None:
        for ns in (self.a, self.fw, self.b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    def zp(self, ns: str, *args: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m", "zonepolicy", *args], cwd=REPO,
                              capture_output=True, text=True, timeout=120, **kw)


@pytest.fixture(scope="module")
def lab():
    if os.geteuid() != 0 or not shutil.which("nft"):
        pytest.skip("needs root for network namespaces (and nft)")
    lab = Lab()
    try:
        lab.up()
        yield lab
    finally:
        lab.down()


class Listener:
    """`probe listen` running in a namespace until stopped; its arrivals file is read on stop."""

    def __init__(self, lab: Lab, out: Path) -> None:
        self.out = out
        self.proc = subprocess.Popen(["ip", "netns", "exec", lab.b, sys.executable, "-m", "zonepolicy", "probe",
                                      "listen", "--port", "47001", "--timeout", "100", "-o", str(out)],
                                     cwd=REPO, stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        assert line.startswith("listening on"), line

    def stop(self) -> list[dict]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        self.proc.stderr.close()
        return [json.loads(x) for x in self.out.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def listener(lab, tmp_path):
    ls = Listener(lab, tmp_path / "arrivals.jsonl")
    try:
        yield ls
    finally:
        if ls.proc.poll() is None:
            ls.proc.kill()
            ls.proc.wait()


def _send(lab, files, *extra: str, suite: str = "suite.yaml") -> subprocess.CompletedProcess:
    return lab.zp(lab.a, "probe", "send", str(files / suite), "--policy", str(files / "p.zp"), "--from", "alpha",
                  *extra)


@needs_root
def test_send_with_listener_confirms_arrivals_and_every_probe_passes(lab, listener, files):
    out = files / "results.jsonl"
    r = _send(lab, files, "--listener", f"{B4}:47001", "--site", "lab-edge", "-o", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "8 probes, 8 passed, 0 failed, 0 inconclusive"
    results = {x.probe: x for x in read_jsonl(out.read_text(encoding="utf-8"))}
    assert set(results) == {f"p0{i}" for i in range(1, 9)}  # beta's probe p09 is not ours to send
    for pid in ("p01", "p03", "p05", "p06", "p08"):
        assert (results[pid].observed, results[pid].reason) == ("allow", "arrived"), results[pid]
    for pid in ("p02", "p04", "p07"):
        assert (results[pid].observed, results[pid].reason) == ("deny", "not-arrived"), results[pid]
    assert {x.site for x in results.values()} == {"lab-edge"}
    arrived = listener.stop()
    assert sorted(a["probe"] for a in arrived) == ["p01", "p03", "p05", "p06", "p08"]
    assert {a["dst"] for a in arrived} == {B4, B6} and all(a["local"] for a in arrived)
    # the 5-tuple the listener saw is the one the sender reported
    by_id = {a["probe"]: a for a in arrived}
    assert f":{by_id['p01']['sport']} -> " in results["p01"].five_tuple
    # and the report of a real run is what CI reads
    rep = run_cli("probe", "report", str(out), "--format", "junit")
    assert rep.returncode == 0 and rep.stderr.strip() == "8 probes, 8 passed, 0 failed, 0 inconclusive"
    cases = ET.fromstring(rep.stdout.encode("utf-8")).findall("./testsuite[@name='lab-edge']/testcase")
    assert len({c.get("name") for c in cases}) == 8


@needs_root
def test_a_firewall_that_lets_everything_through_fails_the_deny_probes(lab, listener, files):
    lab.load(OPEN_RULES)
    try:
        r = _send(lab, files, "--listener", f"{B4}:47001", "-o", str(files / "r.jsonl"))
    finally:
        lab.load(RULES)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stdout.strip() == "8 probes, 5 passed, 3 failed, 0 inconclusive"
    failed = {x.probe: x for x in read_jsonl((files / "r.jsonl").read_text(encoding="utf-8")) if x.result == "fail"}
    assert set(failed) == {"p02", "p04", "p07"} and {x.observed for x in failed.values()} == {"allow"}
    listener.stop()


@needs_root
def test_without_listener_replies_decide_and_silence_is_inconclusive(lab, files):
    out = files / "r.jsonl"
    r = _send(lab, files, "--wait", "0.5", "-o", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    res = {x.probe: x for x in read_jsonl(out.read_text(encoding="utf-8"))}
    assert (res["p01"].reason, res["p01"].result) == ("reset", "pass")          # tcp/443: closed port answers RST
    assert (res["p03"].reason, res["p03"].result) == ("icmp-unreachable", "pass")  # udp/53: port unreachable
    assert (res["p05"].reason, res["p08"].reason) == ("echo-reply", "echo-reply")
    for pid in ("p02", "p04", "p07"):  # dropped silently by the firewall: nobody can tell without a listener
        assert (res[pid].observed, res[pid].result) == (None, "inconclusive")
    assert r.stdout.strip() == "8 probes, 5 passed, 0 failed, 3 inconclusive"


@needs_root
def test_interlock_refusal_and_dry_run_send_nothing(lab, listener, files, policy):
    suite = make_suite(policy, extra=(("x1", A4, "192.0.2.200", TCP, 443),))  # 192.0.2.200: the internet zone
    (files / "outside.yaml").write_text(dump_suite(suite), encoding="utf-8")
    r = _send(lab, files, "--listener", f"{B4}:47001", suite="outside.yaml")
    assert r.returncode == 2 and "refused, nothing sent" in r.stderr and "x1: destination 192.0.2.200" in r.stderr
    r = _send(lab, files, "--dry-run", "--listener", f"{B4}:47001")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 8
    spoofed = make_suite(policy, extra=(("x2", "192.0.2.12", B4, TCP, 443),))
    (files / "spoof.yaml").write_text(dump_suite(spoofed), encoding="utf-8")
    r = _send(lab, files, suite="spoof.yaml")
    assert r.returncode == 2 and "x2: source 192.0.2.12 is not an address of this host" in r.stderr
    assert listener.stop() == []  # the listener saw no probe at all


@needs_root
def test_send_refuses_when_the_listener_is_not_there(lab, files):
    r = _send(lab, files, "--listener", f"{B4}:47001")  # nobody listens there in this test
    assert r.returncode == 2 and "not reachable" in r.stderr and "nothing sent" in r.stderr
    r = _send(lab, files, "--iface", "nope0")
    assert r.returncode == 2 and "--iface nope0: no such interface" in r.stderr
    r = _send(lab, files, "--listener", "no-port")
    assert r.returncode == 2 and "expected HOST:PORT" in r.stderr


@needs_root
def test_rate_limit_holds(lab, files, policy):
    m = Meaning(policy)
    probes = tuple(_probe(m, f"r{i:02d}", A4, B4, UDP, 1000 + i) for i in range(30))
    (files / "many.yaml").write_text(dump_suite(Suite(policy=policy.name, policy_hash=policy_hash(policy),
                                                      probes=probes)), encoding="utf-8")
    r = _send(lab, files, "--rate", "20", "--wait", "0", "--iface", "eth0", suite="many.yaml")
    assert r.returncode == 0, r.stderr
    seconds = float(re.search(r"sent 30 probes in ([\d.]+) s", r.stderr).group(1))
    # 30 probes at 20/s (a burst of one at that rate): the last leaves 29/20 = 1.45 s after the first
    assert 1.45 * 0.95 <= seconds < 1.45 * 4, seconds
    print(f"30 probes at --rate 20: {seconds:.3f} s (ideal 1.45 s)")


@needs_root
def test_rejecting_firewall_forged_resets_and_unreachables(lab, listener, files):
    lab.load(REJECT_RULES)
    try:
        with_listener = _send(lab, files, "--listener", f"{B4}:47001", "-o", str(files / "l.jsonl"))
        without = _send(lab, files, "--wait", "0.5", "-o", str(files / "n.jsonl"))
    finally:
        lab.load(RULES)
    listener.stop()
    assert with_listener.returncode == 0, with_listener.stdout + with_listener.stderr
    res = {x.probe: x for x in read_jsonl((files / "l.jsonl").read_text(encoding="utf-8"))}
    assert (res["p02"].observed, res["p02"].reason, res["p02"].result) == ("deny", "reset", "pass")
    assert (res["p04"].observed, res["p04"].reason, res["p04"].result) == ("deny", "icmp-unreachable", "pass")
    res = {x.probe: x for x in read_jsonl((files / "n.jsonl").read_text(encoding="utf-8"))}
    # without a listener the admin-prohibited from the firewall (not the destination) still means deny ...
    assert (res["p04"].observed, res["p04"].reason, res["p04"].result) == ("deny", "icmp-unreachable", "pass")
    # ... but a RST forged in the destination's name cannot be told from the destination's own (docs: Limits)
    assert (res["p02"].observed, res["p02"].result) == ("allow", "fail")
    assert without.returncode == 1


@needs_root
def test_listener_without_control_channel_keeps_arrivals_in_its_file(lab, files):
    out = files / "offline.jsonl"
    proc = subprocess.Popen(["ip", "netns", "exec", lab.b, sys.executable, "-m", "zonepolicy", "probe", "listen",
                             "--port", "0", "--iface", "eth0", "--timeout", "60", "-o", str(out)],
                            cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr.readline().strip() == "listening on eth0"
        r = _send(lab, files, "--wait", "0.2", "-o", str(files / "sent.jsonl"))
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "8 probes, 5 passed, 0 failed, 3 inconclusive"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        tail = proc.stderr.read()
        proc.stderr.close()
    assert "5 probe arrivals from 1 run(s)" in tail
    arrived = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(a["probe"] for a in arrived) == ["p01", "p03", "p05", "p06", "p08"]
    run_id = re.search(r"run ([0-9a-f]{8}): sent 8 probes", r.stderr).group(1)
    assert {a["iface"] for a in arrived} == {"eth0"} and {a["nonce"] for a in arrived} == {run_id}
    # the file judges the run afterwards: the silent probes were dropped, not lost
    judged = files / "judged.jsonl"
    c = run_cli("probe", "confirm", str(files / "suite.yaml"), str(files / "sent.jsonl"), str(out), "--run", run_id,
                "-o", str(judged))
    assert c.returncode == 0 and c.stderr.strip() == "8 probes, 8 passed, 0 failed, 0 inconclusive", c.stderr
    res = {x.probe: x for x in read_jsonl(judged.read_text(encoding="utf-8"))}
    assert {(res[p].observed, res[p].reason) for p in ("p02", "p04", "p07")} == {("deny", "not-arrived")}
    assert (res["p01"].reason, res["p01"].result) == ("arrived", "pass")  # judged by its RST before, now by arrival
    c = run_cli("probe", "confirm", str(files / "suite.yaml"), str(files / "sent.jsonl"), str(files / "p.zp"))
    assert c.returncode == 2 and "p.zp:1:" in c.stderr and "not JSON" in c.stderr


def test_rebased_sources_are_decided_again_by_the_policy():
    pol = load_policy_text(POLICY + "address admin = 192.0.2.12\nallow admin -> beta : ssh\n")
    m = Meaning(pol)
    planned = [_probe(m, "s1", "192.0.2.12", B4, TCP, 22), _probe(m, "s2", "192.0.2.12", B4, TCP, 443),
               _probe(m, "s3", A6, B6, TCP, 22)]
    assert [p.expected for p in planned] == [Action.ALLOW, Action.ALLOW, Action.DENY]
    rebased = field.rebase_sources(m, planned, [A4], "alpha")
    assert [str(p.packet.src_ip) for p in rebased] == [A4, A4, A6]  # no IPv6 source given: kept
    # ssh was allowed for the admin address only: from this host the policy says deny
    assert [p.expected for p in rebased] == [Action.DENY, Action.ALLOW, Action.DENY]
    assert rebased[0].flows == () and "source rebased from 192.0.2.12" in rebased[0].note
    with pytest.raises(field.UsageError, match="is in zone 'beta', not in 'alpha'"):
        field.rebase_sources(m, planned, [B4], "alpha")


@needs_root
def test_send_from_this_hosts_own_address_instead_of_the_planned_one(lab, listener, files, policy):
    m = Meaning(policy)
    probes = (_probe(m, "q1", "192.0.2.12", B4, TCP, 443), _probe(m, "q2", "192.0.2.12", B4, TCP, 22),
              _probe(m, "q3", "2001:db8::a:0:0:99", B6, ICMPV6, 0, 128))
    (files / "planned.yaml").write_text(dump_suite(Suite(policy=policy.name, policy_hash=policy_hash(policy),
                                                         probes=probes)), encoding="utf-8")
    r = _send(lab, files, "--listener", f"{B4}:47001", suite="planned.yaml")
    assert r.returncode == 2 and "not an address of this host" in r.stderr
    r = _send(lab, files, "--listener", f"{B4}:47001", "--source", A4, "--source", A6, "-o",
              str(files / "q.jsonl"), suite="planned.yaml")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "3 probes, 3 passed, 0 failed, 0 inconclusive"
    assert sorted(a["src"] for a in listener.stop()) == sorted([A4, A6])  # q1 and q3 arrived, from this host
