"""Grammar fuzzing: whatever a policy file holds, loading it either succeeds or raises InvalidPolicy.

No input may make the front end fail in any other way, and the diagnostics of every rejected input
must render. Inputs: random text and bytes, token soups built from the grammar's own vocabulary,
and mutations (delete, duplicate, swap, truncate, splice) of valid policies.
"""

from __future__ import annotations

import json
import os
import re
import tempfile

import pytest
from hypothesis import example, given, strategies as st

from conftest import EXAMPLES
from zonepolicy import api
from zonepolicy.diagnostics import render_all
from zonepolicy.dsl.parser import keywords, parse_text
from zonepolicy.errors import InvalidPolicy

QUICKSTART = (EXAMPLES / "quickstart" / "policy.zp").read_text(encoding="utf-8")

SMALL = """\
policy small { default deny; intrazone allow }
zone a { kind public; level 2; networks 10.1.0.0/16 }
zone a.b { networks 10.1.2.0/24 }
zone c { grading { business-info citizen serious; system-service citizen general } networks 2001:db8::/32 }
zone out { networks any }
address srv = 10.1.2.3, a-grp
address a-grp = 10.1.3.0/24
service app = tcp/8080-8090, udp/any, icmp/3:4
allow a.* -> zone(c), address(srv) : https, app { log; stateless; via a; id x1 }
deny * -> out
waive R1 for a -> c : ssh { reason "r"; owner "o"; expires 2027-01-01 }
firewall fw { target iptables; interface eth0 -> a, c; interface "port 2" -> out }
"""

_PUNCT = ["{", "}", "(", ")", ",", ";", ":", "=", "->", "*", ".*", "#", '"']
_VALUES = [
    "a", "a.b", "a.*", "core", "dmz-1", "x_y", "区域", "10.0.0.0/8", "10.0.0.1", "10.0.0.1/8", "999.1.1.1",
    "10.0.0.0/99", "::", "2001:db8::/32", ":::::", "tcp/443", "udp/53", "tcp/1-2", "tcp/9-1", "icmp/echo-request",
    "icmp/3:4", "ip/gre", "ip/any", "tcp/99999", "0", "3", "6", "99999999999", "2027-01-01", "2027-02-30",
    '"text"', '"unterminated', '"a\\"b"', '"policy.zp"', '"*.zp"', '"sub/*.zp"', '"/abs.zp"', "any",
    "public", "backbone", "business-info", "system-service", "citizen", "serious", "nftables", "eth0",
    "ge-0/0/1", "https", "ssh", "permit", "logging", "\t", "\x00", "\u2028", "\x0c", "\ufeff", "é",
]
VOCAB = sorted(keywords()) + _PUNCT + _VALUES
SEPARATORS = st.sampled_from([" ", " ", " ", "\n", "", "\t", "\r\n", " ; "])


def _tokens(text: str) -> list[str]:
    return re.findall(r'"[^"\n]*"?|#[^\n]*|->|\.\*|[{}();,:=*]|[^\s{}();,:=*"#]+|\s+', text)


QUICK_TOKENS = _tokens(QUICKSTART)
SMALL_TOKENS = _tokens(SMALL)


def load_bytes(data: bytes) -> None:
    """Write ``data`` as a policy file and load it: success, or InvalidPolicy with renderable diagnostics."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "policy.zp")
        with open(path, "wb") as fh:
            fh.write(data)
        try:
            loaded = api.load(path)
        except InvalidPolicy as err:
            assert err.diagnostics, "InvalidPolicy must say why"
            out = render_all(err.diagnostics, err.sources)
            assert isinstance(out, str) and out.endswith("warning(s)")
            for d in err.diagnostics:
                assert re.fullmatch(r"ZP\d{3}", d.code), d
                assert d.message
                json.dumps(d.to_dict(), ensure_ascii=False)
                text = d.message + (d.hint or "")
                assert "__ANON" not in text and "$END" not in text and "_ARROW" not in text, text
        else:
            assert loaded.policy.name
            render_all(loaded.warnings, loaded.sources)


def load_text(text: str) -> None:
    load_bytes(text.encode("utf-8", errors="surrogatepass"))


def _text(tokens: list[str]) -> str:
    return "".join(tokens)


# ---- (a) random text and bytes

@given(st.text())
@example("")
@example("\x00" * 50)
@example("policy p { default deny; intrazone allow }\x00")
def test_random_text(text):
    load_text(text)


@given(st.binary())
@example(b"\xff\xfe\x00p\x00o")
@example(b"policy p { default deny; intrazone allow }\nzone caf\xe9 {}\n")
@example(b"\xef\xbb\xbfpolicy p { default deny; intrazone allow }\n")
def test_random_bytes(data):
    load_bytes(data)


@given(st.binary(), st.integers(0, 10_000))
def test_valid_policy_with_bytes_spliced_in(data, where):
    raw = SMALL.encode()
    where = min(where, len(raw))
    load_bytes(raw[:where] + data + raw[where:])


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200), st.integers(0, 10_000))
def test_valid_policy_with_text_spliced_in(text, where):
    where = min(where, len(QUICKSTART))
    load_text(QUICKSTART[:where] + text + QUICKSTART[where:])


# ---- (b) grammar-derived inputs

@given(st.lists(st.tuples(st.sampled_from(VOCAB), SEPARATORS), max_size=60))
def test_token_soup(pairs):
    load_text("".join(tok + sep for tok, sep in pairs))


@given(st.lists(st.tuples(st.sampled_from(VOCAB), SEPARATORS), max_size=40))
def test_token_soup_after_valid_header(pairs):
    load_text("policy p { default deny; intrazone allow }\n" + "".join(tok + sep for tok, sep in pairs))


def _mutations(tokens: list[str]):
    n = len(tokens)
    index = st.integers(0, n - 1)
    return st.lists(st.one_of(
        st.tuples(st.just("delete"), index, index),
        st.tuples(st.just("duplicate"), index, index),
        st.tuples(st.just("swap"), index, index),
        st.tuples(st.just("replace"), index, st.sampled_from(VOCAB)),
        st.tuples(st.just("insert"), index, st.sampled_from(VOCAB)),
        st.tuples(st.just("chop"), index, st.integers(0, 40)),
        st.tuples(st.just("cut"), index, index),
    ), min_size=1, max_size=6)


def _apply(tokens: list[str], ops) -> list[str]:
    toks = list(tokens)
    for op, i, arg in ops:
        if not toks:
            break
        i %= len(toks)
        if op == "delete":
            del toks[i]
        elif op == "duplicate":
            toks.insert(i, toks[i])
        elif op == "swap":
            j = arg % len(toks)
            toks[i], toks[j] = toks[j], toks[i]
        elif op == "replace":
            toks[i] = arg
        elif op == "insert":
            toks.insert(i, arg + " ")
        elif op == "chop":  # delete or keep part of one token: character-level damage
            toks[i] = toks[i][:arg % (len(toks[i]) + 1)] + toks[i][arg % (len(toks[i]) + 1) + 1:]
        elif op == "cut":  # the file ends early, or a whole span goes missing
            j = arg % len(toks)
            lo, hi = min(i, j), max(i, j)
            toks = toks[:lo] + toks[hi:]
    return toks


@given(_mutations(QUICK_TOKENS))
def test_mutated_quickstart(ops):
    load_text(_text(_apply(QUICK_TOKENS, ops)))


@given(_mutations(SMALL_TOKENS))
def test_mutated_small_policy(ops):
    load_text(_text(_apply(SMALL_TOKENS, ops)))


@given(st.lists(st.integers(0, len(QUICKSTART) - 1), min_size=1, max_size=8))
def test_quickstart_with_characters_deleted(positions):
    chars = list(QUICKSTART)
    for p in sorted(set(positions), reverse=True):
        del chars[p]
    load_text("".join(chars))


def test_both_seed_policies_are_valid():
    load_text(QUICKSTART)
    load_text(SMALL)
    assert api.load(str(EXAMPLES / "quickstart" / "policy.zp")).policy.name == "quickstart"


# ---- (c) the nasty classics

NASTY = [
    "{" * 5000,
    "}" * 5000,
    "policy p { default deny; intrazone allow }\n" + "zone a {" * 2000 + "}" * 2000,
    "policy p { default deny; intrazone allow }\nzone a { grading {" + "{" * 3000 + " } }",
    "allow (((((((((((" + "(" * 3000,
    "policy p { default deny; intrazone allow }\nzone a {}\nallow a -> a : " + ", ".join(["ssh"] * 5000) + "\n",
    "policy p { default deny; intrazone allow }\nzone " + "a" * 100_000 + " {}\n",
    "# " + "x" * 200_000 + "\n",
    "policy p { default deny; intrazone allow }\nzone a { description \"" + "长" * 50_000 + "\" }\n",
    "policy 策略 { default deny; intrazone allow }\nzone 区域 { level 3 }\n",
    "policy p \"中文描述\" { default deny; intrazone allow }\nzone a \"区\" { level 3 }\nallow a -> 乙\n",
    "policy p { default deny; intrazone allow }\n" + "zone a {}\n" * 3000,
    "policy p { default deny; intrazone allow }\nzone a { networks " + "9" * 5000 + ".1.1.1 }\n",
    "policy p { default deny; intrazone allow }\nzone a { level " + "0" * 6000 + "3 }\n",
    "policy p { default deny; intrazone allow }\nzone a {}\nallow a -> a : icmp/" + "1" * 6000 + ":" + "2" * 6000,
    "policy p { default deny; intrazone allow }\nzone a {}\nallow a -> a : ip/" + "7" * 6000 + "\n",
    "policy p { default deny; intrazone allow }\n\x00zone a {}\n\x00\x00",
    "\r" * 1000 + "policy",
    "\u2028\u2029\x0b\x0c\x1c\x1d\x1e\x85" * 50 + "policy p {",
    "policy p { default deny; intrazone allow }\n" + "import \"policy.zp\"\n" * 50,
    "policy p { default deny; intrazone allow }\nimport \"*\"\nimport \"*/*\"\nimport \"[\"\n",
    "\ud800",
]


@pytest.mark.parametrize("text", NASTY, ids=[f"nasty{i}" for i in range(len(NASTY))])
def test_nasty_inputs(text):
    load_text(text)


def test_invalid_utf8_sequences():
    for data in (b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"zone a { description \"\xff\" }"):
        load_bytes(b"policy p { default deny; intrazone allow }\n" + data)


def test_many_errors_in_one_file_are_all_reported_and_rendered():
    text = "policy p { default deny; intrazone allow }\n" + "zone a { colour red }\n" * 300
    _, diags = parse_text(text, "t.zp")
    assert len(diags) == 300
    load_text(text)
