"""Sinusoidal and rotary positions and T5's relative buckets against hand-written values; rotary scores are
relative."""

import jax.numpy as jnp
import numpy as np

from lm.models.positions import Rope, apply_rotary, relative_position_bias, relative_position_bucket, sinusoidal


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


def test_partial_rotary_turns_the_first_dims_and_passes_the_rest():
    """fraction 0.5 of H = 8: dims 0-3 rotate as a 4-dim head would (pairs (0, 2), (1, 3)); 4-7 pass."""
    x = jnp.arange(1.0, 9.0).reshape(1, 1, 1, 8)
    out = apply_rotary(x, jnp.array([[3]]), Rope(fraction=0.5))
    np.testing.assert_allclose(out[..., :4], apply_rotary(x[..., :4], jnp.array([[3]])), atol=1e-6)
    np.testing.assert_array_equal(out[..., 4:], x[..., 4:])
    assert not np.allclose(out[..., :4], x[..., :4])


def test_linear_scaling_divides_positions():
    x = jnp.asarray(np.random.default_rng(1).normal(size=(1, 1, 2, 8)), jnp.float32)
    np.testing.assert_allclose(
        apply_rotary(x, jnp.array([[6]]), Rope(factor=4.0)), apply_rotary(x, jnp.array([[1.5]])), atol=1e-6
    )


def test_relative_position_buckets_match_hand_written():
    """8 buckets. Bidirectional: 4 per side, distances 0, 1 exact, then log2(d / 2) steps up to 8 (the last
    bucket: 3, or 7 after the query). Causal: keys after the query in bucket 0; distances 0-3 exact, then
    4 + 4 log2(d / 4), at most 7."""
    relative = jnp.array([-100, -7, -5, -3, -1, 0, 1, 3, 5, 7, 100])
    both = relative_position_bucket(relative, bidirectional=True, num_buckets=8, max_distance=8)
    np.testing.assert_array_equal(both, [3, 3, 3, 2, 1, 0, 5, 6, 7, 7, 7])
    relative = jnp.array([-100, -9, -7, -5, -3, -1, 0, 1, 5])
    causal = relative_position_bucket(relative, bidirectional=False, num_buckets=8, max_distance=8)
    np.testing.assert_array_equal(causal, [7, 7, 7, 5, 3, 1, 0, 0, 0])


def test_relative_position_bias_is_each_pairs_bucket_row_of_the_table_per_head():
    table = jnp.arange(8 * 3, dtype=jnp.float32).reshape(8, 3)  # [buckets, N]
    positions = jnp.array([[0, 1, 2, 3, 4]])
    bias = relative_position_bias(table, positions, positions, bidirectional=False, max_distance=8)
    assert bias.shape == (1, 3, 5, 5)
    for t in range(5):
        for s in range(5):
            bucket = relative_position_bucket(jnp.array(s - t), bidirectional=False, num_buckets=8, max_distance=8)
            np.testing.assert_array_equal(bias[0, :, t, s], table[bucket])


def test_llama3_scaling_keeps_short_wavelengths_divides_long_ones_and_blends_between():
    """Llama 3.1's rule on H = 16 (base 10000: wavelengths 2 pi, 20, 63, 199, 628, 1987, 6283, 19869), original
    context 64, low / high frequency factors 1 / 4, factor 8: wavelengths < 16 kept, > 64 divided by 8, between
    (20 and 63) blended by s = (64 / wavelength - 1) / 3."""
    rope = Rope(scaling="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_len=64)
    plain = 10000.0 ** (-np.arange(8) / 8)
    wavelength = 2 * np.pi / plain
    s = (64 / wavelength - 1) / 3
    blended = (1 - s) * plain / 8 + s * plain
    expected = np.array([plain[0], blended[1], blended[2], *(plain[3:] / 8)])
    np.testing.assert_allclose(rope.frequencies(16), expected, rtol=1e-6)
    np.testing.assert_allclose(Rope(factor=2.0).frequencies(16), plain / 2, rtol=1e-6)
