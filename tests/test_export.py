"""ONNX export, the ONNX Runtime backend and int8 models, against the torch model and the
torch feature extractor (tiny random or briefly trained models)."""

from __future__ import annotations

import io
import json
import sys

import numpy as np
import onnx
import pytest
import torch
from conftest import tiny_config

from astaudio import ASTFeatureExtractor, ASTForAudioClassification, AudioClassifier, load_audio
from astaudio.cli import main
from astaudio.errors import ModelNotFoundError
from astaudio.export import (
    MissingDependencyError,
    OnnxBackend,
    WaveformFrontEnd,
    export_onnx,
    load_onnx_classifier,
    quantize_dynamic_int8,
    quantize_onnx_int8,
)

RATE = 16000
TOLERANCE = 1e-4
REAL_FILES = ("speech", "bell_oga", "espeak", "stereo")


def torch_outputs(model: ASTForAudioClassification, features: torch.Tensor):
    """Logits (B, C) and pooled (B, D) straight from the torch model."""
    with torch.no_grad():
        base = model.audio_spectrogram_transformer(features)
        return model.classifier(base.pooler_output), base.pooler_output


def max_error(got: torch.Tensor, expected: torch.Tensor) -> float:
    return float((got - expected).abs().max())


@pytest.fixture(scope="module")
def tiny_model() -> ASTForAudioClassification:
    torch.manual_seed(1)
    return ASTForAudioClassification(tiny_config()).eval()


@pytest.fixture(scope="module")
def real_waveforms(audio_files) -> dict[str, np.ndarray]:
    return {name: load_audio(audio_files[name], RATE) for name in REAL_FILES}


@pytest.fixture(scope="module")
def audioset_onnx_dir(audioset_model_dir, tmp_path_factory):
    model = ASTForAudioClassification.from_pretrained(audioset_model_dir)
    folder = tmp_path_factory.mktemp("audioset-onnx")
    export_onnx(model, folder)
    return folder


@pytest.fixture(scope="module")
def trained_model() -> ASTForAudioClassification:
    """4 classes of synthetic spectrograms (a loud band of mel bins per class), trained until
    the logits separate the classes: a model whose top-1 is not a near-tie."""
    torch.manual_seed(0)
    model = ASTForAudioClassification(
        tiny_config(hidden_size=64, intermediate_size=128, num_attention_heads=4)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(40):
        features, labels = banded_features(16, generator)
        loss = torch.nn.functional.cross_entropy(model(features).logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def banded_features(count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    labels = torch.randint(0, 4, (count,), generator=generator)
    features = 0.5 * torch.randn(count, 128, 128, generator=generator)  # (B, frames, mel)
    for row, label in enumerate(labels.tolist()):
        features[row, :, 16 + 24 * label : 28 + 24 * label] += 1.0
    return features, labels


# -- the network graph ----------------------------------------------------------------------
def test_features_graph_matches_torch_for_any_batch(tiny_model, tmp_path):
    path = export_onnx(tiny_model, tmp_path / "tiny.onnx")
    graph = onnx.load(str(path))
    onnx.checker.check_model(graph)
    assert [i.name for i in graph.graph.input] == ["input_values"]
    assert [o.name for o in graph.graph.output] == ["logits", "pooled"]
    assert {"config.json", "preprocessor_config.json"} <= {p.name for p in tmp_path.iterdir()}
    backend = OnnxBackend(path)
    assert backend.fixed_batch is None
    generator = torch.Generator().manual_seed(3)
    for batch in (1, 3):
        features = torch.randn(batch, 128, 128, generator=generator)
        logits, pooled = backend(features)
        expected_logits, expected_pooled = torch_outputs(tiny_model, features)
        assert logits.shape == (batch, 4) and pooled.shape == (batch, 32)
        assert max_error(logits, expected_logits) < TOLERANCE
        assert max_error(pooled, expected_pooled) < TOLERANCE


def test_fixed_batch_graph_runs_rows_one_by_one(tiny_model, tmp_path):
    path = export_onnx(tiny_model, tmp_path, dynamic_batch=False)
    assert path.name == "model.onnx"
    backend = OnnxBackend(path)
    assert backend.fixed_batch == 1
    features = torch.randn(3, 128, 128, generator=torch.Generator().manual_seed(4))
    logits, _ = backend(features)
    assert max_error(logits, torch_outputs(tiny_model, features)[0]) < TOLERANCE


def test_export_refuses_bad_requests(tiny_model, tmp_path):
    with pytest.raises(ValueError, match="opset"):
        export_onnx(tiny_model, tmp_path, opset=11)
    with pytest.raises(ValueError, match="features"):
        export_onnx(tiny_model, tmp_path, feature_extractor=ASTFeatureExtractor(max_length=256))
    with pytest.raises(ValueError, match="quantize the ONNX file"):
        export_onnx(quantize_dynamic_int8(tiny_model), tmp_path)


# -- the feature front end ------------------------------------------------------------------
@pytest.mark.parametrize(
    "settings",
    [{}, {"mean": -6.0, "std": 3.0, "padding_value": -1.5}, {"do_normalize": False},
     {"sampling_rate": 8000, "num_mel_bins": 64}],
)  # fmt: skip
def test_front_end_equals_feature_extractor(real_waveforms, settings):
    extractor = ASTFeatureExtractor(max_length=200, **settings)
    front_end = WaveformFrontEnd(extractor)
    speech = torch.from_numpy(real_waveforms["speech"][::2].copy() if "sampling_rate" in settings
                              else real_waveforms["speech"])  # fmt: skip
    log_mel_scale = 2 * extractor.std if extractor.do_normalize else 1.0  # undo normalising
    # longer than the window (truncated), shorter (padded), 1 frame, no frame
    for samples in (len(speech), 9000, 400, 399):
        clip = speech[None, :samples]
        expected = extractor.extract(clip)
        assert max_error(front_end(clip), expected) * log_mel_scale < 2e-3  # natural-log units


def test_waveform_graph_matches_extractor_and_model_on_real_audio(
    audioset_model_dir, real_waveforms, tmp_path
):
    model = ASTForAudioClassification.from_pretrained(audioset_model_dir)
    extractor = ASTFeatureExtractor(max_length=512)
    path = export_onnx(model, tmp_path / "wave.onnx", with_features=True)
    assert [i.name for i in onnx.load(str(path)).graph.input] == ["waveform", "lengths"]
    assert ASTFeatureExtractor.from_pretrained(tmp_path) == extractor
    backend = OnnxBackend(path)
    window = (512 - 1) * 160 + 400  # samples of exactly max_length frames
    clips = [*real_waveforms.values(), np.tile(real_waveforms["speech"], 4)[: window + 1234]]
    for clip in clips:
        for length in {len(clip), min(len(clip), window), 7000, 400, 399}:
            waveform = torch.from_numpy(clip[:length].copy())[None]
            logits, pooled = backend(waveform)
            expected_logits, expected_pooled = torch_outputs(model, extractor.extract(waveform))
            assert max_error(logits, expected_logits) < TOLERANCE, length
            assert max_error(pooled, expected_pooled) < TOLERANCE, length
    batch = torch.stack([torch.from_numpy(c[:12000]) for c in real_waveforms.values()])
    logits, _ = backend(batch)
    assert max_error(logits, torch_outputs(model, extractor.extract(batch))[0]) < TOLERANCE
    # clips of different lengths, zero-padded to one batch: each gets its answer alone
    lengths = [12000, 5000, 400, 9000]
    padded = batch.clone()
    for row, length in enumerate(lengths):
        padded[row, length:] = 0.0
    logits, _ = backend(padded, torch.tensor(lengths))
    for row, length in enumerate(lengths):
        alone = torch_outputs(model, extractor.extract(batch[row : row + 1, :length]))[0]
        assert max_error(logits[row : row + 1], alone) < TOLERANCE, length
    assert max_error(backend(padded)[0][1:2], alone) > 100 * TOLERANCE  # padding is not silence


def test_graphs_without_a_lengths_input_run_ragged_batches_clip_by_clip(tiny_model, tmp_path):
    """Waveform graphs exported before the lengths input: each clip is run at its own length."""
    path = export_onnx(tiny_model, tmp_path, with_features=True)
    graph = onnx.load(str(path))
    lengths_input = graph.graph.input[1]
    graph.graph.input.remove(lengths_input)
    graph.graph.node.insert(0, onnx.helper.make_node(  # lengths := the padded width
        "Gather", ["waveform_shape", "one"], ["lengths_scalar"]))  # fmt: skip
    graph.graph.node.insert(0, onnx.helper.make_node("Shape", ["waveform"], ["waveform_shape"]))
    graph.graph.node.insert(2, onnx.helper.make_node("Unsqueeze", ["lengths_scalar", "zero"],
                                                     ["lengths"]))  # fmt: skip
    graph.graph.initializer.extend([onnx.numpy_helper.from_array(np.array(1), "one"),
                                    onnx.numpy_helper.from_array(np.array([0]), "zero")])  # fmt: skip
    old = tmp_path / "old.onnx"
    onnx.save(graph, str(old))
    backend = OnnxBackend(old)
    assert backend.takes_waveforms and not backend.has_lengths
    waveforms = torch.randn(2, 9000, generator=torch.Generator().manual_seed(5))
    waveforms[1, 5000:] = 0.0
    logits, _ = backend(waveforms, [9000, 5000])
    extractor = ASTFeatureExtractor(max_length=128)
    expected = torch_outputs(tiny_model, extractor.extract(waveforms, torch.tensor([9000, 5000])))
    assert max_error(logits, expected[0]) < TOLERANCE


# -- AudioClassifier on ONNX Runtime --------------------------------------------------------
def test_onnx_classifier_agrees_with_torch_classifier(
    audioset_model_dir, audioset_onnx_dir, audio_files
):
    files = [audio_files[name] for name in REAL_FILES]
    reference = AudioClassifier.from_pretrained(audioset_model_dir, device="cpu")
    onnx_classifier = load_onnx_classifier(audioset_onnx_dir)
    assert onnx_classifier.labels == reference.labels
    for kwargs in ({}, {"window": 0.5, "hop": 0.25, "batch_size": 3}):
        expected = reference.classify(files, top_k=5, **kwargs)
        got = onnx_classifier.classify(files, top_k=5, **kwargs)
        for a, b in zip(got, expected):
            assert [name for name, _ in a.labels] == [name for name, _ in b.labels]
            assert np.abs(a.window_scores - b.window_scores).max() < TOLERANCE
    embedded = onnx_classifier.embed(files[0], window=0.5)
    expected = reference.embed(files[0], window=0.5)
    assert np.abs(embedded.window_embeddings - expected.window_embeddings).max() < TOLERANCE
    with pytest.raises(AttributeError, match="no torch network"):
        onnx_classifier.model.audio_spectrogram_transformer  # noqa: B018


def test_onnx_classifier_needs_an_onnx_folder(audioset_model_dir, audioset_onnx_dir, tmp_path):
    with pytest.raises(ModelNotFoundError, match="no model.onnx.*astaudio export onnx"):
        load_onnx_classifier(audioset_model_dir)
    with pytest.raises(ModelNotFoundError, match="model_quantized.onnx.*--quantize int8"):
        load_onnx_classifier(audioset_onnx_dir, quantized=True)
    (tmp_path / "model.onnx").write_bytes(b"not a graph")
    with pytest.raises(ModelNotFoundError, match="onnxruntime cannot load it"):
        OnnxBackend(tmp_path / "model.onnx")


@pytest.fixture(scope="module")
def keyword_folder(audio_files) -> list:
    """Held-out keyword clips and longer real recordings: windows of many different lengths."""
    from pathlib import Path

    heldout = sorted((Path(__file__).parent / "data" / "keywords-heldout").glob("*.flac"))
    speech = load_audio(audio_files["speech"], RATE)
    return [*heldout[::20], audio_files["bell_oga"], audio_files["espeak"],
            (speech[:6000], RATE), audio_files["speech"]]  # fmt: skip


def test_with_features_graph_classifies_clips_of_different_lengths_as_torch(
    keyword_folder, tmp_path
):
    reference = AudioClassifier.from_pretrained("keywords", device="cpu")
    export_onnx(reference.model, tmp_path, with_features=True,
                feature_extractor=reference.feature_extractor)  # fmt: skip
    onnx_classifier = load_onnx_classifier(tmp_path)
    assert onnx_classifier.network.takes_waveforms
    expected = reference.classify(keyword_folder, top_k=3, batch_size=8)
    got = onnx_classifier.classify(keyword_folder, top_k=3, batch_size=8)
    assert len({round(r.duration, 2) for r in expected}) > 3  # the lengths do differ
    for a, b in zip(got, expected):
        assert a.ok and [name for name, _ in a.labels] == [name for name, _ in b.labels], a.source
        assert np.abs(a.window_scores - b.window_scores).max() < TOLERANCE, a.source


# -- int8 -----------------------------------------------------------------------------------
def test_int8_models_keep_the_decisions_of_a_trained_model(trained_model, tmp_path):
    generator = torch.Generator().manual_seed(99)
    features, labels = banded_features(64, generator)
    fp32_logits = torch_outputs(trained_model, features)[0]
    assert (fp32_logits.argmax(1) == labels).float().mean() > 0.9  # the model has learnt
    torch_int8 = quantize_dynamic_int8(trained_model)
    assert "DynamicQuantizedLinear" in repr(torch_int8)
    path = export_onnx(trained_model, tmp_path / "model.onnx")
    onnx_int8 = OnnxBackend(quantize_onnx_int8(path))
    for logits in (torch_outputs(torch_int8, features)[0], onnx_int8(features)[0]):
        assert (logits.argmax(1) == fp32_logits.argmax(1)).float().mean() >= 0.98
        assert max_error(logits, fp32_logits) < 0.1 * float(fp32_logits.abs().max())
    # MatMul weights shrink 4x; the patch Conv and position embeddings stay float32
    assert (tmp_path / "model_quantized.onnx").stat().st_size < 0.75 * path.stat().st_size
    sizes = []
    for model in (trained_model, torch_int8):
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        sizes.append(buffer.tell())
    assert sizes[1] < 0.6 * sizes[0]


def test_int8_answers_do_not_depend_on_the_other_clips_in_the_batch(trained_model, tmp_path):
    features, _ = banded_features(6, torch.Generator().manual_seed(7))
    features[1] *= 8.0  # a loud batch-mate: per-batch activation scales would coarsen the rest
    path = export_onnx(trained_model, tmp_path / "model.onnx")
    quantized = quantize_onnx_int8(path)
    stripped = onnx.load(str(quantized))  # an int8 file made before astaudio marked them
    del stripped.metadata_props[:]
    onnx.save(stripped, str(tmp_path / "old_int8.onnx"))
    torch_int8 = quantize_dynamic_int8(trained_model)
    runners = {
        "torch": lambda x: torch_outputs(torch_int8, x)[0],
        "onnxruntime": lambda x: OnnxBackend(quantized)(x)[0],
        "onnxruntime, unmarked file": lambda x: OnnxBackend(tmp_path / "old_int8.onnx")(x)[0],
    }
    for name, run in runners.items():
        together = run(features)
        for row in range(len(features)):
            alone = run(features[row : row + 1])
            assert torch.equal(together[row : row + 1], alone), (name, row)
        assert torch.equal(run(features[[2, 0]])[1], together[0]), name


def test_int8_torch_model_inside_audio_classifier(audioset_model_dir, audio_files):
    model = ASTForAudioClassification.from_pretrained(audioset_model_dir)
    extractor = ASTFeatureExtractor(max_length=512)
    files = [audio_files[name] for name in REAL_FILES]
    expected = AudioClassifier(model, extractor, device="cpu").classify(files, top_k=None)
    quantized = AudioClassifier(quantize_dynamic_int8(model), extractor, device="cpu")
    for a, b in zip(quantized.classify(files, top_k=None), expected):
        assert a.ok and a.scores.shape == (527,)
        assert 0 < np.abs(a.scores - b.scores).max() < 0.02  # int8 rounding, but close


def test_int8_onnx_keeps_the_front_end_in_float32(tiny_model, real_waveforms, tmp_path):
    path = export_onnx(tiny_model, tmp_path, with_features=True)
    quantized = quantize_onnx_int8(path, tmp_path / "int8.onnx")
    nodes = onnx.load(str(quantized)).graph.node
    integer_ops = [n.name for n in nodes if n.op_type == "MatMulInteger"]
    assert integer_ops and not any(name.startswith("/front_end/") for name in integer_ops)
    waveform = torch.from_numpy(real_waveforms["speech"])[None]
    logits, _ = OnnxBackend(quantized)(waveform)
    expected = torch_outputs(tiny_model, ASTFeatureExtractor(max_length=128).extract(waveform))[0]
    assert max_error(logits, expected) < 0.05


# -- command line ---------------------------------------------------------------------------
def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_export_and_classify_with_onnxruntime(
    capsys, audioset_model_dir, audio_files, tmp_path
):
    out = tmp_path / "onnx"
    code, _, err = run_cli(
        capsys, "export", "onnx", audioset_model_dir, "-o", out, "--quantize", "int8"
    )
    assert code == 0, err
    assert {"model.onnx", "model_quantized.onnx", "config.json", "preprocessor_config.json"} <= {
        p.name for p in out.iterdir()
    }
    assert "max |onnxruntime - torch|" in err
    speech = audio_files["speech"]
    results = {}
    for backend in (["--backend", "torch"], ["--backend", "onnxruntime"]):
        model = audioset_model_dir if backend[1] == "torch" else out
        code, text, err = run_cli(
            capsys, "classify", speech, "--model", model, *backend, "-f", "json", "-q"
        )
        assert code == 0, err
        results[backend[1]] = json.loads(text)
    assert [x["label"] for x in results["onnxruntime"][0]["labels"]] == [
        x["label"] for x in results["torch"][0]["labels"]
    ]
    for backend in ("torch", "onnxruntime"):
        model = audioset_model_dir if backend == "torch" else out
        code, text, err = run_cli(capsys, "classify", speech, "--model", model, "--backend", backend,
                                  "--quantize", "int8", "-f", "json", "-q")  # fmt: skip
        assert code == 0, err
        assert len(json.loads(text)[0]["labels"]) == 5


def test_cli_waveform_export(capsys, audioset_model_dir, tmp_path):
    code, _, err = run_cli(capsys, "export", "onnx", audioset_model_dir, "-o", tmp_path / "w.onnx",
                           "--with-features", "--no-dynamic-batch", "--opset", "18")  # fmt: skip
    assert code == 0, err
    graph = onnx.load(str(tmp_path / "w.onnx"))
    assert graph.opset_import[0].version == 18
    assert graph.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1


def test_cli_errors_are_one_line(capsys, monkeypatch, audioset_model_dir, audio_files, tmp_path):
    code, _, err = run_cli(capsys, "classify", audio_files["speech"], "--model", audioset_model_dir,
                           "--backend", "onnxruntime")  # fmt: skip
    assert code == 2 and "no model.onnx" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(capsys, "classify", audio_files["speech"], "--model", audioset_model_dir,
                           "--quantize", "int8", "--dtype", "bfloat16")  # fmt: skip
    assert code == 2 and "--dtype" in err
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx -> ImportError
    code, _, err = run_cli(capsys, "export", "onnx", audioset_model_dir, "-o", tmp_path)
    assert code != 0 and len(err.strip().splitlines()) == 1
    assert "needs the 'onnx' package: pip install 'astaudio[export]'" in err
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingDependencyError, match="onnxruntime"):
        OnnxBackend(tmp_path / "model.onnx")


def one_line_error(code: int, err: str, *phrases: str) -> None:
    """Exit status 2 and one stderr line holding every phrase."""
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    for phrase in phrases:
        assert phrase in err, err


def test_cli_model_and_usage_errors_exit_2_before_any_work(
    capsys, monkeypatch, audioset_model_dir, audio_files, tmp_path
):
    speech = audio_files["speech"]
    out = tmp_path / "never"
    code, _, err = run_cli(capsys, "export", "onnx", audioset_model_dir, "-o", out, "--opset", "21")
    one_line_error(code, err, "--opset must be between 14 and 20")
    assert not out.exists()  # refused before the model was loaded or anything written
    folder = tmp_path / "onnx"
    export_onnx(ASTForAudioClassification.from_pretrained(audioset_model_dir), folder)
    code, _, err = run_cli(capsys, "classify", speech, "--model", folder)  # backend forgotten
    one_line_error(code, err, "no model weights", "--backend onnxruntime")
    (folder / "model.onnx").write_bytes(b"\x08\x07junk")
    code, _, err = run_cli(
        capsys, "classify", speech, "--model", folder, "--backend", "onnxruntime"
    )
    one_line_error(code, err, "model.onnx", "onnxruntime cannot load it")
    checkpoint = tmp_path / "audioset.pth"  # what the original AST repository releases
    torch.save({"module.v.cls_token": torch.zeros(1, 1, 4)}, checkpoint)
    code, _, err = run_cli(capsys, "info", checkpoint)
    one_line_error(code, err, f"astaudio convert {checkpoint} -o FOLDER")

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    code, _, err = run_cli(
        capsys, "classify", speech, "--model", folder, "--backend", "onnxruntime"
    )
    one_line_error(code, err, "needs the 'onnxruntime' package")
    code, _, err = run_cli(capsys, "export", "onnx", audioset_model_dir, "-o", out,
                           "--quantize", "int8")  # fmt: skip
    one_line_error(code, err, "--quantize int8", "onnxruntime")
    assert not out.exists()
    # float32 export needs onnx only: it is written, and said to be unchecked
    code, _, err = run_cli(capsys, "export", "onnx", audioset_model_dir, "-o", out)
    assert code == 0 and "not checked against torch: onnxruntime is not installed" in err, err
    assert {"model.onnx", "config.json", "preprocessor_config.json"} <= {
        p.name for p in out.iterdir()
    }


def test_cli_classifies_a_folder_of_different_lengths_with_a_with_features_export(
    capsys, keyword_folder, tmp_path
):
    clips = tmp_path / "clips"
    clips.mkdir()
    for path in keyword_folder:
        if isinstance(path, tuple):
            continue
        (clips / path.name).write_bytes(path.read_bytes())
    graph = tmp_path / "graph"
    code, _, err = run_cli(capsys, "export", "onnx", "keywords", "-o", graph, "--with-features")
    assert code == 0, err
    answers = {}
    for backend, model in (("torch", "keywords"), ("onnxruntime", graph)):
        code, text, err = run_cli(capsys, "classify", clips, "--model", model, "--backend",
                                  backend, "-f", "json", "-q", "--batch-size", "4")  # fmt: skip
        assert code == 0, err
        answers[backend] = {r["file"]: [x["label"] for x in r["labels"]] for r in json.loads(text)}
    assert len(answers["torch"]) == len(list(clips.iterdir()))
    assert answers["onnxruntime"] == answers["torch"]
