"""A loaded pixel-encoder model: Presto on each cell's lattice pixels, a per-cell mean, a head.

``PixelEncoderModel(x, mask, latlons, month, valid) -> (n, C)`` takes a batch of ``n`` cells of
``P`` lattice pixels each, as :func:`lulcmap.model.presto_inputs.assemble` builds them:

* ``x``, ``mask``: ``(n, P, T, 17)`` float32, normalised Presto inputs and their mask;
* ``latlons``: ``(n, P, 2)`` float32 degrees; ``month``: ``(n, P)`` int64 (0 = January);
* ``valid``: ``(n, P)`` bool, the pixels to average (invalid ones are run, then ignored).

Zero-shot (``head.kind: dynamicworld``): the encoder-decoder's Dynamic World logits of the first
timestep, softmax, averaged over each cell's valid pixels, then mapped onto N2 by the crosswalk
matrix (classes no Dynamic World class maps to get 0) and rescaled to sum to 1. With an ``mlp``
head: the pooled embeddings averaged per cell (``mean``, or ``mean_std``: mean and standard
deviation concatenated) feed the MLP, softmax output. A cell without a valid pixel gives NaN.
:func:`cell_features` computes those per-cell features, for ``predict`` and for ``prepare
--backbone presto`` alike; :class:`FeatureHead` runs the head alone on stored features
(``evaluate``, and ``train --backbone presto``'s held-out metrics).

Pixels are run in chunks of :data:`PIXEL_CHUNK`, so a cell of every pixel of a 224 px chip
(50 176 pixels) keeps the activations small. It runs through
:func:`lulcmap.model.runtime.run_batches` like the chip CNN (CUDA path, bfloat16 autocast).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

from lulcmap.errors import ModelCardError
from lulcmap.legend import load_crosswalk
from lulcmap.model.card import ModelCard, verify_encoder, verify_weights
from lulcmap.model.presto import DW_UNKNOWN, EMBEDDING_SIZE, Presto, PrestoTokens, load_presto
from lulcmap.model.zeroshot import dw_to_n2_matrix

PIXEL_CHUNK = 8192
"""Most pixels per encoder call."""


def build_head(n_features: int, hidden: tuple[int, ...], n_classes: int) -> nn.Sequential:
    """The MLP head: Linear + ReLU per ``hidden`` width, then Linear to ``n_classes`` logits.

    Its safetensors file (the card's ``weights``) holds this ``nn.Sequential``'s state dict
    (``0.weight``, ``0.bias``, ``2.weight``...), as ``save_file(head.state_dict(), path)`` writes.
    """
    layers: list[nn.Module] = []
    width = n_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, n_classes))
    return nn.Sequential(*layers)


def feature_size(features: str) -> int:
    """Length of a cell's feature vector: the embedding (``mean``) or twice it (``mean_std``)."""
    return EMBEDDING_SIZE * (2 if features == "mean_std" else 1)


def cell_means(
    values: torch.Tensor, valid: torch.Tensor, *, with_std: bool = False
) -> torch.Tensor:
    """``(n, P, D)`` per-pixel values -> ``(n, D)`` mean over each cell's valid pixels (and their
    standard deviation appended, ``(n, 2D)``, with ``with_std``); NaN for a cell with none."""
    w = valid.to(values.dtype)[..., None]
    count = w.sum(dim=1)
    mean = (values * w).sum(dim=1) / count
    if not with_std:
        return mean
    var = (((values - mean[:, None]) ** 2) * w).sum(dim=1) / count
    return torch.cat([mean, var.clamp_min(0).sqrt()], dim=-1)


@dataclass
class PixelEncoderModel:
    """Presto plus a head, loaded from a ``kind: pixel_encoder`` card (see module docstring)."""

    card: ModelCard
    presto: Presto
    head: nn.Module | None  # None: zero-shot through ``dw_matrix``
    dw_matrix: torch.Tensor | None  # (9, n2) float32
    device: torch.device

    def _pixels(self, x: torch.Tensor, mask: torch.Tensor, ll: torch.Tensor, month: torch.Tensor):
        """Per-pixel Dynamic World probabilities ``(N, 9)`` of ``N`` flat pixels, in chunks."""
        outs = []
        for s in range(0, x.shape[0], PIXEL_CHUNK):
            sl = slice(s, s + PIXEL_CHUNK)
            dw = torch.full(x[sl].shape[:2], DW_UNKNOWN, dtype=torch.long, device=x.device)
            outs.append(self._dw_probabilities(x[sl], mask[sl], dw, ll[sl], month[sl]))
        return torch.cat(outs) if outs else x.new_zeros((0, 1))

    def _dw_probabilities(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Dynamic World probabilities of the first timestep; under autocast the encoder runs in
        bfloat16 and the decoder in float32 (its scatter needs one dtype)."""
        encoded = self.presto.encoder.encode(*inputs)
        encoded = PrestoTokens(*(t.float() if torch.is_floating_point(t) else t for t in encoded))
        with torch.autocast(inputs[0].device.type, enabled=False):
            _, logits = self.presto.decoder(encoded, self.presto.encoder.channel_embed.weight)
        return torch.softmax(logits[:, 0].float(), dim=-1)

    @torch.inference_mode()
    def __call__(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        latlons: torch.Tensor,
        month: torch.Tensor,
        valid: torch.Tensor,
    ) -> torch.Tensor:
        n, p = valid.shape
        if self.head is not None:
            enc = self.card.encoder
            with_std = enc is not None and enc.features == "mean_std"
            feats = cell_features(self.presto, x, mask, latlons, month, valid, with_std=with_std)
            return torch.softmax(self.head(feats).float(), dim=-1)
        flat = self._pixels(
            x.reshape(n * p, *x.shape[2:]),
            mask.reshape(n * p, *mask.shape[2:]),
            latlons.reshape(n * p, 2),
            month.reshape(n * p),
        )
        feats = cell_means(flat.reshape(n, p, -1), valid.bool())
        if self.dw_matrix is None:
            raise ModelCardError(f"model {self.card.id} has neither a head nor a crosswalk")
        n2 = feats @ self.dw_matrix.to(feats.device)
        return n2 / n2.sum(dim=1, keepdim=True)


def cell_features(
    presto: Presto,
    x: torch.Tensor,
    mask: torch.Tensor,
    latlons: torch.Tensor,
    month: torch.Tensor,
    valid: torch.Tensor,
    *,
    with_std: bool = False,
) -> torch.Tensor:
    """A batch of cells' features ``(n, 128)`` (``(n, 256)`` ``with_std``): the encoder's pooled
    embedding of each of the ``P`` pixels (inputs as in the module docstring), in chunks of
    :data:`PIXEL_CHUNK`, averaged over each cell's valid pixels. What an ``mlp`` head is fed, in
    ``predict`` and in ``prepare --backbone presto`` alike."""
    n, p = valid.shape
    flat = (
        x.reshape(n * p, *x.shape[2:]),
        mask.reshape(n * p, *mask.shape[2:]),
        latlons.reshape(n * p, 2),
        month.reshape(n * p),
    )
    outs = []
    for s in range(0, n * p, PIXEL_CHUNK):
        xs, ms, ll, mo = (t[s : s + PIXEL_CHUNK] for t in flat)
        dw = torch.full(xs.shape[:2], DW_UNKNOWN, dtype=torch.long, device=xs.device)
        outs.append(presto.encoder(xs, ms, dw, ll, mo).float())
    emb = torch.cat(outs) if outs else x.new_zeros((0, EMBEDDING_SIZE))
    return cell_means(emb.reshape(n, p, -1), valid.bool(), with_std=with_std)


@dataclass
class FeatureHead:
    """A pixel-encoder model's ``mlp`` head alone, on stored features ``(n, F)`` (a chip dataset
    made by ``prepare --backbone presto``) -> abundances ``(n, C)``: what ``evaluate`` runs."""

    card: ModelCard
    head: nn.Module
    device: torch.device

    @torch.inference_mode()
    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.head(features.float()).float(), dim=-1)


def load_pixel_model(card: ModelCard, *, device: str | torch.device = "cpu") -> PixelEncoderModel:
    """Verify the encoder's (and the head's) sha256 and load them; never unpickles."""
    if card.encoder is None or card.head is None:
        raise ModelCardError(f"card {card.id} is not a pixel-encoder card")
    dev = torch.device(device)
    presto = load_presto(verify_encoder(card), device=dev)
    if card.head.kind == "dynamicworld":
        crosswalk = load_crosswalk(str(card.head.crosswalk))
        matrix = dw_to_n2_matrix(crosswalk, card.get_legend())
        return PixelEncoderModel(card, presto, None, torch.from_numpy(matrix).float(), dev)
    return PixelEncoderModel(card, presto, load_head(card).to(dev), None, dev)


def load_head(card: ModelCard) -> nn.Module:
    """The ``mlp`` head of a pixel-encoder card, its weights sha256-checked, in eval mode."""
    if card.encoder is None or card.head is None or card.head.kind != "mlp":
        raise ModelCardError(f"card {card.id} has no `mlp` head (head.kind: mlp)")
    head = build_head(feature_size(card.encoder.features), card.head.hidden, card.n_classes)
    weights: Path = verify_weights(card)
    state = load_file(str(weights))
    try:
        head.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelCardError(
            f"head weights {weights.name} do not fit card {card.id}'s head "
            f"(hidden {list(card.head.hidden)}, {card.n_classes} classes): "
            f"{str(exc).splitlines()[0]}; check `head.hidden`, `encoder.features` and `legend`"
        ) from None
    return head.eval()


def lattice_offsets(size: tuple[int, int], pixels_per_cell: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns ``(P,)`` of a ``k x k`` regular lattice centred in a ``size`` chip
    (``k * k = pixels_per_cell``; 0: every pixel), row-major."""
    h, w = size
    if pixels_per_cell == 0:
        rr, cc = np.mgrid[0:h, 0:w]
        return rr.ravel(), cc.ravel()
    k = round(pixels_per_cell**0.5)
    if k * k != pixels_per_cell:
        raise ValueError(f"pixels_per_cell must be 0 or a square, got {pixels_per_cell}")
    ys = np.minimum(((np.arange(k) + 0.5) * h / k).astype(np.int64), h - 1)
    xs = np.minimum(((np.arange(k) + 0.5) * w / k).astype(np.int64), w - 1)
    rr, cc = np.meshgrid(ys, xs, indexing="ij")
    return rr.ravel(), cc.ravel()


__all__ = [
    "PIXEL_CHUNK",
    "FeatureHead",
    "PixelEncoderModel",
    "build_head",
    "cell_features",
    "cell_means",
    "feature_size",
    "lattice_offsets",
    "load_head",
    "load_pixel_model",
]
