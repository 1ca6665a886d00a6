"""How a synthetic world is made: terrain, climate and class patches (rendering: render.py)."""

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from lulcmap.synthetic.constants import (
    ANNUAL,
    ARTIFICIAL,
    BARELAND,
    F32,
    FOREST,
    GRASSLAND,
    SHRUBLAND,
    WETLAND,
)
from lulcmap.synthetic.noise import NoiseSource, smoothstep, upsample


@dataclass
class Terrain:
    dem: np.ndarray
    slope: np.ndarray
    northness: np.ndarray
    shade: np.ndarray  # illumination factor (Sentinel-2-like morning sun from the south-east)
    t: np.ndarray  # 0 at the coast -> 1 deep in the sierra
    river: np.ndarray  # distance to the river's centreline, metres
    road: np.ndarray  # bool, the valley road
    channel: np.ndarray  # half width of the river channel (m)


@dataclass
class Layout:
    parcel: np.ndarray  # parcel id per pixel
    pu: np.ndarray  # parcel-aligned coordinates (m)
    pv: np.ndarray
    block: np.ndarray  # built-up block id per pixel: -1 not built, 0 street or road
    state: np.ndarray  # per parcel: a random integer that picks its crop, tone and texture


class Generator(NoiseSource):
    """The world's terrain, climate and classes, each from its own random streams."""

    # -- terrain --------------------------------------------------------------------------------
    def terrain(self) -> Terrain:
        rng = self.rng(1)
        h, w = self.shape
        theta = rng.uniform(0, 2 * np.pi)  # direction from the coast inland
        cos, sin = F32(np.cos(theta)), F32(np.sin(theta))
        x, y = self.xs[None, :], self.ys[:, None]
        u = x * cos + y * sin  # inland
        corners_u = np.array(
            [0, w * self.px * cos, h * self.px * sin, w * self.px * cos + h * self.px * sin]
        )
        span = float(np.ptp(corners_u))
        extent = max(span, 16_000.0)
        t = (u - F32(corners_u.min())) / F32(extent) + F32(rng.uniform(0, 1 - span / extent))
        del u

        relief = 0.65 * self.field(2, largest=7000, smallest=150, beta=2.6) + 0.35 * self.field(
            3, largest=3000, smallest=150, beta=2.5, ridged=True
        )
        sierra = smoothstep(t + 0.15 * self.field(4, largest=8000, smallest=600), 0.3, 0.9)
        hills = self.field(5, largest=3000, smallest=150, beta=2.6)
        top = F32(rng.uniform(950, 1200))
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
        ).astype(F32)
        floor = 3 + 0.55 * uplift
        valley = 1300 + 1500 * (1 - np.clip(t, 0, 1))
        wobbly = river * (1 + 0.25 * self.field(9, largest=2000, smallest=200))
        dem = floor + (dem - floor) * smoothstep(wobbly / valley, 0.04, 1.0)
        del on_river, floor, valley, wobbly, uplift
        offset = self.curve(8, along.size, self.px / 2, largest=3000, smallest=300, amp=120)
        road = self.rasterize(along, centre + rng.choice([-1, 1]) * (280 + offset), cos, sin)
        channel = 3 + 12 * (1 - np.clip(t, 0, 1)) ** 1.5
        dem = dem.astype(F32)

        gy, gx = np.gradient(dem, self.px)
        slope = np.degrees(np.arctan(np.hypot(gx, gy))).astype(F32)
        norm = np.sqrt(1 + gx * gx + gy * gy)
        northness = (gy / np.maximum(np.hypot(gx, gy), 1e-6)).astype(F32)  # rows grow southward
        az, el = np.radians(150.0), np.radians(55.0)
        # surface normal (east, north, up) = (-dz/dx, +dz/drow, 1); sun vector in the same frame
        cos_i = (-gx * np.sin(az) * np.cos(el) + gy * np.cos(az) * np.cos(el) + np.sin(el)) / norm
        shade = np.clip(cos_i / np.sin(el), 0.45, 1.25).astype(F32)
        t, channel = t.astype(F32), channel.astype(F32)
        return Terrain(dem, slope, northness, shade, t, river, road, channel)

    # -- climate --------------------------------------------------------------------------------
    def climate(self, ter: Terrain) -> dict[str, np.ndarray]:
        k = max(1, round(160 / self.px))
        h, w = self.shape
        hp, wp = -(-h // k) * k, -(-w // k) * k
        padded = np.pad(ter.dem, ((0, hp - h), (0, wp - w)), mode="edge")
        coarse = padded.reshape(hp // k, k, wp // k, k).mean(axis=(1, 3))
        dem = upsample(coarse, k, self.shape) if min(coarse.shape) > 1 else ter.dem
        t = np.clip(ter.t, 0, 1)
        n1 = self.field(20, largest=30000, smallest=2000)
        n2 = self.field(21, largest=30000, smallest=2000)
        temp_ave = 18.6 - 0.0065 * dem - 0.5 * t + 0.35 * n1
        prec = np.clip(330 + 0.52 * dem + 90 * n2 + 60 * t, 220, 1400)
        return {
            "evapotranspiration": (650 + 37 * temp_ave - 0.06 * prec).astype(F32),
            "precipitation": prec.astype(F32),
            "temp_ave": temp_ave.astype(F32),
            "temp_max": (temp_ave + 6.0 + 1.6 * t + 0.2 * n2).astype(F32),
            "temp_min": (temp_ave - 5.6 - 1.4 * t - 0.2 * n2).astype(F32),
        }

    # -- land cover -----------------------------------------------------------------------------
    def parcels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rectangular field parcels: id per pixel and parcel-aligned coordinates."""
        rng = self.rng(30)
        phi = rng.uniform(0, np.pi / 2)
        c, s = F32(np.cos(phi)), F32(np.sin(phi))
        x, y = self.xs[None, :], self.ys[:, None]
        warp = 25 * self.field(31, largest=1500, smallest=300)
        pu = x * c + y * s + warp
        pv = -x * s + y * c
        lo = float(pu.min()) - 1
        length = float(pu.max()) - lo + 2
        cuts = lo + np.cumsum(rng.uniform(70, 320, int(length / 70) + 2))
        strip = np.searchsorted(cuts, pu).astype(np.int32)
        n_strip = len(cuts) + 1
        plen = rng.uniform(90, 420, n_strip).astype(F32)
        shift = rng.uniform(0, 1000, n_strip).astype(F32)
        vlo = float(pv.min())
        j = ((pv - vlo + shift[strip]) / plen[strip]).astype(np.int32)
        n_j = int(j.max()) + 1
        strip *= n_j
        strip += j
        return strip, pu, pv

    def classes(self, ter: Terrain, clim: dict[str, np.ndarray]) -> tuple[np.ndarray, Layout]:
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
        return classes, Layout(parcel, pu, pv, block, state)

    def towns(self, ter: Terrain, ag: np.ndarray) -> np.ndarray:
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
