"""What both Transformer families are built from, written once: the embedding, the stack of blocks (remat,
scan), the self-attention masks (causal, sliding window, packed segments, padding, the decode cache's slots),
the relative position tables and the output head. The decoder-only family (transformer.py) and the
encoder-decoder (encoder_decoder.py) call these from their own `setup` and methods, so that a block, mask or
embedding option added here reaches both, and the parameter names stay each family's own (`embed`,
`block_0` / `blocks`, `final_norm`, `head`, ...: old checkpoints and the converters read them).

The `setup_*` functions add submodules to the calling module inside its `setup`; the others read them.
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


def block_options(c: ModelConfig, out_std: float, dtype) -> dict:
    """Block's fields from the model's config."""
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


def norm(c: ModelConfig, name: str) -> Norm:
    """The model's norm (model.norm, norm_eps, use_bias), called `name`."""
    return Norm(kind=c.norm, eps=c.norm_eps, use_bias=c.use_bias, dtype=jnp.dtype(c.dtype), name=name)


def stack(c: ModelConfig, num_layers: int, name: str, depth: int, cross: bool = False):
    """num_layers blocks, per layer (`{name}_{i}`) or scanned over a leading layer axis (`{name}s`, and its
    cache too), rematerialised as model.remat says. Each is called as block(x, inputs, cache): x the carry,
    inputs (a BlockInputs, its `deterministic` static) the same for every layer, cache one per layer.

    GPT-2 scales the residual output projections by 1/sqrt(2 * depth) (model.scale_residual_init): each of
    the model's `depth` layers adds to the residual stream twice.
    """
    out_std = c.init_std / math.sqrt(2 * depth) if c.scale_residual_init else c.init_std
    kwargs = dict(block_options(c, out_std, jnp.dtype(c.dtype)), cross_attention=cross)
    block = Block
    if c.remat != "none":  # recompute each block's activations in the backward pass instead of storing them
        block = nn.remat(Block, policy=REMAT_POLICIES[c.remat])
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


def run(c: ModelConfig, blocks, x, inputs: BlockInputs, cache=None):
    """x through every block of a `stack`: (x, the updated cache: one per layer, or stacked when scanned)."""
    if c.scan_layers:
        return blocks(x, inputs, cache)  # positional: nn.scan maps its in_axes onto them
    new_cache = []
    for block, layer_cache in zip(blocks, cache or [None] * len(blocks), strict=True):
        x, layer_cache = block(x, inputs, layer_cache)
        new_cache.append(layer_cache)
    return x, new_cache


def setup_embedding(module: nn.Module, source: bool = False) -> None:
    """The token embedding `embed`, learned positions `position_embed`, token types `type_embed`, the norm
    `embed_norm` and `embed_dropout`; with source=True an encoder's own: `source_embed` (unless
    model.share_embeddings), `source_position_embed` and `source_embed_norm`."""
    c = module.config
    dtype, init = jnp.dtype(c.dtype), nn.initializers.normal(c.init_std)
    table = lambda n, name: nn.Embed(n, c.d_model, embedding_init=init, dtype=dtype, name=name)  # noqa: E731
    if source:
        if not c.share_embeddings:
            module.source_embed = table(c.vocab_size, "source_embed")
        if c.position == "learned":
            module.source_position_embed = table(c.max_len, "source_position_embed")
        if c.embedding_norm:
            module.source_embed_norm = norm(c, "source_embed_norm")
        return
    module.embed = table(c.vocab_size, "embed")
    if c.position == "learned":
        module.position_embed = table(c.max_len, "position_embed")
    if c.type_vocab_size:
        module.type_embed = table(c.type_vocab_size, "type_embed")
    if c.embedding_norm:
        module.embed_norm = norm(c, "embed_norm")
    module.embed_dropout = nn.Dropout(c.embedding_dropout)


def embed(module: nn.Module, tokens, positions, deterministic: bool, token_types=None, source: bool = False):
    """[B, T, D]: token embeddings (x sqrt(d_model) with model.embedding_scale), + learned or sinusoidal
    positions, + token types (type 0 unless given), then the embedding norm and dropout."""
    c = module.config
    x = (module.source_embed if source and not c.share_embeddings else module.embed)(tokens)
    if c.embedding_scale:
        x = x * jnp.sqrt(jnp.asarray(c.d_model, x.dtype))
    if c.position == "learned":
        x = x + (module.source_position_embed if source else module.position_embed)(positions)
    elif c.position == "sinusoidal":
        x = x + sinusoidal(positions, c.d_model).astype(x.dtype)
    if c.type_vocab_size:
        x = x + module.type_embed(jnp.zeros_like(tokens) if token_types is None else token_types)
    if c.embedding_norm:
        x = (module.source_embed_norm if source else module.embed_norm)(x)
    return module.embed_dropout(x, deterministic)


def setup_head(module: nn.Module) -> None:
    """The output head: BERT's `mlm_dense` + `mlm_norm` (model.mlm_transform), the projection `head` unless it
    is the embedding transposed (model.tie_embeddings), and `head_bias`."""
    c = module.config
    dtype, init = jnp.dtype(c.dtype), nn.initializers.normal(c.init_std)
    if c.mlm_transform:
        module.mlm_dense = nn.Dense(c.d_model, use_bias=c.use_bias, kernel_init=init, dtype=dtype, name="mlm_dense")
        module.mlm_norm = norm(c, "mlm_norm")
    if not c.tie_embeddings:
        module.head = nn.Dense(c.vocab_size, use_bias=False, kernel_init=init, dtype=dtype, name="head")
    if c.head_bias:
        module.head_bias = module.param("head_bias", nn.initializers.zeros, (c.vocab_size,))


def logits(module: nn.Module, x):
    """[B, T, V] float32 logits of hidden states x [B, T, D] (T5 v1.0's model.scale_head_input multiplies x by
    d_model**-0.5 before its tied head)."""
    c = module.config
    if c.mlm_transform:
        x = module.mlm_norm(nn.gelu(merge_batch_axes(module.mlm_dense, x), approximate=c.gelu_approximate))
    if c.scale_head_input:
        x = x * c.d_model**-0.5
    out = merge_batch_axes(module.embed.attend if c.tie_embeddings else module.head, x)  # [B, T, V]
    if c.head_bias:
        out = out + module.head_bias
    return out.astype(jnp.float32)


def self_attention_mask(c: ModelConfig, positions, causal: bool, segment_ids=None, valid=None):
    """[B, 1, T, T] bool (or None: every token sees every token): causal, within model.sliding_window tokens
    (causal stacks), within its packed segment, and not at padding."""
    mask = attention.causal_mask(positions, positions) if causal else None
    if causal and c.sliding_window:
        mask = _and(mask, attention.sliding_window_mask(positions, positions, c.sliding_window))
    if segment_ids is not None:
        mask = _and(mask, attention.segment_mask(segment_ids, segment_ids))
    if valid is not None:
        mask = _and(mask, attention.padding_mask(valid, valid))
    return mask


def decode_mask(c: ModelConfig, cache, cache_index, shape: tuple[int, int], key_valid=None):
    """(query slots [B, T], key slots [B, S_max], mask [B, 1, T, S_max]) of T new tokens written into a decode
    cache at cache_index: causal over the slots (it hides the unwritten ones), within model.sliding_window,
    and not at the slots key_valid marks False (a left-padded prompt's padding)."""
    B, T = shape
    S = cache["k"].shape[2] if c.scan_layers else cache[0]["k"].shape[1]
    query_slots = cache_index + jnp.broadcast_to(jnp.arange(T), (B, T))
    key_slots = jnp.broadcast_to(jnp.arange(S), (B, S))
    mask = attention.causal_mask(query_slots, key_slots)
    if c.sliding_window:  # slots and positions differ by a row's padding: their gaps are equal
        mask = mask & attention.sliding_window_mask(query_slots, key_slots, c.sliding_window)
    if key_valid is not None:
        mask = mask & key_valid[:, None, None, :]
    return query_slots, key_slots, mask


def relative_bias_table(module: nn.Module, name: str) -> jax.Array:
    """A [num_buckets, N] parameter of relative position biases, one per distance bucket and head."""
    c = module.config
    return module.param(name, nn.initializers.normal(c.init_std), (c.relative_attention_num_buckets, c.num_heads))


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
