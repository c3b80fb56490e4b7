"""Plain text for language modelling: batches, splits, files, the built-in corpus, TFDS under mock text."""

import numpy as np
import pytest

from lm.config import default_config
from lm.data import text


def test_train_batch_depends_only_on_seed_and_step():
    ids = np.arange(1000, dtype=np.int32)
    a = text.train_batch(ids, step=7, seed=3, batch_size=4, seq_len=8)
    b = text.train_batch(ids, step=7, seed=3, batch_size=4, seq_len=8)
    np.testing.assert_array_equal(a["inputs"], b["inputs"])
    assert not np.array_equal(a["inputs"], text.train_batch(ids, 8, 3, 4, 8)["inputs"])
    assert not np.array_equal(a["inputs"], text.train_batch(ids, 7, 4, 4, 8)["inputs"])
    np.testing.assert_array_equal(a["targets"][:, :-1], a["inputs"][:, 1:])  # shifted by one
    np.testing.assert_array_equal(a["targets"], a["inputs"] + 1)  # ids are positions here


def test_train_batch_reaches_the_last_token_and_never_past_it():
    ids = np.arange(10, dtype=np.int32)
    seen = np.concatenate([text.train_batch(ids, s, 0, 8, 4)["targets"].ravel() for s in range(50)])
    assert seen.max() == 9 and seen.min() >= 1


def test_eval_batches_score_every_token_but_the_first_exactly_once():
    ids = np.arange(1, 40, dtype=np.int32)  # 39 tokens: 38 targets, windows of 5 -> 8 windows, last partial
    scored = []
    shapes = set()
    for batch in text.eval_batches(ids, batch_size=3, seq_len=5):
        shapes.add(batch["inputs"].shape)
        scored.extend(batch["targets"][batch["weights"] > 0].tolist())
        np.testing.assert_array_equal(batch["targets"][batch["weights"] > 0], batch["inputs"][batch["weights"] > 0] + 1)
    assert sorted(scored) == list(range(2, 40))
    assert shapes == {(3, 5)}


def test_split_is_contiguous_and_disjoint():
    whole = "".join(chr(ord("a") + i % 26) for i in range(1000))
    train, val = text.split_text(whole, 0.1)
    assert train + val == whole
    assert len(val) == 100


def test_text_file_and_directory_sources(tmp_path):
    (tmp_path / "b.txt").write_text("second")
    (tmp_path / "a.txt").write_text("first")
    (tmp_path / "skip.csv").write_text("not text")
    assert text.read_text_files(str(tmp_path)) == "first\nsecond"
    assert text.read_text_files(str(tmp_path / "a.txt")) == "first"


@pytest.mark.parametrize(
    "make,needle",
    [
        (lambda p: str(p / "missing.txt"), "does not exist"),
        (lambda p: (p / "empty.txt").write_text("") and None or str(p / "empty.txt"), "no text"),
        (lambda p: str(p), "no .txt files"),
    ],
)
def test_bad_text_sources_raise_clear_errors(tmp_path, make, needle):
    with pytest.raises(ValueError, match=needle) as info:
        text.read_text_files(make(tmp_path))
    assert "--config.data.path" in str(info.value) or "Point" in str(info.value)


def test_too_short_text_names_the_fix(tmp_path):
    (tmp_path / "t.txt").write_text("abc" * 10)
    c = default_config().data
    c.path = str(tmp_path / "t.txt")
    with pytest.raises(ValueError, match="seq_len"):
        text.load(c)


def test_builtin_corpus_dataset_reports_its_optimal_loss():
    c = default_config().data
    c.synthetic_chars = 20_000
    ds = text.load(c)
    assert 0.1 < ds.optimal_loss < 0.5
    assert ds.units_per_token == {"byte": 1.0, "char": 1.0}
    assert len(ds.train) == 18_000 and len(ds.eval) == 2_000


TRAIN_TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\nAll:\nSpeak, speak.\n"


def fake_shakespeare(split):
    tf = pytest.importorskip("tensorflow")

    text = {"train": TRAIN_TEXT * 20, "validation": "All:\nSpeak, speak.\n" * 10}[split]
    return tf.data.Dataset.from_tensor_slices({"text": [text]})


def test_tfds_source_under_mock_data():
    tfds = pytest.importorskip("tensorflow_datasets")  # requirements-tfds.txt

    c = default_config().data
    c.tfds_name = "tiny_shakespeare"
    with tfds.testing.mock_data(as_dataset_fn=lambda self, split, **kw: fake_shakespeare(split)):
        ds = text.load(c)
    assert ds.name == "tiny_shakespeare"
    assert ds.tokenizer.decode(ds.eval[:6]) == "All:\nS"
    assert len(ds.train) == 20 * len(TRAIN_TEXT)
