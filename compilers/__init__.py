"""Firewall back ends of zonepolicy, installed as ``zonepolicy.compilers``.

One module per target; each registers itself in :data:`REGISTRY` through :func:`register`. The
language accepts exactly the targets named in :data:`TARGETS`; a target listed there whose back end
is not yet written is refused by ``compile`` with a clear message (never silently skipped).
"""

from __future__ import annotations

TARGETS: tuple[str, ...] = (
    "nftables",
    "iptables",
    "cisco-ios",
    "cisco-asa",
    "juniper-srx",
    "huawei-usg",
    "h3c",
)
