"""The shipped examples: every one passes ``zonepolicy check``, and the Jiangsu extranet says what it claims.

The Jiangsu assertions are the extranet zone model stated as facts about one policy: asked of the
one meaning (:class:`~zonepolicy.semantics.meaning.Meaning`), per packet with ``decide`` and for all
packets at once with the exact packet sets.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import EXAMPLES, REPO, run_cli
from zonepolicy.api import load_policy
from zonepolicy.model.policy import Policy
from zonepolicy.model.values import Action, ZoneKind
from zonepolicy.semantics.meaning import Meaning
from zonepolicy.semantics.packet import ICMP, TCP, UDP, Packet
from zonepolicy.semantics.packetset import PacketSet

ROOT_FILES = sorted(p for p in EXAMPLES.glob("*/*.zp") if p.name in ("main.zp", "policy.zp"))
JIANGSU = EXAMPLES / "jiangsu" / "main.zp"

CITIES = {"nanjing", "wuxi", "xuzhou", "changzhou", "suzhou", "nantong", "lianyungang", "huaian", "yancheng",
          "yangzhou", "zhenjiang", "taizhou", "suqian"}
ZHENJIANG_CODE = 11  # 行政区划代码 3211 → 10.111.0.0/16


def test_every_example_has_a_root_file():
    dirs = sorted(p for p in EXAMPLES.iterdir() if p.is_dir())
    assert {p.parent for p in ROOT_FILES} == set(dirs)
    assert {"quickstart", "jiangsu"} <= {d.name for d in dirs}


@pytest.mark.parametrize("root", ROOT_FILES, ids=lambda p: p.parent.name)
def test_example_passes_check(root: Path):
    rel = root.relative_to(REPO).as_posix()
    result = run_cli("check", rel)
    assert result.returncode == 0, result.stderr
    assert f"{rel}: ok" in result.stdout


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(str(JIANGSU))


@pytest.fixture(scope="module")
def meaning(policy: Policy) -> Meaning:
    return Meaning(policy)


def first_host(policy: Policy, zone: str, family: int = 4) -> str:
    """An address whose most specific zone is ``zone`` (the first host of its first own prefix)."""
    children = [n for c in policy.children(zone) for n in c.networks]
    for net in policy.zone(zone).networks:
        if net.version != family:
            continue
        for host in (net.network_address + 1, net.network_address + 2):
            if not any(host in c for c in children if c.version == family):
                return str(host)
    raise AssertionError(f"no own {family} address in zone {zone}")


def decide(policy: Policy, meaning: Meaning, src: str, dst: str, proto: int, dport: int = 0, **kw):
    p = Packet.of(first_host(policy, src), first_host(policy, dst), proto, dport, **kw)
    d = meaning.decide(p)
    assert (d.src_zone, d.dst_zone) == (src, dst)
    return d


def zone_set(meaning: Meaning, zones, side: str) -> PacketSet:
    return meaning.zones_addresses(zones, side)


def subtree(policy: Policy, name: str) -> list[str]:
    return [z.name for z in policy.zones if z.name == name or z.name.startswith(name + ".")]


# ---- shape of the example


def test_thirteen_cities_each_with_its_own_prefix(policy: Policy):
    cities = [z for z in policy.zones if z.kind is ZoneKind.CITY and z.name.count(".") == 1]
    assert {z.name.split(".")[1] for z in cities} == CITIES
    v4 = [n for z in cities for n in z.networks if n.version == 4]
    assert len(v4) == 13 and all(not a.overlaps(b) for i, a in enumerate(v4) for b in v4[i + 1:])
    assert str(policy.zone("city.zhenjiang").networks[0]) == f"10.1{ZHENJIANG_CODE}.0.0/16"
    for z in cities:
        assert {c.name.rsplit(".", 1)[1] for c in policy.children(z.name)} == {"gov", "dc", "county"}


def test_dedicated_zones_are_separate_vpns(policy: Policy):
    dedicated = [z for z in policy.zones if z.kind is ZoneKind.DEDICATED and z.networks]
    assert len(dedicated) >= 8
    assert all(z.vpn for z in dedicated) and len({z.vpn for z in dedicated}) == len(dedicated)
    police = policy.zone("dedicated.police")
    assert (police.level, police.important, police.grading.label) == (4, True, "S4A3")
    assert sum(1 for z in dedicated if z.grading) >= 3


def test_zone_model_kinds_are_present(policy: Policy):
    kinds = {z.kind for z in policy.zones}
    assert {ZoneKind.BACKBONE, ZoneKind.NATIONAL, ZoneKind.PUBLIC, ZoneKind.DEDICATED, ZoneKind.INTERNET_ACCESS,
            ZoneKind.EXTERNAL, ZoneKind.MANAGEMENT, ZoneKind.CLOUD, ZoneKind.DISASTER_RECOVERY, ZoneKind.CITY,
            ZoneKind.REMOTE_ACCESS, ZoneKind.CLASSIFIED} <= kinds
    assert {"public.portal", "public.ca", "public.iam", "public.dsp", "public.video", "public.oa",
            "internet-access.sap"} <= {z.name for z in policy.zones}


def test_firewalls_of_several_targets(policy: Policy):
    targets = {fw.target for fw in policy.firewalls}
    assert len(targets) >= 4
    assert policy.firewall("js-core").target == "huawei-usg"
    assert policy.firewall("internet-edge").target == "h3c"
    assert {f"{c}-edge" for c in CITIES} <= {fw.name for fw in policy.firewalls}


def test_waivers_are_reviewed(policy: Policy):
    assert len(policy.waivers) >= 3
    assert all(w.reason and w.owner and w.expires for w in policy.waivers)
    assert "BND-12" in {w.rule for w in policy.waivers}  # BND-12: application-layer inspection


def test_every_allow_flow_names_services_and_logs(policy: Policy):
    for f in policy.flows:
        if f.action is Action.ALLOW:
            assert f.services and f.options.log, f.id
            assert all(t.protocol is not None and (t.ports or t.icmp_type is not None or t.protocol == 50)
                       for t in f.services), f.id


# ---- the internet boundary


def test_internet_reaches_the_portal_only_through_the_front_end(policy: Policy, meaning: Meaning):
    front = decide(policy, meaning, "internet", "internet-access.portal-web", TCP, 443)
    assert front.allowed and front.flows == ("inet-portal",)
    back = decide(policy, meaning, "internet-access.portal-web", "public.portal", TCP, 443)
    assert back.allowed and back.flows == ("portal-backend",)
    direct = decide(policy, meaning, "internet", "public.portal", TCP, 443)
    assert not direct.allowed and direct.flows == ("inet-guard",)
    portal = policy.flow("portal-backend")
    assert portal.options.inspect == "http" and policy.flow("inet-portal").options.inspect == "http"


def test_internet_reaches_nothing_but_the_internet_access_zone(policy: Policy, meaning: Meaning):
    inet = zone_set(meaning, ["internet"], "src")
    allowed_from_internet = meaning.allowed() & inet - meaning.same_zone()
    ia = zone_set(meaning, subtree(policy, "internet-access"), "dst")
    assert allowed_from_internet
    assert not allowed_from_internet - ia


def test_internet_to_police_is_denied(policy: Policy, meaning: Meaning):
    for proto, port in ((TCP, 443), (TCP, 22), (UDP, 53)):
        assert not decide(policy, meaning, "internet", "dedicated.police", proto, port).allowed


def test_remote_staff_only_through_the_secure_access_platform(policy: Policy, meaning: Meaning):
    ra = decide(policy, meaning, "remote.staff", "public.oa", TCP, 443)
    assert ra.allowed and ra.flows == ("ra-staff-oa",)
    assert not decide(policy, meaning, "remote.staff", "dedicated.market", TCP, 443).allowed
    assert decide(policy, meaning, "remote.market", "dedicated.market", TCP, 443).allowed
    inner = set(subtree(policy, "public")) | set(subtree(policy, "dedicated"))
    for f in policy.flows:
        if f.action is Action.ALLOW and any(z.startswith("remote") for e in f.sources for z in e.zones):
            assert any(z in inner for e in f.destinations for z in e.zones), f.id
            assert f.options.via == "internet-access.sap", f.id
    lateral = decide(policy, meaning, "remote.staff", "remote.staff", TCP, 445)
    assert not lateral.allowed and lateral.flows == ("ra-no-lateral",)


def test_staff_reach_the_internet_only_through_the_proxy(policy: Policy, meaning: Meaning):
    assert not decide(policy, meaning, "public.depts", "internet", TCP, 443).allowed
    assert decide(policy, meaning, "public.depts", "internet-access.proxy", TCP, 8080).allowed
    assert decide(policy, meaning, "internet-access.proxy", "internet", TCP, 443).allowed
    to_internet = meaning.allowed() & zone_set(meaning, ["internet"], "dst") - meaning.same_zone()
    assert not to_internet - zone_set(meaning, ["internet-access.proxy"], "src")


# ---- isolation inside the extranet


def test_dedicated_vpns_are_isolated_from_each_other(policy: Policy, meaning: Meaning):
    assert not decide(policy, meaning, "dedicated.tax", "dedicated.police", TCP, 443).allowed
    assert not decide(policy, meaning, "dedicated.finance", "dedicated.tax", TCP, 443).allowed
    allowed = meaning.allowed()
    vpns = [z.name for z in policy.zones if z.kind is ZoneKind.DEDICATED and z.networks]
    for a in vpns:
        for b in vpns:
            if a != b:
                assert not allowed & meaning.between(a, b), (a, b)


def test_police_accepts_no_inbound_connection(policy: Policy, meaning: Meaning):
    police = zone_set(meaning, ["dedicated.police"], "dst")
    assert not meaning.allowed() & police - meaning.same_zone()
    out = decide(policy, meaning, "dedicated.police", "public.dsp", TCP, 443)
    assert out.allowed
    assert not decide(policy, meaning, "public.dsp", "dedicated.police", TCP, 443).allowed
    assert decide(policy, meaning, "public.dsp", "dedicated.tax", TCP, 443).allowed


def test_management_protocols_only_from_the_management_zone(policy: Policy, meaning: Meaning):
    ssh = decide(policy, meaning, "mgmt.bastion", "city.nanjing.dc", TCP, 22)
    assert ssh.allowed and ssh.flows == ("mgmt-ssh",)
    assert decide(policy, meaning, "mgmt.nms", "city.suqian.gov", UDP, 161).allowed
    assert not decide(policy, meaning, "public.depts", "city.nanjing.dc", TCP, 22).allowed
    assert not decide(policy, meaning, "mgmt.bastion", "dedicated.tax", TCP, 22).allowed
    mgmt_protocols = PacketSet.build(proto=[(TCP, TCP)], dport=[(22, 23), (830, 830), (3389, 3389)]) | \
        PacketSet.build(proto=[(UDP, UDP)], dport=[(161, 161)])
    cross = meaning.allowed() & mgmt_protocols - meaning.same_zone()
    assert cross
    assert not cross - zone_set(meaning, subtree(policy, "mgmt"), "src")


def test_every_city_backs_up_to_the_dr_centre(policy: Policy, meaning: Meaning):
    for city in sorted(CITIES):
        d = decide(policy, meaning, f"city.{city}.dc", "dr.backup", TCP, 873)
        assert d.allowed, city
    short = decide(policy, meaning, "city.nanjing.dc", "dr.backup", TCP, 10005)
    assert short.flows == ("nj-backup",)
    assert not decide(policy, meaning, "city.nanjing.gov", "dr.backup", TCP, 873).allowed
    assert not decide(policy, meaning, "dr.backup", "city.nanjing.dc", TCP, 873).allowed


def test_cities_use_shared_services_over_ipv4_and_ipv6(policy: Policy, meaning: Meaning):
    assert decide(policy, meaning, "city.wuxi.gov", "public.infra", UDP, 53).allowed
    v6 = Packet.of(first_host(policy, "city.wuxi.gov", 6), first_host(policy, "public.infra", 6), UDP, 53)
    assert meaning.decide(v6).allowed
    assert not decide(policy, meaning, "city.wuxi.gov", "city.suzhou.gov", TCP, 443).allowed


def test_only_national_public_addresses_talk_to_the_national_network(policy: Policy, meaning: Meaning):
    local = [n for a in policy.addresses if a.name == "js-local-ip" for n in a.networks]
    national = subtree(policy, "national")
    allowed = meaning.allowed()
    assert allowed & zone_set(meaning, national, "dst")
    assert not allowed & PacketSet.build(src=local) & zone_set(meaning, national, "dst")
    assert not allowed & zone_set(meaning, national, "src") & PacketSet.build(dst=local)
    assert not decide(policy, meaning, "city.nanjing.dc", "national.dsp", TCP, 443).allowed


def test_the_classified_network_is_untouched(policy: Policy, meaning: Meaning):
    secret = policy.zone("secret")
    assert secret.classified and secret.level is None
    touching = zone_set(meaning, ["secret"], "src") | zone_set(meaning, ["secret"], "dst")
    assert not meaning.allowed() & touching - meaning.same_zone()
    assert not any("secret" in e.zones for f in policy.flows for e in f.sources + f.destinations)
    assert not any("secret" in fw.zones() for fw in policy.firewalls)


def test_every_cross_zone_packet_crosses_a_firewall(policy: Policy, meaning: Meaning):
    crossed = PacketSet.empty()
    for fw in policy.firewalls:
        crossed = crossed | meaning.firewall_scope(fw)
    uncrossed = meaning.allowed() - meaning.same_zone() - crossed
    assert not uncrossed, uncrossed.describe()


def test_ping_from_the_nms_reaches_a_dr_server(policy: Policy, meaning: Meaning):
    d = decide(policy, meaning, "mgmt.nms", "dr.standby", ICMP, icmp_type=8)
    assert d.allowed and d.flows == ("mgmt-monitor",)
