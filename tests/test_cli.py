import csv
import io
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from astaudio.cli import main

MODEL_FLAGS = ["--device", "cpu", "--batch-size", "4"]


@pytest.fixture(scope="module")
def sound_folder(tmp_path_factory, audio_files, bad_files):
    """A folder tree of real files in several formats, one nested, plus a README that isn't audio."""
    root = tmp_path_factory.mktemp("sounds")
    (root / "nested" / "deeper").mkdir(parents=True)
    shutil.copy(audio_files["speech"], root / "speech.wav")
    shutil.copy(audio_files["flac"], root / "nested" / "speech.flac")
    shutil.copy(audio_files["mp3"], root / "nested" / "deeper" / "speech.mp3")
    shutil.copy(audio_files["bell_oga"], root / "bell.oga")
    (root / "README.txt").write_text("not audio")
    return root


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_jsonl_on_a_folder_processes_each_file_once(capsys, sound_folder, audioset_model_dir):
    code, out, err = run_cli(capsys, "classify", sound_folder, sound_folder / "speech.wav",
                             "--model", audioset_model_dir, "-f", "jsonl", "--top-k", "3", *MODEL_FLAGS)  # fmt: skip
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    files = sorted(r["file"] for r in records)
    assert len(files) == len(set(files)) == 4
    assert not any(f.endswith("README.txt") for f in files)
    for record in records:
        assert set(record) == {"file", "duration", "labels", "events", "segments"}
        assert len(record["labels"]) == 3
        scores = [label["score"] for label in record["labels"]]
        assert scores == sorted(scores, reverse=True)
        starts = [s["start"] for s in record["segments"]]
        assert starts == sorted(starts) and starts[0] == 0.0
        assert record["duration"] == pytest.approx(1.43, abs=0.1)


def test_bad_inputs_are_reported_and_skipped(capsys, audio_files, bad_files, audioset_model_dir):
    code, out, err = run_cli(capsys, "classify", audio_files["speech"], bad_files["text_wav"],
                             bad_files["empty"], bad_files["directory_wav"], bad_files["truncated_wav"],
                             audio_files["flac"], "--model", audioset_model_dir, "-f", "json", *MODEL_FLAGS)  # fmt: skip
    assert code == 1
    records = json.loads(out)
    by_file = {r["file"]: r for r in records}
    assert "labels" in by_file[str(audio_files["speech"])]
    assert "labels" in by_file[str(audio_files["flac"])]
    failed = [r for r in records if "error" in r]
    assert len(failed) == 4  # the directory named .wav is searched as a folder: no audio files
    assert [r["file"] for r in records] == [
        str(audio_files["speech"]),
        str(bad_files["text_wav"]),
        str(bad_files["empty"]),
        str(bad_files["directory_wav"]),
        str(bad_files["truncated_wav"]),
        str(audio_files["flac"]),
    ]
    error_lines = [line for line in err.splitlines() if line.startswith("astaudio: skipped")]
    assert len(error_lines) == 4 and all(line.count("'") == 2 for line in error_lines)
    assert sum(str(bad_files["directory_wav"]) in line for line in error_lines) == 1


def test_workers_write_the_same_records_in_the_same_order(
    capsys, audio_files, bad_files, audioset_model_dir
):
    argv = ["classify", audio_files["speech"], bad_files["text_wav"], audio_files["flac"],
            audio_files["speech"], "--model", audioset_model_dir, "-f", "jsonl", *MODEL_FLAGS]  # fmt: skip
    code, threaded, _ = run_cli(capsys, *argv)
    workers_code, workers, _ = run_cli(capsys, *argv, "--workers", "2")
    assert code == workers_code == 1
    assert [json.loads(line)["file"] for line in workers.splitlines()] == [
        json.loads(line)["file"] for line in threaded.splitlines()
    ]
    code, _, err = run_cli(capsys, *argv, "--compile", "--quantize", "int8")
    assert code == 2 and "--compile applies to the float torch model" in err
    for ours, reference in zip(workers.splitlines(), threaded.splitlines(), strict=True):
        ours, reference = json.loads(ours), json.loads(reference)
        assert [x["label"] for x in ours.get("labels", [])] == [
            x["label"] for x in reference.get("labels", [])
        ]


@pytest.mark.parametrize("fmt, delimiter", [("csv", ","), ("tsv", "\t")])
def test_csv_and_tsv_rows_per_segment_and_label(
    capsys, audio_files, audioset_model_dir, fmt, delimiter
):
    code, out, _ = run_cli(capsys, "classify", audio_files["speech"], "--model", audioset_model_dir,
                           "-f", fmt, "--top-k", "2", *MODEL_FLAGS)  # fmt: skip
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out), delimiter=delimiter))
    events = [r for r in rows if r["segment"] == "event"]
    rows = [r for r in rows if r["segment"] != "event"]
    assert events and all(float(r["score"]) >= 0.5 for r in events)
    assert [r["segment"] for r in rows] == ["all", "all", "0", "0"]
    assert all(r["file"] == str(audio_files["speech"]) for r in rows)
    assert float(rows[0]["score"]) >= float(rows[1]["score"])
    assert all(float(r["end"]) > float(r["start"]) for r in rows)


def test_label_names_with_commas_and_quotes_survive_csv(capsys, audio_files, audioset_model_dir):
    code, out, _ = run_cli(capsys, "classify", audio_files["speech"], "--model", audioset_model_dir,
                           "-f", "csv", "--top-k", "527", *MODEL_FLAGS)  # fmt: skip
    labels = {r["label"] for r in csv.DictReader(io.StringIO(out))}
    assert "Male speech, man speaking" in labels and len(labels) == 527


def test_table_output_is_readable(capsys, audio_files, audioset_model_dir):
    code, out, _ = run_cli(capsys, "classify", audio_files["speech"], "--model", audioset_model_dir,
                           "--top-k", "2", *MODEL_FLAGS)  # fmt: skip
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith(str(audio_files["speech"]))
    assert len(lines) == 3 and all("0:00.00-0:01.4" in line for line in lines[1:])


def test_output_dir_and_skip_existing(capsys, sound_folder, audioset_model_dir, tmp_path):
    args = [
        "classify",
        sound_folder,
        "--model",
        audioset_model_dir,
        "-f",
        "json",
        "-d",
        tmp_path,
        *MODEL_FLAGS,
    ]
    assert run_cli(capsys, *args)[0] == 0
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.json"))
    assert written == ["bell.oga.json", "nested/deeper/speech.mp3.json", "nested/speech.flac.json",
                       "speech.wav.json"]  # fmt: skip
    assert json.loads((tmp_path / "speech.wav.json").read_text())[0]["file"].endswith("speech.wav")
    (tmp_path / "bell.oga.json").unlink()
    stamp = (tmp_path / "speech.wav.json").stat().st_mtime_ns
    code, _, err = run_cli(capsys, *args, "--skip-existing")
    assert code == 0 and "skipping 3" in err
    assert (tmp_path / "bell.oga.json").exists()
    assert (tmp_path / "speech.wav.json").stat().st_mtime_ns == stamp


def test_stdin_input(monkeypatch, capsys, audio_files, audioset_model_dir):
    monkeypatch.setattr(
        sys, "stdin", io.TextIOWrapper(io.BytesIO(audio_files["flac"].read_bytes()))
    )
    code, out, _ = run_cli(
        capsys, "classify", "-", "--model", audioset_model_dir, "-f", "jsonl", *MODEL_FLAGS
    )
    assert code == 0 and json.loads(out)["file"] == "-"


@pytest.mark.parametrize(
    "argv, message",
    [(["classify", "x.wav", "--top-k", "0"], "positive"),
     (["classify", "x.wav", "--format", "xml"], "invalid choice"),
     (["classify"], "required"),
     (["classify", "x.wav", "--workers", "-1"], "0 or more")],
)  # fmt: skip
def test_usage_errors_exit_2(capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_missing_model_is_one_line_exit_2(capsys, audio_files, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    code, _, err = run_cli(capsys, "classify", audio_files["speech"], "--model", tmp_path / "nope")
    assert code == 2 and err.count("\n") == 1 and "no such model folder" in err
    code, _, err = run_cli(
        capsys, "classify", audio_files["speech"]
    )  # the default hub model, offline
    assert code == 2 and err.count("\n") == 1 and "local model folder" in err


def test_embed_npz(capsys, sound_folder, audioset_model_dir, tmp_path):
    out = tmp_path / "emb.npz"
    code, _, _ = run_cli(
        capsys, "embed", sound_folder, "-o", out, "--model", audioset_model_dir, *MODEL_FLAGS
    )
    data = np.load(out)
    assert code == 0 and data["embeddings"].shape == (4, 32) and len(set(data["files"])) == 4
    code, _, _ = run_cli(capsys, "embed", sound_folder / "speech.wav", "-o", out, "--per-window",
                         "--window", "1.0", "--hop", "0.5", "--model", audioset_model_dir, *MODEL_FLAGS)  # fmt: skip
    data = np.load(out)
    assert list(data["starts"]) == [0.0, 0.5]
    assert data["ends"][-1] == pytest.approx(1.428, abs=0.01)


def test_embed_stopped_while_writing_leaves_the_earlier_file_whole(
    capsys, monkeypatch, sound_folder, audioset_model_dir, tmp_path
):
    out = tmp_path / "emb.npz"
    out.write_bytes(b"earlier results")

    def stopped(stream, **arrays):
        stream.write(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", stopped)
    code, _, _ = run_cli(capsys, "embed", sound_folder, "-o", out, "--model", audioset_model_dir,
                         *MODEL_FLAGS)  # fmt: skip
    assert code == 130  # stopped, as Ctrl-C stops it
    assert out.read_bytes() == b"earlier results"
    assert [p.name for p in tmp_path.iterdir()] == ["emb.npz"]  # no temporary file left


def test_info(capsys, audioset_model_dir):
    code, out, _ = run_cli(capsys, "info", audioset_model_dir)
    assert code == 0
    assert "527 (sigmoid scores)" in out and "512 frames = 5.12 s" in out
    assert "12 x 50" in out and "mean -4.2677393" in out


def test_plot_writes_a_png(capsys, audio_files, audioset_model_dir, tmp_path):
    out = tmp_path / "plot.png"
    code, _, _ = run_cli(
        capsys, "plot", audio_files["speech"], "-o", out, "--model", audioset_model_dir
    )
    assert code == 0 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_python_dash_m_and_help():
    result = subprocess.run([sys.executable, "-m", "astaudio", "classify", "--help"],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0
    for option in (
        "--model",
        "--top-k",
        "--window",
        "--hop",
        "--format",
        "--output-dir",
        "--skip-existing",
    ):
        assert option in result.stdout
