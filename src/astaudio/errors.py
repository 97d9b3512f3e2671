"""Exceptions for user-facing failures: each message is one line that says what to do."""


class AstAudioError(Exception):
    """Base class of astaudio's own errors (bad files, checkpoints, models)."""


class AudioLoadError(AstAudioError):
    """An audio source could not be read: missing, empty, corrupt or not audio.

    ``reason`` is the message without the source's name (for records that name it already).
    """

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.reason = message if reason is None else reason


class CheckpointError(AstAudioError):
    """A checkpoint is unreadable, unsafe, or does not fit the model's config."""


class ModelNotFoundError(CheckpointError, OSError):
    """A model id or folder could not be found locally, among the bundled models, or on the hub.

    An OSError too, as transformers raises for the same failures, so ``except OSError`` code
    written for transformers catches it.
    """


class MissingDependencyError(AstAudioError, ImportError):
    """An optional package (onnx, onnxruntime, matplotlib) is not installed; the command line
    reports it as a usage error (exit status 2)."""


class UsageError(AstAudioError):
    """A mistake in the command line or in a combination of options; reported as one line,
    exit status 2."""


class ConfigurationError(UsageError, ValueError):
    """A request that can't be carried out as given (a bad setting, an occupied run folder);
    the command reports it as a usage error (exit status 2)."""


class NeedsNoConversionError(CheckpointError):
    """A checkpoint given to the converter of original AST checkpoints is already in
    transformers' format (load it with from_pretrained); the command line exits with status 2."""
