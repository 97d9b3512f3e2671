"""The plot command's picture: every label in the legend, probabilities on a 0-1 axis, the
legend clear of the data."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest

from astaudio import AudioClassifier
from astaudio.plot import plot_timeline, timeline_figure

matplotlib.use("Agg")
HELDOUT = Path(__file__).parent / "data" / "keywords-heldout"


@pytest.fixture(scope="module")
def keywords() -> AudioClassifier:
    return AudioClassifier.from_pretrained("keywords", device="cpu")


@pytest.mark.parametrize("source", ["bell_oga", "one_0.flac"])  # several windows; one window
def test_timeline_shows_every_label_on_a_probability_axis(keywords, audio_files, source):
    import matplotlib.pyplot as plt

    path = audio_files[source] if source in audio_files else HELDOUT / source
    every = len(keywords.labels)  # includes _silence_ and _unknown_, whatever the model says
    figure = timeline_figure(keywords, path, top_k=every)
    try:
        figure.canvas.draw()
        top, bottom = figure.axes
        legend = bottom.get_legend()
        assert sorted(t.get_text() for t in legend.get_texts()) == sorted(keywords.labels)
        assert bottom.get_ylim() == pytest.approx((-0.02, 1.02))
        # the legend lies right of the score axes, not over the lines
        assert legend.get_window_extent().x0 >= bottom.get_window_extent().x1
    finally:
        plt.close(figure)


def test_plot_timeline_writes_the_figure(keywords, tmp_path):
    out = plot_timeline(keywords, HELDOUT / "one_0.flac", tmp_path / "sub" / "one.png")
    assert out.read_bytes()[:4] == b"\x89PNG"
