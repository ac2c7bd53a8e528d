"""Compile a policy into firewall configurations, and prove what was written.

The steps for every selected firewall (see ``compilers/base.py`` for the contract):
lower the policy to the firewall's target model → check what the target can express → render →
(``write_outputs``) write every file atomically, only after every firewall rendered → optionally
(``check_outputs``) read the files back with the back end's reader and prove them equal to the
policy's meaning for that firewall.

Nothing here prints or exits; the CLI turns results into text and exit codes.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, NamedTuple, Sequence

from .compilers import TARGETS
from .compilers.base import Mismatch, Output, TargetModel, check_capabilities, get_compiler, lower, prove
from .diagnostics import Diagnostic, Severity, Span
from .errors import UsageError, ZonePolicyError
from .model.policy import Firewall, Policy
from .semantics.meaning import Meaning


class Compiled(NamedTuple):
    """One firewall's result: its files (empty when it has errors) and its diagnostics."""

    firewall: Firewall
    outputs: tuple[Output, ...]
    diagnostics: tuple[Diagnostic, ...]

    @property
    def ok(self) -> bool:
        return not any(d.severity is Severity.ERROR for d in self.diagnostics)


class Checked(NamedTuple):
    """The proof of one firewall's files: the mismatches, or why they could not be read back."""

    firewall: Firewall
    mismatches: tuple[Mismatch, ...]
    error: str | None = None

    @property
    def ok(self) -> bool:
        return not self.mismatches and self.error is None


def select_firewalls(policy: Policy, target: str | None = None,
                     firewalls: Sequence[str] | None = None) -> list[Firewall]:
    """The firewalls to compile: the named ones, or every firewall whose target is ``target``.

    Raises :class:`UsageError` for an unknown target or firewall, a named firewall of another
    target, or a selection that is empty.
    """
    if target is not None and target not in TARGETS:
        raise UsageError(f"unknown target '{target}' (known: {', '.join(TARGETS)})")
    if firewalls:
        known = {f.name: f for f in policy.firewalls}
        chosen = []
        for name in dict.fromkeys(firewalls):  # keep the order given, drop repeats
            fw = known.get(name)
            if fw is None:
                raise UsageError(f"policy {policy.name} has no firewall '{name}' "
                                 f"(firewalls: {', '.join(sorted(known)) or 'none'})")
            if target is not None and fw.target != target:
                raise UsageError(f"firewall '{name}' has target {fw.target}, not {target}")
            chosen.append(fw)
        return chosen
    if target is None:
        raise UsageError("say which firewalls to compile: --target TARGET and/or --firewall NAME")
    chosen = [f for f in policy.firewalls if f.target == target]
    if not chosen:
        have = sorted({f.target for f in policy.firewalls})
        raise UsageError(f"policy {policy.name} has no firewall with target {target} "
                         f"(targets used: {', '.join(have) or 'none'})")
    return chosen


def _policy_root(policy: Policy) -> str | None:
    """The directory of the policy's main file: origins in compiled comments are relative to it."""
    return os.path.dirname(policy.files[0]) if policy.files else None


def _relative_origin(root: str | None) -> Callable[[Span | None], str]:
    """``file:line`` of a span with the file relative to ``root``, so the emitted text does not depend
    on the directory the compiler ran in (same policy → byte-identical files)."""
    paths: dict[str, str] = {}  # a policy has a few files and thousands of flow lines: relpath once per file

    def origin(span: Span | None) -> str:
        if span is None:
            return ""
        if root is None or not span.file:
            return f"{span.file}:{span.line}"
        short = paths.get(span.file)
        if short is None:
            short = paths[span.file] = os.path.relpath(span.file, root or ".").replace(os.sep, "/")
        return f"{short}:{span.line}"
    return origin


def _relative_origins(model: TargetModel, root: str | None) -> TargetModel:
    """``model`` (lowered with absolute origins) with every ``file:line`` relative to ``root``, as
    :func:`compile_policy` lowers it directly."""
    if root is None:
        return model
    paths: dict[str, str] = {}

    def rel(origin: str) -> str:
        path, sep, line = origin.rpartition(":")
        if not sep or not path:
            return origin
        short = paths.get(path)
        if short is None:
            short = paths[path] = os.path.relpath(path, root or ".").replace(os.sep, "/")
        return f"{short}:{line}"

    pairs = tuple(dataclasses.replace(p, rules=tuple(
        r if rel(r.origin) == r.origin else dataclasses.replace(r, origin=rel(r.origin)) for r in p.rules))
        for p in model.pairs)
    return dataclasses.replace(model, pairs=pairs, flows=tuple((fid, rel(o)) for fid, o in model.flows))


def compile_policy(policy: Policy, target: str | None = None, firewalls: Sequence[str] | None = None,
                   meaning: Meaning | None = None) -> list[Compiled]:
    """Compile the selected firewalls (see :func:`select_firewalls`); nothing is written.

    A firewall whose diagnostics include an error gets no outputs. A target without a back end
    raises :class:`UsageError`.
    """
    chosen = select_firewalls(policy, target, firewalls)
    compilers = {fw.target: get_compiler(fw.target) for fw in chosen}  # fail early on a missing back end
    meaning = meaning or Meaning(policy)
    origin = _relative_origin(_policy_root(policy))
    from .api import _gc_paused

    # lowering and rendering make millions of small objects, no cycles worth collecting meanwhile
    with _gc_paused():
        return [_compile_one(policy, fw, compilers[fw.target], meaning, origin) for fw in chosen]


def _compile_one(policy: Policy, fw: Firewall, compiler, meaning: Meaning,
                 origin: Callable[[Span | None], str]) -> Compiled:
    model = lower(policy, fw, meaning, origin=origin)
    diags = check_capabilities(policy, fw, model, compiler.capabilities) + compiler.diagnose(policy, fw)
    if any(d.severity is Severity.ERROR for d in diags):
        return Compiled(fw, (), tuple(diags))
    return Compiled(fw, tuple(compiler.render(model)), tuple(diags))


def _safe_filename(name: str) -> bool:
    return bool(name) and name == os.path.basename(name) and not name.startswith(".") and "/" not in name \
        and "\\" not in name and "\0" not in name


def write_outputs(directory: str, compiled: Sequence[Compiled]) -> list[str]:
    """Write every output into ``directory`` (created if needed), each file atomically.

    Refuses (before writing anything) when a firewall has errors, a file name is unsafe, or two
    outputs would have the same name. Returns the paths written, in order.
    """
    names: dict[str, str] = {}
    for c in compiled:
        if not c.ok:
            raise UsageError(f"firewall {c.firewall.name} has errors; nothing was written")
        for out in c.outputs:
            if not _safe_filename(out.filename):
                raise UsageError(f"back end {c.firewall.target} produced an unsafe file name {out.filename!r}")
            if out.filename in names:
                raise UsageError(f"firewalls {names[out.filename]} and {c.firewall.name} would both write "
                                 f"{out.filename}; compile them into different directories")
            names[out.filename] = c.firewall.name
    os.makedirs(directory, exist_ok=True)
    from .api import write_atomically

    paths = []
    for c in compiled:
        for out in c.outputs:
            path = os.path.join(directory, out.filename)
            write_atomically(path, out.text)
            paths.append(path)
    return paths


def check_outputs(policy: Policy, compiled: Sequence[Compiled], directory: str | None = None,
                  meaning: Meaning | None = None) -> list[Checked]:
    """Read each firewall's files back with its back end's reader and prove them against the policy.

    With ``directory`` the files are read from disk (what was really written); otherwise the
    rendered texts are used.
    """
    from .api import _gc_paused

    meaning = meaning or Meaning(policy)
    with _gc_paused():  # reading back makes millions of small acyclic objects too
        return [_check_one(policy, c, directory, meaning) for c in compiled]


def _check_one(policy: Policy, c: Compiled, directory: str | None, meaning: Meaning) -> Checked:
    compiler = get_compiler(c.firewall.target)
    outputs = list(c.outputs)
    if directory is not None:
        outputs = []
        for out in c.outputs:
            with open(os.path.join(directory, out.filename), encoding="utf-8") as fh:
                outputs.append(Output(out.filename, fh.read()))
    try:
        pairs = compiler.read_outputs(outputs, c.firewall)
    except (ZonePolicyError, ValueError) as err:
        return Checked(c.firewall, (), f"cannot read the output back: {err}")
    return Checked(c.firewall, tuple(prove(policy, c.firewall, pairs, meaning)))
