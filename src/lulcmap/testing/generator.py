"""How a synthetic world is made: terrain, climate, class patches and their rendering."""

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy import fft, ndimage

from lulcmap.grid import Grid
from lulcmap.model.card import Radiometry
from lulcmap.testing.constants import (
    _F,
    ANNUAL,
    ARTIFICIAL,
    BARELAND,
    FOREST,
    GRASSLAND,
    GREENHOUSE,
    MOSAIC,
    N_CLASSES,
    SHRUBLAND,
    WETLAND,
    WOODY,
)


# ----------------------------------------------------------------------------------------------
# Generation internals
# ----------------------------------------------------------------------------------------------
def _upsample(a: np.ndarray, factor: float, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of a coarse grid whose pixels are ``factor`` fine pixels wide."""

    def axis(n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
        pos = np.clip((np.arange(n) + 0.5) / factor - 0.5, 0, m - 1)
        i0 = np.minimum(pos.astype(np.int64), m - 2)
        return i0, (pos - i0).astype(_F)

    (r0, wr), (c0, wc) = axis(shape[0], a.shape[0]), axis(shape[1], a.shape[1])
    rows = a[r0] * (1 - wr)[:, None] + a[r0 + 1] * wr[:, None]
    return rows[:, c0] * (1 - wc) + rows[:, c0 + 1] * wc


def _hash01(*keys: np.ndarray | int) -> np.ndarray:
    """A deterministic pseudo-random float in [0, 1) per combination of integer keys."""
    h = np.asarray(0x9E3779B97F4A7C15, np.uint64)
    for key in keys:
        k = np.asarray(key).astype(np.int64).astype(np.uint64)
        h = (h ^ k) * np.uint64(0xBF58476D1CE4E5B9)
        h = h ^ (h >> np.uint64(31))
    return ((h >> np.uint64(40)).astype(np.float64) / (1 << 24)).astype(_F)


def _smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0, 1)
    return t * t * (3 - 2 * t)


@dataclass
class _Terrain:
    dem: np.ndarray
    slope: np.ndarray
    northness: np.ndarray
    shade: np.ndarray  # illumination factor (Sentinel-2-like morning sun from the south-east)
    t: np.ndarray  # 0 at the coast -> 1 deep in the sierra
    river: np.ndarray  # distance to the river's centreline, metres
    road: np.ndarray  # bool, the valley road
    channel: np.ndarray  # half width of the river channel (m)


@dataclass
class _Layout:
    parcel: np.ndarray  # parcel id per pixel
    pu: np.ndarray  # parcel-aligned coordinates (m)
    pv: np.ndarray
    block: np.ndarray  # built-up block id per pixel: -1 not built, 0 street or road
    state: np.ndarray  # per parcel: a random integer that picks its crop, tone and texture


class _Generator:
    def __init__(self, grid: Grid, seed: int) -> None:
        self.grid, self.seed = grid, int(seed)
        self.shape = grid.shape
        self.px = float(grid.res[0])
        h, w = self.shape
        self.ys = (np.arange(h, dtype=_F) + 0.5) * _F(self.px)
        self.xs = (np.arange(w, dtype=_F) + 0.5) * _F(self.px)

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
        white = self.rng(stream).standard_normal((ph, pw)).astype(_F)
        fy = fft.fftfreq(ph, d=step)[:, None]
        fx = fft.rfftfreq(pw, d=step)[None, :]
        f2 = fx**2 + fy**2
        amp = ((f2 + largest**-2) ** (-beta / 2) * np.exp(-2 * f2 * smallest**2)).astype(_F)
        f = fft.irfft2(fft.rfft2(white, workers=2) * amp, s=(ph, pw), workers=2)[:ch, :cw]
        f = (f - f.mean()) / (f.std() + 1e-12)
        if ridged:
            f = 1 - 2 * np.abs(f)
            f = (f - f.mean()) / (f.std() + 1e-12)
        return f.astype(_F) if factor == 1 else _upsample(f.astype(_F), factor, self.shape)

    def curve(
        self, stream: int, n: int, step: float, *, largest: float, smallest: float, amp: float
    ) -> np.ndarray:
        """A smooth 1-D random curve sampled every ``step`` m (``n`` samples)."""
        pad = n + int(2 * largest / step)
        f = fft.rfftfreq(pad, d=step)
        spectrum = (f**2 + largest**-2) ** -1 * np.exp(-0.5 * (f * smallest) ** 2)
        white = self.rng(stream).standard_normal(pad)
        curve = fft.irfft(fft.rfft(white) * spectrum, n=pad)[:n]
        return (amp * (curve - curve.mean()) / (curve.std() + 1e-12)).astype(_F)

    # -- terrain --------------------------------------------------------------------------------
    def terrain(self) -> _Terrain:
        rng = self.rng(1)
        h, w = self.shape
        theta = rng.uniform(0, 2 * np.pi)  # direction from the coast inland
        cos, sin = _F(np.cos(theta)), _F(np.sin(theta))
        x, y = self.xs[None, :], self.ys[:, None]
        u = x * cos + y * sin  # inland
        corners_u = np.array(
            [0, w * self.px * cos, h * self.px * sin, w * self.px * cos + h * self.px * sin]
        )
        span = float(np.ptp(corners_u))
        extent = max(span, 16_000.0)
        t = (u - _F(corners_u.min())) / _F(extent) + _F(rng.uniform(0, 1 - span / extent))
        del u

        relief = 0.65 * self.field(2, largest=7000, smallest=150, beta=2.6) + 0.35 * self.field(
            3, largest=3000, smallest=150, beta=2.5, ridged=True
        )
        sierra = _smoothstep(t + 0.15 * self.field(4, largest=8000, smallest=600), 0.3, 0.9)
        hills = self.field(5, largest=3000, smallest=150, beta=2.6)
        top = _F(rng.uniform(950, 1200))
        uplift = 260 * t**1.3 + top * sierra
        dem = 10 + uplift + 230 * sierra * relief + 30 * (1 - sierra) * hills
        dem = 4 * np.logaddexp(0, dem / 4)  # smoothly positive: the coast stays above the sea
        del relief, sierra, hills

        # the river runs down the valley floor, from the sierra to the coast; a road follows it
        v = -self.xs[[0, -1]][None, :] * sin + self.ys[[0, -1]][:, None] * cos  # corners
        vmin, vmax = float(v.min()), float(v.max())
        along = np.arange(corners_u.min() - 500, corners_u.max() + 500, self.px / 2)
        centre = (
            vmin
            + rng.uniform(0.3, 0.7) * (vmax - vmin)
            + self.curve(6, along.size, self.px / 2, largest=5000, smallest=500, amp=700)
            + self.curve(7, along.size, self.px / 2, largest=600, smallest=60, amp=40)
        )
        on_river = self.rasterize(along, centre, cos, sin)
        river = (
            ndimage.distance_transform_edt(~on_river, sampling=self.px)
            if on_river.any()
            else np.full(self.shape, 1e6)
        ).astype(_F)
        floor = 3 + 0.55 * uplift
        valley = 1300 + 1500 * (1 - np.clip(t, 0, 1))
        wobbly = river * (1 + 0.25 * self.field(9, largest=2000, smallest=200))
        dem = floor + (dem - floor) * _smoothstep(wobbly / valley, 0.04, 1.0)
        del on_river, floor, valley, wobbly, uplift
        offset = self.curve(8, along.size, self.px / 2, largest=3000, smallest=300, amp=120)
        road = self.rasterize(along, centre + rng.choice([-1, 1]) * (280 + offset), cos, sin)
        channel = 3 + 12 * (1 - np.clip(t, 0, 1)) ** 1.5
        dem = dem.astype(_F)

        gy, gx = np.gradient(dem, self.px)
        slope = np.degrees(np.arctan(np.hypot(gx, gy))).astype(_F)
        norm = np.sqrt(1 + gx * gx + gy * gy)
        northness = (gy / np.maximum(np.hypot(gx, gy), 1e-6)).astype(_F)  # rows grow southward
        az, el = np.radians(150.0), np.radians(55.0)
        # surface normal (east, north, up) = (-dz/dx, +dz/drow, 1); sun vector in the same frame
        cos_i = (-gx * np.sin(az) * np.cos(el) + gy * np.cos(az) * np.cos(el) + np.sin(el)) / norm
        shade = np.clip(cos_i / np.sin(el), 0.45, 1.25).astype(_F)
        return _Terrain(dem, slope, northness, shade, t.astype(_F), river, road, channel.astype(_F))

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

    # -- climate --------------------------------------------------------------------------------
    def climate(self, ter: _Terrain) -> dict[str, np.ndarray]:
        k = max(1, round(160 / self.px))
        h, w = self.shape
        hp, wp = -(-h // k) * k, -(-w // k) * k
        padded = np.pad(ter.dem, ((0, hp - h), (0, wp - w)), mode="edge")
        coarse = padded.reshape(hp // k, k, wp // k, k).mean(axis=(1, 3))
        dem = _upsample(coarse, k, self.shape) if min(coarse.shape) > 1 else ter.dem
        t = np.clip(ter.t, 0, 1)
        n1 = self.field(20, largest=30000, smallest=2000)
        n2 = self.field(21, largest=30000, smallest=2000)
        temp_ave = 18.6 - 0.0065 * dem - 0.5 * t + 0.35 * n1
        prec = np.clip(330 + 0.52 * dem + 90 * n2 + 60 * t, 220, 1400)
        return {
            "evapotranspiration": (650 + 37 * temp_ave - 0.06 * prec).astype(_F),
            "precipitation": prec.astype(_F),
            "temp_ave": temp_ave.astype(_F),
            "temp_max": (temp_ave + 6.0 + 1.6 * t + 0.2 * n2).astype(_F),
            "temp_min": (temp_ave - 5.6 - 1.4 * t - 0.2 * n2).astype(_F),
        }

    # -- land cover -----------------------------------------------------------------------------
    def parcels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rectangular field parcels: id per pixel and parcel-aligned coordinates."""
        rng = self.rng(30)
        phi = rng.uniform(0, np.pi / 2)
        c, s = _F(np.cos(phi)), _F(np.sin(phi))
        x, y = self.xs[None, :], self.ys[:, None]
        warp = 25 * self.field(31, largest=1500, smallest=300)
        pu = x * c + y * s + warp
        pv = -x * s + y * c
        lo = float(pu.min()) - 1
        length = float(pu.max()) - lo + 2
        cuts = lo + np.cumsum(rng.uniform(70, 320, int(length / 70) + 2))
        strip = np.searchsorted(cuts, pu).astype(np.int32)
        n_strip = len(cuts) + 1
        plen = rng.uniform(90, 420, n_strip).astype(_F)
        shift = rng.uniform(0, 1000, n_strip).astype(_F)
        vlo = float(pv.min())
        j = ((pv - vlo + shift[strip]) / plen[strip]).astype(np.int32)
        n_j = int(j.max()) + 1
        strip *= n_j
        strip += j
        return strip, pu, pv

    def classes(self, ter: _Terrain, clim: dict[str, np.ndarray]) -> tuple[np.ndarray, _Layout]:
        rng = self.rng(40)
        e, s, t = ter.dem, ter.slope, np.clip(ter.t, 0, 1)
        prec = clim["precipitation"]
        fine = [self.field(40, largest=400, smallest=40, beta=1.5)]  # ragged patch edges

        def patches(i: int) -> np.ndarray:
            return self.field(41 + i, largest=3000, smallest=150, beta=1.8) + 0.3 * np.roll(
                fine[0], (97 * i, 61 * i), axis=(0, 1)
            )

        # wildlands: organic patches that follow terrain and climate (argmax of the scores)
        nz0, nz1 = patches(0), patches(1)
        best = 0.55 - s / 25 - np.abs(e - 500) / 900 + 0.55 * nz0  # grasslands (dehesa)
        classes = np.full(self.shape, GRASSLAND, np.uint8)
        for k, score in (
            (SHRUBLAND, lambda: 0.55 - np.abs(s - 17) / 20 + 0.55 * nz1),
            (
                FOREST,
                lambda: (
                    0.1
                    + (e - 800) / 600
                    + (prec - 800) / 700
                    + 0.35 * ter.northness
                    + 0.6 * patches(2)
                ),
            ),
            (BARELAND, lambda: (s - 34) / 5 + (e - 1450) / 150 + 0.4 * patches(3)),
        ):
            value = score()  # barelands: cliffs and summits; forests: high, wet, shaded
            better = value > best
            classes[better] = k
            np.maximum(best, value, out=best)
        del best, value, better, fine[0]

        # agriculture in parcels on gentle, low ground
        parcel, pu, pv = self.parcels()
        n_p = int(parcel.max()) + 1
        count = np.maximum(np.bincount(parcel.ravel(), minlength=n_p), 1)

        def per_parcel(a: np.ndarray) -> np.ndarray:
            return np.bincount(parcel.ravel(), weights=a.ravel(), minlength=n_p) / count

        suit = (
            1.3
            - s / 7
            - np.maximum(e - 650, 0) / 220
            + 0.55 * self.field(45, largest=4000, smallest=200)
        )
        suit_p = per_parcel(suit)
        ag = (suit_p[parcel] > 0) & (suit > -0.6)
        del suit
        tp, ep, sp = per_parcel(t), per_parcel(e), per_parcel(s)
        jitter = rng.normal(0, 0.35, (4, n_p))
        scores = np.stack(
            [
                1.1 - sp / 4 + jitter[0],  # annual croplands: flat ground
                2.6 - tp / 0.09 - ep / 120 - sp / 3 + jitter[1],  # greenhouses: coastal flats
                0.45 + 0.6 * (sp > 3) - np.abs(ep - 450) / 450 + jitter[2],  # olive groves
                0.4 - np.abs(suit_p - 0.35) * 1.2 + jitter[3],  # mosaics at the farmland's margin
            ]
        )
        classes[ag] = (ANNUAL + np.argmax(scores, axis=0)).astype(np.uint8)[parcel[ag]]
        state = rng.integers(0, 1 << 20, n_p)

        # the river: channel and riparian forest, widening into marsh at the mouth
        rip = ter.channel + 10 + 15 * (1 - t) + 6 * nz0
        marsh = (t < 0.06) & (ter.river < 350 + 250 * nz1) & (e < 12)
        classes[(ter.river < rip) | marsh] = WETLAND

        block = self.towns(ter, ag)
        block = np.where(ter.road, 0, block)
        block[self.farms(ag)] = 1
        classes[(block >= 0)] = ARTIFICIAL
        return classes, _Layout(parcel, pu, pv, block, state)

    def towns(self, ter: _Terrain, ag: np.ndarray) -> np.ndarray:
        """Towns near the valley floor: street-block id per pixel (0 = street, -1 = not built)."""
        rng = self.rng(50)
        h, w = self.shape
        area_km2 = h * w * self.px**2 / 1e6
        n_towns = rng.poisson(area_km2 / 140)
        if area_km2 > 100:
            n_towns = max(n_towns, 2)
        block = np.full(self.shape, -1, np.int32)
        cand = np.stack([rng.integers(0, h, 400), rng.integers(0, w, 400)], 1)
        r, c = cand.T
        score = (
            -ter.slope[r, c] / 3
            - np.abs(ter.river[r, c] - 600) / 400
            - ter.dem[r, c] / 500
            + ag[r, c] * 1.5
            + rng.normal(0, 0.4, len(r))
        )
        chosen: list[tuple[int, int]] = []
        for i in np.argsort(-score):
            y, x = int(r[i]), int(c[i])
            if all(math.hypot(y - a, x - b) * self.px > 3500 for a, b in chosen):
                chosen.append((y, x))
            if len(chosen) >= n_towns:
                break
        if not chosen:
            return block
        warp = self.field(51, largest=600, smallest=60)
        for k, (y, x) in enumerate(chosen, start=1):
            radius = rng.uniform(300, 750)
            n = int(radius * 1.6 / self.px) + 2
            rs = slice(max(y - n, 0), min(y + n, h))
            cs = slice(max(x - n, 0), min(x + n, w))
            dy = self.ys[rs, None] - self.ys[y]
            dx = self.xs[None, cs] - self.xs[x]
            d = np.hypot(dy, dx) * (1 + 0.22 * warp[rs, cs])
            inside = (d < radius) & (ter.slope[rs, cs] < 20) & (ter.river[rs, cs] > 40)
            ang = rng.uniform(0, np.pi / 2)
            a = dx * np.cos(ang) + dy * np.sin(ang)
            b = -dx * np.sin(ang) + dy * np.cos(ang)
            size = rng.uniform(35, 55)
            ids = (
                np.floor(a / size).astype(np.int64) * 7919
                + np.floor(b / (1.5 * size)).astype(np.int64) * 104729
                + k * 15485863
            )
            ids = np.abs(ids) + 2  # >= 2: 0 is street, 1 a farmstead
            main = (np.mod(a, 4 * size) < self.px) | (np.mod(b, 6 * size) < self.px)
            ids[main & (d > 0.3 * radius)] = 0
            block[rs, cs] = np.where(inside, ids, block[rs, cs])
        return block

    def farms(self, ag: np.ndarray) -> np.ndarray:
        """Scattered farmsteads (cortijos): small built patches in the fields."""
        rng = self.rng(60)
        h, w = self.shape
        n = rng.poisson(h * w * self.px**2 / 1e6 / 2.5)
        out = np.zeros(self.shape, bool)
        size = max(1, round(20 / self.px))
        for y, x in zip(rng.integers(0, h, n), rng.integers(0, w, n), strict=True):
            if ag[y, x]:
                out[y : y + size, x : x + size + 1] = True
        return out

    # -- rendering ------------------------------------------------------------------------------
    def render(
        self, classes: np.ndarray, lay: _Layout, shade: np.ndarray, water: np.ndarray
    ) -> np.ndarray:
        """Surface reflectance of each pixel, shaded by the terrain, in the 8-bit stretch."""
        rng = self.rng(70)
        n = classes.size
        flat = classes.ravel()
        grain = rng.standard_normal(n, dtype=_F)
        unif = rng.random(n, dtype=_F)
        veg = self.field(71, largest=700, smallest=60, beta=1.5).ravel()
        soil_n = self.field(72, largest=6000, smallest=200).ravel()
        refl = np.empty((3, n), _F)
        pu, pv = lay.pu.ravel(), lay.pv.ravel()
        parcel = lay.parcel.ravel()
        edge = np.zeros(self.shape, bool)
        edge[:, 1:] |= lay.parcel[:, 1:] != lay.parcel[:, :-1]
        edge[1:] |= lay.parcel[1:] != lay.parcel[:-1]
        on_edge = edge.ravel()

        def col(*v: float) -> np.ndarray:
            return np.array(v, _F)[:, None]

        def mix(a: np.ndarray, b: np.ndarray, f: np.ndarray | float) -> np.ndarray:
            return a * (1 - f) + b * f

        def chunks() -> Iterator[np.ndarray]:  # bounded temporaries, whatever the world size
            for k in range(N_CLASSES):
                idx = np.flatnonzero(flat == k)
                yield from np.array_split(idx, -(-idx.size // (1 << 19)) or 1)

        for i in chunks():
            if i.size == 0:
                continue
            k = int(flat[i[0]])
            g, r, vg, st = grain[i], unif[i], veg[i], lay.state[parcel[i]]
            sn = soil_n[i]  # reddish soils to grey marls
            sl = np.stack([0.2 + 0.018 * sn, 0.165 + 0.007 * sn, 0.127 - 0.005 * sn]).astype(_F)
            if k == ANNUAL:  # each parcel green, ploughed, stubble or fallow; drill rows
                palette = np.array(
                    [
                        [0.06, 0.1, 0.05],
                        [0.18, 0.145, 0.11],
                        [0.26, 0.22, 0.16],
                        [0.2, 0.18, 0.135],
                        [0.1, 0.12, 0.065],
                    ],
                    _F,
                ).T
                base = palette[:, st % 5] * (0.9 + 0.2 * _hash01(st, 1))
                rows = 1 + 0.025 * np.sin(pu[i] * (2 * np.pi / 25))
                px = base * rows * (1 + 0.04 * vg + 0.03 * g)
                px = np.where(on_edge[i], mix(px, sl, 0.5), px)
            elif k == GREENHOUSE:  # plastic roofs in blocks of varying age, lanes between them
                sub = _hash01(st, np.floor(pu[i] / 45), np.floor(pv[i] / 70))
                px = col(0.27, 0.275, 0.28) * (0.72 + 0.4 * sub) * (1 + 0.025 * g)
                lane = on_edge[i] | (np.mod(pv[i] + st % 97, 140) < self.px)
                px = np.where(lane, sl * 0.9, px)
            elif k == WOODY:  # olive groves: soil with tree crowns in faint rows
                rows = np.cos(pu[i] * (2 * np.pi / 30)) ** 2
                cover = np.clip(0.25 + 0.15 * _hash01(st, 2) + 0.08 * rows + 0.12 * g, 0, 1)
                px = mix(sl * (0.95 + 0.1 * _hash01(st, 3)), col(0.05, 0.065, 0.04), cover)
            elif k == MOSAIC:  # small plots of crops interleaved with scrub and trees
                plot = _hash01(st, np.floor(pu[i] / 70), np.floor(pv[i] / 110))
                small = np.array(
                    [
                        [0.07, 0.1, 0.05],
                        [0.19, 0.155, 0.115],
                        [0.25, 0.21, 0.15],
                        [0.2, 0.18, 0.135],
                    ],
                    _F,
                ).T
                crop = small[:, (plot * 4).astype(np.int64)]
                scrub = mix(sl, col(0.055, 0.07, 0.045), np.clip(0.55 + 0.2 * g, 0, 1))
                px = np.where(vg + 0.8 * (plot - 0.5) > 0.2, scrub, crop * (1 + 0.04 * g))
            elif k == GRASSLAND:  # dry grass with scattered oaks (dehesa)
                grass = mix(
                    col(0.17, 0.15, 0.105), col(0.115, 0.125, 0.08), np.clip(0.4 + 0.25 * vg, 0, 1)
                )
                tree = r < np.clip(0.05 + 0.05 * vg, 0, 0.2)
                px = np.where(
                    tree, mix(grass, col(0.04, 0.055, 0.035), 0.7), grass * (1 + 0.04 * g)
                )
            elif k == SHRUBLAND:  # patchy shrub cover over stony soil
                cover = np.clip(0.5 + 0.2 * vg + 0.17 * g, 0.1, 0.95)
                px = mix(sl * 1.05, col(0.055, 0.068, 0.045), cover)
            elif k == FOREST:  # dark pine and oak canopy with crown texture
                canopy = mix(
                    col(0.032, 0.046, 0.03), col(0.05, 0.06, 0.04), np.clip(0.5 + 0.4 * vg, 0, 1)
                )
                px = np.where(r < 0.03, mix(canopy, sl, 0.3), canopy * (1 + 0.12 * g))
            elif k == BARELAND:  # limestone, marl and scree, sparse shrubs
                rock = mix(sl, col(0.205, 0.195, 0.18), np.clip(0.45 + 0.3 * vg, 0, 1))
                px = np.where(r < 0.06, rock * 0.7, rock * (1 + 0.05 * g))
            elif k == WETLAND:  # open water in the channel and marsh pools; riparian trees, reeds
                open_water = water.ravel()[i] | (vg > 0.9)
                reeds = mix(
                    col(0.04, 0.068, 0.035), col(0.08, 0.095, 0.055), np.clip(0.5 + vg, 0, 1)
                )
                px = np.where(
                    open_water, col(0.035, 0.052, 0.055) * (1 + 0.05 * g), reeds * (1 + 0.1 * g)
                )
            else:  # artificial: white and terracotta roofs, asphalt streets and roads
                blk = lay.block.ravel()[i]
                hb = _hash01(blk, 4)
                roof = np.where(
                    hb < 0.55,
                    col(0.26, 0.255, 0.24),
                    np.where(hb < 0.85, col(0.21, 0.145, 0.11), col(0.17, 0.165, 0.16)),
                )
                roof = mix(roof, sl, np.clip(0.15 + 0.15 * g, 0, 0.5))
                px = np.where(blk == 0, col(0.11, 0.11, 0.11) * (1 + 0.05 * g), roof)
            refl[:, i] = px

        refl *= shade.ravel()
        refl *= 255 / Radiometry.model_validate({}).reflectance_max
        np.clip(np.rint(refl, out=refl), 1, 255, out=refl)
        return refl.astype(np.uint8).reshape(3, *self.shape)
