"""Diagnostics: one record type for every problem, rendered as text with a caret excerpt or as JSON.

A diagnostic points into the policy source through a :class:`Span`. Renderers read the source text
through a :class:`SourceMap` so the excerpt shows exactly what the user wrote.
"""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Iterable, NamedTuple


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


class Span(NamedTuple):
    """A region of a source file; lines and columns count from 1, ``end_column`` is exclusive.

    A named tuple rather than a frozen dataclass: province-scale policies create millions of spans,
    and a tuple is created several times faster while being just as immutable and ordered.
    """

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Span":
        return cls(
            file=str(data["file"]),
            line=int(data["line"]),
            column=int(data["column"]),
            end_line=int(data["end_line"]),
            end_column=int(data["end_column"]),
        )


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """A problem found in a policy: stable code, severity, message, where, and how to fix it."""

    code: str
    message: str
    span: Span | None = None
    severity: Severity = Severity.ERROR
    hint: str | None = None
    label: str | None = None
    related: tuple[tuple[str, Span], ...] = field(default=())

    def sort_key(self) -> tuple:
        s = self.span
        return (s.file, s.line, s.column, self.code, self.message) if s else ("", 0, 0, self.code, self.message)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "span": self.span.to_dict() if self.span else None,
            "hint": self.hint,
            "label": self.label,
            "related": [{"message": m, "span": s.to_dict()} for m, s in self.related],
        }


class SourceMap:
    """The texts of the files a policy was read from, for caret excerpts."""

    def __init__(self, texts: dict[str, str] | None = None) -> None:
        self._lines: dict[str, list[str]] = {}
        for name, text in (texts or {}).items():
            self.add(name, text)

    def add(self, name: str, text: str) -> None:
        # Lines as the parser counts them: only "\n" ends a line (splitlines() would also split at
        # form feeds, U+2028 …, and every excerpt after one would show the wrong line).
        self._lines[name] = [line.removesuffix("\r") for line in text.split("\n")]

    def line(self, name: str, number: int) -> str | None:
        lines = self._lines.get(name)
        if lines is None or not 1 <= number <= len(lines):
            return None
        return lines[number - 1]


def _width(text: str) -> int:
    """Terminal columns taken by ``text``: CJK characters are two columns wide."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def render(diag: Diagnostic, sources: SourceMap | None = None) -> str:
    """Render one diagnostic in the compiler style: header, code frame with caret, help line."""
    sev = diag.severity.value
    where = f"{diag.span}: " if diag.span else ""
    out = [f"{where}{sev}[{diag.code}]: {diag.message}"]
    span = diag.span
    text = sources.line(span.file, span.line) if (sources and span) else None
    if span and text is not None:
        gutter = " " * len(str(span.line))
        text = text.replace("\t", " ")
        start = min(span.column - 1, len(text))
        end = span.end_column - 1 if span.end_line == span.line else len(text)
        end = max(min(end, len(text)), start + 1)
        pad = " " * _width(text[:start])
        carets = "^" * max(1, _width(text[start:end]))
        label = f" {diag.label}" if diag.label else ""
        out += [f"{gutter} |", f"{span.line} | {text}", f"{gutter} | {pad}{carets}{label}"]
    for message, rel in diag.related:
        out.append(f"  = note: {message} at {rel}")
    if diag.hint:
        out.append(f"  = help: {diag.hint}")
    return "\n".join(out)


def render_all(diags: Iterable[Diagnostic], sources: SourceMap | None = None) -> str:
    diags = sorted(diags, key=Diagnostic.sort_key)
    blocks = [render(d, sources) for d in diags]
    errors = sum(d.severity is Severity.ERROR for d in diags)
    warnings = sum(d.severity is Severity.WARNING for d in diags)
    blocks.append(f"{errors} error(s), {warnings} warning(s)")
    return "\n\n".join(blocks)


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """The closest known name to a misspelt one, or None when nothing is close."""
    import difflib

    found = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return found[0] if found else None
