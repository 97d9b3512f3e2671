"""torchaudio's Kaldi-compatible fbank, loaded without importing torchaudio itself.

The torchaudio wheel in the venv is a CUDA build whose C extension can't load next to the CPU
torch, so ``import torchaudio`` fails. Its ``compliance/kaldi.py`` is pure torch, though, and only
touches the ``torchaudio`` package for mfcc's DCT matrix. We locate the installed file without
executing ``torchaudio/__init__.py`` and load it with a stub ``torchaudio`` in ``sys.modules``.

The broken package also breaks transformers, whose ``audio_utils`` imports torchaudio whenever
it is installed; :func:`hide_torchaudio_from_transformers` makes transformers see it as absent
(which also makes transformers' ASTFeatureExtractor use its numpy fallback).
"""

from __future__ import annotations

import functools
import importlib.util
import sys
import types
from pathlib import Path

import torch

_MISSING = object()


def hide_torchaudio_from_transformers() -> None:
    """Make ``import torchaudio`` fail cleanly so transformers treats torchaudio as not installed.

    Call before importing transformers' audio modules. Safe to call more than once.
    """
    if isinstance(sys.modules.get("torchaudio"), types.ModuleType):
        return  # a working torchaudio was imported by someone: leave it alone
    sys.modules["torchaudio"] = None  # type: ignore[assignment]  # find_spec -> None, import -> ImportError
    import_utils = sys.modules.get("transformers.utils.import_utils")
    if import_utils is not None:  # transformers already cached "torchaudio is available"
        for name in ("is_torchaudio_available", "is_speech_available"):
            cached = getattr(import_utils, name, None)
            if hasattr(cached, "cache_clear"):
                cached.cache_clear()


def _torchaudio_package_dir() -> Path:
    saved = sys.modules.pop(
        "torchaudio", _MISSING
    )  # a None entry would hide the package from find_spec
    try:
        spec = importlib.util.find_spec("torchaudio")
    finally:
        if saved is not _MISSING:
            sys.modules["torchaudio"] = saved
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "torchaudio is not installed; run `pip install --no-deps torchaudio==2.11.0` "
            "(only its pure-python compliance/kaldi.py is used)"
        )
    return Path(list(spec.submodule_search_locations)[0])


@functools.lru_cache(maxsize=1)
def load_kaldi_module() -> types.ModuleType:
    """torchaudio/compliance/kaldi.py as a module, loaded under a private name."""
    path = _torchaudio_package_dir() / "compliance" / "kaldi.py"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: torchaudio has no compliance/kaldi.py")
    stub = types.ModuleType("torchaudio")
    stub.__path__ = []  # a package, so `import torchaudio` inside kaldi.py binds the stub
    saved = sys.modules.get("torchaudio", _MISSING)
    sys.modules["torchaudio"] = stub
    try:
        spec = importlib.util.spec_from_file_location("_torchaudio_compliance_kaldi", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved is _MISSING:
            sys.modules.pop("torchaudio", None)
        else:
            sys.modules["torchaudio"] = saved
    return module


def torchaudio_ast_fbank(
    waveform: torch.Tensor, sampling_rate: int = 16000, num_mel_bins: int = 128
) -> torch.Tensor:
    """Log-mel fbank (T, num_mel_bins) of a 1-D waveform, called exactly as the AST recipe does."""
    if waveform.dim() != 1:
        raise ValueError(f"expected a 1-D waveform, got shape {tuple(waveform.shape)}")
    kaldi = load_kaldi_module()
    return kaldi.fbank(
        waveform.unsqueeze(0),
        htk_compat=True,
        sample_frequency=sampling_rate,
        use_energy=False,
        window_type="hanning",
        num_mel_bins=num_mel_bins,
        dither=0.0,
        frame_shift=10,
    )
