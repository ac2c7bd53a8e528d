"""Field probing, far side: capture tagged probes, record their arrivals, and serve them to the sender.

Capture is a plain ``AF_PACKET`` socket (all interfaces, or the ones named), which sees packets
before the host's own firewall, so "arrived" means "reached this host's link". Packets the host
sends itself are skipped, and a probe counts only when its tag starts its own payload (see
:mod:`.field_packets`), so ICMP errors quoting a probe are never mistaken for it.

The control channel is a small TCP service on ``port`` (one request line, the answer, close):

* ``HELLO`` — answers ``ZP1 listener`` (the sender checks the listener is up before sending);
* ``ARRIVALS <nonce>`` — answers the arrivals of that run, one JSON object per line.

It may be reached over any path (a management network, an SSH tunnel); it carries no probe
traffic. Without it, ``-o arrivals.jsonl`` keeps the same records in a file.
"""

from __future__ import annotations

import datetime as dt
import json
import select
import signal
import socket
import time
from typing import Callable

from . import field_packets
from .field import ETH_P_ALL, PACKET_OUTGOING, is_local_address

DEFAULT_PORT = 47001

ARRIVAL_KEYS = ("nonce", "probe", "family", "proto", "src", "dst", "sport", "dport", "icmp_type", "icmp_code",
                "iface", "local", "copies", "time")


class Arrivals:
    """Arrivals keyed by (nonce, probe id), in the order they were first seen."""

    def __init__(self, local: Callable[[int, str], bool] = is_local_address) -> None:
        self.records: dict[tuple[str, str], dict] = {}
        self._local = local
        self._local_cache: dict[tuple[int, str], bool] = {}

    def add(self, d: field_packets.Decoded, iface: str, when: float) -> bool:
        """Record ``d`` if it is a probe; True when it is the first copy of that probe seen."""
        tag = d.tag
        if tag is None:
            return False
        key = tag
        if key in self.records:
            self.records[key]["copies"] += 1
            return False
        lk = (d.family, d.dst)
        if lk not in self._local_cache:
            self._local_cache[lk] = self._local(d.family, d.dst)
        rec = {"nonce": tag[0], "probe": tag[1], **d.five_tuple(), "iface": iface,
               "local": self._local_cache[lk], "copies": 1,
               "time": dt.datetime.fromtimestamp(when, dt.timezone.utc).isoformat(timespec="milliseconds")
               .replace("+00:00", "Z")}
        self.records[key] = {k: rec[k] for k in ARRIVAL_KEYS}
        return True

    def of_run(self, nonce: str) -> list[dict]:
        return [r for (n, _), r in self.records.items() if n == nonce]

    def jsonl(self, records: list[dict] | None = None) -> str:
        rs = list(self.records.values()) if records is None else records
        return "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in rs)


def _capture_sockets(ifaces: tuple[str, ...]) -> list[socket.socket]:
    socks = []
    for name in ifaces or (None,):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
        try:
            s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE: bursts must not overflow
        except OSError:
            pass
        if name:
            s.bind((name, 0))
        s.setblocking(False)
        socks.append(s)
    return socks


def _control_socket(port: int) -> socket.socket:
    srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # one socket for IPv4 and IPv6 senders
    srv.bind(("::", port))
    srv.listen(16)
    srv.setblocking(False)
    return srv


def _answer(conn: socket.socket, arrivals: Arrivals) -> None:
    conn.settimeout(2.0)
    try:
        data = b""
        while b"\n" not in data and len(data) < 1024:
            chunk = conn.recv(1024)
            if not chunk:
                break
            data += chunk
        words = data.decode("utf-8", "replace").split()
        if words[:1] == ["HELLO"]:
            conn.sendall(b"ZP1 listener\n")
        elif len(words) == 2 and words[0] == "ARRIVALS":
            conn.sendall(arrivals.jsonl(arrivals.of_run(words[1])).encode("utf-8"))
        else:
            conn.sendall(b"ERROR expected HELLO or ARRIVALS <nonce>\n")
    except OSError:
        pass
    finally:
        conn.close()


def listen(*, ifaces: tuple[str, ...] = (), port: int | None = DEFAULT_PORT, timeout: float | None = None,
           ready: Callable[[str], None] | None = None, on_arrival: Callable[[dict], None] | None = None) -> Arrivals:
    """Capture until ``timeout`` seconds have passed, or SIGINT/SIGTERM; return what arrived."""
    arrivals = Arrivals()
    stop = {"now": False}

    def _stop(signum, frame):  # noqa: ARG001 - signal handler signature
        stop["now"] = True

    old = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    caps = _capture_sockets(ifaces)
    srv = _control_socket(port) if port else None
    names = {s.fileno(): (ifaces[i] if ifaces else None) for i, s in enumerate(caps)}
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        if ready:
            where = ", ".join(ifaces) if ifaces else "all interfaces"
            ready(f"listening on {where}" + (f"; control channel on TCP port {port}" if srv else ""))
        watch = caps + ([srv] if srv else [])
        while not stop["now"]:
            wait = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
            if wait <= 0:
                break
            try:
                readable, _, _ = select.select(watch, [], [], wait)
            except InterruptedError:
                continue
            for s in readable:
                if s is srv:
                    try:
                        conn, _ = srv.accept()
                    except OSError:
                        continue
                    _answer(conn, arrivals)
                    continue
                while True:
                    try:
                        data, addr = s.recvfrom(65535)
                    except (BlockingIOError, InterruptedError):
                        break
                    if addr[2] == PACKET_OUTGOING:
                        continue
                    d = field_packets.decode(data)
                    if d is not None and arrivals.add(d, names[s.fileno()] or addr[0], time.time()):
                        if on_arrival:
                            on_arrival(arrivals.records[d.tag])
    finally:
        for s in caps:
            s.close()
        if srv:
            srv.close()
        for sig, handler in old.items():
            signal.signal(sig, handler)
    return arrivals
