"""The Audio Spectrogram Transformer (Gong, Chung & Glass, 2021) as plain PyTorch modules.

Behaviour and parameter names match transformers' ``ASTModel`` / ``ASTForAudioClassification``
(the names of the hub's checkpoint files), so the hub's weights load as they are:

    spectrogram (B, time, mel) -> transpose -> Conv2d patches (B, F*T, D)
    -> [CLS] + [DIST] + patches, + learned position embeddings    (B, 2 + F*T, D)
    -> N pre-LayerNorm transformer layers -> LayerNorm
    -> pooled = mean of the two tokens (B, D) -> LayerNorm + Linear -> logits (B, num_labels)

The building blocks (embeddings, attention, layers, encoder, head) are in :mod:`astaudio.layers`;
checkpoint reading and writing live in :mod:`astaudio.checkpoints`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .config import PROBLEM_TYPES, ASTConfig
from .layers import (  # noqa: F401 (re-exported)
    ASTAttention,
    ASTEmbeddings,
    ASTEncoder,
    ASTIntermediate,
    ASTLayer,
    ASTMLPHead,
    ASTOutput,
    ASTPatchEmbeddings,
    ASTSelfAttention,
    ASTSelfOutput,
)

BASE_MODEL_PREFIX = "audio_spectrogram_transformer"


# -- outputs ------------------------------------------------------------------------------
@dataclasses.dataclass
class ModelOutput:
    """A dataclass that also reads like transformers' ModelOutput.

    ``out.logits``, ``out["logits"]`` and ``out[0]`` all work; integer indices and ``keys()``
    skip fields that are None, exactly as ``to_tuple()`` does.
    """

    def keys(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name) is not None]

    def values(self) -> list[Any]:
        return [getattr(self, name) for name in self.keys()]

    def items(self) -> list[tuple[str, Any]]:
        return [(name, getattr(self, name)) for name in self.keys()]

    def to_tuple(self) -> tuple[Any, ...]:
        return tuple(self.values())

    def __getitem__(self, key: str | int | slice) -> Any:
        if isinstance(key, str):
            if key not in self.keys():
                raise KeyError(key)
            return getattr(self, key)
        return self.to_tuple()[key]

    def __contains__(self, key: object) -> bool:
        return key in self.keys()

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())


@dataclasses.dataclass
class ASTModelOutput(ModelOutput):
    """Outputs of :class:`ASTModel`.

    last_hidden_state: (B, 2 + F*T, D), after the final LayerNorm.
    pooler_output: (B, D), mean of the [CLS] and distillation tokens of last_hidden_state.
    hidden_states: num_layers + 1 tensors (B, 2 + F*T, D): the embeddings, then each layer's
        output (before the final LayerNorm).
    attentions: num_layers tensors (B, heads, 2 + F*T, 2 + F*T) of attention probabilities.
    """

    last_hidden_state: torch.Tensor | None = None
    pooler_output: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclasses.dataclass
class ASTClassifierOutput(ModelOutput):
    """Outputs of :class:`ASTForAudioClassification`: loss (scalar, when labels were given),
    logits (B, num_labels), and hidden_states / attentions as in :class:`ASTModelOutput`."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclasses.dataclass
class ASTClassifyOutput(ModelOutput):
    """Outputs of :meth:`ASTForAudioClassification.classify`: logits (B, num_labels), pooled
    (B, D) the mean of the [CLS] and distillation tokens the head reads, and last_hidden_state
    (B, 2 + F*T, D) when asked for."""

    logits: torch.Tensor | None = None
    pooled: torch.Tensor | None = None
    last_hidden_state: torch.Tensor | None = None


# -- models -------------------------------------------------------------------------------
def _config_default(config: ASTConfig, name: str, default: bool) -> bool:
    """A forward flag's default: the config attribute, or ``default`` when it is None."""
    value = getattr(config, name, None)
    return default if value is None else bool(value)


class ASTPreTrainedModel(nn.Module):
    """Shared plumbing: weight initialisation, checkpoint I/O, dtype/device, checkpointing."""

    base_model_prefix = BASE_MODEL_PREFIX
    main_input_name = "input_values"
    config_class = ASTConfig
    supports_gradient_checkpointing = True
    # transformers' PreTrainedModel class attributes that code written for it reads
    _supports_sdpa = True
    _no_split_modules = ["ASTEmbeddings", "ASTLayer"]
    _keep_in_fp32_modules: list[str] = []
    _keep_in_fp32_modules_strict: list[str] = []
    _keys_to_ignore_on_load_missing: list[str] | None = None
    _keys_to_ignore_on_load_unexpected: list[str] | None = None
    _tied_weights_keys: dict[str, str] | None = None

    def __init__(self, config: ASTConfig):
        super().__init__()
        if not isinstance(config, ASTConfig):
            raise TypeError(f"config must be an astaudio.ASTConfig, got {type(config).__name__}")
        config.validate()
        if config._attn_implementation is None:
            config._attn_implementation = "sdpa"
        elif config._attn_implementation not in ("sdpa", "eager"):
            raise ValueError(
                f"attn_implementation must be 'sdpa' or 'eager', got {config._attn_implementation!r}"
            )
        self.config = config

    @classmethod
    def can_generate(cls) -> bool:
        """False: AST classifies, it does not generate (transformers' API)."""
        return False

    @classmethod
    def _can_set_attn_implementation(cls) -> bool:
        return False  # one attention code path (SDPA, explicit softmax for weights)

    @classmethod
    def _can_set_experts_implementation(cls) -> bool:
        return False

    @classmethod
    def _from_config(cls, config: ASTConfig, dtype: Any = None, **kwargs: Any):
        """A freshly initialised model of ``config`` (transformers' API); ``dtype`` casts it,
        ``attn_implementation`` ("sdpa" or "eager") picks the attention code."""
        if kwargs.get("attn_implementation") is not None:
            config._attn_implementation = kwargs["attn_implementation"]
        kwargs.pop("attn_implementation", None)
        torch_dtype = kwargs.pop("torch_dtype", None)
        dtype = torch_dtype if dtype is None else dtype
        if kwargs:
            raise TypeError(f"_from_config() got unexpected arguments: {sorted(kwargs)}")
        model = cls(config)
        return model if dtype is None else model.to(dtype)

    def get_input_embeddings(self) -> nn.Module:
        """The patch embedding (Conv2d projection of the spectrogram), as transformers gives."""
        return self.get_submodule(self._prefix() + "embeddings.patch_embeddings")

    def get_output_embeddings(self) -> None:
        return None  # no token vocabulary to tie

    def _prefix(self) -> str:
        return "" if isinstance(self, ASTModel) else BASE_MODEL_PREFIX + "."

    # -- initialisation ---------------------------------------------------------------
    def _init_weights(self, module: nn.Module) -> None:
        """transformers 5's scheme: N(0, initializer_range) for Linear/Conv2d weights (v4's
        trunc_normal_ had absolute bounds of +-2, which never bind at std 0.02), zero biases,
        LayerNorm 1/0, and zero [CLS], distillation token and position embeddings."""
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, ASTEmbeddings):
            nn.init.zeros_(module.cls_token)
            nn.init.zeros_(module.distillation_token)
            nn.init.zeros_(module.position_embeddings)

    def init_weights(self) -> None:
        """(Re-)initialise every parameter as a freshly built transformers model would."""
        self.apply(self._init_weights)

    # -- properties -------------------------------------------------------------------
    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def num_parameters(self, only_trainable: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not only_trainable)

    def gradient_checkpointing_enable(
        self, gradient_checkpointing_kwargs: dict[str, Any] | None = None
    ) -> None:
        """Recompute each layer's activations in the backward pass (less memory, ~30% slower).

        gradient_checkpointing_kwargs: passed to ``torch.utils.checkpoint.checkpoint`` (the HF
        Trainer passes ``{"use_reentrant": ...}``); default ``use_reentrant=False``.
        """
        kwargs = {"use_reentrant": False, **(gradient_checkpointing_kwargs or {})}
        for module in self.modules():
            if isinstance(module, ASTEncoder):
                module.gradient_checkpointing = True
                module.checkpointing_kwargs = kwargs

    def gradient_checkpointing_disable(self) -> None:
        for module in self.modules():
            if isinstance(module, ASTEncoder):
                module.gradient_checkpointing = False

    @property
    def is_gradient_checkpointing(self) -> bool:
        return any(m.gradient_checkpointing for m in self.modules() if isinstance(m, ASTEncoder))

    # transformers 5's names for the same
    def activation_checkpointing_enable(
        self, activation_checkpointing_kwargs: dict[str, Any] | None = None
    ) -> None:
        self.gradient_checkpointing_enable(activation_checkpointing_kwargs)

    activation_checkpointing_disable = gradient_checkpointing_disable
    is_activation_checkpointing = is_gradient_checkpointing

    @property
    def base_model(self) -> ASTPreTrainedModel:
        """The ASTModel encoder (the model itself for an ASTModel), as transformers names it."""
        return self if isinstance(self, ASTModel) else self.audio_spectrogram_transformer

    def enable_input_require_grads(self) -> None:
        """Make the patch embeddings' output require grad (adapters with frozen weights and
        gradient checkpointing need it), as transformers does."""

        def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            output.requires_grad_(True)

        self._input_grad_hook = self.get_input_embeddings().register_forward_hook(hook)

    def disable_input_require_grads(self) -> None:
        hook = getattr(self, "_input_grad_hook", None)
        if hook is not None:
            hook.remove()
            del self._input_grad_hook

    # -- checkpoints (implemented in astaudio.checkpoints) ------------------------------
    def save_pretrained(self, folder: str | os.PathLike, safe_serialization: bool = True) -> Path:
        """Write config.json and model.safetensors (or pytorch_model.bin) as transformers does."""
        from .checkpoints import save_pretrained

        return save_pretrained(self, folder, safe_serialization=safe_serialization)

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path: str | os.PathLike | None, **kwargs: Any
    ):
        """Load a model folder, bundled model name or hub id (config.json + weights), in eval
        mode, with transformers' keyword arguments (``subfolder``, ``device_map``, ``dtype``,
        ``output_loading_info``, ``state_dict``, ``config``, ...).

        Other keyword arguments change config fields: ``num_labels=10`` gives a new head (with
        a warning), ``max_length=128`` adapts the position embeddings; a name that is no config
        field raises TypeError. See :func:`astaudio.checkpoints.load_pretrained`.
        """
        from .checkpoints import load_pretrained

        return load_pretrained(cls, pretrained_model_name_or_path, **kwargs)

    @classmethod
    def from_original_checkpoint(
        cls, path: str | os.PathLike, config: ASTConfig | None = None, **config_overrides: Any
    ):
        """Load a .pth released with the original AST code (github YuanGongND/ast); see
        :func:`astaudio.checkpoints.load_original_checkpoint`."""
        from .checkpoints import load_original_checkpoint

        return load_original_checkpoint(cls, path, config=config, **config_overrides)

    # -- helpers for forward ----------------------------------------------------------
    def _head_mask_per_layer(self, head_mask: torch.Tensor | None) -> torch.Tensor | None:
        """(heads,) or (layers, heads) -> (layers, 1, heads, 1, 1) in the model's dtype."""
        if head_mask is None:
            return None
        layers, heads = self.config.num_hidden_layers, self.config.num_attention_heads
        head_mask = torch.as_tensor(head_mask, device=self.device)
        if head_mask.shape == (heads,):
            head_mask = head_mask.expand(layers, heads)
        elif head_mask.shape != (layers, heads):
            raise ValueError(
                f"head_mask must have shape ({heads},) or ({layers}, {heads}), "
                f"got {tuple(head_mask.shape)}"
            )
        return head_mask.to(self.dtype)[:, None, :, None, None]


class ASTModel(ASTPreTrainedModel):
    """The AST encoder: spectrogram (B, max_length, num_mel_bins) -> token states (B, 2+F*T, D)."""

    def __init__(self, config: ASTConfig):
        super().__init__(config)
        self.embeddings = ASTEmbeddings(config)
        self.encoder = ASTEncoder(config)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.init_weights()

    def _check_input(self, input_values: torch.Tensor) -> torch.Tensor:
        if not isinstance(input_values, torch.Tensor):
            raise TypeError(
                f"input_values must be a torch.Tensor, got {type(input_values).__name__}"
            )
        cfg = self.config
        expected = f"(batch, {cfg.max_length} frames, {cfg.num_mel_bins} mel bins)"
        if input_values.ndim != 3:
            raise ValueError(
                f"input_values must have shape {expected}, got {tuple(input_values.shape)}"
            )
        frames, mels = input_values.shape[1:]
        grid = (
            (mels - cfg.patch_size) // cfg.frequency_stride + 1 if mels >= cfg.patch_size else 0,
            (frames - cfg.patch_size) // cfg.time_stride + 1 if frames >= cfg.patch_size else 0,
        )
        if grid != cfg.patch_grid:
            raise ValueError(
                f"input_values must have shape {expected}, got {tuple(input_values.shape)} "
                f"(pad or cut the spectrogram, or load the model with max_length={frames})"
            )
        if not input_values.is_floating_point() or input_values.dtype != self.dtype:
            input_values = input_values.to(self.dtype)
        return input_values

    def forward(
        self,
        input_values: torch.Tensor,
        head_mask: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> ASTModelOutput | tuple:
        """input_values: (B, max_length, num_mel_bins) log-mel features.

        attention_mask: accepted so that `model(**extractor(..., return_attention_mask=True))`
        works, and ignored: AST attends to every patch, padded frames included, as it was trained.

        head_mask: (heads,) or (layers, heads) multipliers of the attention probabilities
        (1 keeps a head, 0 silences it). Returns :class:`ASTModelOutput`, or its to_tuple()
        when return_dict is False.
        """
        output_attentions = (
            _config_default(self.config, "output_attentions", False)
            if output_attentions is None
            else output_attentions
        )
        output_hidden_states = (
            _config_default(self.config, "output_hidden_states", False)
            if output_hidden_states is None
            else output_hidden_states
        )
        return_dict = (
            _config_default(self.config, "return_dict", True)
            if return_dict is None
            else return_dict
        )
        input_values = self._check_input(input_values)
        embedded = self.embeddings(input_values)  # (B, 2 + F*T, D)
        hidden, all_hidden, all_attentions = self.encoder(
            embedded, self._head_mask_per_layer(head_mask), output_attentions, output_hidden_states
        )
        sequence = self.layernorm(hidden)  # (B, 2 + F*T, D)
        pooled = (sequence[:, 0] + sequence[:, 1]) / 2  # (B, D)
        output = ASTModelOutput(sequence, pooled, all_hidden, all_attentions)
        return output if return_dict else output.to_tuple()


class ASTForAudioClassification(ASTPreTrainedModel):
    """AST encoder + classifier head on the pooled [CLS]/distillation tokens."""

    def __init__(self, config: ASTConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.audio_spectrogram_transformer = ASTModel(config)
        self.classifier = ASTMLPHead(config)
        self.classifier.apply(self._init_weights)  # the encoder initialised itself

    def forward(
        self,
        input_values: torch.Tensor,
        head_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> ASTClassifierOutput | tuple:
        """input_values: (B, max_length, num_mel_bins). labels: (B,) class indices
        (single-label), (B, num_labels) floats (multi-label, BCE-with-logits), or (B,) /
        (B, num_labels) targets for regression; the loss follows config.problem_type, inferred
        on first use when unset (as transformers does)."""
        return_dict = (
            _config_default(self.config, "return_dict", True)
            if return_dict is None
            else return_dict
        )
        base = self.audio_spectrogram_transformer(
            input_values,
            head_mask=head_mask,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = self.classifier(base.pooler_output)  # (B, num_labels)
        loss = None if labels is None else self.compute_loss(logits, labels)
        output = ASTClassifierOutput(loss, logits, base.hidden_states, base.attentions)
        return output if return_dict else output.to_tuple()

    def classify(
        self, input_values: torch.Tensor, *, return_tokens: bool = False
    ) -> ASTClassifyOutput:
        """Logits and the pooled embedding the head reads (and the final hidden states with
        ``return_tokens``) of input_values (B, max_length, num_mel_bins): what inference,
        export and evaluation run. ``forward`` keeps transformers' outputs, which lack the
        pooled vector."""
        base = self.audio_spectrogram_transformer(
            input_values, output_attentions=False, output_hidden_states=False, return_dict=True
        )
        logits = self.classifier(base.pooler_output)  # (B, num_labels)
        tokens = base.last_hidden_state if return_tokens else None
        return ASTClassifyOutput(logits, base.pooler_output, tokens)

    def compute_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Loss of logits (B, num_labels) against labels for config.problem_type."""
        num_labels = self.config.num_labels
        if num_labels == 0:
            raise ValueError("this model has no classifier head (num_labels=0), so no loss")
        labels = torch.as_tensor(labels, device=logits.device)
        if self.config.problem_type is None:
            if num_labels == 1:
                self.config.problem_type = "regression"
            elif labels.dtype in (torch.long, torch.int):
                self.config.problem_type = "single_label_classification"
            else:
                self.config.problem_type = "multi_label_classification"
        problem = self.config.problem_type
        if problem == "regression":
            labels = labels.to(logits.dtype)
            if num_labels == 1:
                return F.mse_loss(logits.squeeze(), labels.squeeze())
            return F.mse_loss(logits, labels)
        if problem == "single_label_classification":
            if labels.is_floating_point():
                raise ValueError(
                    "single_label_classification needs integer class labels, got "
                    f"{labels.dtype} (use problem_type='multi_label_classification' for "
                    "multi-hot targets)"
                )
            return F.cross_entropy(logits.view(-1, num_labels), labels.view(-1))
        if problem == "multi_label_classification":
            if labels.shape != logits.shape:
                raise ValueError(
                    f"multi-label targets must have the logits' shape {tuple(logits.shape)}, "
                    f"got {tuple(labels.shape)}"
                )
            return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
        raise ValueError(f"problem_type must be one of {PROBLEM_TYPES}, got {problem!r}")


def count_parameters(config: ASTConfig) -> int:
    """Parameters of the classifier a config describes (built on the meta device: no memory)."""
    with torch.device("meta"):
        return ASTForAudioClassification(config).num_parameters()
