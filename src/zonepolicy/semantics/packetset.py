"""Exact sets of canonical packets with set algebra, backed by BDDs.

:class:`PacketSet` is an immutable value. Its universe is the set of canonical packets
(see :mod:`zonepolicy.semantics.packet`): complement, ``count()`` and equality are all
relative to it, and every constructor intersects with it.

All sets of a process share one BDD manager, created lazily on first use (backend and
size are configured by environment variables, see :mod:`zonepolicy.semantics._bdd`).
Equal sets have identical BDDs, so ``==`` and ``hash`` are O(1).

Determinism: ``pick``, ``picks``, ``boxes`` and ``describe`` depend only on the set, not
on hash seeds, node ids or the history of the manager. Packets are ordered by
(family, dst, src, proto, dport, sport, icmp_type, icmp_code), IPv4 before IPv6 — the
BDD variable order.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import ParamSpec, TypeVar, Union, cast

from . import _engine
from ._bdd import Fn, backend_from_env
from ._engine import Engine, Interval, width
from .packet import PROTOCOL_NAMES, Packet

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
AddressSpec = Union[Sequence[Interval], Sequence[Union[Network, str]], None]
IntervalSpec = Union[Sequence[Interval], None]

_ENGINE: Engine | None = None
_P = ParamSpec("_P")
_R = TypeVar("_R")


def engine() -> Engine:
    """The process-wide engine (created on first use)."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = Engine(backend_from_env(_engine.NVARS))
    return _ENGINE


def _guarded(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turn the backend's out-of-nodes error into one that says what to change."""

    @functools.wraps(method)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(*args, **kwargs)
        except MemoryError as exc:
            raise MemoryError(
                f"BDD node table full ({engine().b.stats()}); set ZONEPOLICY_BDD_NODES higher "
                "(default 2**26) and restart the process"
            ) from exc

    return run


def _wrap(f: Fn) -> PacketSet:
    _ENGINE.tick()  # type: ignore[union-attr]  # every set comes from the engine
    s = object.__new__(PacketSet)
    s._f = f
    return s


def _intervals(name: str, spec: Sequence[Interval], family: int) -> list[Interval]:
    """Validate an interval list (a lone ``(lo, hi)`` pair is a common slip: reject it)."""
    if isinstance(spec, (str, bytes)) or not isinstance(spec, Iterable):
        raise TypeError(f"{name}: expected a sequence of (lo, hi) intervals, got {spec!r}")
    out: list[Interval] = []
    top = (1 << width(name, family)) - 1
    for iv in spec:
        if not (isinstance(iv, tuple | list) and len(iv) == 2 and all(isinstance(x, int) for x in iv)):
            raise TypeError(f"{name}: expected (lo, hi) integer pairs, got {iv!r}")
        lo, hi = iv
        if not 0 <= lo <= hi <= top:
            raise ValueError(f"{name}: interval ({lo}, {hi}) outside 0..{top} or reversed")
        out.append((lo, hi))
    return out


_NETWORK_TYPES = (ipaddress.IPv4Network, ipaddress.IPv6Network)


def _split_addresses(name: str, spec: AddressSpec, family: int | None) -> dict[int, list[Interval]] | None:
    """Per-family intervals of an address argument; ``None`` means unconstrained."""
    if spec is None:
        return None
    items = list(spec)
    if items and all(isinstance(x, tuple | list) for x in items):
        if family is None:
            raise ValueError(f"{name} given as integer intervals requires family=4 or 6")
        return {family: _intervals(name, cast(list[Interval], items), family)}
    per: dict[int, list[Interval]] = {4: [], 6: []}
    for x in items:
        if isinstance(x, tuple | list):
            raise TypeError(f"{name}: do not mix integer intervals and networks")
        # network objects (what the policy model holds) as they are: ip_network() would print
        # and parse each one again
        net = x if isinstance(x, _NETWORK_TYPES) else (
            ipaddress.ip_network(x, strict=False) if isinstance(x, str) else ipaddress.ip_network(x))
        if family is not None and net.version != family:
            raise ValueError(f"{name}: {net} is not IPv{family}")
        lo = int(net.network_address)
        per[net.version].append((lo, lo + net.num_addresses - 1))
    return per


class PacketSet:
    """An immutable, hashable, exact set of canonical packets."""

    __slots__ = ("_f",)
    _f: Fn

    def __init__(self) -> None:
        raise TypeError("use PacketSet.empty(), .universe() or .build(...)")

    # ----- constructors -------------------------------------------------------------

    @staticmethod
    def empty() -> PacketSet:
        """The empty set."""
        return _wrap(engine().b.false)

    @staticmethod
    def universe() -> PacketSet:
        """All canonical packets of both families."""
        return _wrap(engine().b.true)

    @staticmethod
    @_guarded
    def build(
        *,
        family: int | None = None,
        src: AddressSpec = None,
        dst: AddressSpec = None,
        proto: IntervalSpec = None,
        sport: IntervalSpec = None,
        dport: IntervalSpec = None,
        icmp_type: IntervalSpec = None,
        icmp_code: IntervalSpec = None,
    ) -> PacketSet:
        """One box: the canonical packets whose every field lies in its argument.

        Each argument is ``None`` (any value) or a sequence of inclusive ``(lo, hi)``
        integer intervals, read as their union. ``src``/``dst`` as integers are
        addresses within ``family``, which is then required. ``src``/``dst`` may instead
        be sequences of ``ipaddress`` networks (or CIDR strings); a list mixing IPv4
        and IPv6 contributes each family's networks to that family, i.e. the result is
        the union over families of the same-family boxes (a family missing from a given
        address list contributes nothing). ``family=None`` allows both families.

        The result is intersected with the universe: ``build(proto=[(1, 1)],
        dport=[(443, 443)])`` is empty, ICMP packets having port 0.
        """
        if family not in (None, 4, 6):
            raise ValueError(f"family must be None, 4 or 6, got {family!r}")
        e = engine()
        fams = (family,) if family is not None else (4, 6)
        srcs = _split_addresses("src", src, family)
        dsts = _split_addresses("dst", dst, family)
        common = e.b.true
        for name, spec in (("proto", proto), ("dport", dport), ("sport", sport),
                           ("icmp_type", icmp_type), ("icmp_code", icmp_code)):
            if spec is not None:
                common = common & e.constraint(name, 4, _intervals(name, spec, 4))
        acc = e.b.false
        for fam in fams:
            part = e.family_lit[fam]
            for name, per in (("dst", dsts), ("src", srcs)):
                if per is not None:
                    part = part & e.constraint(name, fam, per.get(fam, []))
            acc = acc | part
        return _wrap(acc & common)

    # ----- algebra ------------------------------------------------------------------

    @_guarded
    def __or__(self, other: PacketSet) -> PacketSet:
        if not isinstance(other, PacketSet):
            return NotImplemented
        return _wrap(self._f | other._f)

    @_guarded
    def __and__(self, other: PacketSet) -> PacketSet:
        if not isinstance(other, PacketSet):
            return NotImplemented
        return _wrap(self._f & other._f)

    @_guarded
    def __sub__(self, other: PacketSet) -> PacketSet:
        if not isinstance(other, PacketSet):
            return NotImplemented
        return _wrap(self._f & ~other._f)

    @_guarded
    def __xor__(self, other: PacketSet) -> PacketSet:
        if not isinstance(other, PacketSet):
            return NotImplemented
        return _wrap(engine().b.ite(self._f, ~other._f, other._f))

    @_guarded
    def __invert__(self) -> PacketSet:
        # the universe is the constant true under the don't-care encoding (see _engine)
        return _wrap(~self._f)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PacketSet):
            return NotImplemented
        return bool(self._f == other._f)

    def __ne__(self, other: object) -> bool:
        if not isinstance(other, PacketSet):
            return NotImplemented
        return bool(self._f != other._f)

    def __hash__(self) -> int:
        return hash(self._f)

    def __bool__(self) -> bool:
        return bool(self._f != engine().b.false)

    def is_empty(self) -> bool:
        """True iff the set has no packet."""
        return not self

    @_guarded
    def issubset(self, other: PacketSet) -> bool:
        """True iff every packet of ``self`` is in ``other``."""
        return bool((self._f & ~other._f) == engine().b.false)

    def __le__(self, other: PacketSet) -> bool:
        return self.issubset(other)

    def __lt__(self, other: PacketSet) -> bool:
        return self.issubset(other) and self != other

    def __ge__(self, other: PacketSet) -> bool:
        return other.issubset(self)

    def __gt__(self, other: PacketSet) -> bool:
        return other.issubset(self) and self != other

    def __contains__(self, packet: object) -> bool:
        if not isinstance(packet, Packet):
            return False
        return engine().contains(self._f, packet)

    # ----- inspection ---------------------------------------------------------------

    @_guarded
    def count(self) -> int:
        """Exact number of canonical packets in the set."""
        return engine().count(self._f)

    def pick(self) -> Packet | None:
        """The smallest packet of the set in the module's packet order, or ``None``."""
        return engine().min_packet(self._f)

    @_guarded
    def picks(self, n: int) -> list[Packet]:
        """Up to ``n`` distinct packets, deterministic, spread over ``boxes()``.

        First the smallest packet of each box in box order, then, round-robin over the
        boxes, the smallest packet not yet taken.
        """
        if n <= 0 or not self:
            return []
        e = engine()
        fields = e.order[1:]
        boxes = e.raw_boxes(self._f)
        regions: list[Fn | None] = [None] * len(boxes)  # built lazily: n is usually small
        taken: list[Packet] = []
        used = e.b.false
        while len(taken) < n:
            progress = False
            for i, (family, ivs) in enumerate(boxes):
                r = regions[i]
                if r is None:
                    r = regions[i] = e.box(family, dict(zip(fields, ivs)))
                p = e.min_packet(r & ~used)
                if p is None:
                    continue
                taken.append(p)
                used = used | e.singleton(p)
                progress = True
                if len(taken) == n:
                    break
            if not progress:
                break
        return taken

    @_guarded
    def boxes(self) -> list[Box]:
        """The set as a union of boxes (exact; boxes may overlap), deterministic order.

        Values of each field are grouped by what they lead to, adjacent intervals and
        prefixes merged, and boxes differing in a single field merged, so a union of a
        few prefix x port boxes comes back as about that many boxes.
        """
        return _to_boxes(engine().raw_boxes(self._f))

    @staticmethod
    @_guarded
    def product_boxes(dst: PacketSet, src: PacketSet, rest: PacketSet) -> list[Box] | None:
        """``(dst & src & rest).boxes()`` without decomposing the conjunction, or None.

        For parts that each constrain, besides the family, only their own fields: ``dst`` the
        destination address, ``src`` the source address, ``rest`` protocol, ports and ICMP fields
        (a flow's destinations, sources and services). None when they do not.
        """
        raw = engine().product_boxes(dst._f, src._f, rest._f)
        return None if raw is None else _to_boxes(raw)

    @staticmethod
    @_guarded
    def product_pick(dst: PacketSet, src: PacketSet, rest: PacketSet) -> Packet | None:
        """``(dst & src & rest).pick()`` for parts of the shape :meth:`product_boxes` takes, without
        building the conjunction; None for parts of another shape and for an empty conjunction."""
        return engine().product_min_packet(dst._f, src._f, rest._f)

    def describe(self, limit: int = 10) -> str:
        """Multi-line rendering: the first ``limit`` boxes, then "… and N more"."""
        bs = self.boxes()
        if not bs:
            return "(empty)"
        lines = [str(b) for b in bs[:limit]]
        if len(bs) > limit:
            lines.append(f"… and {len(bs) - limit} more")
        return "\n".join(lines)

    def __repr__(self) -> str:
        # cheap on purpose: repr shows up in assertion messages of huge sets
        e = engine()
        if self._f == e.b.false:
            return "PacketSet(empty)"
        if self._f == e.b.true:
            return "PacketSet(universe)"
        return f"PacketSet(first={self.pick()}, bdd_nodes={e.b.node_count(self._f)})"


def _to_boxes(raw: list[_engine.RawBox]) -> list[Box]:
    fields = engine().order[1:]
    out: list[Box] = []
    for family, ivs in raw:
        kw = dict(zip(fields, ivs))
        out.append(Box(
            family=family,
            src=_networks(family, kw["src"]),
            dst=_networks(family, kw["dst"]),
            proto=kw["proto"], sport=kw["sport"], dport=kw["dport"],
            icmp_type=kw["icmp_type"], icmp_code=kw["icmp_code"],
        ))
    return out


# Zones' prefixes recur in finding after finding: convert and print each address set once.
@functools.lru_cache(maxsize=1 << 16)
def _networks(family: int, ivs: tuple[Interval, ...]) -> tuple[Network, ...]:
    cls = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    nets: list[Network] = []
    for lo, hi in ivs:
        nets.extend(ipaddress.summarize_address_range(cls(lo), cls(hi)))
    return tuple(nets)


_ANY_NET = {4: (ipaddress.IPv4Network("0.0.0.0/0"),), 6: (ipaddress.IPv6Network("::/0"),)}


@functools.lru_cache(maxsize=1 << 16)
def _networks_text(nets: tuple[Network, ...]) -> str:
    return ",".join(str(n) for n in nets)


def _fmt_ranges(ivs: tuple[Interval, ...]) -> str:
    return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in ivs)


@dataclass(frozen=True, slots=True)
class Box:
    """A product of per-field value sets (intersected with the universe).

    Addresses are tuples of networks of ``family``; the other fields are tuples of
    inclusive integer intervals. A field covering its whole range means "any";
    in particular ports of non-port protocols read as any (their only canonical value
    is 0, which the universe enforces).
    """

    family: int
    src: tuple[Network, ...]
    dst: tuple[Network, ...]
    proto: tuple[Interval, ...]
    sport: tuple[Interval, ...]
    dport: tuple[Interval, ...]
    icmp_type: tuple[Interval, ...]
    icmp_code: tuple[Interval, ...]

    def to_set(self) -> PacketSet:
        """The box as a :class:`PacketSet` (intersected with the universe)."""
        return PacketSet.build(
            family=self.family, src=list(self.src), dst=list(self.dst), proto=list(self.proto),
            sport=list(self.sport), dport=list(self.dport),
            icmp_type=list(self.icmp_type), icmp_code=list(self.icmp_code),
        )

    def __str__(self) -> str:
        full8, full16 = ((0, 255),), ((0, 65535),)
        if self.proto == full8:
            head = f"ip{self.family}"
        elif len(self.proto) == 1 and self.proto[0][0] == self.proto[0][1] and self.proto[0][0] in PROTOCOL_NAMES:
            head = PROTOCOL_NAMES[self.proto[0][0]]
        else:
            head = "proto " + _fmt_ranges(self.proto)
        any_net = _ANY_NET[self.family]

        # "any" alone would hide the family when nothing else shows it
        any_text = "any" if head.startswith("ip") or self.src != self.dst else f"any{self.family}"

        def addrs(nets: tuple[Network, ...]) -> str:
            return any_text if nets == any_net else _networks_text(nets)

        parts = [head, addrs(self.src), "->", addrs(self.dst)]
        for label, ivs, full in (("sport", self.sport, full16), ("dport", self.dport, full16),
                                 ("type", self.icmp_type, full8), ("code", self.icmp_code, full8)):
            if ivs != full:
                parts.append(f"{label} {_fmt_ranges(ivs)}")
        return " ".join(parts)


__all__ = ["Box", "PacketSet", "engine"]
