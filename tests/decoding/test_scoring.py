"""Scoring a text token by token, in windows of the context (lm/decoding/scoring.py)."""

import jax
import jax.numpy as jnp
import numpy as np

from lm.decoding.scoring import score_text
from lm.run import prepare


def test_score_is_the_log_likelihood_of_each_token_given_the_ones_before(tiny_config, tmp_path):
    run = prepare(tiny_config, str(tmp_path))  # context 16: the text below takes three windows
    text = "the cat saw a dog and the dog ran"
    ids = run.tokenizer.encode(text)
    result = score_text(run.model, run.tokenizer, run.state.params, text)
    assert result["num_scored"] == len(ids) - 1 and result["tokens"][0][1] is None
    L = run.config.model.max_len
    forward = jax.jit(lambda tokens: run.model.apply({"params": run.state.params}, tokens))  # one shape: [1, L]
    for i in range(1, len(ids)):  # naive: the longest context a window holds (>= L / 2)
        begin = max(0, ((i - L) // (L // 2) + 1) * (L // 2)) if i >= L else 0
        context = np.zeros((1, L), np.int32)  # causal: what follows the context changes nothing before it
        context[0, : i - begin] = ids[begin:i]
        logits = forward(jnp.asarray(context))[0, i - begin - 1]
        expected = float(jax.nn.log_softmax(logits)[ids[i]])
        np.testing.assert_allclose(result["tokens"][i][1], expected, atol=1e-5)
    total = sum(lp for _, lp in result["tokens"][1:])
    np.testing.assert_allclose(result["perplexity"], np.exp(-total / (len(ids) - 1)), rtol=1e-6)
