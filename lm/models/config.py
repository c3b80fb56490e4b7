"""The model's fields, written once: `ModelConfig`, its defaults and what each field means, and the size table.

Everything else derives from this dataclass: `config.model` in lm/config.py (its fields, defaults and
types), what a pretrained model brings (`ARCHITECTURE`), what a resumed run may change (`HOW`), and the
converters' field sets (lm/convert/). A field added here reaches all of them, and a config field that is
not here is refused rather than dropped.

Each field has a role:
  architecture  fixes the parameters' shapes or what the model computes; `init_from` brings these
  how           changes how the step computes, not what: a resumed run may change it (to fit memory, say)
  (the rest)    choices a run makes on top of an architecture: dropout, the head, the compute dtype, ...
"""

import dataclasses
import types
import typing

import ml_collections
from ml_collections import config_dict

# name: (num_layers, num_heads, d_model, d_ff[, num_kv_heads]). GPT-2 shapes from Radford et al. (2019), Table 2.
# A size is a shape only: experiments/families.py adds the Pythia and Llama families' options.
SIZES = {
    "nano": (2, 2, 32, 128),
    "tiny": (2, 4, 64, 256),
    "mini": (4, 4, 128, 512),
    "small": (12, 12, 768, 3072),  # GPT-2 small, 124M with vocab 50257 and context 1024
    "medium": (24, 16, 1024, 4096),  # GPT-2 medium, 355M
    "large": (36, 20, 1280, 5120),  # GPT-2 large, 774M
    "xl": (48, 25, 1600, 6400),  # GPT-2 XL, 1.5B
    "bert-base": (12, 12, 768, 3072),  # Devlin et al. (2019): 110M with vocab 30522, context 512
    "bert-large": (24, 16, 1024, 4096),  # 340M
    # Vaswani et al. (2017), Table 3: 6 encoder + 6 decoder layers (model.family=encoder_decoder)
    "transformer-base": (6, 8, 512, 2048),  # 65M with a shared 37k vocabulary
    "transformer-big": (6, 16, 1024, 4096),  # 213M
    # Pythia (Biderman et al., 2023, Table 1), GPT-NeoX blocks; parameters with its 50304-token vocabulary
    "pythia-70m": (6, 8, 512, 2048),
    "pythia-160m": (12, 12, 768, 3072),
    "pythia-410m": (24, 16, 1024, 4096),
    "pythia-1b": (16, 8, 2048, 8192),
    # Llama-style shapes with grouped-query attention, from the models' config.json files
    "llama-mini": (4, 8, 256, 704, 2),  # a CPU-sized one: 2 key / value heads for 8 query heads
    "smollm-135m": (30, 9, 576, 1536, 3),  # HuggingFaceTB/SmolLM-135M (vocab 49152, tied)
    "smollm-360m": (32, 15, 960, 2560, 5),  # HuggingFaceTB/SmolLM-360M
    "qwen2-0.5b": (24, 14, 896, 4864, 2),  # Qwen/Qwen2-0.5B (vocab 151936, tied, QKV biases)
    "tinyllama-1.1b": (22, 32, 2048, 5632, 4),  # TinyLlama/TinyLlama-1.1B (vocab 32000)
}
SHAPE = ("num_layers", "num_heads", "d_model", "d_ff")  # the columns of SIZES (then num_kv_heads, if given)


def _architecture(default):
    return dataclasses.field(default=default, metadata={"role": "architecture"})


def _how(default):
    return dataclasses.field(default=default, metadata={"role": "how"})


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """The model: every field of `config.model`, resolved (lm/config.py fills the None ones)."""

    size: str = "tiny"  # a row of SIZES, or "custom"; the four shape fields below override it when set
    # transformer: decoder-only or encoder-only (`causal` decides) | encoder_decoder: Vaswani et al. (2017) |
    # gru: the GRU encoder-decoder (lm/models/gru.py); default: what the objective trains (seq2seq: encoder_decoder)
    family: str | None = _architecture(None)
    num_layers: int | None = _architecture(None)  # of the decoder (and of the encoder, unless set below)
    num_encoder_layers: int | None = _architecture(None)  # encoder_decoder; default num_layers
    num_heads: int | None = _architecture(None)
    # grouped-query attention (Ainslie et al., 2023): heads of keys and values, each shared by
    # num_heads / num_kv_heads query heads (1: multi-query); default num_heads (multi-head attention)
    num_kv_heads: int | None = _architecture(None)
    d_model: int | None = _architecture(None)
    head_dim: int | None = _architecture(None)  # of each attention head; default d_model // num_heads (T5: d_kv)
    # attention logits / sqrt(head_dim) (Vaswani et al., 2017); T5 has none, the factor being in its init
    attention_scale: bool = _architecture(True)
    d_ff: int | None = _architecture(None)
    vocab_size: int | None = _architecture(None)  # default: the tokenizer's vocabulary
    max_len: int | None = _architecture(None)  # position table size; default data.seq_len
    causal: bool | None = _architecture(None)  # causal attention mask; default: what the objective needs (True)
    position: str = _architecture("learned")  # learned | sinusoidal | rotary | relative (T5's bucketed biases)
    rope_base: float = _architecture(10000.0)  # rotary: the wavelength base (Llama's rope_theta)
    rotary_fraction: float = _architecture(1.0)  # rotary: the share of each head's dims rotated (Pythia: 0.25)
    # rotary scaling (lm/models/positions.py, Rope): linear (every frequency / factor; 1: none) | llama3 (Llama 3.1's
    # per-frequency rule, with the low / high frequency factors and the pretraining context below)
    rope_scaling: str = _architecture("linear")
    rope_scaling_factor: float = _architecture(1.0)
    rope_low_freq_factor: float = _architecture(1.0)
    rope_high_freq_factor: float = _architecture(4.0)
    rope_original_max_len: int = _architecture(8192)
    # a key more than this many positions before the query is hidden (Mistral; 0: no window)
    sliding_window: int = _architecture(0)
    # relative (Raffel et al., 2020): a learned bias per (distance bucket, head) on the self-attention logits, one
    # table per stack. Distances below half the buckets get one each, longer ones share log-spaced buckets up to
    # max_distance (and beyond: the last); the encoder's buckets tell keys before from after the query.
    relative_attention_num_buckets: int = _architecture(32)
    relative_attention_max_distance: int = _architecture(128)
    # gelu | relu | swiglu | geglu (GELU-gated, T5 v1.1's gated-gelu; Shazeer, 2020) | none (attention-only blocks)
    mlp: str = _architecture("gelu")
    gelu_approximate: bool = _architecture(True)  # tanh GELU as GPT-2; False is the exact erf form
    norm: str = _architecture("layernorm")  # layernorm | rmsnorm | none (no normalisation anywhere)
    norm_eps: float = _architecture(1e-5)
    norm_position: str = _architecture("pre")  # pre (GPT-2: x + f(norm(x))) | post (BERT: norm(x + f(x)))
    embedding_norm: bool = _architecture(False)  # a norm on the summed embeddings (BERT)
    # token embeddings x sqrt(d_model) before positions are added (Vaswani et al., 2017: against unit-scale
    # sinusoids); the tied output projection reads the table unscaled
    embedding_scale: bool = _architecture(False)
    type_vocab_size: int = _architecture(0)  # token-type (segment A / B) embeddings; BERT: 2
    use_bias: bool = _architecture(True)  # biases in dense layers and LayerNorm
    qkv_bias: bool | None = _architecture(None)  # biases on the query / key / value projections; default use_bias
    # x + attn(norm1(x)) + mlp(norm2(x)) in one step (GPT-J, GPT-NeoX / Pythia); pre-norm blocks only
    parallel_residual: bool = _architecture(False)
    tie_embeddings: bool = _architecture(True)  # output projection = input embedding transposed
    # the last hidden states x d_model**-0.5 before the output projection (T5 v1.0, whose head is the tied
    # embedding, after Mesh TensorFlow; transformers' scale_decoder_outputs)
    scale_head_input: bool = _architecture(False)
    share_embeddings: bool = _architecture(True)  # encoder_decoder: source and target share one embedding
    final_norm: bool | None = _architecture(None)  # a norm after the last block; default: with pre-norm blocks
    rnn_attention: bool = _architecture(True)  # gru: Luong's dot-product attention over the encoder's states
    mlm_transform: bool = _architecture(False)  # BERT's dense + activation + norm before the output projection
    head_bias: bool = _architecture(False)  # a bias on the output projection (BERT's MLM decoder has one)
    pooling: str | None = None  # first ([CLS]) | last (token) | mean; default: last if causal, else first
    pooler_dense: bool = True  # classification: BERT's dense + tanh on the pooled vector
    num_classes: int = 0  # classification head size; fine-tuning sets it from the labels
    teacher_forcing_ratio: float = 1.0  # gru: < 1 feeds the decoder its own prediction at that share of steps
    dropout: float = 0.0  # on residual branches
    attention_dropout: float = 0.0  # on attention probabilities
    embedding_dropout: float = 0.0  # on token + position embeddings
    init_std: float = 0.02  # N(0, std) for dense and embedding weights
    scale_residual_init: bool = True  # residual output projections get std / sqrt(2 * layers)
    dtype: str = "float32"  # compute dtype; parameters stay float32
    # One block scanned over stacked layer parameters (lax.scan): compile time stops growing with depth.
    # Checkpoints hold "blocks" with a leading layer axis instead of block_0, block_1, ...
    scan_layers: bool = False
    remat: str = _how("none")  # none | full | dots: recompute block activations in the backward pass (less memory)
    # einsum: lm/models/attention.py (the fastest here on CPU for training, and the only one with attention
    # dropout); xla | cudnn: jax.nn.dot_product_attention, cudnn being its fused flash kernel (GPU, bfloat16).
    attention: str = _how("einsum")

    def __post_init__(self):
        # Built directly (not from a resolved config.model): a decoder, pooled as a decoder is.
        for name, value in derived_defaults(dataclasses.asdict(self)).items():
            object.__setattr__(self, name, value)

    @classmethod
    def from_config(cls, model: ml_collections.ConfigDict) -> "ModelConfig":
        """The resolved `config.model` as a ModelConfig.

        Raises:
          ValueError: a field ModelConfig does not have (nothing is dropped), or shape fields not yet
            filled by lm/config.py's `resolve`.
        """
        values = model.to_dict()
        unknown = sorted(set(values) - set(field_names()))
        if unknown:
            raise ValueError(f"config.model has fields the model does not know: {unknown}. Remove them.")
        missing = [name for name in (*SHAPE, "vocab_size", "max_len", "causal") if values.get(name) is None]
        if missing:
            raise ValueError(f"config.model.{missing[0]} is unset: resolve the config (lm/config.py) first.")
        return cls(**values)


def rotary_dims(head_dim: int, fraction: float) -> int:
    """How many of a head's dims rotary positions turn: int(fraction * head_dim), as GPT-NeoX counts them."""
    return int(head_dim * fraction)


def default_pooling(causal: bool) -> str:
    """A causal model has read the whole text only at its last token; an encoder's [CLS] sees all of it."""
    return "last" if causal else "first"


def derived_defaults(fields: dict) -> dict:
    """The values of the unset (None) fields that follow from the others: what `resolve` fills besides the
    shape, the vocabulary and the context (a decoder unless the objective says otherwise)."""
    out = {}
    if fields.get("family") is None:
        out["family"] = "transformer"
    causal = fields.get("causal")
    if causal is None:
        causal = out["causal"] = True
    if fields.get("pooling") is None:
        out["pooling"] = default_pooling(causal)
    if fields.get("final_norm") is None:  # post-norm blocks end normalised already
        out["final_norm"] = fields.get("norm_position", "pre") == "pre"
    if fields.get("num_kv_heads") is None and fields.get("num_heads") is not None:
        out["num_kv_heads"] = fields["num_heads"]
    if fields.get("head_dim") is None and fields.get("d_model") is not None and fields.get("num_heads"):
        out["head_dim"] = fields["d_model"] // fields["num_heads"]
    if fields.get("qkv_bias") is None:
        out["qkv_bias"] = fields.get("use_bias", True)
    if fields.get("num_encoder_layers") is None and fields.get("num_layers") is not None:
        out["num_encoder_layers"] = fields["num_layers"]
    return out


def complete(saved: dict) -> dict:
    """A model section saved by an earlier version (a workdir's config.json) with the fields added since at
    the values that reproduce that version's model."""
    fields = {f.name: f.default for f in dataclasses.fields(ModelConfig)} | saved
    return fields | derived_defaults(fields)


def field_names(role: str | None = None) -> tuple[str, ...]:
    """The fields of ModelConfig, in order; with `role`, only those of that role."""
    return tuple(f.name for f in dataclasses.fields(ModelConfig) if role is None or f.metadata.get("role") == role)


ARCHITECTURE = field_names("architecture")  # what a pretrained model (init_from) fixes
HOW = field_names("how")  # what a resumed run may change


def defaults() -> ml_collections.ConfigDict:
    """`config.model` with ModelConfig's defaults; a None default is a typed placeholder (an override
    must then have the field's type)."""
    c = ml_collections.ConfigDict()
    for field in dataclasses.fields(ModelConfig):
        if field.default is None:
            (kind,) = [t for t in typing.get_args(field.type) if t is not types.NoneType]
            c[field.name] = config_dict.placeholder(kind)
        else:
            c[field.name] = field.default
    return c
