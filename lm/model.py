"""The Transformer language model (decoder-only, GPT-2 layout) and its KV cache.

tokens [B, T] -> token embedding (+ learned / sinusoidal positions) -> dropout
              -> num_layers x Block -> final norm -> logits [B, T, V] (tied or separate head)
"""

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from lm import attention
from lm.layers import Block, Norm
from lm.positions import sinusoidal


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The resolved `config.model` (see lm/config.py for what each field means)."""

    vocab_size: int
    num_layers: int
    num_heads: int
    d_model: int
    d_ff: int
    max_len: int
    position: str = "learned"
    rope_base: float = 10000.0
    mlp: str = "gelu"
    gelu_approximate: bool = True
    norm: str = "layernorm"
    norm_eps: float = 1e-5
    use_bias: bool = True
    tie_embeddings: bool = True
    dropout: float = 0.0
    attention_dropout: float = 0.0
    embedding_dropout: float = 0.0
    init_std: float = 0.02
    scale_residual_init: bool = True
    dtype: str = "float32"

    @classmethod
    def from_config(cls, model: ml_collections.ConfigDict) -> "ModelConfig":
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in model.to_dict().items() if k in fields})

    @property
    def head_dim(self) -> int:
        return self.d_model // self.num_heads


class TransformerLM(nn.Module):
    """Decoder-only language model.

    Call with tokens [B, T] for training / scoring; `decode` runs the same layers over a KV cache.
    """

    config: ModelConfig

    def setup(self):
        c = self.config
        dtype = jnp.dtype(c.dtype)
        init = nn.initializers.normal(c.init_std)
        # GPT-2 scales the residual output projections by 1/sqrt(2 * layers): each layer adds two.
        out_std = c.init_std / math.sqrt(2 * c.num_layers) if c.scale_residual_init else c.init_std
        self.embed = nn.Embed(c.vocab_size, c.d_model, embedding_init=init, dtype=dtype, name="embed")
        if c.position == "learned":
            self.position_embed = nn.Embed(c.max_len, c.d_model, embedding_init=init, dtype=dtype)
        self.embed_dropout = nn.Dropout(c.embedding_dropout)
        self.blocks = [
            Block(
                c.num_heads,
                c.d_ff,
                c.mlp,
                c.gelu_approximate,
                c.norm,
                c.norm_eps,
                c.use_bias,
                c.dropout,
                c.attention_dropout,
                c.position == "rotary",
                c.rope_base,
                c.init_std,
                out_std,
                dtype,
                name=f"block_{i}",
            )
            for i in range(c.num_layers)
        ]
        self.final_norm = Norm(c.norm, c.norm_eps, c.use_bias, dtype)
        if not c.tie_embeddings:
            self.head = nn.Dense(c.vocab_size, use_bias=False, kernel_init=init, dtype=dtype)

    def __call__(self, tokens, positions=None, segment_ids=None, valid=None, deterministic=True):
        """Logits for every position.

        Args:
          tokens: [B, T] int token ids.
          positions: [B, T] positions (default 0..T-1; packed rows restart them per segment).
          segment_ids: [B, T] ids of packed documents; tokens attend only within their segment.
          valid: [B, T] bool, False at padding.
          deterministic: False enables dropout (needs a 'dropout' rng).
        Returns:
          [B, T, V] float32 logits.
        """
        B, T = tokens.shape
        if positions is None:
            positions = jnp.broadcast_to(jnp.arange(T), (B, T))
        mask = attention.causal_mask(positions, positions)
        if segment_ids is not None:
            mask = mask & attention.segment_mask(segment_ids, segment_ids)
        if valid is not None:
            mask = mask & attention.padding_mask(valid, valid)
        x = self._embed(tokens, positions, deterministic)
        for block in self.blocks:
            x, _ = block(x, mask, positions, deterministic=deterministic)
        return self._logits(x)

    def decode(self, tokens, cache, cache_index):
        """Runs new tokens against the KV cache (prefill when T > 1, one step when T == 1).

        Args:
          tokens: [B, T] the tokens at positions cache_index .. cache_index + T - 1.
          cache: from `init_cache`, holding keys and values of positions < cache_index.
          cache_index: int scalar, where the new keys and values are written.
        Returns:
          ([B, T, V] float32 logits, updated cache).
        """
        B, T = tokens.shape
        S = cache[0]["k"].shape[1]
        query_positions = cache_index + jnp.broadcast_to(jnp.arange(T), (B, T))
        key_positions = jnp.broadcast_to(jnp.arange(S), (B, S))
        mask = attention.causal_mask(query_positions, key_positions)  # hides the unwritten slots too
        x = self._embed(tokens, query_positions, deterministic=True)
        new_cache = []
        for block, layer_cache in zip(self.blocks, cache, strict=True):
            x, layer_cache = block(x, mask, query_positions, cache=layer_cache, cache_index=cache_index)
            new_cache.append(layer_cache)
        return self._logits(x), new_cache

    def _embed(self, tokens, positions, deterministic):
        x = self.embed(tokens)  # [B, T, D]
        if self.config.position == "learned":
            x = x + self.position_embed(positions)
        elif self.config.position == "sinusoidal":
            x = x + sinusoidal(positions, self.config.d_model).astype(x.dtype)
        return self.embed_dropout(x, deterministic)

    def _logits(self, x):
        x = self.final_norm(x)
        logits = self.embed.attend(x) if self.config.tie_embeddings else self.head(x)  # [B, T, V]
        return logits.astype(jnp.float32)


def init_cache(config: ModelConfig, batch_size: int, max_len: int) -> list[dict[str, jax.Array]]:
    """Zeroed keys and values for every layer: [B, S_max, N, H] each."""
    shape = (batch_size, max_len, config.num_heads, config.head_dim)
    zeros = jnp.zeros(shape, jnp.dtype(config.dtype))
    return [{"k": zeros, "v": zeros} for _ in range(config.num_layers)]


def init_params(model: TransformerLM, rng: jax.Array, seq_len: int = 8):
    """Parameters from `rng` (shapes do not depend on seq_len)."""
    tokens = jnp.zeros((1, min(seq_len, model.config.max_len)), jnp.int32)
    return model.init(rng, tokens)["params"]


def count_params(params) -> int:
    return sum(x.size for x in jax.tree.leaves(params))
