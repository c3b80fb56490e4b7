"""Position encodings as pure functions: sinusoidal (Vaswani et al., 2017), rotary (Su et al., 2021) and
T5's relative position buckets (Raffel et al., 2020).

Learned positions, and the learned table of relative biases, are parameters and live in the model.
"""

import dataclasses
import math

import jax
import jax.numpy as jnp

from lm.models.config import rotary_dims


def sinusoidal(positions: jax.Array, dim: int, base: float = 10000.0) -> jax.Array:
    """Fixed sin/cos encoding: [sin(p w_0), ..., sin(p w_{D/2-1}), cos(p w_0), ...], w_i = base^(-2i/D).

    Args:
      positions: [B, T] int positions.
      dim: encoding width D (even).
    Returns:
      [B, T, D] float32.
    """
    inv_freq = base ** (-jnp.arange(0, dim // 2, dtype=jnp.float32) * 2.0 / dim)  # [D/2]
    angles = positions[..., None].astype(jnp.float32) * inv_freq  # [B, T, D/2]
    return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)


@dataclasses.dataclass(frozen=True)
class Rope:
    """How rotary positions turn a head: the model's rope_* fields and rotary_fraction, as one static value.

    scaling="linear": every frequency / factor, i.e. positions / factor (Chen et al., 2023; factor 1 is none).
    scaling="llama3": Llama 3.1's per-frequency rule: wavelengths shorter than original_max_len /
    high_freq_factor are kept, those longer than original_max_len / low_freq_factor divided by factor, and the
    ones between interpolated smoothly (as transformers' _compute_llama3_parameters).
    """

    base: float = 10000.0  # the wavelength base (Llama's rope_theta)
    fraction: float = 1.0  # the share of each head's dims that rotate (GPT-NeoX's rotary_pct: Pythia 1/4)
    scaling: str = "linear"
    factor: float = 1.0
    low_freq_factor: float = 1.0  # llama3 only
    high_freq_factor: float = 4.0  # llama3 only
    original_max_len: int = 8192  # llama3 only: the context the model was pretrained with

    def frequencies(self, head_dim: int) -> jax.Array:
        """[R / 2] float32 angular frequencies of the R = rotary_dims(head_dim, fraction) dims that rotate."""
        R = rotary_dims(head_dim, self.fraction)
        inv_freq = 1.0 / self.base ** (jnp.arange(0, R, 2, dtype=jnp.float32) / R)  # [R/2], base^(-2i/R)
        if self.scaling == "linear":
            return inv_freq / self.factor
        wavelength = 2 * math.pi / inv_freq
        low, high = self.original_max_len / self.low_freq_factor, self.original_max_len / self.high_freq_factor
        smooth = (self.original_max_len / wavelength - self.low_freq_factor) / (
            self.high_freq_factor - self.low_freq_factor
        )
        scaled = jnp.where(wavelength > low, inv_freq / self.factor, inv_freq)
        between = (wavelength >= high) & (wavelength <= low)
        return jnp.where(between, (1 - smooth) * scaled / self.factor + smooth * scaled, scaled)


def apply_rotary(x: jax.Array, positions: jax.Array, rope: Rope = Rope()) -> jax.Array:
    """Rotates each pair (x_i, x_{i+R/2}) of the first R = rope.fraction * H dims by angle p * w_i, w_i from
    `Rope.frequencies` (base^(-2i/R) unscaled): the "rotate half" layout of GPT-NeoX and Llama. The other H - R
    dims pass unchanged.

    The dot product of two rotated vectors then depends on their positions only through the
    difference, which is what makes the encoding relative.

    Args:
      x: [B, T, N, H] queries or keys.
      positions: [B, T] int positions.
      rope: the base, the share of dims rotated, the scaling.
    Returns:
      [B, T, N, H], same dtype as x.
    """
    inv_freq = rope.frequencies(x.shape[-1])  # [R/2]
    R = 2 * inv_freq.shape[0]
    angles = positions[..., None].astype(jnp.float32) * inv_freq  # [B, T, R/2]
    sin = jnp.sin(angles)[:, :, None, :]  # [B, T, 1, R/2]
    cos = jnp.cos(angles)[:, :, None, :]
    x1, x2 = jnp.split(x[..., :R].astype(jnp.float32), 2, axis=-1)  # [B, T, N, R/2] each
    rotated = jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1).astype(x.dtype)
    return rotated if R == x.shape[-1] else jnp.concatenate([rotated, x[..., R:]], axis=-1)


def relative_position_bucket(
    relative_position: jax.Array, bidirectional: bool = True, num_buckets: int = 32, max_distance: int = 128
) -> jax.Array:
    """T5's bucket of each key-minus-query distance (Mesh TensorFlow's, as transformers' T5Attention computes it).

    Bidirectional: half the buckets are for keys after the query, half for keys at or before it. Otherwise
    (causal) keys after the query all share bucket 0, as a causal mask hides them anyway. Of each half, the
    first half are exact distances 0, 1, ...; the rest cover longer distances in log-spaced steps up to
    max_distance, and every longer distance shares the last bucket. The logarithm runs in float32, as theirs.

    Args:
      relative_position: int array of key position - query position, any shape.
      bidirectional: whether keys after the query get buckets of their own (an encoder).
      num_buckets: how many buckets in all.
      max_distance: the distance from which on all share the last bucket.
    Returns:
      int32 array of relative_position's shape, in [0, num_buckets).
    """
    buckets = jnp.zeros(relative_position.shape, jnp.int32)
    if bidirectional:
        num_buckets //= 2
        buckets = (relative_position > 0).astype(jnp.int32) * num_buckets
        distance = jnp.abs(relative_position)
    else:
        distance = -jnp.minimum(relative_position, 0)
    max_exact = num_buckets // 2
    # the log's argument kept >= 1: the exact branch covers distances below max_exact (>= 1) anyway
    ratio = jnp.maximum(distance, 1).astype(jnp.float32) / max_exact
    steps = jnp.log(ratio) / math.log(max_distance / max_exact) * (num_buckets - max_exact)
    large = jnp.minimum(max_exact + steps.astype(jnp.int32), num_buckets - 1)  # astype truncates, as torch's .long()
    return buckets + jnp.where(distance < max_exact, distance, large).astype(jnp.int32)


def relative_position_bias(
    table: jax.Array, query_positions: jax.Array, key_positions: jax.Array, bidirectional: bool, max_distance: int
) -> jax.Array:
    """The learned bias of each (query, key) pair's distance bucket, per head: what T5 adds to attention logits.

    Args:
      table: [num_buckets, N] float, one bias per bucket and head.
      query_positions: [B, T] int positions of the queries.
      key_positions: [B, S] int positions of the keys.
      bidirectional: the encoder's buckets (keys after the query have their own); False: a causal decoder's.
      max_distance: see `relative_position_bucket`.
    Returns:
      [B, N, T, S] float32.
    """
    relative = key_positions[:, None, :] - query_positions[:, :, None]  # [B, T, S]
    buckets = relative_position_bucket(relative, bidirectional, table.shape[0], max_distance)
    return jnp.take(table.astype(jnp.float32), buckets, axis=0).transpose(0, 3, 1, 2)  # [B, T, S, N] -> [B, N, T, S]
