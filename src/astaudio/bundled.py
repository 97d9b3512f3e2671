"""Models shipped inside the package, addressed as "bundled:NAME" (or plain NAME)."""

from __future__ import annotations

import os
from pathlib import Path

BUNDLED_DIR = Path(__file__).parent / "bundled"
PREFIX = "bundled:"


def bundled_models() -> list[str]:
    """Names of the models shipped with this installation."""
    if not BUNDLED_DIR.is_dir():
        return []
    return sorted(p.name for p in BUNDLED_DIR.iterdir() if (p / "config.json").is_file())


def bundled_hint() -> str:
    """ "bundled models: a, b" for error messages."""
    return f"bundled models: {', '.join(bundled_models()) or 'none'}"


def resolve_bundled(model: str | os.PathLike) -> str | os.PathLike:
    """The one model-name resolver: a local path stays as it is; "bundled:NAME", or a bare
    NAME that is not a local folder, becomes the shipped folder; anything else is returned
    unchanged (a hub id). Every ``from_pretrained`` and CLI ``--model`` goes through it, via
    :func:`astaudio.hub.resolve_file`."""
    text = os.fspath(model)
    name = text[len(PREFIX) :] if text.startswith(PREFIX) else text
    folder = BUNDLED_DIR / name
    if text.startswith(PREFIX):
        if not (folder / "config.json").is_file():
            from .errors import ModelNotFoundError

            raise ModelNotFoundError(f"{text}: no such bundled model ({bundled_hint()})")
        return str(folder)
    if "/" not in text and not Path(text).exists() and (folder / "config.json").is_file():
        return str(folder)
    return model
