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


@pytest.fixture
def saved_figures(monkeypatch) -> list:
    """Every matplotlib Figure saved during the test, kept for inspection."""
    from matplotlib.figure import Figure

    figures = []
    save = Figure.savefig

    def keep(self, *args, **kwargs):
        figures.append(self)
        return save(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    return figures


def test_training_curves_tick_whole_epochs(saved_figures, tmp_path):
    from astaudio.runs import _write_logs

    history = [{"epoch": e, "train_loss": 1.0 / e, "valid_loss": 1.2 / e, "accuracy": 0.2 * e}
               for e in (1, 2, 3)]  # fmt: skip
    _write_logs(tmp_path, history)
    (figure,) = saved_figures
    for axes in figure.axes:
        low, high = axes.get_xlim()
        ticks = [t for t in axes.get_xticks() if low <= t <= high]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_confusion_pictures_are_named_and_titled_after_their_models(saved_figures, tmp_path):
    import numpy as np

    from astaudio.evaluate import confusion_stems, write_report

    assert confusion_stems(["runs/a/best", "runs/b/best", "ensemble"]) == [
        "a_best", "b_best", "ensemble"
    ]  # fmt: skip
    assert confusion_stems(["keywords", "MIT/ast-finetuned-audioset-10-10-0.4593"]) == [
        "keywords", "ast-finetuned-audioset-10-10-0.4593"
    ]  # fmt: skip
    assert confusion_stems(["x/best", "x/best"]) == ["x_best", "x_best_2"]
    confusion = np.array([[3, 1], [0, 4]])
    metrics = {"confusion": confusion, "accuracy": 0.875}
    report = {"items": 8, "labels": ["_silence_", "yes"], "models": {"runs/a/best": metrics,
              "runs/b/best": metrics}, "ensemble": metrics}  # fmt: skip
    write_report(report, tmp_path, multi_label=False)
    names = sorted(p.name for p in tmp_path.glob("confusion_*.png"))
    assert names == ["confusion_a_best.png", "confusion_b_best.png", "confusion_ensemble.png"]
    titles = [figure.axes[0].get_title() for figure in saved_figures]
    assert titles == [
        "runs/a/best\naccuracy 87.5% on 8 items",
        "runs/b/best\naccuracy 87.5% on 8 items",
        "ensemble of 2 models\naccuracy 87.5% on 8 items",
    ]
