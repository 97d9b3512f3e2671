"""Test sets of real people's voices from Debian packages, scored like the condition sets.

python make_real_tests.py data/real                                   # build OUT/conditions.csv
python make_conditions.py data data/real --evaluate runs/stage-i/shipped keywords

No stage trains on any of these recordings; they are the only English speech of real people on
this project's machines besides klettres' letters (make_conditions.py) and ALSA's channel names.

- ``asterisk``: Debian ``asterisk-core-sounds-en-wav``, the US-English prompts of Asterisk, one
  professional speaker (Allison) recorded for telephones (8 kHz). The ten digits ``digits/0-9``
  are commands; numbers 10-90, ordinals, letters, the phonetic alphabet and the one-word prompts
  (hello, goodbye, sorry, transfer, ...) are non-commands.
- ``pocketsphinx``: Debian ``pocketsphinx-testdata``, utterances of four speakers with published
  transcripts (a TIDIGITS talker reading "two nine three four zero", playing cards such as "eight
  of spades four of clubs seven of hearts", "go forward ten meters", five LibriVox sentences).
  Words are cut where pocketsphinx (PyPI ``pocketsphinx``, its US-English acoustic model) aligns
  the transcript, with 50 ms kept on both sides: words from running speech, shorter and more
  coarticulated than words said alone.
- ``ktuberling``: Debian ``ktuberling-data``, the English names of KTuberling's stamps ("ball",
  "moustache", "pineapple", ...), all non-commands.
- ``hedgewars``: Debian ``hedgewars-data``, the game's English voice packs (British, Classic,
  Default, HillBilly, Mobster, Pirate, Russian, Singer, Surfer; Robot's voice is processed and
  left out), actors' short exclamations and phrases ("amazing", "fire", "hello", "take cover",
  "oh dear", ...), all non-commands; the phrases that hold a command word ("yes sir", "come on
  then", "enemy down", "this one is mine", "nooo") and the grunts are left out.

Each clip comes in two conditions: as recorded (16 kHz, mono; clips longer than 1 s are trimmed
to the word first) and ``trimmed-8k`` (through 8 kHz and cut to the word), the layout of the
issue's hidden set of real people's digits. Exact homophones of a command (to, too, for, ...)
are left out. A source whose package is missing is skipped with a note.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf
from kws_audio import COMMAND_WORDS, UNKNOWN_LABEL
from kws_signal import SAMPLE_RATE, load_recording, to_int16, trim_silence
from make_conditions import DIGITS, apply_condition
from words import FORBIDDEN

ASTERISK = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
POCKETSPHINX = Path("/usr/share/pocketsphinx/test/data")
KTUBERLING = Path("/usr/share/ktuberling/sounds/en")
HEDGEWARS = Path("/usr/share/games/hedgewars/Data/Sounds/voices")
HEDGEWARS_PACKS = "British Classic Default HillBilly Mobster Pirate Russian Singer Surfer".split()
HEDGEWARS_PHRASES = (  # file stem -> what is said; none holds a command word
    "Amazing Boring Brilliant Bugger Byebye:bye-bye Coward Cutitout:cut-it-out Drat Excellent "
    "Fire Firstblood:first-blood Flawless Flyaway:fly-away Gonnagetyou:gonna-get-you Grenade "
    "Hello Hurry Illgetyou:ill-get-you Incoming Justyouwait:just-you-wait Kamikaze "
    "Leavemealone:leave-me-alone Melon Missed Nutter Ohdear:oh-dear Oops Reinforcements Revenge "
    "Runaway:run-away Sameteam:same-team Solong:so-long Stupid Takecover:take-cover Traitor "
    "Victory Watchit:watch-it Watchthis:watch-this Whatthe:what-the "
    "Youllregretthat:youll-regret-that"
).split()
DIGIT_NAMES = dict(enumerate(DIGITS))
ASTERISK_WORDS = (  # one-word prompts besides the digits, letters and phonetic alphabet
    "activated added calling cancelled disabled enabled extension goodbye hello hours invalid "
    "location minute number removed second sorry time transfer with your"
).split()
# utterance -> transcript (pocketsphinx-testdata's own .transcription / .lsn files)
POCKETSPHINX_UTTERANCES = {
    "tidigits/dhd.2934z.raw": "two nine three four zero",
    "goforward.raw": "go forward ten meters",
    "cards/001.wav": "ten of clubs",
    "cards/002.wav": "four queen of clubs",
    "cards/003.wav": "seven of clubs",
    "cards/004.wav": "five five",
    "cards/005.wav": "eight of spades four of clubs seven of hearts",
}
LIBRIVOX = "librivox/transcription"
MARGIN = 800  # samples (50 ms) kept around an aligned word
MAX_SAMPLES = SAMPLE_RATE  # the bundled model's window


def label_of(word: str) -> str | None:
    """The class a spoken word belongs to; None for an exact homophone of a command."""
    if word in COMMAND_WORDS:
        return word
    return None if word in FORBIDDEN else UNKNOWN_LABEL


def read_audio(path: Path) -> np.ndarray:
    """A recording as float64 mono at 16 kHz; ``.raw`` files are 16-kHz 16-bit PCM."""
    if path.suffix == ".raw":
        return np.fromfile(path, dtype="<i2").astype(np.float64) / 32768
    return load_recording(str(path)).copy()


def asterisk_clips() -> list[tuple[str, str, np.ndarray]]:
    """(speaker, word, audio) for Allison's digits and other words."""
    if not ASTERISK.is_dir():
        return []
    paths = [(ASTERISK / "digits" / f"{i}.wav", DIGIT_NAMES[i]) for i in range(10)]
    others = [*sorted((ASTERISK / "digits").glob("[1-9]0.wav")),
              *sorted((ASTERISK / "digits").glob("1[1-9].wav")),
              *sorted((ASTERISK / "digits").glob("h-*.wav")),
              *sorted((ASTERISK / "letters").glob("?.wav")),
              *sorted((ASTERISK / "phonetic").glob("[a-z]_p.wav")),
              *(ASTERISK / f"{w}.wav" for w in ASTERISK_WORDS)]  # fmt: skip
    paths += [(p, f"{p.parent.name}/{p.stem}") for p in others if p.is_file()]
    return [("allison", word, read_audio(path)) for path, word in paths]


def _aligned_words(audio: np.ndarray, transcript: str, decoder) -> list[tuple[str, int, int]]:
    """(word, first sample, end sample) of each transcript word, by forced alignment."""
    decoder.set_align_text(transcript)
    decoder.start_utt()
    decoder.process_raw(to_int16(audio).tobytes(), full_utt=True)
    decoder.end_utt()
    frame = SAMPLE_RATE // 100  # pocketsphinx segments count 10-ms frames
    return [(s.word.split("(")[0], s.start_frame * frame, (s.end_frame + 1) * frame)
            for s in decoder.seg() if not s.word.startswith(("<", "["))]  # fmt: skip


def pocketsphinx_clips() -> list[tuple[str, str, np.ndarray]]:
    """(speaker, word, audio) for every transcript word of pocketsphinx-testdata."""
    if not POCKETSPHINX.is_dir():
        return []
    try:
        from pocketsphinx import Decoder
    except ImportError:
        print("note: pocketsphinx (PyPI) is not installed: pocketsphinx-testdata skipped",
              file=sys.stderr)  # fmt: skip
        return []
    utterances = {POCKETSPHINX / k: v for k, v in POCKETSPHINX_UTTERANCES.items()}
    for line in (POCKETSPHINX / LIBRIVOX).read_text().splitlines():  # "<s> text </s> (id)"
        text, _, name = line.rpartition("(")
        words = text.replace("<s>", "").replace("</s>", "").split()
        utterances[POCKETSPHINX / "librivox" / f"{name.strip(' )')}.wav"] = " ".join(words)
    decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")
    clips = []
    for path, transcript in utterances.items():
        audio = read_audio(path)
        speaker = path.parent.name if path.parent != POCKETSPHINX else path.stem
        for word, start, end in _aligned_words(audio, transcript, decoder):
            clips.append((speaker, word, audio[max(0, start - MARGIN) : end + MARGIN]))
    return clips


def ktuberling_clips() -> list[tuple[str, str, np.ndarray]]:
    """(speaker, word, audio) for KTuberling's English stamp names."""
    paths = sorted(KTUBERLING.glob("*.ogg")) if KTUBERLING.is_dir() else []
    return [("ktuberling-en", p.stem.split("_")[-1], read_audio(p)) for p in paths]


def hedgewars_clips() -> list[tuple[str, str, np.ndarray]]:
    """(speaker, phrase, audio) for Hedgewars' English voice packs, one speaker a pack."""
    clips = []
    for pack in HEDGEWARS_PACKS:
        for entry in HEDGEWARS_PHRASES:
            stem, _, said = entry.partition(":")
            path = HEDGEWARS / pack / f"{stem}.ogg"
            if path.is_file():
                clips.append((f"hedgewars-{pack.lower()}", said or stem.lower(), read_audio(path)))
    return clips


def build(out: Path, seed: int) -> list[dict]:
    """Write every source's clips under ``out/audio/`` and return their conditions.csv rows."""
    rng = np.random.default_rng(seed)
    rows = []
    sources = {"asterisk": asterisk_clips, "pocketsphinx": pocketsphinx_clips,
               "ktuberling": ktuberling_clips, "hedgewars": hedgewars_clips}  # fmt: skip
    for source, clips_of in sources.items():
        clips = clips_of()
        if not clips:
            print(f"note: {source}: no recordings (package not installed): skipped",
                  file=sys.stderr)  # fmt: skip
        for index, (speaker, word, audio) in enumerate(clips):
            text = word.split("/")[-1]
            # asterisk's "folder/name" words (numbers, letters, ...) and hedgewars' "multi-word"
            # phrases are never a command
            label = UNKNOWN_LABEL if "/" in word or "-" in word else label_of(word)
            if label is None:
                continue
            if len(audio) > MAX_SAMPLES:
                audio = trim_silence(audio)
            if len(audio) > MAX_SAMPLES:
                continue  # a phrase-long prompt: not one word in the model's window
            if label == UNKNOWN_LABEL:
                kind = "non-command"
            else:
                kind = "digits" if label in DIGITS else "commands"
            narrow = apply_condition("trimmed-8k", audio, rng, [], [])
            for condition, clip in (("recorded", audio), ("trimmed-8k", narrow)):
                name = f"audio/{source}/{condition}/{index:04d}_{speaker}_{text}.wav"
                (out / name).parent.mkdir(parents=True, exist_ok=True)
                sf.write(out / name, to_int16(clip), SAMPLE_RATE, subtype="PCM_16")
                suffix = "" if condition == "recorded" else f" {condition}"
                rows.append({"path": name, "labels": label, "source": f"real {source}",
                             "condition": f"{kind}{suffix}", "speaker": speaker, "text": text})  # fmt: skip
    return rows


def main() -> int:
    paragraphs = __doc__.split("\n\n")
    parser = argparse.ArgumentParser(
        description=paragraphs[0], epilog="\n\n".join(paragraphs[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("out", type=Path, help="folder to write (audio/, conditions.csv)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = build(args.out, args.seed)
    if not rows:
        sys.exit("error: no recordings found: apt-get install asterisk-core-sounds-en-wav "
                 "pocketsphinx-testdata ktuberling-data hedgewars-data "
                 "(and pip install pocketsphinx)")  # fmt: skip
    with (args.out / "conditions.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    counts = Counter((row["source"], row["condition"]) for row in rows)
    for (source, condition), n in sorted(counts.items()):
        print(f"{source:20s} {condition:28s} {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
