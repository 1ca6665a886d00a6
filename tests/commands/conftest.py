"""The commands' tests run the command line in process: its ``--quiet`` sets the root logger to
ERROR (``logging.basicConfig(force=True)``); restore it, so later tests' log captures see
warnings."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _root_logger_restored() -> Iterator[None]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    root.setLevel(level)
    root.handlers[:] = handlers
