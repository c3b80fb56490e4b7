"""--mode=prepare's work (lm/data/prepare.py): documents from every kind of source, split whole and the same
whatever the number of workers, shards that resume after a kill, and bad input named before anything breaks."""

import json
import os

import numpy as np
import pytest

from lm.config import default_config
from lm.data import prepare, shards, tokenizers

WORDS = "the cat saw a dog and the owl sat on the mat".split()


def documents(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, int(rng.integers(3, 12)))) for _ in range(n)]


def data_config(tmp_path, **fields):
    data = default_config().data
    data.tokenizer, data.val_fraction = "byte", 0.2
    data.update(fields)
    return data


def write_jsonl(path, texts, field="text"):
    path.write_text("".join(json.dumps({field: t, "id": i}) + "\n" for i, t in enumerate(texts)))
    return str(path)


def stream(directory, split) -> np.ndarray:
    manifest = shards.read_manifest(directory)
    return shards.Stream(directory, manifest["splits"][split], manifest["dtype"]).read(
        0, sum(s["tokens"] for s in manifest["splits"][split])
    )


def decoded_documents(directory, split) -> list[str]:
    ids, tokenizer = stream(directory, split), tokenizers.load(directory)
    eos = tokenizer.special_ids["[EOS]"]
    ends = np.flatnonzero(ids == eos)
    assert len(ends) and ends[-1] == len(ids) - 1  # every document ends with EOS
    return [tokenizer.decode(piece[:-1]) for piece in np.split(ids, ends + 1)[:-1]]


def test_documents_are_held_out_whole_and_the_shards_do_not_depend_on_the_workers(tmp_path, monkeypatch):
    monkeypatch.setattr(prepare, "UNIT_BYTES", 2_000)  # several units of one file
    texts = documents(400)
    data = data_config(tmp_path, path=write_jsonl(tmp_path / "corpus.jsonl", texts))
    one = prepare.prepare(data, str(tmp_path / "one"), None, num_workers=1)
    two = prepare.prepare(data, str(tmp_path / "two"), None, num_workers=2)
    assert one == two and one["units"] > 3
    for split in ("train", "val"):
        for shard in one["splits"][split]:
            assert (tmp_path / "one" / shard["file"]).read_bytes() == (tmp_path / "two" / shard["file"]).read_bytes()
    train, val = decoded_documents(str(tmp_path / "one"), "train"), decoded_documents(str(tmp_path / "one"), "val")
    assert sorted(train + val) == sorted(texts)  # every document once, whole, in one split
    assert 0.1 < len(val) / len(texts) < 0.3  # val_fraction 0.2 of them
    assert one["dtype"] == "uint16" and one["tokenizer"]["sha256"] == shards.fingerprint(
        tokenizers.load(str(tmp_path / "one"))
    )
    data.shard_seed = 1  # another seed holds out other documents
    other = prepare.prepare(data, str(tmp_path / "seed1"), None, num_workers=1)
    assert decoded_documents(str(tmp_path / "seed1"), "val") != val and other["seed"] == 1


def test_a_single_text_file_is_split_as_nanogpt_splits_tiny_shakespeare(tmp_path):
    text = "".join(f"line {i} of the play\n" for i in range(500))
    (tmp_path / "play.txt").write_text(text)
    data = data_config(tmp_path, path=str(tmp_path / "play.txt"), tokenizer="char", val_fraction=0.1)
    prepare.prepare(data, str(tmp_path / "s"), None, num_workers=1)
    cut = int(len(text) * 0.9)
    assert decoded_documents(str(tmp_path / "s"), "train") == [text[:cut]]
    assert decoded_documents(str(tmp_path / "s"), "val") == [text[cut:]]


def test_a_killed_preparation_resumes_from_the_units_it_finished(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(prepare, "UNIT_BYTES", 2_000)
    data = data_config(tmp_path, path=write_jsonl(tmp_path / "corpus.jsonl", documents(300)))
    whole = prepare.prepare(data, str(tmp_path / "whole"), None, num_workers=1)
    directory = tmp_path / "killed"
    calls = []

    def dies_at_the_third(args):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(args)
        return real(args)

    real = prepare._tokenize_unit
    monkeypatch.setattr(prepare, "_tokenize_unit", dies_at_the_third)
    with pytest.raises(KeyboardInterrupt):
        prepare.prepare(data, str(directory), None, num_workers=1)
    assert not (directory / shards.MANIFEST).exists() and len(list(directory.glob("unit_*.json"))) == 2
    monkeypatch.setattr(prepare, "_tokenize_unit", real)
    capsys.readouterr()
    assert prepare.prepare(data, str(directory), None, num_workers=1) == whole
    assert f"resuming, 2 of {whole['units']} units already done" in capsys.readouterr().out
    with pytest.raises(ValueError, match="already holds prepared shards"):
        prepare.prepare(data, str(directory), None, num_workers=1)


def test_parquet_files_and_saved_hugging_face_datasets_are_sources(tmp_path):
    texts = documents(60)
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow

    pq.write_table(pyarrow.table({"content": texts}), tmp_path / "c.parquet", row_group_size=25)
    data = data_config(tmp_path, path=str(tmp_path / "c.parquet"), text_field="content")
    manifest = prepare.prepare(data, str(tmp_path / "pq"), None, num_workers=1)
    assert manifest["units"] == 3  # one per row group
    got = decoded_documents(str(tmp_path / "pq"), "train") + decoded_documents(str(tmp_path / "pq"), "val")
    assert sorted(got) == sorted(texts)
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_dict({"text": texts}).save_to_disk(str(tmp_path / "hf"))
    data = data_config(tmp_path, hf_dataset=str(tmp_path / "hf"))
    prepare.prepare(data, str(tmp_path / "from_hf"), None, num_workers=1)
    got = decoded_documents(str(tmp_path / "from_hf"), "train") + decoded_documents(str(tmp_path / "from_hf"), "val")
    assert sorted(got) == sorted(texts)


@pytest.mark.parametrize(
    "name, content, fields, needle",
    [
        ("empty.jsonl", b"", {}, "is empty"),
        ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\xff\xfe", {}, "is not UTF-8 text"),
        ("latin1.txt", "caf\xe9 au lait\n".encode("latin-1"), {}, "is not UTF-8 text"),
        ("c.jsonl", b'{"text": "a"}\n{"body": "b"}\n', {}, "has no field 'text'"),
        ("c.jsonl", b'{"text": "a"}\nnot json\n', {}, "is not a line of JSON"),
        ("c.jsonl", b'{"text": 3}\n', {}, "holds a int, not text"),
        ("c.csv", b"text\na\n", {}, "names no .txt, .jsonl, .parquet file"),
    ],
)
def test_bad_input_is_named_and_nothing_is_written(tmp_path, name, content, fields, needle):
    (tmp_path / name).write_bytes(content)
    data = data_config(tmp_path, path=str(tmp_path / name), **fields)
    with pytest.raises(ValueError, match=needle):
        prepare.prepare(data, str(tmp_path / "out"), None, num_workers=1)
    assert not (tmp_path / "out" / shards.MANIFEST).exists()


def test_a_directory_of_other_files_or_another_preparation_is_refused(tmp_path):
    data = data_config(tmp_path, path=write_jsonl(tmp_path / "corpus.jsonl", documents(50)))
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.md").write_text("mine")
    with pytest.raises(ValueError, match="holds files that are not shards"):
        prepare.prepare(data, str(tmp_path / "busy"), None, num_workers=1)
    assert (tmp_path / "busy" / "notes.md").read_text() == "mine"
    os.makedirs(tmp_path / "half")
    (tmp_path / "half" / prepare.PLAN).write_text(json.dumps({"source": "another"}))
    with pytest.raises(ValueError, match="holds a preparation with other settings"):
        prepare.prepare(data, str(tmp_path / "half"), None, num_workers=1)


def test_a_document_cut_into_units_gets_one_eos_at_its_end(tmp_path, monkeypatch):
    monkeypatch.setattr(prepare, "UNIT_BYTES", 300)
    text = "".join(f"line {i} of the play\n" for i in range(200))  # about 4,000 bytes: 12 units or so
    (tmp_path / "play.txt").write_text(text)
    data = data_config(tmp_path, path=str(tmp_path / "play.txt"), val_fraction=0.1)
    manifest = prepare.prepare(data, str(tmp_path / "s"), None, num_workers=1)
    assert len(manifest["splits"]["train"]) > 8
    cut = int(len(text) * 0.9)
    assert decoded_documents(str(tmp_path / "s"), "train") == [text[:cut]]  # one EOS, at the end
    assert sum(s["documents"] for s in manifest["splits"]["train"]) == 1
    (tmp_path / "files").mkdir()  # several files: each one document, whole in one split
    texts = [text, text[::-1], text.upper(), text.replace("play", "poem")]
    for i, t in enumerate(texts):
        (tmp_path / "files" / f"{i}.txt").write_text(t)
    data = data_config(tmp_path, path=str(tmp_path / "files" / "*.txt"), val_fraction=0.5)
    prepare.prepare(data, str(tmp_path / "several"), None, num_workers=1)
    train, val = (decoded_documents(str(tmp_path / "several"), split) for split in ("train", "val"))
    assert sorted(train + val) == sorted(texts) and train and val


def test_a_tfds_dataset_gives_its_train_and_eval_splits(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")  # requirements-tfds.txt
    import tensorflow as tf

    texts = {"train": documents(30, seed=1), "validation": documents(5, seed=2)}

    def as_dataset(self, split, **kwargs):
        return tf.data.Dataset.from_tensor_slices({"text": texts[split]})

    data = data_config(tmp_path, tfds_name="tiny_shakespeare")
    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        prepare.prepare(data, str(tmp_path / "t"), None, num_workers=1)
    assert decoded_documents(str(tmp_path / "t"), "train") == texts["train"]
    assert decoded_documents(str(tmp_path / "t"), "val") == texts["validation"]


def test_a_vocabulary_beyond_uint16_is_written_as_uint32(tmp_path):
    """75k distinct characters: ids above 65,535 survive the shards (uint16 would wrap them)."""
    codes = [*range(0x4E00, 0xA000), *range(0xAC00, 0xD7A4), *range(0x20000, 0x2A6E0)]
    lines = ["".join(map(chr, codes[i : i + 100])) + "\n" for i in range(0, len(codes), 100)]
    text = "".join(lines * 2)
    (tmp_path / "wide.txt").write_text(text, encoding="utf-8")
    data = data_config(tmp_path, path=str(tmp_path / "wide.txt"), tokenizer="char", val_fraction=0.4)
    manifest = prepare.prepare(data, str(tmp_path / "s"), None, num_workers=1)
    assert manifest["tokenizer"]["vocab_size"] > 2**16 and manifest["dtype"] == "uint32"
    assert stream(str(tmp_path / "s"), "train").max() >= 2**16
    (train,), (val,) = (decoded_documents(str(tmp_path / "s"), split) for split in ("train", "val"))
    assert train + val == text and len(val) > 0.3 * len(text)
