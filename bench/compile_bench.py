"""Compile benchmark: lower, render, read back and prove one firewall per target, at any scale.

Usage: python bench/compile_bench.py [--zones 2000] [--flows 50000] [--objects 500]
                                     [--targets nftables,iptables,...] [--policy FILE.zp]

For each target a fresh process loads the policy (the synthetic province from bench/gen_policy.py
unless --policy is given), retargets every firewall to that target and compiles the first one,
timing each stage separately:

* load    parse + resolve (what ``zonepolicy check`` does);
* lower   the target model (first-match rules per interface pair, src/dst/service boxes);
* render  capabilities check + the configuration text;
* read    the back end's reader on the emitted text (what ``compile --check`` reads from disk);
* prove   the read-back rules folded into packet sets and compared with the policy's meaning.

``compile`` = load + lower + render (what ``zonepolicy compile`` does); ``--check`` adds read and
prove. Times are CPU seconds (``time.process_time``) with wall seconds in brackets (the host may be
shared); peak RSS is the process's ``ru_maxrss``, so it covers every stage of that one target.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

TARGETS = ("nftables", "iptables", "juniper-srx", "cisco-ios", "cisco-asa", "huawei-usg", "h3c")


def _worker(path: str, target: str) -> dict:
    from zonepolicy import api
    from zonepolicy.compilers.base import check_capabilities, get_compiler, lower, prove
    from zonepolicy.semantics.meaning import Meaning

    laps: dict[str, tuple[float, float]] = {}
    cpu, wall = time.process_time(), time.perf_counter()

    def lap(name: str) -> None:
        nonlocal cpu, wall
        c, w = time.process_time(), time.perf_counter()
        laps[name] = (c - cpu, w - wall)
        cpu, wall = c, w

    policy = api.load_policy(path)
    policy = dataclasses.replace(policy, firewalls=tuple(dataclasses.replace(f, target=target)
                                                         for f in policy.firewalls))
    lap("load")
    meaning = Meaning(policy)
    fw = policy.firewalls[0]
    compiler = get_compiler(target)
    model = lower(policy, fw, meaning)
    lap("lower")
    problems = check_capabilities(policy, fw, model, compiler.capabilities) + compiler.diagnose(policy, fw)
    errors = [d for d in problems if d.severity.name == "ERROR"]
    outputs = compiler.render(model) if not errors else []
    lap("render")
    read = compiler.read_outputs(outputs, fw) if outputs else []
    lap("read")
    mismatches = prove(policy, fw, read, meaning) if outputs else []
    lap("prove")
    return {
        "target": target, "rules": sum(len(p.rules) for p in model.pairs),
        "bytes": sum(len(o.text.encode("utf-8")) for o in outputs),
        "errors": [d.message for d in errors][:3], "proved": bool(outputs) and not mismatches,
        "laps": laps, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zones", type=int, default=2000)
    ap.add_argument("--flows", type=int, default=50000)
    ap.add_argument("--objects", type=int, default=500)
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--policy", help="a .zp file instead of the synthetic province")
    ap.add_argument("--worker", nargs=2, metavar=("POLICY", "TARGET"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(_worker(*args.worker)))
        return
    with tempfile.TemporaryDirectory(prefix="zp-compile-bench-") as tmp:
        path = args.policy
        if path is None:
            from gen_policy import generate

            path = os.path.join(tmp, "province.zp")
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(generate(args.zones, args.flows, args.objects))
        print(f"# {path if args.policy else f'{args.zones} zones, {args.flows} flows'}; "
              f"load average {os.getloadavg()[0]:.1f}")
        print("| target | rules | output MiB | load | lower | render | compile | read | prove | "
              "with --check | proved | peak RSS MiB |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for target in args.targets.split(","):
            proc = subprocess.run([sys.executable, __file__, "--worker", path, target],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"| {target} | failed: {proc.stderr.strip().splitlines()[-1:]} |")
                continue
            r = json.loads(proc.stdout)
            lp = r["laps"]

            def t(*names: str) -> str:
                return f"{sum(lp[n][0] for n in names):.1f} ({sum(lp[n][1] for n in names):.1f})"

            proved = "yes" if r["proved"] else ("refused: " + "; ".join(r["errors"]) if r["errors"] else "NO")
            print(f"| {target} | {r['rules']:,} | {r['bytes'] / 2**20:.1f} | {t('load')} | {t('lower')} | "
                  f"{t('render')} | {t('load', 'lower', 'render')} | {t('read')} | {t('prove')} | "
                  f"{t('load', 'lower', 'render', 'read', 'prove')} | {proved} | {r['peak_rss_mib']:.0f} |",
                  flush=True)


if __name__ == "__main__":
    main()
