"""Distil an ensemble of a keyword model and teacher.py's embedding heads into the model.

    python distill_kws.py --passes runs/teacher/pass0 runs/teacher/pass1 \\
        --init runs/stage-l/shipped --head runs/teacher/head.pt --out runs/stage-v --steps 1500

The student starts as ``--init``; the teacher is the average of ``--init``'s probabilities
(frozen) and the heads' (``--head``: one or more, their mean), the heads weighted
``--head-weight``, all at ``--temperature``. A head on the word embedding (``teacher.py head
--embedding words``) takes the passes' ``words.npy``, one on the speech embedding their
``embeddings.npy``. Each
step takes 64 clips of the cached passes (teacher.py cache: the same augmented clip for teacher
and student), computes the student's features with ``--init``'s feature extractor, masks them
with SpecAugment (12 mel bins, 20 frames) and minimises

    alpha * cross-entropy(label) + (1 - alpha) * T^2 * KL(teacher || student)

(clips without a label: the KL term alone; ``--unknown`` passes, of words that are no command,
take ``_unknown_`` as every clip's label). AdamW, a 100-step warm-up to ``--lr``, cosine decay
to 0 at ``--steps``; the weights of every 25th step of the second half are averaged into
``OUT/averaged`` (``OUT/last``: the final weights). The clip order and the masks depend only on
``--seed`` and the step, and ``OUT/state.pt`` is written every 150 steps, so ``--resume``
continues a stopped run as if it had not stopped.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from teacher import CachedPass, load_head

from astaudio import ASTFeatureExtractor, ASTForAudioClassification
from astaudio.data import spec_augment

BATCH = 64
AVERAGE_EVERY = 25
SAVE_EVERY = 150


def batch_indices(step: int, total: int, seed: int) -> np.ndarray:
    """The clips of one step: consecutive slices of a per-round permutation of all clips."""
    start = step * BATCH
    picks = []
    while len(picks) < BATCH:
        round_, offset = divmod(start + len(picks), total)
        order = np.random.default_rng([seed, round_]).permutation(total)
        picks.extend(order[offset : offset + BATCH - len(picks)])
    return np.array(picks)


def label_as_teacher(
    teacher_probs: torch.Tensor, targets: torch.Tensor, classes: list[int]
) -> torch.Tensor:
    """teacher_probs (B, C) with the rows of clips labelled one of ``classes`` (indices)
    replaced by their label, one-hot."""
    chosen = torch.isin(targets, torch.tensor(classes, dtype=targets.dtype))
    out = teacher_probs.clone()
    out[chosen] = F.one_hot(targets[chosen], teacher_probs.shape[1]).to(out.dtype)
    return out


def distillation_loss(
    logits: torch.Tensor, targets: torch.Tensor, teacher_probs: torch.Tensor, alpha: float,
    temperature: float,
) -> torch.Tensor:  # fmt: skip
    """logits (B, C); targets (B,) class indices, -100 for none; teacher_probs (B, C) at T."""
    labelled = targets >= 0
    hard = F.cross_entropy(logits[labelled], targets[labelled]) if labelled.any() else 0.0
    soft = F.kl_div(F.log_softmax(logits / temperature, -1), teacher_probs, reduction="batchmean")
    return alpha * hard + (1 - alpha) * temperature**2 * soft


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passes", type=Path, nargs="+", required=True, help="teacher.py cache")
    parser.add_argument(
        "--unknown", type=Path, nargs="*", default=[], metavar="PASS",
        help="cached passes of words that are no command: every clip labelled _unknown_",
    )  # fmt: skip
    parser.add_argument("--init", type=Path, required=True, help="student and teacher model")
    parser.add_argument("--head", type=Path, nargs="+", required=True,
                        help="teacher.py head's weights (several: their mean)")  # fmt: skip
    parser.add_argument("--out", type=Path, required=True, help="run folder")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--head-weight", type=float, default=0.5)
    parser.add_argument("--alpha", type=float, default=0.5, help="weight of the label's loss")
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument(
        "--label-classes", nargs="*", default=[], metavar="CLASS",
        help="clips of these classes take their label as the teacher's answer",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    if not (args.init / "model.safetensors").is_file():
        sys.exit(f"error: {args.init} is not a model folder (no model.safetensors)")
    for name in ("head_weight", "alpha"):
        if not 0 <= getattr(args, name) <= 1:
            sys.exit(f"error: --{name.replace('_', '-')} is a share in [0, 1]")
    state_file = args.out / "state.pt"
    if args.out.is_dir() and any(args.out.iterdir()) and not args.resume:
        sys.exit(f"error: {args.out} already holds files: pass --resume to continue that run")
    args.out.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(args.seed)
    extractor = ASTFeatureExtractor.from_pretrained(args.init)
    student = ASTForAudioClassification.from_pretrained(args.init)
    teacher = ASTForAudioClassification.from_pretrained(args.init).eval()
    classes = [student.config.id2label[i] for i in range(student.config.num_labels)]
    heads = [load_head(path, len(classes)) for path in args.head]
    missing = [c for c in args.label_classes if c not in classes]
    if missing:
        sys.exit(f"error: --label-classes {missing[0]!r} is not a class of {args.init}")
    label_classes = [classes.index(c) for c in args.label_classes]
    if args.unknown and "_unknown_" not in classes:
        sys.exit(f"error: --unknown needs a class _unknown_, which {args.init} does not have")
    passes = [CachedPass(f) for f in args.passes] + [CachedPass(f, True) for f in args.unknown]
    index = [(p, i) for p, cached in enumerate(passes) for i in range(len(cached))]
    targets_of = [
        np.array([classes.index(n) if n else -100 for n in cached.labels]) for cached in passes
    ]
    optimizer = torch.optim.AdamW(student.parameters(), lr=args.lr, weight_decay=0.01)
    step, average, averaged = 0, None, 0
    if state_file.is_file():
        state = torch.load(state_file, weights_only=True)
        student.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, averaged = int(state["step"]), int(state["averaged"])
        average = state["average"] if averaged else None
        print(f"resumed at step {step}", file=sys.stderr)

    started = time.time()
    while step < args.steps:
        lr = (
            args.lr * min(1.0, (step + 1) / 100) * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        )
        for group in optimizer.param_groups:
            group["lr"] = lr
        picks = [index[j] for j in batch_indices(step, len(index), args.seed)]
        clips = [passes[p].clip(i) for p, i in picks]
        features = extractor(clips, sampling_rate=16000, return_tensors="pt")["input_values"]
        targets = torch.tensor([targets_of[p][i] for p, i in picks])
        with torch.no_grad():
            t = args.temperature
            teacher_probs = (1 - args.head_weight) * F.softmax(teacher(features).logits / t, -1)
            for head in heads:
                inputs = np.stack([passes[p].inputs(head.embedding)[i] for p, i in picks])
                head_probs = F.softmax(head(torch.from_numpy(inputs.astype(np.float32))) / t, -1)
                teacher_probs += args.head_weight / len(heads) * head_probs
            teacher_probs = label_as_teacher(teacher_probs, targets, label_classes)
        rng = np.random.default_rng([args.seed, step, 1])
        masked = torch.stack([spec_augment(f, 12, 20, rng) for f in features])
        loss = distillation_loss(student(masked).logits, targets, teacher_probs, args.alpha, t)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step += 1
        if step > args.steps // 2 and step % AVERAGE_EVERY == 0:
            weights = {k: v.detach().float().clone() for k, v in student.state_dict().items()}
            averaged += 1
            if average is None:
                average = weights
            else:
                for k in average:
                    average[k] += (weights[k] - average[k]) / averaged
        if step % 50 == 0:
            print(f"step {step}/{args.steps}: loss {loss.item():.3f}, lr {lr:.2e}, "
                  f"{time.time() - started:.0f} s", file=sys.stderr, flush=True)  # fmt: skip
        if step % SAVE_EVERY == 0 or step == args.steps:
            partial = state_file.with_suffix(".partial")
            torch.save({"model": student.state_dict(), "optimizer": optimizer.state_dict(),
                        "step": step, "averaged": averaged, "average": average or {}},
                       partial)  # fmt: skip
            partial.replace(state_file)
    for name, weights in (("last", None), ("averaged", average)):
        if weights is not None:
            student.load_state_dict(weights)
        student.save_pretrained(args.out / name)
        extractor.save_pretrained(args.out / name)
    print(f"wrote {args.out / 'last'} and {args.out / 'averaged'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
