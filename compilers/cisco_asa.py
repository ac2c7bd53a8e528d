"""The ``cisco-asa`` back end: one extended access-list per interface, bound inbound by nameif.

Output, per firewall, one file ``<firewall>.asa``::

    same-security-traffic permit inter-interface      the ACLs decide, not equal security levels
    interface GigabitEthernet0/0
     nameif GigabitEthernet0_0
    access-list ZP_GigabitEthernet0_0_IN remark zp pair GigabitEthernet0/0 -> GigabitEthernet0/1
    access-list ZP_GigabitEthernet0_0_IN remark flow web-in examples/x.zp:12
    access-list ZP_GigabitEthernet0_0_IN extended permit tcp 10.1.0.0 255.255.0.0 host 10.2.0.5 eq 443 log
    access-list ZP_GigabitEthernet0_0_IN remark zp end of pairs
    access-list ZP_GigabitEthernet0_0_IN extended deny ip any any
    access-group ZP_GigabitEthernet0_0_IN in interface GigabitEthernet0_0

Why: the ASA's ACLs are unified (IPv4 and IPv6 entries in one list, ``any4``/``any6``), so one
inbound ACL per interface carries every pair the interface is the ingress of, pair after pair (the
ingress reasoning and the reader are in :mod:`._cisco`). The ASA is stateful for every permitted
connection, so stateful flows need nothing more; a *stateless* flow cannot be expressed (its
replies would pass anyway) and is refused by the shared check. Names: interface names must look like
ASA names (ZP403 otherwise); the nameif and ACL name are the interface name with ``/ : .`` as ``_``
(+ a hash on collision). Remarks are cleaned as for IOS (ASCII, no ``? ! # " \\ ; |``, 100 characters).
"""

from __future__ import annotations

import functools
import ipaddress

from zonepolicy.model.values import Action, Network

from . import _cisco as cc
from ._intervals import ip_text
from .base import Feature, TargetModel, TargetRule, register

_PROTO_OUT = {(4, 1): "icmp", (6, 58): "icmp6"}
_PROTO_IN = {"ip": None, "tcp": 6, "udp": 17, "icmp": 1, "icmp6": 58}


@functools.lru_cache(maxsize=65536)  # a configuration names the same prefixes over and over
def address(net: Network) -> str:
    """An ASA address: ``any4``/``any6``, ``host A``, ``A MASK`` (IPv4) or ``A/LEN`` (IPv6)."""
    if net.prefixlen == 0:
        return f"any{net.version}"
    if net.prefixlen == net.max_prefixlen:
        return f"host {ip_text(net.version, int(net.network_address))}"
    if net.version == 4:  # printed from the integers: ipaddress objects cost more than the whole entry
        return f"{ip_text(4, int(net.network_address))} {ip_text(4, (0xFFFFFFFF << 32 - net.prefixlen) & 0xFFFFFFFF)}"
    return str(net)


def addresses(nets: tuple[Network, ...]) -> str:
    """One prefix as an address, several as the object-group of the list."""
    return address(nets[0]) if len(nets) == 1 else f"object-group {cc.group_name(nets)}"


def group_lines(nets: tuple[Network, ...]) -> list[str]:
    """``object-group network`` with one ``network-object`` per prefix."""
    return ["!", f"object-group network {cc.group_name(nets)}"] + [f" network-object {address(n)}" for n in nets]


def ace_text(name: str, ace: cc.Ace) -> str:
    """One ``access-list NAME extended`` line."""
    proto = "ip" if ace.proto is None else {6: "tcp", 17: "udp"}.get(ace.proto) or _PROTO_OUT.get(
        (ace.family, ace.proto), str(ace.proto))
    words = ["access-list", name, "extended", "permit" if ace.permit else "deny", proto, addresses(ace.src),
             addresses(ace.dst)]
    if ace.ports is not None and ace.ports != (0, 65535):
        lo, hi = ace.ports
        words += ["eq", str(lo)] if lo == hi else ["range", str(lo), str(hi)]
    if ace.icmp is not None:
        words += [str(ace.icmp[0])] + ([str(ace.icmp[1])] if ace.icmp[1] is not None else [])
    if ace.log:
        words.append("log")
    return " ".join(words)


def _protocol_word(family: int, proto: int | None) -> str:
    return "ip" if proto is None else {6: "tcp", 17: "udp"}.get(proto) or _PROTO_OUT.get((family, proto), str(proto))


class RuleLines:
    """The ACE lines of target rules in one ACL, as :func:`ace_text` of :func:`~._cisco.rule_aces` writes
    them, with the text of each prefix list and protocol match made once (a large model's rules share
    a few thousand prefix lists, the same tuples, and a few hundred protocol parts). The object-groups
    the lines name are collected in ``groups``."""

    def __init__(self) -> None:
        self.groups: dict[str, tuple[Network, ...]] = {}
        self._lists: dict[tuple[int, int], tuple[tuple[Network, ...], str | None, tuple[Network, ...] | None]] = {}
        self._protocol = cc.ProtocolTexts(_protocol_word)

    def _addresses(self, nets: tuple[Network, ...], family: int) -> tuple[str | None, tuple[Network, ...] | None]:
        """The address text of a prefix list (None when no prefix is of the family), and its object-group."""
        found = self._lists.get((id(nets), family))
        if found is None or found[0] is not nets:  # the tuple is kept, so its id stays its own
            mine = tuple(n for n in nets if n.version == family)
            found = (nets, addresses(mine) if mine else None, mine if len(mine) > 1 else None)
            self._lists[id(nets), family] = found
        return found[1], found[2]

    def __call__(self, acl: str, rule: TargetRule) -> list[str]:
        head = f"access-list {acl} extended {'permit' if rule.action is Action.ALLOW else 'deny'}"
        end = " log" if rule.log else ""
        matches = self._protocol(rule)
        (src, src_group), (dst, dst_group) = self._addresses(rule.src, rule.family), \
            self._addresses(rule.dst, rule.family)
        if not matches or src is None or dst is None:
            return []  # no entry, so no group named either
        for group in (src_group, dst_group):
            if group is not None:
                self.groups[cc.group_name(group)] = group
        return [f"{head} {word} {src} {dst}{tail}{end}" for word, tail in matches]


def render_text(model: TargetModel) -> str:
    names = [n for n, _ in model.interfaces]
    nameifs = cc.interface_tokens(names, 48)
    acls = {n: f"ZP_{t}_IN" for n, t in cc.interface_tokens(names, 200).items()}
    lines = [f"! zonepolicy {cc.clean_remark(model.policy)} firewall {cc.clean_remark(model.firewall)} (cisco-asa)"]
    if model.description:
        lines.append(f"! {cc.clean_remark(model.description)}")
    lines += ["!", "same-security-traffic permit inter-interface"]
    body: list[str] = []
    rule_lines = RuleLines()
    for n in names:
        lines += ["!", f"interface {n}", f" nameif {nameifs[n]}"]
    for n in names:
        acl = acls[n]
        body += ["!", f"access-list {acl} remark zonepolicy ingress {n}"]
        for pair in model.pairs:
            if pair.in_if != n:
                continue
            body.append(f"access-list {acl} remark {cc.pair_remark(pair.in_if, pair.out_if)}")
            last = None
            for rule in cc.ordered(list(pair.rules)):
                if rule.flow_id != last:
                    body.append(f"access-list {acl} remark {cc.flow_remark(rule.flow_id, rule.origin)}")
                    last = rule.flow_id
                body += rule_lines(acl, rule)
        body += [f"access-list {acl} remark {cc.END_MARK}", f"access-list {acl} extended deny ip any any",
                 f"access-group {acl} in interface {nameifs[n]}"]
    for name in sorted(rule_lines.groups):  # groups first: an ACE may only name a group that exists
        lines += group_lines(rule_lines.groups[name])
    return "\n".join(lines + body + [""])  # ends with a newline, the text copied once


# ---- reading back
def _address(tokens: list[str], k: int, number: int,
             groups: dict[str, tuple[Network, ...]]) -> tuple[list[tuple[Network, ...]], int]:
    """The address at ``k`` as prefix lists, one per family it covers (``any``: both)."""
    if tokens[k:k + 1] == ["object-group"]:
        if k + 1 >= len(tokens) or tokens[k + 1] not in groups or not groups[tokens[k + 1]]:
            raise cc.CiscoReadError(number, "an object-group that is not defined (before its use)")
        nets = groups[tokens[k + 1]]
        return [tuple(n for n in nets if n.version == v) for v in (4, 6) if any(n.version == v for n in nets)], k + 2
    found, k = _one_address(tokens, k, number)
    return [(n,) for n in found], k


def _one_address(tokens: list[str], k: int, number: int) -> tuple[list[Network], int]:
    try:
        t = tokens[k]
        if t in ("any4", "any6", "any"):
            nets = {"any4": ["0.0.0.0/0"], "any6": ["::/0"], "any": ["0.0.0.0/0", "::/0"]}[t]
            return [ipaddress.ip_network(x) for x in nets], k + 1
        if t == "host":
            return [ipaddress.ip_network(tokens[k + 1])], k + 2
        if "/" in t:
            net = ipaddress.ip_network(t, strict=True)
            if net.version != 6:
                raise ValueError("the ASA writes IPv4 prefixes with a netmask")
            return [net], k + 1
        return [cc.wildcard_network(t, tokens[k + 1], number, mask=True)], k + 2
    except (IndexError, ValueError) as err:
        raise cc.CiscoReadError(number, f"bad address in {' '.join(tokens)!r}: {err}") from None


def parse_ace(tokens: list[str], number: int, groups: dict[str, tuple[Network, ...]] | None = None) -> list[cc.Ace]:
    """The entries of one ``permit``/``deny ...`` (``any`` on both sides is one entry per family)."""
    if len(tokens) < 4 or tokens[0] not in ("permit", "deny"):
        raise cc.CiscoReadError(number, "not an access-list entry")
    word = tokens[1]
    if word in _PROTO_IN:
        proto = _PROTO_IN[word]
    elif word.isdigit() and 0 < int(word) <= 255:
        proto = int(word)
    else:
        raise cc.CiscoReadError(number, f"unknown protocol {word!r}")
    srcs, k = _address(tokens, 2, number, groups or {})
    dsts, k = _address(tokens, k, number, groups or {})
    ports, icmp, log, reflect, _ = cc.parse_ace_tail(tokens, k, number, proto if word in ("icmp", "icmp6") else None)
    if reflect or (ports is not None and proto not in (6, 17)):
        raise cc.CiscoReadError(number, "an option this entry cannot have")
    out = []
    for s in srcs:
        for d in dsts:
            if s[0].version != d[0].version:
                continue
            if (word == "icmp" and s[0].version != 4) or (word == "icmp6" and s[0].version != 6):
                raise cc.CiscoReadError(number, f"{word} with addresses of the other family")
            out.append(cc.Ace(tokens[0] == "permit", s[0].version, proto, s, d, ports, icmp, log))
    if not out:
        raise cc.CiscoReadError(number, "source and destination of different families")
    return out


def parse(text: str) -> tuple[dict[str, list[cc.Entry]], dict[tuple[str, int], str]]:
    """ACLs and inbound bindings ((interface, family) → ACL; unified ACLs bind both families)."""
    acls: dict[str, list[cc.Entry]] = {}
    notes: dict[str, str] = {}
    nameif_of: dict[str, str] = {}
    bindings: dict[tuple[str, int], str] = {}
    ifname: str | None = None
    groups: dict[str, tuple[Network, ...]] = {}
    group: str | None = None
    for number, line in enumerate(text.split("\n"), 1):
        if not (line.isascii() and line.isprintable()):  # printable ASCII is exactly ' ' to '~'
            raise cc.CiscoReadError(number, "a character outside printable ASCII")
        words = line.split()
        if not words or line.startswith("!") or line == "same-security-traffic permit inter-interface":
            ifname = None if line.startswith("!") else ifname
            group = None if line.startswith("!") else group
            continue
        if not line.startswith(" "):
            group = None
        if words[:2] == ["object-group", "network"] and len(words) == 3:
            if words[2] in groups:
                raise cc.CiscoReadError(number, f"object-group {words[2]} defined twice")
            group, groups[words[2]], ifname = words[2], (), None
        elif line.startswith(" network-object ") and group is not None:
            nets, k = _one_address(words, 1, number)
            if k != len(words) or len(nets) != 1:
                raise cc.CiscoReadError(number, f"unexpected network-object {line!r}")
            groups[group] += tuple(nets)
        elif words[0] == "interface" and len(words) == 2:
            ifname = words[1]
        elif line.startswith(" nameif ") and ifname is not None and len(words) == 2:
            if words[1] in nameif_of:
                raise cc.CiscoReadError(number, f"nameif {words[1]} used twice")
            nameif_of[words[1]] = ifname
        elif words[0] == "access-list" and len(words) >= 3 and words[2] == "remark":
            acl = words[1]
            remark = line.split(" remark ", 1)[1]
            out_if = cc.parse_pair_remark(remark, number)
            acls.setdefault(acl, [])
            if out_if is not None:
                acls[acl].append(cc.Entry(number, out_if=out_if))
            else:
                notes[acl] = remark
        elif words[0] == "access-list" and len(words) >= 4 and words[2] == "extended":
            acl = words[1]
            acls.setdefault(acl, []).extend(cc.Entry(number, ace=a, note=notes.get(acl, ""))
                                            for a in parse_ace(words[3:], number, groups))
        elif words[0] == "access-group" and len(words) == 5 and words[2:4] == ["in", "interface"]:
            if words[4] not in nameif_of:
                raise cc.CiscoReadError(number, f"no interface has nameif {words[4]}")
            real = nameif_of[words[4]]
            for fam in (4, 6):
                if (real, fam) in bindings:
                    raise cc.CiscoReadError(number, f"two inbound ACLs on {real}")
                bindings[real, fam] = words[1]
        else:
            raise cc.CiscoReadError(number, f"unexpected line {line!r}")
    return acls, bindings


@register
class CiscoAsaCompiler(cc.CiscoCompiler):
    """Unified extended ACLs bound inbound per nameif; see the module docstring."""

    target = "cisco-asa"
    capabilities = frozenset({
        Feature.IPV4, Feature.IPV6, Feature.ICMP, Feature.SCTP, Feature.PROTOCOL_NUMBERS, Feature.LOG,
        Feature.COMMENTS,
    })  # no STATELESS (the ASA tracks every permitted connection), no INSPECT (filtering only here);
    # SCTP only without ports (diagnose refuses SCTP ports)

    suffix = "asa"
    render_text = staticmethod(render_text)
    parse = staticmethod(parse)
