"""The compilers' interval fast paths give what the packet-set engine gives.

Each fast path in compilers/_intervals.py (and its use in lowering and in the nftables plan) stands
for a packet-set computation; these properties compare the two on random inputs.
"""

from __future__ import annotations

import ipaddress
import unicodedata

import pytest
from hypothesis import given, settings, strategies as st

from strategies import Sizes, policy_specs, render_policy
from test_iptables import _iptables_spec
from test_nftables import as_nftables
from conftest import load_policy_text
from zonepolicy.compilers import _intervals as iv
from zonepolicy.compilers import _iptables_read, nftables
from zonepolicy.compilers.base import get_compiler
from zonepolicy.compilers.iptables import clean_text
from zonepolicy.compilers.base import _Lowering, lower
from zonepolicy.model.values import PortRange, ServiceTerm
from zonepolicy.semantics.meaning import Meaning
from zonepolicy.semantics.packetset import PacketSet

TOP = {4: 2**32 - 1, 6: 2**128 - 1}


@st.composite
def address_intervals(draw, family: int, most: int = 5):
    """A few intervals, biased to small widths near each other so that they meet and touch."""
    base_ = draw(st.sampled_from([0, 10 << 24, TOP[family] - 4096]))
    out = []
    for _ in range(draw(st.integers(0, most))):
        lo = base_ + draw(st.integers(0, 2048))
        out.append((lo, min(lo + draw(st.integers(0, 300)), TOP[family])))
    return out


def _set(side: str, per: dict[int, list]) -> PacketSet:
    out = PacketSet.empty()
    for family, ivs in per.items():
        if ivs:
            out = out | PacketSet.build(family=family, **{side: ivs})
    return out


@given(address_intervals(4), address_intervals(4), address_intervals(6), address_intervals(6),
       st.sampled_from(["src", "dst"]))
def test_intersection_of_address_lists_is_the_engines(a4, b4, a6, b6, side) -> None:
    a, b = _set(side, {4: a4, 6: a6}), _set(side, {4: b4, 6: b6})
    got = {f: iv.intersect(iv.union(x), iv.union(y)) for f, x, y in ((4, a4, b4), (6, a6, b6))}
    assert iv.address_intervals(a & b, side) == {f: ivs for f, ivs in got.items() if ivs}
    assert iv.address_intervals(a, side) == {f: iv.union(x) for f, x in ((4, a4), (6, a6)) if x}
    for f, ivs in got.items():
        if ivs:
            [box] = [x for x in (a & b).boxes() if x.family == f]
            assert iv.networks(f, ivs) == getattr(box, side)


@given(address_intervals(4), address_intervals(4))
def test_overlaps_is_nonempty_intersection(a, b) -> None:
    a, b = iv.union(a), iv.union(b)
    assert iv.overlaps(a, b) == bool(iv.intersect(a, b))


def test_address_intervals_refuses_sets_that_constrain_more() -> None:
    nets = [ipaddress.ip_network("10.0.0.0/8")]
    assert iv.address_intervals(PacketSet.build(src=nets, proto=[(6, 6)]), "src") is None
    assert iv.address_intervals(PacketSet.build(src=nets, dst=nets), "src") is None
    assert iv.address_intervals(PacketSet.build(dst=nets), "src") is None
    assert iv.address_intervals(PacketSet.build(src=nets), "src") == {4: ((10 << 24, (11 << 24) - 1),)}


_PORTS = st.lists(st.tuples(st.integers(0, 700), st.integers(0, 40)).map(lambda t: PortRange(t[0], t[0] + t[1])),
                  max_size=3).map(tuple)
_TERM = st.builds(ServiceTerm, st.sampled_from([6, 17, 132, 1, 58, 47, None]), _PORTS)


_SMALL = "policy p { default deny; intrazone allow }\nzone a { networks 10.0.0.0/8 }\n"


@given(st.lists(_TERM, min_size=1, max_size=4).map(tuple))
def test_port_service_boxes_are_the_engines(services) -> None:
    lowering = _Lowering(Meaning(load_policy_text(_SMALL)))
    fast = iv.port_service_boxes(services)
    if all(t.protocol in (6, 17, 132) for t in services):
        assert fast == lowering._services_by_sets(services)
    else:
        assert fast is None


Box = tuple


def _box(draw, family: int):
    def ivs(top, most=2):
        out = []
        for _ in range(draw(st.integers(1, most))):
            lo = draw(st.integers(0, min(top, 40)))
            out.append((lo, min(top, lo + draw(st.integers(0, 12)))))
        return iv.union(out)
    return (family, ivs(TOP[family]), ivs(TOP[family]), ivs(255), ivs(65535), ivs(255), ivs(255))


@st.composite
def box_groups(draw):
    return [[_box(draw, draw(st.sampled_from([4, 4, 6]))) for _ in range(draw(st.integers(1, 3)))]
            for _ in range(draw(st.integers(0, 6)))]


def _raw_meet(a: Box, b: Box) -> bool:
    return a[0] == b[0] and all(iv.overlaps(x, y) for x, y in zip(a[1:], b[1:]))


def _group_set(boxes) -> PacketSet:
    out = PacketSet.empty()
    for f, s, d, p, dp, t, c in boxes:
        out = out | PacketSet.build(family=f, src=list(s), dst=list(d), proto=list(p), dport=list(dp),
                                    icmp_type=list(t), icmp_code=list(c))
    return out


@given(box_groups())
def test_sweep_finds_exactly_the_groups_whose_boxes_meet_an_earlier_one(groups) -> None:
    got = iv.later_overlapping(groups, budget=10**6)
    want = {k for k, boxes in enumerate(groups)
            if any(_raw_meet(a, b) for earlier in groups[:k] for b in earlier for a in boxes)}
    assert got == want
    # sound for the packets: a group left out shares no packet with the groups before it
    covered = PacketSet.empty()
    for k, boxes in enumerate(groups):
        whole = _group_set(boxes)
        if k not in got:
            assert (whole & covered).is_empty()
        covered = covered | whole


def test_sweep_gives_up_beyond_its_budget() -> None:
    same = (4, ((0, 10),), ((0, 10),), ((6, 6),), ((80, 80),), ((0, 255),), ((0, 255),))
    assert iv.later_overlapping([[same]] * 50, budget=100) is None
    assert iv.later_overlapping([[same]] * 50, budget=10**6) == set(range(1, 50))


# ---------------------------------------------------------------- whole policies: fast path vs reference
MIXED = Sizes(top_zones=3, children=2, grandchildren=False, addresses=3, services=2, flows=8, firewalls=2, waivers=0)


@given(policy_specs(MIXED).filter(lambda s: any(len(f.interfaces) > 1 for f in s.firewalls)),
       st.integers(0, 2**32 - 1))
def test_lowering_and_nftables_plan_match_the_engine_path(spec, seed) -> None:
    policy = load_policy_text(render_policy(as_nftables(spec), seed))
    meaning = Meaning(policy)
    for fw in policy.firewalls:
        names = [i.name for i in fw.interfaces]
        for side in ("src", "dst"):
            behind = {n: meaning.zones_addresses(i.zones, side) for n, i in zip(names, fw.interfaces)}
            lowering = _Lowering(meaning)
            for flow in policy.flows:
                endpoints = flow.sources if side == "src" else flow.destinations
                if endpoints:
                    fast = lowering._side_by_intervals(endpoints, side, behind)
                    assert fast is not None and fast == lowering._side_by_sets(endpoints, side, behind)
        model = lower(policy, fw, meaning)
        fast_text = nftables.render_model(model)
        with pytest.MonkeyPatch.context() as m:  # every group decided by the engine, as before the sweep
            m.setattr(iv, "later_overlapping", lambda groups, budget: None)
            assert nftables.render_model(model) == fast_text
        with pytest.MonkeyPatch.context() as m:  # lowering through packet sets only
            m.setattr(_Lowering, "_side_by_intervals", lambda self, *a: None)
            m.setattr(iv, "port_service_boxes", lambda services: None)
            assert lower(policy, fw, meaning) == model


@given(st.sampled_from([4, 6]), st.data())
def test_networks_are_the_fewest_aligned_blocks(family, data) -> None:
    lo = data.draw(st.one_of(st.just(0), st.integers(0, TOP[family])))
    hi = data.draw(st.one_of(st.just(TOP[family]), st.integers(lo, min(TOP[family], lo + 2**40))))
    cls = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    got = iv.networks(family, ((lo, hi),))
    assert list(got) == list(ipaddress.summarize_address_range(cls(lo), cls(hi)))
    assert got.ivs == ((lo, hi),) and iv.ranges(got) == ((lo, hi),) and iv.ranges(tuple(got)) == ((lo, hi),)


@given(st.sampled_from([4, 6]), st.data())
def test_address_texts_are_ipaddress_texts(family, data) -> None:
    value = data.draw(st.integers(0, TOP[family]))
    plen = data.draw(st.integers(0, 32 if family == 4 else 128))
    net = ipaddress.ip_network((value, plen), strict=False)
    assert iv.network_text(net) == str(net)
    cls = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    assert iv.ip_text(family, value) == str(cls(value))


@given(st.text(max_size=30))
def test_iptables_clean_text_fast_path_is_the_character_walk(text) -> None:
    walked = "".join(ch if ch == " " or unicodedata.category(ch)[0] not in "CZ" else "?" for ch in text)
    assert clean_text(text) == walked


_FIELD_IVS = {"proto": 255, "dport": 65535, "icmp_type": 255, "icmp_code": 255}


@st.composite
def constraints(draw):
    from zonepolicy.compilers._nft_reader import Constraint

    c = Constraint()
    c.family = draw(st.sampled_from([4, 6]))
    for name in ("src", "dst", "proto", "dport", "icmp_type", "icmp_code"):
        if draw(st.booleans()):
            top = TOP[c.family] if name in ("src", "dst") else _FIELD_IVS[name]
            c.add(name, [tuple(sorted(draw(st.tuples(st.integers(0, min(top, 300)), st.integers(0, min(top, 300))))))])
    return c


@given(st.lists(constraints(), min_size=2, max_size=4))
def test_reader_element_boxes_hold_their_packets(cons) -> None:
    """The nftables reader's overlap check may skip the engine only for elements whose boxes share no
    point: each element's packets lie in its box, so boxes apart mean packets apart."""
    from zonepolicy.compilers._nft_reader import _raw_box, _to_set

    sets = [_to_set(c, "test") for c in cons]
    boxes = [_raw_box(c) for c in cons]
    for s, b in zip(sets, boxes):
        assert s <= _group_set([b])
    meeting = iv.later_overlapping([[b] for b in boxes], 10**6)
    seen = PacketSet.empty()
    for k, s in enumerate(sets):
        if k not in meeting:
            assert (s & seen).is_empty()
        seen = seen | s


@given(st.text(alphabet=st.sampled_from(list("ab-/:!\\' \t.0")), max_size=30))
def test_iptables_tokenize_without_quotes_splits_like_the_quote_walk(line) -> None:
    from zonepolicy.compilers._iptables_read import tokenize

    # an empty quoted argument at the end sends the same text through the character walk
    assert tokenize(line + ' ""') == tokenize(line) + [""]


# ---------------------------------------------------------------- readers: shortcuts vs the plain reading
def _pair_sets(pairs) -> list:
    return [(p.in_if, p.out_if, [(r.packets, r.accept) for r in p.rules]) for p in pairs]


READ = Sizes(top_zones=3, children=1, grandchildren=False, addresses=2, services=2, flows=5, firewalls=1, waivers=0)


@settings(max_examples=15)  # each example reads four files twice
@given(policy_specs(READ).filter(lambda s: any(len(f.interfaces) > 1 for f in s.firewalls)),
       st.integers(0, 2**32 - 1), st.integers(0, 2**12 - 1))
def test_readers_read_the_same_without_their_shortcuts(spec, seed, toggles) -> None:
    """The iptables reader's shared-condition cache and the nftables reader's range sweep over map
    elements change nothing the readers return."""
    for target, text in (("nftables", render_policy(as_nftables(spec), seed)),
                         ("iptables", render_policy(_iptables_spec(spec, toggles), seed, with_comments=False))):
        policy = load_policy_text(text)
        meaning = Meaning(policy)
        compiler = get_compiler(target)
        for fw in policy.firewalls:
            outs = compiler.render(lower(policy, fw, meaning))
            fast = _pair_sets(compiler.read_outputs(outs, fw))
            with pytest.MonkeyPatch.context() as m:
                m.setattr(iv, "later_overlapping", lambda groups, budget: None)
                m.setattr(_iptables_read.Cond, "key", property(lambda self: None, lambda self, v: None))
                assert _pair_sets(compiler.read_outputs(outs, fw)) == fast
