"""zonepolicy report: the self-contained HTML report, read back with the stdlib HTML parser as a user's
browser would see it (elements, attributes, text), plus the CSV form of the matrix for spreadsheets."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

from hypothesis import given, strategies as st

from conftest import EXAMPLES, run_cli
from zonepolicy import api
from zonepolicy.report.html import json_for_script
from zonepolicy.report.views import matrix

QUICKSTART = str(EXAMPLES / "quickstart" / "policy.zp")
JIANGSU = str(EXAMPLES / "jiangsu" / "main.zp")
HOSTILE = "</script><img src=x onerror=alert(1)><!-- & \u2028 '"


class Page(HTMLParser):
    """Elements with their attributes and text, as a browser's parser would build them."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.raw: dict[str, list[str]] = {"script": [], "style": []}
        self.text: list[str] = []
        self._in: str | None = None
        self._stack: list[tuple[str, dict]] = []
        self.cells: list[tuple[dict, str]] = []  # matrix <td>s with their text
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        d = dict(attrs)
        self.elements.append((tag, d))
        if tag in self.raw:
            self._in = tag
            self.raw[tag].append("")
        if tag == "td" and "data-i" in d:
            self._stack.append((tag, d))
            self.cells.append((d, ""))

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None
        if tag == "td" and self._stack:
            self._stack.pop()

    def handle_data(self, data):
        if self._in:
            self.raw[self._in][-1] += data
        else:
            self.text.append(data)
            if self._stack:
                d, t = self.cells[-1]
                self.cells[-1] = (d, t + data)

    def tags(self, name: str) -> list[dict]:
        return [a for t, a in self.elements if t == name]


def report(tmp_path: Path, policy: str, *args: str, name: str = "r.html"):
    out = tmp_path / name
    r = run_cli("report", policy, *args, "-o", str(out))
    return r, out


def test_quickstart_report_is_self_contained(tmp_path: Path) -> None:
    r, out = report(tmp_path, QUICKSTART)
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stderr and "6 zones" in r.stderr
    raw = out.read_bytes()
    text = raw.decode("utf-8")
    assert text.startswith("<!DOCTYPE html>")
    page = Page(text)
    assert page.tags("meta")[0] == {"charset": "utf-8"}  # first thing in <head>
    # nothing that could load anything: no external scripts/styles/images/fonts/frames
    assert not page.tags("link") and not page.tags("img") and not page.tags("iframe")
    assert all("src" not in a for _, a in page.elements)
    assert all((a.get("href") or "#").startswith("#") for _, a in page.elements)
    css = "".join(page.raw["style"])
    assert "@import" not in css and "url(" not in css and "@font-face" not in css
    assert not re.search(r"https?://", re.sub(r'xmlns="http://www\.w3\.org/2000/svg"', "", text))
    # CJK font fallbacks in the stylesheet
    assert "Noto Sans CJK SC" in css and "Microsoft YaHei" in css
    assert "快速入门：小型政务外网" in "".join(page.text)


def test_csp_allows_exactly_the_inline_style_and_script(tmp_path: Path) -> None:
    r, out = report(tmp_path, QUICKSTART)
    page = Page(out.read_text(encoding="utf-8"))
    csp = next(a["content"] for a in page.tags("meta") if a.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp

    def h(s: str) -> str:
        return "sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()

    scripts = [s for s, a in zip(page.raw["script"], page.tags("script")) if a.get("type") != "application/json"]
    assert len(scripts) == 1 and len(page.raw["style"]) == 1
    assert f"script-src '{h(scripts[0])}'" in csp
    assert f"style-src '{h(page.raw['style'][0])}'" in csp


def _matrix_from_page(page: Page, names: list[str]) -> dict[tuple[str, str], str]:
    return {(names[int(d["data-i"])], names[int(d["data-j"])]): t for d, t in page.cells}


def test_matrix_cells_equal_show_matrix_csv(tmp_path: Path) -> None:
    r, out = report(tmp_path, QUICKSTART)
    page = Page(out.read_text(encoding="utf-8"))
    csv_out = run_cli("show", "matrix", "--format", "csv", QUICKSTART)
    rows = list(csv.reader(io.StringIO(csv_out.stdout.lstrip("\ufeff"))))
    names = rows[0][1:]
    want = {(row[0], names[j]): v for row in rows[1:] for j, v in enumerate(row[1:])}
    got = _matrix_from_page(page, names)
    assert len(got) == len(names) ** 2
    assert {k: (v or "-") for k, v in got.items()} == want
    # the data block the script reads agrees, and a cell's tooltip names its flows with file:line
    data = json.loads(next(s for s, a in zip(page.raw["script"], page.tags("script"))
                           if a.get("type") == "application/json"))
    assert [z[0] for z in data["zones"]] == names
    i, j = names.index("internet"), names.index("internet-access")
    cell = data["cells"][f"{i},{j}"]
    assert cell["t"] == "tcp/443"
    line = next(n for n, t in enumerate(Path(QUICKSTART).read_text(encoding="utf-8").splitlines(), 1)
                if t.startswith("allow internet -> internet-access"))
    assert [(f[1], f[3]) for f in cell["f"]] == [("allow", f"{QUICKSTART}:{line}")]
    tip = next(d["title"] for d, _ in page.cells if d["data-i"] == str(i) and d["data-j"] == str(j))
    assert f"policy.zp:{line}" in tip and "internet → internet-access" in tip
    # colour: level classes on allowed cells; cells with nothing allowed carry no level colour
    classes = {(names[int(d["data-i"])], names[int(d["data-j"])]): d.get("class", "") for d, _ in page.cells}
    assert "lv3" in classes[("public", "internet-access")].split()
    assert "lv" not in classes[("internet", "dedicated.tax")]


HOSTILE_POLICY = f'''
policy evil "{HOSTILE}" {{ standard mlps-2.0; default deny; intrazone allow }}
zone a "{HOSTILE}" {{ kind public; level 3; owner "{HOSTILE}"; networks 10.1.0.0/16 }}
zone b "乙区 {HOSTILE}" {{ kind dedicated; level 3; networks 10.2.0.0/16 }}
address h "{HOSTILE}" = 10.1.0.5
allow a -> b : https {{ comment "{HOSTILE}"; ticket "{HOSTILE}" }}
allow h -> b : tcp/1-65535
waive BND-12 for a -> b {{ reason "{HOSTILE}"; owner "{HOSTILE}"; expires 2099-01-01; ticket "{HOSTILE}" }}
'''.replace("\u2028", "\\u2028")


def test_hostile_text_is_escaped_everywhere(tmp_path: Path) -> None:
    policy_dir = tmp_path / "<b>dir&"
    policy_dir.mkdir()
    src = policy_dir / "p.zp"
    src.write_text(HOSTILE_POLICY.replace("\\u2028", "\u2028"), encoding="utf-8")
    probes = tmp_path / "probes.jsonl"
    probes.write_text(json.dumps({
        "probe": HOSTILE, "site": HOSTILE, "src_zone": "a", "dst_zone": "b", "five_tuple": HOSTILE,
        "expected": "allow", "observed": "deny", "reason": "not-arrived", "result": "fail",
        "matched_flow": HOSTILE, "matched_rule": HOSTILE}) + "\n", encoding="utf-8")
    r, out = report(tmp_path, str(src), "--verify", "--probes", str(probes), "--diff", QUICKSTART,
                    "--today", "2026-01-01")
    assert r.returncode == 0, r.stderr
    text = out.read_text(encoding="utf-8")
    assert "<img" not in text and "onerror=alert(1)>" not in text
    assert text.count("</script>") == 2 and text.count("<script") == 2
    page = Page(text)
    assert [t for t, _ in page.elements if t in ("img", "iframe", "object", "embed", "link")] == []
    assert all(not k.startswith("on") for _, a in page.elements for k in a)  # no event handler attributes
    # the text is there, as text: in the page, in attributes, and back out of the JSON block intact
    assert HOSTILE.replace("\u2028", "") in "".join(page.text).replace("\u2028", "")
    assert any(HOSTILE in (a.get("title") or "") for _, a in page.elements)
    blob = next(s for s, a in zip(page.raw["script"], page.tags("script")) if a.get("type") == "application/json")
    assert "<" not in blob and ">" not in blob and "&" not in blob and "\u2028" not in blob
    data = json.loads(blob)
    assert data["zones"][0][1] == HOSTILE
    # findings, probe results and the diff sections are there and carry the text escaped
    assert {"findings", "probes", "diff"} <= {a.get("id") for _, a in page.elements}


def _dsl_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\u2028\u2029"),
               max_size=40))
def test_any_description_stays_text(desc: str) -> None:
    """Whatever a description holds, the page has the same elements as with a plain one, and the
    text reads back unchanged from the page and from the script's data."""
    from conftest import load_policy_text
    from zonepolicy.report.content import gather
    from zonepolicy.report.html import render

    def page_for(d: str) -> Page:
        p = load_policy_text(f"policy x {{ default deny; intrazone allow }}\n"
                             f"zone a {_dsl_string(d)} {{ kind public; level 2; networks 10.1.0.0/16 }}\n"
                             f"zone b {{ networks 10.2.0.0/16 }}\nallow a -> b : https\n")
        return Page(render(gather(p)))

    page, plain = page_for(desc), page_for("plain")
    assert [t for t, _ in page.elements] == [t for t, _ in plain.elements]
    blob = next(s for s, a in zip(page.raw["script"], page.tags("script")) if a.get("type") == "application/json")
    assert json.loads(blob)["zones"][0][1] == desc
    titles = [a.get("title") for t, a in page.elements if t == "th" and a.get("id") == "zr0"]
    assert titles == [f"a {desc}"]


def test_json_for_script_round_trips() -> None:
    value = {"x": HOSTILE, "y": ["</SCRIPT>", "<!--", "]]>", "\u2029"]}
    text = json_for_script(value)
    assert not set(text) & set("<>&\u2028\u2029")
    assert json.loads(text) == value


def test_deterministic_bytes_and_timestamp_on_request(tmp_path: Path) -> None:
    a, out_a = report(tmp_path, QUICKSTART, "--verify", "--today", "2026-01-01", name="a.html")
    b, out_b = report(tmp_path, QUICKSTART, "--verify", "--today", "2026-01-01", name="b.html")
    assert a.returncode == b.returncode == 0
    assert out_a.read_bytes() == out_b.read_bytes()
    assert not re.search(r"20\d\d-\d\d-\d\dT\d\d:\d\d", out_a.read_text(encoding="utf-8"))
    c, out_c = report(tmp_path, QUICKSTART, "--timestamp", name="c.html")
    assert c.returncode == 0
    assert re.search(r"generated 20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", out_c.read_text(encoding="utf-8"))


def test_findings_grouped_by_clause(tmp_path: Path) -> None:
    policy = str(EXAMPLES / "noncompliant" / "policy.zp")
    r, out = report(tmp_path, policy, "--verify", "--today", "2026-01-01")
    assert r.returncode == 0, r.stderr
    v = run_cli("verify", policy, "--format", "json", "--today", "2026-01-01")
    findings = json.loads(v.stdout)["findings"]
    assert findings
    text = out.read_text(encoding="utf-8")
    section = text[text.index('<section id="findings">'):text.index("</section>", text.index('id="findings"'))]
    page = Page(section)
    rows = [a for a in page.tags("tr") if "class" in a]
    assert len(rows) == len(findings)  # every finding once, waived ones included
    summaries = re.findall(r"<summary>(.*?)</summary>", section)
    clauses = {s.rsplit("</span> ", 1)[-1] for s in summaries}
    assert any(c.startswith("GB/T 22239-2019") for c in clauses), clauses
    for f in findings:  # each rule code appears under a clause group
        assert f"<code>{f['rule']}</code>" in section


def test_probe_results_failing_first(tmp_path: Path) -> None:
    lines = []
    for n, result in enumerate(["pass", "fail", "pass", "inconclusive", "fail"]):
        lines.append(json.dumps({"probe": f"p{n}", "site": "edge", "src_zone": "internet",
                                 "dst_zone": "internet-access", "five_tuple": f"tcp 203.0.113.{n}:1 -> 1.2.3.4:443",
                                 "expected": "allow", "observed": None if result == "inconclusive" else "allow",
                                 "reason": "syn-ack", "result": result}))
    probes = tmp_path / "r.jsonl"
    probes.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r, out = report(tmp_path, QUICKSTART, "--probes", str(probes))
    assert r.returncode == 0, r.stderr
    assert "5 probes, 2 passed, 2 failed, 1 inconclusive" in r.stderr
    text = out.read_text(encoding="utf-8")
    section = text[text.index('<section id="probes">'):]
    order = re.findall(r'<code>(p\d)</code>', section)
    assert order == ["p1", "p4", "p3", "p0", "p2"]


def test_probe_results_of_another_policy_version_are_flagged(tmp_path: Path) -> None:
    from zonepolicy.probe.suite import policy_hash

    mine = policy_hash(api.load_policy(QUICKSTART))
    rows = [{"probe": f"p{n}", "site": "edge", "src_zone": "internet", "dst_zone": "internet-access",
             "five_tuple": "tcp 203.0.113.9:1 -> 1.2.3.4:443", "expected": "allow", "observed": "allow",
             "reason": "syn-ack", "result": "pass", "policy_hash": h} for n, h in enumerate([mine, "0" * 64, mine])]
    probes = tmp_path / "r.jsonl"
    probes.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    r, out = report(tmp_path, QUICKSTART, "--probes", str(probes))
    assert r.returncode == 0 and "1 probe results were taken against another version" in r.stderr
    assert "1 of 3 results were taken against another version" in out.read_text(encoding="utf-8")
    probes.write_text("".join(json.dumps({**r_, "policy_hash": mine}) + "\n" for r_ in rows), encoding="utf-8")
    r, out = report(tmp_path, QUICKSTART, "--probes", str(probes))
    assert "another version" not in r.stderr and "another version" not in out.read_text(encoding="utf-8")


def test_diff_section(tmp_path: Path) -> None:
    src = Path(QUICKSTART).read_text(encoding="utf-8")
    new = src.replace("allow public -> internet-access        : http, https",
                      "allow public -> internet-access        : https")
    assert new != src
    new_path = tmp_path / "new.zp"
    new_path.write_text(new, encoding="utf-8")
    r, out = report(tmp_path, str(new_path), "--diff", QUICKSTART)
    assert r.returncode == 0, r.stderr
    text = out.read_text(encoding="utf-8")
    section = text[text.index('<section id="diff">'):]
    assert "newly denied" in section and "dport 80" in section
    assert "newly allowed" not in section.split("</table>")[0].split("<tbody>")[1]
    r2, out2 = report(tmp_path, QUICKSTART, "--diff", QUICKSTART, name="same.html")
    assert "No change in what the policy allows." in out2.read_text(encoding="utf-8")


def test_bad_input_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    out.write_text("old report", encoding="utf-8")
    bad = tmp_path / "bad.zp"
    bad.write_text("policy x { default deny; intrazone allow }\nzone a { networks 10.0.0.0/8 }\n"
                   "allow a -> nowhere : https\n", encoding="utf-8")
    (tmp_path / "notjson.jsonl").write_text("{not json\n", encoding="utf-8")
    (tmp_path / "unknown.jsonl").write_text('{"probe": "p", "colour": "red"}\n', encoding="utf-8")
    (tmp_path / "missing-keys.jsonl").write_text('{"probe": "p"}\n', encoding="utf-8")
    (tmp_path / "bad-result.jsonl").write_text(json.dumps({
        "probe": "p", "site": "s", "src_zone": "a", "dst_zone": "b", "five_tuple": "t", "expected": "allow",
        "observed": "allow", "reason": "arrived", "result": "maybe"}) + "\n", encoding="utf-8")
    cases = [
        ([str(bad)], "bad.zp:3:"),
        ([QUICKSTART, "--diff", str(bad)], "bad.zp:3:"),
        ([QUICKSTART, "--probes", str(tmp_path / "missing.jsonl")], "cannot read probe results"),
        ([QUICKSTART, "--probes", str(tmp_path / "notjson.jsonl")], "notjson.jsonl:1:"),
        ([QUICKSTART, "--probes", str(tmp_path / "unknown.jsonl")], "unknown.jsonl:1"),
        ([QUICKSTART, "--probes", str(tmp_path / "missing-keys.jsonl")], "lacks required keys"),
        ([QUICKSTART, "--probes", str(tmp_path / "bad-result.jsonl")], "result one of"),
    ]
    for args, expect in cases:
        r = run_cli("report", *args, "-o", str(out))
        assert r.returncode == 2, (args, r.stderr)
        assert expect in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert out.read_text(encoding="utf-8") == "old report"
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".r.html")] == []


def test_unwritable_output_is_bad_input(tmp_path: Path) -> None:
    for cmd in (["report", QUICKSTART], ["graph", QUICKSTART]):
        r = run_cli(*cmd, "-o", str(tmp_path / "no-such-dir" / "out"))
        assert r.returncode == 2, r.stderr
        assert "cannot write" in r.stderr and "no-such-dir" in r.stderr and "internal error" not in r.stderr
    assert not (tmp_path / "no-such-dir").exists()


def test_jiangsu_report_stays_usable(tmp_path: Path) -> None:
    r, out = report(tmp_path, JIANGSU, "--verify", "--today", "2026-01-01")
    assert r.returncode == 0, r.stderr
    text = out.read_text(encoding="utf-8")
    page = Page(text)
    assert len(page.tags("tr")) >= 105
    assert len(page.cells) == 104 * 104
    css = page.raw["style"][0]
    # the matrix scrolls in its own box with headers that stick to its edges
    assert re.search(r"\.matrix-wrap \{[^}]*overflow: auto", css)
    assert re.search(r"thead th \{[^}]*position: sticky; top: 0", css)
    assert re.search(r"tbody th \{[^}]*position: sticky; left: 0", css)
    p = api.load_policy(JIANGSU)
    names, cells = matrix(p)
    got = _matrix_from_page(page, names)
    assert {k: v or "-" for k, v in got.items()} == {k: c.text() for k, c in cells.items()}


# --------------------------------------------------------------------------- CSV for spreadsheets

def test_matrix_csv_opens_in_spreadsheets() -> None:
    """UTF-8 with a byte-order mark (Excel reads Chinese text right only with it) and CRLF line ends
    (RFC 4180); Python's csv module reads it back with encoding utf-8-sig."""
    import subprocess
    import sys

    raw = subprocess.run([sys.executable, "-m", "zonepolicy", "show", "zones", "--format", "csv", QUICKSTART],
                         capture_output=True, timeout=120).stdout
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw.count(b"\r\n") == raw.count(b"\n") > 1
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert rows[0][0] == "zone"
    assert any("公用网络区" in row for row in rows)


def test_csv_cells_cannot_become_formulas(tmp_path: Path) -> None:
    src = tmp_path / "f.zp"
    src.write_text('policy f { default deny; intrazone allow }\n'
                   'zone a "=HYPERLINK(\\"http://x\\",\\"y\\")" { networks 10.1.0.0/16 }\n'
                   'zone b "+1+2" { networks 10.2.0.0/16 }\nzone c "@SUM(A1)" { networks 10.3.0.0/16 }\n'
                   'zone d "-2+3" { networks 10.4.0.0/16 }\n', encoding="utf-8")
    r = run_cli("show", "zones", "--format", "csv", str(src))
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader(io.StringIO(r.stdout.lstrip("\ufeff"), newline="")))
    descriptions = [row[1] for row in rows[1:]]
    assert descriptions == ["'=HYPERLINK(\"http://x\",\"y\")", "'+1+2", "'@SUM(A1)", "'-2+3"]
    m = run_cli("show", "matrix", "--format", "csv", str(src))
    cells = [c for row in csv.reader(io.StringIO(m.stdout.lstrip("\ufeff"), newline="")) for c in row[1:]]
    assert "-" in cells  # the "nothing" marker stays as it is
