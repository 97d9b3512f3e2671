"""astaudio: the Audio Spectrogram Transformer, from sound files to labels.

The public names below are imported on first use (PEP 562), so that ``import astaudio`` and the
command line's ``--help`` don't pay for torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        ["AUDIO_EXTENSIONS", "AudioInfo", "audio_info", "find_audio_files", "load_audio",
         "load_audio_with_rate", "stream_audio", "stream_windows"],
        "audio",
    ),
    **dict.fromkeys(
        ["adapt_position_embeddings", "convert_original_checkpoint", "convert_original_state_dict",
         "init_from_deit", "load_state_dict_file"],
        "checkpoints",
    ),
    "ASTConfig": "config",
    "SAMPLE_RATE": "constants",
    "load_classifier": "loading",
    **dict.fromkeys(
        ["AudioDataset", "AugmentConfig", "DatasetSpec", "balanced_sample_weights",
         "compute_norm_stats", "load_dataset_spec", "split_spec"],
        "data",
    ),
    **dict.fromkeys(["LABEL_SETS", "LabelInfo", "load_labels", "read_label_csv"], "labels"),
    **dict.fromkeys(
        ["AstAudioError", "AudioLoadError", "CheckpointError", "ModelNotFoundError"], "errors"
    ),
    **dict.fromkeys(["ASTFeatureExtractor", "BatchFeature", "kaldi_fbank", "mel_filterbank"],
                    "features"),
    **dict.fromkeys(["AudioClassifier", "ClassificationResult", "EmbeddingResult", "Segment"],
                    "inference"),
    **dict.fromkeys(["d_prime", "multilabel_metrics", "singlelabel_metrics"], "metrics"),
    **dict.fromkeys(
        ["ASTClassifierOutput", "ASTForAudioClassification", "ASTModel", "ASTModelOutput"], "model"
    ),
    **dict.fromkeys(["PRESETS", "TrainConfig", "preset_config"], "presets"),
    **dict.fromkeys(["average_checkpoints", "average_models", "finetune"], "train"),
}  # fmt: skip

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
    "LABEL_SETS",
    "LabelInfo",
    "load_labels",
    "AudioClassifier",
    "AudioDataset",
    "AudioInfo",
    "AudioLoadError",
    "AugmentConfig",
    "average_checkpoints",
    "average_models",
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
    "load_classifier",
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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from .audio import (
        AUDIO_EXTENSIONS,
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
    from .constants import SAMPLE_RATE
    from .data import (
        AudioDataset,
        AugmentConfig,
        DatasetSpec,
        balanced_sample_weights,
        compute_norm_stats,
        load_dataset_spec,
        split_spec,
    )
    from .errors import AstAudioError, AudioLoadError, CheckpointError, ModelNotFoundError
    from .features import ASTFeatureExtractor, BatchFeature, kaldi_fbank, mel_filterbank
    from .inference import AudioClassifier, ClassificationResult, EmbeddingResult, Segment
    from .labels import LABEL_SETS, LabelInfo, load_labels, read_label_csv
    from .loading import load_classifier
    from .metrics import d_prime, multilabel_metrics, singlelabel_metrics
    from .model import ASTClassifierOutput, ASTForAudioClassification, ASTModel, ASTModelOutput
    from .presets import PRESETS, TrainConfig, preset_config
    from .train import average_checkpoints, average_models, finetune
