"""Fine-tuning end to end on a small real dataset spoken by espeak-ng voices."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from astaudio.cli import main
from astaudio.data import load_dataset_spec
from astaudio.train import EpochSampler, preset_config

WORDS = ["yes", "no", "stop", "seven"]
TRAIN_VOICES = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us+f3",
                "en-gb+m3", "en-us+f2", "en-gb-x-gbclan+f4", "en+m5"]  # fmt: skip
VALID_VOICES = ["en-gb-x-gbcwmd", "en-us+m2", "en+f5", "en-gb-x-gbcwmd+f1", "en-us+m6", "en+klatt3"]
TINY = ["hidden_size=64", "num_hidden_layers=2", "num_attention_heads=4", "intermediate_size=128"]


def speak(path, word, voice, speed):
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), word],
                   check=True, capture_output=True)  # fmt: skip


@pytest.fixture(scope="module")
def keywords(tmp_path_factory):
    """A CSV manifest of 4 words x voices x 2 speeds; validation voices never used in training."""
    root = tmp_path_factory.mktemp("keywords")
    rows = []
    for split, voices in (("train", TRAIN_VOICES), ("valid", VALID_VOICES)):
        for voice in voices:
            for speed in (140, 190):
                for word in WORDS:
                    name = f"{word}/{voice.replace('+', '_')}_{speed}.wav"
                    (root / word).mkdir(exist_ok=True)
                    speak(root / name, word, voice, speed)
                    rows.append({"path": name, "labels": word, "split": split})
    (root / "not_audio.wav").write_text("this is text")
    rows.insert(5, {"path": "not_audio.wav", "labels": "yes", "split": "train"})
    with open(root / "manifest.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["path", "labels", "split"])
        writer.writeheader()
        writer.writerows(rows)
    return root / "manifest.csv"


def tune_args(manifest, run, *extra):
    return ["finetune", "--model-config", *TINY, "--train", str(manifest), "--output-dir", str(run),
            "--preset", "speechcommands", "--max-length", "100", "--batch-size", "8", "--lr", "1e-3", "--loss", "ce",
            "--mixup", "0", "--freqm", "0", "--timem", "0", "--no-noise", "--scheduler-start", "100",
            "--workers", "0", "--quiet", *extra]  # fmt: skip


def test_loss_falls_and_accuracy_rises_well_above_chance(keywords, tmp_path, capsys):
    run = tmp_path / "run"
    torch.set_num_threads(2)
    code = main(tune_args(keywords, run, "--epochs", "10", "--seed", "1"))
    err = capsys.readouterr().err
    assert code == 0
    assert "dropped" in err and "not_audio.wav" in err  # the bad file is reported, training went on
    assert "not_audio.wav" in (run / "dropped_files.txt").read_text()
    with open(run / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    losses = [float(r["train_loss"]) for r in rows]
    accuracy = [float(r["accuracy"]) for r in rows]
    assert len(rows) == 10
    assert np.mean(losses[-3:]) < 0.75 * np.mean(losses[:2]), losses
    # 48 clips of 6 unseen voices, chance 0.25: 0.45 or more by luck has probability ~1e-3
    assert max(accuracy) >= 0.45, accuracy
    assert float(rows[-1]["valid_loss"]) < float(rows[0]["valid_loss"])
    for folder in ("best", "last", "checkpoints/epoch-010"):
        assert (run / folder / "model.safetensors").is_file()
    assert (run / "curves.png").read_bytes()[:4] == b"\x89PNG"
    # the trained model evaluates the same from the command line, with a confusion matrix
    code = main(["evaluate", str(run / "best"), "--data", str(keywords), "--split", "valid",
                 "--json", "-o", str(tmp_path / "eval"), "--workers", "0"])  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    best_row = rows[int(np.argmax(accuracy))]
    assert report["models"][str(run / "best")]["accuracy"] == pytest.approx(
        float(best_row["accuracy"])
    )
    assert (tmp_path / "eval" / "confusion_best.csv").is_file()


def test_resume_after_sigkill_reaches_identical_weights(keywords, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    base = [
        sys.executable,
        "-m",
        "astaudio",
        *tune_args(keywords, "RUN", "--epochs", "3", "--seed", "3"),
    ]

    def command(run):
        return [str(run) if part == "RUN" else part for part in base]

    whole = tmp_path / "whole"
    subprocess.run(command(whole), check=True, env=env, capture_output=True)

    killed = tmp_path / "killed"
    process = subprocess.Popen(command(killed), env=env, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (killed / "checkpoints" / "epoch-001" / "trainer_state.pt").exists():
        assert time.time() < deadline and process.poll() is None
        time.sleep(0.05)
    time.sleep(0.5)  # into epoch 2
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "checkpoints" / "epoch-003").exists()
    subprocess.run(command(killed) + ["--resume"], check=True, env=env, capture_output=True)

    expected = load_file(whole / "last" / "model.safetensors")
    resumed = load_file(killed / "last" / "model.safetensors")
    assert expected.keys() == resumed.keys()
    for key in expected:
        assert torch.equal(expected[key], resumed[key]), key


def test_two_process_ddp_equals_one_process(keywords, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # accumulation over 2 batches: DDP skips the all-reduce (no_sync) on the first of each pair
    args = tune_args(keywords, "RUN", "--epochs", "1", "--seed", "5", "--grad-accum", "2")
    single, double = tmp_path / "single", tmp_path / "double"
    subprocess.run([sys.executable, "-m", "astaudio", *[str(single) if a == "RUN" else a for a in args]],
                   check=True, env=env, capture_output=True)  # fmt: skip
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                "--master_port", "29531", "-m", "astaudio"]  # fmt: skip
    result = subprocess.run([*torchrun, *[str(double) if a == "RUN" else a for a in args]],
                            env=env, capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    one = load_file(single / "last" / "model.safetensors")
    two = load_file(double / "last" / "model.safetensors")
    moved = max((one[k] - load_file(single / "checkpoints" / "epoch-001" / "model.safetensors")[k]).abs().max()
                for k in one)  # fmt: skip
    # Adam turns summation-order rounding (~1e-9) of near-zero gradients into steps up to ~3e-5
    # softmax is blind to the key bias, so its gradient is pure rounding noise that Adam scales
    # to full-size steps: it can't agree between any two summation orders, and doesn't matter
    compared = [k for k in one if not k.endswith("attention.attention.key.bias")]
    assert len(compared) > 20
    for key in compared:
        torch.testing.assert_close(two[key], one[key], atol=1e-4, rtol=1e-3, msg=key)
    assert moved == 0  # last/ is the final epoch's checkpoint
    # the logged training loss is every process's, not rank 0's share
    losses = []
    for run in (single, double):
        with open(run / "metrics.csv") as handle:
            losses.append(float(next(csv.DictReader(handle))["train_loss"]))
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
    # written once, by one process
    listed = (double / "dropped_files.txt").read_text().splitlines()
    assert len(listed) == 1 and listed[0].startswith(str(keywords.parent / "not_audio.wav"))


def test_epoch_sampler_deals_global_batches_across_processes():
    whole = list(EpochSampler(40, 8, seed=2))
    parts = [list(EpochSampler(40, 8, seed=2, rank=r, world=2)) for r in range(2)]
    for batch in range(5):
        merged = sorted(parts[0][batch * 4 : batch * 4 + 4] + parts[1][batch * 4 : batch * 4 + 4])
        assert merged == sorted(whole[batch * 8 : batch * 8 + 8])
    sampler = EpochSampler(40, 8, seed=2)
    sampler.set_epoch(1)
    first = list(sampler)
    sampler.set_epoch(2)
    assert first != list(sampler) and sorted(first) == list(range(40))
    with pytest.raises(ValueError, match="divisible"):
        EpochSampler(40, 7, seed=0, world=2)


def test_presets_carry_the_ast_recipes():
    audioset = preset_config("audioset")
    assert (audioset.lr, audioset.batch_size, audioset.freqm, audioset.timem, audioset.mixup) == (
        1e-5,
        12,
        48,
        192,
        0.5,
    )
    assert audioset.balanced and audioset.warmup and audioset.max_length == 1024
    esc = preset_config("esc50", lr=3e-5)
    assert (esc.lr, esc.max_length, esc.freqm, esc.timem, esc.loss) == (3e-5, 512, 24, 96, "ce")
    sc = preset_config("speechcommands")
    assert (sc.max_length, sc.mixup, sc.noise, sc.mean, sc.std) == (
        128,
        0.6,
        True,
        -6.845978,
        5.5654526,
    )
    with pytest.raises(ValueError, match="preset"):
        preset_config("librispeech")


def test_average_checkpoints(tmp_path, capsys):
    from conftest import tiny_config

    from astaudio import ASTForAudioClassification

    run = tmp_path / "run"
    states = []
    for epoch in (1, 2, 3):
        torch.manual_seed(epoch)
        model = ASTForAudioClassification(tiny_config())
        model.save_pretrained(run / "checkpoints" / f"epoch-{epoch:03d}")
        states.append(model.state_dict())
    assert (
        main(["average-checkpoints", str(run), "--epochs", "2-3", "-o", str(tmp_path / "avg")]) == 0
    )
    averaged = load_file(tmp_path / "avg" / "model.safetensors")
    for key, value in averaged.items():
        torch.testing.assert_close(value, (states[1][key] + states[2][key]) / 2)
    assert (
        main(["average-checkpoints", str(run), "--epochs", "3-5", "-o", str(tmp_path / "x")]) == 2
    )
    assert "epoch-004" in capsys.readouterr().err


def test_manifest_splits_are_used(keywords):
    train = load_dataset_spec(keywords, split="train")
    valid = load_dataset_spec(keywords, split="valid")
    assert train.labels == valid.labels == sorted(WORDS)
    assert len(valid.items) == len(VALID_VOICES) * 2 * len(WORDS)


def error_line(capsys):
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize(
    "flag", [["--batch-size", "0"], ["--grad-accum", "0"], ["--epochs", "-1"], ["--keep-last", "0"]]
)
def test_impossible_counts_are_usage_errors(keywords, tmp_path, flag):
    with pytest.raises(SystemExit) as exit_info:
        main(tune_args(keywords, tmp_path / "run", *flag))
    assert exit_info.value.code == 2
    assert not (tmp_path / "run").exists()


def test_finetune_mistakes_are_one_line_usage_errors(keywords, tmp_path, capsys):
    run = tmp_path / "run"
    misspelt = ["--model-config", "hiden_size=64", "--max-length", "100"]
    args = ["finetune", "--train", str(keywords), "-o", str(run), "--workers", "0", "--quiet"]
    assert main([*args, *misspelt]) == 2
    assert "hiden_size" in error_line(capsys)
    assert (
        main(
            [
                "finetune",
                "--model-config",
                *TINY,
                "--train",
                str(keywords.parent / "nothing.csv"),
                "-o",
                str(run),
                "--max-length",
                "100",
            ]
        )
        == 2
    )
    assert "nothing.csv" in error_line(capsys)
    assert main([*args, "--model-config", *TINY]) == 2  # from scratch: which clip length?
    assert "from scratch" in error_line(capsys)
    run.mkdir()
    (run / "metrics.csv").write_text("epoch\n1\n")
    assert main(tune_args(keywords, run, "--epochs", "1")) == 2
    assert "--resume" in error_line(capsys)
    assert (run / "metrics.csv").read_text() == "epoch\n1\n"


def test_init_from_deit_on_the_command_line(keywords, tmp_path):
    from test_checkpoints import deit_state_dict

    deit = tmp_path / "deit.pth"
    torch.save({"model": deit_state_dict(64, depth=2, side=4)}, deit)
    run = tmp_path / "run"
    args = tune_args(keywords, run, "--epochs", "1", "--init-from", str(deit))
    args = ["intermediate_size=256" if a == "intermediate_size=128" else a for a in args]
    assert main(args) == 0
    config = json.loads((run / "last" / "config.json").read_text())
    assert config["layer_norm_eps"] == 1e-6
    assert (run / "train_config.json").is_file()


def test_average_checkpoints_one_epoch_and_mismatched_epochs(tmp_path, capsys):
    from conftest import tiny_config
    from safetensors.torch import save_file

    from astaudio import ASTForAudioClassification

    run = tmp_path / "run"
    for epoch in (1, 2):
        torch.manual_seed(epoch)
        ASTForAudioClassification(tiny_config()).save_pretrained(
            run / "checkpoints" / f"epoch-{epoch:03d}"
        )
    assert main(["average-checkpoints", str(run), "--epochs", "2", "-o", str(tmp_path / "a")]) == 0
    single = load_file(tmp_path / "a" / "model.safetensors")
    second = load_file(run / "checkpoints" / "epoch-002" / "model.safetensors")
    assert all(torch.equal(single[k], second[k]) for k in second)
    capsys.readouterr()
    save_file(
        {k: v for k, v in second.items() if k != "classifier.dense.bias"},
        run / "checkpoints" / "epoch-002" / "model.safetensors",
    )
    assert (
        main(["average-checkpoints", str(run), "--epochs", "1-2", "-o", str(tmp_path / "b")]) != 0
    )
    assert "classifier.dense.bias" in error_line(capsys)


def test_python_api_and_command_train_the_same_model(keywords, tmp_path):
    from astaudio import finetune

    command, python = tmp_path / "command", tmp_path / "python"
    assert main(tune_args(keywords, command, "--epochs", "1", "--seed", "4")) == 0
    train = preset_config(
        "speechcommands",
        max_length=100,
        batch_size=8,
        lr=1e-3,
        loss="ce",
        mixup=0.0,
        freqm=0,
        timem=0,
        noise=False,
        scheduler_start=100,
        num_workers=0,
        epochs=1,
        seed=4,
    )
    config = dict(pair.split("=") for pair in TINY)
    finetune(
        keywords,
        None,
        python,
        model_config={k: int(v) for k, v in config.items()},
        train=train,
        progress=False,
    )
    one = load_file(command / "last" / "model.safetensors")
    two = load_file(python / "last" / "model.safetensors")
    assert all(torch.equal(one[key], two[key]) for key in one)
    for name in ("dropped_files.txt", "metrics.csv", "train_config.json"):
        assert (command / name).read_text() == (python / name).read_text(), name


def test_finetuning_a_model_that_centres_short_clips_keeps_centring(keywords, tmp_path):
    # the bundled keyword model centres clips shorter than its window; a model fine-tuned from it
    # trains on centred clips and saves the setting, so it is scored the same way
    run = tmp_path / "run"
    args = ["finetune", "--model", "keywords", "--train", str(keywords), "--output-dir", str(run),
            "--batch-size", "8", "--lr", "1e-4", "--loss", "ce", "--mixup", "0", "--epochs", "1",
            "--workers", "0", "--quiet"]  # fmt: skip
    assert main(args) == 0
    saved = json.loads((run / "last" / "preprocessor_config.json").read_text())
    assert saved.get("center_short_clips") is True
    plain = tmp_path / "plain"
    assert main(tune_args(keywords, plain, "--epochs", "1")) == 0
    assert "center_short_clips" not in (plain / "last" / "preprocessor_config.json").read_text()
