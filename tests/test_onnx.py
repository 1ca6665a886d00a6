"""ONNX models: a model of the published signature, exported here, maps like the same weights
through torch; the card's conventions block; single-level (N1) models; clear errors."""

from __future__ import annotations

import json
import logging
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
import xarray as xr
import yaml
from rio_cogeo.cogeo import cog_validate
from safetensors.torch import save_file
from torch import nn
from typer.testing import CliRunner

from lulcmap.cli.main import app
from lulcmap.commands.predict import predict
from lulcmap.errors import InputNotFoundError, LulcmapError, ModelCardError, WeightsHashError
from lulcmap.legend import load_legend
from lulcmap.model.card import read_card, sha256_file, write_card
from lulcmap.model.network import LulcNet
from lulcmap.model.onnx import OnnxModel
from lulcmap.model.registry import load_model, models_dir
from lulcmap.testing import ANCILLARY_NAMES, ANCILLARY_UNITS
from lulcmap.testing.cli import assert_clean_failure, invoke

pytest.importorskip("onnxruntime", reason="onnxruntime is in the test extra")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # legacy ONNX exporter

LEGEND = load_legend()
PUBLISHED_ORDER = (
    "evapotranspiration",
    "precipitation",
    "elevation",
    "slope",
    "temp_ave",
    "temp_max",
    "temp_min",
)
"""The published models' ancillary order (the torch network below takes ANCILLARY_NAMES')."""
STATS = {  # plausible normalisation statistics, by variable
    "elevation": (495.3, 418.3),
    "slope": (15.5, 8.4),
    "evapotranspiration": (1172.6, 117.1),
    "precipitation": (618.4, 238.6),
    "temp_ave": (15.1, 2.8),
    "temp_max": (21.9, 2.5),
    "temp_min": (8.8, 3.1),
}
IMAGE_MEAN, IMAGE_STD = (0.38, 0.36, 0.27), (0.22, 0.18, 0.16)
TO_TORCH_ORDER = [PUBLISHED_ORDER.index(n) for n in ANCILLARY_NAMES]
runner = CliRunner()


# -- a network, its safetensors card, and ONNX exports of it ----------------------------------
def make_net(level: str, seed: int = 0) -> LulcNet:
    """A randomly initialised LulcNet at ``level``, sharpened so the ancillary values matter."""
    torch.manual_seed(seed)
    net = LulcNet(
        n_classes=len(LEGEND.classes(level)),
        n_ancillary=7,
        image_mean=IMAGE_MEAN,
        image_std=IMAGE_STD,
        anc_mean=[STATS[n][0] for n in ANCILLARY_NAMES],
        anc_std=[STATS[n][1] for n in ANCILLARY_NAMES],
    )
    with torch.no_grad():
        net.bias_head.weight.mul_(8.0)
    return net.eval()


def write_torch_card(net: LulcNet, folder: Path, level: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    save_file(net.state_dict(), folder / "weights.safetensors")
    card = {
        "id": f"torch-{level.lower()}",
        "version": "1",
        "levels": [level],
        "input": {"image_mean": list(IMAGE_MEAN), "image_std": list(IMAGE_STD)},
        "ancillary": [
            {"name": n, "units": ANCILLARY_UNITS[n], "mean": STATS[n][0], "std": STATS[n][1]}
            for n in ANCILLARY_NAMES
        ],
        "weights": {
            "file": "weights.safetensors",
            "sha256": sha256_file(folder / "weights.safetensors"),
        },
    }
    (folder / "card.yaml").write_text(yaml.safe_dump(card, sort_keys=False))
    return folder / "card.yaml"


class Published(nn.Module):
    """The published signature: uint8 NHWC 224x224x3 + 7 raw ancillary values in the published
    order -> (abundances of one level, a second output of the same shape)."""

    def __init__(self, net: LulcNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor, ancillary: torch.Tensor) -> tuple[torch.Tensor, ...]:
        abundance, presence = self.net(image.permute(0, 3, 1, 2), ancillary[:, TO_TORCH_ORDER])
        return abundance, torch.sigmoid(presence)


class ScaledNormalised(nn.Module):
    """NCHW float32 images in [0, 1] + normalised ancillary values (published order)."""

    def __init__(self, net: LulcNet) -> None:
        super().__init__()
        self.net = net
        stats = torch.tensor([STATS[n] for n in PUBLISHED_ORDER])
        self.register_buffer("mean", stats[:, 0])
        self.register_buffer("std", stats[:, 1])

    def forward(self, image: torch.Tensor, ancillary: torch.Tensor) -> torch.Tensor:
        raw = ancillary * self.std + self.mean
        return self.net(image * 255.0, raw[:, TO_TORCH_ORDER])[0]


def export(module: nn.Module, path: Path, image: torch.Tensor, outputs: list[str]) -> Path:
    """Export with the TorchScript-based exporter (``dynamo=False``: no onnxscript needed)."""
    anc = torch.rand(2, 7)
    dynamic = {name: {0: "batch"} for name in ["input_1", "input_2", *outputs]}
    torch.onnx.export(
        module.eval(),
        (image, anc),
        str(path),
        input_names=["input_1", "input_2"],
        output_names=outputs,
        dynamic_axes=dynamic,
        opset_version=17,
        dynamo=False,
    )
    return path


def export_published(net: LulcNet, path: Path) -> Path:
    image = torch.randint(0, 256, (2, 224, 224, 3), dtype=torch.uint8)
    return export(Published(net), path, image, ["abundances", "presence"])


def onnx_card(onnx_file: Path, level: str, onnx: dict[str, object], **extra: object) -> Path:
    """A card next to ``onnx_file``; ancillary in the published order, with statistics."""
    card = {
        "id": f"onnx-{level.lower()}",
        "version": "1",
        "levels": [level],
        "ancillary": [
            {"name": n, "units": ANCILLARY_UNITS[n], "mean": STATS[n][0], "std": STATS[n][1]}
            for n in PUBLISHED_ORDER
        ],
        "weights": {"file": onnx_file.name, "sha256": sha256_file(onnx_file), "format": "onnx"},
        "onnx": onnx,
        **extra,
    }
    path = onnx_file.with_suffix(".yaml")
    path.write_text(yaml.safe_dump(card, sort_keys=False))
    return path


PUBLISHED = {
    "image_input": "input_1",
    "image_layout": "NHWC",
    "image_dtype": "uint8",
    "ancillary_input": "input_2",
    "ancillary_normalised": False,
    "output": "abundances",
}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], tuple[Path, Path]]:
    """``level -> (torch card, ONNX card of the published signature)``, same weights."""
    made: dict[str, tuple[Path, Path]] = {}

    def get(level: str) -> tuple[Path, Path]:
        if level not in made:
            folder = tmp_path_factory.mktemp(f"model-{level}")
            net = make_net(level, seed=1 if level == "N1" else 2)
            torch_card = write_torch_card(net, folder / "torch", level)
            onnx_file = export_published(net, folder / "published.onnx")
            made[level] = (torch_card, onnx_card(onnx_file, level, PUBLISHED))
        return made[level]

    return get


def world_inputs(w: dict[str, Path]) -> dict[str, object]:
    return {"dem": w["dem"], "climate": w["climate"], "device": "cpu"}


# -- predict through onnxruntime = predict through torch --------------------------------------
def test_n2_model_of_the_published_signature_matches_torch(
    models: Callable[[str], tuple[Path, Path]], small_world: dict[str, Path]
) -> None:
    torch_card, card = models("N2")
    via_torch = predict(small_world["scene"], model=torch_card, **world_inputs(small_world))
    via_onnx = predict(small_world["scene"], model=card, **world_inputs(small_world))
    assert via_onnx.attrs["weights_format"] == "onnx" and via_onnx.attrs["levels"] == ["N1", "N2"]
    for level in ("N1", "N2"):
        a, b = via_torch[level].values, via_onnx[level].values
        assert np.isfinite(b).all() and a.shape == b.shape
        assert np.abs(a - b).max() <= 1e-5
    # the ancillary values matter: the same file fed in the torch network's order differs
    swapped_file = shutil.copy(card.with_suffix(".onnx"), card.with_name("swapped.onnx"))
    swapped = onnx_card(Path(swapped_file), "N2", PUBLISHED)
    data = yaml.safe_load(swapped.read_text())
    data["ancillary"] = [
        {"name": n, "mean": STATS[n][0], "std": STATS[n][1]} for n in ANCILLARY_NAMES
    ]
    swapped.write_text(yaml.safe_dump(data))
    wrong = predict(small_world["scene"], model=swapped, **world_inputs(small_world))
    assert np.abs(wrong["N2"].values - via_torch["N2"].values).max() > 1e-3


def test_n1_model_writes_only_n1(
    models: Callable[[str], tuple[Path, Path]], small_world: dict[str, Path], tmp_path: Path
) -> None:
    torch_card, card = models("N1")
    via_torch = predict(small_world["scene"], model=torch_card, **world_inputs(small_world))
    out = tmp_path / "out"
    args = ["predict", small_world["scene"], "--dem", small_world["dem"]]
    args += ["--climate", small_world["climate"], "--out", out, "--model", card, "--quiet"]
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "scene.run.json",
        "scene.zarr",
        "scene_N1.tif",
        "scene_chips.parquet",
    ]
    assert cog_validate(str(out / "scene_N1.tif"))[0]
    with rasterio.open(out / "scene_N1.tif") as cog:
        assert list(cog.descriptions) == LEGEND.names("N1")
        assert np.all(cog.read().astype(int).sum(axis=0) == 100)
    zarr = xr.open_zarr(out / "scene.zarr")
    assert "N2" not in zarr and "class_n2" not in zarr.coords
    assert np.abs(zarr["N1"].values - via_torch["N1"].values).max() <= 1e-5
    assert "N2" not in via_torch and via_torch.sizes["class_n1"] == 4
    import geopandas as gpd

    table = gpd.read_parquet(out / "scene_chips.parquet")
    levels = {c.split(":")[0] for c in table.columns if ": " in c}
    assert levels == {"N1"} and table["valid"].all()
    record = json.loads((out / "scene.run.json").read_text())
    assert record["model"]["levels"] == ["N1"] and record["model"]["weights_format"] == "onnx"
    # a second run checks only the outputs an N1 model writes
    (out / "scene_N2.tif").write_text("someone else's")
    again = runner.invoke(app, [*(str(a) for a in args), "--overwrite"])
    assert again.exit_code == 0 and (out / "scene_N2.tif").read_text() == "someone else's"


def test_nchw_float_scaled_and_normalised_ancillary(
    models: Callable[[str], tuple[Path, Path]], small_world: dict[str, Path], tmp_path: Path
) -> None:
    torch_card, _ = models("N2")
    net = make_net("N2", seed=2)  # the same weights as the torch card
    image = torch.rand(2, 3, 224, 224)
    onnx_file = export(ScaledNormalised(net), tmp_path / "scaled.onnx", image, ["out"])
    conventions = {
        "image_input": "input_1",
        "image_layout": "NCHW",
        "image_dtype": "float32",
        "image_scale": 1 / 255,
        "ancillary_input": "input_2",
        "ancillary_normalised": True,
        "output": 0,
    }
    card = onnx_card(onnx_file, "N2", conventions)
    via_torch = predict(small_world["scene"], model=torch_card, **world_inputs(small_world))
    via_onnx = predict(small_world["scene"], model=card, **world_inputs(small_world))
    assert np.abs(via_torch["N2"].values - via_onnx["N2"].values).max() <= 1e-5


def test_model_call_matches_torch_on_random_chips(
    models: Callable[[str], tuple[Path, Path]],
) -> None:
    torch_card, card = models("N1")
    torch_model, onnx_model = load_model(torch_card), load_model(card)
    assert isinstance(onnx_model, OnnxModel) and onnx_model.device.type == "cpu"
    images = torch.randint(0, 256, (5, 3, 224, 224), dtype=torch.uint8)
    anc = torch.tensor([[STATS[n][0] + 20 * i for n in ANCILLARY_NAMES] for i in range(5)])
    expected = torch_model(images, anc)
    got = onnx_model(images, anc[:, [ANCILLARY_NAMES.index(n) for n in PUBLISHED_ORDER]])
    assert got.shape == (5, 4) and torch.abs(got - expected).max() <= 1e-5


# -- the shipped cards ------------------------------------------------------------------------
SHIPPED = ("lifewatch-mimo-n1-s2g", "lifewatch-mimo-n2-s2g")


@pytest.mark.parametrize("model_id", SHIPPED)
def test_shipped_card_is_the_published_signature(model_id: str) -> None:
    card = read_card(models_dir() / model_id / "card.yaml")
    assert card.weights.format == "onnx" and card.onnx is not None
    assert card.ancillary_names == list(PUBLISHED_ORDER)
    assert (card.onnx.image_layout, card.onnx.image_dtype) == ("NHWC", "uint8")
    assert not card.onnx.ancillary_normalised and card.input.chip_size == 224
    assert card.levels == (("N1",) if "n1" in model_id else ("N2",))
    assert (models_dir() / model_id / "README.md").is_file()


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_onnx_card_round_trips(tmp_path: Path, suffix: str) -> None:
    card = read_card(models_dir() / "lifewatch-mimo-n2-s2g" / "card.yaml")
    write_card(card, tmp_path / f"card{suffix}")
    back = read_card(tmp_path / f"card{suffix}")
    assert back.to_dict() == card.to_dict() and back.onnx == card.onnx
    assert back.weights.sha256 is None and back.output_level == "N2"


def test_models_json_lists_shipped_cards_without_weights() -> None:
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["id"]: r for r in json.loads(result.output)}
    for model_id in SHIPPED:
        if read_card(models_dir() / model_id / "card.yaml").weights_installed:
            pytest.skip(f"{model_id}'s weights are installed in this checkout")
        row = rows[model_id]
        assert row["weights_installed"] is False and row["weights_format"] == "onnx"
    assert rows["lifewatch-mimo-n1-s2g"]["map_levels"] == ["N1"]
    assert rows["lifewatch-mimo-n2-s2g"]["map_levels"] == ["N1", "N2"]
    assert rows["demo-synthetic"]["weights_installed"] is True
    table = runner.invoke(app, ["models"], env={"COLUMNS": "250"})
    assert table.exit_code == 0 and "weights not installed" in table.output


def test_predict_with_missing_shipped_weights_is_one_clear_line(
    small_world: dict[str, Path], tmp_path: Path
) -> None:
    card = read_card(models_dir() / "lifewatch-mimo-n1-s2g" / "card.yaml")
    if card.weights_installed:
        pytest.skip("the N1 model's weights are installed in this checkout")
    out = tmp_path / "out"
    args = ["predict", small_world["scene"], "--dem", small_world["dem"]]
    args += ["--climate", small_world["climate"], "--out", out, "-m", "lifewatch-mimo-n1-s2g"]
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lulcmap: error:"), result.output
    assert str(card.weights_path) in lines[0] and "docs/onnx.md" in lines[0]
    assert "Models/ML_MIMO_N1_S2G" in lines[0] and not out.exists()


def test_user_drops_the_converted_file_next_to_a_shipped_card(
    models: Callable[[str], tuple[Path, Path]], small_world: dict[str, Path], tmp_path: Path
) -> None:
    """The N1 card as shipped: with the file dropped in it asks for the sha256; then it runs
    (the names input_1/input_2 and NHWC uint8 are what the exported file has)."""
    folder = tmp_path / "lifewatch-mimo-n1-s2g"
    shutil.copytree(models_dir() / "lifewatch-mimo-n1-s2g", folder)
    _, card = models("N1")
    onnx_file = folder / "lifewatch_mimo_n1_s2g.onnx"
    shutil.copy(card.with_suffix(".onnx"), onnx_file)
    with pytest.raises(ModelCardError, match=r"records no sha256.*sha256sum"):
        load_model(folder / "card.yaml")
    text = (folder / "card.yaml").read_text()
    (folder / "card.yaml").write_text(
        text.replace("sha256: null", f"sha256: {sha256_file(onnx_file)}")
    )
    # the shipped card leaves `output: null`; this file has two outputs of 4 classes
    with pytest.raises(ModelCardError, match=r"'abundances'.*'presence'.*set onnx.output"):
        load_model(folder / "card.yaml")
    text = (folder / "card.yaml").read_text()
    (folder / "card.yaml").write_text(text.replace("output: null", "output: abundances"))
    ds = predict(small_world["scene"], model=folder / "card.yaml", **world_inputs(small_world))
    assert list(ds.data_vars)[:2] == ["N1", "valid_fraction"] and "N2" not in ds


# -- the card's onnx block and the file are checked -------------------------------------------
def test_hash_mismatch_of_an_onnx_file(
    models: Callable[[str], tuple[Path, Path]], tmp_path: Path
) -> None:
    _, card = models("N2")
    folder = tmp_path / "m"
    folder.mkdir()
    shutil.copy(card, folder / "card.yaml")
    data = card.with_suffix(".onnx").read_bytes()
    (folder / "published.onnx").write_bytes(data[:-2] + bytes([data[-2] ^ 1, data[-1]]))
    with pytest.raises(WeightsHashError, match="sha256"):
        load_model(folder / "card.yaml")


def _card_dict(**changes: object) -> dict[str, object]:
    card: dict[str, object] = {
        "id": "x",
        "version": "1",
        "levels": ["N1"],
        "ancillary": [{"name": n} for n in PUBLISHED_ORDER],
        "weights": {"file": "m.onnx", "sha256": "0" * 64, "format": "onnx"},
        "onnx": dict(PUBLISHED),
    }
    card.update(changes)
    return card


@pytest.mark.parametrize(
    ("changes", "needles"),
    [
        ({"onnx": None}, ["no `onnx` block", "image_input", "docs/onnx.md"]),
        (
            {"weights": {"file": "w.safetensors", "sha256": "0" * 64}},
            ["`onnx` block", "weights.format: onnx"],
        ),
        ({"onnx": {**PUBLISHED, "colour": "blue"}}, ["onnx.colour"]),
        ({"onnx": {**PUBLISHED, "image_layout": "HWC"}}, ["onnx.image_layout", "NHWC"]),
        ({"onnx": {**PUBLISHED, "image_scale": 0.5}}, ["image_dtype: float32"]),
        ({"onnx": {**PUBLISHED, "ancillary_input": None}}, ["ancillary_input"]),
        ({"onnx": {**PUBLISHED, "ancillary_normalised": True}}, ["mean", "std"]),
        ({"onnx": {**PUBLISHED, "ancillary_input": "input_1"}}, ["both 'input_1'"]),
        ({"architecture": {"name": "lulcnet"}}, ["remove `architecture`"]),
        ({"input": {"image_mean": [0.5, 0.5, 0.5]}}, ["onnx.image_dtype"]),
        ({"levels": []}, ["levels"]),
        ({"levels": ["N3"]}, ["levels"]),
    ],
)
def test_card_onnx_block_is_validated(
    tmp_path: Path, changes: dict[str, object], needles: list[str]
) -> None:
    data = _card_dict(**changes)
    if data["onnx"] is None:
        del data["onnx"]
    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ModelCardError) as info:
        read_card(path)
    for needle in needles:
        assert needle in str(info.value)


def test_sha256_null_is_allowed_but_never_loads(tmp_path: Path) -> None:
    path = tmp_path / "card.yaml"
    path.write_text(
        yaml.safe_dump(_card_dict(weights={"file": "m.onnx", "sha256": None, "format": "onnx"}))
    )
    card = read_card(path)
    assert card.weights.sha256 is None and not card.weights_installed
    with pytest.raises(InputNotFoundError, match=r"no weights installed.*m\.onnx"):
        load_model(path)


@pytest.mark.parametrize(
    ("onnx", "needles"),
    [
        ({"image_input": "rgb"}, ["no input 'rgb'", "'input_1' uint8[N,224,224,3]", "image_input"]),
        ({"image_layout": "NCHW"}, ["takes NHWC images", "onnx.image_layout: NHWC"]),
        ({"image_dtype": "float32"}, ["image_dtype: uint8"]),
        ({"ancillary_input": "anc"}, ["no input 'anc'", "'input_2' is its 2-D input"]),
        ({"output": "dense_3"}, ["no output 'dense_3'", "'abundances'"]),
        ({"output": 5}, ["no output 5"]),
        ({"output": None}, ["2 outputs of 10 classes", "set onnx.output"]),
    ],
)
def test_file_is_checked_against_the_card(
    models: Callable[[str], tuple[Path, Path]],
    tmp_path: Path,
    onnx: dict[str, object],
    needles: list[str],
) -> None:
    _, card = models("N2")
    onnx_file = tmp_path / "m.onnx"
    shutil.copy(card.with_suffix(".onnx"), onnx_file)
    path = onnx_card(onnx_file, "N2", {**PUBLISHED, **onnx})
    with pytest.raises(ModelCardError) as info:
        load_model(path)
    for needle in needles:
        assert needle in str(info.value), str(info.value)


def test_level_must_match_the_output(
    models: Callable[[str], tuple[Path, Path]], tmp_path: Path
) -> None:
    _, card = models("N2")
    onnx_file = tmp_path / "m.onnx"
    shutil.copy(card.with_suffix(".onnx"), onnx_file)
    with pytest.raises(ModelCardError, match=r"N1 classes: 4.*`levels`"):
        load_model(onnx_card(onnx_file, "N1", PUBLISHED))


def test_outputs_that_are_not_fractions_are_reported_once_and_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Doubled(nn.Module):
        def forward(self, image: torch.Tensor, ancillary: torch.Tensor) -> torch.Tensor:
            x = image.float().mean(dim=(1, 2))  # (N, 3)
            return torch.cat([x, x[:, :1]], dim=1) / 255.0 * 2.0 + ancillary[:, :1] * 0

    image = torch.randint(0, 256, (2, 224, 224, 3), dtype=torch.uint8)
    path = onnx_card(
        export(Doubled(), tmp_path / "d.onnx", image, ["out"]), "N1", PUBLISHED | {"output": None}
    )
    model = load_model(path)
    chips = torch.full((3, 3, 224, 224), 200, dtype=torch.uint8)
    with caplog.at_level(logging.WARNING, logger="lulcmap.model.onnx"):
        first = model(chips, torch.zeros(3, 7))
        model(chips, torch.zeros(3, 7))
    assert torch.allclose(first, torch.full((3, 4), 400 / 255))  # nothing clipped or rescaled
    warnings = [r for r in caplog.records if "not a set of fractions" in r.getMessage()]
    assert len(warnings) == 1


def test_missing_onnxruntime_says_how_to_install(
    models: Callable[[str], tuple[Path, Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, card = models("N1")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(LulcmapError, match=r"pip install 'lulcmap\[onnx\]'"):
        load_model(card)


def test_onnx_models_run_one_call_at_a_time(
    models: Callable[[str], tuple[Path, Path]],
    small_world: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """onnxruntime spreads each call over all cores: the engine must not run two at once."""
    from lulcmap.commands import predict as predict_module

    seen = []
    real = predict_module.run_inference

    def spy(*args: object, options: object, **kwargs: object) -> object:
        seen.append(options)
        return real(*args, options=options, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(predict_module, "run_inference", spy)
    predict(small_world["scene"], model=models("N2")[1], **world_inputs(small_world))
    assert [(o.workers, o.device, o.bf16) for o in seen] == [(1, "cpu", False)]


def test_external_data_is_refused(
    models: Callable[[str], tuple[Path, Path]], small_world: dict[str, Path], tmp_path: Path
) -> None:
    """Tensors in ``weights.bin`` are outside the card's sha256: swapping them would go unseen."""
    onnx = pytest.importorskip("onnx")
    _, card = models("N2")
    onnx_file = tmp_path / "external.onnx"
    onnx.save(
        onnx.load(str(card.with_suffix(".onnx"))),
        str(onnx_file),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )
    assert (tmp_path / "weights.bin").is_file()
    external = onnx_card(onnx_file, "N2", PUBLISHED)
    out = tmp_path / "out"
    args = ["predict", small_world["scene"], "--dem", small_world["dem"]]
    args += ["--climate", small_world["climate"], "--out", out, "--model", external, "--quiet"]
    code, output = invoke(*args)
    assert_clean_failure(code, output, out, "external data", "save_as_external_data=False")
