"""Probe reports: text summary, JUnit XML, CSV, HTML — parsed back the way their readers would."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET

from hypothesis import given, strategies as st

from conftest import run_cli
from zonepolicy.probe.progress import Progress
from zonepolicy.probe.render import COLUMNS, case_names, read_csv, render_csv, render_html, render_junit, render_text
from zonepolicy.probe.results import ProbeResult, write_jsonl


def _r(pid: str, result: str, *, site: str = "edge", src: str = "public", dst: str = "dedicated.tax",
       observed: str | None = None, flow: str | None = "f0123456789") -> ProbeResult:
    expected = "allow" if result != "fail" else "deny"
    if observed is None and result == "pass":
        observed = expected
    if result == "fail":
        observed = "allow"
    reason = {"pass": "arrived", "fail": "arrived", "inconclusive": "no-response"}[result]
    return ProbeResult(probe=pid, site=site, src_zone=src, dst_zone=dst,
                       five_tuple=f"tcp 192.0.2.10:2000{pid[-1]} -> 192.0.2.70:443", expected=expected,
                       observed=observed, reason=reason, result=result, expected_flow=flow,
                       timestamp="2026-01-01T00:00:00Z", policy_hash="ab" * 32)


def _with(r: ProbeResult, **changes) -> ProbeResult:
    return ProbeResult(**{**{k: getattr(r, k) for k in COLUMNS}, **changes})


SAMPLE = [_r("p1", "pass"), _r("p2", "fail"), _r("p3", "inconclusive"), _r("p1", "pass", site="core"),
          _r("p4", "pass", site='<&"\x01 站点>')]

HOSTILE_POLICY = """\
policy h "报告" { default deny; intrazone allow }
zone public "<script>alert(\\"x\\")</script> & 公用网络区" { networks 192.0.2.0/26 }
zone dedicated "专用网络区" { networks 192.0.2.64/26 }
zone dedicated.tax "税务专网 <img src=x onerror=alert(1)>" { networks 192.0.2.96/27 }
"""

text_st = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


# ------------------------------------------------------------------ JUnit

def test_junit_parses_names_are_unique_and_counts_add_up():
    rs = SAMPLE + [SAMPLE[0]]  # a repeated record must still get its own name
    root = ET.fromstring(render_junit(rs).encode("utf-8"))
    cases = root.findall("./testsuite/testcase")
    names = [c.get("name") for c in cases]
    assert len(names) == len(rs) and len(set(names)) == len(rs)
    assert root.get("tests") == str(len(rs)) and root.get("failures") == "1" and root.get("skipped") == "1"
    (failed,) = [c for c in cases if c.find("failure") is not None]
    assert "p2" in failed.get("name") and "192.0.2.70:443" in failed.get("name")
    assert "expected deny, observed allow" in failed.find("failure").get("message")
    # one testsuite per site; a control character XML cannot hold is shown, not dropped
    assert sorted(s.get("name") for s in root.findall("testsuite")) == \
        sorted(r.site.replace("\x01", "\\x01") for r in {r.site: r for r in rs}.values())


@given(site=text_st, zone=text_st, pid=text_st)
def test_junit_is_valid_xml_whatever_the_names(site, zone, pid):
    rs = [_r("p1", "fail", site=site, src=zone), _with(_r("p2", "pass"), probe=pid or "x")]
    root = ET.fromstring(render_junit(rs).encode("utf-8"))
    names = [c.get("name") for c in root.iter("testcase")]
    assert len(set(names)) == 2


def test_case_names_number_repeats():
    assert case_names([SAMPLE[0], SAMPLE[0], SAMPLE[1]]) == [
        "edge p1 tcp 192.0.2.10:20001 -> 192.0.2.70:443", "edge p1 tcp 192.0.2.10:20001 -> 192.0.2.70:443 #2",
        "edge p2 tcp 192.0.2.10:20002 -> 192.0.2.70:443"]


# ------------------------------------------------------------------ CSV

def test_csv_has_a_stable_header_and_one_row_per_probe():
    text = render_csv(SAMPLE)
    lines = text.splitlines()
    assert lines[0] == ",".join(COLUMNS)
    assert lines[0].startswith("probe,site,src_zone,dst_zone,five_tuple,expected,observed,reason,result")
    assert len(read_csv(text)) == len(SAMPLE)


@given(st.lists(st.tuples(text_st, text_st, text_st, st.sampled_from(["pass", "fail", "inconclusive"])), max_size=6))
def test_csv_round_trips(rows):
    rs = [ProbeResult(probe=pid, site=site, src_zone=zone, dst_zone="b", five_tuple="t", expected="allow",
                      observed=None, reason="no-response", result=res, expected_flow=None)
          for pid, site, zone, res in rows]
    back = read_csv(render_csv(rs))
    assert back == [{c: "" if getattr(r, c) is None else str(getattr(r, c)) for c in COLUMNS} for r in rs]


def test_csv_cells_cannot_become_spreadsheet_formulas():
    text = render_csv([_r("p1", "pass", site="=HYPERLINK(\"http://x\")", src="+cmd", dst="@sum", flow="-2")])
    for cell in next(csv.reader(io.StringIO(text.splitlines()[1]))):
        assert not cell.startswith(("=", "+", "-", "@"))
    assert read_csv(text)[0]["site"] == "=HYPERLINK(\"http://x\")"


# ------------------------------------------------------------------ HTML

def test_html_is_self_contained_and_escapes_everything():
    page = render_html(SAMPLE, zones={"public": "<script>alert(1)</script> 公用网络区"})
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; 公用网络区" in page
    assert not re.search(r"""(src|href)\s*=|https?://|@import|url\(""", page)
    assert "default-src 'none'" in page and '<meta charset="utf-8">' in page
    assert "&lt;&amp;&quot;" in page  # the hostile site label
    assert "5 probes, 3 passed, 1 failed, 1 inconclusive" in page


def test_report_cli_html_escapes_a_hostile_zone_description(tmp_path):
    (tmp_path / "h.zp").write_text(HOSTILE_POLICY, encoding="utf-8")
    (tmp_path / "r.jsonl").write_text(write_jsonl(SAMPLE[:3]), encoding="utf-8")
    out = tmp_path / "r.html"
    r = run_cli("probe", "report", str(tmp_path / "r.jsonl"), "--format", "html", "--policy", str(tmp_path / "h.zp"),
                "-o", str(out))
    assert r.returncode == 1  # one probe failed
    page = out.read_text(encoding="utf-8")
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; 公用网络区" in page
    assert "税务专网 &lt;img src=x onerror=alert(1)&gt;" in page
    assert r.stderr.strip() == "3 probes, 1 passed, 1 failed, 1 inconclusive"


# ------------------------------------------------------------------ text, exit codes, determinism

def test_text_lists_what_did_not_pass_and_ends_with_the_summary():
    lines = render_text(SAMPLE).splitlines()
    assert lines[-1] == "5 probes, 3 passed, 1 failed, 1 inconclusive"
    assert [ln.split()[0] for ln in lines[:-1]] == ["FAIL", "INCONCLUSIVE"]
    assert "expected deny, observed allow (arrived); expected flow f0123456789" in lines[0]


def test_report_cli_exit_codes_and_byte_identical_output(tmp_path):
    ok = tmp_path / "ok.jsonl"
    ok.write_text(write_jsonl([SAMPLE[0], SAMPLE[3]]), encoding="utf-8")
    r = run_cli("probe", "report", str(ok))
    assert r.returncode == 0 and r.stdout == "2 probes, 2 passed, 0 failed, 0 inconclusive\n"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(write_jsonl(SAMPLE), encoding="utf-8")
    for fmt, render in (("text", render_text), ("junit", render_junit), ("csv", render_csv), ("html", render_html)):
        run = run_cli("probe", "report", str(bad), "--format", fmt)
        assert run.returncode == 1
        # another process, another hash seed: the same text (run_cli reads stdout with universal newlines)
        assert run.stdout == render(SAMPLE).replace("\r\n", "\n")
    broken = tmp_path / "broken.jsonl"
    broken.write_text(write_jsonl(SAMPLE[:1]) + '{"probe": "x", "nope": 1}\n', encoding="utf-8")
    r = run_cli("probe", "report", str(broken), "--format", "junit", "-o", str(tmp_path / "x.xml"))
    assert r.returncode == 2 and "broken.jsonl:2:" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x.xml").exists()
    odd = tmp_path / "odd.jsonl"
    odd.write_text(write_jsonl([_with(SAMPLE[0], result="maybe")]), encoding="utf-8")
    r = run_cli("probe", "report", str(odd))
    assert r.returncode == 2 and "odd.jsonl:1:" in r.stderr
    r = run_cli("probe", "report", str(tmp_path / "missing.jsonl"))
    assert r.returncode == 2 and "cannot read" in r.stderr
    latin1 = tmp_path / "latin1.jsonl"
    latin1.write_bytes(b'{"probe": "caf\xe9"}\n')
    r = run_cli("probe", "report", str(latin1))
    assert r.returncode == 2 and "latin1.jsonl: not UTF-8 text" in r.stderr and "Traceback" not in r.stderr
    typed = tmp_path / "typed.jsonl"
    typed.write_text(write_jsonl([_with(SAMPLE[0], src_zone=["alpha"])]), encoding="utf-8")
    r = run_cli("probe", "report", str(typed), "--format", "html")
    assert r.returncode == 2 and "typed.jsonl: record 1" in r.stderr and "src_zone" in r.stderr


# ------------------------------------------------------------------ progress bar

class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_nothing_when_not_a_terminal():
    stream = io.StringIO()
    with Progress(100, "sending", stream=stream) as bar:
        for _ in range(100):
            bar.advance()
    assert stream.getvalue() == ""


def test_progress_redraws_at_most_once_per_interval_and_clears_its_line():
    now = [0.0]
    stream = _Tty()
    with Progress(1000, "sending", stream=stream, interval=0.1, clock=lambda: now[0]) as bar:
        for _ in range(1000):
            now[0] += 0.001  # 1,000 steps over one second
            bar.advance()
    # one draw per 0.1 s (plus the first and the final one)
    assert 9 <= bar.draws <= 12
    assert "1000/1000" in stream.getvalue() and stream.getvalue().endswith("\r")
