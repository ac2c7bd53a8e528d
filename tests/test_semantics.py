"""The one meaning function: concrete and symbolic evaluations agree, and both agree with an
independent, deliberately naive reading of the documented semantics (docs/language.md)."""

from __future__ import annotations

import ipaddress
import os
import random
import tempfile

from hypothesis import given, settings, strategies as st

from strategies import small_policies
from zonepolicy import api
from zonepolicy.model.policy import Endpoint, Policy
from zonepolicy.model.values import Action
from zonepolicy.semantics.meaning import Meaning
from zonepolicy.semantics.packet import Packet
from conftest import EXAMPLES, load_policy_text as load_text




# ---- the naive oracle: written from the documentation, sharing no code with semantics/
def oracle_zone(policy: Policy, ip) -> str | None:
    best = None
    for z in policy.zones:
        if z.is_any:
            continue
        if any(ip.version == n.version and ip in n for n in z.networks):
            if best is None or z.name.count(".") > best.name.count("."):
                best = z
    if best is not None:
        return best.name
    return next((z.name for z in policy.zones if z.is_any), None)


def oracle_endpoint(ep: Endpoint, ip, zone: str | None) -> bool:
    if ep.is_zone:
        return zone in ep.zones
    return any(ip.version == n.version and ip in n for n in ep.networks)


def oracle_allows(policy: Policy, p: Packet) -> bool:
    src, dst = p.src_ip, p.dst_ip
    sz, dz = oracle_zone(policy, src), oracle_zone(policy, dst)

    def matches(f) -> bool:
        if not any(oracle_endpoint(e, src, sz) for e in f.sources):
            return False
        if not any(oracle_endpoint(e, dst, dz) for e in f.destinations):
            return False
        if not f.services:
            return True
        for t in f.services:
            if t.protocol is not None and t.protocol != p.proto:
                continue
            if (t.protocol == 1 and p.family != 4) or (t.protocol == 58 and p.family != 6):
                continue  # ICMP is IPv4's, ICMPv6 IPv6's (language.md 12.3)
            if t.ports and not any(r.lo <= p.dport <= r.hi for r in t.ports):
                continue
            if t.icmp_type is not None and t.icmp_type != p.icmp_type:
                continue
            if t.icmp_code is not None and t.icmp_code != p.icmp_code:
                continue
            return True
        return False

    hits = [f for f in policy.flows if matches(f)]
    if any(f.action is Action.DENY for f in hits):
        return False
    if hits:
        return True
    if sz is not None and sz == dz:
        return policy.intrazone is Action.ALLOW
    return policy.default is Action.ALLOW


# ---- packets worth asking about: boundaries of every network and every service
def interesting_packets(policy: Policy, seed: int, count: int = 150) -> list[Packet]:
    rng = random.Random(seed)
    addrs: dict[int, list[int]] = {4: [int(ipaddress.ip_address("192.0.2.1"))],
                                   6: [int(ipaddress.ip_address("2001:db8:ffff::1"))]}
    nets = [n for z in policy.zones for n in z.networks] + [n for a in policy.addresses for n in a.networks]
    nets += [n for f in policy.flows for e in f.sources + f.destinations for n in e.networks]
    for n in nets:
        lo, hi = int(n.network_address), int(n.broadcast_address)
        addrs[n.version] += [lo, hi, rng.randint(lo, hi)]
        if lo > 0:
            addrs[n.version].append(lo - 1)
    services = [(6, 0, 0), (17, 0, 0), (1, 8, 0), (58, 128, 0), (47, 0, 0)]
    for f in policy.flows:
        for t in f.services:
            proto = t.protocol if t.protocol is not None else 6
            for r in t.ports or ():
                services += [(proto, max(r.lo - 1, 0), 0), (proto, r.lo, 0), (proto, r.hi, 0),
                             (proto, min(r.hi + 1, 65535), 0)]
            if t.icmp_type is not None:
                services += [(proto, t.icmp_type, t.icmp_code or 0), (proto, t.icmp_type, (t.icmp_code or 0) + 1)]
            services.append((proto, 0, 0))
    out = []
    for _ in range(count):
        fam = 4 if rng.random() < 0.7 or len(addrs[6]) < 2 else 6
        proto, a, b = rng.choice(services)
        kw = dict(dport=a, sport=rng.choice([0, 1024, 40000])) if proto in (6, 17, 132) else \
            dict(icmp_type=a, icmp_code=b) if proto in (1, 58) else {}
        out.append(Packet(family=fam, src=rng.choice(addrs[fam]), dst=rng.choice(addrs[fam]), proto=proto, **kw))
    return out


@settings(max_examples=25)
@given(small_policies(), st.integers(0, 2**16))
def test_decide_agrees_with_the_naive_oracle_and_with_the_packet_sets(text: str, seed: int) -> None:
    policy = load_text(text)
    meaning = Meaning(policy)
    allowed = meaning.allowed()
    for p in interesting_packets(policy, seed):
        decision = meaning.decide(p)
        assert decision.allowed == oracle_allows(policy, p), (str(p), decision)
        assert (p in allowed) == decision.allowed, (str(p), decision)


@settings(max_examples=20)
@given(small_policies(), st.integers(0, 2**16))
def test_every_packet_drawn_from_a_set_is_judged_like_the_set_says(text: str, seed: int) -> None:
    policy = load_text(text)
    meaning = Meaning(policy)
    allowed = meaning.allowed()
    for p in allowed.picks(12):
        assert meaning.decide(p).allowed and oracle_allows(policy, p)
    for p in (~allowed).picks(12):
        assert not meaning.decide(p).allowed and not oracle_allows(policy, p)
    for f in policy.flows:
        for p in meaning.flow_set(f).picks(3):
            assert meaning.flow_matches(f, p)


def test_quickstart_worked_examples() -> None:
    policy = api.load_policy(str(EXAMPLES / "quickstart" / "policy.zp"))
    m = Meaning(policy)
    cases = [
        (Packet.of("198.51.100.7", "203.0.113.10", 6, dport=443), True, "flow"),     # internet -> access zone
        (Packet.of("198.51.100.7", "10.10.8.5", 6, dport=443), False, "default"),    # internet -> portal directly
        (Packet.of("198.51.100.7", "10.20.1.1", 6, dport=443), False, "flow"),       # explicit deny wins
        (Packet.of("10.20.3.4", "10.10.1.10", 6, dport=389), True, "flow"),          # tax -> CA ldap
        (Packet.of("10.20.3.4", "10.10.1.11", 6, dport=389), False, "default"),      # not the CA host
        (Packet.of("10.10.1.1", "10.10.2.2", 17, dport=9999), True, "intrazone"),    # inside public
        (Packet.of("10.10.1.1", "10.10.8.2", 6, dport=22), False, "default"),        # parent -> sub-zone
        (Packet.of("10.99.0.5", "10.20.0.1", 6, dport=22), True, "flow"),            # mgmt ssh
        (Packet.of("10.99.0.5", "10.20.0.1", 6, dport=23), False, "default"),
    ]
    for packet, allowed, reason in cases:
        d = m.decide(packet)
        assert (d.allowed, d.reason) == (allowed, reason), str(packet)
        assert (packet in m.allowed()) == allowed


# ---- ICMP belongs to its family (language.md 12.3)
_FAMILY_POLICY = """
policy fam { default deny
  intrazone deny }
zone a { networks 10.1.0.0/16, 2001:db8:1::/48 }
zone b { networks 10.2.0.0/16, 2001:db8:2::/48 }
allow a -> b : {term}
"""


@settings(max_examples=30)
@given(st.sampled_from(["icmp", "icmpv6", "ip"]), st.one_of(st.none(), st.integers(0, 255)),
       st.one_of(st.none(), st.integers(0, 255)), st.integers(0, 255), st.integers(0, 255),
       st.integers(0, 2**16 - 1))
def test_an_icmp_term_never_matches_a_packet_of_the_other_family(
        proto: str, icmp_type: int | None, icmp_code: int | None, ptype: int, pcode: int, host: int) -> None:
    if proto == "ip":
        term = "ip/icmp" if icmp_type is None else "ip/icmpv6"
        number = 1 if term == "ip/icmp" else 58
    else:
        number = 1 if proto == "icmp" else 58
        term = f"{proto}/any" if icmp_type is None else \
            f"{proto}/{icmp_type}" + ("" if icmp_code is None else f":{icmp_code}")
    policy = load_text(_FAMILY_POLICY.replace("{term}", term))
    meaning = Meaning(policy)
    own, other = (4, 6) if number == 1 else (6, 4)
    v4 = (int(ipaddress.ip_address("10.1.0.0")) + host, int(ipaddress.ip_address("10.2.0.0")) + host)
    v6 = (int(ipaddress.ip_address("2001:db8:1::")) + host, int(ipaddress.ip_address("2001:db8:2::")) + host)
    addrs = {4: v4, 6: v6}
    # the same header in the other family: never matched, never allowed, in both evaluations
    foreign = Packet(other, *addrs[other], number, icmp_type=ptype, icmp_code=pcode)
    assert not meaning.flow_matches(policy.flows[0], foreign)
    assert not meaning.decide(foreign).allowed
    assert foreign not in meaning.allowed()
    assert not any(p.family == other for p in meaning.flow_set(policy.flows[0]).picks(8))
    # and in its own family the term still matches what it names
    native = Packet(own, *addrs[own], number,
                    icmp_type=ptype if icmp_type is None else icmp_type,
                    icmp_code=pcode if icmp_code is None or icmp_type is None else icmp_code)
    assert meaning.decide(native).allowed
    assert native in meaning.allowed()
