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

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from lm.models import attention
from lm.models.config import ModelConfig
from lm.models.layers import Block, BlockInputs, Norm, merge_batch_axes
from lm.models.positions import sinusoidal
from lm.models.transformer import REMAT_POLICIES, block_options, relative_bias, relative_bias_table


def _stack(config: ModelConfig, dtype, out_std: float, num_layers: int, name: str, cross: bool):
    """num_layers blocks, per layer (`{name}_{i}`) or scanned (`{name}s`), rematerialised as configured."""
    c = config
    block = Block
    if c.remat != "none":
        block = nn.remat(Block, policy=REMAT_POLICIES[c.remat])
    kwargs = dict(block_options(c, out_std, dtype), cross_attention=cross)
    if c.scan_layers:
        scanned = nn.scan(
            block,
            variable_axes={"params": 0},
            split_rngs={"params": True, "dropout": True},
            in_axes=(nn.broadcast, 0),
            length=num_layers,
        )
        return scanned(**kwargs, name=f"{name}s")
    return [block(**kwargs, name=f"{name}_{i}") for i in range(num_layers)]


class EncoderDecoder(nn.Module):
    """The encoder-decoder family; `__call__` gives teacher-forced logits, `decode` runs over a KV cache."""

    config: ModelConfig

    def setup(self):
        c = self.config
        dtype = jnp.dtype(c.dtype)
        init = nn.initializers.normal(c.init_std)
        layers = c.num_layers + c.num_encoder_layers  # every layer adds to the residual stream twice or thrice
        out_std = c.init_std / math.sqrt(2 * layers) if c.scale_residual_init else c.init_std
        norm = lambda name: Norm(kind=c.norm, eps=c.norm_eps, use_bias=c.use_bias, dtype=dtype, name=name)  # noqa: E731
        self.embed = nn.Embed(c.vocab_size, c.d_model, embedding_init=init, dtype=dtype, name="embed")
        if not c.share_embeddings:
            self.source_embed = nn.Embed(c.vocab_size, c.d_model, embedding_init=init, dtype=dtype)
        if c.position == "learned":
            self.position_embed = nn.Embed(c.max_len, c.d_model, embedding_init=init, dtype=dtype)
            self.source_position_embed = nn.Embed(c.max_len, c.d_model, embedding_init=init, dtype=dtype)
        if c.position == "relative":  # one table per stack (transformers keeps T5's in each stack's first layer)
            self.encoder_relative_bias = relative_bias_table(self, c, "encoder_relative_bias")
            self.relative_bias = relative_bias_table(self, c, "relative_bias")
        if c.embedding_norm:
            self.embed_norm = norm("embed_norm")
            self.source_embed_norm = norm("source_embed_norm")
        self.embed_dropout = nn.Dropout(c.embedding_dropout)
        self.encoder_blocks = _stack(c, dtype, out_std, c.num_encoder_layers, "encoder_block", cross=False)
        self.blocks = _stack(c, dtype, out_std, c.num_layers, "block", cross=True)
        if c.final_norm:
            self.encoder_norm = norm("encoder_norm")
            self.final_norm = norm("final_norm")
        if not c.tie_embeddings:
            self.head = nn.Dense(c.vocab_size, use_bias=False, kernel_init=init, dtype=dtype)
        if c.head_bias:
            self.head_bias = self.param("head_bias", nn.initializers.zeros, (c.vocab_size,))

    def encode(self, source, source_valid=None, deterministic=True):
        """The encoder's output [B, S, D] for source tokens [B, S] (source_valid: [B, S] bool, False at padding)."""
        B, S = source.shape
        if source_valid is None:
            source_valid = jnp.ones((B, S), bool)
        positions = jnp.broadcast_to(jnp.arange(S), (B, S))
        x = self._scaled((self.embed if self.config.share_embeddings else self.source_embed)(source))  # [B, S, D]
        if self.config.position == "learned":
            x = x + self.source_position_embed(positions)
        x = self._common_embedding(x, positions, self.source_embed_norm if self.config.embedding_norm else None)
        x = self.embed_dropout(x, deterministic)
        inputs = BlockInputs(
            mask=attention.padding_mask(source_valid, source_valid),
            positions=positions,
            bias=relative_bias(self, "encoder_relative_bias", positions, positions, bidirectional=True),
            deterministic=deterministic,
        )
        x, _ = self._run(self.encoder_blocks, x, inputs)
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
        mask = attention.causal_mask(positions, positions)
        if valid is not None:
            mask = mask & attention.padding_mask(valid, valid)
        x = self._embed_target(tokens, positions, deterministic)
        inputs = BlockInputs(
            mask=mask,
            positions=positions,
            encoded=encoded,
            encoder_valid=source_valid,
            bias=relative_bias(self, "relative_bias", positions, positions, bidirectional=False),
            deterministic=deterministic,
        )
        x, _ = self._run(self.blocks, x, inputs)
        return self._logits(self.final_norm(x) if self.config.final_norm else x)

    def decode(self, tokens, cache, cache_index, positions=None, key_valid=None, encoded=None, encoder_valid=None):
        """New target tokens against the cache (as TransformerLM.decode). The first call (prefill) passes
        `encoded` / `encoder_valid`, whose cross-attention keys and values it writes into the cache."""
        B, T = tokens.shape
        S = cache["k"].shape[2] if self.config.scan_layers else cache[0]["k"].shape[1]
        query_slots = cache_index + jnp.broadcast_to(jnp.arange(T), (B, T))
        if positions is None:
            positions = query_slots
        key_slots = jnp.broadcast_to(jnp.arange(S), (B, S))
        mask = attention.causal_mask(query_slots, key_slots)
        if key_valid is not None:
            mask = mask & key_valid[:, None, None, :]
        x = self._embed_target(tokens, positions, deterministic=True)
        inputs = BlockInputs(
            mask=mask,
            positions=positions,
            cache_index=cache_index,
            encoded=encoded,
            encoder_valid=encoder_valid,
            bias=relative_bias(self, "relative_bias", query_slots, key_slots, False),  # gaps as positions'
        )
        x, cache = self._run(self.blocks, x, inputs, cache)
        return self._logits(self.final_norm(x) if self.config.final_norm else x), cache

    def _run(self, blocks, x, inputs: BlockInputs, cache=None):
        if self.config.scan_layers:
            return blocks(x, inputs, cache)  # positional: nn.scan maps its in_axes onto them
        new_cache = []
        for block, layer_cache in zip(blocks, cache or [None] * len(blocks), strict=True):
            x, layer_cache = block(x, inputs, layer_cache)
            new_cache.append(layer_cache)
        return x, new_cache

    def _embed_target(self, tokens, positions, deterministic):
        x = self._scaled(self.embed(tokens))  # [B, T, D]
        if self.config.position == "learned":
            x = x + self.position_embed(positions)
        x = self._common_embedding(x, positions, self.embed_norm if self.config.embedding_norm else None)
        return self.embed_dropout(x, deterministic)

    def _scaled(self, x):
        return x * jnp.sqrt(jnp.asarray(self.config.d_model, x.dtype)) if self.config.embedding_scale else x

    def _common_embedding(self, x, positions, norm):
        if self.config.position == "sinusoidal":
            x = x + sinusoidal(positions, self.config.d_model).astype(x.dtype)
        return norm(x) if norm is not None else x

    def _logits(self, x):
        c = self.config
        if c.scale_head_input:  # T5 v1.0: the decoder's output x d_model**-0.5 before its tied head
            x = x * c.d_model**-0.5
        logits = merge_batch_axes(self.embed.attend if c.tie_embeddings else self.head, x)  # [B, T, V]
        if c.head_bias:
            logits = logits + self.head_bias
        return logits.astype(jnp.float32)


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
