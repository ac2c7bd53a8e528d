"""Checks of the grading family (see the package docstring for how checks are written)."""

from __future__ import annotations
