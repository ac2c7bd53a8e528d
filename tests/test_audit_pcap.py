"""audit pcap: captures with known allowed and forbidden packets, written with scapy."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("scapy")
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror, TCPerror  # noqa: E402
from scapy.layers.inet6 import IPv6, IPv6ExtHdrHopByHop  # noqa: E402
from scapy.layers.l2 import ARP, CookedLinux, CookedLinuxV2, Dot1Q, Ether  # noqa: E402
from scapy.utils import wrpcap  # noqa: E402

from conftest import EXAMPLES, load_policy_text, run_cli  # noqa: E402
from zonepolicy import api  # noqa: E402
from zonepolicy.probe.audit import CaptureError, audit_capture  # noqa: E402
from zonepolicy.semantics.meaning import Meaning  # noqa: E402

QUICKSTART = str(EXAMPLES / "quickstart" / "policy.zp")
NET = "198.51.100.5"      # internet (no zone claims it)
WEB = "203.0.113.10"      # internet-access
PORTAL = "10.10.8.1"      # public.portal
TAX = "10.20.0.5"         # dedicated.tax
MGMT = "10.99.0.7"        # mgmt
PUBLIC = "10.10.3.3"      # public


def quickstart_packets():
    """(packet, should be listed?) in capture order."""
    return [
        (IP(src=NET, dst=WEB) / TCP(sport=5000, dport=443, flags="S"), False),          # 1 allowed opener
        (IP(src=WEB, dst=NET) / TCP(sport=443, dport=5000, flags="SA"), False),         # 2 its reply
        (IP(src=NET, dst=WEB) / TCP(sport=5000, dport=443, flags="A"), False),          # 3 continuation
        (IP(src=NET, dst=TAX) / TCP(sport=5001, dport=22, flags="S"), True),            # 4 denied by a deny flow
        (IP(src=PORTAL, dst=WEB) / TCP(sport=443, dport=6000, flags="SA"), True),       # 5 reply without opener
        (IP(src=MGMT, dst=PUBLIC) / ICMP(type=8, id=7, seq=1), False),                  # 6 ping allowed
        (IP(src=PUBLIC, dst=MGMT) / ICMP(type=0, id=7, seq=1), False),                  # 7 its echo reply
        (IP(src=PUBLIC, dst=MGMT) / ICMP(type=0, id=99, seq=1), True),                  # 8 echo reply, no request
        (IP(src=PUBLIC, dst=MGMT) / UDP(sport=4000, dport=53), True),                   # 9 default deny
        (IP(src=WEB, dst=NET) / ICMP(type=3, code=3) / IPerror(src=NET, dst=WEB)
         / TCPerror(sport=5000, dport=443), False),                                     # 10 error of a known conn
        (IP(src=WEB, dst=NET) / ICMP(type=3, code=3) / IPerror(src=NET, dst=WEB)
         / TCPerror(sport=5999, dport=443), True),                                      # 11 error of nothing
        (IPv6(src="2001:db8::5", dst="2001:db8:10::1") / IPv6ExtHdrHopByHop()
         / TCP(sport=5002, dport=22, flags="S"), True),                                 # 12 IPv6 default deny
        (IP(src=PUBLIC, dst=WEB) / TCP(sport=7000, dport=80, flags="S"), False),        # 13 allowed
        (IP(src=NET, dst=PUBLIC) / TCP(sport=80, dport=7001, flags="A"), True),         # 14 continuation, no opener
    ]


def write(path, packets, link="ether"):
    if link == "ether":
        frames = [Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / p for p in packets]
        frames.insert(3, Ether() / ARP())  # not IP: counted, not judged
        wrpcap(str(path), frames)
    elif link == "vlan":
        frames = [Ether() / Dot1Q(vlan=10, type=0x86DD if p.version == 6 else 0x0800) / p for p in packets]
        wrpcap(str(path), frames)
    elif link == "sll":
        wrpcap(str(path), [CookedLinux(proto=0x86DD if p.version == 6 else 0x0800) / p for p in packets])
    elif link == "sll2":
        wrpcap(str(path), [CookedLinuxV2(proto=0x86DD if p.version == 6 else 0x0800) / p for p in packets])
    else:
        wrpcap(str(path), packets, linktype=101)


def expected_frames(link):
    listed = [n for n, (_, bad) in enumerate(quickstart_packets(), 1) if bad]
    # the ARP frame sits at position 4 in the Ethernet capture and shifts later frame numbers
    return [n + 1 if link == "ether" and n >= 4 else n for n in listed]


@pytest.mark.parametrize("link", ["ether", "vlan", "sll", "sll2", "raw"])
def test_every_forbidden_packet_and_only_those_are_listed(tmp_path, link):
    cap = tmp_path / f"{link}.pcap"
    write(cap, [p for p, _ in quickstart_packets()], link)
    meaning = Meaning(api.load_policy(QUICKSTART))
    result = audit_capture(str(cap), meaning)
    assert [f.frame for f in result.findings] == expected_frames(link)
    by_frame = {f.frame: f for f in result.findings}
    shift = 1 if link == "ether" else 0
    denied = by_frame[4 + shift]
    assert denied.five_tuple == f"tcp {NET}:5001 -> {TAX}:22"
    assert (denied.src_zone, denied.dst_zone) == ("internet", "dedicated.tax")
    assert denied.why.startswith("denied by flow f") and denied.flows
    assert "no allowed stateful packet opened" in by_frame[5 + shift].why
    assert "default" in by_frame[9 + shift].why
    assert by_frame[12 + shift].five_tuple.startswith("tcp [2001:db8::5]:5002")
    assert result.packets == len(quickstart_packets()) + shift
    if link == "ether":
        assert result.skipped == {"not IPv4/IPv6": 1}


def test_cli_exit_codes_and_formats(tmp_path):
    cap = tmp_path / "c.pcap"
    write(cap, [p for p, _ in quickstart_packets()])
    r = run_cli("audit", "pcap", str(cap), QUICKSTART)
    assert r.returncode == 1, r.stderr
    assert f"frame 5: tcp {NET}:5001 -> {TAX}:22 (internet -> dedicated.tax): denied by flow" in r.stdout
    assert "15 packets, 14 judged, 7 not allowed by the policy; 1 skipped: not IPv4/IPv6" in r.stdout
    r = run_cli("audit", "pcap", str(cap), QUICKSTART, "--format", "json")
    data = json.loads(r.stdout)
    assert r.returncode == 1 and [f["frame"] for f in data["findings"]] == expected_frames("ether")
    clean = tmp_path / "clean.pcap"
    write(clean, [p for p, bad in quickstart_packets() if not bad])
    r = run_cli("audit", "pcap", str(clean), QUICKSTART)
    assert r.returncode == 0 and "0 not allowed" in r.stdout


def test_unreadable_captures_exit_2(tmp_path):
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"this is not a capture at all")
    r = run_cli("audit", "pcap", str(junk), QUICKSTART)
    assert r.returncode == 2 and "not a pcap file" in r.stderr and "Traceback" not in r.stderr
    ng = tmp_path / "x.pcapng"
    ng.write_bytes(b"\x0a\x0d\x0d\x0a" + b"\0" * 40)
    r = run_cli("audit", "pcap", str(ng), QUICKSTART)
    assert r.returncode == 2 and "pcapng" in r.stderr and "editcap" in r.stderr
    r = run_cli("audit", "pcap", str(tmp_path / "missing.pcap"), QUICKSTART)
    assert r.returncode == 2 and "cannot read" in r.stderr
    with pytest.raises(CaptureError):
        audit_capture(str(junk), Meaning(api.load_policy(QUICKSTART)))


def test_a_cut_off_capture_is_read_up_to_the_cut(tmp_path):
    cap = tmp_path / "cut.pcap"
    write(cap, [p for p, _ in quickstart_packets()], "raw")
    data = cap.read_bytes()
    cap.write_bytes(data[:-10])
    result = audit_capture(str(cap), Meaning(api.load_policy(QUICKSTART)))
    assert result.packets == len(quickstart_packets()) - 1
    assert result.notes and "cut off" in result.notes[0]


def test_replies_of_stateless_flows_need_their_own_allow(tmp_path):
    policy = load_policy_text("""
policy sl { default deny; intrazone allow }
zone a { networks 10.1.0.0/24 }
zone b { networks 10.2.0.0/24 }
allow a -> b : udp/161 { stateless }
allow a -> b : tcp/22
""")
    cap = tmp_path / "s.pcap"
    wrpcap(str(cap), [
        IP(src="10.1.0.5", dst="10.2.0.5") / UDP(sport=3000, dport=161),   # 1 allowed, stateless
        IP(src="10.2.0.5", dst="10.1.0.5") / UDP(sport=161, dport=3000),   # 2 its reply: no flow allows it
        IP(src="10.1.0.5", dst="10.2.0.5") / TCP(sport=3001, dport=22, flags="S"),  # 3 stateful
        IP(src="10.2.0.5", dst="10.1.0.5") / TCP(sport=22, dport=3001, flags="SA"),  # 4 its reply: fine
    ], linktype=101)
    result = audit_capture(str(cap), Meaning(policy))
    assert [(f.frame, f.why.split(" (")[0]) for f in result.findings] == [(2, "reply of a stateless flow")]


def _opener(probe):
    """The probe's packet on the wire: an IP header from scapy, the transport header by hand."""
    import struct

    from scapy.packet import Raw

    p = probe.packet
    if p.proto == 6:
        l4 = struct.pack("!HHIIBBHHH", p.sport, p.dport, 1, 0, 0x50, 0x02, 65535, 0, 0)
    elif p.proto == 17:
        l4 = struct.pack("!HHHH", p.sport, p.dport, 8, 0)
    elif p.proto == 132:
        l4 = struct.pack("!HHII", p.sport, p.dport, 0, 0)
    elif p.proto in (1, 58):
        l4 = struct.pack("!BBHHH", p.icmp_type, p.icmp_code, 0, 1, 1)
    else:
        l4 = b""
    if p.family == 4:
        return IP(src=str(p.src_ip), dst=str(p.dst_ip), proto=p.proto) / Raw(l4)
    return IPv6(src=str(p.src_ip), dst=str(p.dst_ip), nh=p.proto) / Raw(l4)


@pytest.mark.parametrize("path,firewall", [(QUICKSTART, "edge"), (str(EXAMPLES / "jiangsu" / "main.zp"), "js-core")])
def test_a_capture_of_planned_openers_is_flagged_exactly_where_the_suite_expects_deny(tmp_path, path, firewall):
    from zonepolicy.probe.plan import plan_suite

    policy = api.load_policy(path)
    meaning = Meaning(policy)
    suite = plan_suite(policy, firewall, budget=400, meaning=meaning)
    cap = tmp_path / "planned.pcap"
    wrpcap(str(cap), [_opener(p) for p in suite.probes], linktype=101)
    result = audit_capture(str(cap), meaning)
    denied = [n for n, p in enumerate(suite.probes, 1) if p.expected.value == "deny"]
    assert denied and len(denied) < len(suite.probes)
    assert [f.frame for f in result.findings] == denied
    assert result.judged == len(suite.probes)
