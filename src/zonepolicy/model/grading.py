"""The GB/T 22240 grading matrix, read from the data file in ``policy/grading/``."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True, slots=True)
class GradingMatrix:
    objects: tuple[str, ...]
    degrees: tuple[str, ...]
    cells: tuple[tuple[str, str, int], ...]
    standard: str
    clause: str

    def level(self, harmed_object: str, degree: str) -> int:
        for obj, deg, lvl in self.cells:
            if obj == harmed_object and deg == degree:
                return lvl
        raise KeyError((harmed_object, degree))


@functools.lru_cache(maxsize=1)
def grading_matrix() -> GradingMatrix:
    import yaml  # here, not at the top: loading a policy without grading blocks never needs it

    text = resources.files("zonepolicy.packs").joinpath("grading/gbt22240-2020.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    cells = tuple(
        (obj, deg, int(lvl)) for obj, row in sorted(data["matrix"].items()) for deg, lvl in sorted(row.items())
    )
    return GradingMatrix(tuple(data["objects"]), tuple(data["degrees"]), cells, data["standard"], str(data["clause"]))
