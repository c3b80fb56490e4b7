"""The train and eval steps: pure functions of (state, batch), the same under jit and pmap.

`axis_name` is the only thing the parallel wrapper (lm/parallel.py) changes: with it, the steps sum
their gradients and statistics over the devices of that axis. Gradient accumulation wraps the
gradient function (`accumulate`: a scan over micro-batches), so the update equals that of one big batch.
"""

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import optax
from flax.training import train_state

from lm import objectives


class TrainState(train_state.TrainState):
    """step, params, opt_state (and apply_fn / tx, which are static)."""


def loss_sums_and_grads(params, batch: dict, objective_rng, dropout_rng, *, apply_fn, objective: objectives.Objective):
    """The objective's summed loss statistics on one (micro-)batch, and the gradient of the summed loss.

    Returns:
      ({"loss", "correct", "weight"} sums, gradients shaped as params).
    """
    inputs, targets, weights = objective.prepare(batch, objective_rng)

    def loss_fn(params):
        logits = apply_fn(
            {"params": params}, **inputs, deterministic=False, rngs={"dropout": dropout_rng}, method=objective.method
        )
        sums = objective.loss(logits, targets, weights)
        return sums["loss"], sums

    grads, sums = jax.grad(loss_fn, has_aux=True)(params)
    return sums, grads


def accumulate(grad_fn: Callable, num_micro_batches: int) -> Callable:
    """`grad_fn(params, batch, objective_rng, dropout_rng) -> (sums, grads)` over the batch split into
    `num_micro_batches` equal micro-batches, one after another, their results summed.

    Micro-batch k gets dropout_rng folded with k; the objective's key is shared (its randomness is drawn
    per row id, so a row is masked the same whichever micro-batch holds it). The zero accumulators take
    the shapes of whatever `grad_fn` returns (jax.eval_shape), so new statistics need no change here.
    """

    def accumulated(params, batch, objective_rng, dropout_rng):
        micro = jax.tree.map(lambda x: x.reshape(num_micro_batches, -1, *x.shape[1:]), batch)  # [K, B/K, ...]
        first = jax.tree.map(lambda x: x[0], micro)
        shapes = jax.eval_shape(grad_fn, params, first, objective_rng, dropout_rng)
        zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

        def add(carry, xs):
            index, micro_batch = xs
            result = grad_fn(params, micro_batch, objective_rng, jax.random.fold_in(dropout_rng, index))
            return jax.tree.map(jnp.add, carry, result), None

        total, _ = jax.lax.scan(add, zeros, (jnp.arange(num_micro_batches), micro))
        return total

    return accumulated


def train_step(
    state: TrainState,
    batch: dict,
    *,
    seed: int,
    learning_rate: Callable[[jax.Array], jax.Array],
    objective: objectives.Objective = objectives.CAUSAL,
    grad_accum_steps: int = 1,
    skip_nonfinite: bool = False,
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
      skip_nonfinite: a step whose loss or gradient norm is not finite leaves params and optimizer state
        as they were (the step count still advances, so the batches stay those of their steps); the
        metrics then count it as "skipped".
      axis_name: the pmap axis to sum gradients and statistics over, or None on one device.
    Returns:
      (new state, metrics: loss, accuracy, learning_rate, grad_norm, tokens; skipped with skip_nonfinite).
    """
    objective_rng, rng = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), state.step))
    if axis_name is not None:
        rng = jax.random.fold_in(rng, jax.lax.axis_index(axis_name))
    grad_fn = functools.partial(loss_sums_and_grads, apply_fn=state.apply_fn, objective=objective)
    if grad_accum_steps > 1:
        grad_fn = accumulate(grad_fn, grad_accum_steps)
    sums, grads = grad_fn(state.params, batch, objective_rng, rng)
    if axis_name is not None:
        sums, grads = jax.lax.psum((sums, grads), axis_name)
    total = jnp.maximum(sums["weight"], 1.0)
    grads = jax.tree.map(lambda g: g / total, grads)  # the gradient of the mean loss over all tokens
    metrics = {
        "loss": sums["loss"] / total,
        "accuracy": sums["correct"] / total,
        "learning_rate": learning_rate(state.step),
        "grad_norm": optax.tree.norm(grads),
        "tokens": sums["weight"],
    }
    new_state = state.apply_gradients(grads=grads)
    if skip_nonfinite:
        finite = jnp.isfinite(metrics["loss"]) & jnp.isfinite(metrics["grad_norm"])
        keep = lambda new, old: jnp.where(finite, new, old)  # noqa: E731
        new_state = new_state.replace(
            params=jax.tree.map(keep, new_state.params, state.params),
            opt_state=jax.tree.map(keep, new_state.opt_state, state.opt_state),
        )
        metrics["skipped"] = 1.0 - finite.astype(jnp.float32)
    return new_state, metrics


def eval_step(
    state: TrainState,
    batch: dict,
    *,
    statistics: Callable,
    objective: objectives.Objective = objectives.CAUSAL,
    seed: int = 0,
    axis_name: str | None = None,
) -> dict[str, jax.Array]:
    """An evaluator's summed statistics of one eval batch, over all devices of the axis.

    Args:
      statistics: (logits, targets, weights) -> dict of sums (an evaluator's, lm/evaluators/).
      objective: turns the batch into model inputs, targets and weights, and names the model method.
      seed: fixes the objective's randomness (with the row ids), so every eval sees the same masks.
    """
    inputs, targets, weights = objective.prepare(batch, jax.random.PRNGKey(seed))
    logits = state.apply_fn({"params": state.params}, **inputs, deterministic=True, method=objective.method)
    sums = statistics(logits, targets, weights)
    if axis_name is not None:
        sums = jax.lax.psum(sums, axis_name)
    return sums
