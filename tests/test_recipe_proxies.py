"""The keyword recipe's proxy table (recipes/synthetic-commands/proxies.py).

An ensemble column must average the members' softmax probabilities, and a column with test-time
warps those of every member on every resampled view; an offset must move only `_unknown_`, the
rows must count `_silence_` as a rejection, and a folder's logits must be the model's own
(checked clip by clip against the feature extractor and the model, on the clips as they are and
resampled) and be reused only for the same files and the same warp.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import tiny_config

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "synthetic-commands"
sys.path.insert(0, str(RECIPE))

import proxies  # noqa: E402

from astaudio import ASTFeatureExtractor, ASTForAudioClassification  # noqa: E402

LABELS = ["yes", "no", "_unknown_", "_silence_"]


def _fake(logits: dict[str, list[list[float]]]) -> dict:
    return {"labels": LABELS, **{name: np.array(rows) for name, rows in logits.items()}}


def test_ensemble_averages_softmax_probabilities_and_offset_moves_unknown_only():
    sets = {"conditions": [{}, {}]}
    members = {
        Path("a"): _fake({"conditions": [[4.0, 0.0, 2.5, -5.0], [0.5, 0.0, 3.0, 0.0]]}),
        Path("b"): _fake({"conditions": [[-4.0, 3.0, 2.5, -5.0], [0.5, 0.0, 3.0, 0.0]]}),
    }

    def logits_of(folder, warp):
        return members[folder]

    assert proxies.column_predictions("a", sets, logits_of)["conditions"][0] == "yes"
    assert proxies.column_predictions("b", sets, logits_of)["conditions"][0] == "no"
    both = torch.stack([torch.tensor(m["conditions"][0]).softmax(-1) for m in members.values()])
    expected = LABELS[int(both.mean(0).argmax())]
    mean_logits = torch.tensor(np.mean([m["conditions"][0] for m in members.values()], axis=0))
    assert expected != LABELS[int(mean_logits.argmax())]  # the two averages disagree here
    assert proxies.column_predictions("a+b", sets, logits_of)["conditions"][0] == expected
    # -3.5 on `_unknown_` hands row 2 to the next class; the others keep their order
    lowered = proxies.column_predictions("a@-3.5", sets, logits_of)["conditions"]
    assert lowered == ["yes", "yes"]
    assert proxies.column_predictions("a@2", sets, logits_of)["conditions"][0] == "_unknown_"


def test_at_rejection_finds_the_smallest_offset_that_rejects_that_share():
    # four seen-engine non-commands whose `_unknown_` logit trails the best by 0.5, 1, 1.5, 2
    sets = {"conditions": [_row("seen-engines", "non-command", "_unknown_")] * 4}
    margins = [0.5, 1.0, 1.5, 2.0]
    fake = _fake({"conditions": [[3.0, 0.0, 3.0 - m, -9.0] for m in margins]})

    def logits_of(folder, warp):
        return fake

    def rejected(column: str) -> float:
        table = proxies.proxy_rows(sets, proxies.column_predictions(column, sets, logits_of))
        return float(table["seen engines: non-commands rejected (4)"])

    extra = proxies.offset_for_rejection("a", sets, logits_of, 50.0)
    assert 1.0 < extra <= 1.01  # two of the four need more than their margin of 1
    assert rejected(f"a@{extra}") >= 50.0 > rejected(f"a@{extra - 0.01}")
    # a column's own offset counts: half as much more is needed from @0.5
    assert 0.5 < proxies.offset_for_rejection("a@0.5", sets, logits_of, 50.0) <= 0.51
    assert proxies.offset_for_rejection("a", sets, logits_of, 100.0) > 2.0
    with pytest.raises(SystemExit, match="non-command clips"):
        proxies.offset_for_rejection(
            "a",
            {"conditions": []},
            lambda f, w: {"labels": LABELS, "conditions": np.zeros((0, 4))},
            50.0,
        )


def test_warps_average_every_views_probabilities():
    sets = {"conditions": [{}]}
    views = {  # the view at 0.9 says yes, the one at 1.1 no, and their mean is _unknown_
        1.0: _fake({"conditions": [[2.0, 0.0, 0.0, -9.0]]}),
        0.9: _fake({"conditions": [[3.0, -3.0, 2.6, -9.0]]}),
        1.1: _fake({"conditions": [[-3.0, 2.9, 2.6, -9.0]]}),
    }
    asked = []

    def logits_of(folder, warp):
        asked.append((folder, warp))
        return views[warp]

    assert proxies.column_predictions("a~1", sets, logits_of)["conditions"] == ["yes"]
    assert proxies.column_predictions("a~0.9", sets, logits_of)["conditions"] == ["yes"]
    assert proxies.column_predictions("a~1.1", sets, logits_of)["conditions"] == ["no"]
    both = torch.stack([torch.tensor(views[w]["conditions"][0]).softmax(-1) for w in (0.9, 1.1)])
    assert LABELS[int(both.mean(0).argmax())] == "_unknown_"
    asked.clear()
    assert proxies.column_predictions("a+b~0.9,1.1@0", sets, logits_of)["conditions"] == [
        "_unknown_"
    ]
    assert sorted(asked) == [(Path("a"), 0.9), (Path("a"), 1.1), (Path("b"), 0.9), (Path("b"), 1.1)]
    # the offset applies to every view before the mean: -1 hands the row back to yes
    assert proxies.column_predictions("a~0.9,1.1@-1", sets, logits_of)["conditions"] == ["yes"]
    for column, message in (("a~0.9,x", "must be numbers"), ("a~0.3", "from 0.5 to 2"),
                            ("a~1@y", "must be a number")):  # fmt: skip
        with pytest.raises(SystemExit, match=message):
            proxies.column_predictions(column, sets, logits_of)


def _row(source: str, condition: str, label: str, path: str = "x.wav") -> dict:
    return {"source": source, "condition": condition, "labels": label, "path": path}


def test_rows_count_rejections_per_source_and_digits_per_voice():
    sets = {
        "conditions": [
            _row("seen-engines", "clean", "yes"),
            _row("seen-engines", "clean", "no"),
            _row("seen-engines", "babble10", "yes"),
            _row("seen-engines", "non-command", "_unknown_"),
            _row("seen-engines", "non-command", "_unknown_"),
            _row("seen-engines", "babble-only", "_silence_"),
            _row("hibari", "clean", "yes"),
            _row("hibari", "codec", "no"),
        ],
        "real": [
            _row("real asterisk", "digits", "two"),
            _row("real asterisk", "digits", "yes"),  # not a digit: not counted
            _row("real asterisk", "non-command", "_unknown_"),
        ],
        "accented:accent-test": [
            {"labels": "one", "path": "audio/t/one/accent-czech_krb_one_7.wav"},
            {"labels": "one", "path": "audio/t/one/accent-pc_diphone_one_8.wav"},
        ],
    }
    predicted = {
        "conditions": ["yes", "yes", "no", "_silence_", "no", "_silence_", "yes", "yes"],
        "real": ["zero", "yes", "_unknown_"],
        "accented:accent-test": ["one", "_unknown_"],
    }
    table = proxies.proxy_rows(sets, predicted)
    assert table["seen engines: clean (2)"] == "50.0"
    assert table["seen engines: babble10 (1)"] == "0.0"
    assert table["seen engines: non-commands rejected (2)"] == "50.0"  # _silence_ rejects too
    assert table["seen engines: babble alone -> _silence_ (1)"] == "100.0"
    assert table["seen engines: mean of 2 command conditions (3)"] == "25.0"  # (50 + 0) / 2
    # hibari's voice has rows of its own and stays out of the seen engines' mean
    assert table["hibari (unheard voice): clean (1)"] == "100.0"
    assert "hibari (unheard voice): codec (1)" not in table
    assert table["hibari: mean of 2 command conditions (2)"] == "50.0"  # (100 + 0) / 2
    assert table["real asterisk: digits (1)"] == "0.0"
    assert table["real asterisk: non-commands rejected (1)"] == "100.0"
    assert table["accent-test: digits (2)"] == "50.0"
    assert table["accent-test: digits, czech_krb (1)"] == "100.0"
    assert table["accent-test: digits, pc_diphone (1)"] == "0.0"


@pytest.fixture()
def model_and_clips(tmp_path):
    torch.manual_seed(0)
    config = tiny_config(id2label=dict(enumerate(LABELS)), num_labels=None, num_mel_bins=64,
                         max_length=100)  # fmt: skip
    folder = tmp_path / "model"
    ASTForAudioClassification(config).eval().save_pretrained(folder)
    ASTFeatureExtractor(num_mel_bins=64, max_length=100).save_pretrained(folder)
    rng = np.random.default_rng(0)
    clips = tmp_path / "conditions"
    (clips / "audio").mkdir(parents=True)
    lines = ["path,labels,source,condition,speaker,text"]
    for take in range(3):
        sf.write(clips / "audio" / f"{take}.wav", rng.normal(0, 0.1, 12000), 16000)
        lines.append(f"audio/{take}.wav,yes,seen-engines,clean,v,yes")
    (clips / "conditions.csv").write_text("\n".join(lines) + "\n")
    return folder, clips


def _sets(clips: Path, tmp_path: Path) -> dict:
    args = argparse.Namespace(conditions=clips, real=tmp_path / "none", accented=[],
                              test_split=False, data=tmp_path)  # fmt: skip
    return proxies.read_sets(args)


def test_folder_logits_are_the_models_own_and_cached_for_the_same_files(
    model_and_clips, tmp_path, monkeypatch
):
    folder, clips = model_and_clips
    sets = _sets(clips, tmp_path)
    cache = tmp_path / "cache"
    logits = proxies.folder_logits(folder, sets, cache)["conditions"]  # (3, 4)
    model = ASTForAudioClassification.from_pretrained(folder).eval()
    extractor = ASTFeatureExtractor.from_pretrained(folder)
    for row, row_logits in zip(sets["conditions"], logits, strict=True):  # one clip at a time
        audio, rate = sf.read(row["file"])
        features = extractor(audio, sampling_rate=rate, return_tensors="pt")
        with torch.no_grad():
            expected = model(**features).logits[0].numpy()
        np.testing.assert_allclose(row_logits, expected, atol=1e-5)

    import astaudio.train

    def no_scoring(*args, **kwargs):
        raise AssertionError("scored again")

    monkeypatch.setattr(astaudio.train, "predict", no_scoring)
    again = proxies.folder_logits(folder, sets, cache)["conditions"]
    np.testing.assert_array_equal(again, logits)
    sets["conditions"] = sets["conditions"][:2]  # other files: the cache does not answer
    with pytest.raises(AssertionError, match="scored again"):
        proxies.folder_logits(folder, sets, cache)


def test_bad_columns_are_one_line_errors(model_and_clips, tmp_path, monkeypatch):
    folder, clips = model_and_clips
    base = ["proxies.py", "--conditions", str(clips), "--real", str(tmp_path / "none"),
            "--accented", "--cache", str(tmp_path / "cache")]  # fmt: skip
    for column, message in ((f"{folder}@x", "must be a number"),
                            (f"{folder}~0.1", "from 0.5 to 2"),
                            (f"{folder}+{tmp_path / 'nowhere'}", "is not a model folder")):  # fmt: skip
        monkeypatch.setattr(sys, "argv", [*base, column])
        with pytest.raises(SystemExit, match=message):
            proxies.main()
    monkeypatch.setattr(sys, "argv", [*base, f"{folder}+{folder}@0.5"])
    assert proxies.main() == 0
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1  # one folder, scored once


def test_warped_views_are_the_model_on_resampled_clips_cached_apart(model_and_clips, tmp_path):
    import soxr

    folder, clips = model_and_clips
    sets = _sets(clips, tmp_path)
    cache = tmp_path / "cache"
    plain = proxies.folder_logits(folder, sets, cache)["conditions"]
    model = ASTForAudioClassification.from_pretrained(folder).eval()
    extractor = ASTFeatureExtractor.from_pretrained(folder)
    for warp in (1.25, 0.8):
        logits = proxies.folder_logits(folder, sets, cache, warp)["conditions"]  # (3, 4)
        for row, row_logits in zip(sets["conditions"], logits, strict=True):
            audio, rate = sf.read(row["file"])
            warped = soxr.resample(audio, rate, rate / warp)  # 12000 -> 9600 or 15000 samples
            if warp < 1:  # grown: cut back to 12000 around the centre of energy
                energy = warped**2  # its centre: the energy-weighted mean sample index
                centre = int(np.sum(np.arange(len(warped)) * energy) / energy.sum())
                start = min(max(centre - 6000, 0), len(warped) - 12000)
                warped = warped[start : start + 12000]
            features = extractor(warped, sampling_rate=rate, return_tensors="pt")
            with torch.no_grad():
                expected = model(**features).logits[0].numpy()
            np.testing.assert_allclose(row_logits, expected, atol=1e-4)
        assert np.abs(logits - plain).max() > 1e-3  # another view, not the plain clips again
    assert sorted(p.name for p in cache.glob("*.npz")) == sorted(
        f"{proxies.folder_key(folder)}{suffix}.npz" for suffix in ("", "~0.8", "~1.25")
    )
    np.testing.assert_array_equal(proxies.folder_logits(folder, sets, cache)["conditions"], plain)


def test_an_unreadable_clip_in_a_warped_view_is_a_one_line_error(model_and_clips, tmp_path):
    folder, clips = model_and_clips
    (clips / "audio" / "1.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio")
    sets = _sets(clips, tmp_path)
    with pytest.raises(SystemExit, match=r"error: .*1\.wav could not be read"):
        proxies.folder_logits(folder, sets, tmp_path / "cache", 1.1)
    assert not list((tmp_path / "cache").glob("*.npz"))  # nothing half-scored is kept
