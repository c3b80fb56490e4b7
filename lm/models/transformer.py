"""The Transformer family: decoder-only (causal) or encoder-only (bidirectional) language models with LM,
classification and tagging heads, and the KV cache for decoding.

tokens [B, T] -> token embedding (+ learned / sinusoidal positions, token types) -> dropout
              -> num_layers x Block (rotary / relative positions inside) -> final norm -> logits [B, T, V]
                                                                           -> pooled [B, D] -> classifier [B, C]
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from lm.models import attention
from lm.models.config import ModelConfig
from lm.models.layers import Block, BlockInputs, Norm, merge_batch_axes
from lm.models.positions import Rope, relative_position_bias, sinusoidal

# model.remat: what a block keeps for the backward pass. "full" stores only its input; "dots" also keeps
# the results of its matrix multiplications (no batch dims: not the attention scores), recomputing the rest.
REMAT_POLICIES = {"full": None, "dots": jax.checkpoint_policies.checkpoint_dots_with_no_batch_dims}
HEAD_MODULES = ("pooler", "classifier")  # fine-tuning heads: initialised fresh, never taken from pretraining


def block_options(c: ModelConfig, out_std: float, dtype) -> dict:
    """Block's fields from the model's config: one place for every family built from the shared blocks."""
    return dict(
        num_heads=c.num_heads,
        num_kv_heads=c.num_kv_heads,
        head_dim=c.head_dim,
        attention_scale=c.attention_scale,
        d_ff=c.d_ff,
        mlp=c.mlp,
        gelu_approximate=c.gelu_approximate,
        norm=c.norm,
        norm_eps=c.norm_eps,
        use_bias=c.use_bias,
        qkv_bias=c.qkv_bias,
        dropout=c.dropout,
        attention_dropout=c.attention_dropout,
        rotary=c.position == "rotary",
        rope=Rope(
            base=c.rope_base,
            fraction=c.rotary_fraction,
            scaling=c.rope_scaling,
            factor=c.rope_scaling_factor,
            low_freq_factor=c.rope_low_freq_factor,
            high_freq_factor=c.rope_high_freq_factor,
            original_max_len=c.rope_original_max_len,
        ),
        parallel_residual=c.parallel_residual,
        init_std=c.init_std,
        out_std=out_std,
        post_norm=c.norm_position == "post",
        dtype=dtype,
        attention=c.attention,
    )


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
        dtype = jnp.dtype(c.dtype)
        init = nn.initializers.normal(c.init_std)
        # GPT-2 scales the residual output projections by 1/sqrt(2 * layers): each layer adds two.
        out_std = c.init_std / math.sqrt(2 * c.num_layers) if c.scale_residual_init else c.init_std
        norm = lambda name: Norm(kind=c.norm, eps=c.norm_eps, use_bias=c.use_bias, dtype=dtype, name=name)  # noqa: E731
        self.embed = nn.Embed(c.vocab_size, c.d_model, embedding_init=init, dtype=dtype, name="embed")
        if c.position == "learned":
            self.position_embed = nn.Embed(c.max_len, c.d_model, embedding_init=init, dtype=dtype)
        if c.position == "relative":  # one table for all layers (transformers keeps T5's in the first layer)
            self.relative_bias = relative_bias_table(self, c, "relative_bias")
        if c.type_vocab_size:
            self.type_embed = nn.Embed(c.type_vocab_size, c.d_model, embedding_init=init, dtype=dtype)
        if c.embedding_norm:
            self.embed_norm = norm("embed_norm")
        self.embed_dropout = nn.Dropout(c.embedding_dropout)
        # Block.__call__(x, inputs, cache): x is the carry, inputs (a BlockInputs, its `deterministic` static)
        # the same for every layer, cache one per layer.
        block = Block
        if c.remat != "none":  # recompute each block's activations in the backward pass instead of storing them
            block = nn.remat(Block, policy=REMAT_POLICIES[c.remat])
        if c.scan_layers:  # one block, scanned over a leading layer axis of its parameters (and of the cache)
            block = nn.scan(
                block,
                variable_axes={"params": 0},
                split_rngs={"params": True, "dropout": True},
                in_axes=(nn.broadcast, 0),
                length=c.num_layers,
            )
        kwargs = block_options(c, out_std, dtype)
        if c.scan_layers:
            self.blocks = block(**kwargs, name="blocks")
        else:
            self.blocks = [block(**kwargs, name=f"block_{i}") for i in range(c.num_layers)]
        if c.final_norm:  # post-norm blocks end normalised already (model.final_norm: None)
            self.final_norm = norm("final_norm")
        if c.mlm_transform:  # BERT's prediction head: dense + activation + norm before the decoder
            self.mlm_dense = nn.Dense(c.d_model, use_bias=c.use_bias, kernel_init=init, dtype=dtype)
            self.mlm_norm = norm("mlm_norm")
        if not c.tie_embeddings:
            self.head = nn.Dense(c.vocab_size, use_bias=False, kernel_init=init, dtype=dtype)
        if c.head_bias:
            self.head_bias = self.param("head_bias", nn.initializers.zeros, (c.vocab_size,))
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
        mask = attention.causal_mask(positions, positions) if self.config.causal else None
        if self.config.sliding_window:
            mask = _and(mask, attention.sliding_window_mask(positions, positions, self.config.sliding_window))
        if segment_ids is not None:
            mask = _and(mask, attention.segment_mask(segment_ids, segment_ids))
        if valid is not None:
            mask = _and(mask, attention.padding_mask(valid, valid))
        x = self._embed(tokens, positions, token_types, deterministic)
        bias = relative_bias(self, "relative_bias", positions, positions, bidirectional=not self.config.causal)
        x, _ = self._blocks(x, BlockInputs(mask=mask, positions=positions, bias=bias, deterministic=deterministic))
        return self.final_norm(x) if self.config.final_norm else x

    def __call__(self, tokens, positions=None, segment_ids=None, valid=None, token_types=None, deterministic=True):
        """[B, T, V] float32 logits over the vocabulary at every position (arguments as `encode`)."""
        return self._logits(self.encode(tokens, positions, segment_ids, valid, token_types, deterministic))

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
        B, T = tokens.shape
        S = cache["k"].shape[2] if self.config.scan_layers else cache[0]["k"].shape[1]
        query_slots = cache_index + jnp.broadcast_to(jnp.arange(T), (B, T))
        if positions is None:
            positions = query_slots
        key_slots = jnp.broadcast_to(jnp.arange(S), (B, S))
        mask = attention.causal_mask(query_slots, key_slots)  # hides unwritten slots
        if self.config.sliding_window:  # slots and positions differ by a row's padding: their gaps are equal
            mask = mask & attention.sliding_window_mask(query_slots, key_slots, self.config.sliding_window)
        if key_valid is not None:
            mask = mask & key_valid[:, None, None, :]
        x = self._embed(tokens, positions, None, deterministic=True)
        bias = relative_bias(self, "relative_bias", query_slots, key_slots, False)  # slots: gaps as positions'
        inputs = BlockInputs(mask=mask, positions=positions, cache_index=cache_index, bias=bias)
        x, new_cache = self._blocks(x, inputs, cache)
        if self.config.final_norm:
            x = self.final_norm(x)
        return self._logits(x), new_cache

    def _blocks(self, x, inputs: BlockInputs, cache=None):
        """x through every layer: (x, the updated cache: a list of one per layer, or stacked when scanned)."""
        if self.config.scan_layers:
            return self.blocks(x, inputs, cache)  # positional: nn.scan maps its in_axes onto them
        new_cache = []
        for block, layer_cache in zip(self.blocks, cache or [None] * len(self.blocks), strict=True):
            x, layer_cache = block(x, inputs, layer_cache)
            new_cache.append(layer_cache)
        return x, new_cache

    def _embed(self, tokens, positions, token_types, deterministic):
        c = self.config
        x = self.embed(tokens)  # [B, T, D]
        if c.embedding_scale:
            x = x * jnp.sqrt(jnp.asarray(c.d_model, x.dtype))
        if c.position == "learned":
            x = x + self.position_embed(positions)
        elif c.position == "sinusoidal":
            x = x + sinusoidal(positions, c.d_model).astype(x.dtype)
        if c.type_vocab_size:
            x = x + self.type_embed(jnp.zeros_like(tokens) if token_types is None else token_types)
        if c.embedding_norm:
            x = self.embed_norm(x)
        return self.embed_dropout(x, deterministic)

    def _logits(self, x):
        c = self.config
        if c.mlm_transform:
            x = self.mlm_norm(nn.gelu(merge_batch_axes(self.mlm_dense, x), approximate=c.gelu_approximate))
        if c.scale_head_input:
            x = x * c.d_model**-0.5
        logits = merge_batch_axes(self.embed.attend if c.tie_embeddings else self.head, x)  # [B, T, V]
        if c.head_bias:
            logits = logits + self.head_bias
        return logits.astype(jnp.float32)


def relative_bias_table(module: nn.Module, c: ModelConfig, name: str) -> jax.Array:
    """A [num_buckets, N] parameter of relative position biases, one per distance bucket and head."""
    shape = (c.relative_attention_num_buckets, c.num_heads)
    return module.param(name, nn.initializers.normal(c.init_std), shape)


def relative_bias(module: nn.Module, table: str, query_positions, key_positions, bidirectional: bool):
    """[B, N, T, S] relative position biases from the module's parameter `table` (model.position=relative),
    or None for any other position encoding."""
    c = module.config
    if c.position != "relative":
        return None
    max_distance = c.relative_attention_max_distance
    return relative_position_bias(getattr(module, table), query_positions, key_positions, bidirectional, max_distance)


def _and(mask, other):
    return other if mask is None else mask & other


def init_cache(config: ModelConfig, batch_size: int, max_len: int):
    """Zeroed keys and values for every layer: a list of {k, v} of [B, S_max, K, H] each (K: the key / value
    heads), or with scan_layers one {k, v} of [L, B, S_max, K, H]."""
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
