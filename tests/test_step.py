"""The train step: gradient accumulation wraps the gradient function; weights decide what counts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lm import config as config_lib
from lm import objectives, optim, parallel, run, step
from lm.data import tokenizers
from lm.models.config import ModelConfig
from lm.models.transformer import TransformerLM, init_params

# No biases: the key bias has an exactly-zero gradient, which Adam turns into noise-sized updates.
MODEL = ModelConfig(vocab_size=17, num_layers=2, num_heads=2, d_model=16, d_ff=32, max_len=8, use_bias=False)


def make_state(optim_overrides=None):
    """The state prepare makes of MODEL's parameters (lm/run.py make_state), and the config."""
    c = config_lib.default_config()
    c.optim.warmup_steps = 0
    c.optim.learning_rate = 1e-2
    for k, v in (optim_overrides or {}).items():
        c.optim[k] = v
    c = config_lib.resolve(c, MODEL.vocab_size)
    model = TransformerLM(MODEL)
    return run.make_state(c, model, init_params(model, jax.random.PRNGKey(0)), objectives.CAUSAL), c


def batches(n, batch_size=16, seed=0):
    rng = np.random.default_rng(seed)
    return [
        {
            "inputs": rng.integers(0, 10, (batch_size, 8)),
            "targets": rng.integers(0, 10, (batch_size, 8)),
            "rows": np.arange(batch_size, dtype=np.int32),
        }
        for _ in range(n)
    ]


def masked_objective():
    c = config_lib.default_config()
    c.objective = "masked"
    c.masking.rate = 0.3
    tokenizer = tokenizers.CharTokenizer("abcdefghij", specials=True)  # vocab 17 = 10 + 7 specials
    return objectives.get(c.objective).bind(c, tokenizer)


def run_steps(num_devices, grad_accum_steps=1, data=None, objective=objectives.CAUSAL, runner=None):
    """Three train steps on `num_devices` under pmap (or on `runner`): (the final state, each step's metrics)."""
    state, c = make_state({"grad_accum_steps": grad_accum_steps})
    runner = runner or parallel.Runner(num_devices)
    fn = run.train_step_of(c, runner, objective)  # the launcher's step for this config
    state = runner.put_state(state)
    history = []
    for batch in data or batches(3):
        state, metrics = fn(state, runner.put_batch(batch))
        history.append(runner.get_metrics(metrics))
    return runner.get_state(state), history


def assert_trees_close(a, b, atol):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=atol)


@pytest.mark.parametrize("num_devices,objective", [(1, "causal"), (2, "causal"), (2, "masked")])
def test_gradient_accumulation_equals_one_k_times_larger_batch(num_devices, objective):
    data = batches(2)
    chosen = objectives.CAUSAL if objective == "causal" else masked_objective()
    big, big_metrics = run_steps(num_devices, grad_accum_steps=1, data=data, objective=chosen)
    accumulated, acc_metrics = run_steps(num_devices, grad_accum_steps=4, data=data, objective=chosen)
    assert_trees_close(big.params, accumulated.params, atol=2e-5)
    np.testing.assert_allclose(big_metrics[-1]["grad_norm"], acc_metrics[-1]["grad_norm"], rtol=1e-5)
    np.testing.assert_allclose(big_metrics[-1]["loss"], acc_metrics[-1]["loss"], rtol=1e-5)


def test_weights_zero_tokens_out_of_the_loss():
    state, c = make_state()
    data = batches(1)[0]
    weights = np.ones((16, 8), np.float32)
    weights[:, 4:] = 0.0
    scrambled = dict(data, targets=np.where(weights > 0, data["targets"], 0), weights=weights)
    fn = jax.jit(lambda s, b: step.train_step(s, b, seed=0, learning_rate=optim.schedule(c.optim)))
    _, m1 = fn(state, dict(data, weights=weights))
    _, m2 = fn(state, scrambled)
    np.testing.assert_allclose(m1["loss"], m2["loss"], rtol=1e-6)
    assert float(m1["tokens"]) == 16 * 4


def test_accumulation_sums_whatever_the_gradient_function_returns_micro_batch_by_micro_batch():
    def grad_fn(params, batch, objective_rng, dropout_rng):
        noise = jax.random.uniform(dropout_rng, ())  # each micro-batch's own dropout key
        sums = {"rows": jnp.float32(batch["x"].shape[0]), "column_sums": batch["x"].sum(0), "noise": noise}
        return sums, {"w": params["w"] * batch["x"].sum()}

    params = {"w": jnp.arange(3.0)}
    batch = {"x": jnp.arange(24.0).reshape(8, 3)}
    objective_rng, dropout_rng = jax.random.PRNGKey(0), jax.random.PRNGKey(1)
    sums, grads = step.accumulate(grad_fn, 4)(params, batch, objective_rng, dropout_rng)
    whole, whole_grads = grad_fn(params, batch, objective_rng, dropout_rng)
    np.testing.assert_allclose(sums["rows"], 8.0)
    np.testing.assert_allclose(sums["column_sums"], whole["column_sums"])  # a [3] statistic: zeros of its shape
    np.testing.assert_allclose(grads["w"], whole_grads["w"])
    expected_noise = sum(float(jax.random.uniform(jax.random.fold_in(dropout_rng, k), ())) for k in range(4))
    np.testing.assert_allclose(sums["noise"], expected_noise, rtol=1e-6)


def test_a_non_finite_step_is_skipped_only_when_asked():
    state, c = make_state()
    broken = state.replace(params=jax.tree.map(lambda p: p, state.params))
    broken.params["embed"]["embedding"] = broken.params["embed"]["embedding"].at[0, 0].set(jnp.inf)
    batch = dict(batches(1)[0], inputs=np.zeros((16, 8), np.int64))  # token 0 everywhere: its inf reaches the loss
    lr = optim.schedule(c.optim)
    skip = c.copy_and_resolve_references()
    skip.train.nonfinite = "skip"
    copy = jax.tree.map(jnp.copy, broken)  # the step donates its state
    skipped, m = run.train_step_of(skip, parallel.Runner(1), objectives.CAUSAL)(copy, batch)
    assert float(m["skipped"]) == 1.0 and not np.isfinite(float(m["loss"]))
    assert int(skipped.step) == 1  # the step count still advances: the next batch is the next step's
    for x, y in zip(
        jax.tree.leaves((skipped.params, skipped.opt_state)),
        jax.tree.leaves((broken.params, broken.opt_state)),
        strict=True,
    ):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    applied, m = jax.jit(lambda s, b: step.train_step(s, b, seed=0, learning_rate=lr))(broken, batch)
    assert "skipped" not in m and not np.isfinite(np.asarray(applied.params["block_0"]["mlp"]["up"]["kernel"])).all()
    fine, m = jax.jit(lambda s, b: step.train_step(s, b, seed=0, learning_rate=lr, skip_nonfinite=True))(state, batch)
    assert float(m["skipped"]) == 0.0
    assert not np.array_equal(
        np.asarray(fine.params["embed"]["embedding"]), np.asarray(state.params["embed"]["embedding"])
    )
