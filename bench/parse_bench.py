"""Parse + resolve benchmark at province scale (issue: 2,000 zones and 50,000 flows in < 5 s, < 1 GiB).

Usage: python bench/parse_bench.py [--zones 2000] [--flows 50000] [--objects 500] [--runs 3] [--split]
       python bench/parse_bench.py --aerleon 20000 [--runs 3] [--split]

With --aerleon N the policy is the one bench/aerleon_bench.py compiles at N terms (N one-line flows
with an id each, one address object per network, two zones, one firewall) instead of the province.

Each run is a fresh process (so peak RSS is that run's own) that generates the policy into a
temporary file first, then times only `zonepolicy.api.load` (read, parse, resolve). With --split,
the same process then times the stages again one by one (CPU seconds, collector paused as in
`api.load`): the one-line statement fast path alone, parsing in all (fast path and general parser for
the rest), and resolution.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {here!r})
from zonepolicy import api
if {aerleon}:
    import aerleon_bench
    text = aerleon_bench.zonepolicy_text(aerleon_bench.terms({aerleon}), "nftables")
else:
    from gen_policy import generate
    text = generate({zones}, {flows}, {objects})
path = {path!r}
open(path, "w", encoding="utf-8").write(text)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0, c0 = time.perf_counter(), time.process_time()
loaded = api.load(path)
t1, c1 = time.perf_counter(), time.process_time()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
p = loaded.policy
split = {{}}
if {split!r}:
    import gc
    from zonepolicy.dsl import fastpath, loader, parser
    from zonepolicy.model import resolve
    gc.disable()
    c = time.process_time()
    fastpath.extract_fast_lines(text, path, True)
    split["fast path"] = time.process_time() - c
    c = time.process_time()
    module, _ = parser.parse_text(text, path, lean=True)
    split["parse in all"] = time.process_time() - c
    prelude = loader.read_prelude()
    c = time.process_time()
    resolve.resolve([module], prelude)
    split["resolve"] = time.process_time() - c
print(json.dumps({{"seconds": t1 - t0, "cpu": c1 - c0, "peak_mib": peak / 1024, "rss_before_mib": before / 1024,
                  "zones": len(p.zones), "flows": len(p.flows), "lines": text.count(chr(10)), "split": split}}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zones", type=int, default=2000)
    ap.add_argument("--flows", type=int, default=50000)
    ap.add_argument("--objects", type=int, default=500)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--aerleon", type=int, default=0, metavar="N",
                    help="load the Aerleon comparison policy with N terms instead of the province")
    ap.add_argument("--split", action="store_true", help="also time fast path, general parser and resolve")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "province.zp")
        results = []
        for _ in range(args.runs):
            code = CHILD.format(here=HERE, zones=args.zones, flows=args.flows, objects=args.objects, path=path,
                                split=args.split, aerleon=args.aerleon)
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            results.append(json.loads(out.stdout))
    for r in results:
        print(f"zones={r['zones']} flows={r['flows']} lines={r['lines']}  load {r['seconds']:.2f} s "
              f"(CPU {r['cpu']:.2f} s)  "
              f"peak RSS {r['peak_mib']:.0f} MiB (generator alone {r['rss_before_mib']:.0f} MiB)")
        if r["split"]:
            print("    split (CPU s): " + ", ".join(f"{k} {v:.2f}" for k, v in r["split"].items()))
    best = min(r["seconds"] for r in results)
    cpu = min(r["cpu"] for r in results)
    print(f"best of {len(results)}: {best:.2f} s wall, {cpu:.2f} s CPU")


if __name__ == "__main__":
    main()
