"""Deployment: ONNX export, an ONNX Runtime backend for AudioClassifier, and int8 models.

The exported graph maps features (B, max_length, num_mel_bins) to ``logits`` (B, num_labels)
and ``pooled`` (B, hidden). With ``with_features=True`` it starts from raw 16 kHz audio
``waveform`` (B, N) instead, N free: the Kaldi filter bank front end is part of the graph, made
of plain MatMul / elementwise ops (the DFT is a matmul with fixed cos/sin bases), so any ONNX
runtime can run it. config.json and preprocessor_config.json are written beside the .onnx file,
which makes that folder a model for ``load_onnx_classifier`` and ``--backend onnxruntime``.

Export uses torch's TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``):
the torch.export-based one (``dynamo=True``, the default since torch 2.9) needs the onnxscript
package, and the traced graph of this model has no data-dependent control flow to lose.

int8: ``quantize_dynamic_int8`` (torch, nn.Linear weights in int8, CPU only) and
``quantize_onnx_int8`` (ONNX Runtime dynamic quantization of the MatMuls; the feature front end,
whose power spectra span ~15 orders of magnitude, and the Conv patch embedding stay float32).
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
from .constants import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET, ONNX_NAME, QUANTIZED_SUFFIX
from .errors import AstAudioError, ModelNotFoundError
from .features import LOG_FLOOR, PREEMPHASIS, ASTFeatureExtractor, frame_geometry, mel_filterbank
from .hub import resolve_file
from .inference import AudioClassifier, load_feature_extractor, resolve_device
from .model import ASTClassifyOutput, ASTForAudioClassification

FRONT_END_SCOPE = "/front_end/"  # node-name prefix of the feature front end in exported graphs
INSTALL_HINT = "pip install 'astaudio[export]'"


class MissingDependencyError(AstAudioError, ImportError):
    """An optional package (onnx, onnxruntime) is not installed."""


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

    def forward(self, waveform: Tensor) -> Tensor:
        """waveform (B, N) float32 at the extractor's rate -> features (B, T, M) float32."""
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
        real_frame = inside[0].index_select(0, self.last_sample) > 0  # (T,)
        padding = torch.full_like(log_mel[:1, :1, :1], self.padding_value)
        features = torch.where(real_frame[None, :, None], log_mel, padding)
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
    """waveform (B, N) -> logits (B, C), pooled (B, D)."""

    def __init__(self, model: ASTForAudioClassification, extractor: ASTFeatureExtractor):
        super().__init__()
        self.front_end = WaveformFrontEnd(extractor)  # node names start with FRONT_END_SCOPE
        self.network = _FeaturesGraph(model)

    def forward(self, waveform: Tensor) -> tuple[Tensor, Tensor]:
        return self.network(self.front_end(waveform))


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
    "pooled" (B, hidden); with ``with_features`` the input is "waveform" (B, N) float32 audio at
    the extractor's rate (16 kHz), any N (see :class:`WaveformFrontEnd`). B is dynamic, or fixed
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
        example = 0.1 * torch.randn(batch, samples, generator=generator)
        input_name, axes = "waveform", {0: "batch", 1: "samples"}
    else:
        graph = _FeaturesGraph(network)
        example = torch.randn(batch, config.max_length, config.num_mel_bins, generator=generator)
        input_name, axes = "input_values", {0: "batch"}
    if not dynamic_batch:
        axes.pop(0)
    dynamic_axes = {input_name: axes}
    if dynamic_batch:
        dynamic_axes.update(logits={0: "batch"}, pooled={0: "batch"})
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shape checks, constant
            warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter
            warnings.filterwarnings("ignore", "Constant folding", UserWarning)  # strided Slice
            torch.onnx.export(
                graph,
                (example,),
                str(path),
                dynamo=False,
                opset_version=opset,
                input_names=[input_name],
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
    if backend.input_name == "waveform":
        samples = round(1.5 * extractor.sampling_rate)  # 1.5 s: real frames, then padding
        inputs = 0.1 * torch.randn(batch, samples, generator=generator)
        features = extractor.extract(inputs)
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
    logits, pooled = backend(inputs)
    return {
        "logits": float((logits - expected_logits.float().cpu()).abs().max()),
        "pooled": float((pooled - expected_pooled.float().cpu()).abs().max()),
    }


# -- ONNX Runtime ---------------------------------------------------------------------------
class OnnxBackend:
    """Run an exported graph with ONNX Runtime: inputs (B, ...) -> (logits (B, C), pooled (B, D)).

    Inputs are features (B, max_length, mel), or waveforms (B, N) for a ``with_features``
    graph. A graph exported with a fixed batch of 1 is run row by row. ``providers``: ONNX
    Runtime provider names (default CPU only); ``threads``: intra-op threads (default: ORT's).
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
            raise AstAudioError(f"{path}: onnxruntime cannot load it ({exc})") from None
        self.path = path
        self.config = config  # what AudioClassifier reads labels from
        inputs = self.session.get_inputs()
        outputs = [o.name for o in self.session.get_outputs()]
        if len(inputs) != 1 or outputs[:2] != ["logits", "pooled"]:
            raise AstAudioError(
                f"{path}: not an astaudio graph (inputs {[i.name for i in inputs]}, "
                f"outputs {outputs}; expected one input and outputs logits, pooled)"
            )
        self.input_name = inputs[0].name
        self.input_shape = list(inputs[0].shape)  # ints for fixed sizes, names for dynamic
        fixed = self.input_shape[0]
        self.fixed_batch = fixed if isinstance(fixed, int) else None

    def __call__(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        array = np.ascontiguousarray(inputs.detach().to("cpu", torch.float32).numpy())
        step = self.fixed_batch or max(len(array), 1)
        logits, pooled = [], []
        for start in range(0, len(array), step):
            out = self.session.run(
                ["logits", "pooled"], {self.input_name: array[start : start + step]}
            )
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
    model_quantized.onnx. Features are computed with torch on ``device`` ("cpu" or "cuda");
    the graph runs on ORT's CUDA provider when device is cuda and ``providers`` is None.
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
    if backend.input_name != "input_values":
        raise AstAudioError(
            f"{path} takes raw waveforms (exported with --with-features); AudioClassifier "
            "computes features itself and needs a graph exported without --with-features"
        )
    return AudioClassifier(backend, extractor, device=torch_device, activation=activation)


# -- int8 -----------------------------------------------------------------------------------
def quantize_dynamic_int8(model: nn.Module) -> nn.Module:
    """A copy of the model with every nn.Linear in dynamic int8 (weights int8, activations
    quantized per batch); CPU only. Uses torch.ao.quantization.quantize_dynamic, which torch
    2.13 still ships but marks deprecated (its warnings are silenced here)."""
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
    ``with_features`` graph and the patch Conv stay float32. ``reduce_range`` (7-bit weights)
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
    return onnx_out


class _DropLogRecords(logging.Filter):
    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)
