"""Shared fixtures: real audio files (Debian sound packages) and tiny checkpoints."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

import audio_fixtures  # noqa: E402


def tiny_config(**changes):
    from astaudio import ASTConfig

    values = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=64, max_length=128, num_labels=4)  # fmt: skip
    values.update(changes)
    return ASTConfig(**values)


def audioset_labels() -> dict[int, str]:
    from astaudio.labels import load_labels

    return dict(enumerate(load_labels("audioset")))


@pytest.fixture(scope="session")
def audio_files(tmp_path_factory) -> dict[str, Path]:
    """Real recordings converted to many formats and rates (see audio_fixtures)."""
    try:
        audio_fixtures.check_audio_tools()
    except audio_fixtures.MissingAudioTools as exc:
        pytest.fail(str(exc))
    return audio_fixtures.make_converted_files(tmp_path_factory.mktemp("audio"))


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory) -> dict[str, Path]:
    return audio_fixtures.make_bad_files(tmp_path_factory.mktemp("bad"))


@pytest.fixture(scope="session")
def audioset_model_dir(tmp_path_factory) -> Path:
    """A tiny random-weight classifier with AudioSet's 527 labels, saved in transformers' format."""
    from astaudio import ASTForAudioClassification

    torch.manual_seed(0)
    model = ASTForAudioClassification(
        tiny_config(id2label=audioset_labels(), num_labels=None, max_length=512)
    )
    folder = tmp_path_factory.mktemp("tiny-audioset")
    model.save_pretrained(folder)
    return folder
