"""The verifier's output formats: compiler-style text, JSON, SARIF 2.1.0, JUnit XML, GitLab code quality.

Every renderer takes one :class:`~zonepolicy.verify.engine.Report` and returns the whole document as
a string, so the CLI can write it atomically, and so the same report always gives byte-identical
output: nothing here reads the clock, the machine's paths or a random source, and every collection
is emitted in the report's (sorted) order.

Conventions shared by the formats (docs/cli.md § verify):

* an *active* finding is one no waiver covers; ``--fail-on`` compares active findings only;
* waived findings are never dropped silently: text lists them separately, JSON marks them, SARIF
  carries them with ``suppressions`` (kind ``external``), JUnit marks them skipped; GitLab code
  quality has no notion of an accepted risk, so they are left out there;
* locations point at the policy source (the DSL line), relative to a base directory (the working
  directory by default) so CI systems can match them to files in the repository.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import urllib.parse
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from .. import __version__
from ..diagnostics import Diagnostic, Severity, SourceMap, Span, render as render_diagnostic
from ..model.policy import Flow, Policy
from .engine import WAIVER_EXPIRED, WAIVER_UNUSED, Report
from .findings import Finding, Level
from .packs import Rule

FORMATS: tuple[str, ...] = ("text", "json", "sarif", "junit", "gitlab")

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SARIF_VERSION = "2.1.0"
# The key under which our semantic fingerprint travels in SARIF ``partialFingerprints``. Versioned:
# if Finding.fingerprint() ever changes what it hashes, bump the suffix so old alerts are not
# matched against new fingerprints by mistake.
FINGERPRINT_KEY = "zonepolicyFinding/v1"
DOCS_URI = "docs/verifier.md"

# GitHub code scanning ranks security alerts by this property (a number 0.0–10.0 as a string).
SECURITY_SEVERITY = {Level.ERROR: "8.0", Level.WARNING: "5.0", Level.NOTE: "2.0"}
# Code Climate severities as GitLab reads them: info, minor, major, critical, blocker.
GITLAB_SEVERITY = {Level.ERROR: "critical", Level.WARNING: "major", Level.NOTE: "info"}

_DIAG_SEVERITY = {Level.ERROR: Severity.ERROR, Level.WARNING: Severity.WARNING, Level.NOTE: Severity.NOTE}


# --------------------------------------------------------------------------- rule descriptions

@dataclass(frozen=True, slots=True, kw_only=True)
class RuleInfo:
    """What the output formats say about one rule code (pack rules, waiver meta-rules, anomalies)."""

    code: str
    name: str
    title_en: str
    title_zh: str
    severity: Level
    clause: str = ""
    rationale: str = ""
    hint: str = ""
    operationalisation: str | None = None
    family: str = ""
    pack: str = ""
    levels: tuple[int, ...] = ()

    @classmethod
    def of_rule(cls, rule: Rule) -> "RuleInfo":
        return cls(code=rule.code, name=_camel(rule.check), title_en=rule.title_en, title_zh=rule.title_zh,
                   severity=rule.severity, clause=rule.clause, rationale=rule.rationale, hint=rule.hint,
                   operationalisation=rule.operationalisation, family=rule.family, pack=rule.pack,
                   levels=rule.levels)

    def full_description(self) -> str:
        """An English description: the title, the clause, and our reading of it when we made one."""
        text = self.title_en.rstrip(".") + "."
        if self.operationalisation:
            text += " " + " ".join(self.operationalisation.split())
        if self.clause:
            text += f" ({self.clause})"
        return text


# The engine's own rules about waivers are in no pack; they still need a description everywhere.
META_RULES: dict[str, RuleInfo] = {
    WAIVER_EXPIRED: RuleInfo(
        code=WAIVER_EXPIRED, name="WaiverExpired", title_en="A waiver has expired",
        title_zh="风险接受（豁免）已过期", severity=Level.ERROR, family="waiver",
        rationale="An accepted risk is accepted until a date; after it the finding counts again and the "
                  "risk must be reviewed.",
        hint="review the accepted risk: fix the policy, or renew the waiver with a new date"),
    WAIVER_UNUSED: RuleInfo(
        code=WAIVER_UNUSED, name="WaiverUnused", title_en="A waiver matches no finding",
        title_zh="风险接受（豁免）未匹配任何核查结果", severity=Level.NOTE, family="waiver",
        rationale="A waiver that covers nothing is stale or names the wrong rule or scope; it could later "
                  "hide a finding nobody reviewed.",
        hint="remove the waiver, or check its rule code and scope"),
}


def _camel(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^0-9A-Za-z]+", text) if part)


def _known_rule(code: str) -> RuleInfo | None:
    """A description for a code that no pack of the run defines: the engine's own, or an anomaly's."""
    if code in META_RULES:
        return META_RULES[code]
    try:
        from .anomalies import RULES as ANOMALY_RULES
    except ImportError:  # only descriptions are looked up here; the engine reports a missing analysis
        return None
    rule = ANOMALY_RULES.get(code)
    return RuleInfo.of_rule(rule) if rule is not None else None


def rule_catalogue(report: Report, extra_rules: Iterable[Rule] = ()) -> list[RuleInfo]:
    """Every rule to describe: the rules run (pack order), ``extra_rules`` (e.g. the anomaly checks
    that ran), then any other code the findings carry (sorted)."""
    infos = [RuleInfo.of_rule(r) for r in report.rules]
    known = {i.code for i in infos}
    for r in extra_rules:
        if r.code not in known:
            infos.append(RuleInfo.of_rule(r))
            known.add(r.code)
    extra: dict[str, Level] = {}
    for f in report.findings:
        if f.rule not in known:
            extra[f.rule] = max(extra.get(f.rule, f.level), f.level)
    for code in sorted(extra):
        info = _known_rule(code)
        infos.append(info if info is not None else RuleInfo(
            code=code, name=_camel(code), title_en=code, title_zh=code, severity=extra[code]))
    return infos


def anomaly_rules(select: Iterable[str] = (), ignore: Iterable[str] = ()) -> tuple[Rule, ...]:
    """The anomaly checks a run with this ``--select``/``--ignore`` performs, to describe them even
    when they find nothing (a passing JUnit case, a SARIF rule)."""
    from .anomalies import RULES as ANOMALY_RULES
    from .engine import _selected

    select, ignore = tuple(select), tuple(ignore)
    return tuple(r for code, r in sorted(ANOMALY_RULES.items()) if _selected(code, select, ignore))


# --------------------------------------------------------------------------- options and helpers

@dataclass(frozen=True, slots=True, kw_only=True)
class OutputOptions:
    """What renderers need beyond the report.

    ``policy`` gives the flows' source lines; ``sources`` the text for caret excerpts; ``base_dir``
    is the directory locations are made relative to (the working directory when None);
    ``policy_file`` is where findings without a place of their own are shown; ``fail_on`` is the
    threshold of ``--fail-on`` (JUnit marks failures by it); ``docs_uri`` is the base of the rule
    documentation links (``helpUri``); ``extra_rules`` are rules that ran outside the packs (the
    anomaly checks), described even when they found nothing.
    """

    policy: Policy | None = None
    sources: SourceMap | None = None
    base_dir: str | None = None
    policy_file: str | None = None
    fail_on: Level = Level.ERROR
    docs_uri: str = DOCS_URI
    extra_rules: tuple[Rule, ...] = ()


def relative_path(path: str, base_dir: str | None = None) -> str:
    """``path`` relative to ``base_dir`` with ``/`` separators (CI systems match repository paths)."""
    if os.path.isabs(path):
        path = os.path.relpath(path, base_dir or os.getcwd())
    return posixpath.normpath(path.replace(os.sep, "/"))


def _file_uri(path: str, base_dir: str | None) -> str:
    return urllib.parse.quote(relative_path(path, base_dir), safe="/")


def _help_uri(docs_uri: str, code: str) -> str:
    # Markdown renderers (GitHub, GitLab) make heading anchors lower-case.
    return f"{docs_uri}#{code.lower()}"


_FLOW_INDEX: list[tuple[Policy, dict[str, Flow]]] = []  # the last policy rendered and its flows by id


def _flow_index(policy: Policy) -> dict[str, Flow]:
    # Built once per policy, not per finding: a province-scale policy has 50,000 flows and a report
    # may hold thousands of findings. The policy is kept with its index so its id cannot be reused.
    if _FLOW_INDEX and _FLOW_INDEX[0][0] is policy:
        return _FLOW_INDEX[0][1]
    index = {f.id: f for f in policy.flows}
    _FLOW_INDEX[:] = [(policy, index)]
    return index


def _flow_spans(policy: Policy | None, finding: Finding) -> list[tuple[str, Span | None]]:
    out: list[tuple[str, Span | None]] = []
    index = _flow_index(policy) if policy is not None else {}
    for fid in finding.flows:
        flow = index.get(fid)
        out.append((fid, flow.span if flow is not None else None))
    return out


def _place(finding: Finding, options: OutputOptions) -> Span | None:
    """Where to show a finding: its own span, else the policy header, else nothing."""
    if finding.span is not None:
        return finding.span
    if options.policy is not None and options.policy.span is not None:
        return options.policy.span
    return None


# The text format is read by people: it shows this many boxes of a finding's affected set and says
# how many more there are; the machine formats (JSON, SARIF) carry every box.
TEXT_AFFECTED_LIMIT = 8


def _shown(finding: Finding) -> tuple[str, ...]:
    return finding.affected[:TEXT_AFFECTED_LIMIT]


def _more(finding: Finding) -> int:
    return max(0, finding.affected_total - len(_shown(finding)))


def _message_with_witness(finding: Finding) -> str:
    text = finding.message
    if finding.witness is not None:
        text += f" (witness: {finding.witness})"
    return text


def _waiver_text(finding: Finding) -> str:
    sup = finding.suppression
    assert sup is not None
    parts = [f"owner {sup.owner}" if sup.owner else "", f"expires {sup.expires.isoformat()}" if sup.expires else
             "no expiry", f"ticket {sup.ticket}" if sup.ticket else ""]
    where = f" at {sup.span}" if sup.span else ""
    return f"waived{where}: {sup.reason} ({', '.join(p for p in parts if p)})"


# --------------------------------------------------------------------------- text

def render_text(report: Report, options: OutputOptions = OutputOptions()) -> str:
    """Compiler-style text: one block per active finding, then the waived ones, then the summary line."""
    active = [f for f in report.findings if not f.suppressed]
    waived = [f for f in report.findings if f.suppressed]
    blocks = [_text_block(f, options) for f in active]
    if waived:
        blocks.append(f"waived findings ({len(waived)}), accepted until their waivers expire:")
        blocks += [_text_block(f, options) for f in waived]
    blocks.append(report.summary())
    return "\n\n".join(blocks) + "\n"


def _text_block(finding: Finding, options: OutputOptions) -> str:
    diag = Diagnostic(code=finding.rule, message=finding.message, span=finding.span,
                      severity=_DIAG_SEVERITY[finding.level])
    lines = [render_diagnostic(diag, options.sources)]
    if finding.suppressed:
        lines[0] = lines[0].replace(f"[{finding.rule}]:", f"[{finding.rule}] (waived):", 1)
    if finding.witness is not None:
        lines.append(f"  = witness: {finding.witness}")
    if finding.affected:
        head = "  = affected: "
        pad = " " * len(head)
        shown = _shown(finding)
        lines.append(head + shown[0])
        lines += [pad + a for a in shown[1:]]
        if _more(finding):
            lines.append(f"{pad}… and {_more(finding)} more")
    if finding.flows:
        shown = [f"{fid} ({span.file}:{span.line})" if span else fid for fid, span in _flow_spans(options.policy,
                                                                                                   finding)]
        lines.append("  = flows: " + ", ".join(shown))
    if finding.zones:
        lines.append("  = zones: " + ", ".join(finding.zones))
    for message, span in finding.related:
        lines.append(f"  = note: {message} at {span}")
    if finding.hint:
        lines.append(f"  = help: {finding.hint}")
    if finding.suppressed:
        lines.append(f"  = {_waiver_text(finding)}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- JSON

def report_dict(report: Report, options: OutputOptions = OutputOptions()) -> dict[str, Any]:
    """The report as plain data (the ``json`` format), with every finding's fingerprint."""
    return _report_data(report, options, [f.to_dict() for f in report.findings])


def _report_data(report: Report, options: OutputOptions, findings: list[Any]) -> dict[str, Any]:
    return {
        "tool": {"name": "zonepolicy", "version": __version__},
        "policy": report.policy,
        "packs": list(report.packs),
        "rules": [{
            "code": i.code, "name": i.name, "title": {"en": i.title_en, "zh": i.title_zh},
            "severity": i.severity.label, "clause": i.clause, "pack": i.pack, "family": i.family,
            "levels": list(i.levels),
        } for i in rule_catalogue(report, options.extra_rules)],
        "findings": findings,
        "counts": report.counts(),
        "summary": report.summary(),
        "fail_on": options.fail_on.label,
        "failed": report.fails(options.fail_on),
    }


def render_json(report: Report, options: OutputOptions = OutputOptions()) -> str:
    # _dumps(report_dict(...)) byte for byte; the findings (tens of thousands at province scale) are
    # written by _finding_json rather than as dicts walked value by value
    return _dumps(_report_data(report, options, [_Written(f) for f in report.findings])) + "\n"


class _Written:
    """A finding that :func:`_dumps` writes with :func:`_finding_json`."""

    __slots__ = ("finding",)

    def __init__(self, finding: Finding) -> None:
        self.finding = finding


def _finding_json(f: Finding, pad: str, witnesses: dict) -> str:
    """``_dumps(f.to_dict())`` at indentation ``pad``, without building the dict."""
    enc = _encode_string
    inner = pad + "  "
    sep = ",\n" + inner
    if f.related or f.suppression is not None:
        return _dumps(f.to_dict(), pad)  # rare: waived findings and findings with related spans
    w = f.witness
    if w is None:
        witness = "null" + sep + '"witness_text": null'
    else:
        key = (w, pad)
        witness = witnesses.get(key)
        if witness is None:
            witness = witnesses[key] = _dumps(w.to_dict(), inner) + sep + '"witness_text": ' + enc(str(w))
    return "".join((
        "{\n", inner, '"rule": ', enc(f.rule), sep, '"level": ', enc(f.level.label), sep,
        '"message": ', enc(f.message), sep, '"span": ', _span_json(f.span, inner), sep,
        '"flows": ', _strings_json(f.flows, inner), sep, '"zones": ', _strings_json(f.zones, inner), sep,
        '"witness": ', witness, sep, '"affected": ', _strings_json(f.affected, inner), sep,
        '"affected_total": ', int.__repr__(f.affected_total), sep, '"related": []', sep,
        '"hint": ', "null" if f.hint is None else enc(f.hint), sep, '"fingerprint": ', enc(f.fingerprint()), sep,
        '"suppression": null', "\n", pad, "}",
    ))


def _span_json(span: Span | None, pad: str) -> str:
    if span is None:
        return "null"
    inner = ",\n" + pad + "  "
    return "".join(("{\n", pad, '  "file": ', _encode_string(span.file), inner, '"line": ', int.__repr__(span.line),
                    inner, '"column": ', int.__repr__(span.column), inner, '"end_line": ',
                    int.__repr__(span.end_line), inner, '"end_column": ', int.__repr__(span.end_column),
                    "\n", pad, "}"))


def _strings_json(items: tuple[str, ...], pad: str) -> str:
    if not items:
        return "[]"
    inner = pad + "  "
    return "[\n" + inner + (",\n" + inner).join(map(_encode_string, items)) + "\n" + pad + "]"


_encode_string = json.encoder.encode_basestring  # the C version where available, as json.dumps uses


def _dumps(value: Any, indent: str = "") -> str:
    """``json.dumps(value, ensure_ascii=False, indent=2)``, byte for byte, several times faster.

    With ``indent`` the standard library falls back to its pure-Python encoder, which took longer
    than verifying at province scale (tens of thousands of findings); this writer walks the plain
    data once and leaves strings to the C escaper. Only the types reports contain are accepted.
    """
    out: list[str] = []
    put = out.append
    witnesses: dict = {}  # a witness packet recurs in the findings of several rules

    def walk(v: Any, pad: str) -> None:
        if isinstance(v, str):
            put(_encode_string(v))
        elif v is None:
            put("null")
        elif v is True:
            put("true")
        elif v is False:
            put("false")
        elif isinstance(v, int):
            put(int.__repr__(v))
        elif isinstance(v, dict):
            if not v:
                put("{}")
                return
            inner = pad + "  "
            put("{\n" + inner)
            first = True
            for k, item in v.items():
                if not isinstance(k, str):
                    raise TypeError(f"JSON keys here are strings, not {type(k).__name__}")
                if not first:
                    put(",\n" + inner)
                first = False
                put(_encode_string(k) + ": ")
                walk(item, inner)
            put("\n" + pad + "}")
        elif isinstance(v, (list, tuple)):
            if not v:
                put("[]")
                return
            inner = pad + "  "
            put("[\n" + inner)
            first = True
            for item in v:
                if not first:
                    put(",\n" + inner)
                first = False
                walk(item, inner)
            put("\n" + pad + "]")
        elif isinstance(v, _Written):
            put(_finding_json(v.finding, pad, witnesses))
        else:  # floats and anything else: exactly what the standard encoder writes
            put(json.dumps(v, ensure_ascii=False))

    walk(value, indent)
    return "".join(out)


# --------------------------------------------------------------------------- SARIF 2.1.0

def _sarif_location(span: Span, options: OutputOptions, message: str | None = None,
                    ident: int | None = None) -> dict[str, Any]:
    loc: dict[str, Any] = {}
    if ident is not None:
        loc["id"] = ident
    loc["physicalLocation"] = {
        "artifactLocation": {"uri": _file_uri(span.file, options.base_dir), "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": span.line, "startColumn": span.column,
                   "endLine": max(span.end_line, span.line),
                   # SARIF end columns are exclusive like ours; an empty region is not useful
                   "endColumn": span.end_column if (span.end_line, span.end_column) > (span.line, span.column)
                   else span.column + 1},
    }
    if message is not None:
        loc["message"] = {"text": message}
    return loc


def _sarif_rule(info: RuleInfo, docs_uri: str) -> dict[str, Any]:
    help_text = info.rationale
    if info.hint:
        help_text = (help_text + "\n\n" if help_text else "") + f"Fix: {info.hint}"
    props: dict[str, Any] = {"title_zh": info.title_zh, "security-severity": SECURITY_SEVERITY[info.severity],
                             "tags": ["security"] + ([info.family] if info.family else [])}
    if info.clause:
        props["clause"] = info.clause
    if info.pack:
        props["pack"] = info.pack
    if info.levels:
        props["levels"] = list(info.levels)
    rule: dict[str, Any] = {
        "id": info.code,
        "name": info.name,
        "shortDescription": {"text": info.title_en},
        "fullDescription": {"text": info.full_description()},
        "helpUri": _help_uri(docs_uri, info.code),
        "defaultConfiguration": {"level": info.severity.label},
        "properties": props,
    }
    if help_text:
        rule["help"] = {"text": help_text}
    return rule


def _sarif_result(finding: Finding, index: dict[str, int], options: OutputOptions) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "ruleIndex": index[finding.rule],
        "level": finding.level.label,
        "message": {"text": _message_with_witness(finding)},
    }
    place = _place(finding, options)
    result["locations"] = [_sarif_location(place, options)] if place is not None else []
    result["partialFingerprints"] = {FINGERPRINT_KEY: finding.fingerprint()}
    related: list[dict[str, Any]] = []
    for fid, span in _flow_spans(options.policy, finding):
        if span is not None and span != place:
            related.append(_sarif_location(span, options, f"flow {fid}", len(related) + 1))
    for message, span in finding.related:
        related.append(_sarif_location(span, options, message, len(related) + 1))
    if related:
        result["relatedLocations"] = related
    sup = finding.suppression
    if sup is not None:
        suppression: dict[str, Any] = {"kind": "external", "status": "accepted", "justification": sup.reason}
        if sup.span is not None:
            suppression["location"] = _sarif_location(sup.span, options, "waiver")
        # SARIF 2.1.0 has no expiry field: the date travels in the property bag.
        suppression["properties"] = {"owner": sup.owner, "expires": sup.expires.isoformat() if sup.expires else None,
                                     "ticket": sup.ticket}
        result["suppressions"] = [suppression]
    props: dict[str, Any] = {}
    if finding.witness is not None:
        props["witness"] = str(finding.witness)
    if finding.affected:
        props["affected"] = list(finding.affected)
        props["affectedTotal"] = finding.affected_total
    if finding.flows:
        props["flows"] = list(finding.flows)
    if finding.zones:
        props["zones"] = list(finding.zones)
    if finding.hint:
        props["hint"] = finding.hint
    if props:
        result["properties"] = props
    return result


def sarif_log(report: Report, options: OutputOptions = OutputOptions()) -> dict[str, Any]:
    """The report as a SARIF 2.1.0 log with one run."""
    infos = rule_catalogue(report, options.extra_rules)
    index = {info.code: i for i, info in enumerate(infos)}
    run: dict[str, Any] = {
        "tool": {"driver": {
            "name": "zonepolicy",
            "version": __version__,
            "semanticVersion": __version__,
            "rules": [_sarif_rule(i, options.docs_uri) for i in infos],
        }},
        # Lark counts columns in characters (code points), not UTF-16 units: say so, so that
        # consumers place carets right on lines with characters outside the BMP.
        "columnKind": "unicodeCodePoints",
        "results": [_sarif_result(f, index, options) for f in report.findings],
        "properties": {"policy": report.policy, "packs": list(report.packs), "summary": report.summary()},
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def render_sarif(report: Report, options: OutputOptions = OutputOptions()) -> str:
    return _dumps(sarif_log(report, options)) + "\n"


# --------------------------------------------------------------------------- JUnit XML

_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    """Drop the characters XML 1.0 cannot hold at all (escaping cannot save them)."""
    return _XML_BAD.sub("", text)


def _unique(name: str, seen: set[str]) -> str:
    # GitLab keys test cases by classname + name and silently drops duplicates.
    candidate, n = name, 1
    while candidate in seen:
        n += 1
        candidate = f"{name} #{n}"
    seen.add(candidate)
    return candidate


def _finding_case_name(finding: Finding) -> str:
    # Flows and zones, not lines, so the name (GitLab's key for a test's history) survives reformatting;
    # the fingerprint makes it unique. Zones are listed sorted, so no arrow that would suggest a direction.
    parts = []
    if finding.flows:
        parts.append("flow " + ", ".join(finding.flows))
    if finding.zones:
        parts.append("zones " + ", ".join(finding.zones))
    if not parts:
        parts.append(f"{finding.span.file}:{finding.span.line}" if finding.span else finding.message)
    return f"{finding.rule} {'; '.join(parts)} [{finding.fingerprint()}]"


def _finding_details(finding: Finding, options: OutputOptions) -> str:
    return _text_block(finding, OutputOptions(policy=options.policy, sources=options.sources))


def junit_tree(report: Report, options: OutputOptions = OutputOptions()) -> ET.Element:
    """One test suite per rule; one passing test case for a rule without findings, else one per finding.

    A finding at or above ``fail_on`` is a failure, a waived one is skipped (with the waiver's reason),
    and an active one below the threshold passes with its text in ``system-out``.
    """
    root = ET.Element("testsuites", {"name": "zonepolicy verify"})
    by_rule: dict[str, list[Finding]] = {}
    for f in report.findings:
        by_rule.setdefault(f.rule, []).append(f)
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for info in rule_catalogue(report, options.extra_rules):
        classname = f"zonepolicy.verify.{info.pack or 'zonepolicy'}.{info.code}"
        suite = ET.SubElement(root, "testsuite", {"name": f"{info.code} {info.title_en}"})
        seen: set[str] = set()
        counts = {"tests": 0, "failures": 0, "skipped": 0}
        findings = by_rule.get(info.code, [])
        if not findings:
            ET.SubElement(suite, "testcase", {"classname": classname,
                                              "name": _unique(f"{info.code} {info.title_en}", seen), "time": "0"})
            counts["tests"] += 1
        for f in findings:
            case = ET.SubElement(suite, "testcase", {"classname": classname,
                                                     "name": _xml_text(_unique(_finding_case_name(f), seen)),
                                                     "time": "0"})
            counts["tests"] += 1
            details = _xml_text(_finding_details(f, options))
            if f.suppressed:
                ET.SubElement(case, "skipped", {"message": _xml_text(_waiver_text(f))})
                counts["skipped"] += 1
            elif f.level >= options.fail_on:
                failure = ET.SubElement(case, "failure", {"type": f.level.label,
                                                          "message": _xml_text(_message_with_witness(f))})
                failure.text = details
                counts["failures"] += 1
            else:
                ET.SubElement(case, "system-out").text = details
        suite.set("tests", str(counts["tests"]))
        suite.set("failures", str(counts["failures"]))
        suite.set("errors", "0")
        suite.set("skipped", str(counts["skipped"]))
        suite.set("time", "0")
        for k in totals:
            totals[k] += counts[k]
    root.set("tests", str(totals["tests"]))
    root.set("failures", str(totals["failures"]))
    root.set("errors", "0")
    root.set("skipped", str(totals["skipped"]))
    root.set("time", "0")
    return root


def render_junit(report: Report, options: OutputOptions = OutputOptions()) -> str:
    root = junit_tree(report, options)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# --------------------------------------------------------------------------- GitLab code quality

def gitlab_issues(report: Report, options: OutputOptions = OutputOptions()) -> list[dict[str, Any]]:
    """Active findings as GitLab code-quality issues (Code Climate JSON subset GitLab reads)."""
    issues: list[dict[str, Any]] = []
    seen: set[str] = set()
    default_path = options.policy_file
    for f in report.findings:
        if f.suppressed:
            continue
        place = _place(f, options)
        path = place.file if place is not None else default_path or report.policy
        line = place.line if place is not None else 1
        # GitLab merges issues with equal fingerprints: two distinct findings must never share one.
        fingerprint = f.fingerprint()
        n = 1
        while fingerprint in seen:
            n += 1
            fingerprint = f"{f.fingerprint()}-{n}"
        seen.add(fingerprint)
        issues.append({
            "type": "issue",
            "check_name": f.rule,
            "description": f"{f.rule}: {_message_with_witness(f)}",
            "categories": ["Security"],
            "severity": GITLAB_SEVERITY[f.level],
            "fingerprint": fingerprint,
            "location": {"path": relative_path(path, options.base_dir), "lines": {"begin": line}},
        })
    return issues


def render_gitlab(report: Report, options: OutputOptions = OutputOptions()) -> str:
    return _dumps(gitlab_issues(report, options)) + "\n"


# --------------------------------------------------------------------------- dispatch

RENDERERS: dict[str, Callable[[Report, OutputOptions], str]] = {
    "text": render_text, "json": render_json, "sarif": render_sarif, "junit": render_junit, "gitlab": render_gitlab,
}


def render(report: Report, fmt: str, options: OutputOptions = OutputOptions()) -> str:
    """The report in format ``fmt`` (one of :data:`FORMATS`), as one complete document."""
    try:
        renderer = RENDERERS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}") from None
    return renderer(report, options)
