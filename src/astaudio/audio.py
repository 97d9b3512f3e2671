"""Audio in: files, bytes or file objects decoded to mono float32 at 16 kHz, in bounded memory.

WAV, FLAC, OGG (Vorbis, Opus), MP3, AIFF, AU, CAF ... decode through soundfile (libsndfile);
anything libsndfile does not recognise (m4a/AAC, mp4, mkv, webm, ...) through the ``ffmpeg``
program when it is on PATH. Channels are averaged to mono; resampling uses soxr ("HQ"), run as a
stream over blocks so that a long file never needs more memory than its output plus one block.

Every failure a user can cause (missing, empty, truncated, corrupt, not audio, needs ffmpeg)
raises :class:`~astaudio.errors.AudioLoadError` with a one-line message naming the file.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import io
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import BinaryIO, NoReturn, Union

import numpy as np
import soundfile
import soxr

from .constants import SAMPLE_RATE
from .errors import AudioLoadError

MIN_SOURCE_RATE = 1000  # Hz; a header declaring less is corrupt (1 Hz: 70 KB would be 19 hours)
RESAMPLE_QUALITY = "HQ"  # soxr quality preset
_BLOCK_FRAMES = 1 << 16  # input frames decoded per block in load_audio (~1.4 s at 48 kHz)
_HEAD_BYTES = 1 << 16  # bytes read from a file's start to check a WAV header
_GROWTH = 1.25  # capacity factor when the output length was not known in advance
_FIRST_CAPACITY = 600  # seconds allocated up front at most, whatever a header declares
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

AudioSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, BinaryIO]


@dataclass(frozen=True)
class AudioInfo:
    """What a source holds, read from its header (``frames`` is an estimate for MP3 and for
    formats probed with ffprobe)."""

    sampling_rate: int  # Hz
    channels: int
    frames: int  # samples per channel
    duration: float  # seconds
    format: str  # container, e.g. "WAV", "FLAC", "OGG", "MP3", "mov,mp4,m4a,3gp,3g2,mj2"
    codec: str  # e.g. "PCM_16", "VORBIS", "OPUS", "aac"


# --------------------------------------------------------------------------------------------
# Sources


class _Source:
    """A path, bytes or binary file object, checked for the mistakes that need no decoder."""

    def __init__(self, source: AudioSource):
        self.path: str | None = None
        self.data: bytes | None = None
        self.file: BinaryIO | None = None
        if isinstance(source, (str, os.PathLike)):
            self.path = os.fspath(source)
            self.label = f"'{self.path}'"
            self._check_path()
        elif isinstance(source, (bytes, bytearray, memoryview)):
            self.label = "(bytes input)"
            self.data = bytes(source)
        elif hasattr(source, "read"):
            name = getattr(source, "name", None)
            self.label = f"'{name}'" if isinstance(name, str) else "(file object)"
            if _seekable(source) and source.tell() == 0:
                self.file = source
            else:  # a pipe (or a file read part-way): decoders need the whole stream
                self.data = source.read()
        else:
            raise TypeError(
                f"audio source must be a path, bytes or a binary file object, not {type(source).__name__}"
            )
        self.suffix = Path(self.label.strip("'()")).suffix.lower()
        if self.size() == 0:
            self.fail("file is empty (0 bytes)")
        self._check_wav_header()

    def fail(self, reason: str) -> NoReturn:
        raise AudioLoadError(f"cannot read audio {self.label}: {reason}", reason) from None

    def _check_path(self) -> None:
        try:
            info = os.stat(self.path)
        except (FileNotFoundError, NotADirectoryError):
            self.fail("file not found")
        except PermissionError:
            self.fail("permission denied")
        except OSError as err:
            self.fail(err.strerror or str(err))
        if stat.S_ISDIR(info.st_mode):
            self.fail("is a directory, not an audio file")
        if not os.access(self.path, os.R_OK):
            self.fail("permission denied")
        if not stat.S_ISREG(info.st_mode):  # a pipe such as bash's <(...): it can't seek
            with open(self.path, "rb") as stream:
                self.data = stream.read()
            self.path = None

    def size(self) -> int:
        if self.path is not None:
            return os.stat(self.path).st_size
        if self.data is not None:
            return len(self.data)
        size = self.file.seek(0, io.SEEK_END)
        self.file.seek(0)
        return size

    def head(self, n: int) -> bytes:
        if self.path is not None:
            with open(self.path, "rb") as f:
                return f.read(n)
        if self.data is not None:
            return self.data[:n]
        head = self.file.read(n)
        self.file.seek(0)
        return head

    def for_soundfile(self) -> str | BinaryIO:
        if self.path is not None:
            # bytes: libsndfile gets the name the OS holds, undecodable bytes (caf\xe9) included
            return os.fsencode(self.path)
        if self.data is not None:
            return io.BytesIO(self.data)
        self.file.seek(0)
        return self.file

    def _check_wav_header(self) -> None:
        """libsndfile quietly shortens a WAV whose data chunk runs past the end of the file;
        a cut-off download or copy should be reported instead."""
        declared = _riff_data_size(self.head(_HEAD_BYTES))
        if declared is None:
            return
        size, offset = declared
        available = self.size() - offset
        if size > available:
            self.fail(
                f"truncated WAV file (header declares {size} bytes of audio data, "
                f"the file holds {available})"
            )


def _seekable(file: BinaryIO) -> bool:
    try:
        return bool(file.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _riff_data_size(head: bytes) -> tuple[int, int] | None:
    """(declared size, byte offset) of a RIFF/WAVE file's data chunk, if its header has one."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos = 12
    while pos + 8 <= len(head):
        chunk_id = head[pos : pos + 4]
        chunk_size = int.from_bytes(head[pos + 4 : pos + 8], "little")
        if chunk_id == b"data":
            # 0 and 0xFFFFFFFF are placeholders left by writers that stream to a pipe
            return None if chunk_size in (0, 0xFFFFFFFF) else (chunk_size, pos + 8)
        pos += 8 + chunk_size + (chunk_size & 1)  # chunks are padded to even sizes
    return None


# --------------------------------------------------------------------------------------------
# Decoders: each yields mono float32 blocks at the source's own rate


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


def _ogg_unfinished(source: _Source) -> bool:
    """Whether an Ogg stream's last page lacks the end-of-stream flag: the file was cut off.
    libsndfile then reports the length up to the last complete page, as if nothing was lost."""
    if source.path is not None:
        with open(source.path, "rb") as handle:
            handle.seek(max(0, source.size() - _HEAD_BYTES))
            tail = handle.read()
    elif source.data is not None:
        tail = source.data[-_HEAD_BYTES:]
    else:
        return False
    page = tail.rfind(b"OggS")
    return page >= 0 and len(tail) > page + 5 and not tail[page + 5] & 0x04


def _mp3_declared_frames(source: _Source, rate: int) -> int | None:
    """Samples per channel an MP3's Xing/Info header (written by LAME and most encoders)
    declares, or None. libsndfile estimates an MP3's length from its size, so a cut-off file
    looks complete to it; this count was written before the file was cut."""
    head = source.head(_HEAD_BYTES)
    start = (
        10 + int.from_bytes(bytes(b & 0x7F for b in head[6:10]), "big") if head[:3] == b"ID3" else 0
    )
    for tag in (b"Xing", b"Info"):
        at = head.find(tag, start, start + 200)
        if at >= 0 and len(head) >= at + 12 and head[at + 7] & 0x01:
            frames = int.from_bytes(head[at + 8 : at + 12], "big")
            return frames * (1152 if rate >= 32000 else 576)
    return None


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


# --------------------------------------------------------------------------------------------
# Public API


def _check_rate(sampling_rate: int | None, allow_none: bool) -> None:
    if sampling_rate is None and allow_none:
        return
    if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, (int, np.integer)):
        raise ValueError(f"sampling_rate must be a positive integer (Hz), got {sampling_rate!r}")
    if sampling_rate <= 0:
        raise ValueError(f"sampling_rate must be a positive integer (Hz), got {sampling_rate}")


def _resampled_blocks(
    decoder: _SoundfileDecoder | _FfmpegDecoder, sampling_rate: int | None, block_frames: int
) -> Iterator[np.ndarray]:
    """Mono float32 blocks at ``sampling_rate`` (None: the source's own); closes the decoder."""
    try:
        if sampling_rate is None or sampling_rate == decoder.sampling_rate:
            yield from decoder.blocks(block_frames)
            return
        stream = soxr.ResampleStream(
            decoder.sampling_rate, sampling_rate, 1, dtype="float32", quality=RESAMPLE_QUALITY
        )
        for block in decoder.blocks(block_frames):
            resampled = stream.resample_chunk(block)
            if resampled.size:
                yield resampled
        tail = stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        if tail.size:
            yield tail
    finally:
        decoder.close()


def load_audio_with_rate(
    source: AudioSource, sampling_rate: int | None = None, *, notes: list[str] | None = None
) -> tuple[np.ndarray, int]:
    """Decode a whole source to mono float32.

    Args:
        source: a path, bytes, or a binary file object.
        sampling_rate: output rate in Hz; None keeps the source's own rate.
        notes: a list that hears of problems decoding survived (a cut-off Ogg or MP3 file
            decodes to the part that is there), one line each.

    Returns:
        ``(samples, rate)``: samples of shape (num_samples,), float32 in [-1, 1] for PCM input,
        and the rate they are at.

    Memory: the output array plus one decoding block; the output is allocated up front when
    the header gives the length (grown by reallocation otherwise, e.g. for ffmpeg input).
    """
    _check_rate(sampling_rate, allow_none=True)
    decoder = _open_decoder(source, notes)
    rate = int(sampling_rate or decoder.sampling_rate)
    if decoder.frames:  # a header can claim anything: grow beyond _FIRST_CAPACITY as decoded
        declared = round(decoder.frames * rate / decoder.sampling_rate)
        capacity = min(declared, _FIRST_CAPACITY * rate)
    else:
        capacity = 60 * rate  # a minute, grown as needed
    output = np.empty(max(capacity, 1), dtype=np.float32)
    filled = 0
    for block in _resampled_blocks(decoder, sampling_rate, _BLOCK_FRAMES):
        if filled + len(block) > len(output):
            # ndarray.resize reallocates in place where it can, unlike concatenating a copy
            output.resize(max(filled + len(block), int(len(output) * _GROWTH)), refcheck=False)
        output[filled : filled + len(block)] = block
        filled += len(block)
    if filled != len(output):
        output.resize(filled, refcheck=False)
    return output, rate


def load_audio(
    source: AudioSource, sampling_rate: int | None = SAMPLE_RATE, *, notes: list[str] | None = None
) -> np.ndarray:
    """Decode a whole source to mono float32 at ``sampling_rate`` Hz (None: the source's rate).

    Args:
        source: a path (str or PathLike), bytes, or a binary file object.
        sampling_rate: output rate in Hz, 16000 by default (what AST expects).

    Returns:
        samples of shape (num_samples,), float32; num_samples == round(frames * rate / source_rate).

    Raises:
        AudioLoadError: the source is missing, empty, truncated, corrupt, not audio, or needs
            ffmpeg that is not installed.
    """
    return load_audio_with_rate(source, sampling_rate, notes=notes)[0]


def stream_audio(
    source: AudioSource,
    sampling_rate: int | None = SAMPLE_RATE,
    block_seconds: float = 10.0,
    *,
    notes: list[str] | None = None,
) -> Iterator[np.ndarray]:
    """Decode a source block by block: consecutive mono float32 arrays at ``sampling_rate``.

    Blocks hold about ``block_seconds`` of audio each (the first and last may be shorter);
    concatenated they equal :func:`load_audio`'s output. Memory stays bounded by a few blocks
    however long the source is. Errors opening the source are raised by this call; errors in
    the data part-way through are raised while iterating.
    """
    _check_rate(sampling_rate, allow_none=True)
    if not block_seconds > 0:
        raise ValueError(f"block_seconds must be positive, got {block_seconds}")
    decoder = _open_decoder(source, notes)
    block_frames = max(1, round(block_seconds * decoder.sampling_rate))
    return _resampled_blocks(decoder, sampling_rate, block_frames)


def stream_windows(
    source: AudioSource,
    window_samples: int,
    hop_samples: int,
    sampling_rate: int = SAMPLE_RATE,
    block_seconds: float = 10.0,
    *,
    notes: list[str] | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Overlapping windows over a source, in bounded memory: ``(start_sample, window)`` pairs.

    Windows start at 0, hop, 2*hop, ... and stop with the first window that reaches the end of
    the audio; that last one is shorter than ``window_samples`` unless the audio ends exactly
    on it (the caller pads). Audio shorter than one window gives one short window. So there are
    ``1 + ceil(max(0, total - window) / hop)`` windows for ``hop <= window``.
    Each window is a fresh float32 array of shape (<= window_samples,).
    """
    for name, value in (("window_samples", window_samples), ("hop_samples", hop_samples)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    blocks = stream_audio(source, sampling_rate, block_seconds, notes=notes)
    return _windows(blocks, int(window_samples), int(hop_samples))


def _windows(
    blocks: Iterator[np.ndarray], window: int, hop: int
) -> Iterator[tuple[int, np.ndarray]]:
    pending = np.zeros(0, dtype=np.float32)  # samples from absolute index pending_start on
    pending_start = next_start = last_end = total = 0
    for block in blocks:
        pending = np.concatenate((pending, block))
        total += len(block)
        while next_start + window <= total:
            offset = next_start - pending_start
            yield next_start, pending[offset : offset + window].copy()
            last_end = next_start + window
            next_start += hop
        drop = min(next_start, total) - pending_start
        pending, pending_start = pending[drop:], pending_start + drop
    if last_end < total and next_start < total:
        yield next_start, pending[next_start - pending_start :].copy()


def audio_info(source: AudioSource) -> AudioInfo:
    """Read a source's rate, channels, length and format without decoding it.

    Uses ffprobe (installed with ffmpeg) for formats libsndfile does not read.
    """
    checked = _Source(source)
    opened = _try_soundfile(checked)
    if isinstance(opened, soundfile.SoundFile):
        with opened:
            rate, frames, channels = opened.samplerate, opened.frames, opened.channels
            _check_source_rate(checked, rate)
            return AudioInfo(rate, channels, frames, frames / rate, opened.format, opened.subtype)
    ffprobe = _require_program(checked, "ffprobe", opened)
    probed = _ffprobe_info(checked, ffprobe, libsndfile_reason=opened)
    _check_source_rate(checked, probed["sampling_rate"])
    return AudioInfo(**probed)


# --------------------------------------------------------------------------------------------
# Finding files


def _is_audio_name(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_EXTENSIONS and not path.name.startswith(".")


@dataclass(frozen=True)
class InputEntry:
    """One input an argument named: a file to classify, or a reason there is none.

    ``relative`` is the file's path below the folder argument it was found in (its bare name
    when named directly or by a glob): where results mirror the inputs, they go there.
    """

    argument: str
    path: Path | None
    relative: PurePath | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def name(self) -> str:
        """The file, or the argument when there is no file."""
        return os.fspath(self.path) if self.path is not None else self.argument


def _not_a_regular_file(path: Path) -> str | None:
    """Why a file found in a folder can't be read as audio, or None when it can be.

    Searches skip FIFOs and devices (reading one could block forever) and links that lead
    nowhere or in a loop; a pipe named directly (bash's ``<(cmd)``) is read, not searched for.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as err:
        if err.errno == errno.ELOOP:
            return "symbolic link loop"
        if err.errno == errno.ENOENT:
            return "broken symbolic link"
        return err.strerror or str(err)
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), not a regular file; name it directly to read it"
    return "not a regular file"


def _audio_files_under(folder: Path) -> list[tuple[Path, str | None]]:
    found = []
    for root, dirs, files in os.walk(folder):  # symlinked folders are not followed: no loops
        dirs[:] = [d for d in dirs if not d.startswith(".")]  # skip .git, .cache, ...
        for name in files:
            path = Path(root) / name
            if _is_audio_name(path):
                found.append((path, _not_a_regular_file(path)))
    return sorted(found)


def expand_inputs(inputs: Iterable[str | os.PathLike[str]]) -> list[InputEntry]:
    """Expand files, folders and glob patterns into one entry per audio file or problem.

    A file named directly is kept whatever its extension (loading reports it if it is not
    audio); so is a named pipe such as bash's ``<(cmd)``. Folders are searched recursively and
    glob patterns (``**`` included) are expanded, both keeping only names with an extension in
    :data:`AUDIO_EXTENSIONS` and skipping hidden files and folders; each folder's files come
    sorted. A file reached twice is listed once. Inputs that do not exist, folders and patterns
    without audio, and FIFOs, devices and broken or looping links met in a search become
    entries with ``error`` set, in order with the files.
    """
    entries: list[InputEntry] = []
    seen: set[str] = set()

    def add(argument: str, path: Path, relative: PurePath, error: str | None = None) -> None:
        key = os.path.normcase(os.path.realpath(path))
        if key not in seen:
            seen.add(key)
            entries.append(InputEntry(argument, path, relative, error))

    for item in inputs:
        text = os.fspath(item)
        path = Path(text).expanduser()
        if path.is_dir():
            found = _audio_files_under(path)
            if not found:
                entries.append(InputEntry(text, None, error="folder contains no audio files"))
            for found_path, error in found:
                add(text, found_path, found_path.relative_to(path), error)
        elif os.path.lexists(path) and not glob.has_magic(text):
            add(text, path, PurePath(path.name))  # files, pipes, and links to check on reading
        elif glob.has_magic(text):
            matches = sorted(Path(m) for m in glob.glob(os.path.expanduser(text), recursive=True))
            found = []
            for match in matches:
                if match.is_dir():
                    found.extend(_audio_files_under(match))
                elif _is_audio_name(match):
                    found.append((match, _not_a_regular_file(match)))
            if not found:
                entries.append(InputEntry(text, None, error="pattern matched no audio files"))
            for found_path, error in found:
                add(text, found_path, PurePath(found_path.name), error)
        else:
            entries.append(InputEntry(text, path, PurePath(path.name), "no such file or folder"))
    return entries


def find_audio_files(inputs: Iterable[str | os.PathLike[str]]) -> tuple[list[Path], list[str]]:
    """Expand files, folders and glob patterns into a list of audio files (see
    :func:`expand_inputs`, which keeps each problem in order with the files).

    Returns:
        ``(files, problems)``: files in input order, and one-line messages for inputs that do
        not exist or matched no audio files, and for files a search could not read.
    """
    entries = expand_inputs(inputs)
    files = [e.path for e in entries if e.ok]
    problems = [
        f"'{e.argument if e.path is None or e.argument == os.fspath(e.path) else e.path}': "
        f"{e.error}"
        for e in entries
        if not e.ok
    ]
    return files, problems
