"""The cached LALR parser and the tree → syntax-node transformer.

``parse_text`` never raises on bad input: it returns the statements it could read and a diagnostic
per syntax error, resynchronising at the next line that starts a statement so one run reports
every broken statement of a file.
"""

from __future__ import annotations

import functools
import operator
import re
from importlib import resources

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from ..diagnostics import Diagnostic, Span
from . import syntax as s
from .syntax_errors import describe_syntax_error

STATEMENT_KEYWORDS = ("policy", "import", "zone", "address", "service", "allow", "deny", "firewall", "waive")
_STATEMENT_START = re.compile(r"^[ \t]*(?:%s)\b" % "|".join(STATEMENT_KEYWORDS), re.MULTILINE)


@functools.lru_cache(maxsize=1)
def grammar_text() -> str:
    return resources.files("zonepolicy.dsl").joinpath("grammar.lark").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def _parser() -> Lark:
    return _comment_parser()[0]


def keywords() -> frozenset[str]:
    """Every keyword of the language, read from the grammar (editor support is tested against this)."""
    words: set[str] = set()
    for term in _parser().terminals:
        if term.pattern.type == "str" and re.fullmatch(r"[a-z][a-z-]*", term.pattern.value):
            words.add(term.pattern.value)
        elif term.name == "ACTION":
            words.update(("allow", "deny"))
    return frozenset(words)


def _span(file: str, meta_or_tok) -> Span:
    return Span(file, meta_or_tok.line, meta_or_tok.column, meta_or_tok.end_line, meta_or_tok.end_column)


class _ToSyntax(Transformer):
    """Turns lark's tree into syntax nodes; every node keeps its span."""

    def __init__(self, file: str) -> None:
        super().__init__(visit_tokens=True)
        self.file = file

    def __default_token__(self, token: Token) -> s.Tok:
        return s.Tok(token.type, str(token), _span(self.file, token))

    def _sp(self, meta) -> Span:
        return _span(self.file, meta)

    def _item(self, key: str, meta, args) -> s.Item:
        return s.Item(key, tuple(args), self._sp(meta))

    @staticmethod
    def _name_desc(args):
        name = args[0]
        desc = args[1] if len(args) > 1 and isinstance(args[1], s.Tok) and args[1].type == "STRING" else None
        rest = args[2:] if desc is not None else args[1:]
        return name, desc, rest

    @v_args(meta=True)
    def start(self, meta, children):
        return tuple(children)

    @v_args(meta=True)
    def policy(self, meta, args):
        name, desc, items = self._name_desc(args)
        return s.PolicyStmt(name, desc, tuple(items), self._sp(meta))

    @v_args(meta=True)
    def import_(self, meta, args):
        return s.ImportStmt(args[0], self._sp(meta))

    @v_args(meta=True)
    def zone(self, meta, args):
        name, desc, items = self._name_desc(args)
        return s.ZoneStmt(name, desc, tuple(items), self._sp(meta))

    @v_args(meta=True)
    def firewall(self, meta, args):
        name, desc, items = self._name_desc(args)
        return s.FirewallStmt(name, desc, tuple(items), self._sp(meta))

    def _object(self, kind, meta, args):
        name, desc, values = self._name_desc(args)
        return s.ObjectStmt(kind, name, desc, tuple(values), self._sp(meta))

    @v_args(meta=True)
    def address(self, meta, args):
        return self._object("address", meta, args)

    @v_args(meta=True)
    def service(self, meta, args):
        return self._object("service", meta, args)

    @v_args(meta=True)
    def flow(self, meta, args):
        action, sources, destinations, *rest = args
        services: tuple = ()
        options = None
        for part in rest:
            if isinstance(part, tuple) and part and part[0] == "services":
                services = part[1]
            else:
                options = part
        return s.FlowStmt(action, sources, destinations, services, options, self._sp(meta))

    @v_args(meta=True)
    def waiver(self, meta, args):
        rule, *rest = args
        sources = destinations = None
        services: tuple = ()
        items = None
        for part in rest:
            if isinstance(part, tuple) and part and part[0] == "scope":
                sources, destinations, services = part[1:]
            else:
                items = part
        return s.WaiverStmt(rule, sources, destinations, services, items, self._sp(meta))

    @v_args(meta=True)
    def scope(self, meta, args):
        sources, destinations, *rest = args
        services = rest[0][1] if rest else ()
        return ("scope", sources, destinations, services)

    def endpoints(self, args):
        return tuple(args)

    def services(self, args):
        return ("services", tuple(args))

    def options(self, args):
        return tuple(args)

    def waiver_body(self, args):
        return tuple(args)

    @v_args(meta=True)
    def ep_name(self, meta, args):
        return s.Endpoint("name", args[0], self._sp(meta))

    @v_args(meta=True)
    def ep_children(self, meta, args):
        return s.Endpoint("children", args[0], self._sp(meta))

    @v_args(meta=True)
    def ep_all(self, meta, args):
        return s.Endpoint("all", None, self._sp(meta))

    @v_args(meta=True)
    def ep_zone(self, meta, args):
        if not args:
            return s.Endpoint("zone-all", None, self._sp(meta))
        kind = "zone-children" if len(args) == 2 else "zone"
        return s.Endpoint(kind, args[0], self._sp(meta))

    @v_args(meta=True)
    def ep_address(self, meta, args):
        return s.Endpoint("address", args[0], self._sp(meta))

    @v_args(meta=True)
    def ep_literal(self, meta, args):
        return s.Endpoint("literal", args[0], self._sp(meta))

    @v_args(meta=True)
    def grading(self, meta, args):
        return s.Item("grading", (), self._sp(meta), tuple(args))

    def __default__(self, data, children, meta):
        # Every remaining rule is a block item: its rule name is the key (``opt_log`` -> ``log``).
        key = str(data)
        for prefix in ("opt_", "w_"):
            if key.startswith(prefix):
                key = key[len(prefix):]
        key = {"model_pack": "model", "hosted_on": "hosted-on"}.get(key, key)
        return s.Item(key, tuple(children), _span(self.file, meta))


def _blank(text: str, upto: int) -> str:
    """``text`` with everything before ``upto`` blanked, newlines kept so positions stay true."""
    head = re.sub(r"[^\n]", " ", text[:upto])
    return head + text[upto:]


def _resync_offset(text: str, error_pos: int) -> int | None:
    """Where to resume after a syntax error: the next line that begins a statement."""
    line_end = text.find("\n", error_pos)
    if line_end < 0:
        return None
    m = _STATEMENT_START.search(text, line_end + 1)
    return m.start() if m else None


def _read_before(text: str, error_pos: int, file: str) -> list[s.Statement]:
    """The statements before the broken one: the text up to the error's line, or else up to the last
    statement start above it, parsed on its own (so an import above a syntax error is still followed)."""
    line_start = text.rfind("\n", 0, error_pos) + 1
    starts = [m.start() for m in _STATEMENT_START.finditer(text, 0, line_start)]
    for end in dict.fromkeys([line_start] + starts[-1:]):
        if not text[:end].strip():
            return []
        try:
            return list(_ToSyntax(file).transform(_parse_with_comments(text[:end], lambda tok: tok)))
        except (UnexpectedInput, GluedKeyword, VisitError):
            continue
    return []


def _error_offset(text: str, err: UnexpectedInput) -> int:
    if isinstance(err, UnexpectedEOF):
        return len(text)
    pos = getattr(err, "pos_in_stream", None)
    if pos is not None:
        return pos
    lines = text.splitlines(keepends=True)
    return sum(len(x) for x in lines[: max(err.line - 1, 0)]) + max(err.column - 1, 0)


_SPAN = operator.attrgetter("span")


def parse_text(text: str, file: str, fast: bool = True, lean: bool = False) -> tuple[s.Module, list[Diagnostic]]:
    """Parse one file's text into a :class:`~zonepolicy.dsl.syntax.Module` plus syntax diagnostics.

    ``fast=False`` sends every line through the general parser (the fast path's tests compare both).
    ``lean=True`` leaves the flows the fast path read as :class:`~zonepolicy.dsl.fastpath.FlowLine`
    records among the statements, for the resolver (which reads them without a syntax tree).
    """
    diags: list[Diagnostic] = []
    statements: list[s.Statement] = []
    comments: list[s.Comment] = []
    if text.startswith("\ufeff"):
        text = " " + text[1:]
    from .fastpath import extract_fast_lines

    if fast:
        work, fast_statements, fast_comments = extract_fast_lines(text, file, lean)
        comments.extend(fast_comments)
    else:
        work, fast_statements = text, []
    while True:
        found: list[s.Comment] = []

        def keep_comment(tok: Token, found=found) -> Token:
            found.append(s.Comment(str(tok), _span(file, tok)))
            return tok

        try:
            tree = _parse_with_comments(work, keep_comment)
            statements.extend(_ToSyntax(file).transform(tree))
            comments.extend(found)
            break
        except (UnexpectedInput, GluedKeyword) as err:
            if isinstance(err, GluedKeyword):
                tok = err.token
                word = re.compile(r"[A-Za-z0-9_-]*").match(work, tok.start_pos).group(0)
                line, offset = tok.line, tok.start_pos
                diags.append(Diagnostic(
                    "ZP121", f"unknown word '{word}'",
                    Span(file, tok.line, tok.column, tok.line, tok.column + len(word)),
                    hint=f"did you mean '{tok}'? keywords are separate words",
                ))
            else:
                line, offset = err.line, _error_offset(work, err)
                diags.append(describe_syntax_error(err, work, file, _parser()))
            comments.extend(c for c in found if c.span.line < line)
            statements.extend(_read_before(work, offset, file))
            resume = _resync_offset(work, offset)
            if resume is None:
                break
            work = _blank(work, resume)
        except (VisitError, LarkError) as err:  # pragma: no cover - defensive: never a traceback
            diags.append(Diagnostic("ZP100", f"cannot read this file: {err}", Span(file, 1, 1, 1, 2)))
            break
    statements.extend(fast_statements)
    statements.sort(key=_SPAN)  # one file, so by line, then column
    return s.Module(file, tuple(statements), tuple(sorted(set(comments), key=lambda c: c.span))), diags


class GluedKeyword(Exception):
    """A keyword ran straight into more letters (``logging``): the word is unknown, not two words."""

    def __init__(self, token: Token) -> None:
        super().__init__(str(token))
        self.token = token


_WORD_CHAR = re.compile(r"[A-Za-z0-9_]|-(?!>)")
_KEYWORD_TERMINAL = re.compile(r'^(_?[A-Z][A-Z_]*)\s*:\s*"[a-z]', re.MULTILINE)


def build_parser(strict: bool = False, lexer_callbacks: dict | None = None) -> Lark:
    """The LALR parser for the grammar.

    ``strict`` also proves the grammar free of conflicts and terminal collisions; that proof costs
    seconds, so the test suite runs it (tests/test_grammar.py) and every other run skips it.
    """
    # cache=True keeps the grammar analysis in the temp directory, keyed by a hash of the grammar
    # and options: start-up drops from seconds to tens of milliseconds after the first run.
    return Lark(grammar_text(), parser="lalr", strict=strict, propagate_positions=True,
                lexer_callbacks=lexer_callbacks or {}, cache=not strict)


@functools.lru_cache(maxsize=1)
def _comment_parser() -> tuple[Lark, list]:
    # One parser for the process; per-parse state (comment sink, current text) lives in ``sink``.
    sink: list = []

    def collect(tok: Token) -> Token:
        sink[-1][0](tok)
        return tok

    def check_keyword(tok: Token) -> Token:
        text = sink[-1][1]
        end = tok.end_pos
        if end is not None and end < len(text) and _WORD_CHAR.match(text, end):
            raise GluedKeyword(tok)
        return tok

    callbacks = {"COMMENT_LINE": collect}
    for name in _KEYWORD_TERMINAL.findall(grammar_text()):
        callbacks[name] = check_keyword
    return build_parser(lexer_callbacks=callbacks), sink


def _parse_with_comments(text: str, on_comment) -> Tree:
    parser, sink = _comment_parser()
    sink.append((on_comment, text))
    try:
        return parser.parse(text)
    finally:
        sink.pop()
