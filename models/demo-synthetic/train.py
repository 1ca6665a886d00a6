"""Train the ``demo-synthetic`` model on lulcmap's synthetic worlds (CPU, seeded, ~6 minutes).

    python models/demo-synthetic/train.py

The model is for the demo and the tests only: it has never seen a real image. It learns the
abundances of the SIPNA N2 classes from 224 x 224 chips of :func:`lulcmap.testing.synthetic_world`
scenes (seeds :data:`TRAIN_SEEDS`) and their seven ancillary values, with the exact class fractions
of each chip as targets. World 42 (the demo's) is held out and scored at the end; its numbers go
into the card.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from lulcmap.chips import ChipPlan
from lulcmap.legend import load_legend
from lulcmap.model.card import (
    AncillaryVar,
    InputSpec,
    ModelCard,
    Radiometry,
    Weights,
    sha256_file,
    write_card,
)
from lulcmap.model.registry import build_network, load_model
from lulcmap.testing import ANCILLARY_NAMES, ANCILLARY_UNITS, World, synthetic_world

HERE = Path(__file__).resolve().parent
TRAIN_SEEDS = tuple(range(1, 15))
HELD_OUT_SEED = 42  # the demo's world: never trained on
WORLD_SIZE = 2240  # 22.4 km at 10 m: 10 x 10 chips at stride 224
CHIP = 224
RANDOM_CHIPS = 100  # random-offset chips per world, on top of the 100 at stride 224
EPOCHS = 24
BATCH = 32
LR = 2e-3
PRESENCE_WEIGHT = 0.1
TORCH_SEED = 0

log = logging.getLogger("train")


def chips_of(world: World, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images ``(n, 3, S, S)`` uint8, ancillary ``(n, 7)``, exact N2 fractions ``(n, 10)``."""
    images = np.stack([world.rgb[:, r : r + h, c : c + w] for r, c, h, w in windows])
    means = world.window_ancillary(windows)
    anc = np.stack([means[name] for name in ANCILLARY_NAMES], axis=1).astype(np.float32)
    return images, anc, world.window_fractions(windows).astype(np.float32)


def grid_windows(world: World) -> np.ndarray:
    plan = ChipPlan(world.grid, chip_size=CHIP, stride=CHIP)
    return np.array(
        [plan.chip_window(r, c) for r in range(plan.shape[0]) for c in range(plan.shape[1])]
    )


def build_dataset(
    seeds: tuple[int, ...], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    parts = []
    for seed in seeds:
        t0 = time.perf_counter()
        world = synthetic_world((WORLD_SIZE, WORLD_SIZE), seed=seed)
        offsets = rng.integers(0, WORLD_SIZE - CHIP + 1, (RANDOM_CHIPS, 2))
        random = np.column_stack([offsets, np.full((RANDOM_CHIPS, 2), CHIP)])
        parts.append(chips_of(world, np.concatenate([grid_windows(world), random])))
        log.info("world %d: %d chips in %.1f s", seed, len(parts[-1][0]), time.perf_counter() - t0)
    return tuple(np.concatenate(p) for p in zip(*parts, strict=True))  # type: ignore[return-value]


def image_stats(images: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-band mean and std of the images scaled to [0, 1]."""
    mean, std = [], []
    for b in range(3):
        band = images[:, b]
        m = float(band.mean(dtype=np.float64))
        sq = float(
            np.mean(
                [
                    np.mean(np.square(band[i : i + 64], dtype=np.float64))
                    for i in range(0, len(band), 64)
                ]
            )
        )
        mean.append(round(m / 255, 5))
        std.append(round(math.sqrt(max(sq - m * m, 1e-12)) / 255, 5))
    return mean, std


def augment(x: torch.Tensor, k: np.ndarray) -> torch.Tensor:
    """Apply one of the 8 flips/rotations per chip (abundances are invariant to them)."""
    out = torch.empty_like(x)
    for t in range(8):
        idx = torch.from_numpy(np.flatnonzero(k == t))
        if len(idx):
            y = torch.rot90(x[idx], t % 4, dims=(2, 3))
            out[idx] = torch.flip(y, dims=(3,)) if t >= 4 else y
    return out


def mae_percent(pred: np.ndarray, truth: np.ndarray, names: list[str]) -> dict[str, Any]:
    per_class = np.abs(pred - truth).mean(axis=0) * 100
    return {
        "mae_percent": {n: round(float(v), 3) for n, v in zip(names, per_class, strict=True)},
        "mae_percent_mean": round(float(per_class.mean()), 3),
    }


def evaluate(
    predict: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], seed: int
) -> dict[str, dict[str, Any]]:
    """N1/N2 MAE of ``predict(images, ancillary) -> N2 fractions`` on world ``seed``'s chips."""
    legend = load_legend("sipna")
    world = synthetic_world((WORLD_SIZE, WORLD_SIZE), seed=seed)
    images, anc, truth = chips_of(world, grid_windows(world))
    with torch.inference_mode():
        pred = np.concatenate(
            [
                predict(
                    torch.from_numpy(images[i : i + 50]), torch.from_numpy(anc[i : i + 50])
                ).numpy()
                for i in range(0, len(images), 50)
            ]
        )
    return {
        "N1": mae_percent(
            legend.aggregate(pred, axis=1), legend.aggregate(truth, axis=1), legend.names("N1")
        ),
        "N2": mae_percent(pred, truth, legend.names("N2")),
    }


def provisional_card(image_mean: list[float], image_std: list[float], anc: np.ndarray) -> ModelCard:
    ancillary = tuple(
        AncillaryVar(
            name=n,
            units=ANCILLARY_UNITS[n],
            mean=round(float(anc[:, i].mean()), 4),
            std=round(float(anc[:, i].std()), 4),
        )
        for i, n in enumerate(ANCILLARY_NAMES)
    )
    return ModelCard(
        id="demo-synthetic",
        version="1.0.0",
        description=(
            "Demo model trained ONLY on lulcmap's synthetic landscape generator "
            "(lulcmap.testing.synthetic_world). It exists for the embedded demo and the tests; "
            "it has never seen real imagery and must not be used to map real Sentinel-2 scenes."
        ),
        legend="sipna",
        input=InputSpec(
            chip_size=CHIP,
            pixel_size_m=10.0,
            radiometry=Radiometry(),
            image_mean=tuple(image_mean),
            image_std=tuple(image_std),
        ),
        ancillary=ancillary,
        weights=Weights(file="weights.safetensors", sha256="0" * 64),
        licence="MIT",
    )


def train(
    net: torch.nn.Module,
    images: np.ndarray,
    anc: np.ndarray,
    frac: np.ndarray,
    rng: np.random.Generator,
    *,
    epochs: int,
    max_seconds: float,
) -> int:
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    steps = epochs * math.ceil(len(images) / BATCH)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    bce = torch.nn.BCEWithLogitsLoss()
    start = time.perf_counter()
    for epoch in range(epochs):
        net.train()
        order = rng.permutation(len(images))
        total = 0.0
        for i in range(0, len(order), BATCH):
            idx = np.sort(order[i : i + BATCH])
            x = augment(torch.from_numpy(images[idx]), rng.integers(0, 8, len(idx)))
            y = torch.from_numpy(frac[idx])
            abundance, presence = net(x, torch.from_numpy(anc[idx]))
            loss = torch.mean((abundance - y) ** 2) + PRESENCE_WEIGHT * bce(
                presence, (y > 0).float()
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        elapsed = time.perf_counter() - start
        log.info(
            "epoch %2d/%d  loss %.5f  lr %.2e  %.0f s",
            epoch + 1,
            epochs,
            total / len(images),
            sched.get_last_lr()[0],
            elapsed,
        )
        if elapsed > max_seconds:
            log.warning(
                "stopping after epoch %d: time budget of %.0f s spent", epoch + 1, max_seconds
            )
            return epoch + 1
    return epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument(
        "--max-minutes",
        type=float,
        default=8.0,
        help="stop after the epoch that passes this budget (default 8)",
    )
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    torch.set_num_threads(2)
    torch.manual_seed(TORCH_SEED)
    rng = np.random.default_rng(TORCH_SEED)
    start = time.perf_counter()

    images, anc, frac = build_dataset(TRAIN_SEEDS, rng)
    image_mean, image_std = image_stats(images)
    card = provisional_card(image_mean, image_std, anc)
    net = build_network(card)
    log.info(
        "%d chips, %d parameters, image mean %s std %s",
        len(images),
        sum(p.numel() for p in net.parameters()),
        image_mean,
        image_std,
    )
    budget = args.max_minutes * 60 - (time.perf_counter() - start)
    epochs = train(net, images, anc, frac, rng, epochs=args.epochs, max_seconds=budget)
    wall = time.perf_counter() - start
    del images, anc, frac

    net.eval()
    args.out.mkdir(parents=True, exist_ok=True)
    weights = args.out / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(weights))
    held_out = evaluate(lambda x, a: net(x, a)[0], HELD_OUT_SEED)
    card = card.model_copy(
        update={
            "weights": Weights(file=weights.name, sha256=sha256_file(weights)),
            "training": {
                "script": "models/demo-synthetic/train.py",
                "command": "python models/demo-synthetic/train.py",
                "data": f"lulcmap.testing.synthetic_world, {WORLD_SIZE}x{WORLD_SIZE} px at 10 m",
                "train_seeds": list(TRAIN_SEEDS),
                "held_out_seeds": [HELD_OUT_SEED],
                "chips": len(TRAIN_SEEDS) * (100 + RANDOM_CHIPS),
                "chips_per_world": f"100 at stride {CHIP} + {RANDOM_CHIPS} at random offsets",
                "augmentation": "flips and rot90",
                "loss": f"MSE(abundances) + {PRESENCE_WEIGHT} x BCE(presence)",
                "optimizer": f"Adam lr {LR}, cosine decay per step, batch {BATCH}",
                "epochs": epochs,
                "seed": TORCH_SEED,
                "wall_seconds": round(wall, 1),
                "device": f"cpu, {torch.get_num_threads()} threads",
                "torch": torch.__version__,
            },
            "metrics": {
                "held_out": f"world seed {HELD_OUT_SEED} (the demo's), "
                f"{WORLD_SIZE}x{WORLD_SIZE} px, 100 chips at stride {CHIP}; "
                "ancillary = chip means at 10 m",
                **held_out,
            },
        }
    )
    write_card(card, args.out / "card.yaml")
    log.info(
        "held-out MAE: N1 %.2f %%, N2 %.2f %%  (training %.0f s)",
        held_out["N1"]["mae_percent_mean"],
        held_out["N2"]["mae_percent_mean"],
        wall,
    )

    # the card must load through the registry and reproduce its own numbers
    model = load_model(args.out / "card.yaml")
    again = evaluate(model, HELD_OUT_SEED)
    if again["N2"]["mae_percent_mean"] != held_out["N2"]["mae_percent_mean"]:
        raise RuntimeError(f"reloaded model scores {again['N2']} instead of {held_out['N2']}")


if __name__ == "__main__":
    main()
