"""Sequence pairs: the built-in tasks, files, the shared tokenizer, and length-bucketed batches."""

import json

import numpy as np
import pytest

from lm.config import default_config
from lm.data import pairs


def task_config(task="reverse", **overrides):
    c = default_config().data
    c.task, c.task_examples, c.source_len, c.seq_len, c.eval_fraction = task, 300, 32, 32, 0.2
    for k, v in overrides.items():
        c[k] = v
    return c


@pytest.mark.parametrize("task", ["reverse", "sort", "add"])
def test_the_built_in_tasks_are_what_they_say_and_the_same_for_a_seed(task):
    made = pairs.task_pairs(task, 200, 16, seed=3)
    assert made == pairs.task_pairs(task, 200, 16, seed=3) != pairs.task_pairs(task, 200, 16, seed=4)
    for source, target in made:
        if task == "reverse":
            assert target == source[::-1] and 1 <= len(source) <= 16 and source.isalpha()
        elif task == "sort":
            assert target == "".join(sorted(source)) and source.isdigit()
        else:
            a, b = source.split("+")
            assert int(target) == int(a) + int(b) and len(a) <= 8 and len(b) <= 8


def test_eval_pairs_of_a_task_never_occur_in_training():
    dataset = pairs.load(task_config("sort", task_max_len=3))  # few distinct pairs: many would repeat
    assert not set(dataset.eval.texts) & set(dataset.train.texts)
    assert len(dataset.eval) > 0


def test_batches_feed_bos_target_and_score_target_eos_in_length_buckets():
    dataset = pairs.load(task_config())
    specials = dataset.tokenizer.special_ids
    batch = dataset.train_batch(5, seed=0, batch_size=16, seq_len=32)
    again = dataset.train_batch(5, seed=0, batch_size=16, seq_len=32)
    for k in batch:
        np.testing.assert_array_equal(batch[k], again[k])  # a function of (seed, step)
    S, T = batch["source"].shape[1], batch["inputs"].shape[1]
    assert S in (8, 16, 32) and T in (8, 16, 32)
    for r, i in enumerate(batch["rows"]):
        source, target = dataset.train.texts[i]
        n = len(target)
        assert dataset.tokenizer.decode(batch["source"][r][batch["source_valid"][r]]) == source
        assert batch["inputs"][r, 0] == specials["[BOS]"] and batch["targets"][r, n] == specials["[EOS]"]
        assert dataset.tokenizer.decode(batch["inputs"][r, 1 : n + 1]) == target
        np.testing.assert_array_equal(batch["targets"][r, :n], batch["inputs"][r, 1 : n + 1])
        assert batch["weights"][r].sum() == n + 1 and (batch["valid"][r] == (batch["weights"][r] > 0)).all()
    lengths = batch["source_valid"].sum(1)
    assert lengths.max() - lengths.min() <= 8  # pairs of similar length share a batch (lengths 1..16 here)


def test_eval_batches_hold_every_pair_once():
    dataset = pairs.load(task_config())
    seen = []
    for batch in dataset.eval_batches(16, 32):
        seen += [int(i) for i, w in zip(batch["rows"], batch["weights"].sum(1), strict=True) if w > 0]
    assert sorted(seen) == list(range(len(dataset.eval)))


def test_files_and_their_errors(tmp_path, capsys):
    rows = [{"en": f"the {i % 3} cat", "de": f"die {i % 3} katze"} for i in range(40)]
    (tmp_path / "pairs.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (tmp_path / "pairs.tsv").write_text("en\tde\n" + "".join(f"{r['en']}\t{r['de']}\n" for r in rows))
    for name in ("pairs.jsonl", "pairs.tsv"):
        c = task_config(task="", path=str(tmp_path / name), source_field="en", target_field="de")
        dataset = pairs.load(c)
        assert len(dataset.train) + len(dataset.eval) == 40 and dataset.train.texts[0] == ("the 0 cat", "die 0 katze")
    c = task_config(task="", path=str(tmp_path / "pairs.tsv"), source_field="english", target_field="de")
    with pytest.raises(ValueError, match=r"has no field\(s\) \['english'\]"):
        pairs.load(c)
    (tmp_path / "empty_target.tsv").write_text("source\ttarget\nabc\t\nxyz\tzyx\n")
    with pytest.raises(ValueError, match="pair\\(s\\) with an empty source or target"):
        pairs.load(task_config(task="", path=str(tmp_path / "empty_target.tsv"), eval_fraction=0.5))
    pairs.load(task_config(source_len=4))
    assert "were cut to fit data.source_len=4" in capsys.readouterr().out
    with pytest.raises(ValueError, match="neither .tsv nor .jsonl"):
        pairs.load(
            task_config(task="", path=str(tmp_path / "pairs.csv")) if (tmp_path / "pairs.csv").write_text("a") else None
        )


def test_a_tfds_translation_dataset_by_name_under_mock_data():
    """wmt14_translate/de-en's features by name (English source, German target), each split its own."""
    tf = pytest.importorskip("tensorflow")
    tfds = pytest.importorskip("tensorflow_datasets")  # requirements-tfds.txt

    def fake(self, split, **kwargs):
        numbers = range(30) if split == "train" else range(100, 106)
        return tf.data.Dataset.from_tensor_slices(
            {"en": [f"cat {i}" for i in numbers], "de": [f"katze {i}" for i in numbers]}
        )

    c = task_config(task="", tfds_name="wmt14_translate/de-en", source_field="en", target_field="de",
                    train_split="train", eval_split="test")  # fmt: skip
    with tfds.testing.mock_data(as_dataset_fn=fake):
        dataset = pairs.load(c)
        assert dataset.name == "wmt14_translate/de-en"
        assert dataset.train.texts[:2] == [("cat 0", "katze 0"), ("cat 1", "katze 1")]
        assert len(dataset.train) == 30 and dataset.eval.texts == [(f"cat {i}", f"katze {i}") for i in range(100, 106)]
        assert dataset.tokenizer.encode("katze cat").size == 9  # one vocabulary for both languages
        c.target_field = "fr"
        with pytest.raises(ValueError, match="no feature 'fr'.*--config.data.target_field"):
            pairs.load(c)
