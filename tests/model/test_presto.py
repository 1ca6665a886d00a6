"""lulcmap's Presto against the original implementation's outputs, and its input handling."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from lulcmap.errors import InputDataError, InputNotFoundError, ModelCardError
from lulcmap.model.presto import (
    BAND_GROUPS,
    BANDS,
    DW_UNKNOWN,
    Presto,
    load_presto,
    normalise,
)
from lulcmap.model.presto_layers import month_table, sinusoid_table

REPO = Path(__file__).resolve().parents[2]
WEIGHTS = REPO / "models" / "presto" / "presto-default.safetensors"
# copy of ../shared/data/presto/reference_io.npz: inputs and the original code's outputs (CPU)
REFERENCE = REPO / "tests" / "data" / "presto_reference_io.npz"
CASES = [
    f"T{t}_{case}"
    for t in (1, 12)
    for case in ("all_s2_srtm_era5", "rgb_only", "rgb_nir_srtm", "ndvi_only", "everything")
]


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """The model is tiny: one thread is faster, and immune to oversubscribed CPUs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model() -> Presto:
    return load_presto(WEIGHTS)


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(REFERENCE) as npz:
        return {key: npz[key] for key in npz.files}


def _inputs(ref: dict[str, np.ndarray], case: str) -> dict[str, torch.Tensor]:
    names = ("x", "mask", "dynamic_world", "latlons", "month")
    return {name: torch.from_numpy(ref[f"{case}/{name}"]) for name in names}


@pytest.mark.parametrize("case", CASES)
def test_matches_original(model: Presto, reference: dict[str, np.ndarray], case: str) -> None:
    inputs = _inputs(reference, case)
    with torch.no_grad():
        encoded = model.encoder.encode(**inputs)
        eo, dw = model.decoder(encoded, model.encoder.channel_embed.weight)
    outputs = {"embedding": encoded.pooled, "eo_reconstruction": eo, "dw_logits": dw}
    for name, ours in outputs.items():
        theirs = torch.from_numpy(reference[f"{case}/{name}"])
        assert ours.shape == theirs.shape, name
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0, msg=f"{case} {name}")


def test_fixed_tables_match_formulas(model: Presto) -> None:
    enc, dec = model.encoder, model.decoder  # loaded from the file, not computed
    torch.testing.assert_close(enc.pos_embed[0], sinusoid_table(24, 64), atol=1e-6, rtol=0)
    torch.testing.assert_close(dec.pos_embed[0], sinusoid_table(24, 48), atol=1e-6, rtol=0)
    torch.testing.assert_close(enc.month_table, month_table(32), atol=1e-6, rtol=0)
    torch.testing.assert_close(dec.month_table, month_table(48), atol=1e-6, rtol=0)


def test_normalise_one_pixel() -> None:
    raw = dict.fromkeys(BANDS, 0.0)
    raw.update(
        VV=-10.0, VH=-20.0, B2=1000.0, B4=500.0, B8=1500.0, B12=2500.0,
        temperature_2m=292.15, total_precipitation=0.003, elevation=1000.0, slope=10.0,
        NDVI=123.0,  # ignored: recomputed
    )  # fmt: skip
    out = normalise(torch.tensor([[raw[b] for b in BANDS]], dtype=torch.float64))[0]
    got = dict(zip(BANDS, out.tolist(), strict=True))
    expected = dict.fromkeys(BANDS, 0.0)
    expected.update(
        VV=0.6, VH=0.2, B2=0.1, B4=0.05, B8=0.15, B12=0.25,
        temperature_2m=20 / 35,  # (K − 272.15) / 35
        total_precipitation=0.1, elevation=0.5, slope=0.2,
        NDVI=0.5,  # (0.15 − 0.05) / (0.15 + 0.05)
    )  # fmt: skip
    assert got == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("b8", "b4"), [(0.0, 0.0), (-10.0, 0.0), (-5.0, -5.0)])
def test_normalise_ndvi_zero_where_sum_not_positive(b8: float, b4: float) -> None:
    x = torch.full((2, 3, len(BANDS)), 7.0)
    x[..., BANDS.index("B8")] = b8
    x[..., BANDS.index("B4")] = b4
    ndvi = normalise(x)[..., BANDS.index("NDVI")]
    assert torch.equal(ndvi, torch.zeros_like(ndvi))


def test_normalise_rejects_wrong_channel_count() -> None:
    with pytest.raises(InputDataError, match="17 channels"):
        normalise(torch.zeros(4, 16))


def _copy_without(tmp_path: Path, drop: str) -> Path:
    state = load_file(str(WEIGHTS))
    del state[drop]
    path = tmp_path / "broken.safetensors"
    save_file(state, str(path))
    return path


def test_load_refuses_missing_tensor(tmp_path: Path) -> None:
    path = _copy_without(tmp_path, "encoder.blocks.1.mlp.fc2.weight")
    with pytest.raises(ModelCardError, match=r"missing \['encoder\.blocks\.1\.mlp\.fc2\.weight'\]"):
        load_presto(path)


def test_load_reports_published_names(tmp_path: Path) -> None:
    path = _copy_without(tmp_path, "decoder.month_embed.weight")
    with pytest.raises(ModelCardError, match=r"decoder\.month_embed\.weight"):
        load_presto(path)


def test_load_refuses_untied_channel_embedding(tmp_path: Path) -> None:
    state = load_file(str(WEIGHTS))
    state["decoder.channel_embeddings.weight"] = state["decoder.channel_embeddings.weight"] + 1
    path = tmp_path / "untied.safetensors"
    save_file(state, str(path))
    with pytest.raises(ModelCardError, match="tied"):
        load_presto(path)


def test_load_refuses_non_safetensors(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(b"PK\x03\x04 this is a zip/pickle, not safetensors" * 4)
    with pytest.raises(ModelCardError, match="not a safetensors file"):
        load_presto(path)
    with pytest.raises(InputNotFoundError):
        load_presto(tmp_path / "absent.safetensors")


def test_load_copy_is_identical(tmp_path: Path, model: Presto) -> None:
    copy = tmp_path / "renamed.safetensors"
    shutil.copy(WEIGHTS, copy)
    other = load_presto(copy)
    for (name, a), b in zip(model.state_dict().items(), other.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def _random_inputs(batch: int, steps: int, seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {
        "x": torch.rand(batch, steps, len(BANDS), generator=gen),
        "mask": torch.zeros(batch, steps, len(BANDS)),
        "dynamic_world": torch.randint(0, DW_UNKNOWN, (batch, steps), generator=gen),
        "latlons": torch.rand(batch, 2, generator=gen) * torch.tensor([180.0, 360.0]) - 90,
        "month": torch.tensor(3),
    }


def test_masked_group_values_do_not_matter(model: Presto) -> None:
    inputs = _random_inputs(4, 6)
    for group in ("S1", "ERA5", "S2_Red_Edge"):
        inputs["mask"][..., list(BAND_GROUPS[group])] = 1
    inputs["dynamic_world"][:, 2] = DW_UNKNOWN
    changed = {**inputs, "x": inputs["x"].clone()}
    for group in ("S1", "ERA5", "S2_Red_Edge"):
        idx = list(BAND_GROUPS[group])
        changed["x"][..., idx] = 1e3 * torch.randn(4, 6, len(idx))
    changed["x"][:, 1:, list(BAND_GROUPS["SRTM"])] = -5.0  # SRTM is read at timestep 0 only
    with torch.no_grad():
        assert torch.equal(model.encoder(**inputs), model.encoder(**changed))
        for a, b in zip(model(**inputs), model(**changed), strict=True):
            assert torch.equal(a, b)


def test_items_may_mask_different_numbers_of_tokens(model: Presto) -> None:
    inputs = _random_inputs(3, 5, seed=1)
    inputs["mask"][0, :, list(BAND_GROUPS["S1"])] = 1  # 5 tokens fewer
    inputs["mask"][1, 2:, :12] = 1  # cloudy from the third timestep on
    inputs["dynamic_world"][2, :4] = DW_UNKNOWN
    with torch.no_grad():
        batched = model.encoder(**inputs)
        eo, dw = model(**inputs)
        for i in range(3):
            one = {k: v[i : i + 1] if v.ndim else v for k, v in inputs.items()}
            torch.testing.assert_close(batched[i : i + 1], model.encoder(**one), atol=1e-5, rtol=0)
            eo_one, dw_one = model(**one)
            torch.testing.assert_close(eo[i : i + 1], eo_one, atol=1e-5, rtol=0)
            torch.testing.assert_close(dw[i : i + 1], dw_one, atol=1e-5, rtol=0)


def test_month_forms_agree(model: Presto) -> None:
    inputs = _random_inputs(2, 14)
    per_step = (torch.arange(14) + 11) % 12
    forms = [11, torch.tensor([11, 11]), per_step.expand(2, 14)]
    with torch.no_grad():
        outs = [model.encoder(**{**inputs, "month": m}) for m in forms]
    for out in outs[1:]:
        assert torch.equal(out, outs[0])
    with pytest.raises(InputDataError, match="months"):
        model.encoder(**{**inputs, "month": 12})
    with pytest.raises(InputDataError, match="dynamic_world ids"):
        model.encoder(**{**inputs, "dynamic_world": inputs["dynamic_world"] + 10})
