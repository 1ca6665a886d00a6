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


def assert_clean_failure(code: int, output: str, out: Path, *needles: str) -> None:
    """Exit code 2, one ``lulcmap: error:`` line holding every needle, no traceback, and nothing
    left at ``out`` (absent, or an empty folder)."""
    assert code == 2, output
    lines = [ln for ln in output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("lulcmap: error:"), output
    assert "Traceback" not in output
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not out.exists() or (out.is_dir() and not any(out.iterdir())), out


__all__ = ["assert_clean_failure", "invoke"]
