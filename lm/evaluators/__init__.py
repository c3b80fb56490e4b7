"""Evaluators: each takes the train state and returns named metrics; `config.evals` chooses them.

    split.py            the shared loop: statistics summed over the whole eval split, compiled once
    perplexity.py       loss, perplexity, bits per token / byte / char, accuracy (language models)
    classification.py   loss, accuracy, macro-F1, F1 per class (fine-tuning)

An empty `config.evals` runs the objective's own (lm/objectives.py). Each evaluator is built once per run
and compiles its step once; `run(state)` can then be called at every eval.
"""

from lm.evaluators.classification import Classification
from lm.evaluators.perplexity import Perplexity

EVALUATORS = {"perplexity": Perplexity, "classification": Classification}


def names(evals: str, objective) -> list[str]:
    """The evaluators `evals` (config.evals, comma-separated) names, or the objective's own when empty.

    Raises:
      ValueError: an unknown name, or classification for an objective without labels.
    """
    chosen = [name.strip() for name in evals.split(",") if name.strip()] or list(objective.evaluators)
    for name in chosen:
        if name not in EVALUATORS:
            raise ValueError(
                f"Config field evals={evals!r} names an unknown evaluator {name!r}: choose from "
                f"{', '.join(EVALUATORS)} (comma-separated), or leave it empty for the objective's own."
            )
        if name == "classification" and objective.data == "text":
            raise ValueError(
                f"Config field evals={evals!r}: classification needs labelled data, which objective="
                f"{objective.name!r} does not train on. Use perplexity, or leave evals empty."
            )
    return chosen


def make(evals: str, runner, objective, data, batch_size: int, seq_len: int, seed: int) -> list:
    """The evaluators `evals` names, each compiled for this runner, objective and dataset."""
    return [EVALUATORS[name](runner, objective, data, batch_size, seq_len, seed) for name in names(evals, objective)]


def run(evaluators: list, state) -> dict[str, float]:
    """Every evaluator's metrics of `state`, in one dict (in the order of `evaluators`)."""
    results = {}
    for evaluator in evaluators:
        results.update(evaluator.run(state))
    return results
