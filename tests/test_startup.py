"""`astaudio --help`, `--version` and `COMMAND --help` answer without importing torch, and
`import astaudio` loads its public names on first use."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
import astaudio.cli
try:
    astaudio.cli.main({argv!r})
except SystemExit as exit:
    assert exit.code == 0, exit.code
print("TORCH" if "torch" in sys.modules else "NO-TORCH", file=sys.stderr)
"""


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["--version"], ["classify", "--help"], ["finetune", "--help"],
     ["export", "--help"], ["evaluate", "--help"]],
)  # fmt: skip
def test_help_and_version_do_not_import_torch(argv):
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "NO-TORCH"
    assert done.stdout  # the help or version text


def test_import_astaudio_is_lazy():
    probe = (
        "import sys, astaudio; assert 'torch' not in sys.modules; "
        "assert set(astaudio.__all__) <= set(dir(astaudio)); "
        "astaudio.AudioClassifier; assert 'torch' in sys.modules"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_every_public_name_resolves():
    import astaudio

    for name in astaudio.__all__:
        assert getattr(astaudio, name) is not None
    with pytest.raises(AttributeError):
        astaudio.no_such_name  # noqa: B018


def test_finetune_flags_come_from_train_config():
    from astaudio.cli import build_parser
    from astaudio.cli.train import override_fields

    args = build_parser().parse_args(
        ["finetune", "--train", "x", "-o", "y", "--lr", "0.1", "--no-noise", "--amp", "bf16",
         "--clip-grad", "2.5", "--warmup-steps", "7"]
    )  # fmt: skip
    names = {spec.name for spec in override_fields()}
    assert {"lr", "noise", "amp", "clip_grad", "warmup_steps", "seed"} <= names
    assert (args.lr, args.noise, args.amp, args.clip_grad, args.warmup_steps) == (
        0.1, False, "bf16", 2.5, 7,
    )  # fmt: skip
    assert args.epochs is None  # unset: the preset's value
