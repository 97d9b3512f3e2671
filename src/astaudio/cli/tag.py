"""`astaudio classify`, `embed`, `plot` and `info`: running a model on audio."""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Sequence
from pathlib import Path

from ..output import FORMATS, AtomicOutput
from .common import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    UsageError,
    add_backend_arguments,
    add_model_arguments,
    classifier_from_args,
    finite_float,
    non_negative_float,
    non_negative_int,
    positive_int,
    report_skipped,
    terminate_as_interrupt,
    top_k_value,
)

M_MMAP_THRESHOLD = -3  # glibc mallopt parameter
LABELS_SHOWN = 8  # label names `info` shows without --labels
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
        type=top_k_value,
        default=None,
        metavar="K|all",
        help="at most K labels per clip and segment, or 'all' (default: 5; with --threshold or "
        "--thresholds: all that reach it)",
    )
    classify.add_argument(
        "--threshold",
        type=finite_float,
        default=None,
        help="only labels scoring at least this; also where events start (default for events: 0.5)",
    )
    classify.add_argument(
        "--thresholds",
        type=Path,
        default=None,
        metavar="CSV",
        help="per-class thresholds, rows 'label,threshold' (tuned operating points); labels it "
        "leaves out use --threshold, or are not reported",
    )
    classify.add_argument(
        "--min-event",
        type=non_negative_float,
        default=0.0,
        metavar="SECONDS",
        help="drop events shorter than this (default: %(default)s)",
    )
    classify.add_argument(
        "--event-gap",
        type=non_negative_float,
        default=0.0,
        metavar="SECONDS",
        help="join events of one label at most this far apart (default: %(default)s)",
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
        default=None,
        help="output format (default: from the --output file's extension, .json .jsonl .csv .tsv "
        ".vtt .srt .labels.txt, else table); audacity (label track), vtt and srt hold one "
        "input's events",
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
        help="with --output-dir: skip inputs whose result file holds a success (failures and "
        "interrupted files are redone)",
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
    info.add_argument(
        "--labels",
        nargs="?",
        type=positive_int,
        const=0,
        default=None,
        metavar="N",
        help="list the label names, all of them or the first N",
    )
    info.set_defaults(run=run_info)

    models = commands.add_parser(
        "models", help="list the models bundled with astaudio (usable offline by name)"
    )
    models.set_defaults(run=run_models)


# -- inputs and progress --------------------------------------------------------------------
def _expand_inputs(inputs: Sequence[str]) -> tuple[list, list[str]]:
    """(items, problems): files or stdin bytes to embed, and one line per input that isn't."""
    from ..audio import expand_inputs
    from ..names import printable_name

    items: list = []
    if "-" in inputs:
        items.append(sys.stdin.buffer.read())
    entries = expand_inputs([p for p in inputs if p != "-"])
    items += [e.path for e in entries if e.ok]
    problems = [f"'{printable_name(e.name)}': {e.error}" for e in entries if not e.ok]
    return items, problems


def _regular_file(item) -> bool:
    import os
    import stat

    try:
        return not isinstance(item, bytes) and stat.S_ISREG(os.stat(item).st_mode)
    except (OSError, ValueError):
        return False


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
    try:
        return classifier_from_args(args)
    except ValueError as exc:  # a device this machine lacks, a dtype it can't run
        raise UsageError(str(exc)) from None


def _durations(items: list) -> list[float]:
    from ..audio import audio_info

    out = []
    for item in items:
        try:  # a pipe is read once, by the decoder: never probed
            out.append(audio_info(item).duration if _regular_file(item) else 0.0)
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
    """'file': reason, the file's name printable whatever bytes it holds."""
    from ..names import printable_name

    return f"'{printable_name(source)}': {error}"


# -- classify -------------------------------------------------------------------------------
def _top_k(args) -> int | None:
    if args.top_k == "all":
        return None
    if args.top_k is None:  # a threshold decides; 5 labels otherwise
        return None if args.threshold is not None or args.thresholds is not None else 5
    return args.top_k


def _thresholds(args, labels: Sequence[str]):
    """--threshold and --thresholds as the classifier takes them (validated against labels)."""
    from ..events import read_thresholds, threshold_vector

    if args.thresholds is None:
        return args.threshold
    try:
        per_class = read_thresholds(args.thresholds)
        return threshold_vector(per_class, labels, default=args.threshold)
    except OSError as exc:
        raise UsageError(f"--thresholds {args.thresholds}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"--thresholds: {exc}") from None


def _check_window(classifier, args) -> None:
    """Usage errors for a window or hop the model can't take; a warning for gaps."""
    from ..inference import window_coverage

    try:
        window, hop = classifier.check_window(args.window, args.hop)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if hop > window:
        print(
            f"astaudio {args.command}: warning: --hop {hop:g} s is longer than the window "
            f"{window:g} s: {window_coverage(window, hop):.0%} of long recordings is classified",
            file=sys.stderr,
        )


def _classify_plan(args):
    from ..batch import plan_classify
    from ..output import resolve_format

    fmt = resolve_format(args.format, args.output)
    try:
        return plan_classify(
            args.inputs,
            fmt,
            output=args.output,
            output_dir=args.output_dir,
            skip_existing=args.skip_existing,
            read_stdin=lambda: sys.stdin.buffer.read(),
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def run_classify(args) -> int:
    from ..audio import native_stderr_silenced
    from ..batch import run_classify as classify_and_write

    plan = _classify_plan(args)
    if plan.skipped and not args.quiet:
        print(f"skipping {plan.skipped} inputs with existing results", file=sys.stderr)
    order = plan.to_classify
    settings: dict = {}
    classifier = None
    if order:  # the model and every argument are checked before anything is written
        classifier = _load_classifier(args)
        _check_window(classifier, args)
        settings = dict(
            top_k=_top_k(args),
            threshold=_thresholds(args, classifier.labels),
            window=args.window,
            hop=args.hop,
            pooling=args.pooling,
            batch_size=args.batch_size,
            num_workers=args.workers,
            min_event_duration=args.min_event,
            max_event_gap=args.event_gap,
        )
    position = {index: n for n, index in enumerate(order)}
    with native_stderr_silenced(), terminate_as_interrupt():
        durations = _durations([plan.item(i) for i in order])
        progress = _progress(sum(durations), len(order), args.quiet)
        advanced = [0.0] * len(order)  # audio seconds shown on the bar, per input
        counts = {"ok": 0, "failed": 0}

        def on_progress(n: int, seconds: float) -> None:
            advanced[n] += seconds
            progress.update(seconds)

        def on_result(result) -> None:
            if result.index in position:
                n = position[result.index]
                progress.update(max(0.0, durations[n] - advanced[n]))  # failed or estimated
            counts["ok" if result.ok else "failed"] += 1
            progress.set_postfix(ok=counts["ok"], failed=counts["failed"], refresh=False)

        def report(entry, reason: str) -> None:
            report_skipped(_with_source(entry.name, reason), progress)

        def warn(entry, message: str) -> None:
            line = f"astaudio: warning: {_with_source(entry.name, message)}"
            if progress.disable:
                print(line, file=sys.stderr)
            else:
                progress.write(line, file=sys.stderr)

        if order:
            settings["on_progress"] = on_progress
        to_stdout = plan.output is None and plan.output_dir is None
        try:
            summary = classify_and_write(
                plan,
                classifier,
                stream=sys.stdout if to_stdout else None,
                report=report,
                warn=warn,
                on_result=on_result,
                **settings,
            )
        finally:
            progress.close()
    return EXIT_SOME_FAILED if summary.failed else EXIT_OK


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
    items, problems = _expand_inputs(args.inputs)
    for problem in problems:
        report_skipped(problem)
    if not items:
        return EXIT_SOME_FAILED
    classifier = _load_classifier(args)
    _check_window(classifier, args)
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
        # under a temporary name, renamed into place: a stopped run leaves any earlier file whole
        with AtomicOutput(args.output, binary=True) as stream:
            if suffix == ".npz":
                np.savez(
                    stream,
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
                pq.write_table(table, stream)
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
    names = [config.id2label[i] for i in range(config.num_labels)]
    if args.labels is None:
        shown = ", ".join(names[:LABELS_SHOWN])
        more = (
            f", ... ({len(names)} in all; --labels lists them)" if len(names) > LABELS_SHOWN else ""
        )
        rows.append(("label names", shown + more))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    if args.labels is not None:
        count = args.labels or len(names)
        print(f"\nlabels ({min(count, len(names))} of {len(names)}):")
        for number, name in enumerate(names[:count]):
            print(f"{number:>5}  {name}")
    return EXIT_OK


def run_models(args) -> int:
    """The bundled models: name, labels, window, from each folder's config (no torch)."""
    import json

    from ..bundled import BUNDLED_DIR, bundled_models

    names = bundled_models()
    if not names:
        print("no bundled models in this installation", file=sys.stderr)
        return EXIT_OK
    for name in names:
        config = json.loads((BUNDLED_DIR / name / "config.json").read_text())
        labels = len(config.get("id2label") or {}) or config.get("num_labels", "?")
        seconds = config.get("max_length", 1024) * 0.01
        print(f"{name:<16}{labels} labels, {seconds:.2f} s windows   (--model {name})")
    return EXIT_OK
