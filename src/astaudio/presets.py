"""Training hyper-parameters (TrainConfig) and the AST repository's recipes as presets.

Plain data, importable without torch: the command line generates its finetune override flags
from TrainConfig's fields (every field whose metadata has a ``help`` text becomes a flag).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .constants import AUDIOSET_MEAN, AUDIOSET_STD
from .errors import ConfigurationError


def _option(default: Any, help: str, **cli: Any) -> Any:
    """A field the command line exposes as --NAME (``cli``: extra argparse settings such as
    ``choices``)."""
    return field(default=default, metadata={"help": help, **cli})


@dataclass
class TrainConfig:
    """Hyper-parameters of a run.

    Without a preset: the Speech Commands recipe's optimiser settings, no augmentation, and the
    starting model's geometry and normalisation (``max_length``, ``mean``, ``std`` left None
    are taken from the model: see :func:`astaudio.train.resolve_recipe`). The presets are the
    AST repository's recipes. Impossible values raise ConfigurationError (one line).
    """

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
    freqm: int = _option(0, "SpecAugment frequency mask width (mel bins)")
    timem: int = _option(0, "SpecAugment time mask width (frames)")
    mixup: float = _option(0.0, "mixup probability")
    noise: bool = _option(False, "Speech Commands noise + time shift")
    balanced: bool = _option(False, "balanced sampling (AudioSet)")
    max_length: int | None = _option(
        None, "frames per clip (positions adapted)", default_text="the preset's, else the model's"
    )
    mean: float | None = _option(
        None, "fbank normalisation mean", default_text="the preset's, else the model's"
    )
    std: float | None = _option(
        None, "fbank normalisation std", default_text="the preset's, else the model's"
    )
    wa_start: int | None = None  # weight averaging over epochs [wa_start, wa_end]
    wa_end: int | None = None
    grad_accum: int = _option(
        1, "gradient accumulation steps (a remainder of batches at the end of an epoch is left out)"
    )
    clip_grad: float | None = _option(None, "gradient norm clip")
    amp: str | None = _option(None, "mixed precision (GPU)", choices=("bf16", "fp16"))
    seed: int = _option(0, "random seed")
    num_workers: int = 2
    keep_last: int | None = _option(
        None,
        "keep only the newest N epoch checkpoints, and the best "
        "(each is ~3x the model: weights + Adam state)",
        default_text="all",
    )
    save_optimizer: str = _option(
        "all",
        "which checkpoints keep Adam's state (2/3 of their size); "
        "'last': only the newest, which --resume needs",
        choices=("all", "last"),
        default_text="all",
    )
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """ConfigurationError (one line) for a value no run can use."""
        positive = {
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            "grad_accum": self.grad_accum,
            "warmup_steps": self.warmup_steps,
            "scheduler_step": self.scheduler_step,
            "max_length": self.max_length,
            "keep_last": self.keep_last,
            "std": self.std,
        }
        for name, value in positive.items():
            if value is not None and not value > 0:
                raise ConfigurationError(f"{name} must be positive, got {value}")
        for name in ("lr", "weight_decay", "freqm", "timem", "num_workers", "scheduler_start"):
            if getattr(self, name) < 0:
                raise ConfigurationError(f"{name} must be 0 or more, got {getattr(self, name)}")
        if not 0.0 <= self.mixup <= 1.0:
            raise ConfigurationError(f"mixup is a probability in [0, 1], got {self.mixup}")
        choices = {
            "loss": ("bce", "ce"),
            "metric": ("acc", "mAP"),
            "amp": (None, "bf16", "fp16"),
            "save_optimizer": ("all", "last"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigurationError(
                    f"{name} must be one of {', '.join(map(str, allowed))}, "
                    f"got {getattr(self, name)!r}"
                )
        if (self.wa_start is None) != (self.wa_end is None):
            raise ConfigurationError("weight averaging needs both wa_start and wa_end")
        if self.wa_start is not None and not 1 <= self.wa_start <= self.wa_end:
            raise ConfigurationError(
                f"weight averaging epochs must satisfy 1 <= first <= last, "
                f"got {self.wa_start}-{self.wa_end}"
            )

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
    """The preset's TrainConfig (or the plain defaults for None) with non-None overrides."""
    if name is not None and name not in PRESETS:
        raise ConfigurationError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    values = dict(PRESETS[name]) if name else {}
    values.update({k: v for k, v in overrides.items() if v is not None})
    unknown = sorted(set(values) - {f.name for f in dataclasses.fields(TrainConfig)})
    if unknown:
        raise ConfigurationError(f"unknown training setting(s): {', '.join(unknown)}")
    return TrainConfig(**values)
