"""The back-end contract: capabilities, the shared lowering into a small typed target model, and the
proof that an emitted configuration means exactly the policy.

How a policy becomes a firewall configuration
---------------------------------------------
1. **Slice.** A firewall enforces the packets that cross it: from a zone behind one of its
   interfaces to a zone behind another (``Meaning.firewall_scope``). Within that scope two
   packets are never in the same zone, so the verdict is: denied if a deny flow matches, else
   allowed if an allow flow matches, else the policy's default.
2. **Lower** (:func:`lower`). For every ordered interface pair, every flow's packets within the pair
   are rendered exactly as boxes (prefix lists × protocol × port/ICMP ranges) by the packet-set
   engine. The pair's rule list is: the deny boxes (each tagged with its flow), then the allow boxes,
   then — if the default is allow — the remaining boxes of the pair, then drop. First-match order on
   the target then gives exactly deny-wins, whatever order the architect wrote the flows in.
   Every rule keeps its flow id and the flow's ``file:line`` for the target's comments.
3. **Check capabilities** (:func:`check_capabilities`). Anything the target cannot express
   (IPv6 on a v4-only target, application inspection, …) becomes a diagnostic naming the flow, the
   target and the policy line — never a silently dropped rule.
4. **Render** (each back end): the target model → text, deterministically.
5. **Read back and prove** (:func:`prove`): the back end's reader parses the emitted text into
   first-match rule lists per interface pair, folds them into packet sets, and the result must
   equal the policy's meaning for that firewall. A mismatch comes with a witness packet.

A new back end: a module in this package that defines a :class:`Compiler` subclass with ``target``,
``capabilities``, ``render`` and ``read``, decorated with :func:`register`; see docs/compilers.md.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Iterable

from zonepolicy.diagnostics import Diagnostic, Severity, Span
from zonepolicy.errors import UsageError
from zonepolicy.model.policy import Firewall, Flow, Policy
from zonepolicy.model.values import Action, Network
from zonepolicy.semantics.meaning import Meaning
from zonepolicy.semantics.packet import Packet
from zonepolicy.semantics.packetset import Box, PacketSet

Interval = tuple[int, int]


class Feature(enum.Enum):
    """What a target may or may not be able to express."""

    IPV4 = "ipv4"
    IPV6 = "ipv6"
    ICMP = "icmp"
    SCTP = "sctp"
    PROTOCOL_NUMBERS = "protocol-numbers"
    LOG = "log"
    STATELESS = "stateless"
    INSPECT = "inspect"
    COMMENTS = "comments"


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetRule:
    """One first-match rule of the target model: a box of packets and what to do with it."""

    action: Action
    family: int
    src: tuple[Network, ...]
    dst: tuple[Network, ...]
    proto: tuple[Interval, ...]  # (0, 255) = any protocol
    dport: tuple[Interval, ...]
    icmp_type: tuple[Interval, ...]
    icmp_code: tuple[Interval, ...]
    flow_id: str  # the flow the rule comes from; "default" for the default's rules
    origin: str  # "file:line" of the flow, "" for default rules
    log: bool = False
    stateful: bool = True

    def to_set(self) -> PacketSet:
        return PacketSet.build(family=self.family, src=list(self.src), dst=list(self.dst), proto=list(self.proto),
                               dport=list(self.dport), icmp_type=list(self.icmp_type),
                               icmp_code=list(self.icmp_code))


@dataclass(frozen=True, slots=True, kw_only=True)
class PairRules:
    """The rules for packets entering on ``in_if`` and leaving on ``out_if``, in first-match order."""

    in_if: str
    out_if: str
    in_zones: tuple[str, ...]
    out_zones: tuple[str, ...]
    rules: tuple[TargetRule, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetModel:
    """What one firewall must do, independent of vendor syntax. Packets no rule accepts are dropped."""

    policy: str
    firewall: str
    description: str
    target: str
    interfaces: tuple[tuple[str, tuple[str, ...]], ...]  # (name, zones behind it)
    pairs: tuple[PairRules, ...]
    flows: tuple[tuple[str, str], ...] = ()  # (flow id, "file:line") of every flow in the slice


def _origin(span: Span | None) -> str:
    return f"{span.file}:{span.line}" if span else ""


def _rules_of(box_set: PacketSet, flow: Flow | None, action: Action) -> list[TargetRule]:
    out = []
    for box in box_set.boxes():
        out.append(TargetRule(
            action=action, family=box.family, src=box.src, dst=box.dst, proto=box.proto, dport=box.dport,
            icmp_type=box.icmp_type, icmp_code=box.icmp_code,
            flow_id=flow.id if flow else "default", origin=_origin(flow.span) if flow else "",
            log=flow.options.log if flow else False, stateful=flow.options.stateful if flow else True,
        ))
    return out


def lower(policy: Policy, firewall: Firewall, meaning: Meaning | None = None) -> TargetModel:
    """The target model of ``firewall``: first-match rules per interface pair (see module docstring)."""
    meaning = meaning or Meaning(policy)
    pairs = []
    in_slice: dict[str, str] = {}
    for i in firewall.interfaces:
        src = meaning.zones_addresses(i.zones, "src")
        for o in firewall.interfaces:
            if i.name == o.name:
                continue
            scope = src & meaning.zones_addresses(o.zones, "dst")
            if scope.is_empty():
                continue
            rules: list[TargetRule] = []
            matched = PacketSet.empty()
            for action in (Action.DENY, Action.ALLOW):
                for flow in policy.flows:
                    if flow.action is not action:
                        continue
                    part = meaning.flow_set(flow) & scope
                    if part.is_empty():
                        continue
                    in_slice[flow.id] = _origin(flow.span)
                    matched = matched | part
                    rules.extend(_rules_of(part, flow, action))
            if policy.default is Action.ALLOW:
                rules.extend(_rules_of(scope - matched, None, Action.ALLOW))
            pairs.append(PairRules(in_if=i.name, out_if=o.name, in_zones=i.zones, out_zones=o.zones,
                                   rules=tuple(rules)))
    return TargetModel(
        policy=policy.name, firewall=firewall.name, description=firewall.description, target=firewall.target,
        interfaces=tuple((i.name, i.zones) for i in firewall.interfaces), pairs=tuple(pairs),
        flows=tuple(sorted(in_slice.items())),
    )


# ---- capabilities
def check_capabilities(policy: Policy, firewall: Firewall, model: TargetModel,
                       supported: frozenset[Feature]) -> list[Diagnostic]:
    """A diagnostic for every flow of the slice that uses something the target cannot express."""
    diags: list[Diagnostic] = []
    flows = {f.id: f for f in policy.flows}

    def refuse(flow_id: str, what: str, hint: str) -> None:
        flow = flows.get(flow_id)
        diags.append(Diagnostic(
            "ZP401", f"target {firewall.target} (firewall {firewall.name}) cannot express {what} "
            f"of flow {flow_id}", flow.span if flow else firewall.span, Severity.ERROR, hint))

    seen: set[tuple[str, str]] = set()
    for pair in model.pairs:
        for r in pair.rules:
            needs = []
            if r.family == 6 and Feature.IPV6 not in supported:
                needs.append(("IPv6 addresses", "compile the IPv6 part for a target with IPv6 support"))
            protos = {p for lo, hi in r.proto for p in range(lo, hi + 1)} if r.proto != ((0, 255),) else set()
            if protos & {1, 58} and Feature.ICMP not in supported:
                needs.append(("ICMP", "use a target with ICMP support"))
            if 132 in protos and Feature.SCTP not in supported:
                needs.append(("SCTP", "use a target with SCTP support"))
            if protos - {1, 6, 17, 58, 132} and Feature.PROTOCOL_NUMBERS not in supported:
                needs.append(("IP protocol numbers", "use a target that matches any IP protocol"))
            if r.log and Feature.LOG not in supported:
                needs.append(("logging", "drop 'log' or use a target with logging"))
            if not r.stateful and Feature.STATELESS not in supported:
                needs.append(("a stateless flow", "make the flow stateful"))
            for what, hint in needs:
                if (r.flow_id, what) not in seen:
                    seen.add((r.flow_id, what))
                    refuse(r.flow_id, what, hint)
    for fid in sorted({fid for fid, _ in model.flows}):
        flow = flows.get(fid)
        if flow is not None and flow.options.inspect and Feature.INSPECT not in supported:
            diags.append(Diagnostic(
                "ZP402", f"target {firewall.target} (firewall {firewall.name}) has no application inspection "
                f"for 'inspect {flow.options.inspect}' of flow {fid}; the emitted rules filter packets only",
                flow.span, Severity.WARNING, "enforce inspection on a device that has it, or waive BND-12"))
    return diags


# ---- the proof
@dataclass(frozen=True, slots=True)
class ReadRule:
    """A rule as a reader understood it from emitted text: a packet set and a verdict."""

    packets: PacketSet
    accept: bool
    note: str = ""  # e.g. the comment that carries the flow id


@dataclass(frozen=True, slots=True)
class ReadPair:
    in_if: str
    out_if: str
    rules: tuple[ReadRule, ...]  # first match; unmatched packets are dropped


def fold(rules: Iterable[ReadRule]) -> PacketSet:
    """The packets a first-match rule list accepts (reverse fold: later rules are overridden)."""
    accepted = PacketSet.empty()
    for rule in reversed(tuple(rules)):
        accepted = (accepted - rule.packets) | rule.packets if rule.accept else accepted - rule.packets
    return accepted


@dataclass(frozen=True, slots=True)
class Mismatch:
    in_if: str
    out_if: str
    extra: PacketSet  # accepted by the configuration, not by the policy
    missing: PacketSet  # allowed by the policy, not accepted by the configuration

    def witness(self) -> Packet | None:
        return self.extra.pick() or self.missing.pick()

    def describe(self) -> str:
        parts = [f"{self.in_if} -> {self.out_if}:"]
        if not self.extra.is_empty():
            parts.append(f"  accepts what the policy denies, e.g. {self.extra.pick()}")
        if not self.missing.is_empty():
            parts.append(f"  drops what the policy allows, e.g. {self.missing.pick()}")
        return "\n".join(parts)


def prove(policy: Policy, firewall: Firewall, read: Iterable[ReadPair],
          meaning: Meaning | None = None) -> list[Mismatch]:
    """Compare what an emitted configuration accepts with the policy's meaning, pair by pair."""
    meaning = meaning or Meaning(policy)
    got = {(p.in_if, p.out_if): fold(p.rules) for p in read}
    enforced = meaning.enforced(firewall)
    mismatches = []
    for i in firewall.interfaces:
        for o in firewall.interfaces:
            if i.name == o.name:
                continue
            scope = meaning.zones_addresses(i.zones, "src") & meaning.zones_addresses(o.zones, "dst")
            want = enforced & scope
            have = got.get((i.name, o.name), PacketSet.empty())
            if have != want:
                mismatches.append(Mismatch(i.name, o.name, have - want, want - have))
    for (i, o), have in sorted(got.items()):
        known = {x.name for x in firewall.interfaces}
        if (i not in known or o not in known) and not have.is_empty():
            mismatches.append(Mismatch(i, o, have, PacketSet.empty()))
    return mismatches


# ---- the registry
@dataclass(frozen=True, slots=True)
class Output:
    """A compiled configuration: the file name to write and its text."""

    filename: str
    text: str


class Compiler:
    """Base of every back end. Subclasses set ``target`` and ``capabilities`` and implement
    ``render`` (target model → files) and ``read`` (emitted text → first-match rules per pair)."""

    target: ClassVar[str]
    capabilities: ClassVar[frozenset[Feature]]

    def render(self, model: TargetModel) -> list[Output]:
        raise NotImplementedError

    def read(self, text: str, firewall: Firewall) -> list[ReadPair]:
        raise NotImplementedError

    def diagnose(self, policy: Policy, firewall: Firewall) -> list[Diagnostic]:
        """Target-specific problems the feature check cannot see (e.g. interface names the target
        cannot use), as diagnostics; ``compile`` reports them with the capability diagnostics."""
        return []

    def read_outputs(self, outputs: list[Output], firewall: Firewall) -> list[ReadPair]:
        """All files of one firewall read back (what ``compile --check`` proves). The default reads
        the files as one text, in render order; a back end whose files are separate rulesets
        (e.g. one per address family) overrides this and merges per pair."""
        return self.read("\n".join(o.text for o in outputs), firewall)


REGISTRY: dict[str, type[Compiler]] = {}


def register(cls: type[Compiler]) -> type[Compiler]:
    """Class decorator: make a back end available under its ``target`` name."""
    if cls.target in REGISTRY:
        raise ValueError(f"two back ends for target {cls.target}")
    REGISTRY[cls.target] = cls
    return cls


def get_compiler(target: str) -> Compiler:
    from . import load_backends

    load_backends()
    cls = REGISTRY.get(target)
    if cls is None:
        raise UsageError(f"target '{target}' has no back end yet (available: {', '.join(sorted(REGISTRY))})")
    return cls()


Loader = Callable[[], None]
