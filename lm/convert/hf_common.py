"""What the Hugging Face converters share: finding and reading a model directory's config.json and
safetensors, and mapping torch's tensor layouts onto ours.

No network, and no pickles: everything is read from safetensors in a local directory.
"""

import json
import os

import jax
import numpy as np
from safetensors.flax import load_file
from safetensors.numpy import save_file

from lm import jsonfile
from lm.models.config import SHAPE, ModelConfig

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX_FILE = "model.safetensors.index.json"  # what save_pretrained writes for a sharded checkpoint
GELU_APPROXIMATE = {"gelu": False, "gelu_new": True, "gelu_pytorch_tanh": True}  # HF activation name -> tanh?
QKV = ("query", "key", "value")
UNEXPORTED = dict(attention_scale=True, scale_head_input=False)  # T5's options: every family we export has these


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
    """A JSON object of a Hugging Face directory (config.json, the weights' index)."""
    return jsonfile.read(path, "Download it again from the model's repository.")


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


def rms_norm(w: dict, name: str) -> dict:
    """Our RMSNorm's params from a weight-only norm (Llama's RMSNorm, T5LayerNorm) under `name`."""
    return {"norm": {"scale": w[name + ".weight"]}}


def dense(w: dict, name: str) -> dict:
    """Our Dense's params from torch.nn.Linear's under `name` (its weight is [out, in])."""
    return {"kernel": w[name + ".weight"].T, "bias": w[name + ".bias"]}


def heads(kernel: np.ndarray, bias: np.ndarray, num_heads: int) -> dict:
    """A query / key / value projection's [D, D] kernel (in, out) and [D] bias, split: [D, N, H] and [N, H]."""
    return {"kernel": kernel.reshape(kernel.shape[0], num_heads, -1), "bias": bias.reshape(num_heads, -1)}


def rope(hf: dict, config_path: str, default_fraction: float = 1.0) -> dict:
    """Rotary position fields (rope_base, rotary_fraction, rope_scaling and its parameters) from a config.json:
    transformers 5's `rope_parameters` or the older top-level rope_theta / rope_scaling / rotary_pct /
    rotary_emb_base.

    Raises:
      ValueError: a RoPE scaling type other than "default", "linear" and "llama3", named.
    """
    parameters = hf.get("rope_parameters") or {}
    scaling = hf.get("rope_scaling") or parameters
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    if kind not in ("default", "linear", "llama3"):
        raise ValueError(
            f"{config_path} uses RoPE scaling {kind!r}; we read rotary positions with no scaling ('default'), "
            "'linear' or 'llama3' scaling. Use a checkpoint without it, or one fine-tuned with linear scaling."
        )
    theta = parameters.get("rope_theta", hf.get("rope_theta", hf.get("rotary_emb_base", 10000.0)))
    fraction = parameters.get(
        "partial_rotary_factor", hf.get("partial_rotary_factor", hf.get("rotary_pct", default_fraction))
    )
    fields = dict(position="rotary", rope_base=float(theta), rotary_fraction=float(fraction))
    if kind == "linear":
        fields |= dict(rope_scaling="linear", rope_scaling_factor=float(scaling["factor"]))
    if kind == "llama3":
        fields |= dict(
            rope_scaling="llama3",
            rope_scaling_factor=float(scaling["factor"]),
            rope_low_freq_factor=float(scaling["low_freq_factor"]),
            rope_high_freq_factor=float(scaling["high_freq_factor"]),
            rope_original_max_len=int(scaling["original_max_position_embeddings"]),
        )
    return fields


def rope_parameters(c: ModelConfig) -> dict:
    """transformers 5's `rope_parameters` of config.json for the model's rotary fields (the inverse of `rope`)."""
    if c.rope_scaling == "llama3":
        return {
            "rope_type": "llama3",
            "rope_theta": c.rope_base,
            "factor": c.rope_scaling_factor,
            "low_freq_factor": c.rope_low_freq_factor,
            "high_freq_factor": c.rope_high_freq_factor,
            "original_max_position_embeddings": c.rope_original_max_len,
        }
    if c.rope_scaling_factor != 1.0:
        return {"rope_type": "linear", "rope_theta": c.rope_base, "factor": c.rope_scaling_factor}
    return {"rope_type": "default", "rope_theta": c.rope_base}


def linear(w: dict, name: str) -> dict:
    """Our Dense's params from a torch.nn.Linear under `name`, with its bias if it has one."""
    out = {"kernel": w[name + ".weight"].T}
    return out | ({"bias": w[name + ".bias"]} if name + ".bias" in w else {})


def heads_of(w: dict, name: str, num_heads: int) -> dict:
    """A query / key / value projection from torch.nn.Linear [N H, D] (+ bias [N H]): kernel [D, N, H], bias [N, H]."""
    kernel = w[name + ".weight"].T  # [D, N H]
    out = {"kernel": kernel.reshape(kernel.shape[0], num_heads, -1)}
    return out | ({"bias": w[name + ".bias"].reshape(num_heads, -1)} if name + ".bias" in w else {})


def out_of(w: dict, name: str, num_heads: int) -> dict:
    """The attention output projection from torch.nn.Linear [D, N H] (+ bias [D]): kernel [N, H, D]."""
    kernel = w[name + ".weight"].T  # [N H, D]
    out = {"kernel": kernel.reshape(num_heads, -1, kernel.shape[1])}
    return out | ({"bias": w[name + ".bias"]} if name + ".bias" in w else {})


def bias_or_zeros(layer: dict, size: int) -> np.ndarray:
    """A layer's bias, flat, or the zeros a format with biases stores for a model without them (an exact
    export: the format then adds nothing)."""
    return layer["bias"].reshape(size) if "bias" in layer else np.zeros(size, np.float32)


def check_export(fields: dict, family: dict, name: str, free_heads: bool) -> ModelConfig:
    """The ModelConfig of `fields`, once it is a model of `family` (field -> the family's value) whose
    heads the family can express (`free_heads`: key / value heads and a head width of their own, as Llama's
    num_key_value_heads and head_dim; else as many as the query heads, d_model / num_heads wide).

    Raises:
      ValueError: fields that describe no model, or the fields that differ from the family's (named).
    """
    c = model_config(fields)
    differ = differences(c, family, name, free_heads)
    if differ:
        raise ValueError(f"{name} export takes {name}-family models only; this one has {', '.join(differ)}.")
    return c


def model_config(fields: dict) -> ModelConfig:
    """`fields` (config.model's, resolved) as a ModelConfig; ValueError if they describe no model."""
    try:
        c = ModelConfig(**{**fields, "family": fields.get("family") or "transformer"})  # as resolve fills it
    except TypeError as e:  # a field ModelConfig does not have
        raise ValueError(f"fields {sorted(fields)} do not describe a model ({e}); pass config.model's.") from e
    unset = [k for k in (*SHAPE, "vocab_size", "max_len") if getattr(c, k) is None]
    if unset:
        raise ValueError(f"fields {sorted(fields)} do not describe a model ({unset} unset); pass config.model's.")
    return c


def differences(c: ModelConfig, family: dict, name: str, free_heads: bool) -> list[str]:
    """What keeps `c` from being a model of `family`, as "field=value (family: value)" strings."""
    differ = [f"{k}={getattr(c, k)!r} ({name}: {v!r})" for k, v in family.items() if getattr(c, k) != v]
    if not free_heads and c.num_kv_heads != c.num_heads:
        differ.append(f"num_kv_heads={c.num_kv_heads} ({name}: num_heads, {c.num_heads})")
    if not free_heads and c.head_dim != c.d_model // c.num_heads:
        differ.append(f"head_dim={c.head_dim} ({name}: d_model / num_heads, {c.d_model // c.num_heads})")
    # T5's options, which no family we export has
    differ += [f"{k}={getattr(c, k)!r} ({name}: {v!r})" for k, v in UNEXPORTED.items() if getattr(c, k) != v]
    return differ


def save(directory: str, tensors: dict, hf: dict) -> None:
    """Writes model.safetensors (float32, contiguous) and config.json into `directory` (made if missing)."""
    os.makedirs(directory, exist_ok=True)
    contiguous = {k: np.ascontiguousarray(v, np.float32) for k, v in tensors.items()}
    save_file(contiguous, os.path.join(directory, WEIGHTS_FILE), metadata={"format": "pt"})  # transformers checks it
    with open(os.path.join(directory, CONFIG_FILE), "w") as f:
        json.dump(hf, f, indent=2)
