"""The canonical layout of a ``.zp`` file, keeping every comment (``zonepolicy fmt``).

The formatter prints syntax nodes, not the resolved model: it needs no imports, works on a file
whose names do not resolve, and cannot change meaning. As a safety net, :func:`format_file`
re-parses its own output and refuses (with an internal error, never a rewritten file) if the
statements or the comments differ from the input's.

Canonical style
---------------

* Statements keep the order they were written in, one per line (or block). A run of blank lines
  between statements, items or comments becomes one blank line; there is none at the start of
  the file, right after ``{`` or right before ``}``. The file ends with exactly one newline.
* Indent is four spaces; one item per line inside a multi-line block; ``;`` is never printed
  except between the items of a one-line block; ``;`` on its own is dropped.
* ``policy`` and ``firewall`` blocks and ``grading { … }`` are always multi-line.
* A ``zone`` stays on one line — ``zone x "…" { kind dedicated; level 3; networks 10.0.0.0/16 }`` —
  when it has at most four items, no ``grading`` block, no comment inside, and the line fits in
  100 columns (CJK characters count two); otherwise it is multi-line.
* A flow is one line: ``allow a, b -> c : https, dns { log; stateful }``. Its option block (and a
  waiver's body) goes multi-line, one option per line, only when a comment is inside it or the
  line would pass 100 columns (a ticket or comment string in Chinese soon does); the head stays
  on one line however long. An empty option block or waiver body is dropped.
* Consecutive one-line flows not separated by a blank line are aligned as a table (action,
  ``sources -> destinations``, ``: services``, options); consecutive ``address``/``service``
  objects are aligned on ``=``. Comment lines between them do not break the table; blank lines do.
  Nothing else is aligned.
* Strings are re-quoted with :func:`~zonepolicy.dsl.syntax.quote`; every other token (names,
  prefixes, service literals, dates) is printed exactly as written, so nothing a later stage
  reads changes. A leading byte-order mark and ``\\r`` line ends are dropped.

Comments
--------

Every comment is kept, with trailing whitespace removed:

* an own-line comment stays before the statement or item it precedes, at that item's indent;
* an end-of-line comment stays at the end of the line of the statement or item it follows
  (two spaces before the ``#``); one after a block's ``{`` stays after the ``{``;
* comments at the end of a block stay inside the block, before ``}``; comments at the end of the
  file stay at the end;
* a comment in the middle of something printed on one line (between two endpoints of a flow
  written across lines, inside a wrapped ``networks`` list) moves to its own line just before
  that statement or item.
"""

from __future__ import annotations

import bisect
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

from ..diagnostics import Diagnostic, Severity, SourceMap, Span
from ..errors import InvalidPolicy
from . import syntax as s
from .parser import parse_text

INDENT = "    "
MAX_WIDTH = 100
ZONE_ONE_LINE_ITEMS = 4

Pos = tuple[int, int]


class FormatterBug(RuntimeError):
    """The formatted text would not mean what the input meant; nothing is written."""


# ---------------------------------------------------------------- entry points

def format_file(text: str, path: str) -> str:
    """The canonical layout of one ``.zp`` file's ``text``, every comment kept.

    Raises :class:`~zonepolicy.errors.InvalidPolicy` with the syntax diagnostics when ``text``
    does not parse; ``path`` is only used to name the file in them.
    """
    module, diags = parse_text(text, path)
    errors = [d for d in diags if d.severity is Severity.ERROR]
    if errors:
        raise InvalidPolicy(sorted(diags, key=Diagnostic.sort_key), SourceMap({path: text}))
    out = format_module(module)
    _check_same(module, out, path)
    return out


def format_module(module: s.Module) -> str:
    """The canonical text of a parsed module (its comments included); ``""`` for an empty one."""
    stmts = list(module.statements)
    notes, dangling = _attach([st.span for st in stmts], [_clean(c) for c in module.comments])
    units = [_statement_unit(st, n) for st, n in zip(stmts, notes)]
    _align_runs(units)
    lines = _sequence(units, dangling, "")
    return "\n".join(lines) + "\n" if lines else ""


# ---------------------------------------------------------------- comment placement

@dataclass
class _Notes:
    """The comments that belong to one element (statement or item)."""

    leading: list[s.Comment] = field(default_factory=list)
    trailing: s.Comment | None = None
    inner: list[s.Comment] = field(default_factory=list)  # inside the element's span, placed later


def _clean(c: s.Comment) -> s.Comment:
    return s.Comment(c.text.rstrip(), c.span)


def _start(span: Span) -> Pos:
    return (span.line, span.column)


def _end(span: Span) -> Pos:
    return (span.end_line, span.end_column)


def _attach(spans: Sequence[Span], comments: Sequence[s.Comment]) -> tuple[list[_Notes], list[s.Comment]]:
    """Give each comment to the element it is inside, trails, or precedes; the rest dangle at the end.

    ``spans`` are in source order and do not overlap.
    """
    notes = [_Notes() for _ in spans]
    ends = [_end(sp) for sp in spans]
    dangling: list[s.Comment] = []
    for c in comments:
        pos = _start(c.span)
        i = bisect.bisect_right(ends, pos)  # first element ending after the comment starts
        if i < len(spans) and _start(spans[i]) < pos:
            notes[i].inner.append(c)
        elif i > 0 and spans[i - 1].end_line == c.span.line and notes[i - 1].trailing is None:
            notes[i - 1].trailing = c
        elif i < len(spans):
            notes[i].leading.append(c)
        else:
            dangling.append(c)
    return notes, dangling


@dataclass
class _Unit:
    """One element ready to print: its comments and its lines (indent relative to the element)."""

    leading: list[s.Comment]
    hoisted: list[s.Comment]  # comments from inside a one-line construct, printed just before it
    lines: list[str]
    trailing: s.Comment | None
    first: int  # source lines of the element, for blank-line decisions
    last: int


def _sequence(units: Sequence[_Unit], dangling: Sequence[s.Comment], indent: str) -> list[str]:
    """Units and then dangling comments, one blank line wherever the source had one or more."""
    out: list[str] = []
    prev: int | None = None

    def gap(line: int) -> None:
        if prev is not None and line - prev > 1:
            out.append("")

    for u in units:
        for c in u.leading:
            gap(c.span.line)
            out.append(indent + c.text)
            prev = c.span.line
        gap(u.first)
        out.extend(indent + c.text for c in u.hoisted)
        lines = [indent + line if line else line for line in u.lines]
        if u.trailing is not None:
            lines[-1] += "  " + u.trailing.text
        out.extend(lines)
        prev = u.last
    for c in dangling:
        gap(c.span.line)
        out.append(indent + c.text)
        prev = c.span.line
    return out


def _blank_before(u: _Unit, prev: _Unit | None) -> bool:
    """Whether :func:`_sequence` prints a blank line somewhere between ``prev`` and ``u``."""
    if prev is None:
        return False
    lines = [c.span.line for c in u.leading] + [u.first]
    last = prev.last
    for line in lines:
        if line - last > 1:
            return True
        last = line
    return False


# ---------------------------------------------------------------- blocks

@dataclass
class _Block:
    """A ``{ … }`` body: its items with their comments, a comment after ``{``, comments before ``}``."""

    items: list[tuple[s.Item, _Notes]]
    opening: s.Comment | None
    dangling: list[s.Comment]

    @property
    def has_comments(self) -> bool:
        return bool(self.opening or self.dangling or any(
            n.leading or n.trailing or n.inner for _, n in self.items))


def _block(items: Sequence[s.Item], comments: Sequence[s.Comment], head_line: int) -> _Block:
    notes, dangling = _attach([it.span for it in items], comments)
    opening = None
    first = notes[0].leading if notes else dangling
    if first and first[0].span.line == head_line:
        opening = first.pop(0)
    return _Block(list(zip(items, notes)), opening, dangling)


def _block_lines(head: str, block: _Block) -> list[str]:
    """``head {`` … ``}`` with one item per line (relative indent)."""
    if not block.items and not block.has_comments:
        return [f"{head} {{}}"]
    units = [_item_unit(item, notes) for item, notes in block.items]
    first = f"{head} {{" + (f"  {block.opening.text}" if block.opening else "")
    return [first, *_sequence(units, block.dangling, INDENT), "}"]


def _block_one_line(head: str, block: _Block) -> str:
    inner = "; ".join(_item_text(it) for it, _ in block.items)
    return f"{head} {{ {inner} }}" if inner else f"{head} {{}}"


def _item_unit(item: s.Item, notes: _Notes) -> _Unit:
    hoisted: list[s.Comment] = []
    if item.key == "grading":
        head_end = item.args[-1].span if item.args else item.span
        block = _block(item.children, notes.inner, head_end.line)
        lines = _block_lines("grading", block)
    else:
        hoisted = notes.inner
        lines = [_item_text(item)]
    return _Unit(notes.leading, hoisted, lines, notes.trailing, item.span.line, item.span.end_line)


def _item_text(item: s.Item) -> str:
    """One item on one line (a nested block on one line too, for one-line blocks)."""
    if item.key == "grading":
        return _block_one_line("grading", _Block([(c, _Notes()) for c in item.children], None, []))
    if item.key == "grade":
        return " ".join(_arg(a) for a in item.args)
    if item.key == "networks":
        return "networks " + ", ".join(_arg(a) for a in item.args)
    if item.key == "interface":
        name, *zones = item.args
        return f"interface {_arg(name)} -> " + ", ".join(_arg(z) for z in zones)
    return " ".join([item.key, *(_arg(a) for a in item.args)])


# ---------------------------------------------------------------- tokens

def _tok(tok: s.Tok) -> str:
    return s.quote(tok.value) if tok.type == "STRING" else tok.text


_ENDPOINT_FORMS = {
    "name": "{}", "children": "{}.*", "all": "*", "zone": "zone({})", "zone-children": "zone({}.*)",
    "zone-all": "zone(*)", "address": "address({})", "literal": "{}",
}


def _endpoint(ep: s.Endpoint) -> str:
    if ep.kind not in _ENDPOINT_FORMS:
        raise FormatterBug(f"the formatter does not know endpoint kind {ep.kind!r}")
    return _ENDPOINT_FORMS[ep.kind].format(ep.name.text if ep.name is not None else "")


def _arg(arg: s.Arg) -> str:
    return _endpoint(arg) if isinstance(arg, s.Endpoint) else _tok(arg)


def _endpoints(eps: Sequence[s.Endpoint]) -> str:
    return ", ".join(_endpoint(e) for e in eps)


def _width(text: str) -> int:
    """Columns taken by ``text`` in a terminal: CJK characters are two wide."""
    if text.isascii():  # nearly every line; the per-character lookup dominated large files
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _head(keyword: str, name: s.Tok, desc: s.Tok | None) -> str:
    return f"{keyword} {_tok(name)}" + (f" {_tok(desc)}" if desc is not None else "")


def _last_end(*groups: Sequence[s.Tok | s.Endpoint] | s.Tok | None) -> Pos:
    """Where the last of the given tokens/endpoints ends (the end of a statement's head)."""
    best: Pos = (0, 0)
    for g in groups:
        if g is None:
            continue
        for x in ((g,) if isinstance(g, (s.Tok, s.Endpoint)) else g):  # Tok/Endpoint are tuples too
            best = max(best, _end(x.span))
            if isinstance(x, s.Endpoint) and x.name is not None:
                best = max(best, _end(x.name.span))
    return best


# ---------------------------------------------------------------- statements

Cells = list[str]


@dataclass
class _StmtUnit(_Unit):
    cells: Cells | None = None  # for alignment: set on one-line flows and objects
    kind: str = ""


def _split(comments: Sequence[s.Comment], head_end: Pos) -> tuple[list[s.Comment], list[s.Comment]]:
    """Comments inside a statement: those in its head (hoisted) and those in its block."""
    head = [c for c in comments if _start(c.span) < head_end]
    return head, [c for c in comments if _start(c.span) >= head_end]


def _statement_unit(st: s.Statement, notes: _Notes) -> _StmtUnit:
    hoisted: list[s.Comment] = []
    cells: Cells | None = None
    kind = ""
    if isinstance(st, (s.PolicyStmt, s.ZoneStmt, s.FirewallStmt)):
        keyword = {s.PolicyStmt: "policy", s.ZoneStmt: "zone", s.FirewallStmt: "firewall"}[type(st)]
        head_end = _last_end(st.name, st.description)
        hoisted, inside = _split(notes.inner, head_end)
        block = _block(st.items, inside, head_end[0])
        head = _head(keyword, st.name, st.description)
        lines = _block_lines(head, block)
        if isinstance(st, s.ZoneStmt) and _zone_fits(head, block):
            lines = [_block_one_line(head, block)]
    elif isinstance(st, s.FlowStmt):
        head_end = _last_end(st.sources, st.destinations, st.services)
        hoisted, inside = _split(notes.inner, head_end)
        head = f"{st.action.text} {_endpoints(st.sources)} -> {_endpoints(st.destinations)}"
        services = (": " + ", ".join(_tok(t) for t in st.services)) if st.services else ""
        lines, opts = _with_body(" ".join(x for x in (head, services) if x), st.options, inside, head_end[0])
        if opts is not None:
            cells, kind = [st.action.text, head[len(st.action.text) + 1:], services, opts], "flow"
    elif isinstance(st, s.WaiverStmt):
        head_end = _last_end(st.rule, st.sources, st.destinations, st.services)
        hoisted, inside = _split(notes.inner, head_end)
        head = f"waive {_tok(st.rule)}"
        if st.sources is not None and st.destinations is not None:
            head += f" for {_endpoints(st.sources)} -> {_endpoints(st.destinations)}"
            if st.services:
                head += " : " + ", ".join(_tok(t) for t in st.services)
        lines, _ = _with_body(head, st.items, inside, head_end[0])
    elif isinstance(st, s.ObjectStmt):
        hoisted = notes.inner
        left = _head(st.kind, st.name, st.description)
        right = "= " + ", ".join(_tok(t) for t in st.values)
        lines, cells, kind = [f"{left} {right}"], [left, right], "object"
    elif isinstance(st, s.ImportStmt):
        hoisted = notes.inner
        lines = [f"import {_tok(st.path)}"]
    else:  # pragma: no cover - a new statement kind must be taught to the formatter
        raise FormatterBug(f"the formatter does not know statement {type(st).__name__}")
    return _StmtUnit(notes.leading, hoisted, lines, notes.trailing, st.span.line, st.span.end_line, cells, kind)


def _zone_fits(head: str, block: _Block) -> bool:
    return (not block.has_comments and len(block.items) <= ZONE_ONE_LINE_ITEMS
            and all(it.key != "grading" for it, _ in block.items)
            and _width(_block_one_line(head, block)) <= MAX_WIDTH)


def _with_body(head: str, items: Sequence[s.Item] | None, comments: Sequence[s.Comment],
               head_line: int) -> tuple[list[str], str | None]:
    """A flow or waiver: ``head { a; b }`` on one line when it fits, else its body multi-line.

    Also returns the one-line body (``""`` when there is none) for alignment, or None when the
    body is multi-line.
    """
    block = _block(items or (), comments, head_line)
    if not block.items and not block.has_comments:
        return [head], ""
    one = _block_one_line("", block).lstrip()
    if not block.has_comments and _width(f"{head} {one}") <= MAX_WIDTH:
        return [f"{head} {one}"], one
    return _block_lines(head, block), None


def _align_runs(units: list[_StmtUnit]) -> None:
    """Align consecutive one-line flows (and consecutive objects) that no blank line separates."""
    run: list[_StmtUnit] = []
    prev: _StmtUnit | None = None
    for u in units:
        if run and (u.kind != run[0].kind or _blank_before(u, prev)):
            _align(run)
            run = []
        if u.kind:
            run.append(u)
        elif run:
            _align(run)
            run = []
        prev = u
    if run:
        _align(run)


def _align(run: list[_StmtUnit]) -> None:
    if len(run) < 2:
        return
    rows = [u.cells or [] for u in run]
    widths = [max((_width(r[k]) for r in rows if any(r[k + 1:])), default=0) for k in range(len(rows[0]))]
    for u, row in zip(run, rows):
        last = max(k for k, cell in enumerate(row) if cell)
        parts = []
        for k in range(last + 1):
            if k < last:
                if widths[k] == 0:
                    continue
                parts.append(row[k] + " " * (widths[k] - _width(row[k])))
            else:
                parts.append(row[k])
        u.lines = [" ".join(parts).rstrip()]


# ---------------------------------------------------------------- the safety net

def _shape(node: object) -> object:
    """A node without spans, strings by value, empty option blocks as none: what must not change."""
    if isinstance(node, s.Tok):
        return ("tok", node.type, node.value)
    if isinstance(node, s.Endpoint):
        return ("ep", node.kind, _shape(node.name))
    if isinstance(node, s.Item):
        return ("item", node.key, _shape(node.args), _shape(node.children))
    if isinstance(node, tuple):
        return tuple(_shape(x) for x in node)
    if node is None or isinstance(node, str):
        return node
    fields = getattr(node, "__dataclass_fields__", None)
    if fields is None:  # pragma: no cover
        raise FormatterBug(f"cannot compare {type(node).__name__}")
    values = []
    for name in fields:
        if name == "span":
            continue
        value = getattr(node, name)
        if name in ("options", "items") and isinstance(node, (s.FlowStmt, s.WaiverStmt)) and not value:
            value = None
        values.append((name, _shape(value)))
    return (type(node).__name__, tuple(values))


def _check_same(module: s.Module, out: str, path: str) -> None:
    again, diags = parse_text(out, path)
    if diags:
        raise FormatterBug(f"formatted {path} does not parse: {diags[0].message} at {diags[0].span}")
    if _shape(again.statements) != _shape(module.statements):
        raise FormatterBug(f"formatting {path} would change its statements")
    if Counter(c.text.rstrip() for c in again.comments) != Counter(c.text.rstrip() for c in module.comments):
        raise FormatterBug(f"formatting {path} would lose or change a comment")

