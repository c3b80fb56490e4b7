"""GPT-2 (Radford et al., 2019) from and to Hugging Face files (config.json + model.safetensors).

GPT-2 is a set of options of our blocks: pre-norm, learned positions, tied embeddings, biases. What exact
parity needs is mapped here: its Conv1D weights are stored [in, out] (the transpose of torch.nn.Linear),
the attention projection is one fused [D, 3D] matrix, the MLP uses tanh-approximated GELU ("gelu_new"),
LayerNorm's epsilon is `layer_norm_epsilon`.
"""

import jax
import numpy as np

from lm.convert.hf_common import (
    QKV,
    bias_or_zeros,
    check_export,
    gelu_approximate,
    heads,
    norm,
    read_config,
    read_weights,
    save,
)
from lm.models.layout import set_layer_layout

# What a model must be for GPT-2's architecture to express it: field -> GPT-2's value (ModelConfig fields).
GPT2_FAMILY = dict(
    causal=True,
    position="learned",
    mlp="gelu",
    norm="layernorm",
    norm_position="pre",
    embedding_norm=False,
    embedding_scale=False,
    type_vocab_size=0,
    use_bias=True,
    qkv_bias=True,
    parallel_residual=False,
    sliding_window=0,
    tie_embeddings=True,
    mlm_transform=False,
    head_bias=False,
)
# What an export needs of a model: the family less what GPT-2's files express either way. A bias the model
# lacks is written as zeros (exactly the model: nanoGPT's bias=False); an untied head is lm_head.weight.
GPT2_EXPORTS = {k: v for k, v in GPT2_FAMILY.items() if k not in ("use_bias", "qkv_bias", "tie_embeddings")}
GPT2_EXPORTS |= {"family": "transformer"}


def read(directory: str) -> tuple[dict, dict]:
    """The model fields for lm/config.py and our parameter tree, from a GPT-2 directory.

    Args:
      directory: holds config.json and model.safetensors (as `save_pretrained` writes them).
    Returns:
      (model fields: vocab_size, num_layers, ..., params: nested dict of float32 numpy arrays).
    Raises:
      ValueError: a missing or malformed file, named with the fix.
    """
    hf, config_path = read_config(directory, "gpt2")
    try:
        D = hf["n_embd"]
        fields = dict(
            GPT2_FAMILY,
            vocab_size=hf["vocab_size"],
            num_layers=hf["n_layer"],
            num_heads=hf["n_head"],
            d_model=D,
            d_ff=hf.get("n_inner") or 4 * D,
            max_len=hf["n_positions"],
            gelu_approximate=gelu_approximate(hf.get("activation_function", "gelu_new"), config_path),
            norm_eps=hf.get("layer_norm_epsilon", 1e-5),
        )
    except KeyError as e:
        raise ValueError(
            f"{config_path} is not a GPT-2 config (no {e}); it needs n_embd, n_layer, n_head, "
            "n_positions and vocab_size."
        ) from e
    w = {k.removeprefix("transformer."): v for k, v in read_weights(directory).items()}
    D, N = fields["d_model"], fields["num_heads"]
    try:
        params = {
            "embed": {"embedding": w["wte.weight"]},
            "position_embed": {"embedding": w["wpe.weight"]},
            "final_norm": norm(w, "ln_f"),
        }
        if not hf.get("tie_word_embeddings", True):  # an untied head (as `write` exports one)
            fields["tie_embeddings"] = False
            params["head"] = {"kernel": w["lm_head.weight"].T}  # [V, D] -> [D, V]
        for i in range(fields["num_layers"]):
            p = f"h.{i}."
            qkv, qkv_bias = w[p + "attn.c_attn.weight"], w[p + "attn.c_attn.bias"]  # [D, 3D] (Conv1D: in, out)
            attention = {
                name: heads(qkv[:, j * D : (j + 1) * D], qkv_bias[j * D : (j + 1) * D], N) for j, name in enumerate(QKV)
            }
            attention["out"] = {
                "kernel": w[p + "attn.c_proj.weight"].reshape(N, D // N, D),  # [D, D] -> [N, H, D]
                "bias": w[p + "attn.c_proj.bias"],
            }
            params[f"block_{i}"] = {
                "attention_norm": norm(w, p + "ln_1"),
                "attention": attention,
                "mlp_norm": norm(w, p + "ln_2"),
                "mlp": {
                    "up": {"kernel": w[p + "mlp.c_fc.weight"], "bias": w[p + "mlp.c_fc.bias"]},  # [D, F]
                    "down": {"kernel": w[p + "mlp.c_proj.weight"], "bias": w[p + "mlp.c_proj.bias"]},  # [F, D]
                },
            }
    except KeyError as e:
        raise ValueError(f"{directory} has no tensor {e}: not a GPT-2 checkpoint of this config.") from e
    return fields, params


def write(directory: str, fields: dict, params, token_ids: dict | None = None) -> None:
    """Writes a GPT-2-family model as a Hugging Face GPT2LMHeadModel: config.json + model.safetensors.

    The inverse of `read`; transformers' `GPT2LMHeadModel.from_pretrained(directory)` loads it, with the
    LM head tied to the token embeddings or, for an untied model, its own lm_head.weight. A model without
    biases (use_bias / qkv_bias false) gets zero biases, which GPT-2 then adds to nothing. Heads for
    fine-tuning (pooler, classifier) are not written.

    Args:
      directory: created if missing; its config.json and model.safetensors are overwritten.
      fields: the resolved model fields (`config.model.to_dict()` or `dataclasses.asdict(ModelConfig)`).
      params: our parameter tree for those fields (numpy or jax arrays, any float dtype; written float32).
    Raises:
      ValueError: a model GPT-2's architecture cannot express (the fields that differ), or params that
        do not fit the fields.
    """
    c = check_export(fields, GPT2_EXPORTS, "GPT-2", free_heads=False)
    D = c.d_model
    p = jax.tree.map(lambda x: np.asarray(x, np.float32), set_layer_layout(params, scan=False))

    try:
        tensors = {
            "transformer.wte.weight": p["embed"]["embedding"],
            "transformer.wpe.weight": p["position_embed"]["embedding"],
            "transformer.ln_f.weight": p["final_norm"]["norm"]["scale"],
            "transformer.ln_f.bias": bias_or_zeros(p["final_norm"]["norm"], D),
        }
        if not c.tie_embeddings:
            tensors["lm_head.weight"] = p["head"]["kernel"].T  # [D, V] -> [V, D]
        for i in range(c.num_layers):
            b, h = p[f"block_{i}"], f"transformer.h.{i}."
            attention = b["attention"]
            tensors |= {
                h + "ln_1.weight": b["attention_norm"]["norm"]["scale"],
                h + "ln_1.bias": bias_or_zeros(b["attention_norm"]["norm"], D),
                # [D, N, H] x 3 -> [D, 3D] (Conv1D: in, out)
                h + "attn.c_attn.weight": np.concatenate([attention[n]["kernel"].reshape(D, D) for n in QKV], axis=1),
                h + "attn.c_attn.bias": np.concatenate([bias_or_zeros(attention[n], D) for n in QKV]),
                h + "attn.c_proj.weight": attention["out"]["kernel"].reshape(D, D),  # [N, H, D] -> [D, D]
                h + "attn.c_proj.bias": bias_or_zeros(attention["out"], D),
                h + "ln_2.weight": b["mlp_norm"]["norm"]["scale"],
                h + "ln_2.bias": bias_or_zeros(b["mlp_norm"]["norm"], D),
                h + "mlp.c_fc.weight": b["mlp"]["up"]["kernel"],
                h + "mlp.c_fc.bias": bias_or_zeros(b["mlp"]["up"], c.d_ff),
                h + "mlp.c_proj.weight": b["mlp"]["down"]["kernel"],
                h + "mlp.c_proj.bias": bias_or_zeros(b["mlp"]["down"], D),
            }
    except (KeyError, ValueError) as e:  # ValueError: a reshape of a kernel of another size
        raise ValueError(
            f"The params do not fit the fields' GPT-2 model ({e!r}); pass the params of that model."
        ) from e
    hf = {
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        "vocab_size": c.vocab_size,
        "n_positions": c.max_len,
        "n_ctx": c.max_len,
        "n_embd": D,
        "n_layer": c.num_layers,
        "n_head": c.num_heads,
        "n_inner": c.d_ff,
        "activation_function": "gelu_new" if c.gelu_approximate else "gelu",
        "layer_norm_epsilon": c.norm_eps,
        "resid_pdrop": c.dropout,
        "embd_pdrop": c.embedding_dropout,
        "attn_pdrop": c.attention_dropout,
        "initializer_range": c.init_std,
        "tie_word_embeddings": c.tie_embeddings,
        "bos_token_id": None,  # GPT2Config's default, 50256, is GPT-2's tokenizer's; ours may be any
        "eos_token_id": None,
        "dtype": "float32",
    }
    hf |= token_ids or {}  # bos_token_id, eos_token_id, pad_token_id: the tokenizer's
    save(directory, tensors, hf)
