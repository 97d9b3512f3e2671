"""Decoding back ends: each yields mono float32 blocks at the source's own rate.

WAV, FLAC, OGG (Vorbis, Opus), MP3, AIFF, AU, CAF ... decode through soundfile (libsndfile);
anything libsndfile does not recognise (m4a/AAC, mp4, mkv, webm, ...) through the ``ffmpeg``
program (headers through ``ffprobe``) when it is on PATH. :func:`_open_decoder` picks the back
end; :func:`native_stderr_silenced` keeps libmpg123's notes off the terminal. The public
functions built on these are in :mod:`astaudio.audio`, which re-exports this module's public
names.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import weakref
from collections.abc import Iterator
from typing import BinaryIO, NoReturn

import numpy as np
import soundfile

from .sources import AudioSource, _mp3_declared_frames, _ogg_unfinished, _Source

MIN_SOURCE_RATE = 1000  # Hz; a header declaring less is corrupt (1 Hz: 70 KB would be 19 hours)
_SHORTFALL = 0.9  # an MP3 decoding to less than this share of its estimated length is noted

SOUNDFILE_EXTENSIONS = frozenset(
    {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".aifc",
     ".au", ".snd", ".caf", ".w64", ".rf64", ".voc", ".sd2", ".sf", ".ircam"}
)  # fmt: skip
FFMPEG_EXTENSIONS = frozenset(
    {".m4a", ".m4b", ".aac", ".mp4", ".m4v", ".mov", ".mkv", ".mka", ".webm", ".avi", ".wmv",
     ".wma", ".flv", ".3gp", ".amr", ".ac3", ".eac3", ".mp2", ".ape", ".wv", ".spx", ".ts",
     ".mpg", ".mpeg", ".dts", ".alac", ".aiffc", ".tta"}
)  # fmt: skip
AUDIO_EXTENSIONS = SOUNDFILE_EXTENSIONS | FFMPEG_EXTENSIONS


class _SoundfileDecoder:
    def __init__(self, file: soundfile.SoundFile, source: _Source, notes: list[str] | None = None):
        self._file = file
        self._source = source
        self._notes = notes
        self.sampling_rate = file.samplerate
        self.channels = file.channels
        self.frames: int | None = file.frames
        self._exact_frames = file.format != "MP3"  # libsndfile estimates MP3 lengths
        self.declared = file.frames  # for MP3, the encoder's frame count when it wrote one

    def blocks(self, block_frames: int) -> Iterator[np.ndarray]:
        buffer = np.empty((block_frames, self.channels), dtype=np.float32)
        decoded = 0
        while True:
            try:
                block = self._file.read(dtype="float32", always_2d=True, out=buffer)
            except soundfile.LibsndfileError as err:
                self._source.fail(f"corrupt or truncated audio data ({_reason(err)})")
            if len(block) == 0:
                break
            decoded += len(block)
            # (frames, channels) -> (frames,)
            yield block[:, 0].copy() if self.channels == 1 else block.mean(axis=1, dtype=np.float32)
        if decoded == 0:
            self._source.fail("contains no audio samples")
        if self._exact_frames and decoded < self.frames:
            self._source.fail(
                f"truncated or corrupt audio data (header declares {self.frames} frames, "
                f"only {decoded} could be decoded)"
            )
        if self._notes is not None and decoded < _SHORTFALL * self.declared:  # MP3
            rate = self.sampling_rate
            self._notes.append(
                f"decoding stopped at {decoded / rate:.2f} s of the {self.declared / rate:.2f} s "
                "the file declares: truncated or corrupt, classified as the shorter clip"
            )

    def close(self) -> None:
        self._file.close()


def _reason(err: soundfile.LibsndfileError) -> str:
    text = (getattr(err, "error_string", "") or str(err)).strip().rstrip(".")
    if "possibly a pipe" in text:  # libsndfile's catch-all for data its MP3 reader rejects
        return "format not recognised"
    return text or f"libsndfile error {getattr(err, 'code', '?')}"


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Discard what C libraries print on the process's standard error (libmpg123's "Note:
    Illegal Audio-MPEG-Header" lines for a corrupt MP3), keeping Python's ``sys.stderr``:
    it is pointed at a copy of the original descriptor for the duration. Every failure a
    decoder meets is still reported, once, through the exceptions of this module."""
    try:
        sys.stderr.flush()
        real = sys.stderr.fileno() == 2
    except (OSError, ValueError, AttributeError):  # sys.stderr is not a file (pytest, IDEs)
        real = False
    if not real:
        yield
        return
    saved = os.dup(2)
    previous = sys.stderr
    try:
        sys.stderr = open(  # noqa: SIM115
            saved,
            "w",
            encoding=getattr(previous, "encoding", None) or "utf-8",
            errors="backslashreplace",
            closefd=False,
            buffering=1,
        )
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        yield
    finally:
        sys.stderr.flush()
        if sys.stderr is not previous:
            sys.stderr.close()
        sys.stderr = previous
        os.dup2(saved, 2)
        os.close(saved)


def _ffmpeg_input(source: _Source) -> tuple[str, str | None]:
    """(path for ffmpeg, temporary file to delete afterwards). Bytes and file objects go
    through a temporary file, not stdin: mp4/m4a keep their index at the end, so ffmpeg seeks."""
    if source.path is not None:
        return source.path, None
    handle, temp_path = tempfile.mkstemp(prefix="astaudio-", suffix=source.suffix)
    with os.fdopen(handle, "wb") as temp:
        if source.data is not None:
            temp.write(source.data)
        else:
            source.file.seek(0)
            shutil.copyfileobj(source.file, temp)
    return temp_path, temp_path


def _program_reason(stderr_text: str, url: str) -> str:
    """The line of an ffmpeg/ffprobe error log that says what went wrong, without prefixes."""
    lines = [line.strip() for line in stderr_text.splitlines() if line.strip()]
    if not lines:
        return "unknown error"
    line = next((line for line in lines if line.startswith(url)), lines[-1])
    line = line.removeprefix(url + ": ")
    if line.startswith("[") and "] " in line:  # "[mp3 @ 0x55d...] Header missing"
        line = line.split("] ", 1)[1]
    return line[:200]


def _end_process(process: subprocess.Popen, stderr_file: BinaryIO, temp_path: str | None) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()
    if process.stdout is not None:
        process.stdout.close()
    stderr_file.close()
    if temp_path is not None:
        try:
            os.unlink(temp_path)
        except OSError:
            pass


class _FfmpegDecoder:
    """Runs ffmpeg to decode the first audio stream to float32 WAV on a pipe, read block by
    block; the WAV header says the decoded rate and channel count."""

    def __init__(self, source: _Source, ffmpeg: str, libsndfile_reason: str):
        self._source = source
        self._libsndfile_reason = libsndfile_reason
        path, temp_path = _ffmpeg_input(source)
        self._url = "file:" + path  # "file:" stops ffmpeg reading "a:b.m4a" as a protocol
        self._stderr = tempfile.TemporaryFile()  # a file, so a chatty ffmpeg never blocks
        command = [
            ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-i", self._url,
            "-map", "0:a:0", "-vn", "-sn", "-dn", "-map_metadata", "-1",
            "-c:a", "pcm_f32le", "-f", "wav", "-fflags", "+bitexact", "pipe:1",
        ]  # fmt: skip
        self._process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr
        )
        self._finalizer = weakref.finalize(
            self, _end_process, self._process, self._stderr, temp_path
        )
        self.frames: int | None = None
        try:
            self.channels, self.sampling_rate = self._read_wav_header()
        except BaseException:
            self.close()
            raise

    def _read_wav_header(self) -> tuple[int, int]:
        stdout = self._process.stdout
        riff = stdout.read(12)
        if len(riff) < 12 or riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
            self._fail_from_log()
        channels = rate = None
        while True:
            chunk_head = stdout.read(8)
            if len(chunk_head) < 8:
                self._fail_from_log()
            chunk_id, size = chunk_head[:4], int.from_bytes(chunk_head[4:], "little")
            if chunk_id == b"data":
                break
            body = stdout.read(size + (size & 1))
            if chunk_id == b"fmt " and len(body) >= 16:
                _, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
                if bits != 32:
                    self._source.fail(f"ffmpeg produced {bits}-bit samples, expected 32-bit float")
        if not channels or not rate:
            self._fail_from_log()
        return channels, rate

    def _fail_from_log(self, decoding: bool = False) -> NoReturn:
        self._process.wait()
        self._stderr.seek(0)
        log = self._stderr.read().decode("utf-8", errors="replace")
        self.close()
        if "matches no streams" in log:
            self._source.fail("contains no audio stream")
        reason = _program_reason(log, self._url)
        if decoding:
            self._source.fail(f"corrupt or truncated audio data (ffmpeg: {reason})")
        self._source.fail(
            f"not audio, or its data is corrupt (libsndfile: {self._libsndfile_reason}; "
            f"ffmpeg: {reason})"
        )

    def blocks(self, block_frames: int) -> Iterator[np.ndarray]:
        frame_bytes = 4 * self.channels  # float32 samples, interleaved
        wanted = block_frames * frame_bytes
        decoded = 0
        while True:
            chunk = self._process.stdout.read(wanted)
            usable = len(chunk) - len(chunk) % frame_bytes
            if usable:
                # (frames, channels) -> (frames,)
                samples = np.frombuffer(chunk, dtype="<f4", count=usable // 4)
                samples = samples.reshape(-1, self.channels)
                decoded += len(samples)
                if self.channels == 1:
                    yield samples[:, 0].astype(np.float32)
                else:
                    yield samples.mean(axis=1, dtype=np.float32)
            if len(chunk) < wanted:
                break
        if self._process.wait() != 0:
            self._fail_from_log(decoding=True)
        if decoded == 0:
            self._source.fail("contains no audio samples")

    def close(self) -> None:
        self._finalizer()


def _ffprobe_info(source: _Source, ffprobe: str, libsndfile_reason: str) -> dict:
    path, temp_path = _ffmpeg_input(source)
    url = "file:" + path
    command = [
        ffprobe, "-v", "error", "-select_streams", "a:0", "-of", "json", "-show_entries",
        "stream=codec_name,sample_rate,channels,duration:format=format_name,duration", url,
    ]  # fmt: skip
    try:
        result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    finally:
        if temp_path is not None:
            os.unlink(temp_path)
    if result.returncode != 0:
        source.fail(
            f"not audio, or its data is corrupt (libsndfile: {libsndfile_reason}; "
            f"ffprobe: {_program_reason(result.stderr, url)})"
        )
    probed = json.loads(result.stdout or "{}")
    streams = probed.get("streams") or []
    if not streams:
        source.fail("contains no audio stream")
    stream, container = streams[0], probed.get("format", {})
    rate = int(stream["sample_rate"])
    duration = float(stream.get("duration") or container.get("duration") or 0.0)
    return {
        "sampling_rate": rate,
        "channels": int(stream["channels"]),
        "frames": round(duration * rate),
        "duration": duration,
        "format": container.get("format_name", "unknown"),
        "codec": stream.get("codec_name", "unknown"),
    }


def _try_soundfile(source: _Source) -> soundfile.SoundFile | str:
    """An open SoundFile, or libsndfile's reason for not opening it."""
    try:
        return soundfile.SoundFile(source.for_soundfile())
    except soundfile.LibsndfileError as err:
        return _reason(err)


def _require_program(source: _Source, program: str, libsndfile_reason: str) -> str:
    found = shutil.which(program)
    if found is not None:
        return found
    if source.suffix in FFMPEG_EXTENSIONS:
        source.fail(
            f"{source.suffix} files are decoded with {program}, which is not installed (not on "
            "PATH); install ffmpeg (e.g. 'apt-get install ffmpeg' or 'brew install ffmpeg')"
        )
    source.fail(
        f"not a format libsndfile can read ({libsndfile_reason}); if it is audio in another "
        "format, install ffmpeg to decode it"
    )


def _check_source_rate(source: _Source, rate: int) -> None:
    if rate < MIN_SOURCE_RATE:
        source.fail(
            f"header declares a sampling rate of {rate} Hz (below {MIN_SOURCE_RATE} Hz: "
            "corrupt or not a recording)"
        )


def _open_decoder(
    source: AudioSource, notes: list[str] | None = None
) -> _SoundfileDecoder | _FfmpegDecoder:
    checked = _Source(source)
    opened = _try_soundfile(checked)
    if isinstance(opened, soundfile.SoundFile):
        if opened.frames == 0:
            opened.close()
            checked.fail("contains no audio samples")
        if opened.samplerate < MIN_SOURCE_RATE:
            opened.close()
            _check_source_rate(checked, opened.samplerate)
        if notes is not None and opened.format == "OGG" and _ogg_unfinished(checked):
            notes.append(
                "the Ogg stream stops without its end marker: truncated, classified as the "
                "shorter clip"
            )
        decoder = _SoundfileDecoder(opened, checked, notes)
        if notes is not None and opened.format == "MP3":
            declared = _mp3_declared_frames(checked, opened.samplerate)
            decoder.declared = max(decoder.declared, declared or 0)
        return decoder
    ffmpeg = _require_program(checked, "ffmpeg", opened)
    decoder = _FfmpegDecoder(checked, ffmpeg, libsndfile_reason=opened)
    if decoder.sampling_rate < MIN_SOURCE_RATE:
        decoder.close()
        _check_source_rate(checked, decoder.sampling_rate)
    return decoder
