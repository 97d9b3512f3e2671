"""transformers' own AST test suite, run against astaudio.

scripts/fetch_transformers_tests.py (``make install``) puts transformers' common test mixins
from its sdist under ``$VENV/share/transformers_tests/VERSION/tests``. This module lays them out
with the two AST test modules of tests/transformers_suite/ (their ``from transformers import
AST...`` lines rewritten to astaudio) in a temporary folder, runs pytest there in a subprocess,
and fails if any test outside DESELECTED fails. docs/transformers-compatibility.md lists each
deselected test and why.

    ASTAUDIO_SUITE_AGAINST=transformers pytest tests/test_transformers_suite.py
runs the same files against transformers' own classes (no rewrite), as a check of the suite.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

HERE = Path(__file__).parent
MIXINS = Path(sys.prefix) / "share" / "transformers_tests"
MODULES = {
    "modeling_ast_suite.py": "test_modeling_audio_spectrogram_transformer.py",
    "feature_extraction_ast_suite.py": "test_feature_extraction_audio_spectrogram_transformer.py",
}
FOLDER = "tests/models/audio_spectrogram_transformer/"
MODEL_TEST = FOLDER + MODULES["modeling_ast_suite.py"]
FEATURE_TEST = FOLDER + MODULES["feature_extraction_ast_suite.py"]
# test name -> why it does not run against astaudio. Keep docs/transformers-compatibility.md
# in step (test_deselections_are_documented checks it).
_CHECKPOINTING_LAYER = "looks for transformers' private GradientCheckpointingLayer class"
DESELECTED: dict[str, str] = {
    "ASTModelTest::test_gradient_checkpointing_enable_disable": _CHECKPOINTING_LAYER,
    "ASTModelTest::test_training_gradient_checkpointing": _CHECKPOINTING_LAYER,
    "ASTModelTest::test_training_gradient_checkpointing_use_reentrant_false": _CHECKPOINTING_LAYER,
    "ASTModelTest::test_training_gradient_checkpointing_use_reentrant_true": _CHECKPOINTING_LAYER,
    "ASTModelTest::test_model_weights_reload_no_missing_tied_weights": (
        "astaudio refuses a checkpoint that lacks weights (CheckpointError) instead of "
        "initialising them with a warning"
    ),
    "ASTModelTest::test_can_load_ignoring_mismatched_shapes": (
        "from_pretrained(num_labels=N) gives a new head with a warning in astaudio (documented); "
        "transformers wants ignore_mismatched_sizes=True and logs to its own logger"
    ),
}

_AST_IMPORT = re.compile(r"^from transformers import (AST\w+(, AST\w+)*)$", re.MULTILINE)


def rewrite_ast_imports(source: str) -> str:
    """Point ``from transformers import AST...`` lines (AST names only) at astaudio."""
    return _AST_IMPORT.sub(r"from astaudio import \1", source)


def build_suite(folder: Path, against: str = "astaudio") -> Path:
    """Lay out the runnable suite under ``folder``; returns its tests/ folder."""
    version = importlib.metadata.version("transformers")
    source = MIXINS / version / "tests"
    if not (source / "test_modeling_common.py").is_file():
        pytest.fail(
            f"{source} is missing: run `python scripts/fetch_transformers_tests.py` "
            "(make installs it)"
        )
    tests = folder / "tests"
    shutil.copytree(source, tests)
    models = tests / "models" / "audio_spectrogram_transformer"
    models.mkdir(parents=True)
    (tests / "models" / "__init__.py").touch()
    (models / "__init__.py").touch()
    for ours, theirs in MODULES.items():
        text = (HERE / "transformers_suite" / ours).read_text()
        (models / theirs).write_text(rewrite_ast_imports(text) if against == "astaudio" else text)
    # the mixins read transformers' source from src/transformers beside tests/, as in its repo
    import transformers

    (folder / "src").mkdir()
    (folder / "src" / "transformers").symlink_to(Path(transformers.__file__).parent)
    (folder / "pytest.ini").write_text("[pytest]\n")
    return tests


def test_rewrite_touches_only_ast_imports():
    source = (
        "from transformers import ASTConfig, ASTModel\n"
        "from transformers import ASTFeatureExtractor\n"
        "from transformers.testing_utils import require_torch\n"
        "from transformers import AutoConfig, ASTModel\n"
    )
    assert rewrite_ast_imports(source).splitlines() == [
        "from astaudio import ASTConfig, ASTModel",
        "from astaudio import ASTFeatureExtractor",
        "from transformers.testing_utils import require_torch",
        "from transformers import AutoConfig, ASTModel",
    ]


def test_deselections_are_documented():
    doc = (HERE.parent / "docs" / "transformers-compatibility.md").read_text()
    missing = [name for name in DESELECTED if f"`{name}`" not in doc]
    assert not missing, f"deselected but not in docs/transformers-compatibility.md: {missing}"


def test_transformers_suite_passes(tmp_path):
    against = os.environ.get("ASTAUDIO_SUITE_AGAINST", "astaudio")
    tests = build_suite(tmp_path, against)
    report = tmp_path / "report.xml"
    deselect = []
    for name in DESELECTED:  # "Class::test"
        module = MODEL_TEST if name.startswith("ASTModel") else FEATURE_TEST
        deselect += ["--deselect", f"{module}::{name}"]
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    import astaudio

    src = str(Path(astaudio.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(tests / "models"), f"--junitxml={report}", "-W", "ignore", *deselect],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    if not report.is_file():
        pytest.fail(f"the suite did not run:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    failed, passed = [], 0
    for case in ET.parse(report).iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(f"{case.get('classname')}.{case.get('name')}")
        elif case.find("skipped") is None:
            passed += 1
    assert passed > 0, result.stdout[-4000:]
    assert not failed, f"{len(failed)} failed ({passed} passed):\n" + "\n".join(failed)
