"""Copy a small, fixed slice of held-out clips into the repository for regression tests.

    python make_heldout.py data/ ../../tests/data/keywords-heldout --per-class 5 \\
        --conditions data/conditions --per-condition 8

Test-split speakers never occur in training; the condition sets (make_conditions.py) add
festival's and piper's voices and noisy, babble, reverberant, telephone, codec and trimmed
(shorter than 1 s, also recorded at 8 kHz) versions of held-out clips, plus non-command words and
babble alone. Clips are picked by
position (spread over speakers), never by what a model says about them. The clips are written as
16-bit FLAC with a manifest.csv (path,labels,split) that `astaudio evaluate` reads.
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import soundfile

SLICE_CONDITIONS = ("clean", "noise10", "babble10", "reverb", "telephone", "codec",
                    "trimmed", "trimmed-8k", "non-command", "babble-only")  # fmt: skip


def spread(paths: list[str], count: int) -> list[str]:
    """``count`` of ``paths`` (sorted) at even steps: deterministic, spread over speakers."""
    paths = sorted(paths)
    step = max(1, len(paths) // max(count, 1))
    return paths[::step][:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--per-class", type=int, default=5)
    parser.add_argument("--conditions", type=Path, help="make_conditions.py output folder")
    parser.add_argument("--per-condition", type=int, default=8, help="per source and condition")
    args = parser.parse_args()

    picked: list[tuple[Path, str, str]] = []  # (source file, label, name)
    by_label: dict[str, list[str]] = defaultdict(list)
    with open(args.data / "manifest.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["split"] == "test":
                by_label[row["labels"]].append(row["path"])
    for label in sorted(by_label):
        for n, path in enumerate(spread(by_label[label], args.per_class)):
            picked.append((args.data / path, label, f"{label.strip('_')}_{n}.flac"))
    if args.conditions:
        groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
        with open(args.conditions / "conditions.csv", newline="") as handle:
            for row in csv.DictReader(handle):
                if row["condition"] in SLICE_CONDITIONS:
                    groups[(row["source"], row["condition"])].append(row)
        for (source, condition), rows in sorted(groups.items()):
            labels = {r["path"]: r["labels"] for r in rows}
            for n, path in enumerate(spread(list(labels), args.per_condition)):
                name = f"{source}_{condition}_{labels[path].strip('_')}_{n}.flac"
                picked.append((args.conditions / path, labels[path], name))
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("*.flac"):
        old.unlink()
    for source, _, name in picked:
        samples, rate = soundfile.read(source, dtype="int16")
        soundfile.write(args.out / name, samples, rate, subtype="PCM_16")
    with open(args.out / "manifest.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["path", "labels", "split"])
        writer.writeheader()
        writer.writerows({"path": n, "labels": lab, "split": "test"} for _, lab, n in picked)
    size = sum(p.stat().st_size for p in args.out.iterdir())
    print(f"wrote {len(picked)} clips ({size / 2**20:.2f} MiB) to {args.out}")


if __name__ == "__main__":
    main()
