import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lm import sampling
from lm.evaluate import generate_text
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


def test_greedy_generation_equals_argmax_decoding_without_a_cache():
    config = ModelConfig(vocab_size=11, num_layers=2, num_heads=2, d_model=16, d_ff=32, max_len=16, position="rotary")
    model = TransformerLM(config)
    params = init_params(model, jax.random.PRNGKey(0))
    prompt = jnp.array([[1, 2, 3], [4, 5, 6]])
    fast = sampling.compile_generate(model, 6)(params, prompt, jax.random.PRNGKey(0), 0.0, 0, 1.0)
    tokens = prompt
    for _ in range(6):  # naive: a full forward pass over everything so far, every step
        nxt = jnp.argmax(model.apply({"params": params}, tokens)[:, -1], axis=-1)
        tokens = jnp.concatenate([tokens, nxt[:, None]], axis=1)
    np.testing.assert_array_equal(fast, tokens[:, 3:])


def test_sampling_is_reproducible_with_a_seed_and_varies_without():
    config = ModelConfig(vocab_size=50, num_layers=1, num_heads=2, d_model=16, d_ff=32, max_len=32)
    model = TransformerLM(config)
    params = init_params(model, jax.random.PRNGKey(0))
    generate = sampling.compile_generate(model, 20)
    prompt = jnp.zeros((4, 2), jnp.int32)
    a = generate(params, prompt, jax.random.PRNGKey(1), 1.0, 0, 1.0)
    np.testing.assert_array_equal(a, generate(params, prompt, jax.random.PRNGKey(1), 1.0, 0, 1.0))
    assert not np.array_equal(a, generate(params, prompt, jax.random.PRNGKey(2), 1.0, 0, 1.0))
    assert len({tuple(row) for row in np.asarray(a)}) > 1  # rows differ within a batch
    top1 = generate(params, prompt, jax.random.PRNGKey(3), 1.0, 1, 1.0)
    np.testing.assert_array_equal(top1, generate(params, prompt, jax.random.PRNGKey(0), 0.0, 0, 1.0))


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
