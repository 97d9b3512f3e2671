"""AudioClassifier as a drop-in for transformers' audio-classification pipeline: the same inputs
(arrays, {"array"/"raw", "sampling_rate"} dicts, lists) give the same [{"score", "label"}]."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

from astaudio import AudioClassifier, load_audio
from astaudio.audio import find_audio_files

RATE = 16000
SPEECH = sorted(Path("/usr/share/sounds/alsa").glob("*.wav"))
TINY = dict(
    hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
    max_length=128, num_mel_bins=128, num_labels=6,
)  # fmt: skip


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    """A random transformers classifier and extractor saved with save_pretrained."""
    torch.manual_seed(0)
    config = transformers.ASTConfig(
        **TINY, id2label={i: f"class {i}" for i in range(TINY["num_labels"])}
    )
    model = transformers.ASTForAudioClassification(config).eval()
    with torch.no_grad():  # logits spread wide enough that the ranking is not a coin toss
        model.classifier.dense.weight.mul_(20)
    folder = tmp_path_factory.mktemp("tiny-pipeline")
    model.save_pretrained(folder)
    transformers.ASTFeatureExtractor(max_length=TINY["max_length"]).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def clips() -> list[np.ndarray]:
    """Three real recordings at 16 kHz, cut to fit the model's 1.28 s window."""
    return [load_audio(path)[: int(1.2 * RATE)] for path in SPEECH[:3]]


def assert_same_labels(ours: list[dict], theirs: list[dict]) -> None:
    assert [d["label"] for d in ours] == [d["label"] for d in theirs]
    np.testing.assert_allclose(
        [d["score"] for d in ours], [d["score"] for d in theirs], rtol=0, atol=1e-4
    )
    assert all(list(d) == ["score", "label"] for d in ours)


def test_pipeline_output_matches_transformers_pipeline(model_folder, clips):
    pipe = transformers.pipeline("audio-classification", model=str(model_folder), device="cpu")
    ours = AudioClassifier.from_pretrained(model_folder, device="cpu", pipeline_output=True)

    dicts = [{"array": clip, "sampling_rate": RATE} for clip in clips]
    raws = [{"raw": clip, "sampling_rate": RATE} for clip in clips]
    for inputs in (clips[0], dicts[0], raws[1]):  # one input: one list of labels
        assert_same_labels(ours(inputs, top_k=5), pipe(inputs, top_k=5))
    for top_k in (None, 2, 50):  # None and more than num_labels: every label
        theirs = pipe(dicts, top_k=top_k)
        mine = ours(dicts, top_k=top_k)
        assert len(mine) == len(theirs) == 3
        assert len(mine[0]) == (TINY["num_labels"] if top_k in (None, 50) else top_k)
        for a, b in zip(mine, theirs, strict=True):
            assert_same_labels(a, b)
    for a, b in zip(ours(clips, top_k=3), pipe(clips, top_k=3), strict=True):
        assert_same_labels(a, b)
    for function in ("sigmoid", "none"):
        assert_same_labels(
            ours(dicts[2], function_to_apply=function, top_k=4),
            pipe(dicts[2], function_to_apply=function, top_k=4),
        )
    # the default shape is unchanged; pipeline_output per call
    plain = AudioClassifier.from_pretrained(model_folder, device="cpu")
    assert plain(dicts[0]).labels == [
        (d["label"], d["score"]) for d in plain(dicts[0], pipeline_output=True)
    ]


def test_dict_inputs_resample_and_fail_per_input(model_folder, clips):
    clf = AudioClassifier.from_pretrained(model_folder, device="cpu")
    import soxr

    at_8k = soxr.resample(clips[0], RATE, 8000).astype(np.float32)
    as_dict = clf({"array": at_8k, "sampling_rate": 8000, "path": "clip.wav"}, top_k=None)
    as_pair = clf((at_8k, 8000), top_k=None)
    assert as_dict.ok and as_dict.source == "clip.wav"
    np.testing.assert_array_equal(as_dict.scores, as_pair.scores)
    tensor = clf({"raw": torch.from_numpy(clips[1]), "sampling_rate": RATE}, top_k=None)
    np.testing.assert_allclose(tensor.scores, clf(clips[1], top_k=None).scores, atol=1e-6)

    results = clf([{"audio": clips[0]}, {"array": clips[1], "sampling_rate": RATE}])
    assert not results[0].ok and "sampling_rate" in results[0].error
    assert "\n" not in results[0].error
    assert results[1].ok
    with pytest.raises(ValueError, match='needs "array"'):
        clf({"audio": clips[0]}, pipeline_output=True)


def test_folders_expand_to_their_audio_files(model_folder, tmp_path):
    clf = AudioClassifier.from_pretrained(model_folder, device="cpu")
    folder = tmp_path / "sounds"
    (folder / "more").mkdir(parents=True)
    shutil.copy(SPEECH[1], folder / "b.wav")
    shutil.copy(SPEECH[0], folder / "a.wav")
    shutil.copy(SPEECH[2], folder / "more" / "c.wav")
    (folder / "notes.txt").write_text("not audio")
    (tmp_path / "empty").mkdir()
    files, _ = find_audio_files([folder])
    assert [f.name for f in files] == ["a.wav", "b.wav", "c.wav"]

    results = clf(folder)  # one folder: a list, one result per file, sorted
    assert [r.source for r in results] == [str(f) for f in files]
    assert all(r.ok for r in results) and [r.index for r in results] == [0, 1, 2]
    np.testing.assert_array_equal(results[0].scores, clf(folder / "a.wav").scores)

    mixed = clf([str(folder / "more"), SPEECH[0], tmp_path / "empty"])
    assert [Path(r.source).name for r in mixed] == ["c.wav", SPEECH[0].name, "empty"]
    assert mixed[1].ok and "no audio files" in mixed[2].error
    shaped = clf(folder, pipeline_output=True, top_k=1)
    assert len(shaped) == 3 and shaped[0] == [
        {"score": results[0].labels[0][1], "label": results[0].labels[0][0]}
    ]
    embedded = clf.embed(str(folder))
    assert [e.source for e in embedded] == [r.source for r in results]
