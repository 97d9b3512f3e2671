"""Finding audio files: files, folders and glob patterns expanded into one
:class:`InputEntry` per audio file or problem (:func:`expand_inputs`, :func:`find_audio_files`);
searches skip hidden names, FIFOs, devices and broken or looping links. Re-exported by
:mod:`astaudio.audio`.
"""

from __future__ import annotations

import errno
import glob
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePath

from .decoders import AUDIO_EXTENSIONS


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
