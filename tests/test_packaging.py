"""A regular (non-editable) install ships the back ends and the rule data inside the package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO


def test_pip_install_ships_compilers_and_packs_inside_the_package(tmp_path: Path) -> None:
    target = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(REPO)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert build.returncode == 0, build.stderr
    assert not (target / "compilers").exists(), "compilers/ must not install as a top-level module"
    assert not (target / "policy").exists()
    probe = (
        "import zonepolicy, zonepolicy.compilers as c, zonepolicy.model.grading as g;"
        "print(zonepolicy.__file__); print(c.__file__); print(','.join(c.TARGETS));"
        "print(g.grading_matrix().level('national-security', 'especially-serious'))"
    )
    run = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {probe}"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    pkg_file, compilers_file, targets, level = run.stdout.split()
    assert pkg_file.startswith(str(target)) and compilers_file.startswith(str(target / "zonepolicy"))
    assert "huawei-usg" in targets.split(",") and "nftables" in targets.split(",")
    assert level == "5"
    # the grammar and the prelude travel with the package too
    cli = subprocess.run([sys.executable, "-I", "-c",
                          f"import sys; sys.path.insert(0, {str(target)!r}); from zonepolicy.cli import main; main()",
                          "check", str(REPO / "examples" / "quickstart" / "policy.zp")],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert cli.returncode == 0, cli.stderr
