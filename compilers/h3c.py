"""The ``h3c`` back end: H3C SecPath firewalls (Comware V7), in either of its two policy dialects.

Output, per firewall, one configuration file ``<firewall>.cfg`` in the ``display
current-configuration`` layout (blocks separated by ``#``)::

    security-zone name zp-GE1_0_1            one zone per interface: zone pair = interface pair
     import interface GigabitEthernet1/0/1
    #
    object-group ip address zp-a-5d1c0e…     address groups (IPv4: 'ip', IPv6: 'ipv6'),
                                             named by a hash of their members
     0 network subnet 10.1.0.0 255.255.0.0
     10 network host address 10.9.0.10
    #
    object-group service zp-s-90ab31…        service groups
     0 service tcp destination eq 443
    #

then the policy in one of two dialects (both documented in the vendor reference, §1.2):

* ``security-policy`` (the default; newer V7 firmware)::

    security-policy ip
     rule 0 name zp-0-R001
      description flow R001 main.zp:12
      action pass
      logging enable
      source-zone zp-GE1_0_1
      destination-zone zp-GE1_0_2
      source-ip zp-a-5d1c0e…
      destination-ip zp-a-0f4e77…
      service zp-s-90ab31…
     rule 1 name zp-1-drop
      description zonepolicy drop
      action drop
      source-zone zp-GE1_0_1
      destination-zone zp-GE1_0_2
    #

* ``object-policy`` (older V7 firmware): one object policy per interface pair and family, applied
  to the zone pair::

    object-policy ip zp-op1
     rule 0 pass source-ip zp-a-5d1c0e… destination-ip zp-a-0f4e77… service zp-s-90ab31… logging
     rule 0 comment flow R001 main.zp:12
     rule 1 drop
     rule 1 comment zonepolicy drop
    #
    zone-pair security source zp-GE1_0_1 destination zp-GE1_0_2
     object-policy apply ip zp-op1
    #

**Choosing the dialect.** ``H3cCompiler(dialect="object-policy")`` in code; for ``zonepolicy
compile`` the environment variable ``ZONEPOLICY_H3C_DIALECT`` (``security-policy`` or
``object-policy``) — the site chooses by firmware, and the policy language stays vendor neutral.
The reader recognises the dialect from the text, so ``compile --check`` proves either.

Semantics, and why:

* **First match per pair.** Every interface gets a zone of its own, so a zone pair is exactly an
  interface pair. In the security-policy dialect the rules are one global first-match list, but
  every rule names its source and destination zone, so the rules of other pairs never match; in
  the object-policy dialect each zone pair has its own list. The pair's rules are the target
  model's (deny rules, allow rules, the default's), each one rule with one address group per side
  and one service group, followed by an explicit ``drop`` for the pair (the device's default is
  drop too; the explicit rule makes the intent visible and survives a changed default). Rule ids
  ascend in list order, so id order and configuration order agree.
* **Stateful** only: the SecPath keeps sessions for every passed packet, so a stateless flow
  (no implicit replies) cannot be expressed and is refused; no application inspection (warning).
* **Services.** ``tcp``/``udp`` with ``destination eq P`` or ``destination range A B``; ICMP as
  ``icmp T C`` / ``icmpv6 T C``, with the code left out for "every code" (as Comware ACL rules do,
  an assumption [I] not checked on a device); other protocols by number (``service 47``). ICMP
  types only ever appear in their own family (``icmp`` in IPv4 rules, ``icmpv6`` in IPv6 rules:
  the language's ICMP belongs to its family). A box needing more than :data:`MAX_ENTRIES` entries in a group, or SCTP ports,
  is refused (ZP403).
* **Names.** Object names are at most 31 characters and compared case-insensitively by the device,
  so they are generated (``zp-a-<hash>``, ``zp-s-<hash>``, ``zp-op<N>``, zone ``zp-<interface>`` made of
  ``A-Z a-z 0-9 _ -``, hashed when long or ambiguous) and checked unique ignoring case. Interface
  names must be Comware names (``A-Z a-z 0-9 / . : _ -``); anything else is refused (ZP403)
  rather than rewritten. Descriptions (``flow ID FILE:LINE``) keep only printable ASCII other than
  ``? # ! ; " ' { } \\`` (the CLI treats ``?`` as help), collapse spaces, and are cut to 127
  characters, so nothing from the policy can end a line or add a command.

The reader (:func:`read_config`) parses exactly this subset (strictly: an unknown line is an
error) into first-match rules per interface pair for :func:`~zonepolicy.compilers.base.prove`. As
on the device, a rule naming an object group that does not exist matches nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from typing import Sequence

from zonepolicy.diagnostics import Diagnostic, Severity
from zonepolicy.errors import InvalidPolicy, UsageError
from zonepolicy.model.policy import Firewall, Flow, Policy
from zonepolicy.model.values import Action, Network
from zonepolicy.semantics.meaning import Meaning

from .base import (
    Compiler, Feature, Interval, Output, PairRules, ReadPair, TargetModel, TargetRule, interface_name_diagnostics,
    lower, register,
)
from ._h3c_read import read_config
from ._intervals import ip_text

DIALECTS = ("security-policy", "object-policy")
DEFAULT_DIALECT = "security-policy"
DIALECT_ENV = "ZONEPOLICY_H3C_DIALECT"
MAX_NAME = 31  # object, zone and policy names: the shortest limit among Comware V7 releases
MAX_RULE_NAME = 63
MAX_DESCRIPTION = 127
MAX_ENTRIES = 4096  # entries of one object group made from one box
MAX_RULE_ID = 65534
FULL8: tuple[Interval, ...] = ((0, 255),)
FULL16: tuple[Interval, ...] = ((0, 65535),)
_IFNAME = re.compile(r"[A-Za-z][A-Za-z0-9/.:_-]{0,62}")
_PORT_PROTOCOLS = {6: "tcp", 17: "udp"}


class Unexpressible(ValueError):
    """A box of the target model that H3C object groups cannot express exactly."""


# ---- text safety
def clean_description(text: str) -> str:
    """``text`` made safe as the rest of a Comware command line: printable ASCII without the
    characters the CLI or a reader could take as syntax, single spaces, at most 127 characters."""
    if text.isascii() and text.isprintable():  # the usual case: only the special characters change
        cleaned = " ".join(text.translate(_SPECIAL).split())
        if len(cleaned) > MAX_DESCRIPTION:
            cleaned = cleaned[:MAX_DESCRIPTION - 3] + "..."
        return cleaned or "-"
    return clean_description_scan(text)


_SPECIAL = str.maketrans({c: "_" for c in "?#!;\"'{}\\`"})


def clean_description_scan(text: str) -> str:
    """:func:`clean_description` character by character: the general path for any text."""
    out = []
    for ch in text:
        if " " < ch <= "~" and ch not in "?#!;\"'{}\\`":
            out.append(ch)
        elif ch.isspace():
            out.append(" ")
        else:
            out.append("_")
    cleaned = " ".join("".join(out).split())
    if len(cleaned) > MAX_DESCRIPTION:
        cleaned = cleaned[:MAX_DESCRIPTION - 3] + "..."
    return cleaned or "-"


def flow_description(flow_id: str, origin: str) -> str:
    """The description every rule of a flow carries: ``flow ID FILE:LINE`` (cleaned)."""
    return clean_description(f"flow {flow_id} {origin}")


def _digest(*parts: str, n: int = 8) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:n]


def _token(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


def check_interface_name(name: str) -> str | None:
    """Why ``name`` cannot be used as a Comware interface name, or None."""
    if not _IFNAME.fullmatch(name):
        return "only A-Z, a-z, 0-9, '/', '.', ':', '_', '-' are allowed, starting with a letter, at most 63"
    return None


def zone_names(interfaces: Sequence[str]) -> dict[str, str]:
    """One security zone per interface: ``zp-<interface>``, hashed when long or ambiguous ignoring case."""
    readable = {i: f"zp-{_token(i)}" for i in interfaces}
    counts: dict[str, int] = {}
    for name in readable.values():
        counts[name.lower()] = counts.get(name.lower(), 0) + 1
    out = {}
    for i, name in readable.items():
        if len(name) > MAX_NAME or counts[name.lower()] > 1:
            name = f"zp-{_token(i)[:18]}-{_digest(i)}"
        out[i] = name
    if len({n.lower() for n in out.values()}) != len(out):  # a hash collision: never silent
        raise ValueError("security zone names collide")
    return out


def output_name(firewall: str) -> str:
    """The file name for a firewall: ``<name>.cfg``, made path-safe."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", firewall).lstrip(".")[:100] or "firewall"
    return f"{safe}.cfg"


def resolve_dialect(dialect: str | None) -> str:
    """The dialect to emit: the one given, else ``$ZONEPOLICY_H3C_DIALECT``, else the default."""
    chosen = dialect or os.environ.get(DIALECT_ENV) or DEFAULT_DIALECT
    if chosen not in DIALECTS:
        raise UsageError(f"unknown H3C dialect '{clean_description(chosen)}' (known: {', '.join(DIALECTS)}; "
                         f"set by {DIALECT_ENV})")
    return chosen


# ---- object group entries of one box
def _values(ivs: Sequence[Interval]) -> list[int]:
    return [v for lo, hi in ivs for v in range(lo, hi + 1)]


def _has(ivs: Sequence[Interval], v: int) -> bool:
    return any(lo <= v <= hi for lo, hi in ivs)


def address_entries(family: int, nets: Sequence[Network]) -> tuple[str, ...] | None:
    """The members of an address group for ``nets`` (None: any address, no group needed)."""
    nets = [n for n in nets if n.version == family]
    if any(n.prefixlen == 0 for n in nets):
        return None
    out = []
    for n in sorted(nets, key=lambda n: (int(n.network_address), n.prefixlen)):
        address = ip_text(family, int(n.network_address))  # IPv4 printed from the integer
        if n.prefixlen == n.max_prefixlen:
            out.append(f"network host address {address}")
        elif family == 4:
            out.append(f"network subnet {address} {ip_text(4, (0xFFFFFFFF << 32 - n.prefixlen) & 0xFFFFFFFF)}")
        else:
            out.append(f"network subnet {address} {n.prefixlen}")
    return tuple(out)


def service_entries(family: int, proto: Sequence[Interval], dport: Sequence[Interval],
                    itype: Sequence[Interval], icode: Sequence[Interval]) -> tuple[str, ...] | None:
    """The members of a service group whose union is exactly the box's canonical packets (None: any).

    Raises :class:`Unexpressible` for what H3C groups cannot say exactly.
    """
    proto, dport, itype, icode = tuple(proto), tuple(dport), tuple(itype), tuple(icode)
    if proto == FULL8 and dport == FULL16 and itype == FULL8 and icode == FULL8:
        return None
    out: list[str] = []
    zero_port = _has(dport, 0)  # canonical packets of port-less protocols have port 0
    plain = zero_port and _has(itype, 0) and _has(icode, 0)  # other protocols: type and code 0
    for p in _values(proto):
        if p in _PORT_PROTOCOLS:
            name = _PORT_PROTOCOLS[p]
            if dport == FULL16:
                out.append(f"service {name}")
            else:
                out.extend(f"service {name} destination eq {lo}" if lo == hi
                           else f"service {name} destination range {lo} {hi}" for lo, hi in dport)
        elif p == 132:
            if dport != FULL16:
                raise Unexpressible("SCTP ports")
            out.append("service 132")
        elif p in (1, 58):
            if not zero_port:
                continue
            if itype == FULL8 and icode == FULL8:
                out.append(f"service {p}")
                continue
            name = "icmp" if p == 1 else "icmpv6"
            codes: list[int | None] = [None] if icode == FULL8 else list(_values(icode))
            if len(_values(itype)) * len(codes) > MAX_ENTRIES:
                raise Unexpressible("this many ICMP types and codes")
            out.extend(f"service {name} {t}" if c is None else f"service {name} {t} {c}"
                       for t in _values(itype) for c in codes)
        elif plain:
            out.append(f"service {p}")
        if len(out) > MAX_ENTRIES:
            raise Unexpressible("a service set this large")
    return tuple(out)


Entries = tuple[tuple[str, ...] | None, tuple[str, ...] | None, tuple[str, ...] | None]


class _EntriesOf:
    """The group entries of a rule's source, destination and service, each made once: the rules of a
    large model share a few thousand prefix lists (the same tuples) and a few hundred protocol parts."""

    def __init__(self) -> None:
        self._addresses: dict[tuple[int, int], tuple[Sequence[Network], tuple[str, ...] | None]] = {}
        self._services: dict[tuple, tuple[str, ...] | None] = {}

    def _address(self, family: int, nets: Sequence[Network]) -> tuple[str, ...] | None:
        found = self._addresses.get((family, id(nets)))
        if found is None or found[0] is not nets:  # the sequence is kept, so its id stays its own
            found = self._addresses[family, id(nets)] = (nets, address_entries(family, nets))
        return found[1]

    def __call__(self, rule: TargetRule) -> Entries:
        key = (rule.family, rule.proto, rule.dport, rule.icmp_type, rule.icmp_code)
        if key in self._services:
            svc = self._services[key]
        else:  # Unexpressible is raised again for every rule of the box, so each one is reported
            svc = self._services[key] = service_entries(*key)
        return self._address(rule.family, rule.src), self._address(rule.family, rule.dst), svc


def _entries_of(rule: TargetRule) -> Entries:
    return (address_entries(rule.family, rule.src), address_entries(rule.family, rule.dst),
            service_entries(rule.family, rule.proto, rule.dport, rule.icmp_type, rule.icmp_code))


def box_problems(model: TargetModel, entries_of=_entries_of) -> list[tuple[str, str]]:
    """(flow id, what) for every rule of ``model`` that H3C cannot express, once per flow and reason."""
    seen: dict[tuple[str, str], None] = {}
    for pair in model.pairs:
        for rule in pair.rules:
            try:
                entries_of(rule)
            except Unexpressible as err:
                seen.setdefault((rule.flow_id, str(err)), None)
    return list(seen)


# What a service group may fail to say (SCTP ports, many ICMP types/codes, thousands of entries):
# a rule's packets are some of its flow's, so a flow without SCTP, ICMP, protocol 0 or "any protocol"
# has no ICMP or SCTP problem; and a box's port intervals are cut only where one of the flow's k port
# ranges begins or ends, so its group has at most T * (2k + 1) entries for T terms: at most 2,080,
# under MAX_ENTRIES, when T + k <= 64.
_AWKWARD_PROTOCOLS = frozenset({0, 1, 58, 132})
_FEW_RANGES = 64


def _awkward(flow: Flow) -> bool:
    return (not flow.services or sum(len(t.ports) + 1 for t in flow.services) > _FEW_RANGES
            or any(t.protocol is None or t.protocol in _AWKWARD_PROTOCOLS for t in flow.services))


# ---- rendering
class _Objects:
    """Address and service groups, de-duplicated by content and named by a hash of their members:
    pasting a group again on a device (which adds the members to a group of the same name) can then
    never widen a group of another version, since a name never gets a different member list."""

    def __init__(self) -> None:
        self.addresses: dict[tuple[int, tuple[str, ...]], str] = {}
        self.services: dict[tuple[str, ...], str] = {}
        self.names: set[str] = set()

    def _name(self, kind: str, *parts: str) -> str:
        name = f"zp-{kind}-{_digest(*parts, n=12)}"
        if name in self.names:  # a hash collision: astronomically unlikely, never silent
            raise ValueError(f"object group names collide: {name}")
        self.names.add(name)
        return name

    def address(self, family: int, entries: tuple[str, ...] | None) -> str | None:
        if entries is None:
            return None
        key = (family, entries)
        if key not in self.addresses:
            self.addresses[key] = self._name("a", str(family), *entries)
        return self.addresses[key]

    def service(self, entries: tuple[str, ...] | None) -> str | None:
        if entries is None:
            return None
        if entries not in self.services:
            self.services[entries] = self._name("s", *entries)
        return self.services[entries]

    def text(self) -> list[str]:
        lines = []
        for (family, entries), name in self.addresses.items():
            lines.append(f"object-group {'ip' if family == 4 else 'ipv6'} address {name}")
            lines.extend(f" {10 * k} {e}" for k, e in enumerate(entries))
            lines.append("#")
        for entries, name in self.services.items():
            lines.append(f"object-group service {name}")
            lines.extend(f" {10 * k} {e}" for k, e in enumerate(entries))
            lines.append("#")
        return lines



def _too_many_rules(model: TargetModel, where: str, hint: str) -> InvalidPolicy:
    """Comware numbers a policy's rules 0 to MAX_RULE_ID: a longer list cannot be loaded."""
    return InvalidPolicy([Diagnostic(
        "ZP403", f"target h3c: firewall {clean_description(model.firewall)} needs more than {MAX_RULE_ID + 1} "
        f"rules in {where} (rule IDs run 0 to {MAX_RULE_ID})", None, Severity.ERROR, hint=hint)])

def _family_rules(pair: PairRules, family: int) -> list[TargetRule]:
    return [r for r in pair.rules if r.family == family]


def _description(rule: TargetRule | None) -> str:
    return flow_description(rule.flow_id, rule.origin) if rule is not None else "zonepolicy drop"


def render(model: TargetModel, dialect: str = DEFAULT_DIALECT) -> str:
    """The configuration text of one firewall in ``dialect`` (deterministic)."""
    bad = [Diagnostic("ZP403", f"target h3c (firewall {clean_description(model.firewall)}) cannot use interface "
                      f"name {clean_description(name)[:40]!r}: {why}", None, Severity.ERROR)
           for name, _ in model.interfaces if (why := check_interface_name(name))]
    if bad:
        raise InvalidPolicy(bad)
    entries_of = _EntriesOf()
    problems = box_problems(model, entries_of)
    if problems:
        raise InvalidPolicy([Diagnostic("ZP403", f"target h3c cannot express {what} of flow {clean_description(fid)}",
                                        None, Severity.ERROR) for fid, what in problems])
    zones = zone_names([name for name, _ in model.interfaces])
    objects = _Objects()
    lines: list[str] = ["#"]
    for name, _ in model.interfaces:
        lines += [f"security-zone name {zones[name]}", f" import interface {name}", "#"]
    policy: list[str] = []
    if dialect == "security-policy":
        for family in (4, 6):
            block: list[str] = []
            rule_id = 0
            for pair in model.pairs:
                rules = _family_rules(pair, family)
                if not rules and family == 6 and not any(r.family == 6 for p in model.pairs for r in p.rules):
                    continue
                for rule in [*rules, None]:
                    if rule_id > MAX_RULE_ID:
                        raise _too_many_rules(model, "security-policy", "split the zones behind this firewall "
                                              "across more devices, or compile the object-policy dialect "
                                              "(ZONEPOLICY_H3C_DIALECT=object-policy), whose rules are "
                                              "numbered per zone pair")
                    tag = _token(rule.flow_id) if rule is not None else "drop"
                    block.append(f" rule {rule_id} name {f'zp-{rule_id}-{tag}'[:MAX_RULE_NAME]}")
                    block.append(f"  description {_description(rule)}")
                    block.append(f"  action {'drop' if rule is None or rule.action is Action.DENY else 'pass'}")
                    if rule is not None and rule.log:
                        block.append("  logging enable")
                    block.append(f"  source-zone {zones[pair.in_if]}")
                    block.append(f"  destination-zone {zones[pair.out_if]}")
                    if rule is not None:
                        src, dst, svc = entries_of(rule)
                        for key, obj in (("source-ip", objects.address(family, src)),
                                         ("destination-ip", objects.address(family, dst)),
                                         ("service", objects.service(svc))):
                            if obj is not None:
                                block.append(f"  {key} {obj}")
                    rule_id += 1
            if block:
                policy += [f"security-policy {'ip' if family == 4 else 'ipv6'}", *block, "#"]
    else:
        pair_lines: list[str] = []
        for k, pair in enumerate(model.pairs, start=1):
            pair_lines.append(f"zone-pair security source {zones[pair.in_if]} destination {zones[pair.out_if]}")
            for family in (4, 6):
                rules = _family_rules(pair, family)
                if family == 6 and not rules:
                    continue
                name = f"zp-op{k}" + ("" if family == 4 else "-6")
                kind = "ip" if family == 4 else "ipv6"
                policy.append(f"object-policy {kind} {name}")
                if len(rules) + 1 > MAX_RULE_ID + 1:
                    raise _too_many_rules(model, f"object-policy {name}", "split the zones behind one of the "
                                          "two interfaces across more interfaces or devices")
                for rule_id, rule in enumerate([*rules, None]):
                    if rule is None:
                        policy.append(f" rule {rule_id} drop")
                    else:
                        src, dst, svc = entries_of(rule)
                        words = [f" rule {rule_id}", "drop" if rule.action is Action.DENY else "pass"]
                        for key, obj in (("source-ip", objects.address(family, src)),
                                         ("destination-ip", objects.address(family, dst)),
                                         ("service", objects.service(svc))):
                            if obj is not None:
                                words.append(f"{key} {obj}")
                        if rule.log:
                            words.append("logging")
                        policy.append(" ".join(words))
                    policy.append(f" rule {rule_id} comment {_description(rule)}")
                policy.append("#")
                pair_lines.append(f" object-policy apply {kind} {name}")
            pair_lines.append("#")
        policy += pair_lines
    lines += objects.text() + policy + ["return", ""]
    return "\n".join(lines)


def interface_diagnostics(firewall: Firewall) -> list[Diagnostic]:
    """ZP403 for every interface of ``firewall`` whose name Comware cannot use."""
    return interface_name_diagnostics(
        "h3c", firewall, check_interface_name, lambda n: clean_description(n)[:40],
        "write the Comware interface name, e.g. GigabitEthernet1/0/1 or Route-Aggregation1.10")


@register
class H3cCompiler(Compiler):
    """H3C SecPath (Comware V7) configuration, security-policy or object-policy dialect; see the
    module docstring."""

    target = "h3c"
    capabilities = frozenset({
        Feature.IPV4, Feature.IPV6, Feature.ICMP, Feature.SCTP, Feature.PROTOCOL_NUMBERS, Feature.LOG,
        Feature.COMMENTS,
    })  # no STATELESS (sessions for every passed packet), no INSPECT; SCTP as protocol 132 only, and
    # SCTP ports are refused by diagnose (ZP403), since a default-allow remainder needs 'service 132'

    def __init__(self, dialect: str | None = None) -> None:
        self.dialect = resolve_dialect(dialect)
        # diagnose lowers the policy itself (it is not given the model); one meaning per policy
        # keeps that to one packet-set build for all of a policy's firewalls
        self._meaning: tuple[Policy, Meaning] | None = None
        # (policy, the policy with only its awkward flows or None, that part's meaning)
        self._awkward: tuple[Policy, Policy | None, Meaning | None] | None = None

    def _meaning_of(self, policy: Policy) -> Meaning:
        if self._meaning is None or self._meaning[0] is not policy:
            self._meaning = (policy, Meaning(policy))
        return self._meaning[1]

    def problems(self, policy: Policy, firewall: Firewall) -> list[tuple[str, str]]:
        """:func:`box_problems` of the firewall's model, lowering only the flows that can have one:
        with a default deny a flow's rules depend on that flow alone, so those flows' rules (and so
        the problems, in the same order) are the whole model's. A default allow lowers everything,
        its remainder rules covering what no flow names."""
        if policy.default is Action.ALLOW:
            return box_problems(lower(policy, firewall, self._meaning_of(policy)))
        if self._awkward is None or self._awkward[0] is not policy:
            flows = tuple(f for f in policy.flows if _awkward(f))
            part = dataclasses.replace(policy, flows=flows) if flows else None
            self._awkward = (policy, part, Meaning(part) if part else None)
        _, part, meaning = self._awkward
        return box_problems(lower(part, firewall, meaning), _EntriesOf()) if part and meaning else []

    def diagnose(self, policy: Policy, firewall: Firewall) -> list[Diagnostic]:
        """Interface names Comware cannot use, and boxes its object groups cannot express."""
        diags = interface_diagnostics(firewall)
        flows = {f.id: f for f in policy.flows}
        for fid, what in self.problems(policy, firewall):
            flow = flows.get(fid)
            diags.append(Diagnostic(
                "ZP403", f"target h3c (firewall {firewall.name}) cannot express {what} of flow {fid}",
                flow.span if flow else firewall.span, Severity.ERROR,
                "narrow the flow's services, or compile it for another target"))
        return diags

    def render(self, model: TargetModel) -> list[Output]:
        return [Output(output_name(model.firewall), render(model, self.dialect))]

    def read(self, text: str, firewall: Firewall) -> list[ReadPair]:
        """First-match rules per interface pair of either dialect (recognised from the text)."""
        return read_config(text)


def dialect_of(text: str) -> str | None:
    """The dialect of an emitted configuration, or None when it has no policy."""
    if re.search(r"^security-policy ", text, re.M):
        return "security-policy"
    if re.search(r"^object-policy ", text, re.M):
        return "object-policy"
    return None


__all__ = ("H3cCompiler", "render", "read_config", "DIALECTS", "dialect_of")
