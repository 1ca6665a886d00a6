"""Legends are data: ordered class names, colours and the N2 -> N1 mapping.

The SIPNA legend (``data/legends/sipna.yaml``) is the default. Abundances are always computed
at N2 and aggregated to N1 through the legend, so the two levels agree by construction.

A :class:`Crosswalk` maps the codes of another land-cover map (NLCD, ESA WorldCover, CORINE, ...)
onto the N2 classes of a legend, or to ``unmapped`` (kept out of the class fractions). Built-in
crosswalks live in ``data/crosswalks/<name>_to_<legend>.yaml``; ``index`` is the identity of the
test kit's reference rasters (code ``i`` = the legend's ``i``-th N2 class).
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from lulcmap.errors import ConfigError, InputDataError, InputNotFoundError

LEVELS = ("N1", "N2")


def derived_levels(level: str) -> tuple[str, ...]:
    """The levels values of ``level`` give: N1 and N2 from N2 (N1 is the legend's sum of N2),
    N1 alone from N1."""
    if level not in LEVELS:
        raise ConfigError(f"level must be one of {LEVELS}, got {level!r}")
    return LEVELS if level == "N2" else ("N1",)


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

    def levels_from(
        self, values: np.ndarray, level: str, *, axis: int = 0
    ) -> dict[str, np.ndarray]:
        """Values of every level that ``level`` gives (:func:`derived_levels`), in level order.

        ``values`` are fractions or percents of the classes of ``level`` along ``axis``; from N2
        the N1 values are their :meth:`aggregate`, the one place N1 is derived from N2.

        Raises:
            InputDataError: ``values`` do not hold one entry per class of ``level``.
        """
        n = len(self.classes(level))
        if values.shape[axis] != n:
            raise InputDataError(
                f"expected {level} fractions of {n} classes (legend {self.id!r}), "
                f"got {values.shape[axis]}"
            )
        if level == "N1":
            return {"N1": values}
        return {"N1": self.aggregate(values, axis=axis), "N2": values}

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


# -- crosswalks ---------------------------------------------------------------------------------
UNMAPPED = -1
"""N2 index of codes a crosswalk maps to ``unmapped``."""
UNKNOWN = -2
"""N2 index of codes a crosswalk does not list."""
_CROSSWALK_KEYS = {"id", "source", "legend", "codes"}
_INT = re.compile(r"^[+-]?\d+$")
Code = int | str


def normalise_code(value: object) -> Code:
    """A reference value as a crosswalk key: integers (also ``3.0``, ``"311"``) or stripped text.

    ``None``/NaN give ``""``, which no crosswalk lists.
    """
    if value is None or (isinstance(value, float | np.floating) and np.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        raise ConfigError(f"reference code {value!r} is a boolean; expected integer or text codes")
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return int(value) if float(value).is_integer() else str(value)
    text = str(value).strip()
    return int(text) if _INT.match(text) else text


@dataclass(frozen=True, eq=False)
class Crosswalk:
    """Reference-map codes -> N2 classes of ``legend`` (or ``unmapped``).

    Attributes:
        id: short name (``nlcd``); ``source``: what the reference map is.
        codes: code -> N2 class name or ``"unmapped"``.
        sha256: hash of the file it was read from (of its canonical YAML when built in code).
    """

    id: str
    source: str
    legend: Legend
    codes: Mapping[Code, str]
    sha256: str
    path: str | None = None

    def __post_init__(self) -> None:
        names = self.legend.names("N2")
        bad = {str(code): t for code, t in self.codes.items() if t not in (*names, "unmapped")}
        if bad:
            code, target = next(iter(bad.items()))
            close = difflib.get_close_matches(target, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"crosswalk {self.id!r} maps code {code} to {target!r}{hint}, which is not an N2 "
                f"class of legend {self.legend.id!r}; use one of {names} or `unmapped`"
            )
        if not self.codes:
            raise ConfigError(f"crosswalk {self.id!r} has no codes; list `codes: {{code: class}}`")

    @property
    def table(self) -> dict[Code, int]:
        """Code -> N2 index (:data:`UNMAPPED` for ``unmapped``)."""
        index = {name: i for i, name in enumerate(self.legend.names("N2"))}
        return {code: index.get(t, UNMAPPED) for code, t in self.codes.items()}

    def n2_index(self, values: np.ndarray) -> np.ndarray:
        """N2 index (int16) of every value: ``0..n2-1``, :data:`UNMAPPED` or :data:`UNKNOWN`.

        Numeric arrays are looked up with a sorted search (integer codes only); other arrays
        (text columns) code by code after :func:`normalise_code`.
        """
        values = np.asarray(values)
        if values.dtype.kind in "iuf":
            numeric = {k: v for k, v in self.table.items() if isinstance(k, int)}
            keys = np.array(sorted(numeric), dtype=np.float64)
            targets = np.array([numeric[int(k)] for k in keys], dtype=np.int16)
            flat = values.astype(np.float64, copy=False)
            pos = np.clip(np.searchsorted(keys, flat), 0, max(len(keys) - 1, 0))
            hit = keys[pos] == flat if len(keys) else np.zeros(values.shape, bool)
            return np.where(hit, targets[pos] if len(keys) else 0, UNKNOWN).astype(np.int16)
        codes, uniques = pd.factorize(pd.Series(values.ravel()), use_na_sentinel=False)
        table = self.table
        mapped = [table.get(normalise_code(u), UNKNOWN) for u in uniques]
        return np.asarray(mapped, dtype=np.int16)[codes].reshape(values.shape)

    def to_dict(self) -> dict[str, object]:
        """What a dataset records: id, legend, file and sha256."""
        return {"id": self.id, "legend": self.legend.id, "path": self.path, "sha256": self.sha256}

    @classmethod
    def identity(cls, legend: Legend) -> Crosswalk:
        """Code ``i`` -> the ``i``-th N2 class (the test kit's ``reference.tif``)."""
        codes: dict[Code, str] = dict(enumerate(legend.names("N2")))
        text = yaml.safe_dump({"id": "index", "legend": legend.id, "codes": codes})
        digest = hashlib.sha256(text.encode()).hexdigest()
        return cls("index", f"N2 class index of legend {legend.id}", legend, codes, digest)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses duplicate keys (a code listed twice is a mistake)."""


def _no_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[object, object]:
    seen: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise ConfigError(f"key {key!r} appears twice (line {key_node.start_mark.line + 1})")
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def _crosswalk_from_text(text: str, where: str, legend: Legend | None) -> Crosswalk:
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except ConfigError as exc:
        raise ConfigError(f"crosswalk {where}: {exc}; list each code once") from None
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"crosswalk {where} is not valid YAML: {str(exc).splitlines()[0]}"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("codes"), dict):
        raise ConfigError(
            f"crosswalk {where} needs `id`, `legend` and `codes: {{code: N2 class | unmapped}}`"
        )
    unknown = sorted(set(map(str, data)) - _CROSSWALK_KEYS)
    if unknown:
        raise ConfigError(
            f"crosswalk {where} has unknown keys {unknown}; allowed: {sorted(_CROSSWALK_KEYS)}"
        )
    legend_id = str(data.get("legend", "sipna"))
    if legend is not None and legend_id != legend.id:
        raise ConfigError(
            f"crosswalk {where} maps onto legend {legend_id!r} but legend {legend.id!r} was "
            f"asked for; pass a crosswalk to {legend.id} or --legend {legend_id}"
        )
    codes: dict[Code, str] = {}
    for key, target in data["codes"].items():
        code = normalise_code(key)
        if code == "" or code in codes:
            raise ConfigError(f"crosswalk {where}: code {key!r} is empty or listed twice")
        codes[code] = str(target)
    return Crosswalk(
        id=str(data.get("id", Path(where).stem)),
        source=str(data.get("source", "")),
        legend=legend or load_legend(legend_id),
        codes=codes,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        path=where,
    )


def builtin_crosswalks(legend: str = "sipna") -> list[str]:
    """Names of the crosswalks shipped for ``legend`` (plus ``index``)."""
    folder = resources.files("lulcmap.data").joinpath("crosswalks")
    suffix = f"_to_{legend}.yaml"
    names = [p.name[: -len(suffix)] for p in folder.iterdir() if p.name.endswith(suffix)]
    return [*sorted(names), "index"]


def load_crosswalk(name_or_path: str | Path, *, legend: Legend | None = None) -> Crosswalk:
    """A shipped crosswalk by name (``nlcd``, ``esa_worldcover``, ``corine``, ``index``) or a
    YAML file; checked against ``legend`` (default: the legend the crosswalk names)."""
    path = Path(name_or_path)
    if path.suffix.lower() in {".yaml", ".yml", ".json"}:
        if not path.is_file():
            raise InputNotFoundError(f"crosswalk file {path} does not exist; check --crosswalk")
        return _crosswalk_from_text(path.read_text("utf-8"), str(path), legend)
    target = legend.id if legend is not None else "sipna"
    if str(name_or_path) == "index":
        return Crosswalk.identity(legend or load_legend(target))
    name = str(name_or_path).removesuffix(f"_to_{target}")
    item = resources.files("lulcmap.data").joinpath("crosswalks", f"{name}_to_{target}.yaml")
    if not item.is_file():
        raise ConfigError(
            f"unknown crosswalk {name_or_path!r} for legend {target!r}; built in: "
            f"{', '.join(builtin_crosswalks(target))}, or give a YAML file"
        )
    return _crosswalk_from_text(item.read_text("utf-8"), f"{name}_to_{target}.yaml", legend)


__all__ = [
    "LEVELS",
    "UNKNOWN",
    "UNMAPPED",
    "Crosswalk",
    "Legend",
    "LegendClass",
    "builtin_crosswalks",
    "derived_levels",
    "load_crosswalk",
    "load_legend",
    "normalise_code",
]
