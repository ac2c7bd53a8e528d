"""The socket engine: send a suite through a lab's firewall and see what arrives and what comes back.

One process, no scapy. Per zone namespace: an ``IPPROTO_RAW`` send socket per family and one
``AF_PACKET`` receive socket on ``eth0``, all created while this thread is inside that namespace
(sockets keep the namespace they were made in). Before anything is sent the seal is checked:
every socket's namespace, as the kernel reports it, is a lab namespace and not the host's; the lab
namespaces hold only their own devices; no route points anywhere else.

Packets come from :mod:`.wire` and carry a per-run marker ``u`` so that replies and ICMP quotes
are never taken for probes. Arrival is recognised by the marker and the exact bytes of the
transport header and payload as sent, at the destination zone only.

Verdict = arrival at the destination. Return path = a reply from the probed host seen at the
source: SYN-ACK or RST, echo reply, ICMP destination-unreachable (or IPv6's unrecognised next
header) quoting the probe, from the probed host itself and never from the firewall; SCTP ABORT.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import select
import socket
import struct
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from ..model.values import Action
from ..semantics.packet import ICMP, ICMPV6, PROTOCOL_NAMES, SCTP, TCP, UDP, Packet
from . import netns
from .lab import LabError, Topology, run_dir
from .results import ProbeResult, judge
from .suite import Probe, Suite
from .wire import MAGIC, _Addr, build, build_fast, expects_reply

ETH_P_ALL = 0x0003
SO_ATTACH_FILTER = 26
SO_RCVBUFFORCE = 33
CHUNK = 128                 # sends between two drains of the receive sockets
FIRST_U = 1024              # below: canaries and the ports a suite may use for itself


class SealError(LabError):
    """The engine refused to send: something is not inside the lab."""


# ---------------------------------------------------------------- sockets

def _filter_incoming(sock: socket.socket) -> None:
    """Keep only frames addressed to this host: our own sends (OUTGOING) and flooded frames for
    other bridge ports (OTHERHOST) would double the work and could look like arrivals."""
    import ctypes

    prog = [(0x20, 0, 0, 0xFFFFF004),     # A = pkttype
            (0x15, 2, 0, 4),               # OUTGOING -> drop
            (0x15, 1, 0, 3),               # OTHERHOST -> drop
            (0x06, 0, 0, 0x40000),         # accept
            (0x06, 0, 0, 0)]               # drop
    raw = b"".join(struct.pack("HBBI", *ins) for ins in prog)
    buf = ctypes.create_string_buffer(raw)
    fprog = struct.pack("HL", len(prog), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


@dataclass
class ZoneSockets:
    zone: str
    ns: str
    index: int
    tx4: socket.socket
    tx6: socket.socket
    rx: socket.socket

    def all(self) -> list[socket.socket]:
        return [self.tx4, self.tx6, self.rx]

    def close(self) -> None:
        for s in self.all():
            s.close()


def open_zone_sockets(ns: str, zone: str, index: int) -> ZoneSockets:
    with netns.inside(ns):
        tx4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        tx6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
        # protocol 0 first: the socket hears nothing until bind, and binding an unhooked socket
        # does not wait for an RCU grace period (re-binding a listening one costs ~15 ms)
        rx = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, 0)
        try:
            _filter_incoming(rx)
            rx.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20)
            rx.setblocking(False)
            rx.bind(("eth0", ETH_P_ALL))
        except OSError:
            for s in (tx4, tx6, rx):
                s.close()
            raise
    return ZoneSockets(zone, ns, index, tx4, tx6, rx)


def close_all(socks: Sequence[ZoneSockets]) -> None:
    """Close in parallel: each packet socket waits for an RCU grace period when it closes."""
    import threading

    threads = [threading.Thread(target=zs.close) for zs in socks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def check_seal(topo: Topology, sockets: Sequence[ZoneSockets]) -> None:
    """Refuse unless every socket and every lab namespace is sealed inside the lab."""
    roots = netns.root_netns_inodes() | {netns.thread_netns_inode()}
    lab = {}
    for n in topo.namespaces():
        try:
            lab[n] = netns.inode_of_path(netns.ns_path(n))
        except OSError:
            raise SealError(f"lab namespace {n} is missing; bring the lab up again") from None
        if lab[n] in roots:
            raise SealError(f"{n} is the host's network namespace, not a lab namespace")
    for zs in sockets:
        for s in zs.all():
            ino = netns.socket_netns_inode(s)
            if ino in roots:
                raise SealError(f"refusing to send: a socket for zone {zs.zone} is in the host's network namespace")
            if ino != lab.get(zs.ns):
                raise SealError(f"refusing to send: a socket for zone {zs.zone} is not in its lab namespace {zs.ns}")
    allowed = {topo.fw_ns: topo.fw_devices()}
    allowed.update({z.ns: {"lo", "eth0"} for z in topo.zones})
    for n, devs in allowed.items():
        with netns.inside(n):
            extra = set(netns.link_names()) - devs
            routes = netns.route_devices() - devs
        if extra:
            raise SealError(f"refusing to send: namespace {n} holds devices that are not the lab's: {sorted(extra)}")
        if routes:
            raise SealError(f"refusing to send: namespace {n} routes through devices outside the lab: {sorted(routes)}")


# ---------------------------------------------------------------- running a suite

@dataclass
class _Sent:
    index: int              # position in the suite
    probe: Probe
    packet: Packet          # the suite's packet; on the wire its source port is ``u``
    u: int
    wire: bytes
    l4: bytes
    src: bytes
    dst: bytes
    src_zi: int
    dst_zi: int
    arrived: bool = False
    reply: str | None = None


def _plan(topo: Topology, probes: Sequence[Probe], addr: _Addr) -> tuple[list[tuple[Probe, str | None]], dict[str, int]]:
    """Each probe with the reason it cannot be sent here (None: it can), and zone -> index."""
    zi = {z.zone: i for i, z in enumerate(topo.zones)}
    iface = {z.zone: z.iface for z in topo.zones}
    out = []
    for p in probes:
        s, d = iface.get(p.src_zone), iface.get(p.dst_zone)
        why = None
        if s is None or d is None:
            why = f"zone {p.src_zone if s is None else p.dst_zone} is not behind this firewall"
        elif s == d:
            why = "source and destination are behind the same interface (the probe does not cross the firewall)"
        else:
            for a in (p.packet.src, p.packet.dst):
                _, text, ok, _ = addr(p.packet.family, a)
                if not ok:
                    why = f"address {text} cannot be forwarded by any kernel"
        out.append((p, why))
    return out, zi


def _add_addresses(topo: Topology, sendable: Sequence[Probe], addr: _Addr) -> None:
    per_zone: dict[str, set[tuple[int, bytes]]] = {}
    for p in sendable:
        f = p.packet.family
        for zone, a in ((p.src_zone, p.packet.src), (p.dst_zone, p.packet.dst)):
            per_zone.setdefault(zone, set()).add((f, addr(f, a)[0]))
    for zone, addrs in sorted(per_zone.items()):
        node = topo.zone(zone)
        assert node is not None
        with netns.inside(node.ns):
            netns.add_addresses(socket.if_nametoindex("eth0"), sorted(addrs))


class Run:
    """One run of a suite against a live lab (see :func:`run_suite`)."""

    def __init__(self, state: dict[str, Any], suite: Suite, settle_ms: int = 50, explain: bool = False,
                 progress: Callable[[int, int], None] | None = None, pace_us: int = 0) -> None:
        self.state = state
        self.topo = Topology.from_dict(state["topology"])
        self.suite = suite
        self.settle = settle_ms / 1000.0
        self.explain = explain
        self.progress = progress
        self.pace = pace_us / 1e6
        self.sockets: list[ZoneSockets] = []
        self.by_u: dict[int, _Sent] = {}
        self.matched: dict[str, tuple[str | None, str | None]] = {}
        self.addr = _Addr()
        self.not_sent: dict[str, str] = {}     # probe id -> why this lab cannot send it

    def execute(self) -> list[ProbeResult]:
        topo = self.topo
        planned, zi = _plan(topo, self.suite.probes, self.addr)
        sendable = [p for p, why in planned if why is None]
        started = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
        sent: dict[int, _Sent] = {}
        if sendable:
            _add_addresses(topo, sendable, self.addr)
            try:
                self.sockets = [open_zone_sockets(z.ns, z.zone, i) for i, z in enumerate(topo.zones)]
                check_seal(topo, self.sockets)
                with netns.inside(topo.fw_ns):
                    netns.flush_conntrack()
                sent = self._send_all(planned, zi)
            finally:
                close_all(self.sockets)
                self.sockets = []
        self.not_sent = {p.id: why for p, why in planned if why is not None}
        return [self._result(i, p, why, sent.get(i), started) for i, (p, why) in enumerate(planned)]

    def _ports(self) -> list[int]:
        used = {p.packet.dport for p in self.suite.probes}
        return [u for u in range(FIRST_U, 65536) if u not in used]

    def _send_all(self, planned: list[tuple[Probe, str | None]], zi: dict[str, int]) -> dict[int, _Sent]:
        ports = self._ports()
        todo = [i for i, (_, why) in enumerate(planned) if why is None]
        out: dict[int, _Sent] = {}
        total, done = len(todo), 0
        for start in range(0, len(todo), len(ports)):
            batch = todo[start:start + len(ports)]
            if start:
                with netns.inside(self.topo.fw_ns):
                    netns.flush_conntrack()   # the markers are reused: start from a clean table
            self.by_u = {}
            addr = self.addr
            for u, i in zip(ports, batch):
                probe = planned[i][0]
                pk = probe.packet
                s, _, _, ssum = addr(pk.family, pk.src)
                d, _, _, dsum = addr(pk.family, pk.dst)
                fast = build_fast(pk, u, s, d, ssum, dsum)
                wire, l4 = fast if fast is not None else build(pk, u, s, d)[:2]
                rec = _Sent(i, probe, pk, u, wire, l4, s, d, zi[probe.src_zone], zi[probe.dst_zone])
                self.by_u[u] = rec
                out[i] = rec
            tracer = None
            if self.explain:
                from .explain import start_tracer

                tracer = start_tracer(self.state, self.topo, self.sockets)
            try:
                done = self._send_batch(list(self.by_u.values()), done, total, tracer is not None)
                if tracer is not None:
                    tracer.collect(self.by_u, self.matched)
            finally:
                if tracer is not None:
                    tracer.stop()
        return out

    def _send_batch(self, batch: list[_Sent], done: int, total: int, paced: bool) -> int:
        socks = self.sockets
        poller = select.poll()
        fd_zone = {}
        for zs in socks:
            poller.register(zs.rx.fileno(), select.POLLIN)
            fd_zone[zs.rx.fileno()] = zs
        pace = self.pace or (50e-6 if paced else 0.0)   # trace monitors lose events under bursts
        for n, rec in enumerate(batch, 1):
            zs = socks[rec.src_zi]
            dst = self.addr(rec.packet.family, rec.packet.dst)[1]
            if rec.packet.family == 4:
                zs.tx4.sendto(rec.wire, (dst, 0))
            else:
                zs.tx6.sendto(rec.wire, (dst, 0, 0, 0))
            if pace:
                time.sleep(pace)
            if n % CHUNK == 0:
                self._drain_all()
                if self.progress:
                    self.progress(done + n, total)
        done += len(batch)
        if self.progress:
            self.progress(done, total)
        last = time.monotonic()
        while True:
            wait = self.settle - (time.monotonic() - last)
            if wait <= 0:
                break
            events = poller.poll(wait * 1000)
            if events:
                for fd, _ in events:
                    if self._drain(fd_zone[fd]):
                        last = time.monotonic()
        return done

    def _drain_all(self) -> None:
        for zs in self.sockets:
            self._drain(zs)

    def _drain(self, zs: ZoneSockets) -> int:
        seen = 0
        recv = zs.rx.recv
        while True:
            try:
                d = recv(65536)
            except BlockingIOError:
                return seen
            if self._handle(zs.index, d):
                seen += 1

    def _handle(self, zi: int, d: bytes) -> bool:
        if len(d) < 20:
            return False
        v = d[0] >> 4
        if v == 4:
            hl = (d[0] & 15) * 4
            proto, src, dst, ident = d[9], d[12:16], d[16:20], (d[4] << 8) | d[5]
        elif v == 6 and len(d) >= 40:
            hl = 40
            proto, src, dst, ident = d[6], d[8:24], d[24:40], ((d[1] & 15) << 16) | (d[2] << 8) | d[3]
        else:
            return False
        rec = self.by_u.get(ident)
        if rec is not None and zi == rec.dst_zi and src == rec.src and dst == rec.dst and \
                proto == rec.packet.proto and d[hl:] == rec.l4:
            rec.arrived = True
            return True
        l4 = d[hl:]
        if proto == TCP and len(l4) >= 20:
            sport, dport, _, ack, _, flags = struct.unpack_from("!HHIIBB", l4)
            rec = self.by_u.get(dport)
            if rec is not None and rec.packet.proto == TCP and zi == rec.src_zi and src == rec.dst and \
                    dst == rec.src and sport == rec.packet.dport and ack == ((MAGIC << 16) | dport) + 1:
                if flags & 0x04:
                    rec.reply = rec.reply or "reset"
                    return True
                if flags & 0x12 == 0x12:
                    rec.reply = "syn-ack"
                    return True
            return False
        if proto == SCTP and len(l4) >= 12:
            sport, dport = struct.unpack_from("!HH", l4)
            rec = self.by_u.get(dport)
            if rec is not None and rec.packet.proto == SCTP and zi == rec.src_zi and src == rec.dst and \
                    dst == rec.src and sport == rec.packet.dport:
                rec.reply = "reset"
                return True
            return False
        if (proto == ICMP and v == 4) or (proto == ICMPV6 and v == 6):
            if len(l4) < 8:
                return False
            itype = l4[0]
            if itype == (0 if v == 4 else 129):           # echo reply
                rec = self.by_u.get((l4[4] << 8) | l4[5])
                if rec is not None and zi == rec.src_zi and src == rec.dst and dst == rec.src and \
                        rec.packet.proto == proto and l4[8:] == rec.l4[8:]:
                    rec.reply = "echo-reply"
                    return True
                return False
            # destination unreachable quoting the probe; for IPv6 also parameter problem code 1
            # (unrecognised next header), which is IPv6's "protocol unreachable" (RFC 4443 3.4)
            if itype == (3 if v == 4 else 1) or (v == 6 and itype == 4 and l4[1] == 1):
                q = l4[8:]
                if v == 4 and len(q) >= 20 and q[0] >> 4 == 4:
                    qid, qsrc, qdst = (q[4] << 8) | q[5], q[12:16], q[16:20]
                elif v == 6 and len(q) >= 40 and q[0] >> 4 == 6:
                    qid, qsrc, qdst = ((q[1] & 15) << 16) | (q[2] << 8) | q[3], q[8:24], q[24:40]
                else:
                    return False
                rec = self.by_u.get(qid)
                # only the probed host's own answer counts: one from the firewall proves no return path
                if rec is not None and zi == rec.src_zi and qsrc == rec.src and qdst == rec.dst and \
                        src == rec.dst and dst == rec.src:
                    rec.reply = rec.reply or "icmp-unreachable"
                    return True
        return False

    def _result(self, i: int, probe: Probe, why: str | None, rec: _Sent | None, started: str) -> ProbeResult:
        site = self.state["firewall"]
        rule, flow = self.matched.get(probe.id, (None, None))
        observed: Action | None
        replied: bool | None = None
        if rec is None:
            observed, reason = None, "not-sent"
            five = probe.five_tuple()
        else:
            pk = rec.packet
            if pk.proto in (TCP, UDP, SCTP):   # as sent: with the run's source port
                five = (f"{PROTOCOL_NAMES[pk.proto]} {self.addr(pk.family, pk.src)[1]}:{rec.u} -> "
                        f"{self.addr(pk.family, pk.dst)[1]}:{pk.dport}")
            else:
                five = probe.five_tuple()
            if rec.arrived:
                observed = Action.ALLOW
                if rec.reply:
                    reason, replied = rec.reply, True
                elif probe.stateful and expects_reply(rec.packet) and probe.expected is Action.ALLOW:
                    reason, replied = "no-reply", False
                else:
                    reason = "arrived"
            else:
                observed, reason = Action.DENY, "not-arrived"
        result = judge(probe, observed, reason, replied=replied)
        return ProbeResult(probe=probe.id, site=site, src_zone=probe.src_zone, dst_zone=probe.dst_zone,
                           five_tuple=five, expected=probe.expected.value,
                           observed=observed.value if observed is not None else None, reason=reason,
                           result=result, expected_flow=probe.flow, matched_rule=rule, matched_flow=flow,
                           timestamp=started, policy_hash=self.suite.policy_hash)


def run_suite(state: dict[str, Any], suite: Suite, settle_ms: int = 50, explain: bool = False,
              progress: Callable[[int, int], None] | None = None,
              not_sent: dict[str, str] | None = None) -> list[ProbeResult]:
    """Send every probe of ``suite`` through the lab described by ``state``; one result per probe.

    ``not_sent``, when given, receives why each probe that was not sent could not be (probe id -> text).
    """
    if suite.firewall is not None and suite.firewall != state["firewall"]:
        raise LabError(f"the suite was planned for firewall {suite.firewall}, but lab {state['name']} runs "
                       f"{state['firewall']}; hint: bring up a lab for {suite.firewall}")
    if os.geteuid() != 0:
        raise LabError("sending probes needs root (raw and packet sockets in the lab's namespaces)")
    with _exclusive(state["name"]):
        run = Run(state, suite, settle_ms, explain, progress)
        results = run.execute()
    if not_sent is not None:
        not_sent.update(run.not_sent)
    return results


@contextlib.contextmanager
def _exclusive(name: str) -> Iterator[None]:
    """One run per lab at a time: two runs would flush each other's connection tracking."""
    import fcntl

    os.makedirs(run_dir(), mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(run_dir(), f"lab-{name}.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LabError(f"lab {name} is busy with another run; wait for it to finish") from None
        yield
    finally:
        os.close(fd)


def tty_progress() -> Callable[[int, int], None] | None:
    """A progress line on stderr, only for a person watching (never in logs or CI output)."""
    if not sys.stderr.isatty():
        return None
    last = [0.0]

    def show(done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - last[0] > 0.2:
            last[0] = now
            sys.stderr.write(f"\rsent {done}/{total} probes" + ("\n" if done == total else ""))
            sys.stderr.flush()
    return show


# ---------------------------------------------------------------- readiness canary

def canary(topo: Topology, policy: Any, deadline: float) -> None:
    """From the firewall namespace, one packet to every zone that has an address; each must arrive.

    Sent on the firewall's own output path, so no ruleset decides it: it proves the links, the
    routes and the static neighbours, not the policy.
    """
    zones = [z for z in topo.zones if z.canary]
    if not zones:
        return
    rx = {}
    try:
        for z in zones:
            rx[z.ns] = open_zone_sockets(z.ns, z.zone, 0)
        with netns.inside(topo.fw_ns):
            tx4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
            tx6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
        try:
            check_seal(topo, list(rx.values()))
            roots = netns.root_netns_inodes()
            if netns.socket_netns_inode(tx4) in roots or netns.socket_netns_inode(tx6) in roots:
                raise SealError("refusing to send the canary from the host's network namespace")
            want = {}
            for k, z in enumerate(zones, 1):
                a = ipaddress.ip_address(z.canary)
                src = ipaddress.ip_address("169.254.0.2" if a.version == 4 else "2001:db8::2")
                # an echo reply: the zone's stack ignores it, so the canary causes no traffic back
                pk = Packet(a.version, int(src), int(a), ICMP if a.version == 4 else ICMPV6,
                            icmp_type=0 if a.version == 4 else 129)
                wire, l4, _, _ = build(pk, k)
                want[z.ns] = l4
                if a.version == 4:
                    tx4.sendto(wire, (z.canary, 0))
                else:
                    tx6.sendto(wire, (z.canary, 0, 0, 0))
            while want:
                for ns in list(want):
                    try:
                        while True:
                            d = rx[ns].rx.recv(65536)
                            hl = (d[0] & 15) * 4 if d[0] >> 4 == 4 else 40
                            if d[hl:] == want[ns]:
                                del want[ns]
                                break
                    except BlockingIOError:
                        pass
                if want and time.monotonic() > deadline:
                    names = sorted(z.zone for z in zones if z.ns in want)
                    raise LabError(f"lab not ready: the canary did not reach zone(s) {', '.join(names)}")
                if want:
                    time.sleep(0.001)
        finally:
            tx4.close()
            tx6.close()
    finally:
        close_all(list(rx.values()))
