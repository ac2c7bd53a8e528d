"""The HTML report: one self-contained file (inline CSS, JS and SVG; nothing fetched from anywhere).

Safety: every text from the policy, the probe results or the diff goes through :func:`esc` (HTML)
or, for the script's data, through :func:`json_for_script`, which escapes ``<``, ``>`` and ``&`` so
no string can close the ``<script>`` element. On top of that the page declares a Content Security
Policy that allows only the one stylesheet and the one script it carries (by their SHA-256), no
inline event handlers and no network access at all — so even a mistake in escaping could neither
run a script nor phone home.

Determinism: the same inputs give the same bytes; the clock appears only with ``timestamp``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache
from importlib import resources
from typing import Any, Iterable

from .. import __version__
from ..diagnostics import Span
from .content import Content, worst
from .graph import build as build_graph, render_svg, xml_escape

MAX_PASSING_PROBES = 2000  # passing probes listed (failing and inconclusive ones are always all listed)
BOX_LIMIT = 8


def esc(text: object) -> str:
    """Text for HTML element content and double-quoted attributes (the zone graph's SVG escaping)."""
    return xml_escape(str(text))


def json_for_script(value: Any) -> str:
    """JSON that can sit inside <script type="application/json">: no '<', '>' or '&' can end the element
    or start a comment; U+2028/U+2029 escaped too so the text is also a valid JS literal."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


@lru_cache(maxsize=None)
def _asset(name: str) -> str:
    return resources.files("zonepolicy.report").joinpath("assets", name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def where(span: Span | None) -> str:
    return f"{span.file}:{span.line}" if span else ""


def _level_class(level: int | None) -> str:
    return f"lv{level}" if level in (1, 2, 3, 4, 5) else "lvn"


def _header_class(axis: str, level: int | None, zone_finding: str | None) -> str:
    """Classes of a zone's row or column header: its level's shade and its worst zone-wide finding."""
    return f"{axis} {_level_class(level)}" + (f" zf-{zone_finding}" if zone_finding else "")


# --------------------------------------------------------------------------- sections

def _header(c: Content) -> str:
    p = c.policy
    facts = [("zones", len(p.zones)), ("flows", len(p.flows)), ("firewalls", len(p.firewalls)),
             ("files", len(p.files)), ("default", p.default.value), ("intrazone", p.intrazone.value)]
    if p.standard:
        facts.append(("standard", p.standard))
    if p.model:
        facts.append(("model", p.model))
    items = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in facts)
    desc = f'<div class="desc">{esc(p.description)}</div>' if p.description else ""
    return (f'<header class="top"><h1>安全区域策略报告 · zone policy report: {esc(p.name)}</h1>{desc}'
            f"<dl>{items}</dl></header>")


def _nav(c: Content) -> str:
    links = [("matrix", "Matrix 区域矩阵"), ("graph", "Graph 区域图")]
    if c.verification:
        links.append(("findings", "Findings 合规检查"))
    if c.probes:
        links.append(("probes", "Probes 探测结果"))
    if c.diff is not None:
        links.append(("diff", "Diff 变更"))
    return '<nav class="toc">' + "".join(f'<a href="#{k}">{esc(t)}</a>' for k, t in links) + "</nav>"


def _legend() -> str:
    levels = "".join(f'<span><span class="swatch lv{n}"></span>level {n}</span>' for n in range(1, 6))
    return (f'<div class="legend">{levels}<span><span class="swatch lvn"></span>no level</span>'
            '<span>cell colour: the higher level of the two zones</span>'
            '<span><b>all</b> every packet</span><span><i>… *</i> only some addresses</span>'
            '<span><span class="badge error">!</span> framed: findings on the pair</span></div>')


def _cell_title(src: str, dst: str, text: str, flows, stance: str | None) -> str:
    lines = [f"{src} → {dst}: {text}"]
    lines += [f"{f.id} {f.text} ({where(f.span)})" + ("" if f.effective else " [no effect here]") for f in flows]
    if stance:
        lines.append(f"unmatched packets: {stance} allow")
    return "\n".join(lines)


def _matrix(c: Content) -> str:
    zones = {z.name: z for z in c.policy.zones}
    ver = c.verification
    by_pair = ver.by_pair if ver else {}
    by_zone = ver.by_zone if ver else {}
    out = ['<section id="matrix"><h2>Zone × zone matrix 区域访问矩阵</h2>',
           '<p class="summary">Rows are sources, columns destinations; a cell lists what the policy allows '
           "between the two zones, exactly (computed from its meaning). Hover or click a cell for the flows "
           "behind it and their source lines.</p>", _legend(),
           '<div class="filter"><label>filter zones <input id="zp-filter" type="search" '
           'placeholder="name or description"></label></div>',
           '<div class="matrix-area"><div class="matrix-wrap"><table class="matrix" id="zp-matrix"><thead><tr>'
           '<th class="corner">from \\ to</th>']
    for k, name in enumerate(c.names):
        z = zones[name]
        cls = _header_class("col", z.level, worst(by_zone.get(name, ())))
        out.append(f'<th id="zc{k}" class="{cls}" data-k="{k}" title="{esc(name + " " + z.description)}">'
                   f"<span>{esc(name)}</span></th>")
    out.append("</tr></thead><tbody>")
    for i, a in enumerate(c.names):
        za = zones[a]
        cls = _header_class("row", za.level, worst(by_zone.get(a, ())))
        row = [f'<tr data-k="{i}"><th id="zr{i}" class="{cls}" title="{esc(a + " " + za.description)}">{esc(a)}</th>']
        for j, b in enumerate(c.names):
            pc = c.cells.get((a, b))
            found = worst(by_pair.get((a, b), ()))
            classes = []
            if pc is not None and pc.allowed:
                zb = zones[b]
                levels = [lv for lv in (za.level, zb.level) if lv is not None]
                classes += ["a", _level_class(max(levels) if levels else None)]
                if pc.cell.everything:
                    classes.append("all")
                if pc.cell.partial:
                    classes.append("partial")
            elif pc is not None and pc.flows:  # flows reach the pair, deny flows take everything away
                classes.append("cut")
            if i == j:
                classes.append("self")
            if found:
                classes.append(f"fd-{found}")
            text = pc.cell.text() if pc is not None else "-"
            attrs = f' class="{" ".join(classes)}"' if classes else ""
            if pc is None and not found:
                row.append(f'<td data-i="{i}" data-j="{j}"{attrs}></td>')
                continue
            title = _cell_title(a, b, text, pc.flows if pc else (), pc.stance if pc else None)
            shown = "" if text == "-" else esc(text)
            row.append(f'<td data-i="{i}" data-j="{j}"{attrs} title="{esc(title)}">{shown}</td>')
        row.append("</tr>")
        out.append("".join(row))
    out.append('</tbody></table></div><aside class="details" id="zp-details" aria-live="polite">'
               '<p class="none">Hover over or click a cell of the matrix, or click a zone in the graph.</p>'
               "</aside></div></section>")
    return "\n".join(out)


def _graph(c: Content) -> str:
    ver = c.verification
    findings = {pair: worst(fs) for pair, fs in (ver.by_pair.items() if ver else ())}
    g = build_graph(c.policy, c.cells, list(c.policy.zones), {k: v for k, v in findings.items() if v})
    return ('<section id="graph"><h2>Zone graph 区域关系图</h2>'
            '<p class="summary">Columns: zone kinds; bands: protection levels. An arrow for every pair of '
            "distinct zones with something allowed (thick: every packet; red/orange: findings on the pair). "
            "Click a zone to follow its edges.</p>"
            f'<div class="graph-wrap">{render_svg(g, standalone=False)}</div></section>')


def _findings(c: Content) -> str:
    ver = c.verification
    assert ver is not None
    counts = ver.counts
    badges = "".join(f'<span class="badge {k}">{counts[k]}</span> {k}s ' for k in ("error", "warning", "note"))
    out = ['<section id="findings"><h2>Compliance findings 合规检查结果</h2>',
           f'<p class="summary">{esc(ver.summary)}. {badges}<span class="badge waived">{counts["waived"]}</span> '
           "waived. Grouped by the clause of the standard each rule implements.</p>"]
    if not ver.groups:
        out.append('<p class="none">No findings.</p>')
    for g in ver.groups:
        active = [f for f in g.findings if not f.suppressed]
        waived = len(g.findings) - len(active)
        badge = f'<span class="badge {g.worst or "none"}">{len(active)}</span>'
        extra = f' <span class="badge waived">{waived} waived</span>' if waived else ""
        out.append(f'<details class="clause"{" open" if active else ""}><summary>{badge}{extra} {esc(g.clause)}</summary>')
        if g.rules:
            out.append('<ul class="rules">' + "".join(
                f"<li><code>{esc(r.code)}</code> {esc(r.title_zh)} — {esc(r.title_en)}</li>" for r in g.rules) + "</ul>")
        out.append('<table class="list"><thead><tr><th>level</th><th>rule</th><th>message</th><th>where</th>'
                   "<th>zones</th><th>witness packet</th></tr></thead><tbody>")
        for f in g.findings:
            msg = esc(f.message)
            if f.hint:
                msg += f'<br><span class="summary">hint: {esc(f.hint)}</span>'
            if f.suppression is not None:
                s = f.suppression
                note = f"waived: {s.reason} (owner {s.owner}"
                note += f", expires {s.expires.isoformat()}" if s.expires else ""
                note += f", ticket {s.ticket}" if s.ticket else ""
                note += f", {where(s.span)})" if s.span else ")"
                msg += f'<br><span class="summary">{esc(note)}</span>'
            level = "waived" if f.suppressed else f.level.label
            out.append(f'<tr class="{"waived" if f.suppressed else ""}"><td><span class="badge {level}">'
                       f"{esc(f.level.label)}</span></td><td><code>{esc(f.rule)}</code></td>"
                       f'<td class="msg">{msg}</td><td class="mono">{esc(where(f.span))}</td>'
                       f"<td>{esc(', '.join(f.zones))}</td><td class=\"mono\">{esc(f.witness or '')}</td></tr>")
        out.append("</tbody></table></details>")
    out.append("</section>")
    return "\n".join(out)


def _probe_rows(results: Iterable) -> str:
    rows = []
    for r in results:
        matched = " / ".join(x for x in (r.matched_flow, r.matched_rule) if x)
        rows.append(f'<tr><td><span class="badge {esc(r.result)}">{esc(r.result)}</span></td>'
                    f"<td><code>{esc(r.probe)}</code></td><td>{esc(r.site)}</td>"
                    f"<td>{esc(r.src_zone)} → {esc(r.dst_zone)}</td><td class=\"mono\">{esc(r.five_tuple)}</td>"
                    f"<td>{esc(r.expected)}</td><td>{esc(r.observed if r.observed is not None else '?')}</td>"
                    f"<td>{esc(r.reason)}</td><td>{esc(r.expected_flow or '')}</td><td>{esc(matched)}</td></tr>")
    return "".join(rows)


def _probes(c: Content) -> str:
    pr = c.probes
    assert pr is not None
    head = ("<table class=\"list\"><thead><tr><th>result</th><th>probe</th><th>site</th><th>zones</th>"
            "<th>packet</th><th>expected</th><th>observed</th><th>reason</th><th>expected flow</th>"
            "<th>matched flow / rule</th></tr></thead><tbody>")
    bad = [r for r in pr.results if r.result != "pass"]
    good = [r for r in pr.results if r.result == "pass"]
    out = ['<section id="probes"><h2>Probe results 探测结果</h2>',
           f'<p class="summary">{esc(pr.summary)} ({esc(pr.source)}). Failing probes first.</p>']
    if pr.stale:
        out.append(f'<p class="stale"><span class="badge warning">!</span> {pr.stale} of {len(pr.results)} results '
                   "were taken against another version of the policy (their policy hash differs): plan and "
                   "run the probes again before relying on them.</p>")
    if bad:
        out.append(head + _probe_rows(bad) + "</tbody></table>")
    else:
        out.append('<p class="none">No failing or inconclusive probe.</p>')
    if good:
        shown = good[:MAX_PASSING_PROBES]
        more = f" (first {len(shown)} of {len(good)})" if len(good) > len(shown) else ""
        out.append(f"<details><summary>{len(good)} passing probes{more}</summary>{head}{_probe_rows(shown)}"
                   "</tbody></table></details>")
    out.append("</section>")
    return "\n".join(out)


def _diff(c: Content) -> str:
    d = c.diff
    assert d is not None
    out = ['<section id="diff"><h2>Semantic diff 策略变更</h2>',
           f'<p class="summary">{esc(d.old_label)} (policy {esc(d.old_policy)}) → {esc(d.new_label)} '
           f"(policy {esc(d.new_policy)}): {esc(d.summary())}</p>"]
    if d.zones:
        out.append("<h3>Zones</h3><ul>" + "".join(
            f"<li><code>{esc(z.status)}</code> {esc(z.name)}: {esc(z.old or '')}"
            f"{' ⇒ ' if z.old and z.new else ''}{esc(z.new or '')}</li>" for z in d.zones) + "</ul>")
    if not d.pairs:
        out.append('<p class="none">No change in what the policy allows.</p>')
    else:
        out.append('<table class="list"><thead><tr><th>from</th><th>to</th><th>change</th><th>packets</th>'
                   "<th>example</th><th>why</th></tr></thead><tbody>")
        for p in d.pairs:
            for sign, label, ch in (("+", "newly allowed", p.allowed), ("-", "newly denied", p.denied)):
                if ch is None:
                    continue
                boxes = list(ch.boxes[:BOX_LIMIT])
                if len(ch.boxes) > BOX_LIMIT:
                    boxes.append(f"… and {len(ch.boxes) - BOX_LIMIT} more")
                why = "<br>".join(esc(r.describe()) for r in ch.responsible)
                out.append(f"<tr><td>{esc(p.src)}</td><td>{esc(p.dst)}</td><td>{sign} {label}</td>"
                           f'<td class="mono">{"<br>".join(esc(b) for b in boxes)}</td>'
                           f'<td class="mono">{esc(ch.example)}</td><td>{why}</td></tr>')
        out.append("</tbody></table>")
    out.append("</section>")
    return "\n".join(out)


def _data(c: Content) -> dict[str, Any]:
    """What the script needs that the markup does not hold in a handy form."""
    index = {name: i for i, name in enumerate(c.names)}
    zones = {z.name: z for z in c.policy.zones}
    by_pair = c.verification.by_pair if c.verification else {}
    cells: dict[str, Any] = {}
    for (a, b), pc in c.cells.items():
        cells[f"{index[a]},{index[b]}"] = {
            "t": pc.cell.text(), "p": pc.cell.partial, "st": pc.stance,
            "f": [[f.id, f.action, f.text, where(f.span), f.effective] for f in pc.flows],
            "fd": [[f.level.label, f.rule, f.message, where(f.span)] for f in by_pair.get((a, b), ())],
        }
    for (a, b), fs in by_pair.items():
        key = f"{index.get(a)},{index.get(b)}"
        if a in index and b in index and key not in cells:
            cells[key] = {"t": "-", "p": False, "st": None, "f": [],
                          "fd": [[f.level.label, f.rule, f.message, where(f.span)] for f in fs]}
    return {"zones": [[n, zones[n].description, zones[n].kind.value, zones[n].level] for n in c.names],
            "index": index, "cells": cells}


def render(c: Content) -> str:
    """The whole report as one HTML document."""
    css = _asset("report.css")
    js = _asset("report.js")
    csp = (f"default-src 'none'; style-src '{_sha256(css)}'; script-src '{_sha256(js)}'; img-src data:; "
           "base-uri 'none'; form-action 'none'")
    body = [_header(c), _nav(c), "<main>", _matrix(c), _graph(c)]
    if c.verification:
        body.append(_findings(c))
    if c.probes:
        body.append(_probes(c))
    if c.diff is not None:
        body.append(_diff(c))
    body.append("</main>")
    stamp = f", generated {esc(c.timestamp)}" if c.timestamp else ""
    body.append(f'<footer>zonepolicy {esc(__version__)}{stamp} · <span id="zp-status">static view '
                "(the page's script has not run)</span></footer>")
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="zh-CN">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">',
        f'<meta name="generator" content="zonepolicy {esc(__version__)}">',
        f"<title>zonepolicy report: {esc(c.policy.name)}</title>",
        f"<style>{css}</style>",
        "</head>",
        "<body>",
        *body,
        f'<script type="application/json" id="zp-data">{json_for_script(_data(c))}</script>',
        f"<script>{js}</script>",
        "</body>",
        "</html>",
        "",
    ])


__all__ = ["esc", "json_for_script", "render"]
