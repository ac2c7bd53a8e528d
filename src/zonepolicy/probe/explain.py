"""``lab run --explain``: which emitted rule decided each probe, from the kernel's own trace.

nftables: a table of our own adds a raw-priority prerouting chain that sets ``meta nftrace`` on
packets entering from the lab's interfaces that carry a probe marker (see :mod:`.engine`); ``nft monitor trace`` in the firewall namespace prints
every rule a traced packet meets. iptables: a ``TRACE`` rule in the raw table and
``xtables-monitor --trace`` (line-buffered through ``stdbuf``; only packets with a probe marker are traced, and probes are
paced, because the monitor gives up when its socket overflows).

A packet's trace is found by its marker (IPv4 ID or IPv6 flow label, unique per probe in a run).
The deciding rule is the last one that gave a final verdict; our compilers put the flow id first in
every rule's comment (``"<flow> file:line"`` for nftables, ``"flow <flow> file:line"`` for
iptables), which gives ``matched_flow``. Before any probe is sent the tracer waits until a canary
packet shows up in the monitor's output, so the first probes are not lost to a slow start.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
import threading
import time
from typing import Any, Sequence

from .engine import MAGIC, TAG
from .lab import LabError, Topology, _run, tool

TRACE_TABLE = "zp_trace"
CANARY_ID = 1000                 # below the engine's first probe marker
_NFT_LINE = re.compile(r"^trace id (\w+) (\w+) (\S+) (\S+) (.*)$")
_COMMENT = re.compile(r'comment "((?:[^"\\]|\\.)*)"')
_XT_PACKET = re.compile(r"^PACKET: \d+ (\w+) ")
_XT_TRACE = re.compile(r"^ ?TRACE: \d+ (\w+) (\w+):([^:]+):(rule|policy|return):?(\S*)\s*(.*)$")


def flow_of(comment: str | None, flows: Sequence[str]) -> str | None:
    if not comment:
        return None
    words = comment.split()
    if words and words[0] == "flow":
        words = words[1:]
    return words[0] if words and words[0] in flows else None


class _Monitor:
    """A monitor process in the firewall namespace whose output lines are collected by a thread."""

    def __init__(self, cmd: list[str]) -> None:
        self.lines: list[str] = []
        self.last = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            self.last = time.monotonic()

    def wait_for(self, needle: str, timeout: float, poke) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            poke()
            end = time.monotonic() + 0.05
            while time.monotonic() < end:
                if any(needle in line for line in self.lines):
                    return
                time.sleep(0.002)
        raise LabError("the trace monitor did not start (no canary in its output); try again without --explain")

    def quiet(self, settle: float = 0.15, limit: float = 5.0) -> None:
        end = time.monotonic() + limit
        while time.monotonic() - self.last < settle and time.monotonic() < end:
            time.sleep(0.02)
        if self.proc.poll() is not None:
            # xtables-monitor exits when the kernel drops trace events (ENOBUFS): the rules it did
            # not report cannot be told, and a partial answer would look like a complete one
            raise LabError("the trace monitor stopped during the run (too many trace events for it); "
                           "rerun with --explain on a smaller suite or on a less busy machine")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.thread.join(timeout=1)


class Tracer:
    def __init__(self, state: dict[str, Any], topo: Topology, sockets: Sequence[Any]) -> None:
        self.state = state
        self.topo = topo
        self.sockets = sockets
        self.flows = tuple(state.get("flows", ()))
        self.monitor: _Monitor | None = None

    # -- the canary: from one zone to another, through the firewall's prerouting hook
    def _canary_sender(self):
        from ..semantics.packet import UDP, Packet
        from .engine import build

        zones = [(i, z) for i, z in enumerate(self.topo.zones) if z.canary]
        if len(zones) < 2:
            raise LabError("--explain needs two zones with addresses for its canary")
        (si, s), (_, d) = zones[0], next((x for x in zones[1:] if x[1].iface != zones[0][1].iface), zones[1])
        a, b = ipaddress.ip_address(s.canary), ipaddress.ip_address(d.canary)
        if a.version != b.version:
            raise LabError("--explain: the canary zones have addresses of different families")
        wire, *_ = build(Packet(a.version, int(a), int(b), UDP, CANARY_ID, 9), CANARY_ID)
        sock = self.sockets[si].tx4 if a.version == 4 else self.sockets[si].tx6
        dest = (str(b), 0) if a.version == 4 else (str(b), 0, 0, 0)
        needle = f"ip id {CANARY_ID} " if a.version == 4 else f"flowlabel {CANARY_ID} "
        return (lambda: sock.sendto(wire, dest)), needle

    def start(self) -> "Tracer":
        raise NotImplementedError

    def collect(self, by_u: dict[int, Any], matched: dict[str, tuple[str | None, str | None]]) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        if self.monitor is not None:
            self.monitor.stop()
            self.monitor = None


class NftTracer(Tracer):
    def start(self) -> "NftTracer":
        ifaces = ", ".join(f'"{name}"' for name, _, _ in self.topo.interfaces)
        tag = "0x" + TAG.hex()
        # only packets that carry a probe marker: a TCP SYN with the magic sequence half, the tag
        # right after an 8-byte UDP/ICMP header, the SCTP INIT tag, the tag as payload otherwise
        match = [f"tcp sequence & 0xffff0000 == 0x{MAGIC:04x}0000",
                 f"meta l4proto {{ udp, icmp, ipv6-icmp }} @th,64,64 {tag}",
                 f"meta l4proto sctp @th,128,16 0x{MAGIC:04x}",
                 f"meta l4proto != {{ tcp, udp, icmp, ipv6-icmp, sctp }} @th,0,64 {tag}"]
        rules = "".join(f"    iifname {{ {ifaces} }} {m} meta nftrace set 1\n" for m in match)
        self._nft(f"table inet {TRACE_TABLE}\ndelete table inet {TRACE_TABLE}\n"
                  f"table inet {TRACE_TABLE} {{\n  chain pre {{\n"
                  f"    type filter hook prerouting priority raw - 10; policy accept;\n{rules}  }}\n}}\n")
        self.monitor = _Monitor([tool("ip"), "netns", "exec", self.topo.fw_ns, tool("nft"), "monitor", "trace"])
        poke, needle = self._canary_sender()
        self.monitor.wait_for(needle, 5.0, poke)
        return self

    def _nft(self, text: str) -> None:
        _run([tool("ip"), "netns", "exec", self.topo.fw_ns, tool("nft"), "-f", "/dev/stdin"], text,
             what="setting up nft tracing")

    def stop(self) -> None:
        super().stop()
        try:
            self._nft(f"table inet {TRACE_TABLE}\ndelete table inet {TRACE_TABLE}\n")
        except LabError:
            pass

    def collect(self, by_u: dict[int, Any], matched: dict[str, tuple[str | None, str | None]]) -> None:
        assert self.monitor is not None
        self.monitor.quiet()
        marker: dict[str, int] = {}
        verdict: dict[str, tuple[str, str | None]] = {}
        for line in list(self.monitor.lines):
            m = _NFT_LINE.match(line)
            if not m:
                continue
            tid, _, table, chain, rest = m.groups()
            if rest.startswith("packet:"):
                if tid not in marker:
                    mm = re.search(r"\bip id (\d+)\b", rest) or re.search(r"\bflowlabel (\d+)\b", rest)
                    if mm:
                        marker[tid] = int(mm.group(1))
                continue
            if table == TRACE_TABLE:
                continue
            if rest.startswith("rule ") and re.search(r"\(verdict (accept|drop)\)$", rest):
                c = _COMMENT.search(rest)
                comment = c.group(1) if c else None
                rule = comment or f"{table} {chain}: " + re.sub(r" \(verdict \w+\)$", "", rest[5:])
                verdict[tid] = (rule, flow_of(comment, self.flows))
            elif rest.startswith("policy "):
                verdict[tid] = (f"{table} {chain}: {rest}", None)
        for tid, u in marker.items():
            rec = by_u.get(u)
            if rec is not None and tid in verdict and rec.probe.id not in matched:
                matched[rec.probe.id] = verdict[tid]


class IptablesTracer(Tracer):
    def start(self) -> "IptablesTracer":
        self._rules("-I")
        stdbuf = shutil.which("stdbuf")
        cmd = [tool("ip"), "netns", "exec", self.topo.fw_ns] + ([stdbuf, "-oL"] if stdbuf else []) + \
            [tool("xtables-monitor"), "--trace"]
        self.monitor = _Monitor(cmd)
        poke, needle = self._canary_sender()
        needle = f"ID={CANARY_ID} " if "ip id" in needle else f"FLOWLBL={CANARY_ID} "
        self.monitor.wait_for(needle, 5.0, poke)
        return self

    # Probe markers as u32 tests (see the engine): the magic half of a TCP SYN's sequence number,
    # the tag after an 8-byte UDP or ICMP header. IPv6 probes carry no extension headers.
    _MARKED = {
        "iptables-restore": [("tcp", f"0>>22&0x3C@4>>16=0x{MAGIC:04x}"),
                             ("udp", f"0>>22&0x3C@8=0x{TAG[:4].hex()}"), ("icmp", f"0>>22&0x3C@8=0x{TAG[:4].hex()}")],
        "ip6tables-restore": [("tcp", f"44>>16=0x{MAGIC:04x}"), ("udp", f"48=0x{TAG[:4].hex()}"),
                              ("ipv6-icmp", f"48=0x{TAG[:4].hex()}")],
    }

    def _rules(self, op: str) -> None:
        for prog, tests in self._MARKED.items():
            lines = "".join(f'{op} PREROUTING -p {proto} -m u32 --u32 "{test}" -j TRACE\n' for proto, test in tests)
            _run([tool("ip"), "netns", "exec", self.topo.fw_ns, tool(prog), "--noflush"], f"*raw\n{lines}COMMIT\n",
                 what="setting up iptables tracing")

    def stop(self) -> None:
        super().stop()
        try:
            self._rules("-D")
        except LabError:
            pass

    def collect(self, by_u: dict[int, Any], matched: dict[str, tuple[str | None, str | None]]) -> None:
        assert self.monitor is not None
        self.monitor.quiet()
        marker: dict[str, int] = {}
        verdict: dict[str, tuple[str, str | None]] = {}
        for line in list(self.monitor.lines):
            m = _XT_PACKET.match(line)
            if m:
                mm = re.search(r"\bID=(\d+)\b", line) or re.search(r"\bFLOWLBL=(\d+)\b", line)
                if mm and m.group(1) not in marker:
                    marker[m.group(1)] = int(mm.group(1))
                continue
            t = _XT_TRACE.match(line)
            if not t:
                continue
            tid, table, chain, kind, what, rule = t.groups()
            if table != "filter":
                continue
            if kind == "rule" and what.endswith(("ACCEPT", "DROP")):
                c = _COMMENT.search(rule)
                comment = c.group(1) if c else None
                verdict[tid] = (comment or rule.strip(), flow_of(comment, self.flows))
            elif kind == "policy":
                verdict[tid] = (f"{chain} policy {what or rule}".strip(), None)
        for tid, u in marker.items():
            rec = by_u.get(u)
            if rec is not None and tid in verdict and rec.probe.id not in matched:
                matched[rec.probe.id] = verdict[tid]


def start_tracer(state: dict[str, Any], topo: Topology, sockets: Sequence[Any]) -> Tracer:
    cls = NftTracer if state["backend"] == "nftables" else IptablesTracer
    tracer = cls(state, topo, sockets)
    try:
        return tracer.start()
    except BaseException:
        tracer.stop()
        raise
