"""The batch: what the data produces (lm/data/) and the objectives read (lm/objectives.py), one structure per
kind of data. A batch is a dict of arrays with a leading batch dimension B (a pytree that jit, pmap and the
mesh split along B); these TypedDicts name its keys, their shapes and their meaning, once.

An objective's `data` (text, labels, tags, pairs) picks its structure: BATCHES. tests/test_batch.py checks
that every dataset produces exactly these keys and that every key an objective reads is declared here.
"""

from typing import NotRequired, TypedDict

import numpy as np


class TextBatch(TypedDict):
    """Token windows of a text (lm/data/text.py) or of a built-in token task (lm/data/synthetic.py): the
    causal, masked and span-corruption objectives."""

    inputs: np.ndarray  # [B, T] int32 token ids
    targets: np.ndarray  # [B, T] int32: the next token of each input (inputs shifted left by one)
    # [B] int32: each row's number in the split, global across devices; objectives draw a row's randomness
    # (masked positions, corrupted spans) from it, so a row is masked alike on one device or eight
    rows: np.ndarray
    weights: NotRequired[np.ndarray]  # [B, T] float32: 0 at padding (eval batches, a task's rows); absent: all 1
    # data.document_mask (token shards): [B, T] int32, which document of the window a token is in (a document's
    # EOS is its last token), and its position in that document: attention stays within a document
    segment_ids: NotRequired[np.ndarray]
    positions: NotRequired[np.ndarray]


class LabelledBatch(TypedDict):
    """Labelled texts for fine-tuning (lm/data/labelled.py): a label per text (classify) or per word (tag)."""

    inputs: np.ndarray  # [B, T] int32 token ids, [CLS] first
    valid: np.ndarray  # [B, T] bool: False at padding
    token_types: np.ndarray  # [B, T] int32: segment A / B of a text pair (0 for one text)
    # classify: [B] int32, one label per row; or [B, T] at each packed text's [CLS] (data.pack). tag: [B, T],
    # a label at the first piece of each word
    labels: np.ndarray
    weights: np.ndarray  # the shape of labels, float32: 1 where a label counts, 0 at padding rows and pieces
    rows: np.ndarray  # [B] int32: each row's example number
    segment_ids: NotRequired[np.ndarray]  # [B, T] int32, packed rows (data.pack): which text a token belongs to
    positions: NotRequired[np.ndarray]  # [B, T] int32, packed rows: positions restarting at each text


class PairsBatch(TypedDict):
    """(source, target) pairs for the encoder-decoder families (lm/data/pairs.py): the seq2seq objective."""

    source: np.ndarray  # [B, S] int32 source token ids, padded
    source_valid: np.ndarray  # [B, S] bool: False at the source's padding
    inputs: np.ndarray  # [B, T] int32: the decoder's input, [BOS] target
    targets: np.ndarray  # [B, T] int32: target [EOS]
    weights: np.ndarray  # [B, T] float32: 1 on the target's tokens and its [EOS], 0 at padding
    valid: np.ndarray  # [B, T] bool: weights > 0
    rows: np.ndarray  # [B] int32: each row's pair number (-1: a padding row)


Batch = TextBatch | LabelledBatch | PairsBatch
BATCHES = {"text": TextBatch, "labels": LabelledBatch, "tags": LabelledBatch, "pairs": PairsBatch}


def keys(kind: str) -> tuple[frozenset[str], frozenset[str]]:
    """(the keys every batch of data `kind` has, those it may have)."""
    structure = BATCHES[kind]
    return structure.__required_keys__, structure.__optional_keys__
