"""Verification benchmark at province scale (issue target: 2,000 zones, 50,000 flows, < 10 s, < 2 GiB).

Usage: python bench/verify_bench.py [--zones 2000] [--flows 50000] [--objects 500] [--no-anomalies]

One fresh process: generates the synthetic policy (bench/gen_policy.py), then times separately
load (parse + resolve), the meaning (every flow's packet set and the allowed set), and the verifier
(rule packs, plus anomalies unless switched off). Reports the number of findings and peak RSS.
The generated policy is random, so it is far from compliant: the finding count is large, and
rendering every finding's packet set is part of the time.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from gen_policy import generate  # noqa: E402

from zonepolicy import api  # noqa: E402
from zonepolicy.semantics.meaning import Meaning  # noqa: E402
from zonepolicy.verify.engine import verify  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zones", type=int, default=2000)
    ap.add_argument("--flows", type=int, default=50000)
    ap.add_argument("--objects", type=int, default=500)
    ap.add_argument("--no-anomalies", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "province.zp")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(generate(args.zones, args.flows, args.objects))
        t0 = time.perf_counter()
        policy = api.load_policy(path)
        t1 = time.perf_counter()
        meaning = Meaning(policy)
        meaning.allowed()
        t2 = time.perf_counter()
        report = verify(policy, meaning=meaning, anomalies=not args.no_anomalies)
        t3 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"zones={len(policy.zones)} flows={len(policy.flows)}")
    print(f"load {t1 - t0:.2f} s | meaning {t2 - t1:.2f} s | verify {t3 - t2:.2f} s | total {t3 - t0:.2f} s")
    print(f"{report.summary()} | peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
