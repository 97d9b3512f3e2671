"""astaudio: the Audio Spectrogram Transformer, from sound files to labels."""

from .audio import (
    AUDIO_EXTENSIONS,
    SAMPLE_RATE,
    AudioInfo,
    audio_info,
    find_audio_files,
    load_audio,
    load_audio_with_rate,
    stream_audio,
    stream_windows,
)
from .config import ASTConfig
from .errors import AstAudioError, AudioLoadError, CheckpointError, ModelNotFoundError
from .features import ASTFeatureExtractor, BatchFeature, kaldi_fbank, mel_filterbank
from .inference import AudioClassifier, ClassificationResult, EmbeddingResult, Segment
from .model import ASTForAudioClassification, ASTModel

__version__ = "0.1.0"

__all__ = [
    "AUDIO_EXTENSIONS",
    "SAMPLE_RATE",
    "ASTConfig",
    "ASTFeatureExtractor",
    "ASTForAudioClassification",
    "ASTModel",
    "AstAudioError",
    "AudioClassifier",
    "AudioInfo",
    "AudioLoadError",
    "BatchFeature",
    "CheckpointError",
    "ClassificationResult",
    "EmbeddingResult",
    "ModelNotFoundError",
    "Segment",
    "audio_info",
    "find_audio_files",
    "kaldi_fbank",
    "load_audio",
    "load_audio_with_rate",
    "mel_filterbank",
    "stream_audio",
    "stream_windows",
]
