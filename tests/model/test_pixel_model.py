"""The pixel-encoder model kind: cards, the lattice, and the per-cell averaging against an oracle
encoder whose output is a known function of its input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from lulcmap.errors import ModelCardError, WeightsHashError
from lulcmap.legend import load_crosswalk
from lulcmap.model.card import read_card, write_card
from lulcmap.model.card_encoder import check_lattice
from lulcmap.model.pixel import (
    PixelEncoderModel,
    build_head,
    cell_means,
    lattice_offsets,
    load_pixel_model,
)
from lulcmap.model.presto import BANDS, EMBEDDING_SIZE, PrestoTokens
from lulcmap.model.registry import DEFAULT_MODEL, list_models, load_model, models_dir, resolve_card
from lulcmap.model.runtime import RunOptions, run_rows
from lulcmap.model.zeroshot import dw_to_n2_matrix

ZERO_SHOT = models_dir() / "presto-dynamicworld" / "card.yaml"
B2, B4 = BANDS.index("B2"), BANDS.index("B4")


class OracleEncoder(nn.Module):
    """Embedding = (x[B2], x[B4], latitude, 0, ...): the cell means are known exactly; ``encode``
    hands the decoder ``x[B2]`` as its one token."""

    def __init__(self) -> None:
        super().__init__()
        self.channel_embed = nn.Embedding(1, 1)

    def forward(self, x, mask, dw, latlons, month):  # type: ignore[no-untyped-def]
        out = torch.zeros(x.shape[0], EMBEDDING_SIZE)
        out[:, 0], out[:, 1], out[:, 2] = x[:, 0, B2], x[:, 0, B4], latlons[:, 0]
        return out

    def encode(self, x, mask, dw, latlons, month):  # type: ignore[no-untyped-def]
        b2 = x[:, :1, B2, None]  # [B, 1, 1]
        return PrestoTokens(b2, b2[:, 0], b2[..., 0].long(), b2[..., 0] > -1, month[:, None])


class OracleDecoder(nn.Module):
    def forward(self, encoded, weight):  # type: ignore[no-untyped-def]
        return None, encoded.tokens * torch.arange(9.0)  # [B, 1, 9]


class OraclePresto(nn.Module):
    """``encoder`` as above; the decoder's Dynamic World logits are ``x[B2] * (0..8)``."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = OracleEncoder()
        self.decoder = OracleDecoder()


def _batch(n: int = 3, p: int = 5, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, p, 1, len(BANDS), generator=g)
    mask = torch.zeros_like(x)
    latlons = torch.rand(n, p, 2, generator=g) * 40
    month = torch.zeros(n, p, dtype=torch.long)
    valid = torch.rand(n, p, generator=g) > 0.3
    valid[:, 0] = True  # every cell has a valid pixel
    return x, mask, latlons, month, valid


def _oracle_model(features: str = "mean") -> PixelEncoderModel:
    card = resolve_card("presto-dynamicworld")
    enc = card.encoder.model_copy(update={"features": features})  # type: ignore[union-attr]
    card = card.model_copy(update={"encoder": enc})
    head = build_head(EMBEDDING_SIZE * (2 if features == "mean_std" else 1), (), 10)
    with torch.no_grad():
        head[0].weight.zero_()
        head[0].bias.zero_()
        head[0].weight[0, 0] = 3.0  # class 0 logit = 3 * mean x[B2]
        head[0].weight[1, 1] = -2.0  # class 1 logit = -2 * mean x[B4]
        head[0].weight[2, 2] = 0.1  # class 2 logit = 0.1 * mean latitude
        if features == "mean_std":
            head[0].weight[3, EMBEDDING_SIZE] = 1.0  # class 3 logit = std of x[B2]
    return PixelEncoderModel(card, OraclePresto(), head, None, torch.device("cpu"))  # type: ignore[arg-type]


def _expected_logits(batch: tuple[torch.Tensor, ...], with_std: bool) -> np.ndarray:
    x, _, latlons, _, valid = (t.numpy() for t in batch)
    out = np.zeros((x.shape[0], 10))
    for i in range(x.shape[0]):
        v = valid[i]
        b2, b4, lat = x[i, v, 0, B2], x[i, v, 0, B4], latlons[i, v, 0]
        out[i, :3] = 3 * b2.mean(), -2 * b4.mean(), 0.1 * lat.mean()
        if with_std:
            out[i, 3] = b2.std()
    return out


@pytest.mark.parametrize("features", ["mean", "mean_std"])
def test_head_sees_the_mean_of_the_valid_pixels(features: str) -> None:
    batch = _batch()
    got = _oracle_model(features)(*batch).numpy()
    logits = _expected_logits(batch, features == "mean_std")
    want = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_zero_shot_averages_probabilities_then_applies_the_crosswalk() -> None:
    card = resolve_card("presto-dynamicworld")
    matrix = dw_to_n2_matrix(load_crosswalk("dynamicworld"))
    model = PixelEncoderModel(
        card,
        OraclePresto(),
        None,
        torch.from_numpy(matrix).float(),
        torch.device("cpu"),  # type: ignore[arg-type]
    )
    batch = _batch(4, 6, seed=1)
    got = model(*batch).numpy()
    x, valid = batch[0].numpy(), batch[4].numpy()
    for i in range(4):
        logits = x[i, valid[i], 0, B2][:, None] * np.arange(9.0)
        probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        n2 = probs.mean(0) @ matrix
        np.testing.assert_allclose(got[i], n2 / n2.sum(), atol=1e-5)
    names = card.get_legend().names("N2")
    for zero in ("Greenhouses", "Woody croplands"):
        assert np.all(got[:, names.index(zero)] == 0)
    np.testing.assert_allclose(got.sum(1), 1, atol=1e-6)


def test_cell_means_of_a_cell_without_valid_pixels_is_nan() -> None:
    values = torch.ones(2, 3, 4)
    valid = torch.tensor([[True, False, True], [False, False, False]])
    out = cell_means(values, valid, with_std=True)
    assert torch.all(out[0, :4] == 1) and torch.all(out[0, 4:] == 0)
    assert torch.all(torch.isnan(out[1]))


def test_the_runtime_runs_a_pixel_model_and_checks_its_shape() -> None:
    from lulcmap.model.runtime import Batch

    batch = _batch()
    model = _oracle_model()
    out = run_rows(
        model,
        [Batch(tuple(t.numpy() for t in batch), key=np.arange(3))],
        n_rows=3,
        n_outputs=10,
        options=RunOptions(workers=1),
    )
    np.testing.assert_allclose(out, model(*batch).numpy(), atol=1e-6)
    with pytest.raises(ModelCardError, match="shape"):
        run_rows(
            model,
            [Batch(tuple(t.numpy() for t in batch), key=np.arange(3))],
            n_rows=3,
            n_outputs=9,
            options=RunOptions(workers=1),
        )


@pytest.mark.parametrize("size", [(224, 224), (200, 150), (7, 9)])
@pytest.mark.parametrize("k", [1, 2, 3, 8])
def test_lattice_is_regular_inside_the_footprint(size: tuple[int, int], k: int) -> None:
    rows, cols = lattice_offsets(size, k * k)
    assert len(rows) == k * k
    assert rows.min() >= 0 and rows.max() < size[0] and cols.min() >= 0 and cols.max() < size[1]
    ys, xs = np.unique(rows), np.unique(cols)
    assert len(ys) == min(k, size[0]) or len(ys) == k
    if k > 1 and min(size) >= 2 * k:
        assert np.ptp(np.diff(ys)) <= 1 and np.ptp(np.diff(xs)) <= 1  # regular
        # centred: the margins before the first and after the last differ by at most a pixel
        assert abs(ys[0] - (size[0] - 1 - ys[-1])) <= 1 and abs(xs[0] - (size[1] - 1 - xs[-1])) <= 1


def test_lattice_zero_is_every_pixel_and_non_squares_are_refused() -> None:
    rows, cols = lattice_offsets((5, 4), 0)
    assert len(rows) == 20 and len(set(zip(rows.tolist(), cols.tolist(), strict=False))) == 20
    assert check_lattice(64) == 8 and check_lattice(0) == 0
    with pytest.raises(ValueError, match="square"):
        check_lattice(50)


def test_the_zero_shot_model_is_the_default_and_loads() -> None:
    assert DEFAULT_MODEL == "presto-dynamicworld"
    model = load_model()
    assert isinstance(model, PixelEncoderModel) and model.head is None
    assert model.card.encoder is not None and model.card.encoder.bands == ()
    assert model.card.weights_installed  # the shipped models/presto/ file, not a copy


def _card_data() -> dict[str, object]:
    return yaml.safe_load(ZERO_SHOT.read_text("utf-8"))  # type: ignore[no-any-return]


def test_pixel_encoder_card_without_encoder_block_is_an_error(tmp_path: Path) -> None:
    data = _card_data()
    del data["encoder"]
    (tmp_path / "card.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ModelCardError, match="needs an `encoder` block"):
        read_card(tmp_path / "card.yaml")
    data = _card_data()
    data["kind"] = "chip_cnn"
    (tmp_path / "card.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ModelCardError, match="set kind: pixel_encoder"):
        read_card(tmp_path / "card.yaml")


def test_encoder_file_is_found_beside_the_card_and_its_hash_checked(tmp_path: Path) -> None:
    data = _card_data()
    shutil.copy(models_dir() / "presto" / "presto-default.safetensors", tmp_path)
    bad = "0" * 64
    data["encoder"]["weights"]["sha256"] = bad  # type: ignore[index]
    (tmp_path / "card.yaml").write_text(yaml.safe_dump(data))
    card = read_card(tmp_path / "card.yaml")
    assert card.encoder is not None
    assert card.encoder.weights_path(card.path) == tmp_path / "presto-default.safetensors"
    with pytest.raises(WeightsHashError, match="encoder"):
        load_pixel_model(card)


def test_chip_cnn_cards_load_and_write_unchanged(tmp_path: Path) -> None:
    for card in list_models():
        if card.kind != "chip_cnn":
            continue
        assert card.encoder is None and card.head is None
        written = card.to_dict()
        assert not {"kind", "encoder", "head"} & set(written)
        write_card(card, tmp_path / "c.yaml")
        again = read_card(tmp_path / "c.yaml")
        assert again.to_dict() == written
    assert resolve_card("demo-synthetic").training_domain == "synthetic"
    assert resolve_card("zion-landsat-nlcd").training_domain == "real"


def test_zero_shot_pixels_are_the_decoders_softmax_and_bf16_stays_close() -> None:
    model = load_model("presto-dynamicworld")
    assert isinstance(model, PixelEncoderModel)
    x, mask, latlons, month, _ = _batch(2, 8, seed=3)
    flat = (x.reshape(16, 1, -1), mask.reshape(16, 1, -1), latlons.reshape(16, 2))
    dw = torch.full((16, 1), 9, dtype=torch.long)
    with torch.inference_mode():
        _, logits = model.presto(flat[0], flat[1], dw, flat[2], month.reshape(16))
        want = torch.softmax(logits[:, 0], dim=-1)
        got = model._dw_probabilities(flat[0], flat[1], dw, flat[2], month.reshape(16))
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model._dw_probabilities(flat[0], flat[1], dw, flat[2], month.reshape(16))
    assert 0 < (low - want).abs().max() < 0.05


def test_chip_commands_refuse_a_pixel_encoder_model() -> None:
    from lulcmap.model.registry import load_chip_model

    with pytest.raises(ModelCardError, match="pixel-encoder model, which `lulcmap chips`"):
        load_chip_model("presto-dynamicworld", command="`lulcmap chips`")
    assert load_chip_model("demo-synthetic").card.id == "demo-synthetic"


def test_an_mlp_head_card_loads_its_head_weights(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from lulcmap.model.card import sha256_file

    head = build_head(2 * EMBEDDING_SIZE, (16,), 10)
    save_file(head.state_dict(), str(tmp_path / "head.safetensors"))
    data = _card_data()
    data.update(
        id="head-test",
        head={"kind": "mlp", "hidden": [16]},
        weights={"file": "head.safetensors", "sha256": sha256_file(tmp_path / "head.safetensors")},
    )
    data["encoder"].update(features="mean_std", bands=["B2", "B3", "B4", "B8"])  # type: ignore[attr-defined]
    (tmp_path / "card.yaml").write_text(yaml.safe_dump(data))
    model = load_model(tmp_path / "card.yaml")
    assert isinstance(model, PixelEncoderModel) and model.head is not None
    out = model(*_batch(2, 4))
    assert out.shape == (2, 10)
    torch.testing.assert_close(out.sum(1), torch.ones(2))
    data["head"]["hidden"] = [32]  # type: ignore[index]
    (tmp_path / "card.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ModelCardError, match="do not fit"):
        load_model(tmp_path / "card.yaml")
