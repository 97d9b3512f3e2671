"""Generate a synthetic Speech Commands-style keyword-spotting dataset (espeak-ng, flite, festival).

Every clip is exactly 1 s of 16 kHz mono 16-bit PCM WAV. Word clips hold one spoken word
(trimmed, level-normalised, placed at a random offset) with background noise mixed in at a random
SNR for about half of them; ``_silence_`` clips hold low-level noise only. Splits are by voice: the
espeak-ng accents, espeak-ng voice variants, flite voices and real noise recordings used by the
test and validation splits never occur in training; festival (``--festival-share``) speaks only
training clips.

Writes, under ``--out`` (default ``data/`` next to this script):

- ``audio/<split>/<label>/*.wav``
- ``manifest.csv``: ``path,labels,split`` (astaudio's CSV manifest layout, paths relative to it)
- ``metadata.csv``: one row per clip with speaker, prosody, placement, noise and SNR
- ``class_labels_indices.csv``: ``index,mid,display_name`` fixing the class order
- ``speakers_<split>.txt`` (one speaker per line) and ``speakers.json`` (bases, variants, noises)
- ``generation.json``: counts, skipped clips, wall time, disk size

Usage: ``python make_dataset.py`` (full) or ``python make_dataset.py --clips-per-word 8 --out /tmp/kws``.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import shutil
import sys
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np
from kws_audio import (
    COMMAND_WORDS,
    ESPEAK_ENGINES,
    SILENCE_LABEL,
    SILENCE_NOISE_WEIGHTS,
    SPEECH_NOISE_WEIGHTS,
    UNKNOWN_LABEL,
    ClipSpec,
    Speaker,
    SynthesisError,
    VoiceInventory,
    discover_voices,
    festival_voices,
    noise_recordings,
    render_clip,
    soxr,
    split_voices,
    synthesize,
)
from kws_signal import rms, to_int16, trim_silence
from tqdm import tqdm
from words import babble_sentences, unknown_vocabulary

DEFAULT_OUT = Path(__file__).resolve().parent / "data"
SPLITS = ("train", "validation", "test")

# Level / prosody ranges. Levels are dBFS RMS over the word (speech) or the whole second (silence).
ESPEAK_SPEED_WPM = (120, 240)  # espeak-ng -s, default 175
ESPEAK_PITCH = (20, 85)  # espeak-ng -p, 0..99, default 50
FLITE_STRETCH = (0.8, 1.35)  # flite duration_stretch, 1 = normal speed
FLITE_F0_SCALE = (0.8, 1.25)  # multiplies the voice's usual mean f0
FLITE_WARP = (0.92, 1.08)  # resampling factor: scales pitch and formants together
SPEECH_LEVEL_DB = (-32.0, -16.0)  # dBFS, RMS over the word
SILENCE_LEVEL_DB = (-60.0, -35.0)  # dBFS, RMS over the clip
DITHER_LEVEL_DB = (-85.0, -65.0)  # dBFS, RMS: the near-digital-silence share of _silence_
SNR_DB = (5.0, 30.0)
NOISY_SHARE = 0.5  # share of word clips with background noise
FLITE_SHARE = 0.25  # share of word clips spoken by flite (when the split has a flite voice)
FESTIVAL_STRETCH = (0.8, 1.3)  # festival Duration_Stretch
FESTIVAL_WARP = (0.9, 1.1)  # resampling factor: festival has three voices, the warp makes more
PIPER_LENGTH_SCALE = (0.8, 1.3)  # piper length_scale, 1 = the voice's own speed
PIPER_NOISE_SCALE = (0.4, 0.9)  # piper noise_scale: take-to-take variation (0.667 default)
PIPER_WARP = (0.88, 1.12)  # one voice: a wider warp makes more speakers of it
UNKNOWN_FACTOR = 2.5  # _unknown_ gets this many times the clips of a command (it has ~500 words)
BABBLE_PER_SPLIT = {"train": 300, "validation": 60, "test": 60}  # background-talker sentences


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="seed for splits and all random draws")
    parser.add_argument(
        "--clips-per-word", type=int, default=1000, help="training clips per class (default 1000)"
    )
    parser.add_argument(
        "--eval-clips-per-word",
        type=int,
        default=None,
        help="validation and test clips per class (default: 20%% of --clips-per-word)",
    )
    parser.add_argument(
        "--max-voices",
        type=int,
        default=None,
        help="keep at most this many espeak-ng speakers and flite voices per split (tiny runs)",
    )
    parser.add_argument("--no-unknown", action="store_true", help="leave out the _unknown_ class")
    parser.add_argument(
        "--festival-share",
        type=float,
        default=0.0,
        help="share of the training word clips spoken by festival's voices (default 0: festival "
        "stays an unseen engine for make_conditions.py; the bundled model's data uses 0.15)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the audio and manifests already in --out"
    )
    args = parser.parse_args(argv)
    if args.clips_per_word < 1:
        parser.error("--clips-per-word must be >= 1")
    if args.eval_clips_per_word is None:
        args.eval_clips_per_word = max(1, round(0.2 * args.clips_per_word))
    if args.eval_clips_per_word < 1:
        parser.error("--eval-clips-per-word must be >= 1")
    if args.max_voices is not None and args.max_voices < 1:
        parser.error("--max-voices must be >= 1")
    if args.jobs < 1:
        parser.error("--jobs must be >= 1")
    if not 0.0 <= args.festival_share < 1.0 - FLITE_SHARE:
        parser.error(f"--festival-share must be in [0, {1.0 - FLITE_SHARE})")
    return args


def class_labels(include_unknown: bool) -> list[str]:
    """Class names in a fixed order: the 20 command words, ``_silence_``, then ``_unknown_``."""
    labels = [*COMMAND_WORDS, SILENCE_LABEL]
    return [*labels, UNKNOWN_LABEL] if include_unknown else labels


def split_speakers(
    splits: dict[str, VoiceInventory], max_voices: int | None, rng, festival: bool = False
) -> dict[str, dict[str, list[Speaker]]]:
    """Speakers of each split by engine: every accent x every variant of that split, flite, and
    (``festival``: training split only) festival's voices."""
    speakers: dict[str, dict[str, list[Speaker]]] = {}
    for split, inventory in splits.items():
        espeak = [
            Speaker("espeak", accent, variant)
            for accent in inventory.espeak_accents
            for variant in inventory.espeak_variants
        ]
        flite = [Speaker("flite", base, voice) for base, voice in inventory.flite_voices]
        if max_voices is not None:
            espeak = [espeak[i] for i in sorted(rng.permutation(len(espeak))[:max_voices])]
            flite = flite[:max_voices]
        speakers[split] = {"espeak": espeak, "flite": flite, "festival": []}
    if festival:
        voices = festival_voices()
        if not voices:
            raise SystemExit(
                "error: --festival-share needs festival and its voices (apt-get install festival "
                "festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts)"
            )
        speakers["train"]["festival"] = [Speaker("festival", v, v) for v in voices]
    return speakers


def _uniform(rng, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(*bounds))


def _draw_noise(
    rng, weights: dict[str, float], noise_files: list[str], babble_files: list[str]
) -> tuple[str, str]:
    """A noise kind (and recording for "real", ``|``-joined pool for "babble") from ``weights``."""
    if not noise_files:
        weights = {kind: w for kind, w in weights.items() if kind != "real"}
    if not babble_files:
        weights = {kind: w for kind, w in weights.items() if kind != "babble"}
    kinds = list(weights)
    probabilities = np.array([weights[k] for k in kinds])
    kind = kinds[int(rng.choice(len(kinds), p=probabilities / probabilities.sum()))]
    path = noise_files[int(rng.integers(len(noise_files)))] if kind == "real" else ""
    if kind == "babble":
        path = "|".join(babble_files)
    return kind, path


def _draw_prosody(rng, speaker: Speaker) -> tuple[float, float, float]:
    """(speed, pitch, warp) of one take, in the engine's units (see ClipSpec)."""
    if speaker.engine in ESPEAK_ENGINES:
        return float(rng.integers(*ESPEAK_SPEED_WPM)), float(rng.integers(*ESPEAK_PITCH)), 1.0
    if speaker.engine in ("festival", "accent"):
        return _uniform(rng, FESTIVAL_STRETCH), 1.0, _uniform(rng, FESTIVAL_WARP)
    if speaker.engine == "piper":
        speed, pitch = _uniform(rng, PIPER_LENGTH_SCALE), _uniform(rng, PIPER_NOISE_SCALE)
        return speed, pitch, _uniform(rng, PIPER_WARP)
    if speaker.engine == "hibari":  # length scale as piper's; one voice, so piper's wide warp
        return _uniform(rng, PIPER_LENGTH_SCALE), 1.0, _uniform(rng, PIPER_WARP)
    speed, pitch = _uniform(rng, FLITE_STRETCH), _uniform(rng, FLITE_F0_SCALE)
    return speed, pitch, _uniform(rng, FLITE_WARP)


def plan_word_clip(
    rng,
    speaker: Speaker,
    text: str,
    label: str,
    split: str,
    index: int,
    noise_files: list[str],
    babble_files: list[str] = (),
) -> ClipSpec:
    """Draw prosody, level, placement and noise for one spoken clip."""
    speed, pitch, warp = _draw_prosody(rng, speaker)
    level_db = _uniform(rng, SPEECH_LEVEL_DB)
    offset_fraction = float(rng.random())
    noise, noise_file, snr_db = "none", "", None
    if rng.random() < NOISY_SHARE:
        noise, noise_file = _draw_noise(rng, SPEECH_NOISE_WEIGHTS, noise_files, list(babble_files))
        snr_db = _uniform(rng, SNR_DB)
    return ClipSpec(
        path=f"audio/{split}/{label}/{speaker.slug}_{text.replace(' ', '-')}_{index:05d}.wav",
        label=label,
        split=split,
        text=text,
        speaker=speaker,
        speed=speed,
        pitch=pitch,
        warp=warp,
        level_db=level_db,
        offset_fraction=offset_fraction,
        noise=noise,
        noise_file=noise_file,
        snr_db=snr_db,
        seed=int(rng.integers(2**62)),
    )


def plan_training_words(
    rng,
    pools: list[list[Speaker]],
    clips_per_word: int,
    unknown_texts: list[str],
    first_index: int,
    noise_files: list[str],
    babble_files: list[str],
    transform=None,
) -> list[ClipSpec]:
    """Training clips of every command (``clips_per_word`` each) and UNKNOWN_FACTOR times as
    many of ``unknown_texts``: the pools take turns, a random speaker of the pool speaks;
    ``transform(spec)``, when given, is applied to each clip as it is planned."""
    specs = []
    for label in (*COMMAND_WORDS, UNKNOWN_LABEL):
        count = clips_per_word
        if label == UNKNOWN_LABEL:
            count = round(count * UNKNOWN_FACTOR)
        texts = [unknown_texts[i] for i in rng.permutation(len(unknown_texts))]
        for take in range(count):
            pool = pools[take % len(pools)]
            speaker = pool[int(rng.integers(len(pool)))]
            text = label if label != UNKNOWN_LABEL else texts[take % len(texts)]
            spec = plan_word_clip(rng, speaker, text, label, "train", first_index + take,
                                  noise_files, babble_files)  # fmt: skip
            specs.append(transform(spec) if transform else spec)
    return specs


def plan_silence_clip(
    rng, split: str, index: int, noise_files: list[str], babble_files: list[str] = ()
) -> ClipSpec:
    """Draw the noise kind and level of one ``_silence_`` clip (babble alone is silence too)."""
    noise, noise_file = _draw_noise(rng, SILENCE_NOISE_WEIGHTS, noise_files, list(babble_files))
    level_db = _uniform(rng, DITHER_LEVEL_DB if noise == "dither" else SILENCE_LEVEL_DB)
    return ClipSpec(
        path=f"audio/{split}/{SILENCE_LABEL}/noise-{noise}_{index:05d}.wav",
        label=SILENCE_LABEL,
        split=split,
        text="",
        speaker=None,
        level_db=level_db,
        noise=noise,
        noise_file=noise_file,
        seed=int(rng.integers(2**62)),
    )


def plan_dataset(
    splits: dict[str, VoiceInventory],
    speakers: dict[str, dict[str, list[Speaker]]],
    labels: list[str],
    clips_per_split: dict[str, int],
    rng,
    unknown_texts: dict[str, list[str]],
    babble_files: dict[str, list[str]],
    festival_share: float = 0.0,
) -> list[ClipSpec]:
    """Every clip to render, in manifest order (split, class, index). Deterministic given rng
    (``festival_share`` 0 draws exactly what the recipe drew before festival could train)."""
    specs: list[ClipSpec] = []
    for split in SPLITS:
        noise_files = splits[split].noise_files
        babble = babble_files.get(split, [])
        for label in labels:
            count = clips_per_split[split]
            if label == SILENCE_LABEL:
                specs += [
                    plan_silence_clip(rng, split, i, noise_files, babble) for i in range(count)
                ]
                continue
            if label == UNKNOWN_LABEL:
                count = round(count * UNKNOWN_FACTOR)
            # Round-robin over a per-class shuffle so every speaker says every word about as often.
            queues = {
                engine: [pool[i] for i in rng.permutation(len(pool))]
                for engine, pool in speakers[split].items()
            }
            used: Counter[str] = Counter()
            vocabulary = unknown_texts[split]
            unknown_order = [vocabulary[i] for i in rng.permutation(len(vocabulary))]
            for index in range(count):
                draw = rng.random()  # [0, festival) festival, then [.., + FLITE_SHARE) flite
                flite_from = festival_share if queues["festival"] else 0.0
                if draw < flite_from:
                    engine = "festival"
                elif queues["flite"] and draw < flite_from + FLITE_SHARE:
                    engine = "flite"
                else:
                    engine = "espeak"
                if not queues[engine]:
                    engine = "flite"
                speaker = queues[engine][used[engine] % len(queues[engine])]
                used[engine] += 1
                text = label if label != UNKNOWN_LABEL else unknown_order[index % len(vocabulary)]
                specs.append(
                    plan_word_clip(rng, speaker, text, label, split, index, noise_files, babble)
                )
    return specs


def write_label_csv(path: Path, labels: list[str]) -> None:
    """An AST-style ``class_labels_indices.csv``; the mid of each class is its name."""
    write_csv(
        path,
        [{"index": i, "mid": label, "display_name": label} for i, label in enumerate(labels)],
        ["index", "mid", "display_name"],
    )


def plan_babble(
    speakers: dict[str, dict[str, list[Speaker]]], rng
) -> list[tuple[Speaker, str, float, float, float, str]]:
    """Background-talker sentences per split, spoken by that split's voices:
    (speaker, text, speed, pitch, warp, path) with paths ``babble/<split>/<n>.wav``."""
    tasks = []
    for split in SPLITS:
        pool = speakers[split]["espeak"] + speakers[split]["flite"]
        sentences = babble_sentences(split)
        for n in range(BABBLE_PER_SPLIT[split]):
            speaker = pool[int(rng.integers(len(pool)))]
            speed, pitch, warp = _draw_prosody(rng, speaker)
            text = sentences[int(rng.integers(len(sentences)))]
            tasks.append((speaker, text, speed, pitch, warp, f"babble/{split}/{n:04d}.wav"))
    return tasks


def _babble_worker(task: tuple) -> str | None:
    """Synthesise one babble sentence to 16 kHz PCM WAV at -20 dBFS RMS; its path or None."""
    speaker, text, speed, pitch, warp, path, out_dir = task
    try:
        raw, rate = synthesize(speaker, text, speed, pitch, amplitude=50)
    except SynthesisError:
        return None
    audio = trim_silence(soxr.resample(raw, rate, 16_000 / warp).astype(np.float64))
    if audio.size == 0 or rms(audio) == 0:
        return None
    audio = np.clip(audio * 0.1 / rms(audio), -0.89, 0.89)
    target = Path(out_dir) / path
    target.parent.mkdir(parents=True, exist_ok=True)
    import soundfile as sf

    sf.write(target, to_int16(audio), 16_000, subtype="PCM_16")
    return path


def _render_worker(task: tuple[ClipSpec, str]) -> dict | None:
    spec, out_dir = task
    return render_clip(spec, Path(out_dir))


def _disk_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def write_csv(path: Path, rows: list[dict], fieldnames: list[str]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def extend_manifest(data: Path, bases: list[str], name: str, rows: list[dict]) -> None:
    """Write ``DATA/name``: the rows of the manifests ``DATA/<bases>`` (each path once, first
    seen first) followed by ``rows`` (render_clip rows)."""
    kept: dict[str, dict] = {}
    for base in bases:
        with (data / base).open(newline="") as handle:
            for row in csv.DictReader(handle):
                kept.setdefault(row["path"], row)
    added = [{"path": r["path"], "labels": r["label"], "split": r["split"]} for r in rows]
    write_csv(data / name, [*kept.values(), *added], ["path", "labels", "split"])


def training_pools(data: Path) -> tuple[dict, list[str], list[str]]:
    """A dataset's training split: (speakers.json entry, noise recordings, babble sentences)."""
    info = json.loads((data / "speakers.json").read_text())["train"]
    babble = sorted(str(p) for p in (data / "babble" / "train").glob("*.wav"))
    return info, noise_recordings(info["noise_files"]), babble


def added_clips_parser(doc: str, clips_per_word: int, seed: int, epilog: slice = slice(1, 2)):
    """The arguments that the add_*.py scripts share: DATA, --clips-per-word, --base, --seed,
    --jobs; description and epilog from the script's docstring ``doc`` (its paragraphs)."""
    paragraphs = doc.split("\n\n")
    parser = argparse.ArgumentParser(
        description=paragraphs[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(paragraphs[epilog]),
    )  # fmt: skip
    parser.add_argument("data", type=Path, help="a make_dataset.py output folder")
    parser.add_argument("--clips-per-word", type=int, default=clips_per_word,
                        help=f"clips per word (default {clips_per_word})")  # fmt: skip
    parser.add_argument(
        "--base", nargs="+", default=["manifest.csv"],
        help="manifests in DATA to extend (several are merged, each clip once)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=seed)
    parser.add_argument("--jobs", type=int, default=2)
    return parser


def check_added_clips_args(parser, args, manifest: str | None, bases: list[str]) -> None:
    """Usage errors of an add_*.py command line: --clips-per-word under 1, a ``manifest`` to
    write that is one of its ``bases``, a missing base manifest."""
    if args.clips_per_word < 1:
        parser.error("--clips-per-word must be >= 1")
    if manifest in bases:
        parser.error("--manifest must differ from --base")
    for base in bases:
        if not (args.data / base).is_file():
            sys.exit(f"error: {args.data / base} is missing")


def add_training_clips(
    data: Path, specs: list[ClipSpec], bases: list[str], name: str, what: str, jobs: int
) -> None:
    """Render ``specs`` into DATA with a progress bar and write ``DATA/name``: the ``bases``
    manifests plus the clips made (a take whose synthesis fails is skipped)."""
    with multiprocessing.Pool(jobs) as pool:
        done = pool.imap(_render_worker, [(spec, str(data)) for spec in specs], chunksize=8)
        rows = [row for row in tqdm(done, total=len(specs), desc=what, unit="clip") if row]
    extend_manifest(data, bases, name, rows)
    print(f"wrote {len(rows)} {what} ({len(specs) - len(rows)} skipped) and {data / name}")


def prepare_out_dir(out: Path, overwrite: bool) -> None:
    stale = [out / "audio", out / "babble", out / "manifest.csv", out / "metadata.csv"]
    if any(p.exists() for p in stale):
        if not overwrite:
            sys.exit(f"error: {out} already holds a dataset; pass --overwrite to replace it")
        shutil.rmtree(out / "audio", ignore_errors=True)
        shutil.rmtree(out / "babble", ignore_errors=True)
        for path in out.glob("speakers_*.txt"):
            path.unlink()
    out.mkdir(parents=True, exist_ok=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    inventory = discover_voices()
    rng = np.random.default_rng(args.seed)
    splits = split_voices(inventory, rng)
    speakers = split_speakers(splits, args.max_voices, rng, festival=args.festival_share > 0)
    labels = class_labels(include_unknown=not args.no_unknown)
    clips_per_split = {
        "train": args.clips_per_word,
        "validation": args.eval_clips_per_word,
        "test": args.eval_clips_per_word,
    }
    unknown_texts = unknown_vocabulary(rng)
    babble_tasks = plan_babble(speakers, rng)
    prepare_out_dir(args.out, args.overwrite)
    start = time.perf_counter()
    print(f"babble pool: {len(babble_tasks)} sentences", flush=True)
    with multiprocessing.Pool(args.jobs) as pool:
        made = pool.map(_babble_worker, [(*t, str(args.out)) for t in babble_tasks], chunksize=4)
    babble_files = {
        split: [str(args.out / p) for p in made if p and p.startswith(f"babble/{split}/")]
        for split in SPLITS
    }
    specs = plan_dataset(
        splits, speakers, labels, clips_per_split, rng, unknown_texts, babble_files,
        festival_share=args.festival_share,
    )  # fmt: skip
    print(f"rendering {len(specs)} clips with {args.jobs} process(es) into {args.out}", flush=True)

    tasks = [(spec, str(args.out)) for spec in specs]
    rows: list[dict] = []
    skipped: list[str] = []
    with multiprocessing.Pool(args.jobs) as pool:
        results = pool.imap(_render_worker, tasks, chunksize=16)
        for done, (spec, row) in enumerate(zip(specs, results, strict=True), start=1):
            if row is None:
                skipped.append(spec.path)
            else:
                rows.append(row)
            if done % max(1, len(specs) // 10) == 0:
                elapsed = time.perf_counter() - start
                print(f"  {done}/{len(specs)} clips, {elapsed:.0f} s", flush=True)
    seconds = time.perf_counter() - start

    write_csv(
        args.out / "manifest.csv",
        [{"path": r["path"], "labels": r["label"], "split": r["split"]} for r in rows],
        ["path", "labels", "split"],
    )
    write_csv(args.out / "metadata.csv", rows, list(rows[0].keys()))
    write_label_csv(args.out / "class_labels_indices.csv", labels)
    speaker_info = {}
    for split in SPLITS:
        used = sorted({r["speaker"] for r in rows if r["split"] == split and r["speaker"]})
        (args.out / f"speakers_{split}.txt").write_text("".join(f"{s}\n" for s in used))
        speaker_info[split] = {**asdict(splits[split]), "speakers": used}
        speaker_info[split]["noise_files"] = [Path(p).name for p in splits[split].noise_files]
    (args.out / "speakers.json").write_text(json.dumps(speaker_info, indent=2) + "\n")
    (args.out / "unknown_words.json").write_text(json.dumps(unknown_texts, indent=2) + "\n")

    counts = Counter((r["split"], r["label"]) for r in rows)
    summary = {
        "seed": args.seed,
        "labels": labels,
        "clips": len(rows),
        "skipped": skipped,
        "clips_per_split": {s: sum(counts[(s, lab)] for lab in labels) for s in SPLITS},
        "clips_per_split_class": {s: {lab: counts[(s, lab)] for lab in labels} for s in SPLITS},
        "speakers_per_split": {s: len(speaker_info[s]["speakers"]) for s in SPLITS},
        "jobs": args.jobs,
        "wall_seconds": round(seconds, 1),
        "disk_bytes": _disk_bytes(args.out / "audio"),
    }
    (args.out / "generation.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"wrote {len(rows)} clips ({len(skipped)} skipped) in {seconds:.1f} s, "
        f"{summary['disk_bytes'] / 2**20:.1f} MiB; per split {summary['clips_per_split']}, "
        f"speakers per split {summary['speakers_per_split']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
