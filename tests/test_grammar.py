"""The grammar itself: conflict-free and collision-free, and every keyword is guarded against glue."""

from __future__ import annotations

from zonepolicy.dsl.parser import _KEYWORD_TERMINAL, _parser, build_parser, grammar_text


def test_grammar_is_strict_lalr_without_terminal_collisions() -> None:
    build_parser(strict=True)  # raises on shift/reduce conflicts and on colliding terminals


def test_every_keyword_terminal_has_the_glue_check() -> None:
    guarded = set(_KEYWORD_TERMINAL.findall(grammar_text()))
    keywords = {t.name for t in _parser().terminals
                if (t.pattern.type == "str" and t.pattern.value[:1].isalpha()) or t.name == "ACTION"}
    assert keywords == guarded
