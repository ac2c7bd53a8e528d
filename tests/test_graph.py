"""zonepolicy graph: the zone graph as SVG, Graphviz dot and a Mermaid flowchart.

Every rendering has one node per (selected) zone and one edge per ordered pair of distinct zones
between which the policy allows something — counted independently here from the meaning.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given

from conftest import EXAMPLES, load_policy_text, run_cli
from strategies import small_policies
from zonepolicy.report.cells import NOTHING, pair_cells
from zonepolicy.report.graph import (NODE_H, NODE_W, dot_quote, mermaid_text, policy_graph, render_dot,
                                     render_mermaid, render_svg)
from zonepolicy.report.views import matrix
from zonepolicy.semantics.meaning import Meaning

QUICKSTART = str(EXAMPLES / "quickstart" / "policy.zp")
JIANGSU = str(EXAMPLES / "jiangsu" / "main.zp")
SVG = "{http://www.w3.org/2000/svg}"

HOSTILE = '</script><img src=x onerror=alert(1)> "q" \\ #35; |x| [a] {b} & <!-- -->'
HOSTILE_POLICY = f'''
policy evil "{HOSTILE.replace(chr(92), chr(92) * 2).replace('"', chr(92) + '"')}" {{ default deny; intrazone allow }}
zone a "{HOSTILE.replace(chr(92), chr(92) * 2).replace('"', chr(92) + '"')}" {{ kind public; level 3; networks 10.1.0.0/16 }}
zone b "第二区 \\"x\\" -> y" {{ kind dedicated; level 2; networks 10.2.0.0/16 }}
zone c {{ kind management; networks 10.3.0.0/16 }}
allow a -> b : https
allow c -> * : ssh
'''


def _allowed_pairs(policy, zones=None) -> set[tuple[str, str]]:
    names, cells = matrix(policy)
    keep = set(zones) if zones is not None else set(names)
    return {(a, b) for (a, b), c in cells.items() if a != b and a in keep and b in keep and c.text() != "-"}


def _svg_counts(text: str) -> tuple[set[str], set[tuple[str, str]]]:
    root = ET.fromstring(text.encode("utf-8"))
    nodes = {g.get("data-zone") for g in root.iter(f"{SVG}g") if g.get("class") == "zp-node"}
    edges = {(p.get("data-from"), p.get("data-to")) for p in root.iter(f"{SVG}path") if p.get("class") == "zp-edge"}
    return nodes, edges


def test_svg_quickstart_counts_and_parses() -> None:
    r = run_cli("graph", QUICKSTART, "--format", "svg")
    assert r.returncode == 0, r.stderr
    p = load_policy_text((EXAMPLES / "quickstart" / "policy.zp").read_text(encoding="utf-8"))
    nodes, edges = _svg_counts(r.stdout)
    assert nodes == {z.name for z in p.zones}
    assert edges == _allowed_pairs(p)
    assert ("internet", "internet-access") in edges and ("internet", "dedicated.tax") not in edges


def test_svg_layout_columns_by_kind_rows_by_level_no_overlap() -> None:
    from zonepolicy import api

    p = api.load_policy(JIANGSU)
    g = policy_graph(p)
    assert len(g.nodes) == len(p.zones) == 104
    boxes = [(n.x, n.y) for n in g.nodes]
    assert len(set(boxes)) == len(boxes)
    for i, (x1, y1) in enumerate(boxes):  # no two node rectangles overlap
        for x2, y2 in boxes[i + 1:]:
            assert abs(x1 - x2) >= NODE_W or abs(y1 - y2) >= NODE_H
    # one column per kind: every zone of a kind lies within its column; higher levels higher up
    cols = {c.label: c for c in g.columns}
    for n in g.nodes:
        col = cols[n.zone.kind.value]
        assert col.x <= n.x and n.x + NODE_W <= col.x + col.width
    for a in g.nodes:
        for b in g.nodes:
            if a.zone.level is not None and b.zone.level is not None and a.zone.level > b.zone.level:
                assert a.y < b.y
    assert all(0 <= n.x and n.x + NODE_W <= g.width and n.y + NODE_H <= g.height for n in g.nodes)
    nodes, edges = _svg_counts(render_svg(g))
    assert len(nodes) == 104 and edges == _allowed_pairs(p)


def test_graph_is_deterministic(tmp_path) -> None:
    # Separate processes (different hash seeds): same bytes; -o writes exactly what stdout shows.
    for fmt in ("svg", "mermaid"):
        a = run_cli("graph", QUICKSTART, "--format", fmt, "-o", str(tmp_path / f"a.{fmt}"))
        b = run_cli("graph", QUICKSTART, "--format", fmt)
        assert a.returncode == b.returncode == 0
        assert (tmp_path / f"a.{fmt}").read_text(encoding="utf-8") == b.stdout != ""


def _dot_structure(text: str) -> tuple[set[str], set[tuple[str, str]]]:
    """Nodes and edges of our dot output, read with a small tokenizer for its quoted strings."""
    string = r'"((?:[^"\\]|\\.)*)"'
    nodes = set(re.findall(rf"^    {string} \[label=", text, re.M))
    edges = set(re.findall(rf"^  {string} -> {string} \[", text, re.M))
    unquote = lambda s: re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), s)  # noqa: E731
    return {unquote(n) for n in nodes}, {(unquote(a), unquote(b)) for a, b in edges}


def test_dot_structure_and_escaping(tmp_path) -> None:
    p = load_policy_text(HOSTILE_POLICY)
    text = render_dot(policy_graph(p), p.name)
    nodes, edges = _dot_structure(text)
    assert nodes == {"a", "b", "c"}
    assert edges == _allowed_pairs(p) == {("a", "b"), ("c", "a"), ("c", "b")}
    # every double quote inside a string is escaped: the quotes on each line pair up
    for line in text.splitlines():
        assert len(re.findall(r'(?<!\\)"', line.replace("\\\\", ""))) % 2 == 0, line
    assert dot_quote('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'
    if shutil.which("dot"):
        out = subprocess.run(["dot", "-Tsvg"], input=text, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        ET.fromstring(out.stdout.encode())


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz (dot) is not installed")
def test_dot_lays_out_with_graphviz_on_jiangsu() -> None:
    r = run_cli("graph", JIANGSU, "--format", "dot")
    assert r.returncode == 0
    out = subprocess.run(["dot", "-Tsvg"], input=r.stdout, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stderr == "", out.stderr[-2000:]
    root = ET.fromstring(out.stdout.encode())
    classes = [g.get("class") for g in root.iter(f"{SVG}g")]
    from zonepolicy import api

    p = api.load_policy(JIANGSU)
    assert classes.count("node") == len(p.zones) and classes.count("edge") == len(_allowed_pairs(p))


MERMAID_LINE = re.compile(
    r'^(flowchart LR'
    r'|  subgraph k\d+\["[^"]*"\]'
    r'|    n\d+\["[^"]*"\]'
    r'|  end'
    r'|  n\d+ (-->|==>)\|"[^"|]*"\| n\d+'
    r'|  classDef (level\d|nolevel) fill:#[0-9a-f]{6},stroke:#[0-9a-f]{6}'
    r'|  class n\d+(,n\d+)* (level\d|nolevel))$')


def test_mermaid_syntax_and_escaping() -> None:
    p = load_policy_text(HOSTILE_POLICY)
    text = render_mermaid(policy_graph(p))
    for line in text.splitlines():
        assert MERMAID_LINE.match(line), line
    labels = re.findall(r'\["([^"]*)"\]', text)
    assert labels and not any(set(lab.replace("<br/>", "")) & set('<>&|[]{}"') for lab in labels)
    assert "#60;/script#62;#60;img src=x onerror=alert#40;1#41;#62;" in text
    assert "<img" not in text and "</script>" not in text
    assert text.count("subgraph") == text.count("\n  end")
    nodes = set(re.findall(r"^    (n\d+)\[", text, re.M))
    edges = re.findall(r"^  (n\d+) (?:-->|==>)", text, re.M)
    assert len(nodes) == 3 and len(edges) == 3
    # an entity code decodes back to the text
    assert re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), mermaid_text('a"b#c')) == 'a"b#c'


def test_svg_escapes_hostile_text() -> None:
    p = load_policy_text(HOSTILE_POLICY)
    text = render_svg(policy_graph(p))
    root = ET.fromstring(text.encode("utf-8"))  # well-formed despite the description
    assert not [e for e in root.iter() if e.tag.endswith("img") or e.tag.endswith("script")]
    titles = [t.text for t in root.iter(f"{SVG}title")]
    assert any(t and HOSTILE in t for t in titles)  # the text survives, as text


def test_filters_level_and_kind() -> None:
    from zonepolicy import api

    p = api.load_policy(JIANGSU)
    r = run_cli("graph", JIANGSU, "--level-min", "4", "--format", "svg")
    assert r.returncode == 0, r.stderr
    nodes, edges = _svg_counts(r.stdout)
    want = {z.name for z in p.zones if z.level is not None and z.level >= 4}
    assert nodes == want and want
    assert edges == _allowed_pairs(p, want)
    r = run_cli("graph", JIANGSU, "--kind", "dedicated", "--kind", "public", "--format", "mermaid")
    assert r.returncode == 0, r.stderr
    want = {z.name for z in p.zones if z.kind.value in ("dedicated", "public")}
    assert len(re.findall(r"^    n\d+\[", r.stdout, re.M)) == len(want)
    assert len(re.findall(r"^  n\d+ (?:-->|==>)", r.stdout, re.M)) == len(_allowed_pairs(p, want))


def test_bad_input_exit_2_and_no_file(tmp_path) -> None:
    bad = tmp_path / "bad.zp"
    bad.write_text("policy x { default deny; intrazone allow }\nallow nowhere -> a : https\n", encoding="utf-8")
    out = tmp_path / "g.svg"
    r = run_cli("graph", str(bad), "-o", str(out))
    assert r.returncode == 2 and "bad.zp:2:" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()
    r = run_cli("graph", QUICKSTART, "--kind", "nonsense")
    assert r.returncode == 2 and "nonsense" in r.stderr
    r = run_cli("graph", QUICKSTART, "--level-min", "9")
    assert r.returncode == 2


@given(small_policies(comments=False))
def test_report_cells_equal_show_matrix(text: str) -> None:
    """The report's fast matrix says exactly what ``show matrix`` says, on random policies."""
    p = load_policy_text(text)
    meaning = Meaning(p)
    names, fast = pair_cells(p, meaning)
    _, slow = matrix(p, Meaning(p))
    for a in names:
        for b in names:
            got = fast[(a, b)].cell if (a, b) in fast else NOTHING
            assert got == slow[(a, b)], (a, b)


@pytest.mark.parametrize("example", ["quickstart/policy.zp", "noncompliant/policy.zp", "jiangsu/main.zp"])
def test_report_cells_equal_show_matrix_on_examples(example: str) -> None:
    from zonepolicy import api

    p = api.load_policy(str(EXAMPLES / example))
    names, fast = pair_cells(p, Meaning(p))
    _, slow = matrix(p, Meaning(p))
    assert {k: (fast[k].cell if k in fast else NOTHING) for k in slow} == slow
