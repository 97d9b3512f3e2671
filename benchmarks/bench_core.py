"""Core benchmark: feature extraction and model forward, astaudio vs transformers, same run.

    python benchmarks/bench_core.py [--device cpu|cuda] [--repeats 3] [--quick] [--json out.json]

Features: 16 clips of 10 s at 16 kHz, clips/s of astaudio's batched extractor vs transformers'
ASTFeatureExtractor (both given the same list of numpy clips, both returning "pt" tensors).
Without torchaudio (not installed here) transformers computes the filter banks with its numpy
fallback, which is also what a transformers user without torchaudio gets.

Model: forward clips/s at batch 4 of the default config (86M parameters, 1214 tokens), fp32,
inference mode, astaudio vs transformers' ASTModel with attn_implementation="sdpa", both with
the same weights, plus the machine's measured fp32 matmul rate and each model's fraction of it
(260 GFLOP per clip). The two sides run interleaved (A, B, A, B, ...) and the best time counts.

Targets (checked here, never in the tests): features >= 5x transformers, model >= 1.0x.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from bench_utils import (
    SMALL_MODEL,
    command_line,
    config_gflop,
    default_device,
    interleaved_best_times,
    machine_info,
    matmul_tflops,
    synchronize,
    write_report,
)

FEATURES_TARGET = 5.0  # astaudio / transformers clips/s
MODEL_TARGET = 1.0
SAMPLE_RATE = 16_000  # Hz


def bench_features(device: str, repeats: int, clips: int = 16, seconds: float = 10.0) -> dict:
    """clips/s of both extractors on `clips` clips of `seconds` each."""
    import transformers

    from astaudio import ASTFeatureExtractor

    rng = np.random.default_rng(0)
    waveforms = [
        (rng.standard_normal(int(seconds * SAMPLE_RATE)) * 0.1).astype(np.float32)
        for _ in range(clips)
    ]
    ours = ASTFeatureExtractor()
    theirs = transformers.ASTFeatureExtractor()

    def run_ours():
        out = ours(waveforms, sampling_rate=SAMPLE_RATE, return_tensors="pt", device=device)
        synchronize(device)
        return out

    def run_theirs():
        return theirs(waveforms, sampling_rate=SAMPLE_RATE, return_tensors="pt")

    times = interleaved_best_times({"astaudio": run_ours, "transformers": run_theirs}, repeats)
    # Same work on both sides: the outputs agree up to the numpy fallback's own error.
    difference = (run_ours()["input_values"].cpu() - run_theirs()["input_values"]).abs().max()
    return {
        "clips": clips,
        "clip_seconds": seconds,
        "astaudio_clips_per_s": clips / times["astaudio"],
        "transformers_clips_per_s": clips / times["transformers"],
        "ratio": times["transformers"] / times["astaudio"],
        "target": FEATURES_TARGET,
        "max_abs_difference": float(difference),
        "transformers_backend": _transformers_fbank_backend(),
    }


def bench_features_one_thread(repeats: int, clips: int) -> dict:
    """The feature benchmark with torch and numpy's BLAS held to one thread each.

    On a shared machine (more runnable threads than cores) torch's multi-threaded ops stall
    waiting for descheduled workers, while transformers' numpy path is mostly single-threaded:
    one thread each compares the two implementations core for core.
    """
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            return bench_features("cpu", repeats, clips=clips)
    finally:
        torch.set_num_threads(threads)


def _transformers_fbank_backend() -> str:
    from transformers.utils import is_speech_available

    return "torchaudio" if is_speech_available() else "numpy fallback (torchaudio not installed)"


def bench_model(device: str, repeats: int, batch: int = 4, overrides: dict | None = None) -> dict:
    """Forward clips/s of the default config (changed by `overrides`), same weights on both
    sides."""
    import transformers

    from astaudio import ASTConfig, ASTModel

    torch.manual_seed(0)
    overrides = overrides or {}
    gflop = config_gflop(overrides)
    theirs = transformers.ASTModel(transformers.ASTConfig(attn_implementation="sdpa", **overrides))
    theirs = theirs.eval().to(device)
    attention = theirs.config._attn_implementation  # what transformers really runs
    ours = ASTModel(ASTConfig(**overrides)).eval().to(device)
    ours.load_state_dict(_on_disk_state_dict(theirs), strict=True)
    inputs = torch.randn(batch, 1024, 128, device=device)  # (B, frames, mel)

    def forward(model):
        def run():
            with torch.inference_mode():
                out = model(inputs).last_hidden_state
            synchronize(device)
            return out

        return run

    times = interleaved_best_times(
        {"astaudio": forward(ours), "transformers": forward(theirs)}, repeats
    )
    difference = (forward(ours)() - forward(theirs)()).abs().max()
    return {
        "batch": batch,
        "config": "small config (quick)" if overrides else "default config",
        "gflop_per_clip": gflop,
        "astaudio_clips_per_s": batch / times["astaudio"],
        "transformers_clips_per_s": batch / times["transformers"],
        "ratio": times["transformers"] / times["astaudio"],
        "target": MODEL_TARGET,
        "astaudio_tflops": batch * gflop / times["astaudio"] / 1e3,
        "transformers_tflops": batch * gflop / times["transformers"] / 1e3,
        "max_abs_difference": float(difference),
        "transformers_attention": attention,
    }


def _on_disk_state_dict(model) -> dict:
    """transformers' weights under their checkpoint names (the names astaudio loads)."""
    import tempfile

    from safetensors.torch import load_file

    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder)
        return load_file(f"{folder}/model.safetensors")


def _feature_row(features: dict, label: str) -> dict:
    return {
        "what": f"Feature extraction, {features['clips']} x 10 s clips, {label} (clips/s)",
        "astaudio": f"{features['astaudio_clips_per_s']:.1f}",
        "reference": f"{features['transformers_clips_per_s']:.1f}",
        "ratio": features["ratio"],
        "target": f">= {FEATURES_TARGET:g}x",
        "met": features["ratio"] >= FEATURES_TARGET,
    }


def best_matmul_tflops(report: dict) -> float:
    """The machine's practical fp32 ceiling: the better of the rates measured before and after
    the model (on a loaded machine one of them can catch a burst of other work)."""
    return max(report["fp32_matmul_tflops"], report.get("fp32_matmul_tflops_after", 0.0))


def summary_rows(report: dict) -> list[dict]:
    """Rows of run_all's table: what, astaudio, transformers, ratio, target, met."""
    model, matmul = report["model"], best_matmul_tflops(report)
    small = ", small config (quick)" if report["quick"] else ""
    rows = [_feature_row(report["features"], "default threads")]
    if "features_1_thread" in report:
        rows.append(_feature_row(report["features_1_thread"], "torch and BLAS at 1 thread"))
    rows.append(
        {
            "what": f"Model forward, batch {model['batch']}, fp32{small} (clips/s)",
            "astaudio": f"{model['astaudio_clips_per_s']:.3f}",
            "reference": f"{model['transformers_clips_per_s']:.3f}",
            "ratio": model["ratio"],
            "target": f">= {MODEL_TARGET:g}x",
            "met": model["ratio"] >= MODEL_TARGET,
        }
    )
    rows.append(
        {
            "what": f"Model forward, share of the better measured fp32 matmul rate ({matmul:.3f} TFLOP/s)",
            "astaudio": f"{model['astaudio_tflops'] / matmul:.0%}",
            "reference": f"{model['transformers_tflops'] / matmul:.0%}",
            "ratio": None,
            "target": "",
            "met": None,
        }
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=default_device(), choices=["cpu", "cuda"])
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed model forwards per side (best kept)"
    )
    parser.add_argument(
        "--feature-repeats", type=int, default=10, help="timed extractions per side (best kept)"
    )
    parser.add_argument("--batch", type=int, default=4, help="clips per model forward")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 4 clips, small model at batch 1, fewer repeats",
    )
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    repeats, batch, clips = (1, 1, 4) if args.quick else (args.repeats, args.batch, 16)
    feature_repeats = 3 if args.quick else args.feature_repeats
    report = {"command": command_line(), "quick": args.quick, "machine": machine_info(args.device)}
    report["fp32_matmul_tflops"] = matmul_tflops(args.device)
    report["features"] = bench_features(args.device, feature_repeats, clips=clips)
    if args.device == "cpu":
        report["features_1_thread"] = bench_features_one_thread(feature_repeats, clips)
    model = bench_model(args.device, repeats, batch, SMALL_MODEL if args.quick else None)
    report["fp32_matmul_tflops_after"] = matmul_tflops(args.device)
    best = best_matmul_tflops(report)
    model["astaudio_fraction_of_matmul"] = model["astaudio_tflops"] / best
    model["transformers_fraction_of_matmul"] = model["transformers_tflops"] / best
    report["model"] = model
    report["summary_rows"] = summary_rows(report)
    write_report(report, args.device, args.json)


if __name__ == "__main__":
    main()
