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
from .checkpoints import (
    adapt_position_embeddings,
    convert_original_checkpoint,
    convert_original_state_dict,
    init_from_deit,
    load_state_dict_file,
)
from .config import ASTConfig
from .data import (
    AudioDataset,
    AugmentConfig,
    DatasetSpec,
    balanced_sample_weights,
    compute_norm_stats,
    load_dataset_spec,
    read_label_csv,
    split_spec,
)
from .errors import AstAudioError, AudioLoadError, CheckpointError, ModelNotFoundError
from .features import ASTFeatureExtractor, BatchFeature, kaldi_fbank, mel_filterbank
from .inference import AudioClassifier, ClassificationResult, EmbeddingResult, Segment
from .metrics import d_prime, multilabel_metrics, singlelabel_metrics
from .model import ASTClassifierOutput, ASTForAudioClassification, ASTModel, ASTModelOutput
from .train import PRESETS, TrainConfig, average_checkpoints, finetune, preset_config

__version__ = "0.1.0"

__all__ = [
    "AUDIO_EXTENSIONS",
    "PRESETS",
    "SAMPLE_RATE",
    "adapt_position_embeddings",
    "AstAudioError",
    "ASTClassifierOutput",
    "ASTConfig",
    "ASTFeatureExtractor",
    "ASTForAudioClassification",
    "ASTModel",
    "ASTModelOutput",
    "audio_info",
    "AudioClassifier",
    "AudioDataset",
    "AudioInfo",
    "AudioLoadError",
    "AugmentConfig",
    "average_checkpoints",
    "balanced_sample_weights",
    "BatchFeature",
    "CheckpointError",
    "ClassificationResult",
    "compute_norm_stats",
    "convert_original_checkpoint",
    "convert_original_state_dict",
    "d_prime",
    "DatasetSpec",
    "EmbeddingResult",
    "find_audio_files",
    "finetune",
    "init_from_deit",
    "kaldi_fbank",
    "load_audio",
    "load_audio_with_rate",
    "load_dataset_spec",
    "load_state_dict_file",
    "mel_filterbank",
    "ModelNotFoundError",
    "multilabel_metrics",
    "preset_config",
    "read_label_csv",
    "Segment",
    "singlelabel_metrics",
    "split_spec",
    "stream_audio",
    "stream_windows",
    "TrainConfig",
]
