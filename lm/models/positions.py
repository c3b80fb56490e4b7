"""Position encodings as pure functions: sinusoidal (Vaswani et al., 2017) and rotary (Su et al., 2021).

Learned positions are a plain embedding table and live in the model.
"""

import jax
import jax.numpy as jnp


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


def apply_rotary(x: jax.Array, positions: jax.Array, base: float = 10000.0) -> jax.Array:
    """Rotates each pair (x_i, x_{i+H/2}) by angle p * base^(-2i/H) (the "rotate half" layout).

    The dot product of two rotated vectors then depends on their positions only through the
    difference, which is what makes the encoding relative.

    Args:
      x: [B, T, N, H] queries or keys.
      positions: [B, T] int positions.
    Returns:
      [B, T, N, H], same dtype as x.
    """
    H = x.shape[-1]
    inv_freq = base ** (-jnp.arange(0, H // 2, dtype=jnp.float32) * 2.0 / H)  # [H/2]
    angles = positions[..., None].astype(jnp.float32) * inv_freq  # [B, T, H/2]
    sin = jnp.sin(angles)[:, :, None, :]  # [B, T, 1, H/2]
    cos = jnp.cos(angles)[:, :, None, :]
    x1, x2 = jnp.split(x.astype(jnp.float32), 2, axis=-1)  # [B, T, N, H/2] each
    rotated = jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
    return rotated.astype(x.dtype)
