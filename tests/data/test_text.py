import os
import time

import numpy as np
import pytest

from lm.data import corpus, data, tokenizers
from lm.config import default_config


def test_train_batch_depends_only_on_seed_and_step():
    ids = np.arange(1000, dtype=np.int32)
    a = data.train_batch(ids, step=7, seed=3, batch_size=4, seq_len=8)
    b = data.train_batch(ids, step=7, seed=3, batch_size=4, seq_len=8)
    np.testing.assert_array_equal(a["inputs"], b["inputs"])
    assert not np.array_equal(a["inputs"], data.train_batch(ids, 8, 3, 4, 8)["inputs"])
    assert not np.array_equal(a["inputs"], data.train_batch(ids, 7, 4, 4, 8)["inputs"])
    np.testing.assert_array_equal(a["targets"][:, :-1], a["inputs"][:, 1:])  # shifted by one
    np.testing.assert_array_equal(a["targets"], a["inputs"] + 1)  # ids are positions here


def test_train_batch_reaches_the_last_token_and_never_past_it():
    ids = np.arange(10, dtype=np.int32)
    seen = np.concatenate([data.train_batch(ids, s, 0, 8, 4)["targets"].ravel() for s in range(50)])
    assert seen.max() == 9 and seen.min() >= 1


def test_eval_batches_score_every_token_but_the_first_exactly_once():
    ids = np.arange(1, 40, dtype=np.int32)  # 39 tokens: 38 targets, windows of 5 -> 8 windows, last partial
    scored = []
    shapes = set()
    for batch in data.eval_batches(ids, batch_size=3, seq_len=5):
        shapes.add(batch["inputs"].shape)
        scored.extend(batch["targets"][batch["weights"] > 0].tolist())
        np.testing.assert_array_equal(batch["targets"][batch["weights"] > 0], batch["inputs"][batch["weights"] > 0] + 1)
    assert sorted(scored) == list(range(2, 40))
    assert shapes == {(3, 5)}


def test_split_is_contiguous_and_disjoint():
    text = "".join(chr(ord("a") + i % 26) for i in range(1000))
    train, val = data.split_text(text, 0.1)
    assert train + val == text
    assert len(val) == 100


def test_text_file_and_directory_sources(tmp_path):
    (tmp_path / "b.txt").write_text("second")
    (tmp_path / "a.txt").write_text("first")
    (tmp_path / "skip.csv").write_text("not text")
    assert data.read_text_files(str(tmp_path)) == "first\nsecond"
    assert data.read_text_files(str(tmp_path / "a.txt")) == "first"


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
        data.read_text_files(make(tmp_path))
    assert "--config.data.path" in str(info.value) or "Point" in str(info.value)


def test_too_short_text_names_the_fix(tmp_path):
    (tmp_path / "t.txt").write_text("abc" * 10)
    c = default_config().data
    c.path = str(tmp_path / "t.txt")
    with pytest.raises(ValueError, match="seq_len"):
        data.load(c)


@pytest.mark.parametrize("kind", ["byte", "char", "sentencepiece"])
def test_tokenizers_round_trip(kind, tmp_path):
    train = (
        "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n" * 30
        + "naïve café — ünïcödé\n"
    )
    tok = tokenizers.build(kind, train, vocab_size=340)
    for text in ["To be, or not to be", "question:\nWhether", "café — ü"]:
        ids = tok.encode(text)
        assert ids.dtype == np.int32 and ids.max() < tok.vocab_size
        assert tok.decode(ids) == text
    tokenizers.save(tok, str(tmp_path))
    again = tokenizers.load(str(tmp_path))
    np.testing.assert_array_equal(again.encode(train[:200]), tok.encode(train[:200]))
    assert again.vocab_size == tok.vocab_size


def test_sentencepiece_learns_multi_character_pieces():
    train = "the cat sat on the mat with the hat\n" * 200
    tok = tokenizers.build("sentencepiece", train, vocab_size=300)
    assert len(tok.encode("the cat sat")) < len("the cat sat") / 2


def test_char_tokenizer_vocabulary_comes_from_training_text_and_rejects_others():
    tok = tokenizers.build("char", "hello world")
    assert tok.vocab_size == len(set("hello world"))
    with pytest.raises(ValueError, match="outside the character vocabulary.*'xz'"):
        tok.encode("hex z")


def test_builtin_corpus_nats_are_the_generators_log_probabilities():
    text, nats = corpus.generate(3000)
    P = corpus.transition_matrix()
    words = {w: i for i, w in enumerate(corpus.WORDS)}
    end = len(corpus.WORDS)
    # Recompute the text's log-probability from its words: sum over transitions of -log P.
    lines = text.split(".\n")
    total, state = 0.0, end
    for line in lines[:-1]:  # complete lines only
        for word in line.split(" "):
            total += -np.log(P[state, words[word]])
            state = words[word]
        total += -np.log(P[state, end])
        state = end
    covered = len(".\n".join(lines[:-1])) + 2
    np.testing.assert_allclose(nats[:covered].sum(), total, rtol=1e-9)
    assert text == corpus.generate(3000)[0]  # deterministic


def test_builtin_corpus_dataset_reports_its_optimal_loss():
    c = default_config().data
    c.synthetic_chars = 20_000
    ds = data.load(c)
    assert 0.1 < ds.optimal_loss < 0.5
    assert ds.eval_bytes_per_token == 1.0
    assert len(ds.train) == 18_000 and len(ds.eval) == 2_000


TRAIN_TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\nAll:\nSpeak, speak.\n"


def fake_shakespeare(split):
    import tensorflow as tf

    text = {"train": TRAIN_TEXT * 20, "validation": "All:\nSpeak, speak.\n" * 10}[split]
    return tf.data.Dataset.from_tensor_slices({"text": [text]})


def test_tfds_source_under_mock_data():
    import tensorflow_datasets as tfds

    c = default_config().data
    c.tfds_name = "tiny_shakespeare"
    with tfds.testing.mock_data(as_dataset_fn=lambda self, split, **kw: fake_shakespeare(split)):
        ds = data.load(c)
    assert ds.name == "tiny_shakespeare"
    assert ds.tokenizer.decode(ds.eval[:6]) == "All:\nS"
    assert len(ds.train) == 20 * len(TRAIN_TEXT)


def test_tfds_offline_fails_fast_naming_the_local_file_alternative(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_network_available", lambda *a, **k: False)
    start = time.perf_counter()
    with pytest.raises(ValueError, match="--config.data.path=FILE") as info:
        data.read_tfds("tiny_shakespeare", "train", str(tmp_path), "text")
    assert time.perf_counter() - start < 30
    assert "not on disk" in str(info.value)
    assert os.listdir(tmp_path) == [] or all(not f.endswith(".tfrecord") for f in os.listdir(tmp_path))


def test_unknown_tfds_name_is_a_clear_error():
    with pytest.raises(ValueError, match="is not a TFDS dataset"):
        data.read_tfds("no_such_dataset_xyz", "train", "", "text")
