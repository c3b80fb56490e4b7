"""The loss at each position of the context against a naive loop over the eval rows; text-window evaluators
refuse data that has no windows."""

import jax
import numpy as np
import pytest

from lm import evaluators
from lm.evaluators.by_position import ByPosition
from lm.run import prepare


def naive_nll(run, inputs, targets):
    logits = run.model.apply({"params": run.state.params}, inputs)  # [B, T, V]
    log_probs = np.asarray(jax.nn.log_softmax(logits))
    return -np.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0], log_probs.argmax(-1) == targets


def test_loss_by_position_is_each_positions_mean_over_the_eval_rows(tiny_config, tmp_path):
    tiny_config.data.task, tiny_config.data.vocab_size, tiny_config.data.task_examples = "repeated_tokens", 16, 12
    run = prepare(tiny_config, str(tmp_path / "run"))
    c = run.config
    evaluator = ByPosition(run.runner, run.objective, run.data, c.train.eval_batch_size, c.data.seq_len, c.seed)
    results = evaluator.run(run.runner.put_state(run.state))
    rows = run.data.eval_rows  # 12 rows, evaluated in 2 batches of 8 (4 padding rows of weight 0)
    nll, hit = naive_nll(run, rows["inputs"], rows["targets"])  # [12, 16]
    np.testing.assert_allclose(results["loss_by_position"], nll.mean(0), rtol=1e-5)
    np.testing.assert_allclose(results["loss_first_half"], nll[:, :8].mean(), rtol=1e-5)
    np.testing.assert_allclose(results["loss_second_half"], nll[:, 8:].mean(), rtol=1e-5)
    np.testing.assert_allclose(results["accuracy_second_half"], hit[:, 8:].mean(), rtol=1e-6)
    assert isinstance(results["loss_by_position"], list) and len(results["loss_by_position"]) == 16


def test_evaluators_of_text_windows_refuse_other_data(tiny_config, tmp_path):
    tiny_config.evals = "estimate"
    tiny_config.data.task, tiny_config.data.vocab_size = "repeated_tokens", 16
    run = prepare(tiny_config, str(tmp_path / "run"))
    with pytest.raises(ValueError, match="evals=estimate draws random windows of a text's eval split"):
        evaluators.make(run.config, run.runner, run.objective, run.data, run.model)
    with pytest.raises(ValueError, match="by_position scores token windows of text"):
        evaluators.names("by_position", run.objective.__class__(**{**run.objective.__dict__, "data": "labels"}))
