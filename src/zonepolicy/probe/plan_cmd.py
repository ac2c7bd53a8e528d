"""``probe plan``, ``probe simulate`` and ``audit pcap``: the commands over plan.py, simulate.py, audit.py."""

from __future__ import annotations

import sys

import click

from .commands import audit, probe


def _cli():
    # cli imports this package's commands at its bottom; import it lazily to keep the cycle harmless
    from .. import cli

    return cli


def _guarded(fn):
    import functools

    @functools.wraps(fn)
    def run(*args, **kwargs):
        return _cli().guarded(fn)(*args, **kwargs)

    return run


@probe.command("plan")
@click.argument("policy", type=click.Path(dir_okay=False))
@click.option("--firewall", metavar="NAME", help="plan only packets that cross this firewall (records iif/oif)")
@click.option("--budget", type=int, metavar="N",
              help="at most N probes: first one per allowed flow and zone pair, then boundaries, then near misses")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="write the suite here instead of stdout")
@_guarded
def plan_command(policy: str, firewall: str | None, budget: int | None, output: str | None) -> None:
    """Derive a probe suite (YAML) from POLICY, with the verdict the policy gives every probe.

    The coverage summary (flows and zone pairs covered, flows that cannot be probed and why) goes to
    stderr and into the suite.

    \b
    Examples:
      zonepolicy probe plan examples/quickstart/policy.zp --firewall edge -o suite.yaml
      zonepolicy probe plan examples/jiangsu/main.zp --firewall js-core --budget 500
    """
    from .. import api
    from ..errors import UsageError
    from .plan import coverage_text, plan_suite
    from .suite import dump_suite

    if budget is not None and budget < 1:
        raise UsageError(f"--budget must be at least 1, got {budget}")
    pol = api.load_policy(policy)
    suite = plan_suite(pol, firewall, budget)
    text = dump_suite(suite)
    if output:
        api.write_atomically(output, text)
    else:
        click.echo(text, nl=False)
    click.echo(coverage_text(suite), err=True)
