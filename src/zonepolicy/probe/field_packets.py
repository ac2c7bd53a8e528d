"""Field probes on the wire: the tag a probe carries, building tagged packets, and reading packets back.

Every field probe carries ``ZP1 <nonce> <probe id>\\n`` at the very start of its own payload: the
TCP or UDP data, the ICMP/ICMPv6 data after the 8-byte header, the SCTP DATA chunk's user data, or
the IP payload of any other protocol. The nonce is fresh per run, so arrivals of an earlier run
are never credited to this one.

The tag must start the probe's *own* payload. An ICMP error quotes the packet that caused it, tag
included, and a listener that also sees its host's outgoing packets would otherwise count every
port-unreachable it sends as another arrival; a quote starts with an IP header, never with ``ZP1``.

Building uses scapy (checksums for every protocol, SCTP's CRC32c included); reading uses plain
``struct`` so the listener starts fast and does not need scapy.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from ..semantics.packet import ICMP, ICMPV6, PORT_PROTOCOLS, SCTP, TCP, UDP, Packet

MAGIC = b"ZP1 "
MAX_TAG = 200

# ICMP types that matter to the sender's reply matching.
ECHO_REQUEST = {4: 8, 6: 128}
ECHO_REPLY = {4: 0, 6: 129}
UNREACHABLE = {4: 3, 6: 1}

TCP_SYN, TCP_RST, TCP_ACK = 0x02, 0x04, 0x10

_V6_EXTENSIONS = {0, 43, 60}  # hop-by-hop, routing, destination options: (len + 1) * 8 bytes


def make_tag(nonce: str, probe_id: str) -> bytes:
    tag = MAGIC + f"{nonce} {probe_id}\n".encode("utf-8")
    if "\n" in probe_id or " " in nonce or len(tag) > MAX_TAG:
        raise ValueError(f"probe id {probe_id!r} cannot be carried in a tag (no newlines, at most {MAX_TAG} bytes)")
    return tag


def read_tag(payload: bytes) -> tuple[str, str] | None:
    """(nonce, probe id) when ``payload`` starts with a tag."""
    if not payload.startswith(MAGIC):
        return None
    end = payload.find(b"\n", len(MAGIC), MAX_TAG)
    if end < 0:
        return None
    try:
        nonce, _, pid = payload[len(MAGIC):end].decode("utf-8").partition(" ")
    except UnicodeDecodeError:
        return None
    return (nonce, pid) if nonce and pid else None


@dataclass(frozen=True, slots=True)
class Decoded:
    """The parts of one IP packet that probing looks at."""

    family: int
    src: str
    dst: str
    proto: int
    sport: int = 0
    dport: int = 0
    icmp_type: int = 0
    icmp_code: int = 0
    icmp_id: int = 0             # echo request/reply identifier
    tcp_flags: int = 0
    payload: bytes = b""        # the protocol's own data (see the module doc)
    inner: "Decoded | None" = None   # the quoted packet of an ICMP error

    @property
    def tag(self) -> tuple[str, str] | None:
        return read_tag(self.payload)

    def five_tuple(self) -> dict[str, object]:
        return {"family": self.family, "proto": self.proto, "src": self.src, "dst": self.dst,
                "sport": self.sport, "dport": self.dport, "icmp_type": self.icmp_type, "icmp_code": self.icmp_code}


def decode(data: bytes, *, quoted: bool = False) -> Decoded | None:
    """Read an IP packet (v4 or v6, starting at the IP header); None when it is not one we can read.

    ``quoted`` accepts the truncated copy inside an ICMP error: lengths in the header are not
    checked against the bytes present and only the first 8 bytes of the transport header are read.
    """
    if len(data) < 20:
        return None
    version = data[0] >> 4
    if version == 4:
        ihl = (data[0] & 0x0F) * 4
        if ihl < 20 or len(data) < ihl:
            return None
        if struct.unpack_from("!H", data, 6)[0] & 0x1FFF:
            return None  # a later fragment: no transport header
        total = struct.unpack_from("!H", data, 2)[0]
        end = len(data) if quoted else min(len(data), total)
        proto = data[9]
        src, dst = str(ipaddress.IPv4Address(data[12:16])), str(ipaddress.IPv4Address(data[16:20]))
        body = data[ihl:end]
        family = 4
    elif version == 6:
        if len(data) < 40:
            return None
        plen = struct.unpack_from("!H", data, 4)[0]
        end = len(data) if quoted else min(len(data), 40 + plen)
        proto, off = data[6], 40
        src, dst = str(ipaddress.IPv6Address(data[8:24])), str(ipaddress.IPv6Address(data[24:40]))
        while proto in _V6_EXTENSIONS or proto == 44:
            if off + 8 > end:
                return None
            if proto == 44:
                if struct.unpack_from("!H", data, off + 2)[0] & 0xFFF8:
                    return None
                proto, off = data[off], off + 8
            else:
                proto, off = data[off], off + (data[off + 1] + 1) * 8
        body = data[off:end]
        family = 6
    else:
        return None
    return _transport(family, src, dst, proto, body, quoted)


def _transport(family: int, src: str, dst: str, proto: int, body: bytes, quoted: bool) -> Decoded | None:
    base = Decoded(family, src, dst, proto)
    if proto in PORT_PROTOCOLS:
        if len(body) < 8:
            return base if quoted else None
        sport, dport = struct.unpack_from("!HH", body, 0)
        flags, payload = 0, b""
        if proto == TCP and len(body) >= 20:
            flags = body[13]
            payload = body[(body[12] >> 4) * 4:]
        elif proto == UDP:
            payload = body[8:]
        elif proto == SCTP and len(body) >= 28 and body[12] == 0:  # first chunk is DATA
            payload = body[28:]
        return Decoded(family, src, dst, proto, sport, dport, tcp_flags=flags, payload=payload)
    if (proto == ICMP and family == 4) or (proto == ICMPV6 and family == 6):
        if len(body) < 8:
            return base if quoted else None
        itype, icode = body[0], body[1]
        ident = struct.unpack_from("!H", body, 4)[0]
        inner = None
        if not quoted and itype == UNREACHABLE[family]:
            inner = decode(body[8:], quoted=True)
        return Decoded(family, src, dst, proto, icmp_type=itype, icmp_code=icode, icmp_id=ident,
                       payload=body[8:], inner=inner)
    return Decoded(family, src, dst, proto, payload=body)


def build(packet: Packet, tag: bytes, ident: int) -> bytes:
    """The bytes of one probe, from its IP header on, with full checksums.

    ``ident`` (0..65535) is unique per probe in a run: the IPv4 ID, and the echo identifier of an
    ICMP echo request (whose replies the sender matches by it).

    TCP, UDP and ICMP/ICMPv6 probes, nearly every probe a suite holds, are packed directly: the
    same bytes scapy builds (a test holds the two to that), at a fraction of the 1-4 ms scapy takes
    per packet, which would otherwise cap a run at a few hundred probes a second.
    """
    fast = _pack(packet, tag, ident)
    return fast if fast is not None else build_with_scapy(packet, tag, ident)


def _pack(p: Packet, tag: bytes, ident: int) -> bytes | None:
    src = ipaddress.ip_address(p.src).packed if p.family == 4 else p.src.to_bytes(16, "big")
    dst = ipaddress.ip_address(p.dst).packed if p.family == 4 else p.dst.to_bytes(16, "big")
    if p.proto == TCP:
        seg = struct.pack("!HHIIBBHHH", p.sport, p.dport, (ident << 16) | ident, 0, 5 << 4, TCP_SYN, 65535, 0, 0) + tag
        seg = seg[:16] + struct.pack("!H", _checksum(_pseudo(p.family, src, dst, TCP, len(seg)) + seg)) + seg[18:]
    elif p.proto == UDP:
        seg = struct.pack("!HHHH", p.sport, p.dport, 8 + len(tag), 0) + tag
        ck = _checksum(_pseudo(p.family, src, dst, UDP, len(seg)) + seg) or 0xFFFF  # 0 means "no checksum"
        seg = seg[:6] + struct.pack("!H", ck) + seg[8:]
    elif p.proto == ICMP and p.family == 4:
        rest = (ident << 16 | 1) if p.icmp_type == ECHO_REQUEST[4] else 0
        seg = struct.pack("!BBHI", p.icmp_type, p.icmp_code, 0, rest) + tag
        seg = seg[:2] + struct.pack("!H", _checksum(seg)) + seg[4:]
    elif p.proto == ICMPV6 and p.family == 6:
        rest = (ident << 16 | 1) if (p.icmp_type, p.icmp_code) == (ECHO_REQUEST[6], 0) else 0
        seg = struct.pack("!BBHI", p.icmp_type, p.icmp_code, 0, rest) + tag
        seg = seg[:2] + struct.pack("!H", _checksum(_pseudo(6, src, dst, ICMPV6, len(seg)) + seg)) + seg[4:]
    else:
        return None
    if p.family == 4:
        head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), ident, 0, 64, p.proto, 0, src, dst)
        head = head[:10] + struct.pack("!H", _checksum(head)) + head[12:]
    else:
        head = struct.pack("!IHBB16s16s", 6 << 28, len(seg), p.proto, 64, src, dst)
    return head + seg


def _pseudo(family: int, src: bytes, dst: bytes, proto: int, length: int) -> bytes:
    if family == 4:
        return src + dst + struct.pack("!BBH", 0, proto, length)
    return src + dst + struct.pack("!IxxxB", length, proto)


def build_with_scapy(packet: Packet, tag: bytes, ident: int) -> bytes:
    """:func:`build` by scapy, for every protocol (SCTP's CRC32c, bare IP protocols)."""
    from scapy.layers.inet import ICMP as S_ICMP, IP, TCP as S_TCP, UDP as S_UDP  # noqa: N811 - scapy names
    from scapy.layers.inet6 import ICMPv6EchoRequest, ICMPv6Unknown, IPv6
    from scapy.layers.sctp import SCTP as S_SCTP, SCTPChunkData  # noqa: N811
    from scapy.packet import Raw

    p = packet
    src, dst = str(p.src_ip), str(p.dst_ip)
    ip = IP(src=src, dst=dst, id=ident, ttl=64) if p.family == 4 else IPv6(src=src, dst=dst, hlim=64)
    if p.proto == TCP:
        # a SYN opens a connection: the packet a policy's flow describes; its data is the tag
        l4 = S_TCP(sport=p.sport, dport=p.dport, flags="S", seq=(ident << 16) | ident, window=65535) / Raw(tag)
    elif p.proto == UDP:
        l4 = S_UDP(sport=p.sport, dport=p.dport) / Raw(tag)
    elif p.proto == SCTP:
        l4 = S_SCTP(sport=p.sport, dport=p.dport, tag=0) / SCTPChunkData(tsn=ident, data=tag)
    elif p.proto == ICMP and p.family == 4:
        if p.icmp_type == ECHO_REQUEST[4]:
            l4 = S_ICMP(type=p.icmp_type, code=p.icmp_code, id=ident, seq=1) / Raw(tag)
        else:
            # scapy adds type-specific fields (timestamps, masks) that would push the tag back
            body = struct.pack("!BBHI", p.icmp_type, p.icmp_code, 0, 0) + tag
            body = body[:2] + struct.pack("!H", _checksum(body)) + body[4:]
            l4 = Raw(body)
            ip.proto = ICMP
    elif p.proto == ICMPV6 and p.family == 6:
        if p.icmp_type == ECHO_REQUEST[6] and p.icmp_code == 0:
            l4 = ICMPv6EchoRequest(id=ident, seq=1, data=tag)
        else:
            l4 = ICMPv6Unknown(type=p.icmp_type, code=p.icmp_code, msgbody=b"\0\0\0\0" + tag)
    else:
        if p.family == 4:
            ip.proto = p.proto
        else:
            ip.nh = p.proto
        l4 = Raw(tag)
    return bytes(ip / l4)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
