"""Field probing benchmark (needs root): `probe send` against `probe listen`, end to end.

Usage: python bench/field_bench.py [--probes 2000] [--rates 100,1000,100000] [--repeat 2]

Two network namespaces created here (unique names, removed in ``finally``), joined by one veth,
with documentation addresses that exist only inside them. A policy allows everything from alpha to
beta, and a suite of ``--probes`` probes (TCP, UDP, ICMP echo, IPv4 and IPv6; expected verdicts
from Meaning.decide) is sent from alpha by the real CLI, with the listener in beta confirming
arrivals over its control channel. For each rate it reports the sending time the command measured
(paced loop only), the whole command's wall time (Python start, scapy import, building every
packet, the 1 s reply window, asking the listener) and how many probes passed. Every probe should
pass: a miss is a probe the listener or the sender lost, and the benchmark says so.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid

from zonepolicy import api
from zonepolicy.probe.suite import Probe, Suite, dump_suite, policy_hash
from zonepolicy.semantics.meaning import Meaning
from zonepolicy.semantics.packet import Packet

POLICY = """\
policy fieldbench { default deny; intrazone allow }
zone alpha { networks 192.0.2.0/25, 2001:db8::a:0:0:0/80 }
zone beta { networks 192.0.2.128/25, 2001:db8::b:0:0:0/80 }
allow alpha -> beta
"""
A4, A6, B4, B6 = "192.0.2.10", "2001:db8::a:0:0:10", "192.0.2.200", "2001:db8::b:0:0:200"


def sh(*args: str, input: str | None = None) -> None:
    subprocess.run(args, check=True, input=input, text=True, capture_output=True)


def suite_for(policy, n: int) -> Suite:
    m = Meaning(policy)
    probes = []
    for i in range(n):
        v6 = i % 5 == 4
        src, dst = (A6, B6) if v6 else (A4, B4)
        kind = i % 3
        if kind == 0:
            pk = Packet.of(src, dst, 6, dport=1 + i % 65000, sport=40000)
        elif kind == 1:
            pk = Packet.of(src, dst, 17, dport=1 + i % 65000, sport=40000)
        else:
            pk = Packet.of(src, dst, 58 if v6 else 1, icmp_type=128 if v6 else 8)
        d = m.decide(pk)
        probes.append(Probe(id=f"b{i:06d}", packet=pk, src_zone=d.src_zone, dst_zone=d.dst_zone, expected=d.action,
                            flows=d.flows, reason=d.reason))
    return Suite(policy=policy.name, policy_hash=policy_hash(policy), probes=tuple(probes))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--probes", type=int, default=2000)
    ap.add_argument("--rates", default="100,1000,100000")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces)")
    tag = uuid.uuid4().hex[:6]
    a, b = f"zpfb{tag}a", f"zpfb{tag}b"
    with tempfile.TemporaryDirectory() as tmp:
        pol_path = os.path.join(tmp, "p.zp")
        with open(pol_path, "w", encoding="utf-8") as fh:
            fh.write(POLICY)
        policy = api.load_policy(pol_path)
        suite_path = os.path.join(tmp, "suite.yaml")
        with open(suite_path, "w", encoding="utf-8") as fh:
            fh.write(dump_suite(suite_for(policy, args.probes)))
        listener = None
        try:
            sh("ip", "-b", "-", input=f"netns add {a}\nnetns add {b}\nlink add eth0 netns {a} type veth peer name eth0 "
               f"netns {b}\n")
            for ns, v4, v6 in ((a, A4, A6), (b, B4, B6)):
                sh("ip", "-n", ns, "-b", "-", input=f"link set lo up\nlink set eth0 up\naddr add {v4}/24 dev eth0\n"
                   f"addr add {v6}/64 dev eth0 nodad\n")
            sh("ip", "netns", "exec", b, "sysctl", "-qw", "net.ipv4.icmp_ratelimit=0", "net.ipv6.icmp.ratelimit=0",
               "net.ipv4.icmp_msgs_per_sec=1000000", "net.ipv4.icmp_msgs_burst=100000")
            listener = subprocess.Popen(["ip", "netns", "exec", b, sys.executable, "-m", "zonepolicy", "probe", "listen",
                                         "--timeout", "3600"], stderr=subprocess.PIPE, text=True)
            assert listener.stderr.readline().startswith("listening")
            print(f"{args.probes} probes (tcp/udp/icmp, 20% IPv6); load: {os.getloadavg()[0]:.2f}")
            print(f"{'rate':>8}  {'send s':>7}  {'achieved/s':>10}  {'wall s':>7}  result")
            for rate in [float(x) for x in args.rates.split(",")]:
                if args.probes / rate > 120:
                    continue
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    r = subprocess.run(["ip", "netns", "exec", a, sys.executable, "-m", "zonepolicy", "probe", "send",
                                        suite_path, "--policy", pol_path, "--from", "alpha", "--rate", str(rate),
                                        "--listener", f"{B4}:47001"], capture_output=True, text=True)
                    wall = time.perf_counter() - t0
                    m = re.search(r"sent (\d+) probes in ([\d.]+) s", r.stderr)
                    if not m:
                        sys.exit(f"send failed: {r.stderr}")
                    secs = float(m.group(2))
                    print(f"{rate:>8g}  {secs:>7.2f}  {args.probes / secs:>10.0f}  {wall:>7.2f}  {r.stdout.strip()}")
        finally:
            if listener is not None:
                listener.terminate()
                listener.wait()
            for ns in (a, b):
                subprocess.run(["ip", "netns", "del", ns], capture_output=True)


if __name__ == "__main__":
    main()
