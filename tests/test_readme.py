"""README.md's Python snippet runs as written, offline, with the bundled model for the hub id."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HUB_ID = "MIT/ast-finetuned-audioset-10-10-0.4593"


def first_python_snippet() -> str:
    text = (ROOT / "README.md").read_text()
    return re.search(r"```python\n(.*?)```", text, re.DOTALL).group(1)


def test_readme_snippet_runs_offline_with_the_bundled_model(tmp_path):
    snippet = first_python_snippet()
    assert HUB_ID in snippet  # the substitution below is what a reader would do
    clip = ROOT / "tests" / "data" / "keywords-heldout" / "down_0.flac"
    subprocess.run(["sox", str(clip), str(tmp_path / "dog.wav")], check=True)
    (tmp_path / "snippet.py").write_text(snippet.replace(HUB_ID, "keywords"))
    import astaudio

    src = str(Path(astaudio.__file__).resolve().parents[1])
    result = subprocess.run(
        [sys.executable, "snippet.py"], cwd=tmp_path, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": src, "HF_HUB_OFFLINE": "1",
             "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == transformers_answer(tmp_path / "dog.wav")


def transformers_answer(path: Path) -> str:
    """What transformers' own AST classes say of the clip with the bundled model's files."""
    import soundfile
    import torch
    import transformers

    from astaudio.bundled import resolve_bundled

    folder = resolve_bundled("keywords")
    extractor = transformers.ASTFeatureExtractor.from_pretrained(folder)
    model = transformers.ASTForAudioClassification.from_pretrained(folder).float().eval()
    waveform, rate = soundfile.read(path, dtype="float32")
    assert rate == 16_000
    inputs = extractor(waveform, sampling_rate=rate, return_tensors="pt")
    with torch.no_grad():
        return model.config.id2label[int(model(**inputs).logits.argmax(-1))]
