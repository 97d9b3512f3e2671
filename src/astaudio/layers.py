"""The building blocks of the Audio Spectrogram Transformer: patch and position embeddings,
self-attention, the pre-LayerNorm transformer layers, the encoder and the classifier head.

Module and parameter names are the checkpoint's key names (transformers' ``ASTModel``); the
models that assemble these blocks are in :mod:`astaudio.model`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .activations import get_activation
from .config import ASTConfig


class ASTPatchEmbeddings(nn.Module):
    """(B, time, mel) spectrogram -> (B, F*T, D) patch vectors, F frequency by T time patches."""

    def __init__(self, config: ASTConfig):
        super().__init__()
        self.projection = nn.Conv2d(
            1,
            config.hidden_size,
            kernel_size=(config.patch_size, config.patch_size),
            stride=(config.frequency_stride, config.time_stride),
        )

    def forward(self, input_values: torch.Tensor) -> torch.Tensor:
        image = input_values.unsqueeze(1).transpose(2, 3)  # (B, 1, mel, time)
        patches = self.projection(image)  # (B, D, F, T)
        return patches.flatten(2).transpose(1, 2)  # (B, F*T, D), frequency-major order


class ASTEmbeddings(nn.Module):
    """Patch vectors with the [CLS] and distillation tokens prepended, plus position embeddings."""

    def __init__(self, config: ASTConfig):
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        self.distillation_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        self.patch_embeddings = ASTPatchEmbeddings(config)
        self.position_embeddings = nn.Parameter(
            torch.zeros(1, 2 + config.num_patches, config.hidden_size)
        )
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_values: torch.Tensor) -> torch.Tensor:
        patches = self.patch_embeddings(input_values)  # (B, F*T, D)
        batch = patches.shape[0]
        tokens = torch.cat(
            [
                self.cls_token.expand(batch, -1, -1),
                self.distillation_token.expand(batch, -1, -1),
                patches,
            ],
            dim=1,
        )  # (B, 2 + F*T, D)
        return self.dropout(tokens + self.position_embeddings)


class ASTSelfAttention(nn.Module):
    """Multi-head scaled dot-product attention: SDPA, or explicit softmax when the weights or a
    head mask are wanted."""

    def __init__(self, config: ASTConfig):
        super().__init__()
        self.config = config  # its _attn_implementation: "sdpa" (default) or "eager"
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.dropout_prob = config.attention_probs_dropout_prob
        self.query = nn.Linear(config.hidden_size, config.hidden_size, bias=config.qkv_bias)
        self.key = nn.Linear(config.hidden_size, config.hidden_size, bias=config.qkv_bias)
        self.value = nn.Linear(config.hidden_size, config.hidden_size, bias=config.qkv_bias)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, _ = x.shape
        return x.view(batch, tokens, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(
        self,
        hidden_states: torch.Tensor,
        head_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch, tokens, width = hidden_states.shape
        query = self._split_heads(self.query(hidden_states))  # (B, heads, T, head_dim)
        key = self._split_heads(self.key(hidden_states))  # (B, heads, T, head_dim)
        value = self._split_heads(self.value(hidden_states))  # (B, heads, T, head_dim)
        dropout_p = self.dropout_prob if self.training else 0.0

        probs = None
        eager = self.config._attn_implementation == "eager"
        if output_attentions or head_mask is not None or eager:
            scores = query @ key.transpose(-1, -2) * self.head_dim**-0.5  # (B, heads, T, T)
            probs = scores.softmax(dim=-1, dtype=torch.float32).to(query.dtype)
            probs = F.dropout(probs, p=dropout_p, training=self.training)
            if head_mask is not None:
                probs = probs * head_mask  # head_mask: (1, heads, 1, 1)
            context = probs @ value  # (B, heads, T, head_dim)
        else:
            context = F.scaled_dot_product_attention(query, key, value, dropout_p=dropout_p)
        context = context.transpose(1, 2).reshape(batch, tokens, width)  # (B, T, D)
        return context, probs


class ASTSelfOutput(nn.Module):
    def __init__(self, config: ASTConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.dense(hidden_states))


class ASTAttention(nn.Module):
    def __init__(self, config: ASTConfig):
        super().__init__()
        self.attention = ASTSelfAttention(config)
        self.output = ASTSelfOutput(config)

    def forward(
        self,
        hidden_states: torch.Tensor,
        head_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        context, probs = self.attention(hidden_states, head_mask, output_attentions)
        return self.output(context), probs


class ASTIntermediate(nn.Module):
    def __init__(self, config: ASTConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.activation = get_activation(config.hidden_act)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(hidden_states))


class ASTOutput(nn.Module):
    def __init__(self, config: ASTConfig):
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.dense(hidden_states))


class ASTLayer(nn.Module):
    """Pre-LayerNorm transformer layer: x + attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, config: ASTConfig):
        super().__init__()
        self.attention = ASTAttention(config)
        self.intermediate = ASTIntermediate(config)
        self.output = ASTOutput(config)
        self.layernorm_before = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.layernorm_after = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(
        self,
        hidden_states: torch.Tensor,
        head_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attended, probs = self.attention(
            self.layernorm_before(hidden_states), head_mask, output_attentions
        )
        hidden_states = hidden_states + attended
        mlp = self.output(self.intermediate(self.layernorm_after(hidden_states)))
        return hidden_states + mlp, probs


class ASTEncoder(nn.Module):
    def __init__(self, config: ASTConfig):
        super().__init__()
        self.layer = nn.ModuleList(ASTLayer(config) for _ in range(config.num_hidden_layers))
        # transformers' older switch: a config with gradient_checkpointing=True starts with it on
        self.gradient_checkpointing = bool(getattr(config, "gradient_checkpointing", False))
        self.checkpointing_kwargs: dict[str, Any] = {"use_reentrant": False}

    def forward(
        self,
        hidden_states: torch.Tensor,
        head_mask: torch.Tensor | None,
        output_attentions: bool,
        output_hidden_states: bool,
    ) -> tuple[torch.Tensor, tuple | None, tuple | None]:
        all_hidden = [hidden_states] if output_hidden_states else None
        all_attentions = [] if output_attentions else None
        for index, layer in enumerate(self.layer):
            layer_mask = None if head_mask is None else head_mask[index]
            if self.gradient_checkpointing and self.training:
                hidden_states, probs = checkpoint(
                    layer, hidden_states, layer_mask, output_attentions, **self.checkpointing_kwargs
                )
            else:
                hidden_states, probs = layer(hidden_states, layer_mask, output_attentions)
            if all_hidden is not None:
                all_hidden.append(hidden_states)
            if all_attentions is not None:
                all_attentions.append(probs)
        return (
            hidden_states,
            None if all_hidden is None else tuple(all_hidden),
            None if all_attentions is None else tuple(all_attentions),
        )


class ASTMLPHead(nn.Module):
    """Classifier on the pooled vector: LayerNorm + Linear (Identity when num_labels == 0)."""

    def __init__(self, config: ASTConfig):
        super().__init__()
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.head_layer_norm_eps)
        self.dense: nn.Module = (
            nn.Linear(config.hidden_size, config.num_labels)
            if config.num_labels > 0
            else nn.Identity()
        )

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.dense(self.layernorm(pooled))
