"""Highlighting benchmark: the Pygments lexer over every bundled example file.

Usage:
    python bench/editor_bench.py --runs 5

Reads every examples/**/*.zp once, then lexes all of them with ``ZonePolicyLexer`` ``--runs`` times
and reports CPU and wall seconds per pass and the throughput in KiB/s (CPU). The lexer is what
Pygments-based tools (documentation builds, ``pygmentize``) run; the VS Code grammar runs inside
the editor and is not timed here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from zonepolicy.editor.pygments_lexer import ZonePolicyLexer

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "examples").rglob("*.zp"))]
    size = sum(len(t.encode("utf-8")) for t in texts)
    lexer = ZonePolicyLexer()
    cpu, wall = [], []
    for _ in range(args.runs):
        c0, w0 = time.process_time(), time.perf_counter()
        tokens = sum(1 for t in texts for _ in lexer.get_tokens_unprocessed(t))
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    print(f"{len(texts)} files, {size / 1024:.1f} KiB, {tokens} tokens per pass; load {os.getloadavg()[0]:.2f}")
    print(f"CPU s best/median: {min(cpu):.3f} / {statistics.median(cpu):.3f}; "
          f"wall s best/median: {min(wall):.3f} / {statistics.median(wall):.3f}")
    print(f"throughput (CPU, best): {size / 1024 / min(cpu):.0f} KiB/s")


if __name__ == "__main__":
    main()
