"""The `astaudio` command: a thin layer over the Python API.

Exit status: 0 when everything succeeded, 1 when some inputs failed (each reported on one
line and skipped), 2 for usage errors (bad arguments, a model that can't be found or used, a missing
optional package);
130 after Ctrl-C and 143 after SIGTERM (output files completed first), 141 when the reader of
standard output went away (``| head``), quietly.

One module per family of commands (tag: classify/embed/plot/info; export: convert/export;
train: finetune/evaluate/norm-stats/average-checkpoints). They parse and print; the work is
done by the library, imported inside the run_* functions, so that `astaudio --help` and
`astaudio COMMAND --help` answer without loading torch.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import AstAudioError, CheckpointError, MissingDependencyError, UsageError
from . import export, tag, train
from .common import EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, Terminated

EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a program stopped by a closed pipe
EXIT_TERMINATED = 143  # 128 + SIGTERM

__all__ = ["EXIT_OK", "EXIT_SOME_FAILED", "EXIT_USAGE", "UsageError", "build_parser", "main"]

DESCRIPTION = """\
Audio Spectrogram Transformer: tag sounds, embed them, fine-tune and evaluate models.

examples:
  astaudio classify dog.wav sounds/ --top-k 3           tag files and folders (AudioSet model)
  astaudio classify talk.mp3 --window 10 --hop 5 -f jsonl   timeline of a long recording
  astaudio classify --model keywords samples/           the small bundled offline model
  astaudio embed clips/ -o embeddings.npz               pooled embeddings, one row per file
  astaudio info MIT/ast-finetuned-audioset-10-10-0.4593 what a model expects
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="astaudio",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"astaudio {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    tag.add_parsers(commands)  # classify, embed, plot
    tag.add_info_parser(commands)
    export.add_parsers(commands)  # convert, export
    train.add_parsers(commands)  # finetune, evaluate, norm-stats, average-checkpoints
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except BrokenPipeError:  # `astaudio classify ... | head`: the reader has all it wants
        _stdout_to_devnull()
        return EXIT_BROKEN_PIPE
    # CheckpointError: the model can't be used; MissingDependencyError: an optional package
    except (UsageError, CheckpointError, MissingDependencyError) as exc:
        print(f"astaudio {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (AstAudioError, ValueError, OSError) as exc:
        print(f"astaudio {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_SOME_FAILED
    except Terminated:
        print("astaudio: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("astaudio: interrupted", file=sys.stderr)
        return 130


def _stdout_to_devnull() -> None:
    """Point standard output at /dev/null so that the final flush at exit can't fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file (tests)
        pass


if __name__ == "__main__":
    sys.exit(main())
