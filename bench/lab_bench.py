"""Probe lab benchmark (needs root): lab set-up time and probe throughput on the real kernel.

Usage: python bench/lab_bench.py [--zones 20] [--probes 20000] [--repeat 3] [--backends nftables,iptables]

A synthetic policy with N zones, each behind its own interface of one firewall, and a mix of
allow and deny flows. For each back end and repetition: a fresh lab comes up (namespaces, devices,
routes, rules loaded, readiness canary; compilation is timed separately), then one suite of
``--probes`` random probes (TCP, UDP, ICMP echo; both verdicts; expected verdicts from
Meaning.decide) runs end to end through ``run_suite``: addresses added, sockets opened, the seal
checked, conntrack flushed, every probe sent, the settle window waited, one result per probe.
A false verdict is any result that does not pass; the benchmark fails if there is one.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

from zonepolicy import api
from zonepolicy.model.values import Action
from zonepolicy.probe.engine import run_suite
from zonepolicy.probe.lab import LabManager, compile_rules
from zonepolicy.probe.suite import Probe, Suite
from zonepolicy.semantics.meaning import Meaning
from zonepolicy.semantics.packet import Packet

SERVICES = ["tcp/22", "tcp/80", "tcp/443", "tcp/3306", "udp/53", "udp/123", "icmp/echo-request"]


def policy_text(zones: int, seed: int) -> str:
    rnd = random.Random(seed)
    out = ["policy bench { default deny; intrazone allow }"]
    for k in range(zones):
        out.append(f"zone z{k:02d} {{ networks 10.{k + 1}.0.0/16 }}")
    for k in range(zones):
        for j in rnd.sample([j for j in range(zones) if j != k], 4):
            svc = ", ".join(sorted(rnd.sample(SERVICES, 3)))
            out.append(f"allow z{k:02d} -> z{j:02d} : {svc}")
        out.append(f"deny z{k:02d} -> 10.{(k + 7) % zones + 1}.9.0/24")
    out.append("firewall bench { target nftables")
    out += [f"  interface eth{k} -> z{k:02d}" for k in range(zones)]
    out.append("}")
    return "\n".join(out) + "\n"


def make_suite(policy, zones: int, n: int, seed: int) -> Suite:
    rnd = random.Random(seed)
    meaning = Meaning(policy)
    hosts = [[(10 << 24) | ((k + 1) << 16) | (h << 8) | 10 for h in range(8)] for k in range(zones)]
    choices = [(6, 22), (6, 80), (6, 443), (6, 3306), (6, 8080), (17, 53), (17, 123), (17, 5000), (1, 8)]
    probes = []
    while len(probes) < n:
        a, b = rnd.sample(range(zones), 2)
        proto, port = rnd.choice(choices)
        pk = Packet(4, rnd.choice(hosts[a]), rnd.choice(hosts[b]), proto, 40000 if proto != 1 else 0,
                    port if proto != 1 else 0, 8 if proto == 1 else 0, 0)
        d = meaning.decide(pk)
        probes.append(Probe(id=f"p{len(probes):05d}", packet=pk, src_zone=d.src_zone, dst_zone=d.dst_zone,
                            expected=d.action, flows=d.flows, reason=d.reason, stateful=d.allowed and d.stateful,
                            firewall="bench"))
    return Suite(policy=policy.name, policy_hash="bench", firewall="bench", probes=tuple(probes))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--zones", type=int, default=20)
    ap.add_argument("--probes", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--backends", default="nftables,iptables")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("lab_bench needs root (network namespaces)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "bench.zp")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(policy_text(args.zones, args.seed))
        policy = api.load_policy(path)
    t = time.perf_counter()
    suite = make_suite(policy, args.zones, args.probes, args.seed)
    allow = sum(p.expected is Action.ALLOW for p in suite.probes)
    print(f"{args.zones} zones, {len(policy.flows)} flows; suite of {len(suite.probes)} probes "
          f"({allow} allow, {len(suite.probes) - allow} deny) built in {time.perf_counter() - t:.2f} s")
    bad_total = 0
    for backend in args.backends.split(","):
        t = time.perf_counter()
        rules = compile_rules(policy, "bench", backend)
        compile_s = time.perf_counter() - t
        ups, runs = [], []
        for _ in range(args.repeat):
            with LabManager(policy, "bench", backend) as lab:
                t = time.perf_counter()
                lab.up(rules)
                ups.append((time.perf_counter() - t, lab.timings))
                t = time.perf_counter()
                results = run_suite(lab.state, suite)
                runs.append(time.perf_counter() - t)
            bad = [r for r in results if r.result != "pass"]
            bad_total += len(bad)
            for r in bad[:5]:
                print("  FALSE:", r.probe, r.five_tuple, r.expected, r.observed, r.reason)
        up_med = statistics.median(u for u, _ in ups)
        parts = {k: statistics.median(t[k] for _, t in ups) for k in ("build", "load", "ready")}
        run_med = statistics.median(runs)
        print(f"{backend}: compile {compile_s:.2f} s; lab up median {up_med * 1000:.0f} ms "
              f"(build {parts['build'] * 1000:.0f}, load {parts['load'] * 1000:.0f}, ready {parts['ready'] * 1000:.0f}) "
              f"over {args.repeat}; run median {run_med:.2f} s = {len(suite.probes) / run_med:,.0f} probes/s "
              f"(best {len(suite.probes) / min(runs):,.0f}); false verdicts {bad_total}")
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    return 1 if bad_total else 0


if __name__ == "__main__":
    sys.exit(main())
