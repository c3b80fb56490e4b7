"""Token shards read window by window (lm/data/shards.py): one stream across shards, nanoGPT's windows drawn
from it as from an array in memory, and shards that are truncated, of another tokenizer or unprepared refused."""

import pickle

import numpy as np
import pytest

from lm import data as data_lib
from lm.config import default_config
from lm.data import prepare, shards, text, tokenizers
from lm.data.dataset import Dataset
from tests.data.test_prepare import data_config, documents, stream, write_jsonl


@pytest.fixture
def prepared(tmp_path, monkeypatch):
    """A corpus of 300 documents prepared into several shards per split, and its data config."""
    monkeypatch.setattr(prepare, "UNIT_BYTES", 1_500)
    data = data_config(tmp_path, path=write_jsonl(tmp_path / "corpus.jsonl", documents(300)))
    data.shards, data.seq_len = str(tmp_path / "shards"), 16
    manifest = prepare.prepare(data, data.shards, None, num_workers=1)
    assert len(manifest["splits"]["train"]) > 3
    return data


def test_the_stream_reads_across_shards_as_their_concatenation(prepared, monkeypatch):
    monkeypatch.setattr(shards, "MAX_OPEN", 2)  # files kept open: the first opened closes for a third
    manifest = shards.read_manifest(prepared.shards)
    train = shards.Stream(prepared.shards, manifest["splits"]["train"], manifest["dtype"])
    whole = np.concatenate([np.fromfile(f"{prepared.shards}/{s['file']}", manifest["dtype"]) for s in
                            manifest["splits"]["train"]])  # fmt: skip
    assert len(train) == len(whole) == sum(s["tokens"] for s in manifest["splits"]["train"])
    first = manifest["splits"]["train"][0]["tokens"]
    for start, length in ((0, 5), (first - 3, 10), (first - 1, 1), (len(whole) - 7, 7), (2, len(whole) - 2)):
        np.testing.assert_array_equal(train.read(start, length), whole[start : start + length])
        assert len(train._fds) <= 2
    np.testing.assert_array_equal(train.read(0, 5), whole[:5])  # its file reopened
    copy = pickle.loads(pickle.dumps(train))  # in another process (a loader's worker): its own files
    np.testing.assert_array_equal(copy.read(first - 3, 10), whole[first - 3 : first + 7])


def test_the_batches_are_nanogpts_windows_of_the_stream(prepared):
    dataset = data_lib.load(_config(prepared), "text", specials=False)
    assert isinstance(dataset, Dataset) and isinstance(dataset, shards.ShardsDataset)
    ids = stream(prepared.shards, "train")
    for step in (0, 7):
        expected = text.train_batch(ids, step, seed=3, batch_size=4, seq_len=16)
        got = dataset.train_batch(step, 3, 4, 16)
        for key in ("inputs", "targets", "rows"):
            np.testing.assert_array_equal(got[key], expected[key])
    mine = dataset.train_batch(7, 3, 4, 16, rows=np.array([1, 3]))  # a process reads only its rows' windows
    for key in ("inputs", "targets", "rows"):
        np.testing.assert_array_equal(mine[key], expected[key][[1, 3]])
    np.testing.assert_array_equal(dataset.eval_tokens(), stream(prepared.shards, "val"))
    evals = list(dataset.eval_batches(4, 16))
    assert sum(b["weights"].sum() for b in evals) == len(dataset.eval_tokens()) - 1
    assert dataset.units_per_token["byte"] > 0.9  # bytes: one token each, and an EOS per document


def test_a_truncated_shard_another_tokenizer_or_no_manifest_is_refused(prepared, tmp_path):
    with pytest.raises(ValueError, match="was made with a byte tokenizer .* this run's tokenizer is a char one"):
        shards.load(prepared, tokenizers.CharTokenizer("abc", specials=True))
    shard = f"{prepared.shards}/train_00001.bin"
    with open(shard, "r+b") as f:
        f.truncate(10)
    with pytest.raises(ValueError, match=r"train_00001.bin has 10 bytes, but .*manifest.json says"):
        shards.load(prepared)
    prepared.shards = str(tmp_path)
    with pytest.raises(ValueError, match="holds no manifest.json"):
        shards.load(prepared)


def _config(data):
    config = default_config()
    config.data.update(data)
    return config


def test_documents_of_a_window_as_hand_written():
    segments, positions = shards.documents_of(np.array([[5, 1, 9, 2, 9, 9, 3]]), eos=9)
    np.testing.assert_array_equal(segments, [[0, 0, 0, 1, 1, 2, 3]])  # an EOS is its document's last token
    np.testing.assert_array_equal(positions, [[0, 1, 2, 0, 1, 0, 0]])


def test_with_the_document_mask_each_document_gets_the_logits_it_gets_alone(prepared):
    import jax

    from lm import objectives
    from lm.models import families
    from lm.models.config import ModelConfig

    prepared.document_mask = True
    dataset = data_lib.load(_config(prepared), "text", specials=False)
    batch = dataset.train_batch(0, 0, 2, 64)
    assert (batch["segment_ids"].max(axis=1) > 0).all()  # windows that hold several documents
    inputs, _, _ = objectives.CAUSAL.prepare(batch, None)
    assert set(inputs) == {"tokens", "segment_ids", "positions"}
    config = ModelConfig(vocab_size=dataset.tokenizer.vocab_size, num_layers=2, num_heads=2, d_model=16, d_ff=32,
                         max_len=64, position="learned")  # fmt: skip
    model = families.build(config)
    params = families.init_params(model, jax.random.PRNGKey(0))
    packed = np.asarray(model.apply({"params": params}, **inputs))
    for row in range(2):
        for segment in np.unique(batch["segment_ids"][row]):
            where = batch["segment_ids"][row] == segment
            alone = model.apply({"params": params}, batch["inputs"][row][where][None])[0]  # positions from 0
            np.testing.assert_allclose(packed[row][where], alone, atol=1e-5)
    unmasked = np.asarray(model.apply({"params": params}, batch["inputs"]))
    assert np.abs(unmasked - packed).max() > 1e-3  # without the mask, documents read their neighbours
