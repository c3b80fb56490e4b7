"""BERT (Devlin et al., 2019) from Hugging Face files (config.json + model.safetensors).

BERT is a set of options of our blocks: torch.nn.Linear weights [out, in], post-norm blocks, a LayerNorm
on the summed word + position + token-type embeddings, exact (erf) GELU for "gelu", LayerNorm epsilon
1e-12, and the MLM head's dense + GELU + LayerNorm before the tied decoder with its own bias.
"""

import numpy as np

from lm.convert.hf_common import QKV, dense, gelu_approximate, heads, norm, read_config, read_weights


def read(directory: str) -> tuple[dict, dict]:
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
      in `__call__`; `lm.models.layout.transplant` takes it into a
      fine-tuning model that has a pooler of the same shape.
    Raises:
      ValueError: a missing or malformed file, a config we cannot express (activation, position
        embedding type), or an MLM decoder that is not tied to the word embeddings.
    """
    hf, config_path = read_config(directory, "bert")
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
            gelu_approximate=gelu_approximate(hf.get("hidden_act", "gelu"), config_path),
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
        for k, v in read_weights(directory).items()
    }
    N = fields["num_heads"]
    try:
        params = {
            "embed": {"embedding": w["embeddings.word_embeddings.weight"]},
            "position_embed": {"embedding": w["embeddings.position_embeddings.weight"]},
            "type_embed": {"embedding": w["embeddings.token_type_embeddings.weight"]},
            "embed_norm": norm(w, "embeddings.LayerNorm"),
        }
        for i in range(fields["num_layers"]):
            p = f"encoder.layer.{i}."
            attention = {
                name: heads(w[p + f"attention.self.{name}.weight"].T, w[p + f"attention.self.{name}.bias"], N)
                for name in QKV
            }
            out = w[p + "attention.output.dense.weight"].T  # [D (= N H), D]
            attention["out"] = {
                "kernel": out.reshape(N, -1, out.shape[1]),
                "bias": w[p + "attention.output.dense.bias"],
            }
            params[f"block_{i}"] = {
                "attention": attention,
                "attention_norm": norm(w, p + "attention.output.LayerNorm"),
                "mlp": {"up": dense(w, p + "intermediate.dense"), "down": dense(w, p + "output.dense")},
                "mlp_norm": norm(w, p + "output.LayerNorm"),
            }
        if "pooler.dense.weight" in w:
            params["pooler"] = dense(w, "pooler.dense")
        has_head = "cls.predictions.transform.dense.weight" in w
        if has_head:
            params["mlm_dense"] = dense(w, "cls.predictions.transform.dense")
            params["mlm_norm"] = norm(w, "cls.predictions.transform.LayerNorm")
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
