"""``probe plan``, ``probe simulate`` and ``audit pcap``: the commands over plan.py, simulate.py, audit.py."""

from __future__ import annotations

import sys

import click

# cli imports the command modules at its bottom, after guarded is defined (as lab_cmd does)
from ..cli import _emit, guarded
from .commands import audit, probe


@probe.command("plan")
@click.argument("policy", type=click.Path(dir_okay=False))
@click.option("--firewall", metavar="NAME", help="plan only packets that cross this firewall (records iif/oif)")
@click.option("--budget", type=int, metavar="N",
              help="at most N probes: first one per allowed flow, zone pair and zone with intrazone decisions, "
                   "then boundaries, then near misses")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="write the suite here instead of stdout")
@guarded
def plan_command(policy: str, firewall: str | None, budget: int | None, output: str | None) -> None:
    """Derive a probe suite (YAML) from POLICY, with the verdict the policy gives every probe.

    The coverage summary (flows, zone pairs and zones with intrazone decisions covered, flows that
    cannot be probed and why) goes to stderr and into the suite. Packets within one zone are planned
    when the policy decides them (intrazone deny, or flows inside the zone); they never cross one
    firewall, so with --firewall they are only noted.

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
    _emit(text, output)
    click.echo(coverage_text(suite), err=True)


@probe.command("simulate")
@click.argument("suite", type=click.Path(dir_okay=False))
@click.option("--rules", "rules", multiple=True, required=True, type=click.Path(dir_okay=False),
              help="the ruleset: an .nft file or `nft list ruleset` output; iptables-restore files or "
                   "iptables-save output (repeat for the IPv4 and IPv6 files)")
@click.option("--format", "rules_format", type=click.Choice(["nftables", "iptables"]),
              help="the ruleset's format (default: recognised from the text)")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="write the JSONL results here instead of stdout")
@guarded
def simulate_command(suite: str, rules: tuple[str, ...], rules_format: str | None, output: str | None) -> None:
    """Evaluate SUITE against a ruleset without a kernel; exit 1 when any probe fails.

    Each probe is judged as a connection-opening packet on its iif/oif; for allowed stateful probes
    the reply must come back as an established packet.

    \b
    Examples:
      zonepolicy probe simulate suite.yaml --rules out/edge.nft
      zonepolicy probe simulate suite.yaml --rules fw.iptables --rules fw.ip6tables -o results.jsonl
      nft list ruleset > live.nft && zonepolicy probe simulate suite.yaml --rules live.nft
    """
    from ..errors import UsageError
    from .results import summary, write_jsonl
    from .simulate import load_ruleset, simulate
    from .suite import SuiteError, load_suite

    try:
        s = load_suite(suite)
    except SuiteError as err:
        raise UsageError(str(err)) from None
    ruleset = load_ruleset(rules, rules_format, s.firewall)
    results = simulate(s, ruleset)
    text = write_jsonl(results)
    _emit(text, output)
    by_id = s.by_id()
    for r in results:
        if r.result == "fail":
            why = "reply dropped or untracked" if r.reason == "no-reply" else f"simulated {r.observed}"
            click.echo(f"FAIL {r.probe} {r.five_tuple} ({r.src_zone} -> {r.dst_zone} via "
                       f"{by_id[r.probe].iif} -> {by_id[r.probe].oif}): expected {r.expected}, {why}"
                       + (f"; rule: {r.matched_rule}" if r.matched_rule else ""), err=True)
    skipped = [r for r in results if r.result == "inconclusive"]
    if skipped:
        click.echo(f"note: {len(skipped)} probe(s) not simulated: {skipped[0].matched_rule}", err=True)
    click.echo(summary(results), err=True)
    if any(r.result == "fail" for r in results):
        sys.exit(1)


@audit.command("pcap")
@click.argument("capture", type=click.Path(dir_okay=False))
@click.argument("policy", type=click.Path(dir_okay=False))
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@guarded
def audit_pcap_command(capture: str, policy: str, output_format: str) -> None:
    """List the packets of CAPTURE (pcap) that POLICY does not allow; exit 1 if there are any.

    Openers (TCP SYN, UDP, ICMP echo request, other protocols) are judged by the policy; replies
    and continuations are fine only when an allowed stateful packet opened their connection
    earlier in the capture.

    \b
    Examples:
      zonepolicy audit pcap edge-eth1.pcap examples/quickstart/policy.zp
      zonepolicy audit pcap capture.pcap policy.zp --format json
    """
    from .. import api
    from ..semantics.meaning import Meaning
    from .audit import audit_capture, render_json, render_text

    meaning = Meaning(api.load_policy(policy))
    result = audit_capture(capture, meaning)
    click.echo(render_json(result) if output_format == "json" else render_text(result), nl=False)
    if result.findings:
        sys.exit(1)
