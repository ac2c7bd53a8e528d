"""The pre-commit hooks and the CI recipes of docs/ci.md, run as a user would run them."""

from __future__ import annotations

import json
import re
import shlex
import xml.etree.ElementTree as ET
from pathlib import Path

import click
import pytest
import yaml

from conftest import EXAMPLES, REPO
from doc_commands import Shell, code_blocks, parse_cli, shell_lines, zonepolicy_argvs

CI_MD = (REPO / "docs" / "ci.md").read_text(encoding="utf-8")
HOOKS = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
QUICKSTART = "examples/quickstart/policy.zp"


def yaml_documents() -> list[dict]:
    return [yaml.safe_load(text) for _, text, _ in code_blocks(CI_MD, "yaml")]


def github_workflow() -> dict:
    (wf,) = [d for d in yaml_documents() if "jobs" in d]
    return wf


def gitlab_pipeline() -> dict:
    (gl,) = [d for d in yaml_documents() if "stages" in d]
    return gl


def github_steps() -> list[dict]:
    (job,) = github_workflow()["jobs"].values()
    return job["steps"]


def gitlab_jobs() -> list[tuple[str, dict]]:
    gl = gitlab_pipeline()
    jobs = [(name, job) for name, job in gl.items() if isinstance(job, dict) and "script" in job]
    return sorted(jobs, key=lambda nj: gl["stages"].index(nj[1]["stage"]))


def pipeline_commands() -> list[str]:
    """Every shell command of both pipelines, in the order they run."""
    lines = [line for step in github_steps() if "run" in step for line in shell_lines(step["run"])]
    lines += [line for _, job in gitlab_jobs() for line in job["script"]]
    return lines


# ---------------------------------------------------------------- pre-commit

def test_hooks_are_the_three_zonepolicy_hooks():
    assert [h["id"] for h in HOOKS] == ["zonepolicy-fmt", "zonepolicy-check", "zonepolicy-verify"]
    for hook in HOOKS:
        assert {"id", "name", "entry", "language"} <= hook.keys()
        assert hook["language"] == "python"  # pre-commit installs this repository into the hook's venv
        files = re.compile(hook["files"])
        assert files.search("policy/zones/public.zp") and not files.search("notes.zp.md")
        argv = shlex.split(hook["entry"])
        assert argv[0] == "zonepolicy"
        parse_cli(argv[1:] + [QUICKSTART])


def test_hooks_pass_on_the_quickstart_and_fail_on_bad_policies(tmp_path):
    sh = Shell.create(tmp_path, EXAMPLES)
    by_id = {h["id"]: h for h in HOOKS}

    def run_hook(hook_id: str, target: str) -> int:
        hook = by_id[hook_id]
        # pre-commit appends the staged files unless pass_filenames is false; the user's args
        # (the policy's root file) come before them
        files = [] if hook.get("pass_filenames", True) is False else [target]
        args = [target] if hook.get("pass_filenames", True) is False else []
        return sh.run(" ".join([hook["entry"], *map(shlex.quote, args + files)])).returncode

    for hook_id in by_id:
        assert run_hook(hook_id, QUICKSTART) == 0, hook_id
    (tmp_path / "ugly.zp").write_text("zone   a{networks 10.0.0.0/8}\n", encoding="utf-8")
    (tmp_path / "broken.zp").write_text("zone a { networks 10.0.0.0/8 }\nallow a -> nowhere\n", encoding="utf-8")
    assert run_hook("zonepolicy-fmt", "ugly.zp") == 1
    assert run_hook("zonepolicy-check", "broken.zp") == 2
    assert run_hook("zonepolicy-verify", "examples/noncompliant/policy.zp") == 1


def test_the_hooks_install_has_every_subpackage():
    # pre-commit installs this repository non-editable (`pip install .`): a package missing from
    # pyproject's list is missing there, and the hook crashes although every editable test passes.
    import tomllib

    setup = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    roots = {name: REPO / path for name, path in setup["package-dir"].items()}
    on_disk = set()
    for name, root in roots.items():
        for init in root.rglob("__init__.py"):
            rel = init.parent.relative_to(root).parts
            on_disk.add(".".join((name, *rel)))
    assert on_disk <= set(setup["packages"])


def test_the_documented_pre_commit_config_uses_the_shipped_hooks():
    (config,) = [d for d in yaml_documents() if "repos" in d]
    ids = [h["id"] for repo in config["repos"] for h in repo["hooks"]]
    assert ids == [h["id"] for h in HOOKS]


# ---------------------------------------------------------------- the recipes parse

def test_every_yaml_block_is_valid_yaml():
    docs = yaml_documents()
    assert len(docs) == 3 and all(isinstance(d, dict) for d in docs)


def test_every_zonepolicy_command_on_the_page_parses_with_the_real_cli():
    lines = pipeline_commands()
    lines += [line for _, text, _ in code_blocks(CI_MD, "sh", "bash") for line in shell_lines(text)]
    argvs = [argv for line in lines for argv in zonepolicy_argvs(line)]
    assert len(argvs) >= 12
    for argv in argvs:
        try:
            parse_cli(argv)
        except click.ClickException as err:  # pragma: no cover - the failure message is the point
            pytest.fail(f"zonepolicy {' '.join(argv)}: {err.format_message()}")


def test_the_parse_check_rejects_what_the_cli_rejects():
    for argv in (["verfy", "x.zp"], ["verify", "--format", "html", "x.zp"], ["compile", "x.zp", "--chek"],
                 ["check", "a.zp", "b.zp"], ["probe", "nothing"]):
        with pytest.raises(click.UsageError):
            parse_cli(argv)


def test_published_reports_are_the_files_the_commands_write():
    written = {}
    for line in pipeline_commands():
        for argv in zonepolicy_argvs(line):
            ctx = parse_cli(argv)
            if ctx.params.get("output_format") and ctx.params.get("output"):
                written[ctx.params["output"]] = ctx.params["output_format"]
    (upload,) = [s for s in github_steps() if s.get("uses", "").startswith("github/codeql-action/upload-sarif")]
    assert written[upload["with"]["sarif_file"]] == "sarif"
    reports = {k: v for _, job in gitlab_jobs() for k, v in job.get("artifacts", {}).get("reports", {}).items()}
    assert written[reports["junit"]] == "junit"
    assert written[reports["codequality"]] == "gitlab"


# ---------------------------------------------------------------- the recipes run

def _run_github(sh: Shell) -> list[tuple[str, int]]:
    results = []
    for step in github_steps():
        if "run" in step and not step["run"].startswith("pip "):
            proc = sh.run("set -e\n" + step["run"])
            results.append((step.get("name", step["run"]), proc.returncode))
            if proc.returncode:
                break
    return results


def _run_gitlab(sh: Shell) -> list[tuple[str, int]]:
    results = []
    for name, job in gitlab_jobs():
        for line in job["script"]:
            proc = sh.run(line)
            results.append((f"{name}: {line}", proc.returncode))
            if proc.returncode:
                return results
    return results


@pytest.mark.parametrize("runner", [_run_github, _run_gitlab], ids=["github", "gitlab"])
def test_pipeline_passes_on_the_quickstart(tmp_path, runner):
    sh = Shell.create(tmp_path, EXAMPLES, ZP_POLICY=QUICKSTART, ZP_FIREWALL="edge")
    results = runner(sh)
    assert all(rc == 0 for _, rc in results), results
    assert (tmp_path / "out" / "edge.nft").is_file()
    probes = [json.loads(line) for line in (tmp_path / "probe-results.jsonl").read_text().splitlines()]
    assert probes and all(p["result"] == "pass" for p in probes)
    if runner is _run_github:
        sarif = json.loads((tmp_path / "zonepolicy.sarif").read_text(encoding="utf-8"))
        assert sarif["version"] == "2.1.0" and sarif["runs"][0]["tool"]["driver"]["name"] == "zonepolicy"
    else:
        assert isinstance(json.loads((tmp_path / "gl-code-quality.json").read_text(encoding="utf-8")), list)
        assert ET.parse(tmp_path / "zonepolicy-junit.xml").getroot().tag == "testsuites"


def test_gitlab_verify_job_publishes_findings_and_fails_on_them(tmp_path):
    sh = Shell.create(tmp_path, EXAMPLES, ZP_POLICY="examples/noncompliant/policy.zp", ZP_FIREWALL="edge")
    (_, verify), = [(n, j) for n, j in gitlab_jobs() if j["stage"] == "verify"]
    report, gate = verify["script"]
    assert sh.run(report).returncode == 0  # findings are published, not fatal here
    issues = json.loads((tmp_path / "gl-code-quality.json").read_text(encoding="utf-8"))
    assert any(i["severity"] == "critical" for i in issues)
    assert sh.run(gate).returncode == 1
    failures = ET.parse(tmp_path / "zonepolicy-junit.xml").getroot().get("failures")
    assert int(failures) > 0
    # an invalid policy is not a finding: the report step itself fails
    (tmp_path / "bad.zp").write_text("zone a { networks 10.0.0.0/33 }\n", encoding="utf-8")
    sh.env["ZP_POLICY"] = "bad.zp"
    assert sh.run(report).returncode != 0


def test_determinism_recipe_holds(tmp_path: Path):
    (block,) = [text for _, text, _ in code_blocks(CI_MD, "sh") if "diff -r" in text]
    sh = Shell.create(tmp_path, EXAMPLES)
    script = block.replace("policy/main.zp", QUICKSTART)
    proc = sh.run("set -e\n" + script)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out-a" / "edge.nft").read_bytes() == (tmp_path / "out-b" / "edge.nft").read_bytes()
