"""zonepolicy and Aerleon side by side: the same rule base generated for four targets.

Usage: python bench/aerleon_bench.py --aerleon /path/to/venv/bin/aclgen [--terms 1000,5000,20000]
                                     [--targets iptables,nftables,juniper-srx,cisco-ios] [--runs 3]
                                     [--tools aerleon,zonepolicy,zonepolicy-nocheck]

Aerleon lives in its own virtual environment (it is not a dependency of zonepolicy):

    python -m venv /tmp/aerleon-venv && /tmp/aerleon-venv/bin/pip install aerleon

The input, per size N: N terms "from network S to network D, protocol P, destination port Q,
accept (about 10 % deny)", S drawn from N/4 source /24s inside 10.0.0.0/9 and D from N/4
destination /24s inside 10.128.0.0/9, each (S, D, P, Q) once, seeded. For Aerleon that is a YAML
policy with one filter of N terms plus naming definitions (one network per /24, one service per
protocol/port). For zonepolicy it is one .zp file: two zones (inside, outside), one address object
per /24, N one-line flows, and one firewall with an interface per zone.

What is timed, end to end, as a separate process per run (wall time, user+system CPU time and
peak RSS of the process tree, from ``RUSAGE_CHILDREN`` of a wrapper):

* Aerleon: ``aclgen --policy_file P --definitions_directory D --output_directory O
  --max_renderers 1`` (read YAML and definitions, build, render, write);
* zonepolicy (tool ``zonepolicy``): ``zonepolicy compile P.zp --target T -o O --check`` (read and
  resolve the policy, lower, render, write atomically, then read every written file back and prove
  it equal to the policy's meaning — work Aerleon does not do);
* zonepolicy without the proof (tool ``zonepolicy-nocheck``): the same command without ``--check``,
  i.e. the same work as Aerleon's.

Targets: iptables (Aerleon ``iptables: FORWARD DROP``), nftables (``nftables: inet forward``),
juniper-srx (``srx: from-zone inside to-zone outside``), cisco-ios (``cisco: zp-bench extended``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile

AERLEON_TARGET = {
    "iptables": ("iptables", "FORWARD DROP"),
    "nftables": ("nftables", "inet forward"),
    "juniper-srx": ("srx", "from-zone inside to-zone outside"),
    "cisco-ios": ("cisco", "zp-bench extended"),
}
INTERFACES = {  # names each target accepts (zonepolicy refuses names the device cannot use)
    "iptables": ("eth0", "eth1"), "nftables": ("eth0", "eth1"),
    "juniper-srx": ("ge-0/0/0.0", "ge-0/0/1.0"), "cisco-ios": ("GigabitEthernet0/0", "GigabitEthernet0/1"),
}
_WRAPPER = r"""
import json, resource, subprocess, sys, time
t = time.perf_counter()
proc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
wall = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": proc.returncode, "wall": wall, "cpu": ru.ru_utime + ru.ru_stime,
                  "rss_mib": ru.ru_maxrss / 1024, "err": proc.stderr[-400:]}))
"""


def terms(n: int, seed: int = 1) -> list[tuple[str, int, int, str, int]]:
    rng = random.Random(seed)
    nets = max(16, n // 4)
    seen: set[tuple[int, int, str, int]] = set()
    out = []
    while len(out) < n:
        key = (rng.randrange(nets), rng.randrange(nets), rng.choice(("tcp", "tcp", "udp")),
               rng.choice((22, 53, 80, 123, 161, 443, 636, 1521, 3306, 5432, 8080, 8443)) + rng.randrange(0, 40))
        if key in seen:
            continue
        seen.add(key)
        out.append(("deny" if rng.random() < 0.1 else "accept",) + key)
    return out


def _net(side: int, i: int) -> str:
    base = 0 if side == 0 else 128  # inside 10.0.0.0/9, outside 10.128.0.0/9
    return f"10.{base + i // 256}.{i % 256}.0/24"


def zonepolicy_text(rules: list, target: str) -> str:
    nets = sorted({r[1] for r in rules}), sorted({r[2] for r in rules})
    a, b = INTERFACES[target]
    out = ['policy bench "Aerleon comparison" { default deny; intrazone allow }',
           "zone inside { networks 10.0.0.0/9 }", "zone outside { networks 10.128.0.0/9 }"]
    out += [f"address s{i} = {_net(0, i)}" for i in nets[0]]
    out += [f"address d{i} = {_net(1, i)}" for i in nets[1]]
    for k, (action, s, d, proto, port) in enumerate(rules):
        out.append(f"{'allow' if action == 'accept' else 'deny'} s{s} -> d{d} : {proto}/{port} {{ id t{k} }}")
    out.append(f"firewall fw {{ target {target}; interface {a} -> inside; interface {b} -> outside }}")
    return "\n".join(out) + "\n"


def aerleon_files(rules: list, target: str, pol_dir: str, def_dir: str) -> str:
    """Write the policy and naming definitions; return the policy file's path. YAML is written by hand
    (every value is a generated name, number or prefix, so nothing needs quoting)."""
    nets = sorted({r[1] for r in rules}), sorted({r[2] for r in rules})
    with open(os.path.join(def_dir, "networks.yaml"), "w", encoding="utf-8") as fh:
        fh.write("networks:\n")
        for side, prefix in ((0, "S"), (1, "D")):
            for i in nets[side]:
                fh.write(f"  {prefix}{i}:\n    values:\n      - address: {_net(side, i)}\n")
    with open(os.path.join(def_dir, "services.yaml"), "w", encoding="utf-8") as fh:
        fh.write("services:\n")
        for proto, port in sorted({(r[3], r[4]) for r in rules}):
            fh.write(f"  {proto.upper()}{port}:\n    - port: {port}\n      protocol: {proto}\n")
    platform, options = AERLEON_TARGET[target]
    path = os.path.join(pol_dir, "bench.yaml")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(f"filters:\n  - header:\n      targets:\n        {platform}: {options}\n    terms:\n")
        for k, (action, s, d, proto, port) in enumerate(rules):
            fh.write(f"      - name: t{k}\n        source-address: S{s}\n        destination-address: D{d}\n"
                     f"        protocol: {proto}\n        destination-port: {proto.upper()}{port}\n"
                     f"        action: {action}\n")
    return path


def measure(cmd: list[str], cwd: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], capture_output=True, text=True, cwd=cwd)
    return json.loads(proc.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--aerleon", required=True, help="the aclgen script of Aerleon's virtual environment")
    ap.add_argument("--terms", default="1000,5000,20000")
    ap.add_argument("--targets", default=",".join(AERLEON_TARGET))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tools", default="aerleon,zonepolicy",
                    help="comma-separated: aerleon, zonepolicy (with --check), zonepolicy-nocheck")
    args = ap.parse_args()
    unknown = set(args.tools.split(",")) - {"aerleon", "zonepolicy", "zonepolicy-nocheck"}
    if unknown:
        ap.error(f"unknown tool(s): {', '.join(sorted(unknown))}")
    zp = [sys.executable, "-m", "zonepolicy"]
    print(f"# load average {os.getloadavg()[0]:.1f}; {args.runs} runs each; median (min–max) wall s, "
          "median CPU s, max peak RSS MiB")
    print("| terms | target | tool | wall s | CPU s | peak RSS MiB | output KiB |")
    print("|---|---|---|---|---|---|---|")
    for n in (int(x) for x in args.terms.split(",")):
        rules = terms(n)
        for target in args.targets.split(","):
            for tool in args.tools.split(","):
                rows = []
                size = 0
                for _ in range(args.runs):
                    tmp = tempfile.mkdtemp(prefix="zp-aerleon-bench-")
                    try:
                        out = os.path.join(tmp, "out")
                        os.makedirs(out)
                        if tool == "aerleon":
                            pol, dfn = os.path.join(tmp, "pol"), os.path.join(tmp, "def")
                            os.makedirs(pol)
                            os.makedirs(dfn)
                            path = aerleon_files(rules, target, pol, dfn)
                            cmd = [args.aerleon, "--policy_file", path, "--base_directory", pol,
                                   "--definitions_directory", dfn, "--output_directory", out,
                                   "--max_renderers", "1"]
                        else:
                            path = os.path.join(tmp, "bench.zp")
                            with open(path, "w", encoding="utf-8") as fh:
                                fh.write(zonepolicy_text(rules, target))
                            cmd = zp + ["compile", path, "--target", target, "-o", out]
                            if tool == "zonepolicy":
                                cmd.append("--check")
                        r = measure(cmd, tmp)
                        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
                    finally:
                        shutil.rmtree(tmp, ignore_errors=True)
                    if r["rc"] != 0:
                        print(f"| {n:,} | {target} | {tool} | failed (exit {r['rc']}): {r['err'][-200:]!r} | | | |",
                              flush=True)
                        break
                    rows.append(r)
                if len(rows) == args.runs:
                    walls = [r["wall"] for r in rows]
                    print(f"| {n:,} | {target} | {tool} | {statistics.median(walls):.2f} "
                          f"({min(walls):.2f}–{max(walls):.2f}) | {statistics.median(r['cpu'] for r in rows):.2f} | "
                          f"{max(r['rss_mib'] for r in rows):.0f} | {size / 1024:.0f} |", flush=True)


if __name__ == "__main__":
    main()
