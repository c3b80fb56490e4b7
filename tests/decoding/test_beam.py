"""Beam search: one beam is greedy; on a toy distribution where greedy is not the best sequence, beams find it;
the length penalty; the model path against an exhaustive search."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lm.decoding import beam, generate
from tests.decoding.test_generate import GREEDY, run_generate, tiny_model

# A toy language over tokens {0: EOS, 1: a, 2: b}; the next token depends only on the last one.
FIRST = np.log([0.0001, 0.6, 0.3999])  # a is likelier than b at first...
AFTER = {1: np.log([0.3, 0.35, 0.35]), 2: np.log([0.9, 0.05, 0.05]), 0: np.log([1.0, 1e-9, 1e-9])}
TABLE = jnp.asarray(np.stack([AFTER[0], AFTER[1], AFTER[2]]), jnp.float32)  # [last token, next token]


def toy_search(num_beams, max_new_tokens=4, alpha=0.0, batch=1):
    def step_fn(last, token, t):
        return TABLE[token], token

    first = jnp.tile(jnp.asarray(FIRST, jnp.float32), (batch, 1))
    gather = lambda last, indices: last[indices]  # noqa: E731
    return beam.search(
        first, jnp.zeros(batch, jnp.int32), step_fn, gather,
        num_beams=num_beams, max_new_tokens=max_new_tokens, eos_id=0, alpha=alpha,
    )  # fmt: skip


def sequence_log_prob(tokens):
    total, last = FIRST[tokens[0]], tokens[0]
    for token in tokens[1:]:
        total, last = total + AFTER[last][token], token
    return total


def test_beams_find_the_sequence_greedy_misses():
    greedy, _, _ = toy_search(num_beams=1)
    assert list(np.asarray(greedy[0, 0])[:2]) == [1, 1]  # a, then a (0.35): not b EOS, the likeliest
    tokens, scores, lengths = toy_search(num_beams=2)
    assert list(np.asarray(tokens[0, 0])[: int(lengths[0, 0])]) == [2, 0]  # b EOS: 0.3999 * 0.9 = 0.36
    np.testing.assert_allclose(scores[0, 0], sequence_log_prob([2, 0]), rtol=1e-5)
    assert scores[0, 0] >= scores[0, 1]


def test_the_best_of_all_sequences_by_exhaustive_search():
    """With as many beams as a step can branch into, the best is the exhaustive search's (alpha 0)."""
    tokens, scores, lengths = toy_search(num_beams=9, max_new_tokens=3)
    best, best_score = None, -np.inf
    for n in range(1, 4):
        for sequence in itertools.product([0, 1, 2], repeat=n):
            if 0 in sequence[:-1] or (n < 3 and sequence[-1] != 0):
                continue  # EOS ends a sequence; a shorter one must end with it
            if sequence_log_prob(list(sequence)) > best_score:
                best, best_score = list(sequence), sequence_log_prob(list(sequence))
    assert list(np.asarray(tokens[0, 0])[: int(lengths[0, 0])]) == best
    np.testing.assert_allclose(scores[0, 0], best_score, rtol=1e-5)


def test_the_length_penalty_divides_by_gnmts_factor():
    np.testing.assert_allclose(beam.length_penalty(3, 0.6), (8 / 6) ** 0.6)
    np.testing.assert_allclose(beam.length_penalty(7, 0.0), 1.0)
    tokens, scores, lengths = toy_search(num_beams=2, alpha=1.0)
    np.testing.assert_allclose(scores[0, 0], sequence_log_prob([2, 0]) / (7 / 6), rtol=1e-5)


@pytest.mark.parametrize("eos", [None, 5])
def test_one_beam_of_a_model_is_greedy_decoding(eos):
    model, params = tiny_model(vocab_size=11, seed=4)
    prompts = [[1, 2, 3], [4, 5], [7, 7, 2, 9]]
    greedy, lengths = run_generate(model, params, prompts, 8, GREEDY, eos_id=eos)
    tokens, valid = generate.pad_left([np.asarray(p) for p in prompts])
    beams, scores, beam_lengths = beam.compile_beam_search(model, 1, 8, eos)(params, tokens, valid, 0.6)
    np.testing.assert_array_equal(np.asarray(beam_lengths[:, 0]), lengths)
    for row in range(3):
        n = int(lengths[row])
        np.testing.assert_array_equal(np.asarray(beams[row, 0, :n]), greedy[row, :n])


def test_more_beams_score_at_least_as_well_and_scores_are_the_sequences_log_probs():
    model, params = tiny_model(vocab_size=7, seed=5)
    prompt = [[3, 1]]
    tokens, valid = generate.pad_left([np.asarray(p) for p in prompt])
    best = {}
    for k in (1, 4):
        out, scores, lengths = beam.compile_beam_search(model, k, 5, None)(params, tokens, valid, 0.0)
        best[k] = float(scores[0, 0])
        sequence = jnp.concatenate([jnp.asarray(prompt[0]), out[0, 0]])[None]
        log_probs = jax.nn.log_softmax(model.apply({"params": params}, sequence)[0, 1:-1])  # predicting 2..
        expected = float(sum(log_probs[i, int(sequence[0, i + 2])] for i in range(5)))
        np.testing.assert_allclose(best[k], expected, rtol=1e-4)
    assert best[4] >= best[1] - 1e-6


@pytest.mark.parametrize("family", ["encoder_decoder", "gru"])
def test_beams_of_a_model_with_a_source_score_the_sequences_teacher_forced(family):
    """Beams reorder the whole cache (self-attention, cross-attention keys / values, GRU states): the score of
    each beam is the teacher-forced log-probability of its tokens given its own row's source."""
    from lm.models import families
    from lm.models.config import ModelConfig

    config = ModelConfig(family=family, vocab_size=9, num_layers=1, num_heads=2, d_model=16, d_ff=32, max_len=16)
    model = families.build(config)
    params = families.init_params(model, jax.random.PRNGKey(7))
    source = np.array([[3, 4, 5, 6, 2], [7, 8, 0, 0, 0]], np.int32)
    source_valid = source > 0
    prompt, valid = np.full((2, 1), 1, np.int32), np.ones((2, 1), bool)
    out, scores, _ = beam.compile_beam_search(model, 4, 5, None)(params, prompt, valid, 0.0, source, source_valid)
    for row in range(2):
        for k in range(4):
            sequence = jnp.concatenate([jnp.asarray([1]), out[row, k]])[None]
            logits = model.apply({"params": params}, sequence, source=source[row : row + 1],
                                 source_valid=source_valid[row : row + 1])  # fmt: skip
            log_probs = jax.nn.log_softmax(logits[0, :-1])
            expected = float(sum(log_probs[i, int(sequence[0, i + 1])] for i in range(5)))
            np.testing.assert_allclose(float(scores[row, k]), expected, rtol=1e-4, atol=1e-5)
        assert all(scores[row, k] >= scores[row, k + 1] - 1e-6 for k in range(3))
    greedy, _ = generate.compile_generate(model, 5)(
        params, prompt, valid, jax.random.PRNGKey(0), GREEDY, source, source_valid
    )
    one, one_scores, _ = beam.compile_beam_search(model, 1, 5, None)(params, prompt, valid, 0.0, source, source_valid)
    np.testing.assert_array_equal(one[:, 0], greedy)
    assert np.all(np.asarray(scores[:, 0]) >= np.asarray(one_scores[:, 0]) - 1e-6)
