"""Settings of the processes lulcmap owns: the collector around heavy imports, lazy imports."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lulcmap.process import available_cores, importing


def _run(code: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_importing_pauses_collection_then_freezes_and_restores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "lulcmap_test_heavy.py").write_text("MADE = [[i] for i in range(5000)]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = gc.get_threshold()
    collections: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    try:
        with importing():
            # paused by threshold, not gc.disable(): a library saving gc.isenabled() now sees True
            assert gc.isenabled()
            assert gc.get_threshold()[0] == 0
            gc.callbacks.append(seen)
            import lulcmap_test_heavy

            gc.callbacks.remove(seen)
        assert collections == []  # 5000 new containers and not one collection
        assert gc.get_threshold() == before
        assert gc.get_freeze_count() >= len(lulcmap_test_heavy.MADE)
        made = lulcmap_test_heavy.MADE[0]
        assert not any(obj is made for obj in gc.get_objects())  # frozen: never walked again
    finally:
        gc.unfreeze()
        sys.modules.pop("lulcmap_test_heavy", None)


def test_importing_freezes_nothing_when_nothing_new_is_imported() -> None:
    gc.unfreeze()
    with importing():
        import json  # noqa: F401  (already imported)

        made = [[i] for i in range(100)]
    assert gc.get_freeze_count() == 0
    assert any(obj is made[0] for obj in gc.get_objects())


def test_importing_restores_thresholds_when_the_block_fails() -> None:
    before = gc.get_threshold()
    try:
        with pytest.raises(ImportError), importing():
            import lulcmap_no_such_module  # type: ignore[import-not-found]  # noqa: F401
        assert gc.get_threshold() == before
    finally:
        gc.unfreeze()


def test_import_lulcmap_is_light_and_its_names_resolve(tmp_path: Path) -> None:
    code = (
        "import sys, lulcmap\n"
        "light = 'torch' not in sys.modules and 'rasterio' not in sys.modules\n"
        "print(light, lulcmap.predict.__module__, 'write_outputs' in dir(lulcmap))"
    )
    assert _run(code, tmp_path) == "True lulcmap.commands.predict True"


def test_help_and_option_errors_come_before_the_heavy_imports(tmp_path: Path) -> None:
    """--help and an option error: no torch, GDAL or dask imported, exit codes 0 and 2."""
    code = (
        "import sys\n"
        "from lulcmap.cli.main import app\n"
        "for args in (['predict', '--help'], ['predict', 's.tif', '-o', 'o', '--stride', '0']):\n"
        "    try:\n"
        "        app(args)\n"
        "    except SystemExit as exit:\n"
        "        print(exit.code, end=' ')\n"
        "print(*(m in sys.modules for m in ('torch', 'rasterio', 'dask')))"
    )
    assert _run(code, tmp_path).splitlines()[-1].endswith("0 2 False False False")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.tif"], "scene missing.tif does not exist"),
        (["s.tif", "--dem", "nodem.tif"], "DEM nodem.tif does not exist"),
        (["s.tif", "--climate", "noclim"], "climate folder noclim does not exist"),
        (["s.tif", "--climate-var", "tmean=no.tif"], "climate grid temp_ave no.tif does not exist"),
        (["s.tif", "--mask", "scl.tif"], "mask scl.tif does not exist"),
    ],
)
def test_missing_inputs_are_reported_before_the_heavy_imports(
    tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "s.tif").write_text("")  # exists: the other path is the missing one
    code = (
        "import sys\n"
        "from lulcmap.cli.main import app\n"
        "try:\n"
        f"    app(['predict', *{args!r}, '-o', 'o'])\n"
        "except SystemExit as exit:\n"
        "    print(exit.code, 'torch' in sys.modules, 'rasterio' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["2", "False", "False"]
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_available_cores_follow_the_affinity_mask_or_the_cpu_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if hasattr(os, "sched_getaffinity"):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5})
        assert available_cores() == 3
        monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.setattr(os, "cpu_count", lambda: 7)
    assert available_cores() == 7
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # unknown: one
    assert available_cores() == 1
