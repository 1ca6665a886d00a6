"""Crosswalks: the shipped ones cover their maps' codes; loading validates; codes -> N2 indexes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lulcmap.errors import ConfigError, InputNotFoundError
from lulcmap.legend import (
    UNKNOWN,
    UNMAPPED,
    Crosswalk,
    builtin_crosswalks,
    load_crosswalk,
    load_legend,
)

NLCD = {0, 11, 12, 21, 22, 23, 24, 31, 41, 42, 43, 51, 52, 71, 72, 73, 74, 81, 82, 90, 95}
WORLDCOVER = {0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100}
CORINE = {
    *range(111, 113),
    *range(121, 125),
    *range(131, 134),
    141,
    142,
    *range(211, 214),
    *range(221, 224),
    231,
    *range(241, 245),
    *range(311, 314),
    *range(321, 325),
    *range(331, 336),
    411,
    412,
    *range(421, 424),
    511,
    512,
    *range(521, 524),
}
EXPECTED = {"nlcd": NLCD, "esa_worldcover": WORLDCOVER, "corine": CORINE | {990, 995, 999}}


def test_corine_has_all_44_level3_classes() -> None:
    assert len(CORINE) == 44


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_crosswalk_covers_its_codes(name: str) -> None:
    legend = load_legend("sipna")
    cw = load_crosswalk(name)
    assert set(cw.codes) == EXPECTED[name]
    assert set(cw.codes.values()) <= {*legend.names("N2"), "unmapped"}
    assert cw.legend.id == "sipna" and cw.id == name and len(cw.sha256) == 64
    index = cw.n2_index(np.array(sorted(cw.codes)))
    assert (index >= UNMAPPED).all()  # nothing unknown
    assert name in builtin_crosswalks()


def test_decisions_documented_in_the_files() -> None:
    nlcd, wc, clc = (load_crosswalk(n) for n in ("nlcd", "esa_worldcover", "corine"))
    assert nlcd.codes[11] == "Wetlands" and nlcd.codes[21] == "Artificial"
    assert nlcd.codes[82] == "Annual croplands" and nlcd.codes[90] == "Wetlands"
    assert wc.codes[10] == "Forests" and wc.codes[0] == "unmapped"
    assert clc.codes[223] == "Woody croplands" and clc.codes[523] == "unmapped"
    assert "Greenhouses" not in {*nlcd.codes.values(), *wc.codes.values(), *clc.codes.values()}


def test_n2_index_numeric_and_text() -> None:
    cw = load_crosswalk("corine")
    names = cw.legend.names("N2")
    got = cw.n2_index(np.array([[311, 523], [7, 223]], dtype=np.uint16))
    assert got.tolist() == [
        [names.index("Forests"), UNMAPPED],
        [UNKNOWN, names.index("Woody croplands")],
    ]
    text = cw.n2_index(np.array(["311", " 523 ", "x", 223.0], dtype=object))
    assert text.tolist() == [
        names.index("Forests"),
        UNMAPPED,
        UNKNOWN,
        names.index("Woody croplands"),
    ]
    assert cw.n2_index(np.array([311.5])).tolist() == [UNKNOWN]


def test_identity_crosswalk() -> None:
    cw = load_crosswalk("index")
    assert cw.n2_index(np.arange(12)).tolist() == [*range(10), UNKNOWN, UNKNOWN]
    assert cw.to_dict()["id"] == "index"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cw.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("id: x\nlegend: sipna\ncodes: {1: Forest}\n", "did you mean 'Forests'"),
        ("id: x\nlegend: sipna\nnotes: hi\ncodes: {1: Forests}\n", "unknown keys ['notes']"),
        ("id: x\nlegend: sipna\ncodes:\n  1: Forests\n  1: Wetlands\n", "appears twice"),
        ("id: x\nlegend: sipna\ncodes: {}\n", "has no codes"),
        ("id: x\nlegend: sipna\n", "needs `id`, `legend` and `codes"),
        ("id: x\nlegend: other\ncodes: {1: Forests}\n", "legend 'other'"),
    ],
)
def test_bad_crosswalk_files(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match="crosswalk") as info:
        load_crosswalk(write(tmp_path, text), legend=load_legend("sipna"))
    assert needle in str(info.value)


def test_crosswalk_file_and_unknown_names(tmp_path: Path) -> None:
    cw = load_crosswalk(write(tmp_path, "id: mine\nlegend: sipna\ncodes: {a: Forests}\n"))
    assert cw.id == "mine" and cw.path == str(tmp_path / "cw.yaml")
    assert cw.n2_index(np.array(["a", "b"], dtype=object)).tolist() == [7, UNKNOWN]
    with pytest.raises(InputNotFoundError):
        load_crosswalk(tmp_path / "missing.yaml")
    with pytest.raises(
        ConfigError, match="built in: corine, dynamicworld, esa_worldcover, nlcd, index"
    ):
        load_crosswalk("glc2000")
    assert isinstance(load_crosswalk("nlcd_to_sipna"), Crosswalk)
