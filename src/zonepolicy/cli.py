"""The zonepolicy command line: a thin layer over :mod:`zonepolicy.api`.

Exit codes: 0 success; 1 findings or differences (``fmt --check``); 2 invalid input or usage.
Diagnostics go to stderr, results to stdout. No command writes a partial output file.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import sys

import click

from . import __version__, api
from .diagnostics import Diagnostic, SourceMap, render_all
from .errors import InvalidPolicy, ZonePolicyError

EXIT_OK, EXIT_FINDINGS, EXIT_INVALID, EXIT_INTERNAL = 0, 1, 2, 70


def _print_diags(diags: tuple[Diagnostic, ...], sources: SourceMap | None, fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps({"diagnostics": [d.to_dict() for d in diags]}, ensure_ascii=False, indent=2))
    else:
        click.echo(render_all(diags, sources), err=True)


def guarded(fn):
    """Turn the library's errors into messages and exit codes; never show a traceback to users."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        fmt = kwargs.get("output_format") or "text"
        try:
            return fn(*args, **kwargs)
        except InvalidPolicy as err:
            _print_diags(err.diagnostics, err.sources, fmt if fmt == "json" else "text")
            sys.exit(EXIT_INVALID)
        except ZonePolicyError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(EXIT_INVALID)
        except (click.exceptions.Exit, click.ClickException, SystemExit, KeyboardInterrupt):
            raise
        except Exception as err:  # noqa: BLE001 - the last line of defence against tracebacks
            if os.environ.get("ZONEPOLICY_DEBUG"):
                raise
            click.echo(f"internal error: {type(err).__name__}: {err}\n"
                       "this is a bug in zonepolicy; rerun with ZONEPOLICY_DEBUG=1 for details", err=True)
            sys.exit(EXIT_INTERNAL)

    return wrapper


policy_arg = click.argument("policy", type=click.Path(dir_okay=False))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="zonepolicy")
def main() -> None:
    """zonepolicy — security zoning policy as code for e-government extranets.

    \b
    Examples:
      zonepolicy check examples/jiangsu/main.zp
      zonepolicy show matrix examples/quickstart/policy.zp
      zonepolicy fmt --check examples/
      zonepolicy export --format yaml examples/quickstart/policy.zp -o policy.yaml
      zonepolicy verify --format sarif -o zonepolicy.sarif examples/jiangsu/main.zp
      zonepolicy query examples/quickstart/policy.zp --from mgmt --to public --service ssh
      zonepolicy diff old/main.zp policy/main.zp

    Shell completion (bash): eval "$(zonepolicy completion bash)"
    """


@main.command()
@policy_arg
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text",
              help="text diagnostics on stderr, or JSON on stdout")
@guarded
def check(policy: str, output_format: str) -> None:
    """Parse and resolve POLICY; report every problem with file:line:col.

    \b
    Exit 0 when the policy is valid, 2 when it is not.
    Example: zonepolicy check examples/quickstart/policy.zp
    """
    loaded = api.load(policy)
    p = loaded.policy
    if loaded.warnings:
        _print_diags(loaded.warnings, loaded.sources, output_format)
    summary = (f"{policy}: ok — {len(p.zones)} zones, {len(p.flows)} flows, {len(p.firewalls)} firewalls, "
               f"{len(p.files)} files")
    if output_format == "json":
        if not loaded.warnings:
            click.echo(json.dumps({"diagnostics": [], "policy": p.name, "zones": len(p.zones),
                                   "flows": len(p.flows), "firewalls": len(p.firewalls)}, ensure_ascii=False))
    else:
        click.echo(summary)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--check", "check_only", is_flag=True, help="change nothing; exit 1 if a file would be reformatted")
@click.option("--diff", "show_diff", is_flag=True, help="print a unified diff instead of rewriting files")
@guarded
def fmt(paths: tuple[str, ...], check_only: bool, show_diff: bool) -> None:
    """Rewrite .zp files in the canonical layout, keeping comments.

    \b
    PATHS are files or directories (searched for *.zp).
    Example: zonepolicy fmt --check --diff examples/
    """
    import difflib

    from .dsl.formatter import format_file

    files: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            for root, _, names in sorted(os.walk(path)):
                files += sorted(os.path.join(root, n) for n in names if n.endswith(".zp"))
        else:
            files.append(path)
    changed = 0
    for path in files:
        # newline="": a file with \r\n line ends is not in the canonical layout, so it must differ.
        try:
            with open(path, encoding="utf-8", newline="") as fh:
                before = fh.read()
        except UnicodeDecodeError as err:
            raise InvalidPolicy([Diagnostic("ZP104", f"{path} is not UTF-8 text ({err.reason} at byte {err.start})",
                                            hint="save the file as UTF-8")]) from None
        after = format_file(before, path)
        if after == before:
            continue
        changed += 1
        if show_diff:
            click.echo("".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True),
                                                    f"{path}", f"{path} (formatted)")), nl=False)
        elif check_only:
            click.echo(f"would reformat {path}", err=True)
        else:
            api.write_atomically(path, after)
            click.echo(f"reformatted {path}", err=True)
    if (check_only or show_diff) and changed:
        sys.exit(EXIT_FINDINGS)


@main.command()
@click.argument("what", type=click.Choice(["zones", "flows", "matrix"]))
@policy_arg
@click.option("--format", "output_format", type=click.Choice(["text", "csv"]), default="text")
@click.option("--pairs", is_flag=True, help="matrix: one line per zone pair instead of a grid")
@guarded
def show(what: str, policy: str, output_format: str, pairs: bool) -> None:
    """Show the zones, the flows, or the zone × zone matrix of allowed services.

    \b
    In the matrix, 'all' means every packet, '-' nothing, and '*' that the services are allowed
    only for some addresses of the zones.
    Example: zonepolicy show matrix examples/quickstart/policy.zp
    """
    from .report import tables, views

    p = api.load(policy).policy
    if what == "zones":
        header, rows = views.zone_rows(p)
    elif what == "flows":
        header, rows = views.flow_rows(p)
    else:
        header, rows = (views.matrix_pairs if pairs else views.matrix_rows)(p)
    render = tables.render_csv if output_format == "csv" else tables.render_table
    click.echo(render(header, rows), nl=False)


@main.command()
@policy_arg
# "export_format", not "output_format": the export's format is not the diagnostics' (guarded reads that)
@click.option("--format", "export_format", type=click.Choice(["json", "yaml"]), default="json")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="write to this file instead of stdout")
@guarded
def export(policy: str, export_format: str, output: str | None) -> None:
    """Export the resolved policy as JSON or YAML (loadable again by every command).

    Example: zonepolicy export --format yaml examples/quickstart/policy.zp -o policy.yaml
    """
    from .model.serialize import dump_json, dump_yaml

    p = api.load(policy).policy
    text = dump_json(p) if export_format == "json" else dump_yaml(p)
    if output:
        api.write_atomically(output, text)
    else:
        click.echo(text, nl=False)


def _parse_date(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a date; write YYYY-MM-DD") from None


def _emit(text: str, output: str | None) -> None:
    """The whole document to ``output`` (atomically) or to stdout."""
    if output:
        api.write_atomically(output, text)
    else:
        click.echo(text, nl=False)


@main.command()
@policy_arg
@click.option("--pack", "packs", multiple=True, metavar="NAME|FILE",
              help="rule pack to run (repeatable; default: the packs the policy header names)")
@click.option("--select", multiple=True, metavar="CODE", help="run only these rules (code or prefix, e.g. BND)")
@click.option("--ignore", multiple=True, metavar="CODE", help="skip these rules (code or prefix)")
@click.option("--fail-on", type=click.Choice(["error", "warning", "note"]), default="error", show_default=True,
              help="exit 1 when an active finding is at or above this level")
@click.option("--format", "output_format", type=click.Choice(["text", "json", "sarif", "junit", "gitlab"]),
              default="text", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="write to this file instead of stdout")
@click.option("--today", callback=_parse_date, metavar="YYYY-MM-DD",
              help="the date waivers are judged against (default: today)")
@click.option("--no-anomalies", is_flag=True, help="skip the rule-anomaly analysis (shadowing, redundancy, …)")
@guarded
def verify(policy: str, packs: tuple[str, ...], select: tuple[str, ...], ignore: tuple[str, ...], fail_on: str,
           output_format: str, output: str | None, today: dt.date | None, no_anomalies: bool) -> None:
    """Check POLICY against the rule packs and for rule anomalies; report findings with witness packets.

    \b
    Exit 0 when no active (unwaived) finding is at or above --fail-on, 1 when one is, 2 for
    invalid input. The summary line goes to stdout (text) or stderr (other formats).
    Examples:
      zonepolicy verify examples/quickstart/policy.zp
      zonepolicy verify --format sarif -o zonepolicy.sarif policy/main.zp
      zonepolicy verify --select BND --fail-on warning policy/main.zp
    """
    from .verify.engine import default_packs, verify as run_verify
    from .verify.findings import Level
    from .verify.output import OutputOptions, anomaly_rules, render
    from .verify.packs import load_pack

    loaded = api.load(policy)
    if loaded.warnings:
        _print_diags(loaded.warnings, loaded.sources, "text")
    chosen = [load_pack(ref) for ref in packs] if packs else default_packs(loaded.policy)
    report = run_verify(loaded.policy, chosen, select=select, ignore=ignore, today=today,
                        anomalies=not no_anomalies)
    threshold = Level.parse(fail_on)
    options = OutputOptions(policy=loaded.policy, sources=loaded.sources, policy_file=policy, fail_on=threshold,
                            extra_rules=() if no_anomalies else anomaly_rules(select, ignore))
    _emit(render(report, output_format, options), output)
    if output_format != "text" or output:
        click.echo(report.summary(), err=True)
    if report.fails(threshold):
        sys.exit(EXIT_FINDINGS)


@main.command()
@policy_arg
@click.option("--from", "source", metavar="A", help="zone, address object, address or prefix")
@click.option("--to", "destination", metavar="B", help="zone, address object, address or prefix")
@click.option("--service", "services", multiple=True, metavar="SERVICE",
              help="narrow to these services: names (ssh) or literals (tcp/22); repeatable or comma-separated")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@guarded
def query(policy: str, source: str | None, destination: str | None, services: tuple[str, ...],
          output_format: str) -> None:
    """Ask the policy's meaning: may A reach B, or what can reach (or be reached from) a zone.

    \b
    With --from and --to: the verdict (all / some / none of the packets allowed), a witness packet
    for the allowed and the denied part, and the flows that decide them with their source lines.
    With only --to X (or only --from X), X a zone: what every zone may send to X (receive from X).
    Exact, never sampled. Exit 0 when answered, 2 for invalid input.
    Examples:
      zonepolicy query examples/quickstart/policy.zp --from mgmt --to public --service ssh
      zonepolicy query examples/quickstart/policy.zp --to internet-access
    """
    from .verify import query as q

    if source is None and destination is None:
        raise click.UsageError("give --from, --to, or both")
    p = api.load(policy).policy
    if source is not None and destination is not None:
        answer = q.reach(p, source, destination, services)
        click.echo(q.to_json(answer) if output_format == "json" else q.render_answer_text(answer), nl=False)
        return
    zone, direction = (destination, "to") if destination is not None else (source, "from")
    found = q.reachability(p, zone, direction, services)
    click.echo(q.to_json(found) if output_format == "json" else q.render_reachability_text(found), nl=False)


@main.command()
@click.argument("old", type=click.Path(dir_okay=False))
@click.argument("new", type=click.Path(dir_okay=False))
@click.option("--format", "output_format", type=click.Choice(["text", "json", "markdown"]), default="text",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="write to this file instead of stdout")
@guarded
def diff(old: str, new: str, output_format: str, output: str | None) -> None:
    """Show what changes in the traffic allowed from policy OLD to policy NEW.

    \b
    Per zone pair: newly allowed packets (+) and newly denied packets (-), as address/port boxes,
    with an example packet and the flows responsible. Exact, computed over all packets.
    Exit 0 when both allow the same packets, 1 when they differ (like git diff --exit-code),
    2 for invalid input.
    Example: zonepolicy diff --format markdown main-old.zp policy/main.zp
    """
    from .verify.diff import RENDERERS, diff_policies

    old_policy = api.load(old).policy
    new_policy = api.load(new).policy
    result = diff_policies(old_policy, new_policy, old_label=old, new_label=new)
    _emit(RENDERERS[output_format](result), output)
    if output:
        click.echo(result.summary(), err=True)
    if result.changed:
        sys.exit(EXIT_FINDINGS)


@main.command("compile")
@policy_arg
@click.option("-t", "--target", help="compile every firewall with this target (e.g. nftables)")
@click.option("-f", "--firewall", "firewalls", multiple=True, metavar="NAME",
              help="compile this firewall (repeatable); --target is then optional")
@click.option("-o", "--output-dir", required=True, type=click.Path(file_okay=False),
              help="directory to write the configurations into (created if missing)")
@click.option("--check", "check_output", is_flag=True,
              help="read every written file back and prove it means exactly the policy")
@guarded
def compile_(policy: str, target: str | None, firewalls: tuple[str, ...], output_dir: str,
             check_output: bool) -> None:
    """Compile POLICY into firewall configurations, one set of files per firewall.

    \b
    Every file is rendered before any is written, and each is written atomically.
    Exit 0 on success; 1 when --check finds a file that does not mean the policy (the
    interface pair and a witness packet are printed); 2 for invalid input, a flow the
    target cannot express, or a target without a back end.
    Examples:
      zonepolicy compile examples/quickstart/policy.zp --target nftables -o out/ --check
      zonepolicy compile examples/jiangsu/main.zp --firewall cloud-fw -o out/
    """
    from .compile import check_outputs, compile_policy, write_outputs

    loaded = api.load(policy)
    if loaded.warnings:
        _print_diags(loaded.warnings, loaded.sources, "text")
    results = compile_policy(loaded.policy, target, firewalls)
    diags = tuple(d for r in results for d in r.diagnostics)
    if any(not r.ok for r in results):
        raise InvalidPolicy(diags, loaded.sources)
    if diags:
        _print_diags(diags, loaded.sources, "text")
    for path, fw in zip(write_outputs(output_dir, results), [r.firewall for r in results for _ in r.outputs]):
        click.echo(f"{fw.name} ({fw.target}): wrote {path}")
    if not check_output:
        return
    failed = False
    for checked in check_outputs(loaded.policy, results, output_dir):
        name = f"{checked.firewall.name} ({checked.firewall.target})"
        if checked.ok:
            click.echo(f"{name}: proved — the files mean exactly the policy for this firewall")
            continue
        failed = True
        if checked.error:
            click.echo(f"{name}: {checked.error}", err=True)
        for m in checked.mismatches:
            click.echo(f"{name}: the files do not mean the policy on\n{m.describe()}", err=True)
    if failed:
        sys.exit(EXIT_FINDINGS)


@main.command()
@click.option("--format", "output_format", type=click.Choice(["text", "markdown"]), default="text")
@guarded
def rules(output_format: str) -> None:
    """List the verifier's rules (built-in packs), or print the Markdown catalogue.

    Example: zonepolicy rules --format markdown > docs/verifier.md
    """
    from .verify import catalogue

    click.echo(catalogue.render_markdown() if output_format == "markdown" else catalogue.render_text(), nl=False)


@main.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script: eval "$(zonepolicy completion bash)"."""
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    click.echo(cls(main, {}, "zonepolicy", "_ZONEPOLICY_COMPLETE").source())


# Command groups that live in their own modules.
from .probe.commands import audit as _audit_group, lab as _lab_group, probe as _probe_group  # noqa: E402

main.add_command(_probe_group)
main.add_command(_lab_group)
main.add_command(_audit_group)


from .report.commands import graph as _graph_cmd, report as _report_cmd  # noqa: E402

main.add_command(_report_cmd)
main.add_command(_graph_cmd)


if __name__ == "__main__":  # pragma: no cover
    main()
