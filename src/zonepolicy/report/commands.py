"""The ``report`` and ``graph`` commands. The work is in :mod:`.content`, :mod:`.html` and
:mod:`.graph`; imports stay inside the functions so ``zonepolicy --help`` does not pay for them."""

from __future__ import annotations

import datetime as dt

import click

from ..cli import _emit, _parse_date, _print_diags, guarded
from ..model.values import ZoneKind


@click.command()
@click.argument("policy", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="the HTML file to write")
@click.option("--verify", "run_verify", is_flag=True,
              help="run the verifier (the packs the policy header names) and show its findings by clause")
@click.option("--probes", type=click.Path(dir_okay=False), metavar="RESULTS.jsonl",
              help="probe results a runner wrote; shown failing first")
@click.option("--diff", "old", type=click.Path(dir_okay=False), metavar="OLD",
              help="an older version of the policy: show what changes from it to POLICY")
@click.option("--today", callback=_parse_date, metavar="YYYY-MM-DD",
              help="the date waivers are judged against (default: today)")
@click.option("--timestamp", is_flag=True, help="print the generation time in the footer (off: same input, same bytes)")
@guarded
def report(policy: str, output: str, run_verify: bool, probes: str | None, old: str | None,
           today: dt.date | None, timestamp: bool) -> None:
    """Write one self-contained HTML report of POLICY: zone matrix, zone graph, and optionally findings,
    probe results and the semantic diff against OLD.

    \b
    The file has no external resources (opens from a USB stick) and is byte-identical for the same
    input unless --timestamp is given. Exit 0 when written, 2 for invalid input (nothing is written).
    Examples:
      zonepolicy report examples/quickstart/policy.zp -o report.html
      zonepolicy report examples/jiangsu/main.zp --verify --probes results.jsonl -o jiangsu.html
      zonepolicy report policy/main.zp --diff old/main.zp -o review.html
    """
    from .. import api
    from .content import gather
    from .html import render

    loaded = api.load(policy)
    if loaded.warnings:
        _print_diags(loaded.warnings, loaded.sources, "text")
    old_policy = api.load(old).policy if old else None
    stamp = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat() if timestamp else None
    content = gather(loaded.policy, verify=run_verify, probes=probes, old=old_policy, old_label=old or "OLD",
                     new_label=policy, today=today, timestamp=stamp)
    api.write_atomically(output, render(content))
    parts = [f"{len(content.names)} zones"]
    if content.verification:
        parts.append(content.verification.summary)
    if content.probes:
        parts.append(content.probes.summary)
        if content.probes.stale:
            click.echo(f"warning: {content.probes.stale} probe results were taken against another version of "
                       "the policy (policy hash differs)", err=True)
    if content.diff is not None:
        parts.append(content.diff.summary())
    click.echo(f"wrote {output}: " + "; ".join(parts), err=True)


@click.command()
@click.argument("policy", type=click.Path(dir_okay=False))
@click.option("--format", "graph_format", type=click.Choice(["svg", "dot", "mermaid"]), default="svg",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="write to this file instead of stdout")
@click.option("--level-min", type=click.IntRange(1, 5), metavar="N",
              help="only zones of protection level N or higher (zones without a level are left out)")
@click.option("--kind", "kinds", multiple=True, type=click.Choice([k.value for k in ZoneKind]),
              help="only zones of this kind (repeatable)")
@guarded
def graph(policy: str, graph_format: str, output: str | None, level_min: int | None,
          kinds: tuple[str, ...]) -> None:
    """Draw the zone graph of POLICY: zones grouped by kind and level, an edge for every pair of
    distinct zones with something allowed (labelled with what).

    \b
    Exit 0 when written, 2 for invalid input.
    Examples:
      zonepolicy graph examples/quickstart/policy.zp --format dot | dot -Tpng -o zones.png
      zonepolicy graph examples/jiangsu/main.zp --format mermaid --kind dedicated --kind public
      zonepolicy graph examples/jiangsu/main.zp --level-min 3 -o zones.svg
    """
    from .. import api
    from .graph import policy_graph, render_dot, render_mermaid, render_svg

    p = api.load(policy).policy
    g = policy_graph(p, level_min=level_min, kinds=kinds)
    text = (render_dot(g, p.name) if graph_format == "dot" else
            render_mermaid(g) if graph_format == "mermaid" else render_svg(g))
    _emit(text, output)
