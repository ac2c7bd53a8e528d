"""What the back ends' test files share: golden files, hash-seed determinism, the example cases.

Each back end's test file lists its own cases (which policies, which firewalls); the mechanics of
loading them, comparing with golden files and checking determinism live here once.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

from zonepolicy import api
from zonepolicy.model.policy import Policy
from zonepolicy.semantics.meaning import Meaning

from conftest import REPO

UPDATE = os.environ.get("ZONEPOLICY_UPDATE_GOLDEN") == "1"


def assert_golden(golden: Path, text: str) -> None:
    """``text`` equals the golden file (rewritten instead with ZONEPOLICY_UPDATE_GOLDEN=1)."""
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"no golden file {golden}; run with ZONEPOLICY_UPDATE_GOLDEN=1"
    assert text == golden.read_text(encoding="utf-8"), f"{golden} differs (regenerate and review the diff)"


def assert_same_under_hash_seeds(script: str) -> None:
    """``script`` prints one line (a digest of what it rendered); it must not depend on PYTHONHASHSEED."""
    digests = set()
    for seed in ("0", "1", "4242"):
        r = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, PYTHONHASHSEED=seed))
        assert r.returncode == 0, r.stderr
        digests.add(r.stdout.strip())
    assert len(digests) == 1


def retargeted(policy: Policy, target: str) -> Policy:
    """The policy with every firewall compiled for ``target`` (what a back end's golden files show)."""
    return dataclasses.replace(policy, firewalls=tuple(dataclasses.replace(f, target=target)
                                                       for f in policy.firewalls))


def case_loader(target: str | None = None) -> Callable[[str], tuple[Policy, Meaning]]:
    """load_case(path relative to the repo) → (policy, meaning), loaded once per path, retargeted if asked."""
    loaded: dict[str, tuple[Policy, Meaning]] = {}

    def load_case(path: str) -> tuple[Policy, Meaning]:
        if path not in loaded:
            policy = api.load_policy(str(REPO / path))
            if target is not None:
                policy = retargeted(policy, target)
            loaded[path] = (policy, Meaning(policy))
        return loaded[path]

    return load_case
