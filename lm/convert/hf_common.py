"""What the Hugging Face converters share: finding and reading a model directory's config.json and
safetensors, and mapping torch's tensor layouts onto ours.

No network, and no pickles: everything is read from safetensors in a local directory.
"""

import json
import os

import jax
import numpy as np
from safetensors.flax import load_file

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX_FILE = "model.safetensors.index.json"  # what save_pretrained writes for a sharded checkpoint
GELU_APPROXIMATE = {"gelu": False, "gelu_new": True, "gelu_pytorch_tanh": True}  # HF activation name -> tanh?
QKV = ("query", "key", "value")


def is_hf_directory(path: str) -> bool:
    """Whether `path` holds a Hugging Face model: a config.json with a "model_type" (our workdirs' has none)."""
    config_path = os.path.join(path, CONFIG_FILE)
    return os.path.isfile(config_path) and "model_type" in read_json(config_path)


def read_config(directory: str, model_type: str | None) -> tuple[dict, str]:
    """(config.json's contents, its path), once both it and the weights are known to be there.

    Raises:
      ValueError: a missing file (PyTorch pickles get the command that converts them), config.json that is
        not JSON, or a model_type other than `model_type`.
    """
    config_path = os.path.join(directory, CONFIG_FILE)
    if not os.path.isfile(config_path):
        raise ValueError(
            f"{config_path} not found. A Hugging Face model directory needs config.json and model.safetensors "
            "(e.g. from transformers' save_pretrained, or the files of the Hugging Face model repository)."
        )
    if not any(os.path.isfile(os.path.join(directory, name)) for name in (WEIGHTS_FILE, WEIGHTS_INDEX_FILE)):
        if os.path.isfile(os.path.join(directory, "pytorch_model.bin")):
            raise ValueError(
                f"{directory} has pytorch_model.bin but no model.safetensors; we do not unpickle PyTorch files. "
                'Convert it once with transformers: python -c "import transformers as t; '
                f"t.AutoModelForPreTraining.from_pretrained('{directory}').save_pretrained('{directory}')\""
            )
        raise ValueError(f"{os.path.join(directory, WEIGHTS_FILE)} not found, nor a sharded {WEIGHTS_INDEX_FILE}.")
    hf = read_json(config_path)
    if model_type is not None and hf.get("model_type", model_type) != model_type:
        raise ValueError(
            f"{config_path} has model_type {hf['model_type']!r}, not {model_type!r}; `lm.convert.read_model` "
            "reads any model type it knows."
        )
    return hf, config_path


def read_json(path: str) -> dict:
    try:
        with open(path) as f:
            value = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e}).") from e
    if not isinstance(value, dict):
        raise ValueError(f"{path} holds a {type(value).__name__}, not a JSON object.")
    return value


def read_weights(directory: str) -> dict[str, np.ndarray]:
    """Every tensor of model.safetensors (or of its shards), as float32 numpy arrays."""
    files = [WEIGHTS_FILE]
    if not os.path.isfile(os.path.join(directory, WEIGHTS_FILE)):
        index = read_json(os.path.join(directory, WEIGHTS_INDEX_FILE))
        files = sorted(set(index.get("weight_map", {}).values()))
    weights = {}
    for name in files:
        path = os.path.join(directory, name)
        try:
            # Flax's loader, as numpy has no bfloat16; on the host, as the arrays become numpy anyway.
            with jax.default_device(jax.devices("cpu")[0]):
                tensors = load_file(path)
        except Exception as e:  # safetensors raises its own error types for missing, truncated or foreign files
            raise ValueError(f"{path} could not be read as safetensors ({e}).") from e
        weights |= {k: np.asarray(v, np.float32) for k, v in tensors.items()}
    return weights


def gelu_approximate(activation: str, config_path: str) -> bool:
    if activation not in GELU_APPROXIMATE:
        raise ValueError(
            f"{config_path} has activation {activation!r}; we read {', '.join(GELU_APPROXIMATE)} "
            "(gelu exact, the others tanh-approximated)."
        )
    return GELU_APPROXIMATE[activation]


def norm(w: dict, name: str) -> dict:
    """Our LayerNorm's params from torch's (weight, bias) under `name`."""
    return {"norm": {"scale": w[name + ".weight"], "bias": w[name + ".bias"]}}


def dense(w: dict, name: str) -> dict:
    """Our Dense's params from torch.nn.Linear's under `name` (its weight is [out, in])."""
    return {"kernel": w[name + ".weight"].T, "bias": w[name + ".bias"]}


def heads(kernel: np.ndarray, bias: np.ndarray, num_heads: int) -> dict:
    """A query / key / value projection's [D, D] kernel (in, out) and [D] bias, split: [D, N, H] and [N, H]."""
    return {"kernel": kernel.reshape(kernel.shape[0], num_heads, -1), "bias": bias.reshape(num_heads, -1)}
