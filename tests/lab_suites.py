"""Probe suites for the lab tests, built straight from the meaning (Meaning.decide).

The planner builds the real suites; these are deliberately simple so that the lab tests do not
depend on it: for every ordered pair of zones behind different interfaces of a firewall, a few hosts
of each zone and a fixed set of services, each packet with the verdict and flows the policy gives it.
"""

from __future__ import annotations

import ipaddress

from zonepolicy.model.values import Action
from zonepolicy.probe.suite import Probe, Suite
from zonepolicy.semantics.meaning import Meaning
from zonepolicy.semantics.packet import Packet

SERVICES = ((6, 22, 0), (6, 80, 0), (6, 443, 0), (6, 389, 0), (17, 53, 0), (1, 0, 8), (58, 0, 128))
_ANY_HOSTS = {4: ("198.51.100.10", "192.0.2.20"), 6: ("2001:db8:ffff::10",)}


def zone_hosts(policy, meaning: Meaning, zone: str, per_family: int = 1) -> dict[int, list[int]]:
    """A few addresses whose most specific zone is ``zone`` (plus address objects inside it)."""
    z = next(x for x in policy.zones if x.name == zone)
    out: dict[int, list[int]] = {4: [], 6: []}
    cands: list[ipaddress._BaseAddress] = []
    if z.is_any:
        cands += [ipaddress.ip_address(a) for fam in (4, 6) for a in _ANY_HOSTS[fam]]
    else:
        for net in z.networks:
            cands.append(net.network_address + min(10, net.num_addresses - 1))
            if net.num_addresses > 512:
                cands.append(net.network_address + net.num_addresses // 2 + 7)
    for obj in policy.addresses:
        for net in obj.networks:
            cands.append(net.network_address)
    for a in cands:
        fam = a.version
        if len(out[fam]) < per_family + 1 and meaning.zone_of(fam, int(a)) == zone and int(a) not in out[fam]:
            out[fam].append(int(a))
    return out


def build_suite(policy, fw_name: str, services=SERVICES, per_family: int = 1) -> Suite:
    meaning = Meaning(policy)
    fw = next(f for f in policy.firewalls if f.name == fw_name)
    hosts = {z: zone_hosts(policy, meaning, z, per_family) for i in fw.interfaces for z in i.zones}
    probes = []
    for i in fw.interfaces:
        for o in fw.interfaces:
            if i.name == o.name:
                continue
            for sz in i.zones:
                for dz in o.zones:
                    for fam in (4, 6):
                        for s in hosts[sz][fam]:
                            for d in hosts[dz][fam]:
                                for proto, dport, itype in services:
                                    if (proto == 1 and fam == 6) or (proto == 58 and fam == 4):
                                        continue
                                    pk = Packet(fam, s, d, proto, 40000 if proto in (6, 17, 132) else 0, dport,
                                                itype, 0)
                                    dec = meaning.decide(pk)
                                    if meaning.firewall_interfaces(fw, pk) is None:
                                        continue
                                    probes.append(Probe(
                                        id=f"p{len(probes):05d}", packet=pk, src_zone=dec.src_zone,
                                        dst_zone=dec.dst_zone, expected=dec.action, flows=dec.flows,
                                        reason=dec.reason, stateful=dec.allowed and dec.stateful,
                                        firewall=fw.name))
    return Suite(policy=policy.name, policy_hash="test", firewall=fw.name, probes=tuple(probes))


def count(suite: Suite, action: Action) -> int:
    return sum(1 for p in suite.probes if p.expected is action)
