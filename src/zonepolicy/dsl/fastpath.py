"""A fast path for the commonest statement: a flow written on one line.

Province-scale policies hold tens of thousands of one-line flows; the general LALR parser spends
most of its time on them. This module reads such a line directly, with the terminal patterns taken
from the grammar itself (so the two cannot disagree on what a name, prefix or service literal is),
and produces exactly the syntax nodes the general parser would. Whenever a line is anything but a
plain well-formed flow, it declines (returns None) and the line goes to the general parser, which
stays the one authority on the language, errors included. The equivalence of both paths on
generated flows is a property test (tests/test_fastpath.py).
"""

from __future__ import annotations

import functools
import re

from ..diagnostics import Span
from . import syntax as s

_KW_END = r"(?![A-Za-z0-9_-])"


@functools.lru_cache(maxsize=1)
def _regexes() -> dict[str, re.Pattern[str]]:
    """Line, endpoint, service and option patterns, built from the grammar's own terminals."""
    from .parser import _parser

    term = {t.name: t.pattern.to_regexp() for t in _parser().terminals}
    # Atomic groups: a lexer never gives back characters a terminal matched, so neither may we.
    name, string, date = f"(?>{term['NAME']})", f"(?>{term['STRING']})", f"(?>{term['DATE']})"
    v4, v6, svc = f"(?>{term['IPV4']})", f"(?>{term['IPV6']})", f"(?>{term['SERVICE_LITERAL']})"
    plain_name = rf"(?!(?:zone|address){_KW_END}){name}"
    ep = (rf"(?P<zq>zone\s*\(\s*(?:(?P<zstar>\*)|(?P<zn>{name})(?P<zc>\s*\.\*)?)\s*\))"
          rf"|(?P<aq>address\s*\(\s*(?P<an>{name})\s*\))|(?P<star>\*)|(?P<v4>{v4})|(?P<v6>{v6})"
          rf"|(?P<n>{plain_name})(?P<c>\s*\.\*)?")
    ep_plain = re.sub(r"\(\?P<\w+>", "(?:", ep)
    eps = rf"(?:{ep_plain})(?:\s*,\s*(?:{ep_plain}))*"
    svc_item = rf"(?P<sl>{svc})|(?P<sn>{name})"
    svcs = rf"(?:{svc}|{name})(?:\s*,\s*(?:{svc}|{name}))*"
    option = (rf"(?P<bare>log|stateful|stateless){_KW_END}|(?P<nk>inspect|via|id){_KW_END}\s*(?P<nv>{name})"
              rf"|(?P<sk>ticket|comment){_KW_END}\s*(?P<sv>{string})|(?P<dk>expires){_KW_END}\s*(?P<dv>{date})")
    option_plain = re.sub(r"\(\?P<\w+>", "(?:", option)
    line = (rf"(?P<lead>[ \t]*)(?P<action>allow|deny){_KW_END}\s*(?P<src>{eps})\s*->\s*(?P<dst>{eps})"
            rf"(?:\s*:\s*(?P<svcs>{svcs}))?"
            rf"(?:\s*(?P<open>\{{)(?P<opts>(?:\s*(?:{option_plain}|;))*)\s*\}})?"
            rf"(?P<end>)[ \t\r]*(?P<comment>#.*)?")
    return {"line": re.compile(line), "ep": re.compile(ep), "svc": re.compile(svc_item),
            "opt": re.compile(option)}


def _span(file: str, line: int, start: int, end: int) -> Span:
    return Span(file, line, start + 1, line, end + 1)


def _tok(kind: str, m: re.Match[str], group: str, file: str, line: int) -> s.Tok:
    return s.Tok(kind, m.group(group), _span(file, line, m.start(group), m.end(group)))


_SEPARATOR = re.compile(r"[\s,;]*")


def _scan(rx: re.Pattern[str], text: str, start: int, end: int) -> list[re.Match[str]] | None:
    """The items of a list region, matched in place (no end bound, so lookaheads see what the lexer sees)."""
    found = []
    pos = _SEPARATOR.match(text, start).end()
    while pos < end:
        m = rx.match(text, pos)
        if m is None or m.end() > end or m.end() == pos:
            return None
        found.append(m)
        pos = _SEPARATOR.match(text, m.end()).end()
    return found


def _endpoints(text: str, start: int, end: int, file: str, line: int) -> tuple[s.Endpoint, ...] | None:
    out = []
    matches = _scan(_regexes()["ep"], text, start, end)
    if matches is None:
        return None
    for m in matches:
        sp = _span(file, line, m.start(), m.end())
        if m.group("zq"):
            if m.group("zstar"):
                out.append(s.Endpoint("zone-all", None, sp))
            else:
                kind = "zone-children" if m.group("zc") else "zone"
                out.append(s.Endpoint(kind, _tok("NAME", m, "zn", file, line), sp))
        elif m.group("aq"):
            out.append(s.Endpoint("address", _tok("NAME", m, "an", file, line), sp))
        elif m.group("star"):
            out.append(s.Endpoint("all", None, sp))
        elif m.group("v4"):
            out.append(s.Endpoint("literal", _tok("IPV4", m, "v4", file, line), sp))
        elif m.group("v6"):
            out.append(s.Endpoint("literal", _tok("IPV6", m, "v6", file, line), sp))
        else:
            kind = "children" if m.group("c") else "name"
            out.append(s.Endpoint(kind, _tok("NAME", m, "n", file, line), sp))
    return tuple(out)


def _services(text: str, start: int, end: int, file: str, line: int) -> tuple[s.Tok, ...] | None:
    matches = _scan(_regexes()["svc"], text, start, end)
    if matches is None:
        return None
    return tuple(_tok("SERVICE_LITERAL", m, "sl", file, line) if m.group("sl") else _tok("NAME", m, "sn", file, line)
                 for m in matches)


def _options(text: str, start: int, end: int, file: str, line: int) -> tuple[s.Item, ...] | None:
    items = []
    matches = _scan(_regexes()["opt"], text, start, end)
    if matches is None:
        return None
    for m in matches:
        sp = _span(file, line, m.start(), m.end())
        if m.group("bare"):
            items.append(s.Item(m.group("bare"), (), sp))
        elif m.group("nk"):
            items.append(s.Item(m.group("nk"), (_tok("NAME", m, "nv", file, line),), sp))
        elif m.group("sk"):
            items.append(s.Item(m.group("sk"), (_tok("STRING", m, "sv", file, line),), sp))
        else:
            items.append(s.Item("expires", (_tok("DATE", m, "dv", file, line),), sp))
    return tuple(items)


def parse_flow_line(text: str, file: str, line: int) -> tuple[s.FlowStmt, s.Comment | None] | None:
    """The flow on this line and its trailing comment, or None when the general parser must read it."""
    m = _regexes()["line"].fullmatch(text)
    if m is None:
        return None
    action = _tok("ACTION", m, "action", file, line)
    sources = _endpoints(text, m.start("src"), m.end("src"), file, line)
    destinations = _endpoints(text, m.start("dst"), m.end("dst"), file, line)
    if sources is None or destinations is None:
        return None
    if any(e.kind == "name" and e.name.text in ("zone", "address") for e in sources + destinations):
        return None  # a keyword where a name should be: the general parser explains the error
    services = _services(text, m.start("svcs"), m.end("svcs"), file, line) if m.group("svcs") else ()
    options = _options(text, m.start("opts"), m.end("opts"), file, line) if m.group("open") else None
    if services is None or (m.group("open") and options is None):
        return None
    stmt = s.FlowStmt(action, sources, destinations, services, options, _span(file, line, m.start("action"),
                                                                             m.start("end")))
    comment = None
    if m.group("comment"):
        body = m.group("comment").rstrip("\r")
        comment = s.Comment(body, _span(file, line, m.start("comment"), m.start("comment") + len(body)))
    return stmt, comment


_STRUCTURE = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[{}]|\n')
_STATEMENT_START = re.compile(r"[ \t]*(?:policy|import|zone|address|service|allow|deny|firewall|waive)"
                              r"(?![A-Za-z0-9_-])")
_FLOW_START = re.compile(r"[ \t]*(?:allow|deny)[ \t]")
_INSIGNIFICANT = re.compile(r"[ \t\r]*(?:#.*)?$")


def extract_flow_lines(text: str, file: str) -> tuple[str, list[s.FlowStmt], list[s.Comment]]:
    """Take out the lines that are whole one-line flows at top level.

    Returns the text with those lines blanked (line numbers unchanged) for the general parser,
    and the flows and comments read from them.
    """
    lines = text.split("\n")
    depth_at: list[int] = []
    depth = 0
    line_depth = 0
    # Brace depth at the start of each line, ignoring braces inside strings and comments.
    for m in _STRUCTURE.finditer(text):
        tok = m.group(0)
        if tok == "\n":
            depth_at.append(line_depth)
            line_depth = depth
        elif tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
    depth_at.append(line_depth)
    flows: list[s.FlowStmt] = []
    comments: list[s.Comment] = []
    next_significant_ok = True  # whether the line after the current one lets a flow end here
    ok_after = [True] * (len(lines) + 1)
    for i in range(len(lines) - 1, -1, -1):
        ok_after[i] = next_significant_ok
        line = lines[i]
        if _INSIGNIFICANT.match(line):
            continue
        next_significant_ok = bool(_STATEMENT_START.match(line))
    for i, line in enumerate(lines):
        if depth_at[i] != 0 or not ok_after[i] or not _FLOW_START.match(line):
            continue
        got = parse_flow_line(line, file, i + 1)
        if got is None:
            continue
        stmt, comment = got
        flows.append(stmt)
        if comment is not None:
            comments.append(comment)
        lines[i] = ""
    return "\n".join(lines), flows, comments
