"""Constants shared across astaudio, importable without torch (the command line builds its
parser from them before any model code is loaded)."""

from __future__ import annotations

SAMPLE_RATE = 16000  # Hz, the rate AST's filter-bank features are defined at

# AudioSet filter-bank statistics (the AST repository's): the default normalisation
AUDIOSET_MEAN = -4.2677393
AUDIOSET_STD = 4.5689974
AUDIOSET_NUM_LABELS = 527  # configs with this many labels and no problem_type are multi-label

DEFAULT_MODEL = "MIT/ast-finetuned-audioset-10-10-0.4593"

# Files of a model folder (transformers' names)
CONFIG_NAME = "config.json"
PREPROCESSOR_NAME = "preprocessor_config.json"
SAFE_WEIGHTS_NAME = "model.safetensors"
SAFE_WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
WEIGHTS_NAME = "pytorch_model.bin"
WEIGHTS_INDEX_NAME = "pytorch_model.bin.index.json"
WEIGHT_FILES = (SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME, WEIGHTS_NAME, WEIGHTS_INDEX_NAME)

# ONNX export
ONNX_NAME = "model.onnx"
QUANTIZED_SUFFIX = "_quantized"  # model.onnx -> model_quantized.onnx
DEFAULT_OPSET = 17
MIN_OPSET = 14  # scaled_dot_product_attention has no ONNX export below 14
MAX_OPSET = 20
INSTALL_HINT = "pip install 'astaudio[export]'"
