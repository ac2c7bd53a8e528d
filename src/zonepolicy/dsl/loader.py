"""Reading policy files: the root file, its imports (globs, relative to the importing file) and the prelude.

Files are read once each (a file imported twice is loaded once); an import that leads back to a
file still being read is a cycle and an error at the import statement.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from importlib import resources

from ..diagnostics import Diagnostic, SourceMap, Span
from . import syntax as s
from .parser import parse_text

PRELUDE_NAME = "<prelude>"


@dataclass(frozen=True, slots=True)
class Loaded:
    modules: tuple[s.Module, ...]  # root first, then imports depth-first in sorted order
    prelude: s.Module
    sources: SourceMap


def read_prelude() -> s.Module:
    text = resources.files("zonepolicy.dsl").joinpath("prelude.zp").read_text(encoding="utf-8")
    module, diags = parse_text(text, PRELUDE_NAME)
    assert not diags, diags  # the prelude ships with the package; a broken one is our bug
    return module


def _read(path: str) -> str:
    with open(path, "rb") as fh:
        data = fh.read()
    return data.decode("utf-8")


def load_files(root: str, lean: bool = True) -> tuple[Loaded, list[Diagnostic]]:
    """Parse ``root`` and everything it imports; diagnostics cover every file.

    The modules are read for resolution: with ``lean`` (the default), one-line flows stay
    :class:`~zonepolicy.dsl.fastpath.FlowLine` records (see :func:`~zonepolicy.dsl.parser.parse_text`).
    """
    sources = SourceMap()
    diags: list[Diagnostic] = []
    modules: list[s.Module] = []
    loaded: set[str] = set()

    def visit(real: str, shown: str, stack: tuple[str, ...], at: Span | None) -> None:
        try:
            text = _read(real)
        except FileNotFoundError:
            diags.append(Diagnostic("ZP213", f"no such file: {shown}", at, hint="check the path"))
            return
        except IsADirectoryError:
            diags.append(Diagnostic("ZP213", f"{shown} is a directory, not a policy file", at,
                                    hint="name a .zp file, or import \"dir/*.zp\""))
            return
        except UnicodeDecodeError as err:
            diags.append(Diagnostic("ZP104", f"{shown} is not UTF-8 text ({err.reason} at byte {err.start})", at,
                                    hint="save the file as UTF-8"))
            return
        except OSError as err:
            diags.append(Diagnostic("ZP213", f"cannot read {shown}: {err.strerror}", at))
            return
        loaded.add(real)
        sources.add(shown, text)
        module, parse_diags = parse_text(text, shown, lean=lean)
        diags.extend(parse_diags)
        modules.append(module)
        here = os.path.dirname(real)
        for stmt in module.statements:
            if isinstance(stmt, s.ImportStmt):
                _import(stmt, here, shown, stack + (real,))

    def _import(stmt: s.ImportStmt, here: str, shown: str, stack: tuple[str, ...]) -> None:
        pattern = stmt.path.value
        if os.path.isabs(pattern):
            diags.append(Diagnostic("ZP213", f"import path must be relative: {pattern}", stmt.path.span,
                                    hint="paths are relative to the importing file, so the policy moves as a whole"))
            return
        matches = sorted(glob.glob(os.path.join(here, pattern)))
        if not matches:
            diags.append(Diagnostic("ZP213", f"import \"{pattern}\" matches no file", stmt.path.span,
                                    hint="paths are relative to the importing file"))
            return
        for match in matches:
            real = os.path.realpath(match)
            if real in stack:
                chain = " -> ".join(_shown_chain(stack, real, sources_names) + [shown_of(match, here, shown)])
                diags.append(Diagnostic("ZP211", f"import cycle: {chain}", stmt.span,
                                        hint="remove one of the imports in the cycle"))
                continue
            if real in loaded:
                continue
            sources_names[real] = shown_of(match, here, shown)
            visit(real, sources_names[real], stack, stmt.span)

    sources_names: dict[str, str] = {}
    shown_root = os.path.normpath(root)
    sources_names[os.path.realpath(root)] = shown_root
    visit(os.path.realpath(root), shown_root, (), None)
    return Loaded(tuple(modules), read_prelude(), sources), diags


def shown_of(match: str, here: str, importer_shown: str) -> str:
    """The name a file is shown by: the importer's shown directory joined with the relative path."""
    rel = os.path.relpath(match, here)
    return os.path.normpath(os.path.join(os.path.dirname(importer_shown), rel))


def _shown_chain(stack: tuple[str, ...], start: str, names: dict[str, str]) -> list[str]:
    idx = stack.index(start)
    return [names.get(p, os.path.basename(p)) for p in stack[idx:]]
