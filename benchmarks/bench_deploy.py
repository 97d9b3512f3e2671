"""Deployment benchmark: ONNX Runtime and int8 against torch fp32 and transformers, same run.

    python benchmarks/bench_deploy.py [--device cpu|cuda] [--repeats 3] [--quick] [--json out.json]

One random-weight default-config ASTForAudioClassification (86M, 527 labels) is run from
features (B, 1024, 128) to logits five ways, interleaved (A, B, C, ... after a warm-up, best
time counts), at batch 4:
  transformers fp32       transformers' ASTForAudioClassification, sdpa attention, same weights
  astaudio torch fp32     ASTForAudioClassification
  astaudio ORT fp32       export_onnx -> OnnxBackend (ONNX Runtime, CPU provider)
  astaudio torch int8     quantize_dynamic_int8 (nn.Linear weights int8, CPU only)
  astaudio ORT int8       quantize_onnx_int8 -> OnnxBackend
Speed ratios compare like with like: astaudio torch fp32 against transformers fp32 (the same
maths), ORT fp32 and torch int8 against astaudio torch fp32, ORT int8 against ORT fp32.
Accuracy: largest |logit - fp32 logit| and |sigmoid score - fp32 score| of each against
astaudio torch fp32, on the timed inputs. No targets: the figures are for choosing a backend.
On --device cuda only the fp32 sides run (int8 here is CPU-only; ORT uses its CUDA provider when
onnxruntime-gpu is installed, and is skipped otherwise).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from bench_utils import (
    SMALL_MODEL,
    command_line,
    default_device,
    forward_gflop,
    interleaved_best_times,
    machine_info,
    matmul_tflops,
    synchronize,
    write_report,
)

REFERENCE = "transformers fp32"
BASELINE = "astaudio torch fp32"
COMPARED_WITH = {  # side: the side its speed is compared with (like with like)
    BASELINE: REFERENCE,
    "astaudio ORT fp32": BASELINE,
    "astaudio torch int8": BASELINE,
    "astaudio ORT int8": "astaudio ORT fp32",
}


def build_models(overrides: dict) -> tuple:
    """(astaudio model, transformers model) with the same random weights, eval mode."""
    import transformers

    from astaudio import ASTForAudioClassification

    torch.manual_seed(0)
    theirs = transformers.ASTForAudioClassification(
        transformers.ASTConfig(num_labels=527, attn_implementation="sdpa", **overrides)
    ).eval()
    with tempfile.TemporaryDirectory() as folder:
        theirs.save_pretrained(folder)
        ours = ASTForAudioClassification.from_pretrained(folder).eval()
    return ours, theirs


def bench(device: str, repeats: int, batch: int, overrides: dict, work: Path) -> dict:
    from astaudio.export import OnnxBackend, export_onnx, quantize_dynamic_int8, quantize_onnx_int8

    ours, theirs = build_models(overrides)
    inputs = torch.randn(batch, 1024, 128)  # (B, frames, mel)
    onnx_path = export_onnx(ours, work / "onnx")  # from the CPU copy, before any move
    sizes = {"fp32": onnx_path.stat().st_size / 2**20}
    notes = []

    def torch_side(model, on: str):
        model = model.to(on)
        x = inputs.to(on)

        def run():
            with torch.inference_mode():
                logits = model(x).logits
            synchronize(on)
            return logits.float().cpu()

        return run

    def ort_side(backend):
        return lambda: backend(inputs)[0]

    sides = {REFERENCE: torch_side(theirs, device)}
    if device == "cpu":
        int8 = quantize_dynamic_int8(ours)  # a copy
        int8_path = quantize_onnx_int8(onnx_path)
        sizes["int8"] = int8_path.stat().st_size / 2**20
    sides[BASELINE] = torch_side(ours, device)
    providers = ["CUDAExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
    try:
        sides["astaudio ORT fp32"] = ort_side(OnnxBackend(onnx_path, providers=providers))
    except Exception as exc:  # e.g. no CUDA provider in a CPU build of onnxruntime
        notes.append(f"ORT fp32 skipped: {exc}")
    if device == "cpu":
        sides["astaudio torch int8"] = torch_side(int8, "cpu")
        sides["astaudio ORT int8"] = ort_side(OnnxBackend(int8_path))
    else:
        notes.append("int8 sides skipped: int8 runs on the CPU only")

    times = interleaved_best_times(sides, repeats)
    expected = sides[BASELINE]()
    rows = {}
    for name, run in sides.items():
        logits = run()
        rows[name] = {
            "clips_per_s": batch / times[name],
            "vs_transformers_fp32": times[REFERENCE] / times[name],
            "max_abs_logit_error": float((logits - expected).abs().max()),
            "max_abs_score_error": float((logits.sigmoid() - expected.sigmoid()).abs().max()),
        }
    return {"batch": batch, "sides": rows, "onnx_mib": sizes, "notes": notes}


def _speedup(sides: dict, name: str) -> tuple[str, float] | None:
    """(baseline, speed ratio) of a side against its like-with-like baseline, if both ran."""
    baseline = COMPARED_WITH.get(name)
    if baseline not in sides:
        return None
    return baseline, sides[name]["clips_per_s"] / sides[baseline]["clips_per_s"]


def summary_rows(report: dict) -> list[dict]:
    """Rows of run_all's table: each side against its like-with-like baseline."""
    sides = report["results"]["sides"]
    rows = []
    for name, side in sides.items():
        compared = _speedup(sides, name)
        if compared is None:
            continue
        baseline, ratio = compared
        rows.append(
            {
                "what": f"Classifier forward, batch {report['results']['batch']}, {name} vs "
                f"{baseline} (clips/s; max score error vs astaudio torch fp32 "
                f"{side['max_abs_score_error']:.1e})",
                "astaudio": f"{side['clips_per_s']:.3f}",
                "reference": f"{sides[baseline]['clips_per_s']:.3f}",
                "reference_name": baseline,
                "ratio": ratio,
                "target": "",
                "met": None,
            }
        )
    return rows


def details(report: dict) -> list[str]:
    """Bullets for BENCHMARKS.md."""
    results, lines = report["results"], []
    for name, side in results["sides"].items():
        compared = _speedup(results["sides"], name)
        speed = "" if compared is None else f", {compared[1]:.2f}x {compared[0]}"
        lines.append(
            f"{name}: {side['clips_per_s']:.3f} clips/s{speed}; max |logit error| "
            f"{side['max_abs_logit_error']:.1e}, max |score error| "
            f"{side['max_abs_score_error']:.1e} against astaudio torch fp32"
        )
    lines.append(
        "ONNX file sizes: "
        + ", ".join(f"{kind} {mib:.0f} MiB" for kind, mib in results["onnx_mib"].items())
    )
    lines.append(
        f"fp32 matmul rate {report['fp32_matmul_tflops']:.3f} TFLOP/s; the model is "
        f"{forward_gflop():.0f} GFLOP per clip at the default config."
    )
    return lines + results["notes"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=default_device(), choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per side (best kept)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="smoke run: small model, batch 1")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    report = {"command": command_line(), "quick": args.quick, "machine": machine_info(args.device)}
    report["model"] = "small config (quick)" if args.quick else "default config, 86M"
    report["fp32_matmul_tflops"] = matmul_tflops(args.device)
    with tempfile.TemporaryDirectory(prefix="astaudio-deploy-") as temp:
        report["results"] = bench(
            args.device,
            1 if args.quick else args.repeats,
            1 if args.quick else args.batch,
            SMALL_MODEL if args.quick else {},
            Path(temp),
        )
    report["summary_rows"] = summary_rows(report)
    report["details"] = details(report)
    write_report(report, args.device, args.json)


if __name__ == "__main__":
    main()
