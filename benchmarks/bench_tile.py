"""``lulcmap predict`` on a full Sentinel-2 tile, side by side with its parts and its peers.

    python benchmarks/bench_tile.py                 # CPU, full tile and quarter tile
    python benchmarks/bench_tile.py --device cuda   # on a GPU (adds bf16 vs fp32)

Builds the inputs once (``_inputs.py``: 3-band uint16 deflate COG, 10980 x 10980 px, with DEM and
climate), then measures, in one run and on the same model, batch size and device:

1. read-only -- every strip the engine reads, through ``Scene.read_strip`` (rioxarray/dask,
   GDAL decoding, validity, radiometry to uint8), nothing after it;
2. model-only -- forward passes over in-memory chip batches (as many chips as the tile has);
3. ``lulcmap.predict()`` in process (model load, scene open, ancillary, inference, dataset), and
   the ``lulcmap predict`` CLI in a subprocess (+ interpreter start, imports, writing outputs);
4. the naive baseline -- per chip, a windowed rasterio read and a forward pass of one chip;
5. xbatcher -- ``BatchGenerator`` over ``rioxarray.open_rasterio`` feeding a ``DataLoader``.

Each measurement runs in a fresh process (``_steps.py``) whose peak RSS comes from ``os.wait4``;
read, model, predict, the CLI and the naive baseline are repeated (median wall time, largest
peak RSS). Each run waits for idle CPUs and is run again when other processes used more than 3 %
of the CPUs meanwhile (a shared machine). The scene is read once beforehand, so every step reads
it from the page cache. The tables, ratios and machine are written to ``benchmarks/RESULTS.md``
between its ``<!-- generated -->`` markers; the notes around them are kept.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from _inputs import BAND_NAMES, CACHE, TILE, build_inputs

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
BEGIN, END = "<!-- generated: begin -->", "<!-- generated: end -->"
XBATCHER_VARIANTS: list[tuple[object, int]] = [
    (True, 0),  # dask chunks from the file's blocks (rioxarray's own choice)
    ({"band": -1, "y": 512, "x": 512}, 0),  # one chunk per 512 px block, all bands
    ({"band": -1, "y": 224, "x": 224}, 0),  # one chunk per patch
]


# -- running steps ---------------------------------------------------------------------------------
FOREIGN_MAX = 0.03
"""A run is repeated when other processes used more than this share of the CPUs during it."""
ATTEMPTS = 6


def _busy_seconds() -> float:
    """CPU seconds all processes have been busy (not idle, not waiting for I/O) since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def _cpu_idle(seconds: float = 1.0) -> float:
    busy, start = _busy_seconds(), time.perf_counter()
    time.sleep(seconds)
    used = _busy_seconds() - busy
    return 1 - used / ((time.perf_counter() - start) * (os.cpu_count() or 1))


def wait_quiet(threshold: float = 0.95, timeout: float = 600) -> float:
    """Wait (up to ``timeout`` s) until the CPUs were >= ``threshold`` idle for a second."""
    start = time.monotonic()
    while (idle := _cpu_idle()) < threshold and time.monotonic() - start < timeout:
        pass
    return idle


def run_child(cmd: list[str], exit_code: int = 0) -> dict[str, Any]:
    """Run ``cmd`` once: its stdout, wall time, peak RSS (``os.wait4`` on it alone) and the share
    of the CPUs other processes used meanwhile; it must exit with ``exit_code``."""
    with tempfile.TemporaryFile("w+") as err:
        busy, start = _busy_seconds(), time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        others = _busy_seconds() - busy - usage.ru_utime - usage.ru_stime
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        proc.stdout.close()
        if proc.returncode != exit_code:
            err.seek(0)
            raise RuntimeError(f"{' '.join(cmd[:5])} failed:\n{err.read()[-3000:]}")
    return {
        "stdout": out,
        "process_wall_s": wall,
        "process_cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "foreign_cpu": max(0.0, others) / (wall * (os.cpu_count() or 1)),
    }


def quiet_run(cmd: list[str], exit_code: int = 0) -> dict[str, Any]:
    """``run_child`` after waiting for idle CPUs, repeated while other processes interfered."""
    for attempt in range(1, ATTEMPTS + 1):
        wait_quiet()
        run = run_child(cmd, exit_code)
        run["attempts"] = attempt
        if run["foreign_cpu"] <= FOREIGN_MAX:
            break
    return run


def step(name: str, args: dict[str, Any]) -> dict[str, Any]:
    run = quiet_run([sys.executable, str(HERE / "_steps.py"), name, json.dumps(args)])
    result: dict[str, Any] = json.loads(run.pop("stdout").strip().splitlines()[-1])
    return {**result, **run}


def cli(paths: dict[str, Path], out: Path, args: dict[str, Any]) -> dict[str, Any]:
    cmd = [
        sys.executable, "-m", "lulcmap.cli.main", "predict", str(paths["scene"]),
        "--dem", str(paths["dem"]), "--climate", str(paths["climate"]), "--out", str(out),
        "--rgb-bands", ",".join(BAND_NAMES), "--batch-size", str(args["batch_size"]),
        "--device", args["device"], "--overwrite", "--quiet",
    ]  # fmt: skip
    run = quiet_run(cmd)
    run.pop("stdout")
    record = json.loads((out / "scene.run.json").read_text())
    return {
        **run, "wall_s": run["process_wall_s"], "cpu_s": run["process_cpu_s"], "run_record": record
    }  # fmt: skip


def _warm_page_cache(path: Path) -> None:
    with path.open("rb") as f:
        while f.read(1 << 24):
            pass


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median wall time, with the largest peak RSS of all runs."""
    ordered = sorted(runs, key=lambda r: r["wall_s"])
    mid = dict(ordered[(len(ordered) - 1) // 2])
    mid.update(
        peak_rss_mb=max(r["peak_rss_mb"] for r in runs),
        walls=[round(r["wall_s"], 2) for r in runs],
        foreign_cpu=max(r["foreign_cpu"] for r in runs),
        attempts=1 + sum(r["attempts"] - 1 for r in runs),  # 1 + runs repeated
    )
    return mid


def measure(size: int, opts: argparse.Namespace) -> dict[str, Any]:
    paths = build_inputs(size)
    _warm_page_cache(paths["scene"])
    args: dict[str, Any] = {
        "size": size,
        "device": opts.device,
        "model": opts.model,
        "stride": 224,
        "batch_size": opts.batch_size,
        "naive_chips": opts.naive_chips,
        "xbatcher_chips": opts.xbatcher_chips,
        "scratch": str(CACHE),
    }
    rows, cols = -(-size // 224), -(-size // 224)
    args["model_chips"] = rows * cols
    runs: dict[str, list[dict[str, Any]]] = {
        "read": [], "model": [], "predict": [], "predict_bf16": [], "cli": [], "naive": []
    }  # fmt: skip
    for i in range(opts.repeat):
        print(f"  {size}: repetition {i + 1}/{opts.repeat}", flush=True)
        # predict first: the bf16 run and the naive baseline compare their fractions with it
        for name in ("read", "model", "predict", "predict_bf16", "naive"):
            runs[name].append(step(name, args))
        runs["cli"].append(cli(paths, CACHE / f"out{size}", args))
    res: dict[str, Any] = {name: _median(r) for name, r in runs.items()}
    variants = []
    for chunks, workers in XBATCHER_VARIANTS:
        print(f"  {size}: xbatcher {chunks}, {workers} workers", flush=True)
        variants.append(step("xbatcher", {**args, "xbatcher_chunks": chunks,
                                          "xbatcher_workers": workers}))  # fmt: skip
    res["xbatcher"] = min(variants, key=lambda r: r["wall_s"])
    res["xbatcher_variants"] = variants
    if opts.device.startswith("cuda"):
        res["bf16"] = step("bf16", args)
    res["km2"] = size * size * 100 / 1e6
    return res


# -- report ----------------------------------------------------------------------------------------
def _machine(device: str, load: tuple[float, ...], quiet: tuple[float, int], date: str) -> str:
    import torch

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.machine(),
    )
    gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    gpu = torch.cuda.get_device_name() if device.startswith("cuda") else "none used"
    libs = ", ".join(
        f"{m} {version(m)}"
        for m in ("torch", "rasterio", "numpy", "xarray", "dask", "rioxarray", "xbatcher")
    )
    import rasterio

    return (
        f"Machine: {cpu}, {os.cpu_count()} cores, {gb:.0f} GB RAM; GPU: {gpu}. "
        f"Python {platform.python_version()}, {libs}, GDAL {rasterio.__gdal_version__}. "
        f"Measured {date}; load average before starting {load[0]:.2f} / {load[1]:.2f} / "
        f"{load[2]:.2f} (1 / 5 / 15 min). Each "
        f"run waited for >= 95 % idle CPUs and was repeated (up to {ATTEMPTS} times) when other "
        f"processes used > {FOREIGN_MAX:.0%} of the CPUs during it: {quiet[1]} run(s) were "
        f"repeated; the most other processes used during a kept run was {quiet[0]:.1%}."
    )


def _row(name: str, r: dict[str, Any], cells: int, km2: float, note: str = "") -> str:
    wall = r["wall_s"]
    cpu = f"{r['cpu_s']:.2f}" if "cpu_s" in r else "–"
    peak = f"{r['peak_rss_mb']:.0f}"
    if "gpu_peak_allocated_mb" in r:  # GPU runs: torch's peak allocation beside the RSS
        peak += f" (GPU {r['gpu_peak_allocated_mb']:.0f})"
    return (
        f"| {name} | {wall:.2f} | {cpu} | {r.get('chips', cells) / wall:.0f} | "
        f"{km2 / wall:.0f} | {peak} | {note} |"
    )


def _table(size: int, res: dict[str, Any]) -> str:
    cells, km2 = res["predict"]["chips"], res["km2"]
    p = res["predict"]
    t = p["timings"]
    c = res["cli"]
    m = res["model"]
    nv, xb = res["naive"], res["xbatcher"]
    lines = [
        f"### {size} x {size} px ({km2:.0f} km², {cells} chips)",
        "",
        "| step | wall s | CPU s | chips/s | km²/s | peak RSS MB (GPU MB) | notes |",
        "|---|---|---|---|---|---|---|",
        _row("1. read-only", res["read"], cells, km2, f"runs {res['read']['walls']}"),
        _row(
            "2. model-only",
            m,
            cells,
            km2,
            f"{m['concurrent']} concurrent: {m['concurrent_wall_s']:.2f} s; one call at a time "
            f"({m['sequential_threads']} threads): {m['sequential_wall_s']:.2f} s; "
            f"runs {m['walls']}"
            if "concurrent" in m
            else f"runs {m['walls']}",
        ),
        _row(
            "3. `predict()` end to end",
            p,
            cells,
            km2,
            f"ancillary {t['ancillary_s']:.2f} s, inference {t['inference_s']:.2f} s, "
            f"setup {t['setup_s']:.2f} s; runs {p['walls']}",
        ),
        _row(
            "3b. `lulcmap predict` CLI",
            c,
            cells,
            km2,
            f"fresh process: + start, imports, writing all outputs; runs {c['walls']}",
        ),
        _row(
            "3c. `predict(bf16=True)` (opt-in `--bf16`)",
            res["predict_bf16"],
            cells,
            km2,
            f"bfloat16 autocast; max |fraction difference| from float32 on every cell "
            f"{res['predict_bf16']['max_abs_diff_vs_fp32']:.1e}; inference "
            f"{res['predict_bf16']['timings']['inference_s']:.2f} s; "
            f"runs {res['predict_bf16']['walls']}",
        ),
        _row(
            "4. naive per-chip",
            nv,
            cells,
            km2,
            f"extrapolated from {nv['subset']}; runs {nv['walls']}",
        ),
        _row(
            "5. xbatcher + DataLoader",
            xb,
            xb["chips"],
            km2,
            f"{xb['variant']}; extrapolated from {xb['subset']}",
        ),
    ]
    others = [
        f"{v['variant']}: {v['wall_s']:.1f} s"
        for v in res["xbatcher_variants"]
        if v["variant"] != xb["variant"]
    ]
    lines += ["", f"Other xbatcher variants: {'; '.join(others)}."]
    diffs = [
        f"{k} {res[k]['max_abs_diff_vs_predict']:.1e}"
        for k in ("naive", "xbatcher")
        if res[k].get("max_abs_diff_vs_predict") is not None
    ]
    if diffs:
        lines.append(
            f"Same answers: max |fraction difference| against `predict` on the timed chips: "
            f"{', '.join(diffs)}."
        )
    if "bf16" in res:
        b = res["bf16"]
        lines.append(
            f"bf16 autocast vs fp32: max |fraction difference| "
            f"{b['max_abs_diff_bf16_vs_fp32']:.4f}; GPU utilisation during predict: "
            f"{p.get('gpu_util_mean')}."
        )
    return "\n".join(lines)


def _per_repetition(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def _floor(res: dict[str, Any], cores: int) -> float:
    """The shortest time any engine could take to read and run the model: the CPU seconds that
    read-only and model-only spent, spread perfectly over all cores (nothing else counted)."""
    return (res["read"]["cpu_s"] + res["model"]["cpu_s"]) / cores


def _bound(res: dict[str, Any], cores: int) -> str:
    """What the CPU time of this run's steps says about the naive target."""
    r, m, p = res["read"]["cpu_s"], res["model"]["cpu_s"], res["predict"]
    floor = _floor(res, cores)
    return (
        f"**Bound, from this run's CPU times.** Read-only used {r:.2f} CPU s and model-only "
        f"{m:.2f} CPU s (float32). On {cores} cores, an engine that does this reading and runs "
        f"these forward passes cannot take less than ({r:.2f} + {m:.2f}) / {cores} = "
        f"**{floor:.2f} s**, even with both perfectly overlapped and no ancillary step. The naive "
        f"baseline's {res['naive']['wall_s']:.2f} s is then at most "
        f"**{res['naive']['wall_s'] / floor:.2f}×** that floor. `predict()` took "
        f"{p['wall_s']:.2f} s with {p['cpu_s']:.2f} CPU s, which kept the cores "
        f"{p['cpu_s'] / (p['wall_s'] * cores):.0%} busy. That is "
        f"{p['wall_s'] / floor:.2f}× the floor, ancillary step included."
    )


def _gpu_rows(full: dict[str, Any]) -> list[tuple[str, float, str, bool | None, str]]:
    """The GPU targets: end to end against read-only, bf16 against fp32, utilisation."""
    p, w = full["predict"], {k: full[k]["walls"] for k in ("read", "predict")}
    e2e_read = p["wall_s"] / full["read"]["wall_s"]
    diff = max(
        full["bf16"]["max_abs_diff_bf16_vs_fp32"], full["predict_bf16"]["max_abs_diff_vs_fp32"]
    )
    util = p.get("gpu_util_mean")
    return [
        ("GPU: end to end / read-only", e2e_read, "≤ 1.25", e2e_read <= 1.25,
         _per_repetition([a / b for a, b in zip(w["predict"], w["read"], strict=True)])),
        ("GPU: max |fraction difference|, bf16 autocast vs fp32", diff, "≤ 0.01", diff <= 0.01,
         f"{diff:.1e} (chips of 8 rows; every cell in `predict`)"),
        ("GPU: utilisation during `predict()`, mean %", float("nan") if util is None else util,
         "reported", None, p.get("gpu_util_error") or f"{p.get('gpu_util_samples')} samples"),
        ("GPU: end to end with `--bf16` / read-only",
         full["predict_bf16"]["wall_s"] / full["read"]["wall_s"], "–", None, ""),
        ("GPU: peak memory allocated by torch in `predict()`, GB",
         p.get("gpu_peak_allocated_mb", float("nan")) / 1024, "–", None,
         f"reserved {p.get('gpu_peak_reserved_mb', float('nan')) / 1024:.2f} GB"),
    ]  # fmt: skip


def _ratios(
    full: dict[str, Any], quarter: dict[str, Any] | None, cores: int, device: str = "cpu"
) -> str:
    """Ratios of the medians, and the median (range) of the ratios within each repetition (the
    steps of a repetition run back to back, so slow drifts of the machine cancel out). The CPU
    targets are for 2 cores; on a GPU its own targets come first."""
    e2e = full["predict"]["wall_s"]
    parts = full["read"]["wall_s"] + full["model"]["wall_s"]
    floor = _floor(full, cores)
    rss = full["predict"]["peak_rss_mb"]
    naive, xb = full["naive"]["wall_s"] / e2e, full["xbatcher"]["wall_s"] / e2e
    w = {k: full[k]["walls"] for k in ("read", "model", "predict", "naive")}
    reps = range(len(w["predict"]))
    rows = [
        ("end to end / (read-only + model-only)", e2e / parts, "≤ 1.10", e2e / parts <= 1.10,
         _per_repetition([w["predict"][i] / (w["read"][i] + w["model"][i]) for i in reps])),
        ("naive / end to end", naive, "≥ 3", naive >= 3,
         _per_repetition([w["naive"][i] / w["predict"][i] for i in reps])),
        ("xbatcher / end to end", xb, "≥ 1.5", xb >= 1.5, ""),
        ("naive / end to end with `--bf16` (opt-in; not the target's route)",
         full["naive"]["wall_s"] / full["predict_bf16"]["wall_s"], "–", None,
         _per_repetition([w["naive"][i] / full["predict_bf16"]["walls"][i] for i in reps])),
        ("naive / floor (the most any engine could reach; see below)",
         full["naive"]["wall_s"] / floor, "≥ 3", None, ""),
        ("peak RSS, full tile (`predict()`), GB", rss / 1024, "≤ 2", rss <= 2048, ""),
    ]  # fmt: skip
    if device.startswith("cuda"):
        rows = _gpu_rows(full) + rows
    if quarter is not None:
        mem = rss / quarter["predict"]["peak_rss_mb"]
        cli_mem = full["cli"]["peak_rss_mb"] / quarter["cli"]["peak_rss_mb"]
        grow = e2e / quarter["predict"]["wall_s"]
        rows += [
            ("peak RSS full / quarter (`predict()`)", mem, "≤ 1.2", mem <= 1.2, ""),
            ("peak RSS full / quarter (CLI)", cli_mem, "≤ 1.2", cli_mem <= 1.2, ""),
            ("time full / quarter (`predict()`)", grow, "4 ± 0.6", abs(grow - 4) <= 0.6, ""),
        ]
    out = [
        "| ratio | of the medians | per repetition: median (range) | target | met |",
        "|---|---|---|---|---|",
    ]
    out += [
        f"| {n} | {v:.2f} | {r} | {t} | {'–' if ok is None else 'yes' if ok else '**no**'} |"
        for n, v, t, ok, r in rows
    ]
    return "\n".join(out)


def write_results(text: str) -> None:
    old = RESULTS.read_text() if RESULTS.exists() else ""
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
    else:
        head, tail = "# Benchmark results\n\n", "\n"
    RESULTS.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")


def render(results: dict[int, dict[str, Any]], meta: dict[str, Any]) -> str:
    runs = [
        r
        for res in results.values()
        for k in ("read", "model", "predict", "cli", "naive", "xbatcher")
        for r in [res[k]]
    ]
    quiet = (max(r["foreign_cpu"] for r in runs), sum(r["attempts"] - 1 for r in runs))
    full, quarter = results[TILE], results.get(TILE // 2)
    cores = meta.get("cores", os.cpu_count() or 1)
    return "\n\n".join(
        [_machine(meta["device"], tuple(meta["load"]), quiet, meta["date"])]
        + [_table(size, res) for size, res in results.items()]
        + [
            "### Ratios (full tile; targets from the performance issue)",
            _ratios(full, quarter, cores, meta["device"]),
        ]
        + ([] if meta["device"].startswith("cuda") else [_bound(full, cores)])
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", default="demo-synthetic")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--naive-chips", type=int, default=500)
    ap.add_argument("--xbatcher-chips", type=int, default=490)
    ap.add_argument("--skip-quarter", action="store_true")
    ap.add_argument("--no-write", action="store_true", help="print, don't write RESULTS.md")
    ap.add_argument(
        "--render", action="store_true", help="re-render the last run (_cache/results.json)"
    )
    opts = ap.parse_args()
    saved = CACHE / "results.json"
    if opts.render:
        data = json.loads(saved.read_text())
        meta, results = data["meta"], {int(k): v for k, v in data["results"].items()}
    else:
        load = os.getloadavg()
        print(f"load average {load[0]:.2f}; building inputs (cached in {CACHE})", flush=True)
        sizes = [TILE] + ([] if opts.skip_quarter else [TILE // 2])
        results = {size: measure(size, opts) for size in sizes}
        meta = {
            "device": opts.device,
            "load": load,
            "date": datetime.date.today().isoformat(),
            "cores": len(os.sched_getaffinity(0)),
        }
        saved.write_text(json.dumps({"meta": meta, "results": results}))
    text = render(results, meta)
    print(text)
    if not opts.no_write:
        write_results(text)
        print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
