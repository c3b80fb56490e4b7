"""Hugging Face checkpoints in and out: GPT-2 (config.json + model.safetensors) into our model.

GPT-2's details that exact parity needs are mapped here, onto the shared blocks' options: its Conv1D
weights are stored [in, out] (the transpose of torch.nn.Linear), the attention projection is one fused
[D, 3D] matrix, the MLP uses tanh-approximated GELU ("gelu_new"), and LayerNorm's epsilon is
`layer_norm_epsilon`. No network: everything is read from a local directory.
"""

import json
import os

import numpy as np
from safetensors.numpy import load_file


def read_gpt2(directory: str) -> tuple[dict, dict]:
    """The model fields for lm/config.py and our parameter tree, from a GPT-2 directory.

    Args:
      directory: holds config.json and model.safetensors (as `save_pretrained` writes them).
    Returns:
      (model fields: vocab_size, num_layers, ..., params: nested dict of numpy arrays).
    Raises:
      ValueError: a missing or malformed file, named with the fix.
    """
    config_path = os.path.join(directory, "config.json")
    weights_path = os.path.join(directory, "model.safetensors")
    for path in (config_path, weights_path):
        if not os.path.isfile(path):
            raise ValueError(
                f"{path} not found. A GPT-2 directory needs config.json and model.safetensors (e.g. from "
                "transformers' save_pretrained, or the files of the Hugging Face model repository)."
            )
    try:
        with open(config_path) as f:
            hf = json.load(f)
        D, L, N = hf["n_embd"], hf["n_layer"], hf["n_head"]
        fields = dict(
            vocab_size=hf["vocab_size"],
            num_layers=L,
            num_heads=N,
            d_model=D,
            d_ff=hf.get("n_inner") or 4 * D,
            max_len=hf["n_positions"],
            causal=True,
            position="learned",
            mlp="gelu",
            gelu_approximate=hf.get("activation_function", "gelu_new") in ("gelu_new", "gelu_pytorch_tanh"),
            norm="layernorm",
            norm_eps=hf.get("layer_norm_epsilon", 1e-5),
            norm_position="pre",
            use_bias=True,
            tie_embeddings=True,
        )
    except (json.JSONDecodeError, KeyError) as e:
        raise ValueError(
            f"{config_path} is not a GPT-2 config ({e!r}); it needs n_embd, n_layer, n_head, "
            "n_positions and vocab_size."
        ) from e
    try:
        w = load_file(weights_path)
    except Exception as e:  # safetensors raises its own error types for truncated or foreign files
        raise ValueError(f"{weights_path} could not be read as safetensors ({e}).") from e
    w = {k.removeprefix("transformer."): v for k, v in w.items()}
    H = D // N
    try:
        params = {
            "embed": {"embedding": w["wte.weight"]},
            "position_embed": {"embedding": w["wpe.weight"]},
            "final_norm": {"norm": {"scale": w["ln_f.weight"], "bias": w["ln_f.bias"]}},
        }
        for i in range(L):
            p = f"h.{i}."
            qkv, qkv_bias = w[p + "attn.c_attn.weight"], w[p + "attn.c_attn.bias"]  # [D, 3D] (Conv1D: in, out)
            attention = {
                name: {
                    "kernel": qkv[:, j * D : (j + 1) * D].reshape(D, N, H),
                    "bias": qkv_bias[j * D : (j + 1) * D].reshape(N, H),
                }
                for j, name in enumerate(("query", "key", "value"))
            }
            attention["out"] = {
                "kernel": w[p + "attn.c_proj.weight"].reshape(N, H, D),
                "bias": w[p + "attn.c_proj.bias"],
            }
            params[f"block_{i}"] = {
                "attention_norm": {"norm": {"scale": w[p + "ln_1.weight"], "bias": w[p + "ln_1.bias"]}},
                "attention": attention,
                "mlp_norm": {"norm": {"scale": w[p + "ln_2.weight"], "bias": w[p + "ln_2.bias"]}},
                "mlp": {
                    "up": {"kernel": w[p + "mlp.c_fc.weight"], "bias": w[p + "mlp.c_fc.bias"]},
                    "down": {"kernel": w[p + "mlp.c_proj.weight"], "bias": w[p + "mlp.c_proj.bias"]},
                },
            }
    except KeyError as e:
        raise ValueError(f"{weights_path} has no tensor {e}: not a GPT-2 checkpoint of this config.") from e
    return fields, _to_float32(params)


def _to_float32(tree):
    if isinstance(tree, dict):
        return {k: _to_float32(v) for k, v in tree.items()}
    return np.asarray(tree, np.float32)
