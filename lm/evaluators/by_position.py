"""Loss and accuracy at each position of the context, over the whole eval split.

How the loss falls with the position of a token in its window is how in-context learning shows (Olsson
et al., 2022: the loss late in the context minus the loss early in it). Reported: `loss_by_position` (a
list, one value per position, in metrics.jsonl only; `--mode=collate` plots it) and the means over the
first and the second half of the positions (loss_first_half, loss_second_half, accuracy_*). On the
repeated_tokens task (lm/data/synthetic.py), whose eval rows repeat their first half, the first half is
unpredictable (about ln V) and the second half is what copying from context can predict.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lm.evaluators.split import SplitEvaluator


def position_sums(logits: jax.Array, targets: jax.Array, weights: jax.Array) -> dict[str, jax.Array]:
    """Summed nats, argmax hits and weight at each position, over the batch: [T] each."""
    nats = optax.softmax_cross_entropy_with_integer_labels(logits, targets)  # [B, T]
    correct = (jnp.argmax(logits, axis=-1) == targets).astype(jnp.float32)
    return {"loss": (nats * weights).sum(0), "correct": (correct * weights).sum(0), "weight": weights.sum(0)}


class ByPosition(SplitEvaluator):
    reads = ("text",)
    needs, lacks, fix = "scores token windows of text", "does not train on", "Use it with objective=causal (or masked)."
    statistics = staticmethod(position_sums)

    def metrics(self, sums: dict) -> dict:
        loss, correct, weight = (np.asarray(sums[k], np.float64) for k in ("loss", "correct", "weight"))
        half = len(weight) // 2
        out = {"loss_by_position": [float(x) for x in loss / np.maximum(weight, 1e-9)]}
        for name, part in (("first_half", slice(0, half)), ("second_half", slice(half, None))):
            w = max(weight[part].sum(), 1e-9)
            out[f"loss_{name}"] = float(loss[part].sum() / w)
            out[f"accuracy_{name}"] = float(correct[part].sum() / w)
        return out
