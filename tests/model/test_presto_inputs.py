"""Presto's pixel inputs (band matching, units, masks) and the zero-shot Dynamic World mapping,
against hand-computed values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lulcmap.errors import BandSelectionError, ConfigError, InputDataError
from lulcmap.legend import load_crosswalk, load_legend
from lulcmap.model.presto import BAND_GROUPS, BANDS, DW_UNKNOWN, load_presto
from lulcmap.model.presto_inputs import assemble, climate_to_presto, match_bands, s2_band
from lulcmap.model.zeroshot import dw_probabilities_to_n2, dw_to_n2_matrix

WEIGHTS = Path(__file__).resolve().parents[2] / "models" / "presto" / "presto-default.safetensors"
ALL_S2 = ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"]
C = {name: i for i, name in enumerate(BANDS)}


def _groups(mask: torch.Tensor) -> set[str]:
    """Groups whose channels are all masked (every pixel, every timestep)."""
    return {g for g, idx in BAND_GROUPS.items() if bool((mask[..., list(idx)] == 1).all())}


@pytest.mark.parametrize(
    ("name", "band"),
    [
        ("B02", "B2"), ("b2", "B2"), ("B8A", "B8A"), ("b08a", "B8A"), ("B8", "B8"),
        ("B4, central wavelength 665 nm", "B4"), ("B11", "B11"), ("b012", "B12"),
        ("blue", "B2"), ("Green", "B3"), ("RED", "B4"), ("rededge071", "B5"),
        ("rededge2", "B6"), ("rededge078", "B7"), ("nir", "B8"), ("nir08", "B8A"),
        ("swir16", "B11"), ("swir22", "B12"),
        ("rededge", None), ("coastal", None), ("nir09", None), ("cirrus", None),
        ("B01", None), ("B9", None), ("B10", None), ("pan", None), ("NDVI", None), ("", None),
    ],
)  # fmt: skip
def test_band_names(name: str, band: str | None) -> None:
    assert s2_band(name) == band


def test_match_bands_maps_channels_to_columns() -> None:
    assert match_bands(["SCL", "red", "green", "blue"]) == {C["B4"]: 1, C["B3"]: 2, C["B2"]: 3}
    assert match_bands(ALL_S2) == {C[b.replace("0", "") if b != "B8A" else b]: i
                                   for i, b in enumerate(ALL_S2)}  # fmt: skip
    assert match_bands(["AOT", "WVP"]) == {}
    with pytest.raises(BandSelectionError, match="both Sentinel-2 B8"):
        match_bands(["B08", "nir"])


def test_hand_computed_pixel() -> None:
    refl = np.array([[0.05, 0.08, 0.1, 0.12, 0.2, 0.25, 0.3, 0.32, 0.22, 0.15]])
    inputs = assemble(
        refl, match_bands(ALL_S2), lat=[37.5], lon=[-4.0], month0=5, elevation=[1000.0],
        slope=[10.0], temperature_c=[25.0], precipitation_mm_month=[90.0], days_in_month=30,
    )  # fmt: skip
    x = inputs.x[0, 0]
    expected = {
        "temperature_2m": 26 / 35,  # 25 °C = 298.15 K; (298.15 - 272.15) / 35
        "total_precipitation": 0.1,  # 90 mm / 1000 / 30 days = 0.003 m/day; / 0.03
        "elevation": 0.5, "slope": 0.2,
        "NDVI": (0.3 - 0.1) / (0.3 + 0.1),
        **{b: float(r) for b, r in zip(["B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A",
                                         "B11", "B12"], refl[0], strict=True)},
    }  # fmt: skip
    for name, value in expected.items():
        assert float(x[C[name]]) == pytest.approx(value, abs=1e-6), name
    assert _groups(inputs.mask) == {"S1"} and inputs.masked_groups == ("S1",)
    assert inputs.x.dtype == torch.float32 and inputs.x.shape == (1, 1, 17)
    assert inputs.dynamic_world.tolist() == [[DW_UNKNOWN]]
    assert inputs.month.tolist() == [5] and inputs.valid.tolist() == [True]
    torch.testing.assert_close(inputs.latlons, torch.tensor([[37.5, -4.0]]))


def test_climate_to_presto_gives_the_same_pixel() -> None:
    temp = climate_to_presto("temp_ave", np.array([25.0]), unit="degC", period="month")
    prec = climate_to_presto("prec", np.array([90.0]), unit="mm/month", days_in_month=30)
    assert temp.note is None and prec.note is None and temp.channel == "temperature_2m"
    assert temp.values is not None and prec.values is not None
    np.testing.assert_allclose([temp.values[0], prec.values[0]], [298.15, 0.003])
    refl = np.full((1, 3), 0.1)
    a = assemble(refl, match_bands(["B2", "B3", "B4"]), lat=[0], lon=[0], month0=0,
                 era5=(temp.values, prec.values))  # fmt: skip
    b = assemble(refl, match_bands(["B2", "B3", "B4"]), lat=[0], lon=[0], month0=0,
                 temperature_c=[25.0], precipitation_mm_month=[90.0], days_in_month=30)  # fmt: skip
    torch.testing.assert_close(a.x, b.x)


@pytest.mark.parametrize(
    ("name", "unit", "period", "why"),
    [
        ("precipitation", "mm/year", None, "annual"),
        ("bio_12", "mm", None, "annual"),
        ("temp_ave", "degC", "year", "annual"),
        ("bio_1", "degC", "month", "annual"),  # bio_1 is an annual mean whatever is claimed
        ("temp_ave", "degC", None, "unknown period"),
        ("precipitation", "inches", "month", "does not match"),
    ],
)
def test_climate_meaning_mismatch_is_refused(
    name: str, unit: str, period: str | None, why: str
) -> None:
    out = climate_to_presto(name, np.array([600.0]), unit=unit, period=period, days_in_month=30)
    assert out.values is None and out.note is not None
    assert why in out.note and "masked" in out.note


def test_climate_accepted_units() -> None:
    def value(name: str, v: float, unit: str, period: str | None = None) -> float:
        out = climate_to_presto(name, np.array([v]), unit=unit, period=period, days_in_month=31)
        assert out.values is not None, out.note
        return float(out.values[0])

    assert value("tavg", 300.0, "K", "month") == pytest.approx(300.0)
    assert value("precipitation", 3.1, "mm/day") == pytest.approx(0.0031)
    assert value("total_precipitation", 0.002, "m/day") == pytest.approx(0.002)
    assert value("prec", 62.0, "mm", "month") == pytest.approx(0.002)  # WorldClim prec_MM
    assert climate_to_presto("evapotranspiration", np.ones(1), unit="mm/year").channel is None


def test_rgb_only_masks_everything_else() -> None:
    refl = np.random.default_rng(0).uniform(0.02, 0.3, (5, 3))
    inputs = assemble(refl, match_bands(["red", "green", "blue"]), lat=np.zeros(5),
                      lon=np.zeros(5), month0=0, elevation=np.full(5, 500.0),
                      slope=np.full(5, 5.0))  # fmt: skip
    masked = {"S1", "S2_Red_Edge", "S2_NIR_10m", "S2_NIR_20m", "S2_SWIR", "ERA5", "NDVI"}
    assert _groups(inputs.mask) == masked == set(inputs.masked_groups)
    kept = [i for g, idx in BAND_GROUPS.items() if g not in masked for i in idx]
    assert bool((inputs.mask[..., kept] == 0).all())
    masked_channels = [i for g in masked for i in BAND_GROUPS[g]]
    assert bool((inputs.x[..., masked_channels] == 0).all())
    # columns are red, green, blue: B2 comes from the third
    torch.testing.assert_close(
        inputs.x[:, 0, C["B2"]], torch.tensor(refl[:, 2], dtype=torch.float32)
    )


def test_four_band_product_keeps_ndvi_and_masks_dem() -> None:
    refl = np.array([[0.05, 0.08, 0.1, 0.4]])
    inputs = assemble(refl, match_bands(["B02", "B03", "B04", "B08"]), lat=[0], lon=[0],
                      month0=0)  # fmt: skip
    assert set(inputs.masked_groups) == {
        "S1", "S2_Red_Edge", "S2_NIR_20m", "S2_SWIR", "ERA5", "SRTM"
    }  # fmt: skip
    assert float(inputs.x[0, 0, C["NDVI"]]) == pytest.approx(0.6)  # (0.4 - 0.1) / 0.5
    assert float(inputs.mask[0, 0, C["NDVI"]]) == 0.0


def test_invalid_pixels_are_reported_and_finite() -> None:
    refl = np.array([[0.1, 0.1, 0.1], [np.nan, 0.1, 0.1], [0.1, 0.1, 0.1], [0.1, 0.1, 0.1]])
    inputs = assemble(refl, match_bands(["B2", "B3", "B4"]), lat=[0, 0, np.nan, 0],
                      lon=[0, 0, 0, 0], month0=0, elevation=[1, 1, 1, np.nan],
                      slope=[1, 1, 1, 1])  # fmt: skip
    assert inputs.valid.tolist() == [True, False, False, False]
    assert bool(torch.isfinite(inputs.x).all()) and bool(torch.isfinite(inputs.latlons).all())
    assert len({int(m.sum()) for m in inputs.mask}) == 1  # equal masks across the batch


def test_input_errors() -> None:
    rgb = match_bands(["B2", "B3", "B4"])
    with pytest.raises(InputDataError, match="digital"):
        assemble(np.full((2, 3), 1200.0), rgb, lat=[0, 0], lon=[0, 0], month0=0)
    with pytest.raises(InputDataError, match="days_in_month"):
        assemble(np.full((1, 3), 0.1), rgb, lat=[0], lon=[0], month0=0,
                 temperature_c=[10.0], precipitation_mm_month=[10.0])  # fmt: skip
    with pytest.raises(InputDataError, match="month0"):
        assemble(np.full((1, 3), 0.1), rgb, lat=[0], lon=[0], month0=12)


def test_several_timesteps() -> None:
    refl = np.full((2, 3, 4), 0.1)
    inputs = assemble(refl, match_bands(["B2", "B3", "B4", "B8"]), lat=[0, 1], lon=[0, 1],
                      month0=np.array([10, 11]), temperature_c=np.zeros((2, 3)),
                      precipitation_mm_month=[31.0, 62.0], days_in_month=[30, 31, 31])  # fmt: skip
    assert inputs.x.shape == inputs.mask.shape == (2, 3, 17)
    assert inputs.dynamic_world.shape == (2, 3) and inputs.month.tolist() == [10, 11]
    prec = inputs.x[:, :, C["total_precipitation"]] * 0.03 * 1000  # mm/day
    torch.testing.assert_close(prec, torch.tensor([[31 / 30, 1, 1], [62 / 30, 2, 2]]))


def test_rgb_batch_runs_through_the_encoder() -> None:
    if not WEIGHTS.is_file():
        pytest.skip(f"Presto weights not found: {WEIGHTS}")
    refl = np.random.default_rng(1).uniform(0.02, 0.4, (16, 3))
    refl[3] = np.nan
    inputs = assemble(refl, match_bands(["B04", "B03", "B02"]), lat=np.full(16, 38.3),
                      lon=np.full(16, -5.3), month0=5)  # fmt: skip
    with torch.no_grad():
        embedding = load_presto(WEIGHTS).encoder(**inputs.model_inputs())
    assert embedding.shape == (16, 128) and bool(torch.isfinite(embedding).all())
    assert inputs.valid.sum() == 15


# -- zero-shot: Dynamic World -> SIPNA N2 ------------------------------------------------------
DW_TO_SIPNA = {
    0: "Wetlands", 1: "Forests", 2: "Grasslands and Grasslands with trees", 3: "Wetlands",
    4: "Annual croplands", 5: "Shrubland and Shrublands with trees", 6: "Artificial",
    7: "Barelands", 8: "Barelands",
}  # fmt: skip


def test_dynamic_world_crosswalk() -> None:
    legend = load_legend("sipna")
    names = legend.names("N2")
    matrix = dw_to_n2_matrix(load_crosswalk("dynamicworld"), legend)
    assert matrix.shape == (9, 10) and (matrix.sum(axis=1) == 1).all()
    for code, target in DW_TO_SIPNA.items():
        assert names[int(matrix[code].argmax())] == target
    for empty in ("Greenhouses", "Woody croplands",
                  "Combinations of croplands and natural vegetation"):  # fmt: skip
        assert matrix[:, names.index(empty)].sum() == 0


def test_probabilities_to_fractions() -> None:
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.ones(9), size=20)
    fractions = dw_probabilities_to_n2(probs)
    assert fractions.shape == (20, 10)
    np.testing.assert_allclose(fractions.sum(axis=1), 1.0)
    names = load_legend("sipna").names("N2")
    np.testing.assert_allclose(fractions[:, names.index("Wetlands")], probs[:, 0] + probs[:, 3])
    np.testing.assert_allclose(fractions[:, names.index("Barelands")], probs[:, 7] + probs[:, 8])
    # an unmapped class: its probability is left out and the rest rescaled
    matrix = dw_to_n2_matrix(load_crosswalk("dynamicworld"))
    matrix[0] = 0.0
    one = dw_probabilities_to_n2(np.array([[0.5, 0.5, *[0.0] * 7], [1.0, *[0.0] * 8]]), matrix)
    assert one[0, names.index("Forests")] == 1.0 and np.isnan(one[1]).all()


def test_crosswalk_must_list_every_dynamic_world_class(tmp_path: Path) -> None:
    path = tmp_path / "dw.yaml"
    path.write_text("id: partial\nlegend: sipna\ncodes: {0: Wetlands, 1: Forests}\n")
    with pytest.raises(ConfigError, match="lacks Dynamic World classes"):
        dw_to_n2_matrix(load_crosswalk(path))
