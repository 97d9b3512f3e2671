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
        from .errors import MissingDependencyError

        raise MissingDependencyError(
            "plots need matplotlib: pip install 'astaudio[plot]'"
        ) from None
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
    """Write :func:`timeline_figure` of `source` to `output` (PNG, PDF, SVG by suffix)."""
    plt = _matplotlib()
    figure = timeline_figure(classifier, source, top_k=top_k, window=window, hop=hop)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        figure.savefig(output, dpi=100)
    finally:
        plt.close(figure)
    return output


def timeline_figure(
    classifier,
    source: str | os.PathLike,
    *,
    top_k: int = 5,
    window: float | None = None,
    hop: float | None = None,
):
    """A matplotlib Figure: the log-mel spectrogram of `source` (mel bins x time) with the top
    labels' window scores beneath it, on a 0-1 axis for sigmoid/softmax scores, the legend
    right of the plot."""
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
        2,
        1,
        figsize=(12, 6),
        sharex=True,
        layout="constrained",
        gridspec_kw={"height_ratios": [3, 2]},
    )
    extent = (0.0, max(result.duration, fbank.shape[1] * seconds_per_frame), 0, image.shape[0])
    top.imshow(image, origin="lower", aspect="auto", extent=extent, cmap="magma")
    top.set_ylabel("mel bin")
    top.set_title(Path(os.fspath(source)).name)
    label_index = {name: i for i, name in enumerate(classifier.labels)}
    centres = [(s.start + s.end) / 2 for s in result.segments]
    lines, names = [], []
    for name, _ in result.labels:
        scores = result.window_scores[:, label_index[name]]
        if len(centres) == 1:
            lines.append(bottom.hlines(scores[0], 0, result.duration, colors=f"C{len(lines)}"))
        else:
            lines.extend(bottom.plot(centres, scores, marker="o", markersize=3))
        names.append(name)
    bottom.set_xlabel("time (s)")
    bottom.set_ylabel(f"score ({classifier.activation})")
    if classifier.activation in ("sigmoid", "softmax"):
        bottom.set_ylim(-0.02, 1.02)  # probabilities on their own scale: no zoom into noise
    # handles and names given explicitly: matplotlib drops automatic legend entries whose
    # label starts with "_" (_silence_, _unknown_); outside the axes, so it hides no data
    bottom.legend(lines, names, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    top.set_xlim(extent[0], extent[1])
    return figure
