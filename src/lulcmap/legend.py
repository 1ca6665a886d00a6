"""Legends are data: ordered class names, colours and the N2 -> N1 mapping.

The SIPNA legend (``data/legends/sipna.yaml``) is the default. Abundances are always computed
at N2 and aggregated to N1 through the legend, so the two levels agree by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from lulcmap.errors import ConfigError, InputNotFoundError

LEVELS = ("N1", "N2")


@dataclass(frozen=True)
class LegendClass:
    name: str
    colour: str
    parent: str | None = None


@dataclass(frozen=True)
class Legend:
    """An ordered two-level legend. ``n2[i].parent`` names the N1 class of N2 class ``i``."""

    id: str
    name: str
    n1: tuple[LegendClass, ...]
    n2: tuple[LegendClass, ...]

    def __post_init__(self) -> None:
        n1_names = [c.name for c in self.n1]
        if len(set(n1_names)) != len(n1_names) or len({c.name for c in self.n2}) != len(self.n2):
            raise ConfigError(f"legend {self.id!r}: class names must be unique within a level")
        orphans = [c.name for c in self.n2 if c.parent not in n1_names]
        if orphans:
            raise ConfigError(
                f"legend {self.id!r}: N2 classes {orphans} have no N1 parent among {n1_names}; "
                "give each N2 class a `parent` that names an N1 class"
            )

    def classes(self, level: str) -> tuple[LegendClass, ...]:
        if level not in LEVELS:
            raise ConfigError(f"level must be one of {LEVELS}, got {level!r}")
        return self.n1 if level == "N1" else self.n2

    def names(self, level: str) -> list[str]:
        return [c.name for c in self.classes(level)]

    @property
    def n2_to_n1(self) -> np.ndarray:
        """Index of the N1 class of each N2 class, shape ``(n2,)``."""
        idx = {c.name: i for i, c in enumerate(self.n1)}
        return np.array([idx[str(c.parent)] for c in self.n2], dtype=np.int64)

    @property
    def aggregation_matrix(self) -> np.ndarray:
        """``(n1, n2)`` 0/1 matrix ``M`` with ``n1_values = M @ n2_values``."""
        m = np.zeros((len(self.n1), len(self.n2)), dtype=np.float32)
        m[self.n2_to_n1, np.arange(len(self.n2))] = 1.0
        return m

    def aggregate(self, n2_values: np.ndarray, axis: int = 0) -> np.ndarray:
        """Sum N2 values (fractions or integer percents) into N1 along ``axis``."""
        moved = np.moveaxis(n2_values, axis, 0)
        out = np.zeros((len(self.n1), *moved.shape[1:]), dtype=moved.dtype)
        np.add.at(out, self.n2_to_n1, moved)
        return np.moveaxis(out, 0, axis)

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "levels": {
                "N1": [{"name": c.name, "colour": c.colour} for c in self.n1],
                "N2": [{"name": c.name, "colour": c.colour, "parent": c.parent} for c in self.n2],
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Legend:
        try:
            levels = data["levels"]
            if not isinstance(levels, dict):
                raise TypeError("`levels` must be a mapping")
            n1 = tuple(LegendClass(str(c["name"]), str(c["colour"])) for c in levels["N1"])
            n2 = tuple(
                LegendClass(str(c["name"]), str(c["colour"]), str(c["parent"]))
                for c in levels["N2"]
            )
            return cls(str(data["id"]), str(data.get("name", data["id"])), n1, n2)
        except (KeyError, TypeError) as exc:
            raise ConfigError(
                f"legend is malformed ({exc!r}); expected `id` and "
                "`levels: {N1: [...], N2: [...]}` "
                "with `name`, `colour` (and `parent` for N2) per class, as in sipna.yaml"
            ) from None


@cache
def _builtin(name: str) -> Legend:
    text = resources.files("lulcmap.data.legends").joinpath(f"{name}.yaml").read_text("utf-8")
    return Legend.from_dict(yaml.safe_load(text))


def load_legend(name_or_path: str | Path = "sipna") -> Legend:
    """A built-in legend by name (``"sipna"``) or a YAML/JSON legend file."""
    path = Path(name_or_path)
    if path.suffix.lower() in {".yaml", ".yml", ".json"}:
        if not path.exists():
            raise InputNotFoundError(f"legend file {path} does not exist")
        return Legend.from_dict(yaml.safe_load(path.read_text("utf-8")))
    builtin = resources.files("lulcmap.data.legends")
    if not builtin.joinpath(f"{name_or_path}.yaml").is_file():
        raise ConfigError(
            f"unknown legend {name_or_path!r}; built-in legends: sipna, or give a YAML file"
        )
    return _builtin(str(name_or_path))


__all__ = ["LEVELS", "Legend", "LegendClass", "load_legend"]
