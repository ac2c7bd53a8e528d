"""Reading ``iptables-restore`` / ``iptables-save`` text back into packet sets (the iptables back end's reader).

The reader is the half of the iptables back end that the proof trusts, so it follows the kernel's
meaning of the rules it understands and refuses (with the line number) every option it does not:
a reader that skipped an unknown match would read a narrower rule as a wider one and could prove a
wrong configuration right.

What it understands — everything the renderer emits, in both the emitted form and the canonical
form ``iptables-save`` prints after loading it (``-p tcp -m tcp``, ``/32`` on hosts or not, hex
``u32`` numbers, ``RELATED,ESTABLISHED``, protocol names, ``\\'`` escapes):

* tables ``raw`` and ``filter`` (other tables only when they hold no rule), chain declarations,
  ``-A`` rules, ``COMMIT``, ``[packets:bytes]`` counters;
* ``-s``/``-d`` (comma lists, ``!``), ``-i``/``-o`` (``!``, ``+`` wildcards), ``-p`` (names,
  numbers, ``all``);
* matches ``tcp``/``udp``/``sctp`` (``--dport``/``--sport``), ``multiport`` (``--dports``,
  ``--sports``, ``--ports``), ``icmp`` (``--icmp-type``; type 255 means *any*, as in the kernel),
  ``icmp6`` (``--icmpv6-type``), ``conntrack --ctstate`` and ``state --state``, ``comment``, the
  ``u32`` tests the renderer uses for ICMP type/code of the other family's ICMP, and
  ``ipv6header --header protocol``;
* targets ``ACCEPT``, ``DROP``, ``REJECT``, ``RETURN``, user chains (``-j`` and ``-g``), ``LOG``,
  ``NFLOG``, ``CT --notrack`` and ``NOTRACK``.

How a file is evaluated. Packets are the canonical packets of one family (an
``iptables-restore`` file does not say its family: the caller, the file's own header, or its
addresses tell). For one interface pair and one *view* — the connection-tracking state a packet is
in when it reaches the filter table — the ``FORWARD`` chain is flattened into a first-match list of
(packet set, accept?) by inlining jumped-to chains (``RETURN`` and ``-g`` handled exactly),
skipping non-terminal targets, and ending with the chain policy. The ``new`` view is the one the
proof uses: a connection-opening packet is ``UNTRACKED`` when the ``raw`` table's ``PREROUTING``
chain sends it to ``CT --notrack`` for its input interface, and ``NEW`` otherwise. The views
``established``, ``related`` and ``invalid`` give the reply-path checks (see the back end).

Packet fields the model has no dimension for (IPv6 extension headers, fragments) are read as the
model's packets have them: no extension headers, no fragments.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass, field
from typing import Callable, Iterable

from zonepolicy.errors import ZonePolicyError
from zonepolicy.semantics.packetset import PacketSet

Interval = tuple[int, int]

# ---- shared text rules (the renderer quotes with the same function the reader unquotes against)

# Characters iptables-save leaves unquoted (xtables' save_string); anything else is double-quoted with
# '"', '\\' and "'" escaped by a backslash, which iptables-restore undoes inside quotes.
_BARE = re.compile(r"[A-Za-z0-9_-]+")


def quote(value: str) -> str:
    """``value`` as one iptables-restore argument, in the form iptables-save prints it."""
    if "\n" in value or "\r" in value or "\0" in value:
        raise ValueError("an iptables argument cannot hold a line break or NUL")
    if _BARE.fullmatch(value):
        return value
    return '"' + re.sub(r"([\"\\'])", r"\\\1", value) + '"'


_BLANKS = re.compile(r"[ \t]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f]")  # every character below 32 but the tab


def tokenize(line: str) -> list[str]:
    """Split one rule line into arguments the way iptables-restore does.

    Double quotes group, a backslash inside quotes takes the next character literally, spaces and
    tabs separate. An unterminated quote is an error (iptables-restore would also refuse it).
    """
    if '"' not in line:  # nothing groups: arguments are the runs between spaces and tabs
        return [word for word in _BLANKS.split(line) if word]
    out: list[str] = []
    buf: list[str] = []
    started = quoted = escaped = False
    for ch in line:
        if quoted:
            if escaped:
                buf.append(ch)
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
            else:
                buf.append(ch)
            continue
        if ch == '"':
            quoted = started = True
        elif ch in " \t":
            if started:
                out.append("".join(buf))
                buf, started = [], False
        else:
            buf.append(ch)
            started = True
    if quoted:
        raise ValueError("unterminated quote")
    if started:
        out.append("".join(buf))
    return out


# Protocol names iptables accepts and iptables-save prints (its own table first, then /etc/protocols).
PROTOCOLS: dict[str, int] = {
    "all": 0, "icmp": 1, "igmp": 2, "ipencap": 4, "tcp": 6, "egp": 8, "udp": 17, "ipv6": 41, "ipv6-route": 43,
    "ipv6-frag": 44, "rsvp": 46, "gre": 47, "esp": 50, "ah": 51, "icmpv6": 58, "ipv6-icmp": 58, "ipv6-nonxt": 59,
    "ipv6-opts": 60, "ospf": 89, "ospfigp": 89, "ipip": 94, "pim": 103, "vrrp": 112, "l2tp": 115, "sctp": 132,
    "udplite": 136, "mpls-in-ip": 137,
}
ICMP_NAMES: dict[str, tuple[int, int | None]] = {
    "echo-reply": (0, None), "pong": (0, None), "destination-unreachable": (3, None), "network-unreachable": (3, 0),
    "host-unreachable": (3, 1), "protocol-unreachable": (3, 2), "port-unreachable": (3, 3),
    "fragmentation-needed": (3, 4), "source-quench": (4, None), "redirect": (5, None), "echo-request": (8, None),
    "ping": (8, None), "router-advertisement": (9, None), "router-solicitation": (10, None),
    "time-exceeded": (11, None), "ttl-exceeded": (11, None), "parameter-problem": (12, None),
    "timestamp-request": (13, None), "timestamp-reply": (14, None),
}
ICMPV6_NAMES: dict[str, tuple[int, int | None]] = {
    "destination-unreachable": (1, None), "no-route": (1, 0), "communication-prohibited": (1, 1),
    "address-unreachable": (1, 3), "port-unreachable": (1, 4), "packet-too-big": (2, None),
    "time-exceeded": (3, None), "ttl-exceeded": (3, None), "parameter-problem": (4, None),
    "echo-request": (128, None), "ping": (128, None), "echo-reply": (129, None), "pong": (129, None),
    "router-solicitation": (133, None), "router-advertisement": (134, None), "neighbour-solicitation": (135, None),
    "neighbor-solicitation": (135, None), "neighbour-advertisement": (136, None),
    "neighbor-advertisement": (136, None), "redirect": (137, None),
}
PORT_PROTOCOLS = (6, 17, 132)
CT_STATES = frozenset({"NEW", "ESTABLISHED", "RELATED", "INVALID", "UNTRACKED", "SNAT", "DNAT"})
VIEWS = ("new", "established", "related", "invalid")

# The u32 tests the renderer emits (see the back end): the ICMP type or code of the other family's ICMP,
# read from the first bytes of the transport header, and the IPv4 protocol byte (for sets holding
# protocol 0, which '-p' cannot name). Key: (family, location) with numbers normalised.
U32_FIELDS: dict[tuple[int, str], str] = {
    (4, "0>>22&60@0>>24"): "icmp_type",
    (4, "0>>22&60@0>>16&255"): "icmp_code",
    (6, "40>>24"): "icmp_type",
    (6, "40>>16&255"): "icmp_code",
    (4, "6&255"): "proto",
}


class ReadError(ZonePolicyError):
    """Text the iptables reader does not understand; ``line`` is 1-based (0: the file as a whole)."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        super().__init__(f"line {line}: {message}" if line else message)


# ---- parsed form
@dataclass(slots=True)
class Cond:
    """One packet condition of a rule: builds its set for a family; ``neg`` complements it."""

    build: Callable[[int], PacketSet]
    neg: bool = False
    key: tuple | None = None  # what the set depends on, for conditions many rules share (None: unshared)


@dataclass(slots=True)
class Rule:
    line: int
    chain: str
    conds: list[Cond] = field(default_factory=list)
    in_if: tuple[bool, str] | None = None  # (negated, name)
    out_if: tuple[bool, str] | None = None
    proto: int | None = None  # None or 0: any
    proto_neg: bool = False
    states: list[tuple[bool, frozenset[str]]] = field(default_factory=list)
    icmp_family_field: bool = False  # a u32 test that needs -p icmp / ipv6-icmp
    never: bool = False  # a condition no model packet meets (e.g. '! --header protocol')
    comment: str = ""
    target: str = ""
    goto: bool = False
    target_args: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Chain:
    name: str
    policy: str | None  # None for user chains
    rules: list[Rule] = field(default_factory=list)


@dataclass(slots=True)
class Ruleset:
    family: int
    tables: dict[str, dict[str, Chain]]

    def chain(self, table: str, name: str) -> Chain | None:
        return self.tables.get(table, {}).get(name)


# ---- parsing
_HEADER_FAMILY = (
    (re.compile(r"^#\s*zonepolicy:.*\bfamily=ipv([46])\b"), None),
    (re.compile(r"^#\s*Generated by ip6tables-save\b"), 6),
    (re.compile(r"^#\s*Generated by iptables-save\b"), 4),
)
_COUNTERS = re.compile(r"\[\d+:\d+\]")
_CHAIN_NAME = re.compile(r"[^\s!\"'][^\s\"']{0,28}")


def detect_family(text: str) -> int | None:
    """The family an iptables-restore text is for, from its header comment or its addresses."""
    for raw in text.split("\n"):
        line = raw.strip()
        if not line.startswith("#"):
            continue
        for pattern, fam in _HEADER_FAMILY:
            m = pattern.match(line)
            if m:
                return fam if fam is not None else int(m.group(1))
    for m in re.finditer(r"(?:^|\s)(?:-s|-d|--source|--destination)\s+(\S+)", text, re.M):
        return 6 if ":" in m.group(1) else 4
    return None


def parse(text: str, family: int) -> Ruleset:
    """Parse an iptables-restore / iptables-save text for ``family`` (4 or 6)."""
    tables: dict[str, dict[str, Chain]] = {}
    current: dict[str, Chain] | None = None
    table_name = ""
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r").strip()
        if not line or line.startswith("#"):
            continue
        if _CONTROL.search(line):
            raise ReadError(number, "control character in line")
        if line.startswith("*"):
            if current is not None:
                raise ReadError(number, f"table '{line[1:]}' starts before table '{table_name}' is committed")
            table_name = line[1:]
            current = tables.setdefault(table_name, {})
        elif line == "COMMIT":
            if current is None:
                raise ReadError(number, "COMMIT outside a table")
            current = None
        elif current is None:
            raise ReadError(number, "rule or chain outside a table (missing '*filter'?)")
        elif line.startswith(":"):
            _declare(current, line, number)
        else:
            try:
                args = tokenize(line)
            except ValueError as err:
                raise ReadError(number, str(err)) from None
            if args and _COUNTERS.fullmatch(args[0]):
                args = args[1:]
            if len(args) < 2 or args[0] not in ("-A", "--append"):
                raise ReadError(number, f"only '-A CHAIN …' rules are understood, not '{line[:40]}'")
            chain = current.get(args[1])
            if chain is None:
                raise ReadError(number, f"rule for undeclared chain '{args[1]}'")
            chain.rules.append(_Parser(number, args[1], args[2:], family).rule())
    if current is not None:
        raise ReadError(0, f"table '{table_name}' is not committed (missing COMMIT)")
    for name, chains in tables.items():
        if name not in ("filter", "raw") and any(c.rules for c in chains.values()):
            raise ReadError(0, f"rules in table '{name}' are not understood (only filter and raw)")
        for chain in chains.values():
            for rule in chain.rules:
                if rule.target and rule.target not in _TARGETS and rule.target not in chains:
                    raise ReadError(rule.line, f"jump to undeclared chain or unknown target '{rule.target}'")
    return Ruleset(family, tables)


def _declare(chains: dict[str, Chain], line: str, number: int) -> None:
    parts = line[1:].split()
    if not parts or not _CHAIN_NAME.fullmatch(parts[0]):
        raise ReadError(number, f"bad chain declaration '{line[:40]}'")
    policy = parts[1] if len(parts) > 1 else "-"
    if policy not in ("-", "ACCEPT", "DROP"):
        raise ReadError(number, f"chain policy '{policy}' is not ACCEPT, DROP or '-'")
    if parts[0] in chains:
        raise ReadError(number, f"chain '{parts[0]}' declared twice")
    chains[parts[0]] = Chain(parts[0], None if policy == "-" else policy)


_TARGETS = frozenset({"ACCEPT", "DROP", "REJECT", "RETURN", "LOG", "NFLOG", "CT", "NOTRACK"})
_TARGET_OPTIONS = {
    "LOG": {"--log-prefix", "--log-level", "--log-tcp-sequence", "--log-tcp-options", "--log-ip-options",
            "--log-uid", "--log-macdecode"},
    "NFLOG": {"--nflog-group", "--nflog-prefix", "--nflog-range", "--nflog-size", "--nflog-threshold"},
    "REJECT": {"--reject-with"},
    "CT": {"--notrack"},
}
_FLAG_OPTIONS = {"--log-tcp-sequence", "--log-tcp-options", "--log-ip-options", "--log-uid", "--log-macdecode",
                 "--notrack"}


def _ports(text: str, line: int) -> list[Interval]:
    out = []
    for part in text.split(","):
        lo, sep, hi = part.partition(":")
        try:
            a = int(lo) if lo else 0
            b = int(hi) if sep and hi else (65535 if sep else a)
        except ValueError:
            raise ReadError(line, f"bad port '{part}'") from None
        if not 0 <= a <= b <= 65535:
            raise ReadError(line, f"bad port range '{part}'")
        out.append((a, b))
    return out


def _fields(**fields: list[Interval]) -> Callable[[int], PacketSet]:
    """A condition builder for fixed non-address fields (the same set in either family)."""
    return lambda family: PacketSet.build(**fields)


def _addresses(side: str, nets: list) -> Callable[[int], PacketSet]:
    """A condition builder for a source or destination address list of the rule's family."""
    return lambda family: PacketSet.build(family=family, **{side: nets})


def _system_protocol(name: str) -> int | None:
    try:
        number = socket.getprotobyname(name)
    except OSError:
        return None
    return number if 0 <= number <= 255 else None


def _number(text: str) -> int:
    return int(text, 16) if text.lower().startswith("0x") else int(text)


class _Parser:
    """Parses the arguments of one ``-A`` rule into a :class:`Rule`."""

    def __init__(self, line: int, chain: str, args: list[str], family: int) -> None:
        self.line, self.args, self.family = line, args, family
        self.i = 0
        self.r = Rule(line, chain)
        self.module = ""

    def fail(self, message: str) -> ReadError:
        return ReadError(self.line, message)

    def value(self, option: str) -> str:
        if self.i >= len(self.args):
            raise self.fail(f"'{option}' needs a value")
        v = self.args[self.i]
        self.i += 1
        return v

    def rule(self) -> Rule:
        while self.i < len(self.args):
            neg = False
            if self.args[self.i] == "!":
                neg = True
                self.i += 1
                if self.i >= len(self.args):
                    raise self.fail("'!' at the end of the rule")
            opt = self.args[self.i]
            self.i += 1
            self.option(opt, neg)
        return self.r

    def option(self, opt: str, neg: bool) -> None:
        r = self.r
        if opt in ("-s", "--source", "--src", "-d", "--destination", "--dst"):
            text = self.value(opt)
            nets = self.networks(text)
            side = "src" if opt in ("-s", "--source", "--src") else "dst"
            r.conds.append(Cond(_addresses(side, nets), neg, ("addr", side, text)))
        elif opt in ("-i", "--in-interface", "-o", "--out-interface"):
            name = self.value(opt)
            if opt in ("-i", "--in-interface"):
                r.in_if = (neg, name)
            else:
                r.out_if = (neg, name)
        elif opt in ("-p", "--protocol"):
            text = self.value(opt).lower()
            number = PROTOCOLS.get(text)
            if number is None and text.isdigit() and int(text) <= 255:
                number = int(text)
            if number is None:
                number = _system_protocol(text)  # iptables-save prints this machine's /etc/protocols names
            if number is None:
                raise self.fail(f"unknown protocol '{text}'")
            if number == 0 and neg:
                r.never = True
            r.proto, r.proto_neg = number, neg
            if number:
                r.conds.append(Cond(_fields(proto=[(number, number)]), neg, ("proto", number)))
        elif opt in ("-m", "--match"):
            if neg:
                raise self.fail("'!' before '-m'")
            self.module = self.value(opt)
            if self.module not in _MATCHES:
                raise self.fail(f"match '{self.module}' is not understood")
        elif opt in ("-j", "--jump", "-g", "--goto"):
            if neg:
                raise self.fail(f"'!' before '{opt}'")
            r.target = self.value(opt)
            r.goto = opt in ("-g", "--goto")
            self.target_options()
        elif opt in ("-c", "--set-counters"):
            self.value(opt)
            self.value(opt)
        elif opt in ("-f", "--fragment"):
            raise self.fail("fragment matches are not understood")
        else:
            self.match_option(opt, neg)

    def networks(self, text: str) -> list:
        out = []
        for part in text.split(","):
            try:
                net = ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise self.fail(f"'{part}' is not an address or prefix (host names are not read)") from None
            if net.version != self.family:
                raise self.fail(f"{net} is not an IPv{self.family} address")
            out.append(net)
        return out

    def target_options(self) -> None:
        allowed = _TARGET_OPTIONS.get(self.r.target, set())
        while self.i < len(self.args):
            opt = self.args[self.i]
            if opt not in allowed:
                raise self.fail(f"option '{opt}' after target '{self.r.target}' is not understood")
            self.i += 1
            self.r.target_args[opt] = "" if opt in _FLAG_OPTIONS else self.value(opt)
        if self.r.target == "CT" and "--notrack" not in self.r.target_args:
            raise self.fail("only 'CT --notrack' is understood")

    def match_option(self, opt: str, neg: bool) -> None:
        module = self.module
        if not module and self.r.proto in (6, 17, 132) and opt in ("--dport", "--sport", "--destination-port",
                                                                   "--source-port"):
            module = {6: "tcp", 17: "udp", 132: "sctp"}[self.r.proto]  # implicit protocol match
        handler = _MATCHES.get(module)
        if handler is None or not handler(self, opt, neg):
            raise self.fail(f"option '{opt}' is not understood" + (f" (match '{module}')" if module else ""))

    # ---- match modules; each returns False for an option it does not know
    def m_ports(self, opt: str, neg: bool) -> bool:
        if opt not in ("--dport", "--sport", "--destination-port", "--source-port"):
            return False
        self.need_port_protocol()
        ivs = _ports(self.value(opt), self.line)
        if len(ivs) != 1:
            raise self.fail(f"'{opt}' takes one port or range")
        self.port_cond("dport" if opt in ("--dport", "--destination-port") else "sport", ivs, neg)
        return True

    def m_multiport(self, opt: str, neg: bool) -> bool:
        self.need_port_protocol()
        if opt in ("--dports", "--destination-ports", "--sports", "--source-ports"):
            ivs = _ports(self.value(opt), self.line)
            self.port_cond("dport" if opt in ("--dports", "--destination-ports") else "sport", ivs, neg)
        elif opt == "--ports":
            ivs = _ports(self.value(opt), self.line)
            p = self.r.proto
            self.r.conds.append(Cond(lambda fam: PacketSet.build(proto=[(p, p)], dport=ivs)
                                     | PacketSet.build(proto=[(p, p)], sport=ivs), neg))
        else:
            return False
        return True

    def need_port_protocol(self) -> None:
        if self.r.proto not in PORT_PROTOCOLS or self.r.proto_neg:
            raise self.fail("port matches need '-p tcp', '-p udp' or '-p sctp'")

    def port_cond(self, side: str, ivs: list[Interval], neg: bool) -> None:
        p = self.r.proto
        self.r.conds.append(Cond(lambda fam: PacketSet.build(proto=[(p, p)], **{side: ivs}), neg,
                                 ("port", p, side, tuple(ivs))))

    def m_icmp(self, opt: str, neg: bool) -> bool:
        if opt != "--icmp-type":
            return False
        self.icmp(1, ICMP_NAMES, neg, any_type=255)
        return True

    def m_icmp6(self, opt: str, neg: bool) -> bool:
        if opt != "--icmpv6-type":
            return False
        self.icmp(58, ICMPV6_NAMES, neg, any_type=None)
        return True

    def icmp(self, proto: int, names: dict[str, tuple[int, int | None]], neg: bool, any_type: int | None) -> None:
        if self.r.proto != proto or self.r.proto_neg:
            raise self.fail(f"ICMP type matches need '-p {'icmp' if proto == 1 else 'ipv6-icmp'}'")
        text = self.value("icmp type")
        if text == "any":
            kind, code = None, None
        elif text in names:
            kind, code = names[text]
        else:
            head, sep, tail = text.partition("/")
            try:
                kind, code = int(head), (int(tail) if sep else None)
            except ValueError:
                raise self.fail(f"unknown ICMP type '{text}'") from None
            if not 0 <= kind <= 255 or (code is not None and not 0 <= code <= 255):
                raise self.fail(f"ICMP type '{text}' out of range")
        if kind is not None and kind == any_type:
            kind = code = None  # the IPv4 icmp match treats type 255 as "any type" (kernel xt_icmp)
        t = None if kind is None else [(kind, kind)]
        c = None if code is None else [(code, code)]
        self.r.conds.append(Cond(lambda fam: PacketSet.build(proto=[(proto, proto)], icmp_type=t, icmp_code=c), neg))

    def m_state(self, opt: str, neg: bool) -> bool:
        if (self.module == "state" and opt != "--state") or (self.module == "conntrack" and opt != "--ctstate"):
            return False
        states = frozenset(s.upper() for s in self.value(opt).split(","))
        if not states <= CT_STATES:
            raise self.fail(f"unknown connection state in '{','.join(sorted(states))}'")
        self.r.states.append((neg, states))
        return True

    def m_comment(self, opt: str, neg: bool) -> bool:
        if opt != "--comment" or neg:
            return False
        self.r.comment = self.value(opt)
        return True

    def m_u32(self, opt: str, neg: bool) -> bool:
        if opt != "--u32":
            return False
        fields: dict[str, list[Interval]] = {}
        for test in self.value(opt).split("&&"):
            location, sep, ranges = test.partition("=")
            key = re.sub(r"0x[0-9a-fA-F]+|\d+", lambda m: str(_number(m.group())), location.replace(" ", ""))
            name = U32_FIELDS.get((self.family, key))
            if not sep or name is None or name in fields:
                raise self.fail(f"u32 test '{test}' is not one the reader understands")
            ivs = []
            for part in ranges.split(","):
                lo, dash, hi = part.partition(":")
                a, b = _number(lo), _number(hi) if dash else _number(lo)
                if not 0 <= a <= b <= 255:
                    raise self.fail(f"u32 range '{part}' is outside 0-255")
                ivs.append((a, b))
            fields[name] = ivs
        if set(fields) - {"proto"} and (self.r.proto not in (1, 58) or self.r.proto_neg):
            raise self.fail("u32 ICMP tests need '-p icmp' or '-p ipv6-icmp'")
        self.r.conds.append(Cond(_fields(**fields), neg))
        return True

    def m_ipv6header(self, opt: str, neg: bool) -> bool:
        if opt != "--header":
            return False
        headers = self.value(opt).split(",")
        if self.family != 6 or headers not in (["protocol"], ["prot"], ["255"]):
            raise self.fail("only 'ipv6header --header protocol' is understood")
        # the model's packets carry no extension header: exactly [protocol] holds for all of them
        if neg:
            self.r.never = True
        return True


_MATCHES: dict[str, Callable[[_Parser, str, bool], bool]] = {
    "tcp": _Parser.m_ports, "udp": _Parser.m_ports, "sctp": _Parser.m_ports, "multiport": _Parser.m_multiport,
    "icmp": _Parser.m_icmp, "icmp6": _Parser.m_icmp6, "conntrack": _Parser.m_state, "state": _Parser.m_state,
    "comment": _Parser.m_comment, "u32": _Parser.m_u32, "ipv6header": _Parser.m_ipv6header,
}


# ---- evaluation
def iface_matches(spec: tuple[bool, str] | None, name: str | None, line: int) -> bool:
    """Whether an ``-i``/``-o`` argument matches interface ``name`` (``+`` at the end: a prefix)."""
    if spec is None:
        return True
    if name is None:
        raise ReadError(line, "an output interface is not known in this chain (-o in PREROUTING)")
    neg, pattern = spec
    hit = name.startswith(pattern[:-1]) if pattern.endswith("+") else name == pattern
    return hit != neg


@dataclass(slots=True)
class Step:
    """One rule's effect in a flattened chain walk: the packets it sees first and what it does."""

    packets: PacketSet
    verdict: str  # "accept", "drop", "log", "notrack"
    rule: Rule | None


class Evaluator:
    """Flattens chains of a :class:`Ruleset` for an interface pair and a view, with caches."""

    MAX_DEPTH = 32

    def __init__(self, ruleset: Ruleset) -> None:
        self.rs = ruleset
        self.universe = PacketSet.build(family=ruleset.family)
        self._base: dict[int, PacketSet] = {}
        self._cond_cache: dict[tuple, PacketSet] = {}  # one ruleset, so one family: the key says the rest
        self._untracked: dict[str, tuple[PacketSet, PacketSet]] = {}

    def base_set(self, rule: Rule) -> PacketSet:
        """The packets a rule's non-state conditions select (cached per rule)."""
        key = id(rule)
        found = self._base.get(key)
        if found is None:
            found = self.universe
            if rule.never:
                found = PacketSet.empty()
            for c in rule.conds:
                s = self._cond_cache.get(c.key) if c.key is not None else None
                if s is None:
                    s = c.build(self.rs.family) & self.universe
                    if c.key is not None:
                        self._cond_cache[c.key] = s
                found = found & (self.universe - s if c.neg else s)
            self._base[key] = found
        return found

    def state_set(self, rule: Rule, view: str, untracked: PacketSet) -> PacketSet:
        out = self.universe
        for neg, states in rule.states:
            if view == "new":
                hit = PacketSet.empty()
                if "NEW" in states:
                    hit = hit | (self.universe - untracked)
                if "UNTRACKED" in states:
                    hit = hit | untracked
            else:
                hit = self.universe if view.upper() in states else PacketSet.empty()
            out = out & (self.universe - hit if neg else hit)
        return out

    def walk(self, table: str, chain_name: str, in_if: str, out_if: str | None, view: str,
             untracked: PacketSet) -> list[Step]:
        """The first-match flattening of a built-in chain, ending with its policy."""
        chain = self.rs.chain(table, chain_name)
        steps: list[Step] = []
        if chain is not None:
            self._walk(table, chain, self.universe, in_if, out_if, view, untracked, steps, 0)
        policy = chain.policy if chain is not None and chain.policy else "ACCEPT"
        steps.append(Step(self.universe, "accept" if policy == "ACCEPT" else "drop", None))
        return steps

    def _walk(self, table: str, chain: Chain, context: PacketSet, in_if: str, out_if: str | None, view: str,
              untracked: PacketSet, steps: list[Step], depth: int) -> None:
        if depth > self.MAX_DEPTH:
            raise ReadError(0, f"chains nest deeper than {self.MAX_DEPTH} (a loop through '{chain.name}'?)")
        gone = PacketSet.empty()  # packets that left this chain by RETURN or -g
        for rule in chain.rules:
            if not (iface_matches(rule.in_if, in_if, rule.line) and iface_matches(rule.out_if, out_if, rule.line)):
                continue
            if table == "raw" and rule.states:
                raise ReadError(rule.line, "connection states are not known in the raw table")
            m = self.base_set(rule)
            if rule.states:
                m = m & self.state_set(rule, view, untracked)
            m = (m & context) - gone
            if m.is_empty():
                continue
            t = rule.target
            if t == "ACCEPT":
                steps.append(Step(m, "accept", rule))
            elif t in ("DROP", "REJECT"):
                steps.append(Step(m, "drop", rule))
            elif t == "RETURN":
                if chain.policy is None:
                    gone = gone | m
                else:  # RETURN in a built-in chain: the policy decides
                    steps.append(Step(m, "accept" if chain.policy == "ACCEPT" else "drop", rule))
            elif t in ("LOG", "NFLOG"):
                steps.append(Step(m, "log", rule))
            elif t in ("CT", "NOTRACK"):
                if table != "raw":
                    raise ReadError(rule.line, f"'{t}' outside the raw table is not understood")
                steps.append(Step(m, "notrack", rule))
            elif t == "":
                continue  # a rule without target only counts packets
            else:
                target = self.rs.chain(table, t)
                if target is None or target.policy is not None:
                    raise ReadError(rule.line, f"jump to '{t}', which is not a user chain")
                self._walk(table, target, m, in_if, out_if, view, untracked, steps, depth + 1)
                if rule.goto:
                    gone = gone | m

    def untracked(self, in_if: str) -> tuple[PacketSet, PacketSet]:
        """(untracked, dropped): what raw PREROUTING sends to notrack, and drops, for ``in_if``."""
        found = self._untracked.get(in_if)
        if found is None:
            steps = self.walk("raw", "PREROUTING", in_if, None, "raw", PacketSet.empty())
            notrack, dropped, decided = PacketSet.empty(), PacketSet.empty(), PacketSet.empty()
            for s in steps:
                if s.verdict == "notrack":
                    notrack = notrack | (s.packets - decided)
                elif s.verdict in ("accept", "drop"):
                    if s.verdict == "drop":
                        dropped = dropped | (s.packets - decided)
                    decided = decided | s.packets
            found = self._untracked[in_if] = (notrack - dropped, dropped)
        return found

    def forward(self, in_if: str, out_if: str, view: str = "new") -> list[Step]:
        """The FORWARD path of ``view`` packets entering on ``in_if`` and leaving on ``out_if``."""
        untracked, dropped = self.untracked(in_if)
        steps = self.walk("filter", "FORWARD", in_if, out_if, view, untracked if view == "new" else PacketSet.empty())
        if not dropped.is_empty():
            steps.insert(0, Step(dropped, "drop", None))
        return steps


def accepted(steps: Iterable[Step]) -> PacketSet:
    """What a flattened walk accepts (first match among accept/drop steps)."""
    acc = PacketSet.empty()
    for s in reversed(list(steps)):
        if s.verdict == "accept":
            acc = acc | s.packets
        elif s.verdict == "drop":
            acc = acc - s.packets
    return acc


def logged(steps: Iterable[Step]) -> PacketSet:
    """The packets that meet a LOG/NFLOG step before their verdict."""
    decided, out = PacketSet.empty(), PacketSet.empty()
    for s in steps:
        if s.verdict == "log":
            out = out | (s.packets - decided)
        elif s.verdict in ("accept", "drop"):
            decided = decided | s.packets
    return out


def interface_names(rs: Ruleset) -> set[str]:
    """Every literal interface name the rules mention (wildcards excluded)."""
    names = set()
    for chains in rs.tables.values():
        for chain in chains.values():
            for rule in chain.rules:
                for spec in (rule.in_if, rule.out_if):
                    if spec is not None and not spec[1].endswith("+"):
                        names.add(spec[1])
    return names
