"""Building frozen, slotted dataclass instances without their ``__init__``.

A frozen dataclass's ``__init__`` goes through ``object.__setattr__`` once per field (it has to get
past the frozen ``__setattr__``), which makes it several times slower than a plain tuple. Reading a
province-scale policy creates one flow statement and one resolved flow per line, so the parser and
the resolver fill such objects slot by slot instead. The objects are indistinguishable from ones
built by ``__init__`` (same type, fields, equality, hash, immutability).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable


def direct_constructor(cls: type) -> Callable[..., Any]:
    """A positional constructor for ``cls``: every field must be given, in declaration order.

    Classes with a ``__post_init__`` (it would be skipped) or without slots are refused.
    """
    if not dataclasses.is_dataclass(cls) or hasattr(cls, "__post_init__") or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__} cannot be built directly")
    names = [f.name for f in dataclasses.fields(cls)]
    env: dict[str, Any] = {"new": object.__new__, "cls": cls}
    env.update({f"set_{n}": cls.__dict__[n].__set__ for n in names})
    body = "".join(f"    set_{n}(obj, {n})\n" for n in names)
    source = f"def make({', '.join(names)}):\n    obj = new(cls)\n{body}    return obj\n"
    exec(source, env)  # the source is built from the dataclass's own field names only
    return env["make"]
