"""Benchmark of the PacketSet engine on first-match ACL equivalence.

Generates N random but real-shaped first-match rules (sites of /16s, /16-/32 and
/48-/128 prefixes, well-known ports and port ranges, ~20 % deny), folds them into a
PacketSet of permitted packets with the reverse fold (last rule first), does the same for
a rewritten but equivalent rule list (split prefixes and port ranges, reordered
independent/same-action neighbours, shadowed duplicates) and for a mutated list (one
middle rule's action flipped), and checks equality. A witness from the mutated
difference is checked against a concrete first-match evaluator, so the numbers come
from a run whose answers were verified.

Each configuration runs in a fresh subprocess so peak RSS is per configuration.

    python bench/packetset_bench.py                      # default matrix
    python bench/packetset_bench.py --rules 1000 3000 --backends oxidd cudd
    python bench/packetset_bench.py --orders             # variable-order comparison
    python bench/packetset_bench.py --shape uniform      # adversarial rules
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, replace

Interval = tuple[int, int]

WELL_KNOWN = [22, 25, 53, 80, 123, 389, 443, 636, 1433, 3306, 3389, 5432, 8080, 8443]
ORDERS = {
    "dst-src-proto-ports": ("family", "dst", "src", "proto", "dport", "sport", "icmp_type", "icmp_code"),
    "src-dst-proto-ports": ("family", "src", "dst", "proto", "dport", "sport", "icmp_type", "icmp_code"),
    "batfish(ports-proto)": ("family", "dst", "src", "dport", "sport", "proto", "icmp_type", "icmp_code"),
}


@dataclass(frozen=True)
class Rule:
    permit: bool
    family: int
    src: Interval
    dst: Interval
    proto: Interval | None
    dport: Interval | None
    sport: Interval | None


def _prefix(rng: random.Random, family: int, sites: list[int]) -> Interval:
    if family == 4:
        base, plen_lo, plen_hi, bits = rng.choice(sites) << 16, 16, 32, 32
    else:
        base, plen_lo, plen_hi, bits = (0x20010DB8 << 96) | (rng.choice(sites) << 80), 48, 128, 128
    plen = rng.choice([plen_lo, plen_lo + 8, plen_hi - 8, plen_hi, rng.randint(plen_lo, plen_hi)])
    host = rng.getrandbits(bits - plen_lo) if bits > plen_lo else 0
    lo = (base | host) >> (bits - plen) << (bits - plen)
    return lo, lo + (1 << (bits - plen)) - 1


def gen_rules(n: int, seed: int, shape: str = "sites") -> list[Rule]:
    """``sites``: prefixes inside 24 /16 sites (overlapping, real-shaped);
    ``uniform``: prefixes anywhere and random port ranges on both ports (adversarial)."""
    rng = random.Random(seed)
    sites = [rng.randrange(1, 1 << 16) for _ in range(24 if shape == "sites" else 4096)]
    rules = []
    for _ in range(n):
        family = 6 if rng.random() < 0.1 else 4
        r = rng.random()
        proto: Interval | None
        if r < 0.6:
            proto = (6, 6)
        elif r < 0.8:
            proto = (17, 17)
        elif r < 0.9:
            proto = (1, 1) if family == 4 else (58, 58)
        else:
            proto = None
        dport = sport = None
        if proto in ((6, 6), (17, 17)):
            r = rng.random()
            if r < 0.6:
                p = rng.choice(WELL_KNOWN)
                dport = (p, p)
            elif r < 0.9:
                lo = rng.randrange(1024, 60000)
                dport = (lo, lo + rng.randrange(1, 5000))
            if shape == "uniform" and rng.random() < 0.3:
                lo = rng.randrange(0, 65000)
                sport = (lo, lo + rng.randrange(0, 500))
            elif rng.random() < 0.1:
                sport = (1024, 65535)
        rules.append(Rule(rng.random() > 0.2, family, _prefix(rng, family, sites),
                          _prefix(rng, family, sites), proto, dport, sport))
    return rules


def _disjoint(a: Rule, b: Rule) -> bool:
    def sep(x: Interval | None, y: Interval | None) -> bool:
        return x is not None and y is not None and (x[1] < y[0] or y[1] < x[0])
    return (a.family != b.family or sep(a.src, b.src) or sep(a.dst, b.dst)
            or sep(a.proto, b.proto) or sep(a.dport, b.dport) or sep(a.sport, b.sport))


def rewrite(rules: list[Rule], seed: int) -> list[Rule]:
    """An equivalent rule list that shares little structure with the original."""
    rng = random.Random(seed + 1)
    out: list[Rule] = []
    for r in rules:
        x = rng.random()
        if x < 0.25 and r.dst[0] != r.dst[1]:  # split destination prefix in halves
            mid = (r.dst[0] + r.dst[1]) // 2
            out += [replace(r, dst=(r.dst[0], mid)), replace(r, dst=(mid + 1, r.dst[1]))]
        elif x < 0.4 and r.dport is not None and r.dport[0] != r.dport[1]:  # split port range
            mid = (r.dport[0] + r.dport[1]) // 2
            out += [replace(r, dport=(mid + 1, r.dport[1])), replace(r, dport=(r.dport[0], mid))]
        elif x < 0.5:  # followed by a shadowed copy with the opposite action
            out += [r, replace(r, permit=not r.permit)]
        else:
            out.append(r)
    for _ in range(len(out)):  # swap neighbours where order cannot matter
        i = rng.randrange(len(out) - 1)
        a, b = out[i], out[i + 1]
        if a.permit == b.permit or _disjoint(a, b):
            out[i], out[i + 1] = b, a
    return out


def matches(r: Rule, p) -> bool:  # concrete first-match semantics, independent of BDDs
    def inside(iv: Interval | None, v: int) -> bool:
        return iv is None or iv[0] <= v <= iv[1]
    if p.family != r.family or not inside(r.src, p.src) or not inside(r.dst, p.dst):
        return False
    if not inside(r.proto, p.proto):
        return False
    return inside(r.dport, p.dport) and inside(r.sport, p.sport)


def permitted(rules: list[Rule], p) -> bool:
    for r in rules:
        if matches(r, p):
            return r.permit
    return False


def fold(rules: list[Rule]):
    from zonepolicy.semantics.packetset import PacketSet
    acc = PacketSet.empty()
    for r in reversed(rules):
        m = PacketSet.build(family=r.family, src=[r.src], dst=[r.dst],
                            proto=None if r.proto is None else [r.proto],
                            dport=None if r.dport is None else [r.dport],
                            sport=None if r.sport is None else [r.sport])
        acc = (acc | m) if r.permit else (acc - m)
    return acc


def worker(backend: str, order: str, n: int, seed: int, shape: str) -> dict:
    from zonepolicy.semantics import _bdd, _engine, packetset
    t0 = time.perf_counter()
    packetset._ENGINE = _engine.Engine(_bdd.make_backend(backend, _engine.NVARS), ORDERS[order])
    t_init = time.perf_counter() - t0
    rules = gen_rules(n, seed, shape)
    rw = rewrite(rules, seed)
    mut = list(rules)
    k = len(mut) // 2
    mut[k] = replace(mut[k], permit=not mut[k].permit)

    # CPU seconds of this (single-threaded) process: robust against other load on the box
    clock = time.process_time
    t0 = clock(); a = fold(rules); t_a = clock() - t0
    t0 = clock(); b = fold(rw); t_b = clock() - t0
    t0 = time.perf_counter(); eq = a == b; t_eq = time.perf_counter() - t0
    t0 = clock(); c = fold(mut); t_c = clock() - t0
    diff = a ^ c
    w = diff.pick()
    if w is not None:  # the witness must really be treated differently
        assert permitted(rules, w) != permitted(mut, w), w
        assert (w in a) == permitted(rules, w)
    for p in a.picks(20) + (~a).picks(20):  # spot-check membership against the oracle
        assert (p in a) == permitted(rules, p), p
    return {
        "backend": backend, "order": order, "shape": shape, "rules": n, "rewritten_rules": len(rw),
        "init_s": round(t_init, 3), "fold_cpu_s": round(t_a, 3), "fold_rewritten_cpu_s": round(t_b, 3),
        "eq_check_s": round(t_eq, 6), "equal": eq, "fold_mutated_cpu_s": round(t_c, 3),
        "mutated_equal": diff.is_empty(),
        "bdd_nodes_result": _bdd_nodes(a), "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }


def _bdd_nodes(s) -> int:
    from zonepolicy.semantics import packetset
    return packetset.engine().b.node_count(s._f)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rules", type=int, nargs="+", default=[1000, 3000])
    ap.add_argument("--backends", nargs="+", default=["oxidd", "oxidd-bdd", "cudd"])
    ap.add_argument("--orders", action="store_true", help="compare variable orders (oxidd only)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--shape", choices=["sites", "uniform"], default="sites")
    ap.add_argument("--worker", nargs=3, metavar=("BACKEND", "ORDER", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], args.worker[1], int(args.worker[2]), args.seed, args.shape)))
        return
    configs = ([("oxidd", o) for o in ORDERS] if args.orders
               else [(b, "dst-src-proto-ports") for b in args.backends])
    cols = ["backend", "order", "shape", "rules", "rewritten_rules", "fold_cpu_s", "fold_rewritten_cpu_s", "eq_check_s",
            "equal", "mutated_equal", "fold_mutated_cpu_s", "bdd_nodes_result", "peak_rss_mb"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for n in args.rules:
        for backend, order in configs:
            proc = subprocess.run([sys.executable, __file__, "--seed", str(args.seed), "--shape", args.shape,
                                   "--worker", backend, order, str(n)],
                                  capture_output=True, text=True, env=os.environ.copy())
            if proc.returncode != 0:
                print(f"| {backend} | {order} | {n} | FAILED: {proc.stderr.strip().splitlines()[-1:]} |")
                continue
            row = json.loads(proc.stdout)
            print("| " + " | ".join(str(row[c]) for c in cols) + " |", flush=True)


if __name__ == "__main__":
    main()
