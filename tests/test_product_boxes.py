"""PacketSet.product_boxes: the boxes of a conjunction of per-field parts, without walking it."""

from __future__ import annotations

import ipaddress

from hypothesis import given, strategies as st

from zonepolicy.semantics.packetset import PacketSet

V4 = [f"10.0.{k}.0/24" for k in range(4)] + ["10.0.0.128/25", "10.0.1.7/32", "0.0.0.0/0"]
V6 = ["2001:db8::/48", "2001:db8:0:1::/64", "2001:db8:1::/48", "::/0"]


@st.composite
def address_parts(draw, side):
    """A set that constrains only ``side`` (and the family): unions and differences of prefixes."""
    def one():
        nets = draw(st.lists(st.sampled_from(V4 + V6), min_size=1, max_size=3))
        return PacketSet.build(**{side: nets})
    out = one()
    for _ in range(draw(st.integers(0, 2))):
        out = (out | one()) if draw(st.booleans()) else (out - one())
    return out


ranges = st.lists(st.tuples(st.integers(0, 70), st.integers(0, 70)).map(sorted).map(tuple), min_size=1, max_size=2)


@st.composite
def service_parts(draw):
    """A set that constrains only protocol, ports and ICMP fields (and maybe the family)."""
    def one():
        kind = draw(st.sampled_from(["tcp", "udp", "icmp", "icmpv6", "proto", "any"]))
        family = draw(st.sampled_from([None, 4, 6]))
        if kind in ("tcp", "udp"):
            return PacketSet.build(family=family, proto=[(6, 6) if kind == "tcp" else (17, 17)],
                                   dport=draw(ranges), sport=draw(st.none() | ranges))
        if kind in ("icmp", "icmpv6"):
            return PacketSet.build(family=4 if kind == "icmp" else 6, proto=[(1, 1) if kind == "icmp" else (58, 58)],
                                   icmp_type=draw(st.none() | ranges), icmp_code=draw(st.none() | ranges))
        if kind == "proto":
            return PacketSet.build(family=family, proto=draw(ranges))
        return PacketSet.universe() if family is None else PacketSet.build(family=family)
    out = one()
    for _ in range(draw(st.integers(0, 2))):
        out = (out | one()) if draw(st.booleans()) else (out - one())
    return out


@given(address_parts("dst"), address_parts("src"), service_parts())
def test_product_boxes_equal_the_boxes_of_the_conjunction(dst, src, rest):
    assert PacketSet.product_boxes(dst, src, rest) == (dst & src & rest).boxes()
    assert PacketSet.product_pick(dst, src, rest) == (dst & src & rest).pick()


@given(st.lists(st.one_of(address_parts("dst"), address_parts("src"), service_parts()), min_size=6, max_size=6))
def test_any_parts_give_the_boxes_of_the_conjunction_or_none(sets):
    # parts of the wrong shape (swapped, or products spanning several fields) must never give wrong boxes
    dst, src, rest = sets[0] & sets[1], sets[2] | sets[3], sets[4] - sets[5]
    got = PacketSet.product_boxes(dst, src, rest)
    assert got is None or got == (dst & src & rest).boxes()
    picked = PacketSet.product_pick(dst, src, rest)
    assert picked is None or picked == (dst & src & rest).pick()
    assert (got is None) == (picked is None) or (dst & src & rest).is_empty()


def test_parts_outside_their_fields_are_refused():
    dst = PacketSet.build(dst=["10.2.0.0/16"])
    src = PacketSet.build(src=["10.1.0.0/16"])
    tcp = PacketSet.build(proto=[(6, 6)])
    assert PacketSet.product_boxes(src, dst, tcp) is None  # swapped
    assert PacketSet.product_boxes(dst | src, src, tcp) is None  # a destination part that is not a product
    assert PacketSet.product_boxes(dst, src, tcp & dst) is None  # services that constrain an address
    assert PacketSet.product_boxes(dst, src, tcp) == (dst & src & tcp).boxes()
    assert PacketSet.product_pick(src, dst, tcp) is None
    assert PacketSet.product_pick(dst, src, tcp) == (dst & src & tcp).pick()


def test_a_flow_shaped_product():
    dst = PacketSet.build(dst=[ipaddress.ip_network("10.2.0.0/16"), ipaddress.ip_network("2001:db8:2::/48")])
    src = PacketSet.build(src=["10.1.0.0/16"]) - PacketSet.build(src=["10.1.1.0/24"])
    rest = PacketSet.build(proto=[(6, 6)], dport=[(443, 443), (80, 80)]) | PacketSet.build(family=4, proto=[(1, 1)],
                                                                                           icmp_type=[(8, 8)])
    boxes = PacketSet.product_boxes(dst, src, rest)
    assert boxes == (dst & src & rest).boxes()
    # protocol order (icmp before tcp); no IPv6 box, the sources being IPv4 only
    assert [str(b) for b in boxes] == [
        "icmp 10.1.0.0/24,10.1.2.0/23,10.1.4.0/22,10.1.8.0/21,10.1.16.0/20,10.1.32.0/19,10.1.64.0/18,10.1.128.0/17"
        " -> 10.2.0.0/16 type 8",
        "tcp 10.1.0.0/24,10.1.2.0/23,10.1.4.0/22,10.1.8.0/21,10.1.16.0/20,10.1.32.0/19,10.1.64.0/18,10.1.128.0/17"
        " -> 10.2.0.0/16 dport 80,443",
    ]
