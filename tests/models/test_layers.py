"""The building blocks against hand-written maths: the MLP, merged batch axes, the block's inputs."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lm.models.attention import causal_mask
from lm.models.layers import Block, BlockInputs, Mlp, MultiHeadAttention, Norm, merge_batch_axes


def test_swiglu_mlp_is_silu_gate_times_up_then_down():
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 3, 4))
    mlp = Mlp(d_ff=6, activation="swiglu", use_bias=False)
    params = mlp.init(jax.random.PRNGKey(1), x)["params"]
    up, gate, down = (params[name]["kernel"] for name in ("up", "gate", "down"))
    expected = (jax.nn.silu(x @ gate) * (x @ up)) @ down
    np.testing.assert_allclose(mlp.apply({"params": params}, x), expected, rtol=1e-5, atol=1e-6)


def test_geglu_mlp_is_gelu_gate_times_up_then_down():
    """T5 v1.1's gated-gelu: gelu_new(wi_0 x) * wi_1 x, then wo (tanh GELU; exact with gelu_approximate=False)."""
    x = 2.0 * jax.random.normal(jax.random.PRNGKey(0), (2, 3, 4))
    for approximate in (True, False):
        mlp = Mlp(d_ff=6, activation="geglu", gelu_approximate=approximate, use_bias=False)
        params = mlp.init(jax.random.PRNGKey(1), x)["params"]
        up, gate, down = (np.asarray(params[name]["kernel"]) for name in ("up", "gate", "down"))
        g = np.asarray(x) @ gate
        if approximate:
            act = 0.5 * g * (1 + np.tanh(np.sqrt(2 / np.pi) * (g + 0.044715 * g**3)))
        else:
            act = 0.5 * g * (1 + np.vectorize(math.erf)(g / np.sqrt(2)))
        expected = (act * (np.asarray(x) @ up)) @ down
        np.testing.assert_allclose(mlp.apply({"params": params}, x), expected, rtol=1e-5, atol=1e-5)


def test_attention_heads_may_have_a_width_of_their_own():
    """head_dim need not be D / N (T5 v1.1-small: d_model 512, 6 heads of 64): q, k, v project D -> N x H, out back."""
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 3, 8))
    attend = MultiHeadAttention(num_heads=3, head_dim=5, use_bias=False)
    params = attend.init(jax.random.PRNGKey(1), x, None)["params"]
    assert params["query"]["kernel"].shape == (8, 3, 5) and params["out"]["kernel"].shape == (3, 5, 8)
    out, _ = attend.apply({"params": params}, x, None)
    assert out.shape == (2, 3, 8)


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


def test_parallel_residual_block_adds_both_branches_of_its_input():
    """x + attention(norm1(x)) + mlp(norm2(x)), each sub-module applied by hand with the block's parameters."""
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 4, 8))
    positions = jnp.broadcast_to(jnp.arange(4), (2, 4))
    inputs = BlockInputs(mask=causal_mask(positions, positions), positions=positions)
    block = Block(num_heads=2, d_ff=16, parallel_residual=True)
    params = block.init(jax.random.PRNGKey(1), x, inputs)["params"]
    leaves, treedef = jax.tree.flatten(params)  # norms off (1, 0), so that norm1 and norm2 differ; larger weights
    keys = jax.random.split(jax.random.PRNGKey(2), len(leaves))
    params = treedef.unflatten([p + 0.3 * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys, strict=True)])
    out, _ = block.apply({"params": params}, x, inputs)

    def norm(name):
        return Norm().apply({"params": params[name]}, x)

    attention, _ = MultiHeadAttention(num_heads=2, head_dim=4).apply(
        {"params": params["attention"]}, norm("attention_norm"), inputs.mask, positions
    )
    mlp = Mlp(d_ff=16).apply({"params": params["mlp"]}, norm("mlp_norm"))
    np.testing.assert_allclose(out, x + attention + mlp, atol=1e-5)
    sequential, _ = Block(num_heads=2, d_ff=16).apply({"params": params}, x, inputs)
    assert not np.allclose(out, sequential, atol=1e-2)
