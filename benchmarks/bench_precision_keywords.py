"""Reduced precision against fp32 on the bundled keyword model's held-out voices.

    python benchmarks/bench_precision_keywords.py [--data manifest.csv --labels labels.csv
        --split test] [--quick] [--json out.json]

The only benchmark of a trained model. Without --data it uses the committed held-out slice in
tests/data/keywords-heldout (voices never heard in training); recipes/synthetic-commands makes
the full 4,400-clip test split (`--data recipes/synthetic-commands/data/manifest.csv --labels
recipes/synthetic-commands/data/class_labels_indices.csv --split test`). Features are computed
once; the models (astaudio fp32, bf16 and fp16 weights (`--dtype`), torch dynamic int8, ONNX
Runtime fp32 and int8) then run on the same (N, max_length, mel) batch, timed interleaved (best
of --repeats): top-1 agreement with fp32, accuracy, clips/s, and the largest change of a clip's logits between
running alone and inside a batch (0 when nothing depends on batch-mates). Speed ratios compare like with like:
each torch variant against torch fp32, ONNX Runtime int8 against ONNX Runtime fp32, ONNX Runtime
fp32 against torch fp32. bf16/fp16 speeds on a CPU say little (no fast half-precision matmul on
most CPUs); their accuracy effect is what this measures there. Runs on the CPU (int8 is
CPU-only). No targets: the figures are for choosing a precision.
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time
from pathlib import Path

import torch
from bench_utils import command_line, machine_info, write_report
from torch.utils.data import DataLoader

from astaudio import ASTForAudioClassification
from astaudio.bundled import resolve_bundled
from astaudio.data import AudioDataset, load_dataset_spec
from astaudio.evaluate import align_labels
from astaudio.export import OnnxBackend, export_onnx, quantize_dynamic_int8, quantize_onnx_int8
from astaudio.inference import load_feature_extractor

ROOT = Path(__file__).resolve().parents[1]
# name: the side it is compared with for speed (like with like)
BASELINES = {
    "torch fp32": None,
    "torch bf16": "torch fp32",
    "torch fp16": "torch fp32",
    "torch int8": "torch fp32",
    "onnxruntime fp32": "torch fp32",
    "onnxruntime int8": "onnxruntime fp32",
}
QUICK_CLIPS = 32


def load_features(data: Path, labels_csv: Path | None, split: str | None, batch: int,
                  limit: int | None) -> tuple:  # fmt: skip
    """The fp32 model, (N, frames, mel) features and (N,) target indices."""
    folder = resolve_bundled("keywords")
    fp32 = ASTForAudioClassification.from_pretrained(folder).eval()
    labels = [fp32.config.id2label[i] for i in range(fp32.config.num_labels)]
    spec = align_labels(load_dataset_spec(data, labels_csv=labels_csv, split=split), labels)
    dataset = AudioDataset(spec, load_feature_extractor(folder, fp32.config), label_format="index")
    if limit is not None:
        dataset = torch.utils.data.Subset(dataset, range(min(limit, len(dataset))))
    batches = list(DataLoader(dataset, batch_size=batch, num_workers=2))
    features = torch.cat([b["input_values"] for b in batches])
    targets = torch.cat([b["labels"] for b in batches]).numpy()
    return fp32, features, targets


def bench(fp32, features: torch.Tensor, batch: int, repeats: int) -> tuple[dict, dict, dict]:
    """Best seconds, logits (numpy) of each side over all features (sides interleaved), and
    logits of each clip run alone (a batch of one)."""
    int8 = quantize_dynamic_int8(fp32)
    bf16 = copy.deepcopy(fp32).to(torch.bfloat16)
    fp16 = copy.deepcopy(fp32).to(torch.float16)
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = export_onnx(fp32, Path(tmp) / "model.onnx")
        ort_fp32 = OnnxBackend(onnx_path)
        ort_int8 = OnnxBackend(quantize_onnx_int8(onnx_path))
        runners = {
            "torch fp32": lambda x: fp32(x).logits,
            "torch bf16": lambda x: bf16(x.to(torch.bfloat16)).logits,
            "torch fp16": lambda x: fp16(x.to(torch.float16)).logits,
            "torch int8": lambda x: int8(x).logits,
            "onnxruntime fp32": lambda x: ort_fp32(x)[0],
            "onnxruntime int8": lambda x: ort_int8(x)[0],
        }
        logits = dict.fromkeys(runners)
        best = dict.fromkeys(runners, float("inf"))
        alone = {}
        with torch.inference_mode():
            for name, run in runners.items():  # each clip in a batch of its own
                alone[name] = (
                    torch.cat([torch.as_tensor(run(clip)) for clip in features.split(1)])
                    .float()
                    .numpy()
                )
            for _ in range(repeats):
                for name, run in runners.items():  # interleaved: same load for all
                    start = time.perf_counter()
                    out = torch.cat(
                        [torch.as_tensor(run(chunk)) for chunk in features.split(batch)]
                    )
                    best[name] = min(best[name], time.perf_counter() - start)
                    logits[name] = out.float().numpy()
    return best, logits, alone


def summary_rows(report: dict) -> list[dict]:
    """Each reduced-precision side against its own baseline (like with like); no targets."""
    sides, rows = report["sides"], []
    fp32_accuracy = sides["torch fp32"]["accuracy"]
    for name, baseline in BASELINES.items():
        if baseline is None:
            continue
        side = sides[name]
        rows.append(
            {
                "what": f"Keyword model, {report['items']} held-out clips, {name} vs {baseline} "
                f"(clips/s; top-1 agreement with torch fp32 {side['top1_agreement_with_fp32']:.2%}"
                f", accuracy {side['accuracy']:.2%} vs {fp32_accuracy:.2%})",
                "astaudio": f"{side['clips_per_s']:.0f}",
                "reference": f"{sides[baseline]['clips_per_s']:.0f}",
                "reference_name": f"astaudio {baseline}",
                "ratio": side["speed_vs_baseline"],
                "target": "",
                "met": None,
            }
        )
    return rows


def details(report: dict) -> list[str]:
    split = f", split {report['split']}" if report["split"] else ""
    lines = [
        f"Data: {report['data']}{split}, {report['items']} clips; the bundled keyword model; "
        f"batch {report['batch']}, best of {report['repeats']}, {report['threads']} torch threads.",
        "",
        "| weights | top-1 agreement with torch fp32 | accuracy | clips/s | speed vs |",
        "|---|---|---|---|---|",
    ]
    for name, side in report["sides"].items():
        baseline = BASELINES[name]
        speed = "" if baseline is None else f"{side['speed_vs_baseline']:.2f}x {baseline}"
        lines.append(
            f"| {name} | {side['top1_agreement_with_fp32']:.2%} | {side['accuracy']:.2%} | "
            f"{side['clips_per_s']:.0f} | {speed} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=ROOT / "tests/data/keywords-heldout/manifest.csv"
    )
    parser.add_argument("--labels", type=Path, default=None)
    parser.add_argument("--split", default=None)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--device", default="cpu", help="ignored: runs on the CPU (int8 is CPU-only)"
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"smoke run: {QUICK_CLIPS} clips, 1 repeat"
    )
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    started = machine_info("cpu")  # date and load at the start
    fp32, features, targets = load_features(
        args.data, args.labels, args.split, args.batch, QUICK_CLIPS if args.quick else None
    )
    best, logits, alone = bench(fp32, features, args.batch, repeats)
    reference = logits["torch fp32"].argmax(1)
    report = {
        "command": command_line(),
        "quick": args.quick,
        "machine": started,
        "data": os.path.relpath(args.data, ROOT) if args.data.is_absolute() else str(args.data),
        "split": args.split,
        "items": len(targets),
        "batch": args.batch,
        "repeats": repeats,
        "threads": torch.get_num_threads(),
        "sides": {},
    }
    for name, baseline in BASELINES.items():
        predicted = logits[name].argmax(1)
        report["sides"][name] = {
            "clips_per_s": len(targets) / best[name],
            "speed_vs_baseline": None if baseline is None else best[baseline] / best[name],
            "top1_agreement_with_fp32": float((predicted == reference).mean()),
            "accuracy": float((predicted == targets).mean()),
            # a clip's answer should not depend on the other clips in its batch
            "max_logit_change_batch_vs_alone": float(abs(logits[name] - alone[name]).max()),
        }
    report["summary_rows"] = summary_rows(report)
    report["details"] = details(report)
    write_report(report, "cpu", args.json)


if __name__ == "__main__":
    main()
