"""A progress bar for long probe runs, on stderr, for people only.

It draws nothing unless its stream is a terminal, so CI logs and redirected output stay clean, and
it redraws at most every ``interval`` seconds so a run of 100,000 fast probes does not spend its
time writing to the terminal. Usable as a context manager::

    with Progress(len(probes), "sending") as bar:
        for p in probes:
            ...
            bar.advance()
"""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO


class Progress:
    def __init__(self, total: int, label: str = "", *, stream: TextIO | None = None, interval: float = 0.1,
                 width: int = 30, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = max(0, total)
        self.label = label
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.width = width
        self.clock = clock
        self.draws = 0
        self._last: float | None = None
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(isatty and isatty())

    def advance(self, n: int = 1) -> None:
        self.done = min(self.total, self.done + n) if self.total else self.done + n
        if not self.enabled:
            return
        now = self.clock()
        if self._last is not None and now - self._last < self.interval and self.done < self.total:
            return
        self._draw()
        self._last = now

    def line(self) -> str:
        if self.total:
            filled = self.width * self.done // self.total
            bar = "#" * filled + "-" * (self.width - filled)
            return f"{self.label} [{bar}] {self.done}/{self.total}"
        return f"{self.label} {self.done}"

    def _draw(self) -> None:
        self.draws += 1
        self.stream.write("\r" + self.line())
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.draws:
            # clear the bar so the next message starts on a clean line
            self.stream.write("\r" + " " * len(self.line()) + "\r")
            self.stream.flush()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
