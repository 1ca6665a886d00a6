"""Reading a tile with the GDAL block cache sized to its layout, side by side with a fixed one.

    python benchmarks/bench_cache.py [--repeat 5]

``Scene.read_strip`` reads with a block cache that holds every block one strip touches
(``lulcmap.io.env.strip_cache_bytes``); before, every scene was read with a fixed 128 MB. This
times the read-only step (``bench_tile.py``'s step 1, each run a fresh process, after waiting
for idle CPUs) on the benchmark tile in two layouts -- the 512 px block COG of ``bench_tile.py``
and the same pixels as a GeoTIFF with 2048 px blocks (151 MB of decoded blocks per row of
blocks) -- each with its sized cache and with the fixed 128 MB, interleaved, and prints a
Markdown table of medians (wall, CPU, peak RSS) and the ratios fixed / sized.
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

from _inputs import TILE, build_inputs, build_relaid
from bench_tile import _warm_page_cache, step

FIXED_MB = 128
"""The cache every scene was read with before it was sized."""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--size", type=int, default=TILE)
    opts = ap.parse_args()
    layouts = {"COG, 512 px blocks": build_inputs(opts.size)["scene"]}
    layouts["GeoTIFF, 2048 px blocks"] = build_relaid(opts.size, 2048)
    base: dict[str, Any] = {"size": opts.size, "model": "demo-synthetic", "stride": 224}
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for path in layouts.values():
        _warm_page_cache(path)
    for _ in range(opts.repeat):
        for layout, path in layouts.items():
            for cache, mb in (("sized", None), (f"fixed {FIXED_MB} MB", FIXED_MB)):
                args = {**base, "scene": str(path), "cache_mb": mb}
                runs.setdefault((layout, cache), []).append(step("read", args))
    print(f"{opts.size} x {opts.size} px, read-only, medians of {opts.repeat}\n")
    print("| layout | cache | cache MB | wall s | CPU s | peak RSS MB |")
    print("|---|---|---|---|---|---|")
    med: dict[tuple[str, str], dict[str, float]] = {}
    for (layout, cache), rs in runs.items():
        m = {k: statistics.median(r[k] for r in rs) for k in ("wall_s", "cpu_s", "cache_mb")}
        m["rss"] = max(r["vm_hwm_mb"] for r in rs)  # the child's own (VmHWM)
        med[layout, cache] = m
        print(
            f"| {layout} | {cache} | {m['cache_mb']:.0f} | {m['wall_s']:.2f} | "
            f"{m['cpu_s']:.2f} | {m['rss']:.0f} |"
        )
    print()
    for layout in layouts:
        sized, fixed = med[layout, "sized"], med[layout, f"fixed {FIXED_MB} MB"]
        print(
            f"- {layout}: fixed / sized wall {fixed['wall_s'] / sized['wall_s']:.2f}x, "
            f"peak RSS {fixed['rss'] - sized['rss']:+.0f} MB with the fixed cache"
        )


if __name__ == "__main__":
    main()
