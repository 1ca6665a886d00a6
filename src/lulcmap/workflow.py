"""Declarative pipelines: ``lulcmap run CONFIG.yaml`` (see ``pipelines/README.md``).

A config is either the demo form -- ``demo:`` (generate the synthetic area) and ``predict:`` (map
it, then score against the truth) -- or a list of ``steps:``, each one command with the same
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

Steps: ``world`` (a synthetic world with its reference map, :class:`WorldConfig`),
``prepare``, ``train``, ``evaluate``, ``predict``. Unknown keys are rejected. Relative paths are
resolved against the config file's folder (then written relative to the current folder, so records
stay short); ``--var`` values naming an existing file or folder are relative to the current folder.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import Field, model_validator

from lulcmap.config import DemoConfig, PredictConfig, _Config, validate
from lulcmap.errors import ConfigError, InputNotFoundError, OutputExistsError
from lulcmap.resources import short_path
from lulcmap.training.options import TrainOptions
from lulcmap.training.prepare import PrepareConfig

EXAMPLES = "see pipelines/README.md"


class WorldConfig(_Config):
    """A synthetic world with its truth, written as the tool's inputs (``world`` step)."""

    seed: int
    out: Path
    size: int = Field(2240, ge=16)
    """Pixels per side at 10 m (2240: the demo's worlds, which hold every class)."""
    overwrite: bool = False


class TrainStep(TrainOptions):
    """``lulcmap train``: its options plus the datasets and the model folder."""

    datasets: tuple[Path, ...] = Field(min_length=1)
    out: Path
    overwrite: bool = False

    def options(self) -> TrainOptions:
        return TrainOptions.model_validate(
            self.model_dump(exclude={"datasets", "out", "overwrite"})
        )


class EvaluateStep(_Config):
    """``lulcmap evaluate``."""

    datasets: tuple[Path, ...] = Field(min_length=1)
    model: str
    out: Path
    split: str | None = None
    blocks: tuple[int, ...] | None = None
    train_blocks: tuple[int, ...] | None = None
    batch_size: int = Field(64, ge=1)
    device: str = "auto"
    overwrite: bool = False


STEP_TYPES: dict[str, type[_Config]] = {
    "world": WorldConfig,
    "prepare": PrepareConfig,
    "train": TrainStep,
    "evaluate": EvaluateStep,
    "predict": PredictConfig,
}


class Step(_Config):
    """One command; exactly one of the fields is given."""

    world: WorldConfig | None = None
    prepare: PrepareConfig | None = None
    train: TrainStep | None = None
    evaluate: EvaluateStep | None = None
    predict: PredictConfig | None = None

    @model_validator(mode="after")
    def _one(self) -> Step:
        given = [k for k in STEP_TYPES if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"a step is one of {', '.join(STEP_TYPES)}; got {given or 'none'}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in STEP_TYPES if getattr(self, k) is not None)

    @property
    def config(self) -> Any:
        return getattr(self, self.kind)


class RunConfig(_Config):
    """A YAML pipeline: the demo form (``demo`` + ``predict``) or ``steps`` (module docstring)."""

    vars: dict[str, str] = Field(default_factory=dict)
    out: Path | None = None
    demo: DemoConfig | None = None
    predict: PredictConfig | None = None
    steps: tuple[Step, ...] = ()

    @model_validator(mode="after")
    def _form(self) -> RunConfig:
        if self.steps and (self.predict is not None or self.demo is not None):
            raise ValueError("give `steps:`, or `demo:` and `predict:`, not both")
        if not self.steps and self.predict is None:
            raise ValueError("a config needs `steps:` (or the demo form, `predict:`)")
        return self

    def with_overwrite(self) -> RunConfig:
        """Every step (or the predict section) allowed to replace its outputs."""
        if self.predict is not None:
            return self.model_copy(
                update={"predict": self.predict.model_copy(update={"overwrite": True})}
            )
        steps = tuple(
            s.model_copy(update={s.kind: s.config.model_copy(update={"overwrite": True})})
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


def _resolve_paths(section: dict[str, Any], model: type[_Config], base: Path) -> dict[str, Any]:
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
    if isinstance(data.get("predict"), dict):
        pred = _substitute(data["predict"], values, str(path))
        pred["out"] = run_out
        data["predict"] = _resolve_paths(pred, PredictConfig, base)
    steps = data.get("steps")
    if steps is not None:
        if not isinstance(steps, list):
            raise ConfigError(f"{path}: `steps` must be a list of steps; {EXAMPLES}")
        data["steps"] = [
            _step(step, {**values, **loop}, base, str(path))
            for step, loop in _expand_for(steps, str(path))
        ]
    return validate(RunConfig, data, source=str(path), example=EXAMPLES)


def _run_out(data: Mapping[str, Any], base: Path, out: Path | None) -> str:
    """The run's folder, absolute: ``--out``, else ``out:`` (``predict.out`` in the demo form)."""
    if out is not None:
        return os.path.abspath(out)
    legacy = data.get("predict", {}).get("out") if isinstance(data.get("predict"), dict) else None
    value = data.get("out", legacy)
    if not isinstance(value, str) or not value or "{" in value:
        raise ConfigError(f"config needs an output folder: `out:` or --out; {EXAMPLES}")
    return os.path.abspath(base / value)


def _step(step: Any, values: Mapping[str, str], base: Path, where: str) -> Any:
    if not isinstance(step, Mapping) or len([k for k in step if k in STEP_TYPES]) != 1:
        return step  # validation says what is wrong
    kind = next(k for k in step if k in STEP_TYPES)
    body = step[kind]
    if not isinstance(body, Mapping):
        return step
    body = _substitute(dict(body), values, where)
    return {**step, kind: _resolve_paths(body, STEP_TYPES[kind], base)}


# -- running ---------------------------------------------------------------------------------------
def existing_outputs(step: Step) -> list[Path]:
    """What ``step`` would replace: checked for every step before a pipeline starts."""
    cfg = step.config
    if getattr(cfg, "overwrite", False):
        return []
    out = Path(cfg.out)
    if step.kind in ("world", "prepare"):
        return [out] if out.exists() else []
    if step.kind == "train":
        from lulcmap.training.outputs import OUTPUTS

        names: Sequence[str] = list(OUTPUTS.values())
    elif step.kind == "evaluate":
        from lulcmap.evaluation.runner import output_names

        names = output_names(())  # the scatter plots' names depend on the model's levels
    else:
        from lulcmap.pipeline import output_paths

        return [p for p in output_paths(out, cfg.output_stem) if p.exists()]
    return [out / n for n in names if (out / n).exists()]


def check_outputs(cfg: RunConfig) -> None:
    """Refuse to start a pipeline that would stop at a step whose outputs exist."""
    for i, step in enumerate(cfg.steps, 1):
        found = existing_outputs(step)
        if found:
            raise OutputExistsError(
                f"step {i} ({step.kind}) would replace {found[0]}; pass --overwrite to replace "
                "outputs or choose another --out"
            )


def run_step(
    step: Step,
    *,
    on_progress: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[Any], None] | None = None,
) -> Any:
    """Run one step as its command would; returns what the command's function returns."""
    cfg = step.config
    if step.kind == "world":
        from lulcmap.demo import write_training_world

        return write_training_world(cfg)
    if step.kind == "prepare":
        from lulcmap.training.prepare import prepare_dataset

        return prepare_dataset(cfg, on_progress=on_progress)
    if step.kind == "train":
        from lulcmap.training.outputs import run_train

        return run_train(
            cfg.datasets, out=cfg.out, options=cfg.options(), overwrite=cfg.overwrite,
            on_step=on_progress, on_epoch=on_epoch,
        )  # fmt: skip
    if step.kind == "evaluate":
        from lulcmap.evaluation.runner import run_evaluate

        return run_evaluate(
            cfg.datasets, model=cfg.model, out=cfg.out, split=cfg.split, blocks=cfg.blocks,
            train_blocks=cfg.train_blocks, batch_size=cfg.batch_size, device=cfg.device,
            overwrite=cfg.overwrite, on_progress=on_progress,
        )  # fmt: skip
    from lulcmap.pipeline import run_predict

    return run_predict(cfg, on_progress=on_progress)


__all__ = [
    "STEP_TYPES",
    "EvaluateStep",
    "RunConfig",
    "Step",
    "TrainStep",
    "WorldConfig",
    "check_outputs",
    "existing_outputs",
    "load_run_config",
    "run_step",
]
