"""Verification benchmark at province scale (issue target: 2,000 zones, 50,000 flows, < 10 s, < 2 GiB).

Usage: python bench/verify_bench.py [--zones 2000] [--flows 50000] [--objects 500] [--compliant]
                                    [--no-anomalies] [--profile]

One fresh process: generates the synthetic policy (bench/gen_policy.py), then times separately
load (parse + resolve), the meaning (the allowed set), the verifier (rule packs, plus anomalies
unless switched off; the flows' own sets the checks need, every finding's witness and affected set
are drawn here) and the JSON output of the report (what ``zonepolicy verify --format json`` writes).
The verify target counts what comes after load: meaning + verify + output.

Two policy shapes: the default random policy is far from compliant (tens of thousands of findings,
each rendered); ``--compliant`` is a mostly compliant province (a few hundred findings), what a
maintained policy looks like. Report both.

Times are CPU seconds of this process (``time.process_time``) with wall seconds in brackets: the
benchmark host may be shared, and CPU time is what does not depend on the neighbours.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from gen_policy import generate, generate_compliant  # noqa: E402

from zonepolicy import api  # noqa: E402
from zonepolicy.semantics.meaning import Meaning  # noqa: E402
from zonepolicy.verify.engine import verify  # noqa: E402
from zonepolicy.verify.output import OutputOptions, render_json  # noqa: E402


class Clock:
    """CPU and wall time since the last lap."""

    def __init__(self) -> None:
        self.cpu, self.wall = time.process_time(), time.perf_counter()

    def lap(self) -> tuple[float, float]:
        cpu, wall = time.process_time(), time.perf_counter()
        out = (cpu - self.cpu, wall - self.wall)
        self.cpu, self.wall = cpu, wall
        return out


def fmt(t: tuple[float, float]) -> str:
    return f"{t[0]:.2f} ({t[1]:.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zones", type=int, default=2000)
    ap.add_argument("--flows", type=int, default=50000)
    ap.add_argument("--objects", type=int, default=500)
    ap.add_argument("--compliant", action="store_true", help="a mostly compliant policy (see gen_policy.py)")
    ap.add_argument("--no-anomalies", action="store_true")
    ap.add_argument("--profile", action="store_true", help="cProfile of the verify step to stderr")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "province.zp")
        text = (generate_compliant if args.compliant else generate)(args.zones, args.flows, args.objects)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        clock = Clock()
        policy = api.load_policy(path)
        load = clock.lap()
        meaning = Meaning(policy)
        meaning.allowed()
        sets = clock.lap()
        if args.profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
        report = verify(policy, meaning=meaning, anomalies=not args.no_anomalies)
        if args.profile:
            prof.disable()
        checked = clock.lap()
        out = render_json(report, OutputOptions(policy=policy))
        output = clock.lap()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    after = tuple(a + b + c for a, b, c in zip(sets, checked, output))
    shape = "compliant" if args.compliant else "random"
    print(f"{shape} policy: zones={len(policy.zones)} flows={len(policy.flows)} | CPU s (wall s)")
    print(f"load {fmt(load)} | meaning {fmt(sets)} | verify {fmt(checked)} | JSON output {fmt(output)} "
          f"({len(out) / 2**20:.1f} MiB) | after load {fmt(after)} | total {fmt(tuple(a + b for a, b in zip(load, after)))}")
    print(f"{report.summary()} | peak RSS {peak:.0f} MiB")
    if args.profile:
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
