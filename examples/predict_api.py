"""Map a scene with the Python API, then look at the result as an xarray.Dataset.

    python examples/predict_api.py            # runs on the embedded demo inputs
    python examples/predict_api.py SCENE DEM CLIMATE_DIR OUT_DIR

Without arguments it first writes the demo's synthetic inputs (`lulcmap demo` does the same).
"""

from __future__ import annotations

import sys
from pathlib import Path

import lulcmap
from lulcmap.commands import COMMANDS
from lulcmap.config import TruthConfig, WorldConfig


def main(argv: list[str]) -> None:
    if len(argv) == 4:
        scene, dem, climate, out = map(Path, argv)
    else:
        out = Path("example-out")
        inputs = out / "inputs"
        if not inputs.exists():  # the demo's world (pipelines/demo.yaml), smaller
            world = WorldConfig(
                seed=42,
                size=1344,
                origin="default",
                reference=False,
                truth=TruthConfig(),
                out=inputs,
            )
            COMMANDS["world"].run(world, None)
        scene, dem, climate = inputs / "scene.tif", inputs / "dem.tif", inputs / "climate"

    ds = lulcmap.predict(scene, dem=dem, climate=climate, stride=112, device="auto")
    print(ds)
    n1 = ds["N1"].mean(dim=("y", "x"))  # mean abundance over the area, per N1 class
    for name, value in zip(ds["class_n1"].values, n1.values, strict=True):
        print(f"{name:32s} {100 * value:5.1f} %")
    paths = lulcmap.write_outputs(
        ds,
        out,
        "example",
        legend=lulcmap.load_legend(),
        run_record={"example": "examples/predict_api.py"},
        overwrite=True,
    )
    print("wrote", *paths.values(), sep="\n  ")


if __name__ == "__main__":
    main(sys.argv[1:])
