"""Attention and masks as pure functions of arrays.

Einsum letters used throughout:
    B batch, T query length, S key length, N heads, H head dim, D model dim.

Masks are boolean arrays broadcastable to [B, N, T, S]: True where query t may attend to key s.
They compose with `&`, so a causal, padded, packed batch is `causal & padding & segment`.
"""

import jax
import jax.numpy as jnp


def causal_mask(query_positions: jax.Array, key_positions: jax.Array) -> jax.Array:
    """Query at position p sees keys at positions <= p.

    Args:
      query_positions: [B, T] int positions of the queries.
      key_positions: [B, S] int positions of the keys.
    Returns:
      [B, 1, T, S] bool.
    """
    return key_positions[:, None, None, :] <= query_positions[:, None, :, None]


def sliding_window_mask(query_positions: jax.Array, key_positions: jax.Array, window: int) -> jax.Array:
    """A query sees only the `window` most recent positions, its own included: p - window < key position
    (Mistral's sliding window, with `causal_mask` for the other side).

    Args:
      query_positions: [B, T] int positions of the queries.
      key_positions: [B, S] int positions of the keys.
      window: how many positions a query sees.
    Returns:
      [B, 1, T, S] bool.
    """
    return key_positions[:, None, None, :] > query_positions[:, None, :, None] - window


def padding_mask(query_valid: jax.Array, key_valid: jax.Array) -> jax.Array:
    """Valid queries see valid keys; padding sees and is seen by nothing.

    Args:
      query_valid: [B, T] bool, False at padding.
      key_valid: [B, S] bool.
    Returns:
      [B, 1, T, S] bool.
    """
    return query_valid[:, None, :, None] & key_valid[:, None, None, :]


def segment_mask(query_segments: jax.Array, key_segments: jax.Array) -> jax.Array:
    """Packed sequences: a token sees only tokens of its own segment (documents packed in one row).

    Args:
      query_segments: [B, T] int segment ids.
      key_segments: [B, S] int segment ids.
    Returns:
      [B, 1, T, S] bool.
    """
    return query_segments[:, None, :, None] == key_segments[:, None, None, :]


def dot_product_attention(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    mask: jax.Array | None = None,
    dropout_rng: jax.Array | None = None,
    dropout_rate: float = 0.0,
    bias: jax.Array | None = None,
    scale: bool = True,
) -> jax.Array:
    """softmax(q k^T / sqrt(H) + bias) v, with masked scores removed.

    Args:
      q: [B, T, N, H] queries.
      k: [B, S, N, H] keys.
      v: [B, S, N, H] values.
      mask: bool, broadcastable to [B, N, T, S]; True where attention is allowed.
      dropout_rng: key for dropout on the attention probabilities (None: no dropout).
      dropout_rate: probability of dropping an attention weight.
      bias: float, broadcastable to [B, N, T, S], added to the scores (T5's relative positions), or None.
      scale: whether the scores are divided by sqrt(H) (T5: not).
    Returns:
      [B, T, N, H]. A query whose keys are all masked (padding) gets zeros.
    """
    scores = jnp.einsum("BTNH,BSNH->BNTS", q, k)
    if scale:
        scores = scores / jnp.sqrt(q.shape[-1]).astype(q.dtype)
    scores = scores.astype(jnp.float32)  # softmax in float32 also when computing in bfloat16
    if bias is not None:
        scores = scores + bias.astype(jnp.float32)
    if mask is not None:
        scores = jnp.where(mask, scores, jnp.finfo(jnp.float32).min)
    probs = jax.nn.softmax(scores, axis=-1)
    if mask is not None:
        probs = jnp.where(mask, probs, 0.0)  # rows with no allowed key become 0, not uniform
    if dropout_rng is not None and dropout_rate > 0.0:
        keep = jax.random.bernoulli(dropout_rng, 1.0 - dropout_rate, probs.shape)
        probs = jnp.where(keep, probs / (1.0 - dropout_rate), 0.0)
    return jnp.einsum("BNTS,BSNH->BTNH", probs.astype(v.dtype), v)


def fused_dot_product_attention(
    q, k, v, mask=None, implementation: str = "xla", bias=None, scale: bool = True
) -> jax.Array:
    """`dot_product_attention` (no dropout) by jax.nn.dot_product_attention: "xla", or "cudnn" for
    cuDNN's fused flash kernel (GPU, bfloat16 / float16). Same arguments and result."""
    if bias is not None:
        bias = bias.astype(q.dtype)
    factor = None if scale else 1.0  # None: jax.nn's 1 / sqrt(H)
    out = jax.nn.dot_product_attention(q, k, v, bias=bias, mask=mask, scale=factor, implementation=implementation)
    if mask is not None:  # jax.nn gives a query with no allowed key the mean of v; ours gives zeros
        out = out * jnp.any(mask, axis=-1).transpose(0, 2, 1)[..., None].astype(out.dtype)
    return out
