"""Thin adapters over BDD libraries, so the packet-set engine can swap backends.

Everything above this module sees only :class:`Backend`: constants, variables,
``ite``, cofactors for walking, exact model counting and evaluation. Functions are the
library's own objects; both supported libraries overload ``& | ^ ~`` and give
``==``/``hash`` by canonical node identity, which is what the engine relies on.

Configuration (read once, when the process-wide backend is first needed):

``ZONEPOLICY_BDD_BACKEND``
    ``oxidd`` (default, complement-edge BDDs) or ``cudd`` (``dd.cudd``).
``ZONEPOLICY_BDD_NODES``
    oxidd inner-node capacity (default 2**26). oxidd cannot grow its node table, so
    this is a hard ceiling; the memory is only reserved, pages are touched as nodes
    are created, so a large default costs nothing for small runs.
``ZONEPOLICY_BDD_CACHE``
    oxidd apply-cache entries (default 2**20). Unlike the node table the cache is
    allocated eagerly (~32 bytes/entry), so it is kept modest.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

DEFAULT_NODES = 1 << 26
DEFAULT_CACHE = 1 << 20

Fn = Any  # a backend function object; deliberately opaque to callers


class Backend(Protocol):
    """What the engine needs from a BDD library."""

    name: str
    nvars: int
    true: Fn
    false: Fn
    pos: list[Fn]  # pos[i]: variable i is true (a literal table: lookups are hot)
    neg: list[Fn]  # neg[i]: variable i is false

    def ite(self, c: Fn, t: Fn, e: Fn) -> Fn: ...
    def level(self, f: Fn) -> int | None: ...
    def cofactors(self, f: Fn) -> tuple[Fn, Fn]: ...
    def sat_count(self, f: Fn) -> int: ...
    def min_cube(self, f: Fn) -> bytes: ...  # one byte 0/1 per variable
    def eval(self, f: Fn, bits: list[int]) -> bool: ...
    def node_count(self, f: Fn) -> int: ...
    def gc(self) -> int: ...
    def fill(self) -> float: ...
    def stats(self) -> dict[str, int | str]: ...


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.replace("_", ""), 0)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not an integer") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive")
    return value


class OxiddBackend:
    """oxidd backend; ``kind`` selects plain (``bdd``) or complement-edge (``bcdd``) BDDs."""

    def __init__(self, nvars: int, nodes: int, cache: int, kind: str = "bcdd", threads: int = 1) -> None:
        Manager: Any
        if kind == "bcdd":
            from oxidd.bcdd import BCDDManager as Manager
        elif kind == "bdd":
            from oxidd.bdd import BDDManager as Manager
        else:
            raise ValueError(f"unknown oxidd kind {kind!r}")
        self.name = f"oxidd-{kind}"
        self.nvars = nvars
        self._nodes = nodes
        self._m = Manager(nodes, cache, threads)
        self._m.add_vars(nvars)
        self.pos = [self._m.var(i) for i in range(nvars)]
        self.neg = [self._m.not_var(i) for i in range(nvars)]
        self.true = self._m.true()
        self.false = self._m.false()
        # The box decomposition and witness walks call these millions of times: bind the
        # library's own methods (level == variable number, variables are never reordered),
        # sparing a Python frame per call. The methods below document the same contract.
        fn_type = type(self.true)
        self.level = fn_type.node_level  # type: ignore[method-assign]
        self.cofactors = fn_type.cofactors  # type: ignore[method-assign]

    def ite(self, c: Fn, t: Fn, e: Fn) -> Fn:
        return c.ite(t, e)

    def level(self, f: Fn) -> int | None:
        # variables are never reordered, so level == variable number
        return f.node_level()

    def cofactors(self, f: Fn) -> tuple[Fn, Fn]:
        return f.cofactors()

    def sat_count(self, f: Fn) -> int:
        return f.sat_count(self.nvars)

    def min_cube(self, f: Fn) -> bytes:
        """The smallest satisfying assignment of a satisfiable ``f`` (variable 0 most significant).

        oxidd's pick_cube takes the else edge whenever it is satisfiable and leaves variables off
        the path free: with free read as 0 that is the smallest assignment, in one native call
        (tests compare it with a Python walk, so a change of that choice would be caught)."""
        return bytes(map(bool, f.pick_cube()))  # None (free) reads as 0

    def eval(self, f: Fn, bits: list[int]) -> bool:
        return f.eval(enumerate(bits))

    def node_count(self, f: Fn) -> int:
        return f.node_count()

    def gc(self) -> int:
        return self._m.gc()

    def fill(self) -> float:
        # oxidd neither collects garbage on its own nor recovers from a full table
        # (nodes of the failed operation stay referenced), so callers poll this
        return self._m.approx_num_inner_nodes() / self._nodes

    def stats(self) -> dict[str, int | str]:
        return {"backend": self.name, "inner_nodes": self._m.num_inner_nodes(), "capacity": self._nodes}


class CuddBackend:
    """``dd.cudd`` backend (CUDD, complement edges). Reordering is disabled: the engine
    depends on level == variable number."""

    def __init__(self, nvars: int) -> None:
        import dd.cudd as cudd

        self.name = "dd.cudd"
        self.nvars = nvars
        self._b = cudd.BDD()
        self._b.configure(reordering=False)
        names = [f"v{i}" for i in range(nvars)]
        self._b.declare(*names)
        self.pos = [self._b.var(n) for n in names]
        self.neg = [~v for v in self.pos]
        self.true = self._b.true
        self.false = self._b.false
        self._count_memo: dict[Fn, int] = {}

    def ite(self, c: Fn, t: Fn, e: Fn) -> Fn:
        return self._b.ite(c, t, e)

    def level(self, f: Fn) -> int | None:
        return None if f == self.true or f == self.false else f.level

    def cofactors(self, f: Fn) -> tuple[Fn, Fn]:
        # dd.cudd exposes the raw (regular) node's children; undo the complement edge
        if f.negated:
            return ~f.high, ~f.low
        return f.high, f.low

    def sat_count(self, f: Fn) -> int:
        # CUDD's own count is a double; exactness matters here, so count in Python
        memo: dict[Fn, int] = {}
        n = self.nvars

        def rec(g: Fn) -> tuple[int, int]:
            # returns (models over variables below the node's level, that level)
            if g == self.false:
                return 0, n
            if g == self.true:
                return 1, n
            lv = g.level
            if g not in memo:
                hi, lo = self.cofactors(g)
                ch, lh = rec(hi)
                cl, ll = rec(lo)
                memo[g] = (ch << (lh - lv - 1)) + (cl << (ll - lv - 1))
            return memo[g], lv

        c, lv = rec(f)
        return c << lv

    def min_cube(self, f: Fn) -> bytes:
        bits = [0] * self.nvars
        g = f
        while g != self.true:
            hi, lo = self.cofactors(g)
            if lo != self.false:
                g = lo
            else:
                bits[g.level] = 1
                g = hi
        return bytes(bits)

    def eval(self, f: Fn, bits: list[int]) -> bool:
        g = f
        while g != self.true and g != self.false:
            hi, lo = self.cofactors(g)
            g = hi if bits[g.level] else lo
        return g == self.true

    def node_count(self, f: Fn) -> int:
        return len(f)

    def gc(self) -> int:
        return 0  # CUDD collects garbage by itself

    def fill(self) -> float:
        return 0.0

    def stats(self) -> dict[str, int | str]:
        return {"backend": self.name, "inner_nodes": len(self._b)}


def make_backend(name: str, nvars: int, nodes: int | None = None, cache: int | None = None) -> Backend:
    """Create a fresh backend by name: ``oxidd`` / ``oxidd-bcdd``, ``oxidd-bdd`` or ``cudd``."""
    nodes = nodes if nodes is not None else _env_int("ZONEPOLICY_BDD_NODES", DEFAULT_NODES)
    cache = cache if cache is not None else _env_int("ZONEPOLICY_BDD_CACHE", DEFAULT_CACHE)
    if name in ("oxidd", "oxidd-bcdd"):
        return OxiddBackend(nvars, nodes, cache, "bcdd")
    if name == "oxidd-bdd":
        return OxiddBackend(nvars, nodes, cache, "bdd")
    if name in ("cudd", "dd.cudd"):
        return CuddBackend(nvars)
    raise ValueError(f"unknown BDD backend {name!r} (expected oxidd, oxidd-bdd or cudd)")


def backend_from_env(nvars: int) -> Backend:
    """The backend selected by ``ZONEPOLICY_BDD_BACKEND`` (default oxidd)."""
    return make_backend(os.environ.get("ZONEPOLICY_BDD_BACKEND", "oxidd").strip() or "oxidd", nvars)
