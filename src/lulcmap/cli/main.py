"""The ``lulcmap`` command: one typer app, one module per command group.

The command modules import their heavy modules (torch, GDAL, dask, ...) inside the command
(:func:`lulcmap.process.importing`), so ``--help`` and a command's option errors come at once.
"""

from __future__ import annotations

import typer

from lulcmap.cli import chips, demo, evaluate, models, predict, prepare, run, train
from lulcmap.process import tune_malloc
from lulcmap.version import __version__

app = typer.Typer(
    name="lulcmap",
    help="Land-use/land-cover abundance maps (N1/N2) from Sentinel-2 scenes, a DEM and climate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("predict")(predict.predict)
app.command("run")(run.run)
app.command("chips")(chips.chips)
app.command("ancillary")(chips.ancillary)
app.command("demo")(demo.demo)
app.command("models")(models.models)
app.command("prepare")(prepare.prepare)
app.command("train")(train.train)
app.command("evaluate")(evaluate.evaluate)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lulcmap {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Land-use/land-cover abundance maps (N1/N2) from Sentinel-2 scenes."""
    tune_malloc()  # before any worker thread exists


if __name__ == "__main__":
    app()
