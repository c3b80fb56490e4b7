"""Labelled data: files framed, padded and labelled; tags on first pieces; held-out splits; packing."""

import json

import numpy as np
import pytest

from lm.config import default_config
from lm.data import labelled, tokenizers


def data_config(**fields):
    c = default_config().data
    c.seq_len = 12
    for k, v in fields.items():
        c[k] = v
    return c


@pytest.fixture
def char_tok():
    return tokenizers.CharTokenizer("abcdefghijklmnopqrstuvwxyz ", specials=True)


def write_examples(path, rows, ext):
    if ext == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        sep = "\t" if ext == "tsv" else ","
        keys = list(rows[0])
        path.write_text(sep.join(keys) + "\n" + "".join(sep.join(str(r[k]) for k in keys) + "\n" for r in rows))


@pytest.mark.parametrize("ext", ["csv", "tsv", "jsonl"])
def test_local_files_frame_pad_and_label(tmp_path, char_tok, ext):
    rows = [{"text": t, "label": lab} for t, lab in [("good", "pos"), ("bad", "neg"), ("fine day", "pos")] * 4]
    path = tmp_path / f"x.{ext}"
    write_examples(path, rows, ext)
    ds = labelled.load(data_config(path=str(path), eval_fraction=0.25), char_tok, tag=False)
    assert ds.label_names == ["neg", "pos"]
    assert len(ds.train) == 9 and len(ds.eval) == 3  # every 4th example held out
    cls, sep, pad = (char_tok.special_ids[k] for k in ("[CLS]", "[SEP]", "[PAD]"))
    first = ds.train.tokens[0]
    np.testing.assert_array_equal(first[:6], [cls, *char_tok.encode("good"), sep])
    assert (first[6:] == pad).all()
    np.testing.assert_array_equal(ds.train.valid[0], [True] * 6 + [False] * 6)
    assert ds.train.labels[0] == 1 and ds.train.labels[1] == 0


def test_sentence_pairs_get_token_types_and_truncation(tmp_path, char_tok):
    path = tmp_path / "pairs.jsonl"
    write_examples(path, [{"a": "abc", "b": "defghijkl", "label": (i // 2) % 2} for i in range(6)], "jsonl")
    ds = labelled.load(
        data_config(path=str(path), text_field="a", text_pair_field="b", eval_fraction=0.5), char_tok, tag=False
    )
    np.testing.assert_array_equal(ds.train.token_types[0], [0] * 5 + [1] * 7)  # [CLS]abc[SEP] | defghij (cut)
    assert ds.train.valid[0].all()


def test_token_labels_sit_on_each_words_first_piece(tmp_path, char_tok):
    path = tmp_path / "tags.jsonl"
    write_examples(path, [{"text": ["ab", "cde"], "label": ["X", "Y"]}] * 4, "jsonl")
    ds = labelled.load(data_config(path=str(path), eval_fraction=0.5), char_tok, tag=True)
    # [CLS] a b ' ' c d e [SEP]: "ab" starts at 1, " cde" at 3
    np.testing.assert_array_equal(ds.train.weights[0][:8], [0, 1, 0, 1, 0, 0, 0, 0])
    assert ds.train.labels[0][1] == 0 and ds.train.labels[0][3] == 1


@pytest.mark.parametrize(
    "content,needle",
    [
        ("text,lab\nx,1\n", "no field"),
        ("", "has no records"),
    ],
)
def test_bad_labelled_files(tmp_path, char_tok, content, needle):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=needle):
        labelled.load(data_config(path=str(path)), char_tok, tag=False)


def test_eval_labels_must_occur_in_training(tmp_path, char_tok):
    train, evals = tmp_path / "t.csv", tmp_path / "e.csv"
    write_examples(train, [{"text": "a", "label": "x"}, {"text": "b", "label": "y"}], "csv")
    write_examples(evals, [{"text": "a", "label": "z"}], "csv")
    with pytest.raises(ValueError, match="not among the training labels"):
        labelled.load(data_config(path=str(train), eval_path=str(evals)), char_tok, tag=False)


def test_speaker_rows_take_the_most_frequent_speakers():
    text = "A:\nhi\n\nB:\nyo\n\nA:\nho\n\nC:\nno\n\nB:\nme\n\nA:\nlo"
    rows = labelled.speaker_rows(text, 2)
    assert [(t, s) for t, s, _ in rows] == [("hi", "A"), ("yo", "B"), ("ho", "A"), ("me", "B"), ("lo", "A")]
    assert [s for _, s, _ in labelled.speaker_rows(text, 2, ["C", "B"])] == ["B", "C", "B"]
    with pytest.raises(ValueError, match="No speeches by"):
        labelled.speaker_rows(text, 2, ["Z"])


def test_train_batches_are_epochs_of_a_permutation_and_deterministic(char_tok, tmp_path):
    path = tmp_path / "x.csv"
    write_examples(path, [{"text": "ab"[i % 2] * (1 + i % 5), "label": i % 3} for i in range(40)], "csv")
    ds = labelled.load(data_config(path=str(path), eval_fraction=0.5), char_tok, tag=False)
    E = len(ds.train)  # 20
    rows = np.concatenate([ds.train_batch(s, 0, 5, 12)["rows"] for s in range(4)])  # one epoch
    assert sorted(rows) == list(range(E))
    np.testing.assert_array_equal(ds.train_batch(3, 0, 5, 12)["inputs"], ds.train_batch(3, 0, 5, 12)["inputs"])
    assert not np.array_equal(ds.train_batch(4, 0, 5, 12)["rows"], ds.train_batch(0, 0, 5, 12)["rows"])


def test_eval_batches_cover_every_example_once(char_tok, tmp_path):
    path = tmp_path / "x.csv"
    write_examples(path, [{"text": "abc", "label": (i // 2) % 2} for i in range(20)], "csv")
    ds = labelled.load(data_config(path=str(path), eval_fraction=0.5), char_tok, tag=False)
    batches = list(ds.eval_batches(4, 12))
    assert sum(b["weights"].sum() for b in batches) == len(ds.eval) == 10
    assert all(b["inputs"].shape == (4, 12) for b in batches)


def test_tfds_labelled_source_under_mock_data(char_tok):
    tf = pytest.importorskip("tensorflow")
    tfds = pytest.importorskip("tensorflow_datasets")  # requirements-tfds.txt

    def fake_sst2(self, split, **kwargs):
        n = {"train": 10, "validation": 4}[split]
        return tf.data.Dataset.from_tensor_slices(
            {"sentence": [f"a{'b' * i}" for i in range(n)], "label": [i % 2 for i in range(n)], "idx": list(range(n))}
        )

    c = data_config(tfds_name="glue/sst2", text_field="sentence", eval_split="validation")
    with tfds.testing.mock_data(as_dataset_fn=fake_sst2):
        ds = labelled.load(c, char_tok, tag=False)
    assert ds.name == "glue/sst2" and ds.label_names == ["0", "1"]
    assert len(ds.train) == 10 and len(ds.eval) == 4
    np.testing.assert_array_equal(ds.eval.labels, [0, 1, 0, 1])
    assert ds.eval.valid[3].sum() == len("abbb") + 2  # [CLS] abbb [SEP]


def test_packing_fills_rows_and_gives_the_same_logits_as_one_text_per_row(char_tok, tmp_path):
    import jax

    from lm.models.config import ModelConfig
    from lm.models.transformer import TransformerLM

    path = tmp_path / "x.csv"
    write_examples(path, [{"text": "abcdefg"[: 1 + i % 4], "label": i % 3} for i in range(24)], "csv")
    plain = labelled.load(data_config(path=str(path), eval_fraction=0.5, seq_len=16), char_tok, tag=False)
    packed = labelled.load(data_config(path=str(path), eval_fraction=0.5, seq_len=16, pack=True), char_tok, tag=False)
    assert len(packed.train) < len(plain.train) / 2  # texts of 3-6 tokens: several per row of 16
    assert packed.train.weights.sum() == len(plain.train)
    np.testing.assert_array_equal(np.sort(packed.train.labels[packed.train.weights > 0]), np.sort(plain.train.labels))

    config = ModelConfig(
        vocab_size=char_tok.vocab_size,
        num_layers=2,
        num_heads=2,
        d_model=16,
        d_ff=32,
        max_len=16,
        causal=False,
        num_classes=3,
    )
    model = TransformerLM(config)
    params = model.init(jax.random.PRNGKey(0), plain.train.tokens[:1], method="classify")["params"]
    expected = model.apply({"params": params}, plain.train.tokens, valid=plain.train.valid, method="classify")
    p = packed.train
    logits = model.apply({"params": params}, p.tokens, p.positions, p.segment_ids, p.valid, method="classify_packed")
    np.testing.assert_allclose(np.asarray(logits)[p.weights > 0], np.asarray(expected), atol=1e-5)


def test_packing_trains_end_to_end(tiny_config, tmp_path):
    from lm import train

    path = tmp_path / "x.csv"
    write_examples(path, [{"text": "cat dog owl"[: 2 + i % 9], "label": i % 2} for i in range(64)], "csv")
    c = tiny_config.copy_and_resolve_references()
    c.objective, c.data.path, c.data.pack = "classify", str(path), True
    final = train.train(c, str(tmp_path / "run"))
    assert final["eval/examples"] == 64 // 5  # every 5th held out, each counted once
