"""A probe suite: concrete packets with the verdict the policy gives them.

The suite is the contract between the planner (which derives it from the one semantics,
:meth:`zonepolicy.semantics.meaning.Meaning.decide`), the lab and field runners (which send it)
and the simulator (which evaluates it against a ruleset). Every probe is one connection-opening
packet; its ``expected`` verdict and deciding ``flows`` come from the policy, never from a
compiler's output.

Source ports: the language never constrains them, so a probe's ``sport`` is only the planner's
suggestion. Runners give every probe a fresh source port per run (connection tracking would
otherwise carry state from one probe to the next); that cannot change the expected verdict.

The on-disk form is YAML (``version: 1``), written in a fixed order so that the same policy
always yields the same bytes.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..model.values import Action
from ..semantics.packet import ICMP_PROTOCOLS, PORT_PROTOCOLS, PROTOCOL_NAMES, Packet

SUITE_VERSION = 1

#: Why a probe exists; the planner's budget drops kinds from the end of this list first.
KINDS = ("boundary", "negative", "near-miss")


class SuiteError(ValueError):
    """A suite file that cannot be read; the message names the place and what was expected."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Probe:
    """One packet to send and the verdict the policy gives it."""

    id: str                      # unique within the suite, stable for the same policy ("p00017")
    packet: Packet               # family, src, dst, proto, ports / ICMP type+code
    src_zone: str
    dst_zone: str
    expected: Action
    flows: tuple[str, ...] = ()  # ids of the flows that decide it (empty: default or intrazone)
    reason: str = "flow"         # "flow" | "default" | "intrazone", as in Decision.reason
    stateful: bool = False       # a reply is expected to come back (connection tracking)
    kind: str = "boundary"       # one of KINDS
    note: str = ""               # for humans: "last port of 8000-8080", "port+1 of https"
    firewall: str | None = None  # the enforcement point it crosses, when planned for one
    iif: str | None = None       # the firewall interface the probe enters by (Meaning.firewall_interfaces)
    oif: str | None = None       # ... and the one it leaves by; both set only when planned for a firewall

    @property
    def flow(self) -> str | None:
        """The flow id a report shows as "expected flow" (the first deciding one)."""
        return self.flows[0] if self.flows else None

    def five_tuple(self) -> str:
        p = self.packet
        src, dst = _addr(p.family, p.src), _addr(p.family, p.dst)
        proto = PROTOCOL_NAMES.get(p.proto, str(p.proto))
        if p.proto in PORT_PROTOCOLS:
            return f"{proto} {src}:{p.sport} -> {dst}:{p.dport}"
        if p.proto in ICMP_PROTOCOLS:
            return f"{proto} {src} -> {dst} type {p.icmp_type} code {p.icmp_code}"
        return f"{proto} {src} -> {dst}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Coverage:
    """What part of the policy a suite exercises."""

    flows_total: int = 0
    flows_covered: int = 0
    pairs_total: int = 0         # ordered zone pairs in scope
    pairs_covered: int = 0
    intrazone_total: int = 0     # zones whose intrazone packets the policy decides (see probe/plan.py)
    intrazone_covered: int = 0
    uncovered_flows: tuple[str, ...] = ()   # with the reason in ``notes``
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Suite:
    policy: str                  # policy name
    policy_hash: str             # sha256 of the policy's canonical export
    firewall: str | None = None
    probes: tuple[Probe, ...] = ()
    coverage: Coverage = field(default_factory=Coverage)
    budget: int | None = None

    def by_id(self) -> dict[str, Probe]:
        return {p.id: p for p in self.probes}


# ---------------------------------------------------------------- YAML form

def _addr(family: int, value: int) -> str:
    return str(ipaddress.IPv4Address(value) if family == 4 else ipaddress.IPv6Address(value))


def probe_to_dict(p: Probe) -> dict[str, Any]:
    pk = p.packet
    out: dict[str, Any] = {
        "id": p.id,
        "src": _addr(pk.family, pk.src),
        "dst": _addr(pk.family, pk.dst),
        "proto": PROTOCOL_NAMES.get(pk.proto, pk.proto),
    }
    if pk.proto in PORT_PROTOCOLS:
        out["sport"] = pk.sport
        out["dport"] = pk.dport
    elif pk.proto in ICMP_PROTOCOLS:
        out["icmp_type"] = pk.icmp_type
        out["icmp_code"] = pk.icmp_code
    out.update({
        "src_zone": p.src_zone,
        "dst_zone": p.dst_zone,
        "expected": p.expected.value,
        "flows": list(p.flows),
        "reason": p.reason,
        "stateful": p.stateful,
        "kind": p.kind,
    })
    if p.note:
        out["note"] = p.note
    if p.firewall is not None:
        out["firewall"] = p.firewall
    if p.iif is not None:
        out["iif"] = p.iif
    if p.oif is not None:
        out["oif"] = p.oif
    return out


def suite_to_dict(s: Suite) -> dict[str, Any]:
    c = s.coverage
    return {
        "version": SUITE_VERSION,
        "policy": s.policy,
        "policy_hash": s.policy_hash,
        "firewall": s.firewall,
        "budget": s.budget,
        "coverage": {
            "flows_total": c.flows_total, "flows_covered": c.flows_covered,
            "pairs_total": c.pairs_total, "pairs_covered": c.pairs_covered,
            "intrazone_total": c.intrazone_total, "intrazone_covered": c.intrazone_covered,
            "uncovered_flows": list(c.uncovered_flows), "notes": list(c.notes),
        },
        "probes": [probe_to_dict(p) for p in s.probes],
    }


def dump_suite(s: Suite) -> str:
    return yaml.safe_dump(suite_to_dict(s), sort_keys=False, allow_unicode=True, width=1000)


_PROTO_NUMBERS = {name: num for num, name in PROTOCOL_NAMES.items()}


def _need(d: dict, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in d:
        raise SuiteError(f"{where}: missing key '{key}'")
    v = d[key]
    if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
        raise SuiteError(f"{where}: '{key}' must be {getattr(kind, '__name__', kind)}, got {v!r}")
    return v


def probe_from_dict(d: Any, where: str) -> Probe:
    if not isinstance(d, dict):
        raise SuiteError(f"{where}: a probe must be a mapping")
    pid = _need(d, "id", str, where)
    where = f"{where} (probe {pid})"
    try:
        src = ipaddress.ip_address(_need(d, "src", str, where))
        dst = ipaddress.ip_address(_need(d, "dst", str, where))
    except ValueError as e:
        raise SuiteError(f"{where}: {e}") from None
    if src.version != dst.version:
        raise SuiteError(f"{where}: src and dst are of different address families")
    proto = d.get("proto")
    if isinstance(proto, str):
        if proto not in _PROTO_NUMBERS:
            raise SuiteError(f"{where}: unknown protocol {proto!r} (expected one of {sorted(_PROTO_NUMBERS)} or 0..255)")
        proto = _PROTO_NUMBERS[proto]
    if not isinstance(proto, int) or isinstance(proto, bool):
        raise SuiteError(f"{where}: 'proto' must be a protocol name or number")
    try:
        packet = Packet(src.version, int(src), int(dst), proto,
                        d.get("sport", 0) if proto in PORT_PROTOCOLS else 0,
                        d.get("dport", 0) if proto in PORT_PROTOCOLS else 0,
                        d.get("icmp_type", 0) if proto in ICMP_PROTOCOLS else 0,
                        d.get("icmp_code", 0) if proto in ICMP_PROTOCOLS else 0)
    except (TypeError, ValueError) as e:
        raise SuiteError(f"{where}: {e}") from None
    expected = _need(d, "expected", str, where)
    if expected not in ("allow", "deny"):
        raise SuiteError(f"{where}: 'expected' must be allow or deny, got {expected!r}")
    flows = d.get("flows", [])
    if not isinstance(flows, list) or not all(isinstance(f, str) for f in flows):
        raise SuiteError(f"{where}: 'flows' must be a list of flow ids")
    kind = d.get("kind", "boundary")
    if kind not in KINDS:
        raise SuiteError(f"{where}: 'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
    fw = d.get("firewall")
    iif, oif = d.get("iif"), d.get("oif")
    for key, value in (("iif", iif), ("oif", oif)):
        if value is not None and not isinstance(value, str):
            raise SuiteError(f"{where}: '{key}' must be an interface name, got {value!r}")
    return Probe(
        id=pid, packet=packet,
        src_zone=_need(d, "src_zone", str, where), dst_zone=_need(d, "dst_zone", str, where),
        expected=Action(expected), flows=tuple(flows), reason=str(d.get("reason", "flow")),
        stateful=bool(d.get("stateful", False)), kind=kind, note=str(d.get("note", "")),
        firewall=fw if isinstance(fw, str) else None, iif=iif, oif=oif,
    )


def suite_from_dict(d: Any, where: str = "suite") -> Suite:
    if not isinstance(d, dict):
        raise SuiteError(f"{where}: expected a mapping with 'version' and 'probes'")
    if d.get("version") != SUITE_VERSION:
        raise SuiteError(f"{where}: unsupported suite version {d.get('version')!r} (expected {SUITE_VERSION}); "
                         f"hint: plan the suite again with this zonepolicy")
    raw = _need(d, "probes", list, where)
    probes = tuple(probe_from_dict(p, f"{where}: probes[{i}]") for i, p in enumerate(raw))
    seen: set[str] = set()
    for p in probes:
        if p.id in seen:
            raise SuiteError(f"{where}: probe id {p.id!r} appears twice")
        seen.add(p.id)
    c = d.get("coverage") or {}
    if not isinstance(c, dict):
        raise SuiteError(f"{where}: 'coverage' must be a mapping")
    coverage = Coverage(
        flows_total=int(c.get("flows_total", 0)), flows_covered=int(c.get("flows_covered", 0)),
        pairs_total=int(c.get("pairs_total", 0)), pairs_covered=int(c.get("pairs_covered", 0)),
        intrazone_total=int(c.get("intrazone_total", 0)), intrazone_covered=int(c.get("intrazone_covered", 0)),
        uncovered_flows=tuple(c.get("uncovered_flows", ()) or ()), notes=tuple(c.get("notes", ()) or ()),
    )
    fw = d.get("firewall")
    budget = d.get("budget")
    return Suite(policy=str(_need(d, "policy", str, where)), policy_hash=str(d.get("policy_hash", "")),
                 firewall=fw if isinstance(fw, str) else None, probes=probes, coverage=coverage,
                 budget=budget if isinstance(budget, int) else None)


def _without_places(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _without_places(v) for k, v in data.items() if k not in ("at", "files")}
    if isinstance(data, list):
        return [_without_places(v) for v in data]
    return data


def policy_hash(policy: Any) -> str:
    """sha256 of the policy's canonical export, without source places (file names, line numbers):
    moving or re-indenting the policy files must not make a planned suite stale, changing what the
    policy says must."""
    import hashlib
    import json

    from ..model.serialize import to_data

    canon = json.dumps(_without_places(to_data(policy)), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


def load_suite(path: str) -> Suite:
    try:
        with open(path, encoding="utf-8") as fh:
            # libyaml when present: the pure-Python reader takes seconds for a few thousand probes
            data = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader
    except OSError as e:
        raise SuiteError(f"{path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise SuiteError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        place = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
        raise SuiteError(f"{place}: not valid YAML: {getattr(e, 'problem', e)}") from None
    return suite_from_dict(data, path)
