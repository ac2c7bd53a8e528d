"""The syntax-error catalogue: every entry, with its exact position, message and hint.

Each case puts the broken statement on line 2, after a valid header, so line numbers are checked
too. Positions are 1-based ``line:col`` of the offending token (or of the end of the file).
"""

from __future__ import annotations

import re

import pytest

from conftest import EXAMPLES
from zonepolicy.diagnostics import SourceMap, render, render_all
from zonepolicy.dsl import syntax as s
from zonepolicy.dsl.parser import _parser, parse_text
from zonepolicy.dsl.syntax_errors import CATALOGUE

HEADER = "policy p { default deny; intrazone allow }\n"


def diagnose(body: str, file: str = "t.zp"):
    module, diags = parse_text(HEADER + body, file)
    return module, diags


# code, broken line (line 2 of the file), column, message (exact), hint fragment
CASES = [
    ("ZP103", 'zone a "abc { level 2 }\n', 8, "unterminated string", 'close the string with "'),
    ("ZP120", "permit a -> b\n", 1, "'permit' is not a keyword of zonepolicy", "write 'allow' to start a flow"),
    ("ZP110", "allow a b : https\n", 9, "expected '->' between the source and the destination, found 'b'",
     "allow SOURCE -> DESTINATION"),
    ("ZP111", "address x 10.0.0.1\n", 11, "expected '=' after the object's name, found '10.0.0.1'",
     "address NAME = 10.0.0.0/24"),
    ("ZP112", "allow a -> b https\n", 14, "expected ':' before the services of the flow, found 'https'",
     "services follow a colon"),
    ("ZP117", "zone a { level high }\n", 16, "expected a protection level 1–5, found 'high'", "write e.g. level 3"),
    ("ZP115", "zone a { color red }\n", 10, "'color' is not a zone attribute", "zone attributes are: classified"),
    ("ZP116", "allow a -> b : https { verbose }\n", 24, "'verbose' is not a flow option",
     "flow options are: comment"),
    ("ZP113", "zone a level 2\n", 8, "expected '{' to open the block, found 'level'", "in braces"),
    ("ZP119", "zone a { level 2\n", 17, "the file ends inside a block", "add the missing '}'"),
    ("ZP102", "allow a ->\n", 11,
     "unexpected end of file; expected '*', 'address', 'zone', a name, an IPv4 address or prefix, "
     "an IPv6 address or prefix", "the last statement is incomplete"),
    ("ZP100", "zone { }\n", 6, "unexpected '{'; expected a name", "statement syntax"),
    ("ZP121", "allow a -> b : https { logging }\n", 24, "unknown word 'logging'", "did you mean 'log'?"),
]


@pytest.mark.parametrize("code,body,column,message,hint", CASES, ids=[c[0] for c in CASES])
def test_catalogue_entry(code, body, column, message, hint):
    _, diags = diagnose(body)
    assert len(diags) == 1, diags
    d = diags[0]
    assert d.code == code
    assert d.message == message
    assert (d.span.file, d.span.line, d.span.column) == ("t.zp", 2, column)
    assert d.span.end_column > d.span.column
    assert d.hint and hint in d.hint


def test_every_catalogue_entry_is_tested():
    tested = {c[0] for c in CASES}
    assert {e.code for e in CATALOGUE} <= tested
    assert {"ZP100", "ZP121"} <= tested


def test_span_covers_the_offending_word():
    _, [d] = diagnose("address x 10.0.0.1\n")
    assert d.span.end_column - d.span.column == len("10.0.0.1")
    _, [d] = diagnose("allow a -> b : https { logging }\n")
    assert d.span.end_column - d.span.column == len("logging")


@pytest.mark.parametrize("alias,action", [("permit", "allow"), ("accept", "allow"), ("pass", "allow"),
                                          ("drop", "deny"), ("reject", "deny"), ("block", "deny")])
def test_action_aliases(alias, action):
    _, [d] = diagnose(f"{alias} a -> b : https\n")
    assert d.code == "ZP120"
    assert d.hint == f"write '{action}' to start a flow"


@pytest.mark.parametrize("body,word,keyword,column", [
    ("allow a -> b : https { logging }\n", "logging", "log", 24),
    ("allowed a -> b : https\n", "allowed", "allow", 1),
    ("zone a { levels 2 }\n", "levels", "level", 10),
    ("zone a { networks 10.0.0.0/8, anyway }\n", "anyway", "any", 31),
    ("zone a { important2 }\n", "important2", "important", 10),
    ("firewall f { target nftables; interfaces eth0 -> a }\n", "interfaces", "interface", 31),
])
def test_keyword_glued_to_word_is_zp121(body, word, keyword, column):
    _, diags = diagnose(body)
    assert [d.code for d in diags] == ["ZP121"]
    d = diags[0]
    assert d.message == f"unknown word '{word}'"
    assert (d.span.line, d.span.column, d.span.end_column) == (2, column, column + len(word))
    assert d.hint == f"did you mean '{keyword}'? keywords are separate words"


def test_header_action_glued():
    _, diags = parse_text("policy p { default denyall; intrazone allow }\n", "t.zp")
    assert [(d.code, d.span.line, d.span.column) for d in diags] == [("ZP121", 1, 20)]
    assert "'deny'" in diags[0].hint


@pytest.mark.parametrize("text", [
    "zone log { level 2 }\n",
    "zone zones { level 2 }\n",
    "allow log -> zone-a : https { log }\n",
    "allow allowance -> denial\n",
    "address interface = 10.0.0.1\n",
])
def test_keywords_are_contextual(text):
    _, diags = diagnose(text)
    assert diags == []


def test_resynchronisation_reports_every_broken_statement():
    text = (
        HEADER +                                        # 1
        "zone good1 { level 2 }\n"                      # 2
        "zone bad1 { color red }\n"                     # 3  ZP115
        "zone good2 { level 3 }\n"                      # 4
        "allow good1 good2 : https\n"                   # 5  ZP110
        "address good3 = 10.0.0.1\n"                    # 6
        "permit good1 -> good2\n"                       # 7  ZP120
        "service good4 = tcp/443\n"                     # 8
        "allow good1 -> good2 : https { logging }\n"    # 9  ZP121
        "firewall fw { target nftables }\n"             # 10
        "zone bad2 { level high }\n"                    # 11 ZP117
        "zone good5 { level 1 }\n"                      # 12
    )
    module, diags = parse_text(text, "t.zp")
    assert [(d.code, d.span.line) for d in diags] == [
        ("ZP115", 3), ("ZP110", 5), ("ZP120", 7), ("ZP121", 9), ("ZP117", 11)]
    # the statements around the broken ones are still read, in order
    assert [st.name.value for st in module.statements if hasattr(st, "name")] == [
        "p", "good1", "good2", "good3", "good4", "fw", "good5"]


def test_resynchronisation_inside_multiline_block():
    text = HEADER + "zone a {\n  level 2\n  colour blue\n}\nzone b { level x }\nzone c { level 3 }\n"
    module, diags = parse_text(text, "t.zp")
    assert [(d.code, d.span.line, d.span.column) for d in diags] == [("ZP115", 4, 3), ("ZP117", 6, 16)]
    assert [st.name.value for st in module.statements] == ["p", "c"]


def test_eof_position_ignores_trailing_blank_lines():
    _, [d] = parse_text(HEADER + "zone a { level 2\n\n\n   \n", "t.zp")
    assert (d.code, d.span.line, d.span.column) == ("ZP119", 2, 17)


def test_rendered_diagnostic_has_caret_under_the_word():
    text = HEADER + "address x 10.0.0.1\n"
    _, [d] = parse_text(text, "t.zp")
    out = render(d, SourceMap({"t.zp": text}))
    lines = out.splitlines()
    assert lines[0] == "t.zp:2:11: error[ZP111]: expected '=' after the object's name, found '10.0.0.1'"
    assert lines[2] == "2 | address x 10.0.0.1"
    assert lines[3] == "  |           ^^^^^^^^"
    assert lines[-1].startswith("  = help: ")


def test_caret_after_form_feed_and_line_separator_points_at_the_right_line():
    # only "\n" ends a line for the parser; excerpts must agree (form feeds, U+2028 are not line breaks)
    for odd in ("\x0c", "\u2028", "\x1c"):
        text = HEADER + f"# page{odd}break\nzone a {{ level high }}\n"
        _, diags = parse_text(text, "t.zp")
        if not diags:  # pragma: no cover - a character the lexer takes as whitespace inside the comment
            continue
        d = diags[0]
        assert d.span.line == 3
        out = render(d, SourceMap({"t.zp": text}))
        assert "3 | zone a { level high }" in out


def test_crlf_line_endings():
    text = (HEADER + "zone a { color red }\n").replace("\n", "\r\n")
    _, [d] = parse_text(text, "t.zp")
    assert (d.code, d.span.line, d.span.column) == ("ZP115", 2, 10)
    assert "2 | zone a { color red }\n" in render(d, SourceMap({"t.zp": text})) + "\n"


def test_bom_is_ignored():
    _, diags = parse_text("\ufeff" + HEADER + "zone a { level 2 }\n", "t.zp")
    assert diags == []


# ---- no lark internals in any message, over many broken inputs

def _internal_names() -> set[str]:
    return {t.name for t in _parser().terminals} | {"$END"}


_QUOTED = re.compile(r"'[^']*'")
_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|->|\.\*|[{}();,:=*]|[^\s{}();,:=*"#]+|\s+')


def _assert_no_internals(diags, internal):
    for d in diags:
        for text in (d.message, d.hint or ""):
            assert "__ANON" not in text and "$END" not in text, text
            # what the user wrote is quoted; the rest must not name a terminal
            bare = _QUOTED.sub("''", text)
            for word in re.findall(r"[A-Z_$][A-Z0-9_]*", bare):
                if word.startswith("_") or (word in internal and text is d.message):
                    raise AssertionError(f"lark internal name {word!r} in {text!r}")


def _broken_variants(text: str):
    toks = _TOKEN.findall(text)
    assert "".join(toks) == text
    for i, tok in enumerate(toks):
        if tok.isspace():
            continue
        yield "".join(toks[:i] + toks[i + 1:])                      # delete
        yield "".join(toks[:i] + [tok, " ", tok] + toks[i + 1:])    # duplicate
        yield "".join(toks[:i] + [tok[:-1]] + toks[i + 1:])         # truncate
    for cut in range(0, len(text), 7):
        yield text[:cut]                                            # file ends early


def test_no_internal_names_in_messages_over_many_inputs():
    internal = _internal_names()
    assert {"_ARROW", "NAME", "IPV4"} <= internal
    text = (EXAMPLES / "quickstart" / "policy.zp").read_text(encoding="utf-8")
    extra = (
        "waive R1 for a -> b : https { reason \"r\"; owner \"o\"; expires 2027-01-01; ticket \"T-1\" }\n"
        "allow a.* -> zone(b.*), zone(*), address(c), 10.0.0.0/8, ::1 : tcp/1 "
        "{ stateless; via x; ticket \"t\"; comment \"c\"; expires 2027-01-01; id f-1 }\n"
        "zone x { important; classified; owner \"o\"; hosted-on y; description \"d\" }\n"
        "import \"other.zp\"\n"
        "service s = tcp/1, dns\n"
    )
    # mutate one statement at a time (the parser's speed is per file, and short files keep this quick)
    statements = re.split(r"\n(?=\S)", text + extra)
    seen_codes: set[str] = set()
    count = 0
    for statement in statements:
        for variant in _broken_variants(statement + "\n"):
            _, diags = parse_text(variant, "t.zp")
            _assert_no_internals(diags, internal)
            seen_codes.update(d.code for d in diags)
            count += 1
            render_all(diags, SourceMap({"t.zp": variant}))
    assert count > 500
    # the mutations hit a good part of the catalogue
    assert len(seen_codes) >= 8, seen_codes


@pytest.mark.parametrize("text", [
    "}", "{", ")", "->", ".*", "=", ":", ",", "*", "\x00", "区域", "zone", "zone a", "zone a {", "allow",
    "allow ->", "allow * -> * :", "allow a -> b :", "allow a -> b : ,", "address", "address a =",
    "service s = tcp/", "policy", "policy p {", "policy p { default", "policy p { standard }",
    "firewall f { interface -> a }", "firewall f { interface eth0 a }", "waive", "waive R for",
    "waive R { reason }", "import", "import x", "zone a { grading { a b } }", "zone a { networks }",
    "allow zone( -> b", "allow zone(a -> b", "allow address(*) -> b", "allow a -> b { expires 2027 }",
    '"', 'zone a "', "zone a { level 3.5 }", "zone a { vpn }", "# c\n}", "allow a -> b : tcp/443 { id }",
])
def test_no_internal_names_in_short_inputs(text):
    _, diags = parse_text(text, "t.zp")
    assert diags, text
    _assert_no_internals(diags, _internal_names())
