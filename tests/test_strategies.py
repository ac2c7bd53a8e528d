"""The generators of tests/strategies.py make only valid policies, and the policies they describe."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from hypothesis import given, settings

import strategies as gen
from zonepolicy import api
from zonepolicy.dsl.parser import parse_text
from zonepolicy.errors import InvalidPolicy
from zonepolicy.diagnostics import render_all
from zonepolicy.model.values import parse_service_literal


def _load(tmp_path: Path, text: str) -> api.Loaded:
    path = tmp_path / "policy.zp"
    path.write_text(text, encoding="utf-8")
    try:
        return api.load(str(path))
    except InvalidPolicy as err:  # show the diagnostics, not just the exception's summary
        raise AssertionError(f"generated policy does not load:\n{text}\n{render_all(err.diagnostics, err.sources)}")


@settings(max_examples=100)
@given(pair=gen.policies_with_specs())
def test_generated_policies_load_and_match_their_spec(tmp_path_factory, pair) -> None:
    spec, text = pair
    policy = _load(tmp_path_factory.mktemp("p"), text).policy
    assert policy.name == spec.name
    assert sorted(z.name for z in policy.zones) == sorted(spec.zone_names)
    assert [a.name for a in policy.addresses] == sorted(spec.address_names)
    assert len(policy.flows) == len(spec.flows)
    assert [f.id for f in policy.flows if f.id in {s.id for s in spec.flows}] == [s.id for s in spec.flows if s.id]
    assert sorted(f.name for f in policy.firewalls) == sorted(f.name for f in spec.firewalls)
    assert len(policy.waivers) == len(spec.waivers)


@settings(max_examples=80)
@given(text=gen.small_policies())
def test_small_policies_load_and_stay_small(tmp_path_factory, text) -> None:
    policy = _load(tmp_path_factory.mktemp("p"), text).policy
    assert len([z for z in policy.zones if z.parent is None]) <= 4  # three top-level zones plus "any"
    assert len(policy.flows) <= 4


@settings(max_examples=60)
@given(text=gen.policies(comments=False))
def test_policies_without_comments_have_none(text) -> None:
    module, diags = parse_text(text, "p.zp")
    assert not diags
    assert module.comments == ()


@settings(max_examples=60)
@given(text=gen.policies())
def test_generated_comments_are_parsed_as_comments(text) -> None:
    # Every '#' that starts a comment in the text is one comment of the module: none swallowed
    # by a string, none lost to the parser.
    module, diags = parse_text(text, "p.zp")
    assert not diags
    starts = {(c.span.line, c.span.column) for c in module.comments}
    assert len(starts) == len(module.comments)
    assert all(c.text.startswith("#") for c in module.comments)


@given(literal=gen.service_literals())
def test_service_literals_are_valid(literal: str) -> None:
    parse_service_literal(literal)


@given(net=gen.networks())
def test_networks_are_valid(net: str) -> None:
    ipaddress.ip_network(net, strict=True)


@given(trees=gen.zone_trees())
def test_zone_trees_nest_and_stay_disjoint(trees) -> None:
    nets = {z.name: [ipaddress.ip_network(n) for n in z.networks if n != "any"] for z in trees}
    assert sum(z.networks == ("any",) for z in trees) <= 1
    for z in trees:
        parent = z.name.rsplit(".", 1)[0]
        if parent in nets and nets[parent]:
            assert all(any(n.version == p.version and n.subnet_of(p) for p in nets[parent]) for n in nets[z.name])
    for a in trees:
        for b in trees:
            related = a.name == b.name or a.name.startswith(b.name + ".") or b.name.startswith(a.name + ".")
            if not related:
                assert not any(x.overlaps(y) for x in nets[a.name] for y in nets[b.name] if x.version == y.version)


@given(header=gen.policy_headers(comments=True))
def test_headers_parse(header: str) -> None:
    module, diags = parse_text(header, "h.zp")
    assert not diags and len(module.statements) == 1
