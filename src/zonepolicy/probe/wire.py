"""Probe packets on the wire: built with ``struct``, full checksums, markers that replies can't fake.

A per-run unique number ``u`` marks every probe: it is the source port (TCP, UDP, SCTP), the ICMP
identifier, the IPv4 ID or IPv6 flow label, the low half of the TCP sequence number (whose high
half is :data:`MAGIC`), the SCTP initiate tag's low half, and it follows :data:`TAG` in the payload.
A reply or an ICMP quote of a probe never carries all of these in the probe's own direction.
"""

from __future__ import annotations

import ipaddress
import socket
import struct

from ..semantics.packet import ICMP, ICMPV6, SCTP, TCP, UDP, Packet

MAGIC = 0x7A50
TAG = b"zpPROBE\x00"


def usable_address(a: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether the kernel can forward a packet with this address at all (else no lab can test it):
    not 0/8, loopback, multicast, class E or broadcast (IPv4); not ::/8, link-local, multicast or
    IPv4-mapped (IPv6)."""
    return _usable(a.version, int(a))


def _usable(family: int, n: int) -> bool:
    if family == 4:
        top = n >> 24
        return top not in (0, 127) and top < 224
    top = n >> 120
    return top not in (0, 0xFF) and n >> 118 != 0xFE80 >> 6 and n >> 32 != 0xFFFF


class _Addr:
    """Per-address facts the engine needs many times: wire bytes, text, whether usable, the sum of
    its 16-bit words (for checksums); memoised."""

    def __init__(self) -> None:
        self.memo: dict[tuple[int, int], tuple[bytes, str, bool, int]] = {}

    def __call__(self, family: int, n: int) -> tuple[bytes, str, bool, int]:
        key = (family, n)
        hit = self.memo.get(key)
        if hit is None:
            b = n.to_bytes(4 if family == 4 else 16, "big")
            hit = (b, socket.inet_ntop(socket.AF_INET if family == 4 else socket.AF_INET6, b), _usable(family, n),
                   _words(b))
            self.memo[key] = hit
        return hit


# ---------------------------------------------------------------- packet building

def _csum(data: bytes) -> int:
    if len(data) & 1:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def _crc32c(data: bytes) -> int:
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC32C[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _l4(p: Packet, u: int, src: bytes, dst: bytes) -> bytes:
    """Transport header and payload of probe ``p`` with marker ``u``, checksums filled in."""
    tag = TAG + struct.pack("!H", u)
    v6 = p.family == 6
    pseudo_len = (lambda n: src + dst + struct.pack("!I3xB", n, p.proto)) if v6 else \
        (lambda n: src + dst + struct.pack("!xBH", p.proto, n))
    if p.proto == TCP:
        hdr = struct.pack("!HHIIBBHHH", u, p.dport, (MAGIC << 16) | u, 0, 5 << 4, 0x02, 64240, 0, 0)
        c = _csum(pseudo_len(len(hdr)) + hdr)
        return hdr[:16] + struct.pack("!H", c) + hdr[18:]
    if p.proto == UDP:
        seg = struct.pack("!HHHH", u, p.dport, 8 + len(tag), 0) + tag
        c = _csum(pseudo_len(len(seg)) + seg) or 0xFFFF
        return seg[:6] + struct.pack("!H", c) + seg[8:]
    if p.proto in (ICMP, ICMPV6):
        msg = struct.pack("!BBHHH", p.icmp_type, p.icmp_code, 0, u, 1) + tag
        c = _csum(pseudo_len(len(msg)) + msg) if p.proto == ICMPV6 else _csum(msg)
        return msg[:2] + struct.pack("!H", c) + msg[4:]
    if p.proto == SCTP:
        init = struct.pack("!BBHIIHHI", 1, 0, 20, (MAGIC << 16) | u, 65535, 1, 1, u)
        pkt = struct.pack("!HHII", u, p.dport, 0, 0) + init
        return pkt[:8] + struct.pack("<I", _crc32c(pkt)) + pkt[12:]
    return tag


def build(p: Packet, u: int, src: bytes | None = None, dst: bytes | None = None) -> tuple[bytes, bytes, bytes, bytes]:
    """(whole packet, its transport part, source bytes, destination bytes); ``u`` is also the
    source port, whatever ``p.sport`` says."""
    n = 4 if p.family == 4 else 16
    src = src if src is not None else p.src.to_bytes(n, "big")
    dst = dst if dst is not None else p.dst.to_bytes(n, "big")
    l4 = _l4(p, u, src, dst)
    if p.family == 4:
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), u, 0x4000, 64, p.proto, 0, src, dst)
        hdr = hdr[:10] + struct.pack("!H", _csum(hdr)) + hdr[12:]
    else:
        hdr = struct.pack("!IHBB16s16s", (6 << 28) | u, len(l4), p.proto, 64, src, dst)
    return hdr + l4, l4, src, dst


def _words(b: bytes) -> int:
    return sum(struct.unpack(f"!{len(b) // 2}H", b))


_TAGSUM = _words(TAG)


def _fold(x: int) -> int:
    x = (x & 0xFFFF) + (x >> 16)
    x = (x & 0xFFFF) + (x >> 16)
    return ~x & 0xFFFF


def build_fast(p: Packet, u: int, src: bytes, dst: bytes, ssum: int, dsum: int) -> tuple[bytes, bytes] | None:
    """:func:`build` for TCP, UDP, ICMP and ICMPv6 with the checksums summed as integers (the
    bytes are identical; tests hold the two to it). ``ssum``/``dsum``: the 16-bit word sums of the
    addresses. None for other protocols."""
    proto = p.proto
    if proto == TCP:
        c = _fold(ssum + dsum + 26 + 2 * u + p.dport + MAGIC + 0x5002 + 64240)
        l4 = struct.pack("!HHHHIHHHH", u, p.dport, MAGIC, u, 0, 0x5002, 64240, c, 0)
    elif proto == UDP:
        c = _fold(ssum + dsum + 17 + 36 + 2 * u + p.dport + _TAGSUM) or 0xFFFF
        l4 = struct.pack("!HHHH", u, p.dport, 18, c) + TAG + struct.pack("!H", u)
    elif proto == ICMP or proto == ICMPV6:
        tc = (p.icmp_type << 8) | p.icmp_code
        c = _fold(tc + 2 * u + 1 + _TAGSUM + (ssum + dsum + 58 + 18 if proto == ICMPV6 else 0))
        l4 = struct.pack("!HHHH", tc, c, u, 1) + TAG + struct.pack("!H", u)
    else:
        return None
    if p.family == 4:
        tl = 20 + len(l4)
        c = _fold(0x4500 + tl + u + 0x4000 + (64 << 8 | proto) + ssum + dsum)
        return struct.pack("!HHHHHH", 0x4500, tl, u, 0x4000, 64 << 8 | proto, c) + src + dst + l4, l4
    return struct.pack("!IHBB", (6 << 28) | u, len(l4), proto, 64) + src + dst + l4, l4


def expects_reply(p: Packet) -> bool:
    """Whether the probed host always answers this packet (so a missing answer is a lost reply)."""
    if p.proto in (TCP, UDP, SCTP):
        return True
    return (p.proto == ICMP and p.family == 4 and p.icmp_type == 8) or \
        (p.proto == ICMPV6 and p.family == 6 and p.icmp_type == 128)
