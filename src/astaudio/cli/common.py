"""Argument helpers shared by the command families, and the classifier the arguments ask for.

Nothing here imports torch at module level: the parser is built without it.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import signal
import sys
from collections.abc import Iterator

from ..constants import DEFAULT_MODEL
from ..errors import UsageError

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2

__all__ = [
    "EXIT_OK",
    "EXIT_SOME_FAILED",
    "EXIT_USAGE",
    "UsageError",
    "add_backend_arguments",
    "add_model_arguments",
    "classifier_from_args",
    "device_name",
    "finite_float",
    "non_negative_float",
    "non_negative_int",
    "positive_float",
    "positive_int",
    "report_skipped",
    "terminate_as_interrupt",
    "thread_count",
    "top_k_value",
    "Terminated",
]


# -- validators -----------------------------------------------------------------------------
def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def positive_float(text: str) -> float:
    value = finite_float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def finite_float(text: str) -> float:
    """A number that is not inf or nan (which would overflow or compare false everywhere)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def top_k_value(text: str) -> int | str:
    """A positive count of labels, or 'all'."""
    if text.strip().lower() == "all":
        return "all"
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer or 'all', got {text}")
    return value


def thread_count(text: str) -> int:
    """CPU threads for torch, at most 4 per CPU (torch crashes on absurd counts)."""
    value = positive_int(text)
    limit = 4 * (os.cpu_count() or 1)
    if value > limit:
        raise argparse.ArgumentTypeError(f"must be at most {limit} (4 per CPU), got {text}")
    return value


DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def device_name(text: str) -> str:
    """auto, cpu, cuda, cuda:N or mps (whether the machine has it is checked on loading)."""
    if not DEVICE_PATTERN.fullmatch(text):
        raise argparse.ArgumentTypeError(f"must be auto, cpu, cuda, cuda:N or mps, got {text!r}")
    return text


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: output files are completed before the exit."""


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises Terminated (where signals can be set: the main thread)."""

    def handler(signum, frame) -> None:
        raise Terminated

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# -- arguments of the commands that run a model ---------------------------------------------
def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        "-m",
        default=DEFAULT_MODEL,
        help="hub id, local folder, or bundled model name (e.g. 'keywords'); default: %(default)s",
    )
    parser.add_argument(
        "--device",
        default="auto",
        type=device_name,
        help="auto, cpu, cuda, cuda:N or mps (default: %(default)s: a GPU when there is one)",
    )
    parser.add_argument(
        "--dtype",
        default="float32",
        choices=["float32", "bfloat16", "float16"],
        help="model precision (default: %(default)s)",
    )
    parser.add_argument(
        "--threads",
        type=thread_count,
        default=None,
        help="CPU threads for torch (default: torch's choice)",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=8,
        help="windows per model call (default: %(default)s)",
    )
    parser.add_argument(
        "--window",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="window length for long audio (default: the model's, 10.24 s for AudioSet)",
    )
    parser.add_argument(
        "--hop",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="hop between windows (default: half a window)",
    )


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """`--backend torch|onnxruntime`, `--quantize int8` and `--compile`."""
    parser.add_argument(
        "--backend",
        choices=["torch", "onnxruntime"],
        default="torch",
        help="what runs the network (default: %(default)s); onnxruntime needs a folder made by "
        "'astaudio export onnx'",
    )
    parser.add_argument(
        "--quantize",
        choices=["int8"],
        default=None,
        help="int8 weights on the CPU (torch: dynamic quantization; onnxruntime: the folder's "
        "model_quantized.onnx)",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the model (torch backend): slower start, faster batches on a GPU",
    )


def classifier_from_args(args):
    """The AudioClassifier that parsed command-line arguments ask for (model, device, dtype,
    threads, activation, and --backend / --quantize / --compile where the command has them)."""
    from ..loading import load_classifier

    backend = getattr(args, "backend", "torch")
    quantize = getattr(args, "quantize", None)
    activation = getattr(args, "activation", "auto")
    device = getattr(args, "device", "auto")
    dtype = getattr(args, "dtype", "float32")
    compile_model = getattr(args, "compile", False)
    # load_classifier checks these too; here they are usage errors worded with the flags
    if compile_model and (backend == "onnxruntime" or quantize):
        raise UsageError("--compile applies to the float torch model; drop it")
    if (backend == "onnxruntime" or quantize) and dtype != "float32":
        what = "--backend onnxruntime" if backend == "onnxruntime" else "--quantize int8"
        raise UsageError(f"{what} runs float32 (int8) models; drop --dtype {dtype}")
    if backend == "torch" and quantize and device == "cuda":
        raise UsageError("--quantize int8 runs on the CPU; drop --device cuda")
    return load_classifier(
        args.model,
        backend=backend,
        quantize=quantize,
        device=device,
        dtype=dtype,
        compile=compile_model,
        threads=getattr(args, "threads", None),
        activation=None if activation == "auto" else activation,
    )


def report_skipped(message: str, progress=None) -> None:
    """One line on standard error for an input that was skipped (above a progress bar)."""
    line = f"astaudio: skipped {message}"
    if progress is not None and not progress.disable:
        progress.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr)
