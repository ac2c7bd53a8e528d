"""The check library: small pure functions that rule packs refer to by name.

A check receives the :class:`Context` (the policy and its one meaning) and the :class:`Rule` that
invokes it (levels, parameters, severity), and yields findings. Checks ask the meaning for exact
packet sets and never decide a packet themselves; every finding about traffic carries a witness
packet drawn from the offending set and the whole set rendered for humans.

To add a check: write ``@check("name")`` on a function in one of this package's modules, document
it with *anti-pattern* / *best practice* in its docstring (the rule catalogue in docs/verifier.md
shows it), and refer to it from a pack in ``policy/``.
"""

from __future__ import annotations

import datetime as dt
from typing import Callable, Iterable, Iterator

from ...diagnostics import Span
from ...model.policy import Flow, Policy, Zone
from ...model.values import Action, ZoneKind
from ...semantics.meaning import Meaning
from ...semantics.packetset import PacketSet
from ..findings import Finding
from ..packs import Rule

CheckFn = Callable[["Context", Rule], Iterable[Finding]]
CHECKS: dict[str, CheckFn] = {}


def check(name: str) -> Callable[[CheckFn], CheckFn]:
    """Register a check under ``name`` (the ``check:`` key of a rule)."""

    def register(fn: CheckFn) -> CheckFn:
        if name in CHECKS:
            raise ValueError(f"check {name} registered twice")
        CHECKS[name] = fn
        return fn

    return register


class Context:
    """What checks may look at: the policy, its meaning, today's date, and set helpers."""

    def __init__(self, policy: Policy, meaning: Meaning | None = None, today: dt.date | None = None) -> None:
        self.policy = policy
        self.meaning = meaning or Meaning(policy)
        self.today = today or dt.date.today()
        self.zones = {z.name: z for z in policy.zones}
        self._cache: dict = {}

    # ---- zones
    def zones_where(self, pred: Callable[[Zone], bool]) -> tuple[str, ...]:
        return tuple(z.name for z in self.policy.zones if pred(z))

    def of_kind(self, *kinds: ZoneKind) -> tuple[str, ...]:
        return self.zones_where(lambda z: z.kind in kinds)

    def src(self, zones: Iterable[str]) -> PacketSet:
        return self.meaning.zones_addresses(zones, "src")

    def dst(self, zones: Iterable[str]) -> PacketSet:
        return self.meaning.zones_addresses(zones, "dst")

    # ---- traffic
    @property
    def allowed(self) -> PacketSet:
        return self.meaning.allowed()

    def allow_flows(self) -> tuple[Flow, ...]:
        found = self._cache.get("allow-flows")
        if found is None:
            found = self._cache["allow-flows"] = tuple(f for f in self.policy.flows if f.action is Action.ALLOW)
        return found

    def flows_into(self, packets: PacketSet, action: Action = Action.ALLOW) -> tuple[Flow, ...]:
        """The flows of ``action`` whose matched packets meet ``packets`` (who is responsible)."""
        return tuple(f for f, _ in self.meaning.flows_meeting(
            (f for f in self.policy.flows if f.action is action), packets))

    def enforced_anywhere(self) -> PacketSet:
        """Packets that cross at least one declared firewall."""
        found = self._cache.get("enforced")
        if found is None:
            found = PacketSet.empty()
            for fw in self.policy.firewalls:
                found = found | self.meaning.firewall_scope(fw)
            self._cache["enforced"] = found
        return found

    # ---- findings
    def render(self, packets: PacketSet, product: tuple[PacketSet, PacketSet, PacketSet] | None = None):
        """Witness, every box and the box count of a set; cached, because several rules often report
        the same flow's packets and rendering boxes is the costly part of a finding. The whole set is
        rendered (the decomposition is computed whole anyway; printing is the cheap part): a reader
        sees its full extent, the text output shortens it."""
        key = ("render", packets)
        found = self._cache.get(key)
        if found is None:
            # most findings are about a whole flow: its boxes come from its parts' boxes
            parts = product or self.meaning.product_of(packets)
            boxes = (parts and PacketSet.product_boxes(*parts)) or packets.boxes()
            witness = (parts and PacketSet.product_pick(*parts)) or packets.pick()
            found = self._cache[key] = (witness, tuple(str(b) for b in boxes), len(boxes))
        return found

    def finding(self, rule: Rule, message: str, *, span: Span | None = None, packets: PacketSet | None = None,
                flows: Iterable[Flow] = (), zones: Iterable[str] = (), hint: str | None = None,
                related: tuple[tuple[str, Span], ...] = (),
                product: tuple[PacketSet, PacketSet, PacketSet] | None = None) -> Finding:
        """A finding of ``rule``; with ``packets``, a witness and the rendered set are attached.

        ``product``: (destinations, sources, services) whose intersection is ``packets``, when the
        caller knows it (see :meth:`PacketSet.product_boxes`)."""
        flows = tuple(flows)
        witness = None
        affected: tuple[str, ...] = ()
        total = 0
        if packets is not None and not packets.is_empty():
            witness, affected, total = self.render(packets, product)
        if span is None and flows:
            span = flows[0].span
        return Finding(
            rule=rule.code, level=rule.severity, message=message, span=span,
            flows=tuple(sorted({f.id for f in flows})), zones=tuple(sorted(set(zones))), witness=witness,
            affected=affected, affected_total=total, related=related, hint=hint or rule.hint,
        )


def _load_modules() -> None:
    # Importing registers the checks; the modules are listed here so the registry is complete
    # whenever this package is imported.
    from . import architecture, boundary, extranet, grading  # noqa: F401


def iter_checks() -> Iterator[tuple[str, CheckFn]]:
    return iter(sorted(CHECKS.items()))


_load_modules()
