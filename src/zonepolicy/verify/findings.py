"""The one record type of the verifier: a finding, with the packets that show it.

Every check, the anomaly analysis and the waiver logic produce :class:`Finding` values; every
output format (text, JSON, SARIF, JUnit, GitLab code quality) renders them unchanged.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
from dataclasses import dataclass, field
from typing import Any

from ..diagnostics import Span
from ..semantics.packet import Packet


class Level(enum.IntEnum):
    """Severity of a finding, ordered so that ``--fail-on`` can compare."""

    NOTE = 1
    WARNING = 2
    ERROR = 3

    @classmethod
    def parse(cls, text: str) -> "Level":
        return cls[text.upper()]

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True, kw_only=True)
class Suppression:
    """Why a finding is accepted: the waiver that covers it."""

    reason: str
    owner: str
    expires: dt.date | None
    ticket: str | None = None
    span: Span | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One problem found in a policy.

    ``witness`` is one concrete packet that shows the problem under the policy's meaning;
    ``affected`` renders the whole packet set concerned (prefixes and port ranges), so a reader sees
    the extent, not just one example. ``flows`` and ``zones`` name what is involved.
    """

    rule: str
    level: Level
    message: str
    span: Span | None = None
    flows: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()
    witness: Packet | None = None
    affected: tuple[str, ...] = ()
    affected_total: int = 0  # how many boxes the whole set has (the verifier lists them all)
    related: tuple[tuple[str, Span], ...] = ()
    hint: str | None = None
    suppression: Suppression | None = field(default=None)

    @property
    def suppressed(self) -> bool:
        return self.suppression is not None

    def fingerprint(self) -> str:
        """Stable across reformatting and reordering: rule, zones, flows and the affected set, not lines."""
        key = "|".join([self.rule, ",".join(self.zones), ",".join(self.flows), ";".join(self.affected),
                        self.message if not (self.zones or self.flows or self.affected) else ""])
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def sort_key(self) -> tuple:
        s = self.span
        return (-self.level, s.file if s else "", s.line if s else 0, s.column if s else 0, self.rule, self.message)

    def to_dict(self) -> dict[str, Any]:
        sup = self.suppression
        return {
            "rule": self.rule,
            "level": self.level.label,
            "message": self.message,
            "span": self.span.to_dict() if self.span else None,
            "flows": list(self.flows),
            "zones": list(self.zones),
            "witness": self.witness.to_dict() if self.witness else None,
            "witness_text": str(self.witness) if self.witness else None,
            "affected": list(self.affected),
            "affected_total": self.affected_total,
            "related": [{"message": m, "span": s.to_dict()} for m, s in self.related],
            "hint": self.hint,
            "fingerprint": self.fingerprint(),
            "suppression": None if sup is None else {
                "reason": sup.reason, "owner": sup.owner,
                "expires": sup.expires.isoformat() if sup.expires else None, "ticket": sup.ticket,
                "span": sup.span.to_dict() if sup.span else None,
            },
        }
