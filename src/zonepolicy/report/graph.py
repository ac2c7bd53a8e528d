"""The zone graph: zones as nodes, grouped by kind and protection level; an edge for every ordered
pair of distinct zones between which the policy allows something.

Traffic within one zone (the ``intrazone`` stance, or flows from a zone to itself) is not drawn as a
loop; the node says what it allows. The layout is computed here, deterministically, from the
policy alone: one column per zone kind (in the order of :class:`ZoneKind`), one band per level
(highest on top, unlevelled zones last), and within a column and band the zones in name order,
wrapping into further sub-columns when a group is tall. Three renderings share the graph: SVG
(also embedded in the HTML report), Graphviz dot and a Mermaid flowchart; every name and text from
the policy is escaped for the syntax it lands in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from ..model.policy import Policy, Zone
from ..model.values import ZoneKind
from ..semantics.meaning import Meaning
from .cells import PairCell, pair_cells

# Fill colours of protection levels (also used by the HTML matrix); None: no level stated.
LEVEL_COLOURS = {1: "#d9f2d9", 2: "#d6e8fa", 3: "#fdf0c4", 4: "#fbd5c5", 5: "#e8d3f5", None: "#eeeeee"}
FINDING_COLOURS = {"error": "#c62828", "warning": "#ef6c00", "note": "#1565c0"}
FONT_STACK = ("'Noto Sans CJK SC', 'Source Han Sans SC', 'PingFang SC', 'Microsoft YaHei', "
              "'WenQuanYi Micro Hei', 'Hiragino Sans GB', 'SimSun', 'DejaVu Sans', Arial, sans-serif")

NODE_W, NODE_H = 178, 22
GAP_X, GAP_Y = 34, 8
COLUMN_GAP = 56
BAND_PAD = 26  # room for the band's label above its first row
MARGIN = 16
HEADER_H = 34
ROWS_PER_SUBCOLUMN = 14
LABEL_CHARS = 26


@dataclass(frozen=True, slots=True)
class Node:
    zone: Zone
    x: int
    y: int
    intrazone: str  # what the zone allows within itself, as the matrix cell says it ("-" for nothing)


@dataclass(frozen=True, slots=True)
class Edge:
    src: str
    dst: str
    label: str  # the matrix cell's text
    everything: bool
    finding: str | None = None  # worst level of the findings on this pair


@dataclass(frozen=True, slots=True)
class Band:
    label: str
    y: int
    height: int


@dataclass(frozen=True, slots=True)
class Column:
    label: str
    x: int
    width: int


@dataclass(frozen=True, slots=True)
class Graph:
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    columns: tuple[Column, ...]
    bands: tuple[Band, ...]
    width: int
    height: int


def select_zones(policy: Policy, level_min: int | None = None, kinds: Iterable[str] = ()) -> list[Zone]:
    """The zones a graph shows: at least ``level_min`` (zones without a level are left out then) and
    of one of ``kinds`` (all kinds when empty)."""
    wanted = set(kinds)
    return [z for z in policy.zones
            if (level_min is None or (z.level is not None and z.level >= level_min))
            and (not wanted or z.kind.value in wanted)]


def _level_key(level: int | None) -> int:
    return -level if level is not None else 1


def build(policy: Policy, cells: dict[tuple[str, str], PairCell], zones: list[Zone],
          findings: dict[tuple[str, str], str] | None = None) -> Graph:
    """Lay out ``zones`` and the allowed pairs among them (``cells`` from :func:`pair_cells`)."""
    findings = findings or {}
    kinds = [k for k in ZoneKind if any(z.kind is k for z in zones)]
    levels = sorted({z.level for z in zones}, key=_level_key)
    groups: dict[tuple[ZoneKind, int | None], list[Zone]] = {}
    for z in sorted(zones, key=lambda z: z.name):
        groups.setdefault((z.kind, z.level), []).append(z)

    def subcolumns(n: int) -> int:
        return max(1, -(-n // ROWS_PER_SUBCOLUMN))

    col_subs = {k: max(subcolumns(len(groups.get((k, lv), []))) for lv in levels) for k in kinds}
    band_rows = {lv: max(min(len(groups.get((k, lv), [])), ROWS_PER_SUBCOLUMN) for k in kinds) for lv in levels}
    columns: list[Column] = []
    x = MARGIN
    col_x: dict[ZoneKind, int] = {}
    for k in kinds:
        w = col_subs[k] * NODE_W + (col_subs[k] - 1) * GAP_X
        columns.append(Column(k.value, x, w))
        col_x[k] = x
        x += w + COLUMN_GAP
    width = max(x - COLUMN_GAP + MARGIN, 2 * MARGIN + NODE_W)
    bands: list[Band] = []
    band_y: dict[int | None, int] = {}
    y = MARGIN + HEADER_H
    for lv in levels:
        h = BAND_PAD + band_rows[lv] * (NODE_H + GAP_Y)
        bands.append(Band("no level" if lv is None else f"level {lv}", y, h))
        band_y[lv] = y + BAND_PAD
        y += h + GAP_Y
    height = y + MARGIN

    nodes: list[Node] = []
    shown = {z.name for z in zones}
    for (k, lv), members in sorted(groups.items(), key=lambda kv: (kinds.index(kv[0][0]), _level_key(kv[0][1]))):
        for i, z in enumerate(members):
            sub, row = divmod(i, ROWS_PER_SUBCOLUMN)
            own = cells.get((z.name, z.name))
            nodes.append(Node(z, col_x[k] + sub * (NODE_W + GAP_X), band_y[lv] + row * (NODE_H + GAP_Y),
                              own.cell.text() if own else "-"))
    nodes.sort(key=lambda n: n.zone.name)
    edges = tuple(Edge(a, b, c.cell.text(), c.cell.everything, findings.get((a, b)))
                  for (a, b), c in sorted(cells.items())
                  if a != b and a in shown and b in shown and c.allowed)
    return Graph(tuple(nodes), edges, tuple(columns), tuple(bands), width, height)


def policy_graph(policy: Policy, meaning: Meaning | None = None, *, level_min: int | None = None,
                 kinds: Iterable[str] = ()) -> Graph:
    _, cells = pair_cells(policy, meaning)
    return build(policy, cells, select_zones(policy, level_min, kinds))


# --------------------------------------------------------------------------- SVG

def xml_escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _edge_path(src: Node, dst: Node) -> str:
    # Leave from the side facing the target and bend a little to the left of the direction of travel,
    # so that a -> b and b -> a stay apart and a straight run of nodes does not hide its edges.
    sx = src.x + (NODE_W if dst.x > src.x else 0 if dst.x < src.x else NODE_W)
    dx = dst.x + (0 if dst.x > src.x else NODE_W if dst.x < src.x else NODE_W)
    sy, dy = src.y + NODE_H // 2, dst.y + NODE_H // 2
    mx, my = (sx + dx) / 2, (sy + dy) / 2
    vx, vy = dx - sx, dy - sy
    bend = 0.18 if src.x != dst.x else 0.0
    cx, cy = mx - vy * bend, my + vx * bend
    if src.x == dst.x:  # same sub-column: bulge out to the right
        cx = sx + 40 + abs(dy - sy) * 0.15
    return f"M{sx},{sy} Q{cx:.0f},{cy:.0f} {dx},{dy}"


def render_svg(g: Graph, *, standalone: bool = True) -> str:
    """The graph as SVG 1.1: presentation attributes only (no <style>, no script), so the same text is
    a file of its own and an inline element of the HTML report."""
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="zp-graph" width="{g.width}" height="{g.height}" '
           f'viewBox="0 0 {g.width} {g.height}" font-family="{xml_escape(FONT_STACK)}" font-size="11" '
           f'role="img" aria-label="zone graph">']
    if standalone:
        out[0] = '<?xml version="1.0" encoding="UTF-8"?>\n' + out[0]
    out.append('<defs><marker id="zp-arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" '
               'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#546e7a"/></marker>'
               '<marker id="zp-arrow-hot" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" '
               'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#c62828"/></marker></defs>')
    out.append(f'<rect x="0" y="0" width="{g.width}" height="{g.height}" fill="#ffffff"/>')
    for b in g.bands:
        out.append(f'<g class="zp-band"><rect x="{MARGIN // 2}" y="{b.y}" width="{g.width - MARGIN}" '
                   f'height="{b.height}" fill="#f7f9fb" stroke="#dde3e8"/>'
                   f'<text x="{MARGIN}" y="{b.y + 16}" fill="#607d8b" font-weight="bold">{xml_escape(b.label)}</text></g>')
    for c in g.columns:
        out.append(f'<text class="zp-kind" x="{c.x}" y="{MARGIN + 14}" fill="#37474f" font-size="13" '
                   f'font-weight="bold">{xml_escape(c.label)}</text>')
    at = {n.zone.name: n for n in g.nodes}
    out.append('<g class="zp-edges" fill="none">')
    for e in g.edges:
        hot = e.finding is not None
        colour = FINDING_COLOURS[e.finding] if e.finding is not None else "#37474f" if e.everything else "#78909c"
        marker = "zp-arrow-hot" if hot else "zp-arrow"
        out.append(f'<path class="zp-edge" data-from="{xml_escape(e.src)}" data-to="{xml_escape(e.dst)}" '
                   f'd="{_edge_path(at[e.src], at[e.dst])}" stroke="{colour}" stroke-opacity="0.45" '
                   f'stroke-width="{2 if e.everything else 1}" marker-end="url(#{marker})">'
                   f'<title>{xml_escape(f"{e.src} → {e.dst}: {e.label}")}</title></path>')
    out.append("</g>")
    out.append('<g class="zp-nodes">')
    for n in g.nodes:
        z = n.zone
        level = "-" if z.level is None else str(z.level)
        tip = f"{z.name} {z.description}".strip() + f"\nkind {z.kind.value}, level {level}, intrazone {n.intrazone}"
        out.append(f'<g class="zp-node" data-zone="{xml_escape(z.name)}">'
                   f'<title>{xml_escape(tip)}</title>'
                   f'<rect x="{n.x}" y="{n.y}" width="{NODE_W}" height="{NODE_H}" rx="4" '
                   f'fill="{LEVEL_COLOURS.get(z.level, LEVEL_COLOURS[None])}" stroke="#455a64"/>'
                   f'<text x="{n.x + 6}" y="{n.y + 15}" fill="#102027">{xml_escape(_short(z.name))}</text></g>')
    out.append("</g></svg>")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- Graphviz dot

def dot_quote(text: str) -> str:
    """A dot double-quoted string: backslashes and quotes escaped, line ends as dot's \\n."""
    body = text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "\\n")
    return f'"{body}"'


def render_dot(g: Graph, name: str = "zones") -> str:
    # newrank: without it dot's ranking of clusters fails ("trouble in init_rank") on province-sized graphs
    out = [f"digraph {dot_quote(name)} {{", "  rankdir=LR;", "  newrank=true;", '  graph [fontname="sans-serif", fontsize=11];',
           '  node [shape=box, style="rounded,filled", fontname="sans-serif", fontsize=10];',
           '  edge [fontname="sans-serif", fontsize=9, color="#78909c"];']
    by_kind: dict[str, list[Node]] = {}
    for n in g.nodes:
        by_kind.setdefault(n.zone.kind.value, []).append(n)
    for kind in [c.label for c in g.columns]:
        out.append(f"  subgraph {dot_quote('cluster_' + kind)} {{")
        out.append(f"    label={dot_quote(kind)};")
        for n in by_kind.get(kind, []):
            z = n.zone
            level = "-" if z.level is None else str(z.level)
            label = f"{z.name}\n{z.description}\nlevel {level}" if z.description else f"{z.name}\nlevel {level}"
            out.append(f"    {dot_quote(z.name)} [label={dot_quote(label)}, "
                       f"fillcolor={dot_quote(LEVEL_COLOURS.get(z.level, LEVEL_COLOURS[None]))}];")
        out.append("  }")
    for e in g.edges:
        attrs = [f"label={dot_quote(e.label)}"]
        if e.everything:
            attrs.append("penwidth=2")
        out.append(f"  {dot_quote(e.src)} -> {dot_quote(e.dst)} [{', '.join(attrs)}];")
    out.append("}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- Mermaid

def mermaid_text(text: str) -> str:
    """Text for a Mermaid quoted label: Mermaid's entity codes for the characters its parser or the
    HTML it renders to would read (quotes, angle brackets, '#', '&', '|', backticks); line ends as <br/>."""
    out = []
    for ch in text:
        if ch in '"#&<>|`[]{}();':
            out.append(f"#{ord(ch)};")
        elif ch == "\n":
            out.append("<br/>")
        elif ch == "\r":
            continue
        else:
            out.append(ch)
    return "".join(out)


def render_mermaid(g: Graph) -> str:
    """A Mermaid flowchart; nodes get ids n0, n1, … (zone names hold dots and dashes Mermaid reads
    as syntax), the zone name and description are the label."""
    ids = {n.zone.name: f"n{i}" for i, n in enumerate(g.nodes)}
    out = ["flowchart LR"]
    by_kind: dict[str, list[Node]] = {}
    for n in g.nodes:
        by_kind.setdefault(n.zone.kind.value, []).append(n)
    for i, kind in enumerate(c.label for c in g.columns):
        out.append(f'  subgraph k{i}["{mermaid_text(kind)}"]')
        for n in by_kind.get(kind, []):
            z = n.zone
            label = f"{z.name}\n{z.description}" if z.description else z.name
            out.append(f'    {ids[z.name]}["{mermaid_text(label)}"]')
        out.append("  end")
    for e in g.edges:
        arrow = "==>" if e.everything else "-->"
        out.append(f'  {ids[e.src]} {arrow}|"{mermaid_text(e.label)}"| {ids[e.dst]}')
    for lv, colour in sorted(LEVEL_COLOURS.items(), key=lambda kv: _level_key(kv[0])):
        members = [ids[n.zone.name] for n in g.nodes if n.zone.level == lv]
        if members:
            cls = f"level{lv}" if lv is not None else "nolevel"
            out.append(f"  classDef {cls} fill:{colour},stroke:#455a64")
            out.append(f"  class {','.join(members)} {cls}")
    return "\n".join(out) + "\n"


RENDERERS = {"svg": render_svg, "dot": render_dot, "mermaid": render_mermaid}
