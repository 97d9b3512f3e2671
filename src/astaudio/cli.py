"""The `astaudio` command: a thin layer over the Python API.

Exit status: 0 when everything succeeded, 1 when some inputs failed (each reported on one
line and skipped), 2 for usage errors (bad arguments, a model that can't be found).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2

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
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="where the model runs (default: %(default)s: a GPU when there is one)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                        help="model precision (default: %(default)s)")
    parser.add_argument("--threads", type=_positive_int, default=None,
                        help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--batch-size", type=_positive_int, default=8,
                        help="windows per model call (default: %(default)s)")
    parser.add_argument("--window", type=_positive_float, default=None, metavar="SECONDS",
                        help="window length for long audio (default: the model's, 10.24 s for AudioSet)")
    parser.add_argument("--hop", type=_positive_float, default=None, metavar="SECONDS",
                        help="hop between windows (default: half a window)")


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
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
        prog="astaudio", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
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
    classify.add_argument("--top-k", type=_positive_int, default=5, help="labels per clip and segment (default: %(default)s)")
    classify.add_argument("--threshold", type=float, default=None, help="only labels scoring at least this")
    classify.add_argument("--pooling", choices=["max", "mean"], default="max",
                          help="clip score from window scores (default: %(default)s)")
    classify.add_argument("--activation", choices=["auto", "sigmoid", "softmax", "none"], default="auto",
                          help="auto: sigmoid for multi-label models (AudioSet), softmax otherwise")
    classify.add_argument("--format", "-f", choices=FORMATS, default="table", help="output format (default: %(default)s)")
    classify.add_argument("--output-dir", "-d", type=Path, default=None,
                          help="write one result file per input into this folder")
    classify.add_argument("--output", "-o", type=Path, default=None,
                          help="write all results into this one file (default: standard output)")
    classify.add_argument("--skip-existing", action="store_true",
                          help="with --output-dir: skip inputs whose result file exists")
    classify.add_argument("--quiet", "-q", action="store_true", help="no progress bar or per-file messages")
    classify.set_defaults(run=run_classify)

    embed = commands.add_parser(
        "embed", help="pooled embeddings per file or window, to .npz (or .parquet)",
        description="Write the model's pooled embedding (mean of the [CLS] and distillation "
        "tokens) for every file, or every window with --per-window.",
    )  # fmt: skip
    embed.add_argument("inputs", nargs="+", metavar="PATH")
    embed.add_argument("--output", "-o", type=Path, required=True, help="embeddings.npz or .parquet")
    embed.add_argument("--per-window", action="store_true", help="one row per window, not per file")
    embed.add_argument("--quiet", "-q", action="store_true")
    _add_model_arguments(embed)
    embed.set_defaults(run=run_embed)

    plot = commands.add_parser("plot", help="spectrogram with the top labels' scores over time (PNG)")
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
    convert.add_argument("--labels", type=Path, default=None, help="class_labels_indices.csv (index,mid,display_name)")
    convert.add_argument("--stride", type=_positive_int, nargs=2, default=(10, 10), metavar=("F", "T"),
                         help="frequency and time patch strides of the checkpoint (default: 10 10)")
    convert.add_argument("--max-length", type=_positive_int, default=1024,
                         help="frames the checkpoint was trained on (default: %(default)s)")
    convert.add_argument("--num-mel-bins", type=_positive_int, default=128)
    convert.add_argument("--mean", type=float, default=None, help="normalisation mean (default: AudioSet's)")
    convert.add_argument("--std", type=float, default=None, help="normalisation std (default: AudioSet's)")
    convert.set_defaults(run=run_convert)

    info = commands.add_parser("info", help="what a model is and expects")
    info.add_argument("model", metavar="MODEL", help="hub id, folder or bundled name")
    info.set_defaults(run=run_info)

    for module_name in ("train", "evaluate", "export"):
        _register_optional(commands, module_name)
    return parser


def _register_optional(commands, module_name: str) -> None:
    """Commands defined in other modules register themselves when the module is present."""
    import importlib

    try:
        module = importlib.import_module(f".{module_name}", __package__)
    except ImportError:
        return
    register = getattr(module, "register_cli", None)
    if register is not None:
        register(commands)


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


def _load_classifier(args):
    from .inference import AudioClassifier

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    return AudioClassifier.from_pretrained(
        args.model, device=args.device, dtype=args.dtype,
        activation=None if getattr(args, "activation", "auto") == "auto" else args.activation,
    )  # fmt: skip


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
            print(f"skipping {len(items) - len(keep)} inputs with existing results", file=sys.stderr)
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
        progress.update(round(durations[index], 1))
        progress.set_postfix(ok=counts["ok"], failed=counts["failed"], refresh=False)

    try:
        classifier.classify(
            items, top_k=args.top_k, threshold=args.threshold, window=args.window, hop=args.hop,
            pooling=args.pooling, batch_size=args.batch_size, callback=on_result,
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
            raise UsageError("writing .parquet needs pyarrow (pip install pyarrow); or use .npz") from None
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
        classifier.embed(items, window=args.window, hop=args.hop, batch_size=args.batch_size, callback=on_result)
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

            table = pa.table({"file": files, "start": starts, "end": ends, "embedding": list(matrix)})
            pq.write_table(table, args.output)
        if not args.quiet:
            print(f"wrote {len(vectors)} embeddings of size {matrix.shape[1]} to {args.output}", file=sys.stderr)
    return EXIT_SOME_FAILED if failed else EXIT_OK


# -- plot, convert, info --------------------------------------------------------------------
def run_plot(args) -> int:
    from .plot import plot_timeline

    classifier = _load_classifier(args)
    plot_timeline(classifier, args.input, args.output, top_k=args.top_k, window=args.window, hop=args.hop)
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
