"""nanoGPT's loss estimate: the mean loss of a few random batches of the eval split, drawn anew at each eval.

nanoGPT's train.py reports `estimate_loss()`: eval_iters batches of batch_size random windows of the
validation split (20 x 12 windows of 64 characters in its CPU run). It is an estimate: its seed-to-seed
spread is about three times that of the loss over the whole split (experiments/shakespeare_char.py). This
evaluator computes the same estimator, so that a number quoted from nanoGPT can be set beside ours: the
batches of eval i come from a generator seeded by (run seed, step), so they are the same on a rerun.
"""

import jax
import numpy as np

from lm.data.text import random_windows
from lm.evaluators.perplexity import Perplexity


class Estimate(Perplexity):
    """`num_batches` batches of `batch_size` random eval windows -> {"loss_estimate"}."""

    reads = ("text",)  # random windows of the eval split's token ids
    needs, lacks, fix = "scores token windows of text", "does not train on", "Use it with objective=causal (or masked)."

    def __init__(self, runner, objective, data, batch_size: int, seq_len: int, seed: int, num_batches: int):
        self.tokens = data.eval_tokens()
        if self.tokens is None:
            raise ValueError(
                f"evals=estimate draws random windows of a text's eval split; {data.name} has none. Use it with "
                "plain text (data.path, data.tfds_name or the built-in corpus)."
            )
        super().__init__(runner, objective, data, batch_size, seq_len, seed)
        self.num_batches, self.seed = num_batches, seed

    @classmethod
    def build(cls, config, runner, objective, data, decoder):
        """nanoGPT's estimate: train.estimate_batches batches of the training batch size."""
        c = config
        return cls(runner, objective, data, c.data.batch_size, c.data.seq_len, c.seed, c.train.estimate_batches)

    def batches(self, state):
        step = int(np.asarray(jax.device_get(state.step)).ravel()[0])
        rng = np.random.default_rng([self.seed, step, 1])  # 1: not the generator of training step `step`
        for _ in range(self.num_batches):
            yield random_windows(self.tokens, rng, self.batch_size, self.seq_len)

    def metrics(self, sums: dict) -> dict[str, float]:
        return {"loss_estimate": super().metrics(sums)["loss"]}
