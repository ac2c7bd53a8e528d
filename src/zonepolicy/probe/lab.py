"""A sealed lab of network namespaces that runs one firewall of a policy on the real kernel.

Topology (one lab per firewall):

* a firewall namespace ``zp<id>-fw`` whose devices carry the policy's interface names, because the
  compiled rules match ``iifname``/``oifname``; an interface bound to one zone is a veth whose peer is
  ``eth0`` of that zone's namespace; an interface bound to several zones is a Linux bridge of that
  name with one veth port per zone namespace (forwarded packets then have iifname = the bridge);
* one namespace ``zp<id>-z<k>`` per zone bound to an interface; it holds ``lo`` and ``eth0`` and gets
  the suite's addresses of that zone when a suite runs;
* routing mirrors the meaning's "zone of an address": the firewall routes each zone's own prefixes
  to that zone's namespace (longest prefix wins, as a sub-zone wins over its parent; the ``any`` zone
  gets the default route, i.e. the addresses no other zone claims). Next hops are link-local labels
  with permanent neighbour entries (fixed MAC addresses), so no ARP or neighbour discovery runs and
  no lab address needs to exist on the firewall itself;
* every zone namespace routes everything to the firewall and nothing anywhere else.

Kernel settings (a new namespace starts with ``ip_forward=0``; we pin every value the verdict
could depend on rather than rely on defaults):

* firewall: IPv4 and IPv6 forwarding on; ICMP redirects off; ``bridge-nf-call-*`` off where the
  bridge netfilter exists (bridged frames must not be filtered a second time as IP packets);
* zones: ICMP rate limits off (a rate-limited port-unreachable would read as a lost reply);
* everywhere: ``rp_filter=0``. The policy's zones are bound to interfaces and the compiled rules
  match interfaces and addresses; reverse-path filtering would drop spoofed-source probes before the
  ruleset sees them and so hide what the ruleset does. Anti-spoofing is not part of the language's
  meaning, so the lab does not add it;
* IPv6 duplicate address detection and automatic link-local addresses off (static neighbours make
  them unnecessary, and they would only add noise to the captures).

A lab's state lives in ``$ZONEPOLICY_RUN_DIR`` (default ``/run/zonepolicy``) as ``lab-NAME.json``,
written before the first namespace is created so that a lab is never without a record. A lab made
by a process (tests, benchmarks) records that process as its owner; a lab made by ``lab up`` has no
owner and lives until ``lab down``. Stale labs — an owner that is gone, or namespaces with our prefix
and no record — are removed by ``lab up`` and ``lab run``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from typing import Any, Sequence

from ..errors import UsageError, ZonePolicyError
from ..model.policy import Firewall, Policy
from . import netns

BACKENDS = ("nftables", "iptables")
STATE_VERSION = 1
NS_PREFIX_RE = re.compile(r"^zp[0-9a-f]{6}-")
LAB_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
IFNAMSIZ = 15
IFNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+@-]*$")
PORT_PREFIX = "zpp"            # bridge ports in the firewall namespace
GATEWAY4, GATEWAY6 = "169.254.0.1", "fe80::1"


class LabError(ZonePolicyError):
    """The lab cannot be built, found or used; the message says why and what to do."""


def run_dir() -> str:
    return os.environ.get("ZONEPOLICY_RUN_DIR") or "/run/zonepolicy"


def tool(name: str) -> str:
    """Absolute path of a system tool: PATH first, then /usr/sbin and /sbin (CI often lacks sbin in PATH)."""
    found = shutil.which(name)
    if found:
        return os.path.abspath(found)
    for d in ("/usr/sbin", "/sbin", "/usr/bin", "/bin"):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    raise LabError(f"{name} not found in PATH, /usr/sbin or /sbin; install it (Debian: "
                   f"{'nftables' if name == 'nft' else 'iproute2' if name == 'ip' else 'iptables'})")


# ---------------------------------------------------------------- topology (pure)

@dataclass(frozen=True, slots=True)
class ZoneNode:
    zone: str
    ns: str
    iface: str            # the policy interface this zone sits behind
    fw_dev: str           # its veth end in the firewall namespace (the interface itself, or a bridge port)
    mac: str              # eth0 in the zone namespace
    gw_mac: str           # the firewall's routing device on this interface (veth end or bridge)
    label4: str           # next-hop labels the firewall uses for this zone
    label6: str
    canary: str = ""      # an address of this zone the readiness check sends to ("" when it has none)


@dataclass(frozen=True, slots=True)
class Topology:
    prefix: str
    fw_ns: str
    interfaces: tuple[tuple[str, str, str], ...]     # (name, "veth" | "bridge", mac)
    zones: tuple[ZoneNode, ...]
    routes: tuple[tuple[str, str], ...]              # (prefix, zone): the firewall's routes

    def zone(self, name: str) -> ZoneNode | None:
        return next((z for z in self.zones if z.zone == name), None)

    def namespaces(self) -> list[str]:
        return [self.fw_ns] + [z.ns for z in self.zones]

    def fw_devices(self) -> set[str]:
        return {"lo"} | {i[0] for i in self.interfaces} | {z.fw_dev for z in self.zones}

    def to_dict(self) -> dict[str, Any]:
        return {"prefix": self.prefix, "fw_ns": self.fw_ns, "interfaces": [list(i) for i in self.interfaces],
                "zones": [dataclasses.asdict(z) for z in self.zones], "routes": [list(r) for r in self.routes]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Topology":
        return cls(prefix=d["prefix"], fw_ns=d["fw_ns"], interfaces=tuple(tuple(i) for i in d["interfaces"]),
                   zones=tuple(ZoneNode(**z) for z in d["zones"]), routes=tuple(tuple(r) for r in d["routes"]))


def check_ifname(name: str, fw: str) -> None:
    bad = None
    if len(name) > IFNAMSIZ:
        bad = f"is {len(name)} characters long; Linux allows at most {IFNAMSIZ}"
    elif name == "lo" or not IFNAME_RE.match(name):
        # stricter than Linux: the name goes into ip batches and nft text, so nothing that could
        # end a word, a line or a string there
        bad = "cannot be a lab device name (letters, digits and . _ - + @, starting with a letter or digit; not 'lo')"
    elif name.startswith(PORT_PREFIX):
        bad = f"starts with {PORT_PREFIX!r}, which the lab uses for its own bridge ports"
    if bad:
        raise LabError(f"interface {name!r} of firewall {fw} {bad}; the lab names its devices after the "
                       f"policy's interfaces because the compiled rules match them; hint: rename the interface "
                       f"in the policy")


LAB_IF_PREFIX = "zpif"         # lab names for interfaces whose own names Linux cannot carry


def lab_view(policy: Policy, fw_name: str) -> tuple[Policy, dict[str, str]]:
    """The policy as the lab runs it, and the interfaces it had to rename ({policy name: lab name}).

    Vendor firewalls name their ports ``GigabitEthernet0/0/1`` or ``ge-0/0/0.0``: too long or not
    allowed for a Linux device. The lab gives such an interface a device name of its own
    (``zpif<n>``, n = its position in the firewall) and compiles the renamed firewall, so the
    rules and the devices agree. The meaning does not depend on interface names, only on which
    zones sit behind which interface, so the probes test the same policy.
    """
    fw = find_firewall(policy, fw_name)
    renamed: dict[str, str] = {}
    for j, iface in enumerate(fw.interfaces):
        try:
            check_ifname(iface.name, fw.name)
        except LabError:
            renamed[iface.name] = f"{LAB_IF_PREFIX}{j}"
    if not renamed:
        return policy, renamed
    clash = {i.name for i in fw.interfaces} & set(renamed.values())
    if clash:
        raise LabError(f"firewall {fw.name} already has an interface named {sorted(clash)[0]!r}, the name the lab "
                       f"would give a renamed one; hint: rename that interface in the policy")
    lab_fw = dataclasses.replace(fw, interfaces=tuple(
        dataclasses.replace(i, name=renamed.get(i.name, i.name)) for i in fw.interfaces))
    return dataclasses.replace(policy, firewalls=tuple(lab_fw if f is fw else f for f in policy.firewalls)), renamed


def _mac(kind: int, k: int) -> str:
    return f"02:7a:{kind:02x}:00:{(k >> 8) & 0xff:02x}:{k & 0xff:02x}"


def plan_topology(policy: Policy, fw: Firewall, prefix: str) -> Topology:
    """The lab for ``fw``: namespaces, devices, addresses and routes (no side effects)."""
    for i in fw.interfaces:
        check_ifname(i.name, fw.name)
    zones_by_name = {z.name: z for z in policy.zones}
    interfaces = []
    nodes: list[ZoneNode] = []
    k = 0
    for j, iface in enumerate(fw.interfaces):
        bridged = len(iface.zones) > 1
        gw_mac = _mac(3, j) if bridged else _mac(2, k)
        interfaces.append((iface.name, "bridge" if bridged else "veth", gw_mac))
        for zname in iface.zones:
            fw_dev = f"{PORT_PREFIX}{k}" if bridged else iface.name
            nodes.append(ZoneNode(zone=zname, ns=f"{prefix}z{k}", iface=iface.name, fw_dev=fw_dev,
                                  mac=_mac(1, k), gw_mac=gw_mac if bridged else _mac(2, k),
                                  label4=f"169.254.{1 + k // 250}.{1 + k % 250}", label6=f"fe80::7a:{k + 1:x}"))
            k += 1
    # the firewall's routes: each prefix to its most specific zone, exactly as the meaning's ZoneIndex
    best: dict[str, tuple[int, str]] = {}
    for n in nodes:
        z = zones_by_name[n.zone]
        for net in z.networks:
            key = str(net)
            if key not in best or best[key][0] < z.depth:
                best[key] = (z.depth, n.zone)
    routes = tuple(sorted(((p, zone) for p, (_, zone) in best.items()),
                          key=lambda r: (ipaddress.ip_network(r[0]).version, r[0])))
    nodes = [dataclasses.replace(n, canary=_canary_address(n.zone, routes)) for n in nodes]
    return Topology(prefix=prefix, fw_ns=f"{prefix}fw", interfaces=tuple(interfaces), zones=tuple(nodes),
                    routes=routes)


_FALLBACK = {4: ("198.51.100.77", "192.0.2.77", "203.0.113.77"), 6: ("2001:db8:ffff::77",)}


def route_lookup(routes: Sequence[tuple[str, str]], addr: str) -> str | None:
    """The zone the firewall's routes send ``addr`` to (longest prefix)."""
    a = ipaddress.ip_address(addr)
    best: tuple[int, str] | None = None
    for prefix, zone in routes:
        net = ipaddress.ip_network(prefix)
        if net.version == a.version and a in net and (best is None or net.prefixlen > best[0]):
            best = (net.prefixlen, zone)
    return best[1] if best else None


def _canary_address(zone: str, routes: Sequence[tuple[str, str]]) -> str:
    from .wire import usable_address

    for prefix, z in routes:
        if z != zone:
            continue
        net = ipaddress.ip_network(prefix)
        cands = list(_FALLBACK[net.version]) if net.prefixlen == 0 else \
            [str(net.network_address + (1 if net.num_addresses > 2 else 0)), str(net.broadcast_address - 1)]
        for c in cands:
            if route_lookup(routes, c) == zone and usable_address(ipaddress.ip_address(c)):
                return c
    return ""


# ---------------------------------------------------------------- rulesets

def compile_rules(policy: Policy, fw_name: str, backend: str) -> list[tuple[str, str]]:
    """The firewall's configuration for ``backend`` from the project's own compiler: [(filename, text)].

    A firewall whose target is the other Linux back end is compiled for ``backend`` instead, the same
    way ``zonepolicy compile --target`` selects a back end (the meaning does not depend on the target).
    """
    from ..compile import compile_policy
    from ..errors import InvalidPolicy

    if backend not in BACKENDS:
        raise LabError(f"unknown backend {backend!r} (expected one of {', '.join(BACKENDS)})")
    fw = find_firewall(policy, fw_name)
    if fw.target != backend:
        policy = dataclasses.replace(policy, firewalls=tuple(
            dataclasses.replace(f, target=backend) if f.name == fw.name else f for f in policy.firewalls))
    (compiled,) = compile_policy(policy, None, [fw.name])
    if not compiled.ok:
        raise InvalidPolicy(compiled.diagnostics)
    return [(o.filename, o.text) for o in compiled.outputs]


def find_firewall(policy: Policy, name: str) -> Firewall:
    for f in policy.firewalls:
        if f.name == name:
            return f
    raise UsageError(f"policy {policy.name} has no firewall '{name}' "
                     f"(firewalls: {', '.join(sorted(f.name for f in policy.firewalls)) or 'none'})")


def _loader_for(filename: str) -> list[str]:
    if filename.endswith(".nft"):
        return [tool("nft"), "-f", "/dev/stdin"]
    if filename.endswith(".ip6tables"):
        return [tool("ip6tables-restore")]
    if filename.endswith(".iptables"):
        return [tool("iptables-restore")]
    raise LabError(f"do not know how to load {filename}")


# ---------------------------------------------------------------- processes

def _run(cmd: Sequence[str], text: str | None = None, what: str = "") -> str:
    try:
        p = subprocess.run(list(cmd), input=text, capture_output=True, text=True, timeout=120)
    except OSError as e:
        raise LabError(f"{what or cmd[0]}: cannot run {cmd[0]}: {e.strerror}") from None
    if p.returncode != 0:
        raise LabError(f"{what or ' '.join(cmd)} failed: {(p.stderr or p.stdout).strip()[:2000]}")
    return p.stdout


def _ip_batch(lines: Sequence[str], ns: str | None = None, force: bool = False) -> subprocess.Popen:
    cmd = [tool("ip")] + (["-n", ns] if ns else []) + (["-force"] if force else []) + ["-b", "-"]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p.stdin.write("".join(line + "\n" for line in lines))  # type: ignore[union-attr]
    p.stdin.close()  # type: ignore[union-attr]
    return p


def _wait(procs: Sequence[tuple[str, subprocess.Popen]]) -> None:
    errors = []
    for what, p in procs:
        err = p.stderr.read() if p.stderr else ""  # type: ignore[union-attr]
        if p.stdout:
            p.stdout.read()
        if p.wait() != 0:
            errors.append(f"{what}: {err.strip()[:500]}")
    if errors:
        raise LabError("lab set-up failed: " + "; ".join(errors))


def addr_command(addr: str) -> str:
    """The ``ip`` batch line that gives eth0 of a zone namespace one host address."""
    return f"addr replace {addr}/32 dev eth0" if ":" not in addr else f"addr replace {addr}/128 dev eth0 nodad"


def _process_start(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def owner_alive(owner: dict[str, Any] | None) -> bool:
    if owner is None:
        return True
    return _process_start(int(owner["pid"])) == owner.get("start")


def existing_namespaces() -> set[str]:
    try:
        return set(os.listdir(netns.NETNS_RUN_DIR))
    except FileNotFoundError:
        return set()


# ---------------------------------------------------------------- state

def state_path(name: str) -> str:
    return os.path.join(run_dir(), f"lab-{name}.json")


def list_states() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    try:
        names = sorted(os.listdir(run_dir()))
    except FileNotFoundError:
        return out
    except PermissionError:
        raise LabError(f"cannot read the lab records in {run_dir()}: permission denied; the lab needs root") from None
    for fn in names:
        if fn.startswith("lab-") and fn.endswith(".json"):
            try:
                with open(os.path.join(run_dir(), fn), encoding="utf-8") as fh:
                    d = json.load(fh)
                if isinstance(d, dict) and d.get("version") == STATE_VERSION:
                    out.append(d)
            except (OSError, ValueError):
                continue
    return out


def _write_state(d: dict[str, Any]) -> None:
    from ..api import write_atomically

    os.makedirs(run_dir(), mode=0o700, exist_ok=True)
    write_atomically(state_path(d["name"]), json.dumps(d, indent=1, sort_keys=True) + "\n")


def load_state(name: str | None) -> dict[str, Any]:
    """The record of a live lab: the named one, or the only one."""
    states = [s for s in list_states() if owner_alive(s.get("owner"))]
    if name is None:
        if len(states) == 1:
            return states[0]
        if not states:
            raise LabError("no lab is up; start one with: zonepolicy lab up POLICY --firewall NAME --backend nftables")
        raise LabError(f"several labs are up ({', '.join(sorted(s['name'] for s in states))}); say which with --lab")
    for s in states:
        if s["name"] == name:
            return s
    raise LabError(f"no lab named {name!r} is up (labs: {', '.join(sorted(s['name'] for s in states)) or 'none'})")


def delete_namespaces(names: Sequence[str]) -> None:
    present = existing_namespaces()
    todo = [n for n in names if n in present]
    if todo:
        p = _ip_batch([f"netns del {n}" for n in todo], force=True)
        for pipe in (p.stdout, p.stderr):
            pipe.read()  # type: ignore[union-attr]
        p.wait()


def teardown_state(d: dict[str, Any]) -> None:
    """Remove a lab's namespaces, then its record (the record goes last: it is how we find them)."""
    topo = Topology.from_dict(d["topology"])
    delete_namespaces(topo.namespaces())
    # a crash between "netns add" and the record's namespaces list: anything else with the prefix
    delete_namespaces(sorted(n for n in existing_namespaces() if n.startswith(topo.prefix)))
    for path in (state_path(d["name"]), os.path.join(run_dir(), f"lab-{d['name']}.lock")):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def remove_stale() -> list[str]:
    """Remove labs whose owner is gone and namespaces with our prefix that no record claims."""
    removed = []
    states = list_states()
    claimed = set()
    present = existing_namespaces()
    for s in states:
        owner = s.get("owner")
        # a lab with no namespaces left (deleted by hand) is stale too, unless it is being built
        gone = owner is None and not (set(Topology.from_dict(s["topology"]).namespaces()) & present)
        if not owner_alive(owner) or gone:
            teardown_state(s)
            removed.append(s["name"])
        else:
            claimed.add(s["topology"]["prefix"])
    orphans = sorted(n for n in existing_namespaces() if NS_PREFIX_RE.match(n) and n[:9] not in claimed)
    if orphans:
        delete_namespaces(orphans)
        removed.extend(orphans)
    return removed


# ---------------------------------------------------------------- the lab

class LabManager:
    """Build, load, check and tear down one lab; a context manager that always tears down.

    ``persistent=True`` (``lab up``) leaves the lab in place after a successful :meth:`up` and
    records no owner; otherwise the lab belongs to this process and goes away on exit from the
    ``with`` block, also when the block raises.
    """

    def __init__(self, policy: Policy, firewall: str, backend: str, name: str | None = None,
                 policy_path: str = "", persistent: bool = False) -> None:
        if backend not in BACKENDS:
            raise LabError(f"unknown backend {backend!r} (expected one of {', '.join(BACKENDS)})")
        self.policy, self.renamed = lab_view(policy, firewall)
        self.fw = find_firewall(self.policy, firewall)
        self.backend = backend
        self.name = name or self.fw.name
        if not LAB_NAME_RE.match(self.name):
            raise LabError(f"lab name {self.name!r} must be letters, digits, '_', '.', '-' (at most 64)")
        self.policy_path = os.path.abspath(policy_path) if policy_path else ""
        self.persistent = persistent
        self.topology = plan_topology(policy, self.fw, f"zp{os.urandom(3).hex()}-")
        self.state: dict[str, Any] | None = None
        self.timings: dict[str, float] = {}

    # -- context manager
    def __enter__(self) -> "LabManager":
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.persistent or exc[0] is not None:
            self.down()

    # -- life cycle
    def up(self, rules: Sequence[tuple[str, str]] | None = None) -> "LabManager":
        """Create the namespaces and devices, load ``rules`` (default: compiled now), check readiness."""
        if os.geteuid() != 0:
            raise LabError("the lab needs root (network namespaces); run as root or in CI")
        remove_stale()
        if os.path.exists(state_path(self.name)):
            raise LabError(f"lab {self.name!r} is already up; take it down first: zonepolicy lab down --lab {self.name}")
        if rules is None:
            rules = compile_rules(self.policy, self.fw.name, self.backend)
        for fn, _ in rules:
            _loader_for(fn)
        taken = {n[:9] for n in existing_namespaces() if NS_PREFIX_RE.match(n)}
        while self.topology.prefix in taken:       # another lab drew the same random prefix
            self.topology = plan_topology(self.policy, self.fw, f"zp{os.urandom(3).hex()}-")
        t0 = time.perf_counter()
        self.state = {
            "version": STATE_VERSION, "name": self.name, "firewall": self.fw.name, "backend": self.backend,
            "policy": self.policy.name, "policy_path": self.policy_path,
            "flows": sorted(f.id for f in self.policy.flows),
            "owner": {"pid": os.getpid(), "start": _process_start(os.getpid())},
            "created": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
            "topology": self.topology.to_dict(),
            "renamed": self.renamed,
        }
        _write_state(self.state)
        try:
            self._build()
            t1 = time.perf_counter()
            self.load(rules)
            t2 = time.perf_counter()
            self.wait_ready()
            t3 = time.perf_counter()
            self.timings = {"build": t1 - t0, "load": t2 - t1, "ready": t3 - t2}
            if self.persistent:
                self.state["owner"] = None
                _write_state(self.state)
        except BaseException:
            self.down()
            raise
        return self

    def down(self) -> None:
        if self.state is not None:
            teardown_state(self.state)
            self.state = None

    def _build(self) -> None:
        topo = self.topology
        root = [f"netns add {n}" for n in topo.namespaces()]
        _wait([("ip netns add", _ip_batch(root))])
        for n in topo.namespaces():
            with netns.inside(n):
                _pin_sysctls(n == topo.fw_ns)
        links = [f"link add {z.fw_dev} address {_mac(2, k)} netns {topo.fw_ns} type veth "
                 f"peer name eth0 address {z.mac} netns {z.ns}" for k, z in enumerate(topo.zones)]
        _wait([("veth pairs", _ip_batch(links))])
        fw = []
        for name, kind, mac in topo.interfaces:
            if kind == "bridge":
                fw.append(f"link add {name} address {mac} type bridge stp_state 0 forward_delay 0 mcast_snooping 0")
        for z in topo.zones:
            if z.fw_dev != z.iface:
                fw.append(f"link set {z.fw_dev} master {z.iface}")
        fw.append("link set lo up")
        fw += [f"link set {z.fw_dev} up" for z in topo.zones if z.fw_dev != z.iface]
        fw += [f"link set {name} up" for name, _, _ in topo.interfaces]
        for z in topo.zones:
            fw.append(f"neigh replace {z.label4} lladdr {z.mac} dev {z.iface} nud permanent")
            fw.append(f"neigh replace {z.label6} lladdr {z.mac} dev {z.iface} nud permanent")
        by_zone = {z.zone: z for z in topo.zones}
        for prefix, zone in topo.routes:
            z = by_zone[zone]
            if ipaddress.ip_network(prefix).version == 4:
                fw.append(f"route replace {prefix} via {z.label4} dev {z.iface} onlink")
            else:
                fw.append(f"route replace {prefix} via {z.label6} dev {z.iface}")
        procs = [("firewall namespace", _ip_batch(fw, topo.fw_ns))]
        for z in topo.zones:
            canary = [addr_command(z.canary)] if z.canary else []
            procs.append((f"zone {z.zone}", _ip_batch(canary + [
                "link set lo up", "link set eth0 up",
                f"neigh replace {GATEWAY4} lladdr {z.gw_mac} dev eth0 nud permanent",
                f"neigh replace {GATEWAY6} lladdr {z.gw_mac} dev eth0 nud permanent",
                f"route replace default via {GATEWAY4} dev eth0 onlink",
                f"route replace ::/0 via {GATEWAY6} dev eth0",
            ], z.ns)))
        _wait(procs)

    def load(self, rules: Sequence[tuple[str, str]]) -> None:
        """Load ruleset texts into the firewall namespace (replacing what the files replace)."""
        for fn, text in rules:
            _run([tool("ip"), "netns", "exec", self.topology.fw_ns] + _loader_for(fn), text, what=f"loading {fn}")

    def wait_ready(self, timeout: float = 3.0) -> None:
        """Every lab device up and running, then one canary per zone through its link."""
        topo = self.topology
        deadline = time.monotonic() + timeout
        want = {topo.fw_ns: sorted(topo.fw_devices() - {"lo"})}
        want.update({z.ns: ["eth0"] for z in topo.zones})
        for ns, devs in want.items():
            with netns.inside(ns):
                for dev in devs:
                    while True:
                        flags = netns.link_flags(dev)
                        if flags & netns.IFF_UP and flags & netns.IFF_RUNNING:
                            break
                        netns.sync_link(dev)
                        if time.monotonic() > deadline:
                            raise LabError(f"device {dev} in {ns} did not come up within {timeout:.0f} s")
                        time.sleep(0.002)
        from .engine import canary

        canary(topo, self.policy, deadline)


def _pin_sysctls(is_fw: bool) -> None:
    """Per-namespace kernel settings; see the module docstring for why each is pinned."""
    settings: list[tuple[str, str | int]] = [
        ("net.ipv4.conf.all.rp_filter", 0), ("net.ipv4.conf.default.rp_filter", 0),
        ("net.ipv6.conf.default.accept_dad", 0), ("net.ipv6.conf.all.accept_dad", 0),
        ("net.ipv6.conf.default.addr_gen_mode", 1), ("net.ipv6.conf.default.accept_ra", 0),
        ("net.ipv6.conf.default.router_solicitations", 0),
    ]
    if is_fw:
        settings += [("net.ipv4.ip_forward", 1), ("net.ipv6.conf.all.forwarding", 1),
                     ("net.ipv4.conf.all.send_redirects", 0), ("net.ipv4.conf.default.send_redirects", 0)]
        optional = [("net.bridge.bridge-nf-call-iptables", 0), ("net.bridge.bridge-nf-call-ip6tables", 0),
                    ("net.bridge.bridge-nf-call-arptables", 0)]
    else:
        settings += [("net.ipv4.icmp_ratelimit", 0), ("net.ipv4.icmp_msgs_per_sec", 1000000),
                     ("net.ipv4.icmp_msgs_burst", 100000), ("net.ipv6.icmp.ratelimit", 0)]
        optional = []
    for key, value in settings:
        if not netns.write_sysctl(key, value):
            raise LabError(f"sysctl {key} does not exist in this kernel")
    for key, value in optional:
        netns.write_sysctl(key, value)
