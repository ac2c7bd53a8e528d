"""The command line as a user runs it: subprocesses, exit codes, stdout versus stderr."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from conftest import EXAMPLES, run_cli

QUICKSTART = str(EXAMPLES / "quickstart" / "policy.zp")

BROKEN = """\
policy broken { default deny; intrazone allow }
zone a { networks 10.0.0.0/8 }
zone b { level 9 }
allow a -> c : https
"""


def cli(*args: str, **kw):
    """Run the CLI; no command may ever show a traceback, on either stream."""
    result = run_cli(*args, **kw)
    assert "Traceback" not in result.stdout and "Traceback" not in result.stderr, result.stderr
    assert "internal error" not in result.stderr, result.stderr
    return result


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    path = tmp_path / "broken.zp"
    path.write_text(BROKEN, encoding="utf-8")
    return path


def test_version():
    r = cli("--version")
    assert r.returncode == 0
    assert re.fullmatch(r"zonepolicy, version \d+\.\d+\.\d+\S*\n", r.stdout)
    assert cli("-V").stdout == r.stdout


def test_help_lists_commands_and_examples():
    r = cli("--help")
    assert r.returncode == 0 and r.stderr == ""
    for command in ("check", "show", "fmt", "export", "completion"):
        assert re.search(rf"^\s+{command}\s", r.stdout, re.M), command
    assert "Examples:" in r.stdout
    assert "zonepolicy check " in r.stdout
    assert cli("-h").stdout == r.stdout


@pytest.mark.parametrize("command", ["check", "show", "completion"])
def test_command_help(command):
    r = cli(command, "--help")
    assert r.returncode == 0 and "Usage: zonepolicy " + command in r.stdout


def test_check_valid_file():
    r = cli("check", QUICKSTART)
    assert r.returncode == 0
    assert r.stderr == ""
    assert re.fullmatch(r".*policy\.zp: ok — 6 zones, 6 flows, 1 firewalls, 1 files\n", r.stdout)


def test_check_relative_path_from_another_directory():
    r = cli("check", "quickstart/policy.zp", cwd=EXAMPLES)
    assert r.returncode == 0 and r.stdout.startswith("quickstart/policy.zp: ok")


def test_check_invalid_file(broken):
    r = cli("check", "broken.zp", cwd=broken.parent)
    assert r.returncode == 2
    assert r.stdout == ""
    err = r.stderr
    assert "broken.zp:3:16: error[ZP209]: protection level 9 is out of range" in err
    assert "broken.zp:4:12: error[ZP201]: undefined zone or address object 'c'" in err
    # the code frame: the line as written and a caret under the offending text
    assert "3 | zone b { level 9 }\n  |                ^\n" in err
    assert "4 | allow a -> c : https\n  |            ^\n" in err
    assert "= help: levels run from 1 to 5" in err
    assert err.rstrip().endswith("2 error(s), 0 warning(s)")


def test_check_syntax_error(tmp_path):
    (tmp_path / "s.zp").write_text("policy p { default deny; intrazone allow }\nallow a b\n", encoding="utf-8")
    r = cli("check", "s.zp", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert "s.zp:2:9: error[ZP110]: expected '->' between the source and the destination, found 'b'" in r.stderr
    assert "2 | allow a b\n  |         ^\n" in r.stderr


def test_check_json_invalid(broken):
    r = cli("check", "--format", "json", str(broken))
    assert r.returncode == 2
    data = json.loads(r.stdout)
    diags = data["diagnostics"]
    assert [(d["code"], d["span"]["line"], d["span"]["column"]) for d in diags] == [
        ("ZP209", 3, 16), ("ZP201", 4, 12)]
    d = diags[0]
    assert d["severity"] == "error" and d["message"] == "protection level 9 is out of range"
    assert d["span"]["file"].endswith("broken.zp") and d["span"]["end_column"] == 17
    assert d["hint"]


def test_check_json_valid():
    r = cli("check", "--format", "json", QUICKSTART)
    assert r.returncode == 0
    data = json.loads(r.stdout)
    assert data["diagnostics"] == [] and data["policy"] == "quickstart"
    assert (data["zones"], data["flows"], data["firewalls"]) == (6, 6, 1)


def test_check_cjk_caret_alignment(tmp_path):
    (tmp_path / "c.zp").write_text('policy p { default deny; intrazone allow }\nzone pub "公用网络区" { level 7 }\n',
                                   encoding="utf-8")
    r = cli("check", "c.zp", cwd=tmp_path)
    assert r.returncode == 2
    assert "c.zp:2:26: error[ZP209]" in r.stderr
    frame = r.stderr.splitlines()
    i = frame.index('2 | zone pub "公用网络区" { level 7 }')
    # CJK characters take two terminal columns: the caret sits under the '7'
    assert frame[i + 1] == "  | " + " " * len('zone pub "" { level ') + " " * 10 + "^"


def test_check_cjk_name_is_a_syntax_error_not_a_crash(tmp_path):
    (tmp_path / "c.zp").write_text('policy p { default deny; intrazone allow }\nzone 区 { level 3 }\n',
                                   encoding="utf-8")
    r = cli("check", "c.zp", cwd=tmp_path)
    assert r.returncode == 2 and "c.zp:2:6: error[ZP100]: unexpected '区'" in r.stderr
    assert "2 | zone 区 { level 3 }\n  |      ^^\n" in r.stderr


def test_check_missing_file(tmp_path):
    r = cli("check", "no-such-policy.zp", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert "no such file: no-such-policy.zp" in r.stderr


def test_check_missing_file_json(tmp_path):
    r = cli("check", "--format", "json", "absent.zp", cwd=tmp_path)
    assert r.returncode == 2
    [d] = json.loads(r.stdout)["diagnostics"]
    assert d["code"] == "ZP213" and "absent.zp" in d["message"]


def test_check_directory_is_a_usage_error(tmp_path):
    r = cli("check", str(tmp_path))
    assert r.returncode == 2 and r.stdout == ""
    assert "is a directory" in r.stderr


def test_check_not_utf8(tmp_path):
    (tmp_path / "l.zp").write_bytes(b"policy p { default deny; intrazone allow }\nzone caf\xe9 {}\n")
    r = cli("check", "l.zp", cwd=tmp_path)
    assert r.returncode == 2 and "ZP104" in r.stderr and "not UTF-8" in r.stderr


def test_show_zones():
    r = cli("show", "zones", QUICKSTART)
    assert r.returncode == 0 and r.stderr == ""
    for name in ("public", "public.portal", "dedicated.tax", "internet-access", "mgmt", "internet"):
        assert re.search(rf"^{re.escape(name)}\s", r.stdout, re.M), name
    assert "S3A2" in r.stdout and "10.20.0.0/16" in r.stdout and "公用网络区" in r.stdout


def test_show_flows():
    r = cli("show", "flows", QUICKSTART)
    assert r.returncode == 0 and r.stderr == ""
    assert "internet-access" in r.stdout and "dedicated.*" in r.stdout and "ca-server" in r.stdout
    assert len(re.findall(r"^f[0-9a-f]{7,}\s+(allow|deny)\s", r.stdout, re.M)) == 6
    assert "policy.zp:35" in r.stdout


def test_show_matrix():
    r = cli("show", "matrix", QUICKSTART)
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout.startswith("from \\ to")
    assert "tcp/443" in r.stdout and "dedicated.tax" in r.stdout


def test_show_matrix_csv():
    r = cli("show", "matrix", "--format", "csv", QUICKSTART)
    assert r.returncode == 0
    rows = list(csv.reader(io.StringIO(r.stdout)))
    zones = ["dedicated.tax", "internet", "internet-access", "mgmt", "public", "public.portal"]
    assert rows[0][1:] == zones
    assert [row[0] for row in rows[1:]] == zones
    assert all(len(row) == len(zones) + 1 for row in rows)
    cell = {(row[0], zones[i]): v for row in rows[1:] for i, v in enumerate(row[1:])}
    assert cell[("internet", "internet-access")] == "tcp/443"
    assert cell[("internet", "dedicated.tax")] == "-"
    assert cell[("public", "public")] == "all"  # intrazone allow


def test_show_pairs():
    r = cli("show", "matrix", "--pairs", QUICKSTART)
    assert r.returncode == 0 and "internet-access" in r.stdout


def test_show_on_invalid_policy(broken):
    r = cli("show", "zones", str(broken))
    assert r.returncode == 2 and r.stdout == "" and "ZP209" in r.stderr


def test_export(tmp_path):
    r = cli("export", QUICKSTART)
    assert r.returncode == 0 and r.stderr == ""
    assert json.loads(r.stdout)
    r = cli("export", "--format", "yaml", QUICKSTART, "-o", str(tmp_path / "p.yaml"))
    assert r.returncode == 0 and r.stdout == "" and (tmp_path / "p.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_export_invalid_policy_writes_diagnostics_to_stderr_only(broken, fmt):
    # the export's format is not the diagnostics' format: nothing that looks like an export on stdout
    r = cli("export", "--format", fmt, str(broken))
    assert r.returncode == 2 and r.stdout == ""
    assert "error[ZP209]" in r.stderr


def test_completion_bash():
    r = cli("completion", "bash")
    assert r.returncode == 0
    assert "_ZONEPOLICY_COMPLETE" in r.stdout and "complete " in r.stdout and "zonepolicy" in r.stdout


@pytest.mark.parametrize("args", [
    (),
    ("frobnicate",),
    ("check",),
    ("check", "--format", "yaml", "x.zp"),
    ("show", "everything", "x.zp"),
    ("show", "zones"),
    ("completion", "tcsh"),
    ("export", "absent.zp"),
    ("fmt", "absent.zp"),
    ("--no-such-option",),
])
def test_usage_errors_never_show_a_traceback(args, tmp_path):
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 2, (args, r.returncode, r.stderr)
    assert r.stderr.strip()


@pytest.mark.parametrize("args", [
    ("export", "{p}", "-o", "{bad}"),
    ("verify", "{p}", "--format", "sarif", "-o", "{bad}"),
    ("report", "{p}", "-o", "{bad}"),
    ("probe", "plan", "{p}", "-o", "{bad}"),
])
def test_an_unwritable_output_is_bad_input_not_a_crash(tmp_path, args):
    bad = str(tmp_path / "no-such-dir" / "out")
    p = str(EXAMPLES / "quickstart" / "policy.zp")
    r = run_cli(*(a.format(p=p, bad=bad) for a in args))
    assert r.returncode == 2, r.stderr
    assert "cannot write" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "no-such-dir").exists()
