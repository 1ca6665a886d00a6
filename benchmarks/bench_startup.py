"""Start-up and exit of the ``lulcmap`` command, side by side with the floors under them.

    python benchmarks/bench_startup.py [--repeat 7]

Every case is a fresh ``python`` process, run after waiting for idle CPUs (``bench_tile.py``'s
``quiet_run``), the cases interleaved, ``--repeat`` times each; it prints a Markdown table of
medians (wall, CPU) for:

* the floors: an interpreter that imports nothing, and one that imports torch (what any command
  that runs a model pays);
* ``lulcmap --help``, an option error (``--stride 0``) and a missing scene, both found before any
  heavy import, and a scene that is no raster (found when it is opened, after the imports);
* the modules ``lulcmap predict`` imports (``lulcmap.commands.predict``), imported as they are by
  a plain ``import`` and inside ``lulcmap.process.importing()`` (collector paused by threshold, then
  ``gc.freeze()``), with the import time each child measures and the rest of its wall time
  (interpreter start and exit).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench_tile import quiet_run

PY = sys.executable
CLI = [PY, "-m", "lulcmap.cli.main"]
_TIMED = "import time\nstart = time.perf_counter()\n{body}\nprint(time.perf_counter() - start)\n"
PLAIN = "import lulcmap.cli.main, lulcmap.commands.predict"
PAUSED = (
    "import lulcmap.cli.main\n"
    "from lulcmap.process import importing\n"
    "with importing():\n"
    "    import lulcmap.commands.predict"
)
OPTION_ERROR = ["predict", "s.tif", "-o", "o", "--stride", "0"]
MISSING_SCENE = ["predict", "missing.tif", "-o", "o"]
NOT_A_RASTER = Path(tempfile.gettempdir()) / "lulcmap-bench-not-a-raster.tif"
NOT_A_RASTER_SCENE = ["predict", str(NOT_A_RASTER), "-o", "o"]
CASES: list[tuple[str, list[str], int]] = [
    ("python, nothing imported", [PY, "-c", "pass"], 0),
    ("python, `import torch` (floor of a model command)", [PY, "-c", "import torch"], 0),
    ("`lulcmap --help`", [*CLI, "--help"], 0),
    ("`lulcmap predict` option error (`--stride 0`)", [*CLI, *OPTION_ERROR], 2),
    ("`lulcmap predict` missing scene", [*CLI, *MISSING_SCENE], 2),
    ("`lulcmap predict` scene not a raster (after the imports)", [*CLI, *NOT_A_RASTER_SCENE], 2),
    ("predict's imports, plain `import`", [PY, "-c", _TIMED.format(body=PLAIN)], 0),
    ("predict's imports in `importing()`", [PY, "-c", _TIMED.format(body=PAUSED)], 0),
]
TIMED = CASES[-2:]
"""The cases whose child prints its import time."""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=7)
    opts = ap.parse_args()
    NOT_A_RASTER.write_text("not a raster")
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in CASES}
    for _ in range(opts.repeat):
        for name, cmd, code in CASES:
            runs[name].append(quiet_run(cmd, exit_code=code))
    print(f"Fresh processes, medians of {opts.repeat}, interleaved\n")
    print("| case | wall s | CPU s | imports s | start + exit s |")
    print("|---|---|---|---|---|")
    med: dict[str, float] = {}
    for name, rs in runs.items():
        wall = statistics.median(r["process_wall_s"] for r in rs)
        cpu = statistics.median(r["process_cpu_s"] for r in rs)
        imports = rest = ""
        if name in (n for n, _, _ in TIMED):
            timed = [float(r["stdout"]) for r in rs]
            imports = f"{statistics.median(timed):.2f}"
            rest_s = [r["process_wall_s"] - t for r, t in zip(rs, timed, strict=True)]
            rest = f"{statistics.median(rest_s):.2f}"
        med[name] = wall
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {imports} | {rest} |")
    plain, paused = (med[name] for name, _, _ in TIMED)
    print(f"\nplain / importing(): {plain / paused:.2f}x ({plain - paused:.2f} s per process)")


if __name__ == "__main__":
    main()
