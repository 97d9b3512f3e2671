import json
import time

import pytest

from astaudio import ASTConfig, ModelNotFoundError
from astaudio.hub import resolve_file

REPO = "someone/tiny-ast"


def fill_cache(cache_dir, repo_id, files: dict[str, str], revision="main"):
    """Lay files out the way huggingface_hub's cache stores a downloaded snapshot."""
    repo = cache_dir / f"models--{repo_id.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / revision).write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name, text in files.items():
        (snapshot / name).write_text(text)
    return snapshot


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_cached_hub_id_loads_offline(tmp_path, offline):
    config_json = ASTConfig(hidden_size=32, num_attention_heads=2).to_json_string()
    fill_cache(tmp_path, REPO, {"config.json": config_json})
    path = resolve_file(REPO, "config.json", cache_dir=tmp_path)
    assert path.read_text() == config_json
    assert ASTConfig.from_pretrained(REPO, cache_dir=tmp_path).hidden_size == 32
    # an optional file that isn't in the cached snapshot
    assert resolve_file(REPO, "missing.json", cache_dir=tmp_path, required=False) is None


def test_offline_and_not_cached_is_one_clear_error(tmp_path, offline):
    start = time.perf_counter()
    with pytest.raises(ModelNotFoundError) as info:
        ASTConfig.from_pretrained("MIT/ast-finetuned-audioset-10-10-0.4593", cache_dir=tmp_path)
    assert time.perf_counter() - start < 5
    message = str(info.value)
    assert "MIT/ast-finetuned-audioset-10-10-0.4593" in message
    assert "local model folder" in message and "\n" not in message


def test_unreachable_endpoint_fails_fast(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: connection refused
    start = time.perf_counter()
    with pytest.raises(ModelNotFoundError, match="can't be reached"):
        resolve_file("owner/never-cached", "config.json", cache_dir=tmp_path)
    assert time.perf_counter() - start < 10


def test_local_folder_and_bad_paths(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 8}))
    assert resolve_file(tmp_path, "config.json") == tmp_path / "config.json"
    assert resolve_file(tmp_path, "model.safetensors", required=False) is None
    with pytest.raises(ModelNotFoundError, match="no model.safetensors"):
        resolve_file(tmp_path, "model.safetensors")
    with pytest.raises(ModelNotFoundError, match="no such model folder"):
        resolve_file(tmp_path / "nope", "config.json")
    with pytest.raises(ModelNotFoundError, match="no such model folder"):
        resolve_file("./relative/missing", "config.json")


def test_bundled_name_works_in_every_loader_and_wrong_names_list_them(monkeypatch):
    from astaudio import (
        ASTConfig,
        ASTFeatureExtractor,
        ASTForAudioClassification,
        ModelNotFoundError,
    )

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in ("keywords", "bundled:keywords"):
        assert ASTConfig.from_pretrained(name).num_labels == 22
        assert ASTFeatureExtractor.from_pretrained(name).num_mel_bins > 0
        assert ASTForAudioClassification.from_pretrained(name).num_labels == 22
    for wrong in ("keyword", "bundled:nope", "a/b:c"):
        with pytest.raises(OSError, match="bundled models: keywords") as info:
            ASTConfig.from_pretrained(wrong)
        assert isinstance(info.value, ModelNotFoundError)
