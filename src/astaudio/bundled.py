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


def resolve_bundled(model: str | os.PathLike) -> str | os.PathLike:
    """Map "bundled:NAME" (or a bare NAME that isn't a local folder) to the shipped folder."""
    text = os.fspath(model)
    name = text[len(PREFIX) :] if text.startswith(PREFIX) else text
    folder = BUNDLED_DIR / name
    if text.startswith(PREFIX):
        if not (folder / "config.json").is_file():
            from .errors import ModelNotFoundError

            raise ModelNotFoundError(
                f"{text}: no such bundled model (bundled: {', '.join(bundled_models()) or 'none'})"
            )
        return str(folder)
    if "/" not in text and not Path(text).exists() and (folder / "config.json").is_file():
        return str(folder)
    return model
