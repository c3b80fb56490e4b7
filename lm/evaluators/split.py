"""The shared part of the evaluators that sum statistics over the whole eval split (perplexity, classification).

An evaluator of this kind names its statistics (a pure function of logits, targets and weights, summed
over the batch) and how the sums become metrics; this class compiles the eval step once for the run's
runner, feeds it every eval batch and keeps the running sums on the device until the end.
"""

from typing import Callable

import jax
import jax.numpy as jnp

from lm import console, step
from lm.data.dataset import Dataset
from lm.objectives import Objective
from lm.parallel import Runner


class SplitEvaluator:
    """Sums `statistics` over every eval batch; subclasses turn the sums into metrics (`metrics`).

    Every evaluator declares what it reads (`reads`: the objectives' data kinds, lm/objectives.py) and, for a
    config that chooses it for other data, what it needs, what the objective lacks and the fix; lm/evaluators
    checks the choice by these, and `build` makes the evaluator from the run's config.
    """

    reads = ("text", "labels", "tags", "pairs")  # the loss of any objective's eval split

    @classmethod
    def build(cls, config, runner, objective, data, decoder):
        return cls(runner, objective, data, config.train.eval_batch_size, config.data.seq_len, config.seed)

    statistics: Callable  # (logits, targets, weights) -> dict of sums over the batch

    def __init__(self, runner: Runner, objective: Objective, data: Dataset, batch_size: int, seq_len: int, seed: int):
        self.runner, self.objective, self.data = runner, objective, data
        self.batch_size, self.seq_len = batch_size, seq_len
        self._step = runner.compile(
            step.eval_step, donate_state=False, statistics=self.statistics, objective=objective, seed=seed
        )

    def sums(self, state) -> dict:
        """The statistics summed over the whole eval split, on the host."""
        totals = None
        for batch in console.progress(self.batches(state), f"eval ({type(self).__name__.lower()})"):
            sums = self._step(state, self.runner.put_batch(batch))
            totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)  # stays on the device
        return self.runner.get_metrics(totals)

    def batches(self, state):
        """What the statistics are summed over: the whole eval split (an evaluator may draw others)."""
        del state
        return self.data.eval_batches(self.batch_size, self.seq_len)

    def run(self, state) -> dict[str, float]:
        """Named metrics of `state` (as the runner holds it: replicated under pmap)."""
        return self.metrics(self.sums(state))

    def metrics(self, sums: dict) -> dict[str, float]:
        raise NotImplementedError
