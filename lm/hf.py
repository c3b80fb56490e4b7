"""Hugging Face checkpoints in and out: GPT-2 and BERT (config.json + model.safetensors) <-> our model.

The details that exact parity needs are mapped here, onto the shared blocks' options. GPT-2: its
Conv1D weights are stored [in, out] (the transpose of torch.nn.Linear), the attention projection is one
fused [D, 3D] matrix, the MLP uses tanh-approximated GELU ("gelu_new"), LayerNorm's epsilon is
`layer_norm_epsilon`. BERT: torch.nn.Linear weights [out, in], post-norm blocks, a LayerNorm on the
summed word + position + token-type embeddings, exact (erf) GELU for "gelu", LayerNorm epsilon 1e-12, and
the MLM head's dense + GELU + LayerNorm before the tied decoder with its own bias.
No network, and no pickles: everything is read from safetensors in a local directory.
"""

import dataclasses
import json
import os

import jax
import numpy as np
from safetensors.flax import load_file
from safetensors.numpy import save_file

from lm.model import ModelConfig, set_layer_layout

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX_FILE = "model.safetensors.index.json"  # what save_pretrained writes for a sharded checkpoint
GELU_APPROXIMATE = {"gelu": False, "gelu_new": True, "gelu_pytorch_tanh": True}  # HF activation name -> tanh?
QKV = ("query", "key", "value")
# What a model must be for GPT-2's architecture to express it: field -> GPT-2's value.
GPT2_FAMILY = dict(
    causal=True,
    position="learned",
    mlp="gelu",
    norm="layernorm",
    norm_position="pre",
    embedding_norm=False,
    type_vocab_size=0,
    use_bias=True,
    tie_embeddings=True,
    mlm_transform=False,
    head_bias=False,
)


def is_hf_directory(path: str) -> bool:
    """Whether `path` holds a Hugging Face model: a config.json with a "model_type" (our workdirs' has none)."""
    config_path = os.path.join(path, CONFIG_FILE)
    return os.path.isfile(config_path) and "model_type" in _read_json(config_path)


def read_model(directory: str) -> tuple[dict, dict]:
    """`read_gpt2` or `read_bert`, as config.json's "model_type" says.

    Raises:
      ValueError: another model_type (named, with the supported ones), or what the reader raises.
    """
    hf, config_path = _read_config(directory, None)
    readers = {"gpt2": read_gpt2, "bert": read_bert}
    model_type = hf.get("model_type")
    if model_type not in readers:
        raise ValueError(
            f"{config_path} has model_type {model_type!r}; the Hugging Face models we read are {', '.join(readers)}."
        )
    return readers[model_type](directory)


def read_gpt2(directory: str) -> tuple[dict, dict]:
    """The model fields for lm/config.py and our parameter tree, from a GPT-2 directory.

    Args:
      directory: holds config.json and model.safetensors (as `save_pretrained` writes them).
    Returns:
      (model fields: vocab_size, num_layers, ..., params: nested dict of float32 numpy arrays).
    Raises:
      ValueError: a missing or malformed file, named with the fix.
    """
    hf, config_path = _read_config(directory, "gpt2")
    try:
        D = hf["n_embd"]
        fields = dict(
            vocab_size=hf["vocab_size"],
            num_layers=hf["n_layer"],
            num_heads=hf["n_head"],
            d_model=D,
            d_ff=hf.get("n_inner") or 4 * D,
            max_len=hf["n_positions"],
            causal=True,
            position="learned",
            mlp="gelu",
            gelu_approximate=_gelu_approximate(hf.get("activation_function", "gelu_new"), config_path),
            norm="layernorm",
            norm_eps=hf.get("layer_norm_epsilon", 1e-5),
            norm_position="pre",
            use_bias=True,
            tie_embeddings=True,
        )
    except KeyError as e:
        raise ValueError(
            f"{config_path} is not a GPT-2 config (no {e}); it needs n_embd, n_layer, n_head, "
            "n_positions and vocab_size."
        ) from e
    w = {k.removeprefix("transformer."): v for k, v in _read_weights(directory).items()}
    D, N = fields["d_model"], fields["num_heads"]
    try:
        params = {
            "embed": {"embedding": w["wte.weight"]},
            "position_embed": {"embedding": w["wpe.weight"]},
            "final_norm": _norm(w, "ln_f"),
        }
        for i in range(fields["num_layers"]):
            p = f"h.{i}."
            qkv, qkv_bias = w[p + "attn.c_attn.weight"], w[p + "attn.c_attn.bias"]  # [D, 3D] (Conv1D: in, out)
            attention = {
                name: _heads(qkv[:, j * D : (j + 1) * D], qkv_bias[j * D : (j + 1) * D], N)
                for j, name in enumerate(QKV)
            }
            attention["out"] = {
                "kernel": w[p + "attn.c_proj.weight"].reshape(N, D // N, D),  # [D, D] -> [N, H, D]
                "bias": w[p + "attn.c_proj.bias"],
            }
            params[f"block_{i}"] = {
                "attention_norm": _norm(w, p + "ln_1"),
                "attention": attention,
                "mlp_norm": _norm(w, p + "ln_2"),
                "mlp": {
                    "up": {"kernel": w[p + "mlp.c_fc.weight"], "bias": w[p + "mlp.c_fc.bias"]},  # [D, F]
                    "down": {"kernel": w[p + "mlp.c_proj.weight"], "bias": w[p + "mlp.c_proj.bias"]},  # [F, D]
                },
            }
    except KeyError as e:
        raise ValueError(f"{directory} has no tensor {e}: not a GPT-2 checkpoint of this config.") from e
    return fields, params


def read_bert(directory: str) -> tuple[dict, dict]:
    """The model fields and our parameter tree (the masked-LM model's), from a BERT directory.

    Reads what BertForMaskedLM, BertForPreTraining and BertModel write (tensor names with or without
    "bert."; LayerNorm gamma / beta of old checkpoints too). The fields describe the masked-LM model,
    `TransformerLM.__call__`; a BertModel directory has no MLM head, so its fields say mlm_transform=False,
    head_bias=False: `encode` is BERT's, the logits are not (fine-tune, or pretrain a head first). The
    next-sentence head is dropped.

    Returns:
      (model fields, params). params also holds "pooler" ({"kernel", "bias"}: BERT's dense + tanh on the
      [CLS] vector) when the checkpoint has one (BertForPreTraining, BertModel; not BertForMaskedLM): the
      tree of a model with num_classes > 0 and pooler_dense, less its fresh "classifier". Flax ignores it
      in `__call__`; note that `model.transplant` keeps heads fresh, pooler included.
    Raises:
      ValueError: a missing or malformed file, a config we cannot express (activation, position
        embedding type), or an MLM decoder that is not tied to the word embeddings.
    """
    hf, config_path = _read_config(directory, "bert")
    try:
        fields = dict(
            vocab_size=hf["vocab_size"],
            num_layers=hf["num_hidden_layers"],
            num_heads=hf["num_attention_heads"],
            d_model=hf["hidden_size"],
            d_ff=hf["intermediate_size"],
            max_len=hf["max_position_embeddings"],
            causal=False,
            position="learned",
            mlp="gelu",
            gelu_approximate=_gelu_approximate(hf.get("hidden_act", "gelu"), config_path),
            norm="layernorm",
            norm_eps=hf.get("layer_norm_eps", 1e-12),
            norm_position="post",
            embedding_norm=True,
            type_vocab_size=hf.get("type_vocab_size", 2),
            use_bias=True,
            tie_embeddings=True,
        )
    except KeyError as e:
        raise ValueError(
            f"{config_path} is not a BERT config (no {e}); it needs vocab_size, num_hidden_layers, "
            "num_attention_heads, hidden_size, intermediate_size and max_position_embeddings."
        ) from e
    if hf.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError(
            f"{config_path} has position_embedding_type {hf['position_embedding_type']!r}; we read BERT "
            "with learned absolute positions only."
        )
    w = {
        k.removeprefix("bert.")
        .replace("LayerNorm.gamma", "LayerNorm.weight")
        .replace("LayerNorm.beta", "LayerNorm.bias"): v
        for k, v in _read_weights(directory).items()
    }
    N = fields["num_heads"]
    try:
        params = {
            "embed": {"embedding": w["embeddings.word_embeddings.weight"]},
            "position_embed": {"embedding": w["embeddings.position_embeddings.weight"]},
            "type_embed": {"embedding": w["embeddings.token_type_embeddings.weight"]},
            "embed_norm": _norm(w, "embeddings.LayerNorm"),
        }
        for i in range(fields["num_layers"]):
            p = f"encoder.layer.{i}."
            attention = {
                name: _heads(w[p + f"attention.self.{name}.weight"].T, w[p + f"attention.self.{name}.bias"], N)
                for name in QKV
            }
            out = w[p + "attention.output.dense.weight"].T  # [D (= N H), D]
            attention["out"] = {
                "kernel": out.reshape(N, -1, out.shape[1]),
                "bias": w[p + "attention.output.dense.bias"],
            }
            params[f"block_{i}"] = {
                "attention": attention,
                "attention_norm": _norm(w, p + "attention.output.LayerNorm"),
                "mlp": {"up": _dense(w, p + "intermediate.dense"), "down": _dense(w, p + "output.dense")},
                "mlp_norm": _norm(w, p + "output.LayerNorm"),
            }
        if "pooler.dense.weight" in w:
            params["pooler"] = _dense(w, "pooler.dense")
        has_head = "cls.predictions.transform.dense.weight" in w
        if has_head:
            params["mlm_dense"] = _dense(w, "cls.predictions.transform.dense")
            params["mlm_norm"] = _norm(w, "cls.predictions.transform.LayerNorm")
            bias = "cls.predictions.bias" if "cls.predictions.bias" in w else "cls.predictions.decoder.bias"
            params["head_bias"] = w[bias]
    except KeyError as e:
        raise ValueError(f"{directory} has no tensor {e}: not a BERT checkpoint of this config.") from e
    decoder = w.get("cls.predictions.decoder.weight")  # save_pretrained leaves it out: tied to the embeddings
    if decoder is not None and not np.array_equal(decoder, params["embed"]["embedding"]):
        raise ValueError(
            f"{directory}: cls.predictions.decoder.weight differs from the word embeddings; we read BERT "
            "with the MLM decoder tied to them (as Hugging Face ties it) only."
        )
    return dict(fields, mlm_transform=has_head, head_bias=has_head), params


def write_gpt2(directory: str, fields: dict, params) -> None:
    """Writes a GPT-2-family model as a Hugging Face GPT2LMHeadModel: config.json + model.safetensors.

    The inverse of `read_gpt2`; transformers' `GPT2LMHeadModel.from_pretrained(directory)` loads it, with the
    LM head tied to the token embeddings. Heads for fine-tuning (pooler, classifier) are not written.

    Args:
      directory: created if missing; its config.json and model.safetensors are overwritten.
      fields: the model fields (`config.model.to_dict()` or `dataclasses.asdict(ModelConfig)`).
      params: our parameter tree for those fields (numpy or jax arrays, any float dtype; written float32).
    Raises:
      ValueError: a model GPT-2's architecture cannot express (the fields that differ), or params that
        do not fit the fields.
    """
    names = {f.name for f in dataclasses.fields(ModelConfig)}
    try:
        c = ModelConfig(**{k: v for k, v in fields.items() if k in names})
    except TypeError as e:  # a required field missing
        raise ValueError(f"fields {sorted(fields)} do not describe a model ({e}); pass config.model's.") from e
    differ = [f"{k}={getattr(c, k)!r} (GPT-2: {v!r})" for k, v in GPT2_FAMILY.items() if getattr(c, k) != v]
    if differ:
        raise ValueError(f"write_gpt2 exports GPT-2-family models only; this one has {', '.join(differ)}.")
    D = c.d_model
    p = jax.tree.map(lambda x: np.asarray(x, np.float32), set_layer_layout(params, scan=False))
    try:
        tensors = {
            "transformer.wte.weight": p["embed"]["embedding"],
            "transformer.wpe.weight": p["position_embed"]["embedding"],
            "transformer.ln_f.weight": p["final_norm"]["norm"]["scale"],
            "transformer.ln_f.bias": p["final_norm"]["norm"]["bias"],
        }
        for i in range(c.num_layers):
            b, h = p[f"block_{i}"], f"transformer.h.{i}."
            attention = b["attention"]
            tensors |= {
                h + "ln_1.weight": b["attention_norm"]["norm"]["scale"],
                h + "ln_1.bias": b["attention_norm"]["norm"]["bias"],
                # [D, N, H] x 3 -> [D, 3D] (Conv1D: in, out)
                h + "attn.c_attn.weight": np.concatenate([attention[n]["kernel"].reshape(D, D) for n in QKV], axis=1),
                h + "attn.c_attn.bias": np.concatenate([attention[n]["bias"].reshape(D) for n in QKV]),
                h + "attn.c_proj.weight": attention["out"]["kernel"].reshape(D, D),  # [N, H, D] -> [D, D]
                h + "attn.c_proj.bias": attention["out"]["bias"],
                h + "ln_2.weight": b["mlp_norm"]["norm"]["scale"],
                h + "ln_2.bias": b["mlp_norm"]["norm"]["bias"],
                h + "mlp.c_fc.weight": b["mlp"]["up"]["kernel"],
                h + "mlp.c_fc.bias": b["mlp"]["up"]["bias"],
                h + "mlp.c_proj.weight": b["mlp"]["down"]["kernel"],
                h + "mlp.c_proj.bias": b["mlp"]["down"]["bias"],
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
        "tie_word_embeddings": True,
        "bos_token_id": None,  # GPT2Config's default, 50256, is GPT-2's tokenizer's; ours may be any
        "eos_token_id": None,
        "dtype": "float32",
    }
    os.makedirs(directory, exist_ok=True)
    contiguous = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    save_file(contiguous, os.path.join(directory, WEIGHTS_FILE), metadata={"format": "pt"})  # transformers checks it
    with open(os.path.join(directory, CONFIG_FILE), "w") as f:
        json.dump(hf, f, indent=2)


def _read_config(directory: str, model_type: str | None) -> tuple[dict, str]:
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
    hf = _read_json(config_path)
    if model_type is not None and hf.get("model_type", model_type) != model_type:
        raise ValueError(
            f"{config_path} has model_type {hf['model_type']!r}, not {model_type!r}; `read_model` reads either."
        )
    return hf, config_path


def _read_json(path: str) -> dict:
    try:
        with open(path) as f:
            value = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e}).") from e
    if not isinstance(value, dict):
        raise ValueError(f"{path} holds a {type(value).__name__}, not a JSON object.")
    return value


def _read_weights(directory: str) -> dict[str, np.ndarray]:
    """Every tensor of model.safetensors (or of its shards), as float32 numpy arrays."""
    files = [WEIGHTS_FILE]
    if not os.path.isfile(os.path.join(directory, WEIGHTS_FILE)):
        index = _read_json(os.path.join(directory, WEIGHTS_INDEX_FILE))
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


def _gelu_approximate(activation: str, config_path: str) -> bool:
    if activation not in GELU_APPROXIMATE:
        raise ValueError(
            f"{config_path} has activation {activation!r}; we read {', '.join(GELU_APPROXIMATE)} "
            "(gelu exact, the others tanh-approximated)."
        )
    return GELU_APPROXIMATE[activation]


def _norm(w: dict, name: str) -> dict:
    """Our LayerNorm's params from torch's (weight, bias) under `name`."""
    return {"norm": {"scale": w[name + ".weight"], "bias": w[name + ".bias"]}}


def _dense(w: dict, name: str) -> dict:
    """Our Dense's params from torch.nn.Linear's under `name` (its weight is [out, in])."""
    return {"kernel": w[name + ".weight"].T, "bias": w[name + ".bias"]}


def _heads(kernel: np.ndarray, bias: np.ndarray, num_heads: int) -> dict:
    """A query / key / value projection's [D, D] kernel (in, out) and [D] bias, split: [D, N, H] and [N, H]."""
    return {"kernel": kernel.reshape(kernel.shape[0], num_heads, -1), "bias": bias.reshape(num_heads, -1)}
