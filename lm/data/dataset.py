"""The Dataset protocol: what the training loop, the evaluators and the set-up need of a dataset.

Implemented by plain text (lm/data/text.py: token windows for the causal and masked objectives), built-in
token tasks (lm/data/synthetic.py), labelled examples (lm/data/labelled.py: fine-tuning) and sequence pairs
(lm/data/pairs.py). Nothing outside lm/data/ asks which one it holds; the batches they produce are described
in lm/batch.py.
"""

from typing import Iterator, Protocol, runtime_checkable

import numpy as np

from lm.batch import Batch
from lm.data.tokenizers import Tokenizer


@runtime_checkable
class Dataset(Protocol):
    name: str  # where the data came from, for the console
    tokenizer: Tokenizer
    label_names: list[str]  # the classes, in the order of the classifier's outputs ([] for plain text)
    optimal_loss: float | None  # nats per eval token of the true generator, where known (the built-in corpus)
    # The eval text's bytes and characters per token ({"byte": ..., "char": ...}), for bits per byte / char;
    # empty where the loss does not cover every token of a text (labelled data).
    units_per_token: dict[str, float]

    def train_batch(self, step: int, seed: int, batch_size: int, seq_len: int, rows: np.ndarray | None = None) -> Batch:
        """The batch of training step `step`: a pure function of (seed, step), so a resumed run sees the
        batches an uninterrupted one would. Its keys and shapes: lm/batch.py, by the kind of data.

        rows: the rows of the batch_size-row global batch that this process holds (lm/parallel.py's
        `local_rows`), in order; None: all of them. Token shards read only those rows' windows."""
        ...

    def eval_batches(self, batch_size: int, seq_len: int) -> Iterator[Batch]:
        """The whole eval split once, in batches of one shape (padding has weight 0)."""
        ...

    def eval_tokens(self) -> np.ndarray | None:
        """The eval split as one stream of token ids, for evaluators that draw windows of it (nanoGPT's
        estimate); None for data that is not one text (labelled examples, pairs, the built-in tasks' rows)."""
        ...

    def eval_pairs(self) -> tuple[list[np.ndarray], list[str]] | None:
        """The eval split's source token ids and their reference target texts, in order, for evaluators that
        decode a target from each source and score it (exact match, BLEU, ROUGE); None for data without pairs."""
        ...

    def describe(self) -> str:
        """One line for the console: sizes of the splits."""
        ...

    def save(self, workdir: str) -> None:
        """Keeps in `workdir` what a relaunch needs to rebuild this dataset exactly (token ids, label names)."""
        ...


def take_rows(batch: Batch, rows: np.ndarray | None) -> Batch:
    """`rows` of a global batch (None: all of it), for the datasets that make the whole batch in memory."""
    return batch if rows is None else {key: value[rows] for key, value in batch.items()}
