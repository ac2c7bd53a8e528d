"""The tutorials, followed step by step as a newcomer would.

Each tutorial is read in order: a ``zp`` block whose first line is ``# file: NAME`` is saved as NAME,
and every command of a ``sh`` block is run in a scratch directory holding a copy of the examples,
expecting the exit code its comment documents (``# exit 1``; 0 when none is given). Commands
marked ``# needs root`` or ``# needs network`` are only checked against the CLI, not run.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from conftest import EXAMPLES, REPO
from doc_commands import Shell, code_blocks, parse_cli, shell_lines, zonepolicy_argvs

TUTORIALS = sorted((REPO / "docs" / "tutorials").glob("*.md"))
FILE_MARK = re.compile(r"\A# file: (\S+)\n")
SKIP_MARK = re.compile(r"#.*\bneeds (root|network)\b")
EXIT_MARK = re.compile(r"#.*\bexit (\d+)\b")


def steps(markdown: str) -> list[tuple[str, str, int]]:
    """('file', NAME + content, line) and ('run', command, line) in the order of the page."""
    out = []
    for lang, text, line in code_blocks(markdown, "zp", "sh"):
        if lang == "zp":
            m = FILE_MARK.match(text)
            if m:
                out.append(("file", m.group(1) + "\n" + text, line))
        else:
            out.extend(("run", cmd, line) for cmd in shell_lines(text))
    return out


def test_the_three_tutorials_exist():
    assert {p.stem for p in TUTORIALS} >= {"architect", "ci-maintainer", "field-tester"}


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_every_zonepolicy_command_parses(path: Path):
    commands = [cmd for kind, cmd, _ in steps(path.read_text(encoding="utf-8")) if kind == "run"]
    argvs = [argv for cmd in commands for argv in zonepolicy_argvs(cmd)]
    assert len(argvs) >= 5, "a tutorial walks through real commands"
    for argv in argvs:
        try:
            parse_cli(argv)
        except click.ClickException as err:  # pragma: no cover - the message is the point
            pytest.fail(f"{path.name}: zonepolicy {' '.join(argv)}: {err.format_message()}")


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_runs_as_written(tmp_path: Path, path: Path):
    sh = Shell.create(tmp_path, EXAMPLES)
    ran = 0
    for kind, body, line in steps(path.read_text(encoding="utf-8")):
        if kind == "file":
            name, content = body.split("\n", 1)
            (tmp_path / name).write_text(content, encoding="utf-8")
            continue
        if SKIP_MARK.search(body):
            continue
        expected = int(EXIT_MARK.search(body).group(1)) if EXIT_MARK.search(body) else 0
        proc = sh.run(body)
        assert proc.returncode == expected, (
            f"{path.name}:{line}: `{body}` exited {proc.returncode}, the tutorial says {expected}\n"
            f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        ran += 1
    assert ran >= 5


# ---------------------------------------------------------------- links

def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"`", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = FENCE_FREE(page.read_text(encoding="utf-8"))
    return {_slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, re.M)}


def FENCE_FREE(markdown: str) -> str:  # noqa: N802 - reads like the constant it stands for
    return re.sub(r"^```.*?^```", "", markdown, flags=re.M | re.S)


LINKED_PAGES = TUTORIALS + [REPO / "docs" / "ci.md", REPO / "editors" / "vscode" / "README.md", REPO / "README.md"]


@pytest.mark.parametrize("page", LINKED_PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_and_anchors_resolve(page: Path):
    text = FENCE_FREE(page.read_text(encoding="utf-8"))
    if page.name == "README.md" and page.parent == REPO:
        text = text.split("## Documentation", 1)[1].split("\n## ", 1)[0]
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(target)
    assert not broken
