"""Choosing the next token: top-k, top-p, repetition penalty, the prompt's tokens (lm/decoding/sampling.py)."""

import jax
import jax.numpy as jnp
import numpy as np

from lm.decoding import sampling


def test_top_k_keeps_the_k_largest():
    logits = jnp.array([[1.0, 4.0, 3.0, 2.0]])
    out = sampling.filter_logits(logits, jnp.array(2), jnp.array(1.0))
    np.testing.assert_array_equal(out, [[-np.inf, 4.0, 3.0, -np.inf]])


def test_top_p_keeps_the_smallest_set_reaching_p():
    probs = np.array([[0.5, 0.3, 0.15, 0.05]])
    logits = jnp.log(jnp.asarray(probs))
    kept = np.isfinite(sampling.filter_logits(logits, jnp.array(0), jnp.array(0.7)))
    np.testing.assert_array_equal(kept, [[True, True, False, False]])  # 0.5 < 0.7 <= 0.5 + 0.3
    kept = np.isfinite(sampling.filter_logits(logits, jnp.array(0), jnp.array(0.5)))
    np.testing.assert_array_equal(kept, [[True, False, False, False]])
    kept = np.isfinite(sampling.filter_logits(logits, jnp.array(0), jnp.array(1.0)))
    assert kept.all()


GREEDY = sampling.Options(temperature=0.0)


def test_repetition_penalty_divides_positive_and_multiplies_negative_logits_of_seen_tokens():
    logits = jnp.array([[2.0, -1.0, 4.0, -3.0]])
    seen = jnp.array([[True, True, False, False]])
    out = sampling.penalize_repetition(logits, seen, 2.0)
    np.testing.assert_allclose(out, [[1.0, -2.0, 4.0, -3.0]])


def test_seen_tokens_marks_each_rows_prompt_tokens_but_not_its_padding():
    prompt = jnp.array([[0, 3, 3], [1, 2, 0]])
    valid = jnp.array([[False, True, True], [True, True, False]])
    expected = np.zeros((2, 5), bool)
    expected[0, 3] = True
    expected[1, [1, 2]] = True  # row 1's padding is token 0: not seen
    np.testing.assert_array_equal(sampling.seen_tokens(prompt, valid, 5), expected)


def test_choose_token_writes_eos_for_rows_already_done():
    logits = jnp.array([[0.0, 5.0, 1.0], [0.0, 1.0, 5.0]])
    seen = jnp.zeros((2, 3), bool)
    options = sampling.Options(temperature=0.0)
    token, seen, done = sampling.choose_token(
        0, logits, seen, jnp.array([False, True]), jax.random.PRNGKey(0), options, eos_id=0
    )
    np.testing.assert_array_equal(token, [1, 0])  # row 1 is done: EOS (0), whatever its logits say
    np.testing.assert_array_equal(done, [False, True])
    np.testing.assert_array_equal(seen, [[False, True, False], [True, False, False]])
