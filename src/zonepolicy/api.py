"""The Python API of zonepolicy: load a policy, and (as the layers land) verify, compile and probe it.

Nothing here prints or exits; problems are raised as :class:`~zonepolicy.errors.ZonePolicyError`.
"""

from __future__ import annotations

import contextlib
import gc
import os
from typing import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .diagnostics import Diagnostic, Severity, SourceMap
from .errors import InvalidPolicy, UsageError
from .model.policy import Policy

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .compile import Compiled

POLICY_SUFFIXES = (".zp",)
DATA_SUFFIXES = (".json", ".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class Loaded:
    """A valid policy, the texts it was read from, and any warnings."""

    policy: Policy
    sources: SourceMap
    warnings: tuple[Diagnostic, ...]


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    # Reading a province-scale policy creates millions of small acyclic objects (tokens, spans,
    # nodes); the cyclic collector would rescan them over and over for nothing (~25 % of load time).
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # Everything made meanwhile sits in the youngest generation, so the first collection
        # after enabling would walk all of it (~0.7 s at province scale): move it to the oldest.
        gc.freeze()
        gc.unfreeze()
        if enabled:
            gc.enable()


def load(path: str) -> Loaded:
    """Read a policy from a ``.zp`` file (following its imports) or from its JSON/YAML export.

    Raises :class:`InvalidPolicy` carrying every problem found.
    """
    with _gc_paused():
        return _load(path)


def _load(path: str) -> Loaded:
    if path.endswith(DATA_SUFFIXES):
        from .model.serialize import load_data

        policy, diags, sources = load_data(path)
    else:
        from .dsl.loader import load_files
        from .model.resolve import resolve

        files, diags = load_files(path)
        sources = files.sources
        policy = None
        if not any(d.severity is Severity.ERROR for d in diags):
            policy, more = resolve(files.modules, files.prelude)
            diags = list(diags) + list(more)
    errors = [d for d in diags if d.severity is Severity.ERROR]
    if errors or policy is None:
        raise InvalidPolicy(sorted(diags, key=Diagnostic.sort_key), sources)
    return Loaded(policy, sources, tuple(d for d in diags if d.severity is not Severity.ERROR))


def load_policy(path: str) -> Policy:
    """Just the policy (see :func:`load`)."""
    return load(path).policy


def write_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one, never a part.

    An unwritable place is bad input (:class:`UsageError`, exit 2), not a bug in zonepolicy.
    """
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as err:
        raise UsageError(f"cannot write {path}: {err.strerror}\n"
                         "hint: check that the directory exists and is writable") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def compile_policy(policy: Policy, target: str | None = None,
                   firewalls: Sequence[str] | None = None) -> list[Compiled]:
    """Compile the firewalls of ``policy`` with target ``target`` (or the named ``firewalls``):
    a list of ``Compiled(firewall, outputs, diagnostics)``; nothing is written. See
    :mod:`zonepolicy.compile` for writing the files and proving them."""
    from .compile import compile_policy as run

    return run(policy, target, firewalls)
