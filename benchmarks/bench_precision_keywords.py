"""Reduced precision against fp32 on the bundled keyword model's held-out voices.

    python benchmarks/bench_precision_keywords.py --data recipes/synthetic-commands/data/manifest.csv \
        --labels recipes/synthetic-commands/data/class_labels_indices.csv --split test

Without --data it uses the committed 88-clip slice in tests/data/keywords-heldout. Features are
computed once; the models (astaudio fp32, bf16 and fp16 weights (`--dtype`), torch dynamic int8,
ONNX Runtime fp32 and int8) then run on the same (N, max_length, mel) batch, timed interleaved:
top-1 agreement with fp32, accuracy, clips/s, and how far a clip's logits move between
running alone and inside a batch of --batch clips (0 when nothing depends on batch-mates). bf16/fp16 speeds on a CPU say little (no fast
half-precision matmul on most CPUs); their accuracy effect is what this measures there.
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from astaudio import ASTForAudioClassification
from astaudio.bundled import resolve_bundled
from astaudio.data import AudioDataset, load_dataset_spec
from astaudio.evaluate import align_labels
from astaudio.export import OnnxBackend, export_onnx, quantize_dynamic_int8, quantize_onnx_int8
from astaudio.inference import load_feature_extractor

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=ROOT / "tests/data/keywords-heldout/manifest.csv"
    )
    parser.add_argument("--labels", type=Path, default=None)
    parser.add_argument("--split", default=None)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    folder = resolve_bundled("keywords")
    fp32 = ASTForAudioClassification.from_pretrained(folder).eval()
    labels = [fp32.config.id2label[i] for i in range(fp32.config.num_labels)]
    spec = align_labels(
        load_dataset_spec(args.data, labels_csv=args.labels, split=args.split), labels
    )
    dataset = AudioDataset(spec, load_feature_extractor(folder, fp32.config), label_format="index")
    batches = list(DataLoader(dataset, batch_size=args.batch, num_workers=2))
    features = torch.cat([b["input_values"] for b in batches])
    targets = torch.cat([b["labels"] for b in batches]).numpy()

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
        logits = {name: None for name in runners}
        best = {name: float("inf") for name in runners}
        alone = {}
        with torch.inference_mode():
            for name, run in runners.items():  # each clip in a batch of its own
                alone[name] = torch.cat([run(clip) for clip in features.split(1)]).float().numpy()
            for _ in range(args.repeats):
                for name, run in runners.items():  # interleaved: same load for all
                    start = time.perf_counter()
                    out = torch.cat([run(chunk) for chunk in features.split(args.batch)])
                    best[name] = min(best[name], time.perf_counter() - start)
                    logits[name] = out.float().numpy()
    reference = logits["torch fp32"].argmax(1)
    report = {
        "items": len(targets),
        "data": str(args.data),
        "split": args.split,
        "threads": torch.get_num_threads(),
    }
    for name in runners:
        predicted = logits[name].argmax(1)
        report[name] = {
            "clips_per_s": len(targets) / best[name],
            "speedup_vs_torch_fp32": best["torch fp32"] / best[name],
            "top1_agreement_with_fp32": float((predicted == reference).mean()),
            "accuracy": float((predicted == targets).mean()),
            # a clip's answer should not depend on the other clips in its batch
            "max_logit_change_batch_vs_alone": float(abs(logits[name] - alone[name]).max()),
            "top1_agreement_with_fp32_alone": float((alone[name].argmax(1) == reference).mean()),
        }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
