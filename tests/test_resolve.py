"""Parsing and resolution: a golden policy's resolved facts, and one test per resolution error code."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest

from zonepolicy import api
from zonepolicy.diagnostics import render_all
from zonepolicy.errors import InvalidPolicy
from zonepolicy.model.values import Action, PortRange, ServiceTerm, ZoneKind

net = ipaddress.ip_network

HEADER = "policy p { default deny; intrazone allow }\n"

GOLDEN = """\
policy golden "Golden test policy" {
    standard mlps-2.0
    model    egov-extranet
    default  deny
    intrazone allow
}

zone core "Core" {
    kind backbone
    grading {
        business-info  social-order serious
        system-service citizen      serious
    }
    networks 10.0.0.0/16
}
zone core.db          { networks 10.0.1.0/24 }
zone core.db.replica  { networks 10.0.1.128/25 }
zone core.app         { level 4; networks 10.0.2.0/24 }
zone dmz              { kind public; level 2; networks 192.0.2.0/24, 2001:db8::/48 }
zone secret           { kind classified; networks 10.9.0.0/16 }
zone internet         { kind external; networks any }

address ntp-servers = 10.0.5.1, 10.0.5.0
address group       = ntp-servers, 10.0.6.0/24
service https       = tcp/8443
service web         = http, https

allow internet -> dmz                    : https, ping   { log; id web-in }
allow dmz -> core.*                      : tcp/5432
allow core.app -> zone(core.db), address(ntp-servers) : ntp
allow core -> *                          : ssh
allow zone(*) -> internet                : dns
allow 10.0.2.5 -> dmz                    : web
deny  internet -> secret

firewall fw1 {
    target nftables
    interface eth0 -> internet
    interface eth1 -> dmz
    interface eth2 -> core
    interface eth3 -> core.db
    interface "vlan 10" -> secret
}
"""

ALL_ZONES = ("core", "core.app", "core.db", "core.db.replica", "dmz", "internet", "secret")


def write(tmp_path: Path, text: str, name: str = "policy.zp") -> str:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


def load_text(tmp_path: Path, text: str):
    return api.load(write(tmp_path, text)).policy


def problems(tmp_path: Path, text: str):
    """The diagnostics of an invalid policy (rendering them must work too)."""
    with pytest.raises(InvalidPolicy) as info:
        api.load(write(tmp_path, text))
    diags = info.value.diagnostics
    assert diags
    render_all(diags, info.value.sources)
    return diags


def one_problem(tmp_path: Path, body: str, header: str = HEADER):
    diags = problems(tmp_path, header + body)
    assert len(diags) == 1, [(d.code, d.message) for d in diags]
    return diags[0]


def at(diag) -> tuple[int, int]:
    return diag.span.line, diag.span.column


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    return load_text(tmp_path_factory.mktemp("golden"), GOLDEN)


# ---- golden facts

def test_header(golden):
    assert golden.name == "golden"
    assert golden.description == "Golden test policy"
    assert golden.standard == "mlps-2.0"
    assert golden.model == "egov-extranet"
    assert golden.default is Action.DENY and golden.intrazone is Action.ALLOW
    assert golden.files == ("policy.zp",) or golden.files[0].endswith("policy.zp")


def test_zones_sorted_with_parents(golden):
    assert tuple(z.name for z in golden.zones) == ALL_ZONES
    assert golden.zone("core").parent is None
    assert golden.zone("core.db").parent == "core"
    assert golden.zone("core.db.replica").parent == "core.db"
    assert [z.name for z in golden.children("core")] == ["core.app", "core.db"]


def test_kind_and_level_are_inherited(golden):
    core = golden.zone("core")
    assert core.kind is ZoneKind.BACKBONE and core.level == 3
    # sub-zones take the parent's kind and level unless they state their own
    assert golden.zone("core.db").kind is ZoneKind.BACKBONE and golden.zone("core.db").level == 3
    assert golden.zone("core.db.replica").kind is ZoneKind.BACKBONE
    assert golden.zone("core.db.replica").level == 3
    assert golden.zone("core.app").level == 4
    assert golden.zone("dmz").kind is ZoneKind.PUBLIC and golden.zone("dmz").level == 2
    assert golden.zone("internet").level is None


def test_grading_gives_level_and_label(golden):
    g = golden.zone("core").grading
    assert g.business_info == ("social-order", "serious")
    assert g.system_service == ("citizen", "serious")
    assert (g.business_level, g.service_level, g.level, g.label) == (3, 2, 3, "S3A2")
    assert golden.zone("core.db").grading is None


@pytest.mark.parametrize("bi,ss,level,label", [
    ("citizen general", "citizen general", 1, "S1A1"),
    ("citizen especially-serious", "social-order general", 2, "S2A2"),
    ("social-order especially-serious", "citizen serious", 4, "S4A2"),
    ("citizen general", "national-security especially-serious", 5, "S1A5"),
    ("national-security general", "social-order serious", 3, "S3A3"),
])
def test_grading_matrix(tmp_path, bi, ss, level, label):
    p = load_text(tmp_path, HEADER + f"zone z {{ grading {{ business-info {bi}; system-service {ss} }} }}\n")
    z = p.zone("z")
    assert (z.level, z.grading.label) == (level, label)


def test_classified_and_any(golden):
    secret = golden.zone("secret")
    assert secret.classified and secret.kind is ZoneKind.CLASSIFIED and secret.level is None
    internet = golden.zone("internet")
    assert internet.is_any and internet.networks == (net("0.0.0.0/0"), net("::/0"))
    assert golden.zone("dmz").networks == (net("192.0.2.0/24"), net("2001:db8::/48"))


def test_address_objects_are_flattened_and_collapsed(golden):
    addrs = {a.name: a for a in golden.addresses}
    assert addrs["ntp-servers"].networks == (net("10.0.5.0/31"),)
    assert addrs["ntp-servers"].members == ("10.0.5.1", "10.0.5.0")
    assert addrs["group"].networks == (net("10.0.5.0/31"), net("10.0.6.0/24"))


def test_prelude_services_and_user_override(golden):
    services = {s.name: s for s in golden.services}
    assert services["ssh"].builtin and services["ssh"].terms == (ServiceTerm(6, (PortRange(22, 22),)),)
    assert services["dns"].builtin and {str(t) for t in services["dns"].terms} == {"udp/53", "tcp/53"}
    # the policy's own https replaces the built-in one, also inside other objects
    assert not services["https"].builtin
    assert [str(t) for t in services["https"].terms] == ["tcp/8443"]
    assert [str(t) for t in services["web"].terms] == ["tcp/80", "tcp/8443"]
    assert [str(t) for t in golden.flow("web-in").services] == ["icmp/echo-request", "tcp/8443",
                                                                 "icmpv6/echo-request"]


def _ep(endpoints):
    return [(e.text, e.zones, e.networks, e.is_zone) for e in endpoints]


def test_endpoint_expansion(golden):
    flows = golden.flows
    assert [f.action for f in flows] == [Action.ALLOW] * 6 + [Action.DENY]
    web_in, dmz_core, app, core_all, zone_all, literal, deny = flows
    assert web_in.id == "web-in" and web_in.options.log
    # x.*: the strict descendants
    assert _ep(dmz_core.destinations) == [("core.*", ("core.app", "core.db", "core.db.replica"), (), True)]
    # zone(x): x and its sub-zones; address(x): its networks
    assert _ep(app.destinations) == [
        ("zone(core.db)", ("core.db", "core.db.replica"), (), True),
        ("address(ntp-servers)", (), (net("10.0.5.0/31"),), False),
    ]
    # a bare zone name takes its subtree; '*' every zone
    assert _ep(core_all.sources) == [("core", ("core", "core.app", "core.db", "core.db.replica"), (), True)]
    assert _ep(core_all.destinations) == [("*", ALL_ZONES, (), True)]
    assert _ep(zone_all.sources) == [("zone(*)", ALL_ZONES, (), True)]
    assert _ep(literal.sources) == [("10.0.2.5/32", (), (net("10.0.2.5/32"),), False)]
    assert deny.services == () and deny.service_names == ()
    assert app.service_names == ("ntp",)
    assert [str(t) for t in app.services] == ["udp/123"]


def test_flow_spans_point_at_their_lines(golden):
    assert [f.span.line for f in golden.flows] == [28, 29, 30, 31, 32, 33, 34]
    assert golden.zone("core.app").span.line == 18


def test_interface_bindings_most_specific_wins(golden):
    fw = golden.firewall("fw1")
    assert fw.target == "nftables"
    bound = {i.name: i.zones for i in fw.interfaces}
    assert bound == {
        "eth0": ("internet",),
        "eth1": ("dmz",),
        "eth2": ("core", "core.app"),  # core.db (and its subtree) is bound more specifically on eth3
        "eth3": ("core.db", "core.db.replica"),
        "vlan 10": ("secret",),
    }
    assert [i.name for i in fw.interfaces] == sorted(bound)
    assert fw.zones() == ALL_ZONES


def test_interface_children_binding(tmp_path):
    p = load_text(tmp_path, HEADER + "zone a {}\nzone a.x {}\nzone a.y {}\nzone a.y.z {}\n"
                  "firewall f { target iptables; interface eth0 -> a; interface eth1 -> a.*; }\n")
    bound = {i.name: i.zones for i in p.firewall("f").interfaces}
    assert bound == {"eth0": ("a",), "eth1": ("a.x", "a.y", "a.y.z")}
    assert p.firewall("f").interfaces[1].written == ("a.*",)


def _flow_ids(policy):
    return {(f.action, tuple(e.text for e in f.sources), tuple(e.text for e in f.destinations),
             f.service_names): f.id for f in policy.flows}


def test_flow_ids_are_stable_under_reordering(tmp_path, golden):
    blocks = re.split(r"\n+(?=(?:zone|address|service|allow|deny|firewall)\b)", GOLDEN.strip())
    header, rest = blocks[0], blocks[1:]
    shuffled = "\n".join([header] + list(reversed(rest))) + "\n"
    again = load_text(tmp_path, shuffled)
    assert _flow_ids(again) == _flow_ids(golden)
    assert [f.id for f in again.flows] == [f.id for f in reversed(golden.flows)]
    # an automatic id is a short hash of what the flow says
    auto = [f.id for f in golden.flows if f.id != "web-in"]
    assert all(re.fullmatch(r"f[0-9a-f]{7,}", i) for i in auto)
    assert len(set(auto)) == len(auto)


def test_flow_id_ignores_endpoint_and_service_order_and_layout(tmp_path):
    a = load_text(tmp_path, HEADER + "zone a {}\nzone b {}\nzone c {}\nallow a, b -> c : ssh, https\n")
    b = load_text(tmp_path, HEADER + "zone c {}\nzone b {}\nzone a {}\n\n# moved\nallow b,a->c:https,ssh { log }\n")
    assert a.flows[0].id == b.flows[0].id
    c = load_text(tmp_path, HEADER + "zone a {}\nzone b {}\nzone c {}\nallow a, b -> c : ssh\n")
    assert c.flows[0].id != a.flows[0].id
    d = load_text(tmp_path, HEADER + "zone a {}\nzone b {}\nzone c {}\ndeny a, b -> c : ssh, https\n")
    assert d.flows[0].id != a.flows[0].id


def test_flow_options(tmp_path):
    p = load_text(tmp_path, HEADER + "zone a {}\nzone b {}\nzone t {}\n"
                  'allow a -> b : ssh { stateless; inspect ssh; via t; ticket "T-1"; comment "c"; '
                  "expires 2027-06-30; log }\n")
    o = p.flows[0].options
    assert (o.log, o.stateful, o.inspect, o.via, o.ticket, o.comment, str(o.expires)) == (
        True, False, "ssh", "t", "T-1", "c", "2027-06-30")


def test_waiver(tmp_path):
    p = load_text(tmp_path, HEADER + "zone a {}\nzone b {}\n"
                  'waive R-7 for a -> b : ssh { reason "legacy"; owner "ops"; expires 2027-01-31; ticket "T-9" }\n')
    w = p.waivers[0]
    assert (w.rule, w.reason, w.owner, str(w.expires), w.ticket) == ("R-7", "legacy", "ops", "2027-01-31", "T-9")
    assert [e.zones for e in w.sources] == [("a",)] and [str(t) for t in w.services] == ["tcp/22"]


def test_imports_are_merged(tmp_path):
    write(tmp_path, "zone a { networks 10.1.0.0/16 }\n", "zones/a.zp")
    write(tmp_path, "zone b { networks 10.2.0.0/16 }\n", "zones/b.zp")
    root = write(tmp_path, HEADER + 'import "zones/*.zp"\nallow a -> b : ssh\n', "main.zp")
    p = api.load(root).policy
    assert [z.name for z in p.zones] == ["a", "b"]
    assert len(p.files) == 3
    assert p.zone("b").span.file.endswith("b.zp")


# ---- resolution errors: one test per code, with position and hint

def test_zp201_undefined_zone_with_did_you_mean(tmp_path):
    d = one_problem(tmp_path, "zone dmz-web {}\nzone core {}\nallow core -> dmz-wbe : ssh\n")
    assert d.code == "ZP201"
    assert d.message == "undefined zone or address object 'dmz-wbe'"
    assert at(d) == (4, 15) and d.span.end_column == 22
    assert d.hint == "did you mean 'dmz-web'?"


@pytest.mark.parametrize("body,message,pos,hint", [
    ("zone a {}\nallow a -> a : htps\n", "undefined service 'htps'", (3, 16), "did you mean 'https'?"),
    ("zone a {}\nallow a -> a : frobnicate\n", "undefined service 'frobnicate'", (3, 16),
     "write a literal such as tcp/443"),
    ("zone a { kind publc }\n", "undefined zone kind 'publc'", (2, 15), "did you mean 'public'?"),
    ("zone alpha {}\nallow zone(alhpa) -> alpha\n", "undefined zone 'alhpa'", (3, 12), "did you mean 'alpha'?"),
    ("address servers = 10.0.0.1\nzone a {}\nallow a -> address(servres)\n",
     "undefined address object 'servres'", (4, 20), "did you mean 'servers'?"),
    ("zone a { grading { business-info citizn general; system-service citizen general } }\n",
     "undefined harmed object 'citizn'", (2, 34), "did you mean 'citizen'?"),
    ("zone a { grading { business-info citizen seriuos; system-service citizen general } }\n",
     "undefined degree of harm 'seriuos'", (2, 42), "did you mean 'serious'?"),
    ("zone a { grading { busines-info citizen serious; system-service citizen general } }\n",
     "undefined grading target 'busines-info'", (2, 20), "did you mean 'business-info'?"),
    ("zone alpha {}\nzone b { hosted-on alpah }\n", "undefined zone 'alpah'", (3, 20), "did you mean 'alpha'?"),
    ("zone alpha {}\nallow alpha -> alpha : ssh { via alhpa }\n", "undefined zone 'alhpa'", (3, 34),
     "did you mean 'alpha'?"),
    ("zone a {}\naddress g = a\n", "undefined address object 'a'", (3, 13),
     "zones are used in flows directly, not inside address objects"),
])
def test_zp201_undefined_names(tmp_path, body, message, pos, hint):
    d = one_problem(tmp_path, body)
    assert (d.code, d.message, at(d), d.hint) == ("ZP201", message, pos, hint)


@pytest.mark.parametrize("body,message,pos", [
    ("zone a {}\nzone a {}\n", "zone 'a' is defined twice", (3, 6)),
    ("service s = tcp/1\nservice s = tcp/2\n", "service 's' is defined twice", (3, 9)),
    ("address x = 10.0.0.1\naddress x = 10.0.0.2\n", "address 'x' is defined twice", (3, 9)),
    ("firewall f { target h3c }\nfirewall f { target h3c }\n", "firewall 'f' is defined twice", (3, 10)),
    ("address a = 10.0.0.0/8\nzone a {}\n", "'a' names both a zone and an address object", (2, 9)),
    ("zone a {}\nallow a -> a : ssh\nallow a -> a : ssh\n", None, (4, 1)),
    ("zone a {}\nallow a -> a : ssh { id x }\nallow a -> a : https { id x }\n", "flow 'x' is defined twice", (4, 1)),
    ("zone a {}\nfirewall f { target h3c; interface eth0 -> a; interface eth0 -> a }\n",
     "interface 'eth0' is declared twice on firewall 'f'", (3, 57)),
])
def test_zp202_duplicates(tmp_path, body, message, pos):
    d = one_problem(tmp_path, body)
    assert d.code == "ZP202" and at(d) == pos and d.hint
    if message:
        assert d.message == message
    else:
        assert re.fullmatch(r"flow 'f[0-9a-f]+' is defined twice", d.message)
    assert d.related, "a duplicate points at the first definition"


def test_zp203_zone_overlap(tmp_path):
    d = one_problem(tmp_path, "zone a { networks 10.0.0.0/8 }\nzone b { networks 10.1.0.0/16 }\n")
    assert d.code == "ZP203"
    assert d.message == "zone 'b' (10.1.0.0/16) overlaps zone 'a' (10.0.0.0/8)"
    assert at(d) == (3, 1)
    assert "zone a.b" in d.hint
    assert d.related[0][1].line == 2


def test_zp203_ipv6_overlap(tmp_path):
    d = one_problem(tmp_path, "zone a { networks 2001:db8::/32 }\nzone b { networks 2001:db8:1::/48 }\n")
    assert d.code == "ZP203" and at(d) == (3, 1)


def test_sub_zone_inside_parent_is_allowed(tmp_path):
    p = load_text(tmp_path, HEADER + "zone a { networks 10.0.0.0/8 }\nzone a.b { networks 10.1.0.0/16 }\n"
                  "zone a.b.c { networks 10.1.2.0/24 }\nzone x { networks any }\n")
    assert [z.name for z in p.zones] == ["a", "a.b", "a.b.c", "x"]


def test_zp203_sibling_sub_zones_overlap(tmp_path):
    d = one_problem(tmp_path, "zone a { networks 10.0.0.0/8 }\nzone a.b { networks 10.1.0.0/16 }\n"
                    "zone a.c { networks 10.1.2.0/24 }\n")
    assert d.code == "ZP203" and "'a.c'" in d.message and at(d) == (4, 1)


def test_zp204_sub_zone_outside_parent(tmp_path):
    d = one_problem(tmp_path, "zone a { networks 10.0.0.0/16 }\nzone a.b { networks 10.1.0.0/16 }\n")
    assert d.code == "ZP204"
    assert d.message == "network 10.1.0.0/16 of sub-zone 'a.b' lies outside its parent 'a'"
    assert at(d) == (3, 1)
    assert d.hint.startswith("a has 10.0.0.0/16")


def test_zp204_sub_zone_claims_any(tmp_path):
    d = one_problem(tmp_path, "zone a { networks 10.0.0.0/16 }\nzone a.b { networks any }\n")
    assert d.code == "ZP204" and at(d) == (3, 1) and "networks any" in d.message


@pytest.mark.parametrize("body,pos,hint", [
    ("zone a { networks 10.0.0.1/8 }\n", (2, 19), "did you mean 10.0.0.0/8?"),
    ("zone a { networks 192.168.1.77/26 }\n", (2, 19), "did you mean 192.168.1.64/26?"),
    ("zone a { networks 2001:db8::1/64 }\n", (2, 19), "did you mean 2001:db8::/64?"),
    ("address x = 10.1.1.1/16\n", (2, 13), "did you mean 10.1.0.0/16?"),
    ("zone a {}\nallow 10.0.0.5/30 -> a\n", (3, 7), "did you mean 10.0.0.4/30?"),
])
def test_zp205_host_bits_set(tmp_path, body, pos, hint):
    d = one_problem(tmp_path, body)
    assert d.code == "ZP205" and at(d) == pos and d.hint == hint
    assert d.message.startswith("host bits set in '")


@pytest.mark.parametrize("body,pos", [
    ("zone a { networks 10.0.0.300 }\n", (2, 19)),
    ("zone a { networks 10.0.0.0/33 }\n", (2, 19)),
    ("zone a { networks 2001:db8:::1 }\n", (2, 19)),
])
def test_zp206_not_an_address(tmp_path, body, pos):
    d = one_problem(tmp_path, body)
    assert d.code == "ZP206" and at(d) == pos
    assert "is not an IPv4 or IPv6 address or prefix" in d.message and "10.1.0.0/16" in d.hint


@pytest.mark.parametrize("service,message,hint", [
    ("tcp/70000", "port 70000 is out of range 0–65535", None),
    ("udp/90-80", "port range 90-80 runs backwards", "write 80-90"),
    ("tcp/http", "'http' is not a port", None),
    ("tcp/443:1", "'tcp/443:1': only ICMP takes a code", "write tcp/443"),
    ("sctp/1-99999", "port 99999 is out of range 0–65535", None),
    ("tcp/" + "9" * 5000, "port " + "9" * 5000 + " is out of range 0–65535", None),
])
def test_zp207_bad_ports(tmp_path, service, message, hint):
    d = one_problem(tmp_path, f"zone a {{}}\nallow a -> a : {service}\n")
    assert (d.code, d.message, at(d), d.hint) == ("ZP207", message, (3, 16), hint)
    assert d.span.end_column == 16 + len(service)


@pytest.mark.parametrize("service,message", [
    ("ip/foo", "unknown protocol 'foo'"),
    ("ip/256", "protocol number 256 is out of range 0–255"),
    ("icmp/bogus", "unknown icmp type 'bogus'"),
    ("icmpv6/echo", "unknown icmpv6 type 'echo'"),
    ("icmp/300", "ICMP type 300 is out of range 0–255"),
    ("icmp/3:256", "ICMP code 256 is out of range 0–255"),
])
def test_zp208_bad_protocols_and_icmp_types(tmp_path, service, message):
    d = one_problem(tmp_path, f"zone a {{}}\nallow a -> a : {service}\n")
    assert (d.code, d.message, at(d)) == ("ZP208", message, (3, 16))


def test_zp208_hint_lists_the_known_names(tmp_path):
    d = one_problem(tmp_path, "zone a {}\nallow a -> a : icmp/echo\n")
    assert "echo-request" in d.hint
    d = one_problem(tmp_path, "zone a {}\nallow a -> a : ip/grx\n")
    assert "gre" in d.hint


def test_zp208_in_service_object(tmp_path):
    d = one_problem(tmp_path, "service s = tcp/1, icmp/nope\n")
    assert d.code == "ZP208" and at(d) == (2, 20)


@pytest.mark.parametrize("level,shown", [("0", "0"), ("6", "6"), ("99", "99"), ("9" * 5000, "9" * 5000)])
def test_zp209_level_out_of_range(tmp_path, level, shown):
    d = one_problem(tmp_path, f"zone a {{ level {level} }}\n")
    assert (d.code, d.message, at(d)) == ("ZP209", f"protection level {shown} is out of range", (2, 16))
    assert "1 to 5" in d.hint


def test_zp210_level_disagrees_with_grading(tmp_path):
    d = one_problem(tmp_path, "zone a {\n  level 2\n  grading { business-info social-order serious\n"
                    "            system-service social-order general }\n}\n")
    assert d.code == "ZP210"
    assert d.message == "level 2 disagrees with the grading inputs, which give level 3 (S3A2)"
    assert at(d) == (3, 3)
    assert d.hint == "write level 3, or correct the grading inputs"
    assert d.related[0][1].line == 4


def test_zp211_import_cycle(tmp_path, monkeypatch):
    write(tmp_path, HEADER + 'import "b.zp"\nzone a {}\n', "a.zp")
    write(tmp_path, '# b imports a back\nimport "a.zp"\nzone b {}\n', "b.zp")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidPolicy) as info:
        api.load("a.zp")
    [d] = info.value.diagnostics
    assert d.code == "ZP211"
    assert d.message == "import cycle: a.zp -> b.zp -> a.zp"
    assert (d.span.file, d.span.line, d.span.column) == ("b.zp", 2, 1)
    assert d.hint


def test_zp211_three_files_and_self_import(tmp_path, monkeypatch):
    write(tmp_path, HEADER + 'import "sub/b.zp"\n', "a.zp")
    write(tmp_path, 'import "c.zp"\n', "sub/b.zp")
    write(tmp_path, 'import "../a.zp"\n', "sub/c.zp")
    write(tmp_path, HEADER + 'import "self.zp"\n', "self.zp")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidPolicy) as info:
        api.load("a.zp")
    [d] = info.value.diagnostics
    assert d.code == "ZP211" and d.message == "import cycle: a.zp -> sub/b.zp -> sub/c.zp -> a.zp"
    assert (d.span.file, d.span.line) == ("sub/c.zp", 1)
    with pytest.raises(InvalidPolicy) as info:
        api.load("self.zp")
    assert [d.code for d in info.value.diagnostics] == ["ZP211"]


def test_diamond_import_is_not_a_cycle(tmp_path):
    write(tmp_path, HEADER + 'import "b.zp"\nimport "c.zp"\n', "a.zp")
    write(tmp_path, 'import "d.zp"\nzone b {}\n', "b.zp")
    write(tmp_path, 'import "d.zp"\nzone c {}\n', "c.zp")
    write(tmp_path, "zone d {}\n", "d.zp")
    p = api.load(str(tmp_path / "a.zp")).policy
    assert [z.name for z in p.zones] == ["b", "c", "d"]


@pytest.mark.parametrize("body,message,hint", [
    ("firewall f { target nftable }\n", "unknown firewall target 'nftable'", "did you mean 'nftables'?"),
    ("firewall f { target pf }\n", "unknown firewall target 'pf'", "targets: nftables, iptables"),
])
def test_zp212_unknown_firewall_target(tmp_path, body, message, hint):
    d = one_problem(tmp_path, body)
    assert (d.code, d.message, at(d)) == ("ZP212", message, (2, 21))
    assert d.hint.startswith(hint)


def test_zp212_missing_target(tmp_path):
    d = one_problem(tmp_path, "firewall edge { }\n")
    assert (d.code, d.message, at(d)) == ("ZP212", "firewall 'edge' has no target", (2, 10))
    assert "nftables" in d.hint


def test_zp213_import_matching_no_file(tmp_path):
    root = write(tmp_path, HEADER + 'import "nothing/*.zp"\n')
    with pytest.raises(InvalidPolicy) as info:
        api.load(root)
    [d] = info.value.diagnostics
    assert d.code == "ZP213" and d.message == 'import "nothing/*.zp" matches no file'
    assert at(d) == (2, 8) and d.hint


def test_zp213_absolute_import_and_directory(tmp_path):
    (tmp_path / "dir").mkdir()
    root = write(tmp_path, HEADER + 'import "/abs/x.zp"\nimport "dir"\n')
    with pytest.raises(InvalidPolicy) as info:
        api.load(root)
    diags = info.value.diagnostics
    assert [(d.code, d.span.line) for d in diags] == [("ZP213", 2), ("ZP213", 3)]
    assert "must be relative" in diags[0].message and "is a directory" in diags[1].message


def test_zp213_missing_root_file(tmp_path):
    with pytest.raises(InvalidPolicy) as info:
        api.load(str(tmp_path / "absent.zp"))
    [d] = info.value.diagnostics
    assert d.code == "ZP213" and "no such file" in d.message


def test_zp104_not_utf8(tmp_path):
    path = tmp_path / "latin1.zp"
    path.write_bytes(HEADER.encode() + "zone caf\xe9 {}\n".encode("latin-1"))
    with pytest.raises(InvalidPolicy) as info:
        api.load(str(path))
    [d] = info.value.diagnostics
    assert d.code == "ZP104" and "not UTF-8" in d.message and d.hint == "save the file as UTF-8"
    assert f"byte {len(HEADER) + 8}" in d.message


def test_zp215_incomplete_grading(tmp_path):
    d = one_problem(tmp_path, "zone a { grading { business-info social-order serious } }\n")
    assert d.code == "ZP215" and at(d) == (2, 10) and "system-service" in d.hint


def test_zp217_bad_dates(tmp_path):
    diags = problems(tmp_path, HEADER + "zone a {}\nallow a -> a : ssh { expires 2027-02-30 }\n"
                     'waive R1 { reason "r"; owner "o"; expires 2027-13-01 }\n')
    assert [(d.code, at(d)) for d in diags] == [("ZP217", (3, 30)), ("ZP217", (4, 43))]
    assert diags[0].message == "'2027-02-30' is not a calendar date"
    assert "YYYY-MM-DD" in diags[0].hint


def test_zp218_header(tmp_path):
    d = one_problem(tmp_path, "zone a {}\n", header="")
    assert (d.code, at(d), d.message) == ("ZP218", (1, 1), "the policy has no header")
    assert "policy NAME" in d.hint
    d = one_problem(tmp_path, "policy q { default deny; intrazone deny }\n")
    assert (d.code, at(d)) == ("ZP218", (2, 1)) and "second" in d.message


def test_zp219_zone_on_two_interfaces(tmp_path):
    d = one_problem(tmp_path, "zone a {}\nfirewall f { target h3c; interface eth0 -> a; interface eth1 -> a }\n")
    assert d.code == "ZP219" and at(d) == (3, 65)
    assert d.message == "zone 'a' is bound to two interfaces of firewall 'f'"


def test_zp220_two_any_zones(tmp_path):
    d = one_problem(tmp_path, "zone internet { networks any }\nzone outside { networks any }\n")
    assert d.code == "ZP220" and at(d) == (3, 1)
    assert d.message == "zones 'internet' and 'outside' both claim 'networks any'"
    assert d.related[0][1].line == 2


@pytest.mark.parametrize("body,message,pos", [
    ("zone a { level 2; level 3 }\n", "'level' is given twice", (2, 19)),
    ("zone a {}\nallow a -> a : ssh { log; log }\n", "'log' is given twice", (3, 27)),
    ("zone a {}\nallow a -> a : ssh { stateful; stateless }\n", "a flow cannot be both stateful and stateless",
     (3, 32)),
    ("zone a { grading { business-info citizen general; business-info citizen serious;"
     " system-service citizen general } }\n", "'business-info' is graded twice", (2, 51)),
])
def test_zp221_given_twice(tmp_path, body, message, pos):
    d = one_problem(tmp_path, body)
    assert (d.code, d.message, at(d)) == ("ZP221", message, pos)


def test_zp222_children_match_nothing(tmp_path):
    d = one_problem(tmp_path, "zone dmz {}\nzone core {}\nzone core.db {}\nallow dmz -> cor.*\n")
    assert d.code == "ZP222" and at(d) == (5, 14) and d.message == "'cor.*' matches no zone"
    assert d.hint.endswith("did you mean 'core.*'?")


def test_zp223_object_contains_itself(tmp_path):
    d = one_problem(tmp_path, "address x = y\naddress y = 10.0.0.1, x\n")
    assert d.code == "ZP223" and "contains itself" in d.message
    assert d.span.line in (2, 3)


def test_zp224_waiver_fields(tmp_path):
    diags = problems(tmp_path, HEADER + "waive R1\n")
    assert sorted(d.message for d in diags) == [
        "waiver of R1 has no expires", "waiver of R1 has no owner", "waiver of R1 has no reason"]
    assert all(d.code == "ZP224" and at(d) == (2, 1) and "reason" in d.hint for d in diags)
    d = one_problem(tmp_path, 'waive R2 { reason "r"; expires 2027-01-01 }\n')
    assert (d.code, d.message) == ("ZP224", "waiver of R2 has no owner")


@pytest.mark.parametrize("header,missing", [
    ("policy p { intrazone allow }\n", "default"),
    ("policy p { default deny }\n", "intrazone"),
])
def test_zp225_header_must_state_actions(tmp_path, header, missing):
    d = one_problem(tmp_path, "zone a {}\n", header=header)
    assert (d.code, at(d)) == ("ZP225", (1, 8))
    assert d.message == f"the policy header does not state '{missing}'"
    assert f"{missing} deny" in d.hint


def test_every_problem_of_a_file_in_one_run(tmp_path):
    text = HEADER + (
        "zone a { networks 10.0.0.1/8; level 9 }\n"   # 2: ZP205 host bits, ZP209 level
        "zone a {}\n"                                   # 3: ZP202 duplicate
        "zone b { kind publc }\n"                       # 4: ZP201 kind
        "allow a -> b : tcp/99999\n"                    # 5: ZP207 port
        "firewall f { target nftable }\n"               # 6: ZP212 target
    )
    diags = problems(tmp_path, text)
    assert [(d.code, d.span.line) for d in diags] == [
        ("ZP205", 2), ("ZP209", 2), ("ZP202", 3), ("ZP201", 4), ("ZP207", 5), ("ZP212", 6)]


def test_many_problems_across_files_in_one_run(tmp_path):
    write(tmp_path, "zone b { level 0 }\nallow b -> nowhere\n", "b.zp")
    root = write(tmp_path, HEADER + 'import "b.zp"\nzone a { networks 10.0.0.300 }\nwaive W { reason "r" }\n',
                 "a.zp")
    with pytest.raises(InvalidPolicy) as info:
        api.load(root)
    got = [(Path(d.span.file).name, d.span.line, d.code) for d in info.value.diagnostics]
    assert got == [("a.zp", 3, "ZP206"), ("a.zp", 4, "ZP224"), ("a.zp", 4, "ZP224"),
                   ("b.zp", 1, "ZP209"), ("b.zp", 2, "ZP201")]


def test_syntax_errors_of_every_file_in_one_run(tmp_path):
    write(tmp_path, "zone b { colour red }\n", "b.zp")
    root = write(tmp_path, HEADER + 'import "b.zp"\nallow a b\n', "a.zp")
    with pytest.raises(InvalidPolicy) as info:
        api.load(root)
    got = [(Path(d.span.file).name, d.span.line, d.code) for d in info.value.diagnostics]
    assert got == [("a.zp", 3, "ZP110"), ("b.zp", 1, "ZP115")]


def test_long_chain_of_object_groups(tmp_path):
    chain = "".join(f"address a{i} = a{i + 1}\n" for i in range(1500)) + "address a1500 = 10.0.0.1\n"
    p = load_text(tmp_path, HEADER + chain)
    assert p.addresses[0].networks == (net("10.0.0.1/32"),)


# ---- the resolver's shortcuts for province-scale policies keep the same answers

def test_repeated_endpoints_and_options_resolve_per_use(tmp_path):
    policy = load_text(tmp_path, HEADER + "zone a { networks 10.1.0.0/16 }\nzone a.b { networks 10.1.1.0/24 }\n"
                       "zone c { networks 10.2.0.0/16 }\naddress h = 10.2.0.9\n"
                       "allow a -> c : https { log }\nallow  a -> h { log }\ndeny c -> a.* , h { log }\n")
    first, second, third = policy.flows
    assert first.sources == second.sources and first.sources[0].zones == ("a", "a.b")
    # the same endpoint written twice keeps each use's own place
    assert (first.sources[0].span.line, second.sources[0].span.column) == (6, 8)
    assert third.destinations[1].networks == (net("10.2.0.9/32"),) and not third.destinations[1].is_zone
    assert first.options == second.options and first.options.log


def test_every_bad_use_of_a_repeated_endpoint_is_reported(tmp_path):
    diags = problems(tmp_path, HEADER + "zone a { networks 10.1.0.0/16 }\n"
                     "allow a -> nosuch\nallow nosuch -> a\nallow a -> nosuch : https\n")
    assert [(d.code, at(d)) for d in diags] == [("ZP201", (3, 12)), ("ZP201", (4, 7)), ("ZP201", (5, 12))]


def test_direct_constructor_builds_the_dataclass_value():
    import dataclasses

    from zonepolicy.diagnostics import Span
    from zonepolicy.model.policy import Endpoint, Flow, FlowOptions
    from zonepolicy.dsl.direct_constructor import direct_constructor as _direct_constructor

    ep = Endpoint(text="a.*", zones=("a.b", "a.c"), span=Span("p.zp", 3, 7, 3, 10))
    made = _direct_constructor(Endpoint)(*(getattr(ep, f.name) for f in dataclasses.fields(Endpoint)))
    assert type(made) is Endpoint and made == ep and hash(made) == hash(ep) and made.span == ep.span
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.text = "b"
    flow = Flow(id="f1", action=Action.ALLOW, sources=(ep,), destinations=(ep,), services=(),
                options=FlowOptions(log=True))
    assert _direct_constructor(Flow)(*(getattr(flow, f.name) for f in dataclasses.fields(Flow))) == flow

    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        x: int

        def __post_init__(self) -> None:
            raise ValueError

    with pytest.raises(TypeError):
        _direct_constructor(Checked)
