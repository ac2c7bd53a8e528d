"""The editor grammars (Pygments lexer, VS Code TextMate grammar) against the language's own parser.

Ground truth is the LALR parser itself: its contextual lexer decides, token by token, whether a word
is a keyword or a name. Both highlighters are run over the bundled examples, over random valid
policies and over a policy whose names are all keywords, and must agree with it on every word. The
keyword lists in both are checked against the keywords read from grammar.lark, so adding a keyword
to the language without teaching the editors fails here.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zonepolicy.dsl.parser import build_parser, keywords

from conftest import EXAMPLES, REPO
from strategies import policies

pygments = pytest.importorskip("pygments")
from pygments.token import Error, Keyword  # noqa: E402

from zonepolicy.editor import pygments_lexer as pl  # noqa: E402

VSCODE = REPO / "editors" / "vscode"
TM_PATH = VSCODE / "syntaxes" / "zonepolicy.tmLanguage.json"
EXAMPLE_FILES = sorted(EXAMPLES.rglob("*.zp"))
WORD_TERMINALS = {"NAME", "PACKNAME", "IFNAME", "ACTION", "ANY"}


# ---------------------------------------------------------------- ground truth: the parser's tokens

_PARSER = build_parser()
KEYWORD_TERMINALS = frozenset(
    {t.name for t in _PARSER.terminals if t.pattern.type == "str" and t.pattern.value in keywords()}
    | {"ACTION", "ANY"})


def parser_words(text: str) -> list[tuple[int, int, str, bool]]:
    """(start, end, word, is_keyword) for every word the parser's contextual lexer reads."""
    out = []
    for tok in _PARSER.parse_interactive(text).iter_parse():
        if tok.type in KEYWORD_TERMINALS or tok.type in WORD_TERMINALS:
            out.append((tok.start_pos, tok.end_pos, str(tok), tok.type in KEYWORD_TERMINALS))
    return out


# ---------------------------------------------------------------- Pygments

def pygments_spans(text: str) -> dict[int, tuple[int, object]]:
    """start offset -> (end offset, token type) for every non-empty Pygments token."""
    return {i: (i + len(v), tt) for i, tt, v in pl.ZonePolicyLexer().get_tokens_unprocessed(text) if v}


def check_pygments(text: str) -> None:
    spans = pygments_spans(text)
    errors = [(i, text[i:end]) for i, (end, tt) in spans.items() if tt in Error]
    assert not errors, f"Error tokens: {errors[:5]}"
    for start, end, word, is_kw in parser_words(text):
        assert start in spans, f"no token starts at {word!r} (offset {start})"
        tok_end, tt = spans[start]
        assert tok_end == end, f"{word!r} at {start}: lexer token is {text[start:tok_end]!r}"
        assert (tt in Keyword) == is_kw, f"{word!r} at {start}: parser says keyword={is_kw}, lexer {tt}"


# ---------------------------------------------------------------- a small TextMate interpreter

class TextMate:
    """Enough of the TextMate rule language to run one grammar: match, begin/end, name, captures,
    beginCaptures/endCaptures, patterns and include (#name, $self). Lines are matched one at a time
    with a trailing newline, as VS Code does; the earliest match wins, the end pattern on a tie."""

    def __init__(self, grammar: dict) -> None:
        self.grammar = grammar
        self.repo = grammar["repository"]
        self._re: dict[str, re.Pattern] = {}

    def rx(self, source: str) -> re.Pattern:
        if source not in self._re:
            self._re[source] = re.compile(source)
        return self._re[source]

    def flat(self, patterns: list[dict]) -> list[dict]:
        out: list[dict] = []
        for p in patterns:
            if "include" in p:
                ref = p["include"]
                target = self.grammar if ref == "$self" else self.repo[ref[1:]]
                out.extend(self.flat([target]) if ("match" in target or "begin" in target)
                           else self.flat(target["patterns"]))
            else:
                out.append(p)
        return out

    @staticmethod
    def paint(scopes: list, m: re.Match, base: tuple, name: str | None, captures: dict | None) -> None:
        outer = base + ((name,) if name else ())
        for i in range(m.start(), m.end()):
            scopes[i] = outer
        for key, cap in (captures or {}).items():
            g = int(key)
            if m.group(g) is not None and "name" in cap:
                for i in range(m.start(g), m.end(g)):
                    scopes[i] = outer + (cap["name"],)

    def tokenize(self, text: str) -> list[tuple]:
        """The scope stack of every character of ``text``."""
        result: list[tuple] = []
        stack: list[tuple[dict, tuple]] = [(self.grammar, ("source.zonepolicy",))]
        for line in text.split("\n"):
            line += "\n"
            scopes: list = [None] * len(line)
            pos = 0
            while pos <= len(line):
                rule, base = stack[-1]
                best = None
                if "end" in rule:
                    m = self.rx(rule["end"]).search(line, pos)
                    if m:
                        best = (m.start(), 0, m, None)
                for order, p in enumerate(self.flat(rule["patterns"]), 1):
                    m = self.rx(p.get("match") or p["begin"]).search(line, pos)
                    if m and (best is None or m.start() < best[0]):
                        best = (m.start(), order, m, p)
                if best is None:
                    break
                start, _, m, p = best
                for i in range(pos, start):
                    scopes[i] = base
                if p is None:  # the region ends
                    self.paint(scopes, m, base, None, rule.get("endCaptures") or rule.get("captures"))
                    stack.pop()
                elif "match" in p:
                    assert m.end() > m.start(), f"empty match of {p['match']}"
                    self.paint(scopes, m, base, p.get("name"), p.get("captures"))
                else:
                    assert m.end() > m.start(), f"empty begin of {p['begin']}"
                    self.paint(scopes, m, base, p.get("name"), p.get("beginCaptures") or p.get("captures"))
                    stack.append((p, base + ((p["name"],) if "name" in p else ())))
                pos = m.end()
                if pos >= len(line):
                    break
            for i in range(len(line)):
                if scopes[i] is None:
                    scopes[i] = stack[-1][1]
            result.extend(scopes)
        return result


def is_keyword_scope(scope: str) -> bool:
    return (scope.startswith("keyword.") and not scope.startswith("keyword.operator.")) \
        or scope.startswith("constant.language.")


@pytest.fixture(scope="module")
def tm_grammar() -> dict:
    return json.loads(TM_PATH.read_text(encoding="utf-8"))


def check_textmate(grammar: dict, text: str) -> None:
    scopes = TextMate(grammar).tokenize(text)
    for start, end, word, is_kw in parser_words(text):
        inner = {scopes[i][-1] for i in range(start, end)}
        assert len(inner) == 1, f"{word!r} at {start} is split over scopes {inner}"
        scope = inner.pop()
        assert is_keyword_scope(scope) == is_kw, \
            f"{word!r} at line {text.count(chr(10), 0, start) + 1}: parser says keyword={is_kw}, scope {scope}"


# ---------------------------------------------------------------- the keyword sets

def all_regexes(node) -> list[tuple[str, dict]]:
    """(regex, rule) for every match/begin/end regex in the grammar."""
    out = []
    if isinstance(node, dict):
        for key in ("match", "begin", "end"):
            if key in node:
                out.append((node[key], node))
        for value in node.values():
            out.extend(all_regexes(value))
    elif isinstance(node, list):
        for value in node:
            out.extend(all_regexes(value))
    return out


def keyword_scopes(rule: dict) -> list[str]:
    names = [rule.get("name", "")]
    for key in ("captures", "beginCaptures", "endCaptures"):
        names += [c.get("name", "") for c in rule.get(key, {}).values()]
    return [n for n in names if is_keyword_scope(n)]


def highlighted_words(grammar: dict) -> set[str]:
    """Every word a keyword-scoped TextMate rule lists in a plain alternation '(a|b|c)'."""
    words: set[str] = set()
    for regex, rule in all_regexes(grammar):
        if keyword_scopes(rule):
            for group in re.findall(r"\((?:\?:)?([a-z][a-z-]*(?:\|[a-z][a-z-]*)*)\)", regex):
                words.update(group.split("|"))
    return words


def test_keywords_of_the_grammar_are_the_documented_ones():
    # docs/language.md lists them; the grammar is the source.
    documented = set(re.search(r"The keywords are\n\n```text\n(.*?)```",
                               (REPO / "docs" / "language.md").read_text(encoding="utf-8"), re.S).group(1).split())
    assert keywords() == documented


def test_pygments_keyword_lists_are_exactly_the_grammar_keywords():
    listed = set(pl.STATEMENT_WORDS + pl.ACTION_WORDS + pl.ITEM_WORDS + pl.OPTION_WORDS + pl.CONSTANT_WORDS)
    assert listed == set(keywords())
    # every keyword is lexed as one somewhere in the lexer's states, and nothing else is
    in_rules: set[str] = set()
    for state in pl.ZonePolicyLexer.tokens.values():
        for rule in state:
            if isinstance(rule, tuple) and isinstance(rule[1], type(Keyword)) and rule[1] in Keyword:
                for group in re.findall(r"\(\?:([a-z\\-]+(?:\|[a-z\\-]+)*)\)", rule[0]):
                    in_rules.update(group.replace("\\-", "-").split("|"))
    assert in_rules == set(keywords())


def test_textmate_keyword_lists_are_exactly_the_grammar_keywords(tm_grammar):
    assert highlighted_words(tm_grammar) == set(keywords())


def test_textmate_value_patterns_are_the_grammars_terminals(tm_grammar):
    # names, addresses, dates and service protocols come from grammar.lark verbatim
    text = json.dumps(tm_grammar)
    for pattern in (pl.NAME, pl.IPV4, pl.IPV6, pl.DATE, pl.PACKNAME, pl.IFNAME, pl.PROTOCOL):
        assert json.dumps(pattern)[1:-1] in text, pattern


# Constructs whose meaning differs between Oniguruma (VS Code) and Python's re, or that only one has.
_ENGINE_SPECIFIC = (r"\h", r"\H", r"\G", r"\z", r"\Z", r"\A", r"\K", r"(?<name", r"\p{", r"(?i)", r"\R", r"\X",
                    r"(?>", "++", "*+", "?+")


def test_textmate_regexes_are_portable(tm_grammar):
    for regex, _ in all_regexes(tm_grammar):
        re.compile(regex)
        found = [c for c in _ENGINE_SPECIFIC if c in regex.replace("\\\\", "")]
        assert not found, f"{regex}: {found}"
        # lookbehinds must be fixed-width in both engines: single characters or literals only
        for body in re.findall(r"\(\?<[!=]((?:[^()\\]|\\.|\[[^]]*\])*)\)", regex):
            assert "*" not in body and "+" not in body and "?" not in body, regex


# ---------------------------------------------------------------- run over text

@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_pygments_agrees_with_the_parser_on_examples(path: Path):
    check_pygments(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_textmate_agrees_with_the_parser_on_examples(tm_grammar, path: Path):
    check_textmate(tm_grammar, path.read_text(encoding="utf-8"))


def one_token_per_line(text: str) -> str:
    """The same policy with every run of blanks outside strings and comments made a newline (newlines
    are whitespace in the language): a keyword's value lands on the line after the keyword."""
    lines = []
    for line in text.split("\n"):
        parts = re.split(r'("(?:[^"\\\n]|\\.)*"|#.*$)', line)
        lines.append("".join(p if i % 2 else re.sub(r"[ \t]+", "\n", p) for i, p in enumerate(parts)))
    return "\n".join(lines)


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_both_agree_with_the_parser_one_token_per_line(tm_grammar, path: Path):
    text = one_token_per_line(path.read_text(encoding="utf-8"))
    assert text.count("\n") > path.read_text(encoding="utf-8").count("\n")
    check_pygments(text)
    check_textmate(tm_grammar, text)


@given(policies())
def test_pygments_agrees_with_the_parser_on_random_policies(text):
    check_pygments(text)


def _keyword_names_policy() -> str:
    """A policy (syntactically valid) whose zones, objects, values and ids are all keywords."""
    words = sorted(keywords())
    usable = [w for w in words if w not in ("zone", "address")]  # reserved in endpoint position
    lines = ['policy log "关键字也是名字" { standard zone default deny intrazone allow description "d" }']
    for i, word in enumerate(words):
        lines.append(f'zone {word} "区{i}" {{ kind {word}; level 3; vpn {word}; hosted-on {word}; '
                     f'networks 10.{i}.0.0/16, 2001:db8:{i}::/48 }}')
        lines.append(f"zone {word}.a {{ grading {{ {word} {word} serious }} networks any }}")
    for i, word in enumerate(words):
        lines.append(f"address {word} = 192.0.2.{i}, any, {word}")
        lines.append(f"service {word} = tcp/{1000 + i}, {word}, icmp/3:4, ip/esp")
    for a, b in zip(usable, usable[1:] + usable[:1]):
        lines.append(f"allow {a}, {a}.* -> {b}, zone({a}), address({b}) : {a}, tcp/80-90 "
                     f"{{ log; inspect {a}; via {b}; id {a}; ticket \"T\"; expires 2030-01-01 }}")
        lines.append(f"deny {a}->{b}:{b}")
    for word in usable:
        lines.append(f'firewall {word} {{ target {word}; interface {word} -> {word}, {word}.*; '
                     f'interface "Eth 1" -> {word} }}')
        lines.append(f'waive {word} for {word} -> {word} : {word} {{ reason "r"; owner "o"; expires 2030-01-01 }}')
    return "\n".join(lines) + "\n"


def test_keywords_used_as_names():
    text = _keyword_names_policy()
    assert parser_words(text)  # parses
    check_pygments(text)


def test_keywords_used_as_names_textmate(tm_grammar):
    check_textmate(tm_grammar, _keyword_names_policy())


@given(policies())
def test_textmate_agrees_with_the_parser_on_random_policies(tm_grammar, text):
    check_textmate(tm_grammar, text)


def documented_policies() -> list[tuple[str, str]]:
    """The zp blocks of the documentation that the parser accepts (some show errors on purpose)."""
    from doc_commands import code_blocks

    out = []
    for page in sorted((REPO / "docs").rglob("*.md")) + [REPO / "README.md"]:
        for _, text, line in code_blocks(page.read_text(encoding="utf-8"), "zp"):
            try:
                parser_words(text)
            except Exception:
                continue
            out.append((f"{page.relative_to(REPO)}:{line}", text))
    return out


def test_both_agree_with_the_parser_on_the_documentations_examples(tm_grammar):
    blocks = documented_policies()
    assert len(blocks) >= 15
    for where, text in blocks:
        try:
            check_pygments(text)
            check_textmate(tm_grammar, text)
        except AssertionError as err:  # pragma: no cover - the message is the point
            pytest.fail(f"{where}: {err}")


# Text made of the language's own pieces, in any order: mostly invalid, which is the point.
_PIECES = st.sampled_from(sorted(keywords()) + [
    " ", "\n", "\t", ";", ",", "{", "}", "(", ")", "->", ":", "=", "*", ".*", "-", ".", "#", '"', "\\",
    "a", "b.c", "x-y", "税务", "10.0.0.0/8", "2001:db8::/32", "::", "tcp/443", "icmp/3:4", "3", "2030-01-01"])


@given(st.lists(_PIECES, max_size=60).map("".join))
def test_any_text_is_highlighted_whole_and_without_crash(tm_grammar, text):
    pieces = [v for _, _, v in pl.ZonePolicyLexer().get_tokens_unprocessed(text)]
    assert "".join(pieces) == text
    scopes = TextMate(tm_grammar).tokenize(text)
    assert len(scopes) == len(text) + 1  # the last line's newline, added as VS Code does


def test_chinese_strings_and_comments_are_whole_tokens(tm_grammar):
    text = 'zone a "税务专网 \\"内网\\"" { networks any }  # 注释：不是关键字 zone\n'
    spans = pygments_spans(text)
    kinds = [(text[i:end], str(tt)) for i, (end, tt) in sorted(spans.items())]
    assert ("税务专网 ", "Token.Literal.String.Double") in kinds
    assert ('\\"', "Token.Literal.String.Escape") in kinds
    assert ("# 注释：不是关键字 zone", "Token.Comment.Single") in kinds
    scopes = TextMate(tm_grammar).tokenize(text)
    s = text.index("税")
    assert scopes[s][-1] == "string.quoted.double.zonepolicy"
    assert scopes[text.index("内")][-1] == "string.quoted.double.zonepolicy"
    assert scopes[text.index("\\")][-1] == "constant.character.escape.zonepolicy"
    assert scopes[text.rindex("zone")][-1] == "comment.line.number-sign.zonepolicy"


def test_value_scopes(tm_grammar):
    text = ("allow 10.1.0.0/16, 2001:db8::/32, a.b.* -> * : tcp/8000-8080, icmp/3:4, ip/esp, web "
            "{ expires 2030-01-01 }\n")
    scopes = TextMate(tm_grammar).tokenize(text)
    at = lambda s: scopes[text.index(s)][-1]  # noqa: E731
    assert at("10.1.") == "constant.numeric.ipv4.zonepolicy"
    assert at("2001:") == "constant.numeric.ipv6.zonepolicy"
    assert at("a.b") == "variable.other.endpoint.zonepolicy"
    assert at(".*") == "keyword.operator.wildcard.zonepolicy"
    assert at("-> *") == "keyword.operator.arrow.zonepolicy"
    assert at("tcp") == "support.type.protocol.zonepolicy"
    assert at("8000-8080") == "constant.numeric.port.zonepolicy"
    assert at("esp") == "support.constant.protocol-value.zonepolicy"
    assert at("web") == "variable.other.service.zonepolicy"
    assert at("2030") == "constant.numeric.date.zonepolicy"
    kinds = {text[i:end]: str(tt) for i, (end, tt) in pygments_spans(text).items()}
    assert kinds["10.1.0.0/16"] == kinds["2001:db8::/32"] == "Token.Literal.Number.Other"
    assert kinds["8000-8080"] == "Token.Literal.Number.Integer"
    assert kinds["tcp"] == "Token.Name.Builtin"
    assert kinds["2030-01-01"] == "Token.Literal.Date"


# ---------------------------------------------------------------- the interpreter against VS Code's engine

needs_vscode_engine = pytest.mark.skipif(
    shutil.which("node") is None or not (VSCODE / "node_modules" / "vscode-textmate").is_dir(),
    reason="needs node and `npm install` in editors/vscode (vscode-textmate, vscode-oniguruma)")


def vscode_scopes(paths: list[Path]) -> dict[str, list[str]]:
    proc = subprocess.run(["node", str(VSCODE / "scripts" / "tokenize.js"), str(TM_PATH), *map(str, paths)],
                          capture_output=True, text=True, check=True, timeout=300)
    return json.loads(proc.stdout)


def assert_same_as_vscode(grammar: dict, paths: list[Path]) -> None:
    engine = TextMate(grammar)
    for name, theirs in vscode_scopes(paths).items():
        text = Path(name).read_text(encoding="utf-8")
        ours = engine.tokenize(text)
        assert len(theirs) == len(text)
        diffs = [(i, text[i], ours[i][-1], theirs[i]) for i, ch in enumerate(text) if ch != "\n" and ours[i][-1] != theirs[i]]
        assert not diffs, f"{name}: {diffs[:5]}"


@needs_vscode_engine
def test_the_interpreter_sees_what_vscode_sees(tm_grammar, tmp_path):
    extra = tmp_path / "keyword-names.zp"
    extra.write_text(_keyword_names_policy(), encoding="utf-8")
    split = []
    for i, path in enumerate(EXAMPLE_FILES):
        split.append(tmp_path / f"split-{i}.zp")
        split[-1].write_text(one_token_per_line(path.read_text(encoding="utf-8")), encoding="utf-8")
    assert_same_as_vscode(tm_grammar, EXAMPLE_FILES + [extra] + split)


@needs_vscode_engine
@settings(max_examples=10)  # a Node process per example
@given(policies())
def test_the_interpreter_sees_what_vscode_sees_on_random_policies(tm_grammar, tmp_path_factory, text):
    path = tmp_path_factory.mktemp("tm") / "p.zp"
    path.write_text(text, encoding="utf-8")
    assert_same_as_vscode(tm_grammar, [path])


# ---------------------------------------------------------------- the packaging of both

def test_pygments_finds_the_lexer_by_file_name_and_alias():
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename

    assert isinstance(get_lexer_by_name("zonepolicy"), pl.ZonePolicyLexer)
    assert isinstance(get_lexer_for_filename("main.zp"), pl.ZonePolicyLexer)


def test_vscode_extension_points_at_the_grammar(tm_grammar):
    manifest = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    (lang,) = manifest["contributes"]["languages"]
    (gram,) = manifest["contributes"]["grammars"]
    assert lang["extensions"] == [".zp"] and gram["language"] == lang["id"]
    assert gram["scopeName"] == tm_grammar["scopeName"]
    assert (VSCODE / gram["path"]).resolve() == TM_PATH.resolve()
    config = json.loads((VSCODE / lang["configuration"]).read_text(encoding="utf-8"))
    assert config["comments"]["lineComment"] == "#"
    # the editor's idea of a word is the grammar's name
    assert re.fullmatch(config["wordPattern"], "dedicated.tax-hq_2")
