"""Objectives: how a batch becomes (inputs, targets, weights), and the loss over weighted targets.

The model never knows which objective trains it. Losses are returned as sums with the total weight,
so micro-batches and devices combine exactly: mean = sum of sums / sum of weights.
"""

import jax
import jax.numpy as jnp
import optax


def causal_lm(batch: dict) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Next-token prediction: every position predicts the token after it.

    Args:
      batch: {"inputs": [B, T], "targets": [B, T], optional "weights": [B, T]}.
    Returns:
      (inputs [B, T], targets [B, T], weights [B, T] float32).
    """
    weights = batch.get("weights")
    if weights is None:
        weights = jnp.ones(batch["targets"].shape, jnp.float32)
    return batch["inputs"], batch["targets"], weights


OBJECTIVES = {"causal": causal_lm}


def cross_entropy_sums(logits: jax.Array, targets: jax.Array, weights: jax.Array) -> dict[str, jax.Array]:
    """Summed cross-entropy, correct predictions and weight over the weighted targets.

    Args:
      logits: [B, T, V] float32.
      targets: [B, T] int.
      weights: [B, T] float, 0 where a position carries no loss.
    Returns:
      {"loss": sum of nats, "correct": sum of argmax hits, "weight": sum of weights} (scalars).
    """
    nats = optax.softmax_cross_entropy_with_integer_labels(logits, targets)  # [B, T]
    correct = (jnp.argmax(logits, axis=-1) == targets).astype(jnp.float32)
    return {"loss": (nats * weights).sum(), "correct": (correct * weights).sum(), "weight": weights.sum()}
