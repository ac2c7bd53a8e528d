"""Generate a province-scale synthetic policy: many zones, flows and objects, deterministic by seed.

Usage: python bench/gen_policy.py --zones 2000 --flows 50000 --objects 500 [--compliant] -o /tmp/province.zp

The shape follows a provincial extranet: top-level areas (public, dedicated departments, cities,
cloud, …), each with sub-zones holding their own /24 (and a /64 for some), address objects inside
zones, service objects, and flows between random zones with realistic options.

By default the flows are random, so nearly every one breaks some rule of the packs the header
names (tens of thousands of findings). ``--compliant`` writes the policy a province would aim for
instead: graded areas, flows only between sub-zones of different areas (so they cross the core
firewall) with ``log`` and ``inspect``, management protocols only from the management area, the
internet only to and from the internet-access area, one flow per zone pair, and a few deny flows
that carve a host out of an allow. What the verifier still reports on it is what a real province
would see: notes (unreachable zones, deny exceptions), not thousands of errors.
"""

from __future__ import annotations

import argparse
import random

AREAS = ["public", "dedicated", "city", "cloud", "dr", "mgmt", "backbone", "internet-access"]
KINDS = {"public": "public", "dedicated": "dedicated", "city": "city", "cloud": "cloud",
         "dr": "disaster-recovery", "mgmt": "management", "backbone": "backbone",
         "internet-access": "internet-access"}
SERVICES = ["https", "http", "dns", "ntp", "ssh", "ldap", "ocsp", "ping", "rsync", "snmp", "syslog", "sip"]


def generate(zones: int, flows: int, objects: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    out = ['policy province "合成省级政务外网" {', "    standard mlps-2.0", "    model egov-extranet",
           "    default deny", "    intrazone allow", "}", ""]
    names: list[str] = []
    per_area = max(1, (zones - 1) // len(AREAS))
    index = 0
    for a, area in enumerate(AREAS):
        # each area owns 10.<16a..16a+15>.0.0/12 and each sub-zone a /24 in it
        first = 16 * a
        out.append(f'zone {area} "区域 {area}" {{ kind {KINDS[area]}; level {rng.choice([2, 3, 3, 4])}; '
                   f"networks 10.{first}.0.0/12, fd00:{a:x}::/32 }}")
        names.append(area)
        for i in range(per_area):
            if len(names) >= zones - 1:
                break
            second = first + (i // 256)
            third = i % 256
            name = f"{area}.z{i}"
            v6 = f", fd00:{a:x}:{i:x}::/48" if i % 4 == 0 else ""
            out.append(f'zone {name} "子区 {i}" {{ networks 10.{second}.{third}.0/24{v6} }}')
            names.append(name)
            index += 1
    out.append('zone internet "互联网" { kind external; networks any }')
    names.append("internet")
    out.append("")
    inner = [n for n in names if "." in n]
    for i in range(objects):
        z = rng.choice(inner)
        a = AREAS.index(z.split(".")[0])
        i_zone = int(z.split(".z")[1])
        out.append(f"address host{i} = 10.{16 * a + i_zone // 256}.{i_zone % 256}.{rng.randrange(1, 255)}")
    for i in range(objects // 5):
        lo = rng.randrange(1024, 60000)
        out.append(f"service app{i} = tcp/{lo}-{lo + rng.randrange(0, 50)}, udp/{lo}")
    out.append("")
    seen: set[tuple[str, str, str, str]] = set()
    while len(seen) < flows:
        i = len(seen)
        src = rng.choice(names if rng.random() < 0.9 else AREAS)
        dst = rng.choice(inner) if rng.random() < 0.8 else f"host{rng.randrange(objects)}" if objects else "internet"
        svc = ", ".join(sorted(set(rng.choice(SERVICES + [f"app{rng.randrange(max(1, objects // 5))}"])
                                   for _ in range(rng.randrange(1, 4)))))
        action = "deny" if rng.random() < 0.1 else "allow"
        if (action, src, dst, svc) in seen:  # the same flow twice is an error in a policy
            continue
        seen.add((action, src, dst, svc))
        opts = " { log; stateful }" if rng.random() < 0.7 else " { log; ticket \"T-%d\" }" % i
        out.append(f"{action} {src} -> {dst} : {svc}{opts}")
    return _with_core_firewall(out)


# GB/T 22240 grading inputs giving level 2 and level 3 (max of the two targets' levels)
GRADING = {2: "grading { business-info social-order general; system-service social-order general }",
           3: "grading { business-info social-order serious; system-service social-order general }"}
MANAGEMENT = ["ssh", "snmp"]
# the management protocols MGT-01 names live below 10000: application ranges stay above
APP_PORTS = (10000, 60000)


def generate_compliant(zones: int, flows: int, objects: int, seed: int = 1, slips: float = 0.01) -> str:
    """A mostly compliant province (see the module docstring); a fraction ``slips`` of the allow flows
    forgets ``log`` (BND-14), as reviews of real policies find."""
    rng = random.Random(seed)
    out = ['policy province "合成省级政务外网（合规）" {', "    standard mlps-2.0", "    model egov-extranet",
           "    default deny", "    intrazone allow", "}", ""]
    levels: dict[str, int] = {}
    inner_by_area: dict[str, list[str]] = {}
    per_area = max(1, (zones - 1) // len(AREAS))
    count = 0
    for a, area in enumerate(AREAS):
        first = 16 * a
        levels[area] = 3 if area in ("dedicated", "mgmt", "internet-access", "cloud") else rng.choice([2, 3])
        out.append(f'zone {area} "区域 {area}" {{ kind {KINDS[area]}; {GRADING[levels[area]]}; '
                   f"networks 10.{first}.0.0/12, fd00:{a:x}::/32 }}")
        count += 1
        subs = inner_by_area.setdefault(area, [])
        for i in range(per_area):
            if count >= zones - 1:
                break
            v6 = f", fd00:{a:x}:{i:x}::/48" if i % 4 == 0 else ""
            out.append(f'zone {area}.z{i} "子区 {i}" {{ networks 10.{first + i // 256}.{i % 256}.0/24{v6} }}')
            subs.append(f"{area}.z{i}")
            count += 1
    out.append('zone internet "互联网" { kind external; networks any }')
    out.append("")
    areas = [a for a in AREAS if inner_by_area[a]]
    hosts: dict[str, list[str]] = {}
    for i in range(objects):
        area = rng.choice(areas)
        z = rng.choice(inner_by_area[area])
        k = int(z.split(".z")[1])
        out.append(f"address host{i} = 10.{16 * AREAS.index(area) + k // 256}.{k % 256}.{rng.randrange(1, 255)}")
        hosts.setdefault(z, []).append(f"host{i}")
    apps = max(1, objects // 5)
    for i in range(apps):
        lo = rng.randrange(*APP_PORTS)
        out.append(f"service app{i} = tcp/{lo}-{lo + rng.randrange(0, 50)}, udp/{lo}")
    out.append("")
    business = [s for s in SERVICES if s not in MANAGEMENT]
    pairs: set[tuple[str, str]] = set()
    written = 0
    attempts = 0
    while written < flows and attempts < 20 * flows:
        attempts += 1
        roll = rng.random()
        if roll < 0.01:  # the internet reaches published front ends only, and they reach it
            front = rng.choice(inner_by_area["internet-access"])
            src, dst, svc = ("internet", front, "https") if rng.random() < 0.5 else (front, "internet", "https, dns")
            key = (src, dst)
        else:
            sa, da = rng.sample([a for a in areas if a != "internet-access"], 2)
            src, zone = rng.choice(inner_by_area[sa]), rng.choice(inner_by_area[da])
            if sa == "mgmt" and rng.random() < 0.5:
                svc = ", ".join(sorted(rng.sample(MANAGEMENT, rng.randrange(1, 3))))
            else:
                svc = ", ".join(sorted(set(rng.choice(business + [f"app{rng.randrange(apps)}"])
                                           for _ in range(rng.randrange(1, 4)))))
            key = (src, zone)
            dst = rng.choice(hosts[zone]) if zone in hosts and rng.random() < 0.2 else zone
        if key in pairs:
            continue
        pairs.add(key)
        written += 1
        # key[1] is the destination zone (a host object's zone too): flows into level 3 are inspected
        opts = "log; inspect http" if levels.get(key[1].split(".")[0]) == 3 else "log"
        if rng.random() < slips:
            opts = opts.replace("log; ", "").replace("log", "stateful")
        out.append(f"allow {src} -> {dst} : {svc} {{ {opts}; ticket \"T-{written}\" }}")
        zone = key[1]
        if written < flows and rng.random() < 0.01 and zone in hosts and dst == zone:
            # an exception carved out of the allow just written (ANO-04, a note)
            written += 1
            out.append(f"deny {src} -> {rng.choice(hosts[zone])} : {svc} {{ log }}")
    return _with_core_firewall(out)


def _with_core_firewall(out: list[str]) -> str:
    """The policy text: its lines and one core firewall with an interface per area and the internet."""
    out.append("")
    out.append("firewall core { target nftables")
    for a, area in enumerate(AREAS):
        out.append(f"    interface eth{a} -> {area}")
    out.append(f"    interface eth{len(AREAS)} -> internet")
    out.append("}")
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zones", type=int, default=2000)
    ap.add_argument("--flows", type=int, default=50000)
    ap.add_argument("--objects", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--compliant", action="store_true", help="a mostly compliant policy instead of random flows")
    ap.add_argument("--slips", type=float, default=0.01,
                    help="with --compliant: fraction of allow flows without `log` (default 0.01)")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    with open(args.output, "w", encoding="utf-8") as fh:
        if args.compliant:
            fh.write(generate_compliant(args.zones, args.flows, args.objects, args.seed, args.slips))
        else:
            fh.write(generate(args.zones, args.flows, args.objects, args.seed))


if __name__ == "__main__":
    main()
