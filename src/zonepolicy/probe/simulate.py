"""Run a probe suite against a ruleset without a kernel.

The ruleset is read by the compilers' own readers (the ones the proofs trust): nftables text as we
emit it or as ``nft list ruleset`` prints it loaded, and ``iptables-restore`` files or
``iptables-save`` output. Each probe is walked through the first-match rules of its interface pair
(``iif``/``oif`` from the suite) as a connection-opening packet; the first rule that contains it
decides, and its comment is reported as the matched rule.

The return path: for an allowed stateful probe the reply (addresses and ports swapped, echo
request → echo reply) is walked back through the pair ``oif → iif`` as an ``established`` packet.
A reply the ruleset drops, or a probe the ruleset exempts from connection tracking (so no reply can
be "established"), fails the probe with reason ``no-reply`` — what a lab would see as a lost reply.

Simulation reads only the table (nftables) or the tables of the file (iptables) it is given; other
tables of a real host, routing and reverse-path filtering are outside it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

from ..compilers.base import ReadRule
from ..errors import UsageError
from ..model.values import Action
from ..semantics.packet import ICMP, ICMPV6, PORT_PROTOCOLS, Packet
from ..semantics.packetset import PacketSet
from .results import ProbeResult, judge
from .suite import Probe, Suite

FORMATS = ("nftables", "iptables")
REASON = "simulated"

_ECHO_REPLY = {(ICMP, 8): 0, (ICMPV6, 128): 129}
# How our back ends name the flow a rule was emitted for, in what the readers give as a rule's note:
# nft log prefix "zp allow <id>: ", nft comment "<id> <file>:<line>", iptables comment "flow <id> <file>:<line>".
_FLOW_IN_NOTE = (re.compile(r"^zp (?:allow|deny) (\S+?): ?$"), re.compile(r"^flow (\S+) \S*:\d+$"),
                 re.compile(r"^(\S+) \S*:\d+$"))


def flow_of_note(note: str | None) -> str | None:
    for pattern in _FLOW_IN_NOTE:
        m = pattern.match(note or "")
        if m:
            return m.group(1)
    return None


class SimulationError(UsageError):
    """A ruleset or suite the simulator cannot use; the message names the file and the place."""


def reply_of(p: Packet) -> Packet:
    """The first reply to ``p``: addresses and ports swapped, an echo request answered."""
    if p.proto in PORT_PROTOCOLS:
        return Packet(p.family, p.dst, p.src, p.proto, p.dport, p.sport)
    if p.proto in (ICMP, ICMPV6):
        reply_type = _ECHO_REPLY.get((p.proto, p.icmp_type), p.icmp_type)
        return Packet(p.family, p.dst, p.src, p.proto, icmp_type=reply_type, icmp_code=p.icmp_code)
    return Packet(p.family, p.dst, p.src, p.proto)


def detect_format(text: str) -> str | None:
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith(("table ", "flush ruleset", "delete table", "add table")):
            return "nftables"
        if s.startswith("*") or s.startswith(":") or s.startswith("-A "):
            return "iptables"
        return None
    return None


@dataclass
class _Walk:
    """First-match rules of one interface pair in one conntrack view, built on first use."""

    rules: tuple[ReadRule, ...]

    def first(self, p: Packet) -> ReadRule | None:
        for r in self.rules:
            if p in r.packets:
                return r
        return None


class Ruleset:
    """What a ruleset does with one packet on one interface pair (see the module docstring)."""

    def __init__(self, walker: Callable[[str, str, str], tuple[ReadRule, ...]],
                 untracked: Callable[[str], PacketSet], families: frozenset[int]) -> None:
        self._walker = walker
        self._untracked = untracked
        self._cache: dict[tuple[str, str, str], _Walk] = {}
        self.families = families

    def _walk(self, view: str, in_if: str, out_if: str) -> _Walk:
        key = (view, in_if, out_if)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = _Walk(self._walker(view, in_if, out_if))
        return found

    def decide(self, p: Packet, in_if: str, out_if: str) -> tuple[bool, str]:
        rule = self._walk("new", in_if, out_if).first(p)
        if rule is None:  # readers end every walk with the chain policy; be safe anyway
            return False, "end of ruleset"
        return rule.accept, rule.note

    def reply_passes(self, p: Packet, in_if: str, out_if: str) -> bool:
        if p in self._untracked(in_if):
            return False
        rule = self._walk("established", out_if, in_if).first(reply_of(p))
        return rule is not None and rule.accept


def nft_ruleset(text: str, firewall: str | None, where: str) -> Ruleset:
    from ..compilers._nft_reader import Evaluator, parse_tables
    from ..compilers.nftables import NftReadError, table_name

    try:
        tables = [t for t in parse_tables(text) if t.family == "inet"]
        wanted = table_name(firewall) if firewall else None
        chosen = [t for t in tables if t.name == wanted] or (tables if len(tables) == 1 else [])
        if not chosen:
            names = ", ".join(f"inet {t.name}" for t in tables) or "none"
            raise SimulationError(f"{where}: no table inet {wanted or '…'} to simulate (tables: {names}); "
                                  "hint: give the file compiled for this suite's firewall")
        table = chosen[-1]
        views = {v: Evaluator(table, v) for v in ("new", "established")}
        views["new"].pair("(probe)", "(check)")  # reads every rule once: a bad rule fails here, not mid-run
    except NftReadError as err:
        raise SimulationError(f"{where}: {err}") from None

    def walker(view: str, in_if: str, out_if: str) -> tuple[ReadRule, ...]:
        try:
            return views[view].pair(in_if, out_if).rules
        except NftReadError as err:
            raise SimulationError(f"{where}: {err}") from None

    return Ruleset(walker, views["new"].notrack, frozenset({4, 6}))


def iptables_ruleset(texts: Sequence[tuple[str, str]]) -> Ruleset:
    """One ruleset from iptables-restore/iptables-save texts (one per family): (where, text) pairs."""
    from ..compilers import _iptables_read as rd

    by_family: dict[int, rd.Evaluator] = {}
    for where, text in texts:
        fam = rd.detect_family(text)
        if fam not in (4, 6):
            fam = 6 if where.endswith((".ip6tables", ".ip6", ".v6")) else 4 if where.endswith(
                (".iptables", ".ip4", ".v4")) else None
        if fam is None:
            raise SimulationError(f"{where}: cannot tell whether this is an IPv4 or an IPv6 ruleset; "
                                  "hint: name it *.iptables or *.ip6tables")
        if fam in by_family:
            raise SimulationError(f"{where}: a second IPv{fam} ruleset; give one file per family")
        try:
            ev = rd.Evaluator(rd.parse(text, fam))
            ev.forward("(probe)", "(check)")
        except rd.ReadError as err:
            raise SimulationError(f"{where}: {err}") from None
        by_family[fam] = ev

    def walker(view: str, in_if: str, out_if: str) -> tuple[ReadRule, ...]:
        rules: list[ReadRule] = []
        for fam in sorted(by_family):
            for s in by_family[fam].forward(in_if, out_if, view):
                if s.verdict in ("accept", "drop"):
                    note = (s.rule.comment or f"line {s.rule.line}") if s.rule else "policy of FORWARD"
                    rules.append(ReadRule(s.packets, s.verdict == "accept", note))
        return tuple(rules)

    def untracked(in_if: str) -> PacketSet:
        out = PacketSet.empty()
        for ev in by_family.values():
            out = out | ev.untracked(in_if)[0]
        return out

    return Ruleset(walker, untracked, frozenset(by_family))


def load_ruleset(paths: Sequence[str], fmt: str | None, firewall: str | None) -> Ruleset:
    texts = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as fh:
                texts.append((path, fh.read()))
        except OSError as err:
            raise SimulationError(f"{path}: cannot read: {err.strerror}") from None
        except UnicodeDecodeError:
            raise SimulationError(f"{path}: not a text file (UTF-8 expected)") from None
    formats = {fmt or detect_format(t) for _, t in texts}
    if None in formats:
        bad = next(p for p, t in texts if detect_format(t) is None)
        raise SimulationError(f"{bad}: cannot tell the ruleset format; hint: pass --format nftables or iptables")
    if len(formats) > 1:
        raise SimulationError("the rules files are of different formats; simulate one format at a time")
    if formats == {"nftables"}:
        if len(texts) != 1:
            raise SimulationError("nftables: give one ruleset file (one table holds both families)")
        return nft_ruleset(texts[0][1], firewall, texts[0][0])
    return iptables_ruleset(texts)


def simulate(suite: Suite, ruleset: Ruleset, site: str | None = None) -> list[ProbeResult]:
    """One result per probe, in suite order (see the module docstring)."""
    missing = [p.id for p in suite.probes if p.iif is None or p.oif is None]
    if missing:
        raise SimulationError(f"probe {missing[0]} (and {len(missing) - 1} more) has no iif/oif: "
                              "hint: plan the suite for the firewall (probe plan --firewall NAME)")
    site = site or suite.firewall or "simulated"
    return [_one(p, ruleset, site, suite.policy_hash) for p in suite.probes]


def _one(p: Probe, rs: Ruleset, site: str, policy_hash: str) -> ProbeResult:
    assert p.iif is not None and p.oif is not None
    observed: Action | None
    replied: bool | None = None
    if p.packet.family not in rs.families:
        observed, note, reason = None, f"no IPv{p.packet.family} ruleset given", REASON
    else:
        accept, note = rs.decide(p.packet, p.iif, p.oif)
        observed = Action.ALLOW if accept else Action.DENY
        reason = REASON
        if accept and p.stateful:
            replied = rs.reply_passes(p.packet, p.iif, p.oif)
            if not replied and p.expected is Action.ALLOW:
                reason = "no-reply"
    return ProbeResult(
        probe=p.id, site=site, src_zone=p.src_zone, dst_zone=p.dst_zone, five_tuple=p.five_tuple(),
        expected=p.expected.value, observed=observed.value if observed else None, reason=reason,
        result=judge(p, observed, reason, replied=replied), expected_flow=p.flow,
        matched_rule=note or None, matched_flow=flow_of_note(note) if observed else None,
        timestamp="", policy_hash=policy_hash,
    )
