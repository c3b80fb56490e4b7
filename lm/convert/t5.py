"""T5 (Raffel et al., 2020) from Hugging Face files: T5ForConditionalGeneration, v1.0 and v1.1 (and FLAN-T5).

T5 is a set of options of our encoder-decoder's blocks (lm/models/encoder_decoder.py): pre-norm with RMSNorm
(T5LayerNorm: no mean, no bias), no biases anywhere, no 1/sqrt(head_dim) on the attention logits, relative
position buckets (bidirectional in the encoder, causal in the decoder's self-attention; none in
cross-attention) from one learned table per stack, a head_dim (d_kv) of its own, a final norm on each stack,
one embedding shared by encoder, decoder and (v1.0) the output projection. v1.0: a ReLU MLP and the tied head
read the decoder's output x d_model**-0.5; v1.1: GELU-gated (gated-gelu) and an untied head, unscaled.

What parity needs: torch.nn.Linear weights are [out, in]; transformers keeps each stack's bias table in its
first layer's self-attention (relative_attention_bias, [buckets, heads]) and shares it with the others.

The decoder starts from decoder_start_token_id (T5: the pad token, 0). The seq2seq objective and decoding
start the target at the tokenizer's [BOS], and T5's tokenizer has no BOS token: lm/data/hf_tokenizer.py
takes config.json's decoder_start_token_id as [BOS] for such a directory, so both start where T5 does.
"""

import numpy as np

from lm.convert.hf_common import heads_of, linear, out_of, read_config, read_weights, rms_norm

# feed_forward_proj -> (our mlp, tanh GELU?). transformers reads "gated-gelu" as gelu_new (tanh), for backward
# compatibility; a plain "gelu" is the exact (erf) form.
FEED_FORWARD = {
    "relu": ("relu", True),
    "gelu": ("gelu", False),
    "gelu_new": ("gelu", True),
    "gated-gelu": ("geglu", True),
    "gated-gelu_new": ("geglu", True),
    "gated-silu": ("swiglu", True),
}
# The options every T5 has (ModelConfig fields).
T5_FAMILY = dict(
    family="encoder_decoder",
    causal=False,  # as our encoder-decoders are resolved (the field is the decoder-only family's)
    position="relative",
    attention_scale=False,
    norm="rmsnorm",
    norm_position="pre",
    final_norm=True,
    use_bias=False,
    qkv_bias=False,
    share_embeddings=True,
    embedding_scale=False,
    embedding_norm=False,
    type_vocab_size=0,
    mlm_transform=False,
    head_bias=False,
)
PROJECTIONS = {"query": "q", "key": "k", "value": "v"}
MAX_LEN = 512  # T5's configs' n_positions: the length it was trained on (relative positions set no limit)


def read(directory: str) -> tuple[dict, dict]:
    """The model fields and our parameter tree, from a T5ForConditionalGeneration directory.

    Raises:
      ValueError: a missing or malformed file, or what we do not read (named): a feed_forward_proj other than
        those of FEED_FORWARD (e.g. gated-relu), a decoder-only or encoder-only T5 (is_encoder_decoder false,
        T5EncoderModel's files: no decoder tensors), tie_word_embeddings false without lm_head.weight.
    """
    hf, config_path = read_config(directory, "t5")
    projection = hf.get("feed_forward_proj", "relu")
    if projection not in FEED_FORWARD:
        raise ValueError(
            f"{config_path} has feed_forward_proj={projection!r}; we read T5's {', '.join(FEED_FORWARD)} "
            "(v1.0: relu, v1.1 and FLAN-T5: gated-gelu)."
        )
    if hf.get("is_encoder_decoder") is False or hf.get("is_decoder"):
        raise ValueError(
            f"{config_path} describes a decoder-only T5 stack (is_encoder_decoder false or is_decoder true); we read "
            "T5ForConditionalGeneration, the encoder-decoder."
        )
    mlp, approximate = FEED_FORWARD[projection]
    try:
        N, layers = hf["num_heads"], hf["num_layers"]
        fields = dict(
            T5_FAMILY,
            vocab_size=hf["vocab_size"],
            num_layers=hf.get("num_decoder_layers") or layers,
            num_encoder_layers=layers,
            num_heads=N,
            d_model=hf["d_model"],
            head_dim=hf["d_kv"],
            d_ff=hf["d_ff"],
            max_len=hf.get("n_positions") or MAX_LEN,
            relative_attention_num_buckets=hf.get("relative_attention_num_buckets", 32),
            relative_attention_max_distance=hf.get("relative_attention_max_distance", 128),
            mlp=mlp,
            gelu_approximate=approximate,
            norm_eps=hf.get("layer_norm_epsilon", 1e-6),
            # transformers 5's scale_decoder_outputs where it wrote one; else, as before, with the tied head
            scale_head_input=bool(hf.get("scale_decoder_outputs", hf.get("tie_word_embeddings", True) is not False)),
        )
    except KeyError as e:
        raise ValueError(
            f"{config_path} is not a T5 config (no {e}); it needs d_model, d_kv, d_ff, num_heads, num_layers and "
            "vocab_size."
        ) from e
    w = read_weights(directory)
    try:
        shared = w["shared.weight"] if "shared.weight" in w else w["encoder.embed_tokens.weight"]
        fields["tie_embeddings"] = _tied(hf, w, shared, config_path)
        params = {"embed": {"embedding": shared}}
        for stack, ours in (("encoder", "encoder_"), ("decoder", "")):
            params[f"{ours}relative_bias"] = w[f"{stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
            params[f"{ours}norm" if stack == "encoder" else "final_norm"] = rms_norm(w, f"{stack}.final_layer_norm")
            num = fields["num_encoder_layers"] if stack == "encoder" else fields["num_layers"]
            for i in range(num):
                params[f"{ours}block_{i}"] = _block(w, f"{stack}.block.{i}.layer.", N, mlp, cross=stack == "decoder")
        if not fields["tie_embeddings"]:
            params["head"] = {"kernel": w["lm_head.weight"].T}  # [D, V]
    except KeyError as e:
        raise ValueError(
            f"{directory} has no tensor {e}: not a T5ForConditionalGeneration checkpoint of this config (T5Model "
            "and T5EncoderModel files lack the head or the decoder)."
        ) from e
    return fields, params


def _tied(hf: dict, w: dict, shared: np.ndarray, config_path: str) -> bool:
    """Whether the head is the shared embedding: as transformers 5 decides, unless lm_head.weight is there and
    differs from it (v1.1); a config that says untied without an lm_head.weight is refused."""
    if "lm_head.weight" in w:
        return bool(np.array_equal(w["lm_head.weight"], shared))
    if hf.get("tie_word_embeddings") is False:
        raise ValueError(
            f"{config_path} has tie_word_embeddings=false (T5 v1.1's own head) but the weights have no "
            "lm_head.weight: save the T5ForConditionalGeneration model, not its T5Model trunk."
        )
    return True


def _block(w: dict, p: str, num_heads: int, mlp: str, cross: bool) -> dict:
    """One T5Block's params: layer.0 self-attention, (decoder) layer.1 cross-attention, then the MLP layer."""
    ff = p + ("2" if cross else "1")
    block = {
        "attention_norm": rms_norm(w, p + "0.layer_norm"),
        "attention": _attention(w, p + "0.SelfAttention.", num_heads),
        "mlp_norm": rms_norm(w, ff + ".layer_norm"),
    }
    dense = ff + ".DenseReluDense."
    if mlp in ("geglu", "swiglu"):  # act(wi_0 x) * wi_1 x: wi_0 is the gate
        block["mlp"] = {
            "gate": linear(w, dense + "wi_0"),
            "up": linear(w, dense + "wi_1"),
            "down": linear(w, dense + "wo"),
        }
    else:
        block["mlp"] = {"up": linear(w, dense + "wi"), "down": linear(w, dense + "wo")}
    if cross:
        block["cross_attention_norm"] = rms_norm(w, p + "1.layer_norm")
        block["cross_attention"] = _attention(w, p + "1.EncDecAttention.", num_heads)
    return block


def _attention(w: dict, p: str, num_heads: int) -> dict:
    out = {ours: heads_of(w, p + theirs, num_heads) for ours, theirs in PROJECTIONS.items()}
    return out | {"out": out_of(w, p + "o", num_heads)}
