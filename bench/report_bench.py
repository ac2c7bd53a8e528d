"""HTML report benchmark (target: the Jiangsu report with --verify in under 3 s).

Usage: python bench/report_bench.py [POLICY] [--runs 3]
       python bench/report_bench.py --generate 300:3000   # a synthetic policy (bench/gen_policy.py), phases only

Two measurements of ``zonepolicy report POLICY --verify``:

* the whole command as a user runs it (a fresh ``python -m zonepolicy`` process, interpreter start
  included), wall and CPU time (user + sys of the child), best and median of ``--runs``;
* one in-process run split into phases: load, the matrix cells (meaning included), verification,
  rendering the HTML; wall and CPU seconds each.

The machine may be shared: the load average is printed with the figures; on a busy host compare
CPU seconds, not wall time.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def phases(policy_path: str) -> list[tuple[str, float, float]]:
    from zonepolicy import api
    from zonepolicy.report.cells import pair_cells
    from zonepolicy.report.content import Content, verification
    from zonepolicy.report.html import render
    from zonepolicy.semantics.meaning import Meaning

    out = []
    w, c = _clock()
    policy = api.load_policy(policy_path)
    w1, c1 = _clock()
    out.append(("load", w1 - w, c1 - c))
    meaning = Meaning(policy)
    names, cells = pair_cells(policy, meaning)
    w2, c2 = _clock()
    out.append(("matrix cells", w2 - w1, c2 - c1))
    ver = verification(policy, meaning)
    w3, c3 = _clock()
    out.append(("verify", w3 - w2, c3 - c2))
    html = render(Content(policy=policy, names=names, cells=cells, verification=ver))
    w4, c4 = _clock()
    out.append(("render HTML", w4 - w3, c4 - c3))
    out.append((f"total ({len(html.encode()) / 1e6:.2f} MB of HTML)", w4 - w, c4 - c))
    return out


def command(policy_path: str, runs: int) -> tuple[list[float], list[float]]:
    walls, cpus = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "zonepolicy", "report", policy_path, "--verify",
                            "-o", os.path.join(tmp, "r.html")], check=True, capture_output=True)
            walls.append(time.perf_counter() - t)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return walls, cpus


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("policy", nargs="?", default=os.path.join(ROOT, "examples", "jiangsu", "main.zp"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--generate", metavar="ZONES:FLOWS", help="time a synthetic policy of this size instead")
    args = ap.parse_args()
    if args.generate:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from gen_policy import generate

        zones, flows = (int(x) for x in args.generate.split(":"))
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "generated.zp")
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(generate(zones, flows, zones // 4))
            for name, wall, cpu in phases(path):
                print(f"  {name:<28} wall {wall:6.2f} s   CPU {cpu:6.2f} s")
        return
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    walls, cpus = command(args.policy, args.runs)
    print(f"zonepolicy report --verify: wall best {min(walls):.2f} s, median {statistics.median(walls):.2f} s; "
          f"CPU best {min(cpus):.2f} s, median {statistics.median(cpus):.2f} s ({args.runs} runs)")
    for name, wall, cpu in phases(args.policy):
        print(f"  {name:<28} wall {wall:6.2f} s   CPU {cpu:6.2f} s")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
