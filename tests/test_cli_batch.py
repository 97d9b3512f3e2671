"""`astaudio classify` in unattended batch jobs: every input gets exactly one record, exit
codes as documented, nothing written before the arguments and the model are checked, result
files complete after interruptions, hostile names, files and arguments refused one line each."""

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from astaudio.cli import main

FLAGS = ["--device", "cpu", "--batch-size", "4"]
RATE = 16000
SRC = str(Path(__file__).resolve().parents[1] / "src")


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def tone(path: Path, seconds: float = 1.5, rate: int = RATE, subtype: str = "PCM_16") -> Path:
    t = np.arange(int(round(seconds * rate))) / rate
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate, subtype)
    return path


@pytest.fixture
def model(audioset_model_dir):
    return audioset_model_dir


# -- §1 results right and complete --------------------------------------------------------------
def test_hop_longer_than_the_window_adds_no_segment_past_the_end(capsys, tmp_path):
    clip = tone(tmp_path / "speech_16k.wav", seconds=3.19)
    code, out, err = run_cli(
        capsys, "classify", "-m", "keywords", clip, "--hop", "2", "-f", "json", *FLAGS
    )
    assert code == 0, err
    segments = json.loads(out)[0]["segments"]
    assert [s["start"] for s in segments] == [0.0, 2.0]
    assert all(s["start"] < s["end"] <= 3.19 for s in segments)
    assert "warning: --hop 2 s is longer than the window 1 s: 50% of long recordings" in err


def test_output_dir_keeps_inputs_with_the_same_relative_name_apart(capsys, tmp_path, model):
    first, second = tone(tmp_path / "A/x/s.wav", 1.0), tone(tmp_path / "B/x/s.wav", 2.0)
    out = tmp_path / "out"
    code, _, err = run_cli(
        capsys,
        "classify",
        tmp_path / "A",
        tmp_path / "B",
        "-d",
        out,
        "-m",
        model,
        "-f",
        "json",
        *FLAGS,
    )
    assert code == 0, err
    written = sorted((out / "x").iterdir())
    assert len(written) == 2
    records = {json.loads(p.read_text())[0]["file"]: json.loads(p.read_text())[0] for p in written}
    assert set(records) == {str(first), str(second)}
    assert records[str(second)]["duration"] == 2.0


def test_skip_existing_retries_failures_only(capsys, tmp_path, model):
    folder = tmp_path / "in"
    tone(folder / "good.wav")
    (folder / "bad.wav").write_text("not audio yet")
    out = tmp_path / "out"
    argv = ["classify", folder, "-d", out, "-m", model, "-f", "jsonl", "--skip-existing", *FLAGS]
    code, _, _ = run_cli(capsys, *argv)
    assert code == 1 and "error" in json.loads((out / "bad.wav.jsonl").read_text())
    stamp = (out / "good.wav.jsonl").stat().st_mtime_ns
    tone(folder / "bad.wav")  # fixed
    code, _, err = run_cli(capsys, *argv)
    assert code == 0, err
    assert "skipping 1 inputs" in err and (out / "good.wav.jsonl").stat().st_mtime_ns == stamp
    assert "labels" in json.loads((out / "bad.wav.jsonl").read_text())


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_a_missing_input_gets_a_record_in_every_structured_format(capsys, tmp_path, model, fmt):
    good = tone(tmp_path / "good.wav")
    code, out, err = run_cli(
        capsys, "classify", tmp_path / "missing.wav", good, "-m", model, "-f", fmt, *FLAGS
    )
    assert code == 1 and err.count("\n") == 1 and "missing.wav': no such file" in err
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert rows[0]["file"].endswith("missing.wav") and rows[0]["error"]
        assert {r["file"] for r in rows} == {str(tmp_path / "missing.wav"), str(good)}
    else:
        records = json.loads(out) if fmt == "json" else [json.loads(x) for x in out.splitlines()]
        assert [Path(r["file"]).name for r in records] == ["missing.wav", "good.wav"]
        assert records[0]["error"] == "no such file or folder"


def test_a_closed_stdout_ends_quietly(tmp_path):
    folder = tmp_path / "in"
    for n in range(6):
        tone(folder / f"{n}.wav", 1.0)
    command = [
        sys.executable,
        "-m",
        "astaudio",
        "classify",
        folder,
        "-m",
        "keywords",
        "-f",
        "jsonl",
        *FLAGS,
    ]
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert json.loads(process.stdout.readline())["file"].endswith("0.wav")
    process.stdout.close()  # like `| head -1`
    code = process.wait(timeout=120)
    err = process.stderr.read().decode()
    assert err == "" and code == 141


# -- §2 exit codes and errors --------------------------------------------------------------------
@pytest.mark.parametrize(
    "extra, message",
    [
        (["--window", "10"], "window 10 s is longer than the model's 1 s"),
        (["--window", "100"], "longer than the model"),
        (["--window", "0.001"], "at least 0.025 s"),
        (["--hop", "1e-9"], "hop must be at least 0.01 s"),
        (["-o", "no/such/folder/out.csv"], "does not exist"),
        (["--device", "cuda:7"], "cuda:7"),
    ],
)
def test_arguments_the_model_cant_take_exit_2_before_any_output(
    capsys, tmp_path, monkeypatch, extra, message
):
    monkeypatch.chdir(tmp_path)
    clip = tone(tmp_path / "clip.wav")
    code, out, err = run_cli(
        capsys, "classify", clip, "-m", "keywords", "-f", "csv", *FLAGS, *extra
    )
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err, err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--hop", "inf"], "finite"),
        (["--hop", "nan"], "finite"),
        (["--threads", "100000"], "4 per CPU"),
        (["--top-k", "0"], "positive integer or 'all'"),
        (["--device", "gpu"], "cuda:N or mps"),
        (["--threshold", "nan"], "finite"),
    ],
)
def test_numbers_are_checked_by_the_parser(capsys, extra, message):
    with pytest.raises(SystemExit) as info:
        main(["classify", "x.wav", *extra])
    err = capsys.readouterr().err
    assert info.value.code == 2 and message in err and "Traceback" not in err


def test_hostile_model_folders_are_usage_errors(capsys, tmp_path, model):
    folder = tmp_path / "model"
    shutil.copytree(model, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 10**6}))
    start = time.perf_counter()
    code, _, err = run_cli(capsys, "info", folder)
    assert code == 2 and err.count("\n") == 1 and "num_hidden_layers" in err
    assert time.perf_counter() - start < 5
    (folder / "config.json").write_text("[1, 2]")
    code, out, err = run_cli(capsys, "classify", tone(tmp_path / "c.wav"), "-m", folder, *FLAGS)
    assert code == 2 and out == "" and "expected a JSON object" in err


# -- §3 multi-label tagging -------------------------------------------------------------------
def test_threshold_is_not_capped_by_the_default_top_k(capsys, tmp_path, model):
    clip = tone(tmp_path / "c.wav")
    code, out, _ = run_cli(
        capsys, "classify", clip, "-m", model, "-f", "json", "--threshold", "0.0", *FLAGS
    )
    assert code == 0 and len(json.loads(out)[0]["labels"]) == 527
    code, out, _ = run_cli(
        capsys, "classify", clip, "-m", model, "-f", "json", "--top-k", "all", *FLAGS
    )
    assert len(json.loads(out)[0]["labels"]) == 527
    code, out, _ = run_cli(capsys, "classify", clip, "-m", model, "-f", "json", *FLAGS)
    labels = json.loads(out)[0]["labels"]
    assert len(labels) == 5
    table = tmp_path / "t.csv"
    with open(table, "w", newline="") as handle:  # AudioSet names hold commas
        csv.writer(handle).writerows(
            [["label", "threshold"], [labels[0]["label"], 0.0], [labels[1]["label"], 1.5]]
        )
    code, out, _ = run_cli(
        capsys, "classify", clip, "-m", model, "-f", "json", "--thresholds", table, *FLAGS
    )
    assert [x["label"] for x in json.loads(out)[0]["labels"]] == [labels[0]["label"]]
    table.write_text("No such class,0.3\n")
    code, out, err = run_cli(capsys, "classify", clip, "-m", model, "--thresholds", table, *FLAGS)
    assert code == 2 and out == "" and "unknown label" in err


def test_timelines_and_formats_from_the_output_name(capsys, tmp_path, model):
    clip = tone(tmp_path / "c.wav", 3.0)
    common = ["-m", model, "--window", "1", "--threshold", "0.0", "--top-k", "2", *FLAGS]
    code, _, err = run_cli(capsys, "classify", clip, "-o", tmp_path / "out.csv", *common)
    assert code == 0, err
    assert (tmp_path / "out.csv").read_text().startswith("file,segment,start,end,label,score")
    code, _, _ = run_cli(capsys, "classify", clip, "-o", tmp_path / "c.labels.txt", *common)
    first = (tmp_path / "c.labels.txt").read_text().splitlines()[0].split("\t")
    assert len(first) == 3 and float(first[0]) < float(first[1])
    code, _, _ = run_cli(capsys, "classify", clip, "-o", tmp_path / "c.vtt", *common)
    assert (tmp_path / "c.vtt").read_text().startswith("WEBVTT\n\n00:00:00.000 --> ")
    code, out, _ = run_cli(capsys, "classify", clip, "-f", "srt", *common)
    assert out.startswith("1\n00:00:00,000 --> ")
    code, _, err = run_cli(capsys, "classify", clip, tmp_path / "out.csv", "-f", "vtt", *common)
    assert code == 2 and "one input" in err
    code, out, _ = run_cli(capsys, "classify", clip, *common)
    assert "  events:\n" in out


def test_bundled_models_are_listed(capsys):
    code, out, _ = run_cli(capsys, "models")
    assert code == 0 and out.startswith("keywords") and "22 labels" in out
    code, out, _ = run_cli(capsys, "info", "keywords", "--labels", "2")
    assert "labels (2 of 22):" in out and out.rstrip().endswith("1  no")


# -- §5 hostile inputs --------------------------------------------------------------------------
def test_output_that_is_an_input_is_refused(capsys, tmp_path, model):
    clip = tone(tmp_path / "v.wav")
    before = clip.read_bytes()
    code, out, err = run_cli(capsys, "classify", clip, "-o", clip, "-f", "json", "-m", model)
    assert code == 2 and "one of the inputs" in err and clip.read_bytes() == before


def test_hostile_names_and_files_each_get_a_record(capsys, tmp_path, model):
    folder = tmp_path / "in"
    tone(folder / "plain.wav")
    os.rename(tone(tmp_path / "x.wav"), os.fsencode(folder) + b"/caf\xe9.wav")
    tone(folder / ("n" * 251 + ".wav"))
    samples = np.zeros(RATE, dtype=np.float32)
    samples[100] = np.inf
    soundfile.write(folder / "inf.wav", samples, RATE, "FLOAT")
    soundfile.write(folder / "one.wav", np.zeros(1, dtype=np.float32), RATE)
    os.mkfifo(folder / "fifo.wav")
    os.symlink("loop.wav", folder / "loop.wav")
    code, out, err = run_cli(capsys, "classify", folder, "-m", model, "-f", "jsonl", *FLAGS)
    assert code == 1
    records = {Path(r["file"]).name: r for r in map(json.loads, out.splitlines())}
    assert len(records) == 7
    assert "labels" in records["caf\\xe9.wav"] and "labels" in records["n" * 251 + ".wav"]
    assert "infinite" in records["inf.wav"]["error"]
    assert "shorter than one 25 ms frame" in records["one.wav"]["error"]
    assert "named pipe" in records["fifo.wav"]["error"]
    assert records["loop.wav"]["error"] == "symbolic link loop"
    out_dir = tmp_path / "out"
    code, _, err = run_cli(capsys, "classify", folder, "-m", model, "-d", out_dir, *FLAGS)
    names = sorted(os.listdir(os.fsencode(out_dir)))
    assert b"caf\xe9.wav.txt" in names and b"plain.wav.txt" in names
    long_result = [n for n in names if n.startswith(b"nnnn")]
    assert len(long_result) == 1 and len(long_result[0]) <= 255


def test_process_substitution_is_read_like_a_pipe(capsys, tmp_path, model):
    data = tone(tmp_path / "c.wav").read_bytes()
    read_end, write_end = os.pipe()

    def feed() -> None:
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(data)

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        code, out, err = run_cli(
            capsys, "classify", f"/dev/fd/{read_end}", "-m", model, "-f", "json", *FLAGS
        )
    finally:
        feeder.join()
        os.close(read_end)
    assert code == 0, err
    assert json.loads(out)[0]["duration"] == 1.5


def test_sigterm_completes_the_json_array(tmp_path):
    folder = tmp_path / "in"
    for n in range(40):
        tone(folder / f"{n:02d}.wav", 3.0)
    out = tmp_path / "all.json"
    command = [
        sys.executable,
        "-m",
        "astaudio",
        "classify",
        folder,
        "-m",
        "keywords",
        "-f",
        "json",
        "-o",
        out,
        "--window",
        "0.5",
        "--hop",
        "0.05",
        *FLAGS,
    ]
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # until the first records are in the temporary file
        temps = list(tmp_path.glob(".astaudio-*.tmp"))
        if temps and temps[0].stat().st_size > 0:
            break
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=60)
    err = process.stderr.read().decode()
    assert code == 143 and "terminated" in err, err
    records = json.loads(out.read_text())
    assert 1 <= len(records) < 40 and not list(tmp_path.glob(".astaudio-*.tmp"))


# -- done when: a batch job over a hostile folder, interrupted and rerun -------------------------
def test_interrupted_batch_rerun_with_skip_existing_ends_with_one_record_per_input(
    capsys, tmp_path, model, monkeypatch
):
    from astaudio import batch

    data = tmp_path / "data"
    tone(data / "a" / "clip.wav", 1.0)
    tone(data / "b" / "clip.wav", 2.0)  # the same name in another folder
    tone(data / ("long" * 62 + ".wav"), 1.0)  # 252 characters
    tone(data / "ok.flac", 1.5)
    (data / "corrupt.wav").write_bytes(b"RIFF" + bytes(100))
    os.symlink("loop.wav", data / "loop.wav")
    inputs = [data, tmp_path / "missing.wav"]
    out = tmp_path / "results"
    argv = ["classify", *inputs, "-d", out, "-f", "json", "-m", model, "--skip-existing", *FLAGS]

    real_write, written = batch.write_result_file, []

    def write_then_interrupt(path, result, fmt):
        if len(written) == 3:
            raise KeyboardInterrupt
        written.append(path)
        return real_write(path, result, fmt)

    monkeypatch.setattr(batch, "write_result_file", write_then_interrupt)
    assert run_cli(capsys, *argv)[0] == 130
    monkeypatch.undo()
    assert len(list(out.rglob("*.json"))) == 3
    code, _, err = run_cli(capsys, *argv)
    assert code == 1 and "skipping" in err

    results = {
        p.relative_to(out).as_posix(): json.loads(p.read_text())
        for p in out.rglob("*")
        if p.is_file()
    }
    assert not [name for name in results if ".astaudio-" in name]
    by_input = {}
    for records in results.values():
        assert len(records) == 1
        by_input.setdefault(records[0]["file"], []).append(records[0])
    expected = {
        str(data / "a" / "clip.wav"),
        str(data / "b" / "clip.wav"),
        str(data / ("long" * 62 + ".wav")),
        str(data / "ok.flac"),
        str(data / "corrupt.wav"),
        str(data / "loop.wav"),
        str(tmp_path / "missing.wav"),
    }
    assert set(by_input) == expected and all(len(v) == 1 for v in by_input.values())
    ok = {f for f, (r,) in by_input.items() if "labels" in r}
    assert ok == {
        str(data / "a" / "clip.wav"),
        str(data / "b" / "clip.wav"),
        str(data / ("long" * 62 + ".wav")),
        str(data / "ok.flac"),
    }
    assert by_input[str(data / "b" / "clip.wav")][0]["duration"] == 2.0


def test_standard_input_with_an_output_dir_writes_stdin_result(
    capsys, tmp_path, model, monkeypatch
):
    data = tone(tmp_path / "c.wav").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, _, err = run_cli(
        capsys, "classify", "-", "-d", tmp_path / "out", "-m", model, "-f", "json", *FLAGS
    )
    assert code == 0, err
    assert json.loads((tmp_path / "out" / "stdin.json").read_text())[0]["file"] == "-"
