"""Reader of the H3C (Comware V7) configuration subset the ``h3c`` back end emits, in either dialect.

It understands security zones (``import interface``), ``object-group ip|ipv6 address`` and
``object-group service`` groups, and the policy as ``security-policy ip|ipv6`` rules or as
``object-policy ip|ipv6`` rules applied to ``zone-pair security`` blocks, and returns first-match
rules per interface pair (:class:`~zonepolicy.compilers.base.ReadPair`). It is strict: a line it
does not know, a repeated name or rule id, a zone with more or fewer than one interface, or both
dialects in one text raise :class:`ValueError` — the proof must never rest on a guess.

What the device does and this reader does the same: names are compared ignoring case; rules match
in ascending id order; a ``security-policy`` rule without ``action`` drops; a missing
``source-zone``/``source-ip``/``service`` (and destination) means any; a rule that names an
object group that does not exist matches nothing (the device accepts such a rule silently).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from zonepolicy.semantics.packetset import PacketSet

from .base import ReadPair, ReadRule

Service = dict[str, list[tuple[int, int]]]


@dataclass
class _Rule:
    """One rule as written: its id, verdict and the names it references."""

    rule_id: int
    family: int
    accept: bool = False
    src_zones: list[str] = field(default_factory=list)
    dst_zones: list[str] = field(default_factory=list)
    src: list[str] = field(default_factory=list)
    dst: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    note: str = ""
    has_action: bool = False


@dataclass
class _Config:
    zones: dict[str, list[str]] = field(default_factory=dict)  # zone (lower case) -> interfaces
    addresses: dict[str, tuple[int, list[ipaddress.IPv4Network | ipaddress.IPv6Network]]] = field(default_factory=dict)
    services: dict[str, list[Service]] = field(default_factory=dict)
    security: dict[int, dict[int, _Rule]] = field(default_factory=lambda: {4: {}, 6: {}})
    objects: dict[tuple[int, str], dict[int, _Rule]] = field(default_factory=dict)
    zone_pairs: dict[tuple[str, str], dict[int, str]] = field(default_factory=dict)


def _fail(lineno: int, line: str, why: str) -> ValueError:
    return ValueError(f"line {lineno}: {why}: {line.strip()[:80]!r}")


def _int(text: str, hi: int, lineno: int, line: str) -> int:
    if not text.isdigit() or int(text) > hi:
        raise _fail(lineno, line, f"'{text[:20]}' is not a number 0-{hi}")
    return int(text)


def _network(family: int, words: list[str], lineno: int, line: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        if words[:2] == ["host", "address"] and len(words) == 3:
            addr = ipaddress.ip_address(words[2])
            net = ipaddress.ip_network(f"{addr}/{addr.max_prefixlen}")
        elif words[0] == "subnet" and len(words) == 3:
            net = ipaddress.ip_network(f"{words[1]}/{words[2]}")  # mask or prefix length; host bits refused
        else:
            raise ValueError("unknown member")
    except ValueError as err:
        raise _fail(lineno, line, f"not an address member ({err})") from None
    if net.version != family:
        raise _fail(lineno, line, f"an IPv{net.version} member in an IPv{family} group")
    return net


def _service(words: list[str], lineno: int, line: str) -> Service:
    """One ``service …`` member as PacketSet.build arguments."""
    if not words:
        raise _fail(lineno, line, "empty service")
    head, rest = words[0], words[1:]
    if head in ("tcp", "udp"):
        proto = 6 if head == "tcp" else 17
        if not rest:
            return {"proto": [(proto, proto)]}
        if rest[0] != "destination" or len(rest) < 3:
            raise _fail(lineno, line, "only destination ports are read")
        op, args = rest[1], rest[2:]
        if op == "eq" and len(args) == 1:
            p = _int(args[0], 65535, lineno, line)
            ports = (p, p)
        elif op == "range" and len(args) == 2:
            ports = (_int(args[0], 65535, lineno, line), _int(args[1], 65535, lineno, line))
            if ports[0] > ports[1]:
                raise _fail(lineno, line, "empty port range")
        elif op == "lt" and len(args) == 1 and _int(args[0], 65535, lineno, line) > 0:
            ports = (0, int(args[0]) - 1)
        elif op == "gt" and len(args) == 1 and _int(args[0], 65535, lineno, line) < 65535:
            ports = (int(args[0]) + 1, 65535)
        else:
            raise _fail(lineno, line, "unknown port match")
        return {"proto": [(proto, proto)], "dport": [ports]}
    if head in ("icmp", "icmpv6"):
        proto = 1 if head == "icmp" else 58
        if len(rest) > 2:
            raise _fail(lineno, line, "unknown ICMP match")
        out: Service = {"proto": [(proto, proto)]}
        if rest:
            t = _int(rest[0], 255, lineno, line)
            out["icmp_type"] = [(t, t)]
        if len(rest) == 2:
            c = _int(rest[1], 255, lineno, line)
            out["icmp_code"] = [(c, c)]
        return out
    if not rest:
        p = _int(head, 255, lineno, line)
        return {"proto": [(p, p)]}
    raise _fail(lineno, line, "unknown service")


def _rule_id(text: str, table: dict[int, _Rule], lineno: int, line: str, new: bool) -> int:
    rid = _int(text, 65534, lineno, line)
    if new and rid in table:
        raise _fail(lineno, line, f"rule {rid} defined twice")
    if not new and rid not in table:
        raise _fail(lineno, line, f"rule {rid} is not defined")
    return rid


def parse(text: str) -> _Config:
    """The configuration as names and rules (strict; see the module docstring)."""
    cfg = _Config()
    block: tuple[str, ...] = ()
    rule: _Rule | None = None
    seen_members: set[int] = set()
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        words = line.split()
        if not line.startswith(" "):
            block, rule = (), None
            seen_members = set()
            if words == ["#"] or words == ["return"]:
                continue
            lower = [w.lower() for w in words]
            if lower[:2] == ["security-zone", "name"] and len(words) == 3:
                if lower[2] in cfg.zones:
                    raise _fail(lineno, line, "zone defined twice")
                cfg.zones[lower[2]] = []
                block = ("zone", lower[2])
            elif lower[:1] == ["object-group"] and len(words) == 4 and lower[1] in ("ip", "ipv6") \
                    and lower[2] == "address":
                if lower[3] in cfg.addresses:
                    raise _fail(lineno, line, "address group defined twice")
                family = 4 if lower[1] == "ip" else 6
                cfg.addresses[lower[3]] = (family, [])
                block = ("address", lower[3])
            elif lower[:2] == ["object-group", "service"] and len(words) == 3:
                if lower[2] in cfg.services:
                    raise _fail(lineno, line, "service group defined twice")
                cfg.services[lower[2]] = []
                block = ("service", lower[2])
            elif lower[:1] == ["security-policy"] and len(words) == 2 and lower[1] in ("ip", "ipv6"):
                block = ("security", "4" if lower[1] == "ip" else "6")
            elif lower[:1] == ["object-policy"] and len(words) == 3 and lower[1] in ("ip", "ipv6"):
                key = (4 if lower[1] == "ip" else 6, lower[2])
                if key in cfg.objects:
                    raise _fail(lineno, line, "object policy defined twice")
                cfg.objects[key] = {}
                block = ("object", lower[1], lower[2])
            elif lower[:4] == ["zone-pair", "security", "source", lower[3] if len(words) > 3 else ""] \
                    and len(words) == 6 and lower[4] == "destination":
                pair = (lower[3], lower[5])
                if pair in cfg.zone_pairs:
                    raise _fail(lineno, line, "zone pair defined twice")
                cfg.zone_pairs[pair] = {}
                block = ("pair", *pair)
            else:
                raise _fail(lineno, line, "unknown command")
            continue
        if not block:
            raise _fail(lineno, line, "indented line outside a block")
        kind = block[0]
        if kind == "zone":
            if words[:2] != ["import", "interface"] or len(words) != 3:
                raise _fail(lineno, line, "unknown zone command")
            if any(words[2] in ifs for ifs in cfg.zones.values()):
                raise _fail(lineno, line, "interface imported twice")
            cfg.zones[block[1]].append(words[2])
        elif kind in ("address", "service"):
            if len(words) < 2 or not words[0].isdigit():
                raise _fail(lineno, line, "a group member needs an id")
            member_id = int(words[0])
            if member_id in seen_members:
                raise _fail(lineno, line, "member id repeated")
            seen_members.add(member_id)
            if kind == "address":
                if words[1] != "network":
                    raise _fail(lineno, line, "unknown address member")
                family, nets = cfg.addresses[block[1]]
                nets.append(_network(family, words[2:], lineno, line))
            else:
                if words[1] != "service":
                    raise _fail(lineno, line, "unknown service member")
                cfg.services[block[1]].append(_service(words[2:], lineno, line))
        elif kind == "security":
            family = int(block[1])
            table = cfg.security[family]
            if line.startswith("  ") and rule is not None:
                _security_option(rule, words, lineno, line)
            elif words[0] == "rule" and len(words) == 4 and words[2] == "name":
                rid = _rule_id(words[1], table, lineno, line, new=True)
                rule = table[rid] = _Rule(rid, family, note=words[3])
            else:
                raise _fail(lineno, line, "unknown security-policy command")
        elif kind == "object":
            family = 4 if block[1] == "ip" else 6
            table = cfg.objects[(family, block[2])]
            if words[0] != "rule" or len(words) < 3:
                raise _fail(lineno, line, "unknown object-policy command")
            if words[2] == "comment":
                rid = _rule_id(words[1], table, lineno, line, new=False)
                table[rid].note = " ".join(words[3:])
                continue
            rid = _rule_id(words[1], table, lineno, line, new=True)
            table[rid] = _object_rule(rid, family, words[2:], lineno, line)
        elif kind == "pair":
            if words[:2] != ["object-policy", "apply"] or len(words) != 4 or words[2] not in ("ip", "ipv6"):
                raise _fail(lineno, line, "unknown zone-pair command")
            family = 4 if words[2] == "ip" else 6
            applied = cfg.zone_pairs[(block[1], block[2])]
            if family in applied:
                raise _fail(lineno, line, "two object policies for one family")
            applied[family] = words[3].lower()
    if any(cfg.security.values()) and (cfg.objects or cfg.zone_pairs):
        raise ValueError("both the security-policy and the object-policy dialect are configured")
    for zone, ifs in cfg.zones.items():
        if len(ifs) != 1:
            raise ValueError(f"zone {zone} has {len(ifs)} interfaces; the back end gives each interface a zone")
    return cfg


def _security_option(rule: _Rule, words: list[str], lineno: int, line: str) -> None:
    key, args = words[0], words[1:]
    if key == "description":
        rule.note = " ".join(args)
    elif key == "action" and args in (["pass"], ["drop"]):
        if rule.has_action:
            raise _fail(lineno, line, "two actions")
        rule.accept, rule.has_action = args == ["pass"], True
    elif key == "logging" and args == ["enable"]:
        pass
    elif len(args) == 1 and key in ("source-zone", "destination-zone", "source-ip", "destination-ip", "service"):
        target = {"source-zone": rule.src_zones, "destination-zone": rule.dst_zones, "source-ip": rule.src,
                  "destination-ip": rule.dst, "service": rule.services}[key]
        target.append(args[0].lower())
    else:
        raise _fail(lineno, line, "unknown security-policy rule option")


def _object_rule(rid: int, family: int, words: list[str], lineno: int, line: str) -> _Rule:
    if words[0] not in ("pass", "drop"):
        raise _fail(lineno, line, "an object-policy rule needs pass or drop")
    rule = _Rule(rid, family, accept=words[0] == "pass", has_action=True)
    rest = words[1:]
    slots = {"source-ip": rule.src, "destination-ip": rule.dst, "service": rule.services}
    while rest:
        if rest[0] == "logging":
            rest = rest[1:]
        elif rest[0] in slots and len(rest) >= 2 and not slots[rest[0]]:
            slots[rest[0]].append(rest[1].lower())
            rest = rest[2:]
        else:
            raise _fail(lineno, line, "unknown object-policy rule option")
    return rule


class _Sets:
    """Rules as packet sets, with the groups' sets memoised."""

    def __init__(self, cfg: _Config) -> None:
        self.cfg = cfg
        self.memo: dict[tuple[int, int], PacketSet] = {}
        self._factors: dict[tuple, PacketSet] = {}

    def _nets(self, family: int, names: list[str]) -> list | None:
        if not names:
            return None  # any
        nets = []
        for name in names:
            found = self.cfg.addresses.get(name)
            if found is not None and found[0] == family:
                nets.extend(found[1])  # a missing group (or one of the other family) matches nothing
        return nets

    def rule(self, rule: _Rule) -> PacketSet:
        key = (id(rule), rule.family)
        found = self.memo.get(key)
        if found is None:
            found = self.memo[key] = self._factored(rule)
        return found

    def _factor(self, kind: str, family: int, names: list[str]) -> PacketSet:
        """The packets of one side (or the services) of a rule: thousands of rules share them."""
        key = (kind, family, tuple(names))
        found = self._factors.get(key)
        if found is None:
            if kind == "svc":
                found = PacketSet.empty()
                for member in [m for name in names for m in self.cfg.services.get(name, [])] if names else [{}]:
                    found = found | PacketSet.build(family=family, **member)
            else:
                nets = self._nets(family, names)
                found = PacketSet.build(family=family) if nets is None else \
                    PacketSet.build(family=family, **{kind: nets}) if nets else PacketSet.empty()
            self._factors[key] = found
        return found

    def _factored(self, rule: _Rule) -> PacketSet:
        return (self._factor("src", rule.family, rule.src) & self._factor("dst", rule.family, rule.dst)
                & self._factor("svc", rule.family, rule.services))

    def rule_plain(self, rule: _Rule) -> PacketSet:
        """:meth:`rule` from the rule's own parts, nothing shared: the reference."""
        src, dst = self._nets(rule.family, rule.src), self._nets(rule.family, rule.dst)
        if src == [] or dst == []:
            result = PacketSet.empty()
        else:
            services: list[Service] = [{}] if not rule.services else \
                [m for name in rule.services for m in self.cfg.services.get(name, [])]
            result = PacketSet.empty()
            for member in services:
                result = result | PacketSet.build(family=rule.family, src=src, dst=dst, **member)
        return result


def read_config(text: str) -> list[ReadPair]:
    """First-match rules per interface pair of an emitted configuration (either dialect)."""
    cfg = parse(text)
    sets = _Sets(cfg)
    iface = {zone: ifs[0] for zone, ifs in cfg.zones.items()}
    pairs = []
    for zin in sorted(iface):
        for zout in sorted(iface):
            if zin == zout:
                continue
            rules: list[_Rule] = []
            if any(cfg.security.values()):
                for family in (4, 6):
                    rules += [r for _, r in sorted(cfg.security[family].items())
                              if (not r.src_zones or zin in r.src_zones) and (not r.dst_zones or zout in r.dst_zones)]
            else:
                applied = cfg.zone_pairs.get((zin, zout), {})
                for family in (4, 6):
                    name = applied.get(family)
                    if name is not None:
                        rules += [r for _, r in sorted(cfg.objects.get((family, name), {}).items())]
            if rules:
                pairs.append(ReadPair(iface[zin], iface[zout], tuple(
                    ReadRule(sets.rule(r), r.accept, r.note) for r in rules)))
    return pairs
