"""Reading the commands out of the documentation, and checking them against the real CLI.

Used by the tests that keep docs/ci.md, .pre-commit-hooks.yaml and the tutorials honest: every
``zonepolicy …`` line they show must name a real subcommand with real options, and the ones that can
run here must run with the exit code the page documents.
"""

from __future__ import annotations

import copy
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from zonepolicy.cli import main

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)


def code_blocks(markdown: str, *langs: str) -> list[tuple[str, str, int]]:
    """(language, text, line of the opening fence) of every fenced block in one of ``langs``."""
    return [(m.group(1), m.group(2), markdown.count("\n", 0, m.start()) + 1)
            for m in FENCE.finditer(markdown) if m.group(1) in langs]


def parse_cli(argv: list[str]) -> click.Context:
    """Parse ``zonepolicy ARGV`` as the CLI would, without running it.

    Raises click's UsageError for an unknown subcommand or option, a bad choice or a missing or
    extra argument. Files are not opened, so paths of a user's repository are fine.
    """
    args = list(argv)
    ctx = main.make_context("zonepolicy", [], resilient_parsing=True)
    cmd: click.Command = main
    name = "zonepolicy"
    while isinstance(cmd, click.Group):
        if not args:
            raise click.UsageError(f"{name}: a subcommand is missing")
        name = args.pop(0)
        sub = cmd.get_command(ctx, name)
        if sub is None:
            raise click.UsageError(f"no such command {name!r}")
        cmd = sub
        if isinstance(cmd, click.Group):
            ctx = cmd.make_context(name, [], parent=ctx, resilient_parsing=True)
    return _without_existence_checks(cmd).make_context(name, args, parent=ctx)


def _without_existence_checks(cmd: click.Command) -> click.Command:
    """``cmd`` with its path parameters no longer required to exist (a page may name the user's files
    or a shell expression); every other check of the parameters stays."""
    lenient = copy.copy(cmd)
    lenient.params = []
    for param in cmd.params:
        if isinstance(param.type, click.Path) and param.type.exists:
            param = copy.copy(param)
            param.type = copy.copy(param.type)
            param.type.exists = False
        lenient.params.append(param)
    return lenient


def zonepolicy_argvs(shell_line: str) -> list[list[str]]:
    """The argument lists of the ``zonepolicy`` commands in one shell line (after && ; || |)."""
    out = []
    line = re.sub(r"\d?>&\d|\d?>>?\s*\S+|<\s*\S+", " ", shell_line.split(" #")[0])  # redirections
    for part in re.split(r"&&|\|\||;|\|", line):
        words = shlex.split(part.strip(), comments=True)
        while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):  # VAR=value prefixes
            words.pop(0)
        if words and words[0] == "zonepolicy":
            out.append(words[1:])
    return out


def shell_lines(block: str) -> list[str]:
    """The commands of a shell block, one per entry: continuation lines joined, comments kept."""
    lines: list[str] = []
    pending = ""
    for raw in block.splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        if line.strip() and not line.lstrip().startswith("#"):
            lines.append(line.strip())
    return lines


@dataclass
class Shell:
    """A scratch directory with a copy of the examples, where documented commands are run."""

    root: Path
    env: dict

    @classmethod
    def create(cls, tmp: Path, examples: Path, **variables: str) -> "Shell":
        shutil.copytree(examples, tmp / "examples")
        shim = tmp / ".bin"
        shim.mkdir()
        # 'zonepolicy' is this interpreter's zonepolicy, whatever is on PATH.
        (shim / "zonepolicy").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m zonepolicy "$@"\n')
        (shim / "zonepolicy").chmod(0o755)
        env = dict(os.environ, PATH=f"{shim}{os.pathsep}{os.environ.get('PATH', '')}", **variables)
        env.pop("ZONEPOLICY_DEBUG", None)
        return cls(tmp, env)

    def run(self, command: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-c", command], cwd=self.root, env=self.env, capture_output=True,
                              text=True, timeout=600)
