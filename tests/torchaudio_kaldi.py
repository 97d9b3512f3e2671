"""torchaudio's Kaldi-compatible fbank, the reference the AST recipe calls, without torchaudio.

torchaudio's wheel is a CUDA build whose C extension can't load beside the CPU torch (and an
installed-but-broken torchaudio breaks transformers' audio imports). Its ``compliance/kaldi.py`` is
plain torch code, so ``scripts/fetch_torchaudio_reference.py`` (run by ``make test``) extracts that
one file from the downloaded wheel into ``$VENV/share/torchaudio_reference/``, and we load it
here with a stub ``torchaudio`` module standing in while it executes (fbank itself never uses it).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
import types
from pathlib import Path

import torch

REFERENCE = Path(
    os.environ.get("ASTAUDIO_TORCHAUDIO_KALDI")
    or Path(sys.prefix) / "share" / "torchaudio_reference" / "kaldi.py"
)


@functools.lru_cache(maxsize=1)
def load_kaldi_module() -> types.ModuleType:
    """torchaudio/compliance/kaldi.py as a module, loaded under a private name."""
    if not REFERENCE.is_file():
        raise FileNotFoundError(
            f"{REFERENCE} is missing: run `python scripts/fetch_torchaudio_reference.py` "
            "(make test does) to extract torchaudio's kaldi.py"
        )
    saved = sys.modules.get("torchaudio")
    stub = types.ModuleType("torchaudio")
    stub.__path__ = []
    sys.modules["torchaudio"] = stub
    try:
        spec = importlib.util.spec_from_file_location("_torchaudio_compliance_kaldi", REFERENCE)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved is None:
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
