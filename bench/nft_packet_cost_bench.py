"""What a packet pays for a large compiled nftables ruleset (root; throwaway network namespaces).

Usage: sudo python bench/nft_packet_cost_bench.py [--flows 10,20000] [--packets 5000] [--probes 1000]
                                                   [--no-linear]

Topology, all in namespaces this script creates (prefix ``zpcost-<pid>-``) and deletes in ``finally``:

    client ns  192.0.2.2/24 ── lan0 [ firewall ns, forwarding, ruleset ] wan0 ── 198.51.100.2/24 server ns
                                    192.0.2.1/24           198.51.100.1/24

Documentation addresses only (RFC 5737); no packet leaves the namespaces. For each flow count F the
policy is ``allow client -> server : udp/<10000+i>`` for i < F (default deny), compiled for nftables
by ``zonepolicy compile`` and loaded with ``nft -f`` into the firewall namespace. Test traffic goes
to the port of the LAST flow. Every packet comes from a fresh source port, so every one is a new
connection and is judged by the ruleset (packets of an established connection are accepted by the
conntrack rule before any lookup).

* throughput: the client sends ``--packets`` datagrams as fast as it can; the server counts what
  arrives; packets/s = received / time from first to last arrival;
* latency: ``--probes`` request/response round trips (the server echoes; the reply is an
  established packet), median and 99th percentile.

With ``--linear`` (default on) the same F allows are also loaded as a plain chain of F rules
(``ip saddr … ip daddr … udp dport P accept``), what a rule-per-term generator emits: the last
flow's packets then walk the whole chain.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

CLIENT, SERVER, GW_LAN, GW_WAN = "192.0.2.2", "198.51.100.2", "192.0.2.1", "198.51.100.1"

_SERVER = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.settimeout(float(sys.argv[2]))
n, first, last = 0, None, None
print("ready", flush=True)
while True:
    try:
        data, peer = s.recvfrom(2048)
    except socket.timeout:
        break
    now = time.perf_counter()
    first = first or now
    last = now
    n += 1
    if data.startswith(b"P"):
        s.sendto(data, peer)
print(n, (last - first) if n > 1 else 0.0, flush=True)
"""

_CLIENT = r"""
import socket, sys, time
server, port, packets, probes, sport = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]),
                                       int(sys.argv[5]))
def fresh():
    global sport
    sport += 1  # a new source port each time: a new connection (the caller gives each row its own range)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", sport))
    return s
rtts = []
for i in range(probes):
    s = fresh()
    s.settimeout(1.0)
    t = time.perf_counter()
    s.sendto(b"P%d" % i, (server, port))
    try:
        s.recvfrom(64)
        rtts.append(time.perf_counter() - t)
    except socket.timeout:
        pass
    s.close()
t = time.perf_counter()
for i in range(packets):
    s = fresh()
    s.sendto(b"T", (server, port))
    s.close()
print(len(rtts), " ".join("%.1f" % (r * 1e6) for r in rtts), time.perf_counter() - t, flush=True)
"""


def sh(*cmd: str, stdin: str | None = None) -> str:
    proc = subprocess.run(list(cmd), input=stdin, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {proc.stderr.strip()[:500]}")
    return proc.stdout


def policy_text(flows: int) -> str:
    out = ["policy lab { default deny; intrazone allow }",
           "zone client { networks 192.0.2.0/24 }", "zone server { networks 198.51.100.0/24 }"]
    out += [f"allow client -> server : udp/{10000 + i} {{ id f{i} }}" for i in range(flows)]
    out.append("firewall gw { target nftables; interface lan0 -> client; interface wan0 -> server }")
    return "\n".join(out) + "\n"


def linear_ruleset(flows: int) -> str:
    rules = "\n".join(f"        ip saddr 192.0.2.0/24 ip daddr 198.51.100.0/24 udp dport {10000 + i} accept"
                      for i in range(flows))
    return ("table inet zpcost_linear {\n    chain forward {\n"
            "        type filter hook forward priority 0; policy drop;\n"
            "        ct state established,related accept\n"
            f"{rules}\n    }}\n}}\n")


class Lab:
    """Three namespaces joined by two veth pairs; deleted by close() (call it in finally)."""

    def __init__(self) -> None:
        prefix = f"zpcost-{os.getpid()}-"
        self.c, self.fw, self.s = prefix + "c", prefix + "fw", prefix + "s"
        self.made: list[str] = []

    def up(self) -> None:
        for ns in (self.c, self.fw, self.s):
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
        sh("ip", "-n", self.fw, "link", "add", "lan0", "type", "veth", "peer", "name", "eth0", "netns", self.c)
        sh("ip", "-n", self.fw, "link", "add", "wan0", "type", "veth", "peer", "name", "eth0", "netns", self.s)
        for ns, dev, addr in ((self.fw, "lan0", GW_LAN + "/24"), (self.fw, "wan0", GW_WAN + "/24"),
                              (self.c, "eth0", CLIENT + "/24"), (self.s, "eth0", SERVER + "/24")):
            sh("ip", "-n", ns, "addr", "add", addr, "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
        for ns in (self.c, self.fw, self.s):
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", self.c, "route", "add", "default", "via", GW_LAN)
        sh("ip", "-n", self.s, "route", "add", "default", "via", GW_WAN)
        sh("ip", "netns", "exec", self.fw, "sysctl", "-qw", "net.ipv4.ip_forward=1")

    def load(self, text: str) -> None:
        sh("ip", "netns", "exec", self.fw, "nft", "flush", "ruleset")
        sh("ip", "netns", "exec", self.fw, "nft", "-f", "-", stdin=text)
        subprocess.run(["ip", "netns", "exec", self.fw, "conntrack", "-F"], capture_output=True)

    def run(self, port: int, packets: int, probes: int, first_sport: int) -> dict:
        server = subprocess.Popen(["ip", "netns", "exec", self.s, sys.executable, "-c", _SERVER, str(port), "2.0"],
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            server.stdout.readline()  # ready
            out = sh("ip", "netns", "exec", self.c, sys.executable, "-c", _CLIENT, SERVER, str(port),
                     str(packets), str(probes), str(first_sport)).split()
            got, span = server.communicate(timeout=120)[0].split()
        finally:
            if server.poll() is None:
                server.kill()
        answered = int(out[0])
        rtts = sorted(float(x) for x in out[1:1 + answered])
        received = int(got) - answered
        return {"answered": answered, "rtt_median_us": statistics.median(rtts) if rtts else None,
                "rtt_p99_us": rtts[int(0.99 * (len(rtts) - 1))] if rtts else None,
                "received": received, "send_s": float(out[-1]),
                "pps": received / float(span) if float(span) > 0 else None}

    def close(self) -> None:
        for ns in reversed(self.made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--flows", default="10,20000")
    ap.add_argument("--packets", type=int, default=5000)
    ap.add_argument("--probes", type=int, default=1000)
    ap.add_argument("--no-linear", action="store_true")
    args = ap.parse_args()
    if (len(args.flows.split(",")) * (1 if args.no_linear else 2)) * (args.packets + args.probes) > 64000:
        sys.exit("too many packets for distinct source ports: lower --packets or --probes")
    if os.geteuid() != 0:
        sys.exit("needs root for network namespaces")
    print(f"# load average {os.getloadavg()[0]:.1f}; {args.packets} packets, {args.probes} probes per row")
    print("| ruleset | flows | rules in the walk | probes answered | RTT median µs | RTT p99 µs | "
          "sent | received | received pkt/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    lab = Lab()
    sport = 1024  # source ports never reused across rows, so no row meets another row's connections
    try:
        lab.up()
        with tempfile.TemporaryDirectory(prefix="zpcost-") as tmp:
            for flows in (int(x) for x in args.flows.split(",")):
                path = os.path.join(tmp, f"lab{flows}.zp")
                with open(path, "w", encoding="utf-8") as fh:
                    fh.write(policy_text(flows))
                sh(sys.executable, "-m", "zonepolicy", "compile", path, "--target", "nftables",
                   "-o", os.path.join(tmp, f"out{flows}"))
                with open(os.path.join(tmp, f"out{flows}", "gw.nft"), encoding="utf-8") as fh:
                    compiled = fh.read()
                shapes = [("zonepolicy (verdict maps)", compiled, "≤ 6 lookups")]
                if not args.no_linear:
                    shapes.append(("linear chain", linear_ruleset(flows), f"{flows + 1} rules"))
                for name, text, walk in shapes:
                    lab.load(text)
                    r = lab.run(10000 + flows - 1, args.packets, args.probes, sport)
                    sport += args.packets + args.probes
                    med = f"{r['rtt_median_us']:.0f}" if r["rtt_median_us"] else "—"
                    p99 = f"{r['rtt_p99_us']:.0f}" if r["rtt_p99_us"] else "—"
                    pps = f"{r['pps']:,.0f}" if r["pps"] else "—"
                    print(f"| {name} | {flows:,} | {walk} | {r['answered']}/{args.probes} | {med} | {p99} | "
                          f"{args.packets} | {r['received']} | {pps} |", flush=True)
    finally:
        lab.close()


if __name__ == "__main__":
    main()
