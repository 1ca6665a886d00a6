"""Declarative pipelines: ``lulcmap run CONFIG.yaml`` (see ``pipelines/README.md``).

A pipeline is a list of ``steps:``, each one command of the table (:data:`COMMANDS`) with the same
options as on the command line (the option names with ``_`` for ``-``, as in ``lulcmap <command>
--help``)::

    vars: {data: ../../shared/data}          # placeholders, overridable with --var NAME=VALUE
    out: ../zion-work                        # the run's folder, {out}; overridable with --out
    steps:
      - prepare: {scenes: ["{data}/s.tif"], reference: ..., crosswalk: nlcd, out: "{out}/d.zarr"}
      - train: {datasets: ["{out}/d.zarr"], out: "{out}/model", epochs: 40}
      - evaluate: {datasets: ["{out}/d.zarr"], model: "{out}/model", out: "{out}/eval"}
      - for: {seed: [1, 2]}                  # the step repeated, {seed} replaced in its strings
        world: {seed: "{seed}", out: "{out}/world-{seed}"}

Steps: ``world`` (a synthetic world with its truth), ``prepare``, ``train``, ``evaluate``,
``predict``, ``chips`` and ``score`` (predicted maps against truth maps). Unknown keys are
rejected. Relative paths are resolved against the config file's folder (then written relative to
the current folder, so records stay short); ``--var`` values naming an existing file or folder are
relative to the current folder.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import UnionType
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin

import yaml
from pydantic import Field, create_model, model_validator

from lulcmap.commands import COMMANDS
from lulcmap.commands.base import Command, Progress
from lulcmap.config import StrictConfig, validate
from lulcmap.errors import ConfigError, InputNotFoundError
from lulcmap.io.writers import check_outputs_free
from lulcmap.resources import shipped_dir, short_path

EXAMPLES = "see pipelines/README.md"


class StepBase(StrictConfig):
    """One command; exactly one of the fields (one per command of the table) is given."""

    @model_validator(mode="after")
    def _one(self) -> StepBase:
        given = [k for k in COMMANDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"a step is one of {', '.join(COMMANDS)}; got {given or 'none'}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in COMMANDS if getattr(self, k) is not None)

    @property
    def command(self) -> Command:
        return COMMANDS[self.kind]

    @property
    def config(self) -> Any:
        return getattr(self, self.kind)


if TYPE_CHECKING:
    Step = StepBase
else:
    Step = create_model(
        "Step",
        __base__=StepBase,
        **{name: (cmd.config | None, None) for name, cmd in COMMANDS.items()},
    )
    """A pipeline step: one optional field per command of :data:`COMMANDS`."""


class RunConfig(StrictConfig):
    """A YAML pipeline: its variables, output folder and steps (module docstring)."""

    vars: dict[str, str] = Field(default_factory=dict)
    out: Path | None = None
    steps: tuple[Step, ...] = Field(min_length=1)

    def with_overwrite(self) -> RunConfig:
        """Every step allowed to replace its outputs."""
        steps = tuple(
            s.model_copy(update={s.kind: s.config.model_copy(update={"overwrite": True})})
            if "overwrite" in type(s.config).model_fields
            else s
            for s in self.steps
        )
        return self.model_copy(update={"steps": steps})


# -- loading ---------------------------------------------------------------------------------------
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _substitute(value: Any, values: Mapping[str, str], where: str) -> Any:
    """``{name}`` replaced by ``values[name]`` in every string of ``value`` (recursively)."""
    if isinstance(value, str):

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                raise ConfigError(
                    f"{where}: unknown placeholder {{{name}}}; define it under `vars:` "
                    f"(known: {', '.join(sorted(values))})"
                )
            return str(values[name])

        text = _PLACEHOLDER.sub(one, value)
        # a whole-string placeholder of a number stays a number (``seed: "{seed}"``)
        return int(text) if _PLACEHOLDER.fullmatch(value) and text.lstrip("-").isdigit() else text
    if isinstance(value, Mapping):
        return {k: _substitute(v, values, where) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_substitute(v, values, where) for v in value]
    return value


def _expand_for(steps: Sequence[Any], where: str) -> list[tuple[Any, dict[str, str]]]:
    """``(step, loop values)``: steps with ``for: {name: [values]}`` repeated over the product of
    the values, the others once with no values."""
    out: list[tuple[Any, dict[str, str]]] = []
    for i, step in enumerate(steps):
        if not isinstance(step, Mapping) or "for" not in step:
            out.append((step, {}))
            continue
        loop, body = step["for"], {k: v for k, v in step.items() if k != "for"}
        if not isinstance(loop, Mapping) or not all(isinstance(v, list) for v in loop.values()):
            raise ConfigError(
                f"{where}: steps.{i}.for must map names to lists, e.g. for: {{seed: [1, 2]}}"
            )
        for combo in itertools.product(*loop.values()):
            out.append((body, {str(k): str(v) for k, v in zip(loop, combo, strict=True)}))
    return out


def _is_path(annotation: Any) -> bool:
    if annotation is Path:
        return True
    origin = get_origin(annotation)
    if origin in (Union, UnionType, tuple, list):
        return any(_is_path(a) for a in get_args(annotation) if a is not Ellipsis)
    if origin is dict:
        return _is_path(get_args(annotation)[1])
    return False


def _resolve_paths(
    section: dict[str, Any], model: type[StrictConfig], base: Path
) -> dict[str, Any]:
    """Relative paths of ``section`` (fields typed as paths, and card paths under ``model``)
    made relative to the current folder instead of ``base``."""

    def fix(value: Any) -> Any:
        if isinstance(value, str) and value:
            return short_path(base / value)
        if isinstance(value, list | tuple):
            return [fix(v) for v in value]
        if isinstance(value, Mapping):
            return {k: fix(v) for k, v in value.items()}
        return value

    out = dict(section)
    for name, field in model.model_fields.items():
        if name in out and _is_path(field.annotation):
            out[name] = fix(out[name])
    card = out.get("model")
    if isinstance(card, str) and ("/" in card or card.endswith((".yaml", ".yml"))):
        out["model"] = fix(card)
    return out


def _cli_var(value: str) -> str:
    """A ``--var`` value: one naming an existing file or folder becomes absolute (symbolic
    links kept, so records show the path as the user gave it)."""
    return os.path.abspath(value) if value and Path(value).exists() else value


def load_run_config(
    path: Path, *, out: Path | None = None, variables: Mapping[str, str] | None = None
) -> RunConfig:
    """Read a YAML pipeline; ``out`` overrides its output folder, ``variables`` its ``vars``."""
    if not path.is_file():
        raise InputNotFoundError(f"config {path} does not exist; {EXAMPLES}")
    try:
        data = yaml.safe_load(path.read_text("utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config {path} must be a mapping with `steps:`; {EXAMPLES}")
    base = path.resolve().parent
    raw_vars = data.get("vars") or {}
    if not isinstance(raw_vars, Mapping):
        raise ConfigError(f"{path}: `vars` must map names to values; {EXAMPLES}")
    given = {str(k): "" if v is None else str(v) for k, v in raw_vars.items()}
    for name, value in (variables or {}).items():
        if name not in given:
            raise ConfigError(
                f"--var {name}: {path} has no such variable (it has: "
                f"{', '.join(sorted(given)) or 'none'}); add it under `vars:`"
            )
        given[name] = _cli_var(value)
    run_out = _run_out(data, base, out)
    values = {**given, "out": run_out}
    values = {k: _substitute(v, values, str(path)) if k != "out" else v for k, v in values.items()}
    data = dict(data, vars=given, out=short_path(Path(run_out)))
    steps = data.get("steps")
    if not steps and set(data) <= set(RunConfig.model_fields):
        raise ConfigError(f"{path}: a config needs `steps:`, a list of commands; {EXAMPLES}")
    if steps is not None:
        if not isinstance(steps, list):
            raise ConfigError(f"{path}: `steps` must be a list of steps; {EXAMPLES}")
        data["steps"] = [
            _step(step, {**values, **loop}, base, str(path))
            for step, loop in _expand_for(steps, str(path))
        ]
    return validate(RunConfig, data, source=str(path), example=EXAMPLES)


def _run_out(data: Mapping[str, Any], base: Path, out: Path | None) -> str:
    """The run's folder, absolute: ``--out``, else ``out:``."""
    if out is not None:
        return os.path.abspath(out)
    value = data.get("out")
    if not isinstance(value, str) or not value or "{" in value:
        raise ConfigError(f"config needs an output folder: `out:` or --out; {EXAMPLES}")
    return os.path.abspath(base / value)


def _step(step: Any, values: Mapping[str, str], base: Path, where: str) -> Any:
    if not isinstance(step, Mapping) or len([k for k in step if k in COMMANDS]) != 1:
        return step  # validation says what is wrong
    kind = next(k for k in step if k in COMMANDS)
    body = step[kind]
    if not isinstance(body, Mapping):
        return step
    body = _substitute(dict(body), values, where)
    return {**step, kind: _resolve_paths(body, COMMANDS[kind].config, base)}


# -- running ---------------------------------------------------------------------------------------
def check_outputs(cfg: RunConfig) -> None:
    """Refuse to start a pipeline that would stop at a step whose outputs exist."""
    for i, step in enumerate(cfg.steps, 1):
        config = step.config
        overwrite = bool(getattr(config, "overwrite", False))
        check_outputs_free(step.command.outputs(config), overwrite, step=f"step {i} ({step.kind})")


def run_step(step: StepBase, progress: Progress | None = None) -> Any:
    """Run one step as its command would; returns what the command's ``run`` returns."""
    return step.command.run(step.config, progress)


def run_steps(
    cfg: RunConfig, progress: Callable[[StepBase], Progress | None] | None = None
) -> Iterator[tuple[StepBase, Any]]:
    """Every step in order, after checking that none would replace existing outputs: yields
    ``(step, result)`` as each finishes. ``progress(step)`` gives the step's progress callbacks."""
    check_outputs(cfg)
    for step in cfg.steps:
        yield step, run_step(step, progress(step) if progress is not None else None)


def demo_config(out: Path, *, overwrite: bool = False) -> RunConfig:
    """The shipped ``pipelines/demo.yaml`` (``lulcmap demo``) with its output folder ``out``."""
    cfg = load_run_config(shipped_dir("pipelines") / "demo.yaml", out=out)
    return cfg.with_overwrite() if overwrite else cfg


__all__ = [
    "RunConfig",
    "Step",
    "check_outputs",
    "demo_config",
    "load_run_config",
    "run_step",
    "run_steps",
]
