"""Language-model metrics over the whole eval split: loss, perplexity, bits per token / byte / char, accuracy."""

import math

from lm.evaluators.split import SplitEvaluator
from lm.objectives import cross_entropy_sums


def perplexity_metrics(sums: dict[str, float], units_per_token: dict[str, float]) -> dict[str, float]:
    """Mean loss, perplexity, bits per token (and per unit of `units_per_token`: byte, char) and accuracy.

    Args:
      sums: summed "loss" (nats), "correct" and "weight" (tokens) over the split.
      units_per_token: the eval text's units per token ({"byte": 3.9, "char": 3.8}); {} for none.
    """
    loss = sums["loss"] / sums["weight"]
    bits = loss / math.log(2)
    out = {"loss": loss, "perplexity": math.exp(min(loss, 700.0)), "bits_per_token": bits}
    out.update({f"bits_per_{unit}": bits / per_token for unit, per_token in units_per_token.items()})
    out.update(accuracy=sums["correct"] / sums["weight"], tokens=sums["weight"])
    return out


class Perplexity(SplitEvaluator):
    """How well the model predicts the eval split's targets, every one of them once.

    Bits per byte and per character are reported where the loss covers every token of the text (the
    causal objective), so they compare across tokenizers; the masked loss covers only the selected tokens.
    """

    statistics = staticmethod(cross_entropy_sums)

    def metrics(self, sums: dict) -> dict[str, float]:
        sums = {k: float(v) for k, v in sums.items()}
        units = self.data.units_per_token if self.objective.scores_every_token else {}
        return perplexity_metrics(sums, units)
