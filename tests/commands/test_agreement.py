"""Each knob is declared once, in the command's config: the command line's options, the YAML
pipeline keys and ``lulcmap.predict``'s keywords agree with it, in names and defaults."""

from __future__ import annotations

import inspect
from typing import Any, get_args

import pytest
from typer.main import get_command

from lulcmap.cli.main import app
from lulcmap.commands import COMMANDS
from lulcmap.commands.run import Step

CLI_ONLY = {"quiet", "verbose", "help", "boa_offset", "climate_var"}
"""Options of the command line alone: output and logging, ``--boa-offset`` (sets ``offset``) and
``--climate-var NAME=PATH`` (one entry of ``climate_vars`` each)."""

NOT_ON_CLI = {
    "predict": {"climate_vars"},  # given as --climate-var NAME=PATH
    "prepare": {"climate_vars"},
}
PIPELINE_ONLY = {"world", "score"}
"""Commands run as pipeline steps only (the demo's world and its score)."""


def _cli_params(name: str) -> dict[str, Any]:
    command = get_command(app).commands[name]  # type: ignore[attr-defined]
    params = {}
    for p in command.params:
        longest = max(p.opts, key=len) if p.param_type_name == "argument" else p.opts[0]
        params[longest.lstrip("-").replace("-", "_")] = p
    return params


@pytest.mark.parametrize("name", [n for n in COMMANDS if n not in PIPELINE_ONLY])
def test_cli_options_are_the_config_fields(name: str) -> None:
    config = COMMANDS[name].config
    params = _cli_params(name)
    fields = set(config.model_fields)
    assert set(params) - CLI_ONLY == fields - NOT_ON_CLI.get(name, set())
    for key, param in params.items():
        if key in CLI_ONLY:
            continue
        field = config.model_fields[key]
        assert param.help == field.description or param.help.startswith(field.description), key
        if field.is_required():
            assert param.required, key
            continue
        default = field.get_default(call_default_factory=True)
        if isinstance(default, tuple | dict) and default:  # typed as text: the config's applies
            assert param.default is None and param.show_default, key
        elif isinstance(default, tuple | dict):  # a repeatable option
            assert list(param.default or []) == list(default), key
        else:
            assert param.default == default, key


def test_pipeline_keys_are_the_config_fields() -> None:
    """A step's keys are its command's config fields: the step is validated by that config."""
    assert list(Step.model_fields) == list(COMMANDS)
    for name, command in COMMANDS.items():
        assert get_args(Step.model_fields[name].annotation) == (command.config, type(None))


def test_predict_keywords_are_the_config_fields() -> None:
    import lulcmap

    config = COMMANDS["predict"].config
    signature = inspect.signature(lulcmap.predict)
    api_only = {"on_progress", "timings"}  # callbacks and timings, not knobs
    run_only = {"out", "stem", "overwrite"}  # where run_predict writes
    keywords = {k: p for k, p in signature.parameters.items() if k not in api_only}
    assert set(keywords) == set(config.model_fields) - run_only
    for key, param in keywords.items():
        if key == "scene":
            assert param.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
            continue
        assert param.kind is inspect.Parameter.KEYWORD_ONLY, key
        default = config.model_fields[key].get_default(call_default_factory=True)
        assert param.default == (None if default == {} else default), key  # climate_vars: None


def test_every_command_declares_its_outputs(tmp_path: Any) -> None:
    for name, command in COMMANDS.items():
        assert command.name == name and command.summary
        assert callable(command.run) and callable(command.outputs)
        assert command.config.model_config.get("extra") == "forbid"
        assert command.config.model_config.get("frozen") is True


def test_chips_help_names_the_original_layout() -> None:
    from lulcmap.compat.layout import ANCILLARY_CSV, IMAGES_FOLDER

    text = COMMANDS["chips"].config.model_fields["input_dir"].description or ""
    assert f"'{IMAGES_FOLDER}/'" in text and f"'{ANCILLARY_CSV}'" in text
