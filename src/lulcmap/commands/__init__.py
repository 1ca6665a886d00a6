"""The table of commands: each a validated config (:mod:`lulcmap.config`), ``run(config,
progress)`` and the outputs it writes. The command line (:mod:`lulcmap.cli`), YAML pipelines
(:mod:`lulcmap.commands.run`) and the Python API dispatch through :data:`COMMANDS`::

    from lulcmap.commands import COMMANDS
    cmd = COMMANDS["predict"]
    paths = cmd.run(cmd.config(scene="s.tif", out="out"), None)
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from lulcmap.commands import chips, evaluate, predict, prepare, score, train, world
from lulcmap.commands.base import Command, Progress

COMMANDS: Mapping[str, Command] = MappingProxyType(
    {m.COMMAND.name: m.COMMAND for m in (world, prepare, train, evaluate, predict, chips, score)}
)
"""Every command that runs as a pipeline step, by name, in the order the help lists them."""

__all__ = ["COMMANDS", "Command", "Progress"]
