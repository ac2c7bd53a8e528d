"""Firewall back ends of zonepolicy, installed as ``zonepolicy.compilers``.

One module per target; each registers itself in ``base.REGISTRY`` through ``base.register``. The
language accepts exactly the targets named in :data:`TARGETS`; a target listed there whose back end
is not yet written is refused by ``compile`` with a clear message (never silently skipped).
The contract a back end follows is in ``base.py`` and docs/compilers.md.
"""

from __future__ import annotations

import importlib
import pkgutil

TARGETS: tuple[str, ...] = (
    "nftables",
    "iptables",
    "cisco-ios",
    "cisco-asa",
    "juniper-srx",
    "huawei-usg",
    "h3c",
)


def load_backends() -> None:
    """Import every back-end module of this package so each registers itself."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name not in ("base",) and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
