"""A Pygments lexer for .zp files that follows the grammar's contextual keywords.

A word is a keyword only where the grammar expects that keyword (``zone log { … }`` declares a zone
called ``log``), so the lexer keeps a small state per construct instead of one global keyword list.
The value patterns (names, addresses, service literals, strings, dates) are read from the grammar
file itself, so the lexer and the parser cannot disagree about what a name or a prefix is.
tests/test_editor_grammars.py compares its keywords token by token with the parser's.
"""

from __future__ import annotations

import re
from importlib import resources

from pygments.lexer import RegexLexer, bygroups, default, include
from pygments.token import (Comment, Error, Keyword, Literal, Name, Number, Operator, Punctuation, String,
                            Whitespace)

__all__ = ["ZonePolicyLexer", "STATEMENT_WORDS", "ITEM_WORDS", "OPTION_WORDS", "ACTION_WORDS", "CONSTANT_WORDS"]

# The keywords by the role they play; together they are exactly the grammar's keywords.
STATEMENT_WORDS = ("policy", "import", "zone", "address", "service", "firewall", "waive")
ACTION_WORDS = ("allow", "deny")
ITEM_WORDS = ("standard", "model", "default", "intrazone", "description", "kind", "level", "grading",
              "networks", "important", "classified", "vpn", "owner", "hosted-on", "target", "interface",
              "for", "reason", "expires", "ticket")
OPTION_WORDS = ("log", "stateful", "stateless", "inspect", "via", "ticket", "comment", "expires", "id")
CONSTANT_WORDS = ("any",)


def _grammar_terminal(name: str) -> str:
    """The regular expression of terminal ``name`` in grammar.lark, its groups made non-capturing
    (so that ``bygroups`` can count the groups of the patterns built from it)."""
    text = resources.files("zonepolicy.dsl").joinpath("grammar.lark").read_text(encoding="utf-8")
    m = re.search(r"^%s(?:\.\d+)?:\s*/(.*)/\s*$" % re.escape(name), text, re.MULTILINE)
    if m is None:  # pragma: no cover - the grammar always defines these terminals
        raise LookupError(f"terminal {name} not found in grammar.lark")
    return re.sub(r"(?<!\\)\((?!\?)", "(?:", m.group(1))


NAME = _grammar_terminal("NAME")
PACKNAME = _grammar_terminal("PACKNAME")
IFNAME = _grammar_terminal("IFNAME")
IPV4 = _grammar_terminal("IPV4")
IPV6 = _grammar_terminal("IPV6")
DATE = _grammar_terminal("DATE")
SERVICE = _grammar_terminal("SERVICE_LITERAL")
PROTOCOL = re.match(r"\(\?:([a-z0-9|]+)\)\\?/", SERVICE).group(1)

# A keyword ends where a name would end: 'logging' and 'zone-a' are single words.
_END = r"(?![A-Za-z0-9_]|-(?!>))"


def _words(*words: str) -> str:
    return r"(?:%s)%s" % ("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)), _END)


class ZonePolicyLexer(RegexLexer):
    """Lexer for zonepolicy policy files (.zp)."""

    name = "ZonePolicy"
    aliases = ["zonepolicy", "zp"]
    filenames = ["*.zp"]
    mimetypes = ["text/x-zonepolicy"]

    tokens = {
        "ws": [
            (r"\s+", Whitespace),
            (r"#[^\n]*", Comment.Single),
        ],
        "string": [
            (r'[^"\\\n]+', String.Double),
            (r"\\.", String.Escape),
            (r'"', String.Double, "#pop"),
            (r"\n", Error, "#pop"),  # strings end on their line
        ],
        "root": [
            include("ws"),
            (r";", Punctuation),
            (_words("policy"), Keyword.Declaration, "policy-head"),
            (_words("import"), Keyword.Declaration, "string-value"),
            (_words("zone"), Keyword.Declaration, "zone-head"),
            (_words("address"), Keyword.Declaration, "address-head"),
            (_words("service"), Keyword.Declaration, "service-head"),
            (_words("firewall"), Keyword.Declaration, "firewall-head"),
            (_words("waive"), Keyword.Declaration, ("waiver-more", "rule-code")),
            (_words(*ACTION_WORDS), Keyword.Reserved, ("flow-sources", "endpoint")),
            (NAME, Error),
        ],
        # ---- small value states: one value, then back
        "string-value": [include("ws"), (r'"', String.Double, ("#pop", "string"))],
        "name-value": [include("ws"), (NAME, Name.Constant, "#pop")],
        "zone-value": [include("ws"), (NAME, Name.Variable, "#pop")],
        "pack-value": [include("ws"), (PACKNAME, Name.Constant, "#pop")],
        "action-value": [include("ws"), (_words(*ACTION_WORDS), Keyword.Reserved, "#pop")],
        "int-value": [include("ws"), (r"[0-9]+", Number.Integer, "#pop")],
        "date-value": [include("ws"), (DATE, Literal.Date, "#pop")],
        "id-value": [include("ws"), (NAME, Name.Label, "#pop")],
        # ---- policy header
        "policy-head": [
            include("ws"),
            (r'"', String.Double, "string"),
            (r"\{", Punctuation, ("#pop", "policy-body")),
            (NAME, Name.Namespace),
        ],
        "policy-body": [
            include("ws"),
            (r";", Punctuation),
            (r"\}", Punctuation, "#pop"),
            (_words("standard", "model"), Keyword, "pack-value"),
            (_words("default", "intrazone"), Keyword, "action-value"),
            (_words("description"), Keyword, "string-value"),
        ],
        # ---- zones
        "zone-head": [
            include("ws"),
            (r'"', String.Double, "string"),
            (r"\{", Punctuation, ("#pop", "zone-body")),
            (NAME, Name.Class),
        ],
        "zone-body": [
            include("ws"),
            (r";", Punctuation),
            (r"\}", Punctuation, "#pop"),
            (_words("kind", "vpn"), Keyword, "name-value"),
            (_words("hosted-on"), Keyword, "zone-value"),
            (_words("level"), Keyword, "int-value"),
            (_words("grading"), Keyword, "grading-head"),
            (_words("networks"), Keyword, ("prefix-more", "prefix")),
            (_words("important", "classified"), Keyword),
            (_words("owner", "description"), Keyword, "string-value"),
        ],
        "grading-head": [include("ws"), (r"\{", Punctuation, ("#pop", "grading-body"))],
        "grading-body": [
            include("ws"),
            (r";", Punctuation),
            (r"\}", Punctuation, "#pop"),
            (NAME, Name.Constant),
        ],
        "prefix": [
            include("ws"),
            (IPV6, Number.Other, "#pop"),
            (IPV4, Number.Other, "#pop"),
            (_words(*CONSTANT_WORDS), Keyword.Constant, "#pop"),
        ],
        "prefix-more": [include("ws"), (r",", Punctuation, "prefix"), default("#pop")],
        # ---- address and service objects
        "address-head": [
            include("ws"),
            (r'"', String.Double, "string"),
            (r"=", Operator, ("#pop", "address-more", "address-item")),
            (NAME, Name.Constant),
        ],
        "address-item": [
            include("ws"),
            (IPV6, Number.Other, "#pop"),
            (IPV4, Number.Other, "#pop"),
            (_words(*CONSTANT_WORDS), Keyword.Constant, "#pop"),
            (NAME, Name.Variable, "#pop"),
        ],
        "address-more": [include("ws"), (r",", Punctuation, "address-item"), default("#pop")],
        "service-head": [
            include("ws"),
            (r'"', String.Double, "string"),
            (r"=", Operator, ("#pop", "service-more", "service-item")),
            (NAME, Name.Function),
        ],
        "service-item": [
            include("ws"),
            (r"(%s)(/)([0-9]+(?:-[0-9]+)?)(?:(:)([0-9]+))?(?![A-Za-z0-9-])" % PROTOCOL,
             bygroups(Name.Builtin, Punctuation, Number.Integer, Punctuation, Number.Integer), "#pop"),
            (r"(%s)(/)([A-Za-z0-9][A-Za-z0-9-]*)(?:(:)([0-9]+))?" % PROTOCOL,
             bygroups(Name.Builtin, Punctuation, Name.Constant, Punctuation, Number.Integer), "#pop"),
            (NAME, Name.Function, "#pop"),
        ],
        "service-more": [include("ws"), (r",", Punctuation, "service-item"), default("#pop")],
        # ---- flows
        "endpoint": [
            include("ws"),
            (_words("zone", "address"), Keyword, ("#pop", "endpoint-call")),
            (IPV6, Number.Other, "#pop"),
            (IPV4, Number.Other, "#pop"),
            (r"\*", Operator, "#pop"),
            (r"(%s)(\.\*)" % NAME, bygroups(Name.Variable, Operator), "#pop"),
            (NAME, Name.Variable, "#pop"),
        ],
        "endpoint-call": [
            include("ws"),
            (r"\(", Punctuation),
            (r"\)", Punctuation, "#pop"),
            (r"\*", Operator),
            (r"(%s)(\.\*)" % NAME, bygroups(Name.Variable, Operator)),
            (NAME, Name.Variable),
        ],
        "flow-sources": [
            include("ws"),
            (r",", Punctuation, "endpoint"),
            (r"->", Operator, ("#pop", "flow-destinations", "endpoint")),
            default("#pop"),
        ],
        "flow-destinations": [
            include("ws"),
            (r",", Punctuation, "endpoint"),
            (r":", Punctuation, ("#pop", "flow-services", "service-item")),
            (r"\{", Punctuation, ("#pop", "options")),
            default("#pop"),
        ],
        "flow-services": [
            include("ws"),
            (r",", Punctuation, "service-item"),
            (r"\{", Punctuation, ("#pop", "options")),
            default("#pop"),
        ],
        "options": [
            include("ws"),
            (r";", Punctuation),
            (r"\}", Punctuation, "#pop"),
            (_words("log", "stateful", "stateless"), Keyword.Pseudo),
            (_words("inspect"), Keyword.Pseudo, "name-value"),
            (_words("via"), Keyword.Pseudo, "zone-value"),
            (_words("id"), Keyword.Pseudo, "id-value"),
            (_words("ticket", "comment"), Keyword.Pseudo, "string-value"),
            (_words("expires"), Keyword.Pseudo, "date-value"),
        ],
        # ---- firewalls
        "firewall-head": [
            include("ws"),
            (r'"', String.Double, "string"),
            (r"\{", Punctuation, ("#pop", "firewall-body")),
            (NAME, Name.Entity),
        ],
        "firewall-body": [
            include("ws"),
            (r";", Punctuation),
            (r"\}", Punctuation, "#pop"),
            (_words("target"), Keyword, "name-value"),
            (_words("description"), Keyword, "string-value"),
            (_words("interface"), Keyword, "interface-name"),
        ],
        "interface-name": [
            include("ws"),
            (r'"', String.Double, "string"),
            (r"->", Operator, ("#pop", "interface-more", "interface-zone")),
            (IFNAME, Name.Attribute),
        ],
        "interface-zone": [
            include("ws"),
            (r"(%s)(\.\*)" % NAME, bygroups(Name.Variable, Operator), "#pop"),
            (NAME, Name.Variable, "#pop"),
        ],
        "interface-more": [include("ws"), (r",", Punctuation, "interface-zone"), default("#pop")],
        # ---- waivers
        "rule-code": [include("ws"), (NAME, Name.Label, "#pop")],
        "waiver-more": [
            include("ws"),
            (_words("for"), Keyword, ("#pop", "scope-sources", "endpoint")),
            (r"\{", Punctuation, ("#pop", "waiver-body")),
            default("#pop"),
        ],
        "scope-sources": [
            include("ws"),
            (r",", Punctuation, "endpoint"),
            (r"->", Operator, ("#pop", "scope-destinations", "endpoint")),
            default("#pop"),
        ],
        "scope-destinations": [
            include("ws"),
            (r",", Punctuation, "endpoint"),
            (r":", Punctuation, ("#pop", "scope-services", "service-item")),
            (r"\{", Punctuation, ("#pop", "waiver-body")),
            default("#pop"),
        ],
        "scope-services": [
            include("ws"),
            (r",", Punctuation, "service-item"),
            (r"\{", Punctuation, ("#pop", "waiver-body")),
            default("#pop"),
        ],
        "waiver-body": [
            include("ws"),
            (r";", Punctuation),
            (r"\}", Punctuation, "#pop"),
            (_words("reason", "owner", "ticket"), Keyword, "string-value"),
            (_words("expires"), Keyword, "date-value"),
        ],
    }
