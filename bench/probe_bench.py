"""Probe planner, offline simulator and pcap audit: how long they take on the examples.

    python bench/probe_bench.py                 # quickstart and jiangsu
    python bench/probe_bench.py --audit 200000  # packets in the synthetic capture

Times are CPU seconds of this process (``time.process_time``), so load from other jobs on the
machine inflates them less than wall time; ``uptime`` is printed for the record.
"""

from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from zonepolicy import api  # noqa: E402
from zonepolicy.compilers.base import get_compiler, lower  # noqa: E402
from zonepolicy.probe.audit import audit_capture  # noqa: E402
from zonepolicy.probe.plan import Planner  # noqa: E402
from zonepolicy.probe.simulate import iptables_ruleset, nft_ruleset, simulate  # noqa: E402
from zonepolicy.semantics.meaning import Meaning  # noqa: E402


def cpu(fn):
    t = time.process_time()
    out = fn()
    return out, time.process_time() - t


def plan_rows(path: str, firewalls: list[str] | None) -> None:
    policy = api.load_policy(path)
    meaning = Meaning(policy)
    _, t_allowed = cpu(meaning.allowed)
    print(f"\n{path}: {len(policy.zones)} zones, {len(policy.flows)} flows; Meaning.allowed() {t_allowed:.2f} s")
    print(f"{'firewall':<18} {'probes':>7} {'plan s':>7} {'probes/s':>9} {'simulate s':>10} {'sim probes/s':>12}")
    suite, t = cpu(lambda: Planner(policy, None, meaning).plan())
    print(f"{'(whole policy)':<18} {len(suite.probes):>7} {t:>7.2f} {len(suite.probes) / t:>9.0f}")
    decide_row(meaning, [p.packet for p in suite.probes])
    for fw in policy.firewalls:
        if firewalls and fw.name not in firewalls:
            continue
        suite, t = cpu(lambda: Planner(policy, fw, meaning).plan())
        sim = ""
        if fw.target in ("nftables", "iptables"):
            outs = get_compiler(fw.target).render(lower(policy, fw, meaning))
            if fw.target == "nftables":
                rs = nft_ruleset(outs[0].text, fw.name, outs[0].filename)
            else:
                rs = iptables_ruleset([(o.filename, o.text) for o in outs])
            results, ts = cpu(lambda: simulate(suite, rs))
            assert all(r.result == "pass" for r in results)
            sim = f"{ts:>10.2f} {len(results) / ts:>12.0f}"
        print(f"{fw.name:<18} {len(suite.probes):>7} {t:>7.2f} {len(suite.probes) / t:>9.0f} {sim}")


def decide_row(meaning: Meaning, packets: list) -> None:
    """Meaning.decide (zone-pair index) against the plain scan of every flow, on the suite's packets."""
    fresh = Meaning(meaning.policy)  # the index and the pair cache are built inside the timing
    _, t_fast = cpu(lambda: [fresh.decide(p) for p in packets])
    _, t_scan = cpu(lambda: [fresh._decide_by_scan(p) for p in packets])
    n = len(packets)
    print(f"  decide on those {n} packets: {t_fast:.2f} s ({t_fast / n * 1e6:.0f} us/packet); "
          f"plain scan of every flow {t_scan:.2f} s ({t_scan / n * 1e6:.0f} us/packet)")


def audit_row(n: int) -> None:
    """A raw-IP capture of n packets: TCP handshakes between two zones of the quickstart."""
    policy = api.load_policy(str(ROOT / "examples/quickstart/policy.zp"))
    meaning = Meaning(policy)

    def ip4(src: str, dst: str, payload: bytes, proto: int) -> bytes:
        a = bytes(int(x) for x in src.split("."))
        b = bytes(int(x) for x in dst.split("."))
        return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0, 64, proto, 0, a, b) + payload

    def tcp(sport: int, dport: int, flags: int) -> bytes:
        return struct.pack("!HHIIBBHHH", sport, dport, 0, 0, 0x50, flags, 65535, 0, 0)

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "bench.pcap")
        with open(path, "wb") as fh:
            fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
            for i in range(n):
                sport = 1024 + (i // 3) % 60000
                kind = i % 3
                if kind == 0:
                    pkt = ip4("10.10.1.1", "203.0.113.5", tcp(sport, 443, 0x02), 6)
                elif kind == 1:
                    pkt = ip4("203.0.113.5", "10.10.1.1", tcp(443, sport, 0x12), 6)
                else:
                    pkt = ip4("10.10.1.1", "203.0.113.5", tcp(sport, 443, 0x10), 6)
                fh.write(struct.pack("<IIII", 0, 0, len(pkt), len(pkt)) + pkt)
        result, t = cpu(lambda: audit_capture(path, meaning))
    assert result.packets == n and not result.findings
    print(f"\naudit pcap: {n} packets (1/3 openers judged by decide) in {t:.2f} s = {n / t:.0f} packets/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--firewall", action="append", help="only these jiangsu firewalls (default: all)")
    ap.add_argument("--audit", type=int, default=100000, help="packets in the synthetic capture")
    args = ap.parse_args()
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    plan_rows(str(ROOT / "examples/quickstart/policy.zp"), None)
    plan_rows(str(ROOT / "examples/jiangsu/main.zp"), args.firewall)
    audit_row(args.audit)
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
