"""Hypothesis strategies for random *valid* zonepolicy sources (``.zp`` text) and their pieces.

A policy is made in two steps: a structured description (:class:`PolicySpec`: zones, objects,
flows, firewalls, waivers) that is valid by construction, then its rendering as text with random
but legal layout — one-line or multi-line blocks, ``;`` or newlines between items, blank lines,
and ``#`` comments on their own line, at the end of a line, inside blocks and now and then in the
middle of a statement. Every text drawn from :func:`policies` or :func:`small_policies` loads with
``zonepolicy.api.load`` (``tests/test_strategies.py`` checks that on many examples).

Hypothesis draws the sizes (how many zones, flows, …) and a seed; the details come from a
``random.Random`` seeded with it. Drawing every detail through hypothesis costs about half a second
per policy, this way it costs a millisecond, and shrinking still reduces the sizes first.

Public entry points:

* :func:`policies` / :func:`small_policies` — whole policies as source text;
* :func:`policy_specs` and :func:`render_policy` — the structure and its rendering, for tests that
  need to know what was generated (zone names, flow ids, …);
* the pieces: :func:`policy_headers`, :func:`zone_trees`, :func:`address_objects`,
  :func:`service_objects`, :func:`service_literals`, :func:`networks`, :func:`comments`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import random
from dataclasses import dataclass
from typing import Sequence, TypeVar

from hypothesis import strategies as st

from zonepolicy.compilers import TARGETS
from zonepolicy.dsl.parser import keywords
from zonepolicy.dsl.syntax import quote
from zonepolicy.model.grading import grading_matrix
from zonepolicy.model.values import ICMP_TYPES, ICMPV6_TYPES, ZoneKind

T = TypeVar("T")

BUILTIN_SERVICES = (
    "ssh", "telnet", "ftp", "smtp", "http", "https", "dns", "ntp", "snmp", "snmp-trap", "syslog", "ldap", "ldaps",
    "ocsp", "rdp", "mysql", "postgres", "oracle", "rsync", "sip", "ipsec", "ping", "tcp", "udp", "icmp", "icmpv6",
)
# Disjoint pools, so a zone, an address object and a service never share a name by accident.
TOP_ZONE_NAMES = (
    "public", "internet-access", "mgmt", "backbone", "cloud", "dr", "core", "dmz", "ops", "partner", "extranet",
    "dc1", "dc2", "lab", "guest", "video", "office", "hq", "branch_1", "Zone9",
)
ZONE_GROUPS = ("dedicated", "city", "dept")  # prefixes of dotted top-level zones, never zones themselves
CHILD_NAMES = ("portal", "tax", "police", "web", "db", "app", "nanjing", "suzhou", "a", "b", "c1", "core-2")
ANY_ZONE_NAMES = ("internet", "outside", "wan")
ADDRESS_NAMES = (
    "ca-server", "dr-backup", "ntp-pool", "dns1", "jump-host", "h1", "grp-a", "grp_b", "log-collector", "mail-gw",
    "web-farm", "proxy", "bastion", "kms", "pki",
)
SERVICE_NAMES = ("web", "backup", "app-rpc", "db-sync", "mon", "svc-a", "svc_b", "video-stream", "mq", "krb")
FIREWALL_NAMES = ("edge", "prov-core", "nj-edge", "fw1", "dc_fw")
INSPECT_NAMES = ("http", "dns", "ftp", "sip", "tls")
VPN_NAMES = ("tax-vpn", "police-vpn", "vpn_1", "mpls.red")
PACKS = ("mlps-2.0", "egov-extranet", "mlps-2.0.1", "egov.v2")
TEXTS = (
    "", "edge", "公用网络区", "税务专网", "互联网接入区", "运维管理区", "mixed 中文 and ASCII", 'has "quotes"',
    "back\\slash", "tab\tinside", "{ braces } and ; semis", "# not a comment", "电子认证服务", "省级骨干网",
    "a long description that goes on for a while so that one-line blocks get too wide to stay on one line",
)
COMMENT_TEXTS = (
    "#", "# note", "#no space", "## heading", "# ---- zones ----", "# 省电子认证系统", "# { not a block }",
    '# "quoted" text', "# a; b; c", "# -> arrows : colons", "# TODO(ops): review 2027-01-01", "#\tTabbed",
    "# allow a -> b", "# 备注：跨区访问需审批", "#!", "# trailing # hash",
)

_NAME_POOLS = (TOP_ZONE_NAMES, ZONE_GROUPS, CHILD_NAMES, ANY_ZONE_NAMES, ADDRESS_NAMES, SERVICE_NAMES)
# A generated name that happened to be a keyword would test contextual keywords by accident.
assert not keywords() & {n for pool in _NAME_POOLS for n in pool}
assert not set(SERVICE_NAMES) & set(BUILTIN_SERVICES)


# ---------------------------------------------------------------- the structure

@dataclass(frozen=True)
class ZoneSpec:
    """One zone as generated; ``networks`` holds the literal texts (or ``("any",)``)."""

    name: str
    networks: tuple[str, ...]
    description: str | None = None
    kind: str | None = None
    level: int | None = None
    grading: tuple[tuple[str, str], tuple[str, str]] | None = None  # (business-info, system-service)
    important: bool = False
    classified: bool = False
    vpn: str | None = None
    owner: str | None = None
    description_item: str | None = None
    hosted_on: str | None = None

    def items(self) -> list[str | tuple[str, list[str]]]:
        """The block items as text; a nested block (grading) is ``(head, items)``."""
        out: list[str | tuple[str, list[str]]] = []
        if self.kind is not None:
            out.append(f"kind {self.kind}")
        if self.level is not None:
            out.append(f"level {self.level}")
        if self.grading is not None:
            (bo, bd), (so, sd) = self.grading
            out.append(("grading", [f"business-info {bo} {bd}", f"system-service {so} {sd}"]))
        if self.important:
            out.append("important")
        if self.classified:
            out.append("classified")
        if self.vpn is not None:
            out.append(f"vpn {self.vpn}")
        if self.owner is not None:
            out.append(f"owner {quote(self.owner)}")
        if self.description_item is not None:
            out.append(f"description {quote(self.description_item)}")
        if self.hosted_on is not None:
            out.append(f"hosted-on {self.hosted_on}")
        if self.networks:
            out.append("networks " + ", ".join(self.networks))
        return out


@dataclass(frozen=True)
class ObjectSpec:
    kind: str  # "address" or "service"
    name: str
    members: tuple[str, ...]
    description: str | None = None


@dataclass(frozen=True)
class FlowSpec:
    action: str
    sources: tuple[str, ...]
    destinations: tuple[str, ...]
    services: tuple[str, ...]
    options: tuple[str, ...] | None  # None: no option block at all
    id: str | None = None  # the explicit id, when the flow has one


@dataclass(frozen=True)
class FirewallSpec:
    name: str
    target: str
    interfaces: tuple[tuple[str, tuple[str, ...]], ...]  # (interface as written, zones bound)
    description: str | None = None
    description_item: str | None = None


@dataclass(frozen=True)
class WaiverSpec:
    rule: str
    scope: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]] | None  # (sources, destinations, services)
    items: tuple[str, ...]


@dataclass(frozen=True)
class PolicySpec:
    name: str
    description: str | None
    header_items: tuple[str, ...]
    zones: tuple[ZoneSpec, ...]
    objects: tuple[ObjectSpec, ...]
    flows: tuple[FlowSpec, ...]
    firewalls: tuple[FirewallSpec, ...]
    waivers: tuple[WaiverSpec, ...]

    @property
    def zone_names(self) -> tuple[str, ...]:
        return tuple(z.name for z in self.zones)

    @property
    def address_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.objects if o.kind == "address")

    @property
    def service_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.objects if o.kind == "service")


@dataclass(frozen=True)
class Sizes:
    """Upper bounds for one generated policy (hypothesis draws the actual counts below them)."""

    top_zones: int = 5
    children: int = 3
    grandchildren: bool = True
    addresses: int = 4
    services: int = 3
    flows: int = 10
    firewalls: int = 2
    waivers: int = 2


SMALL = Sizes(top_zones=3, children=1, grandchildren=False, addresses=2, services=1, flows=4, firewalls=1, waivers=1)


# ---------------------------------------------------------------- builders over a seeded Random

class Gen:
    """Builds valid pieces from a ``random.Random``; every method is deterministic in the seed."""

    def __init__(self, rng: random.Random) -> None:
        self.r = rng

    def chance(self, p: float) -> bool:
        return self.r.random() < p

    def pick(self, seq: Sequence[T]) -> T:
        return seq[self.r.randrange(len(seq))]

    def sample(self, seq: Sequence[T], k: int) -> list[T]:
        return self.r.sample(list(seq), min(k, len(seq)))

    def text(self) -> str:
        return self.pick(TEXTS)

    def date(self) -> str:
        start = dt.date(2024, 1, 1)
        return (start + dt.timedelta(days=self.r.randrange(365 * 7))).isoformat()

    def port(self) -> int:
        # Boundaries and well-known ports are where parsers go wrong; mix them with anything.
        return self.pick((0, 1, 22, 443, 1023, 1024, 65535, self.r.randrange(65536), self.r.randrange(65536)))

    # ---- values
    def network(self, family: int | None = None) -> str:
        """A valid prefix or host address anywhere in 10/8, 192.0.2/24, fd00::/8 or 2001:db8::/32."""
        family = family or self.pick((4, 6))
        outer = ipaddress.ip_network(self.pick(("10.0.0.0/8", "192.0.2.0/24") if family == 4
                                               else ("fd00::/8", "2001:db8::/32")))
        lens = range(outer.prefixlen, outer.max_prefixlen + 1)
        plen = self.pick(list(lens) if family == 4 else [n for n in (8, 16, 32, 48, 56, 64, 96, 127, 128) if n in lens])
        offset = self.r.randrange(outer.num_addresses)
        net = ipaddress.ip_network((int(outer.network_address) + offset, plen), strict=False)
        if plen == outer.max_prefixlen and self.chance(0.5):
            return str(net.network_address)
        return str(net)

    def service_literal(self) -> str:
        proto = self.pick(("tcp", "udp", "sctp", "icmp", "icmpv6", "ip"))
        if proto in ("tcp", "udp", "sctp"):
            shape = self.pick(("port", "port", "range", "any"))
            if shape == "any":
                return f"{proto}/any"
            lo = self.port()
            return f"{proto}/{lo}" if shape == "port" else f"{proto}/{lo}-{self.r.randint(lo, 65535)}"
        if proto in ("icmp", "icmpv6"):
            names = ICMP_TYPES if proto == "icmp" else ICMPV6_TYPES
            kind = self.pick(("any", self.pick(sorted(names)), str(self.pick((0, 255, self.r.randrange(256))))))
            if kind != "any" and self.chance(0.4):
                kind += f":{self.pick((0, 255, self.r.randrange(256)))}"
            return f"{proto}/{kind}"
        return "ip/" + self.pick(("any", "gre", "esp", "ah", "ospf", "vrrp", "tcp", str(self.r.randrange(256))))

    # ---- header
    def header(self) -> tuple[str, str | None, tuple[str, ...]]:
        name = self.pick(("quickstart", "jiangsu_extranet", "p", "Prov-1", "test.policy"))
        desc = self.text() if self.chance(0.7) else None
        items = [f"default {self.pick(('deny', 'allow'))}", f"intrazone {self.pick(('allow', 'deny'))}"]
        if self.chance(0.5):
            items.append(f"standard {self.pick(PACKS)}")
        if self.chance(0.5):
            items.append(f"model {self.pick(PACKS)}")
        if self.chance(0.2):
            items.append(f"description {quote(self.text())}")
        self.r.shuffle(items)
        return name, desc, tuple(items)

    # ---- zones
    def level_or_grading(self) -> tuple[int | None, tuple[tuple[str, str], tuple[str, str]] | None]:
        """A level, GB/T 22240 grading inputs, both (then consistent with the matrix), or neither."""
        matrix = grading_matrix()
        choice = self.pick(("none", "level", "grading", "both"))
        if choice == "none":
            return None, None
        if choice == "level":
            return self.r.randint(1, 5), None
        business = (self.pick(matrix.objects), self.pick(matrix.degrees))
        service = (self.pick(matrix.objects), self.pick(matrix.degrees))
        level = max(matrix.level(*business), matrix.level(*service))
        return (level if choice == "both" else None), (business, service)

    def zone(self, name: str, networks: tuple[str, ...], kind: str | None = None) -> ZoneSpec:
        level, grading = self.level_or_grading()
        if kind is None and self.chance(0.5):
            kind = self.pick([k.value for k in ZoneKind])
        return ZoneSpec(
            name=name, networks=networks, kind=kind, level=level, grading=grading,
            description=self.text() if self.chance(0.6) else None,
            important=self.chance(0.2), classified=self.chance(0.1),
            vpn=self.pick(VPN_NAMES) if self.chance(0.2) else None,
            owner=self.text() if self.chance(0.2) else None,
            description_item=self.text() if self.chance(0.1) else None,
        )

    def zone_tree(self, top: int, children: int, grandchildren: bool, any_zone: bool) -> tuple[ZoneSpec, ...]:
        """Disjoint top-level zones, sub-zones inside their parent's networks, at most one ``any`` zone.

        A dotted top-level name such as ``dedicated.tax`` has an undeclared prefix, as in the
        quickstart; ``dedicated.*`` still matches it.
        """
        bases = self.sample(TOP_ZONE_NAMES + CHILD_NAMES, top)
        slots = self.sample(range(256), top)
        zones: list[ZoneSpec] = []
        for base, k in zip(bases, slots):
            name = f"{self.pick(ZONE_GROUPS)}.{base}" if base in CHILD_NAMES or self.chance(0.2) else base
            families = self.pick(("v4", "v4", "v6", "both", "both"))
            nets: list[str] = []
            if families in ("v4", "both"):
                nets.append(f"10.{k}.0.0/16")
                if self.chance(0.15):
                    nets.append(f"172.16.{k}.0/24")
            if families in ("v6", "both"):
                nets.append(f"fd00:{k:x}::/32" if self.chance(0.5) else f"2001:db8:{k:x}::/48")
            self.r.shuffle(nets)
            zones.append(self.zone(name, tuple(nets)))
            self._children(zones, zones[-1], children, 2 if grandchildren else 1)
        if any_zone:
            zones.append(self.zone(self.pick(ANY_ZONE_NAMES), ("any",), kind=self.pick(("external", None))))
        names = [z.name for z in zones]
        return tuple(dataclasses.replace(z, hosted_on=self.pick(names)) if self.chance(0.1) else z for z in zones)

    def _children(self, zones: list[ZoneSpec], parent: ZoneSpec, most: int, depth: int) -> None:
        if depth <= 0 or most <= 0:
            return
        n = self.r.randint(0, most)
        for child, idx in zip(self.sample(CHILD_NAMES, n), self.sample(range(256), n)):
            nets = tuple(sub for net in parent.networks if self.chance(0.75) and (sub := _subnet(net, idx)))
            zones.append(self.zone(f"{parent.name}.{child}", nets))
            if nets:
                self._children(zones, zones[-1], most - 1, depth - 1)

    # ---- objects
    def address_objects(self, n: int) -> tuple[ObjectSpec, ...]:
        """Address objects and groups; a group names only objects defined before it (no cycles)."""
        out: list[ObjectSpec] = []
        for name in self.sample(ADDRESS_NAMES, n):
            members = []
            for _ in range(self.r.randint(1, 3)):
                roll = self.r.random()
                if roll < 0.1:
                    members.append("any")
                elif roll < 0.4 and out:
                    members.append(self.pick(out).name)
                else:
                    members.append(self.network())
            out.append(ObjectSpec("address", name, tuple(members), self.text() if self.chance(0.4) else None))
        return tuple(out)

    def service_objects(self, n: int) -> tuple[ObjectSpec, ...]:
        """Service objects and groups over literals, built-in services and earlier objects."""
        out: list[ObjectSpec] = []
        for name in self.sample(SERVICE_NAMES, n):
            pool = list(BUILTIN_SERVICES) + [o.name for o in out]
            members = tuple(self.pick(pool) if self.chance(0.3) else self.service_literal()
                            for _ in range(self.r.randint(1, 3)))
            out.append(ObjectSpec("service", name, members, self.text() if self.chance(0.4) else None))
        return tuple(out)

    # ---- flows
    def endpoint(self, zones: Sequence[str], addresses: Sequence[str]) -> tuple[str, str]:
        """An endpoint as written and the ``kind:name`` key the automatic flow id hashes."""
        prefixes = _prefixes(zones)
        kinds = ["name", "name", "all", "zone", "zone-all", "literal"]
        kinds += ["children", "zone-children"] if prefixes else []
        kinds += ["address", "address-name"] if addresses else []
        kind = self.pick(kinds)
        if kind == "name":
            z = self.pick(zones)
            return z, f"name:{z}"
        if kind == "all":
            return "*", "all:*"
        if kind == "zone":
            z = self.pick(zones)
            return f"zone({z})", f"zone:{z}"
        if kind == "zone-all":
            return "zone(*)", "zone-all:*"
        if kind == "children":
            p = self.pick(prefixes)
            return f"{p}.*", f"children:{p}"
        if kind == "zone-children":
            p = self.pick(prefixes)
            return f"zone({p}.*)", f"zone-children:{p}"
        if kind == "address":
            a = self.pick(addresses)
            return f"address({a})", f"address:{a}"
        if kind == "address-name":
            a = self.pick(addresses)
            return a, f"name:{a}"
        net = self.network()
        return net, f"literal:{net}"

    def flow_options(self, zones: Sequence[str]) -> list[str]:
        opts: list[str] = []
        if self.chance(0.5):
            opts.append("log")
        state = self.pick((None, None, "stateful", "stateless"))
        if state:
            opts.append(state)
        if self.chance(0.25):
            opts.append(f"inspect {self.pick(INSPECT_NAMES)}")
        if self.chance(0.2):
            opts.append(f"via {self.pick(zones)}")
        if self.chance(0.25):
            opts.append(f"ticket {quote(self.pick(('JS-2024-117', 'CHG0001', '工单 42')))}")
        if self.chance(0.2):
            opts.append(f"comment {quote(self.text())}")
        if self.chance(0.2):
            opts.append(f"expires {self.date()}")
        self.r.shuffle(opts)
        return opts

    def flows(self, n: int, zones: Sequence[str], addresses: Sequence[str] = (),
              services: Sequence[str] = ()) -> tuple[FlowSpec, ...]:
        """Flows whose ids (explicit or automatic) are unique."""
        prefix = self.pick(("r", "JS", "fw_x"))
        ids = iter(f"{prefix}-{k}" for k in self.sample(range(1000), n))
        pool = list(BUILTIN_SERVICES) + list(services)
        seen: set[tuple] = set()
        out: list[FlowSpec] = []
        for _ in range(n):
            action = self.pick(("allow", "allow", "deny"))
            src = [self.endpoint(zones, addresses) for _ in range(self.r.randint(1, 3))]
            dst = [self.endpoint(zones, addresses) for _ in range(self.r.randint(1, 3))]
            svcs = [self.pick(pool) if self.chance(0.6) else self.service_literal() for _ in range(self.r.randint(0, 3))]
            opts = self.flow_options(zones) if self.chance(0.5) else None
            fid = next(ids)
            key = (action, tuple(sorted(k for _, k in src)), tuple(sorted(k for _, k in dst)), tuple(sorted(svcs)))
            explicit = key in seen or self.chance(0.2)
            if explicit:
                # The same flow twice would get the same automatic id; an explicit one keeps them apart.
                opts = [*(opts or []), f"id {fid}"]
                self.r.shuffle(opts)
            else:
                seen.add(key)
            out.append(FlowSpec(action, tuple(t for t, _ in src), tuple(t for t, _ in dst), tuple(svcs),
                                None if opts is None else tuple(opts), fid if explicit else None))
        return tuple(out)

    # ---- firewalls and waivers
    def firewalls(self, n: int, zones: Sequence[str]) -> tuple[FirewallSpec, ...]:
        """Firewalls with a known target whose interfaces never bind one zone twice."""
        prefixes = _prefixes(zones)
        out: list[FirewallSpec] = []
        for name in self.sample(FIREWALL_NAMES, n):
            style = self.pick(_IFNAME_STYLES)
            bound: set[str] = set()
            interfaces: list[tuple[str, tuple[str, ...]]] = []
            for number in range(self.r.randint(1, 4)):
                refs: list[str] = []
                for _ in range(self.r.randint(1, 2)):
                    if prefixes and self.chance(0.25):
                        p = self.pick(prefixes)
                        ref, heads = f"{p}.*", {z for z in zones if z.startswith(p + ".")}
                    else:
                        ref = self.pick(zones)
                        heads = {ref}
                    if not heads & bound:
                        bound |= heads
                        refs.append(ref)
                if refs:
                    interfaces.append((style(number), tuple(refs)))
            out.append(FirewallSpec(name, self.pick(TARGETS), tuple(interfaces),
                                    self.text() if self.chance(0.5) else None,
                                    "managed by ops" if self.chance(0.15) else None))
        return tuple(out)

    def waivers(self, n: int, zones: Sequence[str], addresses: Sequence[str] = ()) -> tuple[WaiverSpec, ...]:
        """Waivers with the reason, owner and expiry each needs, sometimes a ticket and a scope."""
        out: list[WaiverSpec] = []
        for _ in range(n):
            scope = None
            if self.chance(0.5):
                src = tuple(self.endpoint(zones, addresses)[0] for _ in range(self.r.randint(1, 2)))
                dst = tuple(self.endpoint(zones, addresses)[0] for _ in range(self.r.randint(1, 2)))
                svcs = tuple(self.pick(BUILTIN_SERVICES) if self.chance(0.5) else self.service_literal()
                             for _ in range(self.r.randint(0, 2)))
                scope = (src, dst, svcs)
            items = [f"reason {quote(self.text())}", f"owner {quote(self.pick(('ops', '安全组', 'sec')))}",
                     f"expires {self.date()}"]
            if self.chance(0.5):
                items.append(f"ticket {quote('RISK-7')}")
            self.r.shuffle(items)
            out.append(WaiverSpec(self.pick(("BND-14", "ZM-3", "LVL-1", "X_9")), scope, tuple(items)))
        return tuple(out)

    def policy(self, counts: Sizes, any_zone: bool) -> PolicySpec:
        name, desc, header_items = self.header()
        zones = self.zone_tree(counts.top_zones, counts.children, counts.grandchildren, any_zone)
        names = tuple(z.name for z in zones)
        addrs = self.address_objects(counts.addresses)
        svcs = self.service_objects(counts.services)
        addr_names = tuple(o.name for o in addrs)
        return PolicySpec(
            name=name, description=desc, header_items=header_items, zones=zones, objects=addrs + svcs,
            flows=self.flows(counts.flows, names, addr_names, tuple(o.name for o in svcs)),
            firewalls=self.firewalls(counts.firewalls, names),
            waivers=self.waivers(counts.waivers, names, addr_names),
        )


_IFNAME_STYLES = (
    lambda n: f"eth{n}", lambda n: f"GE1/0/{n}", lambda n: f"ge-0/0/{n}.0", lambda n: f"Gi0/{n}",
    lambda n: quote(f"Port {n}"), lambda n: f"port{n}:1",
)


def _subnet(net: str, index: int) -> str | None:
    """The ``index``-th subnet eight bits longer than ``net``, or None when ``net`` has no room."""
    parent = ipaddress.ip_network(net)
    if parent.prefixlen + 8 > parent.max_prefixlen:
        return None
    step = 1 << (parent.max_prefixlen - parent.prefixlen - 8)
    return str(ipaddress.ip_network((int(parent.network_address) + index * step, parent.prefixlen + 8)))


def _prefixes(zone_names: Sequence[str]) -> list[str]:
    """Every ``x`` for which ``x.*`` matches at least one zone."""
    found: set[str] = set()
    for name in zone_names:
        parts = name.split(".")
        for i in range(1, len(parts)):
            found.add(".".join(parts[:i]))
    return sorted(found)


# ---------------------------------------------------------------- rendering

class Renderer:
    """Random legal layout for a policy; comments only when asked for."""

    def __init__(self, rng: random.Random, with_comments: bool = True) -> None:
        self.r = rng
        self.with_comments = with_comments

    def _maybe(self, p: float) -> bool:
        return self.with_comments and self.r.random() < p

    def comment(self) -> str:
        return COMMENT_TEXTS[self.r.randrange(len(COMMENT_TEXTS))]

    def leading(self, indent: str = "") -> str:
        out = ""
        for _ in range(2):
            if self._maybe(0.15):
                out += indent + self.comment() + "\n"
        return out

    def trailing(self) -> str:
        return " " * self.r.randint(1, 3) + self.comment() if self._maybe(0.15) else ""

    def block(self, head: str, items: Sequence[str | tuple[str, list[str]]], force_multi: bool = False,
              indent: str = "") -> str:
        """``head { items }`` on one line or several; an item may be a nested ``(head, items)`` block."""
        if not force_multi and self.r.random() < 0.5:
            parts = [it if isinstance(it, str) else self.block(it[0], it[1], False, indent) for it in items]
            inner = self.r.choice(("; ", ";", " ; ")).join(parts)
            if parts and self.r.random() < 0.25:
                inner += ";"
            return f"{head} {{ {inner} }}" if inner else self.r.choice((f"{head} {{}}", f"{head} {{ }}"))
        inner_indent = indent + self.r.choice(("    ", "    ", "  ", "\t"))
        lines = [f"{head} {{" + self.trailing()]
        for it in items:
            text = it if isinstance(it, str) else self.block(it[0], it[1], self.r.random() < 0.5, inner_indent)
            lines.append(self.leading(inner_indent) + inner_indent + text
                         + (";" if self.r.random() < 0.2 else "") + self.trailing())
            if self.r.random() < 0.15:
                lines.append("")
        if self._maybe(0.2):
            lines.append(inner_indent + self.comment())
        lines.append(indent + "}")
        return "\n".join(lines)

    def listing(self, items: Sequence[str], indent: str = "    ") -> str:
        """Comma-separated; now and then broken across lines with a comment after a comma."""
        out = ""
        for i, item in enumerate(items):
            if i:
                if self._maybe(0.1):
                    out += "," + " " * self.r.randint(1, 2) + self.comment() + "\n" + indent
                else:
                    out += self.r.choice((", ", ", ", ",", " , "))
            out += item
        return out

    def zone(self, z: ZoneSpec) -> str:
        return self.block(_head("zone", z.name, z.description), z.items())

    def object(self, o: ObjectSpec) -> str:
        pad = " " * self.r.randint(1, 3)
        return f"{_head(o.kind, o.name, o.description)}{pad}= {self.listing(o.members)}"

    def flow(self, f: FlowSpec) -> str:
        arrow = self.r.choice((" -> ", " -> ", "  ->  "))
        text = f"{f.action}{self.r.choice((' ', ' ', '  '))}{self.listing(f.sources)}{arrow}{self.listing(f.destinations)}"
        if f.services:
            text += f"{self.r.choice((' : ', ' : ', '  :  '))}{self.listing(f.services)}"
        if f.options is not None:
            text += " " + self.block("", list(f.options)).lstrip()
        return text

    def firewall(self, f: FirewallSpec) -> str:
        items = [f"target {f.target}"] + [f"interface {name} -> {', '.join(refs)}" for name, refs in f.interfaces]
        if f.description_item is not None:
            items.append(f"description {quote(f.description_item)}")
        self.r.shuffle(items)
        return self.block(_head("firewall", f.name, f.description), items, force_multi=self.r.random() < 0.5)

    def waiver(self, w: WaiverSpec) -> str:
        text = f"waive {w.rule}"
        if w.scope is not None:
            src, dst, svcs = w.scope
            text += f" for {self.listing(src)} -> {self.listing(dst)}"
            if svcs:
                text += f" : {self.listing(svcs)}"
        return text + " " + self.block("", list(w.items)).lstrip()

    def header(self, name: str, desc: str | None, items: Sequence[str]) -> str:
        return self.block(_head("policy", name, desc), items)

    def policy(self, spec: PolicySpec) -> str:
        """Source text for ``spec``: statements in a legal random order and layout."""
        header = self.header(spec.name, spec.description, spec.header_items)
        decls = [self.zone(z) for z in spec.zones] + [self.object(o) for o in spec.objects]
        flows = [self.flow(f) for f in spec.flows]
        rest = [self.firewall(f) for f in spec.firewalls] + [self.waiver(w) for w in spec.waivers]
        roll = self.r.random()
        if roll < 0.2:
            # Declarations may come in any order (and after the flows); flows keep theirs, it is meaning.
            decls = decls + rest
            rest = []
            self.r.shuffle(decls)
            stmts = [header] + decls + flows
        elif roll < 0.3:
            stmts = flows + decls + [header] + rest
        else:
            stmts = [header] + decls + flows + rest
        out: list[str] = []
        if self._maybe(0.3):
            out.append(self.comment() + "\n" + "\n" * self.r.randint(0, 1))
        for stmt in stmts:
            out.append(self.leading() + stmt + self.trailing() + "\n" + "\n" * self.r.choice((0, 0, 1, 1, 2)))
        if self._maybe(0.25):
            out.append(self.comment() + ("\n" if self.r.random() < 0.5 else ""))
        return "".join(out)


def _head(keyword: str, name: str, desc: str | None) -> str:
    return f"{keyword} {name}" + (f" {quote(desc)}" if desc is not None else "")


# ---------------------------------------------------------------- strategies

_SEEDS = st.integers(0, 2**32 - 1)


def _gen(seed: int) -> Gen:
    return Gen(random.Random(seed))


def comments() -> st.SearchStrategy[str]:
    """Comment texts as written, ``#`` included (never a newline)."""
    return st.sampled_from(COMMENT_TEXTS)


def networks(family: int | None = None) -> st.SearchStrategy[str]:
    """Valid IPv4/IPv6 prefixes or host addresses as an inline endpoint or address member writes them."""
    return _SEEDS.map(lambda seed: _gen(seed).network(family))


def service_literals() -> st.SearchStrategy[str]:
    """Service literals: tcp/udp/sctp ports and ranges, icmp/icmpv6 types with codes, ip/protocol."""
    return _SEEDS.map(lambda seed: _gen(seed).service_literal())


def policy_headers(comments: bool = False) -> st.SearchStrategy[str]:
    """A ``policy`` header statement (it always states default and intrazone)."""
    def make(seed: int) -> str:
        rng = random.Random(seed)
        return Renderer(rng, comments).header(*Gen(rng).header()) + "\n"
    return _SEEDS.map(make)


def zone_trees(sizes: Sizes = Sizes(), any_zone: bool | None = None) -> st.SearchStrategy[tuple[ZoneSpec, ...]]:
    """Consistent zone trees (render a zone with ``Renderer(rng).zone(z)``)."""
    return st.builds(
        lambda seed, top, children, with_any: _gen(seed).zone_tree(top, children, sizes.grandchildren, with_any),
        _SEEDS, st.integers(1, sizes.top_zones), st.integers(0, sizes.children),
        st.booleans() if any_zone is None else st.just(any_zone),
    )


def address_objects(most: int = 4) -> st.SearchStrategy[tuple[ObjectSpec, ...]]:
    """Address objects and groups (members: prefixes, hosts, ``any``, earlier objects)."""
    return st.builds(lambda seed, n: _gen(seed).address_objects(n), _SEEDS, st.integers(0, most))


def service_objects(most: int = 3) -> st.SearchStrategy[tuple[ObjectSpec, ...]]:
    """Service objects and groups (members: literals, built-ins, earlier objects)."""
    return st.builds(lambda seed, n: _gen(seed).service_objects(n), _SEEDS, st.integers(0, most))


def policy_specs(sizes: Sizes = Sizes()) -> st.SearchStrategy[PolicySpec]:
    """The structure of a valid policy, counts drawn below ``sizes`` (render with :func:`render_policy`)."""
    def make(seed: int, top: int, children: int, addresses: int, services: int, flows: int, firewalls: int,
             waivers: int, any_zone: bool) -> PolicySpec:
        counts = Sizes(top, children, sizes.grandchildren, addresses, services, flows, firewalls, waivers)
        return _gen(seed).policy(counts, any_zone)
    return st.builds(
        make, _SEEDS, st.integers(1, sizes.top_zones), st.integers(0, sizes.children),
        st.integers(0, sizes.addresses), st.integers(0, sizes.services), st.integers(0, sizes.flows),
        st.integers(0, sizes.firewalls), st.integers(0, sizes.waivers), st.booleans(),
    )


def render_policy(spec: PolicySpec, seed: int = 0, with_comments: bool = True) -> str:
    """Source text for ``spec``, laid out (and commented) at random but deterministically in ``seed``."""
    return Renderer(random.Random(seed), with_comments).policy(spec)


def policies(comments: bool = True, sizes: Sizes = Sizes()) -> st.SearchStrategy[str]:
    """Whole valid policies as ``.zp`` source text, with random layout and (by default) comments."""
    return st.builds(lambda spec, seed: render_policy(spec, seed, comments), policy_specs(sizes), _SEEDS)


def small_policies(comments: bool = True) -> st.SearchStrategy[str]:
    """Like :func:`policies` with at most three top-level zones and four flows, for brute-force checks."""
    return policies(comments, SMALL)


def policies_with_specs(comments: bool = True, sizes: Sizes = Sizes()) -> st.SearchStrategy[tuple[PolicySpec, str]]:
    """Pairs of a spec and its rendered text, for tests that check the text against what was meant."""
    return st.builds(lambda spec, seed: (spec, render_policy(spec, seed, comments)), policy_specs(sizes), _SEEDS)
