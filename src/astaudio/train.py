"""Fine-tuning AST: the AST repository's recipes (AudioSet, ESC-50, Speech Commands) as presets.

One process or several (torchrun, DistributedDataParallel, gloo on CPU / nccl on GPU). Every
epoch writes a checkpoint (model folder + optimizer/scheduler/RNG state); `resume=True` continues
from the newest one and reaches the same weights as an uninterrupted run: batches come from a
sampler seeded by (seed, epoch) and augmentations from (seed, epoch, index), never global state.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import shutil  # noqa: F401 - tests patch train.shutil.copy2, the module runs.py copies with
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.utils.data import DataLoader, Sampler

from .config import ASTConfig
from .data import (
    AudioDataset,
    AugmentConfig,
    DatasetSpec,
    balanced_sample_weights,
    collate_dropping,
)
from .datasets import PreparedData, prepare_datasets  # re-exported
from .errors import AstAudioError, CheckpointError, ConfigurationError
from .features import ASTFeatureExtractor
from .metrics import dataset_metrics
from .model import ASTForAudioClassification
from .presets import PRESETS, TrainConfig, preset_config
from .runs import (  # noqa: F401 (re-exported)
    CHECKPOINT_NAME,
    DROPPED_FILE,
    RECIPE_FILE,
    STATE_FILE,
    RunState,
    _copy_model,
    _one_line,
    _prepare_run_folder,
    _prune_checkpoints,
    _record_dropped,
    _recorded_recipe,
    _save_epoch,
    _write_atomic,
    _write_logs,
    average_checkpoints,
    average_models,
    checkpoint_dir,
    epoch_checkpoints,
    latest_checkpoint,
    load_trainer_state,
)
from .scores import apply_activation

logger = logging.getLogger(__name__)

WARMUP_EVERY = 50  # AST: linear warm-up over the first 1000 steps, lr updated every 50


def resolve_recipe(
    train: TrainConfig, model: str | os.PathLike | None, model_config: dict[str, Any] | None = None
) -> tuple[TrainConfig, dict[str, str]]:
    """Fill max_length, mean and std left None from the starting model (its config and feature
    extractor). Returns (the complete config, {field: where its value came from}).

    From scratch (model None) max_length must be given (a preset or an explicit value, or
    model_config's max_length); mean/std default to the AudioSet statistics.
    """
    origin: dict[str, str] = {}
    values: dict[str, Any] = {}
    if all(getattr(train, name) is not None for name in ("max_length", "mean", "std")):
        return train, origin
    if model is None:
        length = train.max_length or (model_config or {}).get("max_length")
        if length is None:
            raise ConfigurationError(
                "training from scratch needs a clip length: give a preset or max_length"
            )
        values["max_length"] = int(length)
        extractor = ASTFeatureExtractor()
        for name in ("mean", "std"):
            if getattr(train, name) is None:
                values[name] = float(getattr(extractor, name))
                origin[name] = "AudioSet's statistics; astaudio norm-stats computes your data's"
    else:
        from .inference import load_feature_extractor

        config = ASTConfig.from_pretrained(model)
        extractor = load_feature_extractor(model, config)
        if train.max_length is None:
            values["max_length"] = int(config.max_length)
            origin["max_length"] = "the model"
        for name in ("mean", "std"):
            if getattr(train, name) is None:
                values[name] = float(getattr(extractor, name))
                origin[name] = "the model"
    return dataclasses.replace(train, **values), origin


def _centres_short_clips(source: str | None, config: ASTConfig) -> bool:
    """Whether the model fine-tuned from centres short clips (its preprocessor says so): the
    run trains that way and its saved preprocessor keeps the setting."""
    if source is None:
        return False
    from .inference import load_feature_extractor

    return bool(getattr(load_feature_extractor(source, config), "center_short_clips", False))


def describe_recipe(train: TrainConfig, origin: dict[str, str] | None = None) -> str:
    """One line per group of settings, for the start of a run's log."""
    origin = origin or {}

    def show(name: str) -> str:
        value = getattr(train, name)
        return f"{name}={value}" + (f" (from {origin[name]})" if name in origin else "")

    groups = [
        (
            "optimiser",
            [
                "lr",
                "batch_size",
                "grad_accum",
                "epochs",
                "weight_decay",
                "betas",
                "warmup",
                "scheduler_start",
                "scheduler_step",
                "scheduler_decay",
                "clip_grad",
                "amp",
            ],
        ),
        ("objective", ["loss", "metric", "balanced", "seed"]),
        ("features", ["max_length", "mean", "std"]),
        ("augmentation", ["freqm", "timem", "mixup", "noise"]),
        ("checkpoints", ["keep_last", "save_optimizer", "wa_start", "wa_end"]),
    ]
    return "\n".join(f"  {title}: " + " ".join(show(n) for n in names) for title, names in groups)


# -- distributed helpers --------------------------------------------------------------------
@dataclass
class Distributed:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed() -> Distributed:
    """Join the process group torchrun set up (WORLD_SIZE > 1); a no-op for one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
    return Distributed(dist.get_rank(), dist.get_world_size(), local)


class EpochSampler(Sampler[int]):
    """This process's share of a global order fixed by (seed, epoch).

    The global order is a permutation (or, with weights, draws with replacement as AST's
    balanced sampler does). Each global batch of `batch_size` consecutive indices is dealt out
    so that process r takes positions r, r + world, ...: with equal shares, the average of the
    processes' mean losses equals one process's mean over the whole batch.
    """

    def __init__(self, size: int, batch_size: int, seed: int, weights: np.ndarray | None = None,
                 rank: int = 0, world: int = 1):  # fmt: skip
        if batch_size % world:
            raise ValueError(f"batch size {batch_size} must be divisible by {world} processes")
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float64)
        self.rank, self.world, self.epoch = rank, world, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def global_order(self) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        if self.weights is None:
            return torch.randperm(self.size, generator=generator)
        return torch.multinomial(self.weights, self.size, replacement=True, generator=generator)

    def __iter__(self) -> Iterator[int]:
        order = self.global_order()
        usable = len(order) // self.batch_size * self.batch_size  # drop the ragged last batch
        return iter(order[:usable][self.rank :: self.world].tolist())

    def __len__(self) -> int:
        return self.size // self.batch_size * self.batch_size // self.world


# -- model ---------------------------------------------------------------------------------
def _check_model_config(model_config: dict[str, Any] | None) -> dict[str, Any]:
    import inspect

    known = set(inspect.signature(ASTConfig.__init__).parameters) - {"self", "extra"}
    unknown = sorted(set(model_config or {}) - known)
    if unknown:
        raise ConfigurationError(
            f"unknown model setting(s) {', '.join(unknown)}; ASTConfig takes {', '.join(sorted(known))}"
        )
    return dict(model_config or {})


def build_model(
    model: str | os.PathLike | None,
    labels: list[str],
    train: TrainConfig,
    multi_label: bool,
    model_config: dict[str, Any] | None = None,
    *,
    init_from: str | os.PathLike | None = None,
    say: Any = None,
) -> ASTForAudioClassification:
    """The model to fine-tune for `labels`.

    A pretrained model keeps its encoder (position embeddings adapted to train.max_length) and
    the rows of its classifier whose label names are in `labels`, reordered to `labels`' order;
    rows of new labels are initialised afresh (`say` is told how many). Without `model`, a
    randomly initialised one from `model_config`, or, with `init_from` (a timm DeiT state dict
    file), one whose encoder starts from ImageNet as in the AST paper (layer-norm eps 1e-6).
    """
    from .bundled import resolve_bundled

    say = say or (lambda text: None)
    model_config = _check_model_config(model_config)
    id2label = dict(enumerate(labels))
    problem = "multi_label_classification" if multi_label else "single_label_classification"
    overrides = dict(id2label=id2label, max_length=train.max_length, problem_type=problem)
    if model is None:
        if init_from is not None:
            from .checkpoints import load_state_dict_file
            from .original import (
                ORIGINAL_HEAD_LAYER_NORM_EPS,
                ORIGINAL_LAYER_NORM_EPS,
                init_from_deit,
            )

            # the AST paper's model: timm's blocks (eps 1e-6), torch's default for the head's
            model_config.setdefault("layer_norm_eps", ORIGINAL_LAYER_NORM_EPS)
            model_config.setdefault("classifier_layer_norm_eps", ORIGINAL_HEAD_LAYER_NORM_EPS)
            config = ASTConfig(**{**model_config, **overrides})
            torch.manual_seed(train.seed)
            network = init_from_deit(config, load_state_dict_file(init_from))
            say(f"encoder initialised from ImageNet (DeiT) weights {init_from}")
            return network
        config = ASTConfig(**{**model_config, **overrides})
        torch.manual_seed(train.seed)
        return ASTForAudioClassification(config)
    if init_from is not None:
        raise ConfigurationError("init_from starts from ImageNet weights: give it without a model")
    folder = resolve_bundled(model)
    network = ASTForAudioClassification.from_pretrained(
        folder, **{**model_config, "max_length": train.max_length, "problem_type": problem}
    )
    _match_head(network, labels, say)
    return network


def _match_head(network: ASTForAudioClassification, labels: list[str], say: Any) -> None:
    """Give the classifier one row per label in `labels`' order, rows matched by label name."""
    from .checkpoints import relabel_classifier

    before = network.config.num_labels
    if [network.config.id2label[i] for i in range(before)] == list(labels):
        return
    kept, moved = relabel_classifier(network, labels)
    new = len(labels) - kept
    if kept:
        say(
            f"classifier: {kept} of {len(labels)} labels keep the model's rows (matched by "
            f"name, {moved} reordered); {new} new label(s) initialised afresh"
        )
    else:
        say(
            f"classifier: a new head for {len(labels)} labels (none of the model's "
            f"{before} labels matches by name)"
        )


def compute_loss(logits: torch.Tensor, labels: torch.Tensor, kind: str) -> torch.Tensor:
    """logits (B, C); labels (B, C) multi-hot or mixed (soft) targets."""
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(logits, labels)
    if kind == "ce":
        return F.cross_entropy(logits, labels)  # soft targets: equals AST's argmax CE for one-hot
    raise ValueError(f"loss must be bce or ce, got {kind!r}")


def targets_matrix(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Integer class labels (B,) to one-hot (B, C); float targets pass through."""
    if labels.dtype in (torch.int64, torch.int32):
        return F.one_hot(labels.long(), num_classes).float()
    return labels.float()


@torch.inference_mode()
def predict(
    model,
    loader: DataLoader,
    device: torch.device,
    progress: bool = False,
    dropped: list[tuple[str, str]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(logits (N, C), targets (N, C)) over a loader, in its order.

    Items whose files failed to decode (a loader with :func:`collate_dropping`) are left out;
    their (path, reason) are appended to `dropped` when given.
    """
    from tqdm import tqdm

    model.eval()
    logits, targets = [], []
    for batch in tqdm(loader, desc="evaluating", leave=False, disable=not progress):
        if dropped is not None:
            dropped.extend(batch.get("dropped", []))
        if batch["input_values"] is None:
            continue
        out = model.classify(batch["input_values"].to(device)).logits.float().cpu()
        logits.append(out)
        targets.append(targets_matrix(batch["labels"], out.shape[-1]))
    if not logits:
        raise AstAudioError("no item of the dataset could be decoded")
    return torch.cat(logits).numpy(), torch.cat(targets).numpy()


def score_metrics(logits: np.ndarray, targets: np.ndarray, multi_label: bool) -> dict[str, Any]:
    """Metrics of logits as the AST repository computes them: sigmoid scores for mAP, mAUC and
    d-prime, for single-label tasks too (accuracy, the argmax, is the same either way)."""
    return dataset_metrics(apply_activation(logits, "sigmoid"), targets, multi_label)


# -- the run ---------------------------------------------------------------------------------
def finetune(
    train_data: str | os.PathLike | DatasetSpec,
    valid_data: str | os.PathLike | DatasetSpec | None,
    output_dir: str | os.PathLike,
    *,
    model: str | os.PathLike | None = None,
    train: TrainConfig | None = None,
    model_config: dict[str, Any] | None = None,
    init_from: str | os.PathLike | None = None,
    resume: bool = False,
    overwrite: bool = False,
    valid_fraction: float | None = None,
    labels: str | os.PathLike | None = None,
    delimiter: str = ";",
    multi_label: bool | None = None,
    device: str | None = None,
    progress: bool = True,
    verbose: bool = True,
    max_steps_per_epoch: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    log_every: int | None = None,
    waveform_augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
) -> RunState:
    """Train and validate; returns the final RunState. See the module docstring.

    train_data / valid_data: dataset paths or :class:`DatasetSpec` s, turned into datasets by
    :func:`prepare_datasets` (with valid_fraction, labels, delimiter, multi_label); files that
    can't be read are listed in the run's dropped_files.txt.
    model: hub id, folder or bundled name; None trains from `model_config` (random weights, or
    ImageNet's with `init_from`, a timm DeiT state dict file).
    train: the recipe (default TrainConfig()); max_length/mean/std left None come from the
    model. The effective recipe is printed (verbose) and saved as train_config.json.
    output_dir: the run folder; it must be empty unless `resume` (continue from the newest
    checkpoint that loads) or `overwrite` (clear it first).
    progress: a tqdm bar per epoch; log_every: without a bar, a line on stderr every N batches.
    waveform_augment: per-clip waveform augmentation of the training set (see
    :class:`astaudio.augment.WaveformAugment`); pass the same one again with ``resume``.
    """
    from tqdm import tqdm

    train = train or TrainConfig()
    run = Path(output_dir)
    ddp = init_distributed()

    def say(text: str) -> None:
        if verbose and ddp.main:
            print(text, file=sys.stderr, flush=True)

    def report_dropped(file: str, reason: str) -> None:  # said even when not verbose
        if ddp.main:
            print(f"astaudio: dropped {file}: {reason}", file=sys.stderr, flush=True)

    _check_model_config(model_config)
    if init_from is not None and model is not None:
        raise ConfigurationError("init_from starts from ImageNet weights: give it without a model")
    _prepare_run_folder(run, resume, overwrite, ddp.main)
    if ddp.world > 1:
        dist.barrier()  # every process has looked at the folder before the first writes it
    source = _resolved(model)
    origin: dict[str, str] = {}
    if resume:
        train, origin = _recorded_recipe(run, train)
    train, more = resolve_recipe(train, source, model_config)
    origin.update(more)
    data = prepare_datasets(
        train_data,
        valid_data,
        valid_fraction=valid_fraction,
        labels=labels,
        delimiter=delimiter,
        multi_label=multi_label,
        loss=train.loss,
        seed=train.seed,
    )
    train_spec, valid_spec = data.train, data.valid
    for file, reason in data.dropped:
        report_dropped(file, reason)

    device_ = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device_.type == "cuda" and ddp.world > 1:
        device_ = torch.device("cuda", ddp.local_rank)
    torch.manual_seed(train.seed)
    if device_.type == "cpu":
        # Adam drives rarely-updated weights and their moments into denormal floats, which x86
        # CPUs process up to 100x slower; flushing them to zero keeps epochs at full speed.
        torch.set_flush_denormal(True)

    state = RunState()
    saved: dict[str, Any] | None = None
    resume_from: Path | None = None
    network = None
    if resume:
        for _, folder in reversed(epoch_checkpoints(run)):
            try:
                saved = load_trainer_state(folder)
                network = build_model(
                    str(folder), train_spec.labels, train, train_spec.multi_label, say=say
                )
            except (CheckpointError, OSError, ValueError) as error:
                say(f"skipping checkpoint {folder.name}: {_one_line(error)}")
                saved = None
                continue
            resume_from = folder
            break
        if resume_from is None and epoch_checkpoints(run):
            raise CheckpointError(
                f"no checkpoint in {run} could be loaded (see the notes above); "
                "--overwrite starts the run again"
            )
        if resume_from is None:
            say(f"no checkpoint in {run} yet: starting from the beginning")
    if network is None:
        network = build_model(
            source,
            train_spec.labels,
            train,
            train_spec.multi_label,
            model_config,
            init_from=init_from,
            say=say,
        )
    network.to(device_)
    say("recipe:\n" + describe_recipe(train, origin))
    extractor = ASTFeatureExtractor(num_mel_bins=network.config.num_mel_bins, max_length=train.max_length,
                                    mean=train.mean, std=train.std,
                                    center_short_clips=_centres_short_clips(source, network.config))  # fmt: skip
    augment = AugmentConfig(
        freqm=train.freqm,
        timem=train.timem,
        mixup=train.mixup,
        noise=train.noise,
        waveform=waveform_augment,
    )
    train_set = AudioDataset(train_spec, extractor, augment=augment, seed=train.seed,
                             cache_dir=cache_dir, label_format="multi_hot")  # fmt: skip
    weights = balanced_sample_weights(train_spec) if train.balanced else None
    sampler = EpochSampler(
        len(train_set), train.batch_size, train.seed, weights, ddp.rank, ddp.world
    )
    local_batch = train.batch_size // ddp.world
    batches = len(sampler) // local_batch
    if max_steps_per_epoch is not None:
        batches = min(batches, max_steps_per_epoch * train.grad_accum)
    # a remainder of micro-batches short of a full accumulation is dropped, deliberately: it
    # never steps and never leaks its gradient into the next epoch
    usable = batches // train.grad_accum * train.grad_accum
    if usable == 0:
        raise ConfigurationError(
            f"{len(train_set)} training items make {batches} batch(es) of {train.batch_size}, "
            f"less than one optimiser step of {train.grad_accum} batch(es)"
        )
    if usable < batches:
        say(
            f"the last {batches - usable} batch(es) of each epoch are left out (grad_accum "
            f"{train.grad_accum} does not divide {batches})"
        )
    valid_loader = None
    if valid_spec is not None and valid_spec.items:
        valid_set = AudioDataset(valid_spec, extractor, seed=train.seed, cache_dir=cache_dir,
                                 label_format="multi_hot")  # fmt: skip
        valid_loader = DataLoader(
            valid_set,
            batch_size=max(local_batch, 16),
            num_workers=train.num_workers,
            collate_fn=collate_dropping,
        )

    trainable = [p for p in network.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(
        trainable, lr=train.lr, weight_decay=train.weight_decay, betas=train.betas
    )
    milestones = list(range(train.scheduler_start, 1000, train.scheduler_step))
    scheduler = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones, gamma=train.scheduler_decay
    )
    scaler = torch.amp.GradScaler(device_.type, enabled=train.amp == "fp16")
    autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(train.amp or "")

    if saved is not None and resume_from is not None:
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        scaler.load_state_dict(saved["scaler"])
        torch.set_rng_state(saved["rng"])
        state = RunState(**json.loads(saved["run_state"]))
        say(f"resumed from {resume_from} (epoch {state.epoch})")

    model_for_step = network
    if ddp.world > 1:
        model_for_step = torch.nn.parallel.DistributedDataParallel(
            network, device_ids=[device_.index] if device_.type == "cuda" else None
        )
    if ddp.main:
        run.mkdir(parents=True, exist_ok=True)
        _write_atomic(
            run / RECIPE_FILE,
            json.dumps(
                {
                    **train.to_dict(),
                    "model": None if model is None else str(model),
                    "init_from": None if init_from is None else str(init_from),
                },
                indent=2,
            ),
        )
        extractor.save_pretrained(run)
        _record_dropped(run, data.dropped)
        if resume_from is not None:
            # a kill between an epoch's checkpoint and these copies left them stale or missing
            if state.best_epoch and checkpoint_dir(run, state.best_epoch).is_dir():
                _copy_model(checkpoint_dir(run, state.best_epoch), run / "best")
            _copy_model(resume_from, run / "last")

    while state.epoch < train.epochs:
        epoch = state.epoch + 1
        train_set.set_epoch(epoch)
        sampler.set_epoch(epoch)
        loader = DataLoader(
            train_set,
            batch_size=local_batch,
            sampler=sampler,
            num_workers=train.num_workers,
            drop_last=True,
            collate_fn=collate_dropping,
        )
        model_for_step.train()
        losses: list[float] = []
        dropped: list[tuple[str, str]] = []
        epoch_start = time.perf_counter()
        bar = tqdm(
            loader,
            desc=f"epoch {epoch}/{train.epochs}",
            disable=not (progress and ddp.main),
            dynamic_ncols=True,
            total=usable,
        )
        for step_in_epoch, batch in enumerate(bar):
            if step_in_epoch >= usable:
                break
            if (
                train.warmup
                and state.global_step <= train.warmup_steps
                and state.global_step % min(WARMUP_EVERY, max(1, train.warmup_steps // 20)) == 0
            ):
                for group in optimizer.param_groups:
                    group["lr"] = state.global_step / train.warmup_steps * train.lr
            dropped.extend(batch["dropped"])
            empty = batch["input_values"] is None
            if empty:  # every file failed: a zero-weight pass keeps DDP's processes in step
                inputs = torch.zeros(
                    1, train.max_length, network.config.num_mel_bins, device=device_
                )
                targets = torch.zeros(1, network.config.num_labels, device=device_)
            else:
                inputs = batch["input_values"].to(device_)
                targets = targets_matrix(batch["labels"], network.config.num_labels).to(device_)
            stepping = (step_in_epoch + 1) % train.grad_accum == 0
            sync = contextlib.nullcontext()
            if ddp.world > 1 and not stepping:
                sync = model_for_step.no_sync()  # gradients are all-reduced once, at the step
            with sync:
                with torch.autocast(
                    device_.type,
                    dtype=autocast_dtype or torch.float32,
                    enabled=autocast_dtype is not None,
                ):
                    logits = model_for_step(inputs).logits
                loss = compute_loss(logits.float(), targets, train.loss) / train.grad_accum
                if empty:
                    loss = loss * 0.0
                scaler.scale(loss).backward()
            if stepping:
                if train.clip_grad:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(trainable, train.clip_grad)
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                state.global_step += 1
            if not empty:
                losses.append(loss.item() * train.grad_accum)
            bar.set_postfix(
                loss=f"{np.mean(losses[-50:] or [math.nan]):.4f}",
                lr=f"{optimizer.param_groups[0]['lr']:.2e}",
            )
            if log_every and ddp.main and bar.disable and (step_in_epoch + 1) % log_every == 0:
                rate = (step_in_epoch + 1) / (time.perf_counter() - epoch_start)
                print(f"epoch {epoch} batch {step_in_epoch + 1}/{usable} "
                      f"loss {np.mean(losses[-log_every:] or [math.nan]):.4f} ({rate:.2f} batches/s)",
                      file=sys.stderr, flush=True)  # fmt: skip
        scheduler.step()
        state.epoch = epoch
        loss_sum = torch.tensor([float(np.sum(losses)), float(len(losses))], dtype=torch.float64)
        if ddp.world > 1:
            # every process's losses, not rank 0's share
            loss_sum = loss_sum.to(device_)
            dist.all_reduce(loss_sum)
            gathered: list[Any] = [None] * ddp.world
            dist.all_gather_object(gathered, dropped)
            dropped = [entry for part in gathered for entry in part]
            loss_sum = loss_sum.cpu()
        train_loss = float(loss_sum[0] / loss_sum[1]) if loss_sum[1] > 0 else math.nan
        row: dict[str, Any] = {"epoch": epoch, "step": state.global_step, "train_loss": train_loss,
                               "lr": optimizer.param_groups[0]["lr"]}  # fmt: skip
        if valid_loader is not None and ddp.main:
            logits, targets = predict(network, valid_loader, device_, dropped=dropped)
            metrics = score_metrics(logits, targets, train_spec.multi_label)
            row["valid_loss"] = float(
                compute_loss(torch.from_numpy(logits), torch.from_numpy(targets), train.loss)
            )
            row["valid_items"] = int(logits.shape[0])
            row.update(
                {
                    k: float(metrics[k])
                    for k in ("accuracy", "mAP", "mAUC", "d_prime")
                    if k in metrics
                }
            )
            key = "mAP" if train.metric == "mAP" else "accuracy"
            if key in row and row[key] > state.best_metric:
                state.best_metric, state.best_epoch = row[key], epoch
        state.history.append(row)
        if ddp.main:
            for file, reason in dropped:
                if file not in {f for f, _ in data.dropped}:
                    report_dropped(file, reason)
                    data.dropped.append((file, reason))
            _record_dropped(run, data.dropped)
            _save_epoch(run, network, extractor, optimizer, scheduler, scaler, state)
            _prune_checkpoints(run, train, state)
            _write_logs(run, state.history)
            if state.best_epoch == epoch:
                _copy_model(checkpoint_dir(run, epoch), run / "best")
            bar.write(
                " ".join(
                    f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
                )
            )
        if ddp.world > 1:
            dist.barrier()

    if ddp.main:
        _copy_model(checkpoint_dir(run, state.epoch), run / "last")
        if train.wa_start is not None and train.wa_end is not None and train.wa_end <= state.epoch:
            average_checkpoints(run, train.wa_start, train.wa_end, run / "averaged")
    return state


def _resolved(model: str | os.PathLike | None) -> str | os.PathLike | None:
    from .bundled import resolve_bundled

    return None if model is None else resolve_bundled(model)


__all__ = [
    "PRESETS",
    "PreparedData",
    "TrainConfig",
    "average_checkpoints",
    "average_models",
    "describe_recipe",
    "finetune",
    "prepare_datasets",
    "preset_config",
    "resolve_recipe",
]
