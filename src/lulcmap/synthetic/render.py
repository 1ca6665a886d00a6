"""Rendering a synthetic world: the surface reflectance of each class, shaded by the terrain."""

from collections.abc import Iterator

import numpy as np

from lulcmap.model.card import Radiometry
from lulcmap.synthetic.constants import (
    ANNUAL,
    BARELAND,
    F32,
    FOREST,
    GRASSLAND,
    GREENHOUSE,
    MOSAIC,
    N_CLASSES,
    SHRUBLAND,
    WETLAND,
    WOODY,
)
from lulcmap.synthetic.generator import Layout
from lulcmap.synthetic.noise import NoiseSource, hash01


def render(
    gen: NoiseSource, classes: np.ndarray, lay: Layout, shade: np.ndarray, water: np.ndarray
) -> np.ndarray:
    """Surface reflectance of each pixel, shaded by the terrain, in the 8-bit stretch."""
    rng = gen.rng(70)
    n = classes.size
    flat = classes.ravel()
    grain = rng.standard_normal(n, dtype=F32)
    unif = rng.random(n, dtype=F32)
    veg = gen.field(71, largest=700, smallest=60, beta=1.5).ravel()
    soil_n = gen.field(72, largest=6000, smallest=200).ravel()
    refl = np.empty((3, n), F32)
    pu, pv = lay.pu.ravel(), lay.pv.ravel()
    parcel = lay.parcel.ravel()
    edge = np.zeros(gen.shape, bool)
    edge[:, 1:] |= lay.parcel[:, 1:] != lay.parcel[:, :-1]
    edge[1:] |= lay.parcel[1:] != lay.parcel[:-1]
    on_edge = edge.ravel()

    def col(*v: float) -> np.ndarray:
        return np.array(v, F32)[:, None]

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
        sl = np.stack([0.2 + 0.018 * sn, 0.165 + 0.007 * sn, 0.127 - 0.005 * sn]).astype(F32)
        if k == ANNUAL:  # each parcel green, ploughed, stubble or fallow; drill rows
            palette = np.array(
                [
                    [0.06, 0.1, 0.05],
                    [0.18, 0.145, 0.11],
                    [0.26, 0.22, 0.16],
                    [0.2, 0.18, 0.135],
                    [0.1, 0.12, 0.065],
                ],
                F32,
            ).T
            base = palette[:, st % 5] * (0.9 + 0.2 * hash01(st, 1))
            rows = 1 + 0.025 * np.sin(pu[i] * (2 * np.pi / 25))
            px = base * rows * (1 + 0.04 * vg + 0.03 * g)
            px = np.where(on_edge[i], mix(px, sl, 0.5), px)
        elif k == GREENHOUSE:  # plastic roofs in blocks of varying age, lanes between them
            sub = hash01(st, np.floor(pu[i] / 45), np.floor(pv[i] / 70))
            px = col(0.27, 0.275, 0.28) * (0.72 + 0.4 * sub) * (1 + 0.025 * g)
            lane = on_edge[i] | (np.mod(pv[i] + st % 97, 140) < gen.px)
            px = np.where(lane, sl * 0.9, px)
        elif k == WOODY:  # olive groves: soil with tree crowns in faint rows
            rows = np.cos(pu[i] * (2 * np.pi / 30)) ** 2
            cover = np.clip(0.25 + 0.15 * hash01(st, 2) + 0.08 * rows + 0.12 * g, 0, 1)
            px = mix(sl * (0.95 + 0.1 * hash01(st, 3)), col(0.05, 0.065, 0.04), cover)
        elif k == MOSAIC:  # small plots of crops interleaved with scrub and trees
            plot = hash01(st, np.floor(pu[i] / 70), np.floor(pv[i] / 110))
            small = np.array(
                [
                    [0.07, 0.1, 0.05],
                    [0.19, 0.155, 0.115],
                    [0.25, 0.21, 0.15],
                    [0.2, 0.18, 0.135],
                ],
                F32,
            ).T
            crop = small[:, (plot * 4).astype(np.int64)]
            scrub = mix(sl, col(0.055, 0.07, 0.045), np.clip(0.55 + 0.2 * g, 0, 1))
            px = np.where(vg + 0.8 * (plot - 0.5) > 0.2, scrub, crop * (1 + 0.04 * g))
        elif k == GRASSLAND:  # dry grass with scattered oaks (dehesa)
            grass = mix(
                col(0.17, 0.15, 0.105), col(0.115, 0.125, 0.08), np.clip(0.4 + 0.25 * vg, 0, 1)
            )
            tree = r < np.clip(0.05 + 0.05 * vg, 0, 0.2)
            px = np.where(tree, mix(grass, col(0.04, 0.055, 0.035), 0.7), grass * (1 + 0.04 * g))
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
            reeds = mix(col(0.04, 0.068, 0.035), col(0.08, 0.095, 0.055), np.clip(0.5 + vg, 0, 1))
            px = np.where(
                open_water, col(0.035, 0.052, 0.055) * (1 + 0.05 * g), reeds * (1 + 0.1 * g)
            )
        else:  # artificial: white and terracotta roofs, asphalt streets and roads
            blk = lay.block.ravel()[i]
            hb = hash01(blk, 4)
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
    return refl.astype(np.uint8).reshape(3, *gen.shape)
