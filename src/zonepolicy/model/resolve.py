"""Resolution: syntax nodes of all files → one immutable :class:`~zonepolicy.model.policy.Policy`.

All name lookup, defaults, inheritance, wildcard expansion and value checking happen here, and
every problem is collected (never raised one by one) so one run reports them all.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import ipaddress
from typing import Any, Iterable

from ..compilers import TARGETS
from ..diagnostics import Diagnostic, Severity, Span, did_you_mean
from ..dsl import syntax as s
from ..dsl.direct_constructor import direct_constructor
from ..dsl.fastpath import FlowLine, endpoint_nodes, option_nodes, token_nodes
from .grading import grading_matrix
from .policy import (
    AddressObject, Endpoint, Firewall, Flow, FlowOptions, Grading, Interface, Policy, ServiceObject, Waiver,
    Zone,
)
from .values import ANY_V4, ANY_V6, Action, Network, ServiceTerm, ValueProblem, ZoneKind, parse_network, \
    parse_service_literal
from .zonetree import check_zone_networks

_ACTIONS = {a.value: a for a in Action}
# Built once per flow at province scale: filled slot by slot (see dsl.direct_constructor).
_new_endpoint = direct_constructor(Endpoint)
_new_flow = direct_constructor(Flow)
_new_options = direct_constructor(FlowOptions)
_new_address = direct_constructor(AddressObject)
_new_span = functools.partial(tuple.__new__, Span)
_NO_SERVICES = ((), (), "")
_sha256 = hashlib.sha256
GRADE_TARGETS = {"business-info": "business_info", "system-service": "system_service"}



def _placed(endpoints: tuple, file: str, line: int, col: int) -> tuple:
    """Endpoints read from a flow line, each with its span on this line (``col``: the list's first
    column); one endpoint per list is the usual case, so it skips building a list."""
    if len(endpoints) == 1:
        (e_text, zones, networks, is_zone, a, b), = endpoints
        return (_new_endpoint(e_text, zones, networks, is_zone, _new_span((file, line, col + a, line, col + b))),)
    return tuple([_new_endpoint(e_text, zones, networks, is_zone, _new_span((file, line, col + a, line, col + b)))
                  for e_text, zones, networks, is_zone, a, b in endpoints])

class Resolver:
    def __init__(self, modules: Iterable[s.Module], prelude: s.Module | None = None) -> None:
        self.modules = tuple(modules)
        self.prelude = prelude
        self.diags: list[Diagnostic] = []

    # ---- reporting
    def err(self, code: str, message: str, span: Span | None, hint: str | None = None,
            related: tuple[tuple[str, Span], ...] = (), severity: Severity = Severity.ERROR) -> None:
        self.diags.append(Diagnostic(code, message, span, severity, hint, None, related))

    def _value_problem(self, problem: ValueProblem, span: Span) -> None:
        self.err(problem.code, str(problem), span, problem.hint)

    def _unknown(self, what: str, name: str, span: Span, known: Iterable[str], extra: str = "") -> None:
        guess = did_you_mean(name, known)
        hint = f"did you mean '{guess}'?" if guess else (extra or None)
        self.err("ZP201", f"undefined {what} '{name}'", span, hint)

    # ---- entry point
    def resolve(self) -> Policy | None:
        stmts = [st for m in self.modules for st in m.statements]
        # One pass sorts the statements by kind, in source order (a filter per kind would walk
        # every flow again for each kind).
        by_type: dict[type, list] = {}
        for st in stmts:
            kind = type(st)
            if kind is FlowLine:  # flows the fast path left unbuilt are flows, in source order with the others
                kind = s.FlowStmt
            bucket = by_type.get(kind)
            if bucket is None:
                bucket = by_type[kind] = []
            bucket.append(st)
        objects = by_type.get(s.ObjectStmt, [])
        header = self._header(by_type.get(s.PolicyStmt, []))
        zone_stmts = self._unique(by_type.get(s.ZoneStmt, []), "zone")
        self._declared_zones = set(zone_stmts)
        self.zones = self._zones(zone_stmts)
        self.zone_names = sorted(self.zones)
        self._index_zone_tree()
        self.diags.extend(check_zone_networks(tuple(self.zones.values())))
        addr_stmts = self._unique([st for st in objects if st.kind == "address"], "address")
        for name, st in addr_stmts.items():
            if name in self.zones:
                self.err("ZP202", f"'{name}' names both a zone and an address object", st.name.span,
                         "give the address object another name", (("the zone is declared", self.zones[name].span),))
        svc_stmts = self._services(objects)
        self.addresses = self._objects(addr_stmts, self._address_member)
        self.services = self._objects(svc_stmts, self._service_member)
        flows = self._flows(by_type.get(s.FlowStmt, []))
        firewalls = self._firewalls(self._unique(by_type.get(s.FirewallStmt, []), "firewall"))
        waivers = tuple(self._waiver(st) for st in by_type.get(s.WaiverStmt, ()))
        if header is None or any(d.severity is Severity.ERROR for d in self.diags):
            return None
        return Policy(
            **header,
            zones=tuple(self.zones[n] for n in self.zone_names),
            addresses=tuple([_new_address(n, _desc(addr_stmts[n]), nets, tuple([t.text for t in addr_stmts[n].values]),
                                          addr_stmts[n].span)
                             for n, nets in sorted(self.addresses.items())]),
            services=tuple(ServiceObject(name=n, description=_desc(svc_stmts[n]), terms=terms,
                                         members=tuple(t.text for t in svc_stmts[n].values),
                                         builtin=svc_stmts[n].span.file.startswith("<"), span=svc_stmts[n].span)
                           for n, terms in sorted(self.services.items())),
            flows=flows,
            firewalls=tuple(firewalls),
            waivers=waivers,
            files=tuple(m.path for m in self.modules),
        )

    # ---- helpers
    def _unique(self, stmts, what: str) -> dict:
        seen: dict = {}
        for st in stmts:
            name = st.name.value
            if name in seen:
                self.err("ZP202", f"{what} '{name}' is defined twice", st.name.span, f"rename or remove one {what}",
                         ((f"first definition of '{name}'", seen[name].name.span),))
            else:
                seen[name] = st
        return seen

    def _items(self, items: Iterable[s.Item], allowed_many: frozenset[str] = frozenset()) -> dict[str, s.Item]:
        found: dict[str, s.Item] = {}
        for item in items:
            if item.key in found and item.key not in allowed_many:
                self.err("ZP221", f"'{item.key}' is given twice", item.span, "keep one",
                         (("first given", found[item.key].span),))
                continue
            found[item.key] = item
        return found

    # ---- header
    def _header(self, headers: list[s.PolicyStmt]) -> dict | None:
        if not headers:
            first = self.modules[0].path if self.modules else "<input>"
            self.err("ZP218", "the policy has no header", Span(first, 1, 1, 1, 2),
                     'start the policy with: policy NAME "description" { default deny; intrazone allow }')
            return None
        for extra in headers[1:]:
            self.err("ZP218", "a policy has one header; this is a second one", extra.span,
                     "keep the header in the root file only", (("the first header", headers[0].span),))
        h = headers[0]
        items = self._items(h.items)
        for key in ("default", "intrazone"):
            if key not in items:
                self.err("ZP225", f"the policy header does not state '{key}'", h.name.span,
                         f"add '{key} deny' or '{key} allow': zonepolicy never guesses the {key} action")
        desc = h.description.value if h.description else ""
        if "description" in items:
            desc = items["description"].args[0].value
        return dict(
            name=h.name.value,
            description=desc,
            standard=items["standard"].args[0].value if "standard" in items else None,
            model=items["model"].args[0].value if "model" in items else None,
            default=Action(items["default"].args[0].text) if "default" in items else Action.DENY,
            intrazone=Action(items["intrazone"].args[0].text) if "intrazone" in items else Action.DENY,
            span=h.span,
        )

    # ---- zones
    def _zones(self, stmts: dict[str, s.ZoneStmt]) -> dict[str, Zone]:
        out: dict[str, Zone] = {}
        for name in sorted(stmts, key=lambda n: (n.count("."), n)):  # parents before children
            out[name] = self._zone(stmts[name], self._parent(name, stmts), out)
        return out

    @staticmethod
    def _parent(name: str, declared: dict) -> str | None:
        parts = name.split(".")
        for i in range(len(parts) - 1, 0, -1):
            cand = ".".join(parts[:i])
            if cand in declared:
                return cand
        return None

    def _zone(self, st: s.ZoneStmt, parent_name: str | None, done: dict[str, Zone]) -> Zone:
        items = self._items(st.items)
        parent = done.get(parent_name) if parent_name else None
        kind = parent.kind if parent else ZoneKind.GENERIC
        if "kind" in items:
            tok = items["kind"].args[0]
            try:
                kind = ZoneKind(tok.text)
            except ValueError:
                self._unknown("zone kind", tok.text, tok.span, [k.value for k in ZoneKind],
                              "kinds: " + ", ".join(k.value for k in ZoneKind))
        level = None
        if "level" in items:
            tok = items["level"].args[0]
            digits = tok.text.lstrip("0") or "0"  # int() refuses over 4300 digits: never convert a huge one
            level = int(digits) if len(digits) <= 3 else 0
            if not 1 <= level <= 5:
                self.err("ZP209", f"protection level {digits} is out of range", tok.span,
                         "levels run from 1 to 5 (GB/T 22239)")
                level = None
        grading = self._grading(items["grading"]) if "grading" in items else None
        if grading is not None:
            if level is not None and level != grading.level:
                self.err("ZP210", f"level {level} disagrees with the grading inputs, which give level "
                         f"{grading.level} ({grading.label})", items["level"].span,
                         f"write level {grading.level}, or correct the grading inputs",
                         (("grading inputs", items["grading"].span),))
            level = grading.level
        classified = "classified" in items or kind is ZoneKind.CLASSIFIED
        if level is None and parent is not None and "grading" not in items and not classified:
            level = parent.level
        networks: list[Network] = []
        is_any = False
        for tok in items["networks"].args if "networks" in items else ():
            if tok.type == "ANY":
                is_any = True
                networks += [ANY_V4, ANY_V6]
                continue
            try:
                networks.append(parse_network(tok.text))
            except ValueProblem as p:
                self._value_problem(p, tok.span)
        return Zone(
            name=st.name.value,
            description=_desc(st),
            kind=kind,
            level=level,
            grading=grading,
            networks=_collapse(networks),
            is_any=is_any,
            important="important" in items,
            classified=classified,
            vpn=items["vpn"].args[0].text if "vpn" in items else None,
            owner=items["owner"].args[0].value if "owner" in items else None,
            hosted_on=self._hosted_on(items.get("hosted-on")),
            parent=parent_name,
            span=st.span,
        )

    def _hosted_on(self, item: s.Item | None) -> str | None:
        if item is None:
            return None
        tok = item.args[0]
        if tok.text not in self._declared_zones:
            self._unknown("zone", tok.text, tok.span, self._declared_zones)
        return tok.text

    def _grading(self, item: s.Item) -> Grading | None:
        matrix = grading_matrix()
        parts: dict[str, tuple[str, str, int]] = {}
        ok = True
        for grade in item.children:
            target, obj, degree = grade.args
            if target.text not in GRADE_TARGETS:
                self._unknown("grading target", target.text, target.span, GRADE_TARGETS,
                              "write business-info or system-service")
                ok = False
                continue
            if target.text in parts:
                self.err("ZP221", f"'{target.text}' is graded twice", grade.span, "keep one")
                continue
            if obj.text not in matrix.objects:
                self._unknown("harmed object", obj.text, obj.span, matrix.objects,
                              "harmed objects: " + ", ".join(matrix.objects))
                ok = False
                continue
            if degree.text not in matrix.degrees:
                self._unknown("degree of harm", degree.text, degree.span, matrix.degrees,
                              "degrees: " + ", ".join(matrix.degrees))
                ok = False
                continue
            parts[target.text] = (obj.text, degree.text, matrix.level(obj.text, degree.text))
        if ok and len(parts) < 2:
            missing = sorted(set(GRADE_TARGETS) - set(parts))
            self.err("ZP215", "the grading block must grade both business-info and system-service", item.span,
                     f"add: {missing[0]} OBJECT DEGREE (GB/T 22240 grades both; the level is the higher)")
            return None
        if not ok:
            return None
        bi, ss = parts["business-info"], parts["system-service"]
        return Grading(business_info=bi[:2], system_service=ss[:2], business_level=bi[2], service_level=ss[2])

    # ---- objects
    def _services(self, stmts) -> dict[str, s.ObjectStmt]:
        user = self._unique([st for st in stmts if isinstance(st, s.ObjectStmt) and st.kind == "service"], "service")
        merged: dict[str, s.ObjectStmt] = {}
        if self.prelude is not None:
            for st in self.prelude.statements:
                if isinstance(st, s.ObjectStmt):
                    merged[st.name.value] = st
        merged.update(user)
        return merged

    def _objects(self, stmts: dict[str, s.ObjectStmt], member) -> dict[str, tuple]:
        """Flatten object groups. Iterative (an explicit stack, not recursion), so a chain of
        thousands of nested groups resolves instead of exhausting Python's recursion limit."""
        done: dict[str, tuple] = {}
        for root in sorted(stmts):
            if root in done:
                continue
            values = stmts[root].values
            if len(values) == 1 and not (values[0].type == "NAME" and values[0].text in stmts):
                # one literal (most objects at scale): what the walk below makes of it, without the walk
                out = member(values[0], stmts)
                done[root] = _collapse(out) if stmts[root].kind == "address" else tuple(sorted(set(out), key=_term_key))
                continue
            # Each frame: (name, its collected members so far, index of the next value to look at).
            stack: list[tuple[str, list, int]] = [(root, [], 0)]
            on_stack = {root}
            while stack:
                name, out, i = stack[-1]
                st = stmts[name]
                if i == len(st.values):
                    stack.pop()
                    on_stack.discard(name)
                    done[name] = _collapse(out) if st.kind == "address" else tuple(sorted(set(out), key=_term_key))
                    if stack:
                        stack[-1][1].extend(done[name])
                    continue
                stack[-1] = (name, out, i + 1)
                tok = st.values[i]
                if tok.type == "NAME" and tok.text in stmts:
                    if tok.text in on_stack:
                        self.err("ZP223", f"'{name}' contains itself through '{tok.text}'", tok.span,
                                 "object groups may not refer back to themselves")
                    elif tok.text in done:
                        out.extend(done[tok.text])
                    else:
                        stack.append((tok.text, [], 0))
                        on_stack.add(tok.text)
                    continue
                out.extend(member(tok, stmts))
        return done

    def _address_member(self, tok: s.Tok, stmts) -> list[Network]:
        if tok.type == "ANY":
            return [ANY_V4, ANY_V6]
        if tok.type == "NAME":
            extra = "zones are used in flows directly, not inside address objects" if tok.text in self.zones else ""
            self._unknown("address object", tok.text, tok.span, stmts, extra)
            return []
        try:
            return [parse_network(tok.text)]
        except ValueProblem as p:
            self._value_problem(p, tok.span)
            return []

    def _service_member(self, tok: s.Tok, stmts) -> list[ServiceTerm]:
        if tok.type == "NAME":
            self._unknown("service", tok.text, tok.span, stmts, "write a literal such as tcp/443")
            return []
        try:
            return [parse_service_literal(tok.text)]
        except ValueProblem as p:
            self._value_problem(p, tok.span)
            return []

    # ---- endpoints and services
    def _endpoint(self, ep: s.Endpoint) -> Endpoint | None:
        # Province-scale policies name the same few thousand endpoints in tens of thousands of
        # flows: resolve each (kind, name) once; only the span differs between uses. Problems are
        # not cached, so every bad use is reported at its own place.
        key = (ep.kind, ep.name.text if ep.name else "")
        hit = self._ep_cache.get(key)
        if hit is not None:
            return _new_endpoint(hit.text, hit.zones, hit.networks, hit.is_zone, ep.span)
        n = len(self.diags)
        found = self._endpoint_uncached(ep)
        if found is not None and len(self.diags) == n:
            self._ep_cache[key] = found
        return found

    def _endpoint_uncached(self, ep: s.Endpoint) -> Endpoint | None:
        name = ep.name.text if ep.name else ""
        kind = ep.kind
        if kind in ("all", "zone-all"):
            return _new_endpoint("*" if kind == "all" else "zone(*)", self.all_zones_t, (), True, ep.span)
        if kind in ("children", "zone-children"):
            found = self.descendants_t.get(name, ())
            if not found:
                self.err("ZP222", f"'{name}.*' matches no zone", ep.span,
                         f"no zone is named {name}.something" + _maybe(did_you_mean(name, self._prefixes())))
                return None
            text = f"{name}.*" if kind == "children" else f"zone({name}.*)"
            return _new_endpoint(text, found, (), True, ep.span)
        if kind == "literal":
            try:
                net = parse_network(ep.name.text)
            except ValueProblem as p:
                self._value_problem(p, ep.name.span)
                return None
            return _new_endpoint(str(net), (), (net,), False, ep.span)
        if kind in ("name", "zone") and name in self.zones:
            subtree = self.subtree_t[name]
            text = name if kind == "name" else f"zone({name})"
            return _new_endpoint(text, subtree, (), True, ep.span)
        if kind in ("name", "address") and name in self.addresses:
            text = name if kind == "name" else f"address({name})"
            return _new_endpoint(text, (), self.addresses[name], False, ep.span)
        known = self.zone_names if kind == "zone" else (list(self.addresses) if kind == "address"
                                                         else self.zone_names + list(self.addresses))
        what = {"zone": "zone", "address": "address object"}.get(kind, "zone or address object")
        self._unknown(what, name, ep.name.span, known)
        return None

    def _index_zone_tree(self) -> None:
        # Endpoints are resolved tens of thousands of times at province scale: precompute every
        # zone's subtree and every dotted prefix's strict descendants once.
        self.subtree: dict[str, list[str]] = {}
        self.descendants: dict[str, list[str]] = {}
        for z in self.zone_names:
            parts = z.split(".")
            self.subtree.setdefault(z, []).append(z)
            for i in range(1, len(parts)):
                prefix = ".".join(parts[:i])
                self.descendants.setdefault(prefix, []).append(z)
                if prefix in self.zones:
                    self.subtree.setdefault(prefix, []).append(z)
        self.subtree_t = {k: tuple(sorted(v)) for k, v in self.subtree.items()}
        self.descendants_t = {k: tuple(sorted(v)) for k, v in self.descendants.items()}
        self.all_zones_t = tuple(self.zone_names)
        self._svc_cache: dict[tuple[str, ...], tuple[ServiceTerm, ...]] = {}
        self._ep_cache: dict[tuple[str, str], Endpoint] = {}
        self._options_cache: dict[tuple[tuple[str, str | None], ...], FlowOptions] = {}
        self._line_lists: dict[tuple, Any] = {}  # (serial, words) -> what that list resolved to
        self._option_plans: dict[int, tuple] = {}

    def _prefixes(self) -> set[str]:
        return {z.rsplit(".", 1)[0] for z in self.zone_names if "." in z}

    def _endpoints(self, eps: Iterable[s.Endpoint]) -> tuple[Endpoint, ...]:
        cache = self._ep_cache
        out = []
        for ep in eps:
            # the cache hit of _endpoint, written out: this runs twice per flow
            hit = cache.get((ep.kind, ep.name.text if ep.name is not None else ""))
            found = (_new_endpoint(hit.text, hit.zones, hit.networks, hit.is_zone, ep.span) if hit is not None
                     else self._endpoint(ep))
            if found is not None:
                out.append(found)
        return tuple(out)

    def _service_refs(self, toks: Iterable[s.Tok], key: tuple[str, ...] | None = None) -> tuple[ServiceTerm, ...]:
        toks = tuple(toks)
        if key is None:
            key = tuple([t.text for t in toks])
        found = self._svc_cache.get(key)
        if found is None:
            n = len(self.diags)
            found = self._service_refs_uncached(toks)
            if len(self.diags) == n:  # cache only clean answers so every bad use is reported
                self._svc_cache[key] = found
        return found

    def _service_refs_uncached(self, toks: tuple[s.Tok, ...]) -> tuple[ServiceTerm, ...]:
        terms: list[ServiceTerm] = []
        for tok in toks:
            if tok.type == "NAME":
                if tok.text in self.services:
                    terms.extend(self.services[tok.text])
                else:
                    self._unknown("service", tok.text, tok.span, self.services, "write a literal such as tcp/443")
                continue
            try:
                terms.append(parse_service_literal(tok.text))
            except ValueProblem as p:
                self._value_problem(p, tok.span)
        return tuple(sorted(set(terms), key=_term_key))

    # ---- flows
    def _flows(self, stmts: list) -> tuple[Flow, ...]:
        flows: list[Flow] = []
        ids: dict[str, Span] = {}
        for st in stmts:
            flow = self._flow_line(st) if type(st) is FlowLine else self._flow(st)
            if flow is None:
                continue
            if flow.id in ids:
                self.err("ZP202", f"flow '{flow.id}' is defined twice", st.span,
                         "remove the duplicate, or give the flows different ids",
                         (("first definition", ids[flow.id]),))
                continue
            ids[flow.id] = st.span
            flows.append(flow)
        return tuple(flows)

    def _flow(self, st: s.FlowStmt) -> Flow | None:
        sources = self._endpoints(st.sources)
        destinations = self._endpoints(st.destinations)
        service_names = tuple([t.text for t in st.services])
        services = self._service_refs(st.services, service_names)
        options = self._flow_options(st.options)
        if len(sources) != len(st.sources) or len(destinations) != len(st.destinations):
            return None
        if st.options is not None and any(item.key == "id" for item in st.options):
            flow_id = next(item for item in st.options if item.key == "id").args[0].text
        else:
            flow_id = _auto_id(st, service_names)
        return _new_flow(flow_id, _ACTIONS[st.action.text], sources, destinations, services, service_names,
                         options, st.span)

    # A one-line flow (a FlowLine record) resolves to what its syntax node would, but without
    # building it: each of its lists is looked up by its reading (template serial) and words in a
    # cache of what the same list resolved to before, and only the flow's own spans and objects
    # are new. A list not seen yet is resolved as _flow resolves it (same calls, same order, so the
    # same problems are reported at the same places); only clean results are remembered.
    def _flow_line(self, rec: FlowLine) -> Flow | None:
        text, file, line, span, action, src, src_s, src_e, dst, dst_s, dst_e, svc, svc_s, svc_e, opt, opt_base = rec
        get = self._line_lists.get
        src_hit = get((src[0], text[src_s:src_e])) or self._line_endpoints(rec, src, src_s, src_e)
        dst_hit = get((dst[0], text[dst_s:dst_e])) or self._line_endpoints(rec, dst, dst_s, dst_e)
        if svc is None:
            svc_hit = _NO_SERVICES
        else:
            svc_hit = get((svc[0], text[svc_s:svc_e])) or self._line_services(rec, svc, svc_s, svc_e)
        id_at = None
        options: FlowOptions | None
        if opt is None:
            options = self._flow_options(None)
        else:
            values, ticket, comment, id_at = self._option_plans.get(opt[0]) or self._option_plan(opt)
            words = tuple([text[opt_base + a:opt_base + b] for a, b in values]) if values else ()
            options = get((opt[0], words))
            if options is None:  # read in full, this flow's own ticket and comment included
                options = self._line_options(rec, opt, opt_base, words)
            elif ticket is not None or comment is not None:
                o = options  # what the list means apart from its ticket and comment, which are this flow's own
                options = _new_options(
                    o.log, o.stateful, o.inspect, o.via,
                    s.unquote(text[opt_base + ticket[0]:opt_base + ticket[1]]) if ticket is not None else None,
                    s.unquote(text[opt_base + comment[0]:opt_base + comment[1]]) if comment is not None else None,
                    o.expires)
        sources, destinations = src_hit[0], dst_hit[0]
        if sources is None or destinations is None:
            return None
        if id_at is not None:
            flow_id = text[opt_base + id_at[0]:opt_base + id_at[1]]
        else:
            flow_id = "f" + _sha256(f"{action}|{src_hit[1]}|{dst_hit[1]}|{svc_hit[2]}".encode()).hexdigest()[:10]
        # the endpoints, now with this flow's places
        sources = _placed(sources, file, line, src_s + 1)
        destinations = _placed(destinations, file, line, dst_s + 1)
        return _new_flow(flow_id, _ACTIONS[action], sources, destinations, svc_hit[0], svc_hit[1], options, span)

    def _line_endpoints(self, rec: FlowLine, reading: tuple, start: int, end: int) -> tuple:
        """(what each endpoint of a list resolves to, with its offsets; the list's key for flow ids),
        the former None when an endpoint does not resolve."""
        text, cache = rec.text, self._ep_cache
        found: list = []
        keys: list[str] = []
        clean = True
        for template in reading[1]:
            kind, a, b, arg = template
            name = text[start + arg[1]:start + arg[2]] if arg is not None else ""
            keys.append(f"{kind}:{name if arg is not None else '*'}")
            hit = cache.get((kind, name))
            if hit is None:  # first use of this endpoint (or a problem): the general way, on its own node
                n = len(self.diags)
                hit = self._endpoint(endpoint_nodes((template,), text, start, rec.file, rec.line)[0])
                clean = clean and len(self.diags) == n
            if hit is None:
                found = None  # type: ignore[assignment]
            elif found is not None:
                found.append((hit.text, hit.zones, hit.networks, hit.is_zone, a, b))
        if found is None:
            return (None, "")
        result = (tuple(found), keys[0] if len(keys) == 1 else ",".join(sorted(keys)))
        if clean:
            self._line_lists[(reading[0], text[start:end])] = result
        return result

    def _line_services(self, rec: FlowLine, reading: tuple, start: int, end: int) -> tuple:
        written = token_nodes(reading[1], rec.text, start, rec.file, rec.line)
        names = tuple([t.text for t in written])
        n = len(self.diags)
        hit = (self._service_refs(written, names), names, ",".join(sorted(names)) if len(names) > 1 else "".join(names))
        if len(self.diags) == n:
            self._line_lists[(reading[0], rec.text[start:end])] = hit
        return hit

    def _line_options(self, rec: FlowLine, reading: tuple, start: int, words: tuple) -> FlowOptions:
        written = option_nodes(reading[1], rec.text, start, rec.file, rec.line)
        n = len(self.diags)
        options = self._flow_options(written)
        if len(self.diags) == n:
            self._line_lists[(reading[0], words)] = options
        return options

    def _option_plan(self, opt: tuple) -> tuple:
        """Where an option list's words are: the ones its meaning depends on (inspect, via, expires),
        then the first ticket, comment and id (which vary per flow and mean only themselves)."""
        values, ticket, comment, id_at = [], None, None, None
        for key, _a, _b, arg in opt[1]:
            if arg is None:
                continue
            where = (arg[1], arg[2])
            if key == "ticket" and ticket is None:
                ticket = where
            elif key == "comment" and comment is None:
                comment = where
            elif key == "id" and id_at is None:
                id_at = where
            else:
                values.append(where)
        plan = self._option_plans[opt[0]] = (tuple(values), ticket, comment, id_at)
        return plan

    def _flow_options(self, written: tuple[s.Item, ...] | None) -> FlowOptions:
        # Most flows write one of a handful of option lists: read each distinct list once (a list
        # with a problem is read, and reported, at every use).
        key = tuple([(item.key, item.args[0].text if item.args else None) for item in written]) if written else ()
        found = self._options_cache.get(key)
        if found is not None:
            return found
        n = len(self.diags)
        items = self._items(written or ())
        if "stateful" in items and "stateless" in items:
            self.err("ZP221", "a flow cannot be both stateful and stateless", items["stateless"].span, "keep one")
        via = None
        if "via" in items:
            tok = items["via"].args[0]
            via = tok.text
            if via not in self.zones:
                self._unknown("zone", via, tok.span, self.zone_names, "via names the zone the flow passes through")
        options = FlowOptions(
            log="log" in items,
            stateful="stateless" not in items,
            inspect=items["inspect"].args[0].text if "inspect" in items else None,
            via=via,
            ticket=items["ticket"].args[0].value if "ticket" in items else None,
            comment=items["comment"].args[0].value if "comment" in items else None,
            expires=self._date(items["expires"].args[0]) if "expires" in items else None,
        )
        if len(self.diags) == n:
            self._options_cache[key] = options
        return options

    def _date(self, tok: s.Tok) -> dt.date | None:
        try:
            return dt.date.fromisoformat(tok.text)
        except ValueError:
            self.err("ZP217", f"'{tok.text}' is not a calendar date", tok.span, "write YYYY-MM-DD, e.g. 2027-06-30")
            return None

    # ---- firewalls
    def _firewalls(self, stmts: dict[str, s.FirewallStmt]) -> list[Firewall]:
        out = []
        for name in sorted(stmts):
            st = stmts[name]
            items = self._items(st.items, frozenset({"interface"}))
            target = ""
            if "target" not in items:
                self.err("ZP212", f"firewall '{name}' has no target", st.name.span,
                         "add: target " + " | ".join(TARGETS))
            else:
                tok = items["target"].args[0]
                target = tok.text
                if target not in TARGETS:
                    guess = did_you_mean(target, TARGETS)
                    self.err("ZP212", f"unknown firewall target '{target}'", tok.span,
                             f"did you mean '{guess}'?" if guess else "targets: " + ", ".join(TARGETS))
            interfaces = self._interfaces(name, [i for i in st.items if i.key == "interface"])
            out.append(Firewall(name=name, description=_desc(st), target=target, interfaces=interfaces, span=st.span))
        return out

    def _interfaces(self, fw: str, items: list[s.Item]) -> tuple[Interface, ...]:
        # A zone named on an interface brings its sub-zones along, unless a sub-zone is named on
        # another interface itself: the most specific binding wins, as in routing.
        names: dict[str, Span] = {}
        explicit: dict[str, tuple[str, Span]] = {}
        for item in items:
            ifname, *eps = item.args
            if ifname.value in names:
                self.err("ZP202", f"interface '{ifname.value}' is declared twice on firewall '{fw}'", ifname.span,
                         "bind several zones to one interface with commas",
                         (("first declaration", names[ifname.value]),))
                continue
            names[ifname.value] = ifname.span
            for ep in eps:
                kind = "zone-children" if ep.kind == "children" else "zone"
                resolved = self._endpoint(s.Endpoint(kind, ep.name, ep.span))
                if resolved is None:
                    continue
                heads = resolved.zones if kind == "zone-children" else (ep.name.text,)
                for z in heads:
                    if z in explicit:
                        self.err("ZP219", f"zone '{z}' is bound to two interfaces of firewall '{fw}'", ep.span,
                                 "a zone is reached through one interface of a firewall",
                                 (("first binding", explicit[z][1]),))
                        continue
                    explicit[z] = (ifname.value, ep.span)
        members: dict[str, list[str]] = {n: [] for n in names}
        for zone in self.zone_names:
            owner = next((explicit[a][0] for a in _self_and_ancestors(zone) if a in explicit), None)
            if owner is not None:
                members[owner].append(zone)
        return tuple(
            Interface(name=item.args[0].value, zones=tuple(members[item.args[0].value]),
                      written=tuple(_ep_text(e) for e in item.args[1:]), span=item.span)
            for item in sorted(items, key=lambda i: i.args[0].value) if item.args[0].span == names.get(item.args[0].value)
        )

    # ---- waivers
    def _waiver(self, st: s.WaiverStmt) -> Waiver:
        items = self._items(st.items or ())
        for key in ("reason", "owner", "expires"):
            if key not in items:
                self.err("ZP224", f"waiver of {st.rule.text} has no {key}", st.span,
                         f"accepted risk is reviewed: add {{ reason \"…\"; owner \"…\"; expires YYYY-MM-DD }}")
        return Waiver(
            rule=st.rule.text,
            sources=self._endpoints(st.sources) if st.sources is not None else None,
            destinations=self._endpoints(st.destinations) if st.destinations is not None else None,
            services=self._service_refs(st.services),
            reason=items["reason"].args[0].value if "reason" in items else "",
            owner=items["owner"].args[0].value if "owner" in items else "",
            expires=self._date(items["expires"].args[0]) if "expires" in items else None,
            ticket=items["ticket"].args[0].value if "ticket" in items else None,
            span=st.span,
        )


def _self_and_ancestors(zone: str) -> list[str]:
    parts = zone.split(".")
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]


def _maybe(guess: str | None) -> str:
    return f"; did you mean '{guess}.*'?" if guess else ""


def _desc(st) -> str:
    desc = st.description.value if st.description is not None else ""
    for item in getattr(st, "items", ()):
        if item.key == "description":
            desc = item.args[0].value
    return desc


def _ep_text(ep: s.Endpoint) -> str:
    return f"{ep.name.text}.*" if ep.kind == "children" else ep.name.text


def _collapse(nets: Iterable[Network]) -> tuple[Network, ...]:
    nets = list(nets)
    if len(nets) == 1:  # most zones and objects: one prefix, already as collapsed as it gets
        return (nets[0],)
    v4 = [n for n in nets if n.version == 4]
    v6 = [n for n in nets if n.version == 6]
    if len(v4) <= 1 and len(v6) <= 1:  # a zone with one prefix per family: nothing to merge
        return tuple(v4) + tuple(v6)
    return tuple(ipaddress.collapse_addresses(v4)) + tuple(ipaddress.collapse_addresses(v6))


def _term_key(t: ServiceTerm) -> tuple:
    return (-1 if t.protocol is None else t.protocol, t.ports, -1 if t.icmp_type is None else t.icmp_type,
            -1 if t.icmp_code is None else t.icmp_code)


def _auto_id(st: s.FlowStmt, service_names: tuple[str, ...] | None = None) -> str:
    """A flow id that survives reordering and edits elsewhere: a short hash of what the flow says."""
    if service_names is None:
        service_names = tuple([t.text for t in st.services])
    canon = "|".join([
        st.action.text,
        _sorted_keys(st.sources),
        _sorted_keys(st.destinations),
        ",".join(sorted(service_names)) if len(service_names) > 1 else "".join(service_names),
    ])
    return "f" + hashlib.sha256(canon.encode()).hexdigest()[:10]


def _sorted_keys(eps: tuple[s.Endpoint, ...]) -> str:
    if len(eps) == 1:  # the common case, without the sort
        ep = eps[0]
        return f"{ep.kind}:{ep.name.text if ep.name is not None else '*'}"
    return ",".join(sorted([_endpoint_key(e) for e in eps]))


def _endpoint_key(ep: s.Endpoint) -> str:
    return f"{ep.kind}:{ep.name.text if ep.name else '*'}"


def resolve(modules: Iterable[s.Module], prelude: s.Module | None = None) -> tuple[Policy | None, list[Diagnostic]]:
    """Resolve parsed modules into a policy; the policy is None when any error was found."""
    r = Resolver(modules, prelude)
    policy = r.resolve()
    return policy, sorted(r.diags, key=Diagnostic.sort_key)
