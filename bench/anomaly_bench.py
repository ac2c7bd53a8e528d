"""Anomaly analysis benchmark: the indexed analysis against the all-pairs baseline, and whole verification.

Usage:
    python bench/anomaly_bench.py                                  # default sizes
    python bench/anomaly_bench.py --sizes 50:200 200:2000 --naive-cap 300
    python bench/anomaly_bench.py --sizes 2000:50000 --profile     # where the time goes
    python bench/anomaly_bench.py --sizes 2000:50000 --naive-cap 0 --no-verify --no-render  # detection alone

A size is ``ZONES:FLOWS``; address objects are ZONES/4 (at least 10). Each size runs in fresh
processes (so peak RSS belongs to that size alone) on a policy from ``bench/gen_policy.py``:

1. *analysis*: load the policy, compute every flow's packet set and the allowed set (the meaning's
   work, which every check shares; timed apart), then ``find_anomalies`` (timed), then
   ``find_anomalies_naive`` (timed, in the same process, on the same cached sets) and checks that
   both give the same findings. The baseline is stopped after ``--naive-cap`` seconds; its time is
   then reported as "> cap" together with a quadratic extrapolation from the largest size where it
   finished (it does O(n²) set operations) — an estimate, marked as such.
2. *verify*: a second fresh process times what ``zonepolicy verify`` does: load, then
   ``verify(policy)`` with the packs the header names and the anomaly analysis.

CPU seconds (``time.process_time``) are reported next to wall seconds because the benchmark host
may be shared; peak RSS is ``ru_maxrss``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

ANALYSIS = r"""
import json, resource, sys, time
sys.path.insert(0, {here!r})
from gen_policy import generate
from zonepolicy import api
from zonepolicy.model.values import Action
from zonepolicy.verify.checks import Context
from zonepolicy.verify.anomalies import find_anomalies, find_anomalies_naive

def clock():
    return time.perf_counter(), time.process_time()

def since(t):
    w, c = clock()
    return w - t[0], c - t[1]

def rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

path = {path!r}
open(path, "w", encoding="utf-8").write(generate({zones}, {flows}, {objects}))
t = clock(); policy = api.load_policy(path); load = since(t)
ctx = Context(policy)
if {no_render}:
    # the same analysis without drawing witnesses and rendering sets: detection cost alone
    from zonepolicy.verify import checks
    render = checks.Context.finding
    def finding(self, rule, message, *, packets=None, **kw):
        return render(self, rule, message, packets=None, **kw)
    checks.Context.finding = finding
m = ctx.meaning
t = clock()
for f in policy.flows:
    m.flow_set(f)
m.allowed()
sets = since(t)
profile = {profile}
if profile:
    import cProfile, pstats, io
    pr = cProfile.Profile(); pr.enable()
t = clock(); fast = find_anomalies(ctx); fast_t = since(t)
if profile:
    pr.disable(); out = io.StringIO()
    pstats.Stats(pr, stream=out).sort_stats("cumulative").print_stats(30)
    print(out.getvalue(), file=sys.stderr)
counts = {{}}
for f in fast:
    counts[f.rule] = counts.get(f.rule, 0) + 1
print(json.dumps({{"zones": len(policy.zones), "flows": len(policy.flows), "load": load, "sets": sets,
                  "fast": fast_t, "findings": len(fast), "counts": counts, "rss_fast": rss()}}), flush=True)
cap = {cap}
if cap > 0:
    import signal

    class Capped(Exception):
        pass

    def stop(signum, frame):
        raise Capped()

    # the cap starts with the baseline itself; set operations are short C calls, so the alarm lands
    signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, cap)
    t = clock()
    try:
        naive = find_anomalies_naive(ctx)
        signal.setitimer(signal.ITIMER_REAL, 0)
        naive_t = since(t)
        print(json.dumps({{"naive": naive_t, "same": naive == fast, "rss_naive": rss()}}), flush=True)
    except Capped:
        print(json.dumps({{"naive": None, "rss_naive": rss()}}), flush=True)
"""

VERIFY = r"""
import json, resource, sys, time
sys.path.insert(0, {here!r})
from gen_policy import generate
from zonepolicy import api
from zonepolicy.verify.engine import verify
path = {path!r}
open(path, "w", encoding="utf-8").write(generate({zones}, {flows}, {objects}))
w0, c0 = time.perf_counter(), time.process_time()
policy = api.load_policy(path)
w1, c1 = time.perf_counter(), time.process_time()
report = verify(policy)
w2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({{"load": [w1 - w0, c1 - c0], "verify": [w2 - w1, c2 - c1], "total": [w2 - w0, c2 - c0],
                  "findings": len(report.findings), "rules": len(report.rules),
                  "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def run_child(code: str) -> tuple[list[dict], str]:
    """Run ``code`` in a fresh interpreter; its JSON lines and its stderr."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"child failed:\n{proc.stderr}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")], proc.stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", default=["50:200", "200:2000", "1000:10000", "2000:50000"])
    ap.add_argument("--naive-cap", type=float, default=300.0,
                    help="seconds before the baseline is stopped (0: do not run it)")
    ap.add_argument("--no-verify", action="store_true", help="skip the whole-verification run")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of find_anomalies to stderr")
    ap.add_argument("--no-render", action="store_true",
                    help="findings without witness and rendered set (detection cost alone; implies no baseline)")
    args = ap.parse_args()

    rows = []
    last_naive: tuple[int, float] | None = None  # (flows, CPU s) of the largest finished baseline
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "policy.zp")
        for size in args.sizes:
            zones, flows = (int(x) for x in size.split(":"))
            objects = max(10, zones // 4)
            code = ANALYSIS.format(here=HERE, path=path, zones=zones, flows=flows, objects=objects,
                                   cap=0 if args.no_render else args.naive_cap, profile=args.profile,
                                   no_render=args.no_render)
            lines, err = run_child(code)
            if args.profile:
                print(err, file=sys.stderr)
            row = dict(lines[0])
            naive = lines[1] if len(lines) > 1 else {"naive": None}
            row.update(naive)
            if row["naive"] is not None:
                last_naive = (row["flows"], row["naive"][1])
            else:
                if last_naive is not None:
                    n0, t0 = last_naive
                    row["naive_estimate"] = t0 * (row["flows"] / n0) ** 2
            if not args.no_verify:
                vlines, _ = run_child(VERIFY.format(here=HERE, path=path, zones=zones, flows=flows,
                                                    objects=objects))
                row["verify"] = vlines[0]
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)

    print("| zones | flows | findings (by code) | load s | flow sets + allowed s | anomalies s (CPU) "
          "| naive s (CPU) | naive / fast | same findings | peak RSS MiB (fast / naive) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        fast_cpu = r["fast"][1]
        by_code = ", ".join(f"{k} {v}" for k, v in sorted(r["counts"].items()))
        if r["naive"] is not None:
            naive = f"{r['naive'][0]:.2f} ({r['naive'][1]:.2f})"
            ratio = f"{r['naive'][1] / fast_cpu:.0f}×"
            same = str(r["same"])
            rss = f"{r['rss_fast']:.0f} / {r['rss_naive']:.0f}"
        else:
            est = r.get("naive_estimate")
            capped = args.naive_cap > 0 and not args.no_render
            naive = (f"> {args.naive_cap:g} (est. {est:,.0f} CPU s)" if est else f"> {args.naive_cap:g}") \
                if capped else "not run"
            ratio = f"est. {est / fast_cpu:,.0f}×" if est and capped else "—"
            same = "—"
            rss = f"{r['rss_fast']:.0f} / " + (f"{r['rss_naive']:.0f} (stopped)" if capped else "—")
        print(f"| {r['zones']} | {r['flows']} | {r['findings']} ({by_code}) | {r['load'][0]:.2f} | "
              f"{r['sets'][0]:.2f} | {r['fast'][0]:.2f} ({fast_cpu:.2f}) | {naive} | {ratio} | {same} | {rss} |")
    if not args.no_verify:
        print()
        print("| zones | flows | load s (CPU) | verify s (CPU) | total s (CPU) | findings | peak RSS MiB |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            v = r["verify"]
            print(f"| {r['zones']} | {r['flows']} | {v['load'][0]:.2f} ({v['load'][1]:.2f}) | "
                  f"{v['verify'][0]:.2f} ({v['verify'][1]:.2f}) | {v['total'][0]:.2f} ({v['total'][1]:.2f}) | "
                  f"{v['findings']} | {v['rss']:.0f} |")


if __name__ == "__main__":
    main()
