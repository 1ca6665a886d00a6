"""Flips and 90° rotations of chips: the 8 symmetries of the square (the dihedral group D4).

A chip's class abundances are the same whichever way it is turned or mirrored, so each training
chip is fed in one of the 8 orientations, drawn at random per chip and per step; targets stay as
they are. Transform ``k`` (0..7) is ``rot90`` by ``k % 4`` quarter turns (counter-clockwise in
array order), then a left-right flip when ``k >= 4``. Arrays are ``(N, bands, y, x)``.
"""

from __future__ import annotations

import numpy as np
import torch

N_TRANSFORMS = 8
"""Rotations by 0, 90, 180, 270 degrees, each with and without a flip."""


def dihedral(images: torch.Tensor, k: int) -> torch.Tensor:
    """All chips of ``images`` ``(N, C, H, W)`` under transform ``k`` (0..7)."""
    if not 0 <= k < N_TRANSFORMS:
        raise ValueError(f"transform index must be 0..7, got {k}")
    out = torch.rot90(images, k % 4, dims=(2, 3))
    return torch.flip(out, dims=(3,)) if k >= 4 else out


def dihedral_each(images: torch.Tensor, k: np.ndarray) -> torch.Tensor:
    """Chip ``i`` under transform ``k[i]``; chips must be square."""
    if images.shape[-1] != images.shape[-2]:
        raise ValueError(f"chips must be square to be rotated, got {tuple(images.shape[-2:])}")
    ks = np.asarray(k, dtype=np.int64)
    if ks.shape != (images.shape[0],):
        raise ValueError(f"need one transform per chip ({images.shape[0]}), got {ks.shape}")
    out = torch.empty_like(images)
    for t in np.unique(ks).tolist():
        idx = torch.from_numpy(np.flatnonzero(ks == t)).to(images.device)
        out[idx] = dihedral(images[idx], int(t))
    return out


def random_dihedral(images: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Each chip under a transform drawn uniformly from the 8 (from ``rng``: reproducible)."""
    return dihedral_each(images, rng.integers(0, N_TRANSFORMS, images.shape[0]))


__all__ = ["N_TRANSFORMS", "dihedral", "dihedral_each", "random_dihedral"]
