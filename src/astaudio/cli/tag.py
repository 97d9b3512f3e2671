"""`astaudio classify`, `embed`, `plot` and `info`: running a model on audio."""

from __future__ import annotations

import contextlib
import ctypes
import sys
from collections.abc import Sequence
from pathlib import Path

from ..output import EXTENSIONS, FORMATS
from .common import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    UsageError,
    add_backend_arguments,
    add_model_arguments,
    classifier_from_args,
    non_negative_int,
    positive_int,
    report_skipped,
)

M_MMAP_THRESHOLD = -3  # glibc mallopt parameter
QUIET_HELP = "no progress bar or summary messages (skipped inputs are still reported)"


def add_parsers(commands) -> None:
    classify = commands.add_parser(
        "classify",
        help="tag audio files, folders and long recordings",
        description="Tag audio files with an AST model. Folders are searched recursively for audio "
        "files; globs are expanded; '-' reads one file from standard input. A file that can't be "
        "read is reported on one line and skipped.",
    )
    classify.add_argument("inputs", nargs="+", metavar="PATH", help="files, folders, globs or -")
    add_model_arguments(classify)
    classify.add_argument(
        "--top-k",
        type=positive_int,
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
    classify.add_argument("--quiet", "-q", action="store_true", help=QUIET_HELP)
    classify.set_defaults(run=run_classify)

    embed = commands.add_parser(
        "embed",
        help="pooled embeddings per file or window, to .npz (or .parquet)",
        description="Write the model's pooled embedding (mean of the [CLS] and distillation "
        "tokens) for every file, or every window with --per-window.",
    )
    embed.add_argument("inputs", nargs="+", metavar="PATH")
    embed.add_argument(
        "--output", "-o", type=Path, required=True, help="embeddings.npz or .parquet"
    )
    embed.add_argument("--per-window", action="store_true", help="one row per window, not per file")
    embed.add_argument("--quiet", "-q", action="store_true", help=QUIET_HELP)
    add_model_arguments(embed)
    embed.set_defaults(run=run_embed)

    plot = commands.add_parser(
        "plot", help="spectrogram with the top labels' scores over time (PNG)"
    )
    plot.add_argument("input", metavar="FILE")
    plot.add_argument("--output", "-o", type=Path, required=True, help="out.png")
    plot.add_argument("--top-k", type=positive_int, default=5)
    add_model_arguments(plot)
    plot.set_defaults(run=run_plot)

    for command in (classify, embed, plot):
        add_backend_arguments(command)
    for command in (classify, embed):
        command.add_argument(
            "--workers",
            type=non_negative_int,
            default=0,
            help="decode and resample in this many worker processes (default: %(default)s: one "
            "background thread); worth it when decoding can't keep up with the model, as on a GPU",
        )


def add_info_parser(commands) -> None:
    info = commands.add_parser("info", help="what a model is and expects")
    info.add_argument("model", metavar="MODEL", help="hub id, folder or bundled name")
    info.set_defaults(run=run_info)


# -- inputs and progress --------------------------------------------------------------------
def _expand_inputs(inputs: Sequence[str]) -> tuple[list, dict, list[str]]:
    """(items, roots, problems): files or stdin bytes, the argument each came from, errors."""
    from ..audio import find_audio_files

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
    _return_freed_memory_to_the_os()
    return classifier_from_args(args)


def _durations(items: list) -> list[float]:
    from ..audio import audio_info

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
        total=round(total_seconds, 1),
        unit="s",
        unit_scale=True,
        desc=f"{files} files",
        disable=quiet or not sys.stderr.isatty(),
        file=sys.stderr,
        dynamic_ncols=True,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s audio [{elapsed}<{remaining}]{postfix}",
    )


def _with_source(source: str, error: str) -> str:
    """Errors from decoding already start with the file name; others get it prepended."""
    return error if error.startswith(source) else f"{source}: {error}"


# -- classify -------------------------------------------------------------------------------
def run_classify(args) -> int:
    from ..output import ResultWriter

    if args.skip_existing and args.output_dir is None:
        raise UsageError("--skip-existing needs --output-dir")
    if args.output_dir is not None and args.output is not None:
        raise UsageError("give either --output-dir (a file per input) or --output (one file)")
    items, roots, problems = _expand_inputs(args.inputs)
    failed = len(problems)
    for problem in problems:
        report_skipped(problem)
    ext = EXTENSIONS[args.format]
    if args.skip_existing:
        keep = [
            i
            for i, item in enumerate(items)
            if not _output_path(args.output_dir, item, roots.get(i), ext).exists()
        ]
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
            report_skipped(_with_source(result.source, result.error), progress)
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
            items,
            top_k=args.top_k,
            threshold=args.threshold,
            window=args.window,
            hop=args.hop,
            pooling=args.pooling,
            batch_size=args.batch_size,
            callback=on_result,
            on_progress=on_progress,
            num_workers=args.workers,
        )
    finally:
        progress.close()
        if combined is not None:
            combined.close()
            if combined.stream is not sys.stdout:
                combined.stream.close()
    failed += counts["failed"]
    return EXIT_SOME_FAILED if failed else EXIT_OK


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
        report_skipped(problem)
    if not items:
        return EXIT_SOME_FAILED
    classifier = _load_classifier(args)
    progress = _progress(sum(_durations(items)), len(items), args.quiet)
    files, starts, ends, vectors, failed = [], [], [], [], len(problems)

    def on_result(result) -> None:
        nonlocal failed
        if result.error is not None:
            failed += 1
            report_skipped(_with_source(result.source, result.error), progress)
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
            items,
            window=args.window,
            hop=args.hop,
            batch_size=args.batch_size,
            callback=on_result,
            num_workers=args.workers,
        )
    finally:
        progress.close()
    if vectors:
        matrix = np.stack(vectors).astype(np.float32)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".npz":
            np.savez(
                args.output,
                files=np.array(files),
                starts=np.array(starts, dtype=np.float64),
                ends=np.array(ends, dtype=np.float64),
                embeddings=matrix,
            )
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


# -- plot, info -----------------------------------------------------------------------------
def run_plot(args) -> int:
    from ..plot import plot_timeline

    classifier = _load_classifier(args)
    plot_timeline(
        classifier, args.input, args.output, top_k=args.top_k, window=args.window, hop=args.hop
    )
    print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_OK


def run_info(args) -> int:
    from ..bundled import resolve_bundled
    from ..config import ASTConfig
    from ..inference import default_activation, load_feature_extractor
    from ..model import count_parameters

    model = resolve_bundled(args.model)
    config = ASTConfig.from_pretrained(model)
    extractor = load_feature_extractor(model, config)
    freq, time = config.patch_grid
    params = count_parameters(config)
    rows = [
        ("model", str(args.model)),
        ("parameters", f"{params:,} ({params / 1e6:.1f} M)"),
        (
            "layers x hidden x heads",
            f"{config.num_hidden_layers} x {config.hidden_size} x {config.num_attention_heads}",
        ),
        (
            "window",
            f"{config.max_length} frames = {config.max_length * 0.01:.2f} s at {extractor.sampling_rate} Hz",
        ),
        (
            "patches",
            f"{freq} x {time} (patch {config.patch_size}, strides {config.frequency_stride}/{config.time_stride})",
        ),
        ("mel bins", str(config.num_mel_bins)),
        ("labels", f"{config.num_labels} ({default_activation(config)} scores)"),
        (
            "normalisation",
            f"mean {extractor.mean}, std {extractor.std}" if extractor.do_normalize else "off",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return EXIT_OK
