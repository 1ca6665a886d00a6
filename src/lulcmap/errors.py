"""One errors module.

Every error a user can cause is a :class:`LulcmapError`; each subclass is also the matching
built-in exception, so callers that catch ``ValueError`` or ``FileNotFoundError`` keep working.
Messages are one line and say what was expected, what came, and how to fix it. The CLI prints
them without a traceback and exits with code 2.
"""

from __future__ import annotations


class LulcmapError(Exception):
    """Base class of every error lulcmap raises on purpose."""


class InputNotFoundError(LulcmapError, FileNotFoundError):
    """An input path does not exist."""


class NotARasterError(LulcmapError, ValueError):
    """A path exists but GDAL cannot open it as a raster."""


class MissingCRSError(LulcmapError, ValueError):
    """A raster has no coordinate reference system."""


class CoverageError(LulcmapError, ValueError):
    """An ancillary raster does not cover the scene."""


class MissingVariableError(LulcmapError, KeyError):
    """A climate variable the model needs was not found."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class BandSelectionError(LulcmapError, ValueError):
    """``--rgb-bands`` names bands the scene lacks, or the scene's bands cannot be used."""


class ModelCardError(LulcmapError, ValueError):
    """A model card is malformed, or does not match its weights or the input."""


class WeightsHashError(ModelCardError):
    """The weights' sha256 differs from the one the card records."""


class OutputExistsError(LulcmapError, FileExistsError):
    """An output exists and ``overwrite`` was not asked for."""


class ConfigError(LulcmapError, ValueError):
    """A pipeline or run configuration is invalid."""


class MissingDependencyError(LulcmapError, ImportError):
    """An optional package a feature needs is not installed (the message says which extra)."""


class InputDataError(LulcmapError, ValueError):
    """Input data are readable but unusable (e.g. no valid pixel)."""


class AncillaryRangeError(InputDataError):
    """Ancillary values outside the model's training range, or in another unit (``--strict``)."""


__all__ = [
    "AncillaryRangeError",
    "BandSelectionError",
    "ConfigError",
    "CoverageError",
    "InputDataError",
    "InputNotFoundError",
    "LulcmapError",
    "MissingCRSError",
    "MissingDependencyError",
    "MissingVariableError",
    "ModelCardError",
    "NotARasterError",
    "OutputExistsError",
    "WeightsHashError",
]
