"""Audio sources before any decoder: a path, bytes or binary file object checked for the
mistakes that need no decoder (missing, a folder, unreadable, empty), and what a file's own bytes
say about its being cut off (a WAV data chunk running past the end, an Ogg stream without its end
marker, an MP3's Xing/Info frame count), used by :mod:`astaudio.decoders`.
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import BinaryIO, NoReturn, Union

from .errors import AudioLoadError

_HEAD_BYTES = 1 << 16  # bytes read from a file's start to check a WAV header

AudioSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, BinaryIO]


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
