"""AST model tests built on transformers' ModelTesterMixin / ConfigTester / PipelineTesterMixin.

The sdist of transformers has the common mixins but not its per-model test files, so this module
plays the part of tests/models/audio_spectrogram_transformer/test_modeling_*.py: the same tiny
model (patch 2, 16 mel bins, 24 frames, hidden 32, 4 heads), the same test names. It imports
the AST classes from transformers; tests/test_transformers_suite.py rewrites those import lines
to astaudio. Run unchanged, it checks transformers' own classes (the suite's reference).
"""

import inspect
import unittest

import torch
from torch import nn
from transformers import ASTConfig, ASTForAudioClassification, ASTModel
from transformers.testing_utils import require_torch, torch_device

from ...test_configuration_common import ConfigTester
from ...test_modeling_common import ModelTesterMixin, floats_tensor, ids_tensor
from ...test_pipeline_mixin import PipelineTesterMixin

SETTINGS = dict(
    patch_size=2, max_length=24, num_mel_bins=16, hidden_size=32, num_hidden_layers=2,
    num_attention_heads=4, intermediate_size=37, hidden_act="gelu", hidden_dropout_prob=0.1,
    attention_probs_dropout_prob=0.1, initializer_range=0.02, frequency_stride=2, time_stride=2,
)  # fmt: skip


class ASTModelTester:
    """What ModelTesterMixin asks of a model tester: a config, inputs, and sizes."""

    def __init__(self, parent, batch_size=13, num_labels=10, is_training=True):
        self.parent = parent
        self.batch_size = batch_size
        self.is_training = is_training
        self.type_sequence_label_size = num_labels
        for name, value in SETTINGS.items():
            setattr(self, name, value)
        freq = (self.num_mel_bins - self.patch_size) // self.frequency_stride + 1
        time = (self.max_length - self.patch_size) // self.time_stride + 1
        self.seq_length = freq * time + 2  # patches + [CLS] + distillation token

    def get_config(self):
        return ASTConfig(**SETTINGS, is_decoder=False, attn_implementation="eager")

    def prepare_config_and_inputs(self):
        values = floats_tensor([self.batch_size, self.max_length, self.num_mel_bins])
        labels = ids_tensor([self.batch_size], self.type_sequence_label_size)
        return self.get_config(), values, labels

    def prepare_config_and_inputs_for_common(self):
        config, values, _ = self.prepare_config_and_inputs()
        return config, {"input_values": values}

    def create_and_check_model(self, config, values, labels):
        model = ASTModel(config).to(torch_device).eval()
        out = model(values)
        expected = (self.batch_size, self.seq_length, self.hidden_size)
        self.parent.assertEqual(tuple(out.last_hidden_state.shape), expected)


@require_torch
class ASTModelTest(ModelTesterMixin, PipelineTesterMixin, unittest.TestCase):
    all_model_classes = (ASTModel, ASTForAudioClassification)
    pipeline_model_mapping = {
        "audio-classification": ASTForAudioClassification,
        "feature-extraction": ASTModel,
    }
    fx_compatible = False
    test_resize_embeddings = False

    def is_pipeline_test_to_skip(self, pipeline_test_case_name, *args):
        return pipeline_test_case_name == "AudioClassificationPipelineTests"

    def setUp(self):
        self.model_tester = ASTModelTester(self)
        self.config_tester = ConfigTester(
            self, config_class=ASTConfig, has_text_modality=False, hidden_size=32
        )

    def test_config(self):
        self.config_tester.run_common_tests()

    @unittest.skip(reason="AST takes spectrograms, not inputs_embeds")
    def test_inputs_embeds(self):
        pass

    def test_model_get_set_embeddings(self):
        config, _ = self.model_tester.prepare_config_and_inputs_for_common()
        for model_class in self.all_model_classes:
            model = model_class(config)
            self.assertIsInstance(model.get_input_embeddings(), nn.Module)
            output = model.get_output_embeddings()
            self.assertTrue(output is None or isinstance(output, nn.Linear))

    def test_forward_signature(self):
        config, _ = self.model_tester.prepare_config_and_inputs_for_common()
        for model_class in self.all_model_classes:
            names = list(inspect.signature(model_class(config).forward).parameters)
            self.assertEqual(names[:1], ["input_values"])

    def test_model(self):
        self.model_tester.create_and_check_model(*self.model_tester.prepare_config_and_inputs())

    def test_for_audio_classification(self):
        config, values, labels = self.model_tester.prepare_config_and_inputs()
        config.num_labels = self.model_tester.type_sequence_label_size
        model = ASTForAudioClassification(config).to(torch_device).eval()
        out = model(values, labels=labels)
        self.assertEqual(tuple(out.logits.shape), (self.model_tester.batch_size, config.num_labels))
        self.assertTrue(torch.isfinite(out.loss))
