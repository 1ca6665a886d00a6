"""Shipped models, model resolution by name or card path, and loading a card's weights.

``load_model`` dispatches on the card's ``kind`` and ``weights.format``: a pixel-encoder card
loads Presto and its head (:class:`~lulcmap.model.pixel.PixelEncoderModel`); a chip-CNN card's
safetensors weights build lulcmap's own network (:class:`TorchModel`), ONNX weights run in
onnxruntime (:class:`OnnxModel`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file

from lulcmap.errors import ModelCardError
from lulcmap.model.card import ModelCard, read_card, verify_weights
from lulcmap.model.network import LulcNet
from lulcmap.model.onnx import OnnxModel
from lulcmap.model.pixel import PixelEncoderModel, load_pixel_model
from lulcmap.resources import shipped_dir

DEFAULT_MODEL = "presto-dynamicworld"
"""The model ``predict`` uses when none is named: the best model of real imagery shipped (the
zero-shot Presto model, a first look, until a trained one is better)."""


def models_dir() -> Path:
    return shipped_dir("models")


def list_models() -> list[ModelCard]:
    """Cards of the models shipped in ``models/`` (each ``models/<id>/card.yaml``).

    Cards whose weights are not installed are listed too (``card.weights_installed``).
    """
    cards = []
    for card_path in sorted(models_dir().glob("*/card.yaml")):
        cards.append(read_card(card_path))
    return cards


def resolve_card(model: str | Path | ModelCard | None = None) -> ModelCard:
    """A card from a shipped model's name, a card path, or a card object."""
    if isinstance(model, ModelCard):
        return model
    name = str(model) if model is not None else DEFAULT_MODEL
    path = Path(name)
    if path.suffix.lower() in {".yaml", ".yml", ".json"} or path.is_file():
        return read_card(path)
    if path.is_dir() and (path / "card.yaml").is_file():
        return read_card(path / "card.yaml")
    shipped = models_dir() / name / "card.yaml"
    if shipped.is_file():
        return read_card(shipped)
    known = ", ".join(c.id for c in list_models()) or "none"
    raise ModelCardError(
        f"unknown model {name!r}; shipped models: {known} (see `lulcmap models`), "
        "or pass the path of a card file"
    )


def build_network(card: ModelCard) -> LulcNet:
    """An untrained network shaped and normalised as ``card`` says."""
    return LulcNet(
        n_classes=card.n_classes,
        n_ancillary=len(card.ancillary),
        widths=card.architecture.widths,
        anc_hidden=card.architecture.anc_hidden,
        image_mean=card.input.image_mean,
        image_std=card.input.image_std,
        anc_mean=[a.mean for a in card.ancillary],
        anc_std=[a.std for a in card.ancillary],
    )


@dataclass
class TorchModel:
    """A loaded model: ``__call__(uint8 images (N,3,S,S), ancillary (N,A)) -> (N,C) fractions``.

    ``C`` is the number of classes of the card's level (:attr:`ModelCard.output_level`).
    """

    card: ModelCard
    net: LulcNet
    device: torch.device
    _local: threading.local = field(default_factory=threading.local, repr=False, compare=False)

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor, ancillary: torch.Tensor) -> torch.Tensor:
        abundance, _ = self.net(self._as_float(images), ancillary)
        return abundance

    def _as_float(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 CPU chips as float32 in a buffer kept per calling thread (the network scales it
        in place). A batch of 64 chips of 224 px is 38 MB: larger than glibc's largest mmap
        threshold (32 MB), so a fresh tensor is mapped, page-faulted and unmapped every call."""
        if images.device.type != "cpu" or images.dtype != torch.uint8:
            return images
        buf = getattr(self._local, "buf", None)
        if buf is None or buf.numel() < images.numel():
            buf = self._local.buf = torch.empty(images.numel(), dtype=torch.float32)
        return buf[: images.numel()].view(images.shape).copy_(images)


def load_model(
    model: str | Path | ModelCard | None = None, *, device: str | torch.device = "cpu"
) -> TorchModel | OnnxModel | PixelEncoderModel:
    """Resolve a card, verify its weights' sha256, and load them (safetensors or ONNX, never
    pickle). ONNX models run in onnxruntime, on CUDA when ``device`` is cuda and it can."""
    card = resolve_card(model)
    if card.kind == "pixel_encoder":
        return load_pixel_model(card, device=device)
    weights = verify_weights(card)
    if card.weights.format == "onnx":
        return OnnxModel.load(card, weights, device=device)
    net = build_network(card)
    state = load_file(str(weights))
    fix = "check `architecture`, `ancillary`, `legend` and `levels` in the card"
    try:
        missing, unexpected = net.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # tensor shapes differ from what the card describes
        first = str(exc).split("\n")[1].strip() if "\n" in str(exc) else str(exc)
        raise ModelCardError(
            f"weights {weights.name} do not fit card {card.id}'s architecture ({first}); {fix}"
        ) from None
    if missing or unexpected:
        raise ModelCardError(
            f"weights {weights.name} do not fit card {card.id}'s architecture "
            f"(missing {list(missing)[:3]}, unexpected {list(unexpected)[:3]}); {fix}"
        )
    dev = torch.device(device)
    net.eval().to(dev)
    return TorchModel(card, net, dev)


def load_chip_model(
    model: str | Path | ModelCard | None = None,
    *,
    device: str | torch.device = "cpu",
    command: str = "this command",
) -> TorchModel | OnnxModel:
    """:func:`load_model` for commands that feed chips (``chips``, ``evaluate``): a pixel-encoder
    card is refused with a one-line error."""
    card = resolve_card(model)
    net = None if card.kind == "pixel_encoder" else load_model(card, device=device)
    if net is None or isinstance(net, PixelEncoderModel):
        raise ModelCardError(
            f"model {card.id} is a pixel-encoder model, which {command} cannot run yet (it "
            "feeds RGB chips); use a chip model such as zion-landsat-nlcd, or `lulcmap predict`"
        )
    return net


__all__ = [
    "DEFAULT_MODEL",
    "OnnxModel",
    "PixelEncoderModel",
    "TorchModel",
    "build_network",
    "list_models",
    "load_chip_model",
    "load_model",
    "models_dir",
    "resolve_card",
]
