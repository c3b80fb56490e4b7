"""lm/batch.py is the batch's one description: every kind of data produces exactly the keys its structure
declares (all the required ones, none undeclared), with the batch dimension first, and every objective reads
the structure of the data it declares."""

import json

import numpy as np
import pytest

from lm import batch, data, objectives


def write(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def dataset(kind: str, config, tmp_path):
    """A small dataset of every kind the objectives read, loaded as a run loads it (lm.data.load)."""
    if kind == "tokens":  # a built-in token task, for the causal objective
        config.data.task = "repeated_tokens"
        return data.load(config, "text", specials=False), "text"
    if kind in ("labels", "packed labels"):
        config.data.path = write(
            tmp_path / "l.jsonl", [{"text": "the cat " * (1 + i % 3), "label": i % 2} for i in range(30)]
        )
        config.data.pack = kind == "packed labels"
        return data.load(config, "labels", specials=True), "labels"
    if kind == "tags":
        config.data.path = write(tmp_path / "t.jsonl", [{"text": ["ab", "cde"], "label": ["X", "Y"]}] * 20)
        return data.load(config, "tags", specials=True), "tags"
    if kind == "pairs":
        config.data.task = "reverse"
        return data.load(config, "pairs", specials=True), "pairs"
    return data.load(config, "text", specials=True), "text"


@pytest.mark.parametrize("kind", ["text", "tokens", "labels", "packed labels", "tags", "pairs"])
def test_every_dataset_produces_the_declared_keys(kind, tiny_config, tmp_path):
    ds, data_kind = dataset(kind, tiny_config, tmp_path)
    required, optional = batch.keys(data_kind)
    train = ds.train_batch(0, 0, 4, tiny_config.data.seq_len)
    evals = next(iter(ds.eval_batches(4, tiny_config.data.seq_len)))
    for produced in (train, evals):
        assert required <= set(produced) <= required | optional, (sorted(produced), sorted(required | optional))
        assert {value.shape[0] for value in produced.values()} == {4}  # the batch dimension first
        assert all(isinstance(value, np.ndarray) for value in produced.values())
    if kind == "packed labels":
        assert {"segment_ids", "positions"} <= set(train)


def test_every_objective_reads_a_declared_structure():
    for objective in objectives.OBJECTIVES.values():
        assert objective.data in batch.BATCHES, objective.name
    assert batch.BATCHES["labels"] is batch.BATCHES["tags"] is batch.LabelledBatch
    assert "rows" in set.intersection(*(set(s.__required_keys__) for s in batch.BATCHES.values()))
