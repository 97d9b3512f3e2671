import json

import pytest
import transformers

from astaudio import ASTConfig, ASTModel

DEFAULTS = dict(
    hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
    hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    initializer_range=0.02, layer_norm_eps=1e-12, patch_size=16, qkv_bias=True,
    frequency_stride=10, time_stride=10, max_length=1024, num_mel_bins=128,
)  # fmt: skip


def test_defaults_match_model_card_and_transformers():
    ours, theirs = ASTConfig(), transformers.ASTConfig()
    for name, value in DEFAULTS.items():
        assert getattr(ours, name) == value, name
        assert getattr(theirs, name) == value, name
    assert ours.num_labels == theirs.num_labels
    assert ours.id2label == theirs.id2label
    assert ours.patch_grid == (12, 101)
    assert ours.num_patches + 2 == 1214


def test_transformers_reads_our_config(tmp_path):
    labels = {0: "Speech", 1: 'Dog, "woof"', 2: "Bell (church)"}
    ASTConfig(
        hidden_size=64,
        num_attention_heads=4,
        max_length=256,
        time_stride=12,
        id2label=labels,
        problem_type="multi_label_classification",
    ).save_pretrained(tmp_path)
    raw = json.loads((tmp_path / "config.json").read_text())
    assert raw["model_type"] == "audio-spectrogram-transformer"
    assert raw["id2label"] == {str(k): v for k, v in labels.items()}
    theirs = transformers.ASTConfig.from_pretrained(tmp_path)
    assert theirs.hidden_size == 64 and theirs.max_length == 256 and theirs.time_stride == 12
    assert theirs.id2label == labels
    assert theirs.label2id == {v: k for k, v in labels.items()}
    assert theirs.problem_type == "multi_label_classification"


def test_we_read_transformers_config_and_keep_unknown_keys(tmp_path):
    theirs = transformers.ASTConfig(num_mel_bins=64, frequency_stride=8, num_labels=5)
    theirs.save_pretrained(tmp_path)
    raw = json.loads((tmp_path / "config.json").read_text())
    raw["my_custom_key"] = {"nested": [1, 2]}
    (tmp_path / "config.json").write_text(json.dumps(raw))
    ours = ASTConfig.from_pretrained(tmp_path)
    assert ours.num_mel_bins == 64 and ours.frequency_stride == 8
    assert ours.num_labels == 5 and ours.id2label[4] == "LABEL_4"
    assert ours.extra["my_custom_key"] == {"nested": [1, 2]}
    out = tmp_path / "again"
    ours.save_pretrained(out)
    again = json.loads((out / "config.json").read_text())
    assert again["my_custom_key"] == {"nested": [1, 2]}
    assert ASTConfig.from_pretrained(out) == ours


def test_overrides_in_from_pretrained(tmp_path):
    ASTConfig(id2label={0: "a", 1: "b", 2: "c"}).save_pretrained(tmp_path)
    assert ASTConfig.from_pretrained(tmp_path, max_length=128).max_length == 128
    relabelled = ASTConfig.from_pretrained(tmp_path, num_labels=7)
    assert relabelled.num_labels == 7 and relabelled.label2id["LABEL_6"] == 6
    named = ASTConfig.from_pretrained(tmp_path, id2label={0: "x", 1: "y"})
    assert named.label2id == {"x": 0, "y": 1}


def test_num_labels_setter_and_callable_activation():
    config = ASTConfig(num_labels=3)
    assert list(config.id2label.values()) == ["LABEL_0", "LABEL_1", "LABEL_2"]
    config.num_labels = 5
    assert config.num_labels == 5 and len(config.label2id) == 5
    with_callable = ASTConfig(hidden_act=lambda x: x)
    with pytest.raises(ValueError, match="callable"):
        with_callable.to_dict()


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(frequency_stride=0), "frequency_stride"),
        (dict(time_stride=-3), "time_stride"),
        (dict(num_hidden_layers=0), "num_hidden_layers"),
        (dict(hidden_act="nonsense"), "hidden_act"),
        (dict(problem_type="ranking"), "problem_type"),
        (dict(hidden_dropout_prob=1.5), "hidden_dropout_prob"),
        (dict(num_labels=-1), "num_labels"),
        (dict(num_labels=3, id2label={0: "a"}), "num_labels"),
        (dict(patch_size=[16, 8]), "patch_size"),
    ],
)
def test_impossible_values_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        ASTConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(hidden_size=100, num_attention_heads=12), "hidden_size"),
        (dict(patch_size=200), "patch_size"),
        (dict(max_length=8), "patch_size"),
    ],
)
def test_clashing_fields_are_refused_when_a_model_is_built(kwargs, field):
    config = ASTConfig(**kwargs)  # as transformers: fields may be adjusted after construction
    with pytest.raises(ValueError, match=field):
        config.validate()
    with pytest.raises(ValueError, match=field):
        ASTModel(config)


def test_config_is_built_before_its_fields_are_adjusted():
    # transformers' tests do this: 12 default heads don't divide 32 until they are set
    config = ASTConfig(hidden_size=32)
    config.num_attention_heads = 4
    assert ASTModel(config).config.num_attention_heads == 4


def test_other_model_type_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 8}))
    with pytest.raises(ValueError, match="model_type"):
        ASTConfig.from_pretrained(tmp_path)
