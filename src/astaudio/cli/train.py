"""`astaudio finetune`, `evaluate`, `norm-stats` and `average-checkpoints`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path

from ..constants import PREPROCESSOR_NAME
from ..presets import PRESETS, TrainConfig
from .common import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    UsageError,
    device_name,
    non_negative_int,
    positive_int,
)

# override flags that only take positive integers (0 would divide by zero or train nothing)
POSITIVE_FIELDS = {
    "warmup_steps",
    "batch_size",
    "epochs",
    "grad_accum",
    "scheduler_step",
    "max_length",
    "keep_last",
}


def override_fields() -> list[dataclasses.Field]:
    """TrainConfig's fields that finetune exposes as --NAME flags (those with a help text)."""
    return [f for f in dataclasses.fields(TrainConfig) if "help" in f.metadata]


def _add_override_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field with a help text: typed from the field's annotation,
    --NAME/--no-NAME for booleans, default None (the preset's value)."""
    hints = typing.get_type_hints(TrainConfig)
    for spec in override_fields():
        kind = hints[spec.name]
        if typing.get_origin(kind) in (typing.Union, types.UnionType):
            kind = next(a for a in typing.get_args(kind) if a is not type(None))  # X | None -> X
        flag = "--" + spec.name.replace("_", "-")
        text = f"{spec.metadata['help']} (default: {spec.metadata.get('default_text', 'from the preset')})"
        if kind is bool:
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=None, help=text
            )
        elif "choices" in spec.metadata:
            parser.add_argument(flag, choices=spec.metadata["choices"], default=None, help=text)
        else:
            kind = positive_int if spec.name in POSITIVE_FIELDS else kind
            parser.add_argument(flag, type=kind, default=None, help=text)


def _add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--labels",
        default=None,
        metavar="SET|FILE.csv",
        help="class list and order: a class_labels_indices.csv (index,mid,display_name) or a "
        "packaged set (audioset, esc50, speechcommands); needed for the AST repository's JSON "
        "datafiles",
    )
    parser.add_argument(
        "--delimiter", default=";", help="between labels in a CSV manifest (default: %(default)s)"
    )
    parser.add_argument(
        "--workers",
        type=non_negative_int,
        default=2,
        help="DataLoader worker processes (default: %(default)s)",
    )


def add_parsers(commands) -> None:
    tune = commands.add_parser(
        "finetune",
        help="fine-tune (or train from scratch) on a labelled dataset",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Fine-tune an AST model. DATA is a folder with one subfolder per class, a CSV "
        "manifest (path,labels[,split]) or the AST repository's JSON datafile.\n"
        "Presets carry the AST repository's recipes; every value can be overridden. Without "
        "--preset: the optimiser defaults, no augmentation, and the starting model's clip length "
        "and normalisation (from scratch, give --max-length). The effective recipe is printed "
        "and saved as train_config.json in the run folder.\n"
        "Every epoch writes a checkpoint of about 3x the model's size (the weights and Adam's two "
        "moments): --keep-last N keeps the newest N (and the best), --save-optimizer last keeps "
        "Adam's state only in the newest (enough to --resume).\n\n"
        "examples:\n"
        "  astaudio finetune --model MIT/ast-finetuned-audioset-10-10-0.4593 --preset esc50 \\\n"
        "      --train esc50/ --valid-fraction 0.2 --output-dir runs/esc\n"
        "  astaudio finetune --model-config hidden_size=192 num_hidden_layers=6 num_attention_heads=3 \\\n"
        "      --preset speechcommands --train data/manifest.csv --output-dir runs/kws\n"
        "  torchrun --nproc_per_node 2 -m astaudio finetune ...   (several processes)",
    )
    tune.add_argument(
        "--model",
        "-m",
        default=None,
        help="pretrained model (hub id, folder or bundled name such as 'keywords'); omit with "
        "--model-config to start from random weights (or from ImageNet with --init-from)",
    )
    tune.add_argument(
        "--model-config",
        nargs="+",
        default=None,
        metavar="KEY=VALUE",
        help="ASTConfig values, e.g. hidden_size=192 num_hidden_layers=6",
    )
    tune.add_argument(
        "--init-from",
        type=Path,
        default=None,
        metavar="DEIT.pth",
        help="with --model-config: start the encoder from a timm DeiT state dict file "
        "(deit_base_distilled_patch16_384), as the AST paper does (layer-norm eps 1e-6 in the "
        "blocks, 1e-5 in the head)",
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
        "--resume",
        action="store_true",
        help="continue from the newest checkpoint in --output-dir that loads",
    )
    tune.add_argument(
        "--overwrite",
        action="store_true",
        help="clear --output-dir first (a folder holding files is refused otherwise)",
    )
    tune.add_argument(
        "--multi-label",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="sigmoid outputs and multi-hot targets (default: when an item has several labels; "
        "an AST JSON datafile is single-label only when every item has one label and --loss ce)",
    )
    _add_override_arguments(tune)
    tune.add_argument(
        "--wa",
        type=int,
        nargs=2,
        default=None,
        metavar=("FIRST", "LAST"),
        help="average the weights of these epochs at the end",
    )
    tune.add_argument(
        "--norm-stats",
        type=Path,
        default=None,
        help="preprocessor_config.json from `astaudio norm-stats` (mean/std)",
    )
    tune.add_argument(
        "--device",
        default=None,
        type=device_name,
        help="cpu, cuda, cuda:N or mps (default: a GPU when there is one)",
    )
    tune.add_argument(
        "--cache-dir", type=Path, default=None, help="cache unaugmented features here"
    )
    tune.add_argument("--quiet", "-q", action="store_true")
    _add_data_arguments(tune)
    tune.set_defaults(run=run_finetune)

    evaluate = commands.add_parser(
        "evaluate",
        help="accuracy / mAP of one or several models (and their ensemble) on a dataset",
        description="Evaluate models on DATA (layouts as for finetune). Single-label data: accuracy, "
        "per-class precision/recall and a confusion matrix (CSV and PNG); multi-label: mAP, mAUC, "
        "d-prime and per-class AP. Several models are also evaluated as an ensemble (averaged scores).",
    )
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
    evaluate.add_argument("--batch-size", type=positive_int, default=16)
    evaluate.add_argument(
        "--device", default=None, type=device_name, help="cpu, cuda, cuda:N or mps"
    )
    evaluate.add_argument(
        "--json", action="store_true", help="print the metrics as JSON instead of a table"
    )
    _add_data_arguments(evaluate)
    evaluate.set_defaults(run=run_evaluate)

    stats = commands.add_parser(
        "norm-stats",
        help="dataset fbank mean/std into a preprocessor_config.json",
        description="Compute the dataset's log-mel mean and std as the AST repository's "
        "get_norm_stats does (training augmentations on, normalisation off) and write them into a "
        "preprocessor_config.json that finetune (--norm-stats) and inference use.",
    )
    stats.add_argument("data", type=Path, metavar="DATA")
    stats.add_argument(
        "--model",
        "-m",
        default=None,
        help="take max_length/mel bins from this model's extractor (default: the model in "
        "--output when it is a model folder)",
    )
    stats.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=None,
        help="augmentations and max_length of a recipe",
    )
    stats.add_argument("--max-length", type=positive_int, default=None)
    stats.add_argument(
        "--output",
        "-o",
        type=Path,
        default=Path(PREPROCESSOR_NAME),
        help="file or folder to write; an existing preprocessor_config.json gets only its mean "
        "and std replaced (default: %(default)s)",
    )
    stats.add_argument(
        "--num-batches", type=positive_int, default=None, help="stop after this many batches"
    )
    stats.add_argument("--batch-size", type=positive_int, default=100)
    _add_data_arguments(stats)
    stats.set_defaults(run=run_norm_stats)

    average = commands.add_parser(
        "average-checkpoints",
        help="average the weights of a run's epochs, or of model folders",
        description="Average the weights of a finetune run's epoch checkpoints (the AST recipe's "
        "weight averaging) into a model folder that classify, evaluate and export take. An "
        "average of the later epochs often generalises better than the best single epoch. "
        "With --models, average whole model folders instead, with equal shares (a 'model "
        "soup' of fine-tunes that started from the same weights; the same classes in each).",
        epilog="examples:\n  astaudio average-checkpoints runs/kws --epochs 8-20 -o kws-avg\n"
        "  astaudio average-checkpoints --models runs/a/averaged runs/b/averaged -o soup",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    average.add_argument(
        "run_dir", type=Path, nargs="?", metavar="RUN",
        help="a finetune output folder (holds checkpoints/); with --epochs",
    )  # fmt: skip
    average.add_argument("--epochs", help="range FIRST-LAST, e.g. 6-25, or one epoch")
    average.add_argument(
        "--models", type=Path, nargs="+", metavar="FOLDER",
        help="model folders to average instead of a run's epochs (config from the first)",
    )  # fmt: skip
    average.add_argument(
        "--output", "-o", type=Path, required=True, metavar="FOLDER", help="model folder to write"
    )
    average.set_defaults(run=run_average)


# -- datasets -------------------------------------------------------------------------------
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
    from ..data import load_dataset_spec, validate_items

    if not path.exists():
        raise UsageError(f"{path}: no such dataset file or folder")
    spec = load_dataset_spec(path, labels_csv=args.labels, split=split, delimiter=args.delimiter)
    good, bad = validate_items(spec.items)
    for file, reason in bad:
        print(f"astaudio: dropped {file}: {reason}", file=sys.stderr)
    if not good:
        raise UsageError(f"{path}: no readable audio files")
    return spec.with_items(good), bad


def _read_json(path: Path, what: str) -> dict:
    try:
        values = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable {what} ({exc})") from None
    if not isinstance(values, dict):
        raise UsageError(f"{path}: not a {what}")
    return values


# -- commands -------------------------------------------------------------------------------
def run_finetune(args) -> int:
    from ..presets import preset_config
    from ..train import finetune

    if args.model is None and not args.model_config and args.init_from is None:
        raise UsageError(
            "give --model (a pretrained model) or --model-config (random initialisation)"
        )
    overrides = {spec.name: getattr(args, spec.name) for spec in override_fields()}
    overrides["num_workers"] = args.workers
    if args.wa:
        overrides["wa_start"], overrides["wa_end"] = args.wa
    if args.norm_stats is not None:
        stats = _read_json(Path(args.norm_stats), "preprocessor_config.json")
        for key in ("mean", "std"):  # an explicit --mean/--std wins
            if overrides[key] is None:
                if key not in stats:
                    raise UsageError(f"{args.norm_stats}: has no {key}")
                overrides[key] = stats[key]
    train_config = preset_config(args.preset, **overrides)
    state = finetune(
        args.train,
        args.valid,
        args.output_dir,
        model=args.model,
        train=train_config,
        model_config=_parse_model_config(args.model_config),
        init_from=args.init_from,
        resume=args.resume,
        overwrite=args.overwrite,
        valid_fraction=args.valid_fraction,
        labels=args.labels,
        delimiter=args.delimiter,
        multi_label=args.multi_label,
        device=args.device,
        progress=not args.quiet and sys.stderr.isatty(),
        verbose=not args.quiet,
        cache_dir=args.cache_dir,
        log_every=None if args.quiet else 50,
    )
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
    from ..evaluate import evaluate_models, format_report
    from ..metrics import metrics_to_jsonable

    spec, bad = _load_spec(args.data, args, args.split)
    report = evaluate_models(
        args.models,
        spec,
        args.output_dir,
        batch_size=args.batch_size,
        device=args.device,
        num_workers=args.workers,
        progress=sys.stderr.isatty(),
    )
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
    for path, reason in report["dropped"]:
        print(f"astaudio: dropped {path}: {reason}", file=sys.stderr)
    return EXIT_SOME_FAILED if bad or report["dropped"] else EXIT_OK


def run_norm_stats(args) -> int:
    from ..data import AugmentConfig, compute_norm_stats, save_norm_stats
    from ..features import ASTFeatureExtractor
    from ..presets import preset_config

    recipe = preset_config(args.preset)
    output = args.output
    target = output if output.suffix == ".json" else output / PREPROCESSOR_NAME
    model = args.model
    if model is None and output.suffix != ".json" and (output / "config.json").is_file():
        model = output  # -o MODEL_DIR: statistics at that model's geometry
    if model is not None:
        from ..bundled import resolve_bundled
        from ..config import ASTConfig
        from ..inference import load_feature_extractor

        folder = resolve_bundled(model)
        extractor = load_feature_extractor(folder, ASTConfig.from_pretrained(folder))
    elif target.is_file():
        extractor = ASTFeatureExtractor(**_read_json(target, "preprocessor_config.json"))
    else:
        extractor = ASTFeatureExtractor(
            max_length=args.max_length or (recipe.max_length if args.preset else 1024)
        )
    if target.is_file():
        written = _read_json(target, "preprocessor_config.json")
        for name in ("max_length", "num_mel_bins"):
            value = (
                args.max_length
                if name == "max_length" and args.max_length
                else getattr(extractor, name)
            )
            if name in written and written[name] != value:
                raise UsageError(
                    f"{target} is for {name}={written[name]}, but the statistics would be "
                    f"computed at {value}: they must match the geometry they are used with"
                )
    if args.max_length:
        extractor.max_length = args.max_length
    augment = (
        AugmentConfig(freqm=recipe.freqm, timem=recipe.timem, mixup=recipe.mixup)
        if args.preset
        else None
    )
    spec, bad = _load_spec(args.data, args)
    mean, std = compute_norm_stats(
        spec,
        extractor,
        augment=augment,
        batch_size=args.batch_size,
        num_batches=args.num_batches,
        num_workers=args.workers,
    )
    written_to = save_norm_stats(target, mean, std, extractor)
    print(f"mean {mean:.7f}  std {std:.7f}  ({len(spec.items)} files) -> {written_to}")
    return EXIT_SOME_FAILED if bad else EXIT_OK


def run_average(args) -> int:
    from ..train import average_checkpoints, average_models

    if args.models is not None and (args.run_dir is not None or args.epochs is not None):
        raise UsageError("give either RUN with --epochs or --models, not both")
    if args.models is None and (args.run_dir is None or args.epochs is None):
        raise UsageError("give RUN with --epochs FIRST-LAST (or --models FOLDER...)")
    if args.epochs is not None:
        first, sep, last = args.epochs.partition("-")
        last = last if sep else first  # one epoch: "5" is "5-5"
        if not first.isdigit() or not last.isdigit() or not 1 <= int(first) <= int(last):
            raise UsageError(
                f"--epochs takes a range FIRST-LAST like 6-25 (or one epoch), got {args.epochs!r}"
            )
    try:
        if args.models is not None:
            folder = average_models(args.models, args.output)
        else:
            folder = average_checkpoints(args.run_dir, int(first), int(last), args.output)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    print(f"wrote {folder}", file=sys.stderr)
    return EXIT_OK
