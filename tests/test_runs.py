"""Fine-tuning runs around the happy path: interrupted writes, resumes, occupied run folders,
recipes taken from the model, head rows by name, corrupt files, checkpoint pruning."""

import csv
import json
import pickle
import shutil
import subprocess

import numpy as np
import pytest
import torch
from conftest import tiny_config
from safetensors.torch import load_file
from sklearn.metrics import average_precision_score, roc_auc_score

from astaudio import ASTFeatureExtractor, ASTForAudioClassification
from astaudio.data import AugmentConfig, validate_items
from astaudio.errors import CheckpointError, ConfigurationError
from astaudio.train import (
    TrainConfig,
    average_checkpoints,
    average_models,
    build_model,
    finetune,
    prepare_datasets,
    preset_config,
    resolve_recipe,
    score_metrics,
)

WORDS = ["yes", "no", "stop", "seven"]
TRAIN_VOICES = ["en-us", "en-gb", "en-gb-scotland", "en-029"]
VALID_VOICES = ["en-us+m2", "en+f5"]
TINY = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)


def corrupt_flac(source, target):
    """A FLAC whose header is valid and whose audio data is zeros ("lost sync" on decoding)."""
    subprocess.run(["sox", str(source), str(target)], check=True)
    data = bytearray(target.read_bytes())
    data[200:] = bytes(len(data) - 200)
    target.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def words(tmp_path_factory):
    """Manifest of 4 words x 4 training voices (+ a corrupt FLAC) and 2 validation voices
    (+ a corrupt FLAC): 17 training rows, 9 validation rows."""
    root = tmp_path_factory.mktemp("words")
    rows = []
    for split, voices in (("train", TRAIN_VOICES), ("valid", VALID_VOICES)):
        for voice in voices:
            for word in WORDS:
                name = f"{word}_{voice.replace('+', '_')}.wav"
                subprocess.run(
                    ["espeak-ng", "-v", voice, "-w", str(root / name), word],
                    check=True,
                    capture_output=True,
                )
                rows.append({"path": name, "labels": word, "split": split})
        corrupt_flac(root / rows[-1]["path"], root / f"corrupt_{split}.flac")
        rows.insert(
            len(rows) - 3, {"path": f"corrupt_{split}.flac", "labels": "no", "split": split}
        )
    with open(root / "manifest.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["path", "labels", "split"])
        writer.writeheader()
        writer.writerows(rows)
    return root / "manifest.csv"


def recipe(**changes):
    values = dict(
        batch_size=8,
        lr=1e-3,
        loss="ce",
        scheduler_start=100,
        num_workers=0,
        seed=2,
        max_length=64,
        epochs=2,
    )
    values.update(changes)
    return preset_config(None, **values)


def tune(manifest, run, **kwargs):
    train = kwargs.pop("train", None) or recipe()
    return finetune(manifest, None, run, model_config=TINY, train=train, progress=False, **kwargs)


def rows_of(run):
    with open(run / "metrics.csv") as handle:
        return list(csv.DictReader(handle))


def test_corrupt_flac_passes_the_header_check(words):
    bad = [words.parent / "corrupt_train.flac", words.parent / "corrupt_valid.flac"]
    from astaudio.data import Item

    good, dropped = validate_items([Item(str(path), (0,)) for path in bad])
    assert len(good) == 2 and not dropped  # only decoding finds them out


def test_resume_skips_torn_partial_and_tampered_checkpoints_and_rebuilds_best(
    words, tmp_path, capsys
):
    run = tmp_path / "run"
    tune(words, run)
    epoch2 = load_file(run / "checkpoints" / "epoch-002" / "model.safetensors")
    # killed while writing epoch 3: a half-written folder with a 0-byte state file
    partial = run / "checkpoints" / "epoch-003.partial"
    partial.mkdir()
    (partial / "trainer_state.pt").write_bytes(b"")
    # epoch 2's state replaced by a pickle that would run code
    (run / "checkpoints" / "epoch-002" / "trainer_state.pt").write_bytes(
        pickle.dumps(subprocess.Popen)
    )
    # killed in the middle of replacing best/: the old one moved away, the new one not in place
    (run / "best").rename(run / "best.old")
    capsys.readouterr()

    state = tune(words, run, resume=True, train=recipe(epochs=3))

    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if "skipping checkpoint" in line]
    assert len(notes) == 1 and "epoch-002" in notes[0] and "refused" in notes[0], err
    assert "Traceback" not in err
    assert state.epoch == 3 and len(rows_of(run)) == 3
    # epoch 2 was trained again from epoch 1's state and came out bit-identical
    again = load_file(run / "checkpoints" / "epoch-002" / "model.safetensors")
    assert all(torch.equal(epoch2[key], again[key]) for key in epoch2)
    best = load_file(run / "best" / "model.safetensors")
    recorded = load_file(
        run / "checkpoints" / f"epoch-{state.best_epoch:03d}" / "model.safetensors"
    )
    assert all(torch.equal(best[key], recorded[key]) for key in best)
    assert not (run / "best.old").exists() and not partial.exists()
    # the corrupt clips were dropped, never replaced: 8 validation items, each file listed once
    assert {row["valid_items"] for row in rows_of(run)} == {"8"}
    listed = (run / "dropped_files.txt").read_text().splitlines()
    assert sorted(line.split("\t")[0].rsplit("/", 1)[1] for line in listed) == [
        "corrupt_train.flac",
        "corrupt_valid.flac",
    ]


def test_unresumable_run_is_one_line(words, tmp_path):
    run = tmp_path / "run"
    tune(words, run, train=recipe(epochs=1))
    (run / "checkpoints" / "epoch-001" / "trainer_state.pt").write_bytes(b"")
    with pytest.raises(ConfigurationError, match="occupied|already holds"):
        tune(words, run, train=recipe(epochs=1))
    # nothing to resume from: one line, and the run is left as it was
    with pytest.raises(CheckpointError, match="no checkpoint .* could be loaded"):
        tune(words, run, resume=True, train=recipe(epochs=1))
    assert (run / "checkpoints" / "epoch-001" / "trainer_state.pt").read_bytes() == b""


def test_occupied_run_folder_needs_resume_or_overwrite(words, tmp_path):
    run = tmp_path / "run"
    tune(words, run, train=recipe(epochs=2))
    with pytest.raises(ConfigurationError, match="--resume .* --overwrite"):
        tune(words, run, train=recipe(epochs=1))
    assert (run / "checkpoints" / "epoch-002").is_dir()  # untouched
    tune(words, run, overwrite=True, train=recipe(epochs=1))
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["epoch-001"]
    assert len(rows_of(run)) == 1


def test_accumulation_remainder_never_leaks_into_the_next_epoch(words, tmp_path, capsys):
    # 16 readable training clips, batches of 4: 4 batches, accumulation 3 leaves one over
    train = recipe(batch_size=4, grad_accum=3, epochs=2)
    whole, split = tmp_path / "whole", tmp_path / "split"
    state = tune(words, whole, train=train)
    assert state.global_step == 2
    assert "last 1 batch(es) of each epoch are left out" in capsys.readouterr().err
    tune(words, split, train=recipe(batch_size=4, grad_accum=3, epochs=1))
    tune(words, split, train=train, resume=True)
    one, two = (
        load_file(whole / "last/model.safetensors"),
        load_file(split / "last/model.safetensors"),
    )
    assert all(torch.equal(one[key], two[key]) for key in one)


def test_keep_last_and_optimizer_state_only_in_the_newest(words, tmp_path):
    run = tmp_path / "run"
    state = tune(words, run, train=recipe(epochs=3, keep_last=1, save_optimizer="last"))
    kept = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert kept == sorted({f"epoch-{state.best_epoch:03d}", "epoch-003"})
    for name in kept:
        saved = torch.load(run / "checkpoints" / name / "trainer_state.pt", weights_only=True)
        assert (saved["optimizer"] is not None) == (name == "epoch-003")
    assert (run / "best" / "model.safetensors").is_file()


def test_recipe_comes_from_the_model_without_a_preset(words, tmp_path, capsys):
    folder = tmp_path / "model"
    model = ASTForAudioClassification(tiny_config(max_length=48, num_labels=2))
    model.save_pretrained(folder)
    ASTFeatureExtractor(max_length=48, mean=-3.5, std=2.25).save_pretrained(folder)
    resolved, origin = resolve_recipe(TrainConfig(), str(folder))
    assert (resolved.max_length, resolved.mean, resolved.std) == (48, -3.5, 2.25)
    assert (resolved.mixup, resolved.noise, resolved.freqm) == (0.0, False, 0)
    assert origin["max_length"] == "the model"
    with pytest.raises(ConfigurationError, match="from scratch"):
        resolve_recipe(TrainConfig(), None)
    run = tmp_path / "run"
    train = TrainConfig(batch_size=8, epochs=1, num_workers=0, loss="ce")
    finetune(words, None, run, model=str(folder), train=train, progress=False)
    saved = json.loads((run / "train_config.json").read_text())
    assert (saved["max_length"], saved["mean"], saved["std"]) == (48, -3.5, 2.25)
    assert "max_length=48 (from the model)" in capsys.readouterr().err
    assert ASTFeatureExtractor.from_pretrained(run / "last").max_length == 48


def test_head_rows_follow_label_names(tmp_path, capsys):
    folder = tmp_path / "model"
    labels = ["yes", "no", "stop", "seven"]
    model = ASTForAudioClassification(
        tiny_config(id2label=dict(enumerate(labels)), num_labels=None)
    )
    model.save_pretrained(folder)
    old = model.classifier.dense
    messages = []
    order = ["seven", "stop", "yes", "no"]
    moved = build_model(str(folder), order, recipe(max_length=128), False, say=messages.append)
    for row, name in enumerate(order):
        assert torch.equal(moved.classifier.dense.weight[row], old.weight[labels.index(name)])
        assert torch.equal(moved.classifier.dense.bias[row], old.bias[labels.index(name)])
    assert moved.config.id2label == dict(enumerate(order))
    grown = build_model(
        str(folder), ["no", "maybe", "yes"], recipe(max_length=128), False, say=messages.append
    )
    assert torch.equal(grown.classifier.dense.weight[0], old.weight[1])
    assert not torch.equal(grown.classifier.dense.weight[1], old.weight[2])
    assert "2 of 3 labels keep" in messages[-1] and "1 new" in messages[-1]


def test_init_from_deit_file(tmp_path):
    from test_checkpoints import deit_state_dict

    path = tmp_path / "deit.pth"
    deit = deit_state_dict(32, depth=1, side=4)
    torch.save({"model": deit}, path)
    config = dict(TINY, intermediate_size=128)
    model = build_model(None, ["a", "b"], recipe(max_length=64), False, config, init_from=path)
    assert model.config.layer_norm_eps == 1e-6  # timm's blocks
    assert model.config.head_layer_norm_eps == 1e-5  # AST's mlp_head: torch's default
    embeddings = model.audio_spectrogram_transformer.embeddings
    assert torch.equal(embeddings.cls_token, deit["cls_token"])


def test_single_label_ranking_metrics_use_sigmoid_as_the_ast_repository():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(40, 5)) * 3
    classes = rng.integers(0, 5, 40)
    targets = np.eye(5)[classes]
    metrics = score_metrics(logits, targets, multi_label=False)
    sigmoid = 1 / (1 + np.exp(-logits))
    expected = np.mean([average_precision_score(targets[:, c], sigmoid[:, c]) for c in range(5)])
    assert metrics["mAP"] == pytest.approx(expected, abs=1e-12)
    auc = np.mean([roc_auc_score(targets[:, c], sigmoid[:, c]) for c in range(5)])
    assert metrics["mAUC"] == pytest.approx(auc, abs=1e-12)
    assert metrics["accuracy"] == np.mean(logits.argmax(1) == classes)


def test_ast_json_with_one_label_each_and_ce_is_single_label(tmp_path, words):
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "index,mid,display_name\n" + "".join(f"{i},/m/{w},{w}\n" for i, w in enumerate(WORDS))
    )
    entries = [{"wav": str(words.parent / f"{w}_en-us.wav"), "labels": f"/m/{w}"} for w in WORDS]
    (tmp_path / "data.json").write_text(json.dumps({"data": entries}))
    single = prepare_datasets(tmp_path / "data.json", labels=labels, loss="ce")
    assert not single.train.multi_label
    assert prepare_datasets(tmp_path / "data.json", labels=labels, loss="bce").train.multi_label


@pytest.mark.parametrize(
    "change", [dict(batch_size=0), dict(grad_accum=0), dict(epochs=-1), dict(loss="mse")]
)
def test_impossible_settings_are_refused(change):
    with pytest.raises(ConfigurationError):
        recipe(**change)


def test_average_checkpoints_refuses_mismatched_epochs(tmp_path):
    run = tmp_path / "run"
    for epoch in (1, 2):
        torch.manual_seed(epoch)
        ASTForAudioClassification(tiny_config()).save_pretrained(
            run / "checkpoints" / f"epoch-{epoch:03d}"
        )
    average_checkpoints(run, 2, 2, tmp_path / "one")  # a single epoch is a valid range
    weights = load_file(run / "checkpoints/epoch-002/model.safetensors")
    from safetensors.torch import save_file

    key = "classifier.dense.bias"
    for broken, pattern in (
        ({k: v for k, v in weights.items() if k != key}, f"{key} is missing"),
        ({**weights, key: torch.zeros(1)}, f"{key} has shape"),
    ):
        save_file(broken, run / "checkpoints/epoch-002/model.safetensors")
        with pytest.raises(CheckpointError, match=pattern):
            average_checkpoints(run, 1, 2, tmp_path / "avg")
    shutil.rmtree(tmp_path / "one")


def test_average_models_gives_equal_shares_and_refuses_other_classes(tmp_path, capsys):
    from astaudio.cli import main

    folders, states = [], []
    for seed in (1, 2, 3):
        torch.manual_seed(seed)
        model = ASTForAudioClassification(tiny_config())
        model.save_pretrained(tmp_path / f"m{seed}")
        folders.append(tmp_path / f"m{seed}")
        states.append({k: v.double() for k, v in model.state_dict().items()})
    soup = average_models(folders, tmp_path / "soup")
    averaged = load_file(soup / "model.safetensors")
    assert set(averaged) == set(states[0])
    for key, value in averaged.items():
        expected = (states[0][key] + states[1][key] + states[2][key]) / 3
        torch.testing.assert_close(value, expected.float())
    assert json.loads((soup / "config.json").read_text()) == json.loads(
        (folders[0] / "config.json").read_text()
    )
    args = ["average-checkpoints", "--models", *map(str, folders[:2]), "-o", str(tmp_path / "cli")]
    assert main(args) == 0
    two = load_file(tmp_path / "cli" / "model.safetensors")
    key = "classifier.dense.weight"
    torch.testing.assert_close(two[key], ((states[0][key] + states[1][key]) / 2).float())

    torch.manual_seed(4)
    other = tiny_config(id2label={0: "a", 1: "b", 2: "c", 3: "d"}, num_labels=None)
    ASTForAudioClassification(other).save_pretrained(tmp_path / "other")
    with pytest.raises(CheckpointError, match="other classes"):
        average_models([folders[0], tmp_path / "other"], tmp_path / "bad")
    capsys.readouterr()
    for bad in (
        ["average-checkpoints", "--models", str(folders[0]), str(tmp_path / "other"), "-o", "x"],
        ["average-checkpoints", "--models", str(tmp_path / "nowhere"), "-o", "x"],
        ["average-checkpoints", str(tmp_path), "--models", str(folders[0]), "-o", "x"],
        ["average-checkpoints", "-o", "x"],
    ):
        assert main(bad) == 2
        err = capsys.readouterr().err.strip()
        assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "bad").exists()


def test_evaluate_drops_undecodable_files_and_treats_single_label_json_as_such(words, tmp_path):
    from astaudio.data import load_dataset_spec
    from astaudio.evaluate import evaluate_models

    folder = tmp_path / "model"
    config = tiny_config(
        id2label=dict(enumerate(sorted(WORDS))),
        num_labels=None,
        max_length=64,
        problem_type="single_label_classification",
    )
    ASTForAudioClassification(config).save_pretrained(folder)
    ASTFeatureExtractor(max_length=64).save_pretrained(folder)
    spec = load_dataset_spec(words, split="valid")
    assert len(spec.items) == 9
    report = evaluate_models([folder], spec, tmp_path / "out", num_workers=0)
    assert report["items"] == 8 and report["models"][str(folder)]["num_items"] == 8
    assert [path.rsplit("/", 1)[1] for path, _ in report["dropped"]] == ["corrupt_valid.flac"]

    labels = tmp_path / "labels.csv"
    labels.write_text(
        "index,mid,display_name\n"
        + "".join(f"{i},/m/{w},{w}\n" for i, w in enumerate(sorted(WORDS)))
    )
    entries = [{"wav": str(words.parent / f"{w}_en-us.wav"), "labels": f"/m/{w}"} for w in WORDS]
    (tmp_path / "data.json").write_text(json.dumps({"data": entries}))
    json_spec = load_dataset_spec(tmp_path / "data.json", labels_csv=labels)
    report = evaluate_models([folder], json_spec, tmp_path / "json", num_workers=0)
    assert report["task"] == "single_label"
    assert (tmp_path / "json" / "confusion_model.csv").is_file()  # named after the model folder


def test_bundled_model_keeps_its_rows_for_a_subset_of_labels_in_another_order(words, tmp_path):
    """lr 0: the fine-tuned model is the bundled one with the head cut to the data's labels, so
    its validation accuracy is the bundled model's argmax over those rows (old code: a fresh head,
    trained on the first 1.28 s at Speech Commands' statistics)."""
    from astaudio.data import load_dataset_spec
    from astaudio.evaluate import model_scores

    train = TrainConfig(lr=0.0, epochs=1, batch_size=8, num_workers=0, loss="ce")
    state = finetune(words, None, tmp_path / "run", model="keywords", train=train, progress=False)
    valid = load_dataset_spec(words, split="valid")
    valid = valid.with_items([item for item in valid.items if "corrupt" not in item.path])
    scores, targets, labels = model_scores("keywords", valid, num_workers=0)
    columns = [labels.index(name) for name in valid.labels]
    expected = np.mean(scores[:, columns].argmax(1) == targets[:, columns].argmax(1))
    assert expected >= 0.75
    assert state.history[0]["accuracy"] == pytest.approx(expected)


def test_best_copy_interrupted_leaves_the_previous_complete_model(tmp_path, monkeypatch):
    from astaudio import train as train_module

    first, second, best = tmp_path / "e1", tmp_path / "e2", tmp_path / "best"
    for seed, folder in ((1, first), (2, second)):
        torch.manual_seed(seed)
        ASTForAudioClassification(tiny_config()).save_pretrained(folder)
    train_module._copy_model(first, best)
    real_copy = shutil.copy2

    def killed_midway(source, target):
        if str(source).endswith("model.safetensors"):
            raise KeyboardInterrupt  # stands in for SIGKILL during the copy
        return real_copy(source, target)

    monkeypatch.setattr(train_module.shutil, "copy2", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        train_module._copy_model(second, best)
    monkeypatch.undo()
    loaded = ASTForAudioClassification.from_pretrained(best)  # still the whole first model
    expected = load_file(first / "model.safetensors")
    assert all(torch.equal(loaded.state_dict()[key], expected[key]) for key in expected)


def test_norm_stats_into_a_model_folder_keeps_its_geometry(words, tmp_path, capsys):
    from astaudio.cli import main
    from astaudio.data import compute_norm_stats, load_dataset_spec

    folder = tmp_path / "model"
    ASTForAudioClassification(tiny_config(max_length=64, num_mel_bins=64)).save_pretrained(folder)
    ASTFeatureExtractor(max_length=64, num_mel_bins=64).save_pretrained(folder)
    before = json.loads((folder / "preprocessor_config.json").read_text())
    code = main(
        ["norm-stats", str(words), "--preset", "esc50", "-o", str(folder), "--workers", "0"]
    )
    assert code == 0, capsys.readouterr().err
    after = json.loads((folder / "preprocessor_config.json").read_text())
    assert {k: v for k, v in after.items() if k not in ("mean", "std")} == {
        k: v for k, v in before.items() if k not in ("mean", "std")
    }
    spec = load_dataset_spec(words)
    mean, std = compute_norm_stats(
        spec,
        ASTFeatureExtractor(max_length=64, num_mel_bins=64),
        augment=AugmentConfig(freqm=24, timem=96),
    )
    assert (after["mean"], after["std"]) == pytest.approx((mean, std))
    # and the folder is still a working model
    extractor = ASTFeatureExtractor.from_pretrained(folder)
    model = ASTForAudioClassification.from_pretrained(folder)
    inputs = extractor(np.zeros(16000, dtype=np.float32), sampling_rate=16000, return_tensors="pt")
    assert model(**inputs).logits.shape == (1, 4)


def test_evaluate_command_counts_undecodable_files(words, tmp_path, capsys):
    from astaudio.cli import main

    folder = tmp_path / "model"
    config = tiny_config(id2label=dict(enumerate(sorted(WORDS))), num_labels=None, max_length=64)
    ASTForAudioClassification(config).save_pretrained(folder)
    ASTFeatureExtractor(max_length=64).save_pretrained(folder)
    code = main(
        [
            "evaluate",
            str(folder),
            "--data",
            str(words),
            "--split",
            "valid",
            "--json",
            "--workers",
            "0",
        ]
    )
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert code == 1 and report["items"] == 8 and len(report["dropped"]) == 1
    assert "corrupt_valid.flac" in captured.err


KILL_DURING_STATE_WRITE = """
import os, signal, sys
import torch
from astaudio.cli import main

real_save = torch.save

def save(obj, path, *args, **kwargs):
    if "epoch-002.partial" in str(path) and str(path).endswith("trainer_state.pt"):
        with open(path, "wb") as handle:
            handle.write(b"\\x80")  # the first byte is out; then the process is killed
        os.kill(os.getpid(), signal.SIGKILL)
    return real_save(obj, path, *args, **kwargs)

torch.save = save
sys.exit(main(sys.argv[1:]))
"""


def test_sigkill_while_writing_a_checkpoint_then_resume_matches_an_uninterrupted_run(
    words, tmp_path
):
    import os
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def command(run, *extra):
        return [
            "finetune",
            "--model-config",
            "hidden_size=32",
            "num_hidden_layers=1",
            "num_attention_heads=2",
            "intermediate_size=64",
            "--train",
            str(words),
            "-o",
            str(run),
            "--max-length",
            "64",
            "--batch-size",
            "8",
            "--lr",
            "1e-3",
            "--loss",
            "ce",
            "--epochs",
            "3",
            "--seed",
            "6",
            "--workers",
            "0",
            "--quiet",
            *extra,
        ]

    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(
        [sys.executable, "-m", "astaudio", *command(whole)],
        check=True,
        env=env,
        capture_output=True,
    )
    result = subprocess.run(
        [sys.executable, "-c", KILL_DURING_STATE_WRITE, *command(killed)],
        env=env,
        capture_output=True,
    )
    assert result.returncode == -9
    assert (killed / "checkpoints" / "epoch-002.partial" / "trainer_state.pt").stat().st_size == 1
    again = subprocess.run(
        [sys.executable, "-m", "astaudio", *command(killed, "--resume")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    expected = load_file(whole / "last" / "model.safetensors")
    resumed = load_file(killed / "last" / "model.safetensors")
    assert all(torch.equal(expected[key], resumed[key]) for key in expected)
    assert (whole / "metrics.csv").read_text() == (killed / "metrics.csv").read_text()


def test_finetune_command_takes_a_bundled_model_name(words, tmp_path, capsys):
    from astaudio.cli import main

    run = tmp_path / "run"
    code = main(
        [
            "finetune",
            "--model",
            "keywords",
            "--train",
            str(words),
            "-o",
            str(run),
            "--epochs",
            "1",
            "--lr",
            "0",
            "--batch-size",
            "8",
            "--loss",
            "ce",
            "--workers",
            "0",
        ]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    assert "max_length=100 (from the model)" in err
    assert "4 of 4 labels keep the model's rows" in err
    assert json.loads((run / "train_config.json").read_text())["model"] == "keywords"
