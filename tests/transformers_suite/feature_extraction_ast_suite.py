"""AST feature-extractor tests built on transformers' SequenceFeatureExtractionTestMixin.

Plays the part of transformers' tests/models/audio_spectrogram_transformer/
test_feature_extraction_*.py (absent from its sdist): the same settings and test names.
Imports the extractor from transformers; tests/test_transformers_suite.py rewrites that line.
"""

import os
import random
import tempfile
import unittest

import numpy as np
import torch
from transformers import ASTFeatureExtractor
from transformers.testing_utils import check_json_file_has_correct_format, require_torch

from ...test_sequence_feature_extraction_common import SequenceFeatureExtractionTestMixin

RNG = random.Random(0)


def random_clips(lengths, scale=1.0):
    """One list of uniform floats in [0, scale) per length."""
    return [[RNG.random() * scale for _ in range(n)] for n in lengths]


class ASTFeatureExtractionTester:
    """Settings and inputs that SequenceFeatureExtractionTestMixin asks for."""

    def __init__(self, parent, batch_size=7, min_seq_length=400, max_seq_length=2000):
        self.parent = parent
        self.batch_size = batch_size
        self.min_seq_length = min_seq_length
        self.max_seq_length = max_seq_length
        self.seq_length_diff = (max_seq_length - min_seq_length) // (batch_size - 1)
        self.feature_size = 1
        self.padding_value = 0.0
        self.sampling_rate = 16000
        self.return_attention_mask = True
        self.do_normalize = True

    def prepare_feat_extract_dict(self):
        names = ("feature_size", "padding_value", "sampling_rate", "return_attention_mask",
                 "do_normalize")  # fmt: skip
        return {name: getattr(self, name) for name in names}

    def prepare_inputs_for_common(self, equal_length=False, numpify=False):
        if equal_length:
            clips = random_clips([self.max_seq_length] * self.batch_size)
        else:  # increasing lengths
            lengths = range(self.min_seq_length, self.max_seq_length, self.seq_length_diff)
            clips = random_clips([n * self.feature_size for n in lengths])
        return [np.asarray(c) for c in clips] if numpify else clips


@require_torch
class ASTFeatureExtractionTest(SequenceFeatureExtractionTestMixin, unittest.TestCase):
    feature_extraction_class = ASTFeatureExtractor

    def setUp(self):
        self.feat_extract_tester = ASTFeatureExtractionTester(self)

    def test_call(self):
        extractor = self.feature_extraction_class(**self.feat_extract_dict)
        clips = random_clips([800, 1000, 1200])
        arrays = [np.asarray(c) for c in clips]

        one_list = extractor(clips[0], return_tensors="np").input_values
        one_array = extractor(arrays[0], return_tensors="np").input_values
        self.assertTrue(np.allclose(one_list, one_array, atol=1e-3))

        batch_lists = extractor(clips, padding=True, return_tensors="np").input_values
        batch_arrays = extractor(arrays, padding=True, return_tensors="np").input_values
        for a, b in zip(batch_lists, batch_arrays):
            self.assertTrue(np.allclose(a, b, atol=1e-3))

        clips = random_clips([800, 800, 800])
        as_list = extractor(clips, return_tensors="np").input_values
        as_2d = extractor(np.asarray(clips), return_tensors="np").input_values
        for a, b in zip(as_list, as_2d):
            self.assertTrue(np.allclose(a, b, atol=1e-3))

    def test_double_precision_pad(self):
        extractor = self.feature_extraction_class(**self.feat_extract_dict)
        samples = np.random.rand(100).astype(np.float64)
        for inputs in (samples.tolist(), samples):
            as_np = extractor.pad([{"input_values": inputs}], return_tensors="np")
            self.assertEqual(as_np.input_values.dtype, np.float32)
            as_pt = extractor.pad([{"input_values": inputs}], return_tensors="pt")
            self.assertEqual(as_pt.input_values.dtype, torch.float32)

    def test_feat_extract_from_and_save_pretrained(self):
        first = self.feature_extraction_class(**self.feat_extract_dict)
        with tempfile.TemporaryDirectory() as folder:
            saved = first.save_pretrained(folder)[0]
            check_json_file_has_correct_format(saved)
            second = self.feature_extraction_class.from_pretrained(folder)
        self.assertDictEqual(first.to_dict(), second.to_dict())

    def test_feat_extract_to_json_file(self):
        first = self.feature_extraction_class(**self.feat_extract_dict)
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "feat_extract.json")
            first.to_json_file(path)
            second = self.feature_extraction_class.from_json_file(path)
        self.assertEqual(first.to_dict(), second.to_dict())
