"""Classification metrics against hand-computed values; the confusion matrix against a hand-written one."""

import jax.numpy as jnp
import numpy as np

from lm.evaluators.classification import classification_metrics, confusion_matrix


def test_classification_metrics_match_hand_computed():
    sums = {"loss": 3.0, "correct": 5.0, "weight": 6.0, "confusion": np.array([[3.0, 1.0], [0.0, 2.0]])}
    out = classification_metrics(sums, ["x", "y"])
    # x: precision 3/3, recall 3/4 -> F1 6/7; y: precision 2/3, recall 2/2 -> F1 4/5
    np.testing.assert_allclose(out["f1/x"], 6 / 7)
    np.testing.assert_allclose(out["f1/y"], 4 / 5)
    np.testing.assert_allclose(out["macro_f1"], (6 / 7 + 4 / 5) / 2)
    np.testing.assert_allclose(out["accuracy"], 5 / 6)
    np.testing.assert_allclose(out["loss"], 0.5)
    absent = classification_metrics(
        dict(sums, confusion=np.array([[3.0, 0, 0], [0, 3.0, 0], [0, 0, 0]])), ["x", "y", "z"]
    )
    np.testing.assert_allclose(absent["macro_f1"], 2 / 3)  # a class never seen nor predicted scores 0


def test_confusion_matrix_counts_true_rows_against_predicted_columns_with_weights():
    logits = jnp.array([[[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0], [5.0, 0.0, 0.0]]])  # predicts 0, 1, 2, 0
    labels = jnp.array([[0, 2, 2, 1]])
    weights = jnp.array([[1.0, 1.0, 0.5, 0.0]])  # the last is padding
    expected = [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.5]]
    np.testing.assert_array_equal(confusion_matrix(logits, labels, weights), expected)
