"""The chip-dataset format: what the writer writes, the reader reads back, and what it refuses."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr
from hypothesis import given
from hypothesis import strategies as st

from lulcmap import chipdata
from lulcmap.chipdata import (
    DATASET_VERSION,
    REQUIRED_VARS,
    VARIABLES,
    VERSION_ATTR,
    ChipBatch,
    DatasetWriter,
    chip_dataset,
    open_chip_dataset,
)
from lulcmap.errors import InputDataError
from lulcmap.legend import load_legend
from lulcmap.testing.strategies import fractions

LEGEND = load_legend("sipna")
VARS = ["elevation", "slope"]
BLOCK = (1000.0, 1000.0)


def batch(n: int, *, start: int = 0, seed: int = 0, size: int = 8) -> ChipBatch:
    """``n`` chips side by side along x from chip ``start``, 250 m wide; chip 1 has no reference."""
    rng = np.random.default_rng(seed)
    n2_area = rng.dirichlet(np.ones(len(LEGEND.n2)), n) * rng.uniform(0.5, 1, (n, 1))
    if start <= 1 < start + n:
        n2_area[1 - start] = 0.0
    left = 250.0 * np.arange(start, start + n)
    return ChipBatch(
        image=rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8),
        ancillary=rng.normal(100, 30, (n, len(VARS))),
        n2_area=n2_area,
        unmapped=1 - n2_area.sum(axis=1),
        valid=rng.uniform(0.5, 1, n),
        bounds=np.stack([left, np.full(n, 100.0), left + 250, np.full(n, 350.0)], axis=1),
        row_off=np.zeros(n, np.int64),
        col_off=np.arange(start, start + n) * size,
        scene_index=0,
    )


def write(path: Path, batches: list[ChipBatch], **attrs: object) -> Path:
    writer = DatasetWriter(
        path, attrs={"legend": "sipna", **attrs}, legend=LEGEND, variables=VARS, block_size=BLOCK
    )
    for b in batches:
        writer.add(b)
    assert writer.close({"n_chips": sum(len(b) for b in batches)}) == sum(map(len, batches))
    return path


def test_what_the_writer_writes_the_reader_reads_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("lulcmap.chipdata.writer.CHUNK_CHIPS", 4)  # several appends
    parts = [batch(3, seed=1), batch(0, start=3), batch(6, start=3, seed=2), batch(2, start=9)]
    ds = open_chip_dataset(write(tmp_path / "ds.zarr", parts))
    n = 11
    chips = np.arange(n)
    assert ds.sizes["chip"] == n and ds.attrs[VERSION_ATTR] == DATASET_VERSION
    assert ds.attrs["n_chips"] == n and ds.attrs["legend"] == "sipna"
    for name, var in VARIABLES.items():  # every variable of the schema, as the schema declares
        assert ds[name].dims == var.dims and ds[name].dtype == var.dtype, name
    concat = {f: np.concatenate([getattr(b, f) for b in parts]) for f in ChipBatch.__annotations__
              if f not in ("scene_index", "features")}  # fmt: skip
    np.testing.assert_array_equal(chipdata.images(ds, chips), concat["image"])
    np.testing.assert_array_equal(
        chipdata.ancillary(ds, VARS[::-1], chips), concat["ancillary"][:, ::-1].astype(np.float32)
    )
    n2 = chipdata.reference(ds, "N2", chips)
    area = concat["n2_area"]
    mapped = area.sum(axis=1, keepdims=True)
    assert np.isnan(n2[1]).all()  # no reference: NaN fractions
    keep = chips != 1
    np.testing.assert_allclose(n2[keep], (area / np.where(mapped > 0, mapped, 1))[keep], atol=1e-6)
    np.testing.assert_allclose(
        chipdata.reference(ds, "N1", chips)[keep], LEGEND.aggregate(n2[keep], axis=1), atol=1e-6
    )
    np.testing.assert_array_equal(ds["left"].values, concat["bounds"][:, 0])
    np.testing.assert_array_equal(ds["col_off"].values, concat["col_off"])
    assert ds["block"].values.tolist() == [0] * 4 + [1] * 4 + [2] * 3  # 250 m chips, 1 km blocks
    assert chipdata.dataset_classes(ds, "N1") == LEGEND.names("N1")
    assert chipdata.describe(ds)["n_blocks"] == 3


def test_the_writer_stamps_the_schemas_version(tmp_path: Path) -> None:
    path = write(tmp_path / "ds.zarr", [batch(2)], **{VERSION_ATTR: 99})
    assert zarr.open_group(str(path), mode="r").attrs[VERSION_ATTR] == DATASET_VERSION


def test_chip_dataset_holds_exactly_the_schemas_variables() -> None:
    ds = chip_dataset(batch(3), legend=LEGEND, variables=VARS, block_size=BLOCK)
    assert list(ds.data_vars) == list(VARIABLES)
    assert set(REQUIRED_VARS) <= set(VARIABLES)


@given(fractions(n=5), st.floats(0.01, 1.0))
def test_n2_is_the_share_of_the_mapped_area_and_n1_its_legend_sum(
    area: np.ndarray, mapped: float
) -> None:
    b = replace(batch(5, start=2), n2_area=area * mapped, unmapped=np.full(5, 1 - mapped))
    ds = chip_dataset(b, legend=LEGEND, variables=VARS, block_size=BLOCK)
    np.testing.assert_allclose(ds["n2"].values, area, atol=1e-6)
    np.testing.assert_allclose(ds["n1"].values, LEGEND.aggregate(area, axis=1), atol=1e-6)
    np.testing.assert_allclose(ds["n1"].values.sum(axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(ds["n2_area"].values.sum(axis=1) + ds["unmapped_fraction"], 1,
                               atol=1e-6)  # fmt: skip


def stored(tmp_path: Path, ds: xr.Dataset, name: str = "bad.zarr") -> Path:
    path = tmp_path / name
    ds.to_zarr(path, zarr_format=2, consolidated=True)
    return path


def good() -> xr.Dataset:
    ds = chip_dataset(batch(3), legend=LEGEND, variables=VARS, block_size=BLOCK)
    ds.attrs = {VERSION_ATTR: DATASET_VERSION, "legend": "sipna"}
    return ds


def test_a_dataset_of_another_version_is_refused(tmp_path: Path) -> None:
    ds = good()
    ds.attrs[VERSION_ATTR] = DATASET_VERSION + 1
    with pytest.raises(InputDataError, match=rf"format version {DATASET_VERSION + 1} but this "
                       rf"lulcmap reads version {DATASET_VERSION}; prepare it again"):  # fmt: skip
        open_chip_dataset(stored(tmp_path, ds))
    del ds.attrs[VERSION_ATTR]
    with pytest.raises(InputDataError, match=f"not a lulcmap chip dataset.*{VERSION_ATTR}"):
        open_chip_dataset(stored(tmp_path, ds, "unversioned.zarr"))
    assert open_chip_dataset(stored(tmp_path, good(), "good.zarr")).sizes["chip"] == 3


@pytest.mark.parametrize("name", REQUIRED_VARS)
def test_a_dataset_without_a_required_variable_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(InputDataError, match=rf"bad\.zarr lacks {name}; .*prepare it again"):
        open_chip_dataset(stored(tmp_path, good().drop_vars(name)))


def test_a_required_variable_on_other_dims_is_refused(tmp_path: Path) -> None:
    ds = good()
    ds["n1"] = ds["n1"].rename(class_n1="class")
    with pytest.raises(InputDataError, match=r"holds n1 on dims \(chip, class\) but the format "
                       r"has \(chip, class_n1\)"):  # fmt: skip
        open_chip_dataset(stored(tmp_path, ds))
    transposed = good().transpose("band", "chip", ...)  # the same dims in another order: readable
    ds = open_chip_dataset(stored(tmp_path, transposed, "transposed.zarr"))
    np.testing.assert_array_equal(chipdata.images(ds, np.arange(3)), good()["image"].values)
