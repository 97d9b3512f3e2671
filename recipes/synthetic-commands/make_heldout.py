"""Copy a small, fixed slice of the test split into the repository for regression tests.

    python make_heldout.py data/ ../../tests/data/keywords-heldout --per-class 4

Test-split speakers never occur in training. The clips are written as 16-bit FLAC with a
manifest.csv (path,labels,split) that `astaudio evaluate` reads.
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import soundfile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--per-class", type=int, default=4)
    args = parser.parse_args()

    by_label: dict[str, list[str]] = defaultdict(list)
    with open(args.data / "manifest.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["split"] == "test":
                by_label[row["labels"]].append(row["path"])
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for label in sorted(by_label):
        paths = sorted(by_label[label])
        step = max(1, len(paths) // args.per_class)  # spread over speakers, deterministic
        for n, path in enumerate(paths[::step][: args.per_class]):
            samples, rate = soundfile.read(args.data / path, dtype="int16")
            name = f"{label.strip('_')}_{n}.flac"
            soundfile.write(args.out / name, samples, rate, subtype="PCM_16")
            rows.append({"path": name, "labels": label, "split": "test"})
    with open(args.out / "manifest.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["path", "labels", "split"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} clips to {args.out}")


if __name__ == "__main__":
    main()
