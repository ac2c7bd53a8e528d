"""Shared test set-up: hypothesis profiles and helpers to run the CLI as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"

# "ci" keeps the whole suite within CI's time budget; "dev" digs deeper on request
# (HYPOTHESIS_PROFILE=dev pytest).
settings.register_profile("ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                          derandomize=True, print_blob=True)
settings.register_profile("dev", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def load_policy_text(text: str, name: str = "p.zp"):
    """Load a policy given as source text (written to a temporary file named ``name``)."""
    import tempfile

    from zonepolicy import api

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, name)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        return api.load_policy(path)


def run_cli(*args: str, cwd: Path | None = None, input: str | None = None) -> subprocess.CompletedProcess:
    """Run ``zonepolicy ARGS`` in a subprocess, as a user or CI would."""
    return subprocess.run([sys.executable, "-m", "zonepolicy", *args], cwd=cwd or REPO, input=input,
                          capture_output=True, text=True, timeout=300)
