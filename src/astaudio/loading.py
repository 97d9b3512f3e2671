"""One call from a model name and runtime options to an AudioClassifier: the torch model
(float, compiled, or int8), or an exported graph run by ONNX Runtime (float or int8)."""

from __future__ import annotations

import os
from typing import Any

import torch

from .bundled import resolve_bundled
from .constants import DEFAULT_MODEL
from .export import load_onnx_classifier, quantize_dynamic_int8
from .inference import AudioClassifier, load_feature_extractor, resolve_dtype
from .model import ASTForAudioClassification
from .scores import Activation

BACKENDS = ("torch", "onnxruntime")
QUANTIZATIONS = ("int8",)


def load_classifier(
    model: str | os.PathLike = DEFAULT_MODEL,
    *,
    backend: str = "torch",
    quantize: str | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | str | None = None,
    compile: bool | str = False,
    threads: int | None = None,
    activation: Activation | None = None,
    **hub_kwargs: Any,
) -> AudioClassifier:
    """An AudioClassifier for ``model`` (hub id, folder or bundled name).

    backend: "torch", or "onnxruntime" for a folder made by ``astaudio export onnx``.
    quantize: "int8" runs int8 weights on the CPU (torch: dynamic quantization of the float
    model; onnxruntime: the folder's model_quantized.onnx). dtype: float32 (default), bfloat16
    or float16, torch float models only. compile: torch.compile the float torch model.
    threads: CPU threads (torch's intra-op threads; also ONNX Runtime's). ``revision``,
    ``cache_dir``, ``token`` and ``local_files_only`` pass through to the hub.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be None or one of {QUANTIZATIONS}, got {quantize!r}")
    if compile and (backend != "torch" or quantize):
        raise ValueError("compile applies to the float torch model")
    if (backend != "torch" or quantize) and resolve_dtype(dtype) != torch.float32:
        raise ValueError(f"{backend} {quantize or 'float32'} models run in float32, not {dtype}")
    if threads:
        torch.set_num_threads(threads)
    if backend == "onnxruntime":
        return load_onnx_classifier(
            model,
            device=device,
            activation=activation,
            quantized=quantize == "int8",
            threads=threads,
            **hub_kwargs,
        )
    if quantize is None:
        return AudioClassifier.from_pretrained(
            model,
            device=device,
            dtype=dtype,
            activation=activation,
            compile_model=compile,
            **hub_kwargs,
        )
    if device is not None and torch.device(device if device != "auto" else "cpu").type != "cpu":
        raise ValueError("int8 models run on the CPU")
    folder = resolve_bundled(model)
    network = ASTForAudioClassification.from_pretrained(folder, **hub_kwargs)
    extractor = load_feature_extractor(folder, network.config, **hub_kwargs)
    return AudioClassifier(
        quantize_dynamic_int8(network), extractor, device="cpu", activation=activation
    )
