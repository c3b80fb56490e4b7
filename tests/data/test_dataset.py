"""Both kinds of data keep the Dataset protocol: the same questions get answers of the same form."""

import json

import numpy as np
import pytest

from lm import data
from lm.data.dataset import Dataset


@pytest.fixture(params=["text", "labels"])
def dataset_and_config(request, tiny_config, tmp_path):
    if request.param == "labels":
        rows = "".join(f"{'the cat saw a dog'[i % 7 :]},{'yes' if i % 3 else 'no'}\n" for i in range(40))
        (tmp_path / "labels.csv").write_text("text,label\n" + rows)
        tiny_config.data.path = str(tmp_path / "labels.csv")
    return data.load(tiny_config, request.param, specials=True), tiny_config


def test_both_kinds_keep_the_protocol_and_batch_the_same_way(dataset_and_config, tmp_path):
    dataset, config = dataset_and_config
    assert isinstance(dataset, Dataset)
    batch = dataset.train_batch(3, config.seed, 8, config.data.seq_len)
    again = dataset.train_batch(3, config.seed, 8, config.data.seq_len)
    for key in batch:
        np.testing.assert_array_equal(batch[key], again[key])  # a function of (seed, step)
    mine = dataset.train_batch(3, config.seed, 8, config.data.seq_len, rows=np.array([2, 3, 6]))
    for key in batch:  # a process's rows of the global batch (several processes: each reads its own)
        np.testing.assert_array_equal(mine[key], batch[key][[2, 3, 6]])
    assert batch["inputs"].shape == (8, config.data.seq_len) and batch["rows"].shape == (8,)
    shapes = {tuple(b["inputs"].shape) for b in dataset.eval_batches(8, config.data.seq_len)}
    assert shapes == {(8, config.data.seq_len)}
    tokens = dataset.eval_tokens()  # one stream of eval token ids for text (estimate's windows), none for labels
    assert (tokens is None) == bool(dataset.label_names) and (tokens is None or tokens.ndim == 1 and len(tokens) > 0)
    assert dataset.eval_pairs() is None  # no sources to decode from
    assert isinstance(dataset.describe(), str) and dataset.name
    dataset.save(str(tmp_path))  # what a relaunch needs, and nothing else
    saved = {p.name for p in tmp_path.iterdir()} - {"labels.csv"}
    if dataset.label_names:
        assert saved == {"labels.json"} and json.loads((tmp_path / "labels.json").read_text()) == ["no", "yes"]
        assert dataset.units_per_token == {} and dataset.optimal_loss is None
    else:
        assert saved == {"data_cache"} and set(dataset.units_per_token) == {"byte", "char"}
        assert dataset.optimal_loss is not None  # the built-in corpus


def test_pairs_give_their_eval_sources_and_reference_texts_in_order(tiny_config):
    tiny_config.data.task = "reverse"
    dataset = data.load(tiny_config, "pairs", specials=True)
    assert isinstance(dataset, Dataset) and dataset.eval_tokens() is None
    sources, references = dataset.eval_pairs()
    assert len(sources) == len(references) == len(dataset.eval) > 10
    for source, reference in zip(sources, references, strict=True):  # reverse: the target is the source reversed
        assert (
            dataset.tokenizer.decode([int(t) for t in source if t not in dataset.tokenizer.special_ids.values()])
            == reference[::-1]
        )
