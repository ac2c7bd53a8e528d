"""The formatter: golden files, the laws (meaning kept, idempotent, comments kept), and `zonepolicy fmt`."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings

from conftest import EXAMPLES, REPO, run_cli
from strategies import policies, small_policies
from zonepolicy import api
from zonepolicy.dsl import formatter
from zonepolicy.dsl.formatter import FormatterBug, format_file
from zonepolicy.dsl.parser import parse_text
from zonepolicy.errors import InvalidPolicy

DATA = REPO / "tests" / "data" / "fmt"
GOLDEN = [
    (EXAMPLES / "quickstart" / "policy.zp", DATA / "quickstart.expected.zp"),
    (DATA / "comments.zp", DATA / "comments.expected.zp"),
]
UNFORMATTED = 'policy p { default deny; intrazone allow }\nzone a {kind public;networks 10.0.0.0/8}\n'
FORMATTED = format_file(UNFORMATTED, "x.zp")


def _comments(text: str) -> Counter[str]:
    module, diags = parse_text(text, "x.zp")
    assert not diags
    return Counter(c.text.rstrip() for c in module.comments)


# ---------------------------------------------------------------- golden files

@pytest.mark.parametrize("source, expected", GOLDEN, ids=[g[0].name for g in GOLDEN])
def test_golden(source: Path, expected: Path) -> None:
    text = source.read_text(encoding="utf-8")
    assert format_file(text, source.name) == expected.read_text(encoding="utf-8")


@pytest.mark.parametrize("expected", [g[1] for g in GOLDEN], ids=[g[1].name for g in GOLDEN])
def test_golden_output_is_a_fixed_point(expected: Path) -> None:
    text = expected.read_text(encoding="utf-8")
    assert format_file(text, expected.name) == text


def test_comment_fixture_keeps_every_comment() -> None:
    source, expected = GOLDEN[1]
    assert _comments(source.read_text(encoding="utf-8")) == _comments(expected.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- style details

@pytest.mark.parametrize("source, expected", [
    ("", ""),
    ("\n\n  \n", ""),
    ("# only a comment", "# only a comment\n"),
    ("\ufeffpolicy p {}\r\n", "policy p {}\n"),
    ('zone a "x\\ty" { }', 'zone a "x\\ty" {}\n'),
    ('zone a "\\q" { owner "a\\"b" }', 'zone a "q" { owner "a\\"b" }\n'),
    ("allow a->b:https{log;;stateful}", "allow a -> b : https { log; stateful }\n"),
    ("deny a -> b { }", "deny a -> b\n"),
    ("zone a { kind x; level 1; vpn v; important }", "zone a { kind x; level 1; vpn v; important }\n"),
    ("zone a { kind x; level 1; vpn v; important; classified }",
     "zone a {\n    kind x\n    level 1\n    vpn v\n    important\n    classified\n}\n"),
    ("zone a { grading { business-info citizen general; system-service citizen general } }",
     "zone a {\n    grading {\n        business-info citizen general\n        system-service citizen general\n"
     "    }\n}\n"),
    ("firewall f { target nftables }", "firewall f {\n    target nftables\n}\n"),
    ("zone a {}\n\n\n\nzone b {}\nzone c {}", "zone a {}\n\nzone b {}\nzone c {}\n"),
    ("allow a -> b : https\ndeny ccc -> d { log }\n\nallow e -> f",
     "allow a -> b   : https\ndeny  ccc -> d { log }\n\nallow e -> f\n"),
    ("address a = 10.0.0.1\nservice long-name = tcp/1", "address a         = 10.0.0.1\nservice long-name = tcp/1\n"),
    ("waive X { reason \"r\"; owner \"o\"; expires 2027-01-01 }",
     "waive X { reason \"r\"; owner \"o\"; expires 2027-01-01 }\n"),
    ("allow a,   # why a\n  b -> c", "# why a\nallow a, b -> c\n"),
    ("zone a { # open\n}", "zone a {  # open\n}\n"),
    ("zone a {\n  kind x\n  # closing\n}  # after", "zone a {\n    kind x\n    # closing\n}  # after\n"),
])
def test_style(source: str, expected: str) -> None:
    assert format_file(source, "x.zp") == expected


def test_long_zone_and_flow_lines_break() -> None:
    desc = "a" * 80
    text = f'zone a "{desc}" {{ networks 10.0.0.0/8 }}\nallow a -> b : https {{ comment "{desc}" }}\n'
    out = format_file(text, "x.zp")
    assert out == (f'zone a "{desc}" {{\n    networks 10.0.0.0/8\n}}\n'
                   f'allow a -> b : https {{\n    comment "{desc}"\n}}\n')
    assert all(len(line) <= formatter.MAX_WIDTH for line in out.splitlines())


def test_cjk_counts_double_for_the_width_limit() -> None:
    # 30 CJK characters are 60 columns: with the rest the line passes 100, so the zone breaks.
    text = f'zone a "{"区" * 30}" {{ kind public; level 3; networks 10.0.0.0/8 }}'
    assert format_file(text, "x.zp").count("\n") > 1


def test_syntax_error_raises_invalid_policy_with_sources() -> None:
    with pytest.raises(InvalidPolicy) as info:
        format_file("zone a { kind }\n", "broken.zp")
    diag = info.value.diagnostics[0]
    assert diag.span.file == "broken.zp" and diag.span.line == 1
    assert info.value.sources.line("broken.zp", 1) == "zone a { kind }"


def test_safety_net_refuses_output_that_changes_meaning(monkeypatch: pytest.MonkeyPatch) -> None:
    module, _ = parse_text("allow a -> b : https\n", "x.zp")
    with pytest.raises(FormatterBug):
        formatter._check_same(module, "allow a -> b : http\n", "x.zp")
    with pytest.raises(FormatterBug):
        formatter._check_same(module, "allow a -> b : https # extra\n", "x.zp")
    monkeypatch.setattr(formatter, "_tok", lambda tok: tok.text.upper())
    with pytest.raises(FormatterBug):
        format_file("allow a -> b : https\n", "x.zp")


# ---------------------------------------------------------------- the laws, on generated policies

@given(text=policies())
def test_formatting_keeps_the_resolved_policy(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("fmt") / "policy.zp"
    path.write_text(text, encoding="utf-8")
    before = api.load(str(path)).policy
    path.write_text(format_file(text, str(path)), encoding="utf-8")
    assert api.load(str(path)).policy == before  # spans are not compared; everything else is


@settings(max_examples=100)
@given(text=policies())
def test_formatting_is_idempotent_and_keeps_comments(text: str) -> None:
    once = format_file(text, "p.zp")
    assert format_file(once, "p.zp") == once
    assert _comments(once) == _comments(text)
    assert once.endswith("\n") and not once.endswith("\n\n")
    assert not any(line != line.rstrip() for line in once.splitlines())


_STRING_OR_SPACE = re.compile(r'"(?:[^"\\\n]|\\.)*"|\s+')


@settings(max_examples=100)
@given(text=small_policies(comments=False))
def test_layout_does_not_matter(text: str) -> None:
    # The whole policy squeezed onto one line formats like the original without its blank lines
    # (which the formatter keeps, and which bound the aligned runs of flows and objects).
    squeezed = _STRING_OR_SPACE.sub(lambda m: m.group(0) if m.group(0).startswith('"') else " ", text)
    unspaced = "\n".join(line for line in text.splitlines() if line.strip())
    assert format_file(squeezed, "p.zp") == format_file(unspaced, "p.zp")


def test_examples_keep_their_meaning(tmp_path: Path) -> None:
    roots = sorted(p for p in EXAMPLES.glob("*/*.zp") if p.name in ("policy.zp", "main.zp"))
    assert roots
    for root in roots:
        try:
            before = api.load(str(root)).policy
        except InvalidPolicy:
            continue  # an example being written right now; the example tests report it
        copy = tmp_path / root.parent.name
        shutil.copytree(root.parent, copy)
        for file in sorted(copy.rglob("*.zp")):
            once = format_file(file.read_text(encoding="utf-8"), str(file))
            assert format_file(once, str(file)) == once, file
            file.write_text(once, encoding="utf-8")
        after = api.load(str(copy / root.name)).policy
        assert after.zones == before.zones and after.flows == before.flows
        assert after.firewalls == before.firewalls and after.waivers == before.waivers
        assert after.addresses == before.addresses and after.services == before.services


# ---------------------------------------------------------------- the command line

def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("flag", ["--check", "--diff"])
def test_cli_reports_formatted_file_with_0(tmp_path: Path, flag: str) -> None:
    path = _write(tmp_path, "ok.zp", FORMATTED)
    result = run_cli("fmt", flag, str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert path.read_text(encoding="utf-8") == FORMATTED


def test_cli_check_reports_unformatted_file_with_1_and_leaves_it(tmp_path: Path) -> None:
    path = _write(tmp_path, "messy.zp", UNFORMATTED)
    result = run_cli("fmt", "--check", str(path))
    assert result.returncode == 1
    assert "would reformat" in result.stderr and "messy.zp" in result.stderr
    assert path.read_text(encoding="utf-8") == UNFORMATTED


def test_cli_diff_prints_the_change_with_1_and_leaves_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "messy.zp", UNFORMATTED)
    result = run_cli("fmt", "--diff", str(path))
    assert result.returncode == 1
    assert "-zone a {kind public;networks 10.0.0.0/8}" in result.stdout
    assert "+zone a { kind public; networks 10.0.0.0/8 }" in result.stdout
    assert path.read_text(encoding="utf-8") == UNFORMATTED


@pytest.mark.parametrize("flags", [(), ("--check",), ("--diff",)])
def test_cli_syntax_error_exits_2_with_diagnostics_and_leaves_the_file(tmp_path: Path, flags: tuple) -> None:
    broken = "policy p { default deny; intrazone allow }\nzone a { kind }\n"
    path = _write(tmp_path, "broken.zp", broken)
    result = run_cli("fmt", *flags, str(path))
    assert result.returncode == 2
    assert "broken.zp:2:" in result.stderr and "error[" in result.stderr
    assert path.read_text(encoding="utf-8") == broken


def test_cli_rewrites_in_place_and_then_checks_clean(tmp_path: Path) -> None:
    path = _write(tmp_path, "messy.zp", UNFORMATTED)
    sub = tmp_path / "sub"
    sub.mkdir()
    nested = _write(sub, "nested.zp", UNFORMATTED)
    _write(sub, "notes.txt", UNFORMATTED)
    result = run_cli("fmt", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert path.read_text(encoding="utf-8") == FORMATTED
    assert nested.read_text(encoding="utf-8") == FORMATTED
    assert (sub / "notes.txt").read_text(encoding="utf-8") == UNFORMATTED
    assert run_cli("fmt", "--check", str(tmp_path)).returncode == 0


def test_cli_counts_crlf_line_ends_as_unformatted(tmp_path: Path) -> None:
    path = tmp_path / "crlf.zp"
    path.write_bytes(FORMATTED.replace("\n", "\r\n").encode())
    assert run_cli("fmt", "--check", str(path)).returncode == 1
    assert run_cli("fmt", str(path)).returncode == 0
    assert path.read_bytes() == FORMATTED.encode()


def test_cli_refuses_a_file_that_is_not_utf8_with_2(tmp_path: Path) -> None:
    path = tmp_path / "latin1.zp"
    path.write_bytes("# caf\xe9\n".encode("latin-1"))
    result = run_cli("fmt", str(path))
    assert result.returncode == 2 and "ZP104" in result.stderr
    assert path.read_bytes() == "# caf\xe9\n".encode("latin-1")
