"""The ``huawei-usg`` back end: Huawei USG6000 / USG6000E (VRP) security-policy configuration.

One file ``<firewall>.cfg`` per firewall, in the layout of ``display current-configuration``
(blocks separated by ``#`` lines), ready to paste in system view:

* **One security zone per interface** (``firewall zone name Z`` / ``set priority N`` /
  ``add interface I``). The model is per interface pair; USG policies are per zone pair, so giving
  each interface its own zone makes the two the same thing. Zone names are derived from the
  interface name (``/`` → ``_``, ``.`` → ``-``; injective on valid interface names);
  priorities are distinct (USG refuses two zones with one priority) and avoid the built-in
  zones' 5, 50, 85 and 100.
* **Objects** ``ip address-set zp_a_<hash> type object`` and ``ip service-set zp_s_<hash> type
  object``, named by a hash of their members: equal objects are shared, and a name does not change
  when an unrelated flow is added.
* **security-policy**: one ``rule name`` per model rule, in the model's first-match order, each
  with ``description flow <id> <file:line>``, its source and destination zone, address sets,
  service set (none: any service) and ``action permit|deny``; ``policy logging`` for ``log`` flows.
  Every pair that has rules ends with an explicit deny rule (so its rule run means the same
  whatever the default), and the block ends with ``default action deny`` — the device's implicit
  deny-any, restated so a ``default action permit`` left on the box is undone — which closes the
  pairs without rules (an explicit rule for each would double the rule count of a core firewall).
  Rules of different zone pairs never match the same packet, so one global list in pair order is
  per-pair first match.

The reader (:meth:`HuaweiUsgCompiler.read`) parses exactly this subset back into first-match rules
per interface pair; anything else is a :class:`ReadError`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import unicodedata
from dataclasses import dataclass, field

from zonepolicy.diagnostics import Diagnostic, Severity
from zonepolicy.errors import InvalidPolicy, ZonePolicyError
from zonepolicy.model.policy import Firewall, Policy
from zonepolicy.model.values import Action, Network
from zonepolicy.semantics.meaning import Meaning
from zonepolicy.semantics.packetset import PacketSet

from ._intervals import ip_text
from .base import (
    Compiler, Feature, Interval, Output, ReadPair, ReadRule, TargetModel, TargetRule,
    interface_name_diagnostics, register,
)

TARGET = "huawei-usg"
DESCRIPTION_LIMIT = 127  # characters a USG rule description may hold
ZONE_NAME_LIMIT = 32
MEMBER_LIMIT = 256  # member ids 0..255: the smallest USG6000E models' range
RESERVED_PRIORITIES = frozenset({5, 50, 85, 100})  # untrust, dmz, trust, local: fixed, cannot be shared
PRIORITIES = tuple(p for p in range(1, 100) if p not in RESERVED_PRIORITIES)
PORT_PROTOCOLS = {6: "tcp", 17: "udp", 132: "sctp"}
ICMP_PROTOCOLS = {1: ("icmp", "icmp-type"), 58: ("icmpv6", "icmpv6-type")}
PROTOCOL_BY_NAME = {"tcp": 6, "udp": 17, "sctp": 132, "icmp": 1, "icmpv6": 58}
FULL8: tuple[Interval, ...] = ((0, 255),)
FULL16: tuple[Interval, ...] = ((0, 65535),)

# A VRP interface name: a type word (letters, '-' as in Eth-Trunk) then slot/port numbers and an
# optional sub-interface number. Nothing here can break a line or start a comment.
_INTERFACE = re.compile(r"[A-Za-z][A-Za-z-]{0,30}[0-9]{1,4}(/[0-9]{1,4}){0,3}(\.[0-9]{1,5})?")
_SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]+")


class ReadError(ZonePolicyError):
    """Text the USG reader does not understand; ``line`` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        super().__init__(f"line {line}: {message}" if line else message)


# ---------------------------------------------------------------- names and strings
def _digest(text: str, n: int = 8) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:n]


def check_interface_name(name: str) -> str:
    """Why ``name`` is not a USG interface name ("" when it is)."""
    if not _INTERFACE.fullmatch(name):
        return "not a VRP interface name such as GigabitEthernet1/0/1 or Eth-Trunk1.10"
    return ""


def zone_name(interface: str) -> str:
    """The security zone of one interface: the name with ``/`` as ``_`` and ``.`` as ``-``, so only
    letters, digits, ``_`` and ``-`` remain. Injective on valid interface names: ``_`` never occurs in
    one, and a ``-`` after the first digit can only come from a ``.``. Cut and completed with a hash
    when longer than the device allows."""
    name = interface.replace("/", "_").replace(".", "-")
    if len(name) > ZONE_NAME_LIMIT:
        name = f"{name[:ZONE_NAME_LIMIT - 9]}~{_digest(interface)}"
    return name


def safe_id(flow_id: str, limit: int = 32) -> str:  # p001r0001- + 32 stays within the 63 of a rule name
    """A flow id for a rule name: verbatim when safe and short, else an escaped form plus a hash
    (the ``~`` cannot occur in a verbatim id, so the two kinds never collide)."""
    if _SAFE_NAME.fullmatch(flow_id) and len(flow_id) <= limit:
        return flow_id
    kept = re.sub(r"[^A-Za-z0-9_.-]", "", flow_id)[:limit - 9]
    return f"{kept}~{_digest(flow_id)}"


def clean_text(text: str, limit: int = DESCRIPTION_LIMIT) -> str:
    """Free text for a ``description``: printable ASCII only, no character the CLI gives a meaning
    (``?`` asks for help, ``#``/``!`` start comments, quotes), runs of blanks as one space, cut to the
    limit. Non-ASCII becomes ``~`` because the device's character set for descriptions differs by
    version (GBK or UTF-8) and a wrong guess corrupts the line."""
    if text.isascii() and text.isprintable():  # the usual case: only the special characters change
        cleaned = " ".join(text.translate(_SPECIAL).split())
        if len(cleaned) > limit:
            cleaned = cleaned[:limit - 1].rstrip() + "~"
        return cleaned or "-"
    return clean_text_scan(text, limit)


_SPECIAL = str.maketrans({c: "_" for c in "?#!\"'\\`"})


def clean_text_scan(text: str, limit: int = DESCRIPTION_LIMIT) -> str:
    """:func:`clean_text` character by character: the general path for any text."""
    out = []
    for ch in unicodedata.normalize("NFC", text):
        if ch in "?#!\"'\\`":
            out.append("_")
        elif " " < ch < "\x7f":
            out.append(ch)
        elif ch.isspace() or unicodedata.category(ch).startswith(("C", "Z")):
            out.append(" ")
        else:
            out.append("~")
    cleaned = " ".join("".join(out).split())
    if len(cleaned) > limit:
        cleaned = cleaned[:limit - 1].rstrip() + "~"
    return cleaned or "-"


def description(rule: TargetRule) -> str:
    return clean_text(f"flow {rule.flow_id} {rule.origin}".strip() if rule.flow_id != "default"
                      else "zonepolicy default allow")


def output_name(firewall: str) -> str:
    keep = re.sub(r"[^A-Za-z0-9_.-]", "_", firewall).lstrip(".") or "firewall"
    return (keep if keep == firewall else f"{keep}-{_digest(firewall)}") + ".cfg"


# ---------------------------------------------------------------- objects
def address_members(nets: tuple[Network, ...]) -> tuple[str, ...]:
    """``address`` member bodies (without the id) for a list of networks."""
    out = []
    for net in nets:
        if net.version == 4:  # printed from the integer: cheaper than the address object's text
            out.append(f"{ip_text(4, int(net.network_address))} mask {net.prefixlen}")
        else:
            out.append(f"{net.network_address} {net.prefixlen}")
    return tuple(out)


def _expand(ivs: tuple[Interval, ...]) -> list[int]:
    return [v for lo, hi in ivs for v in range(lo, hi + 1)]


def _has(ivs: tuple[Interval, ...], value: int) -> bool:
    return any(lo <= value <= hi for lo, hi in ivs)


def service_members(rule: TargetRule) -> tuple[str, ...] | None:
    """``service`` member bodies for the rule's protocols and ports; ``None`` means any service."""
    if rule.proto == FULL8 and rule.dport == FULL16 and rule.icmp_type == FULL8 and rule.icmp_code == FULL8:
        return None
    out: list[str] = []
    for p in _expand(rule.proto):
        if p in PORT_PROTOCOLS:
            # the universe gives TCP/UDP/SCTP type and code 0: a box without 0 there has none of them
            if not (_has(rule.icmp_type, 0) and _has(rule.icmp_code, 0)):
                continue
            for lo, hi in rule.dport:
                port = str(lo) if lo == hi else f"{lo} to {hi}"
                out.append(f"protocol {PORT_PROTOCOLS[p]} destination-port {port}")
        elif p in ICMP_PROTOCOLS:
            if not _has(rule.dport, 0):
                continue
            name, kw = ICMP_PROTOCOLS[p]
            if rule.icmp_type == FULL8 and rule.icmp_code == FULL8:
                out.append(f"protocol {name}")
                continue
            for t in _expand(rule.icmp_type):
                for lo, hi in rule.icmp_code:
                    code = str(lo) if lo == hi else f"{lo} to {hi}"
                    out.append(f"protocol {name} {kw} {t} {code}")
        elif _has(rule.dport, 0) and _has(rule.icmp_type, 0) and _has(rule.icmp_code, 0):
            out.append(f"protocol {p}")
    return tuple(out)


def _chunks(members: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Members in runs of at most MEMBER_LIMIT (one object each)."""
    return [members[i:i + MEMBER_LIMIT] for i in range(0, len(members), MEMBER_LIMIT)]


def object_name(kind: str, members: tuple[str, ...]) -> str:
    return f"zp_{kind}_{_digest(chr(10).join(members), 12)}"


def _object_lines(members: tuple[str, ...], kind: str, prefix: str, objects: dict[str, tuple[str, ...]]) -> list[str]:
    """``prefix`` + the name of each object the members are split into, the objects recorded."""
    out = []
    for chunk in _chunks(members):
        name = object_name(kind, chunk)
        objects.setdefault(name, chunk)
        out.append(prefix + name)
    return out


# ---------------------------------------------------------------- rendering
def logged_first(rules: tuple[TargetRule, ...]) -> list[TargetRule]:
    """The pair's rules with, within each action, the rules of ``log`` flows first.

    A packet meets one rule only, so it is logged exactly when the rule that decides it logs. The
    model lists flows in policy order; a packet of a silent allow flow written before a logged one
    would never be logged. Moving logged rules ahead within the same action changes no verdict
    (denies still come before every allow), and makes a packet logged exactly when a ``log`` flow of
    the deciding action matches it (:func:`log_problems` proves this)."""
    return sorted(rules, key=lambda r: (r.action is Action.ALLOW, not r.log))


def render_model(model: TargetModel) -> str:
    """The configuration text of one firewall (see the module docstring)."""
    zones = {name: zone_name(name) for name, _ in model.interfaces}
    addresses: dict[str, tuple[str, ...]] = {}
    services: dict[str, tuple[str, ...]] = {}
    policy: list[str] = ["security-policy"]
    # the object lines of each prefix list and protocol part, made once: the rules of a large model
    # share a few thousand of each (the lowering hands the same prefix tuples to every rule using them)
    address_lines: dict[int, tuple[tuple[Network, ...], list[str]]] = {}
    service_lines: dict[tuple, list[str] | None] = {}
    for n, pair in enumerate(model.pairs, 1):
        for k, rule in enumerate(logged_first(pair.rules), 1):
            policy += [f" rule name p{n:03d}r{k:04d}-{safe_id(rule.flow_id)}",
                       f"  description {description(rule)}",
                       f"  source-zone {zones[pair.in_if]}",
                       f"  destination-zone {zones[pair.out_if]}"]
            # several address-set (service) lines in one rule are a union, so a list longer than the
            # device's member ids allow is split over several objects
            key = (rule.proto, rule.dport, rule.icmp_type, rule.icmp_code)
            if key not in service_lines:
                svc = service_members(rule)
                if svc == ():  # an absent service line means "any": never emit one for an empty list
                    raise ValueError(f"empty match list in a rule of flow {rule.flow_id}")
                service_lines[key] = None if svc is None else _object_lines(svc, "s", "  service ", services)
            if not rule.src or not rule.dst:  # nor an address line for an empty list
                raise ValueError(f"empty match list in a rule of flow {rule.flow_id}")
            for field_name, nets in (("  source-address address-set ", rule.src),
                                     ("  destination-address address-set ", rule.dst)):
                found = address_lines.get(id(nets))
                if found is None or found[0] is not nets:  # the tuple is kept, so its id stays its own
                    found = address_lines[id(nets)] = (nets, _object_lines(address_members(nets), "a", "",
                                                                           addresses))
                policy += [field_name + name for name in found[1]]
            policy += service_lines[key] or ()
            if rule.log:
                policy.append("  policy logging")
            policy.append(f"  action {'permit' if rule.action is Action.ALLOW else 'deny'}")
        if not pair.rules:
            continue  # nothing of this pair is allowed: the closing 'default action deny' says it once
        policy += [f" rule name p{n:03d}-drop",
                   f"  description {clean_text(f'no flow allows {pair.in_if} -> {pair.out_if}')}",
                   f"  source-zone {zones[pair.in_if]}",
                   f"  destination-zone {zones[pair.out_if]}",
                   "  action deny"]
    policy.append(" default action deny")

    # '#' lines are comments to VRP; the header text is cleaned like a description
    lines: list[str] = ["#", "# " + clean_text(f"zonepolicy target={TARGET} policy={model.policy} "
                                               f"firewall={model.firewall}", 200), "#"]
    for (name, _), priority in zip(model.interfaces, PRIORITIES):
        lines += [f"firewall zone name {zones[name]}", f" set priority {priority}", f" add interface {name}", "#"]
    for name in sorted(addresses):
        lines.append(f"ip address-set {name} type object")
        lines += [f" address {k} {m}" for k, m in enumerate(addresses[name])]
        lines.append("#")
    for name in sorted(services):
        lines.append(f"ip service-set {name} type object")
        lines += [f" service {k} {m}" for k, m in enumerate(services[name])]
        lines.append("#")
    lines += policy
    lines += ["#", "return", ""]
    return "\n".join(lines)


def interface_diagnostics(firewall: Firewall) -> list[Diagnostic]:
    """ZP403 for interface names the USG cannot use, and for more interfaces than zone priorities."""
    diags = interface_name_diagnostics(
        TARGET, firewall, check_interface_name, lambda n: clean_text(n, 40),
        "write the device's interface name, e.g. GigabitEthernet1/0/1 or Eth-Trunk1.10")
    if len(firewall.interfaces) > len(PRIORITIES):
        diags.append(Diagnostic(
            "ZP403", f"target {TARGET} (firewall {firewall.name}) has {len(firewall.interfaces)} interfaces; one "
            f"security zone each needs a distinct priority and only {len(PRIORITIES)} are free",
            firewall.span, Severity.ERROR, "split the firewall"))
    return diags


# ---------------------------------------------------------------- reading
@dataclass(slots=True)
class _Rule:
    name: str
    line: int
    description: str = ""
    src_zones: list[str] = field(default_factory=list)
    dst_zones: list[str] = field(default_factory=list)
    src: list[str] = field(default_factory=list)
    dst: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    action: str = ""
    log: bool = False


@dataclass(slots=True)
class Config:
    """The parsed subset: zones, objects (as packet sets) and the rules in order."""

    zone_of: dict[str, str] = field(default_factory=dict)  # interface -> zone
    zones: dict[str, int] = field(default_factory=dict)  # zone -> priority
    addresses: dict[str, list[Network]] = field(default_factory=dict)
    services: dict[str, PacketSet] = field(default_factory=dict)
    rules: list[_Rule] = field(default_factory=list)
    default_permit: bool = False


def _int(text: str, top: int, number: int) -> int:
    if not text.isdigit() or int(text) > top:
        raise ReadError(number, f"expected a number 0..{top}, got {text!r}")
    return int(text)


def _range(words: list[str], top: int, number: int) -> tuple[Interval, list[str]]:
    """``A`` or ``A to B`` at the head of ``words``; the rest."""
    lo = _int(words[0], top, number) if words else _int("", top, number)
    if len(words) >= 3 and words[1] == "to":
        hi = _int(words[2], top, number)
        if hi < lo:
            raise ReadError(number, "reversed range")
        return (lo, hi), words[3:]
    return (lo, lo), words[1:]


def _service_member(words: list[str], number: int) -> PacketSet:
    if len(words) < 2 or words[0] != "protocol":
        raise ReadError(number, "expected 'protocol'")
    word = words[1]
    p = PROTOCOL_BY_NAME[word] if word in PROTOCOL_BY_NAME else _int(word, 255, number)
    rest = words[2:]
    if p in PORT_PROTOCOLS:
        if not rest:
            return PacketSet.build(proto=[(p, p)])
        if rest[0] != "destination-port":
            raise ReadError(number, f"unsupported service option {rest[0]!r}")
        ports, rest = _range(rest[1:], 65535, number)
        if rest:
            raise ReadError(number, f"unexpected {' '.join(rest)!r}")
        return PacketSet.build(proto=[(p, p)], dport=[ports])
    if p in ICMP_PROTOCOLS:
        if not rest:
            return PacketSet.build(proto=[(p, p)])
        if rest[0] != ICMP_PROTOCOLS[p][1] or len(rest) < 3:
            raise ReadError(number, f"expected '{ICMP_PROTOCOLS[p][1]} TYPE CODE'")
        t = _int(rest[1], 255, number)
        codes, rest = _range(rest[2:], 255, number)
        if rest:
            raise ReadError(number, f"unexpected {' '.join(rest)!r}")
        return PacketSet.build(proto=[(p, p)], icmp_type=[(t, t)], icmp_code=[codes])
    if rest:
        raise ReadError(number, f"protocol {p} takes no options")
    return PacketSet.build(proto=[(p, p)])


def _address_member(words: list[str], number: int) -> Network:
    try:
        if len(words) == 3 and words[1] == "mask":
            return ipaddress.IPv4Network(f"{words[0]}/{_int(words[2], 32, number)}")
        if len(words) == 2 and ":" in words[0]:
            return ipaddress.IPv6Network(f"{words[0]}/{_int(words[1], 128, number)}")
    except ValueError as e:
        raise ReadError(number, str(e)) from None
    raise ReadError(number, f"unsupported address member {' '.join(words)!r}")


def parse(text: str) -> Config:
    """The subset of a USG configuration this back end emits (also as pasted from the device's
    ``display current-configuration`` for these blocks); anything else is a ReadError."""
    cfg = Config()
    block: str = ""
    current: object = None
    rule: _Rule | None = None
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r")
        if not line.isprintable() and any(unicodedata.category(ch) == "Cc" for ch in line if ch != "\t"):
            raise ReadError(number, "control character in line")
        if not line.strip():
            continue
        if line.startswith("#"):
            block, current, rule = "", None, None
            continue
        words = line.split()
        depth = len(line) - len(line.lstrip(" "))
        if depth == 0:
            rule = None
            if words == ["return"]:
                block = "return"
            elif words[:3] == ["firewall", "zone", "name"] and len(words) == 4:
                block, current = "zone", words[3]
                if current in cfg.zones:
                    raise ReadError(number, f"zone {current} defined twice")
                cfg.zones[current] = -1
            elif words[:2] in (["ip", "address-set"], ["ip", "service-set"]) and len(words) == 5 \
                    and words[3:] == ["type", "object"]:
                block, current = words[1], words[2]
                table = cfg.addresses if block == "address-set" else cfg.services
                if current in table:
                    raise ReadError(number, f"{block} {current} defined twice")
                if block == "address-set":
                    cfg.addresses[current] = []
                else:
                    cfg.services[current] = PacketSet.empty()
            elif words == ["security-policy"]:
                block, current = "policy", None
            else:
                raise ReadError(number, f"unsupported command {line.strip()[:60]!r}")
            continue
        if block == "zone" and depth == 1:
            if words[:2] == ["set", "priority"] and len(words) == 3:
                cfg.zones[str(current)] = _int(words[2], 100, number)
            elif words[:2] == ["add", "interface"] and len(words) == 3:
                if words[2] in cfg.zone_of:
                    raise ReadError(number, f"interface {words[2]} in two zones")
                cfg.zone_of[words[2]] = str(current)
            else:
                raise ReadError(number, f"unsupported zone command {line.strip()[:60]!r}")
        elif block == "address-set" and depth == 1 and len(words) >= 2 and words[0] == "address":
            _int(words[1], MEMBER_LIMIT - 1, number)
            cfg.addresses[str(current)].append(_address_member(words[2:], number))
        elif block == "service-set" and depth == 1 and len(words) >= 2 and words[0] == "service":
            _int(words[1], MEMBER_LIMIT - 1, number)
            cfg.services[str(current)] = cfg.services[str(current)] | _service_member(words[2:], number)
        elif block == "policy" and depth == 1:
            if words[:2] == ["rule", "name"] and len(words) == 3:
                rule = _Rule(words[2], number)
                cfg.rules.append(rule)
            elif words[:2] == ["default", "action"] and len(words) == 3 and words[2] in ("permit", "deny"):
                cfg.default_permit = words[2] == "permit"
                rule = None
            else:
                raise ReadError(number, f"unsupported security-policy command {line.strip()[:60]!r}")
        elif block == "policy" and depth == 2 and rule is not None:
            _rule_line(rule, words, line, number)
        else:
            raise ReadError(number, f"unexpected line {line.strip()[:60]!r}")
    for r in cfg.rules:
        if r.action not in ("permit", "deny"):
            raise ReadError(r.line, f"rule {r.name} has no action")
        for name in r.src + r.dst:
            if name not in cfg.addresses:
                raise ReadError(r.line, f"rule {r.name} uses unknown address-set {name}")
        for name in r.services:
            if name not in cfg.services:
                raise ReadError(r.line, f"rule {r.name} uses unknown service-set {name}")
        for name in r.src_zones + r.dst_zones:
            if name not in cfg.zones:
                raise ReadError(r.line, f"rule {r.name} uses unknown zone {name}")
    return cfg


def _rule_line(rule: _Rule, words: list[str], line: str, number: int) -> None:
    head = words[0]
    if head == "description":
        rule.description = line.strip()[len("description"):].strip()
    elif head in ("source-zone", "destination-zone") and len(words) == 2:
        (rule.src_zones if head == "source-zone" else rule.dst_zones).append(words[1])
    elif head in ("source-address", "destination-address") and len(words) == 3 and words[1] == "address-set":
        (rule.src if head == "source-address" else rule.dst).append(words[2])
    elif head == "service" and len(words) == 2:
        rule.services.append(words[1])
    elif words == ["policy", "logging"]:
        rule.log = True
    elif head == "action" and len(words) == 2 and words[1] in ("permit", "deny"):
        if rule.action:
            raise ReadError(number, f"rule {rule.name} has two actions")
        rule.action = words[1]
    else:
        raise ReadError(number, f"unsupported rule command {line.strip()[:60]!r}")


def rule_sets(cfg: Config) -> list[PacketSet]:
    """:func:`rule_set` of every rule, each address and service factor built once: a large
    configuration names the same objects in thousands of rules."""
    factors: dict[tuple, PacketSet] = {}

    def factor(side: str, names: list[str]) -> PacketSet:
        key = (side, tuple(names))
        found = factors.get(key)
        if found is None:
            if side == "svc":
                found = PacketSet.empty()
                for name in names:
                    found = found | cfg.services[name]
            else:
                found = PacketSet.build(**{side: [n for name in names for n in cfg.addresses[name]]})
            factors[key] = found
        return found

    universe = PacketSet.universe()
    return [(factor("src", r.src) if r.src else universe) & (factor("dst", r.dst) if r.dst else universe)
            & (factor("svc", r.services) if r.services else universe) for r in cfg.rules]


def rule_set(cfg: Config, r: _Rule) -> PacketSet:
    """The packets a rule's match part selects (its zones aside)."""
    src = [n for name in r.src for n in cfg.addresses[name]] if r.src else None
    dst = [n for name in r.dst for n in cfg.addresses[name]] if r.dst else None
    packets = PacketSet.build(src=src, dst=dst)
    if r.services:
        svc = PacketSet.empty()
        for name in r.services:
            svc = svc | cfg.services[name]
        packets = packets & svc
    return packets


def read_config(cfg: Config, interfaces: list[str]) -> list[ReadPair]:
    """First-match rules per ordered interface pair: the rules whose zones (none listed: any) hold
    the input and output interfaces' zones, then the default action. An interface in no zone
    forwards nothing (a USG drops traffic of interfaces outside every zone)."""
    sets = rule_sets(cfg)
    pairs = []
    for i in interfaces:
        for o in interfaces:
            if i != o:
                rules = [ReadRule(s, r.action == "permit", r.description or r.name)
                         for r, s in _pair_rules(cfg, sets, i, o)]
                pairs.append(ReadPair(i, o, tuple(rules)))
    return pairs


def _pair_rules(cfg: Config, sets: list[PacketSet], i: str, o: str) -> list[tuple[_Rule, PacketSet]]:
    """The rules (with their packet sets) a packet from ``i`` to ``o`` meets, in order, ending with
    the default action; none when an interface is in no zone."""
    zi, zo = cfg.zone_of.get(i), cfg.zone_of.get(o)
    if zi is None or zo is None:
        return []
    out: list[tuple[_Rule, PacketSet]] = [
        (r, s) for r, s in zip(cfg.rules, sets)
        if (not r.src_zones or zi in r.src_zones) and (not r.dst_zones or zo in r.dst_zones)]
    default = _Rule("default", 0, action="permit" if cfg.default_permit else "deny")
    out.append((default, PacketSet.universe()))
    return out


def log_problems(policy: Policy, firewall: Firewall, text: str, meaning: Meaning | None = None) -> list[str]:
    """Per pair, the packets whose logging differs from the policy: a connection-opening packet must
    meet a rule with ``policy logging`` exactly when a ``log`` flow of the deciding action matches
    it (a deny flow if any deny flow matches, else an allow flow)."""
    meaning = meaning or Meaning(policy)
    cfg = parse(text)
    sets = rule_sets(cfg)
    problems = []
    for i in firewall.interfaces:
        for o in firewall.interfaces:
            if i.name == o.name:
                continue
            scope = meaning.zones_addresses(i.zones, "src") & meaning.zones_addresses(o.zones, "dst")
            denied, deny_log, allow_log = PacketSet.empty(), PacketSet.empty(), PacketSet.empty()
            for flow in policy.flows:
                part = meaning.flow_set(flow) & scope
                if flow.action is Action.DENY:
                    denied = denied | part
                    if flow.options.log:
                        deny_log = deny_log | part
                elif flow.options.log:
                    allow_log = allow_log | part
            want = deny_log | (allow_log - denied)
            have, seen = PacketSet.empty(), PacketSet.empty()
            for rule, packets in _pair_rules(cfg, sets, i.name, o.name):
                if rule.log:
                    have = have | (packets - seen)
                seen = seen | packets
            if have != want:
                witness = (have - want).pick() or (want - have).pick()
                problems.append(f"{i.name} -> {o.name}: logging differs from the policy, e.g. {witness}")
    return problems


@register
class HuaweiUsgCompiler(Compiler):
    """Huawei USG6000 security zones, objects and security-policy; see the module docstring."""

    target = TARGET
    # No STATELESS: a USG security policy always creates sessions, so replies of a permitted
    # connection pass; no INSPECT here (content security profiles are not generated).
    capabilities = frozenset({Feature.IPV4, Feature.IPV6, Feature.ICMP, Feature.SCTP, Feature.PROTOCOL_NUMBERS,
                              Feature.LOG, Feature.COMMENTS})

    def diagnose(self, policy: Policy, firewall: Firewall) -> list[Diagnostic]:
        """Problems the capability check cannot see: interface names and the zone-priority budget."""
        return interface_diagnostics(firewall)

    def render(self, model: TargetModel) -> list[Output]:
        bad = [Diagnostic("ZP403", f"target {TARGET} (firewall {clean_text(model.firewall, 60)}) cannot use "
                          f"interface name {clean_text(name, 40)!r}: {why}", None, Severity.ERROR)
               for name, _ in model.interfaces if (why := check_interface_name(name))]
        if len(model.interfaces) > len(PRIORITIES):
            bad.append(Diagnostic("ZP403", f"target {TARGET}: too many interfaces for distinct zone priorities",
                                  None, Severity.ERROR))
        if bad:
            raise InvalidPolicy(bad)
        return [Output(output_name(model.firewall), render_model(model))]

    def read(self, text: str, firewall: Firewall) -> list[ReadPair]:
        """First-match rules per interface pair of one configuration text."""
        cfg = parse(text)
        names = sorted({i.name for i in firewall.interfaces} | set(cfg.zone_of))
        return read_config(cfg, names)


__all__ = ["HuaweiUsgCompiler", "ReadError", "check_interface_name", "clean_text", "log_problems", "logged_first",
           "parse", "render_model",
           "safe_id", "service_members", "zone_name"]
