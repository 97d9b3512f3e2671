"""The `astaudio` command: a thin layer over the Python API.

Exit status: 0 when everything succeeded, 1 when some inputs failed (each reported on one
line and skipped), 2 for usage errors (bad arguments, a model that can't be found).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2
M_MMAP_THRESHOLD = -3  # glibc mallopt parameter

DESCRIPTION = """\
Audio Spectrogram Transformer: tag sounds, embed them, fine-tune and evaluate models.

examples:
  astaudio classify dog.wav sounds/ --top-k 3           tag files and folders (AudioSet model)
  astaudio classify talk.mp3 --window 10 --hop 5 -f jsonl   timeline of a long recording
  astaudio classify --model keywords samples/           the small bundled offline model
  astaudio embed clips/ -o embeddings.npz               pooled embeddings, one row per file
  astaudio info MIT/ast-finetuned-audioset-10-10-0.4593 what a model expects
"""


class UsageError(Exception):
    """A mistake in the command line; reported as one line, exit status 2."""


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    from .inference import DEFAULT_MODEL

    parser.add_argument(
        "--model", "-m", default=DEFAULT_MODEL,
        help="hub id, local folder, or bundled model name (e.g. 'keywords'); default: %(default)s",
    )  # fmt: skip
    parser.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="where the model runs (default: %(default)s: a GPU when there is one)",
    )
    parser.add_argument(
        "--dtype",
        default="float32",
        choices=["float32", "bfloat16", "float16"],
        help="model precision (default: %(default)s)",
    )
    parser.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        help="CPU threads for torch (default: torch's choice)",
    )
    parser.add_argument(
        "--batch-size",
        type=_positive_int,
        default=8,
        help="windows per model call (default: %(default)s)",
    )
    parser.add_argument(
        "--window",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help="window length for long audio (default: the model's, 10.24 s for AudioSet)",
    )
    parser.add_argument(
        "--hop",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help="hop between windows (default: half a window)",
    )


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from .output import FORMATS

    parser = argparse.ArgumentParser(
        prog="astaudio",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"astaudio {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    classify = commands.add_parser(
        "classify", help="tag audio files, folders and long recordings",
        description="Tag audio files with an AST model. Folders are searched recursively for audio "
        "files; globs are expanded; '-' reads one file from standard input. A file that can't be "
        "read is reported on one line and skipped.",
    )  # fmt: skip
    classify.add_argument("inputs", nargs="+", metavar="PATH", help="files, folders, globs or -")
    _add_model_arguments(classify)
    classify.add_argument(
        "--top-k",
        type=_positive_int,
        default=5,
        help="labels per clip and segment (default: %(default)s)",
    )
    classify.add_argument(
        "--threshold", type=float, default=None, help="only labels scoring at least this"
    )
    classify.add_argument(
        "--pooling",
        choices=["max", "mean"],
        default="max",
        help="clip score from window scores (default: %(default)s)",
    )
    classify.add_argument(
        "--activation",
        choices=["auto", "sigmoid", "softmax", "none"],
        default="auto",
        help="auto: sigmoid for multi-label models (AudioSet), softmax otherwise",
    )
    classify.add_argument(
        "--format",
        "-f",
        choices=FORMATS,
        default="table",
        help="output format (default: %(default)s)",
    )
    classify.add_argument(
        "--output-dir",
        "-d",
        type=Path,
        default=None,
        help="write one result file per input into this folder",
    )
    classify.add_argument(
        "--output",
        "-o",
        type=Path,
        default=None,
        help="write all results into this one file (default: standard output)",
    )
    classify.add_argument(
        "--skip-existing",
        action="store_true",
        help="with --output-dir: skip inputs whose result file exists",
    )
    classify.add_argument(
        "--quiet", "-q", action="store_true", help="no progress bar or per-file messages"
    )
    classify.set_defaults(run=run_classify)

    embed = commands.add_parser(
        "embed", help="pooled embeddings per file or window, to .npz (or .parquet)",
        description="Write the model's pooled embedding (mean of the [CLS] and distillation "
        "tokens) for every file, or every window with --per-window.",
    )  # fmt: skip
    embed.add_argument("inputs", nargs="+", metavar="PATH")
    embed.add_argument(
        "--output", "-o", type=Path, required=True, help="embeddings.npz or .parquet"
    )
    embed.add_argument("--per-window", action="store_true", help="one row per window, not per file")
    embed.add_argument("--quiet", "-q", action="store_true")
    _add_model_arguments(embed)
    embed.set_defaults(run=run_embed)

    plot = commands.add_parser(
        "plot", help="spectrogram with the top labels' scores over time (PNG)"
    )
    plot.add_argument("input", metavar="FILE")
    plot.add_argument("--output", "-o", type=Path, required=True, help="out.png")
    plot.add_argument("--top-k", type=_positive_int, default=5)
    _add_model_arguments(plot)
    plot.set_defaults(run=run_plot)

    convert = commands.add_parser(
        "convert", help="original AST .pth checkpoint -> transformers-format folder",
        description="Convert a checkpoint released by the original AST repository into a folder "
        "(config.json, model.safetensors, preprocessor_config.json) that astaudio and "
        "transformers both load.",
    )  # fmt: skip
    convert.add_argument("checkpoint", type=Path, metavar="ORIGINAL.pth")
    convert.add_argument("--output", "-o", type=Path, required=True, metavar="FOLDER")
    convert.add_argument(
        "--labels",
        type=Path,
        default=None,
        help="class_labels_indices.csv (index,mid,display_name)",
    )
    convert.add_argument(
        "--stride",
        type=_positive_int,
        nargs=2,
        default=(10, 10),
        metavar=("F", "T"),
        help="frequency and time patch strides of the checkpoint (default: 10 10)",
    )
    convert.add_argument(
        "--max-length",
        type=_positive_int,
        default=1024,
        help="frames the checkpoint was trained on (default: %(default)s)",
    )
    convert.add_argument("--num-mel-bins", type=_positive_int, default=128)
    convert.add_argument(
        "--mean", type=float, default=None, help="normalisation mean (default: AudioSet's)"
    )
    convert.add_argument(
        "--std", type=float, default=None, help="normalisation std (default: AudioSet's)"
    )
    convert.set_defaults(run=run_convert)

    info = commands.add_parser("info", help="what a model is and expects")
    info.add_argument("model", metavar="MODEL", help="hub id, folder or bundled name")
    info.set_defaults(run=run_info)

    from .export import add_backend_arguments, add_export_parser

    for command in (classify, embed, plot):
        add_backend_arguments(command)
    for command in (classify, embed):
        command.add_argument(
            "--workers", type=_non_negative_int, default=0,
            help="decode and resample in this many worker processes (default: %(default)s: one "
            "background thread); worth it when decoding can't keep up with the model, as on a GPU",
        )  # fmt: skip
    add_export_parser(commands)

    _add_training_commands(commands)
    return parser


def _add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--labels", type=Path, default=None,
                        help="class_labels_indices.csv (index,mid,display_name): class list and order; "
                        "needed for the AST repository's JSON datafiles")  # fmt: skip
    parser.add_argument(
        "--delimiter", default=";", help="between labels in a CSV manifest (default: %(default)s)"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="DataLoader worker processes (default: %(default)s)"
    )


def _add_training_commands(commands) -> None:
    from .train import PRESETS

    tune = commands.add_parser(
        "finetune", help="fine-tune (or train from scratch) on a labelled dataset",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Fine-tune an AST model. DATA is a folder with one subfolder per class, a CSV "
        "manifest (path,labels[,split]) or the AST repository's JSON datafile.\n"
        "Presets carry the AST repository's recipes; every value can be overridden.\n\n"
        "examples:\n"
        "  astaudio finetune --model MIT/ast-finetuned-audioset-10-10-0.4593 --preset esc50 \\\n"
        "      --train esc50/ --valid-fraction 0.2 --output-dir runs/esc\n"
        "  astaudio finetune --model-config hidden_size=192 num_hidden_layers=6 num_attention_heads=3 \\\n"
        "      --preset speechcommands --train data/manifest.csv --output-dir runs/kws\n"
        "  torchrun --nproc_per_node 2 -m astaudio finetune ...   (several processes)",
    )  # fmt: skip
    tune.add_argument(
        "--model",
        "-m",
        default=None,
        help="pretrained model (hub id or folder); omit with --model-config to start from random weights",
    )
    tune.add_argument(
        "--model-config",
        nargs="+",
        default=None,
        metavar="KEY=VALUE",
        help="ASTConfig values, e.g. hidden_size=192 num_hidden_layers=6",
    )
    tune.add_argument("--train", required=True, type=Path, help="training data")
    tune.add_argument(
        "--valid",
        type=Path,
        default=None,
        help="validation data (default: the manifest's valid split, or --valid-fraction)",
    )
    tune.add_argument(
        "--valid-fraction",
        type=float,
        default=None,
        help="hold out this share of --train for validation",
    )
    tune.add_argument(
        "--output-dir",
        "-o",
        required=True,
        type=Path,
        help="run folder: checkpoints, logs, best/ and last/ models",
    )
    tune.add_argument(
        "--preset", choices=sorted(PRESETS), default=None, help="a recipe of the AST repository"
    )
    tune.add_argument(
        "--resume", action="store_true", help="continue from the newest checkpoint in --output-dir"
    )
    for name, kind, text in [
        ("lr", float, "learning rate"), ("batch-size", int, "global batch size"), ("epochs", int, "epochs"),
        ("scheduler-start", int, "first epoch of learning-rate decay"), ("scheduler-step", int, "epochs between decays"),
        ("scheduler-decay", float, "decay factor"), ("weight-decay", float, "Adam weight decay"),
        ("freqm", int, "SpecAugment frequency mask width (mel bins)"), ("timem", int, "SpecAugment time mask width (frames)"),
        ("mixup", float, "mixup probability"), ("max-length", int, "frames per clip (positions adapted)"),
        ("mean", float, "fbank normalisation mean"), ("std", float, "fbank normalisation std"),
        ("grad-accum", int, "gradient accumulation steps"), ("clip-grad", float, "gradient norm clip"),
        ("seed", int, "random seed"),
    ]:  # fmt: skip
        tune.add_argument(
            f"--{name}", type=kind, default=None, help=f"{text} (default: from the preset)"
        )
    tune.add_argument("--loss", choices=["bce", "ce"], default=None)
    tune.add_argument("--metric", choices=["acc", "mAP"], default=None, help="picks the best epoch")
    tune.add_argument(
        "--warmup",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="linear learning-rate warm-up",
    )
    tune.add_argument(
        "--warmup-steps",
        type=_positive_int,
        default=None,
        help="length of the warm-up in optimizer steps (default: 1000, as AST)",
    )
    tune.add_argument(
        "--noise",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="Speech Commands noise + time shift",
    )
    tune.add_argument(
        "--balanced",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="balanced sampling (AudioSet)",
    )
    tune.add_argument(
        "--wa",
        type=int,
        nargs=2,
        default=None,
        metavar=("FIRST", "LAST"),
        help="average the weights of these epochs at the end",
    )
    tune.add_argument("--amp", choices=["bf16", "fp16"], default=None, help="mixed precision (GPU)")
    tune.add_argument(
        "--norm-stats",
        type=Path,
        default=None,
        help="preprocessor_config.json from `astaudio norm-stats` (mean/std)",
    )
    tune.add_argument(
        "--device", default=None, help="cpu or cuda (default: a GPU when there is one)"
    )
    tune.add_argument(
        "--cache-dir", type=Path, default=None, help="cache unaugmented features here"
    )
    tune.add_argument("--quiet", "-q", action="store_true")
    _add_data_arguments(tune)
    tune.set_defaults(run=run_finetune)

    evaluate = commands.add_parser(
        "evaluate", help="accuracy / mAP of one or several models (and their ensemble) on a dataset",
        description="Evaluate models on DATA (layouts as for finetune). Single-label data: accuracy, "
        "per-class precision/recall and a confusion matrix (CSV and PNG); multi-label: mAP, mAUC, "
        "d-prime and per-class AP. Several models are also evaluated as an ensemble (averaged scores).",
    )  # fmt: skip
    evaluate.add_argument("models", nargs="+", metavar="MODEL")
    evaluate.add_argument("--data", required=True, type=Path)
    evaluate.add_argument(
        "--split", default=None, help="only this split of a manifest (train/valid/test)"
    )
    evaluate.add_argument(
        "--output-dir",
        "-o",
        type=Path,
        default=None,
        help="write metrics.json and confusion files here",
    )
    evaluate.add_argument("--batch-size", type=_positive_int, default=16)
    evaluate.add_argument("--device", default=None)
    evaluate.add_argument(
        "--json", action="store_true", help="print the metrics as JSON instead of a table"
    )
    _add_data_arguments(evaluate)
    evaluate.set_defaults(run=run_evaluate)

    stats = commands.add_parser(
        "norm-stats", help="dataset fbank mean/std into a preprocessor_config.json",
        description="Compute the dataset's log-mel mean and std as the AST repository's "
        "get_norm_stats does (training augmentations on, normalisation off) and write them into a "
        "preprocessor_config.json that finetune (--norm-stats) and inference use.",
    )  # fmt: skip
    stats.add_argument("data", type=Path, metavar="DATA")
    stats.add_argument(
        "--model", "-m", default=None, help="take max_length/mel bins from this model's extractor"
    )
    stats.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=None,
        help="augmentations and max_length of a recipe",
    )
    stats.add_argument("--max-length", type=_positive_int, default=None)
    stats.add_argument(
        "--output",
        "-o",
        type=Path,
        default=Path("preprocessor_config.json"),
        help="file or folder to write (default: %(default)s)",
    )
    stats.add_argument(
        "--num-batches", type=_positive_int, default=None, help="stop after this many batches"
    )
    stats.add_argument("--batch-size", type=_positive_int, default=100)
    _add_data_arguments(stats)
    stats.set_defaults(run=run_norm_stats)

    average = commands.add_parser(
        "average-checkpoints", help="average the weights of a run's epochs"
    )
    average.add_argument("run_dir", type=Path, metavar="RUN")
    average.add_argument("--epochs", required=True, help="range FIRST-LAST, e.g. 6-25")
    average.add_argument("--output", "-o", type=Path, required=True, metavar="FOLDER")
    average.set_defaults(run=run_average)


def _version() -> str:
    from . import __version__

    return __version__


# -- classify -------------------------------------------------------------------------------
def _expand_inputs(inputs: Sequence[str]) -> tuple[list, dict, list[str]]:
    """(items, roots, problems): files or stdin bytes, the argument each came from, errors."""
    from .audio import find_audio_files

    items: list = []
    roots: dict = {}
    problems: list[str] = []
    paths = [p for p in inputs if p != "-"]
    if "-" in inputs:
        items.append(sys.stdin.buffer.read())
        roots[0] = "-"
    found, problems = find_audio_files(paths)
    for path in found:
        roots[len(items)] = _root_of(path, paths)
        items.append(path)
    return items, roots, problems


def _root_of(path: Path, arguments: Sequence[str]) -> Path | None:
    for argument in arguments:
        folder = Path(argument)
        if folder.is_dir():
            with contextlib.suppress(ValueError):
                path.resolve().relative_to(folder.resolve())
                return folder
    return None


def _output_path(output_dir: Path, item, root: Path | None, ext: str) -> Path:
    if isinstance(item, bytes):
        return output_dir / f"stdin.{ext}"
    path = Path(item)
    relative = path.resolve().relative_to(root.resolve()) if root is not None else Path(path.name)
    return output_dir / relative.parent / f"{relative.name}.{ext}"


def _return_freed_memory_to_the_os() -> None:
    """Serve allocations of 128 KiB and more (audio windows) with mmap, so that freeing them
    gives the memory back. Windows are made in the decoding thread and freed in the main one;
    under glibc's default, self-raising threshold that fragments the heap, and the peak memory of
    an hour-long recording crept from 0.2 to 1.5 GiB (0.5 GiB flat with this; BENCHMARKS.md)."""
    try:
        ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, 128 * 1024)
    except (OSError, AttributeError):  # not glibc
        pass


def _load_classifier(args):
    from .export import classifier_from_args

    _return_freed_memory_to_the_os()

    return classifier_from_args(args)


def _durations(items: list) -> list[float]:
    from .audio import audio_info

    out = []
    for item in items:
        try:
            out.append(audio_info(item).duration if not isinstance(item, bytes) else 0.0)
        except Exception:  # the real error is reported when the file is decoded
            out.append(0.0)
    return out


def _progress(total_seconds: float, files: int, quiet: bool):
    from tqdm import tqdm

    return tqdm(
        total=round(total_seconds, 1), unit="s", unit_scale=True, desc=f"{files} files",
        disable=quiet or not sys.stderr.isatty(), file=sys.stderr, dynamic_ncols=True,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s audio [{elapsed}<{remaining}]{postfix}",
    )  # fmt: skip


def run_classify(args) -> int:
    from .output import EXTENSIONS, ResultWriter

    if args.skip_existing and args.output_dir is None:
        raise UsageError("--skip-existing needs --output-dir")
    if args.output_dir is not None and args.output is not None:
        raise UsageError("give either --output-dir (a file per input) or --output (one file)")
    items, roots, problems = _expand_inputs(args.inputs)
    failed = len(problems)
    for problem in problems:
        _report(problem, args.quiet)
    ext = EXTENSIONS[args.format]
    if args.skip_existing:
        keep = [i for i, item in enumerate(items)
                if not _output_path(args.output_dir, item, roots.get(i), ext).exists()]  # fmt: skip
        if not args.quiet and len(keep) < len(items):
            print(
                f"skipping {len(items) - len(keep)} inputs with existing results", file=sys.stderr
            )
        items, roots = [items[i] for i in keep], {n: roots.get(i) for n, i in enumerate(keep)}
    if not items:
        return EXIT_SOME_FAILED if failed else EXIT_OK
    classifier = _load_classifier(args)
    durations = _durations(items)
    combined = None
    if args.output_dir is None:
        stream = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
        combined = ResultWriter(stream, args.format)
    progress = _progress(sum(durations), len(items), args.quiet)
    counts = {"ok": 0, "failed": 0}
    advanced = [0.0] * len(items)  # audio seconds shown on the bar, per input

    def on_progress(index: int, seconds: float) -> None:
        advanced[index] += seconds
        progress.update(seconds)

    def on_result(result) -> None:
        index = result.index
        if isinstance(items[index], bytes):
            result.source = "-"
        if result.error is not None:
            counts["failed"] += 1
            _report(_with_source(result.source, result.error), args.quiet, progress)
        else:
            counts["ok"] += 1
        if combined is not None:
            combined.write(result)
        else:
            path = _output_path(args.output_dir, items[index], roots.get(index), ext)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w", encoding="utf-8") as handle:
                writer = ResultWriter(handle, args.format)
                writer.write(result)
                writer.close()
        progress.update(max(0.0, durations[index] - advanced[index]))  # failed or estimated
        progress.set_postfix(ok=counts["ok"], failed=counts["failed"], refresh=False)

    try:
        classifier.classify(
            items, top_k=args.top_k, threshold=args.threshold, window=args.window, hop=args.hop,
            pooling=args.pooling, batch_size=args.batch_size, callback=on_result,
            on_progress=on_progress, num_workers=args.workers,
        )  # fmt: skip
    finally:
        progress.close()
        if combined is not None:
            combined.close()
            if combined.stream is not sys.stdout:
                combined.stream.close()
    failed += counts["failed"]
    return EXIT_SOME_FAILED if failed else EXIT_OK


def _with_source(source: str, error: str) -> str:
    """Errors from decoding already start with the file name; others get it prepended."""
    return error if error.startswith(source) else f"{source}: {error}"


def _report(message: str, quiet: bool, progress=None) -> None:
    line = f"astaudio: skipped {message}"
    if progress is not None and not progress.disable:
        progress.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr)


# -- embed ----------------------------------------------------------------------------------
def run_embed(args) -> int:
    import numpy as np

    suffix = args.output.suffix.lower()
    if suffix not in (".npz", ".parquet"):
        raise UsageError(f"--output must end in .npz or .parquet, got {args.output.name}")
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise UsageError(
                "writing .parquet needs pyarrow (pip install pyarrow); or use .npz"
            ) from None
    items, _, problems = _expand_inputs(args.inputs)
    for problem in problems:
        _report(problem, args.quiet)
    if not items:
        return EXIT_SOME_FAILED
    classifier = _load_classifier(args)
    progress = _progress(sum(_durations(items)), len(items), args.quiet)
    files, starts, ends, vectors, failed = [], [], [], [], len(problems)

    def on_result(result) -> None:
        nonlocal failed
        if result.error is not None:
            failed += 1
            _report(_with_source(result.source, result.error), args.quiet, progress)
            return
        progress.update(round(result.duration, 1))
        if args.per_window:
            for start, end, vector in zip(result.starts, result.ends, result.window_embeddings):
                files.append(result.source)
                starts.append(start)
                ends.append(end)
                vectors.append(vector)
        else:
            files.append(result.source)
            starts.append(0.0)
            ends.append(result.duration)
            vectors.append(result.embedding)

    try:
        classifier.embed(
            items, window=args.window, hop=args.hop, batch_size=args.batch_size,
            callback=on_result, num_workers=args.workers,
        )  # fmt: skip
    finally:
        progress.close()
    if vectors:
        matrix = np.stack(vectors).astype(np.float32)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".npz":
            np.savez(args.output, files=np.array(files), starts=np.array(starts, dtype=np.float64),
                     ends=np.array(ends, dtype=np.float64), embeddings=matrix)  # fmt: skip
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.table(
                {"file": files, "start": starts, "end": ends, "embedding": list(matrix)}
            )
            pq.write_table(table, args.output)
        if not args.quiet:
            print(
                f"wrote {len(vectors)} embeddings of size {matrix.shape[1]} to {args.output}",
                file=sys.stderr,
            )
    return EXIT_SOME_FAILED if failed else EXIT_OK


# -- plot, convert, info --------------------------------------------------------------------
def run_plot(args) -> int:
    from .plot import plot_timeline

    classifier = _load_classifier(args)
    plot_timeline(
        classifier, args.input, args.output, top_k=args.top_k, window=args.window, hop=args.hop
    )
    print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_OK


def run_convert(args) -> int:
    from .checkpoints import convert_original_checkpoint

    folder = convert_original_checkpoint(
        args.checkpoint, args.output, labels_csv=args.labels,
        frequency_stride=args.stride[0], time_stride=args.stride[1],
        max_length=args.max_length, num_mel_bins=args.num_mel_bins, mean=args.mean, std=args.std,
    )  # fmt: skip
    print(f"wrote {folder}", file=sys.stderr)
    return EXIT_OK


def run_info(args) -> int:
    from .bundled import resolve_bundled
    from .config import ASTConfig
    from .inference import default_activation, load_feature_extractor

    model = resolve_bundled(args.model)
    config = ASTConfig.from_pretrained(model)
    extractor = load_feature_extractor(model, config)
    freq, time = config.patch_grid
    params = count_parameters(config)
    rows = [
        ("model", str(args.model)),
        ("parameters", f"{params:,} ({params / 1e6:.1f} M)"),
        ("layers x hidden x heads", f"{config.num_hidden_layers} x {config.hidden_size} x {config.num_attention_heads}"),
        ("window", f"{config.max_length} frames = {config.max_length * 0.01:.2f} s at {extractor.sampling_rate} Hz"),
        ("patches", f"{freq} x {time} (patch {config.patch_size}, strides {config.frequency_stride}/{config.time_stride})"),
        ("mel bins", str(config.num_mel_bins)),
        ("labels", f"{config.num_labels} ({default_activation(config)} scores)"),
        ("normalisation", f"mean {extractor.mean}, std {extractor.std}" if extractor.do_normalize else "off"),
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return EXIT_OK


# -- training commands ----------------------------------------------------------------------
def _parse_model_config(pairs: Sequence[str] | None) -> dict:
    values: dict = {}
    for pair in pairs or []:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--model-config takes KEY=VALUE pairs, got {pair!r}")
        try:
            values[key] = json.loads(text)
        except json.JSONDecodeError:
            values[key] = text
    return values


def _load_spec(path: Path, args, split: str | None = None):
    from .data import load_dataset_spec, validate_items

    if not path.exists():
        raise UsageError(f"{path}: no such dataset file or folder")
    spec = load_dataset_spec(path, labels_csv=args.labels, split=split, delimiter=args.delimiter)
    good, bad = validate_items(spec.items)
    for file, reason in bad:
        print(f"astaudio: dropped {file}: {reason}", file=sys.stderr)
    if not good:
        raise UsageError(f"{path}: no readable audio files")
    return spec.with_items(good), bad


def _has_split(path: Path, args, split: str) -> bool:
    from .data import load_dataset_spec

    try:
        return bool(
            load_dataset_spec(
                path, labels_csv=args.labels, split=split, delimiter=args.delimiter
            ).items
        )
    except (ValueError, KeyError):
        return False


def run_finetune(args) -> int:
    from .data import split_spec
    from .train import finetune, preset_config

    if args.model is None and not args.model_config:
        raise UsageError(
            "give --model (a pretrained model) or --model-config (random initialisation)"
        )
    overrides = {name: getattr(args, name) for name in (
        "lr", "batch_size", "epochs", "scheduler_start", "scheduler_step", "scheduler_decay",
        "weight_decay", "freqm", "timem", "mixup", "max_length", "mean", "std", "grad_accum",
        "clip_grad", "seed", "loss", "metric", "warmup", "warmup_steps", "noise", "balanced", "amp")}  # fmt: skip
    overrides["num_workers"] = args.workers
    if args.wa:
        overrides["wa_start"], overrides["wa_end"] = args.wa
    if args.norm_stats is not None:
        stats = json.loads(Path(args.norm_stats).read_text())
        for key in ("mean", "std"):  # an explicit --mean/--std wins
            if overrides[key] is None:
                overrides[key] = stats[key]
    train_config = preset_config(args.preset, **overrides)
    split_manifest = (
        args.valid is None and args.valid_fraction is None and _has_split(args.train, args, "valid")
    )
    train_spec, bad = _load_spec(args.train, args, "train" if split_manifest else None)
    valid_spec = None
    if args.valid is not None:
        valid_spec, more = _load_spec(args.valid, args)
        bad += more
    elif split_manifest:
        valid_spec, more = _load_spec(args.train, args, "valid")
        bad += more
    elif args.valid_fraction:
        train_spec, valid_spec = split_spec(train_spec, args.valid_fraction, seed=train_config.seed)
    if valid_spec is not None and valid_spec.labels != train_spec.labels:
        from .evaluate import align_labels

        valid_spec = align_labels(valid_spec, train_spec.labels)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    if bad:
        with open(args.output_dir / "dropped_files.txt", "a") as handle:
            handle.writelines(f"{file}\t{reason}\n" for file, reason in bad)
    state = finetune(
        train_spec, valid_spec, args.output_dir, model=args.model, train=train_config,
        model_config=_parse_model_config(args.model_config), resume=args.resume, device=args.device,
        progress=not args.quiet and sys.stderr.isatty(), cache_dir=args.cache_dir,
        log_every=None if args.quiet else 50,
    )  # fmt: skip
    if not args.quiet:
        best = (
            f"best epoch {state.best_epoch} ({state.best_metric:.4f})"
            if state.best_epoch
            else "no validation"
        )
        print(
            f"finished {state.epoch} epochs; {best}; models in {args.output_dir}", file=sys.stderr
        )
    return EXIT_OK


def run_evaluate(args) -> int:
    from .evaluate import evaluate_models, format_report
    from .metrics import metrics_to_jsonable

    spec, bad = _load_spec(args.data, args, args.split)
    report = evaluate_models(args.models, spec, args.output_dir, batch_size=args.batch_size,
                             device=args.device, num_workers=args.workers,
                             progress=sys.stderr.isatty())  # fmt: skip
    if args.json:
        printable = {
            **report,
            "models": {k: metrics_to_jsonable(v) for k, v in report["models"].items()},
        }
        if "ensemble" in report:
            printable["ensemble"] = metrics_to_jsonable(report["ensemble"])
        print(json.dumps(printable, indent=2))
    else:
        print(format_report(report))
    return EXIT_SOME_FAILED if bad else EXIT_OK


def run_norm_stats(args) -> int:
    from .data import AugmentConfig, compute_norm_stats
    from .features import ASTFeatureExtractor
    from .train import preset_config

    recipe = preset_config(args.preset)
    if args.model is not None:
        from .bundled import resolve_bundled
        from .config import ASTConfig
        from .inference import load_feature_extractor

        folder = resolve_bundled(args.model)
        extractor = load_feature_extractor(folder, ASTConfig.from_pretrained(folder))
    else:
        extractor = ASTFeatureExtractor(
            max_length=args.max_length or (recipe.max_length if args.preset else 1024)
        )
    if args.max_length:
        extractor.max_length = args.max_length
    augment = (
        AugmentConfig(freqm=recipe.freqm, timem=recipe.timem, mixup=recipe.mixup)
        if args.preset
        else None
    )
    spec, bad = _load_spec(args.data, args)
    mean, std = compute_norm_stats(spec, extractor, augment=augment, batch_size=args.batch_size,
                                   num_batches=args.num_batches, num_workers=args.workers)  # fmt: skip
    extractor.mean, extractor.std = float(mean), float(std)
    output = args.output
    if output.suffix != ".json":
        output = output / "preprocessor_config.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(extractor.to_json_string())
    print(f"mean {mean:.7f}  std {std:.7f}  ({len(spec.items)} files) -> {output}")
    return EXIT_SOME_FAILED if bad else EXIT_OK


def run_average(args) -> int:
    from .train import average_checkpoints

    first, sep, last = args.epochs.partition("-")
    if not sep or not first.isdigit() or not last.isdigit() or int(first) > int(last):
        raise UsageError(f"--epochs takes a range FIRST-LAST like 6-25, got {args.epochs!r}")
    try:
        folder = average_checkpoints(args.run_dir, int(first), int(last), args.output)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    print(f"wrote {folder}", file=sys.stderr)
    return EXIT_OK


def count_parameters(config) -> int:
    """Parameters of the classifier a config describes (built on the meta device: no memory)."""
    import torch

    from .model import ASTForAudioClassification

    with torch.device("meta"):
        model = ASTForAudioClassification(config)
    return sum(p.numel() for p in model.parameters())


def main(argv: Sequence[str] | None = None) -> int:
    from .errors import AstAudioError, ModelNotFoundError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (UsageError, ModelNotFoundError) as exc:
        print(f"astaudio {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (AstAudioError, ValueError, OSError) as exc:
        print(f"astaudio {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_SOME_FAILED
    except KeyboardInterrupt:
        print("astaudio: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
