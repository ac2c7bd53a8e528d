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
from dataclasses import dataclass
from typing import Callable, ClassVar, Iterable

from zonepolicy.diagnostics import Diagnostic, Severity, Span
from zonepolicy.errors import UsageError
from zonepolicy.model.policy import Firewall, Flow, Policy
from zonepolicy.model.values import Action, Network
from zonepolicy.semantics.meaning import Meaning
from zonepolicy.semantics.packet import Packet
from zonepolicy.semantics.packetset import PacketSet

from . import _intervals as iv

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
        return (_factor(self.family, "src", self.src) & _factor(self.family, "dst", self.dst)
                & _factor(self.family, "svc", (self.proto, self.dport, self.icmp_type, self.icmp_code)))


_FACTORS: dict[tuple, PacketSet] = {}
_FACTORS_MAX = 100_000


def _factor(family: int, part: str, value: tuple) -> PacketSet:
    """One factor of a rule's box, cached: the rules of a large model share a few thousand address
    lists and service boxes, and building each from networks again dominated rendering and proving."""
    key = (family, part, value)
    found = _FACTORS.get(key)
    if found is None:
        if len(_FACTORS) >= _FACTORS_MAX:
            _FACTORS.clear()
        if part == "svc":
            proto, dport, icmp_type, icmp_code = value
            found = PacketSet.build(family=family, proto=list(proto), dport=list(dport),
                                    icmp_type=list(icmp_type), icmp_code=list(icmp_code))
        else:
            ivs = [(int(n.network_address), int(n.network_address) + n.num_addresses - 1) for n in value]
            found = PacketSet.build(family=family, **{part: ivs})
        _FACTORS[key] = found
    return found


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


def lower(policy: Policy, firewall: Firewall, meaning: Meaning | None = None, *,
          origin: Callable[[Span | None], str] = _origin) -> TargetModel:
    """The target model of ``firewall``: first-match rules per interface pair (see module docstring).

    ``origin`` writes a flow's ``file:line`` for the rules (e.g. relative to the policy's directory)."""
    meaning = meaning or Meaning(policy)
    names = [i.name for i in firewall.interfaces]
    src_of = {i.name: meaning.zones_addresses(i.zones, "src") for i in firewall.interfaces}
    dst_of = {i.name: meaning.zones_addresses(i.zones, "dst") for i in firewall.interfaces}
    scopes = {(i, o): src_of[i] & dst_of[o] for i in names for o in names if i != o}
    by_pair: dict[tuple[str, str], tuple[list[TargetRule], list[TargetRule]]] = {
        k: ([], []) for k, s in scopes.items() if not s.is_empty()}
    in_slice: dict[str, str] = {}
    lowering = _Lowering(meaning)
    if by_pair:
        for flow in policy.flows:
            if not flow.sources or not flow.destinations:
                continue
            svc = lowering.services(flow.services)
            if not svc:
                continue
            srcs = lowering.side(flow.sources, "src", src_of)
            if not srcs:
                continue
            dsts = lowering.side(flow.destinations, "dst", dst_of)
            deny = flow.action is Action.DENY
            where = origin(flow.span)
            for i, s_nets in srcs.items():
                for o, d_nets in dsts.items():
                    if i == o or (i, o) not in by_pair:
                        continue
                    rules = _flow_rules(flow, s_nets, d_nets, svc, where)
                    if rules:
                        in_slice[flow.id] = where
                        by_pair[i, o][0 if deny else 1].extend(rules)
    pairs = []
    for i in firewall.interfaces:
        for o in firewall.interfaces:
            key = (i.name, o.name)
            if key not in by_pair:
                continue
            denies, allows = by_pair[key]
            rules = denies + allows
            if policy.default is Action.ALLOW:
                matched = meaning.matched(Action.ALLOW) | meaning.matched(Action.DENY)
                rules.extend(_rules_of(scopes[key] - matched, None, Action.ALLOW))
            pairs.append(PairRules(in_if=i.name, out_if=o.name, in_zones=i.zones, out_zones=o.zones,
                                   rules=tuple(rules)))
    return TargetModel(
        policy=policy.name, firewall=firewall.name, description=firewall.description, target=firewall.target,
        interfaces=tuple((i.name, i.zones) for i in firewall.interfaces), pairs=tuple(pairs),
        flows=tuple(sorted(in_slice.items())),
    )


_Nets = dict[int, tuple[Network, ...]]  # family -> prefixes
_Svc = tuple[tuple[int, tuple[Interval, ...], tuple[Interval, ...], tuple[Interval, ...], tuple[Interval, ...]], ...]


class _Lowering:
    """The factors of a flow's packets within an interface pair, memoised per endpoint list and
    service list.

    A flow's packets are (sources × destinations × services) and a pair's scope is (zones behind
    the in interface × zones behind the out interface); their intersection is the product of three
    small factors — source prefixes behind ``in``, destination prefixes behind ``out``, service
    boxes — per address family. The box decomposition of such a product is the product of the
    factors' boxes, so a province-scale policy (50,000 flows, most of them sharing endpoints) is
    lowered without one set operation per flow and pair; the result is what ``boxes()`` of the
    intersection returns, and ``compile --check`` proves it.
    """

    def __init__(self, meaning: Meaning) -> None:
        self.meaning = meaning
        self._sides: dict = {}
        self._services: dict = {}
        self._intervals: dict = {}

    def side(self, endpoints, side: str, behind: dict[str, PacketSet]) -> dict[str, _Nets]:
        """Interface name -> per-family prefixes of ``endpoints`` behind it (only where non-empty)."""
        # identity keys: the resolver shares endpoint tuples, and the policy keeps them alive
        key = (side, tuple(id(e.zones) if e.is_zone else -id(e.networks) for e in endpoints))
        found = self._sides.get(key)
        if found is None:
            found = self._side_by_intervals(endpoints, side, behind)
            if found is None:
                found = self._side_by_sets(endpoints, side, behind)
            self._sides[key] = found
        return found

    def _side_by_intervals(self, endpoints, side: str, behind: dict[str, PacketSet]) -> dict[str, _Nets] | None:
        """:meth:`_side_by_sets` with sorted intervals: every operand there constrains one address
        only, and the boxes of such a set are one per family with that address's merged intervals.
        ``None`` when some operand is not of that kind."""
        zones = self._behind_intervals(side, behind)
        if zones is None:
            return None
        parts: list[iv.PerFamily] = []
        for e in endpoints:
            if e.is_zone:
                ek = ("ep", side, id(e.zones))
                got = self._intervals.get(ek)
                if got is None:
                    got = iv.address_intervals(self.meaning.endpoint_set(e, side), side)
                    if got is None:
                        return None
                    self._intervals[ek] = got
            else:
                got = iv.of_networks(e.networks)
            parts.append(got)
        whole = parts[0] if len(parts) == 1 else {
            f: iv.union(x for p in parts for x in p.get(f, ())) for f in (4, 6) if any(f in p for p in parts)}
        found: dict[str, _Nets] = {}
        for name, per in zones.items():
            nets: _Nets = {}
            for family in (4, 6):
                a, b = whole.get(family), per.get(family)
                if a and b:
                    common = iv.intersect(a, b)
                    if common:
                        nets[family] = iv.networks(family, common)
            if nets:
                found[name] = nets
        return found

    def _behind_intervals(self, side: str, behind: dict[str, PacketSet]) -> dict[str, iv.PerFamily] | None:
        key = ("behind", side, id(behind))  # one dict per side and lower() call, alive meanwhile
        if key not in self._intervals:
            out: dict[str, iv.PerFamily] | None = {}
            for name, addresses in behind.items():
                per = iv.address_intervals(addresses, side)
                if per is None:
                    out = None
                    break
                out[name] = per  # type: ignore[index]
            self._intervals[key] = out
        return self._intervals[key]

    def _side_by_sets(self, endpoints, side: str, behind: dict[str, PacketSet]) -> dict[str, _Nets]:
        """The general path (and the reference the interval path is tested against)."""
        m = self.meaning
        whole = m.endpoint_set(endpoints[0], side)
        for e in endpoints[1:]:
            whole = whole | m.endpoint_set(e, side)
        found: dict[str, _Nets] = {}
        for name, addresses in behind.items():
            part = whole & addresses
            if part.is_empty():
                continue
            nets: _Nets = {}
            for box in part.boxes():
                nets[box.family] = nets.get(box.family, ()) + (box.src if side == "src" else box.dst)
            found[name] = nets
        return found

    def services(self, services) -> dict[int, _Svc]:
        """Family -> the service boxes (protocol, ports, ICMP type, ICMP code) of a service list."""
        found = self._services.get(services)
        if found is None:
            found = iv.port_service_boxes(services)
            if found is None:
                found = self._services_by_sets(services)
            self._services[services] = found
        return found

    def _services_by_sets(self, services) -> dict[int, _Svc]:
        """The general path (and the reference the port-protocol path is tested against)."""
        every = self.meaning.services_set(services)
        found = {}
        for family in (4, 6):
            boxes = (every & PacketSet.build(family=family)).boxes()
            if boxes:
                found[family] = tuple((b.family, b.proto, b.dport, b.icmp_type, b.icmp_code) for b in boxes)
        return found


def _flow_rules(flow: Flow, srcs: _Nets, dsts: _Nets, svc: dict[int, _Svc], origin: str) -> list[TargetRule]:
    out = []
    for family in (4, 6):
        s, d, boxes = srcs.get(family), dsts.get(family), svc.get(family)
        if not s or not d or not boxes:
            continue
        for _, proto, dport, icmp_type, icmp_code in boxes:
            out.append(TargetRule(
                action=flow.action, family=family, src=s, dst=d, proto=proto, dport=dport,
                icmp_type=icmp_type, icmp_code=icmp_code, flow_id=flow.id, origin=origin,
                log=flow.options.log, stateful=flow.options.stateful))
    return out


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


def interface_name_diagnostics(target: str, firewall: Firewall, check: Callable[[str], str | None],
                               show: Callable[[str], str], hint: str) -> list[Diagnostic]:
    """ZP403 for every interface of ``firewall`` whose name the target cannot use.

    ``check`` says why a name is unusable (or returns a false value); ``show`` renders a name safely
    for the message (each back end has its own notion of printable text). One wording for every back end.
    """
    return [Diagnostic("ZP403", f"target {target} (firewall {firewall.name}) cannot use interface name "
                       f"{show(i.name)!r}: {why}", i.span or firewall.span, Severity.ERROR, hint)
            for i in firewall.interfaces if (why := check(i.name))]


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
        accepted = accepted | rule.packets if rule.accept else accepted - rule.packets
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
    import importlib

    from . import TARGETS, load_backends

    if target not in REGISTRY and target in TARGETS:
        # a back end's module is named for its target: import just that one (the others cost start-up time)
        try:
            importlib.import_module(f"{__package__}.{target.replace('-', '_')}")
        except ImportError:
            pass
    if target not in REGISTRY:
        load_backends()
    cls = REGISTRY.get(target)
    if cls is None:
        raise UsageError(f"target '{target}' has no back end yet (available: {', '.join(sorted(REGISTRY))})")
    return cls()


Loader = Callable[[], None]
