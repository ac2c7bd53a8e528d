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


# Syntax nodes are named tuples; building them with tuple.__new__ skips one Python-level
# __new__ call per node, which is most of the cost at tens of thousands of lines.
_new = tuple.__new__
_Span, _Tok, _Endpoint, _Item = Span, s.Tok, s.Endpoint, s.Item

_SEPARATOR = re.compile(r"[\s,;]*")
# What follows a region of a valid line: a run of white space, then one of '->', ':', '{', '}',
# '#' or the line's end. No terminal reads further past an item than the white space and two
# characters (``-(?!>)``, ``\s*\.\*``, keyword ends), so a region's items depend only on its text and this.
_FOLLOW = re.compile(r"\s*.{0,2}")


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


# A region's items are cached as templates, with offsets relative to the region's start:
# (kind, start, end, argument) where argument is None or (token type, text, start, end).

def _arg(m: re.Match[str], group: str, start: int, toktype: str) -> tuple[str, str, int, int]:
    return (toktype, m.group(group), m.start(group) - start, m.end(group) - start)


def _endpoint_templates(text: str, start: int, end: int) -> tuple | None:
    matches = _scan(_regexes()["ep"], text, start, end)
    if matches is None:
        return None
    out = []
    for m in matches:
        a, b = m.start() - start, m.end() - start
        if m.group("zq"):
            if m.group("zstar"):
                out.append(("zone-all", a, b, None))
            else:
                out.append(("zone-children" if m.group("zc") else "zone", a, b, _arg(m, "zn", start, "NAME")))
        elif m.group("aq"):
            out.append(("address", a, b, _arg(m, "an", start, "NAME")))
        elif m.group("star"):
            out.append(("all", a, b, None))
        elif m.group("v4"):
            out.append(("literal", a, b, _arg(m, "v4", start, "IPV4")))
        elif m.group("v6"):
            out.append(("literal", a, b, _arg(m, "v6", start, "IPV6")))
        else:
            if not m.group("c") and m.group("n") in ("zone", "address"):
                return None  # a keyword where a name should be: the general parser explains the error
            out.append(("children" if m.group("c") else "name", a, b, _arg(m, "n", start, "NAME")))
    return tuple(out)


def _service_templates(text: str, start: int, end: int) -> tuple | None:
    matches = _scan(_regexes()["svc"], text, start, end)
    if matches is None:
        return None
    return tuple((None, 0, 0, _arg(m, "sl", start, "SERVICE_LITERAL") if m.group("sl") else _arg(m, "sn", start, "NAME"))
                 for m in matches)


def _option_templates(text: str, start: int, end: int) -> tuple | None:
    matches = _scan(_regexes()["opt"], text, start, end)
    if matches is None:
        return None
    out = []
    for m in matches:
        a, b = m.start() - start, m.end() - start
        if m.group("bare"):
            out.append((m.group("bare"), a, b, None))
        elif m.group("nk"):
            out.append((m.group("nk"), a, b, _arg(m, "nv", start, "NAME")))
        elif m.group("sk"):
            out.append((m.group("sk"), a, b, _arg(m, "sv", start, "STRING")))
        else:
            out.append(("expires", a, b, _arg(m, "dv", start, "DATE")))
    return tuple(out)


def _templates(reader, text: str, start: int, end: int, cache: dict | None) -> tuple | None:
    if cache is None:
        return reader(text, start, end)
    key = (reader, text[start:end], _FOLLOW.match(text, end).group())
    try:
        return cache[key]
    except KeyError:
        found = cache[key] = reader(text, start, end)
        return found


def _tok(arg: tuple[str, str, int, int], file: str, line: int, col: int) -> s.Tok:
    toktype, word, a, b = arg
    return _new(_Tok, (toktype, word, _new(_Span, (file, line, col + a, line, col + b))))


def parse_flow_line(text: str, file: str, line: int,
                    cache: dict | None = None) -> tuple[s.FlowStmt, s.Comment | None] | None:
    """The flow on this line and its trailing comment, or None when the general parser must read it.

    ``cache`` (one dict per file) remembers how each endpoint, service and option list reads, so a
    list written on many lines is matched once.
    """
    m = _regexes()["line"].fullmatch(text)
    if m is None:
        return None
    src_s, src_e = m.span("src")
    dst_s, dst_e = m.span("dst")
    sources = _templates(_endpoint_templates, text, src_s, src_e, cache)
    destinations = _templates(_endpoint_templates, text, dst_s, dst_e, cache)
    if sources is None or destinations is None:
        return None
    services: tuple = ()
    if m.group("svcs") is not None:
        svc_s, svc_e = m.span("svcs")
        services = _templates(_service_templates, text, svc_s, svc_e, cache)
        if services is None:
            return None
        col = svc_s + 1
        services = tuple([_tok(arg, file, line, col) for _, _, _, arg in services])
    options = None
    if m.group("open") is not None:
        opt_s, opt_e = m.span("opts")
        found = _templates(_option_templates, text, opt_s, opt_e, cache)
        if found is None:
            return None
        col = opt_s + 1
        options = tuple([_new(_Item, (key, () if arg is None else (_tok(arg, file, line, col),),
                                      _new(_Span, (file, line, col + a, line, col + b)), ()))
                         for key, a, b, arg in found])
    col = src_s + 1
    sources = tuple([_new(_Endpoint, (kind, None if arg is None else _tok(arg, file, line, col),
                                      _new(_Span, (file, line, col + a, line, col + b))))
                     for kind, a, b, arg in sources])
    col = dst_s + 1
    destinations = tuple([_new(_Endpoint, (kind, None if arg is None else _tok(arg, file, line, col),
                                           _new(_Span, (file, line, col + a, line, col + b))))
                          for kind, a, b, arg in destinations])
    act_s, act_e = m.span("action")
    action = _new(_Tok, ("ACTION", m.group("action"), _new(_Span, (file, line, act_s + 1, line, act_e + 1))))
    stmt = s.FlowStmt(action, sources, destinations, services, options,
                      _new(_Span, (file, line, act_s + 1, line, m.start("end") + 1)))
    comment = None
    if m.group("comment"):
        body = m.group("comment").rstrip("\r")
        c = m.start("comment")
        comment = s.Comment(body, _new(_Span, (file, line, c + 1, line, c + 1 + len(body))))
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
    cache: dict = {}
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
        got = parse_flow_line(line, file, i + 1, cache)
        if got is None:
            continue
        stmt, comment = got
        flows.append(stmt)
        if comment is not None:
            comments.append(comment)
        lines[i] = ""
    return "\n".join(lines), flows, comments
