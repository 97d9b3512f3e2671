"""The keyword recipe's real-voice parts and its model growth (recipes/synthetic-commands).

Growing the model must not change what it says before training; recorded words must reach the
training split as they were recorded (only the take's warp and level change them); the real
test sets must never score a command's homophone as a mistake.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import tiny_config

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "synthetic-commands"
sys.path.insert(0, str(RECIPE))

import add_recorded  # noqa: E402
import grow_model  # noqa: E402
import make_real_tests  # noqa: E402
from kws_audio import UNKNOWN_LABEL, Speaker, synthesize  # noqa: E402
from kws_signal import SAMPLE_RATE  # noqa: E402

from astaudio import ASTForAudioClassification  # noqa: E402


def _model(layers: int = 2) -> ASTForAudioClassification:
    torch.manual_seed(0)
    config = tiny_config(num_hidden_layers=layers, id2label={0: "yes", 1: "_unknown_"},
                         num_labels=None)  # fmt: skip
    return ASTForAudioClassification(config).eval()


def test_grown_model_has_the_layers_asked_and_the_same_logits():
    model = _model(layers=2)
    grown = grow_model.grow(model, layers=4)
    assert grown.config.num_hidden_layers == 4
    assert len(grown.audio_spectrogram_transformer.encoder.layer) == 4
    features = torch.randn(3, 128, 128)  # (B, frames, mel bins)
    with torch.no_grad():
        assert torch.allclose(grown(features).logits, model(features).logits, atol=1e-6)
        # the old layers sit at 0 and 2; a new layer is a real layer once its writers move
        old = model.audio_spectrogram_transformer.encoder.layer[1].output.dense.weight
        assert torch.equal(
            grown.audio_spectrogram_transformer.encoder.layer[2].output.dense.weight, old
        )
        new = grown.audio_spectrogram_transformer.encoder.layer[1]
        assert not new.output.dense.weight.any() and new.intermediate.dense.weight.any()
        new.output.dense.weight.normal_(std=0.5)
        assert not torch.allclose(grown(features).logits, model(features).logits, atol=1e-3)


@pytest.mark.parametrize("layers", [1, 2])
def test_growth_needs_more_layers(layers):
    with pytest.raises(ValueError):
        grow_model.grow(_model(layers=2), layers=layers)


def test_new_layers_are_spread_evenly_between_the_old_ones():
    new = None
    assert grow_model.layer_order(4, 8) == [0, new, 1, new, 2, new, 3, new]
    assert grow_model.layer_order(8, 12) == [0, new, 1, 2, new, 3, 4, new, 5, 6, new, 7]
    assert grow_model.layer_order(2, 6) == [0, new, new, 1, new, new]
    model = _model(layers=2)
    grown = grow_model.grow(model, layers=3)  # not a multiple: one new layer, after old 0
    features = torch.randn(2, 128, 128)  # (B, frames, mel bins)
    with torch.no_grad():
        assert torch.allclose(grown(features).logits, model(features).logits, atol=1e-6)
    layers = grown.audio_spectrogram_transformer.encoder.layer
    old = model.audio_spectrogram_transformer.encoder.layer
    assert torch.equal(layers[2].intermediate.dense.weight, old[1].intermediate.dense.weight)
    assert not layers[1].output.dense.weight.any()


def test_real_sets_label_commands_and_leave_out_homophones():
    assert make_real_tests.label_of("seven") == "seven"
    assert make_real_tests.label_of("go") == "go"
    assert make_real_tests.label_of("clubs") == UNKNOWN_LABEL
    for homophone in ("to", "too", "for", "won", "know", "ate"):
        assert make_real_tests.label_of(homophone) is None


def test_hedgewars_phrases_hold_no_command_word_and_come_out_as_non_commands(tmp_path, monkeypatch):
    from kws_audio import COMMAND_WORDS
    from words import FORBIDDEN

    for entry in make_real_tests.HEDGEWARS_PHRASES:
        stem, _, said = entry.partition(":")
        words = (said or stem.lower()).split("-")
        assert "".join(words) == stem.lower().replace("'", "")  # the file says what we say
        assert not set(words) & (set(COMMAND_WORDS) | set(FORBIDDEN)), entry
    monkeypatch.setattr(make_real_tests, "HEDGEWARS", tmp_path / "voices")
    monkeypatch.setattr(make_real_tests, "ASTERISK", tmp_path / "none")
    monkeypatch.setattr(make_real_tests, "POCKETSPHINX", tmp_path / "none")
    monkeypatch.setattr(make_real_tests, "KTUBERLING", tmp_path / "none")
    rng = np.random.default_rng(0)
    word = 0.2 * np.sin(np.arange(8000) * 0.1) * np.hanning(8000)  # 0.5 s
    phrase = np.tile(word, 3)  # 1.5 s of sound: longer than the model's window once trimmed
    (tmp_path / "voices" / "Pirate").mkdir(parents=True)
    (tmp_path / "voices" / "Robot").mkdir(parents=True)
    for pack, stem, audio in (("Pirate", "Hello", word), ("Pirate", "Takecover", word),
                              ("Pirate", "Leavemealone", phrase), ("Pirate", "Yessir", word),
                              ("Robot", "Hello", word)):  # fmt: skip
        sf.write(tmp_path / "voices" / pack / f"{stem}.ogg", audio + 1e-4 * rng.standard_normal(
            len(audio)), SAMPLE_RATE)  # fmt: skip
    rows = make_real_tests.build(tmp_path / "out", seed=0)
    recorded = [r for r in rows if r["condition"] == "non-command"]
    assert [(r["speaker"], r["text"], r["labels"]) for r in recorded] == [
        ("hedgewars-pirate", "hello", UNKNOWN_LABEL), ("hedgewars-pirate", "take-cover", UNKNOWN_LABEL)
    ]  # fmt: skip
    assert {r["source"] for r in rows} == {"real hedgewars"}
    assert sum(r["condition"] == "non-command trimmed-8k" for r in rows) == 2


def test_recording_engine_returns_the_file_as_recorded(tmp_path):
    rng = np.random.default_rng(0)
    audio = 0.1 * rng.standard_normal(22_050)
    sf.write(tmp_path / "word.wav", audio, 22_050, subtype="FLOAT")
    said, rate = synthesize(Speaker("recording", "ktuberling-de", str(tmp_path / "word.wav")),
                            "ball", speed=1.3, pitch=1.2)  # fmt: skip
    assert rate == 22_050
    np.testing.assert_allclose(said, audio, atol=1e-7)
    assert Speaker("recording", "ktuberling-de", "/x/y.ogg").slug == "recording-ktuberling-de"


def test_recorded_unknowns_hold_out_english_and_take_each_file_once(tmp_path, monkeypatch):
    for language in ("de", "en", "fr"):
        (tmp_path / language).mkdir()
        sf.write(tmp_path / language / "ball.wav", np.zeros(SAMPLE_RATE // 2), SAMPLE_RATE)
    (tmp_path / "sr@latin").mkdir()
    (tmp_path / "sr@latin" / "ball.wav").symlink_to(tmp_path / "fr" / "ball.wav")
    monkeypatch.setattr(add_recorded, "KTUBERLING", tmp_path)
    found = add_recorded.ktuberling_recordings()
    assert sorted(language for language, _ in found) == ["de", "fr"]
    assert all(path.parent.name != "en" for _, path in found)
