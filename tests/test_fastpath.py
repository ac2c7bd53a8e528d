"""The one-line flow fast path reads exactly what the general parser reads, or declines."""

from __future__ import annotations

from hypothesis import given, strategies as st

from zonepolicy.dsl.fastpath import parse_flow_line
from zonepolicy.dsl.parser import parse_text

names = st.sampled_from(["a", "pub", "dedicated.tax", "city.nanjing", "x-1", "web_2", "zone", "address", "log",
                         "internet-access", "A.b.C"])
endpoints = st.one_of(
    names,
    names.map(lambda n: f"{n}.*"),
    names.map(lambda n: f"{n} .*"),
    st.just("*"),
    names.map(lambda n: f"zone({n})"),
    names.map(lambda n: f"zone( {n}.* )"),
    st.just("zone(*)"),
    names.map(lambda n: f"address({n})"),
    st.sampled_from(["10.0.0.0/8", "10.1.2.3", "2001:db8::/32", "fd00::1", "300.1.1.1", "10.0.0.1/99"]),
)
services = st.one_of(names, st.sampled_from(["tcp/443", "udp/1000-2000", "icmp/echo-request", "icmp/3:4",
                                             "ip/47", "tcp/any", "sctp/9", "tcp/443abc"]))
options = st.sampled_from(["log", "stateful", "stateless", "inspect http", "via internet-access", "id f-1",
                           'ticket "JS-1"', 'comment "说明; {x} # y"', "expires 2027-06-30", "expires 2027-13-40",
                           "logging", ";", 'ticket "a\\"b"'])
spaces = st.sampled_from(["", " ", "  ", "\t"])


@st.composite
def flow_lines(draw) -> str:
    sep = draw(spaces)
    src = (sep + "," + draw(spaces)).join(draw(st.lists(endpoints, min_size=1, max_size=3)))
    dst = ("," + draw(spaces)).join(draw(st.lists(endpoints, min_size=1, max_size=3)))
    line = f"{draw(spaces)}{draw(st.sampled_from(['allow', 'deny']))} {src}{draw(spaces)}->{draw(spaces)}{dst}"
    if draw(st.booleans()):
        line += f"{draw(spaces)}:{draw(spaces)}" + ", ".join(draw(st.lists(services, min_size=1, max_size=3)))
    if draw(st.booleans()):
        line += draw(spaces) + "{" + "; ".join(draw(st.lists(options, max_size=4))) + draw(spaces) + "}"
    if draw(st.booleans()):
        line += draw(spaces) + "# 注释 {"
    return line


@given(flow_lines())
def test_fast_path_agrees_with_the_general_parser(line: str) -> None:
    general, diags = parse_text(line + "\n", "t.zp", fast=False)
    fast = parse_flow_line(line, "t.zp", 1)
    if diags:
        assert fast is None, f"fast path accepted what the grammar rejects: {line!r}"
        return
    if fast is None:
        return  # declining is always allowed
    stmt, comment = fast
    assert general.statements == (stmt,)
    assert general.comments == ((comment,) if comment else ())


def test_fast_path_takes_plain_flows() -> None:
    assert parse_flow_line("allow a -> b : https { log }", "t.zp", 1) is not None
    assert parse_flow_line("  deny internet -> dedicated.* # 明确拒绝", "t.zp", 1) is not None


def test_multiline_flows_and_flows_in_blocks_go_to_the_general_parser() -> None:
    text = "allow a -> b\n  : https\nzone a { }\nzone b { }\n"
    module, diags = parse_text(text, "t.zp")
    assert not diags
    flow = module.statements[0]
    assert [t.text for t in flow.services] == ["https"]
    # A flow inside a block is an error, whichever path would have read the line.
    _, diags = parse_text("firewall f {\nallow a -> b\n}\n", "t.zp")
    assert diags
