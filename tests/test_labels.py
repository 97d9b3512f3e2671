"""astaudio.labels: the packaged class lists and label-file reading."""

from __future__ import annotations

from pathlib import Path

import pytest

from astaudio.labels import (
    LABEL_SETS,
    generic_labels,
    label_set_for_size,
    load_labels,
    read_label_csv,
)


def test_packaged_sets_are_the_ast_class_lists() -> None:
    # facts about the datasets, not about our files: AudioSet's ontology ids and names,
    # ESC-50's class order (by target index), Speech Commands V2's 35 words
    audioset = read_label_csv("audioset")
    assert len(audioset) == 527 and [info.index for info in audioset] == list(range(527))
    assert (audioset[0].mid, audioset[0].display_name) == ("/m/09x0r", "Speech")
    assert audioset[1].display_name == "Male speech, man speaking"
    assert audioset[137].display_name == "Music" and audioset[74].display_name == "Dog"
    esc = load_labels("esc50")
    assert len(esc) == 50 and esc[0] == "dog" and esc[49] == "hand_saw"
    commands = load_labels("speechcommands")
    assert len(commands) == 35 and commands[34] == "one"
    assert set(commands) >= {"yes", "no", "marvin", "sheila", "visual", "learn", "follow"}
    assert all(len(set(load_labels(name))) == len(load_labels(name)) for name in LABEL_SETS)


def test_label_set_for_size_and_generic_names() -> None:
    assert label_set_for_size(527) == "audioset"
    assert label_set_for_size(50) == "esc50"
    assert label_set_for_size(35) == "speechcommands"
    assert label_set_for_size(7) is None
    assert generic_labels(3) == ["LABEL_0", "LABEL_1", "LABEL_2"]


def test_a_local_file_wins_over_a_set_name(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("esc50").write_text("index,mid,display_name\n0,/m/x,mine\n")
    assert load_labels("esc50") == ["mine"]
    with pytest.raises(FileNotFoundError, match="audioset, esc50, speechcommands"):
        load_labels("esc-50")


def test_read_label_csv_quotes_and_errors(tmp_path: Path) -> None:
    good = tmp_path / "labels.csv"
    good.write_text('index,mid,display_name\n1,/m/b,"Say ""hi"", twice"\n0,/m/a,plain\n')
    infos = read_label_csv(good)
    assert [info.display_name for info in infos] == ["plain", 'Say "hi", twice']
    gap = tmp_path / "gap.csv"
    gap.write_text("index,mid,display_name\n0,/m/a,a\n2,/m/c,c\n")
    with pytest.raises(ValueError, match="0..1"):
        read_label_csv(gap)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("id,name\n0,a\n")
    with pytest.raises(ValueError, match="index,mid,display_name"):
        read_label_csv(wrong)


def test_public_api_exports_the_label_functions() -> None:
    import astaudio

    assert astaudio.load_labels("esc50") == load_labels("esc50")
    assert astaudio.read_label_csv is read_label_csv and "load_labels" in astaudio.__all__
