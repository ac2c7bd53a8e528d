"""``lab run --explain``: which emitted rule decided each probe, from the kernel's own trace.

A table of our own adds a raw-priority prerouting chain that sets ``meta nftrace`` on packets
entering from the lab's interfaces that carry a probe marker (see :mod:`.engine`); ``nft -a monitor
trace`` in the firewall namespace prints every rule a traced packet meets, with its handle. This
serves both back ends: iptables-nft rules are nftables rules too. Their comments are not printed,
so for the iptables back end each handle is mapped to the rule ``iptables-save`` lists at the same
place of the same chain. (``xtables-monitor --trace`` was tried first: it reports every rule a
packet is compared with, not only the matching ones, so probes must be paced hard, and version
1.8.9 exits on rules it cannot parse back.)

A packet's trace is found by its marker (IPv4 ID or IPv6 flow label, unique per probe in a run).
The deciding rule is the last one that gave a final verdict; our compilers put the flow id first in
every rule's comment (``"<flow> file:line"`` for nftables, ``"flow <flow> file:line"`` for
iptables), which gives ``matched_flow``. Before any probe is sent the tracer waits until a canary
packet shows up in the monitor's output, so the first probes are not lost to a slow start.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
import tempfile
import threading
import time
from typing import Any, Sequence

from .wire import MAGIC, TAG
from .lab import LabError, Topology, _run, tool

TRACE_TABLE = "zp_trace"
CANARY_ID = 1000                 # below the engine's first probe marker
_NFT_LINE = re.compile(r"^trace id (\w+) (\w+) (\S+) (\S+) (.*)$")
_COMMENT = re.compile(r'comment "((?:[^"\\]|\\.)*)"')


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
        self.errors = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.errors, text=True, bufsize=1)
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
            # the monitor gave up (its socket overflowed, say): the rules it did not report cannot be
            # told, and a partial answer would look like a complete one
            self.errors.seek(0)
            said = " ".join(self.errors.read().split())[-200:]
            raise LabError(f"the trace monitor stopped during the run ({said or 'no message'}); rerun with "
                           "--explain on a smaller suite or on a less busy machine")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.thread.join(timeout=1)
        self.errors.close()


class Tracer:
    """The trace table and the monitor for one batch of probes."""

    def __init__(self, state: dict[str, Any], topo: Topology, sockets: Sequence[Any]) -> None:
        self.state = state
        self.topo = topo
        self.sockets = sockets
        self.flows = tuple(state.get("flows", ()))
        self.monitor: _Monitor | None = None
        self.saved: dict[tuple[str, int], str] = {}

    # -- the canary: from one zone to another, through the firewall's prerouting hook
    def _canary_sender(self):
        from ..semantics.packet import UDP, Packet
        from .wire import build

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
        self.saved = self._iptables_rules() if self.state["backend"] == "iptables" else {}
        self.monitor = _Monitor([tool("ip"), "netns", "exec", self.topo.fw_ns, tool("nft"), "-a", "monitor", "trace"])
        poke, needle = self._canary_sender()
        self.monitor.wait_for(needle, 5.0, poke)
        return self

    def _iptables_rules(self) -> dict[tuple[str, int], str]:
        """(family, handle) -> the iptables rule at that place, as ``iptables-save`` prints it."""
        out: dict[tuple[str, int], str] = {}
        for family, save in (("ip", "iptables-save"), ("ip6", "ip6tables-save")):
            exec_ = [tool("ip"), "netns", "exec", self.topo.fw_ns]
            try:
                listed = _run(exec_ + [tool("nft"), "-a", "list", "table", family, "filter"], what="listing rules")
                saved = _run(exec_ + [tool(save), "-t", "filter"], what=save)
            except LabError:
                continue      # no table of this family loaded
            handles: dict[str, list[int]] = {}
            chain = None
            for line in listed.splitlines():
                m = re.match(r'\s*chain "?([^"\s]+)"? \{', line)
                if m:
                    chain = m.group(1)
                    continue
                found = re.search(r"# handle (\d+)$", line)
                if found and chain is not None:
                    handles.setdefault(chain, []).append(int(found.group(1)))
            rules: dict[str, list[str]] = {}
            for line in saved.splitlines():
                m = re.match(r"-A (\S+) ", line)
                if m:
                    rules.setdefault(m.group(1), []).append(line)
            for name, hs in handles.items():
                for handle, rule in zip(hs, rules.get(name, ())):
                    out[(family, handle)] = rule
        return out

    def _nft(self, text: str) -> None:
        _run([tool("ip"), "netns", "exec", self.topo.fw_ns, tool("nft"), "-f", "/dev/stdin"], text,
             what="setting up nft tracing")

    def stop(self) -> None:
        if self.monitor is not None:
            self.monitor.stop()
            self.monitor = None
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
            tid, family, table, chain, rest = m.groups()
            if rest.startswith("packet:"):
                if tid not in marker:
                    mm = re.search(r"\bip id (\d+)\b", rest) or re.search(r"\bflowlabel (\d+)\b", rest)
                    if mm:
                        marker[tid] = int(mm.group(1))
                continue
            if table == TRACE_TABLE:
                continue
            if rest.startswith("rule ") and re.search(r"\(verdict (accept|drop)\)$", rest):
                text = re.sub(r"\s*\(verdict \w+\)$", "", rest[5:])
                h = re.search(r"\s*# handle (\d+)$", text)
                saved = self.saved.get((family, int(h.group(1)))) if h else None
                text = text[:h.start()] if h else text
                c = _COMMENT.search(saved or text)
                comment = c.group(1) if c else None
                rule = comment or saved or f"{table} {chain}: {text.strip()}"
                verdict[tid] = (rule, flow_of(comment, self.flows))
            elif rest.startswith("policy "):
                verdict[tid] = (f"{table} {chain}: {rest}", None)
        for tid, u in marker.items():
            rec = by_u.get(u)
            if rec is not None and tid in verdict and rec.probe.id not in matched:
                matched[rec.probe.id] = verdict[tid]


def start_tracer(state: dict[str, Any], topo: Topology, sockets: Sequence[Any]) -> Tracer:
    tracer = Tracer(state, topo, sockets)
    try:
        return tracer.start()
    except BaseException:
        tracer.stop()
        raise
