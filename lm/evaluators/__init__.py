"""Evaluators: each takes the train state and returns named metrics; `config.evals` chooses them.

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
        if name in ("by_position", "estimate") and objective.data != "text":
            raise ValueError(
                f"Config field evals={evals!r}: {name} scores token windows of text, which objective="
                f"{objective.name!r} does not train on. Use it with objective=causal (or masked)."
            )
        if name == "classification" and objective.data not in ("labels", "tags"):
            raise ValueError(
                f"Config field evals={evals!r}: classification needs labelled data, which objective="
                f"{objective.name!r} does not train on. Use perplexity, or leave evals empty."
            )
        if name in DECODED and objective.data != "pairs":
            raise ValueError(
                f"Config field evals={evals!r}: {name} scores targets decoded from sources, which objective="
                f"{objective.name!r} has none of. Use it with objective=seq2seq, or leave evals empty."
            )
    return chosen


def make(config, runner, objective, data, model) -> list:
    """The evaluators config.evals names, each compiled for this runner, objective, dataset and model."""
    chosen = names(config.evals, objective)
    decoder = None
    if any(name in DECODED for name in chosen):
        d = config.eval_decode
        decoder = Decoder(
            runner, model, data, config.train.eval_batch_size, d.num_examples, d.num_beams, d.length_penalty,
            max_new_tokens=config.data.seq_len - 1,
        )  # fmt: skip
    out = []
    for name in chosen:
        c = config
        if name == "estimate":  # nanoGPT's: estimate_batches batches of the training batch size
            batches = c.train.estimate_batches
            out.append(Estimate(runner, objective, data, c.data.batch_size, c.data.seq_len, c.seed, batches))
        elif name in SPLIT:
            out.append(SPLIT[name](runner, objective, data, c.train.eval_batch_size, c.data.seq_len, c.seed))
        elif name == "bleu":
            out.append(Bleu(decoder, config.eval_decode.bleu_tokenize))
        else:
            out.append(DECODED[name](decoder))
    return out


def run(evaluators: list, state) -> dict[str, float]:
    """Every evaluator's metrics of `state`, in one dict (in the order of `evaluators`)."""
    results = {}
    for evaluator in evaluators:
        results.update(evaluator.run(state))
    return results
