"""docs/verifier.md is generated from the rule packs; it must say exactly what the packs say."""

from __future__ import annotations

from conftest import REPO, run_cli
from zonepolicy.verify.catalogue import render_markdown
from zonepolicy.verify.packs import builtin_pack, builtin_pack_names


def test_docs_verifier_md_is_the_generated_catalogue() -> None:
    text = (REPO / "docs" / "verifier.md").read_text(encoding="utf-8")
    assert text == render_markdown(), "regenerate: zonepolicy rules --format markdown > docs/verifier.md"


def test_every_rule_has_an_anchor_that_sarif_help_links_can_reach() -> None:
    text = render_markdown()
    for name in builtin_pack_names():
        for rule in builtin_pack(name).rules:
            assert f'<a id="{rule.code}"></a>' in text
            assert rule.title_zh in text and rule.clause in text


def test_rules_command_lists_every_rule() -> None:
    out = run_cli("rules")
    assert out.returncode == 0
    codes = {r.code for n in builtin_pack_names() for r in builtin_pack(n).rules}
    assert codes <= {line.split()[0] for line in out.stdout.splitlines()}
