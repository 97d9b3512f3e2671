"""Check a generated synthetic-commands dataset by measuring the audio ("listening by proxy").

Reads ``manifest.csv`` and ``metadata.csv`` from the dataset folder and measures every clip:
format (16 kHz mono PCM_16, exactly 1 s), clipping, that the word sits inside the 1-s window
(10-ms RMS envelope), the SNR of noisy clips (noise power from the samples outside the word) and
the level of ``_silence_`` clips; checks that splits share no voice, variant or noise recording;
prints class counts and ``sox stat`` of a few clips. Exits 1 if a hard check fails.

Usage: ``python check_dataset.py [DATA_DIR] [--sox 3]``.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf
from kws_audio import SILENCE_LABEL
from kws_signal import CLIP_SAMPLES, FRAME, SAMPLE_RATE, TRIM_THRESHOLD_DB, frame_rms

SPLITS = ("train", "validation", "test")
MIN_OUTSIDE_SAMPLES = 1_600  # 0.1 s of noise-only audio needed to estimate the noise power
PLACEMENT_TOLERANCE = 2 * FRAME  # samples: envelope frames vs the recorded word region


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def power_db(power: float) -> float:
    return float(10 * np.log10(max(power, 1e-20)))


def describe(values: list[float]) -> str:
    if not values:
        return "n=0"
    v = np.asarray(values)
    q = np.percentile(v, [0, 5, 50, 95, 100])
    return (
        f"n={v.size} min={q[0]:.2f} p5={q[1]:.2f} median={q[2]:.2f} p95={q[3]:.2f} max={q[4]:.2f}"
    )


def check_disjoint(meta: list[dict[str, str]], column: str, failures: list[str]) -> None:
    """No value of ``column`` (base voice, variant, noise file) may occur in two splits."""
    by_split = {s: {r[column] for r in meta if r["split"] == s and r[column]} for s in SPLITS}
    for i, a in enumerate(SPLITS):
        for b in SPLITS[i + 1 :]:
            if column == "variant":  # flite voice names live in base_voice; compare espeak only
                shared = {
                    v
                    for v in by_split[a] & by_split[b]
                    if any(r["variant"] == v and r["engine"] == "espeak" for r in meta)
                }
            else:
                shared = by_split[a] & by_split[b]
            if shared:
                failures.append(f"{column} shared by {a} and {b}: {sorted(shared)[:5]}")
    print(f"  {column}: " + ", ".join(f"{s} {len(by_split[s])}" for s in SPLITS))


def measure_clip(row: dict[str, str], audio: np.ndarray, stats: dict, failures: list[str]) -> None:
    """Placement, SNR and level measurements of one clip (audio float64 in [-1, 1], (16000,))."""
    envelope = frame_rms(audio)  # (100,)
    if row["label"] == SILENCE_LABEL:
        measured = power_db(float(np.mean(audio**2)))
        stats["silence_level_error"][row["noise"]].append(measured - float(row["level_db"]))
        stats["silence_level"].append(measured)
        return
    start, length = int(row["word_start"]), int(row["word_samples"])
    stats["word_seconds"][row["engine"]].append(length / SAMPLE_RATE)
    if start < 0 or start + length > CLIP_SAMPLES:
        failures.append(f"{row['path']}: word placed outside the clip")
    peak_frame = int(np.argmax(envelope))
    stats["peak_inside"].append(start // FRAME <= peak_frame <= (start + length) // FRAME)
    if row["noise"] == "none":
        loud = np.nonzero(envelope >= envelope.max() * 10 ** (TRIM_THRESHOLD_DB / 20))[0]
        onset, offset = loud[0] * FRAME, (loud[-1] + 1) * FRAME
        edge_db = 20 * np.log10(max(envelope[0], envelope[-1], 1e-12) / envelope.max())
        stats["clean_edge_db"].append(edge_db)
        stats["quiet_lead_ms"].append((onset - start) / SAMPLE_RATE * 1000)
        stats["quiet_tail_ms"].append((start + length - offset) / SAMPLE_RATE * 1000)
        if onset < start - PLACEMENT_TOLERANCE or offset > start + length + PLACEMENT_TOLERANCE:
            failures.append(
                f"{row['path']}: sound at {onset}-{offset} outside the word {start}-{start + length}"
            )
        if edge_db > TRIM_THRESHOLD_DB:
            failures.append(f"{row['path']}: speech at the clip edge ({edge_db:.1f} dB)")
        return
    outside = np.concatenate([audio[:start], audio[start + length :]])
    if len(outside) < MIN_OUTSIDE_SAMPLES:
        return
    noise_power = float(np.mean(outside**2))
    if noise_power <= 0:  # a short recorded event that falls entirely inside the word
        return
    speech_power = float(np.mean(audio[start : start + length] ** 2)) - noise_power
    measured = power_db(speech_power / noise_power) if speech_power > 0 else -20.0
    stats["snr_error"][row["noise"]].append(measured - float(row["snr_db"]))


def run_sox(paths: list[Path]) -> None:
    if shutil.which("sox") is None:
        print("sox not installed; skipping sox stat")
        return
    for path in paths:
        info = subprocess.run(["soxi", str(path)], capture_output=True, text=True).stdout
        stat = subprocess.run(["sox", str(path), "-n", "stat"], capture_output=True, text=True)
        keep = ("Sample Rate", "Channels", "Precision", "Duration", "Sample Encoding")
        print(f"--- {path.name}")
        print("\n".join(line for line in info.splitlines() if line.startswith(keep)))
        keep_stat = ("Maximum amplitude", "Minimum amplitude", "RMS     amplitude", "Rough")
        print("\n".join(line for line in stat.stderr.splitlines() if line.startswith(keep_stat)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, nargs="?", default=Path(__file__).parent / "data")
    parser.add_argument("--sox", type=int, default=3, help="run sox stat on this many clips")
    args = parser.parse_args(argv)
    manifest = read_csv(args.data / "manifest.csv")
    meta = read_csv(args.data / "metadata.csv")
    failures: list[str] = []

    if not manifest or list(manifest[0]) != ["path", "labels", "split"]:
        failures.append("manifest.csv must have exactly the columns path,labels,split")
    meta_by_path = {r["path"]: r for r in meta}
    labels = list(dict.fromkeys(r["labels"] for r in manifest))
    counts = Counter((r["split"], r["labels"]) for r in manifest)
    print(f"clips: {len(manifest)}")
    print(f"{'class':>10s} " + " ".join(f"{s:>10s}" for s in SPLITS))
    for label in labels:
        print(f"{label:>10s} " + " ".join(f"{counts[(s, label)]:>10d}" for s in SPLITS))
    print(
        f"{'total':>10s} " + " ".join(f"{sum(counts[(s, x)] for x in labels):>10d}" for s in SPLITS)
    )

    print("voices / recordings per split (must not overlap):")
    speakers = {s: {r["speaker"] for r in meta if r["split"] == s and r["speaker"]} for s in SPLITS}
    print("  speakers: " + ", ".join(f"{s} {len(speakers[s])}" for s in SPLITS))
    for column in ("base_voice", "variant", "noise_file"):
        check_disjoint(meta, column, failures)

    stats: dict = {
        "silence_level_error": defaultdict(list),
        "silence_level": [],
        "word_seconds": defaultdict(list),
        "peak_inside": [],
        "clean_edge_db": [],
        "quiet_lead_ms": [],
        "quiet_tail_ms": [],
        "snr_error": defaultdict(list),
    }
    clipped = 0
    for row in manifest:
        path = args.data / row["path"]
        info = sf.info(path)
        if (info.samplerate, info.channels, info.subtype, info.frames) != (
            SAMPLE_RATE,
            1,
            "PCM_16",
            CLIP_SAMPLES,
        ):
            failures.append(
                f"{row['path']}: {info.samplerate} Hz {info.channels} ch {info.subtype}"
            )
            continue
        samples = sf.read(path, dtype="int16")[0]
        clipped += int(np.count_nonzero(np.abs(samples.astype(np.int32)) >= 32767) > 0)
        measure_clip(meta_by_path[row["path"]], samples / 32767.0, stats, failures)
    if clipped:
        failures.append(f"{clipped} clips reach full scale")

    print(f"clips reaching full scale: {clipped}")
    for engine, seconds in sorted(stats["word_seconds"].items()):
        print(f"word length {engine} (s): {describe(seconds)}")
    inside = stats["peak_inside"]
    print(f"loudest 10-ms frame inside the word region: {sum(inside)}/{len(inside)} word clips")
    print(f"clean clips, edge frame re loudest frame (dB): {describe(stats['clean_edge_db'])}")
    print(
        "clean clips, quiet (< -40 dB) part of the word region (ms): "
        f"lead {describe(stats['quiet_lead_ms'])}; tail {describe(stats['quiet_tail_ms'])}"
    )
    print("noisy clips, measured minus intended SNR (dB), by noise kind:")
    for kind, errors in sorted(stats["snr_error"].items()):
        print(f"  {kind:>6s}: {describe(errors)}")
    print(f"_silence_ level (dBFS RMS): {describe(stats['silence_level'])}")
    print("_silence_ level measured minus intended (dB), by noise kind:")
    for kind, errors in sorted(stats["silence_level_error"].items()):
        print(f"  {kind:>6s}: {describe(errors)}")
    attempts = Counter(r["attempts"] for r in meta if r["speaker"])
    print(f"synthesis attempts per word clip: {dict(sorted(attempts.items()))}")

    rng = np.random.default_rng(0)
    picks = rng.choice(len(manifest), size=min(args.sox, len(manifest)), replace=False)
    run_sox([args.data / manifest[int(i)]["path"] for i in picks])

    for failure in failures[:20]:
        print(f"FAIL {failure}")
    print("FAILED" if failures else "all checks passed", f"({len(failures)} failures)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
