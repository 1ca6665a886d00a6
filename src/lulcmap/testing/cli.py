"""Running the ``lulcmap`` command in tests, and what a clean failure looks like."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

_runner = CliRunner()


def invoke(*args: object) -> tuple[int, str]:
    """``lulcmap ARGS...`` in process: ``(exit code, stdout + stderr)``."""
    from lulcmap.cli.main import app

    result = _runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def predict_args(world: dict[str, Path], out: Path, *extra: object) -> list[object]:
    """``predict`` of a test world (scene, DEM, climate) with ``demo-synthetic`` into ``out``,
    quietly, then ``extra``: the arguments for :func:`invoke`."""
    scene, dem, climate = world["scene"], world["dem"], world["climate"]
    base = ["predict", scene, "--dem", dem, "--climate", climate, "--out", out, "--quiet"]
    return [*base, "--model", "demo-synthetic", *extra]


def _expect(condition: bool, message: object) -> None:
    """A test check that ``python -O`` keeps (an ``assert`` statement would be stripped)."""
    if not condition:
        raise AssertionError(message)


def assert_clean_failure(code: int, output: str, out: Path, *needles: str) -> None:
    """Exit code 2, one ``lulcmap: error:`` line holding every needle, no traceback, and nothing
    left at ``out`` (absent, or an empty folder); raises AssertionError otherwise."""
    _expect(code == 2, output)
    lines = [ln for ln in output.strip().splitlines() if ln.strip()]
    _expect(len(lines) == 1 and lines[0].startswith("lulcmap: error:"), output)
    _expect("Traceback" not in output, output)
    for needle in needles:
        _expect(needle in lines[0], f"{needle!r} not in: {lines[0]}")
    _expect(not out.exists() or (out.is_dir() and not any(out.iterdir())), f"{out} not empty")


__all__ = ["assert_clean_failure", "invoke"]
