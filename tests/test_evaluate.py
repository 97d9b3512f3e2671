"""`astaudio evaluate` and `astaudio norm-stats` on small real datasets."""

import csv
import json
import subprocess

import numpy as np
import pytest
import torch
from conftest import tiny_config
from sklearn.metrics import average_precision_score

from astaudio import ASTFeatureExtractor, ASTForAudioClassification, load_audio
from astaudio.cli import main
from astaudio.data import compute_norm_stats, load_dataset_spec

CLASSES = [("/m/speech", "Speech"), ("/m/bell", "Bell, ringing"), ("/m/hum", 'Hum "mains"')]


@pytest.fixture(scope="module")
def multilabel_json(tmp_path_factory, audio_files):
    """AST-repository JSON datafile: espeak speech, a bell, speech over a bell, hum tones."""
    root = tmp_path_factory.mktemp("multilabel")
    with open(root / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["index", "mid", "display_name"])
        writer.writerows([i, mid, name] for i, (mid, name) in enumerate(CLASSES))
    entries = []
    for n, word in enumerate(["yes", "seventeen thousand", "how are you today"]):
        path = root / f"speech{n}.wav"
        subprocess.run(["espeak-ng", "-w", str(path), word], check=True)
        entries.append({"wav": path.name, "labels": "/m/speech"})
    entries.append({"wav": str(audio_files["bell_oga"]), "labels": "/m/bell"})
    mixed = root / "speech_bell.wav"
    parts = [root / "part_speech.wav", root / "part_bell.wav"]
    for source, part in zip([root / "speech0.wav", audio_files["bell_oga"]], parts):
        subprocess.run(["sox", "-D", str(source), "-r", "16000", "-c", "1", str(part)], check=True)
    # -D: no dither, whose random noise made the scores (and their ranking gaps) vary run to run
    subprocess.run(["sox", "-D", "-m", *map(str, parts), str(mixed)], check=True)
    for part in parts:
        part.unlink()
    entries.append({"wav": mixed.name, "labels": "/m/speech,/m/bell"})
    for n, freq in enumerate((50, 60)):
        path = root / f"hum{n}.wav"
        subprocess.run(
            ["sox", "-D", "-n", "-r", "16000", str(path), "synth", "1", "sine", str(freq)],
            check=True,
        )
        entries.append({"wav": path.name, "labels": "/m/hum"})
    (root / "data.json").write_text(json.dumps({"data": entries}))
    return root


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    folders = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = ASTForAudioClassification(tiny_config(id2label={i: n for i, (_, n) in enumerate(CLASSES)},
                                                      num_labels=None, max_length=256))  # fmt: skip
        with torch.no_grad():  # spread the scores: a random head gives near-ties rounding can flip
            model.classifier.dense.weight.mul_(30)
        folder = tmp_path_factory.mktemp(f"model{seed}")
        model.save_pretrained(folder)
        ASTFeatureExtractor(max_length=256).save_pretrained(folder)
        folders.append(folder)
    return folders


def direct_scores(folder, paths):
    """Sigmoid scores computed file by file through extractor and model (not the dataset code)."""
    model = ASTForAudioClassification.from_pretrained(folder).eval()
    extractor = ASTFeatureExtractor.from_pretrained(folder)
    rows = []
    for path in paths:
        inputs = extractor(load_audio(path), sampling_rate=16000, return_tensors="pt")
        with torch.no_grad():
            rows.append(torch.sigmoid(model(**inputs).logits)[0].numpy())
    return np.stack(rows)


def test_multilabel_evaluation_and_ensemble_match_sklearn(
    multilabel_json, two_models, capsys, tmp_path
):
    data, labels = multilabel_json / "data.json", multilabel_json / "labels.csv"
    code = main(["evaluate", *map(str, two_models), "--data", str(data), "--labels", str(labels),
                 "--json", "-o", str(tmp_path), "--workers", "0"])  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["items"] == 7
    spec = load_dataset_spec(data, labels_csv=labels)
    targets = np.zeros((7, 3))
    for row, item in enumerate(spec.items):
        targets[row, list(item.label_indices)] = 1
    scores = [direct_scores(folder, [item.path for item in spec.items]) for folder in two_models]
    for per_model in scores:
        gaps = np.diff(np.sort(per_model, axis=0), axis=0)
        assert gaps.min() > 1e-5  # rankings can't depend on float rounding
    for folder, expected in zip(two_models, scores):
        ours = report["models"][str(folder)]
        for c in range(3):
            assert ours["ap"][c] == pytest.approx(
                average_precision_score(targets[:, c], expected[:, c]), abs=1e-6
            )
        assert ours["mAP"] == pytest.approx(
            np.mean([average_precision_score(targets[:, c], expected[:, c]) for c in range(3)]),
            abs=1e-6,
        )
    mean = (scores[0] + scores[1]) / 2
    assert report["ensemble"]["mAP"] == pytest.approx(
        np.mean([average_precision_score(targets[:, c], mean[:, c]) for c in range(3)]), abs=1e-6
    )
    assert report["labels"] == [name for _, name in CLASSES]
    assert (
        json.loads((tmp_path / "metrics.json").read_text())["ensemble"]["mAP"]
        == report["ensemble"]["mAP"]
    )


def test_single_label_table_and_confusion(multilabel_json, two_models, capsys, tmp_path):
    folder = tmp_path / "by_class"
    for name in ("Speech", "Bell, ringing"):
        (folder / name).mkdir(parents=True)
    for n in range(3):
        (folder / "Speech" / f"s{n}.wav").write_bytes(
            (multilabel_json / f"speech{n}.wav").read_bytes()
        )
    (folder / "Bell, ringing" / "mix.wav").write_bytes(
        (multilabel_json / "speech_bell.wav").read_bytes()
    )
    code = main(
        [
            "evaluate",
            str(two_models[0]),
            "--data",
            str(folder),
            "-o",
            str(tmp_path / "out"),
            "--workers",
            "0",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "accuracy" in out.lower()
    with open(tmp_path / "out" / f"confusion_{two_models[0].name}.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    counts = np.array([[int(v) for v in row[1:]] for row in rows[1:]])
    assert counts.sum() == 4 and counts.shape == (3, 3)  # model classes; data rows Speech, Bell
    assert (tmp_path / "out" / f"confusion_{two_models[0].name}.png").read_bytes()[:4] == b"\x89PNG"


def test_norm_stats_command(multilabel_json, capsys, tmp_path):
    data, labels = multilabel_json / "data.json", multilabel_json / "labels.csv"
    out = tmp_path / "pre"
    code = main(["norm-stats", str(data), "--labels", str(labels), "--max-length", "200", "-o", str(out),
                 "--workers", "0"])  # fmt: skip
    assert code == 0 and "mean" in capsys.readouterr().out
    written = ASTFeatureExtractor.from_pretrained(out)
    spec = load_dataset_spec(data, labels_csv=labels)
    mean, std = compute_norm_stats(spec, ASTFeatureExtractor(max_length=200))
    assert (written.mean, written.std) == pytest.approx((mean, std))
    assert written.max_length == 200 and -20 < mean < 5 and 0 < std < 20
