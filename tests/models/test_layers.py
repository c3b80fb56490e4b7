"""The building blocks against hand-written maths: the MLP, merged batch axes, the block's inputs."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lm.models.attention import causal_mask
from lm.models.layers import Block, BlockInputs, Mlp, Norm, merge_batch_axes


def test_swiglu_mlp_is_silu_gate_times_up_then_down():
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 3, 4))
    mlp = Mlp(d_ff=6, activation="swiglu", use_bias=False)
    params = mlp.init(jax.random.PRNGKey(1), x)["params"]
    up, gate, down = (params[name]["kernel"] for name in ("up", "gate", "down"))
    expected = (jax.nn.silu(x @ gate) * (x @ up)) @ down
    np.testing.assert_allclose(mlp.apply({"params": params}, x), expected, rtol=1e-5, atol=1e-6)


def test_merging_batch_axes_changes_no_value():
    dense = nn.Dense(5)
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 3, 4))
    params = dense.init(jax.random.PRNGKey(1), x)
    merged = merge_batch_axes(lambda h: dense.apply(params, h), x)
    assert merged.shape == (2, 3, 5)
    np.testing.assert_allclose(merged, dense.apply(params, x), rtol=1e-6)


def test_rmsnorm_divides_by_the_root_mean_square():
    x = jnp.array([[3.0, 4.0]])
    norm = Norm(kind="rmsnorm", eps=0.0)
    out = norm.apply(norm.init(jax.random.PRNGKey(0), x), x)
    np.testing.assert_allclose(out, x / np.sqrt(12.5), rtol=1e-6)


def test_no_norm_is_the_identity_without_parameters():
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 3))
    norm = Norm(kind="none")
    variables = norm.init(jax.random.PRNGKey(0), x)
    assert not jax.tree.leaves(variables)
    np.testing.assert_array_equal(norm.apply(variables, x), x)


def test_block_inputs_carry_deterministic_as_static_and_arrays_as_leaves():
    positions = jnp.arange(4)[None]
    inputs = BlockInputs(mask=causal_mask(positions, positions), positions=positions, deterministic=False)
    leaves, treedef = jax.tree.flatten(inputs)
    assert len(leaves) == 2  # mask and positions; cache_index None; deterministic is part of the structure
    assert jax.tree.unflatten(treedef, leaves).deterministic is False


def test_block_with_dropout_is_random_only_when_not_deterministic():
    x = jax.random.normal(jax.random.PRNGKey(0), (1, 4, 8))
    positions = jnp.arange(4)[None]
    mask = causal_mask(positions, positions)
    block = Block(num_heads=2, d_ff=16, dropout=0.5)
    params = block.init(jax.random.PRNGKey(1), x, BlockInputs(mask=mask, positions=positions))["params"]

    def run(deterministic, seed):
        inputs = BlockInputs(mask=mask, positions=positions, deterministic=deterministic)
        out, _ = block.apply({"params": params}, x, inputs, rngs={"dropout": jax.random.PRNGKey(seed)})
        return out

    np.testing.assert_array_equal(run(True, 0), run(True, 1))
    assert not np.allclose(run(False, 0), run(False, 1))
