"""Presto: a pretrained transformer encoder of pixel time series, and its decoder.

Architecture from Tseng, Cartuyvels, Zvonkov, Purohit, Rolnick and Kerner, "Lightweight,
Pre-trained Transformers for Remote Sensing Timeseries" (2023), github.com/nasaharvest/presto,
MIT licence. This is an independent implementation in plain torch that loads the authors'
published weights (``models/presto/presto-default.safetensors``) and reproduces the original's
outputs to 1e-5.

Tokens, in this order: one per channel group and timestep for the groups of
:data:`BAND_GROUPS` (except SRTM, one token taken from the first timestep), then one per
timestep for Dynamic World. A token is the group's linear embedding plus a fixed code
``[month | channel group | timestep]`` (the SRTM token: ``[0 | channel | 0]``). Masked tokens are
removed, a lat/lon token (embedding of the unit vector of the location) is put first, and the
transformer blocks run on what is kept. The decoder puts a learned mask token where tokens were
removed, adds its own codes (the channel part shared with the encoder) and predicts every group's
values and the Dynamic World logits for every timestep.

Items of a batch may mask different numbers of tokens (the original requires equal counts):
shorter items are padded and the padding is excluded from attention and from the mean.

The model takes normalised inputs (:func:`normalise` maps raw values to them); the reference
cases of ``tests/data/presto_reference_io.npz`` hold such inputs directly, not raw values.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from lulcmap.errors import InputDataError, InputNotFoundError, ModelCardError
from lulcmap.model.presto_layers import TransformerBlock, month_table, sinusoid_table

BANDS: tuple[str, ...] = (
    "VV", "VH",  # Sentinel-1, dB
    "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12",  # Sentinel-2 L1C × 10 000
    "temperature_2m", "total_precipitation",  # ERA5-Land monthly: K, m per day
    "elevation", "slope",  # SRTM: m, degrees
    "NDVI",
)  # fmt: skip
"""The 17 input channels, in the order the model expects them."""

BAND_GROUPS: dict[str, tuple[int, ...]] = {
    "S1": (0, 1),
    "S2_RGB": (2, 3, 4),
    "S2_Red_Edge": (5, 6, 7),
    "S2_NIR_10m": (8,),
    "S2_NIR_20m": (9,),
    "S2_SWIR": (10, 11),
    "ERA5": (12, 13),
    "SRTM": (14, 15),
    "NDVI": (16,),
}
"""Channel groups (indices into :data:`BANDS`); each is one token per timestep."""

# normalised = (raw + NORM_ADD) / NORM_DIVIDE per channel of BANDS; the authors' values
# (temperature: −272.15, not −273.15, so 0 °C becomes 1/35)
NORM_ADD: tuple[float, ...] = (25.0, 25.0, *[0.0] * 10, -272.15, 0.0, 0.0, 0.0, 0.0)
NORM_DIVIDE: tuple[float, ...] = (25.0, 25.0, *[1e4] * 10, 35.0, 0.03, 2000.0, 50.0, 1.0)

DYNAMIC_WORLD_CLASSES: tuple[str, ...] = (
    "water", "trees", "grass", "flooded_vegetation", "crops",
    "shrub_and_scrub", "built", "bare", "snow_and_ice",
)  # fmt: skip
DW_UNKNOWN = len(DYNAMIC_WORLD_CLASSES)
"""Dynamic World class id meaning "unknown": the token is masked."""

EMBEDDING_SIZE = 128
MAX_TIMESTEPS = 24

_SRTM = list(BAND_GROUPS).index("SRTM")
_NDVI = BANDS.index("NDVI")
_B8, _B4 = BANDS.index("B8"), BANDS.index("B4")


def normalise(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Raw values ``[..., 17]`` (channels of :data:`BANDS`) → the model's input scale.

    Applies :data:`NORM_ADD` / :data:`NORM_DIVIDE`, then replaces NDVI (whatever the input holds
    there) by ``(B8 − B4) / (B8 + B4)`` of the normalised bands, 0 where ``B8 + B4 <= 0``.
    Floating inputs keep their dtype (the model runs in float32), others become float32.
    """
    x = torch.as_tensor(x)
    if x.shape[-1] != len(BANDS):
        raise InputDataError(f"expected {len(BANDS)} channels last, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        x = x.float()
    add = torch.tensor(NORM_ADD, dtype=x.dtype, device=x.device)
    div = torch.tensor(NORM_DIVIDE, dtype=x.dtype, device=x.device)
    out = (x + add) / div
    nir, red = out[..., _B8], out[..., _B4]
    total = nir + red
    positive = total > 0
    ndvi = torch.where(positive, (nir - red) / torch.where(positive, total, 1.0), 0.0)
    return torch.cat([out[..., :_NDVI], ndvi[..., None], out[..., _NDVI + 1 :]], dim=-1)


def month_indices(
    month: int | torch.Tensor, batch: int, steps: int, device: torch.device
) -> torch.Tensor:
    """[batch, steps] month of every timestep (0 = January) from the first timestep's month
    (an int or a [batch] tensor) or from a [batch, steps] tensor."""
    m = torch.as_tensor(month, device=device).long()
    if m.numel() and (m.min() < 0 or m.max() > 11):
        raise InputDataError(
            f"months must be 0 (January) .. 11, got {int(m.min())}..{int(m.max())}"
        )
    if m.ndim == 0:
        m = m.expand(batch)
    if m.ndim == 1:
        m = (m[:, None] + torch.arange(steps, device=device)) % 12
    if m.shape != (batch, steps):
        raise InputDataError(f"month must be an int, [{batch}] or [{batch}, {steps}]")
    return m


def latlon_to_xyz(latlons: torch.Tensor) -> torch.Tensor:
    """[B, 2] latitude, longitude in degrees → [B, 3] unit vector (x, y, z)."""
    lat, lon = (latlons * math.pi / 180).unbind(-1)  # this order, as the original rounds
    return torch.stack([lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()], dim=-1)


def position_codes(months: torch.Tensor, pos: torch.Tensor, channel: torch.Tensor) -> torch.Tensor:
    """[B, 9T+1, dm+dc+dp] codes ``[month | channel | timestep]`` of every token, in token order.

    ``months`` [B, T, dm] month codes, ``pos`` [T, dp] timestep codes, ``channel`` [10, dc] one row
    per channel group then Dynamic World. The SRTM token gets ``[0 | channel | 0]``.
    """
    b, t, dm = months.shape
    timestep = pos.expand(b, t, -1)
    codes = []
    for group in range(channel.shape[0]):
        ch = channel[group].expand(b, t, -1)
        if group == _SRTM:
            zm, zp = months.new_zeros(b, 1, dm), pos.new_zeros(b, 1, pos.shape[-1])
            codes.append(torch.cat([zm, ch[:, :1], zp], dim=-1))
        else:
            codes.append(torch.cat([months, ch, timestep], dim=-1))
    return torch.cat(codes, dim=1)


class PrestoTokens(NamedTuple):
    """The encoder's outputs before pooling (what the decoder needs)."""

    tokens: torch.Tensor  # [B, 1 + L, D] normalised outputs: lat/lon token, then the kept tokens
    pooled: torch.Tensor  # [B, D] the embedding: norm(mean of the kept outputs, lat/lon included)
    positions: torch.Tensor  # [B, L] token index (0 .. 9T) of each kept token
    valid: torch.Tensor  # [B, L] False for padding (items that kept fewer than L tokens)
    months: torch.Tensor  # [B, T] month of each timestep


class PrestoEncoder(nn.Module):
    """Presto's encoder; :meth:`forward` returns the pooled 128-d embedding."""

    def __init__(
        self, dim: int = EMBEDDING_SIZE, depth: int = 2, num_heads: int = 8, mlp_ratio: int = 4,
        max_timesteps: int = MAX_TIMESTEPS,
    ) -> None:  # fmt: skip
        super().__init__()
        self.eo_patch_embed = nn.ModuleDict(
            {name: nn.Linear(len(idx), dim) for name, idx in BAND_GROUPS.items()}
        )
        self.dw_embed = nn.Embedding(DW_UNKNOWN + 1, dim)
        self.latlon_embed = nn.Linear(3, dim)
        self.blocks = nn.ModuleList(
            [TransformerBlock(dim, num_heads, mlp_ratio) for _ in range(depth)]
        )
        self.norm = nn.LayerNorm(dim)
        quarter = dim // 4  # month and channel codes; the timestep code has the rest
        self.channel_embed = nn.Embedding(len(BAND_GROUPS) + 1, quarter)
        self.pos_embed: torch.Tensor
        self.month_table: torch.Tensor
        self.register_buffer("pos_embed", sinusoid_table(max_timesteps, dim - 2 * quarter)[None])
        self.register_buffer("month_table", month_table(quarter))

    def encode(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None,
        dynamic_world: torch.Tensor,
        latlons: torch.Tensor,
        month: int | torch.Tensor,
    ) -> PrestoTokens:
        """Run the encoder; inputs as in :meth:`forward`."""
        if x.ndim != 3 or x.shape[-1] != len(BANDS):
            raise InputDataError(
                f"x must be [batch, timesteps, {len(BANDS)}], got {tuple(x.shape)}"
            )
        b, t, _ = x.shape
        if not 1 <= t <= self.pos_embed.shape[1]:
            raise InputDataError(f"1 .. {self.pos_embed.shape[1]} timesteps supported, got {t}")
        if mask is None:
            mask = torch.zeros_like(x)
        if mask.shape != x.shape or dynamic_world.shape != (b, t) or latlons.shape != (b, 2):
            raise InputDataError(
                f"shapes do not match x {tuple(x.shape)}: mask {tuple(mask.shape)} (same as x), "
                f"dynamic_world {tuple(dynamic_world.shape)} ([B, T]), "
                f"latlons {tuple(latlons.shape)} ([B, 2])"
            )
        if (
            dynamic_world.numel()
            and not 0 <= int(dynamic_world.min()) <= int(dynamic_world.max()) <= DW_UNKNOWN
        ):
            raise InputDataError(
                f"dynamic_world ids must be 0 .. {DW_UNKNOWN} ({DW_UNKNOWN} = unknown)"
            )
        months = month_indices(month, b, t, x.device)
        codes = position_codes(
            self.month_table[months], self.pos_embed[0, :t], self.channel_embed.weight
        )
        parts, masked = [], []
        for name, idx in BAND_GROUPS.items():
            steps = slice(0, 1) if name == "SRTM" else slice(None)
            parts.append(self.eo_patch_embed[name](x[:, steps, list(idx)]))
            masked.append((mask[:, steps, list(idx)] != 0).any(dim=-1))
        parts.append(self.dw_embed(dynamic_world.long()))
        masked.append(dynamic_world == DW_UNKNOWN)
        tokens = torch.cat(parts, dim=1) + codes
        dropped = torch.cat(masked, dim=1)

        # kept tokens first, in their original order; pad to the longest item
        n_kept = (~dropped).sum(dim=1)
        length = int(n_kept.max())
        positions = torch.sort(dropped.int(), dim=1, stable=True).indices[:, :length]
        kept = tokens.gather(1, positions[..., None].expand(-1, -1, tokens.shape[-1]))
        valid = torch.arange(length, device=x.device)[None] < n_kept[:, None]

        h = torch.cat([self.latlon_embed(latlon_to_xyz(latlons))[:, None], kept], dim=1)
        keep = None if bool(valid.all()) else torch.cat([valid.new_ones(b, 1), valid], dim=1)
        for block in self.blocks:
            h = block(h, keep)
        if keep is None:
            mean = h.mean(dim=1)
        else:
            weight = keep[..., None].to(h.dtype)
            mean = (h * weight).sum(dim=1) / weight.sum(dim=1)
        return PrestoTokens(self.norm(h), self.norm(mean), positions, valid, months)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None,
        dynamic_world: torch.Tensor,
        latlons: torch.Tensor,
        month: int | torch.Tensor,
    ) -> torch.Tensor:
        """[B, 128] embedding.

        ``x`` [B, T ≤ 24, 17] normalised (:func:`normalise`); ``mask`` like ``x``, nonzero =
        missing (a group is masked where any of its channels is; SRTM from timestep 0) or None;
        ``dynamic_world`` [B, T] class ids, :data:`DW_UNKNOWN` = masked; ``latlons`` [B, 2]
        degrees; ``month`` of the first timestep (0 = January; int or [B]) or [B, T].
        """
        return self.encode(x, mask, dynamic_world, latlons, month).pooled


class PrestoDecoder(nn.Module):
    """Presto's decoder: reconstructs every group at every timestep, and Dynamic World logits."""

    def __init__(
        self, encoder_dim: int = EMBEDDING_SIZE, dim: int = EMBEDDING_SIZE, depth: int = 2,
        num_heads: int = 8, mlp_ratio: int = 4, channel_dim: int = EMBEDDING_SIZE // 4,
        max_timesteps: int = MAX_TIMESTEPS,
    ) -> None:  # fmt: skip
        super().__init__()
        self.decoder_embed = nn.Linear(encoder_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(dim))
        self.decoder_blocks = nn.ModuleList(
            [TransformerBlock(dim, num_heads, mlp_ratio) for _ in range(depth)]
        )
        self.decoder_norm = nn.LayerNorm(dim)
        self.eo_decoder_pred = nn.ModuleDict(
            {name: nn.Linear(dim, len(idx)) for name, idx in BAND_GROUPS.items()}
        )
        self.dw_decoder_pred = nn.Linear(dim, len(DYNAMIC_WORLD_CLASSES))
        half = (dim - channel_dim) // 2  # month and timestep codes
        self.pos_embed: torch.Tensor
        self.month_table: torch.Tensor
        self.register_buffer("pos_embed", sinusoid_table(max_timesteps, half)[None])
        self.register_buffer("month_table", month_table(half))

    def forward(
        self, encoded: PrestoTokens, channel_embed: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(eo [B, T, 17], dw_logits [B, T, 9])``; ``channel_embed`` is the encoder's table."""
        h = self.decoder_embed(encoded.tokens)
        b, _, d = h.shape
        t = encoded.months.shape[1]
        n = len(BAND_GROUPS) * t + 1  # tokens after the lat/lon one
        # slot 0: lat/lon; 1..n: tokens; n + 1: a dump for padding, cut off below
        slots = torch.where(encoded.valid, encoded.positions + 1, n + 1)
        slots = torch.cat([slots.new_zeros(b, 1), slots], dim=1)
        canvas = self.mask_token.expand(b, n + 2, d).clone()
        h = canvas.scatter(1, slots[..., None].expand(-1, -1, d), h)[:, : n + 1]
        codes = position_codes(
            self.month_table[encoded.months], self.pos_embed[0, :t], channel_embed
        )
        h = h + torch.cat([codes.new_zeros(b, 1, d), codes], dim=1)
        for block in self.decoder_blocks:
            h = block(h)
        h = self.decoder_norm(h)[:, 1:]

        srtm = _SRTM * t
        groups = [
            *h[:, :srtm].unflatten(1, (_SRTM, t)).unbind(1),
            h[:, srtm : srtm + 1].expand(-1, t, -1),
            *h[:, srtm + 1 :].unflatten(1, (-1, t)).unbind(1),
        ]  # one [B, T, D] per group of BAND_GROUPS, then Dynamic World
        heads = self.eo_decoder_pred.values()
        eo = torch.cat([head(g) for head, g in zip(heads, groups, strict=False)], dim=-1)
        return eo, self.dw_decoder_pred(groups[-1])


class Presto(nn.Module):
    """Encoder and decoder; :meth:`forward` returns ``(eo_reconstruction, dw_logits)``."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = PrestoEncoder()
        self.decoder = PrestoDecoder(channel_dim=self.encoder.channel_embed.embedding_dim)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None,
        dynamic_world: torch.Tensor,
        latlons: torch.Tensor,
        month: int | torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``eo`` [B, T, 17] (normalised scale) and ``dw_logits`` [B, T, 9]; inputs as in
        :meth:`PrestoEncoder.forward`."""
        encoded = self.encoder.encode(x, mask, dynamic_world, latlons, month)
        return self.decoder(encoded, self.encoder.channel_embed.weight)


# published tensor name -> ours
_RENAMED = {
    "encoder.month_embed.weight": "encoder.month_table",
    "decoder.month_embed.weight": "decoder.month_table",
}
# tied in the original: stored twice, must be equal, loaded once
_TIED = {"decoder.channel_embeddings.weight": "encoder.channel_embed.weight"}


def load_presto(path: str | Path, *, device: str | torch.device = "cpu") -> Presto:
    """Build :class:`Presto` from the published weights converted to safetensors (no pickle)."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"Presto weights not found: {path}")
    try:
        stored = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelCardError(
            f"{path} is not a safetensors file ({exc}); expected presto-default.safetensors"
        ) from None
    state: dict[str, torch.Tensor] = {}
    for name, tensor in stored.items():
        source = _TIED.get(name)
        if source is None:
            state[_RENAMED.get(name, name)] = tensor
        elif source in stored and not torch.equal(tensor, stored[source]):
            raise ModelCardError(f"{path}: {name} must equal {source} (tied), but they differ")
    model = Presto()
    expected = model.state_dict()
    original = {ours: theirs for theirs, ours in _RENAMED.items()}
    missing = [original.get(k, k) for k in expected if k not in state]
    unexpected = [k for k in stored if _RENAMED.get(k, k) not in expected and k not in _TIED]
    wrong = [
        f"{original.get(k, k)} {tuple(v.shape)} (expected {tuple(expected[k].shape)})"
        for k, v in state.items()
        if k in expected and v.shape != expected[k].shape
    ]
    if missing or unexpected or wrong:
        raise ModelCardError(
            f"{path} does not hold Presto's weights: missing {missing}, unexpected {unexpected}, "
            f"wrong shapes {wrong}"
        )
    model.load_state_dict(state)
    return model.to(device).eval()


__all__ = [
    "BANDS",
    "BAND_GROUPS",
    "DW_UNKNOWN",
    "DYNAMIC_WORLD_CLASSES",
    "EMBEDDING_SIZE",
    "MAX_TIMESTEPS",
    "NORM_ADD",
    "NORM_DIVIDE",
    "Presto",
    "PrestoDecoder",
    "PrestoEncoder",
    "PrestoTokens",
    "latlon_to_xyz",
    "load_presto",
    "month_indices",
    "normalise",
    "position_codes",
]
