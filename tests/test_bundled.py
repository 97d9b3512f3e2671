"""The bundled keyword model: offline loading, the committed samples, held-out accuracy."""

import csv
import json
from pathlib import Path

import pytest

from astaudio import AudioClassifier
from astaudio.bundled import BUNDLED_DIR, bundled_models, resolve_bundled
from astaudio.cli import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "recipes" / "synthetic-commands" / "samples"
HELDOUT = ROOT / "tests" / "data" / "keywords-heldout"
# The samples are made by make_samples.py and shipped whatever the model says; the packaged model
# gets 7/8 of them ("down" is taken for _unknown_). One more miss is tolerated, two mean the demo
# broke.
SAMPLES_RIGHT = 6


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")


def expected_words() -> dict[str, str]:
    with open(SAMPLES / "manifest.csv", newline="") as handle:
        return {row["path"]: row["labels"] for row in csv.DictReader(handle)}


def test_bundled_model_is_shipped_and_small():
    assert "keywords" in bundled_models()
    folder = BUNDLED_DIR / "keywords"
    assert resolve_bundled("bundled:keywords") == str(folder) == resolve_bundled("keywords")
    size = (folder / "model.safetensors").stat().st_size
    assert size < 8 * 2**20
    assert "accuracy" in (folder / "README.md").read_text()


def test_samples_are_classified_offline():
    # The samples are shipped whatever the model says (make_samples.py picks them, not the
    # model); the demo must still run offline and get most of them right.
    classifier = AudioClassifier.from_pretrained("bundled:keywords", device="cpu")
    words = expected_words()
    results = classifier([SAMPLES / name for name in words], top_k=1)
    said = [r.labels[0][0] for r in results]
    assert sum(s == w for s, w in zip(said, words.values(), strict=True)) >= SAMPLES_RIGHT
    assert classifier.activation == "softmax"


def test_command_line_prints_a_word_per_sample(capsys):
    assert (
        main(["classify", str(SAMPLES), "--model", "keywords", "-f", "jsonl", "--top-k", "1"]) == 0
    )
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    words = expected_words()
    assert sorted(Path(r["file"]).name for r in records) == sorted(words)
    right = sum(r["labels"][0]["label"] == words[Path(r["file"]).name] for r in records)
    assert right >= SAMPLES_RIGHT


# Measured when the model was packaged (2026-11-30, stage L of the recipe): 86.6 % on the
# 4,700-clip test split (voices never heard in training); 268/298 = 89.9 % on the committed slice,
# which is mostly hard on purpose (babble, noise, reverberation, telephone, codecs, clips trimmed
# to the word and at 8 kHz, non-command words, real people's letters and short words; festival's
# and piper's voices, which this model has heard, among them; 267 without centring its trimmed
# clips). Stage I scored 268 too, stage G 263, stages C and E 262, the model before the
# trimmed-clip training 70.1 %. Below 87 % means features or model broke.
HELDOUT_FLOOR = 0.87
HELDOUT_ITEMS = 298


def test_heldout_accuracy_does_not_regress(capsys):
    code = main(["evaluate", "keywords", "--data", str(HELDOUT / "manifest.csv"), "--json",
                 "--workers", "0"])  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    (metrics,) = report["models"].values()
    assert code == 0 and report["items"] == HELDOUT_ITEMS
    assert metrics["accuracy"] >= HELDOUT_FLOOR, metrics["accuracy"]


def test_a_word_cut_to_its_length_is_heard_as_if_centred_in_a_second():
    import numpy as np
    import soundfile as sf

    classifier = AudioClassifier.from_pretrained("bundled:keywords", device="cpu")
    assert classifier.feature_extractor.center_short_clips
    clip, rate = sf.read(SAMPLES / "yes.flac", dtype="float32")
    loud = np.flatnonzero(np.abs(clip) > 0.05 * np.abs(clip).max())
    word = clip[loud[0] : loud[-1] + 1]  # the word alone, well under the 1-s window
    missing = rate - len(word)
    centred = np.pad(word, (missing // 2, missing - missing // 2))
    scores = [classifier((audio, rate), top_k=None).scores for audio in (word, centred)]
    np.testing.assert_allclose(scores[0], scores[1], atol=1e-5)
