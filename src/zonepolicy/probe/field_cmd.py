"""``probe send``, ``probe listen`` and ``probe report``: the commands over field.py, listen.py, render.py."""

from __future__ import annotations

import sys

import click

# cli imports the command modules at its bottom, after guarded is defined (as lab_cmd does)
from ..cli import _emit, guarded
from .commands import probe


def _need_root(what: str) -> None:
    import os

    if os.geteuid() != 0:
        from ..errors import UsageError

        raise UsageError(f"{what} needs raw sockets: run as root (or with CAP_NET_RAW)")


@probe.command("send")
@click.argument("suite", type=click.Path(dir_okay=False))
@click.option("--policy", "policy_path", required=True, type=click.Path(dir_okay=False),
              help="the policy the suite was planned from (the safety interlock checks every destination)")
@click.option("--from", "from_zone", required=True, metavar="ZONE",
              help="the zone this host is in; its probes are sent")
@click.option("--to", "to_zones", multiple=True, metavar="ZONE", help="only probes to this zone (repeatable)")
@click.option("--rate", type=float, default=100.0, show_default=True, metavar="PPS",
              help="at most this many probes a second")
@click.option("--dry-run", is_flag=True, help="print what would be sent and send nothing")
@click.option("--site", metavar="LABEL", help="label for the results (default: the suite's firewall, else 'field')")
@click.option("--listener", metavar="HOST:PORT", help="control channel of `zonepolicy probe listen` on the far side")
@click.option("--iface", metavar="IF", help="send and capture replies on this interface only")
@click.option("--wait", type=float, default=1.0, show_default=True, metavar="S",
              help="how long to wait for replies after the last probe")
@click.option("--allow-internet", is_flag=True, help="also send to destinations in the catch-all (internet) zone")
@click.option("--spoof", is_flag=True, help="also send from source addresses this host does not own")
@click.option("--source", "sources", multiple=True, metavar="ADDR",
              help="send from this address of this host instead of the planned sources (one per IP family; "
                   "verdicts decided again by the policy)")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="write results (JSONL) here")
@guarded
def send_command(suite: str, policy_path: str, from_zone: str, to_zones: tuple[str, ...], rate: float, dry_run: bool,
                 site: str | None, listener: str | None, iface: str | None, wait: float, allow_internet: bool,
                 spoof: bool, sources: tuple[str, ...], output: str | None) -> None:
    """Send SUITE's probes from zone ZONE on this host, and judge them by arrival and reply.

    Verdicts: a probe the listener saw arrived (allow); with a listener, one it did not see and
    that got no reply from its destination did not (deny). Without a listener, only replies
    count (SYN-ACK, RST, echo reply, ICMP unreachable); probes without one are inconclusive.
    Nothing is sent unless every probe passes the safety interlock (exit 2 otherwise).

    \b
    Exit 0 when no probe failed, 1 when one did, 2 when refused or on bad input.
    Examples:
      zonepolicy probe listen -o arrivals.jsonl                    # on a host in the far zone
      zonepolicy probe send suite.yaml --policy policy.zp --from public --listener 10.20.0.5:47001 -o results.jsonl
      zonepolicy probe send suite.yaml --policy policy.zp --from public --dry-run
    """
    from .. import api
    from ..errors import UsageError
    from ..semantics.meaning import Meaning
    from . import field
    from .progress import Progress
    from .results import summary, write_jsonl
    from .suite import SuiteError, load_suite

    if not rate > 0:
        raise UsageError(f"--rate must be a positive number of probes a second, got {rate}")
    if wait < 0:
        raise UsageError(f"--wait must not be negative, got {wait}")
    try:
        s = load_suite(suite)
    except SuiteError as err:
        raise UsageError(str(err)) from None
    pol = api.load_policy(policy_path)
    zone_names = {z.name for z in pol.zones}
    for z in (from_zone, *to_zones):
        if z not in zone_names:
            from ..diagnostics import did_you_mean

            guess = did_you_mean(z, zone_names)
            raise UsageError(f"unknown zone '{z}'" + (f"; did you mean '{guess}'?" if guess else "")
                             + f" (the policy has: {', '.join(sorted(zone_names))})")
    chosen = field.select_probes(s, from_zone, to_zones)
    if len(chosen) > field.SPORT_SPAN:
        raise UsageError(f"{len(chosen)} probes in one run; at most {field.SPORT_SPAN} (split it with --to)")
    addr = field.parse_hostport(listener) if listener else None
    if iface:
        import socket

        try:
            socket.if_nametoindex(iface)
        except OSError:
            raise UsageError(f"--iface {iface}: no such interface on this host") from None
    meaning = Meaning(pol)
    if sources:
        chosen = field.rebase_sources(meaning, chosen, sources, from_zone)
    refusals = field.interlock(meaning, s, chosen, allow_internet=allow_internet, spoof=spoof)
    if refusals:
        shown = "\n  ".join(refusals[:20])
        more = f"\n  … and {len(refusals) - 20} more" if len(refusals) > 20 else ""
        raise UsageError(f"refused, nothing sent: {len(refusals)} problem(s) with {len(chosen)} probe(s):\n"
                         f"  {shown}{more}")
    opts = field.FieldOptions(site=site, rate=rate, iface=iface, listener=addr, wait=wait)
    sent = field.prepare(chosen, opts.nonce)
    if dry_run:
        for x in sent:
            click.echo(f"{x.probe.id}  {x.probe.five_tuple()}  expect {x.probe.expected.value}  "
                       f"{x.probe.src_zone} -> {x.probe.dst_zone}  payload {x.tag!r}")
        click.echo(f"dry run: {len(sent)} probes would be sent at up to {rate:g}/s; nothing was sent", err=True)
        if output:
            api.write_atomically(output, write_jsonl(field.results_for(
                sent, {}, None, site=site, policy_hash_value=s.policy_hash, dry_run=True)))
        return
    _need_root("probe send")
    if addr is not None:
        try:
            hello = field.ask_listener(addr, "HELLO")
        except (OSError, UnicodeDecodeError) as err:
            raise UsageError(f"listener {listener} not reachable ({err.strerror or err}); nothing sent; "
                             f"hint: start `zonepolicy probe listen` on the far side first") from None
        if not hello.startswith("ZP1 listener"):
            raise UsageError(f"{listener} does not answer like `zonepolicy probe listen`; nothing sent")
    try:
        with Progress(len(sent), "sending") as bar:
            replies, done, elapsed = field.run(sent, opts, progress=bar)
    except OSError as err:
        # e.g. no CAP_NET_RAW in a container, an interface going down mid-run
        raise UsageError(f"sending failed: {err.strerror or err}; no results written") from None
    arrivals = None
    if addr is not None:
        try:
            arrivals = field.fetch_arrivals(addr, opts.nonce)
        except (OSError, ValueError, KeyError, TypeError) as err:
            click.echo(f"warning: listener {listener} did not give the arrivals ({err}); "
                       f"verdicts from replies only", err=True)
    results = field.results_for(done, replies, arrivals, site=site, policy_hash_value=s.policy_hash)
    if output:
        api.write_atomically(output, write_jsonl(results))
    # the run id is the nonce in every tag: it finds this run in a listener's arrivals file
    click.echo(f"run {opts.nonce}: sent {len(done)} probes in {elapsed:.2f} s "
               f"({len(done) / elapsed if elapsed else 0:.0f}/s); "
               f"{'arrivals from the listener' if arrivals is not None else 'no listener: verdicts from replies only'}",
               err=True)
    click.echo(summary(results))
    if any(r.result == "fail" for r in results):
        sys.exit(1)


@probe.command("listen")
@click.option("--port", type=click.IntRange(0, 65535), default=47001, show_default=True,
              help="TCP port of the control channel the sender asks for arrivals (0: none)")
@click.option("--iface", "ifaces", multiple=True, metavar="IF", help="capture on this interface only (repeatable)")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="write the arrivals (JSONL) here on exit")
@click.option("--timeout", type=float, metavar="S", help="stop after S seconds (default: at Ctrl-C or SIGTERM)")
@guarded
def listen_command(port: int, ifaces: tuple[str, ...], output: str | None, timeout: float | None) -> None:
    """Capture tagged probes arriving at this host, and serve the arrivals to `probe send`.

    Run it on a host in the destination zone (or one that sees its traffic). Arrivals are kept in
    memory, served over the control channel, and written to -o when the listener stops.

    \b
    Example: zonepolicy probe listen --timeout 600 -o arrivals.jsonl
    """
    import socket

    from .. import api
    from ..errors import UsageError
    from .listen import listen

    if timeout is not None and timeout <= 0:
        raise UsageError(f"--timeout must be positive, got {timeout}")
    for name in ifaces:
        try:
            socket.if_nametoindex(name)
        except OSError:
            raise UsageError(f"--iface {name}: no such interface on this host") from None
    _need_root("probe listen")

    def ready(msg: str) -> None:
        click.echo(msg, err=True)
        sys.stderr.flush()

    try:
        arrivals = listen(ifaces=ifaces, port=port or None, timeout=timeout, ready=ready)
    except OSError as err:
        raise UsageError(f"cannot listen: {err.strerror or err}" + (f" (is TCP port {port} in use?)" if port else "")) \
            from None
    if output:
        api.write_atomically(output, arrivals.jsonl())
    runs = len({n for n, _ in arrivals.records})
    click.echo(f"{len(arrivals.records)} probe arrivals from {runs} run(s)", err=True)


@probe.command("confirm")
@click.argument("suite", type=click.Path(dir_okay=False))
@click.argument("results_file", metavar="RESULTS.jsonl", type=click.Path(dir_okay=False))
@click.argument("arrivals_file", metavar="ARRIVALS.jsonl", type=click.Path(dir_okay=False))
@click.option("--run", "run_id", metavar="ID",
              help="the run id `probe send` printed (needed when the file holds several)")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="write the judged results here instead of stdout")
@guarded
def confirm_command(suite: str, results_file: str, arrivals_file: str, run_id: str | None, output: str | None) -> None:
    """Judge a run sent without --listener again, with the arrivals file the listener kept (-o).

    For sites where the listener's control channel cannot be reached: run `probe listen --port 0
    -o arrivals.jsonl`, send without --listener, then bring the two files together.

    \b
    Exit 0 when no probe failed, 1 when one did, 2 on bad input.
    Example: zonepolicy probe confirm suite.yaml results.jsonl arrivals.jsonl --run 5f0c9a2e -o judged.jsonl
    """
    import json

    from ..errors import UsageError
    from . import field
    from .results import read_results_file, summary, write_jsonl
    from .suite import SuiteError, load_suite

    try:
        s = load_suite(suite)
    except (SuiteError, ValueError, TypeError) as err:
        raise UsageError(str(err)) from None
    results = read_results_file(results_file)
    try:
        with open(arrivals_file, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError as err:
        raise UsageError(f"{arrivals_file}: cannot read: {err.strerror}") from None
    except UnicodeDecodeError as err:
        raise UsageError(f"{arrivals_file}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    records = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as err:
            raise UsageError(f"{arrivals_file}:{n}:{err.colno}: not JSON: {err.msg}") from None
        if not isinstance(rec, dict) or not isinstance(rec.get("nonce"), str) or not isinstance(rec.get("probe"), str):
            raise UsageError(f"{arrivals_file}:{n}: not an arrival record (expected the JSONL of `probe listen -o`)")
        records.append(rec)
    runs = sorted({r["nonce"] for r in records})
    if run_id is None:
        if len(runs) > 1:
            raise UsageError(f"{arrivals_file} holds {len(runs)} runs ({', '.join(runs)}); "
                             f"hint: pass --run with the id `probe send` printed")
        run_id = runs[0] if runs else ""
    arrivals: dict[str, dict] = {}
    for rec in records:
        if rec["nonce"] == run_id:
            arrivals.setdefault(rec["probe"], rec)
    judged = field.confirm(results, s, arrivals)
    text = write_jsonl(judged)
    _emit(text, output)
    click.echo(summary(judged), err=True)
    if any(r.result == "fail" for r in judged):
        sys.exit(1)


@probe.command("report")
@click.argument("results_file", metavar="RESULTS.jsonl", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "junit", "csv", "html"]), default="text", show_default=True)
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False),
              help="show the zones' descriptions from this policy (HTML)")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="write the report here instead of stdout")
@guarded
def report_command(results_file: str, fmt: str, policy_path: str | None, output: str | None) -> None:
    """Turn probe results (from `probe send`, `lab run` or `probe simulate`) into a report.

    The summary line `N probes, P passed, F failed, I inconclusive` goes to stdout (text) or
    stderr (the other formats).

    \b
    Exit 0 when no probe failed, 1 when one did, 2 on bad input.
    Examples:
      zonepolicy probe report results.jsonl
      zonepolicy probe report results.jsonl --format junit -o probes.xml
      zonepolicy probe report results.jsonl --format html --policy policy.zp -o probes.html
    """
    from .. import api
    from ..errors import UsageError
    from .render import render
    from .results import REASONS, RESULTS, read_results_file, summary

    results = read_results_file(results_file)

    for n, r in enumerate(results, 1):
        if r.result not in RESULTS or r.reason not in REASONS or r.observed not in ("allow", "deny", None):
            raise UsageError(f"{results_file}:{n}: probe {r.probe!r}: result must be one of {', '.join(RESULTS)}, "
                             f"observed allow/deny/null and reason one of the known reasons")
    zones = None
    if policy_path:
        pol = api.load_policy(policy_path)
        zones = {z.name: z.description for z in pol.zones if z.description}
    out = render(results, fmt, zones=zones)
    _emit(out, output)
    if fmt != "text" or output:
        click.echo(summary(results), err=True)
    if any(r.result == "fail" for r in results):
        sys.exit(1)
