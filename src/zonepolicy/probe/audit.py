"""Audit a packet capture against the policy: which packets should the capture not contain?

Every IPv4/IPv6 packet of a pcap file (Ethernet, raw IP, Linux cooked v1/v2 link types) is
classified in capture order:

* a **connection-opening** packet — TCP SYN without ACK, UDP, ICMP echo request, any other ICMP
  that is neither a reply nor an error, any other protocol — is judged by
  :meth:`Meaning.decide`; if allowed, its connection (the 5-tuple, the echo identifier for ICMP)
  is remembered with the flow's ``stateful`` flag;
* a **continuation** (same direction) of a remembered connection is fine;
* a **reply** (opposite direction) is fine when its connection was opened by an allowed *stateful*
  packet earlier in the capture; for a stateless flow the reply must be allowed by the policy on its
  own (judged by ``decide``);
* an ICMP **error** is fine when the packet it quotes belongs to a remembered connection;
* anything else — a TCP segment without SYN, a SYN-ACK, an echo reply, or an ICMP error with no
  opener earlier in the capture, and every denied opener — is listed.

A capture taken after the connection started (its SYN not in the file) lists that connection's
packets: the audit cannot tell them from packets that slipped through. Fragments after the first
carry no ports and are counted, not judged.

Reading is done here with :mod:`struct` (no capture library at run time).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator

from ..errors import UsageError
from ..semantics.meaning import Meaning
from ..semantics.packet import ICMP, ICMP_PROTOCOLS, ICMPV6, PORT_PROTOCOLS, SCTP, TCP, UDP, Packet


class CaptureError(UsageError):
    """A capture file that cannot be read (the message names the file and what is wrong)."""


# ---------------------------------------------------------------- pcap reading
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = (101, 12, 14)   # 12 and 14 are DLT_RAW on some systems
LINKTYPE_IPV4, LINKTYPE_IPV6 = 228, 229
LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2 = 113, 276
ETH_IPV4, ETH_IPV6, ETH_VLAN = 0x0800, 0x86DD, (0x8100, 0x88A8, 0x9100)

_MAGIC = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">", b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}
_SUPPORTED = {LINKTYPE_ETHERNET, *LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2}


@dataclass(frozen=True, slots=True)
class Frame:
    number: int          # 1-based, as Wireshark numbers them
    data: bytes          # the captured bytes from the link-layer header on


def read_frames(fh: BinaryIO, where: str) -> tuple[int, Iterator[Frame], list[str]]:
    """(link type, frames, notes) of a pcap stream; notes collects a cut-off last record."""
    head = fh.read(24)
    if len(head) < 24:
        raise CaptureError(f"{where}: not a pcap file (only {len(head)} bytes)")
    magic = head[:4]
    if magic == b"\x0a\x0d\x0d\x0a":
        raise CaptureError(f"{where}: a pcapng file; hint: convert it with "
                           f"'editcap -F pcap {where} out.pcap' or capture with 'tcpdump -w' (pcap)")
    order = _MAGIC.get(magic)
    if order is None:
        raise CaptureError(f"{where}: not a pcap file (magic {magic.hex()})")
    _major, _minor, _zone, _sig, _snap, linktype = struct.unpack(order + "HHiIII", head[4:])
    linktype &= 0xFFFF  # the upper bits may carry FCS information
    if linktype not in _SUPPORTED:
        raise CaptureError(f"{where}: link type {linktype} is not supported "
                           "(Ethernet, raw IP and Linux cooked captures are)")
    notes: list[str] = []

    def frames() -> Iterator[Frame]:
        n = 0
        while True:
            rec = fh.read(16)
            if not rec:
                return
            n += 1
            if len(rec) < 16:
                notes.append(f"record {n} is cut off (the capture ended mid-write); ignored")
                return
            _s, _u, incl, _orig = struct.unpack(order + "IIII", rec)
            if incl > 0x4000000:
                raise CaptureError(f"{where}: record {n} claims {incl} bytes: the file is damaged")
            data = fh.read(incl)
            if len(data) < incl:
                notes.append(f"record {n} is cut off (the capture ended mid-write); ignored")
                return
            yield Frame(n, data)

    return linktype, frames(), notes


def _network_layer(linktype: int, data: bytes) -> tuple[int, bytes] | None:
    """(IP version, bytes from the IP header on), or None for a frame that is not IP."""
    if linktype == LINKTYPE_ETHERNET:
        if len(data) < 14:
            return None
        etype, off = struct.unpack_from("!H", data, 12)[0], 14
        while etype in ETH_VLAN and len(data) >= off + 4:
            etype, off = struct.unpack_from("!H", data, off + 2)[0], off + 4
    elif linktype == LINKTYPE_LINUX_SLL:
        if len(data) < 16:
            return None
        etype, off = struct.unpack_from("!H", data, 14)[0], 16
    elif linktype == LINKTYPE_LINUX_SLL2:
        if len(data) < 20:
            return None
        etype, off = struct.unpack_from("!H", data, 0)[0], 20
    else:
        if not data:
            return None
        version = data[0] >> 4
        return (version, data) if version in (4, 6) else None
    ip_version = {ETH_IPV4: 4, ETH_IPV6: 6}.get(etype)
    return (ip_version, data[off:]) if ip_version else None


@dataclass(frozen=True, slots=True)
class Header:
    """What the audit needs from one IP packet."""

    family: int
    src: int
    dst: int
    proto: int
    sport: int = 0
    dport: int = 0
    icmp_type: int = 0
    icmp_code: int = 0
    tcp_flags: int | None = None
    ident: int = 0               # ICMP echo identifier
    quoted: "Header | None" = None  # the packet an ICMP error quotes
    fragment: bool = False       # not the first fragment: no transport header
    truncated: bool = False      # the transport header is not in the captured bytes


_V6_EXTENSIONS = {0, 43, 60, 51}  # hop-by-hop, routing, destination options, AH (44 = fragment, below)


def parse_ip(version: int, b: bytes, quoted: bool = False) -> Header | None:
    if version == 4:
        if len(b) < 20 or b[0] >> 4 != 4:
            return None
        ihl = (b[0] & 0x0F) * 4
        proto = b[9]
        src, dst = struct.unpack_from("!II", b, 12)
        frag_offset = struct.unpack_from("!H", b, 6)[0] & 0x1FFF
        if frag_offset:
            return Header(4, src, dst, proto, fragment=True)
        return _transport(4, src, dst, proto, b[ihl:], quoted)
    if len(b) < 40 or b[0] >> 4 != 6:
        return None
    src = int.from_bytes(b[8:24], "big")
    dst = int.from_bytes(b[24:40], "big")
    nxt, off = b[6], 40
    while True:
        if nxt in _V6_EXTENSIONS:
            if len(b) < off + 2:
                return Header(6, src, dst, nxt, truncated=True)
            length = (b[off + 1] + 2) * 4 if nxt == 51 else (b[off + 1] + 1) * 8
            nxt, off = b[off], off + length
        elif nxt == 44:
            if len(b) < off + 8:
                return Header(6, src, dst, nxt, truncated=True)
            if struct.unpack_from("!H", b, off + 2)[0] >> 3:
                return Header(6, src, dst, b[off], fragment=True)
            nxt, off = b[off], off + 8
        else:
            break
    return _transport(6, src, dst, nxt, b[off:], quoted)


def _transport(family: int, src: int, dst: int, proto: int, t: bytes, quoted: bool) -> Header:
    if proto in PORT_PROTOCOLS:
        if len(t) < 4:
            return Header(family, src, dst, proto, truncated=True)
        sport, dport = struct.unpack_from("!HH", t, 0)
        flags = None
        if proto == TCP:
            if len(t) >= 14:
                flags = t[13]
            elif not quoted:  # an ICMP error quotes only 8 bytes of TCP: ports, no flags
                return Header(family, src, dst, proto, sport, dport, truncated=True)
        return Header(family, src, dst, proto, sport, dport, tcp_flags=flags)
    if proto in ICMP_PROTOCOLS:
        if len(t) < 4:
            return Header(family, src, dst, proto, truncated=True)
        itype, code = t[0], t[1]
        ident = struct.unpack_from("!H", t, 4)[0] if len(t) >= 6 else 0
        inner = None
        if not quoted and _is_error(proto, itype) and len(t) > 8:
            inner_bytes = t[8:]
            inner = parse_ip(inner_bytes[0] >> 4, inner_bytes, quoted=True) if inner_bytes else None
        return Header(family, src, dst, proto, icmp_type=itype, icmp_code=code, ident=ident, quoted=inner)
    return Header(family, src, dst, proto)


# ---------------------------------------------------------------- classification
_ERRORS = {ICMP: {3, 4, 5, 11, 12}, ICMPV6: {1, 2, 3, 4}}
_ECHO_REQUEST = {ICMP: 8, ICMPV6: 128}
_ECHO_REPLY = {ICMP: 0, ICMPV6: 129}
_REPLIES = {ICMP: {0, 14, 16, 18}, ICMPV6: {129}}
# ICMPv6 neighbour discovery and MLD work below the firewall's connection tracking (link-local)
_ND = set(range(130, 138)) | {143}


def _is_error(proto: int, itype: int) -> bool:
    return itype in _ERRORS.get(proto, ())


SYN, ACK = 0x02, 0x10


def _key(h: Header) -> tuple:
    if h.proto in ICMP_PROTOCOLS:
        if h.icmp_type == _ECHO_REQUEST[h.proto]:
            return (h.family, h.proto, h.src, h.ident, h.dst, 0)
        if h.icmp_type == _ECHO_REPLY[h.proto]:
            return (h.family, h.proto, h.src, 0, h.dst, h.ident)
        return (h.family, h.proto, h.src, h.icmp_type, h.dst, h.icmp_code)
    return (h.family, h.proto, h.src, h.sport, h.dst, h.dport)


def _reverse(k: tuple) -> tuple:
    fam, proto, a, ap, b, bp = k
    return (fam, proto, b, bp, a, ap)


def canonical(h: Header) -> Packet:
    if h.proto in PORT_PROTOCOLS:
        return Packet(h.family, h.src, h.dst, h.proto, h.sport, h.dport)
    if h.proto in ICMP_PROTOCOLS:
        return Packet(h.family, h.src, h.dst, h.proto, icmp_type=h.icmp_type, icmp_code=h.icmp_code)
    return Packet(h.family, h.src, h.dst, h.proto)


@dataclass(frozen=True, slots=True)
class Finding:
    """A packet the capture should not contain."""

    frame: int
    five_tuple: str
    src_zone: str | None
    dst_zone: str | None
    why: str
    flows: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"frame": self.frame, "five_tuple": self.five_tuple, "src_zone": self.src_zone,
                "dst_zone": self.dst_zone, "why": self.why, "flows": list(self.flows)}


@dataclass
class Audit:
    packets: int = 0
    judged: int = 0
    findings: list[Finding] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def skip(self, what: str) -> None:
        self.skipped[what] = self.skipped.get(what, 0) + 1


class Auditor:
    """Classifies packets in capture order (see the module docstring); one per capture."""

    def __init__(self, meaning: Meaning) -> None:
        self.m = meaning
        self.conns: dict[tuple, bool] = {}  # opener key -> stateful
        self.result = Audit()

    def feed(self, number: int, h: Header) -> None:
        r = self.result
        if h.fragment:
            r.skip("later fragments (no transport header)")
            return
        if h.truncated:
            r.skip("transport header not captured")
            return
        if h.proto == ICMPV6 and h.icmp_type in _ND:
            r.skip("ICMPv6 neighbour discovery / multicast listener")
            return
        r.judged += 1
        k = _key(h)
        reverse = _reverse(k)
        if self.conns.get(k) or self.conns.get(reverse):
            return  # continuation or reply of a connection an allowed stateful packet opened
        if h.proto in ICMP_PROTOCOLS and _is_error(h.proto, h.icmp_type):
            q = h.quoted
            qk = _key(q) if q is not None and not q.truncated else None
            if qk is not None and (qk in self.conns or _reverse(qk) in self.conns):
                return
            self._flag(number, h, "ICMP error that quotes no connection opened by an allowed packet earlier "
                       "in the capture")
            return
        stateless = k in self.conns or reverse in self.conns
        opens = self._opens(h)
        if opens or stateless:
            # an opener, or a packet of a stateless flow's connection: the policy must allow it on its own
            d = self.m.decide(canonical(h))
            if d.allowed:
                if opens and k not in self.conns:
                    self.conns[k] = d.stateful
                return
            if reverse in self.conns:
                why = "reply of a stateless flow (no connection tracking), and no flow allows it"
            elif d.reason == "flow":
                why = "denied by flow " + ", ".join(d.flows)
            else:
                why = f"denied by the policy's {d.reason} stance (no flow allows it)"
            self._flag(number, h, why, d.flows)
            return
        if h.proto == TCP:
            what = "TCP SYN-ACK" if (h.tcp_flags or 0) & SYN else "TCP segment without SYN"
        else:
            what = "ICMP reply"
        self._flag(number, h, f"{what}, but no allowed stateful packet opened its connection earlier in the capture")

    @staticmethod
    def _opens(h: Header) -> bool:
        if h.proto == TCP:
            return h.tcp_flags is not None and h.tcp_flags & SYN != 0 and h.tcp_flags & ACK == 0
        if h.proto in (UDP, SCTP):
            return True
        if h.proto in ICMP_PROTOCOLS:
            return h.icmp_type not in _REPLIES[h.proto] and not _is_error(h.proto, h.icmp_type)
        return True

    def _flag(self, number: int, h: Header, why: str, flows: tuple[str, ...] = ()) -> None:
        # feed() never flags a fragment or a cut-off header, so every field shown was read
        self.result.findings.append(Finding(
            number, str(canonical(h)), self.m.zone_of(h.family, h.src), self.m.zone_of(h.family, h.dst), why, flows))


def audit_capture(path: str, meaning: Meaning) -> Audit:
    try:
        fh = open(path, "rb")
    except OSError as err:
        raise CaptureError(f"{path}: cannot read: {err.strerror}") from None
    with fh:
        linktype, frames, notes = read_frames(fh, path)
        auditor = Auditor(meaning)
        for frame in frames:
            auditor.result.packets += 1
            net = _network_layer(linktype, frame.data)
            h = parse_ip(*net) if net else None
            if h is None:
                auditor.result.skip("not IPv4/IPv6")
                continue
            auditor.feed(frame.number, h)
    auditor.result.notes.extend(notes)
    return auditor.result


def render_text(a: Audit) -> str:
    lines = []
    for f in a.findings:
        zones = f"{f.src_zone or '(no zone)'} -> {f.dst_zone or '(no zone)'}"
        lines.append(f"frame {f.frame}: {f.five_tuple} ({zones}): {f.why}")
    skipped = "".join(f"; {n} skipped: {what}" for what, n in sorted(a.skipped.items()))
    lines.append(f"{a.packets} packets, {a.judged} judged, {len(a.findings)} not allowed by the policy{skipped}")
    lines += [f"note: {n}" for n in a.notes]
    return "\n".join(lines) + "\n"


def render_json(a: Audit) -> str:
    import json

    return json.dumps({"packets": a.packets, "judged": a.judged, "findings": [f.to_dict() for f in a.findings],
                       "skipped": dict(sorted(a.skipped.items())), "notes": a.notes},
                      ensure_ascii=False, indent=2) + "\n"


__all__ = ["Audit", "Auditor", "CaptureError", "audit_capture", "render_json", "render_text"]
