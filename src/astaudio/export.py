"""Deployment: ONNX export, an ONNX Runtime backend for AudioClassifier, and int8 models.

The exported graph maps features (B, max_length, num_mel_bins) to ``logits`` (B, num_labels)
and ``pooled`` (B, hidden). With ``with_features=True`` it starts from raw 16 kHz audio
instead: ``waveform`` (B, N), N free, clips zero-padded at the end, and ``lengths`` (B,) int64,
each clip's real samples (so a short clip in a batch gets its own answer, not that of a longer
clip ending in silence). The Kaldi filter bank front end is then part of the graph, made
of plain MatMul / elementwise ops (the DFT is a matmul with fixed cos/sin bases), so any ONNX
runtime can run it. config.json and preprocessor_config.json are written beside the .onnx file,
which makes that folder a model for ``load_onnx_classifier`` and ``--backend onnxruntime``.

Export uses torch's TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``):
the torch.export-based one (``dynamo=True``, the default since torch 2.9) needs the onnxscript
package, and the traced graph of this model has no data-dependent control flow to lose.

int8: ``quantize_dynamic_int8`` (torch, nn.Linear weights in int8, CPU only) and
``quantize_onnx_int8`` (ONNX Runtime dynamic quantization of the MatMuls; the feature front end,
whose power spectra span ~15 orders of magnitude, and the Conv patch embedding stay float32).
Dynamic quantization scales activations at run time, so a clip must not share its scale with
its batch-mates: torch int8 runs its linears one clip at a time (PerClipDynamicLinear); ORT's
per-tensor scale is per session call, and OnnxBackend calls an int8 graph once per clip.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import ASTConfig
from .constants import (
    DEFAULT_OPSET,
    INSTALL_HINT,
    MAX_OPSET,
    MIN_OPSET,
    ONNX_NAME,
    QUANTIZED_SUFFIX,
)
from .errors import AstAudioError, MissingDependencyError, ModelNotFoundError
from .features import LOG_FLOOR, PREEMPHASIS, ASTFeatureExtractor, frame_geometry, mel_filterbank
from .hub import resolve_file
from .inference import AudioClassifier, load_feature_extractor, resolve_device
from .model import ASTClassifyOutput, ASTForAudioClassification

FRONT_END_SCOPE = "/front_end/"  # node-name prefix of the feature front end in exported graphs
# quantize_onnx_int8 marks its graphs: one activation scale per session call, so one clip a call
SCALES_KEY = "astaudio.activation_scales"
DYNAMIC_QUANTIZE_OPS = {"DynamicQuantizeLinear", "DynamicQuantizeMatMul", "MatMulIntegerToFloat"}


def import_onnx():
    """The onnx module, or MissingDependencyError with the install hint."""
    try:
        import onnx
    except ImportError:
        raise MissingDependencyError(
            f"ONNX export needs the 'onnx' package: {INSTALL_HINT}"
        ) from None
    return onnx


def import_onnxruntime():
    """The onnxruntime module, or MissingDependencyError with the install hint."""
    try:
        import onnxruntime
    except ImportError:
        raise MissingDependencyError(
            f"the onnxruntime backend needs the 'onnxruntime' package: {INSTALL_HINT}"
        ) from None
    return onnxruntime


# -- graphs ---------------------------------------------------------------------------------
class WaveformFrontEnd(nn.Module):
    """ASTFeatureExtractor's features as traceable tensor ops: waveform (B, N) -> (B, T, M).

    T = max_length frames of 25 ms every 10 ms, M = num_mel_bins. The same steps as
    :func:`astaudio.features.kaldi_fbank` (DC removal, pre-emphasis, Hann window, power
    spectrum, mel filters, log floor), then padding frames past the clip's end and normalising
    as the extractor does. N may be anything: the clip is zero-padded to the samples T frames
    need, and frames that reach past the real samples get ``padding_value``. The FFT is a
    matmul with a fixed DFT basis, so the power spectrum rounds differently from the
    extractor's FFT in float32 (~4e-5 on normalised features of real recordings).
    """

    def __init__(self, extractor: ASTFeatureExtractor):
        super().__init__()
        frame_length, frame_shift, n_fft = frame_geometry(extractor.sampling_rate)
        self.frame_length, self.frame_shift = frame_length, frame_shift
        self.num_frames = extractor.max_length
        self.pieces = math.ceil(frame_length / frame_shift)  # rows of frame_shift per frame
        self.padding_value = extractor.padding_value
        self.do_normalize = extractor.do_normalize
        self.mean, self.std = extractor.mean, extractor.std
        bins = n_fft // 2 + 1
        # (L, K) in float64: n * k reaches 1e5, beyond float32's exact phase; n * k mod n_fft
        # keeps the angle small. Samples past L are the FFT's zero padding.
        products = torch.outer(torch.arange(frame_length), torch.arange(bins)) % n_fft
        angle = products.double() * (2 * math.pi / n_fft)
        basis = torch.cat([angle.cos(), -angle.sin()], dim=1)  # (L, 2K): real | imaginary
        self.register_buffer("dft_basis", basis.float(), persistent=False)
        window = torch.hann_window(frame_length, periodic=False, dtype=torch.float32)
        self.register_buffer("window", window, persistent=False)  # (L,)
        banks = mel_filterbank(extractor.num_mel_bins, extractor.sampling_rate, n_fft)
        self.register_buffer("mel_banks", banks.T.contiguous(), persistent=False)  # (K, M)
        last = torch.arange(self.num_frames) * frame_shift + frame_length - 1
        self.register_buffer("last_sample", last, persistent=False)  # (T,) each frame's end

    def forward(self, waveform: Tensor, lengths: Tensor | None = None) -> Tensor:
        """waveform (B, N) float32 at the extractor's rate, lengths (B,) integer samples of
        each clip (None: all N) -> features (B, T, M) float32. Clip b's frames past
        lengths[b] get ``padding_value``, as the extractor pads a clip shorter than the batch."""
        waveform = waveform.float()
        rows = self.num_frames + self.pieces - 1
        span = rows * self.frame_shift  # samples covered by the T frames, rounded up to rows
        padded = F.pad(waveform, (0, span))[:, :span]  # (B, span), zeros past the clip
        grid = padded.reshape(-1, rows, self.frame_shift)  # (B, rows, shift)
        shifted = [grid[:, j : j + self.num_frames] for j in range(self.pieces)]  # (B, T, shift)
        frames = torch.cat(shifted, dim=-1)[..., : self.frame_length]  # (B, T, L), t * shift on
        # float32 arithmetic in torchaudio's order (see astaudio.features)
        x = frames - frames.mean(dim=-1, keepdim=True)
        x = (x - PREEMPHASIS * torch.cat((x[..., :1], x[..., :-1]), dim=-1)) * self.window
        spectrum = x @ self.dft_basis  # (B, T, 2K)
        real, imag = spectrum.chunk(2, dim=-1)  # (B, T, K) each
        energies = (real * real + imag * imag) @ self.mel_banks  # (B, T, M)
        log_mel = energies.clamp_min(LOG_FLOOR).log()
        # a frame is real when its last sample lies inside the clip (Kaldi's snip_edges)
        inside = F.pad(torch.ones_like(waveform[:1]), (0, span))  # (1, N + span)
        real_frame = (inside[0].index_select(0, self.last_sample) > 0)[None]  # (1, T)
        if lengths is not None:  # (B, T): the frame also ends inside clip b's own samples
            real_frame = real_frame & (self.last_sample[None] < lengths.long()[:, None])
        padding = torch.full_like(log_mel[:1, :1, :1], self.padding_value)
        features = torch.where(real_frame[..., None], log_mel, padding)
        if self.do_normalize:
            features = (features - self.mean) / (2 * self.std)  # as ASTFeatureExtractor.normalize
        return features


class _FeaturesGraph(nn.Module):
    """features (B, T, M) -> logits (B, C), pooled (B, D): what AudioClassifier runs."""

    def __init__(self, model: ASTForAudioClassification):
        super().__init__()
        self.model = model

    def forward(self, input_values: Tensor) -> tuple[Tensor, Tensor]:
        out = self.model.classify(input_values)
        return out.logits, out.pooled


class _WaveformGraph(nn.Module):
    """waveform (B, N), lengths (B,) -> logits (B, C), pooled (B, D)."""

    def __init__(self, model: ASTForAudioClassification, extractor: ASTFeatureExtractor):
        super().__init__()
        self.front_end = WaveformFrontEnd(extractor)  # node names start with FRONT_END_SCOPE
        self.network = _FeaturesGraph(model)

    def forward(self, waveform: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        return self.network(self.front_end(waveform, lengths))


def _is_quantized(model: nn.Module) -> bool:
    return any(".quantized" in type(m).__module__ for m in model.modules())


def _extractor_for(model: ASTForAudioClassification, folder: Path, extractor):
    """The given extractor; else the folder's preprocessor_config.json; else the default."""
    config = model.config
    if extractor is None:
        extractor = load_feature_extractor(folder, config) if folder.is_dir() else None
    if extractor is None:
        extractor = ASTFeatureExtractor(
            num_mel_bins=config.num_mel_bins, max_length=config.max_length
        )
    if (extractor.num_mel_bins, extractor.max_length) != (config.num_mel_bins, config.max_length):
        raise ValueError(
            f"the feature extractor makes {extractor.max_length} x {extractor.num_mel_bins} "
            f"features, the model takes {config.max_length} x {config.num_mel_bins}"
        )
    return extractor


def export_onnx(
    model: ASTForAudioClassification,
    path: str | os.PathLike,
    *,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = True,
    with_features: bool = False,
    feature_extractor: ASTFeatureExtractor | None = None,
) -> Path:
    """Write the model as an ONNX graph, plus config.json and preprocessor_config.json beside it.

    Graph: "input_values" (B, max_length, num_mel_bins) float32 -> "logits" (B, num_labels),
    "pooled" (B, hidden); with ``with_features`` the inputs are "waveform" (B, N) float32 audio
    at the extractor's rate (16 kHz), any N, zero-padded at the end, and "lengths" (B,) int64,
    each clip's real samples (see :class:`WaveformFrontEnd`), so that clips of different lengths
    share a batch and get the answers they get alone. B is dynamic, or fixed
    at 1 when ``dynamic_batch`` is False. ``path``: the .onnx file, or a folder (-> model.onnx).
    ``feature_extractor``: None takes the folder's preprocessor_config.json if it has one, else
    the default extractor sized to the model. Returns the .onnx path.
    """
    import_onnx()
    if not isinstance(model, ASTForAudioClassification):
        raise TypeError(f"model must be an ASTForAudioClassification, got {type(model).__name__}")
    if _is_quantized(model):
        raise ValueError(
            "export the float32 model and quantize the ONNX file (quantize_onnx_int8); "
            "torch's quantized modules have no ONNX export"
        )
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(f"opset must be between {MIN_OPSET} and {MAX_OPSET}, got {opset}")
    path = Path(path)
    if path.suffix != ".onnx":
        path = path / ONNX_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    extractor = _extractor_for(model, path.parent, feature_extractor)
    config = model.config

    network = model
    if model.device.type != "cpu" or model.dtype != torch.float32:
        network = copy.deepcopy(model).to(device="cpu", dtype=torch.float32)
    was_training = network.training
    network.eval()
    batch = 2 if dynamic_batch else 1  # 2, so that no size is traced as a constant 1
    generator = torch.Generator().manual_seed(0)  # leaves the global random state alone
    if with_features:
        graph: nn.Module = _WaveformGraph(network, extractor)
        frame_length, frame_shift, _ = frame_geometry(extractor.sampling_rate)
        samples = (config.max_length - 1) * frame_shift + frame_length
        lengths = torch.tensor([samples, samples * 2 // 3][:batch])
        example: tuple[Tensor, ...] = (
            0.1 * torch.randn(batch, samples, generator=generator),
            lengths,
        )
        input_names = ["waveform", "lengths"]
        dynamic_axes: dict[str, dict[int, str]] = {
            "waveform": {0: "batch", 1: "samples"}, "lengths": {0: "batch"}
        }  # fmt: skip
    else:
        graph = _FeaturesGraph(network)
        example = (torch.randn(batch, config.max_length, config.num_mel_bins, generator=generator),)
        input_names, dynamic_axes = ["input_values"], {"input_values": {0: "batch"}}
    if dynamic_batch:
        dynamic_axes.update(logits={0: "batch"}, pooled={0: "batch"})
    else:
        dynamic_axes = {name: {k: v for k, v in axes.items() if k != 0}
                        for name, axes in dynamic_axes.items()}  # fmt: skip
        dynamic_axes = {name: axes for name, axes in dynamic_axes.items() if axes}
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shape checks, constant
            warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter
            warnings.filterwarnings("ignore", "Constant folding", UserWarning)  # strided Slice
            torch.onnx.export(
                graph,
                example,
                str(path),
                dynamo=False,
                opset_version=opset,
                input_names=input_names,
                output_names=["logits", "pooled"],
                dynamic_axes=dynamic_axes or None,
                do_constant_folding=True,
            )
    finally:
        network.train(was_training)
    config.save_pretrained(path.parent)
    extractor.save_pretrained(path.parent)
    return path


def verify_onnx(
    model: ASTForAudioClassification,
    path: str | os.PathLike,
    feature_extractor: ASTFeatureExtractor | None = None,
    *,
    batch: int = 2,
    seed: int = 0,
) -> dict[str, float]:
    """Largest |ONNX Runtime - torch| of logits and pooled on random inputs (random audio for a
    waveform graph, which torch featurises with ``feature_extractor``)."""
    backend = OnnxBackend(path)
    generator = torch.Generator().manual_seed(seed)
    config = model.config
    extractor = _extractor_for(model, Path(path).parent, feature_extractor)
    lengths = None
    if backend.takes_waveforms:
        samples = round(1.5 * extractor.sampling_rate)  # 1.5 s: real frames, then padding
        inputs = 0.1 * torch.randn(batch, samples, generator=generator)
        lengths = torch.tensor([samples - 3 * extractor.sampling_rate // 4 * (row % 2)
                                for row in range(batch)])  # fmt: skip
        inputs[lengths[:, None] <= torch.arange(samples)] = 0.0  # zero-padded: 1.5 s, 0.75 s
        features = extractor.extract(inputs, lengths)
    else:
        inputs = torch.randn(batch, config.max_length, config.num_mel_bins, generator=generator)
        features = inputs
    was_training = model.training
    try:
        with torch.inference_mode():
            expected_logits, expected_pooled = _FeaturesGraph(model.eval())(
                features.to(device=model.device, dtype=model.dtype)
            )
    finally:
        model.train(was_training)
    logits, pooled = backend(inputs, lengths)
    return {
        "logits": float((logits - expected_logits.float().cpu()).abs().max()),
        "pooled": float((pooled - expected_pooled.float().cpu()).abs().max()),
    }


# -- ONNX Runtime ---------------------------------------------------------------------------
class OnnxBackend:
    """Run an exported graph with ONNX Runtime: inputs (B, ...) -> (logits (B, C), pooled (B, D)).

    Inputs are features (B, max_length, mel), or waveforms (B, N) with lengths (B,) for a
    ``with_features`` graph. A graph exported with a fixed batch of 1, and a dynamic int8 graph
    (whose activation scale is one per session call, see :func:`quantize_onnx_int8`), are run
    one clip per call. ``providers``: ONNX Runtime provider names (default CPU only);
    ``threads``: intra-op threads (default: ORT's).
    With the model's ``config`` it is a network for :class:`AudioClassifier` (``classify``).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
        config: ASTConfig | None = None,
    ):
        ort = import_onnxruntime()
        path = Path(path)
        if not path.is_file():
            raise ModelNotFoundError(f"{path}: no such ONNX file")
        providers = list(providers or ["CPUExecutionProvider"])
        missing = [p for p in providers if p not in ort.get_available_providers()]
        if missing:
            raise AstAudioError(
                f"onnxruntime has no {', '.join(missing)} here "
                f"(available: {', '.join(ort.get_available_providers())})"
            )
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            reason = " ".join(str(exc).split())
            raise ModelNotFoundError(f"{path}: onnxruntime cannot load it ({reason})") from None
        self.path = path
        self.config = config  # what AudioClassifier reads labels from
        inputs = {i.name: i for i in self.session.get_inputs()}
        outputs = [o.name for o in self.session.get_outputs()]
        known = (["input_values"], ["waveform"], ["waveform", "lengths"])
        if sorted(inputs) not in [sorted(k) for k in known] or outputs[:2] != ["logits", "pooled"]:
            raise ModelNotFoundError(
                f"{path}: not an astaudio graph (inputs {list(inputs)}, outputs {outputs}; "
                "expected input_values, or waveform and lengths, and outputs logits, pooled)"
            )
        self.input_name = "input_values" if "input_values" in inputs else "waveform"
        self.takes_waveforms = self.input_name == "waveform"
        self.has_lengths = "lengths" in inputs  # graphs before lengths took equal-length clips
        self.input_shape = list(inputs[self.input_name].shape)  # ints if fixed, names if dynamic
        fixed = self.input_shape[0]
        self.fixed_batch = fixed if isinstance(fixed, int) else None
        metadata = self.session.get_modelmeta().custom_metadata_map
        self.per_clip = self.fixed_batch == 1 or (
            metadata.get(SCALES_KEY) == "per-call"
            if SCALES_KEY in metadata
            else _has_dynamic_quantization(path)
        )

    def __call__(
        self, inputs: Tensor, lengths: Tensor | Sequence[int] | None = None
    ) -> tuple[Tensor, Tensor]:
        """inputs (B, T, M) features or (B, N) zero-padded waveforms; lengths (B,) samples of
        each waveform (None: all N) -> logits (B, C), pooled (B, D) float32."""
        array = np.ascontiguousarray(inputs.detach().to("cpu", torch.float32).numpy())
        batch = len(array)
        sizes = None
        if self.takes_waveforms:
            width = array.shape[-1]
            if lengths is None:
                sizes = np.full(batch, width, dtype=np.int64)
            else:
                sizes = np.asarray(torch.as_tensor(lengths).cpu(), dtype=np.int64).reshape(-1)
                if sizes.shape != (batch,) or (sizes < 0).any() or (sizes > width).any():
                    raise ValueError(
                        f"lengths must be {batch} sample counts in [0, {width}], got {sizes}"
                    )
        # a graph without a lengths input sees each clip's own samples only when run alone
        ragged = sizes is not None and not self.has_lengths and bool((sizes != width).any())
        step = 1 if self.per_clip or ragged else (self.fixed_batch or max(batch, 1))
        logits, pooled = [], []
        for start in range(0, batch, step):
            rows = array[start : start + step]
            feed = {self.input_name: rows}
            if ragged:
                feed[self.input_name] = rows[:, : sizes[start]]
            elif self.has_lengths:
                feed["lengths"] = sizes[start : start + step]
            out = self.session.run(["logits", "pooled"], feed)
            logits.append(out[0])
            pooled.append(out[1])
        return (
            torch.from_numpy(np.concatenate(logits)).to(inputs.device),
            torch.from_numpy(np.concatenate(pooled)).to(inputs.device),
        )

    def classify(self, input_values: Tensor, *, return_tokens: bool = False) -> ASTClassifyOutput:
        """The model's ``classify`` for AudioClassifier: logits and pooled (no tokens)."""
        if return_tokens:
            raise ValueError(
                "tokens=True needs the torch model; the ONNX backend gives logits and pooled only"
            )
        logits, pooled = self(input_values)
        return ASTClassifyOutput(logits, pooled)


def _has_dynamic_quantization(path: Path) -> bool:
    """Whether an ONNX file without astaudio's metadata quantizes activations at run time
    (False when the onnx package, needed to read the nodes, is missing)."""
    try:
        import onnx
    except ImportError:
        return False
    graph = onnx.load(str(path), load_external_data=False).graph
    return any(node.op_type in DYNAMIC_QUANTIZE_OPS for node in graph.node)


def onnx_file(model: str | os.PathLike, quantized: bool = False, **hub_kwargs: Any) -> Path:
    """The .onnx file of a folder, hub id, or .onnx path (model_quantized.onnx when quantized)."""
    text = os.fspath(model)
    if text.endswith(".onnx"):
        path = Path(text).expanduser()
        if quantized and not path.stem.endswith(QUANTIZED_SUFFIX):
            path = path.with_name(path.stem + QUANTIZED_SUFFIX + ".onnx")
        if not path.is_file():
            raise ModelNotFoundError(f"{path}: no such ONNX file")
        return path
    name = Path(ONNX_NAME).stem + (QUANTIZED_SUFFIX if quantized else "") + ".onnx"
    path = resolve_file(model, name, required=False, **hub_kwargs)
    if path is None:
        how = "astaudio export onnx MODEL -o FOLDER" + (" --quantize int8" if quantized else "")
        raise ModelNotFoundError(f"{text}: no {name} (make one with '{how}')")
    return path


def load_onnx_classifier(
    model: str | os.PathLike,
    device: str | torch.device | None = None,
    activation: str | None = None,
    quantized: bool = False,
    *,
    providers: Sequence[str] | None = None,
    threads: int | None = None,
    **hub_kwargs: Any,
) -> AudioClassifier:
    """An AudioClassifier that runs an exported graph with ONNX Runtime.

    ``model``: a folder (or hub id) with model.onnx, config.json and preprocessor_config.json,
    as export_onnx writes them, or the .onnx file itself. ``quantized`` picks
    model_quantized.onnx. Features are computed with torch on ``device`` ("cpu" or "cuda"), or
    by the graph itself when it was exported ``with_features``; the graph runs on ORT's CUDA
    provider when device is cuda and ``providers`` is None.
    """
    from .bundled import resolve_bundled

    model = resolve_bundled(model)
    path = onnx_file(model, quantized, **hub_kwargs)
    folder = path.parent if os.fspath(model).endswith(".onnx") else model
    config = ASTConfig.from_pretrained(folder, **hub_kwargs)
    extractor = load_feature_extractor(folder, config, **hub_kwargs)
    torch_device = resolve_device(device)
    if providers is None:
        providers = ["CPUExecutionProvider"]
        if torch_device.type == "cuda":
            providers.insert(0, "CUDAExecutionProvider")
    backend = OnnxBackend(path, providers=providers, threads=threads, config=config)
    return AudioClassifier(backend, extractor, device=torch_device, activation=activation)


# -- int8 -----------------------------------------------------------------------------------
class PerClipDynamicLinear(nn.Module):
    """A dynamic int8 linear run one clip at a time: (B, ..., in) -> (B, ..., out).

    torch's dynamic quantization picks one activation scale per call, from the whole input
    tensor; on a batch that scale would depend on the other clips in it, and so would each
    clip's answer. Row b of dim 0 (one clip's tokens, or one clip's pooled vector) is quantized
    on its own, so a clip gets the same logits alone and in any batch. Measured against a range
    per token (rows mapped onto [0, 1] before the per-tensor quantization), the loop is faster:
    1.27x vs 0.88x torch fp32 on the bundled keyword model at batch 64, 3.4x vs 2.5x on
    86M-sized layers at batch 4 (one thread).
    """

    def __init__(self, linear: nn.Module):
        super().__init__()
        self.linear = linear

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 2 or x.shape[0] <= 1:
            return self.linear(x)
        return torch.cat([self.linear(clip) for clip in x.split(1)])


def quantize_dynamic_int8(model: nn.Module) -> nn.Module:
    """A copy of the model with every nn.Linear in dynamic int8 (weights int8, activations
    quantized at run time with one scale per clip, see :class:`PerClipDynamicLinear`, so that a
    clip's answer does not depend on its batch-mates); CPU only. Uses torch.ao.quantization.quantize_dynamic, which torch 2.13 still ships but marks
    deprecated (its warnings are silenced here)."""
    quantize = getattr(getattr(torch.ao, "quantization", None), "quantize_dynamic", None)
    if quantize is None:
        raise AstAudioError(
            f"torch {torch.__version__} has no dynamic quantization; use ONNX Runtime int8 "
            "(export with --quantize int8, classify with --backend onnxruntime --quantize int8)"
        )
    if any(p.device.type != "cpu" for p in model.parameters()):
        raise ValueError("int8 models run on the CPU: move the model to the CPU first")
    source = model.float() if any(p.dtype != torch.float32 for p in model.parameters()) else model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)  # quantized tensor creation deprecation
        quantized = quantize(source, {nn.Linear}, dtype=torch.qint8)
    dynamic_linear = torch.ao.nn.quantized.dynamic.Linear
    for parent in list(quantized.modules()):
        for name, child in parent.named_children():
            if isinstance(child, dynamic_linear):
                setattr(parent, name, PerClipDynamicLinear(child))
    return quantized.eval()


def quantize_onnx_int8(
    onnx_in: str | os.PathLike,
    onnx_out: str | os.PathLike | None = None,
    *,
    per_channel: bool = False,
    reduce_range: bool = False,
) -> Path:
    """ONNX Runtime dynamic int8 quantization of the graph's weight MatMuls.

    ``onnx_out`` defaults to NAME_quantized.onnx beside the input. The feature front end of a
    ``with_features`` graph and the patch Conv stay float32. Activations are quantized at run
    time with one scale per tensor, so per session call: a clip's answer would depend on its
    batch-mates, and :class:`OnnxBackend` runs such a graph one clip per call (the file's
    metadata says so: ``astaudio.activation_scales = per-call``); do the same elsewhere. ``reduce_range`` (7-bit weights)
    can help on x86 CPUs without VNNI. Returns the output path.
    """
    onnx = import_onnx()
    import_onnxruntime()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    onnx_in = Path(onnx_in)
    if not onnx_in.is_file():
        raise ModelNotFoundError(f"{onnx_in}: no such ONNX file")
    if onnx_out is None:
        onnx_out = onnx_in.with_name(onnx_in.stem + QUANTIZED_SUFFIX + ".onnx")
    onnx_out = Path(onnx_out)
    graph = onnx.load(str(onnx_in), load_external_data=False)
    front_end = [n.name for n in graph.graph.node if n.name.startswith(FRONT_END_SCOPE)]
    # ORT logs a hint on the root logger to run its optional pre-pass (shape inference and
    # graph optimisation), which we skip: it would only be noise in every export
    hint = _DropLogRecords("Please consider to run pre-processing")
    logging.getLogger().addFilter(hint)
    try:
        quantize_dynamic(
            onnx_in,
            onnx_out,
            op_types_to_quantize=["MatMul"],
            per_channel=per_channel,
            reduce_range=reduce_range,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=front_end,
        )
    finally:
        logging.getLogger().removeFilter(hint)
    quantized = onnx.load(str(onnx_out), load_external_data=False)
    onnx.helper.set_model_props(quantized, {SCALES_KEY: "per-call"})
    onnx.save(quantized, str(onnx_out))
    return onnx_out


class _DropLogRecords(logging.Filter):
    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)
