"""The Llama family (Touvron et al., 2023): Llama, Qwen2 and Mistral from and to Hugging Face files.

All three are one set of options of our blocks: pre-norm with RMSNorm, SwiGLU, rotary positions ("rotate
half", base rope_theta), grouped-query attention (num_key_value_heads), no biases (unless Llama's
attention_bias / mlp_bias: our use_bias), an untied or tied head. Qwen2 adds biases on the query / key /
value projections; Mistral a sliding window over the keys. What
parity needs: torch.nn.Linear weights are [out, in]; each projection is its own tensor.
"""

import jax
import numpy as np

from lm.convert.hf_common import (
    bias_or_zeros,
    check_export,
    heads_of,
    linear,
    out_of,
    read_config,
    read_weights,
    rms_norm,
    rope,
    rope_parameters,
    save,
)
from lm.models.layout import set_layer_layout

MODEL_TYPES = ("llama", "qwen2", "mistral")
ARCHITECTURES = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "mistral": "MistralForCausalLM"}
# What a model must be for the Llama family to express it: field -> the family's value (ModelConfig fields).
LLAMA_FAMILY = dict(
    causal=True,
    position="rotary",
    rotary_fraction=1.0,
    mlp="swiglu",
    norm="rmsnorm",
    norm_position="pre",
    embedding_norm=False,
    embedding_scale=False,
    type_vocab_size=0,
    use_bias=False,
    parallel_residual=False,
    final_norm=True,
    mlm_transform=False,
    head_bias=False,
)
# What an export needs: the family less use_bias, which Llama's attention_bias and mlp_bias express (a
# bias the model lacks written as zeros).
LLAMA_EXPORTS = {k: v for k, v in LLAMA_FAMILY.items() if k != "use_bias"} | {"family": "transformer"}
PROJECTIONS = {"query": "q_proj", "key": "k_proj", "value": "v_proj"}
MLP = {"gate": "gate_proj", "up": "up_proj", "down": "down_proj"}


def read(directory: str) -> tuple[dict, dict]:
    """The model fields and our parameter tree, from a LlamaForCausalLM / Qwen2ForCausalLM / MistralForCausalLM
    directory (or their base models' files, whose tensors lack "model."; the head is then the tied embedding).

    Raises:
      ValueError: a missing or malformed file (a bias attention_bias / mlp_bias announces included), or an
        option we cannot express (named): another activation, RoPE scaling other than linear and llama3,
        Qwen2's per-layer sliding window.
    """
    hf, config_path = read_config(directory, None)
    model_type = hf.get("model_type")
    if model_type not in MODEL_TYPES:
        raise ValueError(f"{config_path} has model_type {model_type!r}, not one of the Llama family's {MODEL_TYPES}.")
    try:
        D, N = hf["hidden_size"], hf["num_attention_heads"]
        fields = dict(
            LLAMA_FAMILY,
            vocab_size=hf["vocab_size"],
            num_layers=hf["num_hidden_layers"],
            num_heads=N,
            num_kv_heads=hf.get("num_key_value_heads") or N,
            d_model=D,
            head_dim=hf.get("head_dim") or D // N,  # Qwen3 and Gemma make it wider than hidden_size / heads
            d_ff=hf["intermediate_size"],
            max_len=hf["max_position_embeddings"],
            norm_eps=hf.get("rms_norm_eps", 1e-6),
            use_bias=bool(hf.get("attention_bias", False) or hf.get("mlp_bias", False)),  # (zeros where absent)
            qkv_bias=model_type == "qwen2" or bool(hf.get("attention_bias", False)),
            tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
            sliding_window=_sliding_window(hf, model_type, config_path),
            **rope(hf, config_path),
        )
    except KeyError as e:
        raise ValueError(
            f"{config_path} is not a {model_type} config (no {e}); it needs hidden_size, num_attention_heads, "
            "num_hidden_layers, intermediate_size, max_position_embeddings and vocab_size."
        ) from e
    if hf.get("hidden_act", "silu") != "silu":
        raise ValueError(
            f"{config_path} has hidden_act={hf['hidden_act']!r}; we read the Llama family with SwiGLU with SiLU only."
        )
    w = {k.removeprefix("model."): v for k, v in read_weights(directory).items()}
    K = fields["num_kv_heads"]
    try:
        params = {"embed": {"embedding": w["embed_tokens.weight"]}, "final_norm": rms_norm(w, "norm")}
        if not fields["tie_embeddings"]:
            params["head"] = {"kernel": w["lm_head.weight"].T}  # [D, V]
        for i in range(fields["num_layers"]):
            p = f"layers.{i}."
            attention = {
                ours: heads_of(w, p + "self_attn." + theirs, N if ours == "query" else K)
                for ours, theirs in PROJECTIONS.items()
            }
            attention["out"] = out_of(w, p + "self_attn.o_proj", N)
            params[f"block_{i}"] = {
                "attention_norm": rms_norm(w, p + "input_layernorm"),
                "attention": attention,
                "mlp_norm": rms_norm(w, p + "post_attention_layernorm"),
                "mlp": {ours: linear(w, p + "mlp." + theirs) for ours, theirs in MLP.items()},
            }
    except KeyError as e:
        raise ValueError(f"{directory} has no tensor {e}: not a {model_type} checkpoint of this config.") from e
    if fields["use_bias"]:  # attention_bias without mlp_bias, or the other way round: the others are zeros
        has = {"attention": bool(hf.get("attention_bias", False)), "mlp": bool(hf.get("mlp_bias", False))}
        for i in range(fields["num_layers"]):
            block = params[f"block_{i}"]
            layers = [("attention", n, block["attention"][n]) for n in (*PROJECTIONS, "out")]
            layers += [("mlp", n, layer) for n, layer in block["mlp"].items()]
            for part, name, layer in layers:
                if has[part] and "bias" not in layer:
                    raise ValueError(f"{directory} has no bias of layer {i}'s {part} {name}: {part}_bias is true.")
                if part == "mlp" or name == "out":
                    layer["bias"] = bias_or_zeros(layer, layer["kernel"].shape[-1])
    return fields, params


def write(directory: str, fields: dict, params, token_ids: dict | None = None) -> None:
    """Writes a Llama-family model as Hugging Face files that transformers' AutoModelForCausalLM loads: Qwen2
    when it has query / key / value biases, Mistral when it has a sliding window, Llama otherwise.

    Raises:
      ValueError: a model the family cannot express (the fields that differ), or params that do not fit.
    """
    c = check_export(fields, LLAMA_EXPORTS, "Llama", free_heads=True)
    if (c.qkv_bias or c.use_bias) and c.sliding_window:
        raise ValueError("Llama export: a model with biases (Qwen2, Llama) and a sliding window (Mistral) is neither.")
    # Qwen2: biases on q, k, v only; Llama's attention_bias and mlp_bias: on every projection
    model_type = "llama" if c.use_bias else "qwen2" if c.qkv_bias else "mistral" if c.sliding_window else "llama"
    N, K = c.num_heads, c.num_kv_heads
    p = jax.tree.map(lambda x: np.asarray(x, np.float32), set_layer_layout(params, scan=False))
    try:
        tensors = {"model.embed_tokens.weight": p["embed"]["embedding"], "model.norm.weight": _scale(p["final_norm"])}
        if not c.tie_embeddings:
            tensors["lm_head.weight"] = p["head"]["kernel"].T
        for i in range(c.num_layers):
            b, h = p[f"block_{i}"], f"model.layers.{i}."
            tensors[h + "input_layernorm.weight"] = _scale(b["attention_norm"])
            tensors[h + "post_attention_layernorm.weight"] = _scale(b["mlp_norm"])
            for ours, theirs in PROJECTIONS.items():
                kernel = b["attention"][ours]["kernel"]  # [D, N or K, H]
                tensors[h + f"self_attn.{theirs}.weight"] = kernel.reshape(c.d_model, -1).T  # [N H, D]
                if c.qkv_bias or c.use_bias:
                    width = kernel.shape[1] * kernel.shape[2]  # zeros for a model with use_bias but not qkv_bias
                    tensors[h + f"self_attn.{theirs}.bias"] = bias_or_zeros(b["attention"][ours], width)
            tensors[h + "self_attn.o_proj.weight"] = b["attention"]["out"]["kernel"].reshape(-1, c.d_model).T
            if c.use_bias:
                tensors[h + "self_attn.o_proj.bias"] = b["attention"]["out"]["bias"]
            for ours, theirs in MLP.items():
                tensors[h + f"mlp.{theirs}.weight"] = b["mlp"][ours]["kernel"].T
                if c.use_bias:
                    tensors[h + f"mlp.{theirs}.bias"] = b["mlp"][ours]["bias"]
    except (KeyError, ValueError) as e:  # ValueError: a reshape of a kernel of another size
        raise ValueError(f"The params do not fit the fields' Llama model ({e!r}); pass that model's params.") from e
    hf = {
        "model_type": model_type,
        "architectures": [ARCHITECTURES[model_type]],
        "vocab_size": c.vocab_size,
        "hidden_size": c.d_model,
        "intermediate_size": c.d_ff,
        "num_hidden_layers": c.num_layers,
        "num_attention_heads": N,
        "num_key_value_heads": K,
        "head_dim": c.head_dim,
        "max_position_embeddings": c.max_len,
        "hidden_act": "silu",
        "rms_norm_eps": c.norm_eps,
        "rope_parameters": rope_parameters(c),
        "tie_word_embeddings": c.tie_embeddings,
        "attention_dropout": c.attention_dropout,
        "initializer_range": c.init_std,
        "bos_token_id": None,  # the configs' defaults are their tokenizers'; ours may be any
        "eos_token_id": None,
        "dtype": "float32",
    }
    if model_type == "mistral":
        hf["sliding_window"] = c.sliding_window
    if model_type == "llama":
        hf |= {"attention_bias": c.use_bias, "mlp_bias": c.use_bias}
    hf |= token_ids or {}  # bos_token_id, eos_token_id, pad_token_id: the tokenizer's
    save(directory, tensors, hf)


def _sliding_window(hf: dict, model_type: str, config_path: str) -> int:
    """Mistral's window (0: none); Qwen2's, which covers only some layers, is refused."""
    if model_type == "qwen2" and hf.get("use_sliding_window"):
        raise ValueError(
            f"{config_path} has use_sliding_window=true: Qwen2 then windows only the layers from max_window_layers "
            "on, which we do not express. Set it false to read the model with full attention (as Qwen2 is trained)."
        )
    return int(hf.get("sliding_window") or 0) if model_type == "mistral" else 0


def _scale(norm: dict) -> np.ndarray:
    return norm["norm"]["scale"]
