"""One exception hierarchy for everything edge-seg refuses to do.

Every message says what was expected, what was found and what to do about it,
so a CLI can print ``str(err)`` as a single line and exit with code 2.
"""

from __future__ import annotations


class EdgeError(Exception):
    """Base class: a problem the user can fix (bad input, missing extra, bad option)."""

    exit_code: int = 2


class MissingDependencyError(EdgeError):
    """An optional library (an extra) is not installed."""


class ConfigError(EdgeError):
    """An option, model name or model description is invalid."""


class ModelFileError(EdgeError):
    """A model file or folder is missing, corrupt, or from another model."""


class DatasetError(EdgeError):
    """A dataset file or annotation is missing or malformed (the message names it)."""


class SourceError(EdgeError):
    """A frame source (camera, file, stream) cannot be opened or read."""


class EngineError(EdgeError):
    """A TensorRT engine cannot be built or does not match this device."""
