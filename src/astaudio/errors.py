"""Exceptions for user-facing failures: each message is one line that says what to do."""


class AstAudioError(Exception):
    """Base class of astaudio's own errors (bad files, checkpoints, models)."""


class AudioLoadError(AstAudioError):
    """An audio source could not be read: missing, empty, corrupt or not audio."""


class CheckpointError(AstAudioError):
    """A checkpoint is unreadable, unsafe, or does not fit the model's config."""


class ModelNotFoundError(CheckpointError, OSError):
    """A model id or folder could not be found locally, among the bundled models, or on the hub.

    An OSError too, as transformers raises for the same failures, so ``except OSError`` code
    written for transformers catches it.
    """


class UsageError(AstAudioError):
    """A mistake in the command line or in a combination of options; reported as one line,
    exit status 2."""
