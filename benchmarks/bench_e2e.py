"""End-to-end benchmark: audio files in, tags out; astaudio vs transformers' pipeline, same run.

    python benchmarks/bench_e2e.py [--device cpu|cuda] [--files 24] [--quick] [--json out.json]
        [--skip-long | --only-long] [--skip-long-86m] [--long-minutes 60] [--long-timeout 900]

Model: hub checkpoints can't be downloaded here, so the script builds a default-config (86M,
527 AudioSet labels from class_labels_indices.csv) ASTForAudioClassification with random
weights in transformers, save_pretrained()s it with its ASTFeatureExtractor's
preprocessor_config.json into a temporary folder, and points both libraries at that folder.
Speed doesn't depend on the weights.

Clips: real recordings (the ALSA speaker-test speech, freedesktop sound-theme .oga files),
copies converted with sox to other rates and formats (FLAC, 8 kHz WAV, MP3), espeak-ng
speech, and ~10 s clips made by concatenation: 8 kHz to 96 kHz, mono and stereo, 0.1 to 10 s.
All are at most one model window (10.24 s), so both libraries run the model once per file.

Sides, timed over the same files in chunks that rotate through the sides (so a background job
slows each side alike); decoding, resampling, features, model and top-5 labels are all timed:
  astaudio                AudioClassifier.classify(paths), batch 8 (the `astaudio classify`
                          defaults), decoding in its background thread.
  transformers (paths)    pipeline("audio-classification")(paths): its own ffmpeg decoding,
                          batch_size 1 (the pipeline's default).
  transformers (arrays)   soundfile decoding + channel mean + soxr resampling to 16 kHz in the
                          timed loop, then the pipeline on the arrays with batch_size 8.
Both use sigmoid scores (AudioSet is multi-label). The target compares astaudio with the faster
transformers side. Also timed: the `astaudio classify FOLDER` command line as a subprocess
(start-up and model loading included).

Long file: peak RSS of `astaudio classify` on a 60-minute 44.1 kHz stereo FLAC (real recordings
repeated) in a subprocess (getrusage ru_maxrss, and VmRSS sampled every second). A small model
of the default geometry (same 1024 x 128 input, windows, hop) first: memory is decoding and
windows, not weights. The small model again with glibc's mmap threshold pinned
(MALLOC_MMAP_THRESHOLD_=131072), which separates heap fragmentation from memory really held.
Then the 86M model, stopped after --long-timeout seconds if unfinished.

Targets (checked here, never in the tests): >= 1.2x transformers end to end; < 2 GiB peak RSS.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_utils import SMALL_MODEL, command_line, default_device, machine_info, write_report

from astaudio.labels import load_labels

E2E_TARGET = 1.2  # astaudio files/s over transformers files/s
MEMORY_TARGET_GIB = 2.0
MODEL_RATE = 16_000  # Hz
FIXED_MMAP_THRESHOLD = {"MALLOC_MMAP_THRESHOLD_": "131072"}  # bytes: glibc's initial threshold
REPO = Path(__file__).resolve().parents[1]
ALSA = Path("/usr/share/sounds/alsa")
FREEDESKTOP = Path("/usr/share/sounds/freedesktop/stereo")
SPEECH = [
    "The quick brown fox jumps over the lazy dog.",
    "A dog is barking outside while the rain falls on the roof.",
    "Please leave a message after the tone.",
]


# -- inputs --------------------------------------------------------------------------------
def audioset_labels(name_or_path: str) -> dict[int, str]:
    return dict(enumerate(load_labels(name_or_path)))


def build_model_folder(folder: Path, labels: dict[int, str], **overrides) -> Path:
    """Random-weight transformers ASTForAudioClassification + preprocessor_config in `folder`."""
    import transformers

    torch.manual_seed(0)
    config = transformers.ASTConfig(
        num_labels=len(labels), id2label=labels, label2id={v: k for k, v in labels.items()},
        **overrides,
    )  # fmt: skip
    transformers.ASTForAudioClassification(config).save_pretrained(folder)
    transformers.ASTFeatureExtractor().save_pretrained(folder)
    return folder


def _run(command: list[str]) -> None:
    subprocess.run(command, check=True, capture_output=True)


def make_clips(folder: Path) -> list[Path]:
    """Real recordings in many formats and rates (see the module docstring), in a fixed order
    that mixes the kinds, so the first N are a fair sample."""
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / "staging"
    staging.mkdir()
    alsa = sorted(ALSA.glob("*.wav"))
    oga = [FREEDESKTOP / f"{name}.oga" for name in (
        "alarm-clock-elapsed", "bell", "camera-shutter", "complete", "dialog-warning",
        "message-new-instant", "phone-incoming-call", "phone-outgoing-busy", "service-login",
        "service-logout", "suspend-error", "trash-empty")]  # fmt: skip
    oga = [p for p in oga if p.exists()]
    copies = [shutil.copy(p, folder / p.name) for p in alsa[:6] + oga[:8]]
    converted = []
    for source, name, options in [
        (alsa[0], "front_center_22k.flac", ["-r", "22050"]),
        (alsa[3], "noise_8k.wav", ["-r", "8000", "-b", "16"]),
        (alsa[7], "side_left_44k_stereo.mp3", ["-r", "44100", "-c", "2"]),
        (alsa[5], "rear_right_16k.wav", ["-r", "16000"]),
    ]:
        _run(["sox", str(source), *options, str(folder / name)])
        converted.append(folder / name)
    speech = []
    for number, sentence in enumerate(SPEECH):
        path = folder / f"speech_{number}.wav"
        _run(["espeak-ng", "-w", str(path), sentence])
        speech.append(path)
    # ~10 s clips: real sounds at one rate and layout, concatenated, trimmed to 10.0 s
    ingredients = []
    for number, source in enumerate(alsa + oga + speech):
        common = staging / f"{number:02d}.wav"
        _run(["sox", str(source), "-r", "44100", "-c", "2", "-b", "16", str(common)])
        ingredients.append(common)
    long_clips = []
    for number in range(3):
        picked = ingredients[number::3]
        path = folder / f"mix_{number}_10s.{'flac' if number % 2 else 'wav'}"
        _run(["sox", *map(str, picked), str(path), "trim", "0", "10"])
        long_clips.append(path)
    kinds = [copies[:6], copies[6:], converted, speech, long_clips]
    ordered = []  # round-robin over the kinds
    for row in range(max(map(len, kinds))):
        ordered += [kind[row] for kind in kinds if row < len(kind)]
    return [Path(p) for p in ordered]


def make_long_file(folder: Path, clips: list[Path], minutes: float) -> Path:
    """A `minutes`-long 44.1 kHz stereo FLAC: the clips concatenated, repeated, trimmed."""
    staging = folder / "long_staging"
    staging.mkdir(parents=True, exist_ok=True)
    parts = []
    for number, clip in enumerate(clips):
        part = staging / f"{number:02d}.wav"
        _run(["sox", str(clip), "-r", "44100", "-c", "2", "-b", "16", str(part)])
        parts.append(part)
    base = staging / "base.wav"
    _run(["sox", *map(str, parts), str(base)])
    base_seconds = float(subprocess.run(["soxi", "-D", str(base)], capture_output=True,
                                        text=True, check=True).stdout)  # fmt: skip
    repeats = max(0, math.ceil(minutes * 60 / base_seconds) - 1)
    path = folder / f"long_{minutes:g}min_44k_stereo.flac"
    _run(["sox", str(base), str(path), "repeat", str(repeats), "trim", "0", str(minutes * 60)])
    shutil.rmtree(staging)
    return path


# -- the sides -----------------------------------------------------------------------------
def decode_for_transformers(path: Path) -> np.ndarray:
    """soundfile decoding, channel mean and soxr resampling to 16 kHz (float32 mono)."""
    import soundfile
    import soxr

    samples, rate = soundfile.read(path, dtype="float32", always_2d=True)  # (N, C)
    mono = samples.mean(axis=1)
    if rate != MODEL_RATE:
        mono = soxr.resample(mono, rate, MODEL_RATE)
    return np.ascontiguousarray(mono, dtype=np.float32)


def bench_files(model_folder: Path, files: list[Path], device: str, chunk: int = 8) -> dict:
    """files/s of each side over the same files, chunks rotating through the sides."""
    import transformers

    from astaudio import AudioClassifier

    start = time.perf_counter()
    classifier = AudioClassifier.from_pretrained(model_folder, device=device)
    load_astaudio = time.perf_counter() - start
    start = time.perf_counter()
    pipe = transformers.pipeline("audio-classification", model=str(model_folder), device=device)
    load_transformers = time.perf_counter() - start
    top: dict[str, dict[str, str]] = {"astaudio": {}, "transformers (arrays)": {}}

    def run_astaudio(paths):
        for result in classifier.classify(paths, top_k=5, batch_size=8):
            if result.error:
                raise RuntimeError(result.error)
            top["astaudio"][result.source] = result.labels[0][0]

    def run_paths(paths):
        pipe([str(p) for p in paths], top_k=5, function_to_apply="sigmoid")

    def run_arrays(paths):
        arrays = [decode_for_transformers(p) for p in paths]
        outputs = pipe(arrays, top_k=5, function_to_apply="sigmoid", batch_size=8)
        for path, labels in zip(paths, outputs):
            top["transformers (arrays)"][os.fspath(path)] = labels[0]["label"]

    sides = {"astaudio": run_astaudio, "transformers (paths)": run_paths,
             "transformers (arrays)": run_arrays}  # fmt: skip
    for run in sides.values():  # warm-up: first-call allocations, lazy imports
        run(files[:1])
    seconds = dict.fromkeys(sides, 0.0)
    names = list(sides)
    for number, first in enumerate(range(0, len(files), chunk)):
        paths = files[first : first + chunk]
        for name in names[number % 3 :] + names[: number % 3]:
            begin = time.perf_counter()
            sides[name](paths)
            seconds[name] += time.perf_counter() - begin
    rates = {name: len(files) / s for name, s in seconds.items()}
    best_theirs = max(rates["transformers (paths)"], rates["transformers (arrays)"])
    agree = [top["astaudio"][k] == v for k, v in top["transformers (arrays)"].items()]
    return {
        "files": len(files),
        "audio_seconds": round(sum(_duration(p) for p in files), 2),
        "files_per_s": rates,
        "seconds": seconds,
        "ratio_vs_paths": rates["astaudio"] / rates["transformers (paths)"],
        "ratio_vs_arrays": rates["astaudio"] / rates["transformers (arrays)"],
        "ratio": rates["astaudio"] / best_theirs,
        "target": E2E_TARGET,
        "load_seconds": {"astaudio": load_astaudio, "transformers": load_transformers},
        "top1_agreement_with_arrays_side": f"{sum(agree)}/{len(agree)}",
    }


def _duration(path: Path) -> float:
    from astaudio import audio_info

    return audio_info(path).duration


def classify_command(model_folder: Path, inputs: list[Path], device: str, output: Path) -> list:
    return [sys.executable, "-m", "astaudio", "classify", *map(str, inputs), "--model",
            str(model_folder), "--device", device, "--format", "json", "--quiet", "--output",
            str(output)]  # fmt: skip


def run_measured(command: list[str], timeout: float, env: dict | None = None) -> dict:
    """Wall time, peak RSS and a VmRSS timeline of `command`, killed after `timeout` seconds.

    Peak RSS comes from /usr/bin/time (the child's getrusage ru_maxrss). Asking os.wait4 directly
    would be wrong: Linux carries the high-water mark of the memory a process had before exec()
    over into ru_maxrss, and a child forked from this process starts out as big as it is (torch
    and two models loaded). /usr/bin/time is small, so its child starts small.
    """
    with tempfile.TemporaryDirectory() as temp:
        usage_file, stderr_path = Path(temp) / "usage", Path(temp) / "stderr"
        wrapped = ["/usr/bin/time", "-f", "%M", "-o", str(usage_file), *command]
        timeline, timed_out = [], False
        with open(stderr_path, "wb") as stderr_file:
            start = time.perf_counter()
            process = subprocess.Popen(
                wrapped, stdout=subprocess.DEVNULL, stderr=stderr_file, start_new_session=True,
                env=None if env is None else {**os.environ, **env},
            )  # fmt: skip
            next_sample = 0.0
            while process.poll() is None:
                elapsed = time.perf_counter() - start
                if elapsed >= next_sample:
                    rss = _tree_rss_mib(process.pid)
                    if rss is not None:
                        timeline.append((round(elapsed, 1), rss))
                    next_sample += 1.0
                if elapsed > timeout and not timed_out:
                    timed_out = True
                    os.killpg(process.pid, signal.SIGKILL)  # /usr/bin/time and its child
                time.sleep(0.1)
            wall = time.perf_counter() - start
        stderr = stderr_path.read_text(errors="replace")
        usage = usage_file.read_text().split() if usage_file.exists() else []
    sampled_peak = max((rss for _, rss in timeline), default=0.0) / 1024
    usage = usage if usage and usage[-1].isdigit() else []  # killed: no usage line
    peak = int(usage[-1]) / 2**20 if usage else sampled_peak  # %M is KiB
    return {
        "command": "".join(f"{name}={value} " for name, value in (env or {}).items())
        + shlex.join(["python", *command[1:]]),
        "exit_status": process.returncode,
        "timed_out": timed_out,
        "wall_seconds": wall,
        "peak_rss_gib": peak,
        "peak_rss_source": "getrusage via /usr/bin/time" if usage else "VmRSS samples",
        "rss_mib_timeline": _thin(timeline),
        "stderr_tail": stderr[-500:],
    }


def _tree_rss_mib(pid: int) -> float | None:
    """VmRSS of `pid`'s children (the command under /usr/bin/time), MiB."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="utf-8") as handle:
            children = [int(c) for c in handle.read().split()]
    except OSError:
        return None
    sizes = [size for size in map(_vm_rss_mib, children) if size is not None]
    return round(sum(sizes), 1) if sizes else None


def _vm_rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def _thin(timeline: list, keep: int = 20) -> list:
    step = max(1, len(timeline) // keep)
    return timeline[::step] + ([timeline[-1]] if timeline and len(timeline) % step != 1 else [])


def bench_cli(model_folder: Path, clip_folder: Path, files: int, device: str, work: Path) -> dict:
    output = work / "cli_results.json"
    result = run_measured(classify_command(model_folder, [clip_folder], device, output), 1800)
    classified = json.loads(output.read_text()) if output.exists() else []
    result["files"] = len(classified)
    result["files_per_s_including_startup"] = len(classified) / result["wall_seconds"]
    assert len(classified) == files, f"CLI classified {len(classified)} of {files} files"
    return result


def bench_long_file(model_folder: Path, long_file: Path, device: str, work: Path,
                    timeout: float, env: dict | None = None) -> dict:  # fmt: skip
    output = work / f"long_{model_folder.name}.json"
    command = classify_command(model_folder, [long_file], device, output)
    result = run_measured(command, timeout, env)
    result["audio_minutes"] = round(_duration(long_file) / 60, 2)
    result["file_mib"] = round(long_file.stat().st_size / 2**20, 1)
    if output.exists() and not result["timed_out"] and result["exit_status"] == 0:
        record = json.loads(output.read_text())[0]
        result["windows"] = len(record["segments"])
        result["windows_per_s"] = result["windows"] / result["wall_seconds"]
    result["target_gib"] = MEMORY_TARGET_GIB
    return result


# -- report ----------------------------------------------------------------------------------
def summary_rows(report: dict) -> list[dict]:
    """Rows of run_all's table: what, astaudio, transformers, ratio, target, met."""
    rows = []
    if "files" in report:
        files, cli = report["files"], report["cli"]
        rates = files["files_per_s"]
        best = max(["transformers (paths)", "transformers (arrays)"], key=rates.get)
        rows += [
            {
                "what": f"End to end, {files['files']} real files, {report['model']} (files/s; "
                f"transformers: faster of its two input paths, here {best.split()[1]})",
                "astaudio": f"{rates['astaudio']:.3f}",
                "reference": f"{rates[best]:.3f}",
                "reference_name": best,
                "ratio": files["ratio"],
                "target": f">= {E2E_TARGET:g}x",
                "met": files["ratio"] >= E2E_TARGET,
            },
            {
                "what": "End to end vs transformers given file paths (its ffmpeg decoding, "
                "batch 1)",
                "astaudio": f"{rates['astaudio']:.3f}",
                "reference": f"{rates['transformers (paths)']:.3f}",
                "reference_name": "transformers (paths)",
                "ratio": files["ratio_vs_paths"],
                "target": "",
                "met": None,
            },
            {
                "what": "`astaudio classify FOLDER` command, start-up and model load included "
                "(files/s)",
                "astaudio": f"{cli['files_per_s_including_startup']:.3f}",
                "reference": "",
                "ratio": None,
                "target": "",
                "met": None,
            },
        ]
    labels = {
        "small_model": "small model, default geometry",
        "small_model_fixed_mmap_threshold": "small model, MALLOC_MMAP_THRESHOLD_=131072",
        "default_model": "86M default model",
    }
    for key, run in report.get("long_file", {}).items():
        if key not in labels:
            continue
        state = (f"stopped after {run['wall_seconds']:.0f} s" if run["timed_out"]
                 else f"{run['wall_seconds']:.0f} s")  # fmt: skip
        rows.append(
            {
                "what": f"Peak RSS, `astaudio classify` of a {run['audio_minutes']:g}-minute "
                f"44.1 kHz stereo FLAC, {labels[key]} ({state})",
                "astaudio": f"{run['peak_rss_gib']:.2f} GiB",
                "reference": "",
                "ratio": None,
                "target": f"< {MEMORY_TARGET_GIB:g} GiB",
                "met": run["peak_rss_gib"] < MEMORY_TARGET_GIB,
            }
        )
    return rows


# -- main ----------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=default_device(), choices=["cpu", "cuda"])
    parser.add_argument("--files", type=int, default=24, help="clips to classify (at most 24)")
    parser.add_argument("--long-minutes", type=float, default=60.0)
    parser.add_argument("--long-timeout", type=float, default=900.0,
                        help="seconds before the 86M long-file run is stopped")  # fmt: skip
    parser.add_argument("--skip-long-86m", action="store_true",
                        help="measure the long file with the small model only")  # fmt: skip
    parser.add_argument("--skip-long", action="store_true", help="no long-file measurements")
    parser.add_argument("--only-long", action="store_true", help="only the long-file ones")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: small model, 8 files, 2-minute long file")  # fmt: skip
    parser.add_argument("--labels", default="audioset", help="label set name or CSV")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    for program in ("sox", "soxi", "espeak-ng", "ffmpeg", "/usr/bin/time"):
        if shutil.which(program) is None:
            sys.exit(f"bench_e2e needs {program} on PATH")
    report = {"command": command_line(), "quick": args.quick, "machine": machine_info(args.device)}
    labels = audioset_labels(args.labels)
    with tempfile.TemporaryDirectory(prefix="astaudio-bench-") as temp:
        work = Path(temp)
        small = build_model_folder(work / "small_model", labels, **SMALL_MODEL)
        full = small if args.quick else build_model_folder(work / "default_model", labels)
        clips = make_clips(work / "clips_all")
        count = 8 if args.quick else min(args.files, len(clips))
        clip_folder = work / "clips"
        clip_folder.mkdir()
        files = [Path(shutil.copy(p, clip_folder / p.name)) for p in clips[:count]]
        report["model"] = "small config (quick)" if args.quick else "default config, 86M"
        report["file_list"] = [p.name for p in files]
        if not args.only_long:
            report["files"] = bench_files(full, files, args.device)
            print(json.dumps(report["files"], indent=2), flush=True)
            report["cli"] = bench_cli(full, clip_folder, len(files), args.device, work)
        if args.skip_long:
            return finish(report, args)
        minutes = 2.0 if args.quick else args.long_minutes
        long_file = make_long_file(work, clips, minutes)
        short = bench_long_file(small, files[0], args.device, work, 600)
        report["long_file"] = {
            "baseline_small_model_one_short_clip": short,
            "small_model": bench_long_file(small, long_file, args.device, work, 1800),
            # the same with glibc's mmap threshold pinned: big blocks go back to the system
            # when freed instead of piling up in fragmented heaps (see BENCHMARKS.md)
            "small_model_fixed_mmap_threshold": bench_long_file(
                small, long_file, args.device, work, 1800, env=FIXED_MMAP_THRESHOLD
            ),
        }
        if not (args.quick or args.skip_long_86m):
            report["long_file"]["default_model"] = bench_long_file(
                full, long_file, args.device, work, args.long_timeout
            )
    finish(report, args)


def finish(report: dict, args: argparse.Namespace) -> None:
    report["summary_rows"] = summary_rows(report)
    write_report(report, args.device, args.json)


if __name__ == "__main__":
    main()
