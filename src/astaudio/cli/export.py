"""`astaudio convert` (original AST checkpoints) and `astaudio export` (ONNX, int8)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..constants import (
    CONFIG_NAME,
    DEFAULT_OPSET,
    INSTALL_HINT,
    MAX_OPSET,
    MIN_OPSET,
    PREPROCESSOR_NAME,
)
from .common import EXIT_OK, UsageError, positive_int


def add_parsers(commands) -> None:
    add_convert_parser(commands)
    add_export_parser(commands)


def add_convert_parser(commands) -> None:
    convert = commands.add_parser(
        "convert",
        help="original AST .pth checkpoint -> transformers-format folder",
        description="Convert a checkpoint released by the original AST repository into a folder "
        "(config.json, model.safetensors, preprocessor_config.json) that astaudio and "
        "transformers both load.",
    )
    convert.add_argument(
        "checkpoint",
        type=Path,
        metavar="ORIGINAL.pth",
        help="a .pth of the original AST code (a transformers-format file or folder is refused: "
        "it needs no conversion)",
    )
    convert.add_argument("--output", "-o", type=Path, required=True, metavar="FOLDER")
    convert.add_argument(
        "--labels",
        default=None,
        metavar="SET|FILE.csv",
        help="class names: a packaged set (audioset, esc50, speechcommands) or a "
        "class_labels_indices.csv (index,mid,display_name); default: the packaged set whose size "
        "matches the checkpoint's head (527, 50, 35), else LABEL_0..",
    )
    convert.add_argument(
        "--stride",
        type=positive_int,
        nargs=2,
        default=(10, 10),
        metavar=("F", "T"),
        help="frequency and time patch strides of the checkpoint (default: 10 10)",
    )
    convert.add_argument(
        "--max-length",
        type=positive_int,
        default=None,
        help="frames of the converted model (default: the checkpoint's, which must then be "
        "AudioSet's 1024); another length than the training run's adapts the position "
        "embeddings",
    )
    convert.add_argument("--num-mel-bins", type=positive_int, default=128)
    convert.add_argument(
        "--mean", type=float, default=None, help="normalisation mean (default: AudioSet's)"
    )
    convert.add_argument(
        "--std", type=float, default=None, help="normalisation std (default: AudioSet's)"
    )
    convert.set_defaults(run=run_convert)


def add_export_parser(commands) -> None:
    """`astaudio export onnx MODEL -o OUT [--opset N] [--no-dynamic-batch] [--with-features]
    [--quantize int8]`."""
    export = commands.add_parser(
        "export",
        help="export a model to ONNX (optionally int8) for ONNX Runtime",
        description="Write MODEL as an ONNX graph with config.json and preprocessor_config.json "
        "beside it; 'classify --model FOLDER --backend onnxruntime' runs the folder. "
        "The export is checked against torch on random inputs when onnxruntime is installed "
        "(export itself needs only onnx).",
    )
    export.add_argument("format", choices=["onnx"], help="output format")
    export.add_argument("model", metavar="MODEL", help="hub id, local folder or bundled name")
    export.add_argument(
        "--output",
        "-o",
        type=Path,
        required=True,
        help="the .onnx file, or a folder (gets model.onnx)",
    )
    export.add_argument(
        "--opset",
        type=int,
        default=DEFAULT_OPSET,
        help=f"ONNX opset, {MIN_OPSET}-{MAX_OPSET} (default: %(default)s)",
    )
    export.add_argument(
        "--dynamic-batch",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="batch size free (default), or fixed at 1",
    )
    export.add_argument(
        "--with-features",
        action="store_true",
        help="the graph takes raw 16 kHz waveforms (B, samples) and computes the features itself",
    )
    export.add_argument(
        "--quantize",
        choices=["int8"],
        default=None,
        help="also write NAME_quantized.onnx with int8 weights (ONNX Runtime dynamic quantization)",
    )
    export.set_defaults(run=run_export)


def run_convert(args) -> int:
    from ..checkpoints import convert_original_checkpoint
    from ..errors import NeedsNoConversionError

    # the converter says on stderr which packaged label set it chose
    notes = logging.StreamHandler(sys.stderr)
    notes.setFormatter(logging.Formatter("%(message)s"))
    astaudio_logger = logging.getLogger("astaudio")
    level = astaudio_logger.level
    astaudio_logger.addHandler(notes)
    astaudio_logger.setLevel(logging.INFO)
    try:
        folder = convert_original_checkpoint(
            args.checkpoint,
            args.output,
            labels_csv=args.labels,
            frequency_stride=args.stride[0],
            time_stride=args.stride[1],
            max_length=args.max_length,
            num_mel_bins=args.num_mel_bins,
            mean=args.mean,
            std=args.std,
        )
    except NeedsNoConversionError as exc:  # a usage mistake: exit status 2
        raise UsageError(str(exc)) from None
    finally:
        astaudio_logger.removeHandler(notes)
        astaudio_logger.setLevel(level)
    print(f"wrote {folder}", file=sys.stderr)
    return EXIT_OK


def run_export(args) -> int:
    import importlib.util

    # arguments and packages first: nothing is loaded or written for a request that must fail
    if not MIN_OPSET <= args.opset <= MAX_OPSET:
        raise UsageError(f"--opset must be between {MIN_OPSET} and {MAX_OPSET}, got {args.opset}")
    if importlib.util.find_spec("onnx") is None:
        raise UsageError(f"ONNX export needs the 'onnx' package: {INSTALL_HINT}")
    have_runtime = importlib.util.find_spec("onnxruntime") is not None
    if args.quantize == "int8" and not have_runtime:
        raise UsageError(
            f"--quantize int8 uses onnxruntime's quantizer: {INSTALL_HINT} (or pip install "
            "onnxruntime); without it, export float32 only"
        )

    from ..bundled import resolve_bundled
    from ..export import export_onnx, quantize_onnx_int8, verify_onnx
    from ..inference import load_feature_extractor
    from ..model import ASTForAudioClassification

    model = resolve_bundled(args.model)
    network = ASTForAudioClassification.from_pretrained(model)
    extractor = load_feature_extractor(model, network.config)
    path = export_onnx(
        network,
        args.output,
        opset=args.opset,
        dynamic_batch=args.dynamic_batch,
        with_features=args.with_features,
        feature_extractor=extractor,
    )
    written = [path]
    if args.quantize == "int8":
        written.append(quantize_onnx_int8(path))
    for graph in written:
        size = f"{graph.stat().st_size / 1e6:.1f} MB"
        if not have_runtime:  # export needs onnx only; the check needs a runtime
            print(f"wrote {graph} ({size}; not checked against torch: onnxruntime is not "
                  "installed)", file=sys.stderr)  # fmt: skip
            continue
        errors = verify_onnx(network, graph, extractor, batch=2 if args.dynamic_batch else 1)
        print(
            f"wrote {graph} ({size}; max |onnxruntime - torch|: "
            f"logits {errors['logits']:.2g}, pooled {errors['pooled']:.2g})",
            file=sys.stderr,
        )
    print(f"wrote {path.parent / CONFIG_NAME}, {path.parent / PREPROCESSOR_NAME}", file=sys.stderr)
    return EXIT_OK
