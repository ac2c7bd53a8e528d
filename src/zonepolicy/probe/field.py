"""Field probing, sender side: send a suite's probes from a tester's host and judge what happened.

Design (see docs/probes.md, "Field testing"):

* **Safety first.** Before a socket is opened, every selected probe passes the interlock: the suite
  was planned from this policy (same :func:`~zonepolicy.probe.suite.policy_hash`); its destination
  lies in a zone the policy declares, and the zone agrees with the suite; destinations in the
  catch-all (``networks any``) zone need ``allow_internet``; sources must be this host's own
  addresses unless ``spoof``. One refusal refuses the whole run: nothing is sent.
* **Tagged probes.** Each probe carries ``ZP1 <nonce> <id>`` (:mod:`.field_packets`) and gets a
  fresh source port and IPv4 ID / echo identifier per run, so connection tracking carries nothing from one probe
  or run to the next and replies can be matched to their probe.
* **Two kinds of evidence.** Arrivals come from the listener (``zonepolicy probe listen``) over its
  control channel; replies (SYN-ACK, RST, echo reply, ICMP unreachable) are captured here, on an
  ``AF_PACKET`` socket opened before the first probe leaves, so no reply can be missed by a late
  start.

Scapy only builds the bytes; sending uses raw IP sockets (``IPPROTO_RAW``), which need root (or
CAP_NET_RAW) and live in the network namespace of the process that opened them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import select
import socket
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Sequence

from ..errors import UsageError
from ..model.values import Action
from ..semantics.meaning import Meaning
from ..semantics.packet import ICMP_PROTOCOLS, PORT_PROTOCOLS, TCP, Packet
from . import field_packets
from .results import ProbeResult, judge
from .suite import Probe, Suite, policy_hash

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SPORT_BASE, SPORT_SPAN = 20000, 40000   # source ports a run hands out, one per probe
DEFAULT_RATE = 100.0
CONTROL_TIMEOUT = 5.0


# ------------------------------------------------------------------------ rate limit

class TokenBucket:
    """At most ``burst + rate * t`` sends in any ``t`` seconds."""

    def __init__(self, rate: float, burst: int = 1, *, clock: Callable[[], float] = time.monotonic) -> None:
        if not rate > 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.burst = max(1, int(burst))
        self.clock = clock
        self.tokens = float(self.burst)
        self.stamp = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_time(self) -> float:
        """Seconds until a token is available (0 when one is)."""
        self._refill()
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> bool:
        self._refill()
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


# ------------------------------------------------------------------------ interlock

@dataclass(frozen=True, slots=True)
class Sent:
    probe: Probe          # with the source port this run gave it
    ident: int
    tag: bytes
    key: tuple
    when: float | None = None   # time.time() when it left


def select_probes(suite: Suite, from_zone: str, to_zones: Sequence[str] = ()) -> list[Probe]:
    chosen = [p for p in suite.probes if p.src_zone == from_zone and (not to_zones or p.dst_zone in to_zones)]
    if not chosen:
        zones = sorted({p.src_zone for p in suite.probes})
        extra = f" to {', '.join(to_zones)}" if to_zones else ""
        raise UsageError(f"the suite has no probes from zone '{from_zone}'{extra}; "
                         f"zones it sends from: {', '.join(zones) or 'none'}")
    return chosen


def is_local_address(family: int, address: str) -> bool:
    """True when ``address`` belongs to this host (in this network namespace): binding to it works."""
    sock = socket.socket(socket.AF_INET if family == 4 else socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        sock.bind((address, 0))
        return True
    except OSError:
        return False
    finally:
        sock.close()


def interlock(meaning: Meaning, suite: Suite, probes: Iterable[Probe], *, allow_internet: bool, spoof: bool,
              local: Callable[[int, str], bool] = is_local_address) -> list[str]:
    """Why each refused probe may not be sent (empty: all may)."""
    policy = meaning.policy
    refusals: list[str] = []
    if suite.policy_hash != policy_hash(policy):
        refusals.append(f"the suite was planned from another version of the policy (policy_hash "
                        f"{suite.policy_hash[:12] or 'missing'} != {policy_hash(policy)[:12]}); hint: plan it again "
                        f"with `zonepolicy probe plan`")
        return refusals
    catch_all = {z.name for z in policy.zones if z.is_any}
    local_cache: dict[tuple[int, str], bool] = {}
    for p in probes:
        pk = p.packet
        dst, src = str(pk.dst_ip), str(pk.src_ip)
        dz = meaning.zone_of(pk.family, pk.dst)
        sz = meaning.zone_of(pk.family, pk.src)
        if dz is None:
            refusals.append(f"{p.id}: destination {dst} is outside every network the policy declares")
        elif dz in catch_all and not allow_internet:
            refusals.append(f"{p.id}: destination {dst} is in the catch-all zone '{dz}' (the internet); "
                            f"hint: pass --allow-internet if sending there is intended and permitted")
        elif dz != p.dst_zone:
            refusals.append(f"{p.id}: destination {dst} is in zone '{dz}', the suite says '{p.dst_zone}'; "
                            f"hint: plan the suite again")
        if sz != p.src_zone:
            refusals.append(f"{p.id}: source {src} is in zone '{sz}', the suite says '{p.src_zone}'")
        if not spoof:
            k = (pk.family, src)
            if k not in local_cache:
                local_cache[k] = local(pk.family, src)
            if not local_cache[k]:
                refusals.append(f"{p.id}: source {src} is not an address of this host; "
                                f"hint: send from a host in zone '{p.src_zone}' that owns it, or pass --spoof")
    return refusals


def rebase_sources(meaning: Meaning, probes: Sequence[Probe], sources: Sequence[str], zone: str) -> list[Probe]:
    """Probes sent from this host's own ``sources`` (one per family) instead of the planned ones.

    The planner picks source addresses from the policy (a prefix's first host, an address object);
    a tester's host owns others. The verdict is the policy's for the packet actually sent, so each
    rebased probe is decided again; what the planned source was probing (a prefix boundary, an
    address object's flow) is then probed from this address instead.
    """
    import ipaddress

    by_family: dict[int, int] = {}
    for text in sources:
        try:
            a = ipaddress.ip_address(text)
        except ValueError:
            raise UsageError(f"--source {text!r}: not an IP address") from None
        if a.version in by_family:
            raise UsageError(f"--source given twice for IPv{a.version}")
        z = meaning.zone_of(a.version, int(a))
        if z != zone:
            raise UsageError(f"--source {a} is in zone '{z}', not in '{zone}' (--from)")
        by_family[a.version] = int(a)
    out = []
    for p in probes:
        src = by_family.get(p.packet.family)
        if src is None or src == p.packet.src:
            out.append(p)
            continue
        pk = replace(p.packet, src=src)
        d = meaning.decide(pk)
        out.append(replace(p, packet=pk, expected=d.action, flows=d.flows, reason=d.reason,
                           stateful=d.allowed and d.stateful,
                           note=(p.note + "; " if p.note else "") + f"source rebased from {p.packet.src_ip}"))
    return out


def prepare(probes: Sequence[Probe], nonce: str) -> list[Sent]:
    """Give every probe its run-unique source port / identifier, tag and reply key."""
    base = int(nonce, 16)
    out = []
    for i, p in enumerate(probes):
        ident = (base + i) % 65536
        pk = p.packet
        if pk.proto in PORT_PROTOCOLS:
            pk = replace(pk, sport=SPORT_BASE + (base + i) % SPORT_SPAN)
        probe = replace(p, packet=pk)
        out.append(Sent(probe, ident, field_packets.make_tag(nonce, p.id), _key_of_probe(pk, ident)))
    return out


def _key_of_probe(pk: Packet, ident: int) -> tuple:
    src, dst = str(pk.src_ip), str(pk.dst_ip)
    if pk.proto in PORT_PROTOCOLS:
        return (pk.family, src, dst, pk.proto, pk.sport, pk.dport)
    if pk.proto in ICMP_PROTOCOLS and pk.icmp_type == field_packets.ECHO_REQUEST[pk.family]:
        return (pk.family, src, dst, "echo", ident)
    return (pk.family, src, dst, pk.proto, "tag")


# ------------------------------------------------------------------------ replies

@dataclass(slots=True)
class Reply:
    kind: str          # one of results.REASONS: syn-ack, reset, echo-reply, icmp-unreachable
    from_host: bool    # sent by the probed destination itself (not by a firewall or router on the way)


def classify_reply(d: field_packets.Decoded, by_key: dict[tuple, Sent], by_tag: dict[str, Sent], nonce: str
                   ) -> tuple[Sent, Reply] | None:
    """The probe an incoming packet answers, and how; None when it answers none of ours."""
    if d.proto == TCP:
        s = by_key.get((d.family, d.dst, d.src, TCP, d.dport, d.sport))
        if s is None:
            return None
        if d.tcp_flags & field_packets.TCP_RST:
            return s, Reply("reset", True)
        if d.tcp_flags & field_packets.TCP_SYN and d.tcp_flags & field_packets.TCP_ACK:
            return s, Reply("syn-ack", True)
        return None
    if d.proto not in ICMP_PROTOCOLS:
        return None
    if d.icmp_type == field_packets.ECHO_REPLY[d.family]:
        s = by_key.get((d.family, d.dst, d.src, "echo", d.icmp_id))
        return (s, Reply("echo-reply", True)) if s else None
    if d.icmp_type == field_packets.UNREACHABLE[d.family] and d.inner is not None:
        q = d.inner
        s = None
        tag = q.tag
        if tag and tag[0] == nonce:
            s = by_tag.get(tag[1])
        if s is None:
            for key in ((q.family, q.src, q.dst, q.proto, q.sport, q.dport),
                        (q.family, q.src, q.dst, "echo", q.icmp_id)):
                s = by_key.get(key)
                if s:
                    break
        if s is None:
            return None
        return s, Reply("icmp-unreachable", d.src == str(s.probe.packet.dst_ip))
    return None


# ------------------------------------------------------------------------ verdicts

def _always_answered(p: Probe) -> bool:
    """A live host that receives this probe always answers it (SYN → SYN-ACK or RST; echo → reply)."""
    pk = p.packet
    return pk.proto == TCP or (pk.proto in ICMP_PROTOCOLS and pk.icmp_type == field_packets.ECHO_REQUEST[pk.family])


def field_verdict(p: Probe, *, listened: bool, arrival: dict | None, reply: Reply | None
                  ) -> tuple[Action | None, str, bool | None]:
    """(observed, reason, replied) from the listener's arrival (if any) and the replies seen here."""
    host_reply = reply is not None and reply.from_host
    if listened and arrival is not None:
        replied = None
        if arrival.get("local") and _always_answered(p):
            # the listener's own host was the destination: it answers, so silence means the way back is shut
            replied = host_reply
        return Action.ALLOW, ("no-reply" if replied is False else "arrived"), replied
    if host_reply and not (listened and reply.kind == "reset"):
        return Action.ALLOW, reply.kind, True
    if reply is not None:
        # an unreachable from a firewall or router on the way; or, with a listener that did not see
        # the probe, a RST that a firewall forged in the destination's name (`reject with tcp reset`)
        return Action.DENY, reply.kind, None
        return Action.DENY, reply.kind, None
    if listened:
        return Action.DENY, "not-arrived", None
    return None, "no-response", None


# ------------------------------------------------------------------------ listener control channel

def parse_hostport(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--listener {text!r}: expected HOST:PORT (e.g. 192.0.2.70:47001 or [2001:db8::70]:47001)")
    return host, int(port)


def ask_listener(addr: tuple[str, int], line: str, timeout: float = CONTROL_TIMEOUT) -> str:
    with socket.create_connection(addr, timeout=timeout) as sock:
        sock.sendall(line.encode("utf-8") + b"\n")
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8")


def fetch_arrivals(addr: tuple[str, int], nonce: str) -> dict[str, dict]:
    text = ask_listener(addr, f"ARRIVALS {nonce}")
    out: dict[str, dict] = {}
    for line in text.splitlines():
        if line.strip():
            rec = json.loads(line)
            out.setdefault(rec["probe"], rec)
    return out


# ------------------------------------------------------------------------ the run

@dataclass
class FieldOptions:
    site: str | None = None
    rate: float = DEFAULT_RATE
    iface: str | None = None
    listener: tuple[str, int] | None = None
    wait: float = 1.0
    nonce: str = field(default_factory=lambda: os.urandom(4).hex())


def _iso(when: float | None) -> str:
    if when is None:
        return ""
    return dt.datetime.fromtimestamp(when, dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _open_sockets(families: set[int], iface: str | None) -> tuple[dict[int, socket.socket], socket.socket]:
    senders = {}
    for fam in sorted(families):
        s = socket.socket(socket.AF_INET if fam == 4 else socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
        if iface:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
        senders[fam] = s
    rx = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    try:
        rx.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE: replies queue while we pace
    except OSError:
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    if iface:
        rx.bind((iface, 0))
    rx.setblocking(False)
    return senders, rx


def run(sent: Sequence[Sent], opts: FieldOptions, *, progress=None
        ) -> tuple[dict[str, Reply], list[Sent], float]:
    """Send ``sent`` (paced) and collect replies until ``opts.wait`` after the last one.
    Returns (replies by probe id, sent with their send times, seconds spent sending)."""
    by_key = {s.key: s for s in sent}
    by_tag = {s.probe.id: s for s in sent}
    replies: dict[str, Reply] = {}
    senders, rx = _open_sockets({s.probe.packet.family for s in sent}, opts.iface)

    def drain(until: float) -> None:
        while True:
            left = until - time.monotonic()
            ready, _, _ = select.select([rx], [], [], max(0.0, left))
            if not ready:
                if left <= 0:
                    return
                continue
            try:
                data, addr = rx.recvfrom(65535)
            except BlockingIOError:
                continue
            if addr[2] == PACKET_OUTGOING:
                continue
            d = field_packets.decode(data)
            hit = classify_reply(d, by_key, by_tag, opts.nonce) if d else None
            if hit:
                s, r = hit
                old = replies.get(s.probe.id)
                if old is None or (r.from_host and not old.from_host):
                    replies[s.probe.id] = r

    # built before the clock starts (tens of microseconds each; scapy's import and its 1-4 ms per
    # packet for rare protocols): building must not disturb the pacing
    packets = [field_packets.build(s.probe.packet, s.tag, s.ident) for s in sent]
    # a burst of 20 ms of traffic: a wake-up that comes late (a loaded host) is made up for
    # instead of lost, and the bound "burst + rate * t" stays tight
    bucket = TokenBucket(opts.rate, max(1, int(opts.rate * 0.02)))
    done: list[Sent] = []
    started = time.monotonic()
    try:
        for i, (s, data) in enumerate(zip(sent, packets)):
            pk = s.probe.packet
            while not bucket.take():
                drain(time.monotonic() + bucket.wait_time())
            if i % 32 == 31:  # at full speed no token wait drains the replies: keep the queue short
                drain(time.monotonic())
            dst = (str(pk.dst_ip), 0) if pk.family == 4 else (str(pk.dst_ip), 0, 0, 0)
            senders[pk.family].sendto(data, dst)
            done.append(replace(s, when=time.time()))
            if progress is not None:
                progress.advance()
        elapsed = time.monotonic() - started
        drain(time.monotonic() + opts.wait)
    finally:
        for sock in senders.values():
            sock.close()
        rx.close()
    return replies, done, elapsed


def results_for(sent: Sequence[Sent], replies: dict[str, Reply], arrivals: dict[str, dict] | None, *,
                site: str | None, policy_hash_value: str, dry_run: bool = False) -> list[ProbeResult]:
    out = []
    for s in sent:
        p = s.probe
        if dry_run:
            observed, reason, replied = None, "not-sent", None
        else:
            observed, reason, replied = field_verdict(p, listened=arrivals is not None,
                                                      arrival=(arrivals or {}).get(p.id), reply=replies.get(p.id))
        out.append(ProbeResult(
            probe=p.id, site=site or p.firewall or "field", src_zone=p.src_zone, dst_zone=p.dst_zone,
            five_tuple=p.five_tuple(), expected=p.expected.value,
            observed=None if observed is None else observed.value, reason=reason,
            result="inconclusive" if dry_run else judge(p, observed, reason, replied=replied),
            expected_flow=p.flow, timestamp=_iso(s.when), policy_hash=policy_hash_value,
        ))
    return out


# ------------------------------------------------------------------------ judging later, from a file

def reply_of(r: ProbeResult) -> Reply | None:
    """The reply a result judged without a listener was based on (see :func:`field_verdict`)."""
    if r.reason in ("syn-ack", "reset", "echo-reply"):
        return Reply(r.reason, True)
    if r.reason == "icmp-unreachable":
        return Reply(r.reason, r.observed == "allow")
    return None


def confirm(results: Sequence[ProbeResult], suite: Suite, arrivals: dict[str, dict]) -> list[ProbeResult]:
    """Judge a run sent without a listener again, now with its arrivals (one run's, by probe id)."""
    probes = suite.by_id()
    out = []
    for r in results:
        p = probes.get(r.probe)
        if p is None:
            raise UsageError(f"probe {r.probe!r} of the results is not in the suite; "
                             f"hint: give the suite it was sent from")
        if r.reason in ("not-sent", "arrived", "not-arrived", "no-reply"):  # not sent, or judged by arrival
            out.append(r)
            continue
        observed, reason, replied = field_verdict(p, listened=True, arrival=arrivals.get(r.probe), reply=reply_of(r))
        out.append(replace(r, observed=None if observed is None else observed.value, reason=reason,
                           result=judge(p, observed, reason, replied=replied)))
    return out
