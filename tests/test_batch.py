"""Batch tagging you can leave unattended: windows, events, thresholds, hostile inputs and
names, atomic result files, one record per input (library level; the CLI is in test_cli)."""

import json
import os
from pathlib import Path, PurePath

import numpy as np
import pytest
import soundfile

from astaudio import AudioClassifier, audio_info, load_audio
from astaudio.audio import expand_inputs
from astaudio.batch import plan_classify, run_classify
from astaudio.errors import AudioLoadError
from astaudio.events import merge_events, read_thresholds, threshold_vector
from astaudio.inference import window_starts
from astaudio.names import fit_name, plan_output_paths, printable_name
from astaudio.output import (
    AtomicOutput,
    ResultWriter,
    format_for_path,
    format_timeline,
    result_file_succeeded,
    write_result_file,
)

RATE = 16000


@pytest.fixture(scope="module")
def classifier(audioset_model_dir):
    return AudioClassifier.from_pretrained(audioset_model_dir, device="cpu")


def tone(path: Path, seconds: float = 1.5, rate: int = RATE, subtype: str = "PCM_16") -> Path:
    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate, subtype)
    return path


# -- windows ----------------------------------------------------------------------------------
def test_a_hop_longer_than_the_window_adds_no_window_past_the_end(classifier, tmp_path):
    # 3.19 s, 1 s windows every 2 s: windows at 0 and 2 s only, none at 4 s
    assert window_starts(51040, 16000, 32000) == [0, 32000]
    assert window_starts(100, 200, 300) == [0]
    clip = tone(tmp_path / "clip.wav", seconds=1.43)
    result = classifier(clip, window=0.25, hop=1.0)
    assert [s.start for s in result.segments] == [0.0, 1.0]
    assert all(s.start < s.end <= result.duration for s in result.segments)


@pytest.mark.parametrize(
    "window, hop, message",
    [
        (100.0, None, "longer than the model"),
        (0.001, None, "at least 0.025"),
        (1.0, 1e-9, "at least 0.01"),
        (1.0, float("inf"), "positive number"),
        (float("nan"), None, "positive number"),
    ],
)
def test_window_and_hop_are_checked_before_any_audio(classifier, window, hop, message):
    with pytest.raises(ValueError, match=message):
        classifier.check_window(window, hop)


# -- thresholds and events --------------------------------------------------------------------
def test_threshold_without_top_k_keeps_every_label_above_it(classifier, tmp_path):
    clip = tone(tmp_path / "clip.wav")
    everything = classifier(clip, top_k=None, threshold=0.0)
    assert len(everything.labels) == 527
    top = classifier(clip, top_k=3, threshold=0.0)
    assert [name for name, _ in top.labels] == [name for name, _ in everything.labels[:3]]
    best, second = everything.labels[0][0], everything.labels[1][0]
    per_class = classifier(clip, top_k=None, threshold={best: 0.0, second: 2.0})
    assert [name for name, _ in per_class.labels] == [best]
    with pytest.raises(ValueError, match="unknown label"):
        classifier(clip, threshold={"Not a label": 0.1})


def test_read_thresholds(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('label,threshold\nSpeech,0.3\n"Male speech, man speaking",0.25\n\n')
    assert read_thresholds(path) == {"Speech": 0.3, "Male speech, man speaking": 0.25}
    path.write_text("Speech,0.3\nDog,high\n")
    with pytest.raises(ValueError, match=r"t.csv:2: 'high' is not a number"):
        read_thresholds(path)
    assert list(threshold_vector({"b": 0.2}, ["a", "b"])) == [np.inf, 0.2]


def test_events_merge_windows_per_label():
    labels = ["Dog", "Speech"]
    scores = np.array([[0.9, 0.1], [0.8, 0.1], [0.1, 0.1], [0.7, 0.6], [0.1, 0.1], [0.1, 0.7]])
    starts = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    ends = [s + 1.0 for s in starts]
    events = merge_events(scores, starts, ends, labels, np.array([0.5, 0.5]))
    assert [(e.label, e.start, e.end, e.score) for e in events] == [
        ("Dog", 0.0, 2.0, 0.9),
        ("Dog", 3.0, 4.0, 0.7),
        ("Speech", 3.0, 4.0, 0.6),
        ("Speech", 5.0, 6.0, 0.7),
    ]
    joined = merge_events(scores, starts, ends, labels, np.array([0.5, 0.5]), max_gap=1.0)
    assert [(e.label, e.start, e.end) for e in joined] == [("Dog", 0.0, 4.0), ("Speech", 3.0, 6.0)]
    long_only = merge_events(scores, starts, ends, labels, np.array([0.5, 0.5]), min_duration=2)
    assert [(e.label, e.start, e.end) for e in long_only] == [("Dog", 0.0, 2.0)]


def test_events_reach_records_and_timelines(classifier, tmp_path):
    clip = tone(tmp_path / "clip.wav", seconds=3.0)
    result = classifier(clip, window=1.0, hop=0.5, event_threshold=0.0, top_k=2)
    record = result.to_dict()
    assert record["events"] and all(e["start"] < e["end"] for e in record["events"])
    assert {e["label"] for e in record["events"]} == set(classifier.labels)  # all above 0
    first = result.events[0]
    audacity = format_timeline(result, "audacity").splitlines()[0].split("\t")
    assert audacity == [f"{first.start:.6f}", f"{first.end:.6f}", first.label]
    vtt = format_timeline(result, "vtt")
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:0")
    srt = format_timeline(result, "srt")
    assert srt.startswith("1\n00:00:00,000 --> 00:00:0")
    assert format_for_path("a/out.csv") == "csv" and format_for_path("x.labels.txt") == "audacity"
    assert format_for_path("x.vtt") == "vtt" and format_for_path("x.xyz") is None


# -- hostile audio ----------------------------------------------------------------------------
def test_nan_and_too_short_and_implausible_rates_are_errors(classifier, tmp_path):
    samples = np.zeros(RATE, dtype=np.float32)
    samples[8000] = np.nan
    soundfile.write(tmp_path / "nan.wav", samples, RATE, "FLOAT")
    soundfile.write(tmp_path / "one.wav", np.zeros(1, dtype=np.float32), RATE)
    soundfile.write(tmp_path / "slow.wav", np.zeros(1000, dtype=np.int16), 1)
    nan, one, slow = classifier([tmp_path / "nan.wav", tmp_path / "one.wav", tmp_path / "slow.wav"])
    assert "NaN or infinite samples (first at 0.50 s)" in nan.error
    assert "shorter than one 25 ms frame" in one.error
    assert "sampling rate of 1 Hz" in slow.error
    for record in (nan.to_dict(), one.to_dict()):
        json.dumps(record, allow_nan=False)
    with pytest.raises(AudioLoadError, match="1 Hz"):
        audio_info(tmp_path / "slow.wav")
    with pytest.raises(AudioLoadError, match="1 Hz"):
        load_audio(tmp_path / "slow.wav")


def test_a_name_that_is_not_utf8_is_classified_and_printable(classifier, tmp_path):
    name = os.fsdecode(b"caf\xe9.wav")
    clip = tone(tmp_path / "plain.wav")
    os.rename(clip, tmp_path / name)
    result = classifier(tmp_path / name)
    assert result.ok, result.error
    record = json.dumps(result.to_dict(), ensure_ascii=False).encode("utf-8")
    assert b"caf\\\\xe9.wav" in record
    assert printable_name("plain.wav") == "plain.wav"


# -- finding inputs ---------------------------------------------------------------------------
def test_fifos_and_link_loops_in_a_folder_are_reported_not_read(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    tone(folder / "good.wav")
    os.mkfifo(folder / "pipe.wav")
    os.symlink("loop.wav", folder / "loop.wav")
    os.symlink("nowhere.wav", folder / "dangling.wav")
    entries = expand_inputs([folder, tmp_path / "missing.wav"])
    by_name = {e.path.name: e.error for e in entries}
    assert by_name["good.wav"] is None
    assert "named pipe" in by_name["pipe.wav"]
    assert by_name["loop.wav"] == "symbolic link loop"
    assert by_name["dangling.wav"] == "broken symbolic link"
    assert by_name["missing.wav"] == "no such file or folder"
    assert entries[0].relative == PurePath("dangling.wav")


def test_output_paths_keep_clashing_and_long_names_apart(tmp_path):
    inputs = [
        (PurePath("x/s.wav"), "/data/A/x/s.wav"),
        (PurePath("x/s.wav"), "/data/B/x/s.wav"),
        (PurePath("other.wav"), "/data/A/other.wav"),
    ]
    paths = plan_output_paths(tmp_path, inputs, "json")
    assert len(set(paths)) == 3 and paths == plan_output_paths(tmp_path, inputs, "json")
    assert paths[0].parent == tmp_path / "x" and paths[0].name.startswith("s.wav~")
    assert paths[2] == tmp_path / "other.wav.json"
    long_a, long_b = "a" * 251 + ".wav", "a" * 250 + "b.wav"
    short_a, short_b = fit_name(long_a, "json"), fit_name(long_b, "json")
    assert len(short_a.encode()) <= 255 and short_a.endswith(".json") and short_a != short_b
    assert fit_name(long_a, "json") == short_a
    (tmp_path / short_a).write_text("{}")  # the file system holds it


# -- result files -----------------------------------------------------------------------------
def test_a_failed_write_leaves_no_partial_file(classifier, tmp_path, monkeypatch):
    result = classifier(tone(tmp_path / "clip.wav"))
    target = tmp_path / "out" / "clip.wav.jsonl"

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_result_file(target, result, "jsonl")
    assert not target.exists() and list(target.parent.iterdir()) == []
    monkeypatch.undo()
    write_result_file(target, result, "jsonl")
    assert result_file_succeeded(target, "jsonl")
    failed = type(result)(str(tmp_path / "bad.wav"), error="corrupt")
    for fmt in ("json", "jsonl", "csv", "tsv", "table"):
        path = tmp_path / f"r.{fmt}"
        write_result_file(path, result, fmt)
        assert result_file_succeeded(path, fmt), fmt
        write_result_file(path, failed, fmt)
        assert not result_file_succeeded(path, fmt), fmt
        path.write_text("")
        assert not result_file_succeeded(path, fmt), fmt


def test_atomic_output_keeps_the_earlier_file_until_commit(tmp_path):
    path = tmp_path / "all.json"
    path.write_text("earlier")
    out = AtomicOutput(path)
    out.stream.write("new")
    assert path.read_text() == "earlier"
    out.discard()
    assert path.read_text() == "earlier" and len(list(tmp_path.iterdir())) == 1
    with AtomicOutput(path) as stream:
        stream.write("new")
    assert path.read_text() == "new" and oct(path.stat().st_mode & 0o777) != "0o600"


def test_plan_refuses_outputs_that_lose_data(tmp_path):
    clip = tone(tmp_path / "v.wav")
    with pytest.raises(ValueError, match="one of the inputs"):
        plan_classify([str(clip)], "json", output=clip)
    with pytest.raises(ValueError, match="does not exist"):
        plan_classify([str(clip)], "json", output=tmp_path / "no" / "out.json")
    with pytest.raises(ValueError, match="one input"):
        plan_classify([str(clip), str(tone(tmp_path / "w.wav"))], "vtt", output=tmp_path / "x.vtt")
    with pytest.raises(ValueError, match="needs --output-dir"):
        plan_classify([str(clip)], "json", skip_existing=True)


def test_every_input_gets_one_record_in_order_even_when_interrupted(classifier, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.wav", "b.wav", "c.wav"):
        tone(folder / name)
    (folder / "corrupt.wav").write_text("not audio")
    inputs = [str(tmp_path / "missing.wav"), str(folder)]
    out = tmp_path / "all.json"
    summary = run_classify(plan_classify(inputs, "json", output=out), classifier)
    records = json.loads(out.read_text())
    assert [Path(r["file"]).name for r in records] == [
        "missing.wav",
        "a.wav",
        "b.wav",
        "c.wav",
        "corrupt.wav",
    ]
    assert (summary.ok, summary.failed) == (3, 2)
    assert "error" in records[0] and "error" in records[-1]

    def interrupt(result):
        if Path(result.source).name == "a.wav":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_classify(plan_classify(inputs, "json", output=out), classifier, on_result=interrupt)
    assert [Path(r["file"]).name for r in json.loads(out.read_text())] == ["missing.wav", "a.wav"]


def test_writer_streams_valid_json_for_an_empty_run(tmp_path):
    path = tmp_path / "x.json"
    with open(path, "w") as stream:
        writer = ResultWriter(stream, "json")
        writer.close()
        writer.close()
    assert json.loads(path.read_text()) == []


# -- hostile model folders --------------------------------------------------------------------
@pytest.mark.parametrize(
    "change, message",
    [
        ({"max_length": 10**9}, "max_length=1000000000 is out of range"),
        ({"num_hidden_layers": 10**6}, "num_hidden_layers=1000000 is out of range"),
        ({"num_labels": 10**8, "id2label": None, "label2id": None}, "num_labels=100000000"),
        ({"id2label": ["a", "b"]}, "id2label must be a JSON object"),
        ({"hidden_size": "768"}, "hidden_size must be an integer"),
        ({"hidden_size": 16384, "intermediate_size": 262144, "num_hidden_layers": 1000}, "GiB"),
        (["not", "a", "dict"], "expected a JSON object, got a JSON list"),
    ],
)
def test_hostile_configs_are_refused_before_anything_is_built(
    audioset_model_dir, tmp_path, change, message
):
    import shutil

    from astaudio.errors import CheckpointError

    folder = tmp_path / "model"
    shutil.copytree(audioset_model_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    config = {**config, **change} if isinstance(change, dict) else change
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=message):
        AudioClassifier.from_pretrained(folder, device="cpu")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"sampling_rate": 10**9}, "sampling_rate must be an integer from 1,000 to 384,000"),
        ({"std": float("nan")}, "std must be a finite number"),
        ({"num_mel_bins": 64}, "num_mel_bins=64 but the model's config.json 128"),
    ],
)
def test_hostile_extractor_configs_are_refused(audioset_model_dir, tmp_path, change, message):
    import shutil

    from astaudio.errors import CheckpointError
    from astaudio.features import ASTFeatureExtractor

    folder = tmp_path / "model"
    shutil.copytree(audioset_model_dir, folder)
    values = {**ASTFeatureExtractor(max_length=512).to_dict(), **change}
    (folder / "preprocessor_config.json").write_text(json.dumps(values))
    with pytest.raises(CheckpointError, match=message):
        AudioClassifier.from_pretrained(folder, device="cpu")


def test_devices_are_named_as_torch_names_them():
    import torch

    from astaudio.inference import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    for name, message in [("gpu", "auto, cpu, cuda, cuda:N or mps"), ("xla", "auto, cpu")]:
        with pytest.raises(ValueError, match=message):
            resolve_device(name)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda:1")
    else:
        with pytest.raises(ValueError, match="does not exist"):
            resolve_device(f"cuda:{torch.cuda.device_count()}")
    if not torch.backends.mps.is_available():
        with pytest.raises(ValueError, match="MPS"):
            resolve_device("mps")


def test_a_corrupt_mp3_says_one_thing_once(tmp_path):
    import subprocess
    import sys

    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"ID3" + np.random.default_rng(1).integers(0, 256, 5000, np.uint8).tobytes())
    code = (
        "import sys\nfrom astaudio import load_audio\n"
        "from astaudio.audio import native_stderr_silenced\n"
        "with native_stderr_silenced():\n"
        "    try:\n        load_audio(sys.argv[1])\n"
        "    except Exception as exc:\n        print(exc, file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.run(
        [sys.executable, "-c", code, junk], capture_output=True, text=True, env=env
    )
    assert run.stderr.count("\n") == 1 and "junk.mp3" in run.stderr, run.stderr
    assert "possibly a pipe" not in run.stderr and "Note:" not in run.stderr


def test_cut_off_ogg_and_mp3_files_are_classified_with_a_warning(classifier, tmp_path):
    import subprocess

    for name in ("whole.ogg", "whole.mp3"):  # ffmpeg writes the MP3's Xing/Info frame count
        subprocess.run(
            [
                "ffmpeg",
                "-loglevel",
                "error",
                "-f",
                "lavfi",
                "-i",
                "sine=f=440:d=20",
                "-ar",
                "16000",
                tmp_path / name,
            ],
            check=True,
        )
        data = (tmp_path / name).read_bytes()
        (tmp_path / f"cut_{name}").write_bytes(data[: int(len(data) * 0.6)])
    whole_ogg, cut_ogg, whole_mp3, cut_mp3 = classifier(
        [tmp_path / n for n in ("whole.ogg", "cut_whole.ogg", "whole.mp3", "cut_whole.mp3")],
        window=1.0,
    )
    assert whole_ogg.warnings == [] and whole_mp3.warnings == []
    assert cut_ogg.ok and "without its end marker" in cut_ogg.warnings[0]
    assert cut_mp3.ok and "decoding stopped at" in cut_mp3.warnings[0]
    assert "of the 20.0" in cut_mp3.warnings[0] and cut_mp3.to_dict()["warnings"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_plan_refuses_folders_it_cannot_write(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    clip = tone(tmp_path / "v.wav")
    with pytest.raises(ValueError, match="permission denied"):
        plan_classify([str(clip)], "json", output_dir=locked / "out")
