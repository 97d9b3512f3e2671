"""astaudio's model against transformers' ASTModel / ASTForAudioClassification (the reference)."""

from __future__ import annotations

import pytest
import torch
import transformers

from astaudio.config import ASTConfig
from astaudio.model import (
    ASTClassifierOutput,
    ASTForAudioClassification,
    ASTModel,
    ASTModelOutput,
)

# Tiny configs covering strides, patch sizes, odd spectrogram sizes, activations and qkv_bias.
TINY_CONFIGS = {
    "small": dict(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_length=64, num_mel_bins=32, num_labels=3,
    ),
    "patch8-strides6x4-nobias-gelu_new": dict(
        hidden_size=48, num_hidden_layers=2, num_attention_heads=3, intermediate_size=96,
        patch_size=8, frequency_stride=6, time_stride=4, max_length=50, num_mel_bins=24,
        qkv_bias=False, hidden_act="gelu_new", num_labels=5,
    ),
    "nonoverlapping-relu-eps1e-6": dict(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=8, intermediate_size=128,
        frequency_stride=16, time_stride=16, max_length=100, num_mel_bins=48,
        hidden_act="relu", layer_norm_eps=1e-6, num_labels=1,
    ),
    "patch4-odd-sizes-silu": dict(
        hidden_size=40, num_hidden_layers=1, num_attention_heads=5, intermediate_size=80,
        patch_size=4, frequency_stride=3, time_stride=5, max_length=37, num_mel_bins=20,
        hidden_act="silu", num_labels=2,
    ),
}  # fmt: skip


def randomise(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random values for every parameter, including those initialised to 0/1 (tokens, position
    embeddings, LayerNorms, biases), so that a wrong placement shows in the outputs."""
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
                param.copy_(noise / param[0].numel() ** 0.5)  # unit-scale activations
    return model.eval()


def assert_close(actual: torch.Tensor, expected: torch.Tensor, what: str) -> float:
    """max |actual - expected| <= 1e-5 * scale of expected; returns the error (printed)."""
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} vs {expected.shape}"
    scale = max(1.0, expected.abs().max().item())
    error = (actual.double() - expected.double()).abs().max().item()
    print(f"{what}: max abs diff {error:.3g} (scale {scale:.3g})")
    assert error <= 1e-5 * scale, f"{what}: max abs diff {error:.3g} > 1e-5 * {scale:.3g}"
    return error


def hf_classifier(kwargs: dict, seed: int = 0, attn: str = "eager"):
    transformers.set_seed(seed)
    config = transformers.ASTConfig(**kwargs, attn_implementation=attn)
    return randomise(transformers.ASTForAudioClassification(config), seed)


def spectrogram(config_kwargs: dict, batch: int = 2, seed: int = 1) -> torch.Tensor:
    cfg = ASTConfig(**config_kwargs)
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, cfg.max_length, cfg.num_mel_bins, generator=generator)


def compare_classifier(ours, theirs, x: torch.Tensor, label: str) -> None:
    """Logits, every hidden state and attention map; explicit and SDPA attention paths."""
    with torch.no_grad():
        ref = theirs(x, output_hidden_states=True, output_attentions=True)
        full = ours(x, output_hidden_states=True, output_attentions=True)
        fast = ours(x)  # SDPA path
    assert_close(full.logits, ref.logits, f"{label} logits (explicit attention)")
    assert_close(fast.logits, ref.logits, f"{label} logits (SDPA)")
    assert_close(fast.logits, full.logits, f"{label} SDPA vs explicit")
    assert len(full.hidden_states) == ours.config.num_hidden_layers + 1
    assert len(full.hidden_states) == len(ref.hidden_states)
    for i, (a, b) in enumerate(zip(full.hidden_states, ref.hidden_states, strict=True)):
        assert_close(a, b, f"{label} hidden_states[{i}]")
    assert len(full.attentions) == len(ref.attentions) == ours.config.num_hidden_layers
    for i, (a, b) in enumerate(zip(full.attentions, ref.attentions, strict=True)):
        assert_close(a, b, f"{label} attentions[{i}]")


@pytest.mark.parametrize("name", list(TINY_CONFIGS))
def test_transformers_checkpoint_gives_same_outputs(tmp_path, name):
    kwargs = TINY_CONFIGS[name]
    theirs = hf_classifier(kwargs)
    theirs.save_pretrained(tmp_path)
    x = spectrogram(kwargs)

    ours = ASTForAudioClassification.from_pretrained(tmp_path)
    assert not ours.training
    compare_classifier(ours, theirs, x, name)

    base = ASTModel.from_pretrained(tmp_path)
    with torch.no_grad():
        ref = theirs.audio_spectrogram_transformer(x)
        out = base(x)
    assert_close(out.last_hidden_state, ref.last_hidden_state, f"{name} last_hidden_state")
    assert_close(out.pooler_output, ref.pooler_output, f"{name} pooler_output")


def test_astaudio_checkpoint_loads_in_transformers(tmp_path):
    kwargs = TINY_CONFIGS["patch8-strides6x4-nobias-gelu_new"]
    ours = randomise(ASTForAudioClassification(ASTConfig(**kwargs)), seed=3)
    ours.save_pretrained(tmp_path / "cls")
    theirs = transformers.ASTForAudioClassification.from_pretrained(
        tmp_path / "cls", attn_implementation="eager"
    ).eval()
    compare_classifier(ours, theirs, spectrogram(kwargs), "reverse")

    base = randomise(ASTModel(ASTConfig(**kwargs)), seed=4)
    base.save_pretrained(tmp_path / "base")
    their_base = transformers.ASTModel.from_pretrained(tmp_path / "base").eval()
    x = spectrogram(kwargs, seed=5)
    with torch.no_grad():
        assert_close(base(x).pooler_output, their_base(x).pooler_output, "reverse base pooler")


def test_default_config_full_model(tmp_path):
    """The one run of the full 86M model (batch 1): default config, transformers' SDPA."""
    transformers.set_seed(0)
    theirs = transformers.ASTForAudioClassification(transformers.ASTConfig()).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # the zero/one-initialised parameters get random values
        for name, param in theirs.named_parameters():
            if "token" in name or "position" in name or name.endswith("bias"):
                param.normal_(0.0, 0.1, generator=generator)
            elif "norm" in name:
                param.normal_(1.0, 0.1, generator=generator)
    theirs.save_pretrained(tmp_path)
    ours = ASTForAudioClassification.from_pretrained(tmp_path)
    assert ours.config.patch_grid == (12, 101)
    assert ours.audio_spectrogram_transformer.embeddings.position_embeddings.shape == (1, 1214, 768)
    assert ours.num_parameters() == theirs.num_parameters()

    x = torch.randn(1, 1024, 128, generator=generator)
    with torch.no_grad():
        ref = theirs(x, output_hidden_states=True)
        out = ours(x, output_hidden_states=True)
    assert_close(out.logits, ref.logits, "default logits")
    for i, (a, b) in enumerate(zip(out.hidden_states, ref.hidden_states, strict=True)):
        assert_close(a, b, f"default hidden_states[{i}]")


@pytest.mark.parametrize(
    ("num_labels", "problem_type", "label_kind"),
    [
        (3, None, "int"),
        (3, None, "multi-hot"),
        (1, None, "float"),
        (3, "regression", "float"),
        (3, "single_label_classification", "int"),
    ],
)
def test_loss_matches_transformers(tmp_path, num_labels, problem_type, label_kind):
    kwargs = {**TINY_CONFIGS["small"], "num_labels": num_labels, "problem_type": problem_type}
    theirs = hf_classifier(kwargs)
    theirs.save_pretrained(tmp_path)
    ours = ASTForAudioClassification.from_pretrained(tmp_path)
    x = spectrogram(kwargs, batch=4)
    generator = torch.Generator().manual_seed(2)
    if label_kind == "int":
        labels = torch.randint(0, num_labels, (4,), generator=generator)
    elif label_kind == "multi-hot":
        labels = (torch.rand(4, num_labels, generator=generator) > 0.5).float()
    else:
        labels = torch.randn(4, num_labels, generator=generator).squeeze(-1)
    with torch.no_grad():
        ref = theirs(x, labels=labels)
        out = ours(x, labels=labels)
    assert_close(out.loss, ref.loss, f"loss {num_labels} {problem_type} {label_kind}")
    assert ours.config.problem_type == theirs.config.problem_type is not None


def test_head_mask_matches_silenced_output_columns():
    """transformers 5 ignores head_mask, so the reference is transformers' model with the
    output-projection columns of each head scaled by its mask value (probs * m) @ V ==
    m * (probs @ V)."""
    kwargs = TINY_CONFIGS["small"]
    theirs = hf_classifier(kwargs)
    ours = ASTForAudioClassification(ASTConfig(**kwargs))
    _copy_hf_weights(theirs, ours)
    ours.eval()
    x = spectrogram(kwargs)
    layers, head_dim = 2, 8
    mask = torch.tensor([[1.0, 0.0, 0.5, 1.0], [0.0, 1.0, 1.0, 2.0]])

    with torch.no_grad():
        out = ours(x, head_mask=mask, output_attentions=True)
        for layer in range(layers):
            columns = mask[layer].repeat_interleave(head_dim)  # (D,)
            theirs.audio_spectrogram_transformer.layers[layer].attention.o_proj.weight.mul_(columns)
        ref = theirs(x, output_attentions=True)  # its probabilities are the unmasked ones
    assert_close(out.logits, ref.logits, "head_mask (layers, heads) logits")
    for layer in range(layers):
        expected = ref.attentions[layer] * mask[layer][None, :, None, None]
        assert_close(out.attentions[layer], expected, f"head_mask attentions[{layer}]")

    with torch.no_grad():
        one_d = ours(x, head_mask=torch.tensor([1.0, 0.0, 1.0, 1.0])).logits
        explicit = ours(x, head_mask=torch.tensor([[1.0, 0.0, 1.0, 1.0]] * layers)).logits
    assert_close(one_d, explicit, "head_mask (heads,) == broadcast (layers, heads)")
    with pytest.raises(ValueError, match=r"head_mask must have shape \(4,\) or \(2, 4\)"):
        ours(x, head_mask=torch.ones(3))


def _copy_hf_weights(theirs, ours) -> None:
    """Copy through the file format (transformers' save names) without touching disk."""
    from astaudio.checkpoints import normalize_key_names

    ours.load_state_dict(normalize_key_names(theirs.state_dict()), strict=True)


def test_return_dict_false_gives_tuples():
    kwargs = TINY_CONFIGS["small"]
    theirs = hf_classifier(kwargs)
    ours = ASTForAudioClassification(ASTConfig(**kwargs))
    _copy_hf_weights(theirs, ours)
    ours.eval()
    x = spectrogram(kwargs)
    labels = torch.tensor([0, 2])
    with torch.no_grad():
        ref = theirs(x, labels=labels, output_hidden_states=True, return_dict=False)
        out = ours(x, labels=labels, output_hidden_states=True, return_dict=False)
        plain = ours(x, return_dict=False)
        base = ours.audio_spectrogram_transformer(x, return_dict=False)
    assert isinstance(out, tuple) and len(out) == len(ref) == 3  # loss, logits, hidden_states
    assert_close(out[0], ref[0], "tuple loss")
    assert_close(out[1], ref[1], "tuple logits")
    assert len(out[2]) == len(ref[2]) == 3
    assert isinstance(plain, tuple) and len(plain) == 1
    assert isinstance(base, tuple) and len(base) == 2 and base[1].shape == (2, 32)


def test_model_output_reads_like_transformers():
    out = ASTClassifierOutput(logits=torch.ones(2, 3), attentions=(torch.zeros(1),))
    assert out["logits"] is out.logits is out[0]
    assert out[1] is out.attentions
    assert out.keys() == ["logits", "attentions"] and "loss" not in out
    assert out.to_tuple() == (out.logits, out.attentions)
    with pytest.raises(KeyError):
        out["loss"]
    base = ASTModelOutput(last_hidden_state=torch.ones(1), pooler_output=torch.zeros(1))
    assert len(base) == 2 and list(base) == ["last_hidden_state", "pooler_output"]


def test_output_defaults_come_from_config():
    kwargs = TINY_CONFIGS["small"]
    config = ASTConfig(**kwargs, output_hidden_states=True, output_attentions=True)
    model = ASTForAudioClassification(config).eval()
    with torch.no_grad():
        out = model(spectrogram(kwargs))
        overridden = model(spectrogram(kwargs), output_attentions=False)
    assert len(out.hidden_states) == 3 and len(out.attentions) == 2
    assert overridden.attentions is None
    config.return_dict = False
    with torch.no_grad():
        assert isinstance(model(spectrogram(kwargs)), tuple)
    # the flags are config attributes, written to config.json only when not the default
    assert config.to_dict()["return_dict"] is False and "return_dict" not in ASTConfig().to_dict()
    assert ASTConfig.from_dict(config.to_dict()).output_attentions is True


def test_initialisation_matches_transformers():
    kwargs = dict(
        hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512,
        max_length=64, num_mel_bins=32, num_labels=300, initializer_range=0.05,
    )  # fmt: skip
    transformers.set_seed(0)
    theirs = dict(transformers.ASTForAudioClassification(transformers.ASTConfig(**kwargs))
                  .state_dict())  # fmt: skip
    theirs = _file_names(theirs)
    ours = ASTForAudioClassification(ASTConfig(**kwargs)).state_dict()
    assert set(ours) == set(theirs)
    for name, ref in theirs.items():
        mine = ours[name]
        if ref.std() == 0:  # constants: zeros and LayerNorm ones
            assert torch.equal(mine, ref), name
        else:
            assert abs(mine.mean().item()) < 0.01, name
            assert mine.std().item() == pytest.approx(ref.std().item(), rel=0.1), name
            assert mine.std().item() == pytest.approx(0.05, rel=0.1), name


def _file_names(state: dict) -> dict:
    from astaudio.checkpoints import normalize_key_names

    return normalize_key_names(state)


def test_parameter_count_matches_transformers_default_config():
    with torch.device("meta"):  # shapes only, no memory
        ours = ASTForAudioClassification(ASTConfig(num_labels=527))
        theirs = transformers.ASTForAudioClassification(transformers.ASTConfig(num_labels=527))
    d, inner, tokens, labels = 768, 3072, 2 + 12 * 101, 527
    per_layer = 4 * (d * d + d) + (d * inner + inner) + (inner * d + d) + 2 * 2 * d
    by_hand = (d * 16 * 16 + d) + tokens * d + 2 * d + 12 * per_layer + 2 * d
    by_hand += 2 * d + d * labels + labels  # classifier LayerNorm + Linear
    assert ours.num_parameters() == theirs.num_parameters() == by_hand
    ours.audio_spectrogram_transformer.embeddings.cls_token.requires_grad_(False)
    assert ours.num_parameters(only_trainable=True) == by_hand - d


def test_gradient_checkpointing_gives_same_gradients():
    kwargs = TINY_CONFIGS["small"]
    model = randomise(ASTForAudioClassification(ASTConfig(**kwargs))).train()
    x = spectrogram(kwargs)
    labels = torch.tensor([1, 2])

    def gradients():
        model.zero_grad()
        model(x, labels=labels).loss.backward()
        return {n: p.grad.clone() for n, p in model.named_parameters()}

    plain = gradients()
    model.gradient_checkpointing_enable()
    assert model.is_gradient_checkpointing
    checkpointed = gradients()
    model.gradient_checkpointing_disable()
    assert not model.is_gradient_checkpointing
    for name, grad in plain.items():
        assert torch.allclose(checkpointed[name], grad, atol=1e-6), name


def test_dropout_only_in_training():
    kwargs = {
        **TINY_CONFIGS["small"],
        "hidden_dropout_prob": 0.3,
        "attention_probs_dropout_prob": 0.3,
    }
    model = randomise(ASTForAudioClassification(ASTConfig(**kwargs)))
    x = spectrogram(kwargs)
    with torch.no_grad():
        assert torch.equal(model.eval()(x).logits, model(x).logits)
        model.train()
        assert not torch.equal(model(x).logits, model(x).logits)
        assert not torch.equal(model(x, output_attentions=True).logits, model(x).logits)


def test_properties_and_input_checks():
    kwargs = TINY_CONFIGS["small"]
    model = ASTModel(ASTConfig(**kwargs))
    assert model.dtype == torch.float32 and model.device.type == "cpu"
    assert isinstance(model.config, ASTConfig)
    with pytest.raises(ValueError, match=r"shape \(batch, 64 frames, 32 mel bins\), got \(2, 64\)"):
        model(torch.zeros(2, 64))
    with pytest.raises(ValueError, match="max_length=80"):
        model(torch.zeros(1, 80, 32))
    with pytest.raises(TypeError, match="astaudio.ASTConfig"):
        ASTModel({"hidden_size": 32})
    half = ASTModel(ASTConfig(**kwargs)).to(torch.bfloat16)
    assert half(torch.zeros(1, 64, 32)).last_hidden_state.dtype == torch.bfloat16
    no_head = ASTForAudioClassification(ASTConfig(**{**kwargs, "num_labels": 0})).eval()
    assert no_head(spectrogram(kwargs)).logits.shape == (2, 32)
    with pytest.raises(ValueError, match="no classifier head"):
        no_head(spectrogram(kwargs), labels=torch.tensor([0, 1]))
