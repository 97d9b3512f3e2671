"""Exceptions for user-facing failures: each message is one line that says what to do."""


class AstAudioError(Exception):
    """Base class of astaudio's own errors (bad files, checkpoints, models)."""


class AudioLoadError(AstAudioError):
    """An audio source could not be read: missing, empty, corrupt or not audio."""


class CheckpointError(AstAudioError):
    """A checkpoint is unreadable, unsafe, or does not fit the model's config."""


class ModelNotFoundError(CheckpointError):
    """A model id or folder could not be found locally or on the hub."""


class UsageError(AstAudioError):
    """A mistake in the command line or in a combination of options; reported as one line,
    exit status 2."""
