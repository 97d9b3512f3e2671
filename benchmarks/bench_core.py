"""Core benchmark: feature extraction and model forward, astaudio vs transformers, same run.

    python benchmarks/bench_core.py [--device cpu|cuda] [--repeats 3] [--json out.json]

Features: 16 clips of 10 s at 16 kHz, clips/s (astaudio batched vs transformers'
ASTFeatureExtractor). Model: forward clips/s at batch 4, default config, fp32 (astaudio vs
transformers with sdpa attention), with the machine's measured fp32 matmul rate for scale.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch


def forward_gflop(
    tokens: int = 1214, hidden: int = 768, layers: int = 12, mlp_ratio: int = 4
) -> float:
    """Forward FLOPs of one clip: projections and MLP (2*(4+2*mlp_ratio)*T*D^2 per layer) plus
    attention scores and mixing (4*T^2*D per layer): about 260 GFLOP at the default config."""
    per_layer = 2 * (4 + 2 * mlp_ratio) * tokens * hidden**2 + 4 * tokens**2 * hidden
    return layers * per_layer / 1e9


GFLOP_PER_CLIP = forward_gflop()


def best_time(fn, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_tflops(device: str, dtype=torch.float32, n: int = 2048, repeats: int = 5) -> float:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)

    def run():
        a @ b
        if device == "cuda":
            torch.cuda.synchronize()

    seconds = best_time(run, repeats)
    return 2 * n**3 / seconds / 1e12


def bench_features(device: str, repeats: int) -> dict:
    import transformers

    from astaudio import ASTFeatureExtractor

    rng = np.random.default_rng(0)
    clips = [rng.standard_normal(160_000).astype(np.float32) * 0.1 for _ in range(16)]
    ours = ASTFeatureExtractor()
    theirs = transformers.ASTFeatureExtractor()
    batch = torch.from_numpy(np.stack(clips)).to(device)

    def run_ours():
        ours(batch, sampling_rate=16000, return_tensors="pt")
        if device == "cuda":
            torch.cuda.synchronize()

    t_ours = best_time(run_ours, repeats)
    t_theirs = best_time(lambda: theirs(clips, sampling_rate=16000, return_tensors="pt"), repeats)
    return {
        "astaudio_clips_per_s": 16 / t_ours,
        "transformers_clips_per_s": 16 / t_theirs,
        "ratio": t_theirs / t_ours,
    }


def bench_model(device: str, repeats: int, batch: int = 4) -> dict:
    import transformers

    from astaudio import ASTConfig, ASTModel

    torch.manual_seed(0)
    theirs = (
        transformers.ASTModel(transformers.ASTConfig(), attn_implementation="sdpa")
        .eval()
        .to(device)
    )
    ours = ASTModel(ASTConfig()).eval().to(device)
    ours.load_state_dict(_our_keys(theirs), strict=True)
    x = torch.randn(batch, 1024, 128, device=device)

    def timed(model):
        def run():
            with torch.inference_mode():
                model(x)
            if device == "cuda":
                torch.cuda.synchronize()

        return best_time(run, repeats)

    t_ours, t_theirs = timed(ours), timed(theirs)
    return {
        "batch": batch,
        "astaudio_clips_per_s": batch / t_ours,
        "transformers_clips_per_s": batch / t_theirs,
        "ratio": t_theirs / t_ours,
        "astaudio_tflops": batch * GFLOP_PER_CLIP / t_ours / 1e3,
    }


def _our_keys(theirs) -> dict:
    """transformers' in-memory state dict under the on-disk names astaudio uses."""
    import tempfile

    from safetensors.torch import load_file

    with tempfile.TemporaryDirectory() as folder:
        theirs.save_pretrained(folder)
        return load_file(f"{folder}/model.safetensors")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    machine = {
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
        "torch": torch.__version__,
    }
    matmul = matmul_tflops(args.device)
    features = bench_features(args.device, args.repeats)
    model = bench_model(args.device, args.repeats)
    model["fraction_of_matmul_rate"] = model["astaudio_tflops"] / matmul
    report = {
        "machine": machine,
        "fp32_matmul_tflops": matmul,
        "features": features,
        "model": model,
    }
    print(json.dumps(report, indent=2))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=2)


if __name__ == "__main__":
    main()
