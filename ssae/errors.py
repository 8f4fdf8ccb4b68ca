"""One exception type for every failure a user can fix.

Every layer raises `ToolkitError` (or a subclass) with a single line that says what is wrong and what
to do; the `shift` command prints that line and exits with status 1 instead of showing a traceback.
"""

from __future__ import annotations


class ToolkitError(Exception):
    """A problem with the user's input or environment, described in one actionable line."""


class ModelUnavailable(ToolkitError):
    """A model (or tokenizer, or embedder) could not be loaded from the hub, the cache, or a path."""


class DataError(ToolkitError):
    """A dataset, corpus or seed file is missing, empty, or in the wrong schema."""


class CheckpointError(ToolkitError):
    """A checkpoint is corrupt or does not match the model it is meant for."""


class ConfigError(ToolkitError, ValueError):
    """A setting out of range, of the wrong kind, or unknown (also a ValueError, as before)."""
