"""What every command shares: options built from the config fields, one-line errors with exit
code 2, logging, a progress bar."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from lulcmap.errors import ConfigError, LulcmapError

# Options of the command line itself, declared once (``quiet: Quiet = False``).
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log each step.")]


def flag(name: str) -> str:
    """The command-line spelling of config field ``name``: ``min_valid_fraction`` ->
    ``--min-valid-fraction``."""
    return "--" + name.replace("_", "-")


def _cli_text(value: object) -> str:
    if isinstance(value, tuple | list):
        return ",".join(_cli_text(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def option(config: type[BaseModel], name: str, *aliases: str, **kwargs: Any) -> Any:
    """A typer option for field ``name`` of ``config``: ``--name`` (then ``aliases``), with the
    field's default and description, so that both are declared once, in the config. A field
    whose default is a tuple (``--block-size``, ``--widths``) is typed as text here: the option's
    default is None (the config's applies) and its help shows the config's default; an empty
    tuple or mapping is a repeatable option's empty list."""
    field = config.model_fields[name]
    default = ... if field.is_required() else field.get_default(call_default_factory=True)
    text = field.description or ""
    if isinstance(default, tuple | list | dict):
        if default:
            kwargs.setdefault("show_default", _cli_text(default))
            default = None
        else:
            default, text = [], f"{text} (repeatable)".strip()
    return typer.Option(default, flag(name), *aliases, help=text, **kwargs)


def argument(config: type[BaseModel], name: str, **kwargs: Any) -> Any:
    """A typer argument for field ``name`` of ``config``, with its default and description."""
    field = config.model_fields[name]
    default = ... if field.is_required() else field.get_default(call_default_factory=True)
    return typer.Argument(default, help=field.description, show_default=False, **kwargs)


def config_data(
    config: type[BaseModel], params: dict[str, Any], **converted: object
) -> dict[str, Any]:
    """The keys of ``config`` among a command's ``params`` (its ``locals()``) and ``converted``
    values (options parsed from text) that were given: None leaves the config's default."""
    data = {k: v for k, v in params.items() if k in config.model_fields and v is not None}
    data.update({k: v for k, v in converted.items() if v is not None})
    return data


P = ParamSpec("P")
R = TypeVar("R")
err_console = Console(stderr=True)


def name_values(items: list[str], option: str, example: str) -> dict[str, str]:
    """Repeatable ``NAME=VALUE`` options as a mapping; ``example`` shows the form in errors."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"{option} expects NAME=VALUE, e.g. {example}, got {item!r}")
        out[name.strip()] = value.strip()
    return out


def user_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a :class:`LulcmapError` into one line on stderr and exit code 2, no traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except LulcmapError as exc:
            msg = str(exc).replace("\n", " ")
            print(f"lulcmap: error: {msg}", file=sys.stderr)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            print("lulcmap: interrupted; no partial output was kept", file=sys.stderr)
            raise typer.Exit(130) from None

    return wrapper


BOA_OFFSET = -0.1  # -1000 DN / 10000: the L2A offset of processing baseline >= 04.00


def reflectance_offset(boa_offset: bool, offset: float | None) -> float | None:
    """The offset that ``--boa-offset`` / ``--offset`` ask for (they exclude each other)."""
    if boa_offset and offset is not None:
        raise ConfigError("give either --boa-offset or --offset, not both")
    return BOA_OFFSET if boa_offset else offset


def setup_logging(quiet: bool, verbose: bool = False) -> None:
    level = logging.ERROR if quiet else (logging.INFO if verbose else logging.WARNING)
    logging.basicConfig(level=level, format="lulcmap: %(levelname)s: %(message)s", force=True)


@contextmanager
def progress_bar(quiet: bool, label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A cells progress bar on stderr; ``None`` (no bar) with ``--quiet`` or no terminal."""
    if quiet or not err_console.is_terminal:
        yield None
        return
    columns = (
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("cells"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
