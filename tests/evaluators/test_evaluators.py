"""Evaluators chosen by config.evals: the objective's own by default, unknown names and misfits refused."""

import pytest

from lm import evaluators, objectives


def test_empty_evals_take_the_objectives_own():
    assert evaluators.names("", objectives.get("causal")) == ["perplexity"]
    assert evaluators.names("", objectives.get("masked")) == ["perplexity"]
    assert evaluators.names("", objectives.get("classify")) == ["classification"]
    assert evaluators.names(" classification , perplexity", objectives.get("tag")) == ["classification", "perplexity"]


def test_unknown_and_unfit_evaluators_name_the_fix():
    known = "perplexity, classification, by_position, estimate, exact"
    with pytest.raises(ValueError, match=f"unknown evaluator 'blue': choose from {known}"):
        evaluators.names("blue", objectives.get("causal"))
    with pytest.raises(ValueError, match="bleu scores targets decoded from sources.*objective=seq2seq"):
        evaluators.names("bleu", objectives.get("causal"))
    assert evaluators.names("", objectives.get("seq2seq")) == ["perplexity", "exact_match", "bleu"]
    with pytest.raises(ValueError, match="classification needs labelled data"):
        evaluators.names("classification", objectives.get("masked"))


def test_run_merges_every_evaluators_metrics_in_order():
    class Fixed:
        def __init__(self, metrics):
            self.metrics = metrics

        def run(self, state):
            return dict(self.metrics, state=state)

    merged = evaluators.run([Fixed({"a": 1.0}), Fixed({"b": 2.0})], state=7)
    assert merged == {"a": 1.0, "state": 7, "b": 2.0}
