"""Reachability questions about one policy, answered exactly from its meaning.

Two questions (``zonepolicy query``):

* **may A reach B?** (:func:`reach`) — A and B are written like flow endpoints (a zone, which
  stands for the zone and its sub-zones, ``x.*``, ``*``, an address object, or an address or prefix),
  optionally narrowed to services. The packets of the question are split into the allowed and the
  denied part; the verdict says whether all, some or none are allowed, each part comes with a witness
  packet judged by :meth:`Meaning.decide`, and the flows (or the policy's stance) deciding each part
  are listed with their source lines.
* **what can reach zone X?** / **what can X reach?** (:func:`reachability`) — one column or row of
  the zone × zone matrix, computed cell by cell with :func:`zonepolicy.report.views.cell`, so the
  answer reads exactly like ``zonepolicy show matrix``.

Everything is a packet-set computation; nothing is sampled. Witnesses are drawn from the exact parts.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Any, Iterable

from ..diagnostics import Span, did_you_mean
from ..errors import UsageError
from ..model.policy import Flow, Policy
from ..model.values import Action, Network, ServiceTerm, ValueProblem, parse_service_literal
from ..report.views import Cell, cell
from ..semantics.meaning import Decision, Meaning
from ..semantics.packet import Packet
from ..semantics.packetset import PacketSet

BOX_LIMIT = 8  # boxes shown per part; the JSON form says how many there are in all


# --------------------------------------------------------------------------- reading the question

@dataclass(frozen=True, slots=True)
class Target:
    """One side of a question: the zones or the addresses it stands for."""

    text: str
    kind: str  # "zones", "address" (an address object) or "network" (a literal)
    zones: tuple[str, ...] = ()
    networks: tuple[Network, ...] = ()

    def packets(self, meaning: Meaning, side: str) -> PacketSet:
        if self.kind == "zones":
            return meaning.zones_addresses(self.zones, side)
        # Built here rather than through Meaning.endpoint_set: that memo is keyed by the identity of
        # the networks tuple, which a short-lived question must not share.
        if not self.networks:
            return PacketSet.empty()
        return PacketSet.build(src=list(self.networks)) if side == "src" else PacketSet.build(dst=list(self.networks))


def resolve_target(policy: Policy, text: str) -> Target:
    """Read ``text`` as a flow endpoint of ``policy`` would be read (docs/language.md § Flows).

    Raises :class:`UsageError` naming the closest known name when nothing matches.
    """
    text = text.strip()
    names = [z.name for z in policy.zones]
    if text == "*":
        return Target(text, "zones", tuple(names))
    if text.endswith(".*"):
        prefix = text[:-2]
        found = tuple(n for n in names if n.startswith(prefix + "."))
        if not found:
            raise UsageError(f"'{text}' matches no zone" + _guess(prefix, {n.rsplit('.', 1)[0] for n in names}))
        return Target(text, "zones", found)
    if text in names:
        return Target(text, "zones", tuple(n for n in names if n == text or n.startswith(text + ".")))
    objects = {a.name: a for a in policy.addresses}
    if text in objects:
        return Target(text, "address", networks=objects[text].networks)
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise UsageError(f"'{text}' is no zone, address object, address or prefix of policy "
                             f"{policy.name}" + _guess(text, names + list(objects))) from None
        raise UsageError(f"host bits set in '{text}'; did you mean {loose}?") from None
    return Target(text, "network", networks=(net,))


def _guess(text: str, candidates: Iterable[str]) -> str:
    found = did_you_mean(text, candidates)
    return f" (did you mean '{found}'?)" if found else ""


def resolve_services(policy: Policy, texts: Iterable[str]) -> tuple[tuple[str, ...], tuple[ServiceTerm, ...]]:
    """Service names (of the policy or built in) and literals, comma-separated or repeated.

    Returns the names as written and the terms they stand for; no names at all means every packet.
    """
    objects = {s.name: s for s in policy.services}
    written: list[str] = []
    terms: list[ServiceTerm] = []
    for text in texts:
        for item in (t.strip() for t in text.split(",")):
            if not item:
                continue
            written.append(item)
            if item in objects:
                terms.extend(objects[item].terms)
                continue
            if "/" not in item:
                raise UsageError(f"unknown service '{item}'" + _guess(item, objects)
                                 + "; write a name or a literal such as tcp/22")
            try:
                terms.append(parse_service_literal(item))
            except ValueProblem as p:
                raise UsageError(f"{p}" + (f"; {p.hint}" if p.hint else "")) from None
    return tuple(written), tuple(dict.fromkeys(terms))


# --------------------------------------------------------------------------- may A reach B?

@dataclass(frozen=True, slots=True)
class FlowRef:
    """A flow named in an answer, with its role there and the line that defines it."""

    id: str
    action: Action
    role: str  # "allows", "denies", or "overridden" (an allow that a deny wins over)
    text: str
    span: Span | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "action": self.action.value, "role": self.role, "text": self.text,
                "span": self.span.to_dict() if self.span else None}


@dataclass(frozen=True, slots=True)
class Part:
    """The allowed or the denied packets of a question, with one witness and its decision."""

    packets: PacketSet
    boxes: tuple[str, ...]
    total_boxes: int
    witness: Packet | None
    decision: Decision | None

    def to_dict(self) -> dict[str, Any]:
        d = self.decision
        return {
            "empty": self.witness is None,
            "boxes": list(self.boxes),
            "total_boxes": self.total_boxes,
            "witness": self.witness.to_dict() if self.witness else None,
            "witness_text": str(self.witness) if self.witness else None,
            "decision": None if d is None else {"action": d.action.value, "reason": d.reason, "flows": list(d.flows),
                                                "src_zone": d.src_zone, "dst_zone": d.dst_zone},
        }


@dataclass(frozen=True, slots=True)
class Answer:
    """The answer to "may SOURCE reach DESTINATION (on SERVICES)?"."""

    source: Target
    destination: Target
    services: tuple[str, ...]
    verdict: str  # "all", "some", "none", or "empty" (no packet fits the question)
    allowed: Part
    denied: Part
    flows: tuple[FlowRef, ...]
    stances: tuple[str, ...]  # e.g. "default deny" when packets are decided by no flow

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": {"from": self.source.text, "to": self.destination.text, "services": list(self.services)},
            "verdict": self.verdict,
            "allowed": self.allowed.to_dict(),
            "denied": self.denied.to_dict(),
            "flows": [f.to_dict() for f in self.flows],
            "stances": list(self.stances),
        }


def _part(meaning: Meaning, packets: PacketSet) -> Part:
    boxes = packets.boxes() if packets else []
    witness = packets.pick()
    return Part(packets, tuple(str(b) for b in boxes[:BOX_LIMIT]), len(boxes), witness,
                meaning.decide(witness) if witness is not None else None)


def flow_text(flow: Flow) -> str:
    """A flow as one line of the language (for display; the source line is authoritative)."""
    text = (f"{flow.action.value} {', '.join(e.text for e in flow.sources)} -> "
            f"{', '.join(e.text for e in flow.destinations)}")
    return text + (f" : {', '.join(flow.service_names)}" if flow.service_names else "")


def _stances(meaning: Meaning, packets: PacketSet, action: Action) -> tuple[str, ...]:
    """Which of the policy's stances decide packets of ``packets`` that no flow matches."""
    policy = meaning.policy
    unmatched = packets - meaning.matched(Action.ALLOW) - meaning.matched(Action.DENY)
    if not unmatched:
        return ()
    out = []
    same = meaning.same_zone()
    if policy.intrazone is action and unmatched & same:
        out.append(f"intrazone {action.value}")
    if policy.default is action and unmatched - same:
        out.append(f"default {action.value}")
    return tuple(out)


def reach(policy: Policy, source: str, destination: str, services: Iterable[str] = (),
          meaning: Meaning | None = None) -> Answer:
    """May ``source`` reach ``destination`` on ``services``? Exact, with witnesses and deciding flows."""
    meaning = meaning or Meaning(policy)
    src = resolve_target(policy, source)
    dst = resolve_target(policy, destination)
    written, terms = resolve_services(policy, services)
    question = src.packets(meaning, "src") & dst.packets(meaning, "dst")
    if written:
        question = question & meaning.services_set(terms)
    allowed = question & meaning.allowed()
    denied = question - allowed
    if not question:
        verdict = "empty"
    elif not denied:
        verdict = "all"
    elif not allowed:
        verdict = "none"
    else:
        verdict = "some"
    refs: list[FlowRef] = []
    for f in policy.flows:
        fs = meaning.flow_set(f)
        if f.action is Action.ALLOW:
            if allowed and not (fs & allowed).is_empty():
                refs.append(FlowRef(f.id, f.action, "allows", flow_text(f), f.span))
            elif denied and not (fs & denied).is_empty():
                refs.append(FlowRef(f.id, f.action, "overridden", flow_text(f), f.span))
        elif denied and not (fs & denied).is_empty():
            refs.append(FlowRef(f.id, f.action, "denies", flow_text(f), f.span))
    stances = _stances(meaning, allowed, Action.ALLOW) + _stances(meaning, denied, Action.DENY)
    return Answer(src, dst, written, verdict, _part(meaning, allowed), _part(meaning, denied), tuple(refs), stances)


_VERDICT_TEXT = {
    "all": "every packet asked about is allowed",
    "some": "some packets asked about are allowed, the others are denied",
    "none": "every packet asked about is denied",
    "empty": "no packet fits the question (the two sides have no addresses of one family in common, "
             "or the services exclude them)",
}


def _decided_by(d: Decision | None) -> str:
    if d is None:
        return ""
    if d.reason == "flow":
        return f"{d.action.value} by flow {', '.join(d.flows)}"
    return f"{d.action.value} by the {d.reason} stance"


def render_answer_text(answer: Answer) -> str:
    svc = f" : {', '.join(answer.services)}" if answer.services else " (any service)"
    out = [f"query: {answer.source.text} -> {answer.destination.text}{svc}",
           f"verdict: {answer.verdict} — {_VERDICT_TEXT[answer.verdict]}"]
    for label, part in (("allowed", answer.allowed), ("denied", answer.denied)):
        if part.witness is None:
            out.append(f"{label}: nothing")
            continue
        out.append(f"{label}:")
        out += [f"  {b}" for b in part.boxes]
        if part.total_boxes > len(part.boxes):
            out.append(f"  … and {part.total_boxes - len(part.boxes)} more")
        zones = f"{part.decision.src_zone or '(no zone)'} -> {part.decision.dst_zone or '(no zone)'}"
        out.append(f"  e.g. {part.witness}  [{zones}; {_decided_by(part.decision)}]")
    if answer.flows or answer.stances:
        out.append("decided by:")
        for f in answer.flows:
            where = f"{f.span.file}:{f.span.line}" if f.span else "-"
            out.append(f"  {f.role:<10} {f.id}  {where}  {f.text}")
        for s in answer.stances:
            out.append(f"  {'stance':<10} {s}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- what can reach X?

@dataclass(frozen=True, slots=True)
class Reachability:
    """One column (``direction="to"``) or row (``"from"``) of the zone matrix."""

    zone: str
    direction: str
    services: tuple[str, ...]
    cells: tuple[tuple[str, Cell], ...]  # (the other zone, what is allowed), in the policy's zone order

    def to_dict(self) -> dict[str, Any]:
        key = "from" if self.direction == "to" else "to"
        return {
            "zone": self.zone, "direction": self.direction, "services": list(self.services),
            "zones": [{key: other, "allowed": c.text(), "everything": c.everything, "services": list(c.services),
                       "partial": c.partial} for other, c in self.cells],
        }


def reachability(policy: Policy, zone: str, direction: str = "to", services: Iterable[str] = (),
                 meaning: Meaning | None = None) -> Reachability:
    """What every zone may send to ``zone`` (``direction="to"``), or receive from it (``"from"``).

    Like the matrix, zones stand for their own addresses here (a sub-zone is a row of its own).
    With services, cells are narrowed to them: ``all`` then means every packet of those services.
    """
    if direction not in ("to", "from"):
        raise ValueError(direction)
    meaning = meaning or Meaning(policy)
    names = [z.name for z in policy.zones]
    if zone not in names:
        raise UsageError(f"'{zone}' is not a zone of policy {policy.name}" + _guess(zone, names)
                         + " (this form of query takes a zone; give both --from and --to for addresses)")
    written, terms = resolve_services(policy, services)
    allowed = meaning.allowed()
    narrow = meaning.services_set(terms) if written else None
    cells = []
    for other in names:
        between = meaning.between(other, zone) if direction == "to" else meaning.between(zone, other)
        if narrow is not None:
            between = between & narrow
        cells.append((other, cell(meaning, allowed, between)))
    return Reachability(zone, direction, written, tuple(cells))


def render_reachability_text(r: Reachability) -> str:
    from ..report.tables import render_table

    svc = f" on {', '.join(r.services)}" if r.services else ""
    reached = [(o, c) for o, c in r.cells if c.text() != "-"]
    if r.direction == "to":
        head = f"what can reach {r.zone}{svc}:"
        header = ["from", "allowed"]
    else:
        head = f"what {r.zone} can reach{svc}:"
        header = ["to", "allowed"]
    out = head + "\n"
    if reached:
        out += render_table(header, [[o, c.text()] for o, c in reached])
    else:
        out += "nothing\n"
    none = len(r.cells) - len(reached)
    out += f"{len(reached)} zone(s) with something allowed, {none} with nothing\n"
    return out


def to_json(obj: Answer | Reachability) -> str:
    return json.dumps(obj.to_dict(), ensure_ascii=False, indent=2) + "\n"
