"""Building blocks of the Presto transformer (see :mod:`lulcmap.model.presto`).

A pre-norm ViT block (LayerNorm → multi-head self-attention → residual, LayerNorm → GELU MLP →
residual) with an optional key-padding mask, and the fixed sinusoidal tables Presto adds to its
tokens. Submodule names (``norm1``, ``attn.qkv``, ``attn.proj``, ``norm2``, ``mlp.fc1``,
``mlp.fc2``) follow the published weights' tensor names.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class SelfAttention(nn.Module):
    """Multi-head self-attention with a fused qkv projection (biased) and an output projection."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` [B, N, D]; ``keep`` [B, N] bool, False for padding keys nobody attends to."""
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.num_heads, d // self.num_heads).unbind(2)
        attn_mask = None if keep is None else keep[:, None, None, :]
        out = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=attn_mask
        )
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class FeedForward(nn.Module):
    """Two linear layers with an exact GELU between them."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class TransformerBlock(nn.Module):
    """Pre-norm transformer block (LayerNorm eps 1e-5, no layer scale, no dropout)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = FeedForward(dim, dim * mlp_ratio)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), keep)
        return x + self.mlp(self.norm2(x))


def sinusoid_table(length: int, dim: int, base: float = 1000.0) -> torch.Tensor:
    """[length, dim] timestep encoding: angle pos / base^(2⌊j/2⌋/dim), sin at even columns j,
    cos at odd ones."""
    pos = torch.arange(length, dtype=torch.float64)[:, None]
    j = torch.arange(dim, dtype=torch.float64)
    angle = pos / torch.pow(torch.tensor(base, dtype=torch.float64), 2 * (j // 2) / dim)
    table = torch.where(j.long() % 2 == 0, torch.sin(angle), torch.cos(angle))
    return table.float()


def month_table(dim: int) -> torch.Tensor:
    """[12, dim] month encoding: dim/2 copies of sin(2πm/12), then dim/2 copies of cos(2πm/12)."""
    if dim % 2:
        raise ValueError(f"month encoding size must be even, got {dim}")
    angle = torch.arange(12, dtype=torch.float64) * (2 * math.pi / 12)
    half = dim // 2
    sin = torch.sin(angle)[:, None].expand(12, half)
    cos = torch.cos(angle)[:, None].expand(12, half)
    return torch.cat([sin, cos], dim=1).float()
