"""A fast path for the commonest statements: flows and address/service objects written on one line.

Province-scale policies hold tens of thousands of one-line flows and object definitions; the
general LALR parser spends most of its time on them. This module reads such a line directly, with
the terminal patterns (white space included) taken from the grammar itself, so the two cannot
disagree on what a name, prefix or service literal is, and produces exactly the syntax nodes the
general parser would. Whenever a line is anything but a plain well-formed statement that surely
starts and ends on it, it declines (returns None) and the line goes to the general parser, which
stays the one authority on the language, errors included. The equivalence of both paths on
generated lines and files is a property test (tests/test_fastpath.py).
"""

from __future__ import annotations

import functools
import itertools
import re
from typing import Any, Callable, NamedTuple

from ..diagnostics import Span
from . import syntax as s
from .direct_constructor import direct_constructor

_KW_END = r"(?![A-Za-z0-9_-])"


def _uncaptured(pattern: str) -> str:
    """``pattern`` with its plain groups made non-capturing: the same language, matched faster
    (a capturing group in a repetition is saved on every turn; only the named groups are read)."""
    return re.sub(r"(?<!\\)\((?!\?)", "(?:", pattern)


_WORD_LOOP = "(?:[A-Za-z0-9_]|-(?!>))*"


def _unrolled(pattern: str) -> str:
    """``pattern`` with the name loop ``(?:w|-(?!>))*`` written as ``w*(?:-(?!>)w*)*``: the same
    strings, the same longest match (every '-' still must not start '->'), with one character class
    run per stretch of word characters instead of an alternation per character."""
    return pattern.replace(_WORD_LOOP, "[A-Za-z0-9_]*(?:-(?!>)[A-Za-z0-9_]*)*")


def _plain(pattern: str) -> str:
    return re.sub(r"\(\?P<\w+>", "(?:", pattern)


@functools.lru_cache(maxsize=1)
def _regexes() -> dict[str, re.Pattern[str]]:
    """Line, list-item and option patterns, built from the grammar's own terminals."""
    from .parser import _parser

    term = {t.name: _unrolled(_uncaptured(t.pattern.to_regexp())) for t in _parser().terminals}
    # The grammar's white space between two tokens (a line holds no newline, so the newline in it
    # never matters here); Python's \s would also take e.g. U+3000, which the grammar refuses.
    ws = f"(?:{term['WS']})?"
    single = re.fullmatch(r"\(\?:(\[[^\]]*\])\)\+", term["WS"])
    if single:  # one character class, repeated: the same as that class taken any number of times, faster
        ws = single.group(1) + "*"
    # Atomic groups: a lexer never gives back characters a terminal matched, so neither may we.
    name, string, date = f"(?>{term['NAME']})", f"(?>{term['STRING']})", f"(?>{term['DATE']})"
    v4, v6, svc = f"(?>{term['IPV4']})", f"(?>{term['IPV6']})", f"(?>{term['SERVICE_LITERAL']})"
    comment = term["COMMENT_LINE"]
    plain_name = rf"(?!(?:zone|address){_KW_END}){name}"
    ep = (rf"(?P<zq>zone{ws}\({ws}(?:(?P<zstar>\*)|(?P<zn>{name})(?P<zc>{ws}\.\*)?){ws}\))"
          rf"|(?P<aq>address{ws}\({ws}(?P<an>{name}){ws}\))|(?P<star>\*)|(?P<v4>{v4})|(?P<v6>{v6})"
          rf"|(?P<n>{plain_name})(?P<c>{ws}\.\*)?")
    eps = rf"(?:{_plain(ep)})(?:{ws},{ws}(?:{_plain(ep)}))*"
    # The lexer takes the first terminal that matches, in priority order (prefixes and service
    # literals outrank names), and never tries another: the atomic group does the same.
    svc_item = rf"(?>(?P<sl>{svc})|(?P<sn>{name}))"
    svcs = rf"{_plain(svc_item)}(?:{ws},{ws}{_plain(svc_item)})*"
    addr_item = rf"(?>(?P<v4>{v4})|(?P<v6>{v6})|(?P<n>{name}))"
    addrs = rf"{_plain(addr_item)}(?:{ws},{ws}{_plain(addr_item)})*"
    option = (rf"(?P<bare>log|stateful|stateless){_KW_END}|(?P<nk>inspect|via|id){_KW_END}{ws}(?P<nv>{name})"
              rf"|(?P<sk>ticket|comment){_KW_END}{ws}(?P<sv>{string})|(?P<dk>expires){_KW_END}{ws}(?P<dv>{date})")
    tail = rf"(?P<end>){ws}(?P<comment>{comment})?"
    # Zone attributes written on the zone's line; a grading block (nested braces) is left to the
    # general parser. 'any' is a keyword in a network list, where no name may stand.
    network = rf"(?>(?P<v4>{v4})|(?P<v6>{v6})|(?P<any>any){_KW_END})"
    zone_item = (rf"(?P<bare>important|classified){_KW_END}"
                 rf"|(?P<nk>kind|vpn|hosted-on){_KW_END}{ws}(?P<nv>{name})"
                 rf"|(?P<ik>level){_KW_END}{ws}(?P<iv>(?>{term['INT']}))"
                 rf"|(?P<sk>owner|description){_KW_END}{ws}(?P<sv>{string})"
                 rf"|(?P<netk>networks){_KW_END}{ws}(?P<nets>{_plain(network)}(?:{ws},{ws}{_plain(network)})*)")
    flow = (rf"(?P<lead>[ \t]*)(?P<action>allow|deny){_KW_END}{ws}(?P<src>{eps}){ws}->{ws}(?P<dst>{eps})"
            rf"(?:{ws}:{ws}(?P<svcs>{svcs}))?"
            rf"(?:{ws}(?P<open>\{{)(?P<opts>(?:{ws}(?:{_plain(option)}|;))*){ws}\}})?{tail}")
    head = rf"(?P<lead>[ \t]*)(?P<kw>address|service){_KW_END}{ws}(?P<name>{name}){ws}(?:(?P<desc>{string}){ws})?={ws}"
    return {"flow": re.compile(flow), "ep": re.compile(ep), "svc": re.compile(svc_item),
            "opt": re.compile(option), "addr": re.compile(addr_item),
            "address": re.compile(rf"{head}(?P<items>{addrs}){tail}"),
            "service": re.compile(rf"{head}(?P<items>{svcs}){tail}"),
            "zone": re.compile(rf"(?P<lead>[ \t]*)(?P<kw>zone){_KW_END}{ws}(?P<name>{name}){ws}(?:(?P<desc>{string}){ws})?"
                               rf"\{{(?P<items>(?:{ws}(?:{_plain(zone_item)}|;))*){ws}\}}{tail}"),
            "zone_item": re.compile(zone_item), "network": re.compile(network),
            "separator": re.compile(rf"(?:{term['WS']}|[,;])*")}


# Syntax nodes are named tuples; building them with tuple.__new__ skips one Python-level
# __new__ call per node, which is most of the cost at tens of thousands of lines.
_new = tuple.__new__
_Span, _Tok, _Endpoint, _Item = Span, s.Tok, s.Endpoint, s.Item
_new_flow_stmt = direct_constructor(s.FlowStmt)
_new_object_stmt = direct_constructor(s.ObjectStmt)
_new_zone_stmt = direct_constructor(s.ZoneStmt)

# Each list region (endpoints, services, options, object members) is read once per distinct text
# and the reading kept as a template, with offsets relative to the region's start; every line
# whose region reads the same is then built from the template, with its own words and positions.
#
# Two regions read the same when their texts are equal after two maskings that no pattern here
# can see: every ASCII digit made '0' (no terminal tells one digit from another: they appear only
# in classes that hold all ten; the one literal with a digit, 'icmpv6' in a service literal, must
# be followed by '/', where a twin such as 'icmpv4/' is no token, so no line holding it is taken)
# and, in option lists, the bodies of strings made dots of the same length. The words themselves
# are always taken from the line at hand.
#
# A region's items are matched without an end bound, so in principle they depend on what follows
# the region too. In a line the line pattern accepted, a region is followed by white space or by
# one of '->', ':', '{', '}', '#' or the line's end, and no terminal reads past an item further than
# two characters unless they are white space (``-(?!>)``, keyword ends; ``.*`` cannot follow a
# region, the line pattern would have taken it into the item). The cache key is therefore the
# region's masked text and the two masked characters after it.
_DIGITS = bytes.maketrans(b"123456789", b"000000000")


def mask_digits(text: str) -> str:
    """``text`` with every ASCII digit made '0', every other character (and so every offset) kept."""
    # UTF-8 never uses ASCII bytes inside a multi-byte character, so translating bytes is exact.
    return text.encode("utf-8", "surrogatepass").translate(_DIGITS).decode("utf-8", "surrogatepass")


def _scan(rx: re.Pattern[str], text: str, start: int, end: int) -> list[re.Match[str]] | None:
    """The items of a list region, matched in place (no end bound, so lookaheads see what the lexer sees)."""
    found: list[re.Match[str]] = []
    skip = _regexes()["separator"].match
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


# Templates: (kind, start, end, argument) per endpoint or option, argument None or (token type,
# start, end); (token type, start, end) per service or object member.
_Arg = tuple[str, int, int]


def _arg(m: re.Match[str], group: str, start: int, toktype: str) -> _Arg:
    return (toktype, m.start(group) - start, m.end(group) - start)


def _endpoint_templates(text: str, start: int, end: int) -> tuple | None:
    matches = _scan(_regexes()["ep"], text, start, end)
    if matches is None:
        return None
    out: list[tuple[str, int, int, _Arg | None]] = []
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
    return tuple(_arg(m, "sl", start, "SERVICE_LITERAL") if m.group("sl") else _arg(m, "sn", start, "NAME")
                 for m in matches)


def _address_templates(text: str, start: int, end: int) -> tuple | None:
    matches = _scan(_regexes()["addr"], text, start, end)
    if matches is None:
        return None
    out: list[_Arg] = []
    for m in matches:
        if m.group("v4"):
            out.append(_arg(m, "v4", start, "IPV4"))
        elif m.group("v6"):
            out.append(_arg(m, "v6", start, "IPV6"))
        else:  # the keyword 'any' is also a name: the grammar's lexer reads it as the keyword
            out.append(_arg(m, "n", start, "ANY" if m.group("n") == "any" else "NAME"))
    return tuple(out)


def _option_templates(text: str, start: int, end: int) -> tuple | None:
    matches = _scan(_regexes()["opt"], text, start, end)
    if matches is None:
        return None
    out: list[tuple[str, int, int, _Arg | None]] = []
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


def _zone_item_templates(text: str, start: int, end: int) -> tuple | None:
    rx = _regexes()
    matches = _scan(rx["zone_item"], text, start, end)
    if matches is None:
        return None
    out: list[tuple[str, int, int, tuple[_Arg, ...]]] = []
    for m in matches:
        a, b = m.start() - start, m.end() - start
        if m.group("bare"):
            out.append((m.group("bare"), a, b, ()))
        elif m.group("nk"):
            out.append((m.group("nk"), a, b, (_arg(m, "nv", start, "NAME"),)))
        elif m.group("ik"):
            out.append(("level", a, b, (_arg(m, "iv", start, "INT"),)))
        elif m.group("sk"):
            out.append((m.group("sk"), a, b, (_arg(m, "sv", start, "STRING"),)))
        else:
            nets = _scan(rx["network"], text, m.start("nets"), m.end("nets"))
            if nets is None:
                return None
            out.append(("networks", a, b, tuple(
                _arg(n, "v4", start, "IPV4") if n.group("v4") else
                _arg(n, "v6", start, "IPV6") if n.group("v6") else _arg(n, "any", start, "ANY") for n in nets)))
    return tuple(out)


_MISSING = object()
_STRING_BODY = re.compile(r'"[^"\\\n]*"')


def _blank_string(m: re.Match[str]) -> str:
    return '"' + "." * (len(m.group()) - 2) + '"'


def endpoint_nodes(templates: tuple, text: str, base: int, file: str, line: int) -> tuple[s.Endpoint, ...]:
    out = []
    col = base + 1
    for kind, a, b, arg in templates:
        sp = _new(_Span, (file, line, col + a, line, col + b))
        if arg is None:
            out.append(_new(_Endpoint, (kind, None, sp)))
            continue
        toktype, na, nb = arg
        # a plain name is its whole endpoint: one span object serves both nodes
        tsp = sp if na == a and nb == b else _new(_Span, (file, line, col + na, line, col + nb))
        out.append(_new(_Endpoint, (kind, _new(_Tok, (toktype, text[base + na:base + nb], tsp)), sp)))
    return tuple(out)


def token_nodes(templates: tuple, text: str, base: int, file: str, line: int) -> tuple[s.Tok, ...]:
    col = base + 1
    return tuple([_new(_Tok, (toktype, text[base + a:base + b], _new(_Span, (file, line, col + a, line, col + b))))
                  for toktype, a, b in templates])


def option_nodes(templates: tuple, text: str, base: int, file: str, line: int) -> tuple[s.Item, ...]:
    out = []
    col = base + 1
    for key, a, b, arg in templates:
        sp = _new(_Span, (file, line, col + a, line, col + b))
        if arg is None:
            out.append(_new(_Item, (key, (), sp, ())))
        else:
            toktype, na, nb = arg
            tok = _new(_Tok, (toktype, text[base + na:base + nb], _new(_Span, (file, line, col + na, line, col + nb))))
            out.append(_new(_Item, (key, (tok,), sp, ())))
    return tuple(out)


def zone_item_nodes(templates: tuple, text: str, base: int, file: str, line: int) -> tuple[s.Item, ...]:
    col = base + 1
    return tuple([_new(_Item, (key, tuple([_new(_Tok, (toktype, text[base + na:base + nb],
                                                        _new(_Span, (file, line, col + na, line, col + nb))))
                                            for toktype, na, nb in args]),
                               _new(_Span, (file, line, col + a, line, col + b)), ()))
                  for key, a, b, args in templates])


def _region(cache: dict, reader, text: str, masked: str, start: int, end: int) -> tuple | None:
    key = (reader, masked[start:end], masked[end:end + 2])
    found = cache.get(key, _MISSING)
    if found is _MISSING:
        found = cache[key] = _reading(cache, reader, reader(text, start, end))
    return found


# A reading is (serial, templates). Equal templates of one kind get one serial within a file,
# whatever region and line they came from (a name read as a source and as a destination, say),
# so the resolver's caches keyed by serial and words share them too; serials are never reused
# across files (the resolver sees the flows of every file at once).
_SERIAL = itertools.count()


def _reading(cache: dict, reader, templates: tuple | None) -> tuple[int, tuple] | None:
    if templates is None:
        return None
    key = ("serial", reader, templates)
    serial = cache.get(key)
    if serial is None:
        serial = cache[key] = next(_SERIAL)
    return (serial, templates)


@functools.lru_cache(maxsize=None)
def _groups(kind: str) -> tuple[int, ...]:
    index = _regexes()[kind].groupindex
    names = {"flow": ("action", "src", "dst", "svcs", "opts", "end", "comment"),
             "address": ("kw", "name", "desc", "items", "end", "comment")}
    return tuple(index[g] for g in names.get(kind, names["address"]))


_FLOW: tuple | None = None  # the flow line's fullmatch and group indices, once made


def _flow_pattern() -> tuple:
    global _FLOW
    _FLOW = (_regexes()["flow"].fullmatch, _groups("flow"))
    return _FLOW


def _comment(text: str, start: int, end: int, file: str, line: int) -> s.Comment | None:
    if end <= start:
        return None
    body = text[start:end]  # a '\r' before the newline belongs to the comment, as the grammar reads it
    return s.Comment(body, _new(_Span, (file, line, start + 1, line, end + 1)))


class FlowLine(NamedTuple):
    """A one-line flow as the fast path read it, before its syntax nodes are built.

    Resolving a province-scale policy needs the words and positions of its flows, not a tree of
    tokens per flow: the resolver reads these records directly where it can and asks for
    :meth:`statement` (exactly the general parser's node) where it cannot.
    ``src``, ``dst``, ``svc`` and ``opt`` are (serial, templates) readings of the line's lists
    (``svc``/``opt`` None when absent; equal serials mean equal templates), each followed by where
    its text starts and ends in ``text`` (options: where the text inside the braces starts).
    """

    text: str
    file: str
    line: int
    span: Span
    action: str
    src: tuple
    src_s: int
    src_e: int
    dst: tuple
    dst_s: int
    dst_e: int
    svc: tuple | None
    svc_s: int
    svc_e: int
    opt: tuple | None
    opt_s: int

    def statement(self) -> s.FlowStmt:
        text, file, line, span, action, src, src_s, _, dst, dst_s, _, svc, svc_s, _, opt, opt_s = self
        services = token_nodes(svc[1], text, svc_s, file, line) if svc is not None else ()
        options = option_nodes(opt[1], text, opt_s, file, line) if opt is not None else None
        act_s = span.column - 1
        tok = _new(_Tok, ("ACTION", action, _new(_Span, (file, line, act_s + 1, line, act_s + 1 + len(action)))))
        return _new_flow_stmt(tok, endpoint_nodes(src[1], text, src_s, file, line),
                              endpoint_nodes(dst[1], text, dst_s, file, line), services, options, span)


def read_flow_line(text: str, file: str, line: int, cache: dict | None = None,
                   masked: str | None = None) -> tuple[FlowLine, s.Comment | None] | None:
    """The flow on this line, unbuilt, and its trailing comment; None when the general parser must read it.

    ``cache`` (one dict per file) remembers how each endpoint, service and option list reads, so a
    list written on many lines is matched once; ``masked`` is ``mask_digits(text)`` if already made.
    """
    flow = _FLOW or _flow_pattern()
    m = flow[0](text)
    if m is None:
        return None
    if cache is None:
        cache = {}
    if masked is None:
        masked = mask_digits(text)
    g_action, g_src, g_dst, g_svcs, g_opts, g_end, g_comment = flow[1]
    regs = m.regs  # every group's (start, end) at once; (-1, -1) for a group that did not take part
    src_s, src_e = regs[g_src]
    dst_s, dst_e = regs[g_dst]
    # Sources and destinations are looked up together first: a province's lines pair a few dozen
    # masked endpoint lists, so one lookup answers both (the key holds the split, so it is exact).
    key = (masked[src_s:dst_e + 2], src_e - src_s, dst_s - src_s)
    pair = cache.get(key)
    if pair is None:
        pair = cache[key] = (_region(cache, _endpoint_templates, text, masked, src_s, src_e),
                             _region(cache, _endpoint_templates, text, masked, dst_s, dst_e))
    sources, destinations = pair
    if sources is None or destinations is None:
        return None
    services = None
    svc_s, svc_e = regs[g_svcs]
    if svc_s >= 0:
        # (text and the two characters after it, its length): one slice; a positive length tells
        # a service list's key from an option list's (negative) and from every other key's shape
        svc_key = (masked[svc_s:svc_e + 2], svc_e - svc_s)
        services = cache.get(svc_key, _MISSING)
        if services is _MISSING:
            services = cache[svc_key] = _region(cache, _service_templates, text, masked, svc_s, svc_e)
        if services is None:
            return None
    options = None
    opt_s, opt_e = regs[g_opts]
    if opt_s >= 0:
        opt_key = (masked[opt_s:opt_e + 2], opt_s - opt_e - 1)
        options = cache.get(opt_key, _MISSING)
        if options is _MISSING:
            region = masked[opt_s:opt_e]
            if '"' in region and "\\" not in region:
                # Free-text comments (and tickets) would make nearly every option list unique; their
                # text does not change how the list reads, so a second key blanks it out (same
                # length, so offsets still hold).
                blank = (_option_templates, _STRING_BODY.sub(_blank_string, region), masked[opt_e:opt_e + 2])
                options = cache.get(blank, _MISSING)
                if options is _MISSING:
                    options = cache[blank] = _reading(cache, _option_templates, _option_templates(text, opt_s, opt_e))
            else:
                options = _reading(cache, _option_templates, _option_templates(text, opt_s, opt_e))
            cache[opt_key] = options
        if options is None:
            return None
    act_s, act_e = regs[g_action]
    span = _new(_Span, (file, line, act_s + 1, line, regs[g_end][0] + 1))
    record = _new(FlowLine, (text, file, line, span, text[act_s:act_e], sources, src_s, src_e, destinations, dst_s,
                             dst_e, services, svc_s, svc_e, options, opt_s))
    com_s, com_e = regs[g_comment]
    return record, (_comment(text, com_s, com_e, file, line) if com_e > com_s else None)


def parse_flow_line(text: str, file: str, line: int, cache: dict | None = None,
                    masked: str | None = None) -> tuple[s.FlowStmt, s.Comment | None] | None:
    """The flow on this line and its trailing comment, or None when the general parser must read it
    (arguments as for :func:`read_flow_line`)."""
    got = read_flow_line(text, file, line, cache, masked)
    if got is None:
        return None
    return got[0].statement(), got[1]


def parse_object_line(text: str, file: str, line: int, cache: dict | None = None,
                      masked: str | None = None) -> tuple[s.ObjectStmt, s.Comment | None] | None:
    """The ``address``/``service`` definition on this line and its trailing comment, or None when
    the general parser must read it (arguments as for :func:`parse_flow_line`)."""
    kind = "address" if text.lstrip(" \t").startswith("a") else "service"
    m = _regexes()[kind].fullmatch(text)
    if m is None:
        return None
    if cache is None:
        cache = {}
    if masked is None:
        masked = mask_digits(text)
    g_kw, g_name, g_desc, g_items, g_end, g_comment = _groups(kind)
    regs = m.regs
    items_s, items_e = regs[g_items]
    found = _region(cache, _address_templates if kind == "address" else _service_templates, text, masked,
                    items_s, items_e)
    if found is None:
        return None
    kw_s = regs[g_kw][0]
    name, desc = _name_and_description(text, regs, g_name, g_desc, file, line)
    stmt = _new_object_stmt(kind, name, desc, token_nodes(found[1], text, items_s, file, line),
                            _new(_Span, (file, line, kw_s + 1, line, regs[g_end][0] + 1)))
    com_s, com_e = regs[g_comment]
    return stmt, (_comment(text, com_s, com_e, file, line) if com_e > com_s else None)


def _name_and_description(text: str, regs, g_name: int, g_desc: int, file: str, line: int):
    """The NAME token and the optional description STRING token of a one-line definition."""
    name_s, name_e = regs[g_name]
    name = _new(_Tok, ("NAME", text[name_s:name_e], _new(_Span, (file, line, name_s + 1, line, name_e + 1))))
    desc = None
    desc_s, desc_e = regs[g_desc]
    if desc_s >= 0:
        desc = _new(_Tok, ("STRING", text[desc_s:desc_e], _new(_Span, (file, line, desc_s + 1, line, desc_e + 1))))
    return name, desc


def parse_zone_line(text: str, file: str, line: int, cache: dict | None = None,
                    masked: str | None = None) -> tuple[s.ZoneStmt, s.Comment | None] | None:
    """The zone declared on this line (attributes in braces, no grading block) and its trailing
    comment, or None when the general parser must read it (arguments as for :func:`parse_flow_line`)."""
    m = _regexes()["zone"].fullmatch(text)
    if m is None:
        return None
    if cache is None:
        cache = {}
    if masked is None:
        masked = mask_digits(text)
    g_kw, g_name, g_desc, g_items, g_end, g_comment = _groups("zone")
    regs = m.regs
    items_s, items_e = regs[g_items]
    region = masked[items_s:items_e]
    if '"' in region and "\\" not in region:
        region = _STRING_BODY.sub(_blank_string, region)  # as for option lists: owners, descriptions
    key = (_zone_item_templates, region, masked[items_e:items_e + 2])
    found = cache.get(key, _MISSING)
    if found is _MISSING:
        found = cache[key] = _zone_item_templates(text, items_s, items_e)
    if found is None:
        return None
    kw_s = regs[g_kw][0]
    name, desc = _name_and_description(text, regs, g_name, g_desc, file, line)
    stmt = _new_zone_stmt(name, desc, zone_item_nodes(found, text, items_s, file, line),
                          _new(_Span, (file, line, kw_s + 1, line, regs[g_end][0] + 1)))
    com_s, com_e = regs[g_comment]
    return stmt, (_comment(text, com_s, com_e, file, line) if com_e > com_s else None)


_STRUCTURE = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[{}]')
_STATEMENT_START = re.compile(r"[ \t]*(?:policy|import|zone|address|service|allow|deny|firewall|waive)"
                              r"(?![A-Za-z0-9_-])")
_FAST_START = re.compile(r"[ \t]*(?:(allow|deny)|(zone)|(address|service))[ \t]")
_INSIGNIFICANT = re.compile(r"[ \t\r]*(?:#.*)?$")


def extract_fast_lines(text: str, file: str,
                       lean: bool = False) -> tuple[str, list[s.Statement | FlowLine], list[s.Comment]]:
    """Take out the lines that are whole one-line flows, zones or object definitions at top level.

    Returns the text with those lines blanked (line numbers unchanged) for the general parser,
    and the statements (in source order) and comments read from them. With ``lean``, flows are
    left as :class:`FlowLine` records.
    """
    lines = text.split("\n")
    masked_lines = mask_digits(text).split("\n")
    statements: list[s.Statement | FlowLine] = []
    comments: list[s.Comment] = []
    cache: dict = {}
    # Whether the next significant line lets a statement end before it (it starts a statement, or
    # the file ends): otherwise the line may continue onto the next and only the general parser knows.
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
    fast_start = _FAST_START.match
    readers: dict[int | None, Callable[..., Any]] = {
        1: read_flow_line if lean else parse_flow_line, 2: parse_zone_line, 3: parse_object_line}
    depth = 0  # brace depth at the start of the line, ignoring braces inside strings and comments
    # Whether the statements above are surely complete, so that a statement may start on this
    # line: true at the top, after a line read here, and after a line whose last token closes a
    # top-level block (every statement with a block ends at its closing brace). Anything else (an
    # unfinished ``allow a ->``, ``address a = b,``) could continue onto this line.
    closed = True
    for i, line in enumerate(lines):
        if depth == 0 and closed and ok_after[i]:
            start = fast_start(line)
            if start is not None:
                got = readers[start.lastindex](line, file, i + 1, cache, masked_lines[i])
                if got is not None:  # a whole statement: its braces balance, the depth stays 0
                    stmt, comment = got
                    statements.append(stmt)
                    if comment is not None:
                        comments.append(comment)
                    lines[i] = ""
                    continue
        if insignificant(line):
            continue
        closed = False
        if "{" in line or "}" in line:
            last_close = -1
            for m in _STRUCTURE.finditer(line):
                tok = m.group(0)
                if tok == "{":
                    depth += 1
                elif tok == "}":
                    depth -= 1
                    last_close = m.end()
            closed = depth == 0 and last_close >= 0 and insignificant(line, last_close) is not None
    return "\n".join(lines), statements, comments
