"""astaudio.audio against real files: Debian's recorded speech and sounds, converted with sox and
ffmpeg, checked against sox/ffmpeg decodes and soxr's one-shot resampler."""

from __future__ import annotations

import io
import os
import re
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile
import soxr
from audio_fixtures import (
    RESAMPLED_RATES,
    MissingAudioTools,
    check_audio_tools,
    ffmpeg,
    make_bad_files,
    make_converted_files,
    make_exact_length_wav,
    make_long_file,
    reference_decode,
    soxi_frames,
    soxi_rate,
)

from astaudio.audio import (
    AUDIO_EXTENSIONS,
    SAMPLE_RATE,
    audio_info,
    find_audio_files,
    load_audio,
    load_audio_with_rate,
    stream_audio,
    stream_windows,
)
from astaudio.errors import AudioLoadError

LOSSLESS = ["speech", "wav_u8", "wav_s24", "wav_s32", "wav_f32", "flac", "flac_s24", "espeak"]
LOSSLESS += [f"rate_{rate}" for rate in RESAMPLED_RATES] + ["stereo", "stereo_flac"]
LOSSY = ["mp3", "vorbis", "opus", "bell_oga"]
FFMPEG_ONLY = ["m4a", "webm", "mp4_video", "mkv_video"]
SPEECH_SECONDS = 68545 / 48000  # length of the ALSA "front center" recording


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory) -> Path:
    try:
        check_audio_tools()
    except MissingAudioTools as err:
        pytest.fail(str(err))
    return tmp_path_factory.mktemp("audio")


@pytest.fixture(scope="session")
def files(audio_dir) -> dict[str, Path]:
    return make_converted_files(audio_dir / "converted")


@pytest.fixture(scope="session")
def bad(audio_dir) -> dict[str, Path]:
    return make_bad_files(audio_dir / "bad")


@pytest.fixture(scope="session")
def long_file(audio_dir) -> Path:
    return make_long_file(audio_dir, minutes=3.0)


def aligned_correlation(x: np.ndarray, y: np.ndarray, max_lag: int) -> float:
    """Largest Pearson correlation of x and y over shifts of up to max_lag samples."""
    best = -1.0
    for lag in range(-max_lag, max_lag + 1):
        a, b = (x[lag:], y) if lag >= 0 else (x, y[-lag:])
        n = min(len(a), len(b))
        best = max(best, float(np.corrcoef(a[:n], b[:n])[0, 1]))
    return best


# -- decoding -------------------------------------------------------------------------------


@pytest.mark.parametrize("key", LOSSLESS)
def test_lossless_native_rate_is_sample_exact_with_sox(files, key):
    samples, rate = load_audio_with_rate(files[key], sampling_rate=None)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert rate == soxi_rate(files[key])
    # sox averages channels the same way, so even the stereo files match exactly
    np.testing.assert_array_equal(samples, reference_decode(files[key]))


RESAMPLED = ["speech", "espeak", "stereo"] + [f"rate_{rate}" for rate in RESAMPLED_RATES]


@pytest.mark.parametrize("key", RESAMPLED)
def test_resampled_to_16k(files, key):
    path = files[key]
    frames, rate = soxi_frames(path), soxi_rate(path)
    samples = load_audio(path)
    assert samples.dtype == np.float32
    assert len(samples) == round(frames * SAMPLE_RATE / rate)
    # same resampler, run in one shot on sox's decode: identical
    expected = soxr.resample(reference_decode(path), rate, SAMPLE_RATE, "HQ")
    np.testing.assert_allclose(samples, expected, rtol=0, atol=1e-6)
    # sox's own resampler: a different implementation, so close rather than equal
    by_sox = reference_decode(path, SAMPLE_RATE)
    assert abs(len(by_sox) - len(samples)) <= 1
    n = min(len(by_sox), len(samples))
    assert np.abs(samples[:n] - by_sox[:n]).max() < 1e-3
    assert np.corrcoef(samples[:n], by_sox[:n])[0, 1] > 0.9999


def test_other_rates(files):
    speech = files["speech"]
    samples = load_audio(speech, sampling_rate=8000)
    assert len(samples) == round(68545 * 8000 / 48000)
    np.testing.assert_allclose(samples, reference_decode(speech, 8000), rtol=0, atol=1e-3)


def test_stereo_is_the_channel_average(files):
    both = soundfile.read(files["stereo"], dtype="float32")[0]  # (frames, 2)
    assert both.shape[1] == 2 and np.abs(both[:, 0] - both[:, 1]).max() > 0.1
    np.testing.assert_allclose(load_audio(files["stereo"], None), both.mean(axis=1), atol=1e-7)


@pytest.mark.parametrize("key", LOSSY + FFMPEG_ONLY)
def test_lossy_and_ffmpeg_formats_match_ffmpeg(files, key):
    samples = load_audio(files[key])
    reference = reference_decode(files[key], SAMPLE_RATE, tool="ffmpeg")
    assert abs(len(samples) - len(reference)) < 0.05 * SAMPLE_RATE
    if key != "bell_oga":  # the speech clip, re-encoded; decoders may keep encoder delay
        assert abs(len(samples) / SAMPLE_RATE - SPEECH_SECONDS) < 0.06
    assert aligned_correlation(samples, reference, max_lag=800) > 0.99


def test_loads_espeak_and_alsa_recordings_at_their_lengths(files):
    espeak_seconds = soxi_frames(files["espeak"]) / 22050
    for key, seconds in (("espeak", espeak_seconds), ("speech", SPEECH_SECONDS)):
        assert abs(len(load_audio(files[key])) - seconds * SAMPLE_RATE) <= 1


# -- sources ---------------------------------------------------------------------------------


class _Pipe(io.RawIOBase):
    """A readable stream that cannot seek, like stdin."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


@pytest.mark.parametrize("key", ["speech", "flac", "mp3", "opus", "stereo", "m4a"])
def test_bytes_and_file_objects_give_the_same_samples(files, key):
    expected = load_audio(files[key])
    data = files[key].read_bytes()
    np.testing.assert_array_equal(load_audio(data), expected)
    np.testing.assert_array_equal(load_audio(bytearray(data)), expected)
    with open(files[key], "rb") as f:
        np.testing.assert_array_equal(load_audio(f), expected)
    np.testing.assert_array_equal(load_audio(io.BytesIO(data)), expected)
    np.testing.assert_array_equal(load_audio(io.BufferedReader(_Pipe(data))), expected)


def test_path_like_and_str(files):
    np.testing.assert_array_equal(load_audio(str(files["flac"])), load_audio(files["flac"]))


def test_audio_info(files):
    info = audio_info(files["stereo"])
    assert (info.sampling_rate, info.channels) == (44100, 2)
    assert info.frames == soxi_frames(files["stereo"]) and info.format == "WAV"
    assert info.codec == "PCM_16" and info.duration == pytest.approx(info.frames / 44100)
    assert audio_info(files["opus"]).codec == "OPUS"
    m4a = audio_info(files["m4a"].read_bytes())  # through ffprobe
    assert (m4a.sampling_rate, m4a.channels, m4a.codec) == (48000, 1, "aac")
    assert m4a.duration == pytest.approx(SPEECH_SECONDS, abs=0.05)


# -- streaming and memory --------------------------------------------------------------------


@pytest.mark.parametrize("key", ["speech", "stereo", "rate_22050", "mp3", "vorbis", "m4a"])
@pytest.mark.parametrize("rate", [SAMPLE_RATE, None])
def test_stream_concatenates_to_load(files, key, rate):
    blocks = list(stream_audio(files[key], sampling_rate=rate, block_seconds=0.1))
    assert len(blocks) > 5 and all(b.dtype == np.float32 and b.ndim == 1 for b in blocks)
    np.testing.assert_allclose(np.concatenate(blocks), load_audio(files[key], rate), atol=1e-6)


@pytest.mark.parametrize(
    "frames, window, hop",
    [(32000, 8000, 4000), (32000, 8000, 3000), (5000, 8000, 4000), (32000, 8000, 8000),
     (32001, 8000, 8000), (12000, 2000, 5000)],
)  # fmt: skip
def test_stream_windows(audio_dir, frames, window, hop):
    path = make_exact_length_wav(audio_dir, frames)
    audio = load_audio(path)
    assert len(audio) == frames
    windows = list(stream_windows(path, window, hop, block_seconds=0.15))
    starts = [start for start, _ in windows]
    if hop <= window:
        assert len(windows) == 1 + int(np.ceil(max(0, frames - window) / hop))
    assert starts == list(range(0, hop * len(windows), hop))
    for start, samples in windows:
        np.testing.assert_array_equal(samples, audio[start : start + window])
    assert all(len(samples) == window for _, samples in windows[:-1])
    if hop <= window:
        assert starts[-1] + len(windows[-1][1]) == frames  # the last window reaches the end


def test_stream_windows_rejects_bad_sizes(files):
    with pytest.raises(ValueError, match="hop_samples"):
        stream_windows(files["speech"], 1000, 0)


def test_long_file_loads_in_bounded_memory(long_file):
    frames = soxi_frames(long_file)
    assert frames > 3 * 60 * 48000
    tracemalloc.start()
    try:
        samples = load_audio(long_file)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(samples) == round(frames * SAMPLE_RATE / 48000)
    assert peak <= 1.3 * samples.nbytes, f"peak {peak} bytes for {samples.nbytes} of output"
    assert samples.base is None  # the exact-size array, not a view of a larger buffer

    tracemalloc.start()
    try:
        total = sum(len(block) for block in stream_audio(long_file, block_seconds=1.0))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == len(samples)
    assert peak < 0.15 * samples.nbytes  # a few 1 s blocks, not the 3 minutes


def test_long_ffmpeg_input_loads_in_bounded_memory(long_file):
    # PCM in Matroska: instant to write, and only ffmpeg reads it (length unknown in advance)
    mkv = long_file.with_suffix(".mkv")
    ffmpeg("-i", long_file, "-c:a", "pcm_s16le", mkv)
    tracemalloc.start()
    try:
        samples = load_audio(mkv)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(samples) == round(soxi_frames(long_file) * SAMPLE_RATE / 48000)
    assert peak <= 1.4 * samples.nbytes, f"peak {peak} bytes for {samples.nbytes} of output"


def test_named_pipe(files, tmp_path):
    fifo = tmp_path / "pipe.flac"
    os.mkfifo(fifo)
    writer = threading.Thread(target=fifo.write_bytes, args=(files["flac"].read_bytes(),))
    writer.start()
    try:
        samples = load_audio(fifo)
    finally:
        writer.join()
    np.testing.assert_array_equal(samples, load_audio(files["flac"]))


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, reason",
    [
        ("missing", "file not found"),
        ("directory", "is a directory"),
        ("directory_wav", "is a directory"),
        ("empty", r"file is empty \(0 bytes\)"),
        ("zero_length", "contains no audio samples"),
        ("truncated_wav", "truncated WAV file"),
        ("header_only_wav", "not audio, or its data is corrupt"),
        ("truncated_flac", "corrupt or truncated audio data"),
        ("text_wav", "not audio, or its data is corrupt"),
        ("random_wav", "not audio, or its data is corrupt"),
        # ffmpeg takes *.bin for a "bintext" video, so it finds no audio in it
        ("random_bin", "not audio, or its data is corrupt|contains no audio stream"),
        ("video_only", "contains no audio stream"),
    ],
)
def test_errors_are_one_line_and_name_the_file(bad, key, reason):
    path = bad[key]
    read_stream = lambda p: list(stream_audio(p))  # noqa: E731
    read_windows = lambda p: list(stream_windows(p, 10, 5))  # noqa: E731
    for call in (load_audio, read_stream, read_windows):
        with pytest.raises(AudioLoadError) as caught:
            call(path)
        message = str(caught.value)
        assert message.startswith(f"cannot read audio '{path}': ")
        assert re.search(reason, message) and "\n" not in message
        assert caught.value.__cause__ is None
        assert caught.value.__context__ is None or caught.value.__suppress_context__


def test_errors_for_bytes_and_file_objects(bad):
    with pytest.raises(AudioLoadError, match=r"^cannot read audio \(bytes input\): file is empty"):
        load_audio(b"")
    with pytest.raises(AudioLoadError, match="truncated WAV"):
        load_audio(bad["truncated_wav"].read_bytes())
    with open(bad["text_wav"], "rb") as f, pytest.raises(AudioLoadError, match="text.wav"):
        load_audio(f)
    with pytest.raises(TypeError, match="path, bytes or a binary file object"):
        load_audio(12)


def test_bad_rate_is_a_value_error(files):
    for rate in (0, -16000, 16000.5, True):
        with pytest.raises(ValueError, match="sampling_rate"):
            load_audio(files["speech"], rate)


def test_without_ffmpeg(files, bad, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no ffmpeg, no ffprobe
    needs = r"\.m4a files are decoded with {}, which is not installed.*install ffmpeg"
    with pytest.raises(AudioLoadError, match=needs.format("ffmpeg")):
        load_audio(files["m4a"])
    with pytest.raises(AudioLoadError, match=needs.format("ffprobe")):
        audio_info(files["m4a"])
    with pytest.raises(AudioLoadError, match=r"not a format libsndfile can read.*install ffmpeg"):
        load_audio(bad["text_wav"])
    assert len(load_audio(files["opus"])) == 22848  # libsndfile formats need no ffmpeg


# -- finding files ---------------------------------------------------------------------------


def test_audio_extensions():
    common = ".wav .flac .ogg .oga .opus .mp3 .m4a .aac .mp4 .mkv .webm .aiff .aif .au".split()
    assert set(common) <= AUDIO_EXTENSIONS
    assert all(ext == ext.lower() and ext.startswith(".") for ext in AUDIO_EXTENSIONS)


def test_find_audio_files(tmp_path, monkeypatch):
    root = tmp_path / "clips"
    for name in ["b.wav", "a.flac", "sub/c.MP3", "sub/deep/d.opus", "sub/notes.txt",
                 ".hidden/e.wav", "sub/.f.wav", "empty/readme.md", "other/g.m4a"]:  # fmt: skip
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    files, problems = find_audio_files(
        [
            "clips/b.wav",
            "clips",  # b.wav again, then the rest sorted
            "./clips/sub/c.MP3",  # reached twice through different spellings
            "clips/sub/notes.txt",  # a file named directly is kept
            "clips/other/*.m4a",
            "clips/**/*.opus",
            "nowhere.wav",
            "clips/*.xyz",
            "clips/empty",
        ]
    )
    assert [str(p) for p in files] == [
        "clips/b.wav",
        "clips/a.flac",
        "clips/other/g.m4a",
        "clips/sub/c.MP3",
        "clips/sub/deep/d.opus",
        "clips/sub/notes.txt",
    ]
    assert problems == [
        "'nowhere.wav': no such file or folder",
        "'clips/*.xyz': pattern matched no audio files",
        "'clips/empty': folder contains no audio files",
    ]
    assert os.path.isabs(str(find_audio_files([str(root)])[0][0]))
