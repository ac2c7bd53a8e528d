"""Read nftables text back into first-match rules per interface pair, for the proof.

Understood: what :mod:`zonepolicy.compilers.nftables` emits, and the way ``nft list ruleset`` prints a
loaded table (``counter packets N bytes M``, symbolic protocol/ICMP names, ``tcp dport`` for
``meta l4proto tcp th dport``, merged anonymous sets, ``# handle N`` comments). Anything else —
an expression, statement or chain hook the reader does not know — is an :class:`NftReadError`,
never a guess: a reader that skipped what it did not understand would prove the wrong thing.

What a rule means here: the connection-opening packets it matches. Such a packet is in conntrack
state ``new``, or ``untracked`` when a ``notrack`` rule of a ``prerouting`` chain matched it on its
way in; ``established``/``related``/``invalid`` never match one. Interface names are fixed per
evaluated pair, so a forward chain is walked once per ordered pair of interfaces.

Only the chosen table is read: another table's forward chain could still drop what this one
accepts (nft evaluates every base chain of a hook); that is outside what one table can prove.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from dataclasses import dataclass, field
from typing import NamedTuple

from zonepolicy.model.policy import Firewall
from zonepolicy.semantics.packetset import PacketSet

from . import _intervals as _iv
from .base import Interval, ReadPair, ReadRule
from .nftables import PORT_PROTOCOLS, NftReadError

# -------------------------------------------------------------------- symbolic names nft prints
PROTOCOLS = {
    "hopopt": 0, "icmp": 1, "igmp": 2, "ggp": 3, "ipencap": 4, "st": 5, "tcp": 6, "egp": 8, "igp": 9,
    "pup": 12, "udp": 17, "hmp": 20, "xns-idp": 22, "rdp": 27, "iso-tp4": 29, "dccp": 33, "xtp": 36,
    "ddp": 37, "idpr-cmtp": 38, "ipv6": 41, "ipv6-route": 43, "ipv6-frag": 44, "idrp": 45, "rsvp": 46,
    "gre": 47, "esp": 50, "ah": 51, "skip": 57, "ipv6-icmp": 58, "ipv6-nonxt": 59, "ipv6-opts": 60,
    "rspf": 73, "vmtp": 81, "eigrp": 88, "ospf": 89, "ax.25": 93, "ipip": 94, "etherip": 97, "encap": 98,
    "pim": 103, "ipcomp": 108, "vrrp": 112, "l2tp": 115, "isis": 124, "sctp": 132, "fc": 133,
    "mobility-header": 135, "udplite": 136, "mpls-in-ip": 137, "manet": 138, "hip": 139, "shim6": 140,
    "wesp": 141, "rohc": 142, "ethernet": 143, "ip": 0, "icmpv6": 58,
}
ICMP_TYPES = {
    "echo-reply": 0, "destination-unreachable": 3, "source-quench": 4, "redirect": 5, "echo-request": 8,
    "router-advertisement": 9, "router-solicitation": 10, "time-exceeded": 11, "parameter-problem": 12,
    "timestamp-request": 13, "timestamp-reply": 14, "info-request": 15, "info-reply": 16,
    "address-mask-request": 17, "address-mask-reply": 18,
}
ICMP_CODES = {
    "net-unreachable": 0, "host-unreachable": 1, "prot-unreachable": 2, "port-unreachable": 3,
    "frag-needed": 4, "net-prohibited": 9, "host-prohibited": 10, "admin-prohibited": 13,
}
ICMPV6_TYPES = {
    "destination-unreachable": 1, "packet-too-big": 2, "time-exceeded": 3, "parameter-problem": 4,
    "echo-request": 128, "echo-reply": 129, "mld-listener-query": 130, "mld-listener-report": 131,
    "mld-listener-done": 132, "mld-listener-reduction": 132, "nd-router-solicit": 133,
    "nd-router-advert": 134, "nd-neighbor-solicit": 135, "nd-neighbor-advert": 136, "nd-redirect": 137,
    "router-renumbering": 138, "ind-neighbor-solicit": 141, "ind-neighbor-advert": 142,
    "mld2-listener-report": 143,
}
ICMPV6_CODES = {
    "no-route": 0, "admin-prohibited": 1, "addr-unreachable": 3, "port-unreachable": 4, "policy-fail": 5,
    "reject-route": 6,
}
CT_STATES = {"invalid", "new", "established", "related", "untracked"}

# -------------------------------------------------------------------- tokens
_TOKEN = re.compile(r'"[^"]*"|#[^\n]*|\n|[{};,]|[^\s{};,"#]+')


class Tok(NamedTuple):  # a named tuple: a large ruleset has millions of tokens, a dataclass costs 3x
    text: str
    line: int


def tokenize(text: str) -> list[Tok]:
    out: list[Tok] = []
    append = out.append
    line = 1
    for t in _TOKEN.findall(text):
        if t == "\n":
            append(Tok(t, line))
            line += 1
        elif t[0] == "#":
            continue
        else:
            append(Tok(t, line))
            if t[0] == '"':  # only a quoted string can hold a newline besides the newline token
                line += t.count("\n")
    return out


Group = list  # a brace group: a list of items, each a list of words (str) or nested Groups


def _err(tok: Tok | None, msg: str) -> NftReadError:
    return NftReadError(f"line {tok.line}: {msg}" if tok else msg)


class _Stream:
    def __init__(self, toks: list[Tok]) -> None:
        self.toks = toks
        self.i = 0

    def peek(self) -> Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def next(self) -> Tok:
        t = self.peek()
        if t is None:
            raise _err(self.toks[-1] if self.toks else None, "unexpected end of text")
        self.i += 1
        return t

    def statement(self) -> list:
        """Words up to a newline or ';' at this level; brace groups become nested lists of items."""
        words: list = []
        while (t := self.peek()) is not None:
            if t.text in ("\n", ";"):
                self.i += 1
                if words:
                    return words
                continue
            if t.text == "}":
                return words
            if t.text == "{":
                self.i += 1
                words.append(self.group(t))
                continue
            words.append(t)  # ',' only occurs in lists such as ct state established,related
            self.i += 1
        return words

    def group(self, opening: Tok) -> Group:
        """An anonymous set / element list: items separated by ',' (newlines are blanks)."""
        items: list[list] = [[]]
        while True:
            t = self.next()
            if t.text == "}":
                break
            if t.text == "\n":
                continue
            if t.text == ",":
                items.append([])
            elif t.text == "{":
                items[-1].append(self.group(t))
            elif t.text == ";":
                raise _err(t, "unexpected ';' in a set")
            else:
                items[-1].append(t)
        return [i for i in items if i]


def _words(stmt: list) -> list[str]:
    return [w.text if isinstance(w, Tok) else "{…}" for w in stmt]


# -------------------------------------------------------------------- the table model
@dataclass
class SetDef:
    name: str
    keys: list[str] = field(default_factory=list)  # key types, e.g. ["ipv4_addr", "inet_service"]
    is_map: bool = False
    elements: list[tuple[list[str], list[str] | None]] = field(default_factory=list)  # (fields, verdict words)


@dataclass
class Rule:
    words: list  # the statement as parsed (Tok and groups)
    line: int


@dataclass
class ChainDef:
    name: str
    hook: str | None = None
    policy: str = "accept"
    rules: list[Rule] = field(default_factory=list)


@dataclass
class TableDef:
    family: str
    name: str
    sets: dict[str, SetDef] = field(default_factory=dict)
    chains: dict[str, ChainDef] = field(default_factory=dict)


def _unquote(w: str) -> str:
    return w[1:-1] if len(w) >= 2 and w[0] == '"' and w[-1] == '"' else w


def _parse_set(s: _Stream, name: str, is_map: bool) -> SetDef:
    d = SetDef(name, is_map=is_map)
    while True:
        stmt = s.statement()
        t = s.peek()
        if not stmt:
            if t is None:
                raise _err(None, f"set {name} is not closed")
            s.next()  # "}"
            return d
        head = stmt[0].text if isinstance(stmt[0], Tok) else ""
        if head in ("type", "typeof"):
            if head == "typeof":
                raise _err(stmt[0], f"set {name}: 'typeof' declarations are not supported by the reader")
            words = _words(stmt[1:])
            if is_map:
                if ":" not in words or words[words.index(":") + 1:] != ["verdict"]:
                    raise _err(stmt[0], f"map {name}: only verdict maps are supported")
                words = words[: words.index(":")]
            d.keys = [w for w in words if w != "."]
        elif head == "elements":
            if len(stmt) != 3 or not isinstance(stmt[2], list) or stmt[1].text != "=":
                raise _err(stmt[0], f"set {name}: malformed elements")
            for item in stmt[2]:
                words = _words(item)
                if "comment" in words:  # an element comment
                    words = words[: words.index("comment")]
                if ":" in words:
                    k = words.index(":")
                    d.elements.append((_split_concat(words[:k], stmt[0]), words[k + 1:]))
                else:
                    d.elements.append((_split_concat(words, stmt[0]), None))
        elif head in ("flags", "comment", "size", "policy", "auto-merge", "counter", "timeout", "gc-interval"):
            continue
        else:
            raise _err(stmt[0], f"set {name}: unknown item '{head}'")


def _split_concat(words: list[str], where: Tok) -> list[str]:
    fields = [w for i, w in enumerate(words) if i % 2 == 0]
    if any(w != "." for i, w in enumerate(words) if i % 2 == 1) or not fields:
        raise _err(where, f"malformed element '{' '.join(words)}'")
    return fields


def _parse_chain(s: _Stream, name: str) -> ChainDef:
    c = ChainDef(name)
    while True:
        stmt = s.statement()
        t = s.peek()
        if not stmt:
            if t is None:
                raise _err(None, f"chain {name} is not closed")
            s.next()
            return c
        words = _words(stmt)
        if words[0] == "type":
            if "hook" not in words:
                raise _err(stmt[0], f"chain {name}: base chain without hook")
            c.hook = words[words.index("hook") + 1]
        elif words[0] == "policy":
            c.policy = words[1]
        elif words[0] == "comment" and len(words) == 2:
            continue
        else:
            c.rules.append(Rule(stmt, stmt[0].line))


def parse_tables(text: str) -> list[TableDef]:
    """All ``table`` blocks of the text; bare ``table``/``delete table`` commands are skipped."""
    s = _Stream(tokenize(text))
    tables: list[TableDef] = []
    while (t := s.peek()) is not None:
        if t.text in ("\n", ";"):
            s.next()
            continue
        head = _line_head(s)
        if not head:
            raise _err(s.peek(), f"unexpected '{s.peek().text}'")
        words = [w.text for w in head]
        if words[:2] == ["delete", "table"] and len(words) == 4 or words == ["flush", "ruleset"]:
            continue
        if words[0] != "table" or len(words) not in (3, 4):
            raise _err(head[0], f"unexpected '{' '.join(words)}' at top level")
        if len(words) == 3:
            continue
        if words[3] != "{":
            raise _err(head[0], "malformed table")
        tables.append(_parse_table(s, words[1], words[2]))
    return tables


def _line_head(s: _Stream) -> list[Tok]:
    """Words up to and including an opening '{' or up to the end of the line."""
    out: list[Tok] = []
    while (t := s.peek()) is not None:
        if t.text in ("\n", ";"):
            s.next()
            break
        if t.text == "}":
            break
        s.next()
        out.append(t)
        if t.text == "{":
            break
    return out


def _parse_table(s: _Stream, family: str, name: str) -> TableDef:
    tbl = TableDef(family, name)
    while True:
        t = s.peek()
        if t is None:
            raise _err(None, f"table {name} is not closed")
        if t.text in ("\n", ";"):
            s.next()
            continue
        if t.text == "}":
            s.next()
            return tbl
        head = _line_head(s)
        words = [w.text for w in head]
        if words[0] == "comment" or words[0] == "flags":
            continue
        if words[0] in ("chain", "set", "map") and len(words) == 3 and words[2] == "{":
            if words[0] == "chain":
                tbl.chains[words[1]] = _parse_chain(s, words[1])
            else:
                tbl.sets[words[1]] = _parse_set(s, words[1], words[0] == "map")
            continue
        raise _err(head[0], f"table {name}: unknown item '{' '.join(words)}'")


# -------------------------------------------------------------------- values
def _interval_of(word: str, parse_one) -> Interval:
    """``a`` or ``a-b`` as an inclusive interval; names may contain '-' (``echo-request``), so the
    whole word is tried first, then every '-' as the range separator."""
    try:
        v = parse_one(word)
        return (v, v)
    except (ValueError, KeyError):
        pass
    for k, ch in enumerate(word):
        if ch != "-":
            continue
        try:
            lo, hi = parse_one(word[:k]), parse_one(word[k + 1:])
        except (ValueError, KeyError):
            continue
        if lo > hi:
            raise ValueError(f"empty range {word}")
        return (lo, hi)
    raise ValueError(word)


def _number_or(names: dict[str, int], top: int):
    def parse_one(w: str) -> int:
        if w.isdigit():
            v = int(w)
        elif w.startswith("0x"):
            v = int(w, 16)
        else:
            v = names[w]
        if not 0 <= v <= top:
            raise ValueError(w)
        return v
    return parse_one


def _addr_interval(family: int, word: str) -> Interval:
    if "/" in word:
        net = ipaddress.ip_network(word, strict=True)
        if net.version != family:
            raise ValueError(word)
        return int(net.network_address), int(net.broadcast_address)
    if "-" in word:
        a, b = word.split("-", 1)
        lo, hi = ipaddress.ip_address(a), ipaddress.ip_address(b)
        if lo.version != family or hi.version != family or lo > hi:
            raise ValueError(word)
        return int(lo), int(hi)
    a = ipaddress.ip_address(word)
    if a.version != family:
        raise ValueError(word)
    return int(a), int(a)


# a selector: what it constrains. (field, family or None, implied protocol or None, value parser kind)
@dataclass(frozen=True, slots=True)
class Selector:
    name: str
    field: str  # src, dst, proto, dport, icmp_type, icmp_code, iif, oif, family
    family: int | None = None
    proto: int | None = None  # implied protocol (tcp dport, icmp type …)
    kind: str = "num"  # addr, proto, port, icmp_type/…, ifname, nfproto
    needs_port_proto: bool = False


SELECTORS: dict[tuple[str, ...], Selector] = {
    ("ip", "saddr"): Selector("ip saddr", "src", 4, kind="addr"),
    ("ip", "daddr"): Selector("ip daddr", "dst", 4, kind="addr"),
    ("ip6", "saddr"): Selector("ip6 saddr", "src", 6, kind="addr"),
    ("ip6", "daddr"): Selector("ip6 daddr", "dst", 6, kind="addr"),
    ("meta", "l4proto"): Selector("meta l4proto", "proto", kind="proto"),
    ("ip", "protocol"): Selector("ip protocol", "proto", 4, kind="proto"),
    ("meta", "nfproto"): Selector("meta nfproto", "family", kind="nfproto"),
    ("th", "dport"): Selector("th dport", "dport", kind="port", needs_port_proto=True),
    ("tcp", "dport"): Selector("tcp dport", "dport", proto=6, kind="port"),
    ("udp", "dport"): Selector("udp dport", "dport", proto=17, kind="port"),
    ("sctp", "dport"): Selector("sctp dport", "dport", proto=132, kind="port"),
    ("icmp", "type"): Selector("icmp type", "icmp_type", proto=1, kind="icmp_type"),
    ("icmp", "code"): Selector("icmp code", "icmp_code", proto=1, kind="icmp_code"),
    ("icmpv6", "type"): Selector("icmpv6 type", "icmp_type", proto=58, kind="icmpv6_type"),
    ("icmpv6", "code"): Selector("icmpv6 code", "icmp_code", proto=58, kind="icmpv6_code"),
    ("iifname",): Selector("iifname", "iif", kind="ifname"),
    ("oifname",): Selector("oifname", "oif", kind="ifname"),
    ("meta", "iifname"): Selector("iifname", "iif", kind="ifname"),
    ("meta", "oifname"): Selector("oifname", "oif", kind="ifname"),
}
_KEY_TYPE_OF = {"addr": None, "proto": "inet_proto", "port": "inet_service", "icmp_type": "icmp_type",
                "icmp_code": "icmp_code", "icmpv6_type": "icmpv6_type", "icmpv6_code": "icmpv6_code",
                "ifname": "ifname"}


_VALUE_CACHE: dict[tuple[str, int | None, str], Interval] = {}
_FIELD_CACHE: dict[tuple, PacketSet] = {}
_CACHE_MAX = 200_000  # entries; a large ruleset repeats the same address ranges in thousands of elements


def _value_interval(sel: Selector, word: str) -> Interval:
    key = (sel.kind, sel.family, word)
    found = _VALUE_CACHE.get(key)
    if found is None:
        if len(_VALUE_CACHE) >= _CACHE_MAX:
            _VALUE_CACHE.clear()
        found = _VALUE_CACHE[key] = _parse_value(sel, word)
    return found


def _parse_value(sel: Selector, word: str) -> Interval:
    kind = sel.kind
    if kind == "addr":
        return _addr_interval(sel.family or 4, word)
    parsers = {
        "proto": _number_or(PROTOCOLS, 255), "port": _number_or({}, 65535),
        "icmp_type": _number_or(ICMP_TYPES, 255), "icmp_code": _number_or(ICMP_CODES, 255),
        "icmpv6_type": _number_or(ICMPV6_TYPES, 255), "icmpv6_code": _number_or(ICMPV6_CODES, 255),
        "nfproto": _number_or({"ipv4": 4, "ipv6": 6}, 255),
    }
    return _interval_of(word, parsers[kind])


@dataclass
class Constraint:
    """A conjunction of per-field interval lists (None: unconstrained) and interface patterns."""

    fields: dict[str, list[Interval]] = field(default_factory=dict)
    iif: list[str] | None = None
    oif: list[str] | None = None
    family: int | None = None
    needs_port_proto: bool = False

    def add(self, fld: str, ivs: list[Interval]) -> None:
        if fld in self.fields:
            self.fields[fld] = _intersect(self.fields[fld], ivs)
        else:
            self.fields[fld] = ivs

    def set_family(self, fam: int) -> bool:
        if self.family is not None and self.family != fam:
            return False
        self.family = fam
        return True


def _intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    out = []
    for lo1, hi1 in a:
        for lo2, hi2 in b:
            lo, hi = max(lo1, lo2), min(hi1, hi2)
            if lo <= hi:
                out.append((lo, hi))
    return sorted(out)


def _apply(c: Constraint, sel: Selector, ivs_or_names: list) -> bool:
    """Add ``sel ∈ values`` to ``c``; False when the constraint became unsatisfiable."""
    ok = True
    if sel.family is not None:
        ok = c.set_family(sel.family)
    if sel.proto is not None:
        c.add("proto", [(sel.proto, sel.proto)])
    if sel.needs_port_proto:
        c.needs_port_proto = True
    if sel.field == "iif":
        c.iif = list(ivs_or_names) if c.iif is None else [n for n in c.iif if n in ivs_or_names]
    elif sel.field == "oif":
        c.oif = list(ivs_or_names) if c.oif is None else [n for n in c.oif if n in ivs_or_names]
    elif sel.field == "family":
        fams = {lo for lo, hi in ivs_or_names if lo == hi and lo in (4, 6)}
        if len(fams) == 1:
            ok = c.set_family(fams.pop()) and ok
        elif not fams:
            ok = False
    else:
        c.add(sel.field, list(ivs_or_names))
    return ok


def _to_set(c: Constraint, where: str) -> PacketSet:
    f = c.fields
    if c.needs_port_proto:
        protos = f.get("proto")
        if protos is None or any(not all(p in PORT_PROTOCOLS for p in range(lo, hi + 1)) for lo, hi in protos):
            raise NftReadError(f"{where}: 'th dport' on protocols without ports: its meaning is undefined "
                               "(restrict meta l4proto to tcp, udp, sctp)")
    if any(not v for v in f.values()):
        return PacketSet.empty()
    if ("src" in f or "dst" in f) and c.family is None:
        raise NftReadError(f"{where}: addresses without a family")
    # One set per (family, field, values), reused: the elements of a large map share their address
    # ranges and protocol parts, and a conjunction of cached factors is far cheaper than a new box.
    # The family and the non-address fields come as one cached factor (a large map has a few thousand
    # service parts and tens of thousands of elements).
    rest = tuple((name, tuple(f[name])) for name in ("proto", "dport", "icmp_type", "icmp_code") if name in f)
    out = None
    if c.family is not None or rest:
        key = (c.family, "svc", rest)
        out = _FIELD_CACHE.get(key)
        if out is None:
            if len(_FIELD_CACHE) >= _CACHE_MAX:
                _FIELD_CACHE.clear()
            out = _FIELD_CACHE[key] = PacketSet.build(family=c.family, **{name: list(ivs) for name, ivs in rest})
    for name in ("src", "dst"):
        ivs = f.get(name)
        if ivs is None:
            continue
        key = (c.family, name, tuple(ivs))
        part = _FIELD_CACHE.get(key)
        if part is None:
            if len(_FIELD_CACHE) >= _CACHE_MAX:
                _FIELD_CACHE.clear()
            part = _FIELD_CACHE[key] = PacketSet.build(family=c.family, **{name: ivs})
        out = part if out is None else out & part
    return out if out is not None else PacketSet.universe()


_BOX_FIELDS = {"src", "dst", "proto", "dport", "icmp_type", "icmp_code"}
_FULL_FIELD = {"proto": ((0, 255),), "dport": ((0, 65535),), "icmp_type": ((0, 255),), "icmp_code": ((0, 255),)}


def _raw_box(c: Constraint) -> _iv.Box | None:
    """The constraint as a box of value ranges (every packet it admits lies in it), or None when it
    has no family (the overlap check then asks the engine)."""
    if c.family is None or c.iif is not None or c.oif is not None or not set(c.fields) <= _BOX_FIELDS:
        return None
    top = ((0, (1 << (32 if c.family == 4 else 128)) - 1),)
    f = c.fields
    return (c.family, *(_iv.union(f[n]) if n in f else top for n in ("src", "dst")),
            *(_iv.union(f[n]) if n in f else _FULL_FIELD[n] for n in ("proto", "dport", "icmp_type", "icmp_code")))


def _if_ok(patterns: list[str] | None, name: str) -> bool:
    if patterns is None:
        return True
    # nft: a trailing '*' in an interface name is a prefix wildcard
    return any(fnmatch.fnmatchcase(name, p) if p.endswith("*") else p == name for p in patterns)


# -------------------------------------------------------------------- rules
@dataclass
class Verdict:
    kind: str  # accept, drop, jump, goto, return, continue, none
    target: str | None = None


@dataclass
class ParsedRule:
    cons: Constraint
    ct: set[str] | None
    lookups: list[tuple[list[Selector], "SetRef"]]  # plain set lookups (part of the match)
    vmap: tuple[list[Selector], "SetRef"] | None
    verdict: Verdict
    notrack: bool
    line: int
    note: str = ""
    log: bool = False


@dataclass
class SetRef:
    named: str | None = None
    inline: list[tuple[list[str], list[str] | None]] | None = None


def _parse_verdict(words: list[str], where: str) -> Verdict:
    if not words:
        return Verdict("none")
    w = words[0]
    if w in ("accept", "drop", "return", "continue") and len(words) == 1:
        return Verdict(w)
    if w in ("jump", "goto") and len(words) == 2:
        return Verdict(w, words[1])
    if w == "reject":
        return Verdict("drop")
    raise NftReadError(f"{where}: unknown verdict '{' '.join(words)}'")


def _read_selector(words: list, i: int) -> tuple[Selector, int] | None:
    for n in (2, 1):
        key = tuple(w.text if isinstance(w, Tok) else None for w in words[i:i + n])
        if key in SELECTORS:
            return SELECTORS[key], i + n
    return None


def _elements_of_group(group: Group) -> list[tuple[list[str], list[str] | None]]:
    out = []
    for item in group:
        ws = _words(item)
        if "comment" in ws:
            ws = ws[: ws.index("comment")]
        if ":" in ws:
            k = ws.index(":")
            out.append((_split_concat(ws[:k], item[0]), ws[k + 1:]))
        else:
            out.append((_split_concat(ws, item[0]), None))
    return out


def parse_rule(rule: Rule, chain: str) -> ParsedRule:
    where = f"line {rule.line} (chain {chain})"
    w = rule.words
    cons = Constraint()
    ct: set[str] | None = None
    lookups: list = []
    vmap = None
    notrack = False
    log = False
    note = ""
    verdict_words: list[str] = []
    unsat = False
    i = 0

    def text(k: int) -> str | None:
        return w[k].text if k < len(w) and isinstance(w[k], Tok) else None

    while i < len(w):
        t = text(i)
        if t == "ct" and text(i + 1) == "state":
            i += 2
            states: list[str] = []
            if i < len(w) and isinstance(w[i], list):
                states = [x for item in w[i] for x in _words(item)]
                i += 1
            else:
                while text(i) in CT_STATES:
                    states.append(text(i))
                    i += 1
                    if text(i) == "," and text(i + 1) in CT_STATES:
                        i += 1
            if not states or any(s not in CT_STATES for s in states):
                raise NftReadError(f"{where}: unknown ct state")
            ct = set(states) if ct is None else ct & set(states)
            continue
        sel = _read_selector(w, i)
        if sel is not None:
            sels = [sel[0]]
            i = sel[1]
            while text(i) == ".":
                nxt = _read_selector(w, i + 1)
                if nxt is None:
                    raise NftReadError(f"{where}: unknown selector in concatenation")
                sels.append(nxt[0])
                i = nxt[1]
            if text(i) == "!=":
                raise NftReadError(f"{where}: negated matches are not supported")
            if text(i) == "vmap":
                i += 1
                ref = _set_ref(w, i, where)
                vmap = (sels, ref)
                i += 1
                continue
            if i >= len(w):
                raise NftReadError(f"{where}: selector without a value")
            v = w[i]
            if isinstance(v, Tok) and v.text.startswith("@") or isinstance(v, list) and len(sels) > 1:
                lookups.append((sels, _set_ref(w, i, where)))
                i += 1
                continue
            if len(sels) > 1:
                raise NftReadError(f"{where}: concatenation without a set")
            values = [x for item in v for x in _words(item)] if isinstance(v, list) else [v.text]
            i += 1
            s0 = sels[0]
            if s0.kind == "ifname":
                parsed: list = [_unquote(x) for x in values]
            else:
                try:
                    parsed = [_value_interval(s0, x) for x in values]
                except (ValueError, KeyError) as err:
                    raise NftReadError(f"{where}: bad value for {s0.name}: {err}") from None
            unsat = not _apply(cons, s0, parsed) or unsat
            continue
        if t == "counter":
            i += 1
            if text(i) == "packets":
                i += 4
            continue
        if t == "log":
            log = True
            i += 1
            while text(i) in ("prefix", "level", "group", "snaplen", "queue-threshold", "flags"):
                if text(i) == "prefix":
                    note = _unquote(text(i + 1) or "")
                i += 2
            continue
        if t == "notrack":
            notrack = True
            i += 1
            continue
        if t == "comment":
            note = note or _unquote(text(i + 1) or "")
            i += 2
            continue
        if t in ("accept", "drop", "return", "continue", "jump", "goto", "reject"):
            verdict_words = [x for x in _words(w[i:])]
            if "comment" in verdict_words:
                k = verdict_words.index("comment")
                note = note or _unquote(verdict_words[k + 1]) if k + 1 < len(verdict_words) else note
                verdict_words = verdict_words[:k]
            if t == "reject":
                verdict_words = ["reject"]
            break
        raise NftReadError(f"{where}: unknown expression '{t if t is not None else '{…}'}'")
    verdict = _parse_verdict(verdict_words, where)
    if unsat:
        cons.fields["proto"] = []  # matches nothing
    return ParsedRule(cons, ct, lookups, vmap, verdict, notrack, rule.line, note, log)


def _set_ref(w: list, i: int, where: str) -> SetRef:
    if i >= len(w):
        raise NftReadError(f"{where}: missing set")
    v = w[i]
    if isinstance(v, Tok) and v.text.startswith("@"):
        return SetRef(named=v.text[1:])
    if isinstance(v, list):
        return SetRef(inline=_elements_of_group(v))
    raise NftReadError(f"{where}: expected a set")


# -------------------------------------------------------------------- evaluation
class Evaluator:
    """Walks the chains of one table for one (in, out) interface pair."""

    def __init__(self, table: TableDef, view: str = "new") -> None:
        # view: the conntrack state of the packets walked. "new" (connection-opening packets, what
        # the proof reads) or "established"/"related"/"invalid" (e.g. replies, for a return-path check)
        if view not in ("new", "established", "related", "invalid"):
            raise ValueError(f"unknown conntrack view {view!r}")
        self.view = view
        self.t = table
        self.parsed: dict[str, list[ParsedRule]] = {
            name: [parse_rule(r, name) for r in c.rules] for name, c in table.chains.items()}
        self._element_cache: dict = {}
        self._match_cache: dict = {}
        self._universe = PacketSet.universe()
        forward = [c for c in table.chains.values() if c.hook == "forward"]
        if len(forward) != 1:
            raise NftReadError(f"table {table.name}: expected one forward base chain, found {len(forward)}")
        self.forward = forward[0]
        for c in table.chains.values():
            if c.hook not in (None, "forward", "prerouting", "input", "output"):
                raise NftReadError(f"chain {c.name}: hook {c.hook} is not supported by the reader")
            if c.hook == "prerouting":
                for r in self.parsed[c.name]:
                    if r.verdict.kind not in ("none",) or r.vmap is not None:
                        raise NftReadError(f"line {r.line}: only notrack rules are supported in prerouting")
                if c.policy != "accept":
                    raise NftReadError(f"chain {c.name}: a prerouting chain must have policy accept")
        self._notrack: dict[str, PacketSet] = {}
        self.logged = PacketSet.empty()  # filled by walk(): packets that executed a log statement

    # ---- sets
    def _set_def(self, ref: SetRef, where: str) -> tuple[list[str] | None, list]:
        if ref.named is not None:
            d = self.t.sets.get(ref.named)
            if d is None:
                raise NftReadError(f"{where}: unknown set @{ref.named}")
            return d.keys, d.elements
        return None, ref.inline or []

    def _elements(self, sels: list[Selector], ref: SetRef, in_if: str, out_if: str, line: int,
                  want_map: bool) -> list[tuple[PacketSet, list[str] | None]]:
        """The elements of a lookup as packet sets (those whose interface fields match the pair)."""
        key = (id(ref), ref.named, tuple(s.name for s in sels), in_if if _has_if(sels) else None,
               out_if if _has_if(sels) else None)
        hit = self._element_cache.get(key)
        if hit is not None:
            return hit
        where = f"line {line}"
        keys, elements = self._set_def(ref, where)
        if ref.named is not None:
            d = self.t.sets[ref.named]
            if d.is_map != want_map:
                raise NftReadError(f"{where}: @{ref.named} is {'a map' if d.is_map else 'a set'}")
            expected = [_KEY_TYPE_OF[s.kind] or ("ipv4_addr" if s.family == 4 else "ipv6_addr") for s in sels]
            if keys != expected:
                raise NftReadError(f"{where}: @{ref.named} has type {' . '.join(keys or [])}, "
                                   f"the lookup needs {' . '.join(expected)}")
        out = []
        boxes: list[list[_iv.Box]] | None = []
        for fields, verdict in elements:
            if len(fields) != len(sels):
                raise NftReadError(f"{where}: element '{' . '.join(fields)}' does not fit the key")
            c = Constraint()
            ok = True
            for sel, word in zip(sels, fields):
                if sel.kind == "ifname":
                    ok = _apply(c, sel, [_unquote(word)]) and ok
                    continue
                try:
                    iv = _value_interval(sel, word)
                except (ValueError, KeyError) as err:
                    raise NftReadError(f"{where}: bad element value '{word}' for {sel.name}: {err}") from None
                ok = _apply(c, sel, [iv]) and ok
            if not ok or not _if_ok(c.iif, in_if) or not _if_ok(c.oif, out_if):
                continue
            ps = _to_set(c, where)
            if boxes is not None:
                box = _raw_box(c)
                if box is None:
                    boxes = None
                else:
                    boxes.append([box])
            out.append((ps, verdict, fields))
        if len(sels) > 1 and not _has_if(sels):
            # the kernel refuses overlapping elements of a concatenated interval set (EEXIST); elements
            # whose value ranges share no point cannot overlap, so the engine looks only if some do
            meeting = None if boxes is None else _iv.later_overlapping(boxes, 30 * len(boxes) + 10_000)
            if meeting is None or meeting:
                seen = PacketSet.empty()
                for ps, _, fields in out:
                    if not (ps & seen).is_empty():
                        raise NftReadError(f"{where}: elements of {('@' + ref.named) if ref.named else 'a set'} "
                                           f"overlap ('{' . '.join(fields)}'); nft would refuse the file")
                    seen = seen | ps
        result = [(ps, verdict) for ps, verdict, _ in out]
        self._element_cache[key] = result
        return result

    # ---- rules
    def _match(self, r: ParsedRule, in_if: str, out_if: str, chain: str) -> PacketSet | None:
        """Packets the rule's match part selects for this pair (before ct state), None if none."""
        if not _if_ok(r.cons.iif, in_if) or not _if_ok(r.cons.oif, out_if):
            return None
        key = (chain, r.line, id(r), in_if if r.lookups else None, out_if if r.lookups else None)
        hit = self._match_cache.get(key)
        if hit is None:
            m = _to_set(r.cons, f"line {r.line}")
            for sels, ref in r.lookups:
                u = PacketSet.empty()
                for ps, verdict in self._elements(sels, ref, in_if, out_if, r.line, want_map=False):
                    u = u | ps
                m = m & u
            hit = self._match_cache[key] = m
        return hit

    def notrack(self, in_if: str) -> PacketSet:
        found = self._notrack.get(in_if)
        if found is None:
            found = PacketSet.empty()
            for c in self.t.chains.values():
                if c.hook != "prerouting":
                    continue
                for r in self.parsed[c.name]:
                    if r.notrack:
                        if r.ct is not None:
                            raise NftReadError(f"line {r.line}: ct state in a notrack rule is not supported")
                        # oifname is unknown before routing: a prerouting rule may not test it
                        if r.cons.oif is not None:
                            raise NftReadError(f"line {r.line}: oifname in prerouting")
                        m = self._match(r, in_if, "", c.name)
                        if m is not None:
                            found = found | m
            self._notrack[in_if] = found
        return found

    def _ct(self, m: PacketSet, states: set[str] | None, in_if: str) -> PacketSet:
        if states is None:
            return m
        if self.view != "new":
            return m if self.view in states else PacketSet.empty()
        n = self.notrack(in_if)
        out = PacketSet.empty()
        if "new" in states:
            out = out | (m - n)
        if "untracked" in states:
            out = out | (m & n)
        return out

    def walk(self, chain: str, cond: PacketSet, in_if: str, out_if: str, depth: int = 0) -> list[ReadRule]:
        """The first-match rules of ``chain`` for the packets of ``cond``, jumps inlined. Packets a
        rule decides are taken out of the rest of the chain, so :attr:`logged` collects exactly the
        packets that execute a ``log`` statement."""
        if depth > 16:
            raise NftReadError(f"chain {chain}: jumps nest too deep (a loop?)")
        c = self.t.chains.get(chain)
        if c is None:
            raise NftReadError(f"jump to unknown chain {chain}")
        out: list[ReadRule] = []
        remaining = cond
        for r in self.parsed[chain]:
            if remaining.is_empty():
                break
            m = self._match(r, in_if, out_if, chain)
            if m is None:
                continue
            m = self._ct(m, r.ct, in_if)
            m = remaining if m == self._universe else m & remaining  # a rule without conditions (flow chains)
            if m.is_empty():
                continue
            if r.log:
                self.logged = self.logged | m
            if r.vmap is not None:
                if r.verdict.kind != "none":
                    raise NftReadError(f"line {r.line}: a verdict after vmap")
                sels, ref = r.vmap
                by_target: dict[tuple[str, ...], PacketSet] = {}
                for ps, verdict in self._elements(sels, ref, in_if, out_if, r.line, want_map=True):
                    if verdict is None:
                        raise NftReadError(f"line {r.line}: vmap element without a verdict")
                    k = tuple(verdict)
                    by_target[k] = by_target.get(k, PacketSet.empty()) | ps
                # each target's packets are m & its elements, whatever the others decide: what the
                # lookup decides leaves the chain in one step (a balanced union, not one step per element)
                gone: list[PacketSet] = []
                for k, ps in by_target.items():
                    v = _parse_verdict(list(k), f"line {r.line}")
                    hit = m & ps
                    if v.kind == "return":
                        gone.append(hit)
                        continue
                    sub = self._verdict(v, hit, in_if, out_if, depth, note=" ".join(k))
                    out += sub
                    gone.extend(rule.packets for rule in sub)
                remaining = remaining - _union_all(gone)
                continue
            if r.verdict.kind == "return":
                remaining = remaining - m
                continue
            sub = self._verdict(r.verdict, m, in_if, out_if, depth, note=r.note)
            out += sub
            remaining = remaining - _decided(sub)
        return out

    def _verdict(self, v: Verdict, m: PacketSet, in_if: str, out_if: str, depth: int, note: str) -> list[ReadRule]:
        if m.is_empty() or v.kind in ("none", "continue", "return"):
            return []
        if v.kind in ("accept", "drop"):
            return [ReadRule(m, v.kind == "accept", note)]
        sub = self.walk(v.target or "", m, in_if, out_if, depth + 1)
        if v.kind == "goto":
            # falling off a goto'd chain ends the base chain: its policy decides
            sub.append(ReadRule(m, self.forward.policy == "accept", f"policy of {self.forward.name}"))
        return sub

    def pair(self, in_if: str, out_if: str) -> ReadPair:
        self.logged = PacketSet.empty()
        rules = self.walk(self.forward.name, PacketSet.universe(), in_if, out_if)
        rules.append(ReadRule(PacketSet.universe(), self.forward.policy == "accept",
                              f"policy {self.forward.policy} of {self.forward.name}"))
        return ReadPair(in_if, out_if, tuple(rules))


def _union_all(sets: list[PacketSet]) -> PacketSet:
    """The union of many sets, pairwise in rounds (each step joins sets of similar size)."""
    if not sets:
        return PacketSet.empty()
    while len(sets) > 1:
        sets = [sets[i] | sets[i + 1] if i + 1 < len(sets) else sets[i] for i in range(0, len(sets), 2)]
    return sets[0]


def _decided(rules: list[ReadRule]) -> PacketSet:
    if len(rules) == 1:
        return rules[0].packets
    out = PacketSet.empty()
    for r in rules:
        out = out | r.packets
    return out


def _has_if(sels: list[Selector]) -> bool:
    return any(s.kind == "ifname" for s in sels)


def _ifnames_in(table: TableDef) -> set[str]:
    names: set[str] = set()
    for d in table.sets.values():
        if "ifname" in d.keys:
            for fields, _ in d.elements:
                for k, f in zip(d.keys, fields):
                    if k == "ifname":
                        names.add(_unquote(f))
    for c in table.chains.values():
        for r in c.rules:
            ws = _words(r.words)
            for k, x in enumerate(ws[:-1]):
                if x in ("iifname", "oifname") and ws[k + 1].startswith('"'):
                    names.add(_unquote(ws[k + 1]))
    return {n for n in names if not n.endswith("*")}


#: A name no interface has: the pairs with it show what the table does with traffic of interfaces
#: the policy does not know (prove reports any packet such a pair accepts).
OTHER = "(other)"


def _table(text: str, expected_table: str) -> TableDef:
    """The table to read: the one named for the firewall, else the only ``inet`` table of the text."""
    tables = [t for t in parse_tables(text) if t.family == "inet"]
    chosen = [t for t in tables if t.name == expected_table]
    if not chosen:
        if len(tables) != 1:
            raise NftReadError(f"no table inet {expected_table} in the text")
        chosen = tables
    return chosen[-1]


def read_nft(text: str, firewall: Firewall, expected_table: str) -> list[ReadPair]:
    """The first-match rules per ordered interface pair of the table for ``firewall`` in ``text``."""
    table = _table(text, expected_table)
    ev = Evaluator(table)
    names = [i.name for i in firewall.interfaces]
    names += sorted(_ifnames_in(table) - set(names)) + [OTHER]
    return [ev.pair(i, o) for i in names for o in names if i != o]


def notrack_regions(text: str, firewall: Firewall, expected_table: str) -> dict[str, PacketSet]:
    """Per incoming interface, the packets the table exempts from connection tracking."""
    table = _table(text, expected_table)
    ev = Evaluator(table)
    names = [i.name for i in firewall.interfaces] + sorted(_ifnames_in(table) - {i.name for i in firewall.interfaces})
    return {n: ev.notrack(n) for n in names}


def logged_regions(text: str, firewall: Firewall, expected_table: str) -> dict[tuple[str, str], PacketSet]:
    """Per ordered pair of the firewall's interfaces, the connection-opening packets that are logged."""
    ev = Evaluator(_table(text, expected_table))
    names = [i.name for i in firewall.interfaces]
    out = {}
    for i in names:
        for o in names:
            if i != o:
                ev.pair(i, o)
                out[(i, o)] = ev.logged
    return out
