"""Pictures for people who would rather look than read (matplotlib, the `plot` extra)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from .audio import load_audio
from .features import FRAME_SHIFT, kaldi_fbank

MAX_PLOT_FRAMES = 4000  # spectrogram columns drawn; longer recordings are max-pooled in time


def _matplotlib():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'astaudio[plot]'") from None
    return plt


def plot_timeline(
    classifier,
    source: str | os.PathLike,
    output: str | os.PathLike,
    *,
    top_k: int = 5,
    window: float | None = None,
    hop: float | None = None,
) -> Path:
    """The log-mel spectrogram of `source` with the top labels' window scores beneath it."""
    plt = _matplotlib()
    result = classifier.classify(source, top_k=top_k, window=window, hop=hop)
    if result.error is not None:
        from .errors import AudioLoadError

        raise AudioLoadError(result.error)
    samples = load_audio(source, classifier.sampling_rate)
    fbank, _ = kaldi_fbank(
        torch.from_numpy(samples)[None],
        sampling_rate=classifier.sampling_rate,
        num_mel_bins=classifier.config.num_mel_bins,
    )
    image = fbank[0].numpy().T  # (mel, frames)
    if image.shape[1] > MAX_PLOT_FRAMES:
        factor = int(np.ceil(image.shape[1] / MAX_PLOT_FRAMES))
        usable = image.shape[1] // factor * factor
        image = image[:, :usable].reshape(image.shape[0], -1, factor).max(-1)
    seconds_per_frame = FRAME_SHIFT / classifier.sampling_rate

    figure, (top, bottom) = plt.subplots(
        2, 1, figsize=(12, 6), sharex=True, gridspec_kw={"height_ratios": [3, 2]}
    )
    extent = (0.0, max(result.duration, fbank.shape[1] * seconds_per_frame), 0, image.shape[0])
    top.imshow(image, origin="lower", aspect="auto", extent=extent, cmap="magma")
    top.set_ylabel("mel bin")
    top.set_title(Path(os.fspath(source)).name)
    label_index = {name: i for i, name in enumerate(classifier.labels)}
    centres = [(s.start + s.end) / 2 for s in result.segments]
    for name, _ in result.labels:
        scores = result.window_scores[:, label_index[name]]
        if len(centres) == 1:
            bottom.hlines(scores[0], 0, result.duration, label=name)
        else:
            bottom.plot(centres, scores, marker="o", markersize=3, label=name)
    bottom.set_xlabel("time (s)")
    bottom.set_ylabel(f"score ({classifier.activation})")
    bottom.legend(loc="upper right", fontsize="small")
    bottom.set_xlim(extent[0], extent[1])
    figure.tight_layout()
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=100)
    plt.close(figure)
    return output
