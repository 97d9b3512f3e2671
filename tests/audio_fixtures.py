"""Real audio files for tests, built from Debian's sound files with sox, ffmpeg and espeak-ng.

Plain functions (no pytest fixtures) so any test module can wrap them; each writes into the
folder it is given and returns the paths it made. ``reference_decode`` decodes with sox or
ffmpeg, independently of astaudio, for parity checks.

Missing programs or sound files raise :class:`MissingAudioTools`, whose message names the
Debian packages to install; tests should turn it into a failure (``pytest.fail``), not a skip.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

ALSA_DIR = Path("/usr/share/sounds/alsa")  # alsa-utils: recorded speech, 48 kHz mono 16-bit
FREEDESKTOP_DIR = Path("/usr/share/sounds/freedesktop/stereo")  # 44.1 kHz stereo Vorbis
APT_PACKAGES = "alsa-utils sound-theme-freedesktop espeak-ng sox libsox-fmt-all ffmpeg"

SPEECH_SOURCE = ALSA_DIR / "Front_Center.wav"  # "front center", 1.43 s
LEFT_SOURCE = ALSA_DIR / "Front_Left.wav"
RIGHT_SOURCE = ALSA_DIR / "Rear_Right.wav"
BELL_SOURCE = FREEDESKTOP_DIR / "phone-incoming-call.oga"  # stereo, 1.46 s
_PROGRAMS = ("sox", "soxi", "ffmpeg", "ffprobe", "espeak-ng")
RESAMPLED_RATES = (8000, 22050, 44100, 96000)  # Hz; the speech source itself is 48 kHz


class MissingAudioTools(RuntimeError):
    """A program or sound file the audio tests build their files from is not installed."""


def check_audio_tools() -> None:
    """Raise MissingAudioTools naming what is missing and the packages that provide it."""
    missing = [program for program in _PROGRAMS if shutil.which(program) is None]
    missing += [
        str(path)
        for path in (SPEECH_SOURCE, LEFT_SOURCE, RIGHT_SOURCE, BELL_SOURCE)
        if not path.is_file()
    ]
    if missing:
        raise MissingAudioTools(
            f"audio tests need {', '.join(missing)}: run 'apt-get install {APT_PACKAGES}'"
        )
    formats = run(["sox", "-h"]).stdout.decode()
    if " mp3 " not in formats:
        raise MissingAudioTools(
            f"sox cannot write mp3: run 'apt-get install {APT_PACKAGES}' (libsox-fmt-all)"
        )


def run(command: list[str]) -> subprocess.CompletedProcess:
    """Run a program, raising with its error output when it fails."""
    result = subprocess.run(command, capture_output=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.decode(errors='replace')}")
    return result


def sox(*args: str | Path) -> None:
    run(["sox", *map(str, args)])


def ffmpeg(*args: str | Path) -> None:
    run(["ffmpeg", "-nostdin", "-y", "-hide_banner", "-loglevel", "error", *map(str, args)])


def espeak(path: Path, text: str) -> Path:
    """espeak-ng speech: mono 16-bit WAV at 22.05 kHz."""
    run(["espeak-ng", "-w", str(path), text])
    return path


def soxi_frames(path: Path) -> int:
    """Samples per channel, as sox reads the header."""
    return int(run(["soxi", "-s", str(path)]).stdout)


def soxi_rate(path: Path) -> int:
    return int(float(run(["soxi", "-r", str(path)]).stdout))


def reference_decode(path: Path, sampling_rate: int | None = None, tool: str = "sox") -> np.ndarray:
    """Decode to mono float32 with sox or ffmpeg (channels averaged), optionally resampled.

    Returns shape (num_samples,). sox reads WAV/FLAC/MP3/Vorbis; ffmpeg reads everything.
    """
    if tool == "sox":
        rate = [] if sampling_rate is None else ["-r", str(sampling_rate)]
        command = ["sox", str(path), "-t", "f32", "-c", "1", *rate, "-"]
    elif tool == "ffmpeg":
        rate = [] if sampling_rate is None else ["-ar", str(sampling_rate)]
        command = [
            "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(path),
            "-map", "0:a:0", "-ac", "1", *rate, "-f", "f32le", "-",
        ]  # fmt: skip
    else:
        raise ValueError(f"tool must be 'sox' or 'ffmpeg', got {tool!r}")
    return np.frombuffer(run(command).stdout, dtype="<f4").astype(np.float32)


def make_converted_files(tmp_dir: Path) -> dict[str, Path]:
    """One speech recording in many encodings, rates and channel layouts.

    Keys: "speech" (the 48 kHz 16-bit mono original), "wav_u8", "wav_s24", "wav_s32",
    "wav_f32", "flac", "flac_s24", "mp3", "vorbis", "opus", "m4a", "webm", "mp4_video",
    "mkv_video", "rate_<hz>" for RESAMPLED_RATES (16-bit WAV), "stereo" (44.1 kHz, left and right
    different recordings), "stereo_flac", "bell_oga" (freedesktop stereo Vorbis),
    "espeak" (22.05 kHz synthetic speech).
    """
    tmp_dir = Path(tmp_dir)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}

    def out(key: str, name: str) -> Path:
        files[key] = tmp_dir / name
        return files[key]

    speech = out("speech", "speech.wav")
    shutil.copyfile(SPEECH_SOURCE, speech)
    sox(speech, "-e", "unsigned-integer", "-b", "8", out("wav_u8", "speech_u8.wav"))
    sox(speech, "-b", "24", out("wav_s24", "speech_s24.wav"))
    sox(speech, "-e", "signed-integer", "-b", "32", out("wav_s32", "speech_s32.wav"))
    sox(speech, "-e", "floating-point", "-b", "32", out("wav_f32", "speech_f32.wav"))
    sox(speech, out("flac", "speech.flac"))
    sox(speech, "-b", "24", out("flac_s24", "speech_s24.flac"))
    sox(speech, out("mp3", "speech.mp3"))
    sox(speech, out("vorbis", "speech.ogg"))
    ffmpeg("-i", speech, "-c:a", "libopus", out("opus", "speech.opus"))
    ffmpeg("-i", speech, "-c:a", "aac", out("m4a", "speech.m4a"))
    ffmpeg("-i", speech, "-vn", "-c:a", "libopus", out("webm", "speech.webm"))
    video = ["-f", "lavfi", "-i", "color=c=blue:size=32x32:rate=5", "-shortest", "-c:v", "mpeg4"]
    ffmpeg("-i", speech, *video, "-c:a", "aac", out("mp4_video", "speech_video.mp4"))
    ffmpeg("-i", speech, *video, "-c:a", "libvorbis", out("mkv_video", "speech_video.mkv"))
    for rate in RESAMPLED_RATES:
        sox(speech, "-r", str(rate), out(f"rate_{rate}", f"speech_{rate}.wav"))
    sox("-M", LEFT_SOURCE, RIGHT_SOURCE, "-r", "44100", out("stereo", "stereo.wav"))
    sox(files["stereo"], out("stereo_flac", "stereo.flac"))
    shutil.copyfile(BELL_SOURCE, out("bell_oga", "bell.oga"))
    espeak(out("espeak", "espeak.wav"), "Audio spectrogram transformer, tagging sounds.")
    return files


def make_long_file(tmp_dir: Path, minutes: float = 3.0) -> Path:
    """A stereo 48 kHz FLAC of at least ``minutes``, the ALSA speech clips concatenated."""
    clips = sorted(ALSA_DIR.glob("*.wav"))
    round_seconds = sum(soxi_frames(clip) for clip in clips) / 48000
    repeats = int(np.ceil(minutes * 60 / round_seconds)) - 1
    path = Path(tmp_dir) / "long_speech.flac"
    sox(*clips, "-c", "2", path, "repeat", str(repeats))
    return path


def make_exact_length_wav(tmp_dir: Path, frames: int, rate: int = 16000) -> Path:
    """A 16-bit mono tone of exactly ``frames`` samples at ``rate`` Hz."""
    path = Path(tmp_dir) / f"tone_{frames}.wav"
    sox("-r", str(rate), "-n", "-b", "16", "-c", "1", path, "synth", f"{frames}s", "sine", "440")
    return path


def make_bad_files(tmp_dir: Path) -> dict[str, Path]:
    """Things that are not (whole) audio. Keys: "missing" (never created), "directory",
    "directory_wav" (a folder named like a WAV), "empty" (0 bytes), "zero_length" (a valid WAV
    with no samples), "truncated_wav" (cut mid-data), "header_only_wav" (cut inside the header),
    "truncated_flac", "text_wav" (text renamed .wav), "random_wav" (random bytes),
    "random_bin", "video_only" (an mp4 with no audio stream)."""
    tmp_dir = Path(tmp_dir)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    files = {key: tmp_dir / name for key, name in {
        "missing": "missing.wav", "directory": "a_folder", "directory_wav": "folder.wav",
        "empty": "empty.wav", "zero_length": "zero_length.wav", "truncated_wav": "truncated.wav",
        "header_only_wav": "header_only.wav", "truncated_flac": "truncated.flac",
        "text_wav": "text.wav", "random_wav": "random.wav", "random_bin": "random.bin",
        "video_only": "video_only.mp4",
    }.items()}  # fmt: skip
    files["directory"].mkdir(exist_ok=True)
    files["directory_wav"].mkdir(exist_ok=True)
    files["empty"].write_bytes(b"")
    sox("-n", "-r", "16000", "-c", "1", files["zero_length"], "trim", "0", "0")
    speech = SPEECH_SOURCE.read_bytes()
    files["truncated_wav"].write_bytes(speech[: len(speech) // 3])
    files["header_only_wav"].write_bytes(speech[:20])
    flac = tmp_dir / "whole.flac"
    sox(SPEECH_SOURCE, flac)
    files["truncated_flac"].write_bytes(flac.read_bytes()[: flac.stat().st_size // 2])
    files["text_wav"].write_text("This is a text file, not audio.\n" * 20)
    random = np.random.default_rng(0).integers(0, 256, 8000, dtype=np.uint8).tobytes()
    files["random_wav"].write_bytes(random)
    files["random_bin"].write_bytes(random)
    ffmpeg(
        "-f", "lavfi", "-i", "color=c=red:size=32x32:rate=5:duration=1", "-c:v", "mpeg4",
        files["video_only"],
    )  # fmt: skip
    return files
