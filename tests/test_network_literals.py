"""Network literals read exactly as ipaddress reads them (the everyday IPv4 form has its own quicker way)."""

from __future__ import annotations

import ipaddress

from hypothesis import given, strategies as st

from zonepolicy.model.values import ValueProblem, parse_network

octets = st.one_of(st.integers(0, 300).map(str), st.sampled_from(["00", "01", "010", "255", "256", "0x1", "", "1 "]))
lengths = st.one_of(st.none(), st.integers(0, 40).map(str), st.sampled_from(["08", "024", "", "+8", " 8", "٣"]))


@st.composite
def ipv4_texts(draw) -> str:
    text = ".".join(draw(st.lists(octets, min_size=3, max_size=5)))
    length = draw(lengths)
    return text if length is None else f"{text}/{length}"


def _reading(text: str):
    try:
        return ("ok", parse_network(text))
    except ValueProblem as p:
        return ("problem", p.code, str(p), p.hint)


@given(st.one_of(ipv4_texts(), st.ip_addresses(v=4).map(str),
                 st.builds(lambda n: str(n), st.ip_addresses(v=4).flatmap(
                     lambda a: st.integers(0, 32).map(lambda k: ipaddress.ip_network(f"{a}/{k}", strict=False))))))
def test_ipv4_literals_read_as_ipaddress_reads_them(text: str) -> None:
    got = _reading(text)
    try:
        expected = ipaddress.ip_network(text, strict=True)
    except ValueError:
        assert got[0] == "problem"
        return
    assert got == ("ok", expected)
    assert repr(got[1]) == repr(expected) and hash(got[1]) == hash(expected)


def test_host_bits_and_leading_zeros_are_still_problems() -> None:
    assert _reading("10.0.0.1/8")[1:] == ("ZP205", "host bits set in '10.0.0.1/8'", "did you mean 10.0.0.0/8?")
    assert _reading("010.0.0.0/8")[1] == "ZP206"
    assert _reading("10.0.0.0/08") == ("ok", ipaddress.ip_network("10.0.0.0/8"))


any_networks = st.one_of(
    st.tuples(st.ip_addresses(v=4), st.integers(0, 32)),
    st.tuples(st.ip_addresses(v=6), st.integers(0, 128)),
).map(lambda p: ipaddress.ip_network(f"{p[0]}/{p[1]}", strict=False))


@given(any_networks, any_networks)
def test_integer_bounds_say_subnet_of_as_ipaddress_does(a, b) -> None:
    from zonepolicy.model.zonetree import _bounds

    (va, fa, la), (vb, fb, lb) = _bounds(a), _bounds(b)
    assert (va == vb and fb <= fa and la <= lb) == (a.version == b.version and a.subnet_of(b))
