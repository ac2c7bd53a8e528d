"""Command groups for probes, the namespace lab and capture audits.

The subcommands live next to the code they drive (``plan_cmd``, ``lab_cmd``, ``field_cmd``, …) and
attach themselves to these groups when imported at the bottom of this module. Heavy imports
(scapy, the lab's socket engine) stay inside the command functions so ``zonepolicy --help``
stays fast.
"""

from __future__ import annotations

import click


@click.group()
def probe() -> None:
    """Probe suites: plan them from the policy, send them, listen for them, simulate and report them.

    \b
    Examples:
      zonepolicy probe plan examples/quickstart/policy.zp --firewall edge -o suite.yaml
      zonepolicy probe simulate suite.yaml --rules out/edge.nft
    """


@click.group()
def lab() -> None:
    """A sealed lab of network namespaces with a real kernel firewall (needs root).

    \b
    Examples:
      zonepolicy lab up examples/quickstart/policy.zp --firewall edge --backend nftables
      zonepolicy lab run suite.yaml -o results.jsonl
      zonepolicy lab down
    """


@click.group()
def audit() -> None:
    """Check recorded traffic against the policy."""


# Subcommand modules register themselves on the groups above; one import line each.
from . import plan_cmd  # noqa: E402,F401
from . import lab_cmd  # noqa: E402,F401
from . import field_cmd  # noqa: E402,F401
