"""Encoding of canonical packets as BDD variables, and the walks over such BDDs.

Encoding. One variable per header bit, MSB first, fields in the order of
:data:`DEFAULT_ORDER` (the family bit always on top). IPv4 addresses use the *top* 32
of the 128 address variables. Bits that a packet's family or protocol does not have
(the low 96 address bits of IPv4, ports of non-TCP/UDP/SCTP, ICMP type/code of
non-ICMP) are encoded as *don't care* rather than as zero: every BDD built here is
independent of those variables on the region where they are meaningless, and all
Boolean operations preserve that independence. Hence

* the universe of canonical packets is the constant ``true`` and complement is plain
  negation (no universe conjunction on every ``~``);
* set equality is still BDD identity (the map set -> function is one-to-one under the
  invariant);
* an IPv4 prefix costs as many nodes as its length instead of length + 96 zero tests.

The price is paid only where counting: each (family, protocol class) region is counted
separately and divided by 2**(its number of don't-care bits).

Protocol sits above the ports so that, walking down, the protocol decides whether the
port variables matter; this keeps ``boxes()`` rendering protocol-first and was not
slower in ``bench/packetset_bench.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ._bdd import Backend, Fn
from .packet import ICMP_PROTOCOLS, PORT_PROTOCOLS, Packet

FIELD_WIDTH: dict[str, int] = {
    "family": 1, "dst": 128, "src": 128, "proto": 8,
    "dport": 16, "sport": 16, "icmp_type": 8, "icmp_code": 8,
}
DEFAULT_ORDER: tuple[str, ...] = ("family", "dst", "src", "proto", "dport", "sport", "icmp_type", "icmp_code")
PORT_FIELDS = ("sport", "dport")
ICMP_FIELDS = ("icmp_type", "icmp_code")
ADDR_FIELDS = ("src", "dst")
NVARS = sum(FIELD_WIDTH.values())

Interval = tuple[int, int]
Segment = tuple[int, int, Fn]
RawBox = tuple[int, tuple[tuple[Interval, ...], ...]]  # (family, intervals per field in order[1:])

_RANGE_CACHE_MAX = 4096
_BOX_MEMO_MAX = 1 << 20  # entries per decomposition memo before it is dropped
_DIGITS = bytes.maketrans(b"01", b"\0\1")
_TO_DIGITS = bytes.maketrans(b"\0\1", b"01")


def width(field: str, family: int) -> int:
    """Number of meaningful bits of ``field`` for ``family``."""
    if field in ADDR_FIELDS:
        return 32 if family == 4 else 128
    return FIELD_WIDTH[field]


class Engine:
    """Packet-set operations on one backend with one variable layout."""

    def __init__(self, backend: Backend, order: Sequence[str] = DEFAULT_ORDER) -> None:
        if tuple(sorted(order)) != tuple(sorted(FIELD_WIDTH)) or order[0] != "family":
            raise ValueError(f"bad field order {order!r}")
        self.b = backend
        self.order = tuple(order)
        self.base: dict[str, int] = {}
        pos = 0
        for name in self.order:
            self.base[name] = pos
            pos += FIELD_WIDTH[name]
        assert pos == backend.nvars == NVARS
        self._ranges: dict[tuple[str, int, int, int], Fn] = {}
        # Decomposition memos shared by every raw_boxes() call: a segment list or a box tail depends
        # only on the sub-BDD (and family), and the sets a verifier renders share most of their
        # sub-BDDs (the same zones' addresses, the same services), so rendering one finding after
        # another mostly reuses earlier work. Bounded, and dropped by collect().
        self._seg_memo: dict[int, dict[tuple[Fn, int], list[Segment]]] = {4: {}, 6: {}}
        self._tail_memo: dict[int, dict[tuple[Fn, int], list[tuple[tuple[Interval, ...], ...]]]] = {4: {}, 6: {}}
        self._part_memo: dict[tuple[Fn, int], dict | None] = {}  # see product_boxes
        self._ticks = 0
        self._gc_at = 0.5
        fam = self.base["family"]
        self.family_lit = {4: backend.neg[fam], 6: backend.pos[fam]}
        self.port_region = self.values("proto", 4, sorted((p, p) for p in PORT_PROTOCOLS))
        self.icmp_region = self.values("proto", 4, sorted((p, p) for p in ICMP_PROTOCOLS))
        self.other_region = ~(self.port_region | self.icmp_region)

    # ----- construction -------------------------------------------------------------

    def interval(self, field: str, family: int, lo: int, hi: int) -> Fn:
        """BDD of ``lo <= field <= hi`` in O(width) operations (not per value)."""
        w = width(field, family)
        top = (1 << w) - 1
        if not 0 <= lo <= hi <= top:
            raise ValueError(f"{field}: bad interval ({lo}, {hi}) for width {w}")
        if lo == 0 and hi == top:
            return self.b.true
        key = (field, w, lo, hi)
        f = self._ranges.get(key)
        if f is None:
            f = self._interval(self.base[field], w, lo, hi)
            if len(self._ranges) >= _RANGE_CACHE_MAX:
                # a crude reset keeps memory bounded; hits come from bursts of similar rules
                self._ranges.clear()
            self._ranges[key] = f
        return f

    def _interval(self, base: int, w: int, lo: int, hi: int) -> Fn:
        # Bits are built bottom-up (LSB first) so that every step puts one variable on
        # top of an existing BDD: constant work per bit. Shape: common prefix of lo and
        # hi as literals; at the first differing bit c, 0 continues as "suffix >= lo's"
        # and 1 as "suffix <= hi's". Trailing zeros of lo / ones of hi are free, so an
        # aligned prefix costs exactly its length.
        pos, neg, true = self.b.pos, self.b.neg, self.b.true
        c = w - (lo ^ hi).bit_length()  # length of the common prefix
        if c == w:
            f = true
        else:
            ge = le = true
            tz = (lo & -lo).bit_length() - 1 if lo else w
            for i in range(w - 1 - tz, c, -1):  # suffix >= lo
                ge = (pos[base + i] & ge) if (lo >> (w - 1 - i)) & 1 else (pos[base + i] | ge)
            inv = ~hi
            to = (inv & -inv).bit_length() - 1  # trailing ones of hi
            for i in range(w - 1 - to, c, -1):  # suffix <= hi
                le = (neg[base + i] | le) if (hi >> (w - 1 - i)) & 1 else (neg[base + i] & le)
            f = true if ge == true and le == true else self.b.ite(pos[base + c], le, ge)
        for i in range(c - 1, -1, -1):
            f = (pos[base + i] & f) if (lo >> (w - 1 - i)) & 1 else (neg[base + i] & f)
        return f

    def values(self, field: str, family: int, intervals: Iterable[Interval]) -> Fn:
        """Union of intervals of one field, ignoring meaningfulness (raw bits)."""
        acc = self.b.false
        for lo, hi in intervals:
            acc = acc | self.interval(field, family, lo, hi)
        return acc

    def constraint(self, field: str, family: int, intervals: Iterable[Interval]) -> Fn:
        """``field in intervals`` as seen by canonical packets.

        Where the field is meaningless its canonical value is 0, so the constraint is
        constant there: true iff 0 is allowed. Keeps the don't-care invariant.
        """
        ivs = list(intervals)
        raw = self.values(field, family, ivs)
        if field in PORT_FIELDS:
            region = self.port_region
        elif field in ICMP_FIELDS:
            region = self.icmp_region
        else:
            return raw
        zero_ok = any(lo <= 0 <= hi for lo, hi in ivs)
        return (region & raw) | ~region if zero_ok else region & raw

    def box(self, family: int, fields: dict[str, Sequence[Interval]]) -> Fn:
        """BDD of one box of ``family``; fields not given are unconstrained."""
        acc = self.family_lit[family]
        for name in self.order[1:]:
            ivs = fields.get(name)
            if ivs is not None:
                acc = acc & self.constraint(name, family, ivs)
        return acc

    def packet_bits(self, p: Packet) -> list[int]:
        """Variable assignment (0/1 per variable) of a canonical packet; don't-care bits 0."""
        # one big integer rendered once is ~5x faster than per-field bit loops, and
        # membership tests run in tight loops (probe planning, brute-force tests)
        big = 0
        for name in self.order:
            w, full = width(name, p.family), FIELD_WIDTH[name]
            value = (p.family == 6) if name == "family" else getattr(p, name)
            big = (big << full) | (value << (full - w))  # v4 addresses: top bits
        return list(format(big, f"0{NVARS}b").encode().translate(_DIGITS))

    def singleton(self, p: Packet) -> Fn:
        """BDD of exactly one canonical packet."""
        if not p.is_canonical():
            return self.b.false
        acc = self.family_lit[p.family]
        for name in self.order[1:]:
            v = getattr(p, name)
            acc = acc & self.constraint(name, p.family, [(v, v)])
        return acc

    def collect(self) -> int:
        """Free unreferenced nodes (and the interval and decomposition caches); returns nodes removed."""
        self._ranges.clear()
        self._drop_box_memos()
        return self.b.gc()

    def tick(self) -> None:
        """Called once per new set: collects garbage before the node table fills up.

        Polling every 256 sets keeps the cost negligible; the threshold doubles past
        what survived the last collection so a mostly-live table does not thrash.
        """
        self._ticks += 1
        if self._ticks & 255:
            return
        fill = self.b.fill()
        if fill > self._gc_at:
            self.collect()
            self._gc_at = min(0.9, max(0.5, 2 * self.b.fill()))

    # ----- queries ------------------------------------------------------------------

    def contains(self, f: Fn, p: Packet) -> bool:
        return p.is_canonical() and self.b.eval(f, self.packet_bits(p))

    def count(self, f: Fn) -> int:
        """Exact number of canonical packets: per region, models / 2**don't-care bits."""
        b, total = self.b, 0
        for family, addr_dc in ((4, 2 * 96), (6, 0)):
            ff = f & self.family_lit[family]
            if ff == b.false:
                continue
            for region, dc in ((self.port_region, 16), (self.icmp_region, 32), (self.other_region, 48)):
                total += b.sat_count(ff & region) >> (addr_dc + dc)
        return total

    def min_packet(self, f: Fn) -> Packet | None:
        """Smallest packet in variable order; canonical because don't-care bits read 0
        and, by the invariant, a 1 there is never forced."""
        if f == self.b.false:
            return None
        return self.decode(self.b.min_cube(f))

    def min_bits(self, f: Fn) -> list[int]:
        """The smallest satisfying assignment of a satisfiable ``f`` by walking it in Python: take
        the 0 branch whenever it is satisfiable, free variables 0. The reference for backends'
        ``min_cube``."""
        b = self.b
        bits = [0] * NVARS
        g = f
        while g != b.true:
            hi, lo = b.cofactors(g)
            if lo != b.false:
                g = lo
            else:
                bits[b.level(g)] = 1  # type: ignore[index]
                g = hi
        return bits

    def decode(self, bits: bytes | list[int]) -> Packet:
        # one big integer, sliced per field: a bit loop per field cost more than the walk itself
        big = int(bytes(bits).translate(_TO_DIGITS), 2)
        family = 6 if bits[self.base["family"]] else 4
        vals: dict[str, int] = {}
        for name in self.order[1:]:
            w = width(name, family)
            vals[name] = (big >> (NVARS - self.base[name] - w)) & ((1 << w) - 1)
        return Packet(family=family, **vals)

    # ----- decomposition into boxes -------------------------------------------------

    def _drop_box_memos(self) -> None:
        for memo in (*self._seg_memo.values(), *self._tail_memo.values()):
            memo.clear()
        self._part_memo.clear()

    def partition(self, f: Fn, field: str, family: int,
                  memo: dict[tuple[Fn, int], list[Segment]] | None = None) -> list[Segment]:
        """Split the values of ``field`` by the sub-BDD they lead to.

        ``f`` must have its top variable at or below the start of ``field``. Returns
        maximal segments ``(lo, hi, child)`` covering all values in order, where
        ``child`` is the BDD for the fields below. Don't-care bits (skipped levels) are
        handled without enumerating values. ``memo`` defaults to the engine's shared one
        for ``family`` (an entry depends only on the node: its level names the field).
        The returned list is shared: do not mutate it.
        """
        w = width(field, family)
        base = self.base[field]
        end = base + FIELD_WIDTH[field]
        meaningful_end = base + w
        if memo is None:
            memo = self._seg_memo[family]
            if len(memo) > _BOX_MEMO_MAX:
                self._drop_box_memos()
        level, cofactors, false = self.b.level, self.b.cofactors, self.b.false
        get = memo.get

        def rec(g: Fn, d: int) -> list[Segment]:
            lv = level(g)
            if lv is None or lv >= end:
                return [(0, (1 << (w - d)) - 1, g)]
            if lv >= meaningful_end:
                raise AssertionError(f"BDD depends on meaningless bit {lv - base} of {field}/v{family}")
            key = (g, d)
            hit = get(key)
            if hit is not None:
                return hit
            # A run of bits with one satisfiable branch each (a prefix: most address sets) fixes
            # those bits, so it leads to one contiguous block: walk it in a loop rather than
            # one recursion level per bit.
            start, offset = d, 0
            while lv == base + d:
                hi, lo = cofactors(g)
                if lo == false:
                    offset += 1 << (w - d - 1)
                    g = hi
                elif hi == false:
                    g = lo
                else:
                    break
                d += 1
                lv = level(g)
                if lv is None or lv >= end:
                    break
            if d > start:
                inner = rec(g, d)
                total, block = 1 << (w - start), 1 << (w - d)
                out = [(0, offset - 1, false)] if offset else []
                for lo_v, hi_v, c in inner:
                    if out and out[-1][2] == c:
                        out[-1] = (out[-1][0], hi_v + offset, c)
                    else:
                        out.append((lo_v + offset, hi_v + offset, c))
                if offset + block < total:
                    if out[-1][2] == false:
                        out[-1] = (out[-1][0], total - 1, false)
                    else:
                        out.append((offset + block, total - 1, false))
                memo[key] = out
                return out
            half = 1 << (w - d - 1)
            if lv > base + d:  # bit d is don't care: both halves look the same
                low = high = rec(g, d + 1)
            else:
                hi, lo = cofactors(g)
                low, high = rec(lo, d + 1), rec(hi, d + 1)
            out = list(low)
            last_lo, last_hi, last_c = out[-1]
            first = True
            for lo_v, hi_v, c in high:
                if first:
                    first = False
                    if last_c == c and last_hi + 1 == lo_v + half:
                        out[-1] = (last_lo, hi_v + half, c)
                        continue
                out.append((lo_v + half, hi_v + half, c))
            memo[key] = out
            return out

        return rec(f, 0)

    def raw_boxes(self, f: Fn) -> list[RawBox]:
        """Decompose ``f`` into boxes: one per path through the field-level graph.

        Each field's values are grouped per child sub-BDD (a union of intervals), so a
        union of k prefix x port-range boxes typically comes back as about k boxes.
        """
        return merge_boxes(self.path_boxes(f))

    def product_boxes(self, dst: Fn, src: Fn, rest: Fn) -> list[RawBox] | None:
        """``raw_boxes(dst & src & rest)`` from the three parts, when each constrains only its own
        fields besides the family: ``dst`` the destination address, ``src`` the source address,
        ``rest`` the fields below them. Otherwise None.

        The conjunction's paths are then, per family, the destination's intervals times the
        source's times each path of ``rest``, in that order, which is what walking the
        conjunction yields; the parts are small and shared by many conjunctions (a flow's
        endpoints and services), so their walks are mostly memoised already.
        """
        if self.order[1:3] != ("dst", "src"):
            return None
        d, s, r = self._product_part(dst, 0), self._product_part(src, 1), self._product_part(rest, 2)
        if d is None or s is None or r is None:
            return None
        # merge_boxes(conjunction's paths) is the rest's merged boxes with the two address fields put
        # in: every path of a family shares them, so the merges happen in the rest's fields alone, and
        # a family's merges never depend on the other family's boxes
        out: list[RawBox] = []
        for family in (4, 6):
            head = d.get(family), s.get(family)
            if head[0] is not None and head[1] is not None:
                out.extend((family, head + tail) for tail in r.get(family, ()))
        return out

    def product_min_packet(self, dst: Fn, src: Fn, rest: Fn) -> Packet | None:
        """``min_packet(dst & src & rest)`` for parts of the shape :meth:`product_boxes` takes; None
        for others and for an empty conjunction. The smallest packet takes the smallest family all
        three parts have, then each part's smallest values: the destination's and the source's
        lowest address and the smallest packet of ``rest`` in that family."""
        if self.order[1:3] != ("dst", "src"):
            return None
        d, s, r = self._product_part(dst, 0), self._product_part(src, 1), self._product_part(rest, 2)
        if d is None or s is None or r is None:
            return None
        for family in (4, 6):
            if family in d and family in s and r.get(family):
                key = (rest, 3 if family == 4 else 4)  # beside the parts' keys (k = 0, 1, 2)
                low = self._part_memo.get(key)
                if low is None:
                    low = self._part_memo[key] = self.min_packet(rest & self.family_lit[family])
                return Packet(family, s[family][0][0], d[family][0][0], low.proto, low.sport, low.dport,
                              low.icmp_type, low.icmp_code)
        return None

    def _product_part(self, f: Fn, k: int) -> dict | None:
        """Per family, the intervals of field ``k`` (0: dst, 1: src) of a set constraining only that
        field, or the paths below the addresses (k = 2) of one constraining none of them; None for
        a set of another shape. Memoised: a flow's parts recur in flow after flow."""
        memo = self._part_memo
        key = (f, k)
        if key in memo:
            return memo[key]
        if len(memo) > _BOX_MEMO_MAX:
            memo.clear()
        full = {family: tuple(((0, (1 << width(name, family)) - 1),) for name in self.order[1:])
                for family in (4, 6)}
        found: dict | None = {}
        paths = self.path_boxes(f)
        for family, ivs in merge_boxes(paths) if k == 2 else paths:
            if k == 2:
                if ivs[:2] != full[family][:2]:
                    found = None
                    break
                found.setdefault(family, []).append(ivs[2:])
            elif family in found or ivs[:k] + ivs[k + 1:] != full[family][:k] + full[family][k + 1:]:
                found = None  # more than one path, or a constraint outside the part's own field
                break
            else:
                found[family] = ivs[k]
        memo[key] = found
        return found

    def path_boxes(self, f: Fn) -> list[RawBox]:
        """The boxes of :meth:`raw_boxes` before boxes differing in one field are merged."""
        b = self.b
        out: list[RawBox] = []
        if f == b.false:
            return out
        fields = self.order[1:]
        nfields = len(fields)
        true, false = b.true, b.false
        # the family variable is level 0: cofactor on it (f may not depend on it at all)
        v6, v4 = b.cofactors(f) if b.level(f) == self.base["family"] else (f, f)
        for family, sub in ((4, v4), (6, v6)):
            if sub == false:
                continue
            tail_memo = self._tail_memo[family]
            if len(tail_memo) > _BOX_MEMO_MAX:
                self._drop_box_memos()
            seg_memo = self._seg_memo[family]

            def tails(g: Fn, k: int) -> list[tuple[tuple[Interval, ...], ...]]:
                if k == nfields:
                    return [()] if g == true else []
                key = (g, k)
                hit = tail_memo.get(key)
                if hit is not None:
                    return hit
                groups: dict[Fn, list[Interval]] = {}
                for lo_v, hi_v, c in self.partition(g, fields[k], family, seg_memo):
                    if c != false:
                        groups.setdefault(c, []).append((lo_v, hi_v))
                res = []
                # dict insertion order == order of first value: deterministic
                for c, ivs in groups.items():
                    head = (tuple(ivs),)
                    for t in tails(c, k + 1):
                        res.append(head + t)
                tail_memo[key] = res
                return res

            out.extend((family, t) for t in tails(sub, 0))
        return out


def merge_boxes(boxes: list[RawBox]) -> list[RawBox]:
    """Greedily merge boxes that differ in one field only (union of that field).

    Keeps the first occurrence's position, so output order is deterministic.
    """
    if len(boxes) < 2:
        return boxes
    nf = len(boxes[0][1])
    changed = True
    while changed:
        changed = False
        for i in range(nf):
            groups: dict[tuple[int, tuple[tuple[Interval, ...], ...]], list[tuple[Interval, ...]]] = {}
            for fam, fs in boxes:
                groups.setdefault((fam, fs[:i] + ((),) + fs[i + 1:]), []).append(fs[i])
            if len(groups) == len(boxes):
                continue
            changed = True
            merged: list[RawBox] = []
            for (fam, fs), parts in groups.items():
                ivs = union_intervals(iv for part in parts for iv in part)
                merged.append((fam, fs[:i] + (ivs,) + fs[i + 1:]))
            boxes = merged
    return boxes


def union_intervals(ivs: Iterable[Interval]) -> tuple[Interval, ...]:
    """Sorted, merged (adjacent or overlapping) inclusive intervals."""
    out: list[Interval] = []
    for lo, hi in sorted(ivs):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return tuple(out)
