"""The semantic difference between two versions of a policy (``zonepolicy diff OLD NEW``).

Two versions are compared by what they *mean*, not by their text: the packets NEW allows that OLD did
not (newly allowed) and the packets OLD allowed that NEW does not (newly denied). Both differences are
computed once, over all packets, from :meth:`Meaning.allowed`; only then are the non-empty ones split
by zone pair, and within a pair only the source zones that hold part of a difference are refined by
destination. Reformatting, reordering flows, renaming objects or adding a redundant flow therefore
give an empty diff.

Zone pairs are named by zone names. A newly allowed packet is placed by NEW's zones (NEW explains it)
and a newly denied one by OLD's zones (it is traffic OLD had), so a zone that exists in one version
only still gets its changes reported; addresses in no zone are shown as ``(unzoned)``. Zones added,
removed or readdressed are listed separately.

For every changed part, one example packet is judged by both meanings, and the flows responsible are
named: for newly allowed packets the NEW allow flows that match them (and OLD deny flows that used
to), for newly denied ones the OLD allow flows that used to allow them and the NEW deny flows that
now deny them; when no flow decides, the policy's stance (``default``/``intrazone``) is named.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..diagnostics import Span
from ..model.policy import Flow, Policy, Zone
from ..model.values import Action
from ..semantics.meaning import Decision, Meaning
from ..semantics.packet import Packet
from ..semantics.packetset import PacketSet
from .query import flow_text

UNZONED = "(unzoned)"
BOX_LIMIT = 8  # boxes listed per part in text and markdown; JSON lists them all


@dataclass(frozen=True, slots=True)
class Responsible:
    """A flow, or a stance, that explains part of a change, in the version where it acts."""

    version: str  # "old" or "new"
    role: str  # "allowed by", "was denied by", "was allowed by", "now denied by"
    id: str | None  # None for a stance
    text: str
    span: Span | None

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "role": self.role, "flow": self.id, "text": self.text,
                "span": self.span.to_dict() if self.span else None}

    def describe(self) -> str:
        if self.id is None:
            return f"{self.role} {self.text} ({self.version})"
        where = f"{self.span.file}:{self.span.line}" if self.span else self.version
        return f"{self.role} {self.id} ({where}): {self.text}"


@dataclass(frozen=True, slots=True)
class Change:
    """Newly allowed or newly denied packets of one zone pair."""

    packets: PacketSet
    boxes: tuple[str, ...]
    count: int  # exact number of packets
    example: Packet
    old: Decision
    new: Decision
    responsible: tuple[Responsible, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "boxes": list(self.boxes),
            "packets": self.count,
            "example": self.example.to_dict(),
            "example_text": str(self.example),
            "old_decision": _decision_dict(self.old),
            "new_decision": _decision_dict(self.new),
            "responsible": [r.to_dict() for r in self.responsible],
        }


def _decision_dict(d: Decision) -> dict[str, Any]:
    return {"action": d.action.value, "reason": d.reason, "flows": list(d.flows), "src_zone": d.src_zone,
            "dst_zone": d.dst_zone}


@dataclass(frozen=True, slots=True)
class PairChange:
    src: str
    dst: str
    allowed: Change | None  # newly allowed
    denied: Change | None  # newly denied

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.src, "to": self.dst,
                "newly_allowed": self.allowed.to_dict() if self.allowed else None,
                "newly_denied": self.denied.to_dict() if self.denied else None}


@dataclass(frozen=True, slots=True)
class ZoneChange:
    name: str
    status: str  # "added", "removed" or "readdressed"
    old: str | None  # the networks, rendered
    new: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"zone": self.name, "status": self.status, "old_networks": self.old, "new_networks": self.new}


@dataclass(frozen=True, slots=True)
class PolicyDiff:
    old_label: str
    new_label: str
    old_policy: str
    new_policy: str
    zones: tuple[ZoneChange, ...]
    pairs: tuple[PairChange, ...]

    @property
    def changed(self) -> bool:
        """True when the two versions allow different packets (the exit code follows this)."""
        return bool(self.pairs)

    def counts(self) -> dict[str, int]:
        return {"zone_pairs": len(self.pairs), "newly_allowed": sum(p.allowed is not None for p in self.pairs),
                "newly_denied": sum(p.denied is not None for p in self.pairs)}

    def summary(self) -> str:
        c = self.counts()
        return f"Diff: {c['zone_pairs']} zone pairs, {c['newly_allowed']} newly allowed, {c['newly_denied']} newly denied"

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": {"path": self.old_label, "policy": self.old_policy},
            "new": {"path": self.new_label, "policy": self.new_policy},
            "changed": self.changed,
            "zones": [z.to_dict() for z in self.zones],
            "pairs": [p.to_dict() for p in self.pairs],
            "counts": self.counts(),
            "summary": self.summary(),
        }


# --------------------------------------------------------------------------- computing

def _networks_text(z: Zone) -> str:
    return "any" if z.is_any else ", ".join(str(n) for n in z.networks) or "(none)"


def zone_changes(old: Policy, new: Policy) -> tuple[ZoneChange, ...]:
    o = {z.name: z for z in old.zones}
    n = {z.name: z for z in new.zones}
    out = []
    for name in sorted(set(o) | set(n)):
        if name not in o:
            out.append(ZoneChange(name, "added", None, _networks_text(n[name])))
        elif name not in n:
            out.append(ZoneChange(name, "removed", _networks_text(o[name]), None))
        elif (o[name].networks, o[name].is_any) != (n[name].networks, n[name].is_any):
            out.append(ZoneChange(name, "readdressed", _networks_text(o[name]), _networks_text(n[name])))
    return tuple(out)


def _zone_parts(meaning: Meaning, side: str) -> list[tuple[str, PacketSet]]:
    """Every zone's own addresses on ``side``, plus the addresses of no zone."""
    parts = [(z.name, meaning.own_addresses(z.name, side)) for z in meaning.policy.zones]
    covered = PacketSet.empty()
    for _, s in parts:
        covered = covered | s
    rest = ~covered
    if rest:
        parts.append((UNZONED, rest))
    return parts


def split_by_zone_pair(meaning: Meaning, packets: PacketSet) -> dict[tuple[str, str], PacketSet]:
    """``packets`` split by the (source zone, destination zone) of ``meaning``'s policy; empty parts left out.

    Destinations are refined only for source zones that hold part of ``packets``, and a source's
    remainder shrinks as destinations take their share, so the cost follows the size of the change.
    """
    out: dict[tuple[str, str], PacketSet] = {}
    if not packets:
        return out
    dsts = _zone_parts(meaning, "dst")
    remaining = packets
    for a, sa in _zone_parts(meaning, "src"):
        part = remaining & sa
        if not part:
            continue
        remaining = remaining - part
        for b, db in dsts:
            piece = part & db
            if piece:
                out[(a, b)] = piece
                part = part - piece
                if not part:
                    break
        if not remaining:
            break
    return out


def _stance(meaning: Meaning, packets: PacketSet, action: Action, version: str, role: str) -> list[Responsible]:
    policy = meaning.policy
    unmatched = packets - meaning.matched(Action.ALLOW) - meaning.matched(Action.DENY)
    if not unmatched:
        return []
    out = []
    same = meaning.same_zone()
    if policy.intrazone is action and unmatched & same:
        out.append(Responsible(version, role, None, f"intrazone {action.value}", None))
    if policy.default is action and unmatched - same:
        out.append(Responsible(version, role, None, f"default {action.value}", None))
    return out


def _meeting(meaning: Meaning, action: Action, packets: PacketSet) -> list[Flow]:
    return [f for f in meaning.policy.flows if f.action is action and meaning.flow_set(f) & packets]


class _Explainer:
    """Names who is responsible for parts of one difference, scanning the flows once per difference."""

    def __init__(self, old: Meaning, new: Meaning, whole: PacketSet, newly_allowed: bool) -> None:
        self.old, self.new, self.newly_allowed = old, new, newly_allowed
        if newly_allowed:
            self.candidates = [("new", "allowed by", new, f) for f in _meeting(new, Action.ALLOW, whole)]
            self.candidates += [("old", "was denied by", old, f) for f in _meeting(old, Action.DENY, whole)]
        else:
            self.candidates = [("old", "was allowed by", old, f) for f in _meeting(old, Action.ALLOW, whole)]
            self.candidates += [("new", "now denied by", new, f) for f in _meeting(new, Action.DENY, whole)]

    def explain(self, part: PacketSet) -> tuple[Responsible, ...]:
        out = [Responsible(version, role, f.id, flow_text(f), f.span) for version, role, m, f in self.candidates
               if m.flow_set(f) & part]
        if self.newly_allowed:
            out += _stance(self.new, part, Action.ALLOW, "new", "allowed by")
            out += _stance(self.old, part, Action.DENY, "old", "was denied by")
        else:
            out += _stance(self.old, part, Action.ALLOW, "old", "was allowed by")
            out += _stance(self.new, part, Action.DENY, "new", "now denied by")
        return tuple(out)


def _change(part: PacketSet, old: Meaning, new: Meaning, explainer: _Explainer) -> Change:
    example = part.pick()
    assert example is not None  # only non-empty parts are made into changes
    return Change(part, tuple(str(b) for b in part.boxes()), part.count(), example, old.decide(example),
                  new.decide(example), explainer.explain(part))


def diff_policies(old: Policy, new: Policy, *, old_label: str = "OLD", new_label: str = "NEW",
                  old_meaning: Meaning | None = None, new_meaning: Meaning | None = None) -> PolicyDiff:
    """The semantic difference from ``old`` to ``new``."""
    mo = old_meaning or Meaning(old)
    mn = new_meaning or Meaning(new)
    allowed_old, allowed_new = mo.allowed(), mn.allowed()
    plus = allowed_new - allowed_old
    minus = allowed_old - allowed_new
    added = split_by_zone_pair(mn, plus)
    removed = split_by_zone_pair(mo, minus)
    explain_plus = _Explainer(mo, mn, plus, True) if added else None
    explain_minus = _Explainer(mo, mn, minus, False) if removed else None
    order = {name: i for i, name in enumerate(sorted({z.name for z in old.zones} | {z.name for z in new.zones}))}
    order[UNZONED] = len(order)
    pairs = []
    for key in sorted(set(added) | set(removed), key=lambda k: (order[k[0]], order[k[1]])):
        a = _change(added[key], mo, mn, explain_plus) if key in added and explain_plus else None
        d = _change(removed[key], mo, mn, explain_minus) if key in removed and explain_minus else None
        pairs.append(PairChange(key[0], key[1], a, d))
    return PolicyDiff(old_label, new_label, old.name, new.name, zone_changes(old, new), tuple(pairs))


# --------------------------------------------------------------------------- rendering

def _decided(d: Decision) -> str:
    if d.reason == "flow":
        return f"{d.action.value} (flow {', '.join(d.flows)})"
    return f"{d.action.value} ({d.reason})"


def _zone_line(z: ZoneChange) -> str:
    if z.status == "added":
        return f"+ zone {z.name}: {z.new}"
    if z.status == "removed":
        return f"- zone {z.name}: {z.old}"
    return f"~ zone {z.name}: {z.old} => {z.new}"


def _boxes(change: Change, limit: int = BOX_LIMIT) -> list[str]:
    shown = list(change.boxes[:limit])
    if len(change.boxes) > limit:
        shown.append(f"… and {len(change.boxes) - limit} more")
    return shown


def render_text(d: PolicyDiff) -> str:
    """A review artefact: ``+`` newly allowed, ``-`` newly denied, per zone pair, then the footer."""
    out = [f"--- {d.old_label} (policy {d.old_policy})", f"+++ {d.new_label} (policy {d.new_policy})"]
    if d.zones:
        out.append("")
        out += [_zone_line(z) for z in d.zones]
    if not d.pairs:
        out += ["", "no change in what the policy allows"]
    for p in d.pairs:
        out += ["", f"{p.src} -> {p.dst}"]
        for sign, change in (("+", p.allowed), ("-", p.denied)):
            if change is None:
                continue
            out += [f"{sign} {b}" for b in _boxes(change)]
            out.append(f"    e.g. {change.example}: old {_decided(change.old)}, new {_decided(change.new)}")
            out += [f"    {r.describe()}" for r in change.responsible]
    out += ["", d.summary()]
    return "\n".join(out) + "\n"


def render_markdown(d: PolicyDiff) -> str:
    """The diff as a pull-request comment: a summary table, then a ```diff block per zone pair."""
    out = [f"### zonepolicy diff: `{d.old_label}` → `{d.new_label}`", ""]
    if d.zones:
        out += ["**Zones**", "", "```diff"] + [_zone_line(z) for z in d.zones] + ["```", ""]
    if not d.pairs:
        out += ["No change in what the policy allows.", ""]
    else:
        out += ["| From | To | Newly allowed | Newly denied |", "|---|---|---|---|"]
        for p in d.pairs:
            cells = [_md_cell(c) for c in (p.allowed, p.denied)]
            out.append(f"| `{p.src}` | `{p.dst}` | {cells[0]} | {cells[1]} |")
        out.append("")
        for p in d.pairs:
            out += [f"#### `{p.src}` → `{p.dst}`", "", "```diff"]
            for sign, change in (("+", p.allowed), ("-", p.denied)):
                if change is not None:
                    out += [f"{sign} {b}" for b in _boxes(change)]
            out += ["```", ""]
            for label, change in (("newly allowed", p.allowed), ("newly denied", p.denied)):
                if change is None:
                    continue
                out.append(f"- {label}, e.g. `{change.example}`: old {_decided(change.old)}, "
                           f"new {_decided(change.new)}")
                out += [f"  - {_md_responsible(r)}" for r in change.responsible]
            out.append("")
    out.append(f"**{d.summary()}**")
    return "\n".join(out) + "\n"


def _md_cell(change: Change | None) -> str:
    if change is None:
        return "–"
    more = f" (+{len(change.boxes) - 1} more)" if len(change.boxes) > 1 else ""
    return f"`{change.boxes[0]}`{more}"


def _md_responsible(r: Responsible) -> str:
    # Code spans, not escaping: flow texts hold '*' (wildcards) and '->' that markdown would mangle.
    if r.id is None:
        return f"{r.role} `{r.text}` ({r.version})"
    where = f"{r.span.file}:{r.span.line}" if r.span else r.version
    return f"{r.role} `{r.id}` ({where}): `{r.text}`"


def render_json(d: PolicyDiff) -> str:
    return json.dumps(d.to_dict(), ensure_ascii=False, indent=2) + "\n"


RENDERERS = {"text": render_text, "json": render_json, "markdown": render_markdown}
