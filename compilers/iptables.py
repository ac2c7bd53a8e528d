"""The ``iptables`` back end: ``iptables-restore`` files for IPv4 and ``ip6tables-restore`` files for IPv6.

Output, per firewall, two files (``<firewall>.iptables``, ``<firewall>.ip6tables``), each a whole
``raw`` and ``filter`` table for ``iptables-restore``/``ip6tables-restore`` (loading one replaces
those two tables; the firewall's own traffic, ``INPUT``/``OUTPUT``, is left open because a policy
describes traffic *through* a firewall — host hardening is the operator's, loaded after with
``--noflush``)::

    *raw                                   stateless flows: their packets are not tracked
    -A PREROUTING -s … -d … -i IN … -m comment --comment "flow ID FILE:LINE" -j CT --notrack
    COMMIT
    *filter
    :FORWARD DROP [0:0]
    -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT     replies of tracked connections
    -A FORWARD -m conntrack --ctstate INVALID -j DROP
    -A FORWARD -i IN -o OUT -j zp-IN-OUT                                one chain per interface pair
    -A zp-IN-OUT -s … -d … -p tcp -m tcp --dport 443 -m conntrack --ctstate NEW \
        -m comment --comment "flow ID FILE:LINE" -j LOG --log-prefix "zp ID "
    -A zp-IN-OUT -s … -d … -p tcp -m tcp --dport 443 -m conntrack --ctstate NEW \
        -m comment --comment "flow ID FILE:LINE" -j ACCEPT
    -A zp-IN-OUT -m comment --comment "zonepolicy drop" -j DROP
    COMMIT

Rules are written in the form ``iptables-save`` prints them (option order, ``/32``, quoting), so a
loaded ruleset saves back to the same rules.

Semantics, and why:

* **First match per pair.** The pair chain holds the pair's rules of the target model
  (:func:`~zonepolicy.compilers.base.lower`): deny rules, then allow rules, then the default's; every
  rule matches addresses as well as interfaces, so a spoofed source entering the wrong interface
  falls to the chain's final ``DROP``. Within one action, rules of ``log`` flows come first, so a
  packet is logged exactly when a ``log`` flow of the deciding action matches it (any deny
  decides; otherwise any allow) — what :func:`check_states` proves.
* **Stateful** flows accept ``--ctstate NEW`` packets; their replies pass the ``RELATED,ESTABLISHED``
  rule. **Stateless** flows: the policy promises that no reply is allowed implicitly. Conntrack
  tracks every accepted packet, so a rule without state would still let replies in; instead the
  ``raw`` table sends a stateless flow's packets (those no stateful allow also matches) to
  ``CT --notrack``, the filter rule accepts them without a state match, and a reply is judged as a
  new connection in the reverse pair. The raw table only knows the input interface; a notracked
  packet routed to another pair than its zones say meets only ``--ctstate NEW`` rules there and is
  dropped (fails closed).
* **Address lists** become one rule per (source prefix, destination prefix) — no ipset needed.
  Ports: ``-m tcp --dport`` for one port or range, ``-m multiport --dports`` for more (at most 15
  slots a rule, a range taking two). ICMP: ``--icmp-type``/``--icmpv6-type`` with one type/code a
  rule (the IPv4 match reads type 255 as "any", so that one, and more than 32 type/code pairs, go
  through ``u32``). ICMP types only appear in their own family (the language's ICMP is IPv4's and
  ICMPv6 IPv6's), so ``-m icmp`` sits in IPv4 rules and ``-m icmp6`` in IPv6 rules only.
  A protocol set that contains protocol 0 (which ``-p 0`` cannot name: it means "all") goes through
  a helper chain ``zpp-…`` that ``RETURN``s the protocols outside the set.
* **Names.** Interface names must be Linux names made of ``A-Z a-z 0-9 _ . -`` (at most 15, not
  starting with ``-``); anything else is refused (ZP403) rather than rewritten, since a rewritten
  name would filter a different interface. Pair chains are ``zp-IN-OUT`` when that is at most 28
  characters and unambiguous, else ``zp-<in>-<out>-<hash>``. Comments (``flow ID FILE:LINE``) and
  log prefixes are cleaned of control, format and separator characters, quoted as iptables-save
  does, and cut to 255 and 29 bytes; nothing from the policy can end a line or an argument.

The reader (:mod:`._iptables_read`) reads this text, or ``iptables-save`` output of the loaded
rules, back into first-match rules per interface pair for :func:`~zonepolicy.compilers.base.prove`.
The proof compares connection-opening packets only, so a missing ``RELATED,ESTABLISHED`` rule, a
missing ``INVALID`` drop, a stateless flow that is tracked after all, or a missing ``LOG`` cannot
show there; :func:`check_states` proves those from the same reading (see its docstring).
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Sequence

from zonepolicy.diagnostics import Diagnostic, Severity
from zonepolicy.errors import InvalidPolicy
from zonepolicy.model.policy import Firewall, Policy
from zonepolicy.model.values import Action, Network
from zonepolicy.semantics.meaning import Meaning
from zonepolicy.semantics.packetset import PacketSet

from . import _intervals as iv
from . import _iptables_read as rd
from .base import (
    Compiler, Feature, Output, PairRules, ReadPair, ReadRule, TargetModel, TargetRule, interface_name_diagnostics,
    register,
)

Interval = tuple[int, int]
FULL8: tuple[Interval, ...] = ((0, 255),)
FULL16: tuple[Interval, ...] = ((0, 65535),)

MAX_CHAIN = 28  # iptables' limit for chain names
MAX_COMMENT = 255  # bytes: xt_comment keeps 256 with the terminating NUL
MAX_PREFIX = 29  # bytes: LOG's prefix field is 30 with the NUL
MULTIPORT_SLOTS = 15  # a port takes one slot, a range two
ICMP_EXPAND_LIMIT = 32  # IPv4 ICMP (type, code) pairs beyond this go through one u32 test instead
U32_RANGES = 10  # value ranges one u32 test may hold

_IFNAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}")
_PROTO_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 58: "ipv6-icmp", 132: "sctp"}
# IPv4 ICMP type and code locations for u32 (behind the variable-length header), as iptables-save prints them
_U32_TYPE, _U32_CODE = "0x0>>0x16&0x3c@0x0>>0x18", "0x0>>0x16&0x3c@0x0>>0x10&0xff"
_U32_PROTO = "0x6&0xff"  # IPv4: the protocol is the low byte of the header's third 32-bit word
_STATE_NEW = ("-m", "conntrack", "--ctstate", "NEW")

# ---- text safety
def clean_text(text: str) -> str:
    """``text`` with every character that could break a line, an argument or a reader's view replaced.

    Control, format (bidi overrides), separator and unassigned characters become ``?``, other
    whitespace a space; what is left is printable and safe inside a quoted iptables argument.
    """
    if text.isascii() and text.isprintable():  # no control or separator character but the space
        return text
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch == " ":
            out.append(ch)
        elif cat[0] in "CZ":
            out.append("?")
        else:
            out.append(ch)
    return "".join(out)


def cut_bytes(text: str, limit: int, marker: str = "...") -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes at a character boundary, marked when cut."""
    if len(text.encode()) <= limit:
        return text
    room = limit - len(marker.encode())
    out = text.encode()[:room].decode("utf-8", errors="ignore")
    return out + marker


def _digest(*parts: str, n: int = 8) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:n]


def flow_comment(flow_id: str, origin: str) -> str:
    """The comment every rule of a flow carries: ``flow ID FILE:LINE`` (cleaned, at most 255 bytes)."""
    text = clean_text(f"flow {flow_id} {origin}".rstrip())
    return cut_bytes(text, MAX_COMMENT)


def log_prefix(flow_id: str) -> str:
    """``zp ID `` for the LOG target; a long or unusual id is cut and given a hash, to stay unique."""
    safe = re.sub(r"[^A-Za-z0-9_.:-]", "_", flow_id)
    if safe == flow_id and len(f"zp {safe} ") <= MAX_PREFIX:
        return f"zp {safe} "
    return f"zp {safe[:18]}~{_digest(flow_id, n=6)} "


def check_interface_name(name: str) -> str | None:
    """Why ``name`` cannot be used as a Linux interface name in an iptables rule, or None."""
    if _IFNAME.fullmatch(name) and name not in (".", ".."):
        return None
    why = []
    if len(name) > 15:
        why.append("longer than 15 characters (Linux IFNAMSIZ)")
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name) or name in (".", ".."):
        why.append("only A-Z, a-z, 0-9, '_', '.', '-' are allowed (and no leading '-')")
    return "; ".join(why)


def chain_names(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Deterministic, unique pair chain names of at most 28 characters."""
    pairs = list(pairs)
    readable = {p: f"zp-{p[0]}-{p[1]}" for p in pairs}
    counts: dict[str, int] = {}
    for name in readable.values():
        counts[name] = counts.get(name, 0) + 1
    out = {}
    for p, name in readable.items():
        if len(name) > MAX_CHAIN or counts[name] > 1:
            name = f"zp-{p[0][:7]}-{p[1][:7]}-{_digest(p[0], p[1])}"
        out[p] = name
    if len(set(out.values())) != len(out):  # a hash collision: astronomically unlikely, never silent
        raise ValueError("pair chain names collide")
    return out


def output_names(firewall: str) -> tuple[str, str]:
    """The file names for a firewall: ``<name>.iptables`` and ``<name>.ip6tables``, made path-safe."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", firewall).lstrip(".")[:100] or "firewall"
    return f"{safe}.iptables", f"{safe}.ip6tables"


# ---- matches of one box
@dataclass(frozen=True, slots=True)
class _Alt:
    """One way a box's protocol part is matched: tokens, or a helper chain over a protocol set."""

    tokens: tuple[str, ...] = ()
    helper: tuple[int, ...] | None = None  # protocols the helper chain lets through to the verdict


def _has(ivs: Sequence[Interval], v: int) -> bool:
    return any(lo <= v <= hi for lo, hi in ivs)


def _values(ivs: Sequence[Interval]) -> list[int]:
    return [v for lo, hi in ivs for v in range(lo, hi + 1)]


def _intervals(values: Sequence[int]) -> list[Interval]:
    out: list[Interval] = []
    for v in values:
        if out and out[-1][1] == v - 1:
            out[-1] = (out[-1][0], v)
        else:
            out.append((v, v))
    return out


def _port_text(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"{lo}:{hi}"


def _port_alts(name: str, dport: Sequence[Interval]) -> list[_Alt]:
    if tuple(dport) == FULL16:
        return [_Alt(("-p", name))]
    chunks: list[list[Interval]] = [[]]
    used = 0
    for lo, hi in dport:
        cost = 1 if lo == hi else 2
        if used + cost > MULTIPORT_SLOTS:
            chunks.append([])
            used = 0
        chunks[-1].append((lo, hi))
        used += cost
    alts = []
    for chunk in chunks:
        if len(chunk) == 1:
            alts.append(_Alt(("-p", name, "-m", name, "--dport", _port_text(*chunk[0]))))
        else:
            alts.append(_Alt(("-p", name, "-m", "multiport", "--dports",
                              ",".join(_port_text(lo, hi) for lo, hi in chunk))))
    return alts


def _u32_ranges(ivs: Sequence[Interval]) -> list[str]:
    """Value lists for u32 tests (at most 10 ranges each), in iptables-save's hex form."""
    texts = [f"{lo:#x}" if lo == hi else f"{lo:#x}:{hi:#x}" for lo, hi in ivs]
    return [",".join(texts[i:i + U32_RANGES]) for i in range(0, len(texts), U32_RANGES)]


def _u32_alts(itype: Sequence[Interval], icode: Sequence[Interval]) -> list[_Alt]:
    head: tuple[str, ...] = ("-p", "icmp")
    alts = []
    for t in _u32_ranges(itype) if tuple(itype) != FULL8 else [None]:
        for c in _u32_ranges(icode) if tuple(icode) != FULL8 else [None]:
            tests = ([f"{_U32_TYPE}={t}"] if t else []) + ([f"{_U32_CODE}={c}"] if c else [])
            alts.append(_Alt(head + ("-m", "u32", "--u32", rd.quote("&&".join(tests)))))
    return alts


def _icmp_alts(family: int, proto: int, itype: Sequence[Interval], icode: Sequence[Interval]) -> list[_Alt]:
    name = _PROTO_NAMES[proto]
    if tuple(itype) == FULL8 and tuple(icode) == FULL8:
        return [_Alt(("-p", name))]
    if (family, proto) not in ((4, 1), (6, 58)):  # ICMP is IPv4's, ICMPv6 IPv6's: lower() never asks
        raise ValueError(f"ICMP types for protocol {proto} in an IPv{family} rule")
    types = _values(itype)
    codes: list[int | None] = [None] if tuple(icode) == FULL8 else list(_values(icode))
    if family == 4 and (255 in types or len(types) * len(codes) > ICMP_EXPAND_LIMIT):
        return _u32_alts(itype, icode)
    module, option = ("icmp", "--icmp-type") if family == 4 else ("icmp6", "--icmpv6-type")
    return [_Alt(("-p", name, "-m", module, option, str(t) if c is None else f"{t}/{c}"))
            for t in types for c in codes]


def protocol_alts(family: int, proto: Sequence[Interval], dport: Sequence[Interval], itype: Sequence[Interval],
                  icode: Sequence[Interval]) -> list[_Alt]:
    """The protocol part of a box as alternatives whose union is exactly the box's (canonical) packets."""
    return list(_protocol_alts(family, tuple(proto), tuple(dport), tuple(itype), tuple(icode)))


@functools.lru_cache(maxsize=1 << 14)  # a large rule base has a few thousand distinct service boxes
def _protocol_alts(family: int, proto: tuple[Interval, ...], dport: tuple[Interval, ...], itype: tuple[Interval, ...],
                   icode: tuple[Interval, ...]) -> tuple[_Alt, ...]:
    if proto == FULL8 and dport == FULL16 and itype == FULL8 and icode == FULL8:
        return (_Alt(),)
    alts: list[_Alt] = []
    zero_port = _has(dport, 0)  # canonical packets of port-less protocols have port 0
    for p in (1, 6, 17, 58, 132):
        if not _has(proto, p):
            continue
        if p in rd.PORT_PROTOCOLS:
            alts.extend(_port_alts(_PROTO_NAMES[p], dport))
        elif zero_port:
            alts.extend(_icmp_alts(family, p, itype, icode))
    if zero_port and _has(itype, 0) and _has(icode, 0):
        others = [v for v in _values(proto) if v not in (1, 6, 17, 58, 132)]
        if others and others[0] == 0 and family == 4:  # '-p 0' would mean every protocol: test the header byte
            alts.extend(_Alt(("-m", "u32", "--u32", rd.quote(f"{_U32_PROTO}={r}")))
                        for r in _u32_ranges(_intervals(others)))
        elif others and others[0] == 0:  # IPv6 has no fixed protocol byte: a chain returns the rest
            alts.append(_Alt(helper=tuple(others)))
        else:
            alts.extend(_Alt(("-p", str(v))) for v in others)
    return tuple(alts)


def _address_tokens(family: int, src: Sequence[Network], dst: Sequence[Network]) -> list[tuple[str, ...]]:
    anywhere = {"0.0.0.0/0", "::/0"}
    dsts = [(d, iv.network_text(d)) for d in dst if d.version == family]
    out = []
    for s in src:
        if s.version != family:
            continue
        s_text = iv.network_text(s)
        for d, d_text in dsts:
            toks: tuple[str, ...] = ()
            if s_text not in anywhere:
                toks += ("-s", s_text)
            if d_text not in anywhere:
                toks += ("-d", d_text)
            out.append(toks)
    return out


# ---- one file
class _Table:
    """The chains and rule lines of one table, with shared protocol helper chains."""

    def __init__(self, name: str, builtins: Sequence[tuple[str, str]]) -> None:
        self.name = name
        self.builtins = list(builtins)
        self.chains: dict[str, list[str]] = {c: [] for c, _ in builtins}
        self.user: list[str] = []

    def add_chain(self, chain: str) -> None:
        if chain not in self.chains:
            self.chains[chain] = []
            self.user.append(chain)

    def add(self, chain: str, *tokens: str) -> None:
        self.chains[chain].append(" ".join(("-A", chain) + tokens))

    def helper(self, protocols: tuple[int, ...], verdict: tuple[str, ...], prefix: str | None) -> str:
        """A chain that sends packets of ``protocols`` to ``verdict`` (after LOG) and returns the rest."""
        name = "zpp-" + _digest(self.name, repr(protocols), repr(verdict), prefix or "", n=12)
        if name not in self.chains:
            self.add_chain(name)
            keep = set(protocols)
            for p in range(1, 256):
                if p not in keep:
                    self.add(name, "-p", _PROTO_NAMES.get(p, str(p)), "-j", "RETURN")
            if prefix is not None:
                self.add(name, "-j", "LOG", "--log-prefix", rd.quote(prefix))
            self.add(name, "-j", *verdict)
        return name

    def text(self) -> list[str]:
        lines = [f"*{self.name}"]
        lines += [f":{c} {policy} [0:0]" for c, policy in self.builtins]
        lines += [f":{c} - [0:0]" for c in sorted(self.user)]
        for c, _ in self.builtins:
            lines += self.chains[c]
        for c in self.user:
            lines += self.chains[c]
        lines.append("COMMIT")
        return lines


def _emit(table: _Table, chain: str, family: int, box: TargetRule, pre: tuple[str, ...],
          state: tuple[str, ...], comment: str, verdict: tuple[str, ...], prefix: str | None) -> None:
    """The lines for one box: per address pair and protocol alternative, LOG (if any) then verdict."""
    tail = ("-m", "comment", "--comment", rd.quote(comment)) if comment else ()
    for addr in _address_tokens(family, box.src, box.dst):
        for alt in protocol_alts(family, box.proto, box.dport, box.icmp_type, box.icmp_code):
            match = addr + pre + alt.tokens + state + tail
            if alt.helper is not None:
                table.add(chain, *match, "-j", table.helper(alt.helper, verdict, prefix))
                continue
            if prefix is not None:
                table.add(chain, *match, "-j", "LOG", "--log-prefix", rd.quote(prefix))
            table.add(chain, *match, "-j", *verdict)


def _ordered(rules: Sequence[TargetRule]) -> list[TargetRule]:
    """Denies before allows (as lowered), and within each, rules of ``log`` flows first (see module doc)."""
    return sorted(rules, key=lambda r: (r.action is not Action.DENY, r.flow_id == "default", not r.log))


def _notrack(pair: PairRules, family: int) -> list[tuple[TargetRule, PacketSet]]:
    """Per stateless allow rule of the pair: its packets that no stateful allow also matches."""
    if not any(r.family == family and r.action is Action.ALLOW and not r.stateful for r in pair.rules):
        return []  # the common case: no packet sets to build
    stateful = PacketSet.empty()
    for r in pair.rules:
        if r.family == family and r.action is Action.ALLOW and r.stateful:
            stateful = stateful | r.to_set()
    out = []
    for r in pair.rules:
        if r.family == family and r.action is Action.ALLOW and not r.stateful:
            rest = r.to_set() - stateful
            if not rest.is_empty():
                out.append((r, rest))
    return out


def render_family(model: TargetModel, family: int) -> str:
    """The iptables-restore text of ``model``'s rules of one family."""
    names = chain_names((p.in_if, p.out_if) for p in model.pairs)
    raw = _Table("raw", [("PREROUTING", "ACCEPT"), ("OUTPUT", "ACCEPT")])
    flt = _Table("filter", [("INPUT", "ACCEPT"), ("FORWARD", "DROP"), ("OUTPUT", "ACCEPT")])
    flt.add("FORWARD", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT")
    flt.add("FORWARD", "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP")
    for pair in model.pairs:
        chain = names[(pair.in_if, pair.out_if)]
        flt.add_chain(chain)
        flt.add("FORWARD", "-i", pair.in_if, "-o", pair.out_if, "-j", chain)
        for r in _ordered(pair.rules):
            if r.family != family:
                continue
            allow = r.action is Action.ALLOW
            state = _STATE_NEW if allow and r.stateful else ()
            prefix = log_prefix(r.flow_id) if r.log else None
            comment = flow_comment(r.flow_id, r.origin) if r.flow_id != "default" else "zonepolicy default allow"
            _emit(flt, chain, family, r, (), state, comment, ("ACCEPT",) if allow else ("DROP",), prefix)
        flt.add(chain, "-m", "comment", "--comment", rd.quote("zonepolicy drop"), "-j", "DROP")
        for r, rest in _notrack(pair, family):
            for box in rest.boxes():
                as_rule = TargetRule(action=r.action, family=family, src=box.src, dst=box.dst, proto=box.proto,
                                     dport=box.dport, icmp_type=box.icmp_type, icmp_code=box.icmp_code,
                                     flow_id=r.flow_id, origin=r.origin)
                _emit(raw, "PREROUTING", family, as_rule, ("-i", pair.in_if), (),
                      flow_comment(r.flow_id, r.origin), ("CT", "--notrack"), None)
    head = [
        f"# zonepolicy: family=ipv{family} target=iptables policy={clean_text(model.policy)} "
        f"firewall={clean_text(model.firewall)}",
        f"# {clean_text(model.description)}" if model.description else "#",
        f"# Load with {'iptables' if family == 4 else 'ip6tables'}-restore; it replaces the raw and filter tables.",
        "# Generated from the policy: edit the policy, not this file.",
    ]
    return "\n".join(head + raw.text() + flt.text()) + "\n"


# ---- the back end
def interface_diagnostics(firewall: Firewall) -> list[Diagnostic]:
    """ZP403 for every interface of ``firewall`` whose name iptables cannot use."""
    return interface_name_diagnostics("iptables", firewall, check_interface_name, lambda n: clean_text(n)[:40],
                                      "write the Linux interface name, e.g. eth0, bond0.100 or ens3f1")


@register
class IptablesCompiler(Compiler):
    """iptables-restore (IPv4) and ip6tables-restore (IPv6) files; see the module docstring."""

    target = "iptables"
    capabilities = frozenset({
        Feature.IPV4, Feature.IPV6, Feature.ICMP, Feature.SCTP, Feature.PROTOCOL_NUMBERS, Feature.LOG,
        Feature.STATELESS, Feature.COMMENTS,
    })  # no INSPECT: iptables filters packets, it has no application inspection

    def diagnose(self, policy: Policy, firewall: Firewall) -> list[Diagnostic]:
        """Problems the capability check cannot see: interface names iptables cannot use."""
        return interface_diagnostics(firewall)

    def render(self, model: TargetModel) -> list[Output]:
        bad = [Diagnostic("ZP403", f"target iptables (firewall {clean_text(model.firewall)}) cannot use interface "
                          f"name {clean_text(name)[:40]!r}: {why}", None, Severity.ERROR)
               for name, _ in model.interfaces if (why := check_interface_name(name))]
        if bad:
            raise InvalidPolicy(bad)
        v4, v6 = output_names(model.firewall)
        return [Output(v4, render_family(model, 4)), Output(v6, render_family(model, 6))]

    def read(self, text: str, firewall: Firewall, family: int | None = None) -> list[ReadPair]:
        """First-match rules per interface pair of one file, for connection-opening packets."""
        evaluator = _evaluator(text, family)
        names = sorted({i.name for i in firewall.interfaces} | rd.interface_names(evaluator.rs))
        pairs = []
        for i in names:
            for o in names:
                if i != o:
                    steps = evaluator.forward(i, o, "new")
                    pairs.append(ReadPair(i, o, tuple(
                        ReadRule(s.packets, s.verdict == "accept", s.rule.comment if s.rule else "policy")
                        for s in steps if s.verdict in ("accept", "drop"))))
        return pairs

    def read_outputs(self, outputs: Sequence[Output], firewall: Firewall) -> list[ReadPair]:
        """All files of a firewall read back, merged per pair (the families are disjoint packet sets)."""
        merged: dict[tuple[str, str], list[ReadRule]] = {}
        for out in outputs:
            for pair in self.read(out.text, firewall, _family_of(out)):
                merged.setdefault((pair.in_if, pair.out_if), []).extend(pair.rules)
        return [ReadPair(i, o, tuple(rules)) for (i, o), rules in sorted(merged.items())]


def _family_of(out: Output) -> int | None:
    if out.filename.endswith(".ip6tables"):
        return 6
    if out.filename.endswith(".iptables"):
        return 4
    return None


def _evaluator(text: str, family: int | None) -> rd.Evaluator:
    fam = family or rd.detect_family(text)
    if fam not in (4, 6):
        raise rd.ReadError(0, "cannot tell whether this is an IPv4 or an IPv6 ruleset; pass family=4 or 6")
    return rd.Evaluator(rd.parse(text, fam))


# ---- beyond connection-opening packets
@dataclass(frozen=True, slots=True)
class StateProblem:
    """A way the loaded rules would treat replies, invalid packets, untracked flows or logging wrongly."""

    in_if: str
    out_if: str
    family: int
    kind: str  # "established", "related", "invalid", "untracked", "logged"
    extra: PacketSet
    missing: PacketSet

    def describe(self) -> str:
        what = {
            "established": ("accepts", "drops replies of tracked connections (ESTABLISHED)"),
            "related": ("accepts", "drops packets related to tracked connections (RELATED)"),
            "invalid": ("accepts INVALID packets", ""),
            "untracked": ("leaves untracked what a stateful flow allows", "tracks what only stateless flows allow"),
            "logged": ("logs packets no log flow decides", "does not log packets a log flow decides"),
        }[self.kind]
        parts = [f"{self.in_if} -> {self.out_if} (IPv{self.family}):"]
        if not self.extra.is_empty():
            parts.append(f"  {what[0]}, e.g. {self.extra.pick()}")
        if not self.missing.is_empty():
            parts.append(f"  {what[1]}, e.g. {self.missing.pick()}")
        return "\n".join(parts)


def check_states(policy: Policy, firewall: Firewall, outputs: Sequence[Output],
                 meaning: Meaning | None = None) -> list[StateProblem]:
    """What :func:`~zonepolicy.compilers.base.prove` cannot see, proven from the same reading.

    For every interface pair and family of the emitted (or saved) rules:

    * **established / related**: every such packet is accepted — replies of connections that were
      accepted when they opened. Dropping the ``RELATED,ESTABLISHED`` rule breaks this (replies then
      meet ``--ctstate NEW`` rules and the final drop).
    * **invalid**: no ``INVALID`` packet is accepted.
    * **untracked**: the accepted connection-opening packets that ``raw`` leaves untracked are exactly
      those only stateless allow flows match (so stateless flows get no implicit replies and stateful
      ones do).
    * **logged**: the accepted-or-dropped packets that meet a ``LOG`` first are exactly those a
      ``log`` flow of the deciding action matches (any deny flow decides, else any allow flow).
    """
    meaning = meaning or Meaning(policy)
    stateless, stateful, log_deny, log_allow = (PacketSet.empty() for _ in range(4))
    for f in policy.flows:
        s = meaning.flow_set(f)
        if f.action is Action.ALLOW:
            if f.options.stateful:
                stateful = stateful | s
            else:
                stateless = stateless | s
            if f.options.log:
                log_allow = log_allow | s
        elif f.options.log:
            log_deny = log_deny | s
    allowed = meaning.allowed()
    problems: list[StateProblem] = []
    for out in outputs:
        ev = _evaluator(out.text, _family_of(out))
        fam_set = ev.universe
        for i in firewall.interfaces:
            src = meaning.zones_addresses(i.zones, "src")
            for o in firewall.interfaces:
                if i.name == o.name:
                    continue
                scope = src & meaning.zones_addresses(o.zones, "dst") & fam_set

                def compare(kind: str, have: PacketSet, want: PacketSet) -> None:
                    if have != want:
                        problems.append(StateProblem(i.name, o.name, ev.rs.family, kind, have - want, want - have))

                for view in ("established", "related"):
                    compare(view, rd.accepted(ev.forward(i.name, o.name, view)), fam_set)
                compare("invalid", rd.accepted(ev.forward(i.name, o.name, "invalid")), PacketSet.empty())
                steps = ev.forward(i.name, o.name, "new")
                untracked, _ = ev.untracked(i.name)
                compare("untracked", rd.accepted(steps) & untracked,
                        allowed & scope & (stateless - stateful))
                compare("logged", rd.logged(steps) & scope,
                        scope & (log_deny | (allowed & log_allow)))
    return problems
