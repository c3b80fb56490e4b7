import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lm import sampling
from lm.evaluate import generate_text, score_text
from lm.model import ModelConfig, TransformerLM, init_params
from lm.run import prepare


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


def tiny_model(vocab_size=11, position="rotary", max_len=16, seed=0):
    config = ModelConfig(vocab_size, num_layers=2, num_heads=2, d_model=16, d_ff=32, max_len=max_len, position=position)
    model = TransformerLM(config)
    return model, init_params(model, jax.random.PRNGKey(seed))


def run_generate(model, params, prompts, max_new_tokens, options=GREEDY, rng=0, eos_id=None, cache=True):
    tokens, valid = sampling.pad_left([np.asarray(p) for p in prompts])
    fn = sampling.compile_generate(model, max_new_tokens, eos_id, cache=cache)
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


def test_repetition_penalty_divides_positive_and_multiplies_negative_logits_of_seen_tokens():
    logits = jnp.array([[2.0, -1.0, 4.0, -3.0]])
    seen = jnp.array([[True, True, False, False]])
    out = sampling.penalize_repetition(logits, seen, 2.0)
    np.testing.assert_allclose(out, [[1.0, -2.0, 4.0, -3.0]])


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


def test_generate_text_batches_prompts_and_cuts_at_stop_strings(tiny_config, tmp_path):
    run = prepare(tiny_config, str(tmp_path))
    sample = tiny_config.sample.copy_and_resolve_references()
    sample.max_new_tokens, sample.num_samples, sample.temperature = 10, 2, 1.0
    texts = generate_text(run, run.state.params, sample, ["cat", "a dog"])
    assert len(texts) == 4
    assert texts[0].startswith("cat") and texts[2].startswith("a dog")
    assert len(texts[0]) == 3 + 10 and len(texts[3]) == 5 + 10
    stop = texts[0][5]  # a character the first sample generates
    sample.stop = (stop,)
    cut = generate_text(run, run.state.params, sample, ["cat", "a dog"])
    assert cut[0] == texts[0][: texts[0].index(stop, 3)]
    assert all(stop not in t[len(p) :] for t, p in zip(cut, ["cat", "cat", "a dog", "a dog"], strict=True))


def test_score_is_the_log_likelihood_of_each_token_given_the_ones_before(tiny_config, tmp_path):
    run = prepare(tiny_config, str(tmp_path))  # context 16: the text below takes three windows
    text = "the cat saw a dog and the dog ran"
    ids = run.tokenizer.encode(text)
    result = score_text(run, run.state.params, text)
    assert result["num_scored"] == len(ids) - 1 and result["tokens"][0][1] is None
    L = run.config.model.max_len
    for i in range(1, len(ids)):  # naive: the longest context a window holds (>= L / 2)
        begin = max(0, ((i - L) // (L // 2) + 1) * (L // 2)) if i >= L else 0
        logits = run.model.apply({"params": run.state.params}, jnp.asarray(ids[begin:i])[None])[0, -1]
        expected = float(jax.nn.log_softmax(logits)[ids[i]])
        np.testing.assert_allclose(result["tokens"][i][1], expected, atol=1e-5)
    total = sum(lp for _, lp in result["tokens"][1:])
    np.testing.assert_allclose(result["perplexity"], np.exp(-total / (len(ids) - 1)), rtol=1e-6)


def test_prompt_errors(tiny_config, tmp_path):
    run = prepare(tiny_config, str(tmp_path))
    sample = tiny_config.sample.copy_and_resolve_references()
    sample.prompt = "cat ©"
    with pytest.raises(ValueError, match="outside the character vocabulary"):
        generate_text(run, run.state.params, sample)
    sample.prompt, sample.max_new_tokens = "cat", 14
    with pytest.raises(ValueError, match="longer than the model's context of 16 tokens.*at most 13"):
        generate_text(run, run.state.params, sample)
    sample.prompt = ""
    with pytest.raises(ValueError, match="empty"):
        generate_text(run, run.state.params, sample)
    sample.prompt, sample.max_new_tokens = "cat", 13
    texts = generate_text(run, run.state.params, sample)
    assert len(texts) == sample.num_samples and all(t.startswith("cat") and len(t) == 16 for t in texts)


def test_sampling_an_encoder_is_refused(tiny_config, tmp_path):
    tiny_config.objective = "masked"
    run = prepare(tiny_config, str(tmp_path))
    with pytest.raises(ValueError, match="needs a causal model"):
        generate_text(run, run.state.params, tiny_config.sample)
