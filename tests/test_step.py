"""The train step under jit and pmap, gradient accumulation, and the optimizer."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lm import config as config_lib
from lm import objectives, optim, parallel, step
from lm.data import tokenizers
from lm.models.config import ModelConfig
from lm.models.transformer import TransformerLM, init_params

# No biases: the key bias has an exactly-zero gradient, which Adam turns into noise-sized updates.
MODEL = ModelConfig(vocab_size=17, num_layers=2, num_heads=2, d_model=16, d_ff=32, max_len=8, use_bias=False)


def make_state(optim_overrides=None):
    c = config_lib.default_config()
    c.optim.warmup_steps = 0
    c.optim.learning_rate = 1e-2
    for k, v in (optim_overrides or {}).items():
        c.optim[k] = v
    c = config_lib.resolve(c, MODEL.vocab_size)
    model = TransformerLM(MODEL)
    state = step.TrainState.create(
        apply_fn=model.apply, params=init_params(model, jax.random.PRNGKey(0)), tx=optim.make(c.optim)
    )
    return state, c


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
    return objectives.make(c, tokenizers.CharTokenizer("abcdefghij", specials=True))  # vocab 17 = 10 + 7 specials


def run_steps(num_devices, grad_accum_steps=1, data=None, objective=objectives.CAUSAL):
    state, c = make_state()
    runner = parallel.Runner(num_devices)
    fn = runner.compile(
        step.train_step,
        seed=0,
        learning_rate=optim.schedule(c.optim),
        grad_accum_steps=grad_accum_steps,
        objective=objective,
    )
    state = runner.put_state(state)
    history = []
    for batch in data or batches(3):
        state, metrics = fn(state, runner.put_batch(batch))
        history.append(runner.get_metrics(metrics))
    return runner.get_state(state), history


def assert_trees_close(a, b, atol):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=atol)


def test_eight_fake_devices_are_visible():
    assert jax.local_device_count() == 8


def test_pmap_on_8_devices_equals_one_device_on_the_same_global_batch():
    single, single_metrics = run_steps(1)
    multi, multi_metrics = run_steps(8)
    # Adam divides by sqrt(v): near-zero gradients turn float rounding into ~1e-6 differences.
    assert_trees_close(single.params, multi.params, atol=2e-5)
    # Adam is blind to a gradient's scale; grad_norm is not, so a wrong device average shows here.
    for a, b in zip(single_metrics, multi_metrics, strict=True):
        for key in a:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-5, err_msg=key)
    # and training moved the weights (the comparison is not between two untouched states)
    initial, _ = make_state()
    assert float(jnp.abs(single.params["embed"]["embedding"] - initial.params["embed"]["embedding"]).max()) > 1e-3


def test_pmap_equals_one_device_for_the_masked_objective():
    single, single_metrics = run_steps(1, objective=masked_objective())
    multi, multi_metrics = run_steps(8, objective=masked_objective())
    assert_trees_close(single.params, multi.params, atol=2e-5)
    for a, b in zip(single_metrics, multi_metrics, strict=True):
        for key in a:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-5, err_msg=key)
    assert 0 < single_metrics[0]["tokens"] < 16 * 8  # only the selected positions carry loss


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


def test_schedule_matches_nanogpts_get_lr():
    c = config_lib.default_config()
    c.optim.learning_rate, c.optim.min_learning_rate, c.optim.warmup_steps = 1e-3, 1e-4, 100
    c.optim.decay_steps = 2000
    lr = optim.schedule(c.optim)

    def nanogpt(it):  # nanoGPT train.py get_lr
        if it < 100:
            return 1e-3 * (it + 1) / (100 + 1)
        if it > 2000:
            return 1e-4
        ratio = (it - 100) / (2000 - 100)
        return 1e-4 + 0.5 * (1.0 + np.cos(np.pi * ratio)) * (1e-3 - 1e-4)

    for it in [0, 50, 99, 100, 101, 1000, 1999, 2000, 2500]:
        np.testing.assert_allclose(float(lr(it)), nanogpt(it), rtol=1e-5, err_msg=str(it))


def test_weight_decay_mask():
    params = init_params(TransformerLM(MODEL), jax.random.PRNGKey(0))
    mask = optim.decay_mask(params, decay_embeddings=False)
    assert mask["block_0"]["mlp"]["up"]["kernel"]
    assert not mask["block_0"]["mlp_norm"]["norm"]["scale"]
    assert not mask["block_0"]["attention_norm"]["norm"]["scale"]
    assert not mask["embed"]["embedding"]
    assert optim.decay_mask(params, decay_embeddings=True)["embed"]["embedding"]


@pytest.mark.parametrize("num_devices", [1, 8])
def test_prefetch_puts_batches_on_the_devices_ahead_and_in_order(num_devices):
    runner = parallel.Runner(num_devices)
    pulled = []

    def batches():
        for s in range(5):
            pulled.append(s)
            yield {"inputs": np.full((8, 3), s, np.int32)}

    fetched = runner.prefetch(batches(), size=2)
    first = next(fetched)
    assert pulled == [0, 1, 2]  # two more batches already on their way to the devices
    got = [first, *fetched]
    assert [int(np.asarray(b["inputs"]).flat[0]) for b in got] == [0, 1, 2, 3, 4]
    shards = got[0]["inputs"].addressable_shards
    assert {shard.device for shard in shards} == set(runner.devices)
    expected = (1, 8 // num_devices, 3) if num_devices > 1 else (8, 3)  # each device holds its slice
    assert all(shard.data.shape == expected for shard in shards)
