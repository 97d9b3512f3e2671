"""Dataset layouts, bad files, augmentations, sampling weights and norm stats on real speech clips."""

from __future__ import annotations

import csv
import json
import logging
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from torchaudio_kaldi import torchaudio_ast_fbank

from astaudio.audio import load_audio
from astaudio.data import (
    AudioDataset,
    AugmentConfig,
    DatasetSpec,
    FeatureParams,
    Item,
    balanced_sample_weights,
    collate_dropping,
    compute_norm_stats,
    load_dataset_spec,
    mix_waveforms,
    read_label_csv,
    spec_augment,
    split_spec,
    validate_items,
)

SMALL = FeatureParams(max_length=96)  # 0.96 s: the clips (~0.5-0.7 s) get padded
WORDS = ("yes", "no", "up")
VOICES = ("en", "en+f3")


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """Six short spoken words: 3 words x 2 voices, 22.05 kHz WAV from espeak-ng."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    folder = tmp_path_factory.mktemp("speech")
    made = {}
    for word in WORDS:
        for voice in VOICES:
            path = folder / f"{word}_{voice.replace('+', '_')}.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), word], check=True)
            made[word, voice] = path
    return made


def write_bad_files(folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    text = folder / "notes.wav"
    text.write_text("this is text, not audio\n")
    empty = folder / "empty.wav"
    empty.write_bytes(b"")
    return text, empty


def recipe_features(waveform: np.ndarray, params: FeatureParams) -> np.ndarray:
    """(max_length, M) normalised features by the AST recipe's steps, with torchaudio's fbank."""
    waveform = torch.from_numpy(np.asarray(waveform, dtype=np.float32))
    fbank = torchaudio_ast_fbank(
        waveform - waveform.mean(), params.sampling_rate, params.num_mel_bins
    )
    padded = np.zeros((params.max_length, params.num_mel_bins))
    kept = fbank[: params.max_length].numpy()
    padded[: len(kept)] = kept
    return (padded - params.mean) / (2 * params.std)


def reference_input(path: Path, params: FeatureParams) -> np.ndarray:
    return recipe_features(load_audio(path, params.sampling_rate), params)


# ---------------------------------------------------------------------------- layouts


def test_folder_layout_with_bad_files(tmp_path: Path, clips) -> None:
    root = tmp_path / "folder"
    for (word, voice), path in clips.items():
        target = root / word / ("deep" if voice == "en+f3" else "") / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    text, empty = write_bad_files(root / "no")
    (root / "no" / "readme.txt").write_text("not listed: not an audio extension")
    spec = load_dataset_spec(root)
    assert spec.labels == ["no", "up", "yes"] and not spec.multi_label
    assert len(spec.items) == 8
    assert {Path(item.path).parent.name for item in spec.items} >= {"deep"}
    by_name = {Path(item.path).name: item.label_indices for item in spec.items}
    assert by_name["yes_en.wav"] == (2,) and by_name["notes.wav"] == (0,)

    good, bad = validate_items(spec.items)
    assert len(good) == 6
    reasons = dict(bad)
    assert set(reasons) == {str(text), str(empty)}
    assert "empty" in reasons[str(empty)]
    assert "not audio" in reasons[str(text)]
    with pytest.raises(ValueError, match="split"):
        load_dataset_spec(root, split="train")


def test_csv_manifest_layout(tmp_path: Path, clips) -> None:
    audio = tmp_path / "audio"
    audio.mkdir()
    for path in clips.values():
        shutil.copy(path, audio / path.name)
    write_bad_files(audio)
    rows = [
        ("audio/yes_en.wav", "yes", "train"),
        ("audio/notes.wav", "no", "train"),  # bad file in the middle
        ("audio/no_en.wav", "no;up", "train"),
        ("audio/up_en.wav", "up", "valid"),
        ("audio/yes_en_f3.wav", "yes", "validation"),
        ("audio/no_en_f3.wav", "maybe", "test"),
    ]
    manifest = tmp_path / "manifest.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "labels", "split"])
        writer.writerows(rows)

    everything = load_dataset_spec(manifest)
    assert everything.labels == ["maybe", "no", "up", "yes"]  # from all splits, sorted
    assert everything.multi_label
    assert everything.items[0] == Item(str(audio / "yes_en.wav"), (3,))
    assert everything.items[2].label_indices == (1, 2)

    train = load_dataset_spec(manifest, split="train")
    assert train.labels == everything.labels and len(train.items) == 3
    valid = load_dataset_spec(manifest, split="val")
    assert [Path(item.path).name for item in valid.items] == ["up_en.wav", "yes_en_f3.wav"]
    assert valid.multi_label  # decided on the whole manifest, so all splits agree
    good, bad = validate_items(train.items)
    assert [Path(path).name for path, _ in bad] == ["notes.wav"] and len(good) == 2

    # a label list from a class_labels_indices.csv fixes names and order; unknown names fail
    commands_csv = "speechcommands"  # a packaged set, by name
    names = [info.display_name for info in read_label_csv(commands_csv)]
    fixed = load_dataset_spec(manifest, labels_csv=commands_csv, split="train")
    assert fixed.labels == names
    assert fixed.items[0].label_indices == (names.index("yes"),)
    with pytest.raises(ValueError, match="'maybe'"):
        load_dataset_spec(manifest, labels_csv=commands_csv)

    piped = tmp_path / "piped.tsv"
    piped.write_text("path\tlabels\naudio/no_en.wav\tno|up\naudio/up_en.wav\tup\n")
    piped_spec = load_dataset_spec(piped, delimiter="|")
    assert [item.label_indices for item in piped_spec.items] == [(0, 1), (1,)]
    with pytest.raises(ValueError, match="split"):
        load_dataset_spec(piped, split="train")
    single = tmp_path / "single.csv"
    single.write_text("path,labels\naudio/no_en.wav,no\naudio/up_en.wav,up\n")
    assert not load_dataset_spec(single).multi_label
    assert load_dataset_spec(single, multi_label=True).multi_label


def test_ast_json_layout(tmp_path: Path, clips) -> None:
    labels_csv = "speechcommands"
    infos = read_label_csv(labels_csv)
    mid_of = {info.display_name: info.mid for info in infos}
    index_of = {info.display_name: info.index for info in infos}
    text, empty = write_bad_files(tmp_path / "bad")
    data = {
        "data": [
            {"wav": str(clips["yes", "en"]), "labels": mid_of["yes"]},
            {"wav": str(empty), "labels": mid_of["no"]},
            {"wav": str(clips["no", "en"]), "labels": f"{mid_of['no']},{mid_of['up']}"},
            {"wav": "bad/notes.wav", "labels": mid_of["up"]},  # relative to the JSON's folder
        ]
    }
    datafile = tmp_path / "train_data.json"
    datafile.write_text(json.dumps(data))
    spec = load_dataset_spec(datafile, labels_csv=labels_csv)
    assert spec.multi_label and len(spec.labels) == 35
    assert spec.items[0].label_indices == (index_of["yes"],)
    assert spec.items[2].label_indices == (index_of["no"], index_of["up"])
    assert spec.items[3].path == str(text)
    good, bad = validate_items(spec.items)
    assert [item.path for item in good] == [str(clips["yes", "en"]), str(clips["no", "en"])]
    assert [path for path, _ in bad] == [str(empty), str(text)]
    with pytest.raises(ValueError, match="labels_csv"):
        load_dataset_spec(datafile)


def test_split_spec_is_stratified_and_deterministic() -> None:
    items = [Item(f"a{i}.wav", (0,)) for i in range(10)] + [
        Item(f"b{i}.wav", (1,)) for i in range(6)
    ]
    spec = DatasetSpec(items, ["a", "b"], multi_label=False)
    train, valid = split_spec(spec, 0.25, seed=7)
    assert len(valid.items) == 4 and len(train.items) == 12
    assert {item.path for item in train.items} | {item.path for item in valid.items} == {
        item.path for item in items
    }
    valid_counts = valid.label_counts()
    assert valid_counts.tolist() in ([3, 1], [2, 2])  # 2.5 and 1.5 rounded to total 4
    again_train, again_valid = split_spec(spec, 0.25, seed=7)
    assert again_valid.items == valid.items and again_train.items == train.items
    others = {
        tuple(item.path for item in split_spec(spec, 0.25, seed=s)[1].items) for s in range(8)
    }
    assert len(others) > 1
    assert [item.path for item in train.items] == sorted(
        (item.path for item in train.items), key=[it.path for it in items].index
    )


def test_balanced_sample_weights_formula() -> None:
    items = [Item("1", (0,)), Item("2", (0,)), Item("3", (1,)), Item("4", (0, 1)), Item("5", (2,))]
    spec = DatasetSpec(items, ["a", "b", "c"], multi_label=True)
    # counts: a 3, b 2, c 1
    a, b, c = 1000 / 3.01, 1000 / 2.01, 1000 / 1.01
    np.testing.assert_allclose(balanced_sample_weights(spec), [a, a, b, a + b, c])


# ---------------------------------------------------------------------------- dataset


@pytest.mark.filterwarnings("ignore:At least one mel filter has all zero values")
def test_unaugmented_items_match_the_recipe_and_transformers(clips) -> None:
    paths = [clips["yes", "en"], clips["no", "en+f3"]]
    spec = DatasetSpec([Item(str(paths[0]), (1,)), Item(str(paths[1]), (0,))], ["no", "yes"], False)
    dataset = AudioDataset(spec, SMALL)
    sample = dataset[0]
    assert sample["labels"] == 1
    values = sample["input_values"]
    assert values.shape == (96, 128) and values.dtype == torch.float32
    # float32 rounding (of the mean removal, say) moves a few near-floor bins by ~2e-5
    np.testing.assert_allclose(values.numpy(), reference_input(paths[0], SMALL), atol=1e-4)

    import transformers

    extractor = transformers.ASTFeatureExtractor(max_length=96)
    waveform = load_audio(paths[1], 16000)
    expected = extractor(waveform, sampling_rate=16000, return_tensors="np")["input_values"][0]
    actual = AudioDataset(spec, extractor)[1]["input_values"].numpy()
    # transformers' numpy fallback is float64; the recipe's float32 differs in near-floor bins
    np.testing.assert_allclose(actual, expected, atol=1e-3)


def test_bad_file_in_getitem_is_dropped_never_replaced(tmp_path: Path, clips, caplog) -> None:
    text, _ = write_bad_files(tmp_path)
    # a FLAC whose header is valid but whose data is garbage: decodes fail after the header
    corrupt = tmp_path / "lost_sync.flac"
    subprocess.run(["sox", str(clips["no", "en"]), str(corrupt)], check=True)
    data = bytearray(corrupt.read_bytes())
    data[200:] = bytes(len(data) - 200)
    corrupt.write_bytes(bytes(data))
    items = [
        Item(str(clips["yes", "en"]), (0,)),
        Item(str(text), (1,)),
        Item(str(clips["up", "en"]), (2,)),
        Item(str(corrupt), (1,)),
    ]
    dataset = AudioDataset(DatasetSpec(items, ["yes", "no", "up"], False), SMALL)
    with caplog.at_level(logging.WARNING, logger="astaudio.data"):
        first = dataset[1]
        second = dataset[1]
    assert first == second == {"dropped": str(text), "reason": first["reason"]}
    assert "input_values" not in dataset[3]  # not its neighbour with the neighbour's label
    warnings = [record for record in caplog.records if "notes.wav" in record.getMessage()]
    assert len(warnings) == 1
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, collate_fn=collate_dropping)
    (batch,) = list(loader)
    assert batch["labels"].tolist() == [0, 2]
    assert batch["input_values"].shape[0] == 2
    assert [path for path, _ in batch["dropped"]] == [str(text), str(corrupt)]


def test_bad_file_is_dropped_with_waveform_augmentation_too(tmp_path: Path, clips) -> None:
    text, _ = write_bad_files(tmp_path)
    items = [Item(str(clips["yes", "en"]), (0,)), Item(str(text), (1,))]
    spec = DatasetSpec(items, ["yes", "no"], False)
    dataset = AudioDataset(spec, SMALL, augment=AugmentConfig(waveform=lambda w, rng: w))
    assert dataset[1] == {"dropped": str(text), "reason": dataset[1]["reason"]}
    assert "input_values" in dataset[0]


def test_mix_waveforms_arithmetic() -> None:
    first = np.array([1.0, 2.0, 3.0], dtype=np.float32)  # mean removed: -1, 0, 1
    shorter = np.array([4.0, 6.0], dtype=np.float32)  # -1, 1, then a zero pad
    np.testing.assert_allclose(mix_waveforms(first, shorter, 0.25), [-1.0, 0.75, 0.25], atol=1e-6)
    longer = np.array([0.0, 2.0, 4.0, 100.0], dtype=np.float32)  # mean 26.5, cut to 3 samples
    mixed = 0.5 * np.array([-1.0, 0.0, 1.0]) + 0.5 * (np.array([0.0, 2.0, 4.0]) - 26.5)
    np.testing.assert_allclose(mix_waveforms(first, longer, 0.5), mixed - mixed.mean(), atol=1e-5)


def test_mixup_labels_and_features(clips) -> None:
    paths = [clips["yes", "en"], clips["up", "en+f3"]]
    spec = DatasetSpec(
        [Item(str(paths[0]), (0,)), Item(str(paths[1]), (2,))], ["yes", "no", "up"], False
    )
    for seed in range(40):
        dataset = AudioDataset(spec, SMALL, augment=AugmentConfig(mixup=1.0), seed=seed)
        sample = dataset[0]
        labels = sample["labels"].numpy()
        if labels[2] > 0:  # mixed with the other clip
            break
    else:
        pytest.fail("40 seeds never mixed item 0 with item 1")
    mix_lambda = float(labels[0])
    assert labels.dtype == np.float32 and labels[1] == 0.0
    assert labels[0] + labels[2] == pytest.approx(1.0)
    assert 0.05 < mix_lambda < 0.95  # Beta(10, 10) lies there with probability ~1 - 1e-8
    first, second = (load_audio(path, 16000).astype(np.float64) for path in paths)
    first, second = first - first.mean(), second - second.mean()
    second = np.pad(second, (0, max(0, len(first) - len(second))))[: len(first)]
    expected = recipe_features(mix_lambda * first + (1 - mix_lambda) * second, SMALL)
    np.testing.assert_allclose(sample["input_values"].numpy(), expected, atol=1e-4)


def test_spec_augment_mask_widths_within_bounds() -> None:
    base = torch.ones(100, 64)
    widths_f, widths_t = [], []
    for seed in range(200):
        masked = spec_augment(base, freqm=24, timem=30, rng=np.random.default_rng(seed))
        zero_columns = torch.nonzero((masked == 0).all(dim=0)).flatten()
        zero_rows = torch.nonzero((masked == 0).all(dim=1)).flatten()
        assert (
            (masked == 0)
            == ((masked == 0).all(0, keepdim=True) | (masked == 0).all(1, keepdim=True))
        ).all()
        for found, bound in ((zero_columns, 24), (zero_rows, 30)):
            if len(found):  # one contiguous block narrower than the bound
                assert found[-1] - found[0] + 1 == len(found) < bound
        widths_f.append(len(zero_columns))
        widths_t.append(len(zero_rows))
    assert max(widths_f) >= 20 and max(widths_t) >= 25  # the full range gets used
    assert torch.equal(spec_augment(base, 0, 0, np.random.default_rng(0)), base)


def test_augmented_items_are_deterministic_per_seed_and_epoch(clips) -> None:
    items = [Item(str(path), (i % 3,)) for i, path in enumerate(clips.values())]
    spec = DatasetSpec(items, ["a", "b", "c"], False)
    augment = AugmentConfig(freqm=24, timem=20, mixup=0.5, noise=True)

    def epoch_batches(seed: int, epoch: int, workers: int) -> list[dict]:
        dataset = AudioDataset(spec, SMALL, augment=augment, seed=seed)
        dataset.set_epoch(epoch)
        loader = torch.utils.data.DataLoader(dataset, batch_size=3, num_workers=workers)
        return list(loader)

    reference = epoch_batches(seed=5, epoch=1, workers=0)
    for repeat in (epoch_batches(5, 1, 0), epoch_batches(5, 1, 2)):
        for got, want in zip(repeat, reference, strict=True):
            torch.testing.assert_close(got["input_values"], want["input_values"], rtol=0, atol=0)
            torch.testing.assert_close(got["labels"], want["labels"], rtol=0, atol=0)
    other_epoch = epoch_batches(seed=5, epoch=2, workers=0)
    assert not torch.equal(other_epoch[0]["input_values"], reference[0]["input_values"])
    assert reference[0]["labels"].shape == (3, 3)  # mixup on: soft multi-hot labels


def test_feature_cache_round_trip(tmp_path: Path, clips) -> None:
    spec = DatasetSpec([Item(str(clips["no", "en"]), (0,))], ["no"], False)
    cached = AudioDataset(spec, SMALL, cache_dir=tmp_path / "cache")
    first = cached[0]["input_values"]
    files = list((tmp_path / "cache").glob("*.npy"))
    assert len(files) == 1
    second = cached[0]["input_values"]
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    torch.testing.assert_close(first, AudioDataset(spec, SMALL)[0]["input_values"], rtol=0, atol=0)
    # other feature settings use another cache entry
    AudioDataset(spec, FeatureParams(max_length=96, num_mel_bins=64), cache_dir=tmp_path / "cache")[
        0
    ]
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2


def test_norm_stats_match_numpy(clips) -> None:
    paths = list(clips.values())[:5]
    spec = DatasetSpec([Item(str(path), (0,)) for path in paths], ["speech"], False)
    unnormalised = [reference_input(path, SMALL) * 2 * SMALL.std + SMALL.mean for path in paths]
    batches = [np.stack(unnormalised[start : start + 2]) for start in range(0, 5, 2)]  # 2, 2, 1
    expected_mean = np.mean([batch.mean() for batch in batches])
    expected_std = np.mean([batch.std(ddof=1) for batch in batches])
    mean, std = compute_norm_stats(spec, SMALL, batch_size=2)
    assert mean == pytest.approx(expected_mean, abs=1e-5)
    assert std == pytest.approx(expected_std, abs=1e-5)
    first_only = compute_norm_stats(AudioDataset(spec, SMALL), batch_size=2, num_batches=1)
    assert first_only[0] == pytest.approx(batches[0].mean(), abs=1e-5)
    assert first_only[1] == pytest.approx(batches[0].std(ddof=1), abs=1e-5)


def test_feature_params_from_astaudio_extractor() -> None:
    from astaudio.features import ASTFeatureExtractor

    extractor = ASTFeatureExtractor(max_length=512, mean=-6.0, std=5.0)
    params = FeatureParams.from_extractor(extractor)
    assert params == FeatureParams(max_length=512, mean=-6.0, std=5.0)


def test_user_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mixup"):
        AugmentConfig(mixup=1.5)
    with pytest.raises(FileNotFoundError):
        load_dataset_spec(tmp_path / "missing")
    flat = tmp_path / "flat"
    flat.mkdir()
    with pytest.raises(ValueError, match="class subfolders"):
        load_dataset_spec(flat)
    spec = DatasetSpec([Item("x.wav", (0, 1))], ["a", "b"], multi_label=True)
    with pytest.raises(ValueError, match="index labels"):
        AudioDataset(spec, label_format="index")


def test_dataset_centres_short_clips_as_the_feature_extractor_does(clips, tmp_path) -> None:
    from astaudio.features import ASTFeatureExtractor

    path = clips["yes", "en"]  # ~0.5-0.7 s, shorter than the 0.96-s window
    spec = DatasetSpec([Item(str(path), (0,))], ["yes"], False)
    extractor = ASTFeatureExtractor(max_length=96, center_short_clips=True)
    waveform = load_audio(path, 16000)
    expected = extractor(waveform - waveform.mean(), sampling_rate=16000)["input_values"][0]
    for cache in (None, tmp_path / "cache"):  # computed, then read back from the cache
        for _ in range(2):
            got = AudioDataset(spec, extractor, cache_dir=cache)[0]["input_values"].numpy()
            np.testing.assert_allclose(got, expected, atol=1e-5)
    plain = AudioDataset(spec, ASTFeatureExtractor(max_length=96), cache_dir=tmp_path / "cache")
    assert np.abs(plain[0]["input_values"].numpy() - expected).max() > 0.1  # not the centred one
