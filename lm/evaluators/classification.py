"""Classification metrics over the whole eval split: loss, accuracy, macro-F1 and F1 per class."""

import jax
import jax.numpy as jnp
import numpy as np

from lm.evaluators.split import SplitEvaluator
from lm.objectives import cross_entropy_sums


def confusion_matrix(logits: jax.Array, labels: jax.Array, weights: jax.Array) -> jax.Array:
    """[C, C] weighted counts: row = true label, column = predicted label."""
    C = logits.shape[-1]
    true = jax.nn.one_hot(labels, C) * weights[..., None]  # [..., C]
    predicted = jax.nn.one_hot(jnp.argmax(logits, axis=-1), C)
    return jnp.einsum("...i,...j->ij", true, predicted)


def classification_statistics(logits, labels, weights) -> dict[str, jax.Array]:
    """Summed loss, correct and weight, and the confusion matrix."""
    return {**cross_entropy_sums(logits, labels, weights), "confusion": confusion_matrix(logits, labels, weights)}


def classification_metrics(sums: dict, label_names: list[str]) -> dict[str, float]:
    """Loss, accuracy, macro-F1 and per-class F1 from summed statistics and the confusion matrix.

    A class with no true and no predicted example has F1 0 and still counts in the macro average
    (as scikit-learn's f1_score(average="macro", zero_division=0)).
    """
    confusion = np.asarray(sums["confusion"], np.float64)  # [C, C], rows true, columns predicted
    tp = np.diag(confusion)
    precision_den, recall_den = confusion.sum(axis=0), confusion.sum(axis=1)
    f1_den = precision_den + recall_den
    f1 = np.where(f1_den > 0, 2 * tp / np.maximum(f1_den, 1e-12), 0.0)
    out = {
        "loss": sums["loss"] / sums["weight"],
        "accuracy": sums["correct"] / sums["weight"],
        "macro_f1": float(f1.mean()),
        "examples": sums["weight"],
    }
    out.update({f"f1/{name}": float(v) for name, v in zip(label_names, f1, strict=True)})
    return out


class Classification(SplitEvaluator):
    reads = ("labels", "tags")
    needs, lacks, fix = "needs labelled data", "does not train on", "Use perplexity, or leave evals empty."
    """Labels predicted for the eval split's examples (or words): accuracy and F1 against the truth."""

    statistics = staticmethod(classification_statistics)

    def metrics(self, sums: dict) -> dict[str, float]:
        return classification_metrics(sums, self.data.label_names)
