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
from .direct_constructor import direct_constructor

_KW_END = r"(?![A-Za-z0-9_-])"


def _uncaptured(pattern: str) -> str:
    """``pattern`` with its plain groups made non-capturing: the same language, matched faster
    (a capturing group in a repetition is saved on every turn; only the named groups are read)."""
    return re.sub(r"(?<!\\)\((?!\?)", "(?:", pattern)


@functools.lru_cache(maxsize=1)
def _regexes() -> dict[str, re.Pattern[str]]:
    """Line, endpoint, service and option patterns, built from the grammar's own terminals."""
    from .parser import _parser

    term = {t.name: _uncaptured(t.pattern.to_regexp()) for t in _parser().terminals}
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
_new_flow_stmt = direct_constructor(s.FlowStmt)

_SEPARATOR = re.compile(r"[\s,;]*")
# A region's items are matched without an end bound, so in principle they depend on what follows
# the region too. In a line the line pattern accepted, a region is followed by white space or by
# one of '->', ':', '{', '}', '#' or the line's end, and no terminal reads past an item further than
# two characters unless they are white space (``-(?!>)``, keyword ends; ``\s*\.\*`` cannot follow a
# region, the line pattern would have taken it into the item). The cache key is therefore the
# region's text and the two characters after it.


def _scan(rx: re.Pattern[str], text: str, start: int, end: int) -> list[re.Match[str]] | None:
    """The items of a list region, matched in place (no end bound, so lookaheads see what the lexer sees)."""
    found: list[re.Match[str]] = []
    skip = _SEPARATOR.match
    pos = start
    while True:
        sep = skip(text, pos)  # the separator pattern matches everywhere (possibly empty)
        pos = sep.end() if sep is not None else pos
        if pos >= end:
            return found
        m = rx.match(text, pos)
        if m is None or m.end() > end or m.end() == pos:
            return None
        found.append(m)
        pos = m.end()


# A region's items are cached as templates, with offsets relative to the region's start:
# (kind, start, end, argument) where argument is None or (token type, text, start, end).
_Arg = tuple[str, str, int, int]
_Template = tuple[str, int, int, "_Arg | None"]

def _arg(m: re.Match[str], group: str, start: int, toktype: str) -> tuple[str, str, int, int]:
    return (toktype, m.group(group), m.start(group) - start, m.end(group) - start)


def _endpoint_templates(text: str, start: int, end: int) -> tuple | None:
    matches = _scan(_regexes()["ep"], text, start, end)
    if matches is None:
        return None
    out: list[_Template] = []
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
    return tuple((None, 0, 0, _arg(m, "sl", start, "SERVICE_LITERAL") if m.group("sl")
                  else _arg(m, "sn", start, "NAME")) for m in matches)


def _option_templates(text: str, start: int, end: int) -> tuple | None:
    matches = _scan(_regexes()["opt"], text, start, end)
    if matches is None:
        return None
    out: list[_Template] = []
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


_MISSING = object()
_STRING_BODY = re.compile(r'"[^"\\\n]*"')


def _blank_string(m: re.Match[str]) -> str:
    return '"' + "." * (len(m.group()) - 2) + '"'


def _lookup(cache: dict, reader, text: str, start: int, end: int) -> tuple | None:
    key = (reader, text[start:end], text[end:end + 2])
    found = cache.get(key, _MISSING)
    if found is _MISSING:
        found = cache[key] = reader(text, start, end)
    return found


def _endpoint_nodes(templates: tuple, file: str, line: int, col: int) -> tuple[s.Endpoint, ...]:
    out = []
    for kind, a, b, arg in templates:
        sp = _new(_Span, (file, line, col + a, line, col + b))
        if arg is None:
            out.append(_new(_Endpoint, (kind, None, sp)))
            continue
        toktype, word, na, nb = arg
        # a plain name is its whole endpoint: one span object serves both nodes
        tsp = sp if na == a and nb == b else _new(_Span, (file, line, col + na, line, col + nb))
        out.append(_new(_Endpoint, (kind, _new(_Tok, (toktype, word, tsp)), sp)))
    return tuple(out)


def _service_nodes(templates: tuple, file: str, line: int, col: int) -> tuple[s.Tok, ...]:
    return tuple([_new(_Tok, (toktype, word, _new(_Span, (file, line, col + a, line, col + b))))
                  for _, _, _, (toktype, word, a, b) in templates])


def _option_nodes(templates: tuple, text: str, start: int, file: str, line: int) -> tuple[s.Item, ...]:
    out = []
    col = start + 1
    for key, a, b, arg in templates:
        sp = _new(_Span, (file, line, col + a, line, col + b))
        if arg is None:
            out.append(_new(_Item, (key, (), sp, ())))
        else:
            toktype, _, na, nb = arg
            word = text[start + na:start + nb]  # from this line: the template may come from a masked twin
            tok = _new(_Tok, (toktype, word, _new(_Span, (file, line, col + na, line, col + nb))))
            out.append(_new(_Item, (key, (tok,), sp, ())))
    return tuple(out)


@functools.lru_cache(maxsize=1)
def _line_groups() -> tuple[int, ...]:
    index = _regexes()["line"].groupindex
    return tuple(index[g] for g in ("action", "src", "dst", "svcs", "open", "opts", "end", "comment"))


def parse_flow_line(text: str, file: str, line: int,
                    cache: dict | None = None) -> tuple[s.FlowStmt, s.Comment | None] | None:
    """The flow on this line and its trailing comment, or None when the general parser must read it.

    ``cache`` (one dict per file) remembers how each endpoint, service and option list reads, so a
    list written on many lines is matched once.
    """
    m = _regexes()["line"].fullmatch(text)
    if m is None:
        return None
    if cache is None:
        cache = {}
    g_action, g_src, g_dst, g_svcs, g_open, g_opts, g_end, g_comment = _line_groups()
    regs = m.regs  # every group's (start, end) at once; (-1, -1) for a group that did not take part
    src_s, src_e = regs[g_src]
    dst_s, dst_e = regs[g_dst]
    # the region lookups are written out: at tens of thousands of lines the calls show
    key = (_endpoint_templates, text[src_s:src_e], text[src_e:src_e + 2])
    sources = cache.get(key, _MISSING)
    if sources is _MISSING:
        sources = cache[key] = _endpoint_templates(text, src_s, src_e)
    key = (_endpoint_templates, text[dst_s:dst_e], text[dst_e:dst_e + 2])
    destinations = cache.get(key, _MISSING)
    if destinations is _MISSING:
        destinations = cache[key] = _endpoint_templates(text, dst_s, dst_e)
    if sources is None or destinations is None:
        return None
    services: tuple = ()
    svc_s, svc_e = regs[g_svcs]
    if svc_s >= 0:
        found = _lookup(cache, _service_templates, text, svc_s, svc_e)
        if found is None:
            return None
        services = _service_nodes(found, file, line, svc_s + 1)
    options = None
    if regs[g_open][0] >= 0:
        opt_s, opt_e = regs[g_opts]
        region = text[opt_s:opt_e]
        if '"' in region and "\\" not in region:
            # Tickets and comments make nearly every option list unique; their text does not change
            # how the list reads, so the key blanks it out (same length, so offsets still hold).
            region = _STRING_BODY.sub(_blank_string, region)
        key = (_option_templates, region, text[opt_e:opt_e + 2])
        found = cache.get(key, _MISSING)
        if found is _MISSING:
            found = cache[key] = _option_templates(text, opt_s, opt_e)
        if found is None:
            return None
        options = _option_nodes(found, text, opt_s, file, line)
    act_s, act_e = regs[g_action]
    action = _new(_Tok, ("ACTION", text[act_s:act_e], _new(_Span, (file, line, act_s + 1, line, act_e + 1))))
    stmt = _new_flow_stmt(action, _endpoint_nodes(sources, file, line, src_s + 1),
                          _endpoint_nodes(destinations, file, line, dst_s + 1), services, options,
                          _new(_Span, (file, line, act_s + 1, line, regs[g_end][0] + 1)))
    comment = None
    com_s, com_e = regs[g_comment]
    if com_e > com_s:
        body = text[com_s:com_e].rstrip("\r")
        comment = s.Comment(body, _new(_Span, (file, line, com_s + 1, line, com_s + 1 + len(body))))
    return stmt, comment


_STRUCTURE = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[{}]')
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
    flows: list[s.FlowStmt] = []
    comments: list[s.Comment] = []
    cache: dict = {}
    # Whether the next significant line lets a flow end before it (it starts a statement, or the
    # file ends): otherwise the line may continue onto the next and only the general parser knows.
    ok_after = [True] * (len(lines) + 1)
    next_significant_ok = True
    statement_start, insignificant = _STATEMENT_START.match, _INSIGNIFICANT.match
    for i in range(len(lines) - 1, -1, -1):
        ok_after[i] = next_significant_ok
        line = lines[i]
        if statement_start(line):
            next_significant_ok = True
        elif not insignificant(line):
            next_significant_ok = False
    flow_start = _FLOW_START.match
    depth = 0  # brace depth at the start of the line, ignoring braces inside strings and comments
    for i, line in enumerate(lines):
        if depth == 0 and ok_after[i] and flow_start(line):
            got = parse_flow_line(line, file, i + 1, cache)
            if got is not None:  # a whole flow: its braces balance, the depth stays 0
                stmt, comment = got
                flows.append(stmt)
                if comment is not None:
                    comments.append(comment)
                lines[i] = ""
                continue
        if "{" in line or "}" in line:
            for m in _STRUCTURE.finditer(line):
                tok = m.group(0)
                if tok == "{":
                    depth += 1
                elif tok == "}":
                    depth -= 1
    return "\n".join(lines), flows, comments
