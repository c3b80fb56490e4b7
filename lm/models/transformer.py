"""The Transformer family: decoder-only (causal) or encoder-only (bidirectional) language models with LM,
classification and tagging heads, and the KV cache for decoding.

tokens [B, T] -> token embedding (+ learned / sinusoidal positions, token types) -> dropout
              -> num_layers x Block (rotary / relative positions inside) -> final norm -> logits [B, T, V]
                                                                           -> pooled [B, D] -> classifier [B, C]
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from lm.models import stack
from lm.models.config import ModelConfig
from lm.models.layers import BlockInputs

HEAD_MODULES = ("pooler", "classifier")  # fine-tuning heads: initialised fresh, never taken from pretraining


class TransformerLM(nn.Module):
    """One Transformer family: decoder-only (causal=True) or encoder-only (causal=False), with heads.

    The same trunk serves every objective; the objective picks the method:
      __call__  token logits over the vocabulary (causal LM, masked LM)
      classify  one label per sequence, from a pooled vector
      tag       one label per token
      decode    causal LM over a KV cache, for generation
    """

    config: ModelConfig

    def setup(self):
        c = self.config
        stack.setup_embedding(self)
        if c.position == "relative":  # one table for all layers (transformers keeps T5's in the first layer)
            self.relative_bias = stack.relative_bias_table(self, "relative_bias")
        self.blocks = stack.stack(c, c.num_layers, "block", depth=c.num_layers)
        if c.final_norm:  # post-norm blocks end normalised already (model.final_norm: None)
            self.final_norm = stack.norm(c, "final_norm")
        stack.setup_head(self)
        init, dtype = nn.initializers.normal(c.init_std), jnp.dtype(c.dtype)
        if c.num_classes:
            if c.pooler_dense:  # BERT's pooler: dense + tanh on the pooled vector
                self.pooler = nn.Dense(c.d_model, kernel_init=init, dtype=dtype)
            self.classifier_dropout = nn.Dropout(c.dropout)
            self.classifier = nn.Dense(c.num_classes, kernel_init=init, dtype=dtype)

    def encode(self, tokens, positions=None, segment_ids=None, valid=None, token_types=None, deterministic=True):
        """Hidden states of the last layer.

        Args:
          tokens: [B, T] int token ids.
          positions: [B, T] positions (default 0..T-1; packed rows restart them per segment).
          segment_ids: [B, T] ids of packed documents; tokens attend only within their segment.
          valid: [B, T] bool, False at padding.
          token_types: [B, T] int token-type (sentence A / B) ids, with type_vocab_size > 0.
          deterministic: False enables dropout (needs a 'dropout' rng).
        Returns:
          [B, T, D].
        """
        B, T = tokens.shape
        if positions is None:
            positions = jnp.broadcast_to(jnp.arange(T), (B, T))
        mask = stack.self_attention_mask(self.config, positions, self.config.causal, segment_ids, valid)
        x = stack.embed(self, tokens, positions, deterministic, token_types)
        bias = stack.relative_bias(self, "relative_bias", positions, positions, bidirectional=not self.config.causal)
        inputs = BlockInputs(mask, positions, bias=bias, deterministic=deterministic)
        x, _ = stack.run(self.config, self.blocks, x, inputs)
        return self.final_norm(x) if self.config.final_norm else x

    def __call__(self, tokens, positions=None, segment_ids=None, valid=None, token_types=None, deterministic=True):
        """[B, T, V] float32 logits over the vocabulary at every position (arguments as `encode`)."""
        return stack.logits(self, self.encode(tokens, positions, segment_ids, valid, token_types, deterministic))

    def classify(self, tokens, positions=None, segment_ids=None, valid=None, token_types=None, deterministic=True):
        """[B, C] float32 logits of one label per sequence.

        Pooling: "first" token ([CLS]), "last" valid token (what a causal model has read everything
        by), or "mean" over valid tokens.
        """
        h = self.encode(tokens, positions, segment_ids, valid, token_types, deterministic)  # [B, T, D]
        if valid is None:
            valid = jnp.ones(tokens.shape, bool)
        if self.config.pooling == "first":
            pooled = h[:, 0]
        elif self.config.pooling == "last":
            last = jnp.maximum(valid.sum(axis=1) - 1, 0)  # [B]
            pooled = jnp.take_along_axis(h, last[:, None, None], axis=1)[:, 0]
        else:
            w = valid[..., None].astype(h.dtype)
            pooled = (h * w).sum(axis=1) / jnp.maximum(w.sum(axis=1), 1.0)  # [B, D]
        if self.config.pooler_dense:
            pooled = jnp.tanh(self.pooler(pooled))
        pooled = self.classifier_dropout(pooled, deterministic)
        return self.classifier(pooled).astype(jnp.float32)

    def classify_packed(
        self, tokens, positions=None, segment_ids=None, valid=None, token_types=None, deterministic=True
    ):
        """[B, T, C] float32: `classify` with "first" pooling at every position of packed rows.

        Several texts share a row (segment_ids keep their attention apart, positions restart), each
        starting with its [CLS]; the objective reads the logits at those starts.
        """
        h = self.encode(tokens, positions, segment_ids, valid, token_types, deterministic)  # [B, T, D]
        if self.config.pooler_dense:
            h = jnp.tanh(self.pooler(h))
        return self.classifier(self.classifier_dropout(h, deterministic)).astype(jnp.float32)

    def tag(self, tokens, positions=None, segment_ids=None, valid=None, token_types=None, deterministic=True):
        """[B, T, C] float32 logits of one label per token."""
        h = self.encode(tokens, positions, segment_ids, valid, token_types, deterministic)
        return self.classifier(self.classifier_dropout(h, deterministic)).astype(jnp.float32)

    def decode(self, tokens, cache, cache_index, positions=None, key_valid=None):
        """Runs new tokens against the KV cache (prefill when T > 1, one step when T == 1).

        Args:
          tokens: [B, T] the tokens for cache slots cache_index .. cache_index + T - 1.
          cache: from `init_cache`, holding keys and values of the slots < cache_index.
          cache_index: int scalar, the slot where the new keys and values are written.
          positions: [B, T] the tokens' positions (default: their slots). Left-padded prompts of
            different lengths start each row's positions at its first real token.
          key_valid: [B, S_max] bool, False at the cache slots of padding (default: all valid).
        Returns:
          ([B, T, V] float32 logits, updated cache).
        """
        query_slots, key_slots, mask = stack.decode_mask(self.config, cache, cache_index, tokens.shape, key_valid)
        if positions is None:
            positions = query_slots
        x = stack.embed(self, tokens, positions, deterministic=True)
        bias = stack.relative_bias(self, "relative_bias", query_slots, key_slots, False)  # slots: gaps as positions'
        inputs = BlockInputs(mask=mask, positions=positions, cache_index=cache_index, bias=bias)
        x, new_cache = stack.run(self.config, self.blocks, x, inputs, cache)
        if self.config.final_norm:
            x = self.final_norm(x)
        return stack.logits(self, x), new_cache


Model = TransformerLM  # what lm/models/families.py builds


def init_cache(config: ModelConfig, batch_size: int, max_len: int, source_len: int = 0):
    """Zeroed keys and values for every layer: a list of {k, v} of [B, S_max, K, H] each (K: the key / value
    heads), or with scan_layers one {k, v} of [L, B, S_max, K, H] (source_len: the families' signature, unused)."""
    shape = (batch_size, max_len, config.num_kv_heads, config.head_dim)
    if config.scan_layers:
        zeros = jnp.zeros((config.num_layers, *shape), jnp.dtype(config.dtype))
        return {"k": zeros, "v": zeros}
    zeros = jnp.zeros(shape, jnp.dtype(config.dtype))
    return [{"k": zeros, "v": zeros} for _ in range(config.num_layers)]


def init_params(model: TransformerLM, rng: jax.Array, seq_len: int = 8, method: str | None = None):
    """Parameters from `rng` for the trunk and the heads that `method` uses (shapes do not depend on seq_len)."""
    tokens = jnp.zeros((1, min(seq_len, model.config.max_len)), jnp.int32)
    return model.init(rng, tokens, method=method)["params"]
