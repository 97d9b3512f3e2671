"""File names: printable forms of names that are not UTF-8, and where result files go.

Result files mirror the inputs (``clips/a/x.wav`` -> ``OUT/a/x.wav.json``); names that clash or
are longer than the file system allows are made unique and short with a hash, the same way on
every run, so a rerun with ``--skip-existing`` finds the results of the last one.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path, PurePath

NAME_MAX = 255  # bytes in one file name on common file systems


def printable_name(name: str) -> str:
    """A file name as valid text: bytes that are not UTF-8 (kept by Python as surrogates,
    e.g. a Latin-1 'caf\\xe9.wav') are written as backslash escapes, so JSON and CSV stay
    valid and the same name always prints the same way."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def name_max(folder: str | os.PathLike) -> int:
    """Longest file name (bytes) the file system of `folder` (or its nearest parent) holds."""
    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return NAME_MAX


def _short_hash(text: str) -> str:
    return hashlib.sha256(os.fsencode(text)).hexdigest()[:10]


def fit_name(name: str, ext: str, limit: int = NAME_MAX, tag: str | None = None) -> str:
    """``name.ext`` (with ``~tag`` before the extension when given), shortened to `limit` bytes
    by cutting `name` and adding a hash of it, so that every long name maps to the same short
    one and different names to different ones."""
    suffix = f"~{tag}.{ext}" if tag else f".{ext}"
    full = name + suffix
    if len(os.fsencode(full)) <= limit:
        return full
    marker = f"~{_short_hash(name)}"
    room = limit - len(os.fsencode(marker + suffix))
    head = os.fsencode(name)[: max(room, 0)]
    while head:  # do not cut a UTF-8 character in two
        try:
            head.decode("utf-8")
            break
        except UnicodeDecodeError as err:
            if err.start < len(head) - 4:  # the name was not UTF-8 to begin with: keep bytes
                break
            head = head[:-1]
    return os.fsdecode(head) + marker + suffix


def plan_output_paths(
    output_dir: str | os.PathLike,
    inputs: Sequence[tuple[PurePath, str]],
    ext: str,
) -> list[Path]:
    """One result path per input below `output_dir`, never two the same.

    `inputs` are (relative path, identity) pairs: where the result goes (the file's path below
    the folder argument it was found in, or its name) and what tells inputs apart (e.g. the
    absolute input path). Inputs whose relative paths clash (``A/x/s.wav`` and ``B/x/s.wav``
    both ``x/s.wav``) get a hash of their identity before the extension; names longer than the
    file system holds are shortened the same way (see `fit_name`). The same inputs always map
    to the same paths, so a rerun finds its results.
    """
    output_dir = Path(output_dir)
    limit = name_max(output_dir)

    def key(relative: PurePath) -> str:
        return os.path.normcase(os.fspath(relative)).casefold()

    counts: dict[str, int] = {}
    for relative, _ in inputs:
        counts[key(relative)] = counts.get(key(relative), 0) + 1
    paths = []
    for relative, identity in inputs:
        tag = _short_hash(identity)[:8] if counts[key(relative)] > 1 else None
        parent = (
            output_dir.joinpath(*relative.parent.parts) if relative.parent.parts else output_dir
        )
        paths.append(parent / fit_name(relative.name, ext, limit, tag))
    return paths
