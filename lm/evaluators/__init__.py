"""Evaluators: each takes the train state and returns named metrics; `config.evals` chooses them. Each declares
the data it reads (`reads`) and builds itself from the run's config (`build`), so that adding one is a file and a
line in EVALUATORS.

    split.py            the shared loop: statistics summed over the whole eval split, compiled once
    perplexity.py       loss, perplexity, bits per token / byte / char, accuracy (language models)
    estimate.py         nanoGPT's loss estimate: a few random batches of the eval split
    by_position.py      loss and accuracy at each position of the context (in-context learning)
    classification.py   loss, accuracy, macro-F1, F1 per class (fine-tuning)
    decoded.py          decoding eval sources once per eval (greedy or beams), and exact match
    bleu.py             BLEU by sacreBLEU; rouge.py: ROUGE-1/2/L by rouge-score (sequence pairs)
    harness.py          our causal models as an lm-evaluation-harness model (--mode=harness; lm_eval is an
                        optional install, requirements-eval.txt, imported only there); harness_task.py: its tasks

An empty `config.evals` runs the objective's own (lm/objectives.py). Each evaluator is built once per run
and compiles its step once; `run(state)` can then be called at every eval.
"""

from lm.evaluators.bleu import Bleu
from lm.evaluators.by_position import ByPosition
from lm.evaluators.classification import Classification
from lm.evaluators.decoded import Decoder, ExactMatch
from lm.evaluators.estimate import Estimate
from lm.evaluators.perplexity import Perplexity
from lm.evaluators.rouge import Rouge

# statistics summed over the split (estimate: over random batches of it)
SPLIT = {"perplexity": Perplexity, "classification": Classification, "by_position": ByPosition, "estimate": Estimate}
DECODED = {"exact_match": ExactMatch, "bleu": Bleu, "rouge": Rouge}  # scores of decoded targets
EVALUATORS = {**SPLIT, **DECODED}


def names(evals: str, objective) -> list[str]:
    """The evaluators `evals` (config.evals, comma-separated) names, or the objective's own when empty.

    Raises:
      ValueError: an unknown name, classification for an objective without labels, or a decoded-text
        evaluator for an objective without (source, target) pairs.
    """
    chosen = [name.strip() for name in evals.split(",") if name.strip()] or list(objective.evaluators)
    for name in chosen:
        if name not in EVALUATORS:
            raise ValueError(
                f"Config field evals={evals!r} names an unknown evaluator {name!r}: choose from "
                f"{', '.join(EVALUATORS)} (comma-separated), or leave it empty for the objective's own."
            )
        evaluator = EVALUATORS[name]
        if objective.data not in evaluator.reads:  # what the evaluator declares it reads
            raise ValueError(
                f"Config field evals={evals!r}: {name} {evaluator.needs}, which objective={objective.name!r} "
                f"{evaluator.lacks}. {evaluator.fix}"
            )
    return chosen


def make(config, runner, objective, data, model, workdir: str | None = None) -> list:
    """The evaluators config.evals names, each compiled for this runner, objective, dataset and model (decoded
    texts written under `workdir`, when given)."""
    chosen = names(config.evals, objective)
    decoder = None
    if any(name in DECODED for name in chosen):
        d = config.eval_decode
        decoder = Decoder(
            runner, model, data, config.train.eval_batch_size, d.num_examples, d.num_beams, d.length_penalty,
            max_new_tokens=config.data.seq_len - 1, workdir=workdir,
        )  # fmt: skip
    return [EVALUATORS[name].build(config, runner, objective, data, decoder) for name in chosen]


def run(evaluators: list, state) -> dict[str, float]:
    """Every evaluator's metrics of `state`, in one dict (in the order of `evaluators`)."""
    results = {}
    for evaluator in evaluators:
        results.update(evaluator.run(state))
    return results
