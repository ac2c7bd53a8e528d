"""Probe results: the JSONL record every runner writes and every report reads.

One line per probe, keys in a fixed order. ``observed`` is what the network did (``allow`` when
the probe arrived at the destination, ``deny`` when it did not, ``None`` when the runner could not
tell); ``result`` compares it with the policy's ``expected`` verdict:

* ``pass`` — observed == expected (and, for an allowed stateful probe, the reply came back);
* ``fail`` — observed != expected, or an allowed probe arrived but its reply was lost
  (``reason`` = ``no-reply``: the return path is broken);
* ``inconclusive`` — the runner could not decide (``observed`` is None), e.g. a field probe whose
  far side was not listening.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from ..errors import UsageError
from ..model.values import Action
from .suite import Probe

RESULTS = ("pass", "fail", "inconclusive")

#: Reasons a runner may give for what it observed.
REASONS = (
    "arrived",           # seen at the destination (verdict by arrival)
    "not-arrived",       # not seen at the destination within the settle window
    "syn-ack",           # the destination answered a TCP SYN with SYN-ACK
    "reset",             # a TCP RST came back
    "echo-reply",        # an ICMP echo reply came back
    "icmp-unreachable",  # an ICMP destination-unreachable came back
    "no-response",       # nothing came back
    "no-reply",          # arrived, but the reply did not make it back to the source
    "not-sent",          # refused by a safety interlock or --dry-run
    "simulated",         # judged by walking the ruleset's rules (probe simulate), no packet sent
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeResult:
    probe: str                    # probe id
    site: str                     # the firewall name (lab) or a tester-given site label (field)
    src_zone: str
    dst_zone: str
    five_tuple: str               # as sent (with the source port the runner chose)
    expected: str                 # "allow" | "deny"
    observed: str | None          # "allow" | "deny" | None
    reason: str                   # one of REASONS
    result: str                   # one of RESULTS
    expected_flow: str | None = None
    matched_rule: str | None = None   # --explain: the emitted rule (comment / handle) that decided
    matched_flow: str | None = None   # --explain: the flow id that rule was emitted for
    timestamp: str = ""           # ISO 8601, UTC
    policy_hash: str = ""

    @property
    def passed(self) -> bool:
        return self.result == "pass"


def judge(probe: Probe, observed: Action | None, reason: str, *, replied: bool | None = None) -> str:
    """pass / fail / inconclusive for one probe, from what the runner saw."""
    if observed is None:
        return "inconclusive"
    if observed is not probe.expected:
        return "fail"
    if observed is Action.ALLOW and probe.stateful and replied is False:
        return "fail"
    return "pass"


def to_json_line(r: ProbeResult) -> str:
    d = {k: getattr(r, k) for k in r.__slots__}  # type: ignore[attr-defined]
    return json.dumps(d, ensure_ascii=False, separators=(",", ":"))


def write_jsonl(results: Iterable[ProbeResult]) -> str:
    return "".join(to_json_line(r) + "\n" for r in results)


def read_jsonl(text: str, where: str = "results") -> Iterator[ProbeResult]:
    fields = set(ProbeResult.__slots__)  # type: ignore[attr-defined]
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            d: Any = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{where}:{n}:{e.colno}: not a JSON object: {e.msg}") from None
        if not isinstance(d, dict) or not fields >= set(d) or "probe" not in d:
            raise ValueError(f"{where}:{n}: not a probe result record (unknown or missing keys)")
        yield ProbeResult(**d)


_TEXT_FIELDS = ("probe", "site", "src_zone", "dst_zone", "five_tuple", "expected", "reason", "result")


def read_results_file(path: str) -> list[ProbeResult]:
    """The results in a JSONL file a runner wrote; an unreadable or malformed file is bad input (exit 2)."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as err:
        raise UsageError(f"{path}: cannot read probe results: {err.strerror}") from None
    except UnicodeDecodeError as err:
        raise UsageError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    try:
        results = list(read_jsonl(text, path))
        for n, r in enumerate(results, 1):
            # the renderers format and group by these; a number or a list there would fail deep inside them
            bad = [k for k in _TEXT_FIELDS if not isinstance(getattr(r, k), str)]
            if bad or not (r.observed is None or isinstance(r.observed, str)):
                raise ValueError(f"{path}: record {n} ({r.probe!r}): wrong value types "
                                 f"({', '.join(bad or ['observed'])} must be strings)")
        return results
    except ValueError as err:
        message = str(err)
    except TypeError as err:  # a record without a key ProbeResult needs
        message = f"{path}: a record lacks required keys ({err})"
    raise UsageError(f"{message}\nhint: give the JSONL a probe runner wrote (`probe send -o`, `lab run -o`, "
                     "`probe simulate -o`), one result per line")


def summary(results: Iterable[ProbeResult]) -> str:
    rs = list(results)
    count = {k: sum(1 for r in rs if r.result == k) for k in RESULTS}
    return (f"{len(rs)} probes, {count['pass']} passed, {count['fail']} failed, "
            f"{count['inconclusive']} inconclusive")
