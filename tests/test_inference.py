import math

import audio_fixtures
import numpy as np
import pytest
import torch
from conftest import tiny_config

from astaudio import ASTFeatureExtractor, ASTForAudioClassification, AudioClassifier, load_audio
from astaudio.audio import stream_windows
from astaudio.inference import default_activation, window_starts

RATE = 16000


@pytest.fixture(scope="module")
def classifier(audioset_model_dir):
    return AudioClassifier.from_pretrained(audioset_model_dir, device="cpu")


@pytest.fixture(scope="module")
def long_file(tmp_path_factory):
    return audio_fixtures.make_long_file(tmp_path_factory.mktemp("long"), minutes=0.5)


def direct_scores(clf: AudioClassifier, samples: np.ndarray) -> np.ndarray:
    """Sigmoid scores of one window computed straight through extractor and model."""
    inputs = clf.feature_extractor(samples, sampling_rate=RATE, return_tensors="pt")
    with torch.no_grad():
        logits = clf.model(**inputs).logits
    return torch.sigmoid(logits)[0].numpy()


@pytest.mark.parametrize(
    "samples, window, hop, expected",
    [(100, 200, 100, [0]), (200, 200, 100, [0]), (201, 200, 100, [0, 100]),
     (300, 200, 100, [0, 100]), (301, 200, 100, [0, 100, 200]), (1000, 300, 300, [0, 300, 600, 900])],
)  # fmt: skip
def test_window_starts(samples, window, hop, expected):
    assert window_starts(samples, window, hop) == expected


def test_window_arithmetic_matches_streaming_reader(long_file):
    window, hop = 3 * RATE, RATE
    samples = load_audio(long_file)
    streamed = [start for start, _ in stream_windows(long_file, window, hop)]
    assert streamed == window_starts(len(samples), window, hop)
    assert len(streamed) == 1 + math.ceil((len(samples) - window) / hop)


def test_default_activation_choice():
    assert default_activation(tiny_config(num_labels=527)) == "sigmoid"
    assert default_activation(tiny_config(num_labels=35)) == "softmax"
    assert (
        default_activation(tiny_config(num_labels=35, problem_type="multi_label_classification"))
        == "sigmoid"
    )
    assert (
        default_activation(tiny_config(num_labels=527, problem_type="single_label_classification"))
        == "softmax"
    )
    assert default_activation(tiny_config(num_labels=1)) == "none"


def test_short_clip_scores_match_direct_model_call(classifier, audio_files):
    result = classifier(audio_files["speech"], top_k=3)
    samples = load_audio(audio_files["speech"])
    expected = direct_scores(classifier, samples)
    assert result.ok and classifier.activation == "sigmoid"
    assert len(result.segments) == 1 and result.segments[0].start == 0.0
    assert result.duration == pytest.approx(len(samples) / RATE)
    np.testing.assert_allclose(result.scores, expected, atol=1e-5)
    top = np.argsort(-expected)[:3]
    assert [name for name, _ in result.labels] == [classifier.labels[i] for i in top]
    assert [s for _, s in result.labels] == sorted([s for _, s in result.labels], reverse=True)


def test_long_recording_timeline(classifier, long_file):
    samples = load_audio(long_file)
    duration = len(samples) / RATE
    result = classifier(long_file, window=4.0, hop=2.0, top_k=2, batch_size=3)
    expected_count = 1 + math.ceil((duration - 4.0) / 2.0)
    assert len(result.segments) == expected_count == result.window_scores.shape[0]
    for n, segment in enumerate(result.segments):
        assert segment.start == pytest.approx(2.0 * n)
        assert segment.end == pytest.approx(min(2.0 * n + 4.0, duration))
    np.testing.assert_allclose(result.scores, result.window_scores.max(0))
    # every window, the last partial one included, is what the model says about those samples
    for n in (0, expected_count // 2, expected_count - 1):
        chunk = samples[n * 2 * RATE : n * 2 * RATE + 4 * RATE]
        np.testing.assert_allclose(
            result.window_scores[n], direct_scores(classifier, chunk), atol=1e-5
        )
    mean = classifier(long_file, window=4.0, hop=2.0, pooling="mean")
    np.testing.assert_allclose(mean.scores, result.window_scores.mean(0), atol=1e-6)


def test_streamed_file_equals_in_memory_waveform(classifier, long_file):
    from_file = classifier(long_file, window=5.0, hop=2.5)
    from_array = classifier((load_audio(long_file), RATE), window=5.0, hop=2.5)
    np.testing.assert_allclose(from_file.window_scores, from_array.window_scores, atol=1e-5)


def test_batch_with_a_bad_file_keeps_order_and_the_rest(classifier, audio_files, bad_files):
    inputs = [audio_files["speech"], bad_files["text_wav"], audio_files["flac"],
              bad_files["missing"], audio_files["speech"].read_bytes()]  # fmt: skip
    results = classifier(inputs, batch_size=2)
    assert [r.ok for r in results] == [True, False, True, False, True]
    assert results[1].source == str(bad_files["text_wav"]) and "not audio" in results[1].error
    assert str(bad_files["text_wav"]) not in results[1].error  # the record names it once
    alone = classifier(audio_files["flac"])
    np.testing.assert_allclose(results[2].scores, alone.scores, atol=1e-5)
    np.testing.assert_allclose(results[4].scores, results[0].scores, atol=1e-5)


def test_worker_processes_give_the_thread_results_in_input_order(
    classifier, audio_files, bad_files, long_file
):
    inputs = [long_file, bad_files["text_wav"], audio_files["flac"], audio_files["speech"],
              bad_files["missing"], audio_files["speech"].read_bytes()]  # fmt: skip
    threaded = classifier(inputs, batch_size=3, window=5.0)
    seen = []
    workers = classifier(inputs, batch_size=3, window=5.0, num_workers=2, callback=seen.append)
    assert [r.index for r in seen] == list(range(len(inputs)))  # callback order, too
    assert [r.ok for r in workers] == [True, False, True, True, False, True]
    for ours, reference in zip(workers, threaded, strict=True):
        assert ours.error == reference.error and ours.duration == reference.duration
        if ours.ok:
            np.testing.assert_allclose(ours.window_scores, reference.window_scores, atol=1e-5)
    embedded = classifier.embed(inputs[2:4], num_workers=2)
    np.testing.assert_allclose(
        embedded[1].embedding, classifier.embed(inputs[3]).embedding, atol=1e-5
    )


def test_compiled_model_pads_short_batches_and_matches_eager(audioset_model_dir, audio_files):
    # aot_eager: dynamo and AOTAutograd trace the model as inductor would, without a C compiler
    compiled = AudioClassifier.from_pretrained(
        audioset_model_dir, device="cpu", compile_model="aot_eager"
    )
    eager = AudioClassifier.from_pretrained(audioset_model_dir, device="cpu")
    inputs = [audio_files["speech"], audio_files["flac"], audio_files["speech"]]
    got = compiled(inputs, batch_size=2)  # the second batch holds one window: padded to two
    expected = eager(inputs, batch_size=2)
    assert compiled.compiled_batch == 2
    for ours, reference in zip(got, expected, strict=True):
        np.testing.assert_allclose(ours.scores, reference.scores, atol=1e-5)
    with pytest.raises(ValueError, match="backend"):
        AudioClassifier(
            eager.model, eager.feature_extractor, backend=lambda x: x, compile_model=True
        )


def test_waveform_inputs_and_resampling(classifier, audio_files):
    samples_48k = load_audio(audio_files["speech"], sampling_rate=48000)
    at_16k = classifier((samples_48k, 48000))
    direct = classifier(audio_files["speech"])
    np.testing.assert_allclose(at_16k.scores, direct.scores, atol=1e-4)
    stereo = np.stack([samples_48k, samples_48k])
    np.testing.assert_allclose(classifier((stereo, 48000)).scores, at_16k.scores, atol=1e-5)
    assert classifier((np.array([np.nan] * 1000, dtype=np.float32), RATE)).error


def test_top_k_threshold_and_activation_override(audioset_model_dir, audio_files):
    clf = AudioClassifier.from_pretrained(audioset_model_dir, activation="softmax")
    result = clf(audio_files["speech"], top_k=None)
    assert len(result.labels) == 527
    assert sum(s for _, s in result.labels) == pytest.approx(1.0, abs=1e-4)
    raw = AudioClassifier.from_pretrained(audioset_model_dir, activation="none")(
        audio_files["speech"], top_k=None
    )
    threshold = sorted(s for _, s in raw.labels)[-4]
    kept = AudioClassifier.from_pretrained(audioset_model_dir, activation="none")(
        audio_files["speech"], top_k=10, threshold=threshold
    )
    assert len(kept.labels) == 4 and all(s >= threshold for _, s in kept.labels)
    with pytest.raises(ValueError, match="activation"):
        AudioClassifier.from_pretrained(audioset_model_dir, activation="relu")


def test_embeddings_are_the_pooled_output(classifier, audio_files, long_file):
    result = classifier.embed(audio_files["speech"], tokens=True)
    inputs = classifier.feature_extractor(load_audio(audio_files["speech"]), sampling_rate=RATE,
                                          return_tensors="pt")  # fmt: skip
    with torch.no_grad():
        out = classifier.model.audio_spectrogram_transformer(**inputs)
    np.testing.assert_allclose(result.embedding, out.pooler_output[0].numpy(), atol=1e-5)
    assert result.tokens.shape == (1, *out.last_hidden_state.shape[1:])
    windows = classifier.embed(long_file, window=5.0, hop=5.0)
    assert windows.window_embeddings.shape == (len(windows.starts), 32)
    np.testing.assert_allclose(windows.embedding, windows.window_embeddings.mean(0), atol=1e-6)


def test_folder_without_preprocessor_config_gets_model_sized_extractor(tmp_path, audio_files):
    model = ASTForAudioClassification(tiny_config(max_length=64, num_mel_bins=64))
    model.save_pretrained(tmp_path)
    clf = AudioClassifier.from_pretrained(tmp_path)
    assert clf.feature_extractor.max_length == 64 and clf.feature_extractor.num_mel_bins == 64
    assert clf.window_seconds == pytest.approx(0.64)
    assert clf(audio_files["speech"]).ok
    ASTFeatureExtractor(max_length=64, num_mel_bins=64, mean=-1.0, std=2.0).save_pretrained(
        tmp_path
    )
    assert AudioClassifier.from_pretrained(tmp_path).feature_extractor.mean == -1.0


def test_progress_reports_each_window_and_adds_up_to_the_duration(classifier, long_file):
    seen: list[tuple[int, float]] = []
    result = classifier(
        long_file, window=4.0, hop=2.0, on_progress=lambda i, s: seen.append((i, s))
    )
    assert len(seen) == len(result.segments)
    assert {i for i, _ in seen} == {0}
    assert sum(s for _, s in seen) == pytest.approx(result.duration, abs=1e-6)
    assert all(s == pytest.approx(2.0) for _, s in seen[:-1])
