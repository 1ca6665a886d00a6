"""The Presto pixel-encoder path: lattice error on real imagery, throughput, memory.

    python benchmarks/bench_presto.py            # the full run; writes benchmarks/PRESTO.md
    python benchmarks/bench_presto.py --quick    # a smoke run on 2 cell rows; prints only

Measures, with lulcmap's own Presto (``lulcmap.model.presto``) and inputs
(``lulcmap.model.presto_inputs.assemble``), what the defaults of the pixel-encoder path depend on:

1. **curve** -- on Zion (Landsat 8 B2-B5 + SRTM; ``../shared/data/zion``), 2.24 km cells: the
   mean embedding (and the decoder's mean Dynamic World probabilities) of every 30 m pixel of a
   cell against those of a centred k x k lattice of its pixels, for each k;
2. **throughput** -- the encoder alone on batches of real pixels: batch sizes, torch threads
   (1, 2, and 2 concurrent calls x 1 thread as ``lulcmap.model.runtime`` runs models on CPU),
   fp32 and bf16 autocast; also ``assemble`` and the encoder + decoder (the zero-shot path);
3. **lattice** -- the lattice-only path as ``predict`` would run it (read a cell row, assemble the
   lattice pixels, encode, average per cell), timed, on the whole scene and its top half.

Every measurement runs in a fresh process (this file with ``--worker``); its peak RSS and CPU time
come from ``os.wait4``. Each waits for idle CPUs first and records how much CPU other processes
used meanwhile (a shared machine). The report goes to ``benchmarks/PRESTO.md`` between its
``<!-- generated -->`` markers; the notes around them are kept.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REPORT = HERE / "PRESTO.md"
BEGIN, END = "<!-- generated: begin -->", "<!-- generated: end -->"
WEIGHTS = ROOT / "models" / "presto" / "presto-default.safetensors"
DATA = Path(os.environ.get("LULCMAP_DATA", ROOT.parent / "shared" / "data"))

CELL_M = 2240.0  # the zion-landsat-nlcd chip footprint: 224 px at 10 m
LATTICES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)
BATCHES = (256, 512, 1024, 2048, 4096, 8192)
MODES = ("1", "2", "2x1")  # torch threads: 1; 2; two concurrent calls of 1 thread each
TILE_CELLS = 49 * 49  # a 10980 px Sentinel-2 tile in 2.24 km cells
TARGET_S = 180.0
ZION_BANDS = ("landsat_b2.tif", "landsat_b3.tif", "landsat_b4.tif", "landsat_b5.tif")
ZION_NAMES = ("blue", "green", "red", "nir", "nir08")  # B8A is fed the NIR band too
ZION_DATE = "2015-08-18"  # models/zion-landsat-nlcd/README.md; the files carry no date tag
READINGS: dict[str, tuple[float, float, float]] = {
    # name: (scale, offset, divisor): reflectance = (DN * scale + offset) / divisor
    "C1 L1 TOA, as pipelines/zion.yaml reads it": (2e-5, -0.1, 1.0),
    "C1 L1 TOA / sin(58°) sun elevation (as S2 L1C is)": (2e-5, -0.1, 0.848),
    "C2 L2 surface reflectance reading": (2.75e-5, -0.2, 1.0),
}
"""Readings of the Zion DNs: the first is used throughout; the others are compared in the
radiometry check (the 58° sun elevation is the zion-landsat-nlcd README's estimate)."""
TOA = READINGS["C1 L1 TOA, as pipelines/zion.yaml reads it"]
CNN = {"chips_s": 936, "model_s": 2.67, "predict_s": 5.39, "read_s": 2.18, "run": "2026-11-21"}
"""The chip CNN (demo-synthetic) on the same full tile: benchmarks/RESULTS.md, run of that date."""
SMALL_ROWS = 5  # the smaller scene: the top 5 of Zion's 19 cell rows


# -- the scene: Zion, read one row of cells at a time ----------------------------------------------
def cell_edges(n_px: int, res: float, cell_m: float = CELL_M) -> list[int]:
    """Pixel edges of whole cells along one axis: cell ``i`` holds the pixels whose centres lie
    in ``[i, i + 1) * cell_m`` from the scene's edge."""
    n = int(n_px * res // cell_m)
    return [int(-(-(i * cell_m / res - 0.5) // 1)) for i in range(n + 1)]


def lattice(k: int, cell: int, start: int, stop: int, res: float) -> list[int]:
    """Offsets (from ``start``) of the pixels under a centred k-point lattice of cell ``cell``."""
    points = [(cell + (m + 0.5) / k) * CELL_M / res for m in range(k)]
    return [min(max(int(p) - start, 0), stop - start - 1) for p in points]


@dataclass(frozen=True)
class Strip:
    """One row of cells: reflectance ``(P, 5)`` and ancillary ``(P,)`` per cell, all pixels."""

    cells: list[dict[str, Any]]
    shape: list[tuple[int, int]]  # (rows, cols) of each cell


class ZionReader:
    """Landsat B2-B5 as TOA reflectance, SRTM elevation and slope warped onto the Landsat grid
    (bilinear), latitude/longitude of every pixel centre; read by rows of cells."""

    def __init__(
        self, data: Path, *, max_cols: int | None = None, reading: tuple[float, ...] = TOA
    ) -> None:
        import rasterio
        from pyproj import Transformer
        from rasterio.vrt import WarpedVRT
        from rasterio.warp import Resampling

        self._stack = ExitStack()
        self.reading = reading
        folder = data / "zion"
        self.bands = [self._stack.enter_context(rasterio.open(folder / f)) for f in ZION_BANDS]
        ref = self.bands[0]
        self.transform, self.crs, self.res = ref.transform, ref.crs, ref.res[0]
        srtm = self._stack.enter_context(rasterio.open(folder / "srtm.tif"))
        self.dem = self._stack.enter_context(
            WarpedVRT(srtm, crs=ref.crs, transform=ref.transform, width=ref.width,
                      height=ref.height, resampling=Resampling.bilinear, dtype="float32",
                      src_nodata=srtm.nodata, nodata=float("nan"))
        )  # fmt: skip
        self.rows = cell_edges(ref.height, self.res)
        self.cols = cell_edges(ref.width, self.res)[: None if max_cols is None else max_cols + 1]
        self.to_lonlat = Transformer.from_crs(ref.crs, "EPSG:4326", always_xy=True)

    def __enter__(self) -> ZionReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def strip(self, row: int) -> Strip:
        """All pixels of the cells of cell row ``row`` (cells with any invalid pixel: left out)."""
        import numpy as np
        from rasterio.windows import Window

        from lulcmap.terrain import slope_degrees

        r0, r1 = self.rows[row], self.rows[row + 1]
        c0, c1 = self.cols[0], self.cols[-1]
        win = Window(c0, r0, c1 - c0, r1 - r0)
        dn = np.stack([b.read(1, window=win) for b in self.bands]).astype(np.float32)
        scale, offset, divisor = self.reading
        refl = np.where(dn == self.bands[0].nodata, np.nan, (dn * scale + offset) / divisor)
        m0, m1 = max(r0 - 1, 0), min(r1 + 1, self.dem.height)  # a margin for the gradient
        dem = self.dem.read(1, window=Window(c0, m0, c1 - c0, m1 - m0))
        slope = slope_degrees(dem, self.transform, self.crs)[r0 - m0 : r0 - m0 + r1 - r0]
        dem = dem[r0 - m0 : r0 - m0 + r1 - r0]
        x = self.transform.c + (np.arange(c0, c1) + 0.5) * self.res
        y = self.transform.f - (np.arange(r0, r1) + 0.5) * self.res
        lon, lat = self.to_lonlat.transform(*np.meshgrid(x, y))
        cells, shapes = [], []
        for j in range(len(self.cols) - 1):
            cs = slice(self.cols[j] - c0, self.cols[j + 1] - c0)
            cell = {
                "refl": refl[:, :, cs].reshape(4, -1).T[:, [0, 1, 2, 3, 3]],
                "elevation": dem[:, cs].ravel(), "slope": slope[:, cs].ravel(),
                "lat": lat[:, cs].ravel(), "lon": lon[:, cs].ravel(),
                "index": (row, j),
            }  # fmt: skip
            if all(np.isfinite(v).all() for k, v in cell.items() if k != "index"):
                cells.append(cell)
                shapes.append((r1 - r0, cs.stop - cs.start))
        return Strip(cells, shapes)

    def lattice_index(self, k: int, index: tuple[int, int], shape: tuple[int, int]) -> Any:
        """Flat indices (into a cell's pixels) of its k x k lattice."""
        import numpy as np

        row, col = index
        rr = lattice(k, row, self.rows[row], self.rows[row + 1], self.res)
        cc = lattice(k, col, self.cols[col], self.cols[col + 1], self.res)
        return (np.asarray(rr)[:, None] * shape[1] + np.asarray(cc)[None]).ravel()


def _month0(date: str) -> int:
    return datetime.date.fromisoformat(date).month - 1


def _inputs(pixels: dict[str, Any], month0: int, *, names: tuple[str, ...] = ZION_NAMES) -> Any:
    """``assemble``'s inputs for a dict of pixel arrays (reflectance columns named ``names``)."""
    from lulcmap.model.presto_inputs import assemble, match_bands

    return assemble(
        pixels["refl"], match_bands(names), lat=pixels["lat"], lon=pixels["lon"],
        month0=month0, elevation=pixels["elevation"], slope=pixels["slope"],
        era5=pixels.get("era5"),
    )  # fmt: skip


def _encode(model: Any, inputs: Any, *, decoder: bool = False) -> tuple[Any, Any]:
    """Embeddings ``(P, 128)`` and, with ``decoder``, Dynamic World probabilities ``(P, 9)``."""
    import torch

    with torch.inference_mode():
        enc = model.encoder.encode(**inputs.model_inputs())
        if not decoder:
            return enc.pooled, None
        _, logits = model.decoder(enc, model.encoder.channel_embed.weight)
        return enc.pooled, torch.softmax(logits[:, 0].float(), dim=-1)


# -- workers (each in its own process) -------------------------------------------------------------
def worker_curve(a: dict[str, Any]) -> dict[str, Any]:
    """Per cell: the all-pixel means and every lattice's means, embedding and DW probabilities."""
    import numpy as np

    from lulcmap.model.presto import load_presto

    model = load_presto(WEIGHTS)
    month0, ks = _month0(a["date"]), a["lattices"]
    out: dict[str, list[Any]] = {"index": [], "emb": [], "dw": []}
    start, pixels, masked = time.perf_counter(), 0, ()
    with ZionReader(Path(a["data"]), max_cols=a["cols"]) as zion:
        for row in range(a["row0"], min(a["row0"] + a["rows"], len(zion.rows) - 1)):
            strip = zion.strip(row)
            for cell, shape in zip(strip.cells, strip.shape, strict=True):
                inputs = _inputs(cell, month0)
                masked = inputs.masked_groups
                emb, dw = (t.double().numpy() for t in _encode(model, inputs, decoder=True))
                subsets = [np.arange(len(emb))] + [
                    zion.lattice_index(k, cell["index"], shape) for k in ks
                ]
                out["emb"].append(np.stack([emb[s].mean(0) for s in subsets]))
                out["dw"].append(np.stack([dw[s].mean(0) for s in subsets]))
                out["index"].append(cell["index"])
                pixels += len(emb)
    np.savez(a["npz"], index=np.asarray(out["index"]), emb=np.asarray(out["emb"]),
             dw=np.asarray(out["dw"]))  # fmt: skip
    return {"pixels": pixels, "cells": len(out["index"]), "seconds": time.perf_counter() - start,
            "masked": list(masked)}  # fmt: skip


def worker_radiometry(a: dict[str, Any]) -> dict[str, Any]:
    """Per reading of the DNs: the scene's mean DW probabilities on a k x k lattice, and how far
    each cell's mean embedding moves from the first reading's (median relative distance)."""
    import numpy as np

    from lulcmap.model.presto import DYNAMIC_WORLD_CLASSES, load_presto

    model, month0, k = load_presto(WEIGHTS), _month0(a["date"]), a["k"]
    out, first = {}, None
    for name, reading in READINGS.items():
        embs, dws = [], []
        with ZionReader(Path(a["data"]), max_cols=a["cols"], reading=reading) as zion:
            for row in range(a["row0"], min(a["row0"] + a["rows"], len(zion.rows) - 1)):
                strip = zion.strip(row)
                for cell, shape in zip(strip.cells, strip.shape, strict=True):
                    pick = zion.lattice_index(k, cell["index"], shape)
                    pix = {n: cell[n][pick] for n in ("refl", "elevation", "slope", "lat", "lon")}
                    emb, dw = (t.double().numpy() for t in _encode(model, _inputs(pix, month0),
                                                                  decoder=True))  # fmt: skip
                    embs.append(emb.mean(0))
                    dws.append(dw.mean(0))
        e = np.asarray(embs)
        first = e if first is None else first
        shift = np.linalg.norm(e - first, axis=1) / np.linalg.norm(first, axis=1)
        out[name] = {"dw": dict(zip(DYNAMIC_WORLD_CLASSES, np.mean(dws, 0).tolist(), strict=True)),
                     "shift": float(np.median(shift)), "cells": len(e)}  # fmt: skip
    return out


def worker_lattice(a: dict[str, Any]) -> dict[str, Any]:
    """The lattice-only path: per cell row read, assemble the lattice pixels, encode in batches,
    average per cell. Times each part; saves the cell means to compare with the curve's."""
    import numpy as np
    import torch

    from lulcmap.model.presto import load_presto

    torch.set_num_threads(a["threads"])
    model = load_presto(WEIGHTS)
    k, month0, batch = a["k"], _month0(a["date"]), a["batch"]
    t = {"read": 0.0, "assemble": 0.0, "encode": 0.0}
    means, index, pixels = [], [], 0
    start = time.perf_counter()
    with ZionReader(Path(a["data"]), max_cols=a["cols"]) as zion:
        for row in range(a["row0"], min(a["row0"] + a["rows"], len(zion.rows) - 1)):
            t0 = time.perf_counter()
            strip = zion.strip(row)
            if not strip.cells:
                continue
            t1 = time.perf_counter()
            picks = [zion.lattice_index(k, c["index"], s) for c, s in zip(strip.cells, strip.shape,
                                                                          strict=True)]  # fmt: skip
            keys = ("refl", "elevation", "slope", "lat", "lon")
            pix = {n: np.concatenate([c[n][p] for c, p in zip(strip.cells, picks, strict=True)])
                   for n in keys}  # fmt: skip
            inputs = _inputs(pix, month0)
            t2 = time.perf_counter()
            emb = np.concatenate([
                _encode(model, _slice(inputs, i, i + batch))[0].numpy()
                for i in range(0, len(pix["lat"]), batch)
            ])  # fmt: skip
            t3 = time.perf_counter()
            means.append(emb.reshape(len(picks), k * k, -1).astype(np.float64).mean(1))
            index += [c["index"] for c in strip.cells]
            pixels += len(emb)
            for name, dt in zip(t, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                t[name] += dt
    wall = time.perf_counter() - start
    np.savez(a["npz"], emb=np.concatenate(means), index=np.asarray(index))
    return {"cells": len(index), "pixels": pixels, "seconds": wall, "parts": t}


def _slice(inputs: Any, i: int, j: int) -> Any:
    from dataclasses import replace

    return replace(inputs, x=inputs.x[i:j], mask=inputs.mask[i:j],
                   dynamic_world=inputs.dynamic_world[i:j], latlons=inputs.latlons[i:j],
                   month=inputs.month[i:j], valid=inputs.valid[i:j])  # fmt: skip


def _pool(a: dict[str, Any], n: int, full_s2: bool) -> Any:
    """``n`` real Zion pixels from the middle cell rows as Presto inputs. ``full_s2``: as a
    10-band Sentinel-2 scene with monthly climate would give them (9 tokens, not 6); the bands
    Zion lacks are filled from its own (the values matter for accuracy, not for speed)."""
    import numpy as np

    parts: list[dict[str, Any]] = []
    with ZionReader(Path(a["data"])) as zion:
        row = (len(zion.rows) - 1) // 2
        while sum(len(c["lat"]) for c in parts) < n:
            parts += zion.strip(row % (len(zion.rows) - 1)).cells
            row += 1
    keys = ("refl", "elevation", "slope", "lat", "lon")
    pix: dict[str, Any] = {k: np.concatenate([c[k] for c in parts])[:n] for k in keys}
    names: tuple[str, ...] = ZION_NAMES
    if full_s2:
        b, g, r, nir = pix["refl"][:, :4].T
        edge = [r + (nir - r) * f for f in (0.3, 0.6, 0.9)]
        pix["refl"] = np.stack([b, g, r, *edge, nir, nir, 0.8 * nir, 0.6 * r], axis=1)
        names = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12")
        pix["era5"] = (np.full(n, 295.0), np.full(n, 0.0005))
    return _inputs(pix, _month0(a["date"]), names=names)


def _rate(
    model: Any, inputs: Any, batch: int, mode: str, bf16: bool, min_pixels: int
) -> float:  # fmt: skip
    """Pixels per second of the encoder on ``inputs`` cut in batches (best of 3 passes)."""
    import torch

    n = len(inputs.valid)
    starts = [i % (n - batch + 1) for i in range(0, max(min_pixels, 2 * batch), batch)]

    def call(i: int) -> None:
        cast: AbstractContextManager[object] = (
            torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()
        )
        with cast:
            _encode(model, _slice(inputs, i, i + batch))

    torch.set_num_threads(2 if mode == "2" else 1)
    pool = ThreadPoolExecutor(2) if mode == "2x1" else None

    def run() -> None:
        for _ in pool.map(call, starts) if pool else map(call, starts):
            pass

    call(starts[0])  # warm-up
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    if pool:
        pool.shutdown()
    return len(starts) * batch / min(times)


def worker_throughput(a: dict[str, Any]) -> dict[str, Any]:
    """The encoder's pixels/s over batch sizes, thread modes and precisions; assemble's rate; the
    encoder + decoder's; bf16 against fp32."""
    import numpy as np
    import torch

    from lulcmap.model.presto import BAND_GROUPS, load_presto

    model = load_presto(WEIGHTS)
    n = max(max(b) for b in a["grid"].values()) * 2
    res: dict[str, Any] = {"encoder": {}}
    for config, batches in a["grid"].items():
        inputs = _pool(a, n, config == "s2")
        res[f"{config}_groups_masked"] = list(inputs.masked_groups)
        # one token per unmasked group (one timestep; Dynamic World unknown) + lat/lon
        res[f"{config}_tokens"] = 1 + len(BAND_GROUPS) - len(inputs.masked_groups)
        for batch in batches:
            for mode in MODES:
                for bf16 in (False, True):
                    key = f"{config}|{batch}|{mode}|{'bf16' if bf16 else 'fp32'}"
                    res["encoder"][key] = _rate(model, inputs, batch, mode, bf16, a["min_pixels"])
        torch.set_num_threads(2)
        fp32, dw32 = _encode(model, inputs, decoder=True)
        try:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                bf, dwbf = _encode(model, inputs, decoder=True)
        except RuntimeError as exc:  # the decoder under autocast: recorded, then without it
            res["bf16_decoder_error"] = str(exc).splitlines()[0]
            with torch.inference_mode():
                with torch.autocast("cpu", dtype=torch.bfloat16):  # the encoder in bf16
                    enc = model.encoder.encode(**inputs.model_inputs())
                bf = enc.pooled
                enc = enc._replace(tokens=enc.tokens.float())  # the decoder in fp32
                _, logits = model.decoder(enc, model.encoder.channel_embed.weight)
                dwbf = torch.softmax(logits[:, 0], dim=-1)
        res[f"{config}_bf16_emb_maxdiff"] = float((bf.float() - fp32).abs().max())
        res[f"{config}_bf16_dw_maxdiff"] = float((dwbf.float() - dw32).abs().max())
        res[f"{config}_emb_absmax"] = float(fp32.abs().max())
        # the zero-shot path's forward pass (encoder + decoder), and assemble, batch 4096
        b = min(4096, n)
        _encode(model, _slice(inputs, 0, b), decoder=True)  # warm-up
        t0 = time.perf_counter()
        for i in range(0, n - b + 1, b):
            _encode(model, _slice(inputs, i, i + b), decoder=True)
        res[f"{config}_decoder_rate"] = (n // b) * b / (time.perf_counter() - t0)
    pix = {"refl": np.random.default_rng(0).uniform(0.02, 0.4, (8192, 5)),
           "lat": np.full(8192, 37.3), "lon": np.full(8192, -113.0),
           "elevation": np.full(8192, 1500.0), "slope": np.full(8192, 10.0)}  # fmt: skip
    t0 = time.perf_counter()
    for _ in range(5):
        _inputs(pix, 7)
    res["assemble_rate"] = 5 * 8192 / (time.perf_counter() - t0)
    return res


WORKERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "curve": worker_curve, "lattice": worker_lattice, "throughput": worker_throughput,
    "radiometry": worker_radiometry,
}  # fmt: skip


# -- running workers -------------------------------------------------------------------------------
def _busy_seconds() -> float:
    """CPU seconds all processes have been busy (not idle, not waiting for I/O) since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def wait_quiet(threshold: float = 0.9, timeout: float = 300) -> None:
    """Wait (up to ``timeout`` s) until the CPUs were >= ``threshold`` idle for a second."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        busy, t0 = _busy_seconds(), time.perf_counter()
        time.sleep(1.0)
        idle = 1 - (_busy_seconds() - busy) / ((time.perf_counter() - t0) * (os.cpu_count() or 1))
        if idle >= threshold:
            return


def run_worker(name: str, args: dict[str, Any], *, quiet: bool = True) -> dict[str, Any]:
    """Run a worker in a fresh process (after waiting for idle CPUs, with ``quiet``); add its
    wall s, CPU s, peak RSS and the share of the CPUs other processes used meanwhile."""
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        if quiet:
            wait_quiet()
        busy, t0 = _busy_seconds(), time.perf_counter()
        cmd = [sys.executable, __file__, "--worker", name, json.dumps(args), f.name]
        proc = subprocess.Popen(cmd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"worker {name} {args} failed")
        res: dict[str, Any] = json.loads(Path(f.name).read_text())
    own = usage.ru_utime + usage.ru_stime
    cores = os.cpu_count() or 1
    res.update(wall_s=wall, cpu_s=own, peak_rss_mb=usage.ru_maxrss / 1024,
               foreign_cpu=max(0.0, (_busy_seconds() - busy - own) / (wall * cores)))  # fmt: skip
    return res


# -- the analysis ----------------------------------------------------------------------------------
def curve_table(npz: Path, ks: tuple[int, ...]) -> tuple[list[dict[str, float]], float]:
    """Per lattice: relative error and cosine of the embedding mean, DW probability error; and
    the median relative distance between horizontally neighbouring cells' all-pixel means."""
    import numpy as np

    from lulcmap.model.zeroshot import dw_probabilities_to_n2

    d = np.load(npz)
    emb, dw, index = d["emb"], d["dw"], [tuple(i) for i in d["index"]]
    full = emb[:, 0]
    rows = []
    for i, k in enumerate(ks, start=1):
        diff = np.linalg.norm(emb[:, i] - full, axis=1) / np.linalg.norm(full, axis=1)
        cos = (
            (emb[:, i] * full).sum(1)
            / np.linalg.norm(emb[:, i], axis=1)
            / np.linalg.norm(full, axis=1)
        )
        dwe = np.abs(dw[:, i] - dw[:, 0]).max(1)
        n2e = np.abs(dw_probabilities_to_n2(dw[:, i]) - dw_probabilities_to_n2(dw[:, 0])).max(1)
        rows.append({
            "k": k, "rel_med": float(np.median(diff)), "rel_p95": float(np.percentile(diff, 95)),
            "rel_max": float(diff.max()), "cos_med": float(np.median(cos)),
            "cos_p5": float(np.percentile(cos, 5)), "dw_med": float(np.median(dwe)),
            "dw_p95": float(np.percentile(dwe, 95)), "n2_p95": float(np.percentile(n2e, 95)),
        })  # fmt: skip
    where = {ix: n for n, ix in enumerate(index)}
    pairs = [(where[ix], where[(ix[0], ix[1] + 1)]) for ix in index if (ix[0], ix[1] + 1) in where]
    spread = [np.linalg.norm(full[a] - full[b]) / np.linalg.norm(full[a]) for a, b in pairs]
    return rows, float(np.median(spread))


def recommend(rows: list[dict[str, float]], limit: float = 0.01) -> int | None:
    """The smallest lattice whose median relative embedding error is below ``limit``."""
    return next((int(r["k"]) for r in rows if r["rel_med"] < limit), None)


def measure(opts: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    """Run every worker; the curve and lattice runs on two scene sizes."""
    base = {"data": str(opts.data), "date": opts.date}
    q = not opts.quick  # the smoke run does not wait for idle CPUs
    ks = LATTICES if not opts.quick else (1, 2, 4, 8)
    res: dict[str, Any] = {"lattices": ks, "sizes": opts.sizes, "grid": opts.grid}
    curves = []
    for label, row0, rows, cols in opts.sizes:
        print(f"curve: {label}", flush=True)
        npz = scratch / f"curve-{rows}-{cols}.npz"
        size = {"row0": row0, "rows": rows, "cols": cols}
        r = run_worker("curve", {**base, **size, "lattices": ks, "npz": str(npz)}, quiet=q)
        curves.append({"label": label, **size, "npz": str(npz), **r})
    res["curve"] = curves
    res["curve_rows"], res["spread"] = curve_table(Path(curves[0]["npz"]), ks)
    lat = []
    for k in (4, 8) if opts.quick else (4, 8, 16, 32):
        for c in curves:
            print(f"lattice k={k}: {c['label']}", flush=True)
            npz = scratch / f"lattice-{k}-{c['rows']}-{c['cols']}.npz"
            size = {"row0": c["row0"], "rows": c["rows"], "cols": c["cols"]}
            r = run_worker(
                "lattice", {**base, **size, "k": k, "batch": opts.batch, "threads": 2,
                            "npz": str(npz)}, quiet=q,
            )  # fmt: skip
            r.update(k=k, label=c["label"], check=_check(npz, Path(c["npz"]), ks.index(k) + 1))
            lat.append(r)
    res["lattice"] = lat
    print("radiometry", flush=True)
    size = {"row0": curves[0]["row0"], "rows": curves[0]["rows"], "cols": curves[0]["cols"]}
    res["radiometry"] = run_worker("radiometry", {**base, **size, "k": 8}, quiet=q)
    print("throughput", flush=True)
    least = 2048 if opts.quick else opts.min_pixels
    res["throughput"] = run_worker(
        "throughput", {**base, "grid": opts.grid, "min_pixels": least}, quiet=q
    )
    return res


def _check(lattice_npz: Path, curve_npz: Path, column: int) -> float:
    """Max |difference| between the lattice path's cell means and the curve's for that lattice."""
    import numpy as np

    a, b = np.load(lattice_npz), np.load(curve_npz)
    if [tuple(i) for i in a["index"]] != [tuple(i) for i in b["index"]]:
        raise SystemExit(f"{lattice_npz} and {curve_npz} hold different cells")
    return float(np.abs(a["emb"] - b["emb"][:, column]).max())


# -- the report ------------------------------------------------------------------------------------
def _best(enc: dict[str, float], config: str, precision: str) -> tuple[float, str]:
    items = [(v, k) for k, v in enc.items() if k.startswith(f"{config}|") and k.endswith(precision)]
    rate, key = max(items)
    _, batch, mode, _ = key.split("|")
    return rate, f"batch {batch}, threads {mode}"


def render(res: dict[str, Any], meta: dict[str, Any]) -> str:
    tp, rows = res["throughput"], res["curve_rows"]
    k_rec = recommend(rows)
    c0 = res["curve"][0]
    out = [meta["machine"], "", f"### 1. Lattice error on Zion ({c0['label']})", ""]
    out += [
        f"{c0['cells']} cells of 2.24 km, {c0['pixels']} pixels ({c0['pixels'] / c0['cells']:.0f} "
        f"per cell); masked groups: {', '.join(c0['masked'])}. The same k x k lattice, run as the "
        f"lattice-only path (section 3), gives the same cell means (max |difference| "
        f"{max(r['check'] for r in res['lattice']):.1e}). For scale: neighbouring cells' "
        f"all-pixel means differ by {res['spread']:.1%} (median relative distance).",
        "",
        "| k × k | pixels/cell | rel. error median | rel. error p95 | rel. error max | cosine "
        "median | cosine p5 | DW max abs Δ median | DW max abs Δ p95 | N2 (crosswalk) max abs "
        "Δ p95 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    out += [
        f"| {r['k']} × {r['k']} | {r['k'] ** 2} | {r['rel_med']:.2%} | {r['rel_p95']:.2%} | "
        f"{r['rel_max']:.2%} | {r['cos_med']:.5f} | {r['cos_p5']:.5f} | {r['dw_med']:.4f} | "
        f"{r['dw_p95']:.4f} | {r['n2_p95']:.4f} |"
        for r in rows
    ]
    ck = [r["rel_med"] * r["k"] for r in rows if r["k"] >= 2]
    out += [
        "",
        f"The median error falls as c / k (a sampling error of k² pixels): k × median error = "
        f"{min(ck):.3f} .. {max(ck):.3f} for k ≥ 2. Smallest lattice with a median error "
        f"below 1 %: {f'{k_rec} × {k_rec}' if k_rec else 'none of those measured'}.",
    ]
    out += ["", "### 2. Encoder throughput (pixels/s), 2 cores", ""]
    for config, what in (
        ("zion", "Zion's inputs"), ("s2", "a 10-band Sentinel-2 scene + monthly climate"),
    ):  # fmt: skip
        out += [
            f"**{what}**: {tp[f'{config}_tokens']} tokens per pixel (masked: "
            f"{', '.join(tp[f'{config}_groups_masked'])}); bf16 vs fp32 on 2× the largest batch of "
            f"pixels: embedding max abs Δ {tp[f'{config}_bf16_emb_maxdiff']:.3f} (values up to "
            f"{tp[f'{config}_emb_absmax']:.2f}), DW probability max abs Δ "
            f"{tp[f'{config}_bf16_dw_maxdiff']:.3f}; encoder + decoder (zero-shot), fp32, batch "
            f"4096, 2 threads: {tp[f'{config}_decoder_rate']:,.0f} px/s.",
            "",
            "| batch | "
            + " | ".join(f"{p} {m} thr." for p in ("fp32", "bf16") for m in MODES)
            + " |",
            "|---" * 7 + "|",
        ]
        for b in res["grid"][config]:
            cells = [tp["encoder"][f"{config}|{b}|{m}|{p}"] for p in ("fp32", "bf16")
                     for m in MODES]  # fmt: skip
            out.append(f"| {b} | " + " | ".join(f"{v:,.0f}" for v in cells) + " |")
        out.append("")
    out += [f"`assemble` (numpy, 1 thread): {tp['assemble_rate']:,.0f} px/s."]
    if "bf16_decoder_error" in tp:
        out += [
            f"bf16 autocast of the **decoder** fails: `{tp['bf16_decoder_error']}` (the DW "
            "difference above is then the encoder in bf16, the decoder in fp32)."
        ]
    out += [""]
    out += _projection(res, k_rec)
    out += ["", "### 3. The lattice-only path on Zion, and memory", ""]
    out += [
        "| k × k | scene | cells | pixels | wall s | read s | assemble s | encode s | cells/s | "
        "CPU s | peak RSS MB | others' CPU |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["lattice"]:
        p = r["parts"]
        out.append(
            f"| {r['k']} × {r['k']} | {r['label']} | {r['cells']} | {r['pixels']} | "
            f"{r['wall_s']:.2f} | {p['read']:.2f} | {p['assemble']:.2f} | {p['encode']:.2f} | "
            f"{r['cells'] / r['seconds']:.0f} | {r['cpu_s']:.2f} | {r['peak_rss_mb']:.0f} | "
            f"{r['foreign_cpu']:.0%} |"
        )
    out += ["", "All-pixel runs (section 1's measurement; encoder + decoder on every pixel):", ""]
    out += ["| scene | cells | pixels | wall s | pixels/s | peak RSS MB | others' CPU |",
            "|---|---|---|---|---|---|---|"]  # fmt: skip
    out += [
        f"| {c['label']} | {c['cells']} | {c['pixels']} | {c['wall_s']:.1f} | "
        f"{c['pixels'] / c['seconds']:,.0f} | {c['peak_rss_mb']:.0f} | {c['foreign_cpu']:.0%} |"
        for c in res["curve"]
    ]
    out += [
        "",
        f"Throughput worker: peak RSS {tp['peak_rss_mb']:.0f} MB (batches up to "
        f"{max(max(b) for b in res['grid'].values())} px), others' CPU {tp['foreign_cpu']:.0%}.",
    ]
    out += ["", "### 4. Radiometry check: the reading of Zion's DNs (8 × 8 lattice)", ""]
    out += _radiometry(res["radiometry"])
    if k_rec:
        out += ["", f"**Smallest lattice below 1 % median error: `pixels_per_cell` = {k_rec**2} "
                f"({k_rec} × {k_rec}).**"]  # fmt: skip
    return "\n".join(out)


def _radiometry(rad: dict[str, Any]) -> list[str]:
    """Mean DW probabilities per reading and the embedding shift from the first reading."""
    names = [k for k in next(iter(rad.values()))["dw"]]
    out = [
        "| reading | cell embedding shift (median) | "
        + " | ".join(n.replace("_", " ") for n in names) + " |",
        "|---" * (len(names) + 2) + "|",
    ]  # fmt: skip
    for reading, r in rad.items():
        if isinstance(r, dict) and "dw" in r:
            dw = " | ".join(f"{r['dw'][n]:.1%}" for n in names)
            out.append(f"| {reading} | {r['shift']:.1%} | {dw} |")
    return out


def _projection(res: dict[str, Any], k_rec: int | None) -> list[str]:
    """Cells/s and the projected time of a full tile per lattice, against the 3 min target."""
    enc = res["throughput"]["encoder"]
    r32, how32 = _best(enc, "s2", "fp32")
    r16, how16 = _best(enc, "s2", "bf16")
    asm = res["throughput"]["assemble_rate"]
    out = [
        f"### Projection: a full Sentinel-2 tile ({TILE_CELLS} cells), 10-band inputs",
        "",
        f"Best encoder rates: fp32 {r32:,.0f} px/s ({how32}); bf16 {r16:,.0f} px/s ({how16}). "
        f"Encode s = {TILE_CELLS} k² / rate; assemble s = {TILE_CELLS} k² / {asm:,.0f}. Reading "
        "the tile is not included (see the notes). The chip CNN on the same tile "
        f"(`benchmarks/RESULTS.md`, run of {CNN['run']}): model-only {CNN['model_s']} s "
        f"({CNN['chips_s']} chips/s), `predict()` end to end {CNN['predict_s']} s, read-only "
        f"{CNN['read_s']} s (3 bands).",
        "",
        "| k × k | pixels | cells/s fp32 | cells/s bf16 | encode s fp32 | encode s bf16 | "
        "assemble s | fp32 + assemble ≤ 180 s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for k in res["lattices"]:
        px = TILE_CELLS * k * k
        total = px / r32 + px / asm
        mark = " **(< 1 %)**" if k == k_rec else ""
        out.append(
            f"| {k} × {k}{mark} | {px:,} | {r32 / k**2:,.0f} | {r16 / k**2:,.0f} | "
            f"{px / r32:.1f} | {px / r16:.1f} | {px / asm:.1f} | "
            f"{'yes' if total <= TARGET_S else '**no**'} ({total:.0f} s) |"
        )
    return out


def machine(opts: argparse.Namespace, res: dict[str, Any]) -> str:
    import torch

    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.machine(),
    )  # fmt: skip
    gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    libs = ", ".join(f"{m} {version(m)}" for m in ("torch", "numpy", "rasterio"))
    runs = [*res["curve"], *res["lattice"], res["throughput"]]
    return (
        f"Machine: {cpu}, {os.cpu_count()} cores ({torch.backends.cpu.get_cpu_capability()}), "
        f"{gb:.0f} GB RAM; no GPU. Python {platform.python_version()}, {libs}. Measured "
        f"{opts.started} UTC with `python benchmarks/bench_presto.py"
        f"{' --quick' if opts.quick else ''}`; load average before starting "
        f"{opts.load[0]:.2f}. "
        f"{'No worker waited' if opts.quick else 'Each worker waited'} for >= 90 % idle CPUs; "
        f"the most other processes "
        f"used during one was {max(r['foreign_cpu'] for r in runs):.0%} of the CPUs."
    )


def write_report(text: str) -> None:
    old = REPORT.read_text() if REPORT.exists() else ""
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
    else:
        head, tail = "# Presto pixel-encoder path: measurements\n\n", "\n"
    REPORT.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        _, _, name, args, out = sys.argv
        Path(out).write_text(json.dumps(WORKERS[name](json.loads(args))))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 cell rows, few configs; print only")
    ap.add_argument("--data", type=Path, default=DATA, help="the shared data folder (zion/)")
    ap.add_argument("--date", default=ZION_DATE, help="the Zion scene's acquisition date")
    ap.add_argument("--batch", type=int, default=4096, help="pixels per encoder call (lattice)")
    ap.add_argument("--no-write", action="store_true", help=f"print, don't write {REPORT.name}")
    ap.add_argument("--render", action="store_true", help="re-render the last full run's JSON")
    ap.add_argument("--min-pixels", type=int, default=8192, help="pixels per throughput pass")
    opts = ap.parse_args()
    if opts.quick:
        opts.sizes = [("cell rows 5-6, columns 0-2", 5, 2, 3), ("cell row 5, columns 0-2", 5, 1, 3)]
        opts.grid = {"zion": [256, 1024], "s2": [256, 1024]}
    else:
        opts.sizes = [
            ("whole scene", 0, 99, None),
            (f"top {SMALL_ROWS} cell rows", 0, SMALL_ROWS, None),
        ]
        opts.grid = {"zion": [1024, 4096], "s2": list(BATCHES)}
    saved = HERE / "_cache" / f"presto{'-quick' if opts.quick else ''}.json"
    if opts.render:
        data = json.loads(saved.read_text())
        res, meta = data["results"], data["meta"]
    else:
        opts.load = os.getloadavg()
        opts.started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M")
        with tempfile.TemporaryDirectory() as scratch:
            res = measure(opts, Path(scratch))
        meta = {"machine": machine(opts, res)}
        saved.parent.mkdir(exist_ok=True)
        saved.write_text(json.dumps({"results": res, "meta": meta}))
    text = render(res, meta)
    print(text)
    if not (opts.no_write or opts.quick):
        write_report(text)
        print(f"\nwritten to {REPORT}")


if __name__ == "__main__":
    main()
