"""Meaning.decide through the zone-pair flow index gives exactly the decision of the plain scan."""

from __future__ import annotations

import ipaddress
import random

from hypothesis import given, strategies as st

from conftest import EXAMPLES, load_policy_text
from strategies import Sizes, policies
from test_semantics import oracle_allows
from zonepolicy import api
from zonepolicy.model.values import Action
from zonepolicy.semantics.meaning import Meaning
from zonepolicy.semantics.packet import TCP, UDP, Packet

MEDIUM = Sizes(top_zones=4, children=2, grandchildren=True, addresses=3, services=2, flows=8, firewalls=1, waivers=0)


def packets_worth_asking(policy, meaning, seed):
    """Addresses at and next to every prefix edge, ports at and next to every range, and flow hits."""
    rng = random.Random(seed)
    addrs = {4: [_ip("192.0.2.1")], 6: [_ip("2001:db8:ffff::1")]}
    nets = [n for z in policy.zones for n in z.networks]
    nets += [n for f in policy.flows for e in f.sources + f.destinations for n in e.networks]
    for n in nets:
        lo, hi = int(n.network_address), int(n.broadcast_address)
        addrs[n.version] += [lo, hi, rng.randint(lo, hi), max(lo - 1, 0), min(hi + 1, 2 ** (n.max_prefixlen) - 1)]
    services = [(6, 0, 0), (17, 53, 0), (1, 8, 0), (58, 128, 0), (47, 0, 0), (132, 9, 0)]
    for f in policy.flows:
        for t in f.services:
            proto = t.protocol if t.protocol is not None else rng.choice([6, 17, 1, 58, 50])
            for r in t.ports:
                services += [(proto, max(r.lo - 1, 0), 0), (proto, r.lo, 0), (proto, r.hi, 0),
                             (proto, min(r.hi + 1, 65535), 0)]
            if t.icmp_type is not None:
                services += [(proto, t.icmp_type, t.icmp_code or 0), (proto, t.icmp_type, min((t.icmp_code or 0) + 1, 255))]
    out = []
    for _ in range(80):
        fam = rng.choice([4, 6]) if len(addrs[6]) > 1 else 4
        proto, a, b = rng.choice(services)
        kw = dict(sport=40000, dport=a) if proto in (6, 17, 132) else \
            dict(icmp_type=a, icmp_code=b) if proto in (1, 58) else {}
        out.append(Packet(fam, rng.choice(addrs[fam]), rng.choice(addrs[fam]), proto, **kw))
    for f in policy.flows:  # packets some flow matches, so the candidate lists are exercised, not only misses
        out += meaning.flow_set(f).picks(2)
    return out


@given(policies(comments=False, sizes=MEDIUM), st.integers(0, 2**16))
def test_indexed_decide_equals_the_plain_scan(text, seed):
    policy = load_policy_text(text)
    meaning = Meaning(policy)
    allowed = meaning.allowed()
    for p in packets_worth_asking(policy, meaning, seed):
        fast, plain = meaning.decide(p), meaning._decide_by_scan(p)
        assert fast == plain, (str(p), fast, plain)
        assert fast.allowed == oracle_allows(policy, p) == (p in allowed), str(p)
        # asked again (the pair's candidates now cached): the same answer
        assert meaning.decide(p) == fast


def _ip(text: str) -> int:
    return int(ipaddress.ip_address(text))


def test_address_endpoints_match_packets_of_any_zone_and_of_none():
    policy = load_policy_text("""
policy idx { default deny; intrazone deny }
zone a { networks 10.1.0.0/16 }
zone a.x { networks 10.1.1.0/24 }
zone b { networks 10.2.0.0/16 }
address spread = 10.1.1.5, 10.2.0.7, 192.0.2.9
allow spread -> b : tcp/22
allow a -> 192.0.2.0/24 : tcp/80
deny a.x -> b : tcp/22
allow a -> b : tcp/22
allow a -> a : udp/53
""")
    meaning = Meaning(policy)
    ids = [f.id for f in policy.flows]

    def decide(src, dst, proto, dport):
        p = Packet(4, _ip(src), _ip(dst), proto, 40000, dport)
        d = meaning.decide(p)
        assert d == meaning._decide_by_scan(p)
        return d

    # an address in sub-zone a.x, in the object: the object flow, the deny and the zone allow all hit,
    # the denies first as in every decision
    d = decide("10.1.1.5", "10.2.0.1", TCP, 22)
    assert (d.action, d.flows, d.src_zone) == (Action.DENY, (ids[2],), "a.x")
    # the object's address in zone b as the source, b the destination: only the object flow
    d = decide("10.2.0.7", "10.2.0.1", TCP, 22)
    assert (d.action, d.flows, d.reason) == (Action.ALLOW, (ids[0],), "flow")
    # an address of no zone (there is no `networks any` zone): the object still matches it
    d = decide("192.0.2.9", "10.2.0.1", TCP, 22)
    assert (d.action, d.flows, d.src_zone) == (Action.ALLOW, (ids[0],), None)
    # a literal destination outside every zone
    d = decide("10.1.3.3", "192.0.2.200", TCP, 80)
    assert (d.action, d.flows, d.dst_zone) == (Action.ALLOW, (ids[1],), None)
    # several allows: their ids in policy order
    d = decide("10.1.2.2", "10.2.0.7", TCP, 22)
    assert d.flows == (ids[3],)
    d = decide("10.1.1.5", "10.1.2.2", UDP, 53)
    assert (d.action, d.flows) == (Action.ALLOW, (ids[4],))
    d = decide("10.1.2.2", "10.1.2.3", UDP, 54)
    assert (d.action, d.reason) == (Action.DENY, "intrazone")


def test_the_province_example_decides_like_the_scan():
    policy = api.load_policy(str(EXAMPLES / "jiangsu" / "main.zp"))
    meaning = Meaning(policy)
    packets = []
    for f in policy.flows:
        packets += meaning.flow_set(f).picks(2)
    packets += (~meaning.allowed()).picks(40)
    for p in packets:
        assert meaning.decide(p) == meaning._decide_by_scan(p), str(p)
