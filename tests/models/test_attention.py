"""Attention and masks against hand-written arrays and a naive loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lm.models import attention


def naive_attention(q, k, v, mask, bias=None, scale=True):
    """Loops over batch, head and query: softmax over the allowed keys only (of q.k / sqrt(H) + bias)."""
    B, T, N, H = q.shape
    out = np.zeros_like(q)
    for b in range(B):
        for n in range(N):
            for t in range(T):
                allowed = np.broadcast_to(mask, (B, N, T, k.shape[1]))[b, n, t]
                if not allowed.any():
                    continue
                scores = k[b, :, n] @ q[b, t, n] / (np.sqrt(H) if scale else 1.0)
                if bias is not None:
                    scores = scores + np.broadcast_to(bias, (B, N, T, k.shape[1]))[b, n, t]
                scores = np.where(allowed, scores, -np.inf)
                w = np.exp(scores - scores.max())
                w /= w.sum()
                out[b, t, n] = w @ v[b, :, n]
    return out


def test_causal_mask_matches_hand_written():
    pos = jnp.arange(3)[None]
    expected = np.array([[1, 0, 0], [1, 1, 0], [1, 1, 1]], bool)
    np.testing.assert_array_equal(attention.causal_mask(pos, pos)[0, 0], expected)


def test_causal_mask_with_offset_queries_over_a_cache():
    queries = jnp.array([[2, 3]])  # two new tokens at positions 2 and 3
    keys = jnp.arange(5)[None]  # a cache of 5 slots
    expected = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]], bool)
    np.testing.assert_array_equal(attention.causal_mask(queries, keys)[0, 0], expected)


def test_sliding_window_mask_matches_hand_written():
    pos = jnp.arange(5)[None]
    window = attention.sliding_window_mask(pos, pos, 2)  # a query sees itself and the position before
    expected = np.array(
        [[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 1, 1]],
        bool,
    )
    np.testing.assert_array_equal((attention.causal_mask(pos, pos) & window)[0, 0], expected)


def test_padding_mask_matches_hand_written():
    valid = jnp.array([[True, True, False]])
    expected = np.array([[1, 1, 0], [1, 1, 0], [0, 0, 0]], bool)
    np.testing.assert_array_equal(attention.padding_mask(valid, valid)[0, 0], expected)


def test_segment_mask_matches_hand_written():
    seg = jnp.array([[1, 1, 2, 2]])
    expected = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]], bool)
    np.testing.assert_array_equal(attention.segment_mask(seg, seg)[0, 0], expected)


def attend(implementation, q, k, v, mask):
    if implementation == "einsum":
        return attention.dot_product_attention(q, k, v, mask)
    return attention.fused_dot_product_attention(q, k, v, mask, implementation)


@pytest.mark.parametrize("implementation", ["einsum", "xla"])
@pytest.mark.parametrize("kind", ["none", "causal", "padded"])
def test_attention_matches_naive(kind, implementation):
    rng = np.random.default_rng(0)
    B, T, N, H = 2, 5, 3, 4
    q, k, v = (rng.normal(size=(B, T, N, H)).astype(np.float32) for _ in range(3))
    pos = jnp.broadcast_to(jnp.arange(T), (B, T))
    mask = {
        "none": np.ones((B, 1, T, T), bool),
        "causal": np.asarray(attention.causal_mask(pos, pos)),
        "padded": np.asarray(attention.causal_mask(pos, pos) & attention.padding_mask(pos < 3, pos < 3)),
    }[kind]
    got = attend(implementation, jnp.asarray(q), jnp.asarray(k), jnp.asarray(v), jnp.asarray(mask))
    np.testing.assert_allclose(got, naive_attention(q, k, v, mask), atol=1e-5)


@pytest.mark.parametrize("implementation", ["einsum", "xla"])
@pytest.mark.parametrize("scale", [True, False])
def test_attention_with_a_bias_and_without_scaling_matches_naive(implementation, scale):
    """T5's attention: logits q.k (no 1 / sqrt(H)) plus a bias per head and (query, key) pair."""
    rng = np.random.default_rng(1)
    B, T, N, H = 2, 5, 3, 4
    q, k, v = (rng.normal(size=(B, T, N, H)).astype(np.float32) for _ in range(3))
    bias = rng.normal(size=(B, N, T, T)).astype(np.float32)
    pos = jnp.broadcast_to(jnp.arange(T), (B, T))
    mask = np.asarray(attention.causal_mask(pos, pos) & attention.padding_mask(pos < 4, pos < 4))
    args = [jnp.asarray(x) for x in (q, k, v, mask)]
    if implementation == "einsum":
        got = attention.dot_product_attention(*args, bias=jnp.asarray(bias), scale=scale)
    else:
        got = attention.fused_dot_product_attention(*args, implementation, bias=jnp.asarray(bias), scale=scale)
    np.testing.assert_allclose(got, naive_attention(q, k, v, mask, bias, scale), atol=1e-5)
    if not scale:  # and it is not the scaled attention
        assert np.abs(np.asarray(got) - naive_attention(q, k, v, mask, bias, True)).max() > 1e-2


@pytest.mark.parametrize("implementation", ["einsum", "xla"])
def test_fully_masked_query_gets_zeros_not_a_uniform_average(implementation):
    q = k = v = jnp.ones((1, 2, 1, 4))
    mask = jnp.array([[[[True, False], [False, False]]]])
    out = attend(implementation, q, k, v, mask)
    np.testing.assert_array_equal(out[0, 1], 0.0)
    np.testing.assert_allclose(out[0, 0], 1.0)


def test_attention_dropout_keeps_the_expectation_and_drops_weights():
    q = k = jnp.zeros((1, 1, 1, 4))
    v = jnp.ones((1, 64, 1, 4))
    k = jnp.zeros((1, 64, 1, 4))
    outs = jnp.stack(
        [attention.dot_product_attention(q, k, v, None, jax.random.PRNGKey(i), 0.5)[0, 0, 0, 0] for i in range(200)]
    )
    assert float(outs.std()) > 0.05  # weights were dropped
    assert abs(float(outs.mean()) - 1.0) < 0.05  # and the kept ones rescaled
