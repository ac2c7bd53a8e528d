"""The ``juniper-srx`` back end: a Junos configuration in ``set`` form for Juniper SRX firewalls.

Output, per firewall, one file ``<firewall>.set`` for ``load set`` (or ``load set terminal``)::

    # zonepolicy: target=juniper-srx policy=P firewall=F
    delete security policies
    set security zones security-zone z-ge-0_0_0-u0 interfaces ge-0/0/0.0
    set security address-book global address N_10.1.0.0_16 10.1.0.0/16
    set security address-book global address-set AS_<hash> address N_10.1.0.0_16
    set applications application zp-tcp-443 protocol tcp
    set applications application zp-tcp-443 destination-port 443
    set applications application-set APS_<hash> application zp-tcp-443
    set security policies from-zone Z1 to-zone Z2 policy zp1-1-web description "flow web f.zp:12"
    set security policies from-zone Z1 to-zone Z2 policy zp1-1-web match source-address …
    set security policies from-zone Z1 to-zone Z2 policy zp1-1-web match destination-address …
    set security policies from-zone Z1 to-zone Z2 policy zp1-1-web match application zp-tcp-443
    set security policies from-zone Z1 to-zone Z2 policy zp1-1-web then permit
    set security policies from-zone Z1 to-zone Z2 policy zp1-1-web then log session-init
    set security policies from-zone Z1 to-zone Z2 policy zp1-deny … match … any … then deny
    set security policies default-policy deny-all

Semantics, and why:

* **One security zone per interface.** An SRX policy context is a (from-zone, to-zone) pair; giving
  every interface a zone of its own makes each ordered interface pair exactly one policy context,
  so the target model's per-pair first-match lists map one to one onto policy lists. The zones of
  the policy behind an interface appear in the zone's description only.
* **First match.** Junos evaluates the policies of a context in the order they were defined. The
  file starts with ``delete security policies`` so that every policy is (re)created in file order
  and no policy left from an earlier load can sit in front of them. Within one action, rules of
  ``log`` flows come first (reordering within an action changes no verdict), so a session is
  logged (``then log session-init``, which names the policy and so the flow) exactly when a ``log``
  flow of the deciding action matches it. Every context ends with an explicit ``deny`` policy, and
  the global ``default-policy`` is ``deny-all`` for contexts without policies.
* **Addresses** are global address-book entries named after their prefix (``N_10.1.0.0_16``,
  ``N6_2001-db8--_32``); a rule with several prefixes uses an address-set named by a hash of its
  members, so identical lists are shared. A policy matches addresses as well as zones, so a
  spoofed source entering the wrong interface meets only the final deny.
* **Applications** are custom, one term each, named after what they match (``zp-tcp-443``,
  ``zp-udp-1000-2000``, ``zp-icmp-8-0``, ``zp-icmp6-128``, ``zp-proto-47``, ``zp-tcp`` = every TCP
  port); a rule with several uses an application-set named by a hash. A rule matching every packet
  of its addresses uses the predefined ``any``.
* **Capabilities.** IPv4, IPv6, ICMP/ICMPv6 types and codes, IP protocol numbers, logging and
  descriptions. Not SCTP (no port match for it is used here), not stateless flows (an SRX
  policy always creates a session, whose replies pass), not application inspection: those are
  refused (ZP401) or warned about (ZP402) by the shared check, never dropped.
* **Names and strings.** Interface names must be Junos interface names (``ge-0/0/0.0``,
  ``reth0.100``, ``ae1``, ``irb.10``: ZP403 otherwise); zone names derive from them injectively
  (``/`` → ``_``, ``.`` → ``-u``, ``:`` → ``-c``; valid interface names have no ``_`` and no ``-``
  before a letter). Policy names are ``zp<pair>-<rule>-<flow id>`` with the id kept when made of
  ``A-Z a-z 0-9 _ -`` (else cleaned and given a hash): the numbers alone make them unique.
  Descriptions (``flow ID FILE:LINE``) are double-quoted after :func:`junos_text` removed every
  character with a meaning there (``"`` becomes ``'``, ``\\`` becomes ``/``, control, format and
  separator characters ``?``) and cut to 255 bytes; nothing from the policy can end a line or the
  quoted string.

The reader (:func:`parse`, :meth:`JuniperSrxCompiler.read`) reads exactly this subset back into
first-match rules per interface pair for :func:`~zonepolicy.compilers.base.prove`;
:func:`log_problems` proves from the same reading that logging is exact.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Sequence

from zonepolicy.diagnostics import Diagnostic, Severity
from zonepolicy.errors import InvalidPolicy
from zonepolicy.model.policy import Firewall, Policy
from zonepolicy.model.values import Action, Network
from zonepolicy.semantics.meaning import Meaning
from zonepolicy.semantics.packetset import PacketSet

from ._intervals import ip_text, network_text
from .base import (
    Compiler, Feature, Output, ReadPair, ReadRule, TargetModel, TargetRule, interface_name_diagnostics, register,
)

Interval = tuple[int, int]
MAX_DESCRIPTION = 255  # bytes; well inside what Junos keeps for a policy description
MAX_NAME = 63  # Junos object names (zones, policies, addresses, applications)
PORT_PROTOCOLS = {6: "tcp", 17: "udp"}
ICMP_PROTOCOLS = {1: ("icmp", "icmp-type", "icmp-code"), 58: ("icmp6", "icmp6-type", "icmp6-code")}
_PROTO_BY_NAME = {"tcp": 6, "udp": 17, "icmp": 1, "icmp6": 58}

# A Junos interface name: a media type, an optional FPC/PIC/port path, channel and logical unit.
_IFNAME = re.compile(r"[a-z]+(?:-?[0-9]+(?:/[0-9]+)*(?::[0-9]+)?)?(?:\.[0-9]+)?")
_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
_TOKEN = re.compile(r'"([^"\\\n]*)"|([^\s"\\]+)')
_TOKENS_LINE = re.compile(r'(?: *+(?:"[^"\\\n]*+"|[^\s"\\]++))*+ *+')  # possessive: no backtracking


class ReadError(ValueError):
    """The text is not the subset of Junos ``set`` commands this back end emits."""


# ---- text safety
def junos_text(text: str, limit: int = MAX_DESCRIPTION) -> str:
    """``text`` safe inside a double-quoted Junos string, at most ``limit`` UTF-8 bytes.

    ``"`` and ``\\`` are the only characters with a meaning inside the quotes; they become ``'`` and
    ``/``. Control, format (bidi overrides), separator and unassigned characters, which could end
    the line or hide text from a reader, become ``?``. A cut happens on a character boundary and
    is marked ``...``.
    """
    if text.isascii() and text.isprintable():  # the usual case: only the two quote characters change
        clean = text.replace('"', "'").replace("\\", "/")
        return clean if len(clean) <= limit else clean[:limit - 3] + "..."
    return junos_text_scan(text, limit)


def junos_text_scan(text: str, limit: int = MAX_DESCRIPTION) -> str:
    """:func:`junos_text` character by character: the general path for any text."""
    out = []
    for ch in text:
        if ch == " ":
            out.append(ch)
        elif ch == '"':
            out.append("'")
        elif ch == "\\":
            out.append("/")
        elif unicodedata.category(ch)[0] in "CZ":
            out.append("?")
        else:
            out.append(ch)
    clean = "".join(out)
    if len(clean.encode()) <= limit:
        return clean
    return clean.encode()[:limit - 3].decode("utf-8", errors="ignore") + "..."


def _digest(*parts: str, n: int = 10) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:n]


def check_interface_name(name: str) -> str | None:
    """Why ``name`` cannot be used as a Junos interface name, or None."""
    if not _IFNAME.fullmatch(name):
        return "not a Junos interface name (e.g. ge-0/0/0.0, xe-1/0/0:1.0, reth0.100, ae1.0, irb.10)"
    if len(zone_name(name)) > MAX_NAME:
        return f"its zone name would exceed {MAX_NAME} characters"
    return None


def zone_name(interface: str) -> str:
    """The security zone of an interface: ``z-`` and the name with ``/`` → ``_``, ``.`` → ``-u``,
    ``:`` → ``-c``. Injective on valid interface names (they contain no ``_`` and no ``-u``/``-c``)."""
    return "z-" + interface.replace("/", "_").replace(".", "-u").replace(":", "-c")


def policy_name(pair_no: int, rule_no: int, flow_id: str) -> str:
    """``zp<pair>-<rule>-<id>``: unique by its numbers; the id verbatim when safe, else cleaned + hash."""
    if _SAFE_ID.fullmatch(flow_id):
        safe = flow_id
    else:
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", flow_id)[:24] + "_" + _digest(flow_id, n=8)
    return f"zp{pair_no}-{rule_no}-{safe}"


def address_name(net: Network) -> str:
    """``N_10.1.0.0_16`` / ``N6_2001-db8--_32``: derived from the prefix alone."""
    if net.version == 4:
        return f"N_{ip_text(4, int(net.network_address))}_{net.prefixlen}"
    return f"N6_{str(net.network_address).replace(':', '-')}_{net.prefixlen}"


def output_name(firewall: str) -> str:
    """The file name for a firewall: ``<name>.set``, made path-safe."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", firewall).lstrip(".")[:100] or "firewall"
    return f"{safe}.set"


# ---- applications of one rule
@dataclass(frozen=True, slots=True, order=True)
class App:
    """One single-term custom application: a protocol and optionally a port range or ICMP type/code."""

    proto: int
    ports: Interval | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None

    @property
    def name(self) -> str:
        if self.proto in PORT_PROTOCOLS:
            base = f"zp-{PORT_PROTOCOLS[self.proto]}"
            if self.ports is None:
                return base
            lo, hi = self.ports
            return f"{base}-{lo}" if lo == hi else f"{base}-{lo}-{hi}"
        if self.proto in ICMP_PROTOCOLS:
            parts = [f"zp-{ICMP_PROTOCOLS[self.proto][0]}"]
            parts += [str(v) for v in (self.icmp_type, self.icmp_code) if v is not None]
            return "-".join(parts)
        return f"zp-proto-{self.proto}"

    def lines(self) -> list[str]:
        head = f"set applications application {self.name}"
        if self.proto in PORT_PROTOCOLS:
            out = [f"{head} protocol {PORT_PROTOCOLS[self.proto]}"]
            if self.ports is not None:
                lo, hi = self.ports
                out.append(f"{head} destination-port {lo if lo == hi else f'{lo}-{hi}'}")
            return out
        if self.proto in ICMP_PROTOCOLS:
            pname, tkey, ckey = ICMP_PROTOCOLS[self.proto]
            out = [f"{head} protocol {pname}"]
            if self.icmp_type is not None:
                out.append(f"{head} {tkey} {self.icmp_type}")
            if self.icmp_code is not None:
                out.append(f"{head} {ckey} {self.icmp_code}")
            return out
        return [f"{head} protocol {self.proto}"]

    def to_set(self) -> PacketSet:
        """The packets of any address this application matches."""
        return PacketSet.build(
            proto=[(self.proto, self.proto)],
            dport=[self.ports] if self.ports is not None else None,
            icmp_type=[(self.icmp_type, self.icmp_type)] if self.icmp_type is not None else None,
            icmp_code=[(self.icmp_code, self.icmp_code)] if self.icmp_code is not None else None)


def _full(ivs: Sequence[Interval], hi: int) -> bool:
    return tuple(ivs) == ((0, hi),)


def _has(ivs: Sequence[Interval], v: int) -> bool:
    return any(lo <= v <= hi for lo, hi in ivs)


def _values(ivs: Sequence[Interval]) -> list[int]:
    return [v for lo, hi in ivs for v in range(lo, hi + 1)]


def applications(rule: TargetRule) -> list[App] | None:
    """The applications whose union is the rule's protocol part; None for Junos' ``any``.

    Exact with respect to the packet universe: a protocol's fields it does not have are 0, so a
    protocol only appears when the box admits 0 in those fields.
    """
    if _full(rule.proto, 255) and _full(rule.dport, 65535) and _full(rule.icmp_type, 255) \
            and _full(rule.icmp_code, 255):
        return None
    apps: list[App] = []
    for p in _values(rule.proto):
        if p in PORT_PROTOCOLS or p == 132:
            if not (_has(rule.icmp_type, 0) and _has(rule.icmp_code, 0)):
                continue
            if p == 132:  # refused by the capability check (ZP401) before rendering
                raise ValueError("SCTP is not supported by the juniper-srx back end")
            if _full(rule.dport, 65535):
                apps.append(App(p))
            else:
                apps.extend(App(p, ports=iv) for iv in rule.dport)
        elif p in ICMP_PROTOCOLS:
            if not _has(rule.dport, 0):
                continue
            if _full(rule.icmp_type, 255) and _full(rule.icmp_code, 255):
                apps.append(App(p))
            elif _full(rule.icmp_code, 255):
                apps.extend(App(p, icmp_type=t) for t in _values(rule.icmp_type))
            else:
                apps.extend(App(p, icmp_type=t, icmp_code=c)
                            for t in _values(rule.icmp_type) for c in _values(rule.icmp_code))
        elif _has(rule.dport, 0) and _has(rule.icmp_type, 0) and _has(rule.icmp_code, 0):
            apps.append(App(p))
    return apps


# ---- rendering
def _ordered(rules: Sequence[TargetRule]) -> list[TargetRule]:
    """Denies before allows (as lowered), the default's last, and within each, rules of ``log`` flows
    first: a stable sort that never moves a rule across one of another action."""
    return sorted(rules, key=lambda r: (r.action is not Action.DENY, r.flow_id == "default", not r.log))


@dataclass
class _Book:
    """Objects shared by the policies of one file, each defined once, in first-use order."""

    addresses: dict[str, Network] = field(default_factory=dict)
    address_sets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    apps: dict[str, App] = field(default_factory=dict)
    app_sets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # what a prefix list or a protocol part is called once it was seen: the rules of a large model
    # share a few thousand of each (the lowering hands the same prefix tuples to every rule using them)
    _net_names: dict[Network, str] = field(default_factory=dict)
    _list_names: dict[int, tuple[tuple[Network, ...], str]] = field(default_factory=dict)
    _app_names: dict[tuple, str] = field(default_factory=dict)

    def address(self, nets: Sequence[Network]) -> str:
        found = self._list_names.get(id(nets))
        if found is not None and found[0] is nets:  # the tuple itself is kept, so its id stays its own
            return found[1]
        name = self._address(nets)
        self._list_names[id(nets)] = (nets, name)
        return name

    def _address(self, nets: Sequence[Network]) -> str:
        names = []
        for n in nets:
            one = self._net_names.get(n)
            if one is None:
                one = self._net_names[n] = address_name(n)
                self.addresses.setdefault(one, n)
            names.append(one)
        if len(names) == 1:
            return names[0]
        names_t = tuple(names)
        name = f"AS_{_digest(*names_t)}"
        self.address_sets.setdefault(name, names_t)
        return name

    def rule_application(self, rule: TargetRule) -> str:
        key = (rule.proto, rule.dport, rule.icmp_type, rule.icmp_code)
        name = self._app_names.get(key)
        if name is None:
            name = self._app_names[key] = self.application(applications(rule))
        return name

    def application(self, apps: list[App] | None) -> str:
        if apps is None:
            return "any"
        if not apps:
            raise ValueError("a rule without packets")  # lower never emits an empty box
        for a in apps:
            self.apps.setdefault(a.name, a)
        if len(apps) == 1:
            return apps[0].name
        names = tuple(a.name for a in apps)
        name = f"APS_{_digest(*names)}"
        self.app_sets.setdefault(name, names)
        return name


# Policies per block of the text being built: a 20k-rule file is 13 MB, and as blocks of a few hundred
# kilobytes (allocated apart and handed back when the text is joined) its pieces do not stay in the
# heap next to the joined text and the encoded copy written to disk.
_CHUNK = 256


def render_text(model: TargetModel) -> str:
    """The whole ``set`` file of one firewall (see the module docstring)."""
    book = _Book()
    policies: list[str] = []  # joined into blocks as they fill, see _CHUNK
    block: list[str] = []
    for pair_no, pair in enumerate(model.pairs, 1):
        ctx = f"set security policies from-zone {zone_name(pair.in_if)} to-zone {zone_name(pair.out_if)}"
        for rule_no, r in enumerate(_ordered(pair.rules), 1):
            head = f"{ctx} policy {policy_name(pair_no, rule_no, r.flow_id)}"
            text = junos_text(f"flow {r.flow_id} {r.origin}".rstrip())
            # one string per policy, not per line: a large file has hundreds of thousands of lines
            if len(block) == _CHUNK:
                policies.append("\n".join(block))
                block.clear()
            block.append(f'{head} description "{text}"\n{head} match source-address {book.address(r.src)}\n'
                         f"{head} match destination-address {book.address(r.dst)}\n"
                         f"{head} match application {book.rule_application(r)}\n"
                         f"{head} then {'permit' if r.action is Action.ALLOW else 'deny'}"
                         + (f"\n{head} then log session-init" if r.log else ""))
        head = f"{ctx} policy zp{pair_no}-deny"
        text = junos_text(f"zonepolicy: no flow allows {pair.in_if} -> {pair.out_if}")
        block += [f'{head} description "{text}"', f"{head} match source-address any",
                  f"{head} match destination-address any", f"{head} match application any", f"{head} then deny"]
    policies += block
    lines = [
        "# " + junos_text(f"zonepolicy: target=juniper-srx policy={model.policy} firewall={model.firewall}", 400),
    ]
    if model.description:
        lines.append("# " + junos_text(model.description, 400))
    lines += ["# load with: load set <file>; commit check; commit", "delete security policies"]
    for name, zones in model.interfaces:
        z = zone_name(name)
        lines.append(f'set security zones security-zone {z} description "{junos_text("zones " + ", ".join(zones))}"')
        lines.append(f"set security zones security-zone {z} interfaces {name}")
    for name, net in book.addresses.items():
        lines.append(f"set security address-book global address {name} {network_text(net)}")
    for name, members in book.address_sets.items():
        lines += [f"set security address-book global address-set {name} address {m}" for m in members]
    for app in book.apps.values():
        lines += app.lines()
    for name, members in book.app_sets.items():
        lines += [f"set applications application-set {name} application {m}" for m in members]
    lines += policies
    lines += ["set security policies default-policy deny-all", ""]  # the file ends with a newline
    return "\n".join(lines)


def interface_diagnostics(firewall: Firewall) -> list[Diagnostic]:
    """ZP403 for every interface of ``firewall`` whose name Junos cannot use."""
    return interface_name_diagnostics(
        "juniper-srx", firewall, check_interface_name, lambda n: junos_text(n, 40),
        "write the Junos interface name with its unit, e.g. ge-0/0/1.0 or reth0.100")


# ---- the reader
@dataclass
class _Policy:
    name: str
    src: list[str] = field(default_factory=list)
    dst: list[str] = field(default_factory=list)
    apps: list[str] = field(default_factory=list)
    action: str | None = None
    log: bool = False
    description: str = ""


@dataclass
class Config:
    """What a ``set`` file configures, as far as the proof needs it."""

    zone_of: dict[str, str] = field(default_factory=dict)  # interface -> zone
    addresses: dict[str, Network] = field(default_factory=dict)
    address_sets: dict[str, list[str]] = field(default_factory=dict)
    apps: dict[str, dict[str, str]] = field(default_factory=dict)
    app_sets: dict[str, list[str]] = field(default_factory=dict)
    policies: dict[tuple[str, str], dict[str, _Policy]] = field(default_factory=dict)
    default_permit: bool = False


def tokenize(line: str, n: int = 0) -> list[str]:
    """Words and double-quoted strings (without escapes, as emitted); anything else is an error."""
    if line.isprintable() and '"' not in line and "\\" not in line:
        return line.split()  # only words and spaces: what scan_tokens finds too
    if _TOKENS_LINE.fullmatch(line):  # nothing but tokens and spaces: findall skips exactly the spaces
        return [quoted if word == "" else word for quoted, word in _TOKEN.findall(line)]
    return scan_tokens(line, n)


def scan_tokens(line: str, n: int = 0) -> list[str]:
    """:func:`tokenize` as a scan, token by token: the general path, and the one that names the spot
    it cannot read."""
    out, pos = [], 0
    while pos < len(line):
        if line[pos] == " ":
            pos += 1
            continue
        m = _TOKEN.match(line, pos)
        if not m:
            raise ReadError(f"line {n}: cannot read {line[pos:pos + 20]!r}")
        out.append(m.group(1) if m.group(1) is not None else m.group(2))
        pos = m.end()
    return out


def _set_once(store: dict[str, str], key: str, value: str, n: int) -> None:
    if key in store and store[key] != value:
        raise ReadError(f"line {n}: {key} given twice")
    store[key] = value


def parse(text: str) -> Config:
    """The configuration of a ``set`` file as emitted; anything outside that subset is a ReadError."""
    cfg = Config()
    for n, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.isprintable():
            t = line.split() if '"' not in line and "\\" not in line else tokenize(line, n)
        elif any(unicodedata.category(c)[0] == "C" for c in line):
            raise ReadError(f"line {n}: control character")
        else:
            t = tokenize(line, n)
        size = len(t)
        # the policy statements first: they are most of a file (the branches exclude one another)
        if size >= 10 and t[3] == "from-zone" and t[0] == "set" and t[1] == "security" and t[2] == "policies" \
                and t[5] == "to-zone" and t[7] == "policy":
            context = cfg.policies.get((t[4], t[6]))
            if context is None:
                context = cfg.policies[t[4], t[6]] = {}
            pol = context.get(t[8])
            if pol is None:
                pol = context[t[8]] = _Policy(t[8])
            kind = t[9]
            attr = None
            if kind == "match" and size == 12:
                attr = _MATCHES.get(t[10])
            if attr is not None:
                members = getattr(pol, attr)
                if t[11] not in members:
                    members.append(t[11])
            elif kind == "description" and size == 11:
                pol.description = t[10]
            elif kind == "then" and size == 11 and t[10] in ("permit", "deny", "reject"):
                if pol.action not in (None, t[10]):
                    raise ReadError(f"line {n}: policy {t[8]} has two actions")
                pol.action = t[10]
            elif kind == "then" and size == 12 and t[10] == "log" and t[11] == "session-init":
                pol.log = True
            else:
                raise ReadError(f"line {n}: unsupported policy statement {' '.join(t[9:])[:60]!r}")
        elif t == ["delete", "security", "policies"]:
            cfg.policies.clear()
            cfg.default_permit = False
        elif t[:4] == ["set", "security", "zones", "security-zone"] and len(t) == 7 and t[5] == "interfaces":
            if cfg.zone_of.get(t[6], t[4]) != t[4]:
                raise ReadError(f"line {n}: interface {t[6]} in two zones")
            cfg.zone_of[t[6]] = t[4]
        elif t[:4] == ["set", "security", "zones", "security-zone"] and len(t) == 7 and t[5] == "description":
            pass
        elif t[:5] == ["set", "security", "address-book", "global", "address"] and len(t) == 7:
            try:
                net = ipaddress.ip_network(t[6], strict=True)
            except ValueError as e:
                raise ReadError(f"line {n}: {e}") from None
            if cfg.addresses.get(t[5], net) != net or t[5] in cfg.address_sets:
                raise ReadError(f"line {n}: address {t[5]} defined twice")
            cfg.addresses[t[5]] = net
        elif t[:5] == ["set", "security", "address-book", "global", "address-set"] and len(t) == 8 \
                and t[6] == "address":
            if t[5] in cfg.addresses:
                raise ReadError(f"line {n}: {t[5]} is both an address and an address-set")
            members = cfg.address_sets.setdefault(t[5], [])
            if t[7] not in members:
                members.append(t[7])
        elif t[:3] == ["set", "applications", "application"] and len(t) == 6 and t[4] in (
                "protocol", "destination-port", "icmp-type", "icmp-code", "icmp6-type", "icmp6-code"):
            _set_once(cfg.apps.setdefault(t[3], {}), t[4], t[5], n)
        elif t[:3] == ["set", "applications", "application-set"] and len(t) == 6 and t[4] == "application":
            members = cfg.app_sets.setdefault(t[3], [])
            if t[5] not in members:
                members.append(t[5])
        elif t[:4] == ["set", "security", "policies", "default-policy"] and len(t) == 5 \
                and t[4] in ("deny-all", "permit-all"):
            cfg.default_permit = t[4] == "permit-all"
        else:
            raise ReadError(f"line {n}: unsupported statement {line[:60]!r}")
    return cfg


_MATCHES = {"source-address": "src", "destination-address": "dst", "application": "apps"}  # -> _Policy field
_ANY = {"any": ("0.0.0.0/0", "::/0"), "any-ipv4": ("0.0.0.0/0",), "any-ipv6": ("::/0",)}


def _networks(cfg: Config, name: str, pname: str) -> list[Network]:
    if name in _ANY:
        return [ipaddress.ip_network(a) for a in _ANY[name]]
    if name in cfg.addresses:
        return [cfg.addresses[name]]
    if name in cfg.address_sets:
        out = []
        for m in cfg.address_sets[name]:
            if m not in cfg.addresses:
                raise ReadError(f"address-set {name}: unknown address {m}")
            out.append(cfg.addresses[m])
        return out
    raise ReadError(f"policy {pname}: unknown address {name}")


def _app_set(cfg: Config, name: str, pname: str) -> PacketSet:
    if name == "any":
        return PacketSet.universe()
    if name in cfg.app_sets:
        acc = PacketSet.empty()
        for m in cfg.app_sets[name]:
            if m in cfg.app_sets or m == "any":
                raise ReadError(f"application-set {name}: nested member {m}")
            acc = acc | _app_set(cfg, m, pname)
        return acc
    attrs = cfg.apps.get(name)
    if attrs is None:
        raise ReadError(f"policy {pname}: unknown application {name}")
    proto_text = attrs.get("protocol")
    if proto_text is None:
        raise ReadError(f"application {name}: no protocol")
    proto = _PROTO_BY_NAME.get(proto_text)
    if proto is None:
        if not proto_text.isdigit() or not 0 <= int(proto_text) <= 255 or int(proto_text) in (1, 6, 17, 58):
            raise ReadError(f"application {name}: protocol {proto_text!r}")
        proto = int(proto_text)
    allowed = {6: {"destination-port"}, 17: {"destination-port"}, 1: {"icmp-type", "icmp-code"},
               58: {"icmp6-type", "icmp6-code"}}.get(proto, set())
    extra = set(attrs) - {"protocol"} - allowed
    if extra:
        raise ReadError(f"application {name}: {sorted(extra)[0]} with protocol {proto_text}")

    def number(key: str, hi: int) -> Interval | None:
        v = attrs.get(key)
        if v is None:
            return None
        m = re.fullmatch(r"([0-9]+)(?:-([0-9]+))?", v) if key == "destination-port" else re.fullmatch(r"([0-9]+)()", v)
        if not m or int(m.group(1)) > hi or (m.group(2) and not int(m.group(1)) <= int(m.group(2)) <= hi):
            raise ReadError(f"application {name}: {key} {v!r}")
        return int(m.group(1)), int(m.group(2) or m.group(1))

    dport = number("destination-port", 65535)
    itype = number("icmp-type", 255) or number("icmp6-type", 255)
    icode = number("icmp-code", 255) or number("icmp6-code", 255)
    if icode is not None and itype is None:
        raise ReadError(f"application {name}: an ICMP code without a type")
    return PacketSet.build(proto=[(proto, proto)], dport=[dport] if dport else None,
                           icmp_type=[itype] if itype else None, icmp_code=[icode] if icode else None)


def policy_set(cfg: Config, pol: _Policy) -> PacketSet:
    """The packets a policy's match part selects (its zones aside)."""
    if not (pol.src and pol.dst and pol.apps) or pol.action is None:
        raise ReadError(f"policy {pol.name}: incomplete (needs source, destination, application and then)")
    src = [n for a in pol.src for n in _networks(cfg, a, pol.name)]
    dst = [n for a in pol.dst for n in _networks(cfg, a, pol.name)]
    apps = PacketSet.empty()
    for a in pol.apps:
        apps = apps | _app_set(cfg, a, pol.name)
    return PacketSet.build(src=src, dst=dst) & apps


class PolicySets:
    """:func:`policy_set` for every policy of one configuration, with its factors shared.

    A policy's packets are (source addresses × destination addresses) ∩ applications; a large file
    names the same address objects and applications in thousands of policies, so each factor is
    built once per name list and a policy costs two intersections.
    """

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self._addresses: dict[tuple[str, tuple[str, ...]], PacketSet] = {}
        self._apps: dict[tuple[str, ...], PacketSet] = {}

    def _side(self, side: str, names: list[str], pname: str) -> PacketSet:
        key = (side, tuple(names))
        found = self._addresses.get(key)
        if found is None:
            nets = [n for a in names for n in _networks(self.cfg, a, pname)]
            found = self._addresses[key] = PacketSet.build(**{side: nets})
        return found

    def __call__(self, pol: _Policy) -> PacketSet:
        if not (pol.src and pol.dst and pol.apps) or pol.action is None:
            raise ReadError(f"policy {pol.name}: incomplete (needs source, destination, application and then)")
        key = tuple(pol.apps)
        apps = self._apps.get(key)
        if apps is None:
            apps = PacketSet.empty()
            for a in pol.apps:
                apps = apps | _app_set(self.cfg, a, pol.name)
            self._apps[key] = apps
        return self._side("src", pol.src, pol.name) & self._side("dst", pol.dst, pol.name) & apps


@register
class JuniperSrxCompiler(Compiler):
    """Junos ``set`` commands for an SRX; see the module docstring."""

    target = "juniper-srx"
    capabilities = frozenset({Feature.IPV4, Feature.IPV6, Feature.ICMP, Feature.PROTOCOL_NUMBERS, Feature.LOG,
                              Feature.COMMENTS})

    def diagnose(self, policy: Policy, firewall: Firewall) -> list[Diagnostic]:
        """Problems the capability check cannot see: interface names Junos cannot use."""
        return interface_diagnostics(firewall)

    def render(self, model: TargetModel) -> list[Output]:
        bad = [Diagnostic("ZP403", f"target juniper-srx (firewall {junos_text(model.firewall, 60)}) cannot use "
                          f"interface name {junos_text(name, 40)!r}: {why}", None, Severity.ERROR)
               for name, _ in model.interfaces if (why := check_interface_name(name))]
        if bad:
            raise InvalidPolicy(bad)
        return [Output(output_name(model.firewall), render_text(model))]

    def read(self, text: str, firewall: Firewall) -> list[ReadPair]:
        """First-match rules per ordered interface pair: the policies of the pair's zone context in
        definition order, then the default policy. Interfaces named in the file but not in the
        firewall are evaluated too, so a zone given to an unknown interface shows as a mismatch."""
        cfg = parse(text)
        packets = PolicySets(cfg)
        cache: dict[tuple[str, str], tuple[ReadRule, ...]] = {}
        pairs = []
        for i, o, ctx in _contexts(cfg, firewall):
            if ctx is None:  # an interface in no zone passes no traffic
                pairs.append(ReadPair(i, o, ()))
                continue
            if ctx not in cache:
                rules = [ReadRule(packets(p), p.action == "permit", p.description or p.name)
                         for p in cfg.policies.get(ctx, {}).values()]
                if cfg.default_permit:
                    rules.append(ReadRule(PacketSet.universe(), True, "default-policy permit-all"))
                cache[ctx] = tuple(rules)
            pairs.append(ReadPair(i, o, cache[ctx]))
        return pairs


def _contexts(cfg: Config, firewall: Firewall) -> list[tuple[str, str, tuple[str, str] | None]]:
    """(in, out, zone context or None) for every ordered pair of the firewall's interfaces and of
    those the file zones, so a zone given to an interface the policy does not know is evaluated."""
    names = sorted({i.name for i in firewall.interfaces} | set(cfg.zone_of))
    out: list[tuple[str, str, tuple[str, str] | None]] = []
    for i in names:
        for o in names:
            if i != o:
                zi, zo = cfg.zone_of.get(i), cfg.zone_of.get(o)
                out.append((i, o, (zi, zo) if zi is not None and zo is not None else None))
    return out


@dataclass(frozen=True, slots=True)
class LogProblem:
    """Sessions of a pair logged that no ``log`` flow of the deciding action asks for, or not logged
    although one does."""

    in_if: str
    out_if: str
    extra: PacketSet  # logged, not asked for
    missing: PacketSet  # asked for, not logged

    def describe(self) -> str:
        parts = [f"{self.in_if} -> {self.out_if}:"]
        if not self.extra.is_empty():
            parts.append(f"  logs what no log flow decides, e.g. {self.extra.pick()}")
        if not self.missing.is_empty():
            parts.append(f"  does not log what a log flow decides, e.g. {self.missing.pick()}")
        return "\n".join(parts)


def log_problems(policy: Policy, firewall: Firewall, text: str, meaning: Meaning | None = None) -> list[LogProblem]:
    """Prove ``LOG`` honest: per pair, a session is logged (its first matching policy has ``then log
    session-init``) exactly when a ``log`` flow of the deciding action matches it — any deny flow
    decides where one matches, otherwise the allow flows. ``prove`` cannot see logging."""
    meaning = meaning or Meaning(policy)
    deny = deny_log = allow_log = PacketSet.empty()
    for flow in policy.flows:
        fs = meaning.flow_set(flow)
        if flow.action is Action.DENY:
            deny = deny | fs
            if flow.options.log:
                deny_log = deny_log | fs
        elif flow.options.log:
            allow_log = allow_log | fs
    asked = deny_log | (allow_log - deny)
    zones = {i.name: i.zones for i in firewall.interfaces}
    cfg = parse(text)
    policy_packets = PolicySets(cfg)
    problems = []
    for i, o, ctx in _contexts(cfg, firewall):
        logged, seen = PacketSet.empty(), PacketSet.empty()
        for p in cfg.policies.get(ctx, {}).values() if ctx else ():
            packets = policy_packets(p) - seen
            if p.log:
                logged = logged | packets
            seen = seen | packets
        want = PacketSet.empty()
        if i in zones and o in zones:
            want = asked & meaning.zones_addresses(zones[i], "src") & meaning.zones_addresses(zones[o], "dst")
        if logged != want:
            problems.append(LogProblem(i, o, logged - want, want - logged))
    return problems
