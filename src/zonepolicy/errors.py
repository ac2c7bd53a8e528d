"""The one exception tree of zonepolicy.

Library code collects problems as :class:`~zonepolicy.diagnostics.Diagnostic` records and raises
once, at the boundary, with all of them; the CLI turns the exception into text and exit code 2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .diagnostics import Diagnostic


class ZonePolicyError(Exception):
    """Root of every error zonepolicy raises on purpose."""


class InvalidPolicy(ZonePolicyError):
    """The input is not a valid policy; ``diagnostics`` says every reason found in one run."""

    def __init__(self, diagnostics: "tuple[Diagnostic, ...] | list[Diagnostic]", sources=None) -> None:
        self.diagnostics = tuple(diagnostics)
        self.sources = sources  # a SourceMap, for caret excerpts
        first = self.diagnostics[0].message if self.diagnostics else "invalid policy"
        super().__init__(f"{len(self.diagnostics)} problem(s); first: {first}")


class UsageError(ZonePolicyError):
    """A request that cannot be carried out (unknown firewall, unknown format, …)."""
