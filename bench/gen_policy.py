"""Generate a province-scale synthetic policy: many zones, flows and objects, deterministic by seed.

Usage: python bench/gen_policy.py --zones 2000 --flows 50000 --objects 500 -o /tmp/province.zp

The shape follows a provincial extranet: top-level areas (public, dedicated departments, cities,
cloud, …), each with sub-zones holding their own /24 (and a /64 for some), address objects inside
zones, service objects, and flows between random zones with realistic options.
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
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    with open(args.output, "w", encoding="utf-8") as fh:
        fh.write(generate(args.zones, args.flows, args.objects, args.seed))


if __name__ == "__main__":
    main()
