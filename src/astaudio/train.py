"""Fine-tuning AST: the AST repository's recipes (AudioSet, ESC-50, Speech Commands) as presets.

One process or several (torchrun, DistributedDataParallel, gloo on CPU / nccl on GPU). Every
epoch writes a checkpoint (model folder + optimizer/scheduler/RNG state); `resume=True` continues
from the newest one and reaches the same weights as an uninterrupted run: batches come from a
sampler seeded by (seed, epoch) and augmentations from (seed, epoch, index), never global state.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import os
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.utils.data import DataLoader, Sampler

from .config import ASTConfig
from .constants import CONFIG_NAME, PREPROCESSOR_NAME, SAFE_WEIGHTS_NAME
from .data import AudioDataset, AugmentConfig, DatasetSpec, balanced_sample_weights
from .features import ASTFeatureExtractor
from .metrics import dataset_metrics
from .model import ASTForAudioClassification
from .presets import PRESETS, TrainConfig, preset_config
from .scores import apply_activation, default_activation

logger = logging.getLogger(__name__)

WARMUP_EVERY = 50  # AST: linear warm-up over the first 1000 steps, lr updated every 50
STATE_FILE = "trainer_state.pt"


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
def build_model(model: str | None, labels: list[str], train: TrainConfig, multi_label: bool,
                model_config: dict[str, Any] | None = None) -> ASTForAudioClassification:  # fmt: skip
    """A pretrained model with a new head for `labels` (position embeddings adapted to the
    recipe's max_length), or a randomly initialised one from `model_config` when model is None."""
    id2label = dict(enumerate(labels))
    problem = "multi_label_classification" if multi_label else "single_label_classification"
    overrides = dict(id2label=id2label, max_length=train.max_length, problem_type=problem)
    if model is None:
        config = ASTConfig(**{**(model_config or {}), **overrides})
        torch.manual_seed(train.seed)
        return ASTForAudioClassification(config)
    return ASTForAudioClassification.from_pretrained(model, **{**(model_config or {}), **overrides})


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
    model, loader: DataLoader, device: torch.device, progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(logits (N, C), targets (N, C)) over a loader, in its order."""
    from tqdm import tqdm

    model.eval()
    logits, targets = [], []
    for batch in tqdm(loader, desc="evaluating", leave=False, disable=not progress):
        out = model.classify(batch["input_values"].to(device)).logits.float().cpu()
        logits.append(out)
        targets.append(targets_matrix(batch["labels"], out.shape[-1]))
    return torch.cat(logits).numpy(), torch.cat(targets).numpy()


def score_metrics(logits: np.ndarray, targets: np.ndarray, multi_label: bool) -> dict[str, Any]:
    scores = apply_activation(logits, default_activation(multi_label=multi_label))
    return dataset_metrics(scores, targets, multi_label)


# -- the run ---------------------------------------------------------------------------------
@dataclass
class RunState:
    epoch: int = 0  # epochs completed
    global_step: int = 0
    best_metric: float = -math.inf
    best_epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


def checkpoint_dir(run: Path, epoch: int) -> Path:
    return run / "checkpoints" / f"epoch-{epoch:03d}"


def latest_checkpoint(run: Path) -> Path | None:
    done = sorted(p for p in (run / "checkpoints").glob("epoch-*") if (p / STATE_FILE).is_file())
    return done[-1] if done else None


def finetune(
    train_spec: DatasetSpec,
    valid_spec: DatasetSpec | None,
    output_dir: str | os.PathLike,
    *,
    model: str | None,
    train: TrainConfig,
    model_config: dict[str, Any] | None = None,
    resume: bool = False,
    device: str | None = None,
    progress: bool = True,
    max_steps_per_epoch: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    log_every: int | None = None,
) -> RunState:
    """Train and validate; returns the final RunState. See the module docstring.

    progress: a tqdm bar per epoch; log_every: without a bar, a line on stderr every N batches.
    """
    from tqdm import tqdm

    run = Path(output_dir)
    ddp = init_distributed()
    device_ = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device_.type == "cuda" and ddp.world > 1:
        device_ = torch.device("cuda", ddp.local_rank)
    torch.manual_seed(train.seed)
    if device_.type == "cpu":
        # Adam drives rarely-updated weights and their moments into denormal floats, which x86
        # CPUs process up to 100x slower; flushing them to zero keeps epochs at full speed.
        torch.set_flush_denormal(True)

    state = RunState()
    resume_from = latest_checkpoint(run) if resume else None
    source = str(resume_from) if resume_from else model
    network = build_model(source, train_spec.labels, train, train_spec.multi_label,
                          model_config if resume_from is None else None)  # fmt: skip
    network.to(device_)
    extractor = ASTFeatureExtractor(num_mel_bins=network.config.num_mel_bins, max_length=train.max_length,
                                    mean=train.mean, std=train.std)  # fmt: skip
    augment = AugmentConfig(
        freqm=train.freqm, timem=train.timem, mixup=train.mixup, noise=train.noise
    )
    train_set = AudioDataset(train_spec, extractor, augment=augment, seed=train.seed,
                             cache_dir=cache_dir, label_format="multi_hot")  # fmt: skip
    weights = balanced_sample_weights(train_spec) if train.balanced else None
    sampler = EpochSampler(
        len(train_set), train.batch_size, train.seed, weights, ddp.rank, ddp.world
    )
    local_batch = train.batch_size // ddp.world
    if len(sampler) == 0:
        raise ValueError(
            f"{len(train_set)} training items is less than one batch of {train.batch_size}"
        )
    valid_loader = None
    if valid_spec is not None and valid_spec.items:
        valid_set = AudioDataset(valid_spec, extractor, seed=train.seed, cache_dir=cache_dir,
                                 label_format="multi_hot")  # fmt: skip
        valid_loader = DataLoader(
            valid_set, batch_size=max(local_batch, 16), num_workers=train.num_workers
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

    if resume_from is not None:
        saved = torch.load(resume_from / STATE_FILE, weights_only=True, map_location="cpu")
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        scaler.load_state_dict(saved["scaler"])
        torch.set_rng_state(saved["rng"])
        state = RunState(**json.loads(saved["run_state"]))
        if ddp.main:
            logger.info("resumed from %s (epoch %d)", resume_from, state.epoch)

    model_for_step = network
    if ddp.world > 1:
        model_for_step = torch.nn.parallel.DistributedDataParallel(
            network, device_ids=[device_.index] if device_.type == "cuda" else None
        )
    if ddp.main:
        run.mkdir(parents=True, exist_ok=True)
        (run / "train_config.json").write_text(json.dumps(train.to_dict(), indent=2))
        extractor.save_pretrained(run)

    while state.epoch < train.epochs:
        epoch = state.epoch + 1
        train_set.set_epoch(epoch)
        sampler.set_epoch(epoch)
        loader = DataLoader(train_set, batch_size=local_batch, sampler=sampler,
                            num_workers=train.num_workers, drop_last=True)  # fmt: skip
        model_for_step.train()
        losses = []
        epoch_start = time.perf_counter()
        bar = tqdm(loader, desc=f"epoch {epoch}/{train.epochs}", disable=not (progress and ddp.main),
                   dynamic_ncols=True)  # fmt: skip
        for step_in_epoch, batch in enumerate(bar):
            if (
                max_steps_per_epoch is not None
                and step_in_epoch >= max_steps_per_epoch * train.grad_accum
            ):
                break
            if (
                train.warmup
                and state.global_step <= train.warmup_steps
                and state.global_step % min(WARMUP_EVERY, max(1, train.warmup_steps // 20)) == 0
            ):
                for group in optimizer.param_groups:
                    group["lr"] = state.global_step / train.warmup_steps * train.lr
            inputs = batch["input_values"].to(device_)
            targets = targets_matrix(batch["labels"], network.config.num_labels).to(device_)
            with torch.autocast(
                device_.type,
                dtype=autocast_dtype or torch.float32,
                enabled=autocast_dtype is not None,
            ):
                logits = model_for_step(inputs).logits
            loss = compute_loss(logits.float(), targets, train.loss) / train.grad_accum
            scaler.scale(loss).backward()
            if (step_in_epoch + 1) % train.grad_accum == 0:
                if train.clip_grad:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(trainable, train.clip_grad)
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                state.global_step += 1
            losses.append(loss.item() * train.grad_accum)
            bar.set_postfix(
                loss=f"{np.mean(losses[-50:]):.4f}", lr=f"{optimizer.param_groups[0]['lr']:.2e}"
            )
            if log_every and ddp.main and bar.disable and (step_in_epoch + 1) % log_every == 0:
                rate = (step_in_epoch + 1) / (time.perf_counter() - epoch_start)
                print(f"epoch {epoch} batch {step_in_epoch + 1}/{len(loader)} "
                      f"loss {np.mean(losses[-log_every:]):.4f} ({rate:.2f} batches/s)",
                      file=sys.stderr, flush=True)  # fmt: skip
        scheduler.step()
        state.epoch = epoch
        row: dict[str, Any] = {"epoch": epoch, "step": state.global_step, "train_loss": float(np.mean(losses)),
                               "lr": optimizer.param_groups[0]["lr"]}  # fmt: skip
        if valid_loader is not None and ddp.main:
            logits, targets = predict(network, valid_loader, device_)
            metrics = score_metrics(logits, targets, train_spec.multi_label)
            row["valid_loss"] = float(
                compute_loss(torch.from_numpy(logits), torch.from_numpy(targets), train.loss)
            )
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
            _save_epoch(run, network, extractor, optimizer, scheduler, scaler, state)
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


def _save_epoch(
    run: Path, network, extractor, optimizer, scheduler, scaler, state: RunState
) -> None:
    folder = checkpoint_dir(run, state.epoch)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    network.save_pretrained(partial)
    extractor.save_pretrained(partial)
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(), "rng": torch.get_rng_state(),
                "run_state": json.dumps(dataclasses.asdict(state))}, partial / STATE_FILE)  # fmt: skip
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)  # a killed run never leaves a half-written checkpoint behind


def _copy_model(source: Path, target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for name in (CONFIG_NAME, SAFE_WEIGHTS_NAME, PREPROCESSOR_NAME):
        if (source / name).exists():
            shutil.copy2(source / name, target / name)


def _write_logs(run: Path, history: list[dict[str, Any]]) -> None:
    columns = sorted({k for row in history for k in row}, key=lambda k: (k != "epoch", k))
    with open(run / "metrics.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(history)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = [row["epoch"] for row in history]
    for key in ("train_loss", "valid_loss"):
        if all(key in row for row in history):
            left.plot(epochs, [row[key] for row in history], marker="o", label=key)
    left.set_xlabel("epoch")
    left.legend()
    for key in ("accuracy", "mAP", "mAUC"):
        if all(key in row for row in history):
            right.plot(epochs, [row[key] for row in history], marker="o", label=key)
    right.set_xlabel("epoch")
    if right.lines:
        right.legend()
    figure.tight_layout()
    figure.savefig(run / "curves.png", dpi=90)
    plt.close(figure)
    _tensorboard(run, history[-1])


def _tensorboard(run: Path, row: dict[str, Any]) -> None:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return
    with SummaryWriter(str(run / "tensorboard")) as writer:
        for key, value in row.items():
            if key != "epoch" and isinstance(value, (int, float)):
                writer.add_scalar(key, value, row["epoch"])


def average_checkpoints(
    run: str | os.PathLike, first: int, last: int, output: str | os.PathLike
) -> Path:
    """Average the weights of epochs first..last (inclusive) of a run into a model folder."""
    from safetensors.torch import load_file, save_file

    run, output = Path(run), Path(output)
    folders = [checkpoint_dir(run, e) for e in range(first, last + 1)]
    missing = [str(f) for f in folders if not (f / "model.safetensors").is_file()]
    if missing:
        raise FileNotFoundError(f"no checkpoint for {', '.join(missing)}")
    total: dict[str, torch.Tensor] = {}
    for folder in folders:
        for key, value in load_file(folder / "model.safetensors").items():
            total[key] = total.get(key, 0) + value.double()
    averaged = {k: (v / len(folders)).to(torch.float32).contiguous() for k, v in total.items()}
    _copy_model(folders[-1], output)
    save_file(averaged, output / "model.safetensors", metadata={"format": "pt"})
    return output


__all__ = ["TrainConfig", "PRESETS", "preset_config", "finetune", "average_checkpoints"]
