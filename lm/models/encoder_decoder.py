"""The encoder-decoder Transformer (Vaswani et al., 2017): translation, summarisation, T5-style denoising.

source [B, S] -> embedding (+ positions) -> num_encoder_layers x Block (bidirectional, source padding hidden)
              -> (final norm) -> encoded [B, S, D]
tokens [B, T] -> embedding (+ positions) -> num_layers x Block (causal self-attention, then cross-attention
              to `encoded` with the source's padding hidden, then the MLP) -> (final norm) -> logits [B, T, V]

With model.position=relative (T5) each stack has one table of relative position biases, the encoder's with
bidirectional buckets, the decoder's with causal ones; cross-attention has no position bias. T5 as a whole
is a set of options of these blocks (lm/convert/t5.py).

Built from the decoder-only family's blocks and options (lm/models/layers.py): positions, MLP, norm and
its position, dropout, dtype, remat, scan. Source and target share one embedding table unless
model.share_embeddings=False; the output projection is the target embedding transposed unless
model.tie_embeddings=False. With post-norm blocks, ReLU, no biases off and model.final_norm=True it is
torch.nn.Transformer (tests/models/test_encoder_decoder.py).

Decoding: `decode` runs new target tokens against a cache whose self-attention keys / values grow per token;
the first call (prefill) also gets `encoded` and writes each layer's cross-attention keys / values into the
cache, which every later step reads.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from lm.models import attention, stack
from lm.models.config import ModelConfig
from lm.models.layers import BlockInputs


class EncoderDecoder(nn.Module):
    """The encoder-decoder family; `__call__` gives teacher-forced logits, `decode` runs over a KV cache."""

    config: ModelConfig

    def setup(self):
        c = self.config
        stack.setup_embedding(self)
        stack.setup_embedding(self, source=True)
        if c.position == "relative":  # one table per stack (transformers keeps T5's in each stack's first layer)
            self.encoder_relative_bias = stack.relative_bias_table(self, "encoder_relative_bias")
            self.relative_bias = stack.relative_bias_table(self, "relative_bias")
        depth = c.num_layers + c.num_encoder_layers
        self.encoder_blocks = stack.stack(c, c.num_encoder_layers, "encoder_block", depth)
        self.blocks = stack.stack(c, c.num_layers, "block", depth, cross=True)
        if c.final_norm:
            self.encoder_norm = stack.norm(c, "encoder_norm")
            self.final_norm = stack.norm(c, "final_norm")
        stack.setup_head(self)

    def encode(self, source, source_valid=None, deterministic=True):
        """The encoder's output [B, S, D] for source tokens [B, S] (source_valid: [B, S] bool, False at padding)."""
        B, S = source.shape
        if source_valid is None:
            source_valid = jnp.ones((B, S), bool)
        positions = jnp.broadcast_to(jnp.arange(S), (B, S))
        x = stack.embed(self, source, positions, deterministic, source=True)  # [B, S, D]
        inputs = BlockInputs(
            mask=attention.padding_mask(source_valid, source_valid),
            positions=positions,
            bias=stack.relative_bias(self, "encoder_relative_bias", positions, positions, bidirectional=True),
            deterministic=deterministic,
        )
        x, _ = stack.run(self.config, self.encoder_blocks, x, inputs)
        return self.encoder_norm(x) if self.config.final_norm else x

    def __call__(
        self,
        tokens,
        positions=None,
        segment_ids=None,
        valid=None,
        token_types=None,
        deterministic=True,
        *,
        source,
        source_valid=None,
    ):
        """[B, T, V] float32 logits of the target tokens after `tokens` (teacher forcing).

        Args:
          tokens: [B, T] the decoder's input: the target shifted right after BOS.
          valid: [B, T] bool, False at the target's padding.
          source: [B, S] source tokens; source_valid: [B, S] bool, False at their padding.
          positions, segment_ids, token_types: as the decoder-only family's (unused but positions).
        """
        del segment_ids, token_types
        if source_valid is None:
            source_valid = jnp.ones(source.shape, bool)
        encoded = self.encode(source, source_valid, deterministic)
        B, T = tokens.shape
        if positions is None:
            positions = jnp.broadcast_to(jnp.arange(T), (B, T))
        mask = stack.self_attention_mask(self.config, positions, causal=True, valid=valid)
        x = stack.embed(self, tokens, positions, deterministic)
        inputs = BlockInputs(
            mask=mask,
            positions=positions,
            encoded=encoded,
            encoder_valid=source_valid,
            bias=stack.relative_bias(self, "relative_bias", positions, positions, bidirectional=False),
            deterministic=deterministic,
        )
        x, _ = stack.run(self.config, self.blocks, x, inputs)
        return stack.logits(self, self.final_norm(x) if self.config.final_norm else x)

    def decode(self, tokens, cache, cache_index, positions=None, key_valid=None, encoded=None, encoder_valid=None):
        """New target tokens against the cache (as TransformerLM.decode). The first call (prefill) passes
        `encoded` / `encoder_valid`, whose cross-attention keys and values it writes into the cache."""
        query_slots, key_slots, mask = stack.decode_mask(self.config, cache, cache_index, tokens.shape, key_valid)
        if positions is None:
            positions = query_slots
        x = stack.embed(self, tokens, positions, deterministic=True)
        inputs = BlockInputs(
            mask=mask,
            positions=positions,
            cache_index=cache_index,
            encoded=encoded,
            encoder_valid=encoder_valid,
            bias=stack.relative_bias(self, "relative_bias", query_slots, key_slots, False),  # gaps as positions'
        )
        x, cache = stack.run(self.config, self.blocks, x, inputs, cache)
        return stack.logits(self, self.final_norm(x) if self.config.final_norm else x), cache


Model = EncoderDecoder  # what lm/models/families.py builds


def init_params(model: EncoderDecoder, rng: jax.Array, seq_len: int = 8, method: str | None = None):
    """Parameters from `rng` (a source and a target of seq_len tokens; shapes do not depend on it)."""
    tokens = jnp.zeros((1, min(seq_len, model.config.max_len)), jnp.int32)
    return model.init(rng, tokens, source=tokens)["params"]


def init_cache(config: ModelConfig, batch_size: int, max_len: int, source_len: int):
    """Zeroed decoder caches: per layer {k, v: [B, S_max, N, H]; cross_k, cross_v: [B, S_source, N, H];
    cross_valid: [B, S_source]}, or with scan_layers one such dict with a leading layer axis."""
    dtype = jnp.dtype(config.dtype)
    shape = (batch_size, max_len, config.num_kv_heads, config.head_dim)
    cross = (batch_size, source_len, config.num_kv_heads, config.head_dim)
    layer = {
        "k": jnp.zeros(shape, dtype),
        "v": jnp.zeros(shape, dtype),
        "cross_k": jnp.zeros(cross, dtype),
        "cross_v": jnp.zeros(cross, dtype),
        "cross_valid": jnp.zeros((batch_size, source_len), bool),
    }
    if config.scan_layers:
        return jax.tree.map(lambda x: jnp.broadcast_to(x, (config.num_layers, *x.shape)), layer)
    return [dict(layer) for _ in range(config.num_layers)]
