"""A fine-tuning run's folder: epoch checkpoints and their trainer state, resume's search for the
newest one that loads, the best/last copies (atomic), keep-last pruning, dropped-file lists,
metric logs and checkpoint averaging.

Layout of a run folder: checkpoints/epoch-NNN (model folder + trainer_state.pt; a killed write
leaves epoch-NNN.partial, which resume ignores), best/, last/, averaged/, train_config.json,
dropped_files.txt, metrics.csv, curves.png and tensorboard/.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .constants import CONFIG_NAME, PREPROCESSOR_NAME, SAFE_WEIGHTS_NAME
from .errors import CheckpointError, ConfigurationError
from .presets import TrainConfig


@dataclass
class RunState:
    epoch: int = 0  # epochs completed
    global_step: int = 0
    best_metric: float = -math.inf
    best_epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


CHECKPOINT_NAME = re.compile(r"^epoch-(\d+)$")  # never epoch-NNN.partial, a write in progress
DROPPED_FILE = "dropped_files.txt"
RECIPE_FILE = "train_config.json"
STATE_FILE = "trainer_state.pt"


def checkpoint_dir(run: Path, epoch: int) -> Path:
    return run / "checkpoints" / f"epoch-{epoch:03d}"


def epoch_checkpoints(run: Path) -> list[tuple[int, Path]]:
    """(epoch, folder) of the run's finished epoch checkpoints, oldest first."""
    found = []
    folder = Path(run) / "checkpoints"
    if folder.is_dir():
        for entry in folder.iterdir():
            match = CHECKPOINT_NAME.match(entry.name)
            if match and entry.is_dir():
                found.append((int(match.group(1)), entry))
    return sorted(found)


def latest_checkpoint(run: Path) -> Path | None:
    """The newest finished epoch checkpoint (not necessarily loadable; see finetune's resume)."""
    done = [folder for _, folder in epoch_checkpoints(run) if (folder / STATE_FILE).is_file()]
    return done[-1] if done else None


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return (text[:200] or type(error).__name__).rstrip(".")


def load_trainer_state(folder: Path) -> dict[str, Any]:
    """A checkpoint's optimizer/scheduler/RNG state, loaded safely; CheckpointError (one line)
    when it is missing, torn, tampered with or holds no optimizer state."""
    path = Path(folder) / STATE_FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: missing")
    try:
        saved = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as error:  # EOFError, UnpicklingError (refused content), RuntimeError, ...
        if "weights only load failed" in str(error).lower():
            raise CheckpointError(
                f"{path}: refused: it holds more than plain tensors and state (tampered with?)"
            ) from None
        raise CheckpointError(f"{path}: unreadable ({_one_line(error)})") from None
    needed = ("optimizer", "scheduler", "scaler", "rng", "run_state")
    if not isinstance(saved, dict) or any(key not in saved for key in needed):
        raise CheckpointError(f"{path}: incomplete trainer state")
    if saved["optimizer"] is None:
        raise CheckpointError(
            f"{path}: holds no optimizer state (save_optimizer='last' keeps it in the newest only)"
        )
    try:
        RunState(**json.loads(saved["run_state"]))
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: unreadable run state ({_one_line(error)})") from None
    return saved


def _prepare_run_folder(run: Path, resume: bool, overwrite: bool, main: bool) -> None:
    if resume and overwrite:
        raise ConfigurationError("resume continues a run and overwrite replaces it: give one")
    occupied = run.is_dir() and any(run.iterdir())
    if run.exists() and not run.is_dir():
        raise ConfigurationError(f"{run}: exists and is not a folder")
    if occupied and not resume and not overwrite:
        raise ConfigurationError(
            f"{run} already holds files (a run?): pass --resume to continue it or --overwrite "
            "to replace it"
        )
    if occupied and overwrite and main:
        for entry in run.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def _record_dropped(run: Path, dropped: list[tuple[str, str]]) -> None:
    """Add (path, reason) lines to the run's dropped_files.txt, each path listed once."""
    path = run / DROPPED_FILE
    listed: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            file, _, reason = line.partition("\t")
            listed.setdefault(file, reason)
    before = len(listed)
    for file, reason in dropped:
        listed.setdefault(file, reason)
    if len(listed) != before or (listed and not path.is_file()):
        _write_atomic(path, "".join(f"{file}\t{reason}\n" for file, reason in listed.items()))


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def _recorded_recipe(run: Path, train: TrainConfig) -> tuple[TrainConfig, dict[str, str]]:
    """max_length/mean/std left None taken from the run's saved recipe, so that a resumed run
    keeps the values its first part resolved."""
    try:
        recorded = json.loads((run / RECIPE_FILE).read_text())
    except (OSError, ValueError):
        return train, {}
    values = {
        name: recorded.get(name)
        for name in ("max_length", "mean", "std")
        if getattr(train, name) is None and recorded.get(name) is not None
    }
    return dataclasses.replace(train, **values), {name: "the run's recipe" for name in values}


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
    partial.rename(folder)  # a killed run leaves at most a .partial folder, which resume ignores


def _prune_checkpoints(run: Path, train: TrainConfig, state: RunState) -> None:
    """keep_last: remove all but the newest N epochs (never the best, nor the epochs to
    average); save_optimizer="last": drop the optimizer state from all but the newest."""
    folders = epoch_checkpoints(run)
    protected = {state.best_epoch}
    if train.wa_start is not None and train.wa_end is not None:
        protected |= set(range(train.wa_start, train.wa_end + 1))
    if train.keep_last is not None:
        newest = {epoch for epoch, _ in folders[-train.keep_last :]}
        for epoch, folder in folders:
            if epoch not in newest and epoch not in protected:
                shutil.rmtree(folder)
    if train.save_optimizer == "last":
        for _, folder in epoch_checkpoints(run)[:-1]:
            path = folder / STATE_FILE
            try:
                saved = torch.load(path, weights_only=True, map_location="cpu")
            except Exception:  # noqa: BLE001 - an unreadable old state is no use to anyone
                continue
            if isinstance(saved, dict) and saved.get("optimizer") is not None:
                saved["optimizer"] = None
                temporary = path.with_name(path.name + ".tmp")
                torch.save(saved, temporary)
                os.replace(temporary, path)


def _copy_model(source: Path, target: Path) -> None:
    """Copy a model folder so that `target` is always either the old or the new complete copy
    (a staging folder, then renames), never a half-deleted one."""
    staging = target.with_name(target.name + ".staging")
    retired = target.with_name(target.name + ".old")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in (CONFIG_NAME, SAFE_WEIGHTS_NAME, PREPROCESSOR_NAME):
        if (source / name).exists():
            shutil.copy2(source / name, staging / name)
    shutil.rmtree(retired, ignore_errors=True)
    if target.exists():
        target.rename(retired)
    staging.rename(target)
    shutil.rmtree(retired, ignore_errors=True)


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
    for axes in (left, right):  # whole epochs only: no 2.5 between epochs 2 and 3
        axes.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
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
    """Average the weights of epochs first..last (inclusive) of a run into a model folder.

    Every epoch must hold the same tensors (names and shapes); otherwise CheckpointError names
    the first that differs."""
    if not 1 <= first <= last:
        raise ConfigurationError(f"epochs must satisfy 1 <= first <= last, got {first}-{last}")
    run = Path(run)
    folders = [checkpoint_dir(run, e) for e in range(first, last + 1)]
    missing = [str(f) for f in folders if not (f / "model.safetensors").is_file()]
    if missing:
        raise FileNotFoundError(f"no checkpoint for {', '.join(missing)}")
    return average_models(folders, output, config_from=folders[-1])


def average_models(
    folders: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    config_from: str | os.PathLike | None = None,
) -> Path:
    """Average the weights of model folders with equal shares (a "model soup" of fine-tunes
    from one starting point) into `output`, with the config and preprocessor of `config_from`
    (default: the first folder).

    The folders must hold the same tensors (names and shapes) and the same classes in the same
    order; otherwise CheckpointError names the first that differs."""
    from safetensors.torch import save_file

    from .checkpoints import load_state_dict_file

    folders = [Path(f) for f in folders]
    if not folders:
        raise ConfigurationError("no model folder to average")
    missing = [str(f) for f in folders if not (f / SAFE_WEIGHTS_NAME).is_file()]
    if missing:
        raise FileNotFoundError(f"no {SAFE_WEIGHTS_NAME} in {', '.join(missing)}")
    classes = [_class_names(f) for f in folders]
    for folder, names in zip(folders[1:], classes[1:], strict=True):
        if names != classes[0]:
            raise CheckpointError(f"{folder} has other classes than {folders[0]}: can't average")
    total: dict[str, torch.Tensor] = {}
    for number, folder in enumerate(folders):
        weights = load_state_dict_file(folder / SAFE_WEIGHTS_NAME)
        if number:
            absent = sorted(set(total) - set(weights)) or sorted(set(weights) - set(total))
            if absent:
                where = folder if absent[0] in total else folders[0]
                raise CheckpointError(f"{absent[0]} is missing from {where}: can't average")
        for key, value in weights.items():
            if number and value.shape != total[key].shape:
                raise CheckpointError(
                    f"{key} has shape {tuple(value.shape)} in {folder} but "
                    f"{tuple(total[key].shape)} in {folders[0]}: can't average"
                )
            total[key] = total[key] + value.double() if number else value.double()
    averaged = {k: (v / len(folders)).to(torch.float32).contiguous() for k, v in total.items()}
    output = Path(output)
    _copy_model(Path(config_from) if config_from else folders[0], output)
    save_file(averaged, output / SAFE_WEIGHTS_NAME, metadata={"format": "pt"})
    return output


def _class_names(folder: Path) -> dict | None:
    config = folder / CONFIG_NAME
    return json.loads(config.read_text()).get("id2label") if config.is_file() else None
