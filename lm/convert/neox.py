"""GPT-NeoX / Pythia (Black et al., 2022; Biderman et al., 2023) from Hugging Face files.

GPT-NeoX is a set of options of our blocks: pre-norm LayerNorm, the attention and MLP branches added in one
step when use_parallel_residual (both read the block's input, each through its own norm), rotary
positions on the first rotary_pct of each head's dims (Pythia: 25%), an untied output embedding, biases.
What parity needs: its query_key_value projection is fused per head, [N, 3 H] rows as (q, k, v) of head 0,
then of head 1, ...; torch.nn.Linear weights are [out, in].
"""

from lm.convert.hf_common import QKV, gelu_approximate, linear, norm, out_of, read_config, read_weights, rope


def read(directory: str) -> tuple[dict, dict]:
    """The model fields and our parameter tree, from a GPTNeoXForCausalLM directory (or GPTNeoXModel's files:
    then the head is missing and refused).

    Raises:
      ValueError: a missing or malformed file, or an option we cannot express (attention without biases,
        an activation other than GELU, RoPE scaling other than linear).
    """
    hf, config_path = read_config(directory, "gpt_neox")
    try:
        D, N = hf["hidden_size"], hf["num_attention_heads"]
        fields = dict(
            vocab_size=hf["vocab_size"],
            num_layers=hf["num_hidden_layers"],
            num_heads=N,
            d_model=D,
            d_ff=hf["intermediate_size"],
            max_len=hf["max_position_embeddings"],
            causal=True,
            mlp="gelu",
            gelu_approximate=gelu_approximate(hf.get("hidden_act", "gelu"), config_path),
            norm="layernorm",
            norm_eps=hf.get("layer_norm_eps", 1e-5),
            norm_position="pre",
            parallel_residual=bool(hf.get("use_parallel_residual", True)),
            use_bias=True,
            tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
            **rope(hf, config_path, default_fraction=0.25),  # transformers' default rotary_pct for GPT-NeoX
        )
    except KeyError as e:
        raise ValueError(
            f"{config_path} is not a GPT-NeoX config (no {e}); it needs hidden_size, num_attention_heads, "
            "num_hidden_layers, intermediate_size, max_position_embeddings and vocab_size."
        ) from e
    if not hf.get("attention_bias", True):
        raise ValueError(f"{config_path} has attention_bias=false; we read GPT-NeoX with attention biases only.")
    w = {k.removeprefix("gpt_neox."): v for k, v in read_weights(directory).items()}
    try:
        params = {"embed": {"embedding": w["embed_in.weight"]}, "final_norm": norm(w, "final_layer_norm")}
        if not fields["tie_embeddings"]:
            params["head"] = {"kernel": w["embed_out.weight"].T}  # [D, V]
        for i in range(fields["num_layers"]):
            p = f"layers.{i}."
            qkv = w[p + "attention.query_key_value.weight"].T.reshape(D, N, 3, D // N)  # [D, N, (q k v), H]
            qkv_bias = w[p + "attention.query_key_value.bias"].reshape(N, 3, D // N)
            attention = {name: {"kernel": qkv[:, :, j], "bias": qkv_bias[:, j]} for j, name in enumerate(QKV)}
            attention["out"] = out_of(w, p + "attention.dense", N)
            params[f"block_{i}"] = {
                "attention_norm": norm(w, p + "input_layernorm"),
                "attention": attention,
                "mlp_norm": norm(w, p + "post_attention_layernorm"),
                "mlp": {"up": linear(w, p + "mlp.dense_h_to_4h"), "down": linear(w, p + "mlp.dense_4h_to_h")},
            }
    except KeyError as e:
        raise ValueError(f"{directory} has no tensor {e}: not a GPT-NeoX checkpoint of this config.") from e
    return fields, params
