"""Syntax nodes: the policy exactly as written, with a source span on every node.

Names are not resolved here; that is the resolver's job. The formatter prints these nodes back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Union

from ..diagnostics import Span


class Tok(NamedTuple):
    """One token: its terminal type (``NAME``, ``STRING``, ``IPV4``, …), raw text and span.

    A named tuple for speed of creation (see :class:`~zonepolicy.diagnostics.Span`).
    """

    type: str
    text: str
    span: Span

    @property
    def value(self) -> str:
        """The token's meaning: strings unquoted and unescaped, everything else as written."""
        if self.type == "STRING":
            return unquote(self.text)
        return self.text


def unquote(text: str) -> str:
    body = text[1:-1]
    if "\\" not in body:  # the common case: nothing escaped
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append({"n": "\n", "t": "\t", '"': '"', "\\": "\\"}.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def quote(value: str) -> str:
    """The STRING literal for ``value`` (inverse of :func:`unquote`)."""
    esc = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{esc}"'


class Endpoint(NamedTuple):
    """A flow endpoint as written.

    kind is one of: ``name`` (zone or address object), ``children`` (``x.*``), ``all`` (``*``),
    ``zone`` / ``zone-children`` / ``zone-all`` (``zone(...)``), ``address`` (``address(x)``),
    ``literal`` (an inline prefix).
    """

    kind: str
    name: Tok | None
    span: Span


Arg = Union[Tok, Endpoint]


class Item(NamedTuple):
    """An attribute inside a block (``level 3``, ``log``, ``interface eth0 -> dmz``, ``grading {…}``)."""

    key: str
    args: tuple[Arg, ...]
    span: Span
    children: tuple = ()  # of Item


@dataclass(frozen=True, slots=True)
class PolicyStmt:
    name: Tok
    description: Tok | None
    items: tuple[Item, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class ImportStmt:
    path: Tok
    span: Span


@dataclass(frozen=True, slots=True)
class ZoneStmt:
    name: Tok
    description: Tok | None
    items: tuple[Item, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class ObjectStmt:
    """``address NAME = …`` or ``service NAME = …`` (kind says which)."""

    kind: str
    name: Tok
    description: Tok | None
    values: tuple[Tok, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class FlowStmt:
    action: Tok
    sources: tuple[Endpoint, ...]
    destinations: tuple[Endpoint, ...]
    services: tuple[Tok, ...]
    options: tuple[Item, ...] | None
    span: Span


@dataclass(frozen=True, slots=True)
class FirewallStmt:
    name: Tok
    description: Tok | None
    items: tuple[Item, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class WaiverStmt:
    rule: Tok
    sources: tuple[Endpoint, ...] | None
    destinations: tuple[Endpoint, ...] | None
    services: tuple[Tok, ...]
    items: tuple[Item, ...] | None
    span: Span


Statement = Union[PolicyStmt, ImportStmt, ZoneStmt, ObjectStmt, FlowStmt, FirewallStmt, WaiverStmt]


@dataclass(frozen=True, slots=True)
class Comment:
    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class Module:
    """One parsed file: its statements in order and its comments (kept for the formatter)."""

    path: str
    statements: tuple[Statement, ...]
    comments: tuple[Comment, ...]
