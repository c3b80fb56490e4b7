"""ROUGE by rouge-score: a hand-computed ROUGE-1 and the library's own scores."""

import numpy as np
from rouge_score import rouge_scorer

from lm.evaluators.rouge import Rouge
from tests.evaluators.test_bleu import FixedTexts


def test_rouge_scores_are_the_librarys_f_measures_times_100():
    rouge = Rouge(FixedTexts(["the cat", "dogs were running"], ["the cat sat", "the dog runs"]))
    out = rouge.run(None)
    # "the cat" against "the cat sat": precision 2/2, recall 2/3 -> F1 0.8; stemming makes dogs/dog, running/runs match
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    second = scorer.score("the dog runs", "dogs were running")
    np.testing.assert_allclose(out["rouge1"], 100 * (0.8 + second["rouge1"].fmeasure) / 2)
    assert second["rouge1"].fmeasure > 0  # the stemmer at work
    assert sorted(out) == ["rouge1", "rouge2", "rougeL"]
