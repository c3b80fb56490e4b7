"""The workdir's cache of token ids: hit without reading the text, miss on any change that changes the ids."""

import os

import numpy as np
import pytest

from lm.config import default_config
from lm.data import cache, corpus, text, tokenizers
from lm.data.hf_tokenizer import HFTokenizer
from lm.run import prepare

TEXT = "".join(f"line {i}: the {'cat dog owl'.split()[i % 3]} sat on the mat.\n" for i in range(200))


def text_config(tmp_path, kind="char"):
    (tmp_path / "corpus.txt").write_text(TEXT)
    c = default_config().data
    c.path = str(tmp_path / "corpus.txt")
    c.tokenizer = kind
    c.vocab_size = 320
    return c


def load(c, tokenizer=None, workdir=None, specials=False):
    """text.load, then keep the ids in the workdir as training does (only when they were not cached)."""
    dataset = text.load(c, tokenizer, specials, workdir)
    if workdir is not None:
        dataset.save(workdir)
    return dataset


def cache_files(workdir) -> list[str]:
    return os.listdir(os.path.join(workdir, cache.DIRECTORY))


def forbid(monkeypatch, *names):
    """Makes text.<name> fail if called: the cache must not need it."""
    for name in names:
        monkeypatch.setattr(text, name, lambda *a, name=name, **k: pytest.fail(f"text.{name} was called"))


def saved_and_loaded(tokenizer, tmp_path):
    """The tokenizer as a relaunch sees it: written to a workdir and read back."""
    directory = tmp_path / "tokenizer"
    directory.mkdir(exist_ok=True)
    tokenizers.save(tokenizer, str(directory))
    return tokenizers.load(str(directory))


def assert_same_dataset(a, b):
    np.testing.assert_array_equal(a.train, b.train)
    np.testing.assert_array_equal(a.eval, b.eval)
    assert a.train.dtype == b.train.dtype == np.int32
    assert (a.name, a.units_per_token, a.optimal_loss) == (b.name, b.units_per_token, b.optimal_loss)


@pytest.mark.parametrize("kind", ["byte", "char", "sentencepiece"])
def test_relaunch_takes_the_ids_from_the_cache_without_reading_the_text(kind, tmp_path, monkeypatch):
    c = text_config(tmp_path, kind)
    workdir = str(tmp_path / "run")
    first = load(c, workdir=workdir)  # learns the tokenizer, then keeps the ids
    assert not first.cached and len(cache_files(workdir)) == 1
    forbid(monkeypatch, "read_text_files", "tokenize")
    again = load(c, saved_and_loaded(first.tokenizer, tmp_path), workdir)
    assert again.cached and again.describe().endswith("(cached)")
    assert_same_dataset(again, first)


def test_builtin_corpus_keeps_its_optimal_loss(tmp_path, monkeypatch):
    c = default_config().data
    c.synthetic_chars = 5_000
    first = load(c, workdir=str(tmp_path))
    monkeypatch.setattr(corpus, "generate", lambda *a: pytest.fail("the corpus was generated"))
    again = load(c, first.tokenizer, str(tmp_path))
    assert again.cached and again.optimal_loss is not None
    assert_same_dataset(again, first)


def test_tfds_hit_does_not_read_the_dataset(tmp_path, monkeypatch):
    c = default_config().data
    c.tfds_name = "tiny_shakespeare"
    c.tfds_dir = str(tmp_path / "tfds")
    reads = []  # read_tfds_text is where TensorFlow gets imported: a hit must not call it

    def read_tfds_text(name, split, *args):
        reads.append(split)
        return TEXT if split == "train" else TEXT[:500]

    monkeypatch.setattr(text, "read_tfds_text", read_tfds_text)
    workdir = str(tmp_path / "run")
    first = load(c, workdir=workdir)
    again = load(c, first.tokenizer, workdir)
    assert again.cached and reads == ["train", "validation"]
    assert_same_dataset(again, first)
    # A newly prepared version of the dataset on disk may be other text: the cache is not used.
    info = tmp_path / "tfds" / "tiny_shakespeare" / "1.0.0" / "dataset_info.json"
    info.parent.mkdir(parents=True)
    info.write_text("{}")
    assert not load(c, first.tokenizer, workdir).cached
    assert len(reads) == 4


def edit_text(c, tmp_path):
    (tmp_path / "corpus.txt").write_text(TEXT.replace("cat", "act"))  # same size: only the content differs
    return c, None


def add_a_file(c, tmp_path):
    os.remove(c.path)
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text(TEXT)
    c.path = str(tmp_path / "texts")
    return c, None


def move_the_split(c, tmp_path):
    c.val_fraction = 0.2
    return c, None


def other_tokenizer(c, tmp_path):
    return c, tokenizers.CharTokenizer(TEXT + "#")  # one more character: every id above it moves


def specials_on(c, tmp_path):
    return c, tokenizers.CharTokenizer(TEXT, specials=True)


@pytest.mark.parametrize("change", [edit_text, add_a_file, move_the_split, other_tokenizer, specials_on])
def test_any_change_to_the_ids_misses_the_cache(change, tmp_path):
    c = text_config(tmp_path)
    workdir = str(tmp_path / "run")
    before = load(c, tokenizers.CharTokenizer(TEXT), workdir)
    c, tokenizer = change(c, tmp_path)
    after = load(c, tokenizer or before.tokenizer, workdir)
    assert not after.cached and len(cache_files(workdir)) == 2
    fresh = load(c, after.tokenizer)  # no cache: read and tokenized now
    assert_same_dataset(after, fresh)
    assert load(c, after.tokenizer, workdir).cached


@pytest.mark.parametrize("damage", [lambda b: b"", lambda b: b"not a cache", lambda b: b[: len(b) // 2]])
def test_an_unreadable_cache_file_is_rewritten(damage, tmp_path, capsys):
    c = text_config(tmp_path)
    workdir = str(tmp_path / "run")
    cache_dir = tmp_path / "run" / cache.DIRECTORY
    first = load(c, workdir=workdir)
    (file,) = cache_dir.iterdir()
    file.write_bytes(damage(file.read_bytes()))
    again = load(c, first.tokenizer, workdir)
    assert not again.cached and "cannot be read" in capsys.readouterr().out
    assert_same_dataset(again, first)
    assert load(c, first.tokenizer, workdir).cached
    assert [f.name for f in cache_dir.iterdir()] == [file.name]  # no temporary file left behind


def test_a_saved_and_reloaded_hf_tokenizer_keys_the_same(tmp_path):
    (tmp_path / "vocab.json").write_text('{"a": 0, "b": 1, "ab": 2, " ": 3}')
    (tmp_path / "merges.txt").write_text("#version: 0.2\na b\n")
    tokenizer = HFTokenizer.from_directory(str(tmp_path))
    key = cache.key({}, tokenizer, False)
    assert cache.key({}, saved_and_loaded(tokenizer, tmp_path), False) == key
    tokenizer.clean_up_spaces = True
    assert cache.key({}, tokenizer, False) != key


def test_training_keeps_the_cache_in_the_workdir_and_bench_neither_reads_nor_writes_it(tiny_config, tmp_path):
    workdir = tmp_path / "run"
    run = prepare(tiny_config, str(workdir))
    assert not run.data.cached and not workdir.exists()  # a first launch writes nothing before its checks pass
    workdir.mkdir()
    run.data.save(str(workdir))  # as training does once it has created the workdir
    assert [f.suffix for f in (workdir / cache.DIRECTORY).iterdir()] == [".npz"]
    tokenizers.save(run.tokenizer, str(workdir))  # as training does: a relaunch reuses the tokenizer
    again = prepare(tiny_config, str(workdir))
    assert again.data.cached
    assert_same_dataset(again.data, run.data)
    assert not prepare(tiny_config, None, restore="never").data.cached  # bench: no workdir at all


def test_the_code_key_covers_every_module_of_the_package_by_name(tmp_path):
    package = tmp_path / "data"
    package.mkdir()
    (package / "text.py").write_text("A = 1\n")
    (package / "notes.md").write_text("not code")
    before = cache.code_digest(str(package))
    assert list(before) == ["data.text"]
    (package / "text.py").rename(package / "windows.py")  # a module moved: a new key, not a crash
    after = cache.code_digest(str(package))
    assert list(after) == ["data.windows"] and after["data.windows"] == before["data.text"]
    (package / "windows.py").write_text("A = 2\n")
    assert cache.code_digest(str(package)) != after
    assert set(cache.code_digest(cache.PACKAGE_DIR)) >= {"data.text", "data.tokenizers", "data.corpus", "data.cache"}
