"""What the Cisco IOS and Cisco ASA back ends share: ACEs, safe text, names, and the reader's core.

Both targets filter with an ACL bound *inbound* on each interface. An inbound ACL cannot see the
egress interface, so one interface's ACL holds the first-match rules of every pair it is the
ingress of, pair after pair; the lowering already restricts every rule's destination to the egress
zones' addresses, so a rule of pair (A, B) never matches a packet routed out of C. Each pair's part
of the ACL begins with a ``zp pair A -> B`` remark, and the ACL ends with an explicit deny.

The reader (:func:`read_pairs`) turns parsed ACLs back into first-match rules per interface pair:
the packets that leave on B are those whose destination lies in B's routed networks, which the
reader takes as every destination the configuration's ``-> B`` sections name (what the routing
table must send out of B); pair (A, B) is then A's whole ACL, in order, restricted to those
destinations. An interface without an ACL lets everything through, as on the device.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import re
from dataclasses import dataclass
from typing import Callable, ClassVar, Iterable, Sequence

from zonepolicy.diagnostics import Diagnostic, Severity
from zonepolicy.errors import InvalidPolicy, ZonePolicyError
from zonepolicy.model.policy import Firewall, Flow, Policy
from zonepolicy.model.values import Action, Network
from zonepolicy.semantics.packetset import PacketSet

from .base import (
    Compiler, Interval, Output, ReadPair, ReadRule, TargetModel, TargetRule, interface_name_diagnostics, lower,
)

FULL8: tuple[Interval, ...] = ((0, 255),)
FULL16: tuple[Interval, ...] = ((0, 65535),)
MAX_REMARK = 100  # both IOS and ASA cut a remark at 100 characters
PAIR_MARK = "zp pair "
END_MARK = "zp end of pairs"  # closes the last pair section: the final deny belongs to no pair
# IOS and ASA interface names: a type word, then slot/port numbers and an optional subinterface.
_IFNAME = re.compile(r"[A-Za-z][A-Za-z-]{0,40}[0-9]+(?:[/:][0-9]+){0,4}(?:\.[0-9]+)?")
# What a remark may keep: printable ASCII except the characters a Cisco CLI gives meaning to when a
# configuration is pasted ('?' asks for help, '!' and '#' start comments, '"' and '\' quote/escape).
_REMARK_OK = re.compile(r"[^ -~]|[?!#\"\\;|]")


class CiscoReadError(ZonePolicyError):
    """A line of a Cisco configuration the reader does not understand (it reads only what it emits)."""

    def __init__(self, number: int, message: str) -> None:
        self.number = number
        super().__init__(f"line {number}: {message}")


class Unexpressible(Exception):
    """A target rule the ACE syntax cannot write exactly (raised while splitting it into ACEs)."""


# ---- text and names
def clean_remark(text: str) -> str:
    """``text`` as remark text: characters a CLI could act on become ``_``, at most 100 characters."""
    out = _REMARK_OK.sub("_", " ".join(text.split()))
    return out if len(out) <= MAX_REMARK else out[:MAX_REMARK - 3] + "..."


def flow_remark(flow_id: str, origin: str) -> str:
    """The remark before a flow's ACEs: ``flow ID FILE:LINE`` (cleaned, the default says so)."""
    if flow_id == "default":
        return "zp default allow"
    return clean_remark(f"flow {flow_id} {origin}".rstrip())


def digest(text: str, n: int = 6) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def check_interface_name(name: str) -> str | None:
    """Why ``name`` is not a Cisco interface name this back end will write, or None."""
    if not _IFNAME.fullmatch(name):
        return "not a Cisco interface name (a type, a number, optional /slot/port numbers and .subinterface)"
    return None


IFNAME_HINT = "write the device's interface name, e.g. GigabitEthernet0/0/1 or Port-channel1.100"


def safe_token(name: str, limit: int) -> str:
    """A deterministic name made of ``A-Z a-z 0-9 _ -`` from ``name``; a hash keeps rewritten or cut names distinct."""
    token = re.sub(r"[^A-Za-z0-9_-]", "_", name)
    if token != name or len(token) > limit or not token:
        token = f"{token[:limit - 7]}_{digest(name)}"
    return token


def interface_diagnostics(target: str, firewall: Firewall) -> list[Diagnostic]:
    """ZP403 for every interface name the target's configuration cannot carry."""
    return interface_name_diagnostics(target, firewall, check_interface_name, lambda n: clean_remark(n)[:40],
                                      IFNAME_HINT)


class CiscoCompiler(Compiler):
    """What IOS and ASA share: the same diagnostics, one configuration file, ACL pairs read back.

    A subclass sets ``suffix`` and the two functions of its dialect, ``render_text`` (model → text)
    and ``parse`` (text → ACLs and their inbound bindings).
    """

    suffix: ClassVar[str]
    render_text: ClassVar[Callable[[TargetModel], str]]
    parse: ClassVar[Callable[[str], tuple]]

    def diagnose(self, policy: Policy, firewall: Firewall) -> list[Diagnostic]:
        """Interface names the configuration cannot carry, and rules no ACE can write exactly."""
        return interface_diagnostics(self.target, firewall) + expressibility_diagnostics(self.target, policy, firewall)

    def render(self, model: TargetModel) -> list[Output]:
        return render_outputs(self.target, model, type(self).render_text, self.suffix)

    def read(self, text: str, firewall: Firewall) -> list[ReadPair]:
        """First-match rules per interface pair of an emitted configuration (connection-opening packets)."""
        acls, bindings = type(self).parse(text)
        return read_pairs(acls, bindings, (4, 6), firewall)


def render_outputs(target: str, model: TargetModel, render_text, suffix: str) -> list[Output]:
    """The one configuration file of ``model`` for a Cisco target; names or rules it cannot write are errors."""
    bad = [Diagnostic("ZP403", f"target {target} cannot use interface name {clean_remark(n)[:40]!r}", None,
                      Severity.ERROR, IFNAME_HINT) for n, _ in model.interfaces if check_interface_name(n)]
    if bad:
        raise InvalidPolicy(bad)
    try:
        text = render_text(model)
    except Unexpressible as why:
        raise InvalidPolicy([Diagnostic("ZP401", f"target {target} cannot express {why}", None,
                                        Severity.ERROR)]) from None
    return [Output(f"{safe_token(model.firewall, 64)}.{suffix}", text)]


# ---- ACEs
@dataclass(frozen=True, slots=True)
class Ace:
    """One access-control entry: source and destination prefixes (more than one: an object-group) and
    one protocol match."""

    permit: bool
    family: int
    proto: int | None  # None: every protocol ('ip')
    src: tuple[Network, ...]
    dst: tuple[Network, ...]
    ports: Interval | None = None  # TCP/UDP destination ports; None: any
    icmp: tuple[int, int | None] | None = None  # (type, code or None for any code)
    log: bool = False
    reflect: bool = False  # IOS: open a reflexive entry for the replies (stateful flows)

    def packets(self) -> PacketSet:
        """The packets this entry matches (canonical packets, as the policy's meaning has them)."""
        kw: dict = {}
        if self.proto is not None:
            kw["proto"] = [(self.proto, self.proto)]
        if self.ports is not None:
            kw["dport"] = [self.ports]
        if self.icmp is not None:
            kw["icmp_type"] = [(self.icmp[0], self.icmp[0])]
            if self.icmp[1] is not None:
                kw["icmp_code"] = [(self.icmp[1], self.icmp[1])]
        return PacketSet.build(family=self.family, src=list(self.src), dst=list(self.dst), **kw)


def _has(ivs: Sequence[Interval], v: int) -> bool:
    return any(lo <= v <= hi for lo, hi in ivs)


def _values(ivs: Sequence[Interval]) -> list[int]:
    return [v for lo, hi in ivs for v in range(lo, hi + 1)]


ICMP_EXPAND_LIMIT = 512  # type/code pairs one rule may become; beyond that the rule is refused


Match = tuple[int | None, Interval | None, tuple[int, int | None] | None]  # (proto, ports, (icmp type, code))


_MATCHES: dict[tuple, tuple[Match, ...]] = {}  # the rules of a large model share a few hundred protocol parts
_MATCHES_MAX = 100_000


def protocol_matches(family: int, rule: TargetRule) -> Sequence[Match]:
    """The protocol part of a rule as (proto, ports, icmp) matches whose union is exactly its packets.

    Canonical packets of port-less protocols have port 0 and those of non-ICMP protocols ICMP type and
    code 0, so a protocol contributes only where the rule's other fields admit that."""
    key = (family, tuple(rule.proto), tuple(rule.dport), tuple(rule.icmp_type), tuple(rule.icmp_code))
    found = _MATCHES.get(key)
    if found is None:
        if len(_MATCHES) >= _MATCHES_MAX:
            _MATCHES.clear()
        found = _MATCHES[key] = tuple(_protocol_matches(*key))
    return found



class ProtocolTexts:
    """The protocol part of a rule as ACE text, (protocol word, port/ICMP tail) per match of
    :func:`protocol_matches`, made once per distinct part: a large model's rules share a few hundred.
    ``word(family, proto)`` is the dialect's protocol word (``proto`` None: any protocol)."""

    def __init__(self, word: Callable[[int, int | None], str]) -> None:
        self._word = word
        self._texts: dict[tuple, list[tuple[str, str]]] = {}

    def __call__(self, rule: TargetRule) -> list[tuple[str, str]]:
        key = (rule.family, rule.proto, rule.dport, rule.icmp_type, rule.icmp_code)
        found = self._texts.get(key)
        if found is None:
            found = []
            for proto, ports, icmp in protocol_matches(rule.family, rule):
                tail = ""
                if ports is not None and ports != (0, 65535):
                    tail = f" eq {ports[0]}" if ports[0] == ports[1] else f" range {ports[0]} {ports[1]}"
                if icmp is not None:
                    tail += f" {icmp[0]}" + (f" {icmp[1]}" if icmp[1] is not None else "")
                found.append((self._word(rule.family, proto), tail))
            self._texts[key] = found
        return found

def _protocol_matches(family: int, proto: tuple[Interval, ...], dport: tuple[Interval, ...],
                      itype: tuple[Interval, ...], icode: tuple[Interval, ...]) -> list[Match]:
    if proto == FULL8 and dport == FULL16 and itype == FULL8 and icode == FULL8:
        return [(None, None, None)]
    out: list[Match] = []
    zero_port = _has(dport, 0)
    plain = zero_port and _has(itype, 0) and _has(icode, 0)  # what a port-less, non-ICMP protocol needs
    for p in _values(proto):
        if p in (6, 17):
            out.extend([(p, None, None)] if dport == FULL16 else [(p, iv, None) for iv in dport])
        elif p == 132:
            if dport != FULL16:
                raise Unexpressible("SCTP ports (the ACL matches SCTP only as protocol 132)")
            out.append((p, None, None))
        elif p in (1, 58):
            if not zero_port:
                continue
            if itype == FULL8 and icode == FULL8:
                out.append((p, None, None))
                continue
            if (family, p) not in ((4, 1), (6, 58)):  # ICMP is IPv4's, ICMPv6 IPv6's: lower() never asks
                raise ValueError(f"ICMP types for protocol {p} in an IPv{family} rule")
            types = _values(itype)
            codes: list[int | None] = [None] if icode == FULL8 else list(_values(icode))
            if len(types) * len(codes) > ICMP_EXPAND_LIMIT:
                raise Unexpressible("this many ICMP type/code combinations")
            out.extend((p, None, (t, c)) for t in types for c in codes)
        elif plain:
            if p == 0:
                raise Unexpressible("IP protocol 0 on its own (an ACL reads protocol 0 as every protocol)")
            out.append((p, None, None))
    return out


def rule_aces(rule: TargetRule, reflect: bool, groups: bool) -> list[Ace]:
    """The ACEs of one target rule, in a fixed order (source, destination, protocol match). With
    ``groups``, a prefix list stays whole (the dialect writes it as an object-group); else one ACE per
    source prefix × destination prefix."""
    matches = protocol_matches(rule.family, rule)
    permit = rule.action is Action.ALLOW
    srcs = tuple(s for s in rule.src if s.version == rule.family)
    dsts = tuple(d for d in rule.dst if d.version == rule.family)
    src_parts = [srcs] if groups and srcs else [(s,) for s in srcs]
    dst_parts = [dsts] if groups and dsts else [(d,) for d in dsts]
    return [Ace(permit, rule.family, p, s, d, ports, icmp, rule.log, reflect and permit and rule.stateful)
            for s in src_parts for d in dst_parts for p, ports, icmp in matches]


def group_name(nets: Sequence[Network]) -> str:
    """The object-group name of a prefix list: a hash of its content (same list, same group)."""
    return f"ZP-NET-{digest(','.join(str(n) for n in nets), 10)}"


def ordered(rules: Sequence[TargetRule]) -> list[TargetRule]:
    """Rules within one action reordered so stateful allows come before stateless ones and logged
    rules before silent ones: same accepted set, and an overlap is logged / tracked when any flow asks."""
    return sorted(rules, key=lambda r: (r.action is Action.ALLOW, r.action is Action.ALLOW and not r.stateful,
                                        not r.log))


# Protocols an ACE may fail to write exactly (SCTP ports, many ICMP types/codes, protocol 0 alone):
# a rule's packets are some of its flow's, so a flow none of whose terms can carry these protocols
# never yields such a rule.
_AWKWARD_PROTOCOLS = frozenset({0, 1, 58, 132})


def _awkward(flow: Flow) -> bool:
    return not flow.services or any(t.protocol is None or t.protocol in _AWKWARD_PROTOCOLS for t in flow.services)


def expressibility_diagnostics(target: str, policy: Policy, firewall: Firewall, model: TargetModel | None = None
                               ) -> list[Diagnostic]:
    """ZP401 for every flow one of whose rules no ACE can write exactly (once per flow and reason).

    Without a ``model``, only the flows whose services reach an awkward protocol are lowered: with a
    default deny a flow's rules depend on that flow alone, so their rules (and so the diagnostics,
    in the same order) are those of the whole policy's model. A default allow lowers everything,
    its remainder rules covering what no flow names."""
    if model is None:
        if policy.default is not Action.ALLOW:
            awkward = tuple(f for f in policy.flows if _awkward(f))
            if not awkward:
                return []
            policy = dataclasses.replace(policy, flows=awkward)
        model = lower(policy, firewall)
    flows = {f.id: f for f in policy.flows}
    seen: set[tuple[str, str]] = set()
    out = []
    for pair in model.pairs:
        for r in pair.rules:
            try:
                protocol_matches(r.family, r)
            except Unexpressible as why:
                if (r.flow_id, str(why)) in seen:
                    continue
                seen.add((r.flow_id, str(why)))
                flow = flows.get(r.flow_id)
                out.append(Diagnostic("ZP401", f"target {target} (firewall {firewall.name}) cannot express {why} "
                                      f"of flow {r.flow_id}", flow.span if flow else firewall.span, Severity.ERROR,
                                      "split the service or compile this flow for another target"))
    return out


# ---- reading back
@dataclass(frozen=True, slots=True)
class Entry:
    """One line of a parsed ACL: a pair section start (``out_if``) or an ACE with its remark."""

    line: int
    ace: Ace | None = None
    out_if: str | None = None
    note: str = ""


class AceFactors:
    """:meth:`Ace.packets` for the entries of one configuration, from shared factors: an ACE's packets
    are (family and sources) × (family and destinations) × (its protocol match), and thousands of
    entries name the same prefixes and services."""

    def __init__(self) -> None:
        self._sets: dict[tuple, PacketSet] = {}

    def part(self, family: int, name: str, value: tuple) -> PacketSet:
        key = (family, name, value)
        found = self._sets.get(key)
        if found is None:
            if name == "svc":
                proto, ports, icmp = value
                kw: dict = {}
                if proto is not None:
                    kw["proto"] = [(proto, proto)]
                if ports is not None:
                    kw["dport"] = [ports]
                if icmp is not None:
                    kw["icmp_type"] = [(icmp[0], icmp[0])]
                    if icmp[1] is not None:
                        kw["icmp_code"] = [(icmp[1], icmp[1])]
                found = PacketSet.build(family=family, **kw)
            else:
                found = PacketSet.build(family=family, **{name: list(value)})
            self._sets[key] = found
        return found

    def packets(self, ace: Ace) -> PacketSet:
        return (self.part(ace.family, "src", ace.src) & self.part(ace.family, "dst", ace.dst)
                & self.part(ace.family, "svc", (ace.proto, ace.ports, ace.icmp)))


def read_pairs(acls: dict[str, list[Entry]], bindings: dict[tuple[str, int], str], families: Iterable[int],
               firewall: Firewall) -> list[ReadPair]:
    """First-match rules per interface pair from parsed ACLs and their inbound bindings (see module doc)."""
    families = tuple(families)
    for (ifname, _), name in sorted(bindings.items()):
        if name not in acls:  # an undefined ACL permits everything on the device; refuse to guess
            raise CiscoReadError(0, f"interface {ifname} is bound to ACL {name}, which is not defined")
    factors = AceFactors()
    destinations: dict[str, dict[tuple[int, tuple[Network, ...]], None]] = {}  # per egress, each list once
    for entries in acls.values():
        out_if = None
        for e in entries:
            if e.out_if is not None:
                out_if = e.out_if or None
            elif e.ace is not None and out_if is not None:
                destinations.setdefault(out_if, {})[e.ace.family, e.ace.dst] = None
    routed: dict[str, PacketSet] = {}
    for out_if, dsts in destinations.items():
        acc = PacketSet.empty()
        for family, dst in dsts:
            acc = acc | factors.part(family, "dst", dst)
        routed[out_if] = acc
    names = sorted({i.name for i in firewall.interfaces} | {i for i, _ in bindings} | set(routed))
    pairs = []
    for i in names:
        for o in names:
            if i == o:
                continue
            to_o = routed.get(o, PacketSet.empty())
            rules: list[ReadRule] = []
            listed: set[str] = set()
            for fam in families:
                acl = bindings.get((i, fam))
                if acl is None:
                    rules.append(ReadRule(PacketSet.build(family=fam) & to_o, True, "no ACL bound"))
                    continue
                if acl in listed:  # one ACL for both families (ASA): a second copy behind the first decides nothing
                    continue
                listed.add(acl)
                section = None
                for e in acls[acl]:
                    if e.out_if is not None:
                        section = e.out_if or None
                    elif e.ace is not None:
                        packets = factors.packets(e.ace)
                        if section != o:  # an entry of the -> o section has its destinations in to_o already
                            packets = packets & to_o
                        rules.append(ReadRule(packets, e.ace.permit, e.note))
            pairs.append(ReadPair(i, o, tuple(rules)))
    return pairs


def parse_ace_tail(tokens: list[str], k: int, number: int, icmp_proto: int | None) -> tuple[
        Interval | None, tuple[int, int | None] | None, bool, bool, int]:
    """Ports / ICMP type and code, ``log`` and ``reflect NAME`` after the addresses of an ACE."""
    ports: Interval | None = None
    icmp: tuple[int, int | None] | None = None
    rest = tokens[k:]
    if rest[:1] == ["eq"] and len(rest) >= 2 and rest[1].isdigit():
        ports = (int(rest[1]), int(rest[1]))
        rest = rest[2:]
    elif rest[:1] == ["range"] and len(rest) >= 3 and rest[1].isdigit() and rest[2].isdigit():
        ports = (int(rest[1]), int(rest[2]))
        rest = rest[3:]
    elif icmp_proto is not None and rest[:1] and rest[0].isdigit():
        code = int(rest[1]) if len(rest) >= 2 and rest[1].isdigit() else None
        icmp = (int(rest[0]), code)
        rest = rest[2 if code is not None else 1:]
    log = reflect = False
    if rest[:1] == ["log"]:
        log, rest = True, rest[1:]
    if rest[:1] == ["reflect"] and len(rest) == 2:
        reflect, rest = True, []
    if rest:
        raise CiscoReadError(number, f"unexpected {' '.join(rest)!r} in an access-list entry")
    for v in (ports or ()):
        if not 0 <= v <= 65535:
            raise CiscoReadError(number, "port out of range")
    if ports and ports[0] > ports[1]:
        raise CiscoReadError(number, "empty port range")
    if icmp and not (0 <= icmp[0] <= 255 and (icmp[1] is None or 0 <= icmp[1] <= 255)):
        raise CiscoReadError(number, "ICMP type or code out of range")
    return ports, icmp, log, reflect, len(tokens)


_PREFIXES: dict[tuple[str, str, bool], Network] = {}  # a configuration repeats its prefixes
_PREFIXES_MAX = 100_000


def wildcard_network(addr: str, wild: str, number: int, mask: bool = False) -> Network:
    """``A.B.C.D`` with an IOS wildcard (or, ``mask=True``, an ASA netmask) as a prefix; non-contiguous is refused."""
    found = _PREFIXES.get((addr, wild, mask))
    if found is not None:
        return found
    if len(_PREFIXES) >= _PREFIXES_MAX:
        _PREFIXES.clear()
    found = _PREFIXES[addr, wild, mask] = _wildcard_network(addr, wild, number, mask)
    return found


def _wildcard_network(addr: str, wild: str, number: int, mask: bool) -> Network:
    try:
        w = int(ipaddress.IPv4Address(wild))
        netmask = w if mask else (~w) & 0xFFFFFFFF
        plen = bin(netmask).count("1")
        if netmask != (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF:
            raise ValueError("not a contiguous mask")
        return ipaddress.ip_network(f"{addr}/{plen}", strict=True)
    except ValueError as err:
        raise CiscoReadError(number, f"bad address {addr} {wild}: {err}") from None


def interface_tokens(names: Sequence[str], limit: int) -> dict[str, str]:
    """A configuration token per interface name (``/ : .`` become ``_``); names that would collide or
    exceed ``limit`` get a hash of the real name, so the mapping is one-to-one and deterministic."""
    base = {n: re.sub(r"[^A-Za-z0-9_-]", "_", n) for n in names}
    counts: dict[str, int] = {}
    for t in base.values():
        counts[t] = counts.get(t, 0) + 1
    return {n: t if counts[t] == 1 and len(t) <= limit else f"{t[:limit - 7]}_{digest(n)}" for n, t in base.items()}


def pair_remark(in_if: str, out_if: str) -> str:
    return f"{PAIR_MARK}{in_if} -> {out_if}"


def parse_pair_remark(text: str, number: int) -> str | None:
    """The egress interface of a ``zp pair A -> B`` remark ("" for the end mark), None for any other remark."""
    if text == END_MARK:
        return ""
    if not text.startswith(PAIR_MARK):
        return None
    parts = text[len(PAIR_MARK):].split(" -> ")
    if len(parts) != 2 or not all(parts):
        raise CiscoReadError(number, f"malformed pair remark {text!r}")
    return parts[1]
