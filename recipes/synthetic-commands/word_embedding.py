"""A second teacher that has heard real people: EfficientWord-Net's word embedding.

EfficientWord-Net 1.0.5 (PyPI ``efficientword-net``, Apache-2.0; Chidhambararajan et al. 2022)
ships a ResNet-50 trained with an ArcFace loss on the Multilingual Spoken Words Corpus (MLCommons,
CC BY 4.0: words cut from Common Voice, real people in 50 languages) to map a spoken word, whoever
says it, to one unit vector of 2048 numbers. Its input is 1.5 s of 16-kHz audio as 64-band log
filter-bank energies (25-ms windows every 10 ms: 149 frames). Install it without its dependencies
(PyAudio and others that the ONNX file does not need):

    pip install --no-deps efficientword-net==1.0.5

``teacher.py embed PASS --words`` writes a cached pass's ``words.npy`` with it, ``teacher.py head
--embedding words`` trains a ``WordHead`` on those, and ``distill_kws.py`` takes such a head
beside the speech embedding's. Nothing of it is shipped with astaudio.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from kws_signal import middle

from astaudio.augment import fit_length

WORD_SAMPLES = 24_000  # 1.5 s at 16 kHz: the model's window
WORD_DIM = 2048
WORD_MODEL = "models/resnet_50_arc/slim_93%_accuracy_72.7390%.onnx"  # the full-precision file


def place_word(clip: np.ndarray) -> np.ndarray:
    """A clip centred in WORD_SAMPLES zero samples (its middle 1.5 s if longer): float64."""
    return fit_length(middle(np.asarray(clip, np.float64), WORD_SAMPLES), WORD_SAMPLES)


class WordEmbedding:
    """EfficientWord-Net's ONNX model on one CPU thread, one clip at a time (its batch is 1)."""

    def __init__(self) -> None:
        import onnxruntime as ort

        spec = importlib.util.find_spec("eff_word_net")
        model = Path(spec.submodule_search_locations[0]) / WORD_MODEL if spec else None
        if model is None or not model.is_file():
            sys.exit("error: the word embedding needs EfficientWord-Net's model: "
                     "pip install --no-deps efficientword-net==1.0.5")  # fmt: skip
        from eff_word_net.audio_utils import logfbank

        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self.logfbank = logfbank

    def embed_clips(self, clips: list[np.ndarray]) -> np.ndarray:
        """1-D waveforms in [-1, 1] at 16 kHz -> (B, 2048) float32 unit vectors. A silent clip
        (its filter banks all at the floor) comes out as zeros, not the model's NaN."""
        out = np.zeros((len(clips), WORD_DIM), np.float32)
        for i, clip in enumerate(clips):
            features = self.logfbank(place_word(clip), samplerate=16000, winlen=0.025,
                                     winstep=0.01, nfilt=64, nfft=512, preemph=0.0)  # fmt: skip
            vector = self.session.run(None, {"input": features[None, None].astype(np.float32)})
            if np.isfinite(vector[0]).all():
                out[i] = vector[0][0]
        return out


class WordHead(nn.Module):
    """(B, 2048) word embeddings -> (B, classes) logits: the embedding's direction (scaled by 10)
    through one hidden layer."""

    embedding = "words"  # the cached embeddings it takes: a pass's words.npy

    def __init__(self, num_classes: int, width: int = 512, dropout: float = 0.3) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(WORD_DIM, width), nn.GELU(), nn.Dropout(dropout), nn.Linear(width, num_classes)
        )  # fmt: skip

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.net(10 * F.normalize(embeddings, dim=-1))
