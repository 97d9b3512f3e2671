"""Put transformers' common test mixins (from its PyPI sdist) beside the venv for the tests.

tests/test_transformers_suite.py runs transformers' model and feature-extractor test mixins
(ModelTesterMixin, ConfigTester, SequenceFeatureExtractionTestMixin, ...) against astaudio. Those
mixins ship in the sdist of the installed transformers version, which is only downloaded and
unpacked here, never installed. The sdist lacks three small modules and a JSON file that the mixins
import or read; they are written as stubs (see STUBS and
docs/transformers-compatibility.md).

    python scripts/fetch_transformers_tests.py [VERSION]   (default: the installed version)
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = sys.argv[1] if len(sys.argv) > 1 else importlib.metadata.version("transformers")
TARGET = Path(sys.prefix) / "share" / "transformers_tests" / VERSION
MIXINS = [
    "test_modeling_common.py",
    "test_configuration_common.py",
    "test_feature_extraction_common.py",
    "test_sequence_feature_extraction_common.py",
    "test_pipeline_mixin.py",
]
# Modules the mixins import that the sdist leaves out. None of them carries tests that the AST
# test classes run: AST is not a generative model, and torch.export tests are transformers'.
STUBS = {
    "exporters/test_export.py": "class ExportTesterMixin:\n    pass\n",
    "generation/test_utils.py": "class GenerationTesterMixin:\n    pass\n",
    # PipelineTesterMixin's index of tiny hub models; empty, as the hub is not used.
    "utils/tiny_model_summary.json": "{}\n",
    # ConfigTester.check_config_arguments_init sets these on a config and reads them back.
    "utils/test_configuration_utils.py": (
        "config_common_kwargs = {\n"
        '    "return_dict": False,\n'
        '    "output_hidden_states": True,\n'
        '    "output_attentions": True,\n'
        '    "dtype": "float16",\n'
        '    "problem_type": "regression",\n'
        '    "architectures": ["BertModel"],\n'
        '    "id2label": {0: "label"},\n'
        '    "label2id": {"label": 0},\n'
        "}\n"
    ),
}


def main() -> None:
    tests = TARGET / "tests"
    if (tests / MIXINS[0]).is_file():
        return
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "--no-binary", ":all:", f"transformers=={VERSION}", "-d", folder],
                       check=True)  # fmt: skip
        sdist = next(Path(folder).glob("transformers-*.tar.gz"))
        with tarfile.open(sdist) as archive:
            sources = {
                name: archive.extractfile(f"transformers-{VERSION}/tests/{name}").read()
                for name in MIXINS
            }
    tests.mkdir(parents=True, exist_ok=True)
    for name, source in sources.items():
        (tests / name).write_bytes(source)
    for name, source in STUBS.items():
        path = tests / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".py":
            (path.parent / "__init__.py").touch()
        path.write_text(source)
    (tests / "__init__.py").touch()
    print(f"wrote {tests}")


if __name__ == "__main__":
    main()
