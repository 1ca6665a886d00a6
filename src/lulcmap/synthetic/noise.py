"""The noise a synthetic world is made of: fractal fields, random curves and hashes on a grid."""

import math

import numpy as np
from scipy import fft

from lulcmap.grid import Grid
from lulcmap.synthetic.constants import F32


def upsample(a: np.ndarray, factor: float, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of a coarse grid whose pixels are ``factor`` fine pixels wide."""

    def axis(n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
        pos = np.clip((np.arange(n) + 0.5) / factor - 0.5, 0, m - 1)
        i0 = np.minimum(pos.astype(np.int64), m - 2)
        return i0, (pos - i0).astype(F32)

    (r0, wr), (c0, wc) = axis(shape[0], a.shape[0]), axis(shape[1], a.shape[1])
    rows = a[r0] * (1 - wr)[:, None] + a[r0 + 1] * wr[:, None]
    return rows[:, c0] * (1 - wc) + rows[:, c0 + 1] * wc


def hash01(*keys: np.ndarray | int) -> np.ndarray:
    """A deterministic pseudo-random float in [0, 1) per combination of integer keys."""
    h = np.asarray(0x9E3779B97F4A7C15, np.uint64)
    for key in keys:
        k = np.asarray(key).astype(np.int64).astype(np.uint64)
        h = (h ^ k) * np.uint64(0xBF58476D1CE4E5B9)
        h = h ^ (h >> np.uint64(31))
    return ((h >> np.uint64(40)).astype(np.float64) / (1 << 24)).astype(F32)


def smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0, 1)
    return t * t * (3 - 2 * t)


class NoiseSource:
    """Seeded noise on a grid: independent random streams, fractal fields, curves and polylines."""

    def __init__(self, grid: Grid, seed: int) -> None:
        self.grid, self.seed = grid, int(seed)
        self.shape = grid.shape
        self.px = float(grid.res[0])
        h, w = self.shape
        self.ys = (np.arange(h, dtype=F32) + 0.5) * F32(self.px)
        self.xs = (np.arange(w, dtype=F32) + 0.5) * F32(self.px)

    def rng(self, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, stream])

    # -- noise ----------------------------------------------------------------------------------
    def field(
        self,
        stream: int,
        *,
        largest: float,
        smallest: float,
        beta: float = 2.0,
        ridged: bool = False,
    ) -> np.ndarray:
        """Zero-mean unit-std fractal field: features from ``smallest`` to ~``largest`` metres."""
        step = self.px * min(max(1.0, smallest / 3 / self.px), 4.0)
        factor = step / self.px
        ch, cw = (math.ceil(n / factor) + 2 for n in self.shape)
        ph, pw = (max(int(n * 1.3) + 4, n + int(largest / step)) for n in (ch, cw))
        white = self.rng(stream).standard_normal((ph, pw)).astype(F32)
        fy = fft.fftfreq(ph, d=step)[:, None]
        fx = fft.rfftfreq(pw, d=step)[None, :]
        f2 = fx**2 + fy**2
        amp = ((f2 + largest**-2) ** (-beta / 2) * np.exp(-2 * f2 * smallest**2)).astype(F32)
        f = fft.irfft2(fft.rfft2(white, workers=2) * amp, s=(ph, pw), workers=2)[:ch, :cw]
        f = (f - f.mean()) / (f.std() + 1e-12)
        if ridged:
            f = 1 - 2 * np.abs(f)
            f = (f - f.mean()) / (f.std() + 1e-12)
        return f.astype(F32) if factor == 1 else upsample(f.astype(F32), factor, self.shape)

    def curve(
        self, stream: int, n: int, step: float, *, largest: float, smallest: float, amp: float
    ) -> np.ndarray:
        """A smooth 1-D random curve sampled every ``step`` m (``n`` samples)."""
        pad = n + int(2 * largest / step)
        f = fft.rfftfreq(pad, d=step)
        spectrum = (f**2 + largest**-2) ** -1 * np.exp(-0.5 * (f * smallest) ** 2)
        white = self.rng(stream).standard_normal(pad)
        curve = fft.irfft(fft.rfft(white) * spectrum, n=pad)[:n]
        return (amp * (curve - curve.mean()) / (curve.std() + 1e-12)).astype(F32)

    def rasterize(
        self, u: np.ndarray, v: np.ndarray, cos: np.floating | float, sin: np.floating | float
    ) -> np.ndarray:
        """Pixels crossed by the polyline ``(u, v)`` of the rotated frame (one pixel wide)."""
        arc = np.concatenate([[0], np.cumsum(np.hypot(np.diff(u), np.diff(v)))])
        s = np.arange(0, arc[-1], self.px / 2)
        u, v = np.interp(s, arc, u), np.interp(s, arc, v)
        col = np.floor((u * cos - v * sin) / self.px).astype(np.int64)
        row = np.floor((u * sin + v * cos) / self.px).astype(np.int64)
        keep = (row >= 0) & (row < self.shape[0]) & (col >= 0) & (col < self.shape[1])
        mask = np.zeros(self.shape, bool)
        mask[row[keep], col[keep]] = True
        return mask
