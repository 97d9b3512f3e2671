"""Training hyper-parameters (TrainConfig) and the AST repository's recipes as presets.

Plain data, importable without torch: the command line generates its finetune override flags
from TrainConfig's fields (every field whose metadata has a ``help`` text becomes a flag).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .constants import AUDIOSET_MEAN, AUDIOSET_STD


def _option(default: Any, help: str, **cli: Any) -> Any:
    """A field the command line exposes as --NAME (``cli``: extra argparse settings such as
    ``choices``)."""
    return field(default=default, metadata={"help": help, **cli})


@dataclass
class TrainConfig:
    """Hyper-parameters of a run. Defaults are the Speech Commands recipe's optimiser settings."""

    lr: float = _option(2.5e-4, "learning rate")
    batch_size: int = _option(128, "global batch size")  # split across processes
    epochs: int = _option(30, "epochs")
    warmup: bool = _option(False, "linear learning-rate warm-up")
    warmup_steps: int = _option(1000, "length of the warm-up in optimizer steps (AST: 1000)")
    scheduler_start: int = _option(5, "first epoch of learning-rate decay")  # MultiStepLR
    scheduler_step: int = _option(1, "epochs between decays")
    scheduler_decay: float = _option(0.85, "decay factor")
    weight_decay: float = _option(5e-7, "Adam weight decay")
    betas: tuple[float, float] = (0.95, 0.999)
    # "bce" (multi-hot, also for single-label with mixup) or "ce"
    loss: str = _option("bce", "loss function", choices=("bce", "ce"))
    metric: str = _option("acc", "picks the best epoch", choices=("acc", "mAP"))
    freqm: int = _option(48, "SpecAugment frequency mask width (mel bins)")
    timem: int = _option(48, "SpecAugment time mask width (frames)")
    mixup: float = _option(0.6, "mixup probability")
    noise: bool = _option(True, "Speech Commands noise + time shift")
    balanced: bool = _option(False, "balanced sampling (AudioSet)")
    max_length: int = _option(128, "frames per clip (positions adapted)")
    mean: float = _option(-6.845978, "fbank normalisation mean")
    std: float = _option(5.5654526, "fbank normalisation std")
    wa_start: int | None = None  # weight averaging over epochs [wa_start, wa_end]
    wa_end: int | None = None
    grad_accum: int = _option(1, "gradient accumulation steps")
    clip_grad: float | None = _option(None, "gradient norm clip")
    amp: str | None = _option(None, "mixed precision (GPU)", choices=("bf16", "fp16"))
    seed: int = _option(0, "random seed")
    num_workers: int = 2
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PRESETS: dict[str, dict[str, Any]] = {
    # Full AudioSet (2M clips): 5 epochs, balanced sampling, weight averaging of epochs 1-5.
    "audioset": dict(lr=1e-5, batch_size=12, epochs=5, warmup=True, scheduler_start=2,
                     scheduler_step=1, scheduler_decay=0.5, loss="bce", metric="mAP", freqm=48,
                     timem=192, mixup=0.5, noise=False, balanced=True, max_length=1024,
                     mean=AUDIOSET_MEAN, std=AUDIOSET_STD, wa_start=1, wa_end=5),
    "esc50": dict(lr=1e-5, batch_size=48, epochs=25, warmup=False, scheduler_start=5,
                  scheduler_step=1, scheduler_decay=0.85, loss="ce", metric="acc", freqm=24,
                  timem=96, mixup=0.0, noise=False, balanced=False, max_length=512,
                  mean=-6.6268077, std=5.358466),
    "speechcommands": dict(lr=2.5e-4, batch_size=128, epochs=30, warmup=False, scheduler_start=5,
                           scheduler_step=1, scheduler_decay=0.85, loss="bce", metric="acc",
                           freqm=48, timem=48, mixup=0.6, noise=True, balanced=False,
                           max_length=128, mean=-6.845978, std=5.5654526),
}  # fmt: skip


def preset_config(name: str | None, **overrides: Any) -> TrainConfig:
    if name is not None and name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    values = dict(PRESETS[name]) if name else {}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(**values)
