"""The zonepolicy command line: a thin layer over :mod:`zonepolicy.api`.

Exit codes: 0 success; 1 findings or differences (``fmt --check``); 2 invalid input or usage.
Diagnostics go to stderr, results to stdout. No command writes a partial output file.
"""

from __future__ import annotations

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
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script: eval "$(zonepolicy completion bash)"."""
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    click.echo(cls(main, {}, "zonepolicy", "_ZONEPOLICY_COMPLETE").source())


if __name__ == "__main__":  # pragma: no cover
    main()
