"""The egov-extranet rule pack: well documented, and silent on the Jiangsu example, which follows the model.

The rules themselves are exercised by tests/rule_cases/EGOV-*.yaml and CLD-02.yaml, and all of them
together by tests/test_noncompliant.py.
"""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import EXAMPLES
from zonepolicy.api import load_policy
from zonepolicy.verify.engine import verify
from zonepolicy.verify.packs import Pack, builtin_pack

JIANGSU = EXAMPLES / "jiangsu" / "main.zp"


@pytest.fixture(scope="module")
def pack() -> Pack:
    return builtin_pack("egov-extranet")


def test_every_rule_says_what_it_checks_and_where_it_comes_from(pack: Pack) -> None:
    assert {r.code for r in pack.rules} >= {"EGOV-02", "EGOV-03", "EGOV-04", "EGOV-05", "EGOV-06", "EGOV-07",
                                             "CLD-02"}
    for r in pack.rules:
        assert r.title_zh and r.title_en and r.clause and r.rationale and r.hint, r.code
        # each of these rules is our reading of a zone-model text, so it must say how it is read
        assert r.operationalisation, f"{r.code} needs an operationalisation"


def test_jiangsu_follows_the_zone_model(pack: Pack) -> None:
    report = verify(load_policy(str(JIANGSU)), [pack], anomalies=False, today=dt.date(2026, 1, 1))
    codes = {r.code for r in pack.rules}
    mine = [f"{f.rule}: {f.message}" for f in report.active() if f.rule in codes]
    assert not mine, "\n".join(mine)
