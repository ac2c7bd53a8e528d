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


@given(st.lists(flow_lines(), min_size=1, max_size=8))
def test_whole_files_read_the_same_by_both_paths(lines: list[str]) -> None:
    # The fast path remembers how each endpoint/service/option list reads within a file; the same
    # list text then recurs in other contexts (other columns, lines, neighbours).
    text = "\n".join(lines) + "\n"
    fast, fast_diags = parse_text(text, "t.zp")
    general, general_diags = parse_text(text, "t.zp", fast=False)
    if general_diags:
        assert fast_diags, f"fast path accepted what the grammar rejects: {text!r}"
        return
    assert not fast_diags
    assert fast == general


def test_a_list_recurring_in_another_context_reads_by_its_context() -> None:
    text = ("allow a -> b : https { log }\n"
            "allow  a->b:https{log}\n"
            "deny x, a -> a .* , b # a -> b\n"
            "allow a -> b { ticket \"T-1\" ; log }\n"
            "allow a -> b { ticket \"T-2\" ; log }\n"  # reads like the line above, with its own text
            "allow a -> b { ticket \"X;}\" ; log }\n"
            "allow a -> b { ticket \"T-1\" ; logging }\n")
    fast, fast_diags = parse_text(text, "t.zp")
    general, general_diags = parse_text(text, "t.zp", fast=False)
    assert [d.span.line for d in fast_diags] == [d.span.line for d in general_diags] == [7]
    assert fast.statements[:6] == general.statements[:6]
    assert [st.span.line for st in fast.statements[:6]] == [1, 2, 3, 4, 5, 6]
    assert [st.options[0].args[0].value for st in fast.statements[3:6]] == ["T-1", "T-2", "X;}"]
