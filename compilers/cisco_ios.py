"""The ``cisco-ios`` back end: named extended ACLs bound inbound on every interface.

Output, per firewall, one file ``<firewall>.ios`` to paste into configuration mode::

    ip access-list extended ZP4_GigabitEthernet0_0_IN     one ACL per interface and family
     remark zonepolicy ingress GigabitEthernet0/0
     evaluate zp-reflect                                    replies of sessions opened by stateful flows
     remark zp pair GigabitEthernet0/0 -> GigabitEthernet0/1
     remark flow web-in examples/x.zp:12
     permit tcp 10.1.0.0 0.0.255.255 host 10.2.0.5 eq 443 log reflect zp-reflect
     deny ip any any                                        the explicit final deny
    ipv6 access-list ZP6_GigabitEthernet0_0_IN             same for IPv6 (ICMP is ICMPv6 there)
    interface GigabitEthernet0/0
     ip access-group ZP4_GigabitEthernet0_0_IN in
     ipv6 traffic-filter ZP6_GigabitEthernet0_0_IN in

Why this shape:

* **Ingress only.** An inbound ACL cannot see the egress interface; the rules of every pair the
  interface is the ingress of follow one another, each pair's part starting with a ``zp pair``
  remark. The lowering gives every rule a destination inside the egress zones, so a rule of one
  pair cannot match a packet routed to another (see :mod:`._cisco`).
* **State.** A plain ACL keeps no state, so a reply entering the other interface would meet that
  interface's ACL. Stateful flows' permits therefore carry ``reflect zp-reflect`` and every ACL
  starts with ``evaluate zp-reflect``: the reflexive entries let exactly the replies of those
  sessions back. Stateless flows' permits do not reflect, so their replies are judged as new
  packets — what ``stateless`` means. (Reflexive entries track TCP, UDP and ICMP sessions.)
* **IPv6 ACLs** end with ``permit icmp any any nd-na`` / ``nd-ns`` before the final deny, as IOS's
  own implicit entries do: neighbour discovery is link-local and never forwarded, but a deny-all
  would cut the interface off its neighbours.
* **Names.** Interface names must look like IOS names (``GigabitEthernet0/0/1``,
  ``Port-channel1.100``); anything else is refused (ZP403), never rewritten, since a rewritten
  name would filter a different interface. ACL names are ``ZP4_``/``ZP6_`` + the interface name with
  ``/ : .`` as ``_`` (+ a hash where that collides). Remarks are ASCII without ``? ! # " \\ ; |``
  (a pasted ``?`` asks the CLI for help), at most 100 characters: nothing from the policy can end a
  line or be read as a command.
* **Addresses** are written inline (one ACE per source prefix × destination prefix × protocol
  match), with IOS wildcard masks for IPv4.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Sequence

from zonepolicy.model.values import Action, Network

from . import _cisco as cc
from ._intervals import ip_text
from .base import Feature, TargetModel, TargetRule, register

REFLECT = {4: "zp-reflect", 6: "zp-reflect6"}
_PROTO_OUT = {4: {6: "tcp", 17: "udp", 1: "icmp"}, 6: {6: "tcp", 17: "udp", 58: "icmp"}}
_PROTO_IN = {4: {"ip": None, "tcp": 6, "udp": 17, "icmp": 1}, 6: {"ipv6": None, "tcp": 6, "udp": 17, "icmp": 58}}
_ND = (" permit icmp any any nd-na", " permit icmp any any nd-ns")


def acl_names(interfaces: Sequence[str]) -> dict[tuple[str, int], str]:
    """The ACL name of each (interface, family)."""
    tokens = cc.interface_tokens(interfaces, 60)
    return {(i, f): f"ZP{f}_{tokens[i]}_IN" for i in interfaces for f in (4, 6)}


@functools.lru_cache(maxsize=65536)  # a configuration names the same prefixes over and over
def address(net: Network) -> str:
    """An IOS ACL address: ``any``, ``host A``, ``A WILDCARD`` (IPv4) or ``A/LEN`` (IPv6)."""
    if net.prefixlen == 0:
        return "any"
    if net.prefixlen == net.max_prefixlen:
        return f"host {ip_text(net.version, int(net.network_address))}"
    if net.version == 4:  # printed from the integers: ipaddress objects cost more than the whole ACE
        return f"{ip_text(4, int(net.network_address))} {ip_text(4, (1 << 32 - net.prefixlen) - 1)}"
    return str(net)


def addresses(nets: tuple[Network, ...]) -> str:
    """One prefix as an address, several (IPv4 only) as the object-group of the list."""
    return address(nets[0]) if len(nets) == 1 else f"object-group {cc.group_name(nets)}"


def group_lines(nets: tuple[Network, ...]) -> list[str]:
    """An IPv4 network object-group: ``host A`` or ``A NETMASK`` per prefix (netmasks, not wildcards)."""
    body = [f" host {n.network_address}" if n.prefixlen == 32 else f" {n.network_address} {n.netmask}" for n in nets]
    return ["!", f"object-group network {cc.group_name(nets)}"] + body


def ace_text(ace: cc.Ace) -> str:
    """One ACE line (with its leading space) as IOS writes it."""
    proto = "ip" if ace.family == 4 else "ipv6"
    if ace.proto is not None:
        proto = _PROTO_OUT[ace.family].get(ace.proto, str(ace.proto))
    words = ["permit" if ace.permit else "deny", proto, addresses(ace.src), addresses(ace.dst)]
    if ace.ports is not None and ace.ports != (0, 65535):
        lo, hi = ace.ports
        words += ["eq", str(lo)] if lo == hi else ["range", str(lo), str(hi)]
    if ace.icmp is not None:
        words += [str(ace.icmp[0])] + ([str(ace.icmp[1])] if ace.icmp[1] is not None else [])
    if ace.log:
        words.append("log")
    if ace.reflect:
        words += ["reflect", REFLECT[ace.family]]
    return " " + " ".join(words)


def _protocol_word(family: int, proto: int | None) -> str:
    return ("ip" if family == 4 else "ipv6") if proto is None else _PROTO_OUT[family].get(proto, str(proto))


class RuleLines:
    """The ACE lines of target rules, as :func:`ace_text` of :func:`~._cisco.rule_aces` writes them, with
    the text of each prefix list and protocol match made once: the rules of a large model share a
    few thousand prefix lists (the same tuples) and a few hundred protocol parts. The object-groups
    the lines name are collected in ``groups``."""

    def __init__(self) -> None:
        self.groups: dict[str, tuple[Network, ...]] = {}
        self._lists: dict[tuple[int, int], tuple[tuple[Network, ...], list[str], tuple[Network, ...] | None]] = {}
        self._protocol = cc.ProtocolTexts(_protocol_word)

    def _addresses(self, nets: tuple[Network, ...], family: int) -> tuple[list[str], tuple[Network, ...] | None]:
        """The address texts of a prefix list, and the object-group they name (if any)."""
        found = self._lists.get((id(nets), family))
        if found is None or found[0] is not nets:  # the tuple is kept, so its id stays its own
            mine = tuple(n for n in nets if n.version == family)
            if family == 4 and len(mine) > 1:  # IOS network object-groups: IPv4 only
                found = (nets, [f"object-group {cc.group_name(mine)}"], mine)
            else:
                found = (nets, [address(n) for n in mine], None)
            self._lists[id(nets), family] = found
        return found[1], found[2]

    def __call__(self, rule: TargetRule) -> list[str]:
        permit = rule.action is Action.ALLOW
        action = "permit" if permit else "deny"
        end = (" log" if rule.log else "") + (f" reflect {REFLECT[rule.family]}" if permit and rule.stateful else "")
        matches = self._protocol(rule)
        (srcs, src_group), (dsts, dst_group) = self._addresses(rule.src, rule.family), \
            self._addresses(rule.dst, rule.family)
        if not (matches and srcs and dsts):
            return []  # no entry, so no group named either
        for group in (src_group, dst_group):
            if group is not None:
                self.groups[cc.group_name(group)] = group
        return [f" {action} {word} {s} {d}{tail}{end}" for s in srcs for d in dsts for word, tail in matches]


def render_text(model: TargetModel) -> str:
    """The whole configuration of one firewall (deterministic: model order, fixed ACE order)."""
    names = [n for n, _ in model.interfaces]
    acls = acl_names(names)
    head = [f"! zonepolicy {cc.clean_remark(model.policy)} firewall {cc.clean_remark(model.firewall)} (cisco-ios)"]
    if model.description:
        head.append(f"! {cc.clean_remark(model.description)}")
    lines: list[str] = []
    rule_lines = RuleLines()
    for fam in (4, 6):
        for ifname in names:
            start = f"ip access-list extended {acls[ifname, 4]}" if fam == 4 else f"ipv6 access-list {acls[ifname, 6]}"
            lines += ["!", start,
                      f" remark zonepolicy ingress {ifname}", f" evaluate {REFLECT[fam]}"]
            for pair in model.pairs:
                if pair.in_if != ifname:
                    continue
                lines.append(f" remark {cc.pair_remark(pair.in_if, pair.out_if)}")
                last = None
                for rule in cc.ordered([r for r in pair.rules if r.family == fam]):
                    if rule.flow_id != last:
                        lines.append(f" remark {cc.flow_remark(rule.flow_id, rule.origin)}")
                        last = rule.flow_id
                    lines += rule_lines(rule)
            lines.append(f" remark {cc.END_MARK}")
            if fam == 6:
                lines += list(_ND)
            lines.append(" deny ip any any" if fam == 4 else " deny ipv6 any any")
    for ifname in names:
        lines += ["!", f"interface {ifname}", f" ip access-group {acls[ifname, 4]} in",
                  f" ipv6 traffic-filter {acls[ifname, 6]} in"]
    for name in sorted(rule_lines.groups):  # groups first: an ACE may only name a group that exists
        head += group_lines(rule_lines.groups[name])
    return "\n".join(head + lines + ["!", "end", ""])  # ends with a newline, the text copied once


# ---- reading back
def _address(tokens: list[str], k: int, family: int, number: int,
             groups: dict[str, tuple[Network, ...]]) -> tuple[tuple[Network, ...], int]:
    if tokens[k:k + 1] == ["object-group"] and family == 4:
        if k + 1 >= len(tokens) or tokens[k + 1] not in groups:
            raise cc.CiscoReadError(number, "an object-group that is not defined (before its use)")
        return groups[tokens[k + 1]], k + 2
    net, k = _one_address(tokens, k, family, number)
    return (net,), k


def _one_address(tokens: list[str], k: int, family: int, number: int) -> tuple[Network, int]:
    try:
        if tokens[k] == "any":
            return ipaddress.ip_network("0.0.0.0/0" if family == 4 else "::/0"), k + 1
        if tokens[k] == "host":
            net = ipaddress.ip_network(tokens[k + 1])
        elif family == 4:
            return cc.wildcard_network(tokens[k], tokens[k + 1], number), k + 2
        else:
            if "/" not in tokens[k]:
                raise ValueError("an IPv6 prefix needs /LEN")
            net = ipaddress.ip_network(tokens[k], strict=True)
        if net.version != family:
            raise ValueError(f"not an IPv{family} address")
        return net, k + (2 if tokens[k] == "host" else 1)
    except (IndexError, ValueError) as err:
        raise cc.CiscoReadError(number, f"bad address in {' '.join(tokens)!r}: {err}") from None


def parse_ace(text: str, family: int, number: int, groups: dict[str, tuple[Network, ...]] | None = None) -> cc.Ace:
    """One ``permit``/``deny`` line of an IOS ACL of ``family``."""
    tokens = text.split()
    if len(tokens) < 4 or tokens[0] not in ("permit", "deny"):
        raise cc.CiscoReadError(number, f"not an access-list entry: {text!r}")
    word = tokens[1]
    if word in _PROTO_IN[family]:
        proto = _PROTO_IN[family][word]
    elif word.isdigit() and 0 < int(word) <= 255:
        proto = int(word)
    else:
        raise cc.CiscoReadError(number, f"unknown protocol {word!r}")
    src, k = _address(tokens, 2, family, number, groups or {})
    dst, k = _address(tokens, k, family, number, groups or {})
    ports, icmp, log, reflect, _ = cc.parse_ace_tail(tokens, k, number, proto if word == "icmp" else None)
    if ports is not None and proto not in (6, 17):
        raise cc.CiscoReadError(number, "ports on a protocol without ports")
    return cc.Ace(tokens[0] == "permit", family, proto, src, dst, ports, icmp, log, reflect)


def parse(text: str) -> tuple[dict[str, list[cc.Entry]], dict[tuple[str, int], str]]:
    """The ACLs (name → entries) and inbound bindings ((interface, family) → ACL) of emitted text."""
    acls: dict[str, list[cc.Entry]] = {}
    families: dict[str, int] = {}
    bindings: dict[tuple[str, int], str] = {}
    groups: dict[str, tuple[Network, ...]] = {}
    group: str | None = None
    acl: str | None = None
    ifname: str | None = None
    note = ""
    for number, line in enumerate(text.split("\n"), 1):
        if not (line.isascii() and line.isprintable()):  # printable ASCII is exactly ' ' to '~'
            raise cc.CiscoReadError(number, "a character outside printable ASCII")
        if not line.strip():
            continue
        if line.startswith("!") or line == "end":  # a comment or separator closes the current block
            acl = ifname = group = None
            continue
        if not line.startswith(" "):
            acl = ifname = group = None
            words = line.split()
            if words[:2] == ["object-group", "network"] and len(words) == 3:
                if words[2] in groups:
                    raise cc.CiscoReadError(number, f"object-group {words[2]} defined twice")
                group, groups[words[2]] = words[2], ()
                continue
            if words[:3] == ["ip", "access-list", "extended"] and len(words) == 4:
                acl, fam = words[3], 4
            elif words[:2] == ["ipv6", "access-list"] and len(words) == 3:
                acl, fam = words[2], 6
            elif words[0] == "interface" and len(words) == 2:
                ifname = words[1]
                continue
            else:
                raise cc.CiscoReadError(number, f"unexpected command {line!r}")
            if acl in acls:
                raise cc.CiscoReadError(number, f"ACL {acl} defined twice")
            acls[acl], families[acl], note = [], fam, ""
            continue
        body = line[1:]
        if group is not None:
            words = body.split()
            if words[:1] == ["host"] and len(words) == 2:
                net, _ = _one_address(words, 0, 4, number)
            elif len(words) == 2:
                net = cc.wildcard_network(words[0], words[1], number, mask=True)
            else:
                raise cc.CiscoReadError(number, f"unexpected object-group line {body!r}")
            groups[group] += (net,)
        elif acl is not None:
            fam = families[acl]
            if body.startswith("remark "):
                remark = body[len("remark "):]
                out_if = cc.parse_pair_remark(remark, number)
                if out_if is not None:
                    acls[acl].append(cc.Entry(number, out_if=out_if))
                else:
                    note = remark
            elif body == f"evaluate {REFLECT[fam]}":
                pass  # matches only replies of reflected sessions, never a connection-opening packet
            elif fam == 6 and line in _ND:
                pass  # neighbour discovery: link-local, never forwarded
            else:
                acls[acl].append(cc.Entry(number, ace=parse_ace(body, fam, number, groups), note=note))
        elif ifname is not None:
            words = body.split()
            if words[:2] == ["ip", "access-group"] and len(words) == 4 and words[3] == "in":
                key = (ifname, 4)
            elif words[:2] == ["ipv6", "traffic-filter"] and len(words) == 4 and words[3] == "in":
                key = (ifname, 6)
            else:
                raise cc.CiscoReadError(number, f"unexpected interface command {body!r}")
            if key in bindings:
                raise cc.CiscoReadError(number, f"two inbound ACLs on {ifname}")
            if families.get(words[2], key[1]) != key[1]:
                raise cc.CiscoReadError(number, f"ACL {words[2]} bound for the other family")
            bindings[key] = words[2]
        else:
            raise cc.CiscoReadError(number, f"unexpected line {line!r}")
    return acls, bindings


@register
class CiscoIosCompiler(cc.CiscoCompiler):
    """Named extended ACLs (IPv4 and IPv6) bound inbound per interface; see the module docstring."""

    target = "cisco-ios"
    capabilities = frozenset({
        Feature.IPV4, Feature.IPV6, Feature.ICMP, Feature.SCTP, Feature.PROTOCOL_NUMBERS, Feature.LOG,
        Feature.STATELESS, Feature.COMMENTS,
    })  # no INSPECT: ACLs filter packets. SCTP only without ports (diagnose refuses SCTP ports).

    suffix = "ios"
    render_text = staticmethod(render_text)
    parse = staticmethod(parse)
