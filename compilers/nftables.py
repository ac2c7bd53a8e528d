"""The nftables back end: one ``table inet`` per firewall, loaded atomically with ``nft -f``.

Layout of an emitted file (see docs/compilers.md, "nftables", for the reasoning):

* ``table inet T`` + ``delete table inet T`` + ``table inet T { … }``: one transaction, so loading
  replaces the previous version of the table atomically and never touches other tables. (nft 1.0.6,
  the version we validate against, has no ``destroy``.)
* ``chain forward`` (hook forward, policy drop): ``ct state established,related accept``,
  ``ct state invalid drop``, then **one** verdict-map lookup ``iifname . oifname vmap @pairs`` that
  jumps to the chain of the packet's interface pair. The walk does not grow with the number of pairs.
* one chain per interface pair, holding that pair's lookups in first-match order: the deny lookups,
  then the stateless-allow lookups (``ct state untracked``), then the stateful-allow lookups
  (``ct state new``), then the default-allow lookups, then ``counter drop``. Each lookup is one
  concatenated interval verdict map per family and key shape::

      ip saddr . ip daddr . meta l4proto . th dport        (TCP, UDP, SCTP with port ranges)
      ip saddr . ip daddr . meta l4proto                   (whole protocols)
      ip saddr . ip daddr . icmp type . icmp code          (ICMP)
      ip saddr . ip daddr . icmpv6 type . icmpv6 code      (ICMPv6)

  so the walk does not grow with the number of flows either. A lookup's elements must not overlap
  (the kernel refuses overlapping elements of a concatenated interval set with EEXIST, checked on
  this kernel), so each flow's region is made disjoint from the regions of the flows before it in
  the same map; the packet-set engine's boxes of one set are disjoint.
* every element jumps to the chain of its flow (``flow_<id>``), which counts, logs when the flow
  says ``log`` (prefix ``zp allow <id>``), and accepts or drops; its comment carries the flow id and
  ``file:line``. A box whose elements would explode (more than :data:`MAP_ELEMENT_LIMIT`) becomes
  an ordinary rule instead, with named address sets where the same prefix list repeats.
* ``stateless`` flows: replies must not be allowed by connection tracking, so the packets only
  stateless flows allow are exempted from tracking in a ``prerouting`` chain at priority ``raw``
  (``notrack``) and accepted with ``ct state untracked``; their replies are then judged like any
  other packet. Packets a stateful flow also allows stay tracked (stateful wins, as in the meaning).

:class:`NftablesCompiler.read` parses this subset back — and the form ``nft list ruleset`` prints
for a loaded table (counters with values, symbolic protocol and ICMP names, ``tcp dport``…) — into
first-match rules per interface pair for :func:`~zonepolicy.compilers.base.prove`.

Safety: every name in the output is either validated (interface names) or derived (table, chain,
set names: verbatim when made of safe characters, else escaped plus a hash); every text from the
policy goes through :func:`nft_string`, which cannot produce a quote, backslash, newline or
control character and respects nft's byte limits.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
import unicodedata
from dataclasses import dataclass, field
from functools import reduce
from itertools import product
from typing import Callable, Iterable, Sequence

from zonepolicy.diagnostics import Diagnostic, Severity
from zonepolicy.errors import ZonePolicyError
from zonepolicy.model.policy import Firewall, Policy
from zonepolicy.model.values import Action
from zonepolicy.semantics.meaning import Meaning
from zonepolicy.semantics.packetset import PacketSet

from . import _intervals as iv
from .base import (
    Compiler,
    Feature,
    Interval,
    Mismatch,
    Output,
    PairRules,
    ReadPair,
    TargetModel,
    TargetRule,
    register,
)

#: nft refuses comments longer than 128 bytes ("comment too long", checked on nft 1.0.6).
COMMENT_MAX = 128
#: The kernel's log prefix holds 128 bytes including the terminating NUL (ERANGE above that).
LOG_PREFIX_MAX = 127
#: Above this many elements a box is emitted as one rule with sets instead of map elements
#: (a product of long address lists would otherwise multiply into a huge map).
MAP_ELEMENT_LIMIT = 1024
#: Longest derived identifier we emit verbatim; longer ones are shortened and hashed.
IDENT_MAX = 120

# Linux interface names: at most 15 bytes (IFNAMSIZ 16 with the NUL), no "/", ":" or whitespace.
# We accept the conservative subset that is safe inside nft strings and derived identifiers too.
IFNAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}")
_SAFE_IDENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")

PORT_PROTOCOLS = (6, 17, 132)
ICMP_PROTOCOLS = (1, 58)
_SPECIAL = frozenset(PORT_PROTOCOLS + ICMP_PROTOCOLS)
_PROTO_NAMES = {6: "tcp", 17: "udp", 132: "sctp", 1: "icmp", 58: "ipv6-icmp"}
FULL8: tuple[Interval, ...] = ((0, 255),)
FULL16: tuple[Interval, ...] = ((0, 65535),)


class NftReadError(ZonePolicyError):
    """The text is not in the subset of nftables syntax the reader understands (or nft would refuse it)."""


# ---------------------------------------------------------------- safe names and strings
def nft_string(text: str, limit: int = COMMENT_MAX) -> str:
    """``text`` as an nft double-quoted string that cannot break out of its quotes.

    nft strings have no escapes: a ``"`` ends the string and a newline ends the statement. So quotes
    become ``'``, backslashes ``/``, every control, format or line/paragraph separator character a
    space, ``$`` (variable expansion in some contexts) ``S``; the UTF-8 result is cut at a character
    boundary to ``limit`` bytes, marking a cut with ``~``.
    """
    return _nft_string(text, limit)


@functools.lru_cache(maxsize=1 << 16)  # labels repeat per flow chain and per rule of a large model
def _nft_string(text: str, limit: int) -> str:
    if text.isascii() and text.isprintable() and not any(c in text for c in '"\\$'):
        return _quoted(" ".join(text.split()), limit)
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch == '"':
            out.append("'")
        elif ch == "\\":
            out.append("/")
        elif ch == "$":
            out.append("S")
        elif cat in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn") or (cat == "Zs" and ch != " "):
            out.append(" ")
        else:
            out.append(ch)
    return _quoted(" ".join("".join(out).split()), limit)  # runs of blanks collapsed, none at the ends


def _quoted(clean: str, limit: int) -> str:
    raw = clean.encode("utf-8")
    if len(raw) > limit:
        cut = raw[: limit - 1]
        clean = cut.decode("utf-8", errors="ignore") + "~"
    return f'"{clean}"'


def _hash(text: str, n: int = 10) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:n]


def derived_name(prefix: str, raw: str) -> str:
    """An nft identifier for ``raw``: ``prefix + raw`` when ``raw`` is made of safe characters and
    short, else ``prefix`` + an escaped, shortened ``raw`` + ``/`` + a hash of it. ``/`` never
    occurs in the verbatim form, so two different inputs never get the same name."""
    if _SAFE_IDENT.fullmatch(raw) and len(prefix) + len(raw) <= IDENT_MAX:
        return prefix + raw
    escaped = re.sub(r"[^A-Za-z0-9_.-]", "_", raw)[:40]
    return f"{prefix}{escaped}/{_hash(raw)}"


def table_name(firewall: str) -> str:
    """The table a firewall's configuration lives in: ``zonepolicy_<firewall>``."""
    return derived_name("zonepolicy_", firewall)


def file_name(firewall: str) -> str:
    """The output file of a firewall: ``<firewall>.nft`` (escaped and hashed if the name is unusual)."""
    if _SAFE_IDENT.fullmatch(firewall) and len(firewall) <= IDENT_MAX and not firewall.startswith("."):
        return f"{firewall}.nft"
    return f"{re.sub(r'[^A-Za-z0-9_.-]', '_', firewall)[:40].lstrip('.')}-{_hash(firewall)}.nft"


def flow_chain(flow_id: str) -> str:
    return "default_allow" if flow_id == "default" else derived_name("flow_", flow_id)


def pair_chain(in_if: str, out_if: str) -> str:
    # "/" cannot occur in a Linux interface name, so the name is unambiguous and readable
    return f"fwd_{in_if}/{out_if}"


def log_prefix(action: str, flow_id: str) -> str:
    """``"zp allow <flow id>: "``: the flow id is what a log reader greps for, so a long id is cut and
    completed with its hash rather than truncated blindly."""
    ident = nft_string(flow_id, 200)[1:-1]
    if len(f"zp {action} {ident}: ".encode()) > LOG_PREFIX_MAX:
        ident = f"{ident[:80]}~{_hash(flow_id)}"
    return f'"zp {action} {ident}: "'


# ---------------------------------------------------------------- values
def _addr_ranges(nets: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> tuple[Interval, ...]:
    """Networks as merged inclusive integer ranges (fewer elements than prefixes)."""
    return iv.ranges(nets)


@functools.lru_cache(maxsize=1 << 17)  # a large model names each address range in several elements
def _fmt_addr(family: int, span: Interval) -> str:
    lo, hi = span
    bits = 32 if family == 4 else 128
    size = hi - lo + 1
    if size & (size - 1) == 0 and lo % size == 0:
        plen = bits - (size.bit_length() - 1)
        return _fmt_ip(family, lo) if plen == bits else f"{_fmt_ip(family, lo)}/{plen}"
    return f"{_fmt_ip(family, lo)}-{_fmt_ip(family, hi)}"


_fmt_ip = iv.ip_text


def _fmt_num(iv: Interval) -> str:
    return str(iv[0]) if iv[0] == iv[1] else f"{iv[0]}-{iv[1]}"


def _fmt_proto(iv: Interval) -> str:
    if iv[0] == iv[1] and iv[0] in _PROTO_NAMES:
        return _PROTO_NAMES[iv[0]]
    return _fmt_num(iv)


def _union(ivs: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for lo, hi in sorted(ivs):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(hi, out[-1][1]))
        else:
            out.append((lo, hi))
    return out


def _has0(ivs: Sequence[Interval]) -> bool:
    return any(lo == 0 for lo, _ in ivs)


# ---------------------------------------------------------------- the plan: lookups and rules
@dataclass(frozen=True, slots=True)
class Piece:
    """Part of a box with one key shape: ``cls`` is "port", "proto", "icmp" or "icmpv6"."""

    family: int
    cls: str
    src: tuple[Interval, ...]
    dst: tuple[Interval, ...]
    a: tuple[Interval, ...]  # protocols ("port", "proto"), ICMP types ("icmp*")
    b: tuple[Interval, ...] = ()  # ports ("port"), ICMP codes ("icmp*")

    def size(self) -> int:
        n = len(self.src) * len(self.dst) * len(self.a)
        return n * len(self.b) if self.cls != "proto" else n


def split_box(family: int, src: Sequence, dst: Sequence, proto: Sequence[Interval], dport: Sequence[Interval],
              icmp_type: Sequence[Interval], icmp_code: Sequence[Interval]) -> list[Piece]:
    """The packets of a box (intersected with the canonical universe) as pieces by key shape.

    In the universe a packet carries ports only for TCP/UDP/SCTP and ICMP type/code only for
    ICMP/ICMPv6, with 0 in the fields it does not have. So a protocol contributes only when the box
    admits 0 in its absent fields; a protocol the box covers entirely (all ports, all types) goes to
    the "proto" shape, which needs no port or type match.
    """
    s, d = _addr_ranges(src), _addr_ranges(dst)
    if not s or not d:
        return []
    return [Piece(family, cls, s, d, a, b) for cls, a, b in _service_shapes(
        tuple(proto), tuple(dport), tuple(icmp_type), tuple(icmp_code))]


@functools.lru_cache(maxsize=1 << 14)  # a large model has a few thousand distinct service boxes
def _service_shapes(proto: tuple[Interval, ...], dport: tuple[Interval, ...], icmp_type: tuple[Interval, ...],
                    icmp_code: tuple[Interval, ...]) -> tuple[tuple[str, tuple[Interval, ...], tuple[Interval, ...]], ...]:
    """The service part of :func:`split_box`: (key shape, protocols or ICMP types, ports or ICMP codes)."""
    d0, t0, c0 = _has0(dport), _has0(icmp_type), _has0(icmp_code)
    whole: list[Interval] = []
    ports: list[Interval] = []
    icmp: dict[int, bool] = {}
    for lo, hi in proto:
        start = lo
        for p in sorted(x for x in _SPECIAL if lo <= x <= hi):
            if start < p and d0 and t0 and c0:
                whole.append((start, p - 1))
            start = p + 1
            if p in PORT_PROTOCOLS:
                if t0 and c0:
                    (whole if dport == FULL16 else ports).append((p, p))
            elif d0:
                if icmp_type == FULL8 and icmp_code == FULL8:
                    whole.append((p, p))
                else:
                    icmp[p] = True
        if start <= hi and d0 and t0 and c0:
            whole.append((start, hi))
    out: list[tuple[str, tuple[Interval, ...], tuple[Interval, ...]]] = []
    if ports:
        out.append(("port", tuple(_union(ports)), dport))
    if whole:
        out.append(("proto", tuple(_union(whole)), ()))
    for p in sorted(icmp):
        out.append(("icmp" if p == 1 else "icmpv6", icmp_type, icmp_code))
    return tuple(out)


_KEY_TYPES = {
    "port": ("meta l4proto . th dport", "inet_proto . inet_service"),
    "proto": ("meta l4proto", "inet_proto"),
    "icmp": ("icmp type . icmp code", "icmp_type . icmp_code"),
    "icmpv6": ("icmpv6 type . icmpv6 code", "icmpv6_type . icmpv6_code"),
}
_CLASSES = ("port", "proto", "icmp", "icmpv6")


def _key(family: int, cls: str) -> tuple[str, str]:
    v, t = ("ip", "ipv4_addr") if family == 4 else ("ip6", "ipv6_addr")
    expr, types = _KEY_TYPES[cls]
    return f"{v} saddr . {v} daddr . {expr}", f"{t} . {t} . {types}"


def _elements(piece: Piece) -> Iterable[str]:
    f = piece.family
    fa = _fmt_proto if piece.cls in ("port", "proto") else _fmt_num
    cols = [[_fmt_addr(f, iv) for iv in piece.src], [_fmt_addr(f, iv) for iv in piece.dst], [fa(iv) for iv in piece.a]]
    if piece.cls != "proto":
        cols.append([_fmt_num(iv) for iv in piece.b])
    for combo in product(*cols):
        yield " . ".join(combo)


# groups of a pair chain, in first-match order, with the conntrack state each one matches
_GROUPS = (("deny", ""), ("untracked", "ct state untracked "), ("allow", "ct state new "), ("default", "ct state new "))


@dataclass
class _Lookup:
    """One concatenated lookup: its map/set name, key and elements (element text, target chain)."""

    name: str
    family: int
    cls: str
    elements: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _PairPlan:
    pair: PairRules
    # per group: lookups keyed (family, cls), then big rules as (piece, target chain)
    lookups: dict[str, dict[tuple[int, str], _Lookup]] = field(default_factory=dict)
    rules: dict[str, list[tuple[Piece, str]]] = field(default_factory=dict)
    notrack: PacketSet | None = None  # packets only stateless flows allow (exempt from tracking)


def _group_of(rule: TargetRule) -> str:
    if rule.action is Action.DENY:
        return "deny"
    if rule.flow_id == "default":
        return "default"
    return "allow" if rule.stateful else "untracked"


def _box_set(rules: Sequence[TargetRule]) -> PacketSet:
    return reduce(lambda acc, r: acc | r.to_set(), rules, PacketSet.empty())


def _raw_box(r: TargetRule) -> iv.Box:
    return (r.family, _addr_ranges(r.src), _addr_ranges(r.dst), r.proto, r.dport, r.icmp_type, r.icmp_code)


#: Candidate box pairs the overlap sweep may compare per box before leaving a group to the engine.
OVERLAP_BUDGET_PER_BOX = 5


def _plan_pair(pair: PairRules) -> _PairPlan:
    plan = _PairPlan(pair)
    by_group: dict[str, dict[str, list[TargetRule]]] = {g: {} for g, _ in _GROUPS}
    for r in pair.rules:
        by_group[_group_of(r)].setdefault(r.flow_id, []).append(r)
    sets: dict[tuple[str, str], PacketSet] = {}

    def set_of(group: str, flow_id: str) -> PacketSet:  # built only where a proof of disjointness needs it
        found = sets.get((group, flow_id))
        if found is None:
            found = sets[group, flow_id] = _box_set(by_group[group][flow_id])
        return found

    # What a stateful flow (or the default) allows stays tracked: stateless lookups get the rest only.
    stateful = PacketSet.empty()
    if by_group["untracked"]:
        for group in ("allow", "default"):
            for flow_id in by_group[group]:
                stateful = stateful | set_of(group, flow_id)
    # Within a lookup each packet jumps to one flow chain, the first of the flows that match it. Flows
    # with 'log' go first, so a packet is logged whenever a 'log' flow of the deciding kind matches it
    # (any deny flow decides; otherwise any allow flow, the stateless ones included).
    def ordered(group: str) -> list[tuple[str, list[TargetRule], str, bool]]:
        flows = by_group[group]
        logged = [(f, rs, group, False) for f, rs in flows.items() if any(r.log for r in rs)]
        rest = [(f, rs, group, False) for f, rs in flows.items() if not any(r.log for r in rs)]
        if group == "allow":
            logged += [(f, rs, "untracked", True) for f, rs in by_group["untracked"].items() if any(r.log for r in rs)]
        return logged + rest

    regions: dict[str, PacketSet] = {}
    for group, _ in _GROUPS:
        lookups: dict[tuple[int, str], _Lookup] = {}
        rules: list[tuple[Piece, str]] = []
        entries = ordered(group)
        # A flow's model boxes go into the lookup as they are when its packets meet none of the flows
        # before it; a sweep over the boxes' intervals finds the flows that might meet one, and only
        # those are decided by the engine (a group with stateless flows is left to the engine whole).
        meeting = None
        if group != "untracked" and not any(restricted for *_, restricted in entries):
            boxes_of = [[_raw_box(r) for r in rs] for _, rs, _, _ in entries]
            meeting = iv.later_overlapping(boxes_of, OVERLAP_BUDGET_PER_BOX * sum(map(len, boxes_of)) + 10_000)
        covered = stateful if group == "untracked" else PacketSet.empty()
        done = 0  # in the sweep's case, covered holds the packets of entries[:done] only
        for k, (flow_id, frules, of_group, restricted) in enumerate(entries):
            target = flow_chain(flow_id)
            boxes = [(r.family, r.src, r.dst, r.proto, r.dport, r.icmp_type, r.icmp_code) for r in frules]
            if meeting is None or k in meeting:  # else it meets no flow before it: the model's boxes as they are
                if meeting is not None:
                    for f, _, g, _ in entries[done:k]:
                        covered = covered | set_of(g, f)
                    done = k
                whole = set_of(of_group, flow_id)
                if restricted:
                    whole = whole & stateful
                if restricted or (not covered.is_empty() and not (whole & covered).is_empty()):
                    boxes = [(b.family, b.src, b.dst, b.proto, b.dport, b.icmp_type, b.icmp_code)
                             for b in (whole - covered).boxes()]
                # else the boxes of one packet set are pairwise disjoint: the model's boxes as they are
                if meeting is None:
                    covered = covered | whole
            for box in boxes:
                for piece in split_box(*box):
                    if piece.size() > MAP_ELEMENT_LIMIT:
                        rules.append((piece, target))
                        continue
                    key = (piece.family, piece.cls)
                    lk = lookups.get(key)
                    if lk is None:
                        lk = lookups[key] = _Lookup(
                            f"{group}_{pair.in_if}/{pair.out_if}_v{piece.family}_{piece.cls}", *key)
                    lk.elements.extend((e, target) for e in _elements(piece))
        plan.lookups[group] = {k: lookups[k] for k in sorted(lookups, key=lambda k: (k[0], _CLASSES.index(k[1])))}
        plan.rules[group] = rules
        regions[group] = covered
    stateless_only = regions["untracked"] - stateful
    plan.notrack = stateless_only if not stateless_only.is_empty() else None
    return plan


class _AddressSets:
    """Address lists of rules: named sets for lists used more than once, inline otherwise."""

    def __init__(self) -> None:
        self.uses: dict[tuple[int, tuple[Interval, ...]], int] = {}

    def count(self, family: int, ivs: tuple[Interval, ...]) -> None:
        if len(ivs) > 1:
            self.uses[(family, ivs)] = self.uses.get((family, ivs), 0) + 1

    def name(self, family: int, ivs: tuple[Interval, ...]) -> str:
        return f"addr{family}_{_hash(repr(ivs))}"

    def ref(self, family: int, ivs: tuple[Interval, ...]) -> str:
        if len(ivs) == 1:
            return _fmt_addr(family, ivs[0])
        if self.uses.get((family, ivs), 0) > 1:
            return "@" + self.name(family, ivs)
        return "{ " + ", ".join(_fmt_addr(family, iv) for iv in ivs) + " }"

    def declarations(self) -> list[str]:
        out = []
        for (family, ivs), n in sorted(self.uses.items(), key=lambda kv: self.name(*kv[0])):
            if n > 1:
                t = "ipv4_addr" if family == 4 else "ipv6_addr"
                out.append(_set_block(self.name(family, ivs), t, [_fmt_addr(family, iv) for iv in ivs],
                                      comment=f"address list used by {n} rules"))
        return out


def _values(ivs: Sequence[Interval], fmt: Callable[[Interval], str]) -> str:
    """One value bare, several as an anonymous set."""
    return fmt(ivs[0]) if len(ivs) == 1 else "{ " + ", ".join(fmt(iv) for iv in ivs) + " }"


def _rule_match(piece: Piece, sets: _AddressSets) -> str:
    """The match part of the rule form of a piece (used when its elements would be too many)."""
    v = "ip" if piece.family == 4 else "ip6"
    head = f"{v} saddr {sets.ref(piece.family, piece.src)} {v} daddr {sets.ref(piece.family, piece.dst)}"
    if piece.cls == "port":
        return f"{head} meta l4proto {_values(piece.a, _fmt_proto)} th dport {_values(piece.b, _fmt_num)}"
    if piece.cls == "proto":
        return f"{head} meta l4proto {_values(piece.a, _fmt_proto)}"
    return f"{head} {piece.cls} type {_values(piece.a, _fmt_num)} {piece.cls} code {_values(piece.b, _fmt_num)}"


def _set_block(name: str, key_type: str, elements: Sequence[str], *, verdict: bool = False, interval: bool = True,
               comment: str | None = None) -> str:
    """A named set or verdict map with one element per line (so a review diff shows elements)."""
    kind = "map" if verdict else "set"
    lines = [f"    {kind} {name} {{", f"        type {key_type}{' : verdict' if verdict else ''}"]
    if interval:
        lines.append("        flags interval")
    if comment:
        lines.append(f"        comment {nft_string(comment)}")
    lines.append("        elements = {")
    lines.append(",\n".join(f"            {e}" for e in elements))
    lines.append("        }")
    lines.append("    }")
    return "\n".join(lines)


def _table_label(model: TargetModel) -> str:
    label = f"zonepolicy {model.policy} / {model.firewall}"
    return f"{label}: {model.description}" if model.description else label


def render_model(model: TargetModel) -> str:
    """The nft file of a target model (deterministic: it depends only on the model)."""
    table = table_name(model.firewall)
    plans = [_plan_pair(p) for p in model.pairs]
    sets = _AddressSets()
    for plan in plans:
        for rules in plan.rules.values():
            for piece, _ in rules:
                sets.count(piece.family, piece.src)
                sets.count(piece.family, piece.dst)

    # per flow: action, log, origin (from the rules that reach the output)
    flows: dict[str, tuple[Action, bool, str]] = {}
    for pair in model.pairs:
        for r in pair.rules:
            if r.flow_id not in flows:
                flows[r.flow_id] = (r.action, r.log, r.origin)

    head = [
        "#!/usr/sbin/nft -f",
        "# Generated by zonepolicy; do not edit: change the policy and compile again.",
        f"# policy {nft_string(model.policy, 200)[1:-1]} / firewall {nft_string(model.firewall, 200)[1:-1]}"
        f" (target {model.target})",
    ]
    if model.description:
        head.append(f"# {nft_string(model.description, 200)[1:-1]}")
    head += [
        "# Load with: nft -f FILE  (one transaction: the table is replaced atomically, other tables untouched).",
        "",
        f"table inet {table}",
        f"delete table inet {table}",
        "",
        f"table inet {table} {{",
        f"    comment {nft_string(_table_label(model))}",
    ]
    body: list[str] = []

    # flow chains first: every map element and rule jumps to one
    for flow_id in sorted(flows):
        action, log, origin = flows[flow_id]
        verdict = "drop" if action is Action.DENY else "accept"
        word = "deny" if action is Action.DENY else "allow"
        label = "policy default allow" if flow_id == "default" else f"{flow_id} {origin}".strip()
        logs = f"log prefix {log_prefix(word, flow_id)} " if log else ""
        body.append("\n".join([
            f"    chain {flow_chain(flow_id)} {{",
            f"        comment {nft_string(label)}",
            f"        {logs}counter {verdict} comment {nft_string(label)}",
            "    }",
        ]))

    body += sets.declarations()

    for plan in plans:
        for group, _ in _GROUPS:
            for lk in plan.lookups[group].values():
                _, types = _key(lk.family, lk.cls)
                body.append(_set_block(lk.name, types, [f"{e} : jump {t}" for e, t in lk.elements], verdict=True))

    for plan in plans:
        pr = plan.pair
        zones = f"{', '.join(pr.in_zones)} -> {', '.join(pr.out_zones)}"
        lines = [
            f"    chain {pair_chain(pr.in_if, pr.out_if)} {{",
            f"        comment {nft_string(f'{pr.in_if} -> {pr.out_if}: {zones}')}",
        ]
        for group, ct in _GROUPS:
            for lk in plan.lookups[group].values():
                key, _ = _key(lk.family, lk.cls)
                lines.append(f"        {ct}{key} vmap @{lk.name}")
            for piece, target in plan.rules[group]:
                lines.append(f"        {ct}{_rule_match(piece, sets)} jump {target}")
        lines.append(f"        counter drop comment {nft_string(f'no flow allows {pr.in_if} -> {pr.out_if}')}")
        lines.append("    }")
        body.append("\n".join(lines))

    if plans:
        body.append(_set_block(
            "pairs", "ifname . ifname",
            [f'"{p.pair.in_if}" . "{p.pair.out_if}" : jump {pair_chain(p.pair.in_if, p.pair.out_if)}' for p in plans],
            verdict=True, interval=False, comment="interface pair -> its chain"))

    # stateless flows: exempt what only they allow from connection tracking
    notrack_lines: list[str] = []
    by_in: dict[str, PacketSet] = {}
    for plan in plans:
        if plan.notrack is not None:
            i = plan.pair.in_if
            by_in[i] = by_in.get(i, PacketSet.empty()) | plan.notrack
    for in_if in [name for name, _ in model.interfaces if name in by_in]:
        lookups: dict[tuple[int, str], list[str]] = {}
        big: list[str] = []
        for b in by_in[in_if].boxes():
            for piece in split_box(b.family, b.src, b.dst, b.proto, b.dport, b.icmp_type, b.icmp_code):
                if piece.size() > MAP_ELEMENT_LIMIT:
                    big.append(f'        iifname "{in_if}" {_rule_match(piece, sets)} notrack')
                else:
                    lookups.setdefault((piece.family, piece.cls), []).extend(_elements(piece))
        for (fam, cls) in sorted(lookups, key=lambda k: (k[0], _CLASSES.index(k[1]))):
            name = f"notrack_{in_if}_v{fam}_{cls}"
            key, types = _key(fam, cls)
            body.append(_set_block(name, types, lookups[(fam, cls)], comment=f"stateless flows entering {in_if}"))
            notrack_lines.append(f'        iifname "{in_if}" {key} @{name} notrack')
        notrack_lines += big
    if notrack_lines:
        body.append("\n".join([
            "    chain raw_stateless {",
            "        comment \"stateless flows: no connection tracking, so no implicit replies\"",
            "        type filter hook prerouting priority raw; policy accept;",
            *notrack_lines,
            "    }",
        ]))

    forward = [
        "    chain forward {",
        "        comment \"replies of tracked connections, then one lookup by interface pair\"",
        "        type filter hook forward priority filter; policy drop;",
        "        ct state established,related counter accept",
        "        ct state invalid counter drop",
    ]
    if plans:
        forward.append("        iifname . oifname vmap @pairs")
    forward += ["        counter comment \"no interface pair of this firewall\"", "    }"]
    body.append("\n".join(forward))
    return "\n".join(head) + "\n" + "\n\n".join(body) + "\n}\n"


# ---------------------------------------------------------------- beyond connection-opening packets
def stateless_problems(policy: Policy, firewall: Firewall, text: str, meaning: Meaning | None = None) -> list[Mismatch]:
    """Where the file's untracked packets differ from what the policy says is stateless.

    :func:`~zonepolicy.compilers.base.prove` checks which connection-opening packets pass; this
    checks the other half of ``stateless``: exactly the packets the firewall must pass *only*
    because of stateless flows are exempt from connection tracking (so their replies are not
    allowed implicitly), and no packet a stateful flow allows is. ``extra`` are untracked packets
    that should be tracked, ``missing`` the reverse.
    """
    from ._nft_reader import notrack_regions

    meaning = meaning or Meaning(policy)
    stateless = PacketSet.empty()
    stateful = PacketSet.empty()
    for f in policy.flows:
        if f.action is Action.ALLOW:
            if f.options.stateful:
                stateful = stateful | meaning.flow_set(f)
            else:
                stateless = stateless | meaning.flow_set(f)
    enforced = meaning.enforced(firewall)
    want_all = (stateless - stateful) & enforced
    regions = notrack_regions(text, firewall, table_name(firewall.name))
    out = []
    for i in firewall.interfaces:
        for o in firewall.interfaces:
            if i.name == o.name:
                continue
            scope = meaning.zones_addresses(i.zones, "src") & meaning.zones_addresses(o.zones, "dst")
            have = regions.get(i.name, PacketSet.empty()) & scope & enforced
            want = want_all & scope
            if have != want:
                out.append(Mismatch(i.name, o.name, have - want, want - have))
    return out


def log_problems(policy: Policy, firewall: Firewall, text: str, meaning: Meaning | None = None) -> list[Mismatch]:
    """Where the file logs other packets than the policy asks for.

    A connection-opening packet must be logged exactly when a ``log`` flow of the deciding kind
    matches it: when it is denied by flows, a deny flow with ``log``; when it is allowed, an allow
    flow with ``log``. ``extra`` are packets logged needlessly, ``missing`` packets not logged.
    """
    from ._nft_reader import logged_regions

    meaning = meaning or Meaning(policy)
    log_allow = PacketSet.empty()
    log_deny = PacketSet.empty()
    for f in policy.flows:
        if f.options.log:
            if f.action is Action.ALLOW:
                log_allow = log_allow | meaning.flow_set(f)
            else:
                log_deny = log_deny | meaning.flow_set(f)
    enforced = meaning.enforced(firewall)
    regions = logged_regions(text, firewall, table_name(firewall.name))
    out = []
    for i in firewall.interfaces:
        for o in firewall.interfaces:
            if i.name == o.name:
                continue
            scope = meaning.zones_addresses(i.zones, "src") & meaning.zones_addresses(o.zones, "dst")
            want = (enforced & log_allow & scope) | (log_deny & scope)
            have = regions.get((i.name, o.name), PacketSet.empty())
            if have != want:
                out.append(Mismatch(i.name, o.name, have - want, want - have))
    return out


# ---------------------------------------------------------------- the back end
@register
class NftablesCompiler(Compiler):
    """Linux nftables (``nft -f``), validated against nft 1.0.6 and kernel 6.x."""

    target = "nftables"
    capabilities = frozenset({
        Feature.IPV4, Feature.IPV6, Feature.ICMP, Feature.SCTP, Feature.PROTOCOL_NUMBERS, Feature.LOG,
        Feature.STATELESS, Feature.COMMENTS,
    })

    def diagnose(self, policy: Policy, firewall: Firewall) -> list[Diagnostic]:
        """Interface names must be Linux interface names (they are matched with iifname/oifname)."""
        diags = []
        for i in firewall.interfaces:
            if not IFNAME_RE.fullmatch(i.name) or i.name in (".", ".."):
                diags.append(Diagnostic(
                    "ZP403", f"target nftables (firewall {firewall.name}) cannot match interface '{i.name}': "
                    "not a Linux interface name", i.span or firewall.span, Severity.ERROR,
                    "write the Linux interface name: 1-15 characters from A-Z a-z 0-9 _ . - (e.g. eth1, bond0.100)"))
        return diags

    def render(self, model: TargetModel) -> list[Output]:
        return [Output(file_name(model.firewall), render_model(model))]

    def read(self, text: str, firewall: Firewall) -> list[ReadPair]:
        from ._nft_reader import read_nft

        return read_nft(text, firewall, table_name(firewall.name))
