"""The syntax-error catalogue: lark's raw errors turned into messages a policy author understands.

Each entry recognises a common mistake from what the parser expected and what it found, and gives
a stable code, a message and a hint. Anything not recognised gets the generic ZP100 message, which
still names what was expected in words, never in lark's internal terminal names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from lark import Lark
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ..diagnostics import Diagnostic, Span

_VALUE_NAMES = {
    "NAME": "a name",
    "STRING": 'a "quoted string"',
    "INT": "a number",
    "IPV4": "an IPv4 address or prefix",
    "IPV6": "an IPv6 address or prefix",
    "SERVICE_LITERAL": "a service such as tcp/443",
    "DATE": "a date (YYYY-MM-DD)",
    "PACKNAME": "a rule-pack name",
    "IFNAME": "an interface name",
    "ACTION": "'allow' or 'deny'",
    "$END": "end of file",
}

ZONE_ATTRS = {"kind", "level", "grading", "networks", "important", "classified", "vpn", "owner", "description", "hosted-on"}
FLOW_OPTIONS = {"log", "stateful", "stateless", "inspect", "via", "ticket", "comment", "expires", "id"}
ACTION_ALIASES = {"permit": "allow", "accept": "allow", "pass": "allow", "drop": "deny", "reject": "deny", "block": "deny"}


@dataclass(frozen=True)
class _Context:
    expected: frozenset[str]  # human names of what could come next
    raw: frozenset[str]  # terminal names
    found: str  # the offending text ('' at end of file)
    at_eof: bool


@dataclass(frozen=True)
class _Entry:
    code: str
    matches: Callable[[_Context], bool]
    message: Callable[[_Context], str]
    hint: Callable[[_Context], str | None]


def _terminal_names(parser: Lark) -> dict[str, str]:
    names = dict(_VALUE_NAMES)
    for term in parser.terminals:
        if term.name not in names and term.pattern.type == "str":
            names[term.name] = f"'{term.pattern.value}'"
    return names


def _expected_list(ctx: _Context) -> str:
    items = sorted(ctx.expected)
    if len(items) > 12:
        items = items[:12] + ["…"]
    return ", ".join(items)


def _found_word(text: str, pos: int) -> str:
    m = re.compile(r'"[^"\n]*|[^\s{}();,:=]+|\S').match(text, pos)
    return m.group(0) if m else ""


CATALOGUE: tuple[_Entry, ...] = (
    _Entry(
        "ZP103",
        lambda c: c.found.startswith('"') and "STRING" in c.raw,
        lambda c: "unterminated string",
        lambda c: 'close the string with " on the same line; write \\" for a quote inside it',
    ),
    _Entry(
        "ZP120",
        lambda c: c.found in ACTION_ALIASES,
        lambda c: f"'{c.found}' is not a keyword of zonepolicy",
        lambda c: f"write '{ACTION_ALIASES[c.found]}' to start a flow",
    ),
    _Entry(
        "ZP110",
        lambda c: "_ARROW" in c.raw and "_EQ" not in c.raw and not c.at_eof,
        lambda c: f"expected '->' between the source and the destination, found '{c.found}'",
        lambda c: "write flows as: allow SOURCE -> DESTINATION : SERVICES",
    ),
    _Entry(
        "ZP111",
        lambda c: "_EQ" in c.raw and not c.at_eof,
        lambda c: f"expected '=' after the object's name, found '{c.found}'",
        lambda c: "write objects as: address NAME = 10.0.0.0/24   or   service NAME = tcp/443",
    ),
    _Entry(
        "ZP112",
        lambda c: "_COLON" in c.raw and "_ARROW" not in c.raw and not c.at_eof
        and bool(re.match(r"[A-Za-z]", c.found)) and c.found not in FLOW_OPTIONS,
        lambda c: f"expected ':' before the services of the flow, found '{c.found}'",
        lambda c: "services follow a colon: allow a -> b : https, dns",
    ),
    _Entry(
        "ZP117",
        lambda c: c.raw == frozenset({"INT"}),
        lambda c: f"expected a protection level 1–5, found '{c.found}'",
        lambda c: "write e.g. level 3, or give the grading inputs in a grading { … } block",
    ),
    _Entry(
        "ZP115",
        lambda c: not c.at_eof and "_KIND" in c.raw and "_NETWORKS" in c.raw,
        lambda c: f"'{c.found}' is not a zone attribute",
        lambda c: "zone attributes are: " + ", ".join(sorted(ZONE_ATTRS)),
    ),
    _Entry(
        "ZP116",
        lambda c: not c.at_eof and "_LOG" in c.raw and "_STATEFUL" in c.raw,
        lambda c: f"'{c.found}' is not a flow option",
        lambda c: "flow options are: " + ", ".join(sorted(FLOW_OPTIONS)),
    ),
    _Entry(
        "ZP113",
        lambda c: c.raw >= {"_LBRACE"} and "_RBRACE" not in c.raw and not c.at_eof and "_COLON" not in c.raw
        and "_EQ" not in c.raw,
        lambda c: f"expected '{{' to open the block, found '{c.found}'",
        lambda c: "zones, firewalls and the policy header take their attributes in braces: zone dmz { level 2 }",
    ),
    _Entry(
        "ZP119",
        lambda c: c.at_eof and "_RBRACE" in c.raw,
        lambda c: "the file ends inside a block",
        lambda c: "a '{' is not closed: add the missing '}'",
    ),
    _Entry(
        "ZP102",
        lambda c: c.at_eof,
        lambda c: f"unexpected end of file; expected {_expected_list(c)}",
        lambda c: "the last statement is incomplete",
    ),
)


def describe_syntax_error(err: UnexpectedInput, text: str, file: str, parser: Lark) -> Diagnostic:
    """Turn a lark error into a catalogued diagnostic with position, message and hint."""
    names = _terminal_names(parser)
    if isinstance(err, UnexpectedCharacters):
        raw = set(err.allowed or ())
        found = _found_word(text, err.pos_in_stream)
        at_eof = False
        line, column = err.line, err.column
    elif isinstance(err, UnexpectedToken):
        raw = set(err.accepts or err.expected or ())
        at_eof = err.token.type == "$END"
        found = "" if at_eof else str(err.token)
        line, column = (err.token.line, err.token.column) if not at_eof else _eof_position(text)
    else:  # UnexpectedEOF
        raw = set(getattr(err, "expected", ()) or ())
        found, at_eof = "", True
        line, column = _eof_position(text)
    raw.discard("COMMENT_LINE")
    raw.discard("WS")
    ctx = _Context(frozenset(names.get(r, r) for r in raw), frozenset(raw), found, at_eof)
    width = max(len(found), 1)
    span = Span(file, line or 1, column or 1, line or 1, (column or 1) + width)
    for entry in CATALOGUE:
        if entry.matches(ctx):
            return Diagnostic(entry.code, entry.message(ctx), span, hint=entry.hint(ctx))
    what = f"'{found}'" if found else "end of file"
    return Diagnostic("ZP100", f"unexpected {what}; expected {_expected_list(ctx)}", span,
                      hint="see docs/language.md for the statement syntax")


def _eof_position(text: str) -> tuple[int, int]:
    lines = text.split("\n")
    while len(lines) > 1 and not lines[-1].strip():
        lines.pop()
    return len(lines), len(lines[-1]) + 1
