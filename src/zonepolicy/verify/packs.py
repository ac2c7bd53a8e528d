"""Rule packs: the standards as data.

A pack is a YAML file (the built-in ones live in ``policy/``, installed as ``zonepolicy.packs``)
listing rules. Each rule names a *check* — a small pure function registered in
:mod:`zonepolicy.verify.checks` — and its parameters, plus everything a reader needs: a stable code,
titles in Chinese and English, the clause it operationalises, the protection levels it applies to,
a severity, the rationale and a fix hint. Users add packs of their own with the same schema.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from ..errors import UsageError
from .findings import Level

RULE_KEYS = {"code", "title", "clause", "levels", "severity", "check", "params", "rationale", "hint",
             "operationalisation", "family"}
REQUIRED = ("code", "title", "clause", "levels", "severity", "check", "rationale", "hint")


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    code: str
    title_zh: str
    title_en: str
    clause: str
    levels: tuple[int, ...]
    severity: Level
    check: str
    params: tuple[tuple[str, Any], ...] = ()
    rationale: str = ""
    hint: str = ""
    operationalisation: str | None = None  # set when the rule is our reading, not the standard's text
    family: str = ""
    pack: str = ""

    def param(self, name: str, default: Any = None) -> Any:
        return dict(self.params).get(name, default)

    def applies_to_level(self, level: int | None) -> bool:
        return level is not None and level in self.levels


@dataclass(frozen=True, slots=True, kw_only=True)
class Pack:
    name: str
    title_zh: str
    title_en: str
    source: str
    rules: tuple[Rule, ...] = field(default=())


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def parse_pack(text: str, source: str) -> Pack:
    """Read a pack from YAML text; problems are :class:`UsageError` naming the source and rule."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise UsageError(f"{source}: not valid YAML: {err}") from None
    if not isinstance(data, dict) or "pack" not in data or not isinstance(data.get("rules"), list):
        raise UsageError(f"{source}: a rule pack needs 'pack' (its name) and a 'rules' list")
    from .checks import CHECKS

    rules = []
    seen: set[str] = set()
    for i, raw in enumerate(data["rules"]):
        where = f"{source}: rule #{i + 1}"
        if not isinstance(raw, dict):
            raise UsageError(f"{where}: expected a mapping")
        unknown = set(raw) - RULE_KEYS
        if unknown:
            raise UsageError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(RULE_KEYS)}")
        missing = [k for k in REQUIRED if k not in raw]
        if missing:
            raise UsageError(f"{where} ({raw.get('code', '?')}): missing {missing}")
        code = str(raw["code"])
        if code in seen:
            raise UsageError(f"{where}: rule code {code} appears twice")
        seen.add(code)
        if raw["check"] not in CHECKS:
            raise UsageError(f"{where} ({code}): unknown check '{raw['check']}'; known: {sorted(CHECKS)}")
        title = raw["title"]
        if not isinstance(title, dict) or not {"zh", "en"} <= set(title):
            raise UsageError(f"{where} ({code}): title needs zh and en")
        try:
            severity = Level.parse(str(raw["severity"]))
        except KeyError:
            raise UsageError(f"{where} ({code}): severity must be error, warning or note") from None
        levels = raw["levels"]
        if not isinstance(levels, list) or not all(isinstance(x, int) and 1 <= x <= 5 for x in levels):
            raise UsageError(f"{where} ({code}): levels must be a list of 1–5")
        rules.append(Rule(
            code=code, title_zh=str(title["zh"]), title_en=str(title["en"]), clause=str(raw["clause"]),
            levels=tuple(sorted(levels)), severity=severity, check=str(raw["check"]),
            params=_freeze(raw.get("params") or {}), rationale=str(raw["rationale"]).strip(),
            hint=str(raw["hint"]).strip(), operationalisation=raw.get("operationalisation"),
            family=str(raw.get("family", "")), pack=str(data["pack"]),
        ))
    title = data.get("title") or {}
    return Pack(name=str(data["pack"]), title_zh=str(title.get("zh", "")), title_en=str(title.get("en", "")),
                source=source, rules=tuple(rules))


def builtin_pack_names() -> tuple[str, ...]:
    root = resources.files("zonepolicy.packs")
    return tuple(sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml")))


@functools.lru_cache(maxsize=None)
def builtin_pack(name: str) -> Pack:
    root = resources.files("zonepolicy.packs")
    path = root.joinpath(f"{name}.yaml")
    if not path.is_file():
        raise UsageError(f"no built-in rule pack '{name}'; built-in packs: {', '.join(builtin_pack_names())}")
    return parse_pack(path.read_text(encoding="utf-8"), f"policy/{name}.yaml")


def load_pack(ref: str) -> Pack:
    """A built-in pack by name, or a pack file by path."""
    if ref.endswith((".yaml", ".yml")) or os.sep in ref:
        try:
            with open(ref, encoding="utf-8") as fh:
                return parse_pack(fh.read(), ref)
        except OSError as err:
            raise UsageError(f"cannot read rule pack {ref}: {err.strerror}") from None
    return builtin_pack(ref)
