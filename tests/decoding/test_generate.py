"""Generation over the KV cache: greedy equals a naive loop, ragged prompts, EOS, seeds (lm/decoding/generate.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lm.decoding import generate, sampling
from lm.models.config import ModelConfig
from lm.models.transformer import TransformerLM, init_params

GREEDY = sampling.Options(temperature=0.0)


def tiny_model(vocab_size=11, position="rotary", max_len=16, seed=0):
    config = ModelConfig(
        vocab_size=vocab_size, num_layers=2, num_heads=2, d_model=16, d_ff=32, max_len=max_len, position=position
    )
    model = TransformerLM(config)
    return model, init_params(model, jax.random.PRNGKey(seed))


def run_generate(model, params, prompts, max_new_tokens, options=GREEDY, rng=0, eos_id=None, cache=True):
    tokens, valid = generate.pad_left([np.asarray(p) for p in prompts])
    fn = generate.compile_generate(model, max_new_tokens, eos_id, cache=cache)
    out = fn(params, tokens, valid, jax.random.PRNGKey(rng), options)
    return jax.tree.map(np.asarray, out)


def test_greedy_generation_equals_argmax_decoding_without_a_cache():
    model, params = tiny_model()
    fast, lengths = run_generate(model, params, [[1, 2, 3], [4, 5, 6]], 6)
    tokens = jnp.array([[1, 2, 3], [4, 5, 6]])
    for _ in range(6):  # naive: a full forward pass over everything so far, every step
        nxt = jnp.argmax(model.apply({"params": params}, tokens)[:, -1], axis=-1)
        tokens = jnp.concatenate([tokens, nxt[:, None]], axis=1)
    np.testing.assert_array_equal(fast, tokens[:, 3:])
    np.testing.assert_array_equal(lengths, [6, 6])


@pytest.mark.parametrize("position", ["learned", "rotary"])
def test_prompts_of_different_lengths_decode_as_they_would_alone(position):
    model, params = tiny_model(position=position, seed=1)
    prompts = [[3], [1, 2, 3, 4, 5], [7, 7, 2]]
    options = sampling.Options(temperature=0.0, repetition_penalty=1.5)
    together, _ = run_generate(model, params, prompts, 7, options)
    for row, prompt in enumerate(prompts):
        alone, _ = run_generate(model, params, [prompt], 7, options)
        np.testing.assert_array_equal(together[row], alone[0])
    uncached = run_generate(model, params, prompts, 7, options, cache=False)
    np.testing.assert_array_equal(together, uncached)


def test_a_strong_repetition_penalty_stops_greedy_decoding_from_repeating():
    model, params = tiny_model(vocab_size=40, max_len=16, seed=2)
    plain, _ = run_generate(model, params, [[1, 2]], 12)
    assert len(set(plain[0].tolist())) < 12  # greedy decoding of a random model loops
    penalized, _ = run_generate(model, params, [[1, 2]], 12, sampling.Options(0.0, 0, 1.0, 1e4))
    assert len(set(penalized[0].tolist()) | {1, 2}) == 14  # no token of prompt or output comes twice


def test_rows_stop_at_eos_and_the_loop_ends_when_all_have():
    model, params = tiny_model(vocab_size=40, seed=3)
    prompts = [[1, 2], [5, 6, 7]]
    free, lengths = run_generate(model, params, prompts, 8)
    eos = int(free[0, 2])  # the third token of row 0 becomes its end
    stopped, lengths = run_generate(model, params, prompts, 8, eos_id=eos)
    first = [int(np.argmax(row == eos)) if (row == eos).any() else None for row in free]
    for row in range(2):
        n = 8 if first[row] is None else first[row] + 1
        assert lengths[row] == n
        np.testing.assert_array_equal(stopped[row, :n], free[row, :n])
        assert (stopped[row, n:] == eos).all()


def test_sampling_is_reproducible_with_a_seed_and_varies_without():
    model, params = tiny_model(vocab_size=50, max_len=32)
    prompt = [[0, 0]] * 4
    sample = sampling.Options(temperature=1.0)
    a, _ = run_generate(model, params, prompt, 20, sample, rng=1)
    np.testing.assert_array_equal(a, run_generate(model, params, prompt, 20, sample, rng=1)[0])
    assert not np.array_equal(a, run_generate(model, params, prompt, 20, sample, rng=2)[0])
    assert len({tuple(row) for row in a}) > 1  # rows differ within a batch
    top1, _ = run_generate(model, params, prompt, 20, sampling.Options(temperature=1.0, top_k=1), rng=3)
    np.testing.assert_array_equal(top1, run_generate(model, params, prompt, 20, GREEDY)[0])


def test_an_encoder_decoder_decodes_with_its_cache_as_without_and_one_beam_is_greedy():
    from lm.decoding import beam
    from lm.models import families

    config = ModelConfig(
        family="encoder_decoder", vocab_size=13, num_layers=2, num_heads=2, d_model=16, d_ff=32, max_len=16
    )
    model = families.build(config)
    params = families.init_params(model, jax.random.PRNGKey(2))
    source = np.array([[3, 4, 5, 6, 0], [7, 8, 0, 0, 0]], np.int32)
    source_valid = source > 0
    prompt, valid = np.full((2, 1), 1, np.int32), np.ones((2, 1), bool)
    cached, lengths = generate.compile_generate(model, 8)(
        params, prompt, valid, jax.random.PRNGKey(0), GREEDY, source, source_valid
    )
    uncached = generate.compile_generate(model, 8, cache=False)(
        params, prompt, valid, jax.random.PRNGKey(0), GREEDY, source, source_valid
    )
    np.testing.assert_array_equal(cached, uncached)
    beams, _, _ = beam.compile_beam_search(model, 1, 8)(params, prompt, valid, 0.6, source, source_valid)
    np.testing.assert_array_equal(beams[:, 0], cached)
    other = source.copy()
    other[1, 2] = 9  # the padding of row 1: no effect
    again, _ = generate.compile_generate(model, 8)(
        params, prompt, valid, jax.random.PRNGKey(0), GREEDY, other, source_valid
    )
    np.testing.assert_array_equal(again, cached)
