"""The data form of a resolved policy: JSON and YAML export, and a strict loader for both.

The data form is the resolved model written out (names resolved, wildcards expanded, objects
flattened), versioned by the top-level ``zonepolicy`` key; ``docs/data-format.md`` describes it.
The law: ``load_data`` of ``dump_json(p)`` or ``dump_yaml(p)`` gives back a policy equal to ``p``.

The loader trusts nothing: every key, type and value is checked, problems become diagnostics
(codes ZP3xx) pointing at the file, and the zone checks the DSL runs are run again, so a data file
cannot smuggle in a policy the language would have refused.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, TypeVar

import yaml

from ..compilers import TARGETS
from ..diagnostics import Diagnostic, Severity, SourceMap, Span, did_you_mean
from .grading import grading_matrix
from .policy import (
    AddressObject, Endpoint, Firewall, Flow, FlowOptions, Grading, Interface, Policy, ServiceObject, Waiver,
    Zone,
)
from .resolve import _collapse, _term_key
from .values import (
    ANY_V4, ANY_V6, PORT_PROTOCOLS, Action, Network, ServiceTerm, ZoneKind, format_service_term, parse_network,
    parse_service_literal,
)
from .zonetree import check_zone_networks

FORMAT_VERSION = 1
JSON_SUFFIXES = (".json",)  # everything else is read as YAML (.yaml, .yml)

# Same shapes as the DSL's NAME and PACKNAME tokens: a name loaded from data must be writable in .zp.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*")
_PACKNAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_GRADE_KEYS = ("business_info", "system_service")

# Big enough for any real policy, small enough that a YAML alias bomb is refused quickly.
_MAX_NODES = 2_000_000


# ======================================================================================= dump

def _at(span: Span | None) -> str | None:
    return str(span) if span is not None else None


def _nets(networks: Iterable[Network]) -> list[str]:
    return [str(n) for n in networks]


def _terms(terms: tuple[ServiceTerm, ...]) -> list[str] | str:
    # An empty tuple means "every packet"; an empty list would read as "nothing", so say it.
    return [format_service_term(t) for t in terms] if terms else "any"


def _endpoint_data(ep: Endpoint) -> dict[str, Any]:
    out: dict[str, Any] = {"text": ep.text}
    if ep.is_zone:
        out["zones"] = list(ep.zones)
    else:
        out["networks"] = _nets(ep.networks)
    out["at"] = _at(ep.span)
    return out


def _grading_data(g: Grading) -> dict[str, Any]:
    def part(pair: tuple[str, str], level: int) -> dict[str, Any]:
        return {"object": pair[0], "degree": pair[1], "level": level}

    return {"business_info": part(g.business_info, g.business_level),
            "system_service": part(g.system_service, g.service_level)}


def _zone_data(z: Zone) -> dict[str, Any]:
    return {
        "name": z.name, "description": z.description, "kind": z.kind.value, "level": z.level,
        "grading": _grading_data(z.grading) if z.grading else None,
        "networks": "any" if z.is_any else _nets(z.networks),
        "important": z.important, "classified": z.classified, "vpn": z.vpn, "owner": z.owner,
        "hosted_on": z.hosted_on, "parent": z.parent, "at": _at(z.span),
    }


def _flow_data(f: Flow) -> dict[str, Any]:
    o = f.options
    return {
        "id": f.id, "action": f.action.value,
        "sources": [_endpoint_data(e) for e in f.sources],
        "destinations": [_endpoint_data(e) for e in f.destinations],
        "services": _terms(f.services), "service_names": list(f.service_names),
        "options": {"log": o.log, "stateful": o.stateful, "inspect": o.inspect, "via": o.via, "ticket": o.ticket,
                    "comment": o.comment, "expires": o.expires.isoformat() if o.expires else None},
        "at": _at(f.span),
    }


def _firewall_data(fw: Firewall) -> dict[str, Any]:
    return {
        "name": fw.name, "description": fw.description, "target": fw.target,
        "interfaces": [{"name": i.name, "zones": list(i.zones), "written": list(i.written), "at": _at(i.span)}
                       for i in fw.interfaces],
        "at": _at(fw.span),
    }


def _waiver_data(w: Waiver) -> dict[str, Any]:
    return {
        "rule": w.rule,
        "sources": None if w.sources is None else [_endpoint_data(e) for e in w.sources],
        "destinations": None if w.destinations is None else [_endpoint_data(e) for e in w.destinations],
        "services": _terms(w.services), "reason": w.reason, "owner": w.owner,
        "expires": w.expires.isoformat() if w.expires else None, "ticket": w.ticket, "at": _at(w.span),
    }


def to_data(policy: Policy) -> dict[str, Any]:
    """The policy as plain JSON-compatible data (dicts in a fixed key order, lists, str, int, bool, None)."""
    return {
        "zonepolicy": FORMAT_VERSION,
        "policy": {
            "name": policy.name, "description": policy.description, "standard": policy.standard,
            "model": policy.model, "default": policy.default.value, "intrazone": policy.intrazone.value,
            "files": list(policy.files), "at": _at(policy.span),
        },
        "zones": [_zone_data(z) for z in policy.zones],
        "addresses": [{"name": a.name, "description": a.description, "networks": _nets(a.networks),
                       "members": list(a.members), "at": _at(a.span)} for a in policy.addresses],
        "services": [{"name": s.name, "description": s.description, "terms": _terms(s.terms),
                      "members": list(s.members), "builtin": s.builtin, "at": _at(s.span)} for s in policy.services],
        "flows": [_flow_data(f) for f in policy.flows],
        "firewalls": [_firewall_data(fw) for fw in policy.firewalls],
        "waivers": [_waiver_data(w) for w in policy.waivers],
    }


def dump_json(policy: Policy) -> str:
    """The policy in the JSON data form: UTF-8 text, two-space indent, non-ASCII kept readable."""
    return json.dumps(to_data(policy), ensure_ascii=False, indent=2) + "\n"


class _YamlDumper(yaml.SafeDumper):
    """The pure-Python dumper, never libyaml's: their texts differ (libyaml escapes emoji), and an
    export must be the same bytes whichever way PyYAML was built."""


# PyYAML writes these unescaped in plain or single-quoted scalars, where a reader folds them into
# spaces; double quotes make the emitter escape them (\N, \L, \P).
_YAML_BREAKS = frozenset("\x85\u2028\u2029")


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if not _YAML_BREAKS.isdisjoint(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_YamlDumper.add_representer(str, _represent_str)


def dump_yaml(policy: Policy) -> str:
    """The policy in the YAML data form (the same data as :func:`dump_json`)."""
    # The huge width keeps each value on one line instead of folding long descriptions.
    return yaml.dump(to_data(policy), Dumper=_YamlDumper, allow_unicode=True, sort_keys=False,
                     default_flow_style=False, width=1_000_000)


# ======================================================================================= read

Path = tuple[str | int, ...]
Mark = tuple[int, int, int, int]  # line, column, end line, end column (1-based, end exclusive)


@dataclass
class _Doc:
    """Parsed data plus where each value (and each mapping key) sits in the text."""

    value: Any
    marks: dict[Path, Mark] = field(default_factory=dict)
    key_marks: dict[Path, Mark] = field(default_factory=dict)
    duplicates: list[Path] = field(default_factory=list)


class _TooDeep(Exception):
    pass


def _json_path(path: Path) -> str:
    out = "$"
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", step):
            out += f".{step}"
        else:
            out += "[" + json.dumps(step, ensure_ascii=False) + "]"
    return out


class _JsonLocator:
    """Walks JSON text already known to be valid, recording the position of every value and key.

    ``json`` itself reports no positions for valid input, and a data-file diagnostic without a line
    is hard to act on; scalars are still decoded by ``json`` so the values are exactly its values.
    """

    _WS = re.compile(r"[ \t\n\r]*")

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.decoder = json.JSONDecoder()
        self.doc = _Doc(None)

    def _pos(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, offset) - 1
        return line + 1, offset - self.starts[line] + 1

    def _mark(self, start: int, end: int) -> Mark:
        return self._pos(start) + self._pos(end)

    def _skip(self, i: int) -> int:
        m = self._WS.match(self.text, i)
        return m.end() if m else i

    def run(self) -> _Doc:
        self.doc.value, _ = self._value(0, ())
        return self.doc

    def _value(self, i: int, path: Path) -> tuple[Any, int]:
        i = self._skip(i)
        start, c = i, self.text[i]
        if c == "{":
            obj: dict[str, Any] = {}
            i = self._skip(i + 1)
            while self.text[i] != "}":
                key_start = i
                key, i = json.decoder.scanstring(self.text, i + 1)
                self.doc.key_marks[path + (key,)] = self._mark(key_start, i)
                i = self._skip(i) + 1  # past ':'
                value, i = self._value(i, path + (key,))
                if key in obj:
                    self.doc.duplicates.append(path + (key,))
                obj[key] = value
                i = self._skip(i)
                if self.text[i] == ",":
                    i = self._skip(i + 1)
            end = i + 1
            result: Any = obj
        elif c == "[":
            arr: list[Any] = []
            i = self._skip(i + 1)
            while self.text[i] != "]":
                value, i = self._value(i, path + (len(arr),))
                arr.append(value)
                i = self._skip(i)
                if self.text[i] == ",":
                    i = self._skip(i + 1)
            end = i + 1
            result = arr
        else:
            result, end = self.decoder.raw_decode(self.text, i)
        self.doc.marks[path] = self._mark(start, end)
        return result, end


def _read_json(text: str, name: str) -> tuple[_Doc | None, list[Diagnostic]]:
    try:
        json.loads(text)
    except json.JSONDecodeError as err:
        span = Span(name, err.lineno, err.colno, err.lineno, err.colno + 1)
        return None, [Diagnostic("ZP302", f"not valid JSON: {err.msg}", span,
                                 hint="check for a missing comma, quote or bracket just before this point")]
    except RecursionError:
        return None, [_too_deep(name)]
    try:
        return _JsonLocator(text).run(), []
    except RecursionError:
        return None, [_too_deep(name)]


def _too_deep(name: str) -> Diagnostic:
    return Diagnostic("ZP314", "the data is nested too deeply or is too large to be a policy", Span(name, 1, 1, 1, 2),
                      hint="a policy export nests only a few levels deep")


def _yaml_mark(node: yaml.Node) -> Mark:
    s, e = node.start_mark, node.end_mark
    return (s.line + 1, s.column + 1, e.line + 1, e.column + 1)


# libyaml when PyYAML has it: the same nodes, marks and errors, several times faster.
_YamlLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_YAML_MAP, _YAML_SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"


def _read_yaml(text: str, name: str) -> tuple[_Doc | None, list[Diagnostic]]:
    loader: Any = None
    try:
        loader = _YamlLoader(text)  # already reads the text, and may refuse it
        root = loader.get_single_node()
        if root is None:
            return None, [Diagnostic("ZP303", "the file is empty", Span(name, 1, 1, 1, 2),
                                     hint="export a policy with: zonepolicy export --format yaml POLICY.zp")]
        doc = _Doc(None)
        diags: list[Diagnostic] = []
        budget = [_MAX_NODES]
        constructor = loader

        def build(node: yaml.Node, path: Path, active: frozenset[int]) -> Any:
            budget[0] -= 1
            if budget[0] < 0 or id(node) in active:
                raise _TooDeep
            doc.marks[path] = _yaml_mark(node)
            inner = active | {id(node)}
            if isinstance(node, yaml.MappingNode):
                if node.tag != _YAML_MAP:
                    diags.append(_tag_problem(name, node))
                    return None
                obj: dict[str, Any] = {}
                for key_node, value_node in node.value:
                    # Keys are taken as written: a key that is not a plain name is reported as unknown.
                    key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "<complex key>"
                    doc.key_marks[path + (key,)] = _yaml_mark(key_node)
                    value = build(value_node, path + (key,), inner)
                    if key in obj:
                        doc.duplicates.append(path + (key,))
                    obj[key] = value
                return obj
            if isinstance(node, yaml.SequenceNode):
                if node.tag != _YAML_SEQ:
                    diags.append(_tag_problem(name, node))
                    return None
                return [build(item, path + (i,), inner) for i, item in enumerate(node.value)]
            try:
                return constructor.construct_object(node)
            except yaml.YAMLError:
                diags.append(_tag_problem(name, node))
                return None

        doc.value = build(root, (), frozenset())
        return doc, diags
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = err.problem or err.context or "cannot be read"
        return None, [Diagnostic("ZP302", f"not valid YAML: {problem}", Span(name, line, col, line, col + 1),
                                 hint="check the indentation and quoting around this point")]
    except yaml.YAMLError as err:
        return None, [Diagnostic("ZP302", f"not valid YAML: {err}", Span(name, 1, 1, 1, 2))]
    except (_TooDeep, RecursionError):
        return None, [_too_deep(name)]
    finally:
        if loader is not None:
            loader.dispose()


def _tag_problem(name: str, node: yaml.Node) -> Diagnostic:
    line, col, end_line, end_col = _yaml_mark(node)
    return Diagnostic("ZP306", f"unsupported YAML tag {node.tag}", Span(name, line, col, end_line, end_col),
                      hint="the data form uses plain mappings, lists, strings, numbers and booleans only")


# ---------------------------------------------------------------------------------- checking

T = TypeVar("T")
_ABSENT: Any = object()


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {json.dumps(value, ensure_ascii=False)}"
    if isinstance(value, dt.date):
        return f"date {value.isoformat()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


class _Checker:
    """Turns checked data into model values, collecting every problem instead of stopping at the first."""

    def __init__(self, name: str, doc: _Doc) -> None:
        self.file = name
        self.doc = doc
        self.diags: list[Diagnostic] = []

    # ---- reporting
    def span(self, path: Path, key: bool = False) -> Span:
        """Where ``path`` (or its key) is in the file; the nearest enclosing value when it is not there."""
        mark = self.doc.key_marks.get(path) if key else None
        probe = path
        while mark is None and probe:
            mark = self.doc.marks.get(probe)
            probe = probe[:-1]
        if mark is None:
            mark = self.doc.marks.get((), (1, 1, 1, 2))
        return Span(self.file, *mark)

    def error(self, code: str, path: Path, message: str, hint: str | None = None, key: bool = False,
              related: tuple[tuple[str, Span], ...] = ()) -> None:
        self.diags.append(Diagnostic(code, f"{_json_path(path)}: {message}", self.span(path, key), hint=hint,
                                     related=related))

    def wrong_type(self, path: Path, value: Any, expected: str) -> None:
        hint = None
        if expected.startswith("a string") and isinstance(value, (bool, int, float, dt.date)):
            hint = "put the value in quotes (YAML reads unquoted yes/no, numbers and dates as such)"
        elif isinstance(value, str) and expected.startswith(("true", "a protection level")):
            hint = "write the value without quotes"
        elif isinstance(value, (dict, list)) != expected.startswith(("a mapping", "a list")):
            hint = f"this place holds {expected}; see docs/data-format.md"
        self.error("ZP306", path, f"expected {expected}, found {_describe(value)}", hint)

    def at(self, path: Path) -> Span:
        """The span a loaded record carries: its place in the data file, at its name when it has one.

        A record's own span would cover many lines, and a caret under its opening brace says little.
        """
        for key in ("name", "id", "rule", "text"):
            if path + (key,) in self.doc.marks:
                return self.span(path + (key,))
        return self.span(path)

    # ---- structure
    def record(self, value: Any, path: Path, what: str, required: tuple[str, ...],
               optional: tuple[str, ...]) -> dict[str, Any] | None:
        """``value`` as a mapping with only the given keys, or None (reported) when it is not one."""
        if not isinstance(value, dict):
            self.wrong_type(path, value, f"a mapping ({what})")
            return None
        allowed = required + optional
        for key in value:
            if key not in allowed:
                guess = did_you_mean(key, allowed)
                hint = f"did you mean '{guess}'?" if guess else f"{what} keys: " + ", ".join(allowed)
                self.error("ZP304", path + (key,), f"unknown key '{key}' in {what}", hint, key=True)
        for key in required:
            if key not in value:
                self.diags.append(Diagnostic("ZP305", f"{_json_path(path)}: {what} has no '{key}'",
                                             self.at(path), hint=f"add the key '{key}'"))
        return value

    def get(self, data: dict[str, Any], path: Path, key: str, check: Callable[[Any, Path], T], default: T) -> T:
        """The checked value of ``data[key]``, or ``default`` when it is absent or (reported) wrong."""
        value = data.get(key, _ABSENT)
        if value is _ABSENT:
            return default
        result = check(value, path + (key,))
        return default if result is _ABSENT else result

    def items(self, value: Any, path: Path, what: str = "a list") -> list[tuple[Any, Path]]:
        if not isinstance(value, list):
            self.wrong_type(path, value, what)
            return []
        return [(item, path + (i,)) for i, item in enumerate(value)]

    # ---- scalar checks: each returns the value, or _ABSENT after reporting
    def string(self, value: Any, path: Path) -> Any:
        if not isinstance(value, str):
            self.wrong_type(path, value, "a string")
            return _ABSENT
        return value

    def optional_string(self, value: Any, path: Path) -> Any:
        return None if value is None else self.string(value, path)

    def name(self, value: Any, path: Path, pattern: re.Pattern[str] = _NAME) -> Any:
        text = self.string(value, path)
        if text is not _ABSENT and not pattern.fullmatch(text):
            self.error("ZP307", path, f"'{text}' is not a valid name",
                       "names are letters, digits, '_' and '-', starting with a letter or '_', joined by dots")
            return _ABSENT
        return text

    def optional_name(self, value: Any, path: Path) -> Any:
        return None if value is None else self.name(value, path)

    def optional_packname(self, value: Any, path: Path) -> Any:
        return None if value is None else self.name(value, path, _PACKNAME)

    def boolean(self, value: Any, path: Path) -> Any:
        if not isinstance(value, bool):
            self.wrong_type(path, value, "true or false")
            return _ABSENT
        return value

    def level(self, value: Any, path: Path) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.wrong_type(path, value, "a protection level 1–5 or null")
            return _ABSENT
        if not 1 <= value <= 5:
            self.error("ZP307", path, f"protection level {value} is out of range",
                       "levels run from 1 to 5 (GB/T 22239)")
            return _ABSENT
        return value

    def date(self, value: Any, path: Path) -> Any:
        if value is None:
            return None
        if type(value) is dt.date:  # a YAML-read date; a datetime would carry a time of day
            return value
        if not isinstance(value, str):
            self.wrong_type(path, value, "a date YYYY-MM-DD or null")
            return _ABSENT
        try:
            if not _DATE.fullmatch(value):
                raise ValueError
            return dt.date.fromisoformat(value)
        except ValueError:
            self.error("ZP313", path, f"'{value}' is not a calendar date", "write YYYY-MM-DD, e.g. 2027-06-30")
            return _ABSENT

    def choice(self, enum_values: tuple[str, ...], what: str) -> Callable[[Any, Path], Any]:
        def check(value: Any, path: Path) -> Any:
            text = self.string(value, path)
            if text is _ABSENT:
                return _ABSENT
            if text not in enum_values:
                guess = did_you_mean(text, enum_values)
                self.error("ZP307", path, f"unknown {what} '{text}'",
                           f"did you mean '{guess}'?" if guess else f"{what}s: " + ", ".join(enum_values))
                return _ABSENT
            return text
        return check

    def strings(self, value: Any, path: Path) -> Any:
        out = [self.string(v, p) for v, p in self.items(value, path, "a list of strings")]
        return tuple(v for v in out if v is not _ABSENT)

    def networks(self, value: Any, path: Path, what: str = "a list of networks") -> Any:
        nets: list[Network] = []
        for item, p in self.items(value, path, what):
            text = self.string(item, p)
            if text is _ABSENT:
                continue
            try:
                nets.append(parse_network(text))
            except ValueError as problem:
                self.error("ZP308", p, str(problem), getattr(problem, "hint", None))
        # The resolved model holds collapsed networks; collapsing again keeps an export unchanged.
        return _collapse(nets)

    def terms(self, value: Any, path: Path) -> Any:
        if value == "any":
            return ()
        if isinstance(value, list) and not value:
            self.error("ZP307", path, "an empty service list", 'write "any" for every packet, or list the services')
            return _ABSENT
        terms: list[ServiceTerm] = []
        for item, p in self.items(value, path, 'a list of service terms, or "any"'):
            text = self.string(item, p)
            if text is not _ABSENT:
                term = self.term(text, p)
                if term is not None:
                    terms.append(term)
        return tuple(sorted(set(terms), key=_term_key))

    def term(self, text: str, path: Path) -> ServiceTerm | None:
        """One literal, or port literals of one protocol joined by commas as ``format_service_term`` writes them."""
        try:
            parts = [parse_service_literal(part) for part in text.split(",")]
        except ValueError as problem:
            self.error("ZP309", path, str(problem), getattr(problem, "hint", None))
            return None
        if len(parts) == 1:
            return parts[0]
        proto = parts[0].protocol
        if proto not in PORT_PROTOCOLS or any(p.protocol != proto or len(p.ports) != 1 for p in parts):
            self.error("ZP309", path, f"'{text}' joins literals that are not port ranges of one protocol",
                       "write one literal per list item, e.g. [\"tcp/80\", \"udp/53\"]")
            return None
        return ServiceTerm(proto, tuple(p.ports[0] for p in parts))


# ---------------------------------------------------------------------------------- building

_ZONE_KEYS = ("description", "kind", "level", "grading", "networks", "important", "classified", "vpn", "owner",
              "hosted_on", "parent", "at")


class _Builder(_Checker):
    """Builds the policy from checked data, then checks references and the DSL's zone rules."""

    def policy(self) -> Policy | None:
        value = self.doc.value
        if not isinstance(value, dict) or "zonepolicy" not in value:
            self.error("ZP303", (), "not a zonepolicy data file: there is no 'zonepolicy' format version key",
                       f"data files start with 'zonepolicy: {FORMAT_VERSION}'; "
                       "make one with: zonepolicy export POLICY.zp")
            return None
        version = value["zonepolicy"]
        if type(version) is not int or version != FORMAT_VERSION:
            # Nothing else in a file of another version can be trusted to mean what this loader thinks.
            self.error("ZP303", ("zonepolicy",), f"unsupported data format version {_describe(version)}",
                       f"this zonepolicy reads version {FORMAT_VERSION}; export the policy again")
            return None
        root = self.record(value, (), "the data file", ("zonepolicy", "policy"),
                           ("zones", "addresses", "services", "flows", "firewalls", "waivers"))
        assert root is not None
        for dup in self.doc.duplicates:
            self.error("ZP311", dup, f"key '{dup[-1]}' is given twice", "keep one", key=True)
        header = self.header(root["policy"], ("policy",)) if "policy" in root else None
        named_zones = self.named(root, "zones", self.zone, "zone")
        self.zone_names = {z.name for z in named_zones}
        zones = sorted((self.with_parent(z, p) for z, p in named_zones.items_with_paths()), key=lambda z: z.name)
        self.diags.extend(check_zone_networks(tuple(zones)))
        addresses = self.named(root, "addresses", self.address, "address object")
        for obj, path in addresses.items_with_paths():
            if obj.name in self.zone_names:
                self.error("ZP311", path + ("name",), f"'{obj.name}' names both a zone and an address object",
                           "give the address object another name")
        services = self.named(root, "services", self.service, "service")
        flows: list[Flow] = []
        first_use: dict[str, Path] = {}
        for value, path in self.list_at(root, "flows"):
            flow = self.flow(value, path)
            if flow is None or not flow.id:
                continue
            if flow.id in first_use:
                self.error("ZP311", path + ("id",), f"flow id '{flow.id}' is given twice", "flow ids are unique",
                           (("first use", self.span(first_use[flow.id] + ("id",))),))
                continue
            first_use[flow.id] = path
            flows.append(flow)
        firewalls = self.named(root, "firewalls", self.firewall, "firewall")
        waivers = [w for w in (self.waiver(v, p) for v, p in self.list_at(root, "waivers")) if w is not None]
        if header is None or any(d.severity is Severity.ERROR for d in self.diags):
            return None
        return Policy(**header, zones=tuple(zones), addresses=addresses.sorted(), services=services.sorted(),
                      flows=tuple(flows), firewalls=firewalls.sorted(), waivers=tuple(waivers))

    def list_at(self, root: dict[str, Any], key: str) -> list[tuple[Any, Path]]:
        return self.items(root[key], (key,)) if key in root else []

    def named(self, root: dict[str, Any], key: str, build: Callable[[Any, Path], Any], what: str) -> "_Named":
        out = _Named()
        for value, path in self.list_at(root, key):
            obj = build(value, path)
            if obj is None or not obj.name:  # a bad name was reported; it would only echo as a duplicate
                continue
            if obj.name in out.paths:
                self.error("ZP311", path + ("name",), f"{what} '{obj.name}' is defined twice",
                           f"rename or remove one {what}", (("first definition", self.span(out.paths[obj.name])),))
                continue
            out.add(obj, path)
        return out

    # ---- header
    def header(self, value: Any, path: Path) -> dict[str, Any] | None:
        d = self.record(value, path, "policy header", ("name", "default", "intrazone"),
                        ("description", "standard", "model", "files", "at"))
        if d is None:
            return None
        actions = tuple(a.value for a in Action)
        out = dict(
            name=self.get(d, path, "name", self.name, ""),
            description=self.get(d, path, "description", self.string, ""),
            standard=self.get(d, path, "standard", self.optional_packname, None),
            model=self.get(d, path, "model", self.optional_packname, None),
            default=Action(self.get(d, path, "default", self.choice(actions, "action"), "deny")),
            intrazone=Action(self.get(d, path, "intrazone", self.choice(actions, "action"), "deny")),
            files=self.get(d, path, "files", self.strings, ()),
            span=self.at(path),
        )
        self.get(d, path, "at", self.optional_string, None)
        return out

    # ---- zones
    def zone(self, value: Any, path: Path) -> Zone | None:
        d = self.record(value, path, "zone", ("name",), _ZONE_KEYS)
        if d is None:
            return None
        kinds = tuple(k.value for k in ZoneKind)
        grading = self.grading(d["grading"], path + ("grading",)) if d.get("grading") is not None else None
        level = self.get(d, path, "level", self.level, None)
        if grading is not None:
            if "level" not in d or d["level"] is None:
                level = grading.level
            elif level is not None and level != grading.level:
                self.error("ZP312", path + ("level",), f"level {level} disagrees with the grading inputs, which give "
                           f"level {grading.level} ({grading.label})",
                           f"write level {grading.level}, or correct the grading inputs")
        nets = d.get("networks", [])
        is_any = nets == "any"
        networks = (ANY_V4, ANY_V6) if is_any else self.get(
            d, path, "networks", lambda v, p: self.networks(v, p, 'a list of networks, or "any"'), ())
        self.get(d, path, "at", self.optional_string, None)
        return Zone(
            name=self.get(d, path, "name", self.name, ""),
            description=self.get(d, path, "description", self.string, ""),
            kind=ZoneKind(self.get(d, path, "kind", self.choice(kinds, "zone kind"), ZoneKind.GENERIC.value)),
            level=level,
            grading=grading,
            networks=networks,
            is_any=is_any,
            important=self.get(d, path, "important", self.boolean, False),
            classified=self.get(d, path, "classified", self.boolean, False),
            vpn=self.get(d, path, "vpn", self.optional_name, None),
            owner=self.get(d, path, "owner", self.optional_string, None),
            hosted_on=self.get(d, path, "hosted_on", self.optional_name, None),
            parent=self.get(d, path, "parent", self.optional_name, None),
            span=self.at(path),
        )

    def grading(self, value: Any, path: Path) -> Grading | None:
        d = self.record(value, path, "grading", _GRADE_KEYS, ())
        if d is None:
            return None
        matrix = grading_matrix()
        parts: list[tuple[str, str, int]] = []
        for key in _GRADE_KEYS:
            p = path + (key,)
            part = self.record(d[key], p, key.replace("_", "-") + " grading", ("object", "degree"),
                               ("level",)) if key in d else None
            if part is None:
                continue
            obj = self.get(part, p, "object", self.choice(matrix.objects, "harmed object"), None)
            degree = self.get(part, p, "degree", self.choice(matrix.degrees, "degree of harm"), None)
            level = self.get(part, p, "level", self.level, None)
            if obj is None or degree is None:
                continue
            expected = matrix.level(obj, degree)
            if level is not None and level != expected:
                self.error("ZP312", p + ("level",), f"{obj} × {degree} is level {expected} in "
                           f"{matrix.standard}, not {level}", f"write level {expected}, or leave the level out")
            parts.append((obj, degree, expected))
        if len(parts) < 2:
            return None
        (bo, bd, bl), (so, sd, sl) = parts
        return Grading(business_info=(bo, bd), system_service=(so, sd), business_level=bl, service_level=sl)

    def with_parent(self, zone: Zone, path: Path) -> Zone:
        """The zone with its parent derived from the zone names (a given parent must agree) and its
        ``hosted_on`` checked: both need every zone name, so they wait until all zones are read."""
        parts = zone.name.split(".")
        parent = next((".".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)
                       if ".".join(parts[:i]) in self.zone_names), None)
        given = self.doc.value["zones"][path[-1]].get("parent", parent)
        if given != parent and isinstance(given, str):
            self.error("ZP312", path + ("parent",), f"zone '{zone.name}' has parent '{parent}', not '{given}'"
                       if parent else f"zone '{zone.name}' has no declared ancestor, so no parent '{given}'",
                       "the parent is the nearest declared zone above this one by dotted name; leave the key out")
        elif given is None and parent is not None:
            self.error("ZP312", path + ("parent",), f"zone '{zone.name}' has parent '{parent}', not null",
                       "leave the key out, or write the nearest declared zone above this one")
        if zone.hosted_on is not None and zone.hosted_on not in self.zone_names:
            self.unknown_zone(zone.hosted_on, path + ("hosted_on",))
        return dataclasses.replace(zone, parent=parent)

    def unknown_zone(self, name: str, path: Path) -> None:
        guess = did_you_mean(name, self.zone_names)
        self.error("ZP310", path, f"undefined zone '{name}'",
                   f"did you mean '{guess}'?" if guess else "zones are declared in the 'zones' list")

    # ---- objects
    def address(self, value: Any, path: Path) -> AddressObject | None:
        d = self.record(value, path, "address object", ("name", "networks"), ("description", "members", "at"))
        if d is None:
            return None
        self.get(d, path, "at", self.optional_string, None)
        return AddressObject(name=self.get(d, path, "name", self.name, ""),
                             description=self.get(d, path, "description", self.string, ""),
                             networks=self.get(d, path, "networks", self.networks, ()),
                             members=self.get(d, path, "members", self.strings, ()), span=self.at(path))

    def service(self, value: Any, path: Path) -> ServiceObject | None:
        d = self.record(value, path, "service", ("name", "terms"), ("description", "members", "builtin", "at"))
        if d is None:
            return None
        self.get(d, path, "at", self.optional_string, None)
        return ServiceObject(name=self.get(d, path, "name", self.name, ""),
                             description=self.get(d, path, "description", self.string, ""),
                             terms=self.get(d, path, "terms", self.terms, ()),
                             members=self.get(d, path, "members", self.strings, ()),
                             builtin=self.get(d, path, "builtin", self.boolean, False), span=self.at(path))

    # ---- flows and waivers
    def endpoint(self, value: Any, path: Path) -> Endpoint | None:
        d = self.record(value, path, "endpoint", ("text",), ("zones", "networks", "at"))
        if d is None:
            return None
        if ("zones" in d) == ("networks" in d):
            self.error("ZP305", path, "an endpoint has either 'zones' or 'networks' (exactly one of them)",
                       "zones for a zone endpoint, networks for an address endpoint")
            return None
        self.get(d, path, "at", self.optional_string, None)
        text = self.get(d, path, "text", self.string, "")
        if "networks" in d:
            return Endpoint(text=text, networks=self.get(d, path, "networks", self.networks, ()), is_zone=False,
                            span=self.at(path))
        zones: list[str] = []
        for item, p in self.items(d["zones"], path + ("zones",), "a list of zone names"):
            name = self.name(item, p)
            if name is _ABSENT:
                continue
            if name not in self.zone_names:
                self.unknown_zone(name, p)
            zones.append(name)
        return Endpoint(text=text, zones=tuple(sorted(set(zones))), span=self.at(path))

    def endpoints(self, value: Any, path: Path) -> Any:
        eps = [self.endpoint(v, p) for v, p in self.items(value, path, "a list of endpoints")]
        return tuple(e for e in eps if e is not None)

    def optional_endpoints(self, value: Any, path: Path) -> Any:
        return None if value is None else self.endpoints(value, path)

    def flow(self, value: Any, path: Path) -> Flow | None:
        d = self.record(value, path, "flow", ("id", "action", "sources", "destinations", "services"),
                        ("service_names", "options", "at"))
        if d is None:
            return None
        self.get(d, path, "at", self.optional_string, None)
        options = FlowOptions()
        if "options" in d:
            options = self.options(d["options"], path + ("options",))
        return Flow(
            id=self.get(d, path, "id", self.name, ""),
            action=Action(self.get(d, path, "action", self.choice(tuple(a.value for a in Action), "action"), "deny")),
            sources=self.get(d, path, "sources", self.endpoints, ()),
            destinations=self.get(d, path, "destinations", self.endpoints, ()),
            services=self.get(d, path, "services", self.terms, ()),
            service_names=self.get(d, path, "service_names", self.strings, ()),
            options=options,
            span=self.at(path),
        )

    def options(self, value: Any, path: Path) -> FlowOptions:
        d = self.record(value, path, "flow options", (),
                        ("log", "stateful", "inspect", "via", "ticket", "comment", "expires"))
        if d is None:
            return FlowOptions()
        via = self.get(d, path, "via", self.optional_name, None)
        if via is not None and via not in self.zone_names:
            self.unknown_zone(via, path + ("via",))
        return FlowOptions(
            log=self.get(d, path, "log", self.boolean, False),
            stateful=self.get(d, path, "stateful", self.boolean, True),
            inspect=self.get(d, path, "inspect", self.optional_name, None),
            via=via,
            ticket=self.get(d, path, "ticket", self.optional_string, None),
            comment=self.get(d, path, "comment", self.optional_string, None),
            expires=self.get(d, path, "expires", self.date, None),
        )

    def waiver(self, value: Any, path: Path) -> Waiver | None:
        # reason, owner and expires are required as in the DSL: accepted risk is reviewed.
        d = self.record(value, path, "waiver", ("rule", "reason", "owner", "expires"),
                        ("sources", "destinations", "services", "ticket", "at"))
        if d is None:
            return None
        self.get(d, path, "at", self.optional_string, None)
        expires = self.get(d, path, "expires", self.date, None)
        if expires is None and d.get("expires", 0) is None:
            self.error("ZP307", path + ("expires",), "a waiver needs an expiry date", "write YYYY-MM-DD")
        return Waiver(
            rule=self.get(d, path, "rule", self.name, ""),
            sources=self.get(d, path, "sources", self.optional_endpoints, None),
            destinations=self.get(d, path, "destinations", self.optional_endpoints, None),
            services=self.get(d, path, "services", self.terms, ()),
            reason=self.get(d, path, "reason", self.string, ""),
            owner=self.get(d, path, "owner", self.string, ""),
            expires=expires,
            ticket=self.get(d, path, "ticket", self.optional_string, None),
            span=self.at(path),
        )

    # ---- firewalls
    def firewall(self, value: Any, path: Path) -> Firewall | None:
        d = self.record(value, path, "firewall", ("name", "target", "interfaces"), ("description", "at"))
        if d is None:
            return None
        self.get(d, path, "at", self.optional_string, None)
        name = self.get(d, path, "name", self.name, "")
        interfaces: dict[str, Interface] = {}
        bound: dict[str, Path] = {}
        for item, p in self.items(d.get("interfaces", []), path + ("interfaces",), "a list of interfaces"):
            iface = self.interface(item, p)
            if iface is None:
                continue
            if iface.name in interfaces:
                self.error("ZP311", p + ("name",), f"interface '{iface.name}' is declared twice on firewall '{name}'",
                           "bind several zones to one interface")
                continue
            interfaces[iface.name] = iface
            for i, zone in enumerate(iface.zones):
                if zone in bound:
                    self.error("ZP311", p + ("zones", i), f"zone '{zone}' is bound to two interfaces of firewall "
                               f"'{name}'", "a zone is reached through one interface of a firewall",
                               (("first binding", self.span(bound[zone])),))
                bound.setdefault(zone, p + ("zones", i))
        return Firewall(name=name, description=self.get(d, path, "description", self.string, ""),
                        target=self.get(d, path, "target", self.choice(TARGETS, "firewall target"), ""),
                        interfaces=tuple(interfaces[n] for n in sorted(interfaces)), span=self.at(path))

    def interface(self, value: Any, path: Path) -> Interface | None:
        d = self.record(value, path, "interface", ("name", "zones"), ("written", "at"))
        if d is None:
            return None
        self.get(d, path, "at", self.optional_string, None)
        zones: list[str] = []
        for item, p in self.items(d.get("zones", []), path + ("zones",), "a list of zone names"):
            zone = self.name(item, p)
            if zone is _ABSENT:
                continue
            if zone not in self.zone_names:
                self.unknown_zone(zone, p)
            zones.append(zone)
        return Interface(name=self.get(d, path, "name", self.string, ""), zones=tuple(sorted(set(zones))),
                         written=self.get(d, path, "written", self.strings, ()), span=self.at(path))


class _Named:
    """Named records in file order, remembering where each was found."""

    def __init__(self) -> None:
        self.objs: list[Any] = []
        self.paths: dict[str, Path] = {}

    def add(self, obj: Any, path: Path) -> None:
        self.objs.append(obj)
        self.paths[obj.name] = path

    def items_with_paths(self) -> list[tuple[Any, Path]]:
        return [(o, self.paths[o.name]) for o in self.objs]

    def sorted(self) -> tuple[Any, ...]:
        return tuple(sorted(self.objs, key=lambda o: o.name))

    def __iter__(self) -> Iterator[Any]:
        return iter(self.objs)


# ======================================================================================= load

def _read_text(path: str) -> tuple[str | None, Diagnostic | None]:
    at = Span(path, 1, 1, 1, 2)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return None, Diagnostic("ZP301", f"no such file: {path}", None, hint="check the path")
    except IsADirectoryError:
        return None, Diagnostic("ZP301", f"{path} is a directory, not a data file", None)
    except OSError as err:
        return None, Diagnostic("ZP301", f"cannot read {path}: {err.strerror}", None)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        return None, Diagnostic("ZP301", f"{path} is not UTF-8 text ({err.reason} at byte {err.start})", at,
                                hint="save the file as UTF-8")
    return text.removeprefix("\ufeff"), None


def loads_data(text: str, name: str, fmt: str) -> tuple[Policy | None, list[Diagnostic]]:
    """Check and build a policy from data-form ``text`` (``fmt`` is ``"json"`` or ``"yaml"``); never raises."""
    try:
        doc, diags = (_read_json if fmt == "json" else _read_yaml)(text, name)
        if doc is None or diags:
            return None, diags
        builder = _Builder(name, doc)
        policy = builder.policy()
        return policy, sorted(builder.diags, key=Diagnostic.sort_key)
    except RecursionError:
        return None, [_too_deep(name)]
    except Exception as err:  # noqa: BLE001 - the loader's promise is diagnostics, never a traceback
        return None, [Diagnostic("ZP315", f"cannot read the data file: {type(err).__name__}: {err}",
                                 Span(name, 1, 1, 1, 2), hint="this is a bug in zonepolicy; please report it")]


def load_data(path: str) -> tuple[Policy | None, list[Diagnostic], SourceMap]:
    """Read a policy from its JSON or YAML data form (chosen by suffix).

    Returns the policy (None when any error was found), every diagnostic, and the file's text for
    caret excerpts. Never raises for bad input.
    """
    sources = SourceMap()
    text, problem = _read_text(path)
    if text is None:
        return None, [problem] if problem else [], sources
    sources.add(path, text)
    fmt = "json" if path.lower().endswith(JSON_SUFFIXES) else "yaml"
    policy, diags = loads_data(text, path, fmt)
    return policy, diags, sources
