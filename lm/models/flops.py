"""FLOPs counted from the architecture: what one row of a batch costs each family, matrix product by product.

The convention is Kaplan et al. (2020) / PaLM's (Chowdhery et al., 2022, appendix B) / nanoGPT's
estimate_mfu, made exact for every option of the blocks:
  - a multiply-add is 2 FLOPs, and only matrix products count (norms, activations, softmax, rotary
    positions, relative biases and embedding lookups are elementwise or gathers, and are not counted);
  - attention scores and their weighted sum count every key the einsum multiplies: all T of them for a
    causal or windowed mask too (the masked entries are computed, then hidden);
  - a training step costs 3 forward passes (the backward pass is two products per product); recomputation
    under model.remat is not counted: this is the model's work, which MFU divides by time.
For the decoder-only GPT this is 6N + 12 L D T per token (N without the position table). XLA's cost
analysis (printed beside it by --mode=bench) differs: it counts elementwise work and the optimizer, and
the body of a scan once (model.scan_layers, the GRU's time steps), whatever the number of iterations.
tests/models/test_flops.py checks these counts against the matrix products of each family's traced program.
"""

import dataclasses

from lm.models.config import ModelConfig

# Weight matrices of the MLP by activation: up (and gate) D x F, down F x D.
MLP_MATRICES = {"gelu": 2, "relu": 2, "swiglu": 3, "geglu": 3, "none": 0}


@dataclasses.dataclass(frozen=True)
class Flops:
    """Forward FLOPs of one row: products with weights, and attention's scores and weighted sums."""

    weights: float = 0.0
    attention: float = 0.0

    def __add__(self, other: "Flops") -> "Flops":
        return Flops(self.weights + other.weights, self.attention + other.attention)

    def __mul__(self, k: float) -> "Flops":
        return Flops(self.weights * k, self.attention * k)

    @property
    def total(self) -> float:
        return self.weights + self.attention


def attention(c: ModelConfig, queries: int, keys: int) -> Flops:
    """One attention layer: `queries` positions attending to `keys` (self-attention: the same positions;
    cross-attention: the source's). Query and output projections run per query, key and value ones per key."""
    q_width, kv_width = c.num_heads * c.head_dim, c.num_kv_heads * c.head_dim
    projections = 2 * c.d_model * (2 * q_width * queries + 2 * kv_width * keys)
    return Flops(weights=projections, attention=2 * 2 * q_width * queries * keys)


def mlp(c: ModelConfig, tokens: int) -> Flops:
    return Flops(weights=2 * MLP_MATRICES[c.mlp] * c.d_model * c.d_ff * tokens)


def gru(c: ModelConfig, tokens: int) -> Flops:
    """One GRU layer (flax's GRUCell): three gates, each an input and a hidden D x D product."""
    return Flops(weights=2 * 6 * c.d_model * c.d_model * tokens)


def logits(c: ModelConfig, tokens: int) -> Flops:
    """Token logits (BERT's transform first, with model.mlm_transform)."""
    transform = 2 * c.d_model * c.d_model * tokens if c.mlm_transform else 0
    return Flops(weights=transform + 2 * c.d_model * c.vocab_size * tokens)


def classifier(c: ModelConfig, rows: int, pooler: bool = True) -> Flops:
    """Labels of `rows` vectors, through BERT's pooler first (model.pooler_dense) unless `pooler` is False."""
    pooled = 2 * c.d_model * c.d_model * rows if c.pooler_dense and pooler else 0
    return Flops(weights=pooled + 2 * c.d_model * c.num_classes * rows)


# The output of each model method (lm/models: None = token logits), for a row of `tokens` tokens.
HEADS = {
    None: logits,
    "classify": lambda c, tokens: classifier(c, 1),  # one pooled vector per row
    "classify_packed": classifier,  # at every position (the objective reads each text's [CLS])
    "tag": lambda c, tokens: classifier(c, tokens, pooler=False),
}


def head(c: ModelConfig, method: str | None, tokens: int) -> Flops:
    return HEADS[method](c, tokens)


# The trunk of each family (lm/models/families.py names its own): forward FLOPs of one row, `target_len` (T)
# tokens through the (decoder) stack after `source_len` (S) through the encoder of an encoder-decoder.


def decoder_only(c: ModelConfig, target_len: int, source_len: int = 0) -> Flops:
    T = target_len
    return (attention(c, T, T) + mlp(c, T)) * c.num_layers


def encoder_decoder(c: ModelConfig, target_len: int, source_len: int) -> Flops:
    T, S = target_len, source_len
    encoder = (attention(c, S, S) + mlp(c, S)) * c.num_encoder_layers
    return encoder + (attention(c, T, T) + mlp(c, T) + attention(c, T, S)) * c.num_layers


def gru_encoder_decoder(c: ModelConfig, target_len: int, source_len: int) -> Flops:
    T, S = target_len, source_len
    decoder = gru(c, T) * c.num_layers
    if c.rnn_attention:  # Luong: scores and context over the source, then tanh(W_c [context; h])
        decoder += Flops(weights=2 * 2 * c.d_model * c.d_model * T, attention=2 * 2 * c.d_model * T * S)
    return gru(c, S) * c.num_encoder_layers + decoder
