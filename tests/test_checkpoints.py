"""Checkpoint I/O: transformers folders, shards, .bin, hub cache, original .pth, DeiT init."""

from __future__ import annotations

import csv
import json
import logging
import pickle
import shutil
import time

import numpy as np
import pytest
import torch
import transformers
from conftest import tiny_config
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from astaudio.checkpoints import (
    adapt_position_embeddings,
    config_from_original_state_dict,
    convert_original_checkpoint,
    convert_original_state_dict,
    init_from_deit,
    load_state_dict_file,
)
from astaudio.config import ASTConfig
from astaudio.errors import CheckpointError, ModelNotFoundError, NeedsNoConversionError
from astaudio.model import ASTForAudioClassification, ASTModel

TINY = dict(
    hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
    max_length=64, num_mel_bins=32, num_labels=3,
)  # fmt: skip
PREFIX = "audio_spectrogram_transformer."


def randomise(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=generator)
            if "norm" in name and name.endswith("weight"):
                param.copy_(1 + 0.2 * noise)
            elif name.endswith("bias"):
                param.copy_(0.1 * noise)
            elif "token" in name or "position" in name:
                param.copy_(0.5 * noise)
            else:
                param.copy_(noise / param[0].numel() ** 0.5)
    return model.eval()


def assert_close(actual: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    scale = max(1.0, expected.abs().max().item())
    error = (actual.double() - expected.double()).abs().max().item()
    print(f"{what}: max abs diff {error:.3g} (scale {scale:.3g})")
    assert error <= 1e-5 * scale, f"{what}: max abs diff {error:.3g}"


def spectrogram(config: dict, batch: int = 2, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, config["max_length"], config["num_mel_bins"], generator=generator)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A random transformers classifier saved with save_pretrained, its folder and outputs."""
    transformers.set_seed(0)
    model = randomise(transformers.ASTForAudioClassification(transformers.ASTConfig(**TINY)))
    folder = tmp_path_factory.mktemp("hf_tiny")
    model.save_pretrained(folder)
    x = spectrogram(TINY)
    with torch.no_grad():
        logits = model(x).logits
        base = model.audio_spectrogram_transformer(x).last_hidden_state
    return model, folder, x, logits, base


def logits_of(model, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).logits


def test_saved_files_match_transformers(reference, tmp_path):
    _, folder, x, logits, _ = reference
    ours = ASTForAudioClassification.from_pretrained(folder)
    ours.save_pretrained(tmp_path)
    with (
        safe_open(folder / "model.safetensors", "pt") as theirs,
        safe_open(tmp_path / "model.safetensors", "pt") as mine,
    ):
        assert sorted(mine.keys()) == sorted(theirs.keys())
        assert mine.metadata() == theirs.metadata() == {"format": "pt"}
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["architectures"] == ["ASTForAudioClassification"]
    assert transformers.ASTConfig.from_pretrained(tmp_path).hidden_size == 32

    ours.save_pretrained(tmp_path, safe_serialization=False)  # replaces the safetensors file
    assert (tmp_path / "pytorch_model.bin").is_file()
    assert not (tmp_path / "model.safetensors").exists()
    assert_close(logits_of(ASTForAudioClassification.from_pretrained(tmp_path), x), logits, "bin")


def test_sharded_safetensors(reference, tmp_path):
    model, _, x, logits, _ = reference
    model.save_pretrained(tmp_path, max_shard_size="20KB")
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1
    assert not (tmp_path / "model.safetensors").exists()
    loaded = ASTForAudioClassification.from_pretrained(tmp_path)
    assert_close(logits_of(loaded, x), logits, "sharded")

    shard = sorted(set(index["weight_map"].values()))[0]
    (tmp_path / shard).unlink()
    with pytest.raises(ModelNotFoundError, match=shard):
        ASTForAudioClassification.from_pretrained(tmp_path)


@pytest.mark.parametrize("names", ["file", "transformers5-in-memory"])
def test_pytorch_model_bin(reference, tmp_path, names):
    model, folder, x, logits, _ = reference
    shutil.copy(folder / "config.json", tmp_path)
    if names == "file":
        state = load_file(folder / "model.safetensors")
    else:  # transformers 5 renames modules in memory: layers.0.attention.q_proj, mlp.fc1, ...
        state = model.state_dict()
        assert any(".q_proj." in k for k in state)
    torch.save(state, tmp_path / "pytorch_model.bin")
    loaded = ASTForAudioClassification.from_pretrained(tmp_path)
    assert_close(logits_of(loaded, x), logits, f".bin with {names} names")


class OpensFileWhenUnpickled:
    """A pickle payload: unpickling it calls open(path, "w"), creating the file."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("container", ["raw-pickle", "torch.save"])
def test_malicious_pickle_is_refused_not_run(reference, tmp_path, container):
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(OpensFileWhenUnpickled(str(control)))).close()
    assert control.exists(), "the payload must really run code when unpickled"

    marker = tmp_path / "pwned"
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(reference[1] / "config.json", folder)
    payload = {"weight": OpensFileWhenUnpickled(str(marker))}
    if container == "raw-pickle":
        (folder / "pytorch_model.bin").write_bytes(pickle.dumps(payload, protocol=2))
    else:
        torch.save(payload, folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="pytorch_model.bin: refused to load") as error:
        ASTForAudioClassification.from_pretrained(folder)
    assert "\n" not in str(error.value)
    assert "io.open" in str(error.value)  # the global it would have called
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="refused"):
        load_state_dict_file(folder / "pytorch_model.bin")
    assert not marker.exists()


def test_load_state_dict_file(tmp_path):
    tensors = {"a": torch.arange(3.0), "b": torch.ones(2, 2)}
    save_file(tensors, tmp_path / "w.safetensors")
    torch.save({"state_dict": tensors}, tmp_path / "w.pth")
    for name in ("w.safetensors", "w.pth"):
        loaded = load_state_dict_file(tmp_path / name)
        assert set(loaded) == {"a", "b"} and torch.equal(loaded["b"], tensors["b"])
    (tmp_path / "bad.pth").write_bytes((tmp_path / "w.pth").read_bytes()[:100])  # truncated
    with pytest.raises(CheckpointError, match="bad.pth: not a readable PyTorch checkpoint"):
        load_state_dict_file(tmp_path / "bad.pth")
    (tmp_path / "text.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="text.pth: refused to load"):
        load_state_dict_file(tmp_path / "text.pth")
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(CheckpointError, match="bad.safetensors: not a readable safetensors"):
        load_state_dict_file(tmp_path / "bad.safetensors")
    torch.save({"a": torch.ones(1), "epoch": 3}, tmp_path / "mixed.pth")
    with pytest.raises(CheckpointError, match="not tensors: epoch"):
        load_state_dict_file(tmp_path / "mixed.pth")
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_state_dict_file(tmp_path / "absent.pth")


def broken_copy(reference, tmp_path):
    state = load_file(reference[1] / "model.safetensors")
    del state[PREFIX + "layernorm.bias"]
    state["extra.weight"] = torch.zeros(2)
    state[PREFIX + "encoder.layer.1.intermediate.dense.weight"] = torch.zeros(65, 32)
    shutil.copy(reference[1] / "config.json", tmp_path)
    save_file(state, tmp_path / "model.safetensors", metadata={"format": "pt"})
    return tmp_path


def test_mismatch_error_lists_every_problem(reference, tmp_path):
    folder = broken_copy(reference, tmp_path)
    with pytest.raises(CheckpointError) as error:
        ASTForAudioClassification.from_pretrained(folder)
    message = str(error.value)
    assert "\n" not in message
    assert f"missing keys: {PREFIX}layernorm.bias" in message
    assert "unexpected keys: extra.weight" in message
    assert (
        f"{PREFIX}encoder.layer.1.intermediate.dense.weight: checkpoint (65, 32) vs model (64, 32)"
        in message
    )
    assert "ignore_mismatched_sizes=True" in message


def test_ignore_mismatched_sizes_reinitialises_with_warning(reference, tmp_path, caplog):
    folder = broken_copy(reference, tmp_path)
    with caplog.at_level(logging.WARNING, logger="astaudio.checkpoints"):
        model = ASTForAudioClassification.from_pretrained(folder, ignore_mismatched_sizes=True)
    warning = caplog.text
    for key in ("layernorm.bias", "extra.weight", "intermediate.dense.weight"):
        assert key in warning
    state = model.state_dict()
    reference_state = load_file(reference[1] / "model.safetensors")
    assert torch.equal(state[PREFIX + "layernorm.bias"], torch.zeros(32))  # fresh LayerNorm
    fresh = state[PREFIX + "encoder.layer.1.intermediate.dense.weight"]
    assert fresh.shape == (64, 32) and 0.01 < fresh.std() < 0.03  # N(0, 0.02)
    kept = PREFIX + "encoder.layer.1.intermediate.dense.bias"
    assert torch.equal(state[kept], reference_state[kept])


def test_num_labels_override_gives_new_head(reference, caplog):
    _, folder, x, _, base = reference
    with caplog.at_level(logging.WARNING, logger="astaudio.checkpoints"):
        model = ASTForAudioClassification.from_pretrained(folder, num_labels=5)
    assert (
        "classifier head re-initialised for 5 labels (the checkpoint's has 3 labels)" in caplog.text
    )
    assert model.classifier.dense.weight.shape == (5, 32)
    assert model.config.id2label[4] == "LABEL_4"
    with torch.no_grad():
        assert_close(model.audio_spectrogram_transformer(x).last_hidden_state, base, "encoder")
        assert model(x).logits.shape == (2, 5)
    renamed = ASTForAudioClassification.from_pretrained(folder, id2label={0: "dog", 1: "cat"})
    assert renamed.config.num_labels == 2 and renamed.classifier.dense.weight.shape == (2, 32)
    features = ASTForAudioClassification.from_pretrained(folder, num_labels=0)
    assert "dense layer dropped" in caplog.text
    with torch.no_grad():
        pooled = (base[:, 0] + base[:, 1]) / 2
        expected = torch.nn.functional.layer_norm(
            pooled,
            (32,),
            features.classifier.layernorm.weight,
            features.classifier.layernorm.bias,
            1e-12,
        )
        assert_close(features(x).logits, expected, "num_labels=0 logits = LayerNorm(pooled)")


def test_base_and_classifier_checkpoints_cross_load(reference, tmp_path, caplog):
    model, folder, x, _, base = reference
    with caplog.at_level(logging.WARNING, logger="astaudio.checkpoints"):
        encoder = ASTModel.from_pretrained(folder)
    assert "does not use the classification head" in caplog.text
    with torch.no_grad():
        assert_close(encoder(x).last_hidden_state, base, "ASTModel from classifier checkpoint")

    model.audio_spectrogram_transformer.save_pretrained(tmp_path)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="astaudio.checkpoints"):
        classifier = ASTForAudioClassification.from_pretrained(tmp_path, num_labels=4)
    assert "no classifier head" in caplog.text
    with torch.no_grad():
        hidden = classifier.audio_spectrogram_transformer(x).last_hidden_state
        assert_close(hidden, base, "classifier from base checkpoint")
        assert classifier(x).logits.shape == (2, 4)


def test_dtype_options(reference):
    _, folder, x, logits, _ = reference
    assert ASTForAudioClassification.from_pretrained(folder).dtype == torch.float32
    bf16 = ASTForAudioClassification.from_pretrained(folder, dtype=torch.bfloat16)
    assert bf16.dtype == torch.bfloat16
    assert (logits_of(bf16, x).float() - logits).abs().max() < 0.1
    assert ASTModel.from_pretrained(folder, torch_dtype="float16").dtype == torch.float16
    assert ASTModel.from_pretrained(folder, dtype="auto").dtype == torch.float32
    with pytest.raises(ValueError, match="dtype"):
        ASTModel.from_pretrained(folder, dtype="int8")


def test_file_path_and_missing_folder_errors(reference, tmp_path):
    with pytest.raises(CheckpointError, match="from_original_checkpoint"):
        ASTModel.from_pretrained(reference[1] / "model.safetensors")
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        ASTModel.from_pretrained(tmp_path)
    shutil.copy(reference[1] / "config.json", tmp_path)
    with pytest.raises(ModelNotFoundError, match="no model weights found"):
        ASTModel.from_pretrained(tmp_path)


# -- position embeddings ------------------------------------------------------------------------
def linear_resize_reference(values: np.ndarray, axis: int, size: int) -> np.ndarray:
    """1-D linear resampling with half-pixel centres (align_corners=False), from the formula
    src = (dst + 0.5) * old / new - 0.5, clamped at 0, neighbours clamped at the edge."""
    old = values.shape[axis]
    out = []
    for dst in range(size):
        src = max((dst + 0.5) * old / size - 0.5, 0.0)
        low = int(np.floor(src))
        high = min(low + 1, old - 1)
        weight = src - low
        out.append(
            (1 - weight) * np.take(values, low, axis=axis) + weight * np.take(values, high, axis)
        )
    return np.stack(out, axis=axis)


@pytest.mark.parametrize(
    ("old_grid", "new_grid"),
    [
        ((12, 101), (12, 12)),
        ((6, 7), (9, 15)),
        ((5, 8), (3, 11)),
        ((4, 4), (7, 2)),
        ((3, 5), (3, 5)),
    ],
)
def test_adapt_position_embeddings(old_grid, new_grid):
    width = 6
    generator = torch.Generator().manual_seed(0)
    pos = torch.randn(1, 2 + old_grid[0] * old_grid[1], width, generator=generator)
    adapted = adapt_position_embeddings(pos, old_grid, new_grid)
    assert adapted.shape == (1, 2 + new_grid[0] * new_grid[1], width)
    assert torch.equal(adapted[:, :2], pos[:, :2])

    grid = pos[0, 2:].reshape(*old_grid, width).double().numpy()  # (F, T, D)
    for axis in (1, 0):  # time first, then frequency, like the AST code
        old, new = grid.shape[axis], new_grid[axis]
        if new < old:
            start = old // 2 - new // 2
            grid = np.take(grid, range(start, start + new), axis=axis)
        elif new > old:
            grid = linear_resize_reference(grid, axis, new)
    expected = torch.from_numpy(grid.reshape(1, -1, width))
    assert torch.allclose(adapted[:, 2:].double(), expected, atol=1e-6)
    with pytest.raises(ValueError, match="don't fit a 2x2 grid"):
        adapt_position_embeddings(pos, (2, 2), (3, 3))


AUDIOSET_STYLE = dict(
    hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
    max_length=1024, num_mel_bins=128, num_labels=527,
)  # fmt: skip


def test_audioset_checkpoint_with_shorter_max_length(tmp_path):
    transformers.set_seed(0)
    theirs = randomise(
        transformers.ASTForAudioClassification(transformers.ASTConfig(**AUDIOSET_STYLE))
    )
    theirs.save_pretrained(tmp_path)
    original = theirs.audio_spectrogram_transformer.embeddings.position_embeddings.detach()
    assert original.shape == (1, 2 + 12 * 101, 16)

    short = ASTForAudioClassification.from_pretrained(tmp_path, max_length=128)
    assert short.config.patch_grid == (12, 12)
    pos = short.audio_spectrogram_transformer.embeddings.position_embeddings.detach()
    assert pos.shape == (1, 2 + 12 * 12, 16)
    assert torch.equal(pos[:, :2], original[:, :2])
    old_grid = original[0, 2:].reshape(12, 101, 16)
    start = 101 // 2 - 12 // 2  # the centre 12 of 101 time positions: 44..55
    assert torch.equal(pos[0, 2:].reshape(12, 12, 16), old_grid[:, start : start + 12])
    x = torch.randn(2, 128, 128)
    with torch.no_grad():
        assert short(x).logits.shape == (2, 527)

    long = ASTModel.from_pretrained(tmp_path, max_length=2048, num_mel_bins=160)
    assert long.config.patch_grid == (15, 204)
    with torch.no_grad():
        assert long(torch.randn(1, 2048, 160)).last_hidden_state.shape == (1, 2 + 15 * 204, 16)


# -- hub ids ------------------------------------------------------------------------------------
def test_hub_id_from_prefilled_cache(reference, tmp_path, monkeypatch):
    _, folder, x, logits, _ = reference
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    sha = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--someone--tiny-ast"
    snapshot = repo / "snapshots" / sha
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(sha)
    for name in ("config.json", "model.safetensors"):
        shutil.copy(folder / name, snapshot / name)
    model = ASTForAudioClassification.from_pretrained(
        "someone/tiny-ast", cache_dir=tmp_path / "hub"
    )
    assert_close(logits_of(model, x), logits, "hub cache")


@pytest.mark.parametrize("how", ["HF_HUB_OFFLINE", "unreachable endpoint"])
def test_offline_without_cache_fails_fast(tmp_path, monkeypatch, how):
    if how == "HF_HUB_OFFLINE":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    start = time.perf_counter()
    with pytest.raises(ModelNotFoundError) as error:
        ASTForAudioClassification.from_pretrained("someone/not-cached", cache_dir=tmp_path)
    assert time.perf_counter() - start < 5.0
    assert "someone/not-cached" in str(error.value) and "\n" not in str(error.value)


# -- original research checkpoints ------------------------------------------------------------------
def original_state_dict(hf_model) -> dict[str, torch.Tensor]:
    """The layout of YuanGongND/ast's released .pth, built by hand from transformers' weights."""
    file_state = {k: v.clone() for k, v in hf_model.state_dict().items()}  # in-memory names
    out = {}
    p = "module.v."
    b = PREFIX + "embeddings."
    out[p + "cls_token"] = file_state[b + "cls_token"]
    out[p + "dist_token"] = file_state[b + "distillation_token"]
    out[p + "pos_embed"] = file_state[b + "position_embeddings"]
    out[p + "patch_embed.proj.weight"] = file_state[b + "patch_embeddings.projection.weight"]
    out[p + "patch_embed.proj.bias"] = file_state[b + "patch_embeddings.projection.bias"]
    for i in range(hf_model.config.num_hidden_layers):
        src = f"{PREFIX}layers.{i}."
        dst = f"{p}blocks.{i}."
        for kind in ("weight", "bias"):
            out[f"{dst}attn.qkv.{kind}"] = torch.cat(
                [file_state[f"{src}attention.{n}_proj.{kind}"] for n in "qkv"]
            )
            out[f"{dst}norm1.{kind}"] = file_state[f"{src}layernorm_before.{kind}"]
            out[f"{dst}attn.proj.{kind}"] = file_state[f"{src}attention.o_proj.{kind}"]
            out[f"{dst}norm2.{kind}"] = file_state[f"{src}layernorm_after.{kind}"]
            out[f"{dst}mlp.fc1.{kind}"] = file_state[f"{src}mlp.fc1.{kind}"]
            out[f"{dst}mlp.fc2.{kind}"] = file_state[f"{src}mlp.fc2.{kind}"]
    for kind in ("weight", "bias"):
        out[f"{p}norm.{kind}"] = file_state[f"{PREFIX}layernorm.{kind}"]
        out[f"module.mlp_head.0.{kind}"] = file_state[f"classifier.layernorm.{kind}"]
        out[f"module.mlp_head.1.{kind}"] = file_state[f"classifier.dense.{kind}"]
    d = hf_model.config.hidden_size
    out[p + "head.weight"], out[p + "head.bias"] = torch.zeros(1000, d), torch.zeros(1000)
    out[p + "head_dist.weight"], out[p + "head_dist.bias"] = torch.zeros(1000, d), torch.zeros(1000)
    return out


ORIGINAL_STYLE = dict(
    hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=96,
    frequency_stride=12, time_stride=8, max_length=72, num_mel_bins=40, num_labels=7,
    layer_norm_eps=1e-6,
)  # fmt: skip


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    transformers.set_seed(0)
    hf = randomise(transformers.ASTForAudioClassification(transformers.ASTConfig(**ORIGINAL_STYLE)))
    path = tmp_path_factory.mktemp("original") / "audioset_10_10_0.4593.pth"
    torch.save(original_state_dict(hf), path)
    return hf, path


def test_convert_original_state_dict(original):
    hf, path = original
    converted = convert_original_state_dict(torch.load(path, weights_only=True))
    q = converted[PREFIX + "encoder.layer.1.attention.attention.query.weight"]
    v = converted[PREFIX + "encoder.layer.1.attention.attention.value.bias"]
    assert torch.equal(q, hf.audio_spectrogram_transformer.layers[1].attention.q_proj.weight)
    assert torch.equal(v, hf.audio_spectrogram_transformer.layers[1].attention.v_proj.bias)
    assert not any("head_dist" in k or ".head." in k for k in converted)
    assert torch.equal(converted["classifier.dense.weight"], hf.classifier.dense.weight)
    assert torch.equal(converted["classifier.layernorm.bias"], hf.classifier.layernorm.bias)


def original_forward(
    state: dict[str, torch.Tensor], x: torch.Tensor, strides: tuple[int, int], heads: int
) -> torch.Tensor:
    """Logits (B, C) of YuanGongND/ast's ASTModel in float64, written from its code: timm
    blocks with LayerNorm eps 1e-6, mean of the two tokens, mlp_head = nn.LayerNorm(dim)
    (eps 1e-5) + Linear. x: (B, T, F) filter banks; state: the original .pth's tensors."""
    w = {k.removeprefix("module."): v.double() for k, v in state.items()}

    def layer_norm(h, name, eps):
        mean = h.mean(-1, keepdim=True)
        var = ((h - mean) ** 2).mean(-1, keepdim=True)
        return (h - mean) / torch.sqrt(var + eps) * w[name + ".weight"] + w[name + ".bias"]

    def linear(h, name):
        return h @ w[name + ".weight"].T + w[name + ".bias"]

    image = x.double().transpose(1, 2).unsqueeze(1)  # (B, 1, F, T)
    patches = torch.nn.functional.conv2d(
        image, w["v.patch_embed.proj.weight"], w["v.patch_embed.proj.bias"], stride=strides
    )  # (B, D, f, t)
    h = patches.flatten(2).transpose(1, 2)  # (B, f*t, D), frequency-major
    batch, _, width = h.shape
    tokens = [w["v.cls_token"].expand(batch, -1, -1), w["v.dist_token"].expand(batch, -1, -1)]
    h = torch.cat([*tokens, h], dim=1) + w["v.pos_embed"]
    blocks = 1 + max(int(k.split(".")[2]) for k in w if k.startswith("v.blocks."))
    for i in range(blocks):
        b = f"v.blocks.{i}."
        qkv = linear(layer_norm(h, b + "norm1", 1e-6), b + "attn.qkv")  # (B, N, 3D)
        q, k, v = qkv.reshape(batch, -1, 3, heads, width // heads).permute(2, 0, 3, 1, 4)
        attention = (q @ k.transpose(-2, -1) * (width // heads) ** -0.5).softmax(-1)
        h = h + linear((attention @ v).transpose(1, 2).reshape(batch, -1, width), b + "attn.proj")
        hidden = linear(layer_norm(h, b + "norm2", 1e-6), b + "mlp.fc1")
        hidden = 0.5 * hidden * (1 + torch.erf(hidden / 2**0.5))
        h = h + linear(hidden, b + "mlp.fc2")
    h = layer_norm(h, "v.norm", 1e-6)
    pooled = (h[:, 0] + h[:, 1]) / 2
    return linear(layer_norm(pooled, "mlp_head.0", 1e-5), "mlp_head.1")


GEOMETRY = {
    k: ORIGINAL_STYLE[k] for k in ("frequency_stride", "time_stride", "max_length", "num_mel_bins")
}
STRIDES = (ORIGINAL_STYLE["frequency_stride"], ORIGINAL_STYLE["time_stride"])


def assert_relative(actual: torch.Tensor, expected: torch.Tensor, what: str, tol: float) -> float:
    error = ((actual.double() - expected).abs().max() / expected.abs().max()).item()
    print(f"{what}: max abs diff / max |logit| = {error:.3g}")
    assert error <= tol, f"{what}: relative error {error:.3g} > {tol:g}"
    return error


def test_original_checkpoint_matches_transformers(original, tmp_path):
    hf, path = original
    hf.save_pretrained(tmp_path)
    with safe_open(tmp_path / "model.safetensors", "pt") as f:
        assert set(convert_original_state_dict(torch.load(path, weights_only=True))) == set(
            f.keys()
        )
    x = spectrogram(ORIGINAL_STYLE)
    expected = original_forward(torch.load(path, weights_only=True), x, STRIDES, heads=2)

    config = ASTConfig(**ORIGINAL_STYLE)
    with_config = ASTForAudioClassification.from_original_checkpoint(path, config=config)
    assert_relative(logits_of(with_config, x), expected, "original .pth with config", 2e-6)

    inferred = ASTForAudioClassification.from_original_checkpoint(path, **GEOMETRY)
    for field in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                  "patch_size", "qkv_bias", "num_labels", "layer_norm_eps"):  # fmt: skip
        assert getattr(inferred.config, field) == ORIGINAL_STYLE.get(field, getattr(config, field))
    assert inferred.config.classifier_layer_norm_eps == 1e-5
    assert_relative(logits_of(inferred, x), expected, "original .pth, config inferred", 2e-6)

    encoder = ASTModel.from_original_checkpoint(path, config=config)
    with torch.no_grad():
        reference = hf.audio_spectrogram_transformer(x).pooler_output
        assert_close(encoder(x).pooler_output, reference, "original .pth into ASTModel")


@pytest.fixture(scope="module")
def small_variance_original(tmp_path_factory):
    """An original-layout checkpoint whose layer-norm inputs have tiny variance, so that the
    eps values (1e-12, 1e-6, 1e-5) change the logits by percents, not parts per million."""
    transformers.set_seed(2)
    hf = randomise(transformers.ASTForAudioClassification(transformers.ASTConfig(**ORIGINAL_STYLE)))
    state = original_state_dict(hf)
    for key in ("v.patch_embed.proj.weight", "v.patch_embed.proj.bias", "v.cls_token",
                "v.dist_token", "v.pos_embed", "v.norm.weight", "v.norm.bias"):  # fmt: skip
        state["module." + key] = state["module." + key] * 1e-3
    path = tmp_path_factory.mktemp("original-eps") / "small_variance.pth"
    torch.save(state, path)
    x = spectrogram(ORIGINAL_STYLE) * 1e-3
    return state, path, x


def test_original_checkpoint_layer_norm_eps(small_variance_original, tmp_path, caplog):
    state, path, x = small_variance_original
    expected = original_forward(state, x, STRIDES, heads=2)

    inferred = ASTForAudioClassification.from_original_checkpoint(path, **GEOMETRY)
    assert_relative(logits_of(inferred, x), expected, "eps 1e-6 / 1e-5", 2e-6)
    # transformers' defaults (1e-12 everywhere) are replaced, with a warning
    with caplog.at_level("WARNING", logger="astaudio"):
        loaded = ASTForAudioClassification.from_original_checkpoint(
            path, config=ASTConfig(**{**ORIGINAL_STYLE, "layer_norm_eps": 1e-12})
        )
    assert "layer_norm_eps=1e-12 replaced" in caplog.text
    assert (loaded.config.layer_norm_eps, loaded.config.classifier_layer_norm_eps) == (1e-6, 1e-5)
    assert_relative(logits_of(loaded, x), expected, "config with 1e-12, replaced", 2e-6)
    # asked for by keyword: kept, and the logits are far off the original model's
    chosen = ASTForAudioClassification.from_original_checkpoint(
        path, config=ASTConfig(**ORIGINAL_STYLE), classifier_layer_norm_eps=1e-6
    )
    assert chosen.config.classifier_layer_norm_eps == 1e-6
    with pytest.raises(AssertionError):
        assert_relative(logits_of(chosen, x), expected, "head eps 1e-6 (the old one)", 1e-3)

    # config.json round trip; transformers loads the folder (ignoring the head's eps field)
    inferred.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert (saved["layer_norm_eps"], saved["classifier_layer_norm_eps"]) == (1e-6, 1e-5)
    again = ASTForAudioClassification.from_pretrained(tmp_path)
    assert again.classifier.layernorm.eps == 1e-5
    assert_relative(logits_of(again, x), expected, "saved and reloaded", 2e-6)
    theirs = transformers.ASTForAudioClassification.from_pretrained(tmp_path).eval()
    assert theirs.classifier.layernorm.eps == 1e-6  # transformers: the encoder's eps
    assert theirs.config.classifier_layer_norm_eps == 1e-5  # kept as an unknown key
    theirs.config.save_pretrained(tmp_path / "resaved")
    assert ASTConfig.from_pretrained(tmp_path / "resaved").classifier_layer_norm_eps == 1e-5
    assert ASTConfig().to_dict().get("classifier_layer_norm_eps", "absent") == "absent"


def test_transformers_reads_a_converted_folder_with_the_head_eps_of_the_encoder(original, tmp_path):
    """What transformers' one eps costs on an ordinary (randomised) checkpoint: measured."""
    _, path = original
    x = spectrogram(ORIGINAL_STYLE)
    expected = original_forward(torch.load(path, weights_only=True), x, STRIDES, heads=2)
    ASTForAudioClassification.from_original_checkpoint(path, **GEOMETRY).save_pretrained(tmp_path)
    theirs = transformers.ASTForAudioClassification.from_pretrained(tmp_path).eval()
    error = assert_relative(logits_of(theirs, x), expected, "transformers, head eps 1e-6", 1e-4)
    ours = ASTForAudioClassification.from_pretrained(tmp_path)
    assert assert_relative(logits_of(ours, x), expected, "astaudio", 2e-6) < error


def test_original_checkpoint_with_wrong_geometry_says_what_to_pass(original):
    _, path = original
    # freq grid (40-16)//12+1 = 3, time grid (72-16)//8+1 = 8 -> with time_stride 8, 72 frames
    with pytest.raises(CheckpointError, match="e.g. max_length=72 with time_stride=8"):
        ASTForAudioClassification.from_original_checkpoint(
            path, frequency_stride=12, time_stride=8, num_mel_bins=40
        )
    with pytest.raises(CheckpointError, match="frequency_stride, time_stride, max_length"):
        ASTForAudioClassification.from_original_checkpoint(
            path, frequency_stride=12, time_stride=8, max_length=72, num_mel_bins=64
        )


@pytest.mark.parametrize("max_length", [120, 48])
def test_original_checkpoint_at_another_max_length(original, max_length, caplog):
    _, path = original
    state = torch.load(path, weights_only=True)
    new_time = (max_length - 16) // 8 + 1  # 14 (interpolated) or 5 (centre cut) of 8
    adapted = adapt_position_embeddings(state["module.v.pos_embed"], (3, 8), (3, new_time))
    geometry = {**GEOMETRY, "max_length": max_length}
    with caplog.at_level("INFO", logger="astaudio"):
        model = ASTForAudioClassification.from_original_checkpoint(path, **geometry)
    assert "adapted from the 3x8 patch grid to 3x" + str(new_time) in caplog.text
    assert model.config.max_length == max_length and model.config.patch_grid == (3, new_time)
    pos = model.audio_spectrogram_transformer.embeddings.position_embeddings
    assert torch.equal(pos.detach(), adapted)
    x = spectrogram({**ORIGINAL_STYLE, "max_length": max_length})
    expected = original_forward({**state, "module.v.pos_embed": adapted}, x, STRIDES, heads=2)
    assert_relative(logits_of(model, x), expected, f"max_length={max_length}", 2e-6)
    config = ASTConfig(**ORIGINAL_STYLE)  # a config, and max_length= by keyword
    again = ASTForAudioClassification.from_original_checkpoint(path, config, max_length=max_length)
    assert torch.equal(again.audio_spectrogram_transformer.embeddings.position_embeddings, pos)


def test_transformers_format_is_refused_by_the_converter(reference, original, tmp_path, capsys):
    from astaudio.cli import main

    _, folder, *_ = reference  # num_attention_heads 4, layer_norm_eps 1e-12
    lone = tmp_path / "weights.safetensors"  # no config.json beside it: known by its key names
    shutil.copy(folder / "model.safetensors", lone)
    bare = tmp_path / "encoder.pth"  # an ASTModel state dict without the prefix
    torch.save(ASTModel(ASTConfig(**TINY)).state_dict(), bare)
    for path in (folder, folder / "model.safetensors", lone, bare):
        code = main(["convert", str(path), "-o", str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert code == 2, err
        assert "needs no conversion" in err and err.count("\n") == 1, err
        assert not (tmp_path / "out").exists()
    with pytest.raises(NeedsNoConversionError, match="key names such as audio_spectrogram"):
        ASTForAudioClassification.from_original_checkpoint(lone)
    _, pth = original  # the original layout still converts
    assert main(["convert", str(pth), "-o", str(tmp_path / "ok"), "--stride", "12", "8",
                 "--max-length", "72", "--num-mel-bins", "40"]) == 0  # fmt: skip


def test_config_inference_defaults_to_audioset_geometry():
    d = 768
    state = {
        PREFIX + "embeddings.cls_token": torch.zeros(1, 1, d),
        PREFIX + "embeddings.patch_embeddings.projection.weight": torch.zeros(d, 1, 16, 16),
        PREFIX + "encoder.layer.0.intermediate.dense.weight": torch.zeros(3072, d),
        PREFIX + "encoder.layer.0.attention.attention.query.bias": torch.zeros(d),
        PREFIX + "encoder.layer.11.output.dense.weight": torch.zeros(d, 3072),
        "classifier.dense.weight": torch.zeros(527, d),
    }
    config = config_from_original_state_dict(state)
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (d, 12, 12)
    assert (config.num_labels, config.qkv_bias, config.patch_size) == (527, True, 16)
    assert (config.frequency_stride, config.time_stride, config.max_length) == (10, 10, 1024)
    assert config.num_mel_bins == 128 and config.patch_grid == (12, 101)
    assert config_from_original_state_dict(state, max_length=512).patch_grid == (12, 50)
    with pytest.raises(CheckpointError, match="not an AST checkpoint"):
        config_from_original_state_dict({"foo": torch.zeros(1)})


# -- ImageNet (DeiT) initialisation ----------------------------------------------------------------
def deit_state_dict(width: int, depth: int, side: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """timm's deit_*_distilled_patch16_* key names and shapes (timm itself needs torchvision,
    which does not install beside this torch), with random values."""
    generator = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.randn(*shape, generator=generator)

    state = {
        "cls_token": rand(1, 1, width),
        "dist_token": rand(1, 1, width),
        "pos_embed": rand(1, 2 + side * side, width),
        "patch_embed.proj.weight": rand(width, 3, 16, 16),
        "patch_embed.proj.bias": rand(width),
        "norm.weight": rand(width),
        "norm.bias": rand(width),
        "head.weight": rand(1000, width),
        "head.bias": rand(1000),
        "head_dist.weight": rand(1000, width),
        "head_dist.bias": rand(1000),
    }
    for i in range(depth):
        for name, shape in (
            ("norm1", (width,)), ("attn.qkv", (3 * width, width)), ("attn.proj", (width, width)),
            ("norm2", (width,)), ("mlp.fc1", (4 * width, width)), ("mlp.fc2", (width, 4 * width)),
        ):  # fmt: skip
            state[f"blocks.{i}.{name}.weight"] = rand(*shape)
            state[f"blocks.{i}.{name}.bias"] = rand(shape[0])
    return state


def test_init_from_deit():
    width, side = 32, 6
    deit = deit_state_dict(width, depth=2, side=side)
    config = ASTConfig(**{**TINY, "intermediate_size": 4 * width, "max_length": 128})
    assert config.patch_grid == (2, 12)  # fewer frequency, more time positions than 6x6
    model = init_from_deit(config, deit)
    encoder = model.audio_spectrogram_transformer
    emb = encoder.embeddings
    assert torch.equal(emb.cls_token, deit["cls_token"])
    assert torch.equal(emb.distillation_token, deit["dist_token"])
    kernel = deit["patch_embed.proj.weight"]
    assert torch.allclose(emb.patch_embeddings.projection.weight[:, 0], kernel.sum(dim=1))
    pos = emb.position_embeddings.detach()
    assert torch.equal(pos[:, :2], deit["pos_embed"][:, :2])
    expected = adapt_position_embeddings(deit["pos_embed"], (side, side), (2, 12))
    assert torch.equal(pos, expected)
    # time stretched 6 -> 12, frequency cut to the centre rows 2..3 of 6
    grid = deit["pos_embed"][0, 2:].reshape(side, side, width)
    assert torch.allclose(pos[0, 2:].reshape(2, 12, width)[:, 0], grid[2:4, 0])
    layer = encoder.encoder.layer[1]
    qkv = deit["blocks.1.attn.qkv.weight"]
    assert torch.equal(layer.attention.attention.key.weight, qkv[width : 2 * width])
    assert torch.equal(layer.output.dense.bias, deit["blocks.1.mlp.fc2.bias"])
    assert torch.equal(encoder.layernorm.weight, deit["norm.weight"])
    assert model.classifier.dense.weight.shape == (3, width)  # fresh head, DeiT's unused
    with torch.no_grad():
        assert torch.isfinite(model(torch.randn(1, 128, 32)).logits).all()

    with pytest.raises(CheckpointError, match="mismatched shapes"):
        init_from_deit(ASTModel(ASTConfig(**{**TINY, "intermediate_size": 64})), deit)
    with pytest.raises(CheckpointError, match="not a distilled DeiT"):
        init_from_deit(config, {k: v for k, v in deit.items() if k != "dist_token"})


def test_convert_command_writes_a_folder_transformers_loads(original, tmp_path):
    from astaudio.cli import main

    hf, path = original
    names = ["Speech", 'Dog, "woof"', "Bell (church)", "Rain", "Wind", "Car", "Silence"]
    labels = tmp_path / "labels.csv"
    with open(labels, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["index", "mid", "display_name"])
        writer.writerows([i, f"/m/{i:04d}", name] for i, name in enumerate(names))
    out = tmp_path / "converted"
    code = main(["convert", str(path), "-o", str(out), "--labels", str(labels), "--stride", "12", "8",
                 "--max-length", "72", "--num-mel-bins", "40", "--mean", "-5.5", "--std", "3.0"])  # fmt: skip
    assert code == 0
    theirs = transformers.ASTForAudioClassification.from_pretrained(out).eval()
    x = spectrogram(ORIGINAL_STYLE)
    assert_close(logits_of(theirs, x), logits_of(hf, x), "converted folder in transformers")
    assert theirs.config.id2label == dict(enumerate(names))
    extractor = transformers.ASTFeatureExtractor.from_pretrained(out)
    assert (extractor.mean, extractor.std, extractor.max_length) == (-5.5, 3.0, 72)
    assert ASTForAudioClassification.from_pretrained(out).config.time_stride == 8
    # labels that don't fit the head: one clear line, exit status 1
    assert main(["convert", str(path), "-o", str(tmp_path / "bad"), "--labels",
                 "esc50", "--stride", "12", "8",
                 "--max-length", "72", "--num-mel-bins", "40"]) == 1  # fmt: skip


def test_convert_without_labels_names_the_head_from_the_packaged_sets(
    original, tmp_path, caplog, capsys
):
    from astaudio.labels import load_labels

    transformers.set_seed(1)
    esc = transformers.ASTConfig(**{**ORIGINAL_STYLE, "num_labels": 50})
    path = tmp_path / "esc50_fold1.pth"
    torch.save(original_state_dict(randomise(transformers.ASTForAudioClassification(esc))), path)
    geometry = dict(frequency_stride=12, time_stride=8, max_length=72, num_mel_bins=40)
    with caplog.at_level("INFO", logger="astaudio"):
        folder = convert_original_checkpoint(path, tmp_path / "esc", **geometry)
    config = json.loads((folder / "config.json").read_text())
    assert [config["id2label"][str(i)] for i in range(50)] == load_labels("esc50")
    assert "'esc50'" in caplog.text
    # the command says on stderr which set it used
    from astaudio.cli import main

    code = main(["convert", str(path), "-o", str(tmp_path / "esc-cli"), "--stride", "12", "8",
                 "--max-length", "72", "--num-mel-bins", "40"])  # fmt: skip
    assert code == 0 and "packaged 'esc50' set" in capsys.readouterr().err
    assert (
        ASTForAudioClassification.from_pretrained(tmp_path / "esc-cli").config.id2label[0] == "dog"
    )

    _, seven = original  # a 7-class head matches no packaged set: generic names and a note
    caplog.clear()
    folder = convert_original_checkpoint(seven, tmp_path / "seven", **geometry)
    config = json.loads((folder / "config.json").read_text())
    assert config["id2label"] == {str(i): f"LABEL_{i}" for i in range(7)}
    assert "no packaged label set has 7 classes" in caplog.text


def test_from_pretrained_takes_transformers_loading_arguments(tmp_path):
    torch.manual_seed(0)
    model = ASTForAudioClassification(tiny_config()).eval()
    model.save_pretrained(tmp_path / "sub")
    loaded, info = ASTForAudioClassification.from_pretrained(
        tmp_path, subfolder="sub", output_loading_info=True, device_map="cpu", dtype="float64"
    )
    assert info["missing_keys"] == set() and info["unexpected_keys"] == set()
    assert loaded.dtype == torch.float64 and loaded.device.type == "cpu"
    same = ASTForAudioClassification.from_pretrained(
        None, config=model.config, state_dict=model.state_dict()
    )
    assert torch.equal(same.classifier.dense.weight, model.classifier.dense.weight)
    with pytest.raises(TypeError, match="not_a_field"):
        ASTForAudioClassification.from_pretrained(tmp_path / "sub", not_a_field=1)
    assert "not_a_field" not in (tmp_path / "sub" / "config.json").read_text()
