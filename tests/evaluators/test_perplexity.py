"""Perplexity over the whole eval split: the formulas, and the evaluator against a naive loop over the tokens."""

import math

import jax
import numpy as np

from lm.evaluators.perplexity import Perplexity, perplexity_metrics
from lm.run import prepare


def test_perplexity_metrics_from_sums():
    out = perplexity_metrics({"loss": 6.0, "correct": 3.0, "weight": 4.0}, {"byte": 2.0, "char": 1.5})
    assert list(out) == ["loss", "perplexity", "bits_per_token", "bits_per_byte", "bits_per_char", "accuracy", "tokens"]
    np.testing.assert_allclose(out["loss"], 1.5)
    np.testing.assert_allclose(out["perplexity"], math.exp(1.5))
    np.testing.assert_allclose(out["bits_per_token"], 1.5 / math.log(2))
    np.testing.assert_allclose(out["bits_per_byte"], 1.5 / math.log(2) / 2.0)
    np.testing.assert_allclose(out["bits_per_char"], 1.5 / math.log(2) / 1.5)
    assert (out["accuracy"], out["tokens"]) == (0.75, 4.0)
    assert "bits_per_byte" not in perplexity_metrics({"loss": 1.0, "correct": 0.0, "weight": 1.0}, {})


def test_the_evaluator_scores_every_eval_token_once_as_a_naive_loop_does(tiny_config, tmp_path):
    run = prepare(tiny_config, str(tmp_path / "run"))
    c = run.config
    evaluator = Perplexity(run.runner, run.objective, run.data, c.train.eval_batch_size, c.data.seq_len, c.seed)
    results = evaluator.run(run.runner.put_state(run.state))
    ids, L = run.data.eval, c.data.seq_len
    nll = []
    for start in range(0, len(ids) - 1, L):  # naive: consecutive windows, every target once
        window = ids[start : start + L + 1]
        logits = run.model.apply({"params": run.state.params}, window[None, :-1])[0]
        log_probs = jax.nn.log_softmax(logits)
        nll += [-float(log_probs[t, window[t + 1]]) for t in range(len(window) - 1)]
    assert results["tokens"] == len(ids) - 1 == len(nll)
    np.testing.assert_allclose(results["loss"], np.mean(nll), rtol=1e-5)
    np.testing.assert_allclose(results["bits_per_byte"], np.mean(nll) / math.log(2), rtol=1e-5)  # chars are bytes


def test_the_masked_loss_reports_no_rate_per_byte(tiny_config, tmp_path):
    tiny_config.objective = "masked"
    run = prepare(tiny_config, str(tmp_path / "run"))
    c = run.config
    evaluator = Perplexity(run.runner, run.objective, run.data, c.train.eval_batch_size, c.data.seq_len, c.seed)
    results = evaluator.run(run.runner.put_state(run.state))
    assert "bits_per_byte" not in results and "bits_per_token" in results
    assert 0 < results["tokens"] < len(run.data.eval)  # only the selected tokens
