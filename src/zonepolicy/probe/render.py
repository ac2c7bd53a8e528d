"""Probe results for people and tools: a text summary, JUnit XML, CSV and a self-contained HTML page.

All four read the same :class:`~zonepolicy.probe.results.ProbeResult` records, keep their order
(the order the runner wrote them: the suite's), and are byte-identical for the same input. Every
string that came from a policy or a tester (zone names and descriptions, site labels, flow ids)
is escaped for its format: XML-escaped with characters XML 1.0 cannot hold replaced, HTML-escaped,
and guarded in CSV against spreadsheet formulas.
"""

from __future__ import annotations

import csv
import html
import io
import re
import xml.etree.ElementTree as ET
from typing import Iterable, Mapping

from .results import RESULTS, ProbeResult, summary

FORMATS = ("text", "junit", "csv", "html")

#: CSV columns: the record's fields, in its own (stable) order.
COLUMNS = tuple(ProbeResult.__slots__)  # type: ignore[attr-defined]

# XML 1.0 allows only tab, LF, CR and characters from U+0020 on (without surrogates, U+FFFE/U+FFFF).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(value: object) -> str:
    return _XML_ILLEGAL.sub(lambda m: f"\\x{ord(m.group()):02x}", "" if value is None else str(value))


def _detail(r: ProbeResult) -> str:
    observed = r.observed or "unknown"
    text = f"expected {r.expected}, observed {observed} ({r.reason})"
    if r.expected_flow:
        text += f"; expected flow {r.expected_flow}"
    if r.matched_rule:
        text += f"; matched rule {r.matched_rule}"
    return text


# ------------------------------------------------------------------------ text

def render_text(results: Iterable[ProbeResult]) -> str:
    rs = list(results)
    lines = []
    for r in rs:
        if r.result != "pass":
            lines.append(f"{r.result.upper():<12} {r.site}  {r.probe}  {r.src_zone} -> {r.dst_zone}  "
                         f"{r.five_tuple}  {_detail(r)}")
    lines.append(summary(rs))
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------ JUnit

def case_names(results: Iterable[ProbeResult]) -> list[str]:
    """One unique name per record: site, probe id and 5-tuple, numbered if a record repeats."""
    seen: dict[str, int] = {}
    names = []
    for r in results:
        base = f"{r.site} {r.probe} {r.five_tuple}"
        n = seen.get(base, 0) + 1
        seen[base] = n
        names.append(base if n == 1 else f"{base} #{n}")
    return names


def render_junit(results: Iterable[ProbeResult]) -> str:
    rs = list(results)
    names = case_names(rs)
    sites: dict[str, list[tuple[ProbeResult, str]]] = {}
    for r, name in zip(rs, names):
        sites.setdefault(r.site, []).append((r, name))
    root = ET.Element("testsuites", {"name": "zonepolicy probes", "tests": str(len(rs)),
                                     "failures": str(sum(r.result == "fail" for r in rs)),
                                     "skipped": str(sum(r.result == "inconclusive" for r in rs))})
    for site in sorted(sites):
        cases = sites[site]
        suite = ET.SubElement(root, "testsuite", {
            "name": _xml_text(site), "tests": str(len(cases)),
            "failures": str(sum(r.result == "fail" for r, _ in cases)),
            "skipped": str(sum(r.result == "inconclusive" for r, _ in cases)), "errors": "0"})
        for r, name in cases:
            case = ET.SubElement(suite, "testcase", {
                "classname": _xml_text(f"zonepolicy.probe.{site}.{r.src_zone}->{r.dst_zone}"),
                "name": _xml_text(name)})
            if r.result == "fail":
                el = ET.SubElement(case, "failure", {"message": _xml_text(_detail(r)), "type": _xml_text(r.reason)})
                el.text = _xml_text(f"{r.src_zone} -> {r.dst_zone}: {r.five_tuple}\n{_detail(r)}")
            elif r.result == "inconclusive":
                ET.SubElement(case, "skipped", {"message": _xml_text(_detail(r))})
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# ------------------------------------------------------------------------ CSV

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


def _csv_cell(value: object) -> str:
    text = "" if value is None else str(value)
    # a leading quote makes spreadsheets show the text instead of running it as a formula;
    # quoting cells that already start with one keeps the guard reversible
    return "'" + text if text.startswith(_FORMULA_START) else text


def render_csv(results: Iterable[ProbeResult]) -> str:
    out = io.StringIO()
    # RFC 4180 line ends: with them the writer quotes every cell holding a CR or LF
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(COLUMNS)
    for r in results:
        w.writerow([_csv_cell(getattr(r, c)) for c in COLUMNS])
    return out.getvalue()


def read_csv(text: str) -> list[dict[str, str]]:
    """The rows of :func:`render_csv`, with the formula guard removed (empty cells stay "")."""
    rows = []
    for row in csv.DictReader(io.StringIO(text, newline="")):
        rows.append({k: (v[1:] if v.startswith("'") else v) for k, v in row.items()})
    return rows


# ------------------------------------------------------------------------ HTML

_CSS = """body{font-family:system-ui,"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:90%}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f2f2f2}tr.fail td{background:#fde2e2}tr.inconclusive td{background:#fff6d5}
td.mono{font-family:ui-monospace,monospace}.summary{font-size:110%;margin:1em 0}"""


def render_html(results: Iterable[ProbeResult], *, zones: Mapping[str, str] | None = None,
                title: str = "zonepolicy probe results") -> str:
    """One page, no scripts, no external resources; ``zones`` maps zone names to descriptions."""
    rs = list(results)
    zones = zones or {}
    e = lambda v: html.escape("" if v is None else str(v), quote=True)  # noqa: E731 - local shorthand

    def zone(name: str) -> str:
        desc = zones.get(name)
        return f"{e(name)}<br><small>{e(desc)}</small>" if desc else e(name)

    counts = {k: sum(r.result == k for r in rs) for k in RESULTS}
    rows = []
    for r in rs:
        rows.append(
            f'<tr class="{e(r.result)}"><td>{e(r.result)}</td><td>{e(r.site)}</td><td class="mono">{e(r.probe)}</td>'
            f"<td>{zone(r.src_zone)}</td><td>{zone(r.dst_zone)}</td><td class=\"mono\">{e(r.five_tuple)}</td>"
            f"<td>{e(r.expected)}</td><td>{e(r.observed or '—')}</td><td>{e(r.reason)}</td>"
            f"<td class=\"mono\">{e(r.expected_flow or '')}</td><td class=\"mono\">{e(r.matched_rule or '')}</td></tr>")
    head = "".join(f"<th>{h}</th>" for h in ("result", "site", "probe", "from", "to", "packet", "expected",
                                             "observed", "reason", "expected flow", "matched rule"))
    return (
        "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
        f"<title>{e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<h1>{e(title)}</h1>\n"
        f"<p class=\"summary\">{e(summary(rs))}</p>\n"
        f"<p>pass {counts['pass']} · fail {counts['fail']} · inconclusive {counts['inconclusive']}</p>\n"
        f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>\n"
        "</body>\n</html>\n")


def render(results: Iterable[ProbeResult], fmt: str, *, zones: Mapping[str, str] | None = None) -> str:
    if fmt == "text":
        return render_text(results)
    if fmt == "junit":
        return render_junit(results)
    if fmt == "csv":
        return render_csv(results)
    if fmt == "html":
        return render_html(results, zones=zones)
    raise ValueError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")
