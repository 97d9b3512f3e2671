"""The keyword recipe's data planning and condition sets (recipes/synthetic-commands).

The recipe is not part of the package, but the bundled model and the held-out slice come from
it: these check the parts whose mistakes would not show in a trained model's accuracy (an engine
leaking into held-out splits, a condition that does not do what its name says).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "synthetic-commands"
sys.path.insert(0, str(RECIPE))

import make_conditions  # noqa: E402
import make_dataset  # noqa: E402
from kws_audio import VoiceInventory, festival_voices  # noqa: E402
from kws_signal import SAMPLE_RATE  # noqa: E402

needs_festival = pytest.mark.skipif(
    not shutil.which("text2wave") or not festival_voices(),
    reason="festival and its voices are not installed (scripts/install-system-deps.sh)",
)


def plan(festival_share: float) -> list:
    inventory = VoiceInventory(
        espeak_accents=["en-gb", "en-us", "en-029"],
        espeak_variants=["f1", "f2", "f3", "m1", "m2", "m3"],
        variant_genders={"f1": "F", "f2": "F", "f3": "F", "m1": "M", "m2": "M", "m3": "M"},
        flite_voices=[("awb", "awb"), ("rms", "rms"), ("slt", "slt")],
    )
    rng = np.random.default_rng(0)
    splits = make_dataset.split_voices(inventory, rng)
    speakers = make_dataset.split_speakers(splits, None, rng, festival=festival_share > 0)
    labels = make_dataset.class_labels(include_unknown=True)
    unknown = make_dataset.unknown_vocabulary(rng)
    return make_dataset.plan_dataset(
        splits, speakers, labels, {"train": 200, "validation": 40, "test": 40}, rng, unknown,
        {}, festival_share=festival_share,
    )  # fmt: skip


@needs_festival
def test_festival_speaks_only_training_clips_at_the_asked_share():
    specs = plan(festival_share=0.2)
    engines = Counter(
        (spec.split, spec.speaker.engine) for spec in specs if spec.speaker is not None
    )
    assert engines[("validation", "festival")] == engines[("test", "festival")] == 0
    train_words = sum(n for (split, _), n in engines.items() if split == "train")
    assert engines[("train", "festival")] / train_words == pytest.approx(0.2, abs=0.02)
    assert engines[("train", "flite")] / train_words == pytest.approx(0.25, abs=0.02)
    voices = {spec.speaker.voice for spec in specs if spec.speaker and spec.split == "train"}
    assert set(festival_voices()) <= voices


def test_without_festival_share_no_clip_is_festival_and_flite_keeps_its_share():
    specs = plan(festival_share=0.0)
    assert not any(spec.speaker and spec.speaker.engine == "festival" for spec in specs)
    flite = sum(
        1 for s in specs if s.speaker and s.speaker.engine == "flite" and s.split == "train"
    )
    words = sum(1 for s in specs if s.speaker and s.split == "train")
    assert flite / words == pytest.approx(make_dataset.FLITE_SHARE, abs=0.02)


def tone_word(seconds: float = 0.3) -> np.ndarray:
    """1 s with a word-like burst (1 kHz and 6 kHz partials) in the middle: (16000,)."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    burst = (np.sin(2 * np.pi * 1000 * t) + np.sin(2 * np.pi * 6000 * t)) * 0.1
    clip = np.zeros(SAMPLE_RATE)
    start = (SAMPLE_RATE - len(burst)) // 2
    clip[start : start + len(burst)] = burst * np.hanning(len(burst))
    return clip


def band_power(x: np.ndarray, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)
    return float(spectrum[(freqs >= low) & (freqs < high)].sum())


def test_trimmed_conditions_cut_to_the_word_and_the_8k_one_drops_the_top_band():
    clip = tone_word()
    rng = np.random.default_rng(0)
    trimmed = make_conditions.apply_condition("trimmed", clip, rng, [], [])
    assert 0.2 * SAMPLE_RATE <= len(trimmed) <= 0.31 * SAMPLE_RATE
    if shutil.which("sox") is None:
        pytest.skip("sox is not installed")
    narrow = make_conditions.apply_condition("trimmed-8k", clip, rng, [], [])
    assert 0.2 * SAMPLE_RATE <= len(narrow) <= 0.32 * SAMPLE_RATE
    assert band_power(narrow, 4500, 8000) < 1e-4 * band_power(narrow, 500, 1500)
    assert band_power(trimmed, 4500, 8000) > 0.1 * band_power(trimmed, 500, 1500)


@pytest.mark.parametrize("condition", ["trimmed-8k", "telephone", "reverb", "slow"])
def test_a_condition_made_twice_gives_the_same_clip(condition):
    if shutil.which("sox") is None:
        pytest.skip("sox is not installed")
    clip = tone_word() + 1e-3 * np.random.default_rng(0).standard_normal(SAMPLE_RATE)
    once, again = (
        make_conditions.apply_condition(condition, clip, np.random.default_rng(1), [], [])
        for _ in range(2)
    )
    assert np.array_equal(once, again)  # sox's dither would make them differ


def test_letter_clips_are_spoken_by_the_training_split_voices_they_name():
    import add_unknown

    info = {"speakers": ["espeak:en-us+f1", "espeak:en-029+Alex", "flite:slt",
                         "festival:kal_diphone"]}  # fmt: skip
    speakers = add_unknown.training_speakers(info, ["espeak", "festival"])
    assert [s.name for s in speakers] == [
        "espeak:en-us+f1", "espeak:en-029+Alex", "festival:kal_diphone"
    ]  # fmt: skip
    assert [s.base for s in speakers] == ["en-us", "en-029", "kal_diphone"]
    assert add_unknown.training_speakers(info, ["flite"])[0].voice == "slt"


def test_converted_clip_keeps_its_take_under_its_own_name_with_draws_in_range():
    import add_converted
    from kws_audio import Speaker

    rng = np.random.default_rng(0)
    speaker = Speaker("espeak", "en-us", "f1")
    spec = make_dataset.plan_word_clip(rng, speaker, "go", "go", "train", 60_001, [])
    converted = [add_converted.convert(rng, spec) for _ in range(300)]
    assert converted[0].path == spec.path.replace(f"/{speaker.slug}_", f"/{speaker.slug}-vc_")
    assert {c.text for c in converted} == {"go"} and {c.seed for c in converted} == {spec.seed}
    for name, bounds in (("formant", add_converted.FORMANT_RATIO),
                         ("pitch_median", add_converted.PITCH_MEDIAN),
                         ("pitch_range", add_converted.PITCH_RANGE)):  # fmt: skip
        draws = np.array([getattr(c, name) for c in converted])
        assert bounds[0] <= draws.min() and draws.max() <= bounds[1]
        span = bounds[1] - bounds[0]
        assert draws.min() < bounds[0] + 0.1 * span and draws.max() > bounds[1] - 0.1 * span
    assert (spec.formant, spec.pitch_median, spec.pitch_range) == (1.0, 1.0, 1.0)


def test_held_out_accented_clip_is_clean_and_filed_under_its_split():
    import add_accented
    from kws_audio import Speaker

    rng = np.random.default_rng(1)
    speaker = Speaker("accent", "czech_krb", "czech_krb")
    for _ in range(20):  # half the planned clips are noisy
        spec = make_dataset.plan_word_clip(rng, speaker, "nine", "nine", "train", 70_000, ["n.wav"])
        if spec.noise != "none":
            break
    test = add_accented.held_out(spec, "test")
    assert spec.noise != "none" and test.noise == "none" and test.snr_db is None
    assert (test.split, test.path) == ("test", spec.path.replace("audio/train/", "audio/test/"))
    assert test.path.startswith("audio/test/nine/accent-czech_krb_nine_")
    narrow = add_accented.held_out(spec, "test", "test-trimmed-8k")  # a --condition set
    assert narrow.split == "test" and narrow.path.startswith("audio/test-trimmed-8k/nine/")


def test_condition_is_applied_to_every_clip_of_a_held_out_set(tmp_path):
    import add_accented
    import soundfile as sf

    (tmp_path / "speakers.json").write_text('{"test": {"noise_files": []}}')
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    lines = ["path,labels,split"]
    for n, (start, seconds) in enumerate([(0.2, 0.3), (0.5, 0.45)]):  # a tone burst in 1 s
        clip = np.where((t >= start) & (t < start + seconds), 0.3 * np.sin(2 * np.pi * 440 * t), 0)
        sf.write(tmp_path / f"{n}.wav", clip, SAMPLE_RATE, subtype="PCM_16")
        lines.append(f"{n}.wav,yes,test")
    (tmp_path / "set.csv").write_text("\n".join(lines) + "\n")
    add_accented.apply_to_set(tmp_path, "set.csv", "trimmed", seed=0)
    lengths = [len(sf.read(tmp_path / f"{n}.wav")[0]) for n in range(2)]
    assert lengths[0] == pytest.approx(0.3 * SAMPLE_RATE, abs=320)  # to the 10-ms frame
    assert lengths[1] == pytest.approx(0.45 * SAMPLE_RATE, abs=320)


def test_extended_manifest_keeps_each_clip_once_and_adds_the_new_rows_last(tmp_path):
    header = "path,labels,split\n"
    (tmp_path / "a.csv").write_text(header + "x.wav,yes,train\ny.wav,no,test\n")
    (tmp_path / "b.csv").write_text(header + "y.wav,no,test\nz.wav,_unknown_,train\n")
    new = [{"path": "n.wav", "label": "_unknown_", "split": "train", "speaker": "espeak:x"}]
    make_dataset.extend_manifest(tmp_path, ["a.csv", "b.csv"], "c.csv", new)
    lines = (tmp_path / "c.csv").read_text().splitlines()
    assert lines == [
        "path,labels,split", "x.wav,yes,train", "y.wav,no,test", "z.wav,_unknown_,train",
        "n.wav,_unknown_,train",
    ]  # fmt: skip


def test_letter_names_hold_no_command_word_or_homophone():
    from words import FORBIDDEN, LETTER_NAMES, tokens

    assert len(LETTER_NAMES) >= 25
    assert not [name for name in LETTER_NAMES if FORBIDDEN & set(tokens(name))]


def test_dictionary_words_pass_over_homophones_inflections_and_held_out_words(tmp_path):
    from words import dictionary_words

    pronouncing = tmp_path / "cmudict.dict"
    pronouncing.write_text("\n".join([
        "one W AH N", "nine N AY N", "stop S T AA P",  # commands: never drawn themselves
        "won W AH N",  # a homophone of one
        "ones W AH N Z", "stopped S T AA P T",  # a command and one more sound
        "nineteen N AY N T IY N",  # a near-miss: kept
        "table T EY B AH L", "tree T R IY", "music M Y UW Z IH K",
        "asking AE S K IH NG", "paris P EH R IH S", "acorn EY K AO R N",
        "ah AA", "abandonment AH B AE N D AH N M AH N T",  # too short / too long
        "kettle K EH T AH L", "kettle(2) W AH N",  # any pronunciation counts
    ]) + "\n")  # fmt: skip
    word_list = tmp_path / "words"
    word_list.write_text("one\nnine\nstop\nwon\nones\nstopped\nnineteen\ntable\ntree\nmusic\n"
                         "asking\nParis\nah\nabandonment\nkettle\nacorn\n")  # fmt: skip
    rng = np.random.default_rng(0)
    drawn = dictionary_words(pronouncing, word_list, 4, rng, exclude={"tree"},
                             held_out={"ask", "a"})  # fmt: skip
    assert drawn == ["acorn", "music", "nineteen", "table"]  # "a" bars no word but itself
    rng = np.random.default_rng(0)
    held_out = {"music", "ask"}
    assert dictionary_words(pronouncing, word_list, 2, rng, {"acorn"}, held_out) in (
        ["nineteen", "table"], ["nineteen", "tree"], ["table", "tree"],
    )  # fmt: skip
    with pytest.raises(ValueError, match="3 usable words, 4 asked for"):
        dictionary_words(pronouncing, word_list, 4, rng, {"acorn"}, held_out)


def test_babble_sentence_joins_its_words_in_order_with_short_gaps_at_one_level():
    from make_babble import babble_sentence

    rng = np.random.default_rng(0)
    words = [np.full(1600, 0.5), np.full(3200, -0.02), np.full(800, 0.3)]
    sentence = babble_sentence(rng, words)
    gaps = len(sentence) - sum(len(w) for w in words)
    assert 2 * 0.02 * SAMPLE_RATE <= gaps <= 2 * 0.25 * SAMPLE_RATE
    assert np.sqrt(np.mean(sentence**2)) == pytest.approx(0.1)
    voiced = sentence[sentence != 0]
    assert len(voiced) == sum(len(w) for w in words)  # no word cut, nothing else added
    levels = [voiced[:1600], voiced[1600:4800], voiced[4800:]]
    assert [np.sign(w[0]) for w in levels] == [1, -1, 1]  # the words in their order
    assert all(np.ptp(w) == 0 for w in levels)
    # each word at its own level, within 6 dB of the loudest
    peaks = [abs(w[0]) for w in levels]
    assert min(peaks) / max(peaks) >= 10 ** (-6 / 20) - 1e-9


def test_word_babble_draws_only_training_unknown_clips_outside_the_excluded_manifest(
    tmp_path, monkeypatch
):
    import make_babble

    header = "path,labels,split\n"
    rows = {"a.wav": ("_unknown_", "train", 1600), "b.wav": ("_unknown_", "train", 3200),
            "c.wav": ("_unknown_", "train", 4800), "d.wav": ("yes", "train", 6400),
            "e.wav": ("_unknown_", "test", 8000)}  # fmt: skip
    for name, (_, _, length) in rows.items():
        clip = np.zeros(SAMPLE_RATE)
        clip[4000 : 4000 + length] = 0.5  # a "word" of its own length, silence around it
        sf.write(tmp_path / name, clip, SAMPLE_RATE, subtype="PCM_16")
    lines = [f"{n},{label},{split}" for n, (label, split, _) in rows.items()]
    (tmp_path / "full.csv").write_text(header + "\n".join(lines) + "\n")
    (tmp_path / "base.csv").write_text(header + lines[0] + "\n")
    argv = ["make_babble.py", str(tmp_path), "--manifest", "full.csv", "--sentences", "20",
            "--exclude-manifest", "base.csv", "--name", "words"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    assert make_babble.main() == 0
    runs = set()
    for path in (tmp_path / "babble" / "words").glob("*.wav"):
        sentence = sf.read(path)[0]
        edges = np.flatnonzero(np.diff(np.r_[0, sentence != 0, 0]))
        runs |= set(np.diff(edges)[::2].tolist())  # lengths of the spoken stretches
    assert runs == {3200, 4800}  # b and c: not a (excluded), d (a command) or e (test split)


def test_extra_babble_folders_join_the_training_pool_and_a_missing_one_is_an_error(tmp_path):
    import json

    import train_kws

    (tmp_path / "speakers.json").write_text(json.dumps({"train": {"noise_files": []}}))
    for folder, count in (("train", 2), ("train-words", 3), ("empty", 0)):
        (tmp_path / "babble" / folder).mkdir(parents=True)
        for i in range(count):
            sf.write(tmp_path / "babble" / folder / f"{i}.wav", np.zeros(160), SAMPLE_RATE)
    config = train_kws.augment_config(tmp_path, 0.6, 0.1, ("train-words",))
    assert len(config.babble_files) == 5 and config.p_babble == 0.6
    assert sum("train-words" in f for f in config.babble_files) == 3
    assert len(train_kws.augment_config(tmp_path).babble_files) == 2
    with pytest.raises(SystemExit, match="empty holds no WAV"):
        train_kws.augment_config(tmp_path, babble_extra=("empty",))


def test_speed_and_specaugment_flags_reach_the_training(tmp_path, monkeypatch, capsys):
    import json
    import types

    import train_kws

    (tmp_path / "speakers.json").write_text(json.dumps({"train": {"noise_files": []}}))
    (tmp_path / "babble" / "train").mkdir(parents=True)
    sf.write(tmp_path / "babble" / "train" / "0.wav", np.zeros(160), SAMPLE_RATE)
    seen = {}

    def fake_finetune(train_spec, valid_spec, out, **kwargs):
        seen.update(kwargs)
        return types.SimpleNamespace(epoch=0, best_epoch=0, best_metric=0.0)

    monkeypatch.setattr(train_kws, "finetune", fake_finetune)
    monkeypatch.setattr(train_kws, "load_dataset_spec", lambda *a, **k: None)
    argv = ["train_kws.py", "--data", str(tmp_path), "--out", str(tmp_path / "run"),
            "--p-speed", "0.6", "--speed", "0.8", "1.25", "--freqm", "24", "--timem", "30",
            "--loss", "bce", "--mixup", "0.3"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    assert train_kws.main() == 0
    augment = seen["waveform_augment"].config
    assert augment.p_speed == 0.6 and tuple(augment.speed) == (0.8, 1.25)
    assert (seen["train"].freqm, seen["train"].timem) == (24, 30)
    assert (seen["train"].loss, seen["train"].mixup) == ("bce", 0.3)
    assert seen["model"] is None  # no --init: nothing to move to sigmoids (bce_start)
    saved = json.loads((tmp_path / "run" / "augment.json").read_text())
    assert saved["p_speed"] == 0.6 and saved["speed"] == [0.8, 1.25]  # kept for --resume
    for bad in (["--speed", "1.2", "0.8"], ["--p-speed", "1.5"], ["--mixup", "-0.1"]):
        monkeypatch.setattr(sys, "argv", argv[:3] + ["--out", str(tmp_path / "other"), *bad])
        with pytest.raises(SystemExit):
            train_kws.main()
        assert "error:" in capsys.readouterr().err


def test_bce_start_moves_every_class_bias_by_the_shift_that_fits_sigmoids(tmp_path, monkeypatch):
    import torch
    import train_kws
    from conftest import tiny_config
    from safetensors.torch import load_file

    import astaudio.evaluate
    from astaudio import ASTForAudioClassification

    labels = {0: "yes", 1: "no", 2: "_silence_", 3: "_unknown_"}
    torch.manual_seed(0)
    ASTForAudioClassification(tiny_config(id2label=labels, num_labels=None)).save_pretrained(
        tmp_path / "in"
    )
    (tmp_path / "in" / "preprocessor_config.json").write_text("{}")
    # softmax-trained logits: the target 9 to 11, the others 4 to 6; any shift leaves their
    # softmax alone, and sigmoids fit best with the boundary between the two groups
    rng = np.random.default_rng(0)
    targets = np.eye(4)[rng.integers(0, 4, 200)]
    logits = np.where(targets == 1, 10.0, 5.0) + rng.uniform(-1, 1, (200, 4))
    scores = lambda *args, **kwargs: (logits, targets, list(labels.values()))  # noqa: E731
    monkeypatch.setattr(astaudio.evaluate, "model_scores", scores)

    out = train_kws.bce_start(str(tmp_path / "in"), None, tmp_path / "out")
    before = load_file(tmp_path / "in" / "model.safetensors")
    after = load_file(out / "model.safetensors")
    change = after["classifier.dense.bias"] - before["classifier.dense.bias"]
    assert torch.allclose(change, change[0].expand(4), atol=1e-5)
    assert -9.0 < float(change[0]) < -6.0  # the shift lies between the groups
    assert all(torch.equal(after[k], v) for k, v in before.items() if k != "classifier.dense.bias")

    def bce(shift: float) -> float:  # written from the formula, float64
        z = logits + shift
        return float(np.mean(np.log1p(np.exp(-np.abs(z))) + np.maximum(z, 0) - targets * z))

    moved = float(change[0])
    assert bce(moved) < bce(0.0) / 10
    assert bce(moved) <= min(bce(moved - 0.5), bce(moved + 0.5))
    assert (out / "config.json").read_bytes() == (tmp_path / "in" / "config.json").read_bytes()
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
    ]


def test_unknown_offset_moves_only_that_logit_by_the_offset(tmp_path, monkeypatch):
    import offset_unknown
    import torch
    from conftest import tiny_config

    from astaudio import ASTForAudioClassification

    labels = {0: "yes", 1: "no", 2: "_silence_", 3: "_unknown_"}
    torch.manual_seed(0)
    model = ASTForAudioClassification(tiny_config(id2label=labels, num_labels=None)).eval()
    model.save_pretrained(tmp_path / "in")
    (tmp_path / "in" / "preprocessor_config.json").write_text("{}")
    argv = ["offset_unknown.py", str(tmp_path / "in"), str(tmp_path / "out"), "--offset", "-0.5"]
    monkeypatch.setattr(sys, "argv", argv)
    assert offset_unknown.main() == 0
    moved = ASTForAudioClassification.from_pretrained(tmp_path / "out").eval()
    features = torch.randn(2, 128, 128)  # (B, frames, mel bins)
    with torch.no_grad():
        change = moved(features).logits - model(features).logits  # (B, 4)
    assert torch.allclose(change[:, 3], torch.full((2,), -0.5), atol=1e-6)
    assert torch.equal(change[:, :3], torch.zeros(2, 3))


def _vowel(f0: float | None, formants: tuple[float, ...], seconds: float = 0.6) -> np.ndarray:
    """A source-filter vowel: an impulse train at ``f0`` (white noise when None, a whisper)
    through one resonator (80 Hz bandwidth) per formant. 16 kHz float64 (T,)."""
    from scipy.signal import lfilter

    n = int(seconds * SAMPLE_RATE)
    if f0 is None:
        signal = np.random.default_rng(0).standard_normal(n)
    else:
        signal = np.zeros(n)
        signal[:: round(SAMPLE_RATE / f0)] = 1.0
    radius = np.exp(-np.pi * 80 / SAMPLE_RATE)
    for formant in formants:
        angle = 2 * np.pi * formant / SAMPLE_RATE
        signal = lfilter([1.0], [1.0, -2 * radius * np.cos(angle), radius**2], signal)
    return 0.5 * signal / np.abs(signal).max()


def _f0(audio: np.ndarray) -> float:
    """Autocorrelation pitch of the middle half, searched over 60-400 Hz."""
    middle = audio[len(audio) // 4 : 3 * len(audio) // 4]
    corr = np.correlate(middle, middle, "full")[len(middle) - 1 :]
    low, high = SAMPLE_RATE // 400, SAMPLE_RATE // 60
    return SAMPLE_RATE / (low + int(np.argmax(corr[low:high])))


def _first_formant(audio: np.ndarray) -> float:
    """Lowest LPC resonance (order 12, autocorrelation method) above 200 Hz of the middle half."""
    from scipy.linalg import solve_toeplitz

    middle = audio[len(audio) // 4 : 3 * len(audio) // 4] * np.hamming(len(audio) // 2)
    corr = np.correlate(middle, middle, "full")[len(middle) - 1 :][:13]
    coefficients = solve_toeplitz(corr[:12], corr[1:13])
    roots = np.roots(np.concatenate([[1.0], -coefficients]))
    freqs = np.angle(roots[np.imag(roots) > 0]) * SAMPLE_RATE / (2 * np.pi)
    return float(np.min(freqs[freqs > 200]))


@pytest.mark.parametrize(
    ("formant", "pitch_median", "f0_ratio", "formant_ratio"),
    [(1.2, 1.0, 1.0, 1.2), (0.85, 1.0, 1.0, 0.85), (1.0, 1.5, 1.5, 1.0), (1.0, 0.7, 0.7, 1.0)],
)
def test_voice_conversion_moves_formants_and_pitch_each_on_its_own(
    formant, pitch_median, f0_ratio, formant_ratio
):
    pytest.importorskip("parselmouth")
    from kws_audio import change_voice

    vowel = _vowel(120.0, (600.0, 1400.0, 2500.0))
    converted = change_voice(vowel, formant, pitch_median, 1.0)
    assert abs(len(converted) - len(vowel)) < 0.02 * len(vowel)  # PSOLA keeps the length
    assert _f0(converted) / _f0(vowel) == pytest.approx(f0_ratio, rel=0.05)
    formants = _first_formant(converted) / _first_formant(vowel)
    assert formants == pytest.approx(formant_ratio, rel=0.06)


def test_whispered_take_has_its_formants_moved_by_resampling():
    pytest.importorskip("parselmouth")
    from kws_audio import change_voice

    whisper = _vowel(None, (600.0, 1400.0, 2500.0))
    converted = change_voice(whisper, 1.2, 1.5, 1.0)
    assert len(converted) == pytest.approx(len(whisper) / 1.2, abs=2)
    assert _first_formant(converted) / _first_formant(whisper) == pytest.approx(1.2, rel=0.06)


def _test_voices(data: Path) -> None:
    """The two files of a dataset folder that make_conditions.plan reads."""
    speakers = {"espeak_accents": ["en-us"], "espeak_variants": ["f1", "m1"],
                "flite_voices": [["rms", "rms"]]}  # fmt: skip
    (data / "speakers.json").write_text(json.dumps({"test": speakers}))
    (data / "unknown_words.json").write_text(json.dumps({"test": ["hello", "music"]}))


@needs_festival
def test_hibari_rows_come_last_and_leave_the_other_sources_clips_as_they_were(
    tmp_path, monkeypatch
):
    _test_voices(tmp_path)
    monkeypatch.setattr(make_conditions, "hibari_voices", lambda: [])
    before = make_conditions.plan(tmp_path, takes=2, seed=1)
    monkeypatch.setattr(make_conditions, "hibari_voices", lambda: ["heart", "heart-gb"])
    after = make_conditions.plan(tmp_path, takes=2, seed=1)
    assert after[: len(before)] == before
    added = after[len(before) :]
    assert {row["source"] for row in added} == {"hibari"}
    commands = [row for row in added if row["label"] in make_conditions.COMMAND_WORDS]
    assert len(commands) == 2 * len(make_conditions.COMMAND_WORDS)  # 2 takes a word
    assert Counter(row["speaker"] for row in commands) == {
        "hibari|heart|heart": len(make_conditions.COMMAND_WORDS),
        "hibari|heart-gb|heart-gb": len(make_conditions.COMMAND_WORDS),
    }  # the two pronunciations take turns
    non_commands = sorted({"hello", "music", *make_conditions.EXTRA_NON_COMMANDS})
    assert sorted(r["text"] for r in added if r["label"] == "_unknown_") == non_commands
    assert all(0.94 <= row["warp"] <= 1.06 for row in commands)


def test_hibari_take_is_the_same_audio_twice_and_its_british_voice_says_it_otherwise():
    pytest.importorskip("hibari")
    from kws_audio import synthesize_hibari

    once, rate = synthesize_hibari("tomato", "heart", 1.0)
    again, _ = synthesize_hibari("tomato", "heart", 1.0)
    assert rate == 24000 and once.dtype == np.float32 and len(once) > 0.2 * rate
    assert np.array_equal(once, again)  # the noise is seeded by the take
    slower, _ = synthesize_hibari("tomato", "heart", 1.3)
    assert len(slower) > 1.15 * len(once)  # length scale > 1 is slower
    british, _ = synthesize_hibari("tomato", "heart-gb", 1.0)
    assert len(british) != len(once) or not np.allclose(british, once)
