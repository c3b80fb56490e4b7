"""The train and eval steps: pure functions of (state, batch), the same under jit and pmap.

`axis_name` is the only thing the parallel wrapper (lm/parallel.py) changes: with it, the steps sum
their gradients and statistics over the devices of that axis. Gradient accumulation wraps the
gradient function (a scan over micro-batches), so the update equals that of one big batch.
"""

from typing import Callable

import jax
import jax.numpy as jnp
import optax
from flax.training import train_state

from lm import objectives


class TrainState(train_state.TrainState):
    """step, params, opt_state (and apply_fn / tx, which are static)."""


def _stats_and_grads(state: TrainState, batch: dict, objective_rng, dropout_rng, objective: objectives.Objective):
    """Summed loss statistics of one (micro-)batch and the gradient of the summed loss."""
    inputs, targets, weights = objective.prepare(batch, objective_rng)

    def loss_fn(params):
        logits = state.apply_fn(
            {"params": params}, **inputs, deterministic=False, rngs={"dropout": dropout_rng}, method=objective.method
        )
        stats = objectives.cross_entropy_sums(logits, targets, weights)
        return stats["loss"], stats

    grads, stats = jax.grad(loss_fn, has_aux=True)(state.params)
    return stats, grads


def train_step(
    state: TrainState,
    batch: dict,
    *,
    seed: int,
    learning_rate: Callable[[jax.Array], jax.Array],
    objective: objectives.Objective = objectives.CAUSAL,
    grad_accum_steps: int = 1,
    axis_name: str | None = None,
) -> tuple[TrainState, dict[str, jax.Array]]:
    """One optimizer update on `batch` (the local shard of the global batch under pmap).

    Args:
      state: the train state (replicated under pmap).
      batch: arrays with a leading batch dim divisible by grad_accum_steps.
      seed: the run's seed. The objective's randomness is fold_in(seed, step) (and the row id, see
        lm/objectives.py); dropout's is fold_in(seed, step, device, micro-batch).
      learning_rate: the schedule, only to report the rate of this step.
      objective: what the batch trains (lm/objectives.py).
      grad_accum_steps: micro-batches the batch is split into, one gradient each, summed.
      axis_name: the pmap axis to sum gradients and statistics over, or None on one device.
    Returns:
      (new state, metrics: loss, accuracy, learning_rate, grad_norm, tokens).
    """
    objective_rng, rng = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), state.step))
    if axis_name is not None:
        rng = jax.random.fold_in(rng, jax.lax.axis_index(axis_name))

    if grad_accum_steps == 1:
        stats, grads = _stats_and_grads(state, batch, objective_rng, rng, objective)
    else:
        micro = jax.tree.map(lambda x: x.reshape(grad_accum_steps, -1, *x.shape[1:]), batch)  # [K, B/K, ...]

        def accumulate(carry, xs):
            index, micro_batch = xs
            stats, grads = _stats_and_grads(
                state, micro_batch, objective_rng, jax.random.fold_in(rng, index), objective
            )
            return jax.tree.map(jnp.add, carry, (stats, grads)), None

        zero_stats = {k: jnp.zeros((), jnp.float32) for k in ("loss", "correct", "weight")}
        zeros = (zero_stats, jax.tree.map(jnp.zeros_like, state.params))
        (stats, grads), _ = jax.lax.scan(accumulate, zeros, (jnp.arange(grad_accum_steps), micro))

    if axis_name is not None:
        stats, grads = jax.lax.psum((stats, grads), axis_name)
    total = jnp.maximum(stats["weight"], 1.0)
    grads = jax.tree.map(lambda g: g / total, grads)  # the gradient of the mean loss over all tokens
    metrics = {
        "loss": stats["loss"] / total,
        "accuracy": stats["correct"] / total,
        "learning_rate": learning_rate(state.step),
        "grad_norm": optax.tree.norm(grads),
        "tokens": stats["weight"],
    }
    return state.apply_gradients(grads=grads), metrics


def eval_step(
    state: TrainState,
    batch: dict,
    *,
    seed: int = 0,
    objective: objectives.Objective = objectives.CAUSAL,
    axis_name: str | None = None,
):
    """Summed statistics (loss, correct, weight) of one eval batch, over all devices of the axis.

    The objective's randomness is fixed by the seed (and row ids), so every eval sees the same masks.
    """
    inputs, targets, weights = objective.prepare(batch, jax.random.PRNGKey(seed))
    logits = state.apply_fn({"params": state.params}, **inputs, deterministic=True, method=objective.method)
    stats = objectives.cross_entropy_sums(logits, targets, weights)
    if objective.method in ("classify", "classify_packed", "tag"):
        stats["confusion"] = objectives.confusion_matrix(logits, targets, weights)
    if axis_name is not None:
        stats = jax.lax.psum(stats, axis_name)
    return stats
