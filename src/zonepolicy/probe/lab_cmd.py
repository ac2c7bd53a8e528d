"""``zonepolicy lab up|run|down|status``: the namespace lab from the command line.

The lab's modules are imported inside the commands, so ``zonepolicy --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from typing import Iterator

import click

from ..cli import EXIT_FINDINGS, guarded
from .commands import lab


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """SIGTERM and SIGHUP unwind like Ctrl-C, so every ``finally`` (teardown, closing sockets) runs."""
    def stop(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt(f"signal {signum}")

    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@lab.command("up")
@click.argument("policy", type=click.Path(dir_okay=False))
@click.option("--firewall", "firewall", required=True, help="the firewall of the policy to build")
@click.option("--backend", type=click.Choice(["nftables", "iptables"]), required=True,
              help="the kernel firewall to load the compiled rules into")
@click.option("--name", "name", help="the lab's name (default: the firewall's name)")
@guarded
def up(policy: str, firewall: str, backend: str, name: str | None) -> None:
    """Build FIREWALL of POLICY in network namespaces and load its compiled rules.

    \b
    Example:
      zonepolicy lab up examples/quickstart/policy.zp --firewall edge --backend nftables
    """
    from .. import api
    from .lab import LabManager

    loaded = api.load(policy)
    with _interruptible():
        mgr = LabManager(loaded.policy, firewall, backend, name=name, policy_path=policy, persistent=True)
        with mgr:
            mgr.up()
    t = mgr.timings
    click.echo(f"lab {mgr.name} up: firewall {firewall} ({backend}), {len(mgr.topology.zones)} zone namespaces, "
               f"{len(mgr.topology.interfaces)} interfaces; built in {t['build'] * 1000:.0f} ms, rules loaded in "
               f"{t['load'] * 1000:.0f} ms, ready in {t['ready'] * 1000:.0f} ms")
    for theirs, ours in sorted(mgr.renamed.items()):
        click.echo(f"  interface {theirs} is device {ours} in the lab (Linux cannot carry its name)")


@lab.command("run")
@click.argument("suite", type=click.Path(dir_okay=False))
@click.option("--lab", "lab_name", help="the lab to run in (default: the only lab that is up)")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="write the results as JSONL here "
              "(default: JSONL on stdout, summary on stderr)")
@click.option("--explain", is_flag=True, help="trace each probe to the rule (and flow) that decided it")
@click.option("--settle", type=click.IntRange(1, 10000), default=50, show_default=True,
              help="milliseconds of quiet after the last packet before the run ends")
@guarded
def run(suite: str, lab_name: str | None, output: str | None, explain: bool, settle: int) -> None:
    """Send SUITE through a lab's firewall; exit 1 when any probe does not pass.

    \b
    Example:
      zonepolicy lab run suite.yaml -o results.jsonl --explain
    """
    from .. import api
    from .engine import run_suite, tty_progress
    from .lab import load_state, remove_stale
    from .results import summary, to_json_line, write_jsonl
    from .suite import SuiteError, load_suite

    try:
        s = load_suite(suite)
    except SuiteError as e:
        raise click.UsageError(str(e)) from None
    with _interruptible():
        remove_stale()
        state = load_state(lab_name)
        not_sent: dict[str, str] = {}
        results = run_suite(state, s, settle_ms=settle, explain=explain, progress=tty_progress(), not_sent=not_sent)
    out = sys.stderr if output is None else sys.stdout
    if output is not None:
        api.write_atomically(output, write_jsonl(results))
    else:
        for r in results:
            click.echo(to_json_line(r))
    bad = [r for r in results if r.result != "pass"]
    for r in bad[:50]:
        click.echo(f"{r.result.upper()} {r.probe} {r.src_zone} -> {r.dst_zone} {r.five_tuple}: expected {r.expected}, "
                   f"observed {r.observed or '-'} ({r.reason})"
                   + (f"; rule {r.matched_rule}" if r.matched_rule else "")
                   + (f": {not_sent[r.probe]}" if r.probe in not_sent else ""), file=out)
    if len(bad) > 50:
        click.echo(f"… and {len(bad) - 50} more", file=out)
    click.echo(f"lab {state['name']} ({state['backend']}): {summary(results)}", file=out)
    if bad:
        sys.exit(EXIT_FINDINGS)


@lab.command("down")
@click.option("--lab", "lab_name", help="the lab to take down (default: the only lab that is up)")
@click.option("--all", "all_", is_flag=True, help="take down every lab, and remove stale ones")
@guarded
def down(lab_name: str | None, all_: bool) -> None:
    """Remove a lab's namespaces and its record."""
    from .lab import LabError, list_states, load_state, remove_stale, teardown_state

    removed = remove_stale()
    if all_:
        states = list_states()
        for st in states:
            teardown_state(st)
        names = sorted({st["name"] for st in states} | set(removed))
        click.echo(f"removed {len(names)} lab(s)" + (f": {', '.join(names)}" if names else ""))
        return
    try:
        st = load_state(lab_name)
    except LabError:
        if lab_name is None and not list_states():
            click.echo(f"removed stale: {', '.join(removed)}" if removed else "no labs")
            return
        raise
    teardown_state(st)
    click.echo(f"lab {st['name']} down")


@lab.command("status")
@guarded
def status() -> None:
    """List the labs: name, firewall, back end, namespaces present, owner."""
    from .lab import Topology, existing_namespaces, list_states, owner_alive

    present = existing_namespaces()
    states = list_states()
    if not states:
        click.echo("no labs")
        return
    for st in states:
        topo = Topology.from_dict(st["topology"])
        have = sum(1 for n in topo.namespaces() if n in present)
        owner = st.get("owner")
        who = "persistent" if owner is None else f"owned by pid {owner['pid']}" + \
            ("" if owner_alive(owner) else " (gone: stale)")
        click.echo(f"{st['name']}: firewall {st['firewall']} ({st['backend']}), policy {st['policy']}, "
                   f"{have}/{len(topo.namespaces())} namespaces present, prefix {topo.prefix}, {who}, "
                   f"created {st['created']}")
