"""Every proxy for real people's speech in one table: model folders, ensembles and offsets.

    python proxies.py runs/stage-l/shipped runs/stage-p/shipped \\
        runs/stage-l/shipped+runs/stage-p/shipped runs/stage-l/shipped@-0.5

A column is a model folder; several joined by ``+`` are an ensemble (their softmax
probabilities averaged); ``~W,W,...`` scores every member on each clip resampled by each factor
W as well (a test-time warp: W > 1 shorter, higher pitch and formants, as the training warp) and
averages all those probabilities; ``@OFFSET`` first adds OFFSET to each member's `_unknown_`
logit, as ``offset_unknown.py`` does to the weights (``A+B~0.9,1,1.1@-0.25``). A folder's
logits on every set are computed once per warp and kept in ``--cache`` under the hash of its
weights and preprocessor, so a sweep of ensembles and offsets costs one pass per folder and
warp. Rows (% top-1 unless said; the clips scored in brackets
after the name; sets that are missing are left out):

- ``make_conditions.py``'s sets (``--conditions``, default ``data/conditions``): the seen
  engines' clean, noise, babble and trimmed-8k clips, the mean of the 13 command conditions,
  non-commands rejected (called `_unknown_` or `_silence_`) per source, babble alone called
  `_silence_`; hibari's clean, babble and trimmed-8k clips and the mean of its conditions (a
  neural voice that no stage up to L hears);
- the real people (``--real``, default ``data/real``, ``make_real_tests.py``): digits as
  recorded and at 8 kHz cut to the word, non-commands rejected, per source;
- the held-out accented voices at 8 kHz cut to the word (``--accented``, default
  ``data-festival/accent-trimmed-8k-test.csv`` and ``accent-ru-trimmed-8k-test.csv``): the ten
  digits, overall and per voice;
- with ``--test-split``, the recipe's test split (``data-festival/manifest.csv``, 4,700 clips).

Every stage so far trades commands heard against non-commands rejected, and the `_unknown_` offset
moves a model along that trade. ``--at-rejection PERCENT`` compares models on it: each column
gets the smallest extra offset (to 0.01) at which it rejects at least PERCENT of the seen
engines' non-commands, shown in its heading, so that the other rows say which model hears more
at the same rejection (``--at-rejection 77.2``: the bundled stage L's own).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from kws_audio import SILENCE_LABEL, UNKNOWN_LABEL

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
REJECTED = (UNKNOWN_LABEL, SILENCE_LABEL)


def read_sets(args: argparse.Namespace) -> dict[str, list[dict]]:
    """{set name: rows with an absolute "file"}, for the sets that exist."""
    sets: dict[str, list[dict]] = {}
    for name, folder in (("conditions", args.conditions), ("real", args.real)):
        table = folder / "conditions.csv"
        if table.is_file():
            rows = list(csv.DictReader(table.open()))
            sets[name] = [{**row, "file": str(folder / row["path"])} for row in rows]
    manifests = [(f"accented:{m.stem}", m, "test") for m in args.accented]
    if args.test_split:
        manifests.append(("test split", args.data / "manifest.csv", "test"))
    for name, manifest, split in manifests:
        if manifest.is_file():
            rows = [r for r in csv.DictReader(manifest.open()) if r.get("split") == split]
            sets[name] = [{**row, "file": str(manifest.parent / row["path"])} for row in rows]
    return sets


def folder_key(folder: Path) -> str:
    digest = hashlib.sha256()
    for name in ("model.safetensors", "config.json", "preprocessor_config.json"):
        if (folder / name).is_file():
            digest.update((folder / name).read_bytes())
    return digest.hexdigest()[:16]


def warped_logits(folder: Path, files: list[str], warp: float) -> tuple[np.ndarray, list[str]]:
    """Logits (N, C) of ``folder``'s model on each file resampled by ``warp`` (16000 / warp
    samples a second, played at 16 kHz), and its labels. A clip that grows is cut back to its
    own length around its centre of energy; one that shrinks is padded as the model pads."""
    import soxr
    import torch
    from tqdm import tqdm

    from astaudio import ASTFeatureExtractor, ASTForAudioClassification
    from astaudio.audio import load_audio
    from astaudio.augment import fit_length
    from astaudio.errors import AudioLoadError

    model = ASTForAudioClassification.from_pretrained(folder).eval()
    extractor = ASTFeatureExtractor.from_pretrained(folder)
    rate = extractor.sampling_rate
    logits = []
    starts = range(0, len(files), 64)
    for start in tqdm(starts, desc=f"warp {warp:g}", disable=not sys.stderr.isatty()):
        batch = []
        for file in files[start : start + 64]:
            try:
                audio = load_audio(file, rate).astype(np.float64)
            except AudioLoadError as error:
                sys.exit(f"error: {file} could not be read: {error}")
            warped = soxr.resample(audio, rate, rate / warp)
            batch.append(warped if len(warped) <= len(audio) else fit_length(warped, len(audio)))
        features = extractor(batch, sampling_rate=rate, return_tensors="pt")
        with torch.no_grad():
            logits.append(model(**features).logits.numpy())
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    return np.concatenate(logits), labels


def folder_logits(
    folder: Path, sets: dict[str, list[dict]], cache: Path, warp: float = 1.0
) -> dict:
    """{"labels": [...], set name: logits (N, C)} of one model folder on the clips resampled by
    ``warp`` (1: as they are), from the cache if it holds them for these files."""
    from astaudio.data import DatasetSpec, Item
    from astaudio.evaluate import model_scores

    path = cache / f"{folder_key(folder)}{'' if warp == 1.0 else f'~{warp:g}'}.npz"
    stored = dict(np.load(path, allow_pickle=False)) if path.is_file() else {}
    wanted = {n: [r["file"] for r in rows] for n, rows in sets.items()}
    for name, files in wanted.items():
        if name in stored and list(stored[f"{name}/files"]) == files:
            continue
        if warp != 1.0:
            logits, labels = warped_logits(folder, files, warp)
        else:
            spec = DatasetSpec([Item(f, ()) for f in files], [], False)  # no labels: all classes
            dropped: list = []
            logits, _, labels = model_scores(
                folder, spec, batch_size=64, progress=sys.stderr.isatty(), dropped=dropped,
                activation="none",
            )  # fmt: skip
            if dropped:
                sys.exit(f"error: {dropped[0][0]} could not be read: {dropped[0][1]}")
        stored[name], stored[f"{name}/files"], stored["labels"] = logits, np.array(files), labels
        view = "" if warp == 1.0 else f" resampled by {warp:g}"
        print(f"scored {folder} on {name}{view} ({len(files)} clips)", file=sys.stderr)
        cache.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.npz")
        np.savez(partial, **stored)
        partial.replace(path)
    return {"labels": list(stored["labels"]), **{n: stored[n] for n in wanted}}


def parse_column(column: str) -> tuple[list[str], list[float], float]:
    """(member folders, warps, offset) of a column spec ("A+B~0.9,1,1.1@-0.5")."""
    members, at, offset = column.partition("@")
    members, tilde, warps = members.partition("~")
    try:
        shift = float(offset) if at else 0.0
    except ValueError:
        sys.exit(f"error: {column}: the offset after @ must be a number, got {offset!r}")
    try:
        factors = [float(w) for w in warps.split(",")] if tilde else [1.0]
    except ValueError:
        sys.exit(f"error: {column}: the warps after ~ must be numbers, got {warps!r}")
    if not all(0.5 <= w <= 2.0 for w in factors):
        sys.exit(f"error: {column}: a warp is a resampling factor from 0.5 to 2, got {warps!r}")
    return members.split("+"), factors, shift


def column_predictions(column: str, sets: dict, logits_of) -> dict[str, list[str]]:
    """{set name: predicted label per row} of a column spec ("A+B~0.9,1,1.1@-0.5");
    ``logits_of(folder, warp)`` gives folder_logits."""
    members, warps, offset = parse_column(column)
    probabilities: dict[str, list[np.ndarray]] = defaultdict(list)
    labels = None
    for member, warp in ((m, w) for m in members for w in warps):
        scores = logits_of(Path(member), warp)
        if labels is not None and scores["labels"] != labels:
            sys.exit(f"error: {member} has other classes than {members[0]}")
        labels = scores["labels"]
        for name in sets:
            logits = scores[name].astype(np.float64)
            logits[:, labels.index(UNKNOWN_LABEL)] += offset
            exp = np.exp(logits - logits.max(axis=1, keepdims=True))
            probabilities[name].append(exp / exp.sum(axis=1, keepdims=True))
    return {n: [labels[i] for i in np.mean(p, axis=0).argmax(1)] for n, p in probabilities.items()}


MATCHED_ROW = "seen engines: non-commands rejected"


def offset_for_rejection(column: str, sets: dict, logits_of, percent: float) -> float:
    """The smallest extra `_unknown_` offset (to 0.01, within -10..10) at which ``column``
    rejects at least ``percent`` of the seen engines' non-commands; raising the offset only
    turns predictions into `_unknown_`, so the share rejected grows with it (bisection)."""
    members, _, _ = column.partition("@")
    base = parse_column(column)[2]
    matched = {"conditions": sets.get("conditions", [])}  # the only set the matched row reads

    def rejected(extra: float) -> float:
        predicted = column_predictions(f"{members}@{base + extra}", matched, logits_of)
        table = proxy_rows(matched, predicted)
        row = next((v for k, v in table.items() if k.startswith(MATCHED_ROW)), "")
        if not row:
            sys.exit("error: --at-rejection needs the seen engines' non-command clips "
                     "(make_conditions.py's sets, see --conditions)")  # fmt: skip
        return float(row)

    low, high = -10.0, 10.0
    if rejected(high) < percent:
        sys.exit(f"error: {column} rejects under {percent} % of non-commands at any offset")
    if rejected(low) >= percent:
        return low
    while high - low > 0.01:
        middle = (low + high) / 2
        low, high = (low, middle) if rejected(middle) >= percent else (middle, high)
    return float(np.ceil(high * 100) / 100)  # up, so that it still rejects enough


def _percent(hits: list[bool]) -> str:
    return f"{100 * np.mean(hits):.1f}" if hits else ""


def proxy_rows(sets: dict[str, list[dict]], predicted: dict[str, list[str]]) -> dict[str, str]:
    """{row name (clips): score} of one column (the module docstring lists the rows)."""
    cells: dict[str, list[bool]] = defaultdict(list)
    commands_by_condition: dict[str, list[bool]] = defaultdict(list)
    hibari_by_condition: dict[str, list[bool]] = defaultdict(list)
    for row, said in zip(sets.get("conditions", []), predicted.get("conditions", []), strict=True):
        source, condition = row["source"], row["condition"]
        if condition == "non-command":
            cells[f"{source.replace('-', ' ')}: non-commands rejected"].append(said in REJECTED)
            continue
        right = said == row["labels"]
        if source == "hibari":  # the neural voice no stage up to L hears
            if condition in ("clean", "babble10", "trimmed-8k"):
                cells[f"hibari (unheard voice): {condition}"].append(right)
            hibari_by_condition[condition].append(right)
        if source == "seen-engines":
            if condition == "babble-only":
                cells["seen engines: babble alone -> _silence_"].append(right)
            else:
                commands_by_condition[condition].append(right)
                if condition in ("clean", "noise10", "babble10", "trimmed-8k"):
                    cells[f"seen engines: {condition}"].append(right)
    for row, said in zip(sets.get("real", []), predicted.get("real", []), strict=True):
        name = row["source"].removeprefix("real ")
        if row["condition"].startswith("non-command"):
            if row["condition"] == "non-command":
                cells[f"real {name}: non-commands rejected"].append(said in REJECTED)
        elif row["labels"] in DIGITS:
            cells[f"real {name}: {row['condition']}"].append(said == row["labels"])
    for name in [n for n in sets if n.startswith("accented:")]:
        for row, said in zip(sets[name], predicted[name], strict=True):
            if row["labels"] in DIGITS:
                voice = "_".join(Path(row["path"]).stem.split("_")[:-2]).removeprefix("accent-")
                cells[f"{name[9:]}: digits"].append(said == row["labels"])
                cells[f"{name[9:]}: digits, {voice}"].append(said == row["labels"])
    for row, said in zip(sets.get("test split", []), predicted.get("test split", []), strict=True):
        cells["test split"].append(said == row["labels"])
    table = {f"{k} ({len(v)})": _percent(v) for k, v in cells.items()}  # clips after the name
    for name, by_condition in (("seen engines", commands_by_condition),
                               ("hibari", hibari_by_condition)):  # fmt: skip
        if by_condition:
            means = [100 * np.mean(v) for v in by_condition.values()]
            clips = sum(len(v) for v in by_condition.values())
            key = f"{name}: mean of {len(means)} command conditions ({clips})"
            table[key] = f"{np.mean(means):.1f}"
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("columns", nargs="+", metavar="MODEL[+MODEL...][~W,W...][@OFFSET]")
    parser.add_argument("--data", type=Path, default=Path("data-festival"))
    parser.add_argument("--conditions", type=Path, default=Path("data/conditions"))
    parser.add_argument("--real", type=Path, default=Path("data/real"))
    parser.add_argument(
        "--accented", type=Path, nargs="*",
        default=[Path("data-festival/accent-trimmed-8k-test.csv"),
                 Path("data-festival/accent-ru-trimmed-8k-test.csv")],
    )  # fmt: skip
    parser.add_argument("--test-split", action="store_true", help="also the test split (slow)")
    parser.add_argument("--cache", type=Path, default=Path("runs/proxy-cache"))
    parser.add_argument(
        "--at-rejection", type=float, default=None, metavar="PERCENT",
        help="move each column's _unknown_ offset until it rejects PERCENT of the seen "
        "engines' non-commands (e.g. 77.2, the bundled model's)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.at_rejection is not None and not 0.0 < args.at_rejection <= 100.0:
        parser.error("--at-rejection takes a percentage in (0, 100]")
    sets = read_sets(args)
    if not sets:
        sys.exit("error: none of the evaluation sets exists (see --conditions, --real)")
    for column in args.columns:
        for member in parse_column(column)[0]:
            if not (Path(member) / "model.safetensors").is_file():
                sys.exit(f"error: {member} is not a model folder (no model.safetensors)")
    cached: dict[tuple[Path, float], dict] = {}

    def logits_of(folder: Path, warp: float) -> dict:
        if (folder, warp) not in cached:
            cached[folder, warp] = folder_logits(folder, sets, args.cache, warp)
        return cached[folder, warp]

    columns = list(args.columns)
    if args.at_rejection is not None:
        for i, column in enumerate(args.columns):
            members = column.partition("@")[0]
            extra = offset_for_rejection(column, sets, logits_of, args.at_rejection)
            columns[i] = f"{members}@{parse_column(column)[2] + extra:g}"
    tables = [proxy_rows(sets, column_predictions(c, sets, logits_of)) for c in columns]
    names = list(dict.fromkeys(k for t in tables for k in t))
    print("| proxy | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for name in names:
        print(f"| {name} | " + " | ".join(t.get(name, "") for t in tables) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
