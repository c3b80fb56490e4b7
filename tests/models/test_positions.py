"""Sinusoidal and rotary positions against hand-written values; rotary scores are relative."""

import jax.numpy as jnp
import numpy as np

from lm.models.positions import apply_rotary, sinusoidal


def test_sinusoidal_matches_hand_written():
    enc = sinusoidal(jnp.array([[0, 1]]), 4)
    # w = [1, 10000^(-1/2)] = [1, 0.01]; layout [sin(p w0), sin(p w1), cos(p w0), cos(p w1)]
    expected = np.array([[0, 0, 1, 1], [np.sin(1), np.sin(0.01), np.cos(1), np.cos(0.01)]])
    np.testing.assert_allclose(enc[0], expected, atol=1e-6)


def test_rotary_rotates_pairs_by_position_times_frequency():
    x = jnp.array([1.0, 0.0, 0.0, 1.0]).reshape(1, 1, 1, 4)  # pairs (x0, x2) = (1, 0), (x1, x3) = (0, 1)
    out = apply_rotary(x, jnp.array([[2]]))[0, 0, 0]
    a0, a1 = 2.0, 2.0 * 0.01  # angles p * base^(-2i/H) for i = 0, 1
    expected = [np.cos(a0), -np.sin(a1), np.sin(a0), np.cos(a1)]
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_rotary_scores_depend_only_on_relative_position():
    rng = np.random.default_rng(0)
    q = jnp.asarray(rng.normal(size=(1, 1, 1, 8)), jnp.float32)
    k = jnp.asarray(rng.normal(size=(1, 1, 1, 8)), jnp.float32)

    def score(pq, pk):
        return float((apply_rotary(q, jnp.array([[pq]])) * apply_rotary(k, jnp.array([[pk]]))).sum())

    np.testing.assert_allclose(score(5, 2), score(13, 10), rtol=1e-5)
    assert abs(score(5, 2) - score(5, 4)) > 1e-3
    np.testing.assert_allclose(jnp.linalg.norm(apply_rotary(q, jnp.array([[7]]))), jnp.linalg.norm(q), rtol=1e-6)
