"""Position embeddings fitted to another patch grid (centre cut or bilinear interpolation, as
the AST code does), for checkpoints trained on other spectrogram sizes or strides and for
ImageNet's 24x24 grid."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _shape(shape) -> str:
    """A tensor shape for messages: (1, 2, 3)."""
    return "(" + ", ".join(str(n) for n in shape) + ")"


def adapt_position_embeddings(
    pos: torch.Tensor, old_grid: tuple[int, int], new_grid: tuple[int, int]
) -> torch.Tensor:
    """Fit position embeddings to another patch grid, as the original AST code does.

    pos: (1, 2 + F*T, D): the [CLS] and distillation tokens' embeddings, then the (F, T) grid in
    frequency-major order. Each axis (time first, then frequency) is cut from its centre when
    it shrinks (start ``old // 2 - new // 2``) or bilinearly interpolated when it grows; the two
    token embeddings are kept. Returns (1, 2 + F'*T', D) in pos's dtype.
    """
    (old_f, old_t), (new_f, new_t) = tuple(old_grid), tuple(new_grid)
    if pos.ndim != 3 or pos.shape[0] != 1 or pos.shape[1] != 2 + old_f * old_t:
        raise ValueError(
            f"position embeddings of shape {_shape(pos.shape)} don't fit a {old_f}x{old_t} grid "
            f"(expected (1, {2 + old_f * old_t}, D))"
        )
    if min(new_f, new_t) < 1:
        raise ValueError(f"new grid must be positive, got {new_grid}")
    width = pos.shape[-1]
    grid = pos[:, 2:].reshape(1, old_f, old_t, width).permute(0, 3, 1, 2)  # (1, D, F, T)
    grid = _fit_axis(grid.float(), dim=3, size=new_t)
    grid = _fit_axis(grid, dim=2, size=new_f)
    patches = grid.permute(0, 2, 3, 1).reshape(1, new_f * new_t, width)  # (1, F'*T', D)
    return torch.cat([pos[:, :2], patches.to(pos.dtype)], dim=1)


def _fit_axis(grid: torch.Tensor, dim: int, size: int) -> torch.Tensor:
    """Centre cut or bilinear stretch of one axis of grid (1, D, F, T)."""
    old = grid.shape[dim]
    if size == old:
        return grid
    if size < old:
        return grid.narrow(dim, old // 2 - size // 2, size)
    target = list(grid.shape[2:])
    target[dim - 2] = size
    return F.interpolate(grid, size=tuple(target), mode="bilinear", align_corners=False)
