"""The one-line fast path reads exactly what the general parser reads, or declines; the resolver
reads its unbuilt flow records exactly as it reads the general parser's flow statements."""

from __future__ import annotations

import re

from hypothesis import given, strategies as st

from strategies import policies
from zonepolicy.dsl.fastpath import mask_digits, parse_flow_line, parse_object_line, parse_zone_line
from zonepolicy.dsl.loader import read_prelude
from zonepolicy.dsl.parser import _parser, parse_text
from zonepolicy.model.resolve import resolve

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
services = st.one_of(names, st.sampled_from(["tcp/443", "udp/1000-2000", "icmp/echo-request", "icmp/3:4", "icmpv6/1",
                                             "ip/47", "tcp/any", "sctp/9", "tcp/443abc"]))
options = st.sampled_from(["log", "stateful", "stateless", "inspect http", "via internet-access", "id f-1",
                           'ticket "JS-1"', 'comment "说明; {x} # y"', "expires 2027-06-30", "expires 2027-13-40",
                           "logging", ";", 'ticket "a\\"b"'])
spaces = st.sampled_from(["", " ", "  ", "\t"])
# Characters Python's \\s takes for white space and the grammar does not (and ones it does).
odd_spaces = st.sampled_from(["\u3000", "\xa0", "\x0b", "\x0c", "\r", "\x1c"])


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


def _agrees_with_the_general_parser(line: str, fast_reader) -> None:
    """The law of every fast-path reader: it reads a line exactly as the grammar does, or declines;
    it never accepts what the grammar rejects."""
    general, diags = parse_text(line + "\n", "t.zp", fast=False)
    fast = fast_reader(line, "t.zp", 1)
    if diags:
        assert fast is None, f"fast path accepted what the grammar rejects: {line!r}"
        return
    if fast is None:
        return  # declining is always allowed
    stmt, comment = fast
    assert general.statements == (stmt,)
    assert general.comments == ((comment,) if comment else ())


@given(flow_lines())
def test_fast_path_agrees_with_the_general_parser(line: str) -> None:
    _agrees_with_the_general_parser(line, parse_flow_line)


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


def _digit_twin(line: str, digits: str) -> str:
    """``line`` with its ASCII digits replaced, in order, by ``digits`` (cycled)."""
    it = iter(digits * (len(line) + 1))
    return re.sub(r"[0-9]", lambda m: next(it), line)


@given(flow_lines(), st.text("0123456789", min_size=1, max_size=5))
def test_a_list_read_from_a_digit_twin_reads_as_itself(line: str, digits: str) -> None:
    # The fast path reads a list once per text with its digits masked: the template a twin left
    # behind must give this line's own nodes.
    cache: dict = {}
    parse_flow_line(_digit_twin(line, digits), "t.zp", 1, cache)
    assert parse_flow_line(line, "t.zp", 1, cache) == parse_flow_line(line, "t.zp", 1)
    assert mask_digits(line) == mask_digits(_digit_twin(line, digits))


def test_the_white_space_of_a_line_is_the_grammars() -> None:
    ws = next(t for t in _parser().terminals if t.name == "WS").pattern.to_regexp()
    taken = {c for c in map(chr, range(0x3001)) if re.fullmatch(ws, c)}
    assert taken == set(" \t\f\r\n")  # what the fast path's patterns were written against
    for odd in ("\u3000", "\xa0", "\x0b"):
        line = f"allow a ->{odd}b"
        assert parse_flow_line(line, "t.zp", 1) is None
        assert parse_text(line + "\n", "t.zp")[1] == parse_text(line + "\n", "t.zp", fast=False)[1] != []


@given(flow_lines(), odd_spaces, st.integers(0, 60))
def test_odd_white_space_anywhere_reads_as_the_grammar_says(line: str, odd: str, at: int) -> None:
    at = min(at, len(line))
    line = line[:at] + odd + line[at:]
    fast, fast_diags = parse_text(line + "\n", "t.zp")
    general, general_diags = parse_text(line + "\n", "t.zp", fast=False)
    assert (fast, fast_diags) == (general, general_diags)


object_names = st.sampled_from(["a", "web-farm", "x_1", "zone", "address", "any", "anything", "any-x", "allow",
                                "service", "log", "a.b", "ab:cd:", "fe80::1"])
address_items = st.one_of(object_names, st.sampled_from(
    ["10.0.0.0/8", "10.1.2.3", "2001:db8::/32", "fd00::1", "::/0", "300.1.1.1", "10.0.0.1/99", "10.0.0.0/8x",
     "1.2.3", "any", "ip/47", "tcp/443"]))
service_items = st.one_of(object_names, st.sampled_from(
    ["tcp/443", "udp/1000-2000", "icmp/echo-request", "icmpv6/3:4", "ip/47", "tcp/any", "sctp/9", "tcp/443abc",
     "10.0.0.0/8", "tcp/", "ftp/21"]))


@st.composite
def object_lines(draw) -> str:
    kind = draw(st.sampled_from(["address", "service"]))
    items = draw(st.lists(address_items if kind == "address" else service_items, min_size=1, max_size=3))
    sep = draw(spaces) + "," + draw(spaces)
    gap = draw(st.sampled_from([" ", "  ", "\t"]))
    line = f"{draw(spaces)}{kind}{gap}{draw(object_names)}"
    if draw(st.booleans()):
        line += draw(spaces) + draw(st.sampled_from(['"描述"', '"a \\" b"', '""', '"x']))
    line += f"{draw(spaces)}={draw(spaces)}{sep.join(items)}"
    if draw(st.booleans()):
        line += draw(spaces) + "# 注释 {"
    return line


@given(object_lines())
def test_object_fast_path_agrees_with_the_general_parser(line: str) -> None:
    _agrees_with_the_general_parser(line, parse_object_line)


def test_fast_path_takes_plain_objects() -> None:
    for line in ("address s17 = 10.0.17.0/24", 'service web "网页" = http, tcp/8443 # 注释',
                 "address any-x = any, fd00::/8, grp"):
        assert parse_object_line(line, "t.zp", 1) is not None, line


zone_items = st.sampled_from([
    "kind public", "kind dedicated", "kind kindx", "kindx public", "level 3", "level 03", "level 3x", "level x",
    "level 3important", "important", "importantly", "classified", "vpn v-1", "vpn zone", "owner \"张三\"",
    "owner \"a \\\" b\"", "owner x", "description \"d\"", "hosted-on a.b", "hosted_on a", "networks 10.0.0.0/8",
    "networks 10.1.0.0/16, fd00::/48", "networks any", "networks anything", "networks any-x", "networks 10.0.0.0/8,",
    "networks a", "grading { business-info citizen serious; system-service society harm }", ";", "color red",
])


@st.composite
def zone_lines(draw) -> str:
    line = f"{draw(spaces)}zone{draw(st.sampled_from([' ', '  ', chr(9)]))}{draw(object_names)}"
    if draw(st.booleans()):
        line += draw(spaces) + draw(st.sampled_from(['"区域"', '"a \\" b"', '""']))
    sep = draw(st.sampled_from(["; ", ";", " ", "\t", " ; "]))
    line += draw(spaces) + "{" + draw(spaces) + sep.join(draw(st.lists(zone_items, max_size=4))) + draw(spaces) + "}"
    if draw(st.booleans()):
        line += draw(spaces) + "# 注释 }"
    return line


@given(zone_lines())
def test_zone_fast_path_agrees_with_the_general_parser(line: str) -> None:
    _agrees_with_the_general_parser(line, parse_zone_line)


def test_fast_path_takes_plain_zones() -> None:
    for line in ('zone public.z0 "子区 0" { networks 10.0.0.0/24, fd00:0:0::/48 }',
                 "zone a { kind public; level 3; important; owner \"x\"; vpn v } # 注释", "zone b {}"):
        assert parse_zone_line(line, "t.zp", 1) is not None, line


# Lines that leave a statement unfinished, or finish one, around the fast path's lines.
other_lines = st.sampled_from([
    "allow a ->", "allow a -> b,", "allow a -> b :", "address x = 10.0.0.0/8,", "address x =", "allow a",
    "zone a {", "}", "zone a { level 2 }", "zone b { } # c", "  : https", "  , c", "waive BND-01 for a -> b",
    'import "x.zp"', "", "# 注释", "policy p { default deny; intrazone allow }", "firewall f { target nftables",
    "  interface eth0 -> a", "address", "allow", "zone", ";", "allow a -> b; deny b -> a", "service s = tcp/1 }",
])


@given(st.lists(st.one_of(flow_lines(), object_lines(), zone_lines(), other_lines), min_size=1, max_size=8))
def test_whole_files_with_broken_statements_read_the_same_by_both_paths(lines: list[str]) -> None:
    # A statement may only start on a fast line when the ones above are surely finished: the
    # statements, comments and every diagnostic (message, place, hint) are the general parser's.
    text = "\n".join(lines) + "\n"
    fast, fast_diags = parse_text(text, "t.zp")
    general, general_diags = parse_text(text, "t.zp", fast=False)
    assert fast_diags == general_diags
    assert fast.statements == general.statements
    if not general_diags:
        assert fast.comments == general.comments
    # In a file with a syntax error, a comment below the last broken statement may be kept by one
    # path and not the other (error recovery resumes at different lines); only the formatter reads
    # comments, and it refuses files with syntax errors.


def _resolved(text: str, lean: bool):
    module, diags = parse_text(text, "p.zp", lean=lean)
    assert not diags
    policy, found = resolve([module], read_prelude())
    return repr(policy), found


@given(policies())
def test_flow_records_resolve_as_flow_statements(text: str) -> None:
    assert _resolved(text, lean=True) == _resolved(text, lean=False)


endpoints_used = st.sampled_from(["a", "b", "a.x", "a.*", "zone(b)", "zone(*)", "*", "h1", "address(h1)", "nosuch",
                                  "b.*", "zone(h1)", "address(a)", "10.0.0.0/8", "10.0.0.1/8", "c.*"])
services_used = st.sampled_from(["https", "ssh", "web", "nosuch", "tcp/443", "tcp/70000", "icmp/bogus", "web, ssh"])
options_used = st.sampled_from(["log", "stateless", "stateful; stateless", "via a", "via nosuch", "inspect http",
                                'ticket "T-1"', 'ticket "T-2"', 'comment "说明"', "expires 2027-06-30",
                                "expires 2027-02-30", "id f1", "id f2", "log; log", 'ticket "a"; ticket "b"'])


@st.composite
def flows_with_problems(draw) -> str:
    out = ["policy p { default deny; intrazone allow }", "zone a { networks 10.1.0.0/16 }",
           "zone a.x { networks 10.1.1.0/24 }", "zone b { networks 10.2.0.0/16 }",
           "address h1 = 10.3.0.1", "service web = tcp/80, https"]
    for _ in range(draw(st.integers(1, 12))):
        line = (f"{draw(st.sampled_from(['allow', 'deny']))} "
                f"{', '.join(draw(st.lists(endpoints_used, min_size=1, max_size=2)))} -> "
                f"{', '.join(draw(st.lists(endpoints_used, min_size=1, max_size=2)))}")
        if draw(st.booleans()):
            line += " : " + draw(services_used)
        if draw(st.booleans()):
            line += " { " + "; ".join(draw(st.lists(options_used, max_size=3))) + " }"
        out.append(line)
    out = draw(st.permutations(out[6:])) + out[6:] if draw(st.booleans()) else out
    return "\n".join(out) + "\n"


@given(flows_with_problems())
def test_flow_records_report_every_problem_as_flow_statements_do(text: str) -> None:
    # Unknown names, bad values, duplicate ids and options, repeated lists: the same policy (or
    # none) and the same diagnostics, whichever way the flows were read.
    assert _resolved(text, lean=True) == _resolved(text, lean=False)


@given(st.text("aZ_9-.>x ", max_size=14))
def test_the_unrolled_name_loop_matches_what_the_grammars_name_matches(text: str) -> None:
    from zonepolicy.dsl.fastpath import _uncaptured, _unrolled

    name = next(t for t in _parser().terminals if t.name == "NAME").pattern.to_regexp()
    fast = _unrolled(_uncaptured(name))
    assert fast != _uncaptured(name)  # the loop is there to unroll
    a, b = re.match(name, text), re.match(fast, text)
    assert (a and a.end()) == (b and b.end())


def test_no_pattern_of_the_fast_path_tells_one_digit_from_another() -> None:
    # What makes reading a list once per digit-masked text exact (see test_a_list_read_from_a_digit_twin...).
    from zonepolicy.dsl.fastpath import _regexes

    for name, rx in _regexes().items():
        classes = re.findall(r"\[(?:\\.|[^\]\\])*\]", rx.pattern)
        for cls in classes:
            assert not re.search(r"[0-9]", cls) or "0-9" in cls, (name, cls)
        rest = re.sub(r"\[(?:\\.|[^\]\\])*\]|\{\d+(?:,\d*)?\}|\(\?P<\w+>", "", rx.pattern)
        # One literal holds a digit, the protocol icmpv6 of a service literal; it is always followed
        # by '/', and a twin with another digit there ('icmpv4/1') is no token at all, so no line
        # holding one is taken and the two never share a reading.
        assert not re.search(r"[0-9]", rest.replace("icmpv6", "")), (name, rest)
    assert parse_flow_line("allow a -> b : icmpv6/1", "t.zp", 1) is not None
    assert parse_flow_line("allow a -> b : icmpv4/1", "t.zp", 1) is None
    assert parse_object_line("service s = icmpv4/1", "t.zp", 1) is None
