"""The records of a labelled or paired file (.csv, .tsv, .jsonl), against hand-written rows; each malformed file
is an error that names it and the fix."""

import pytest

from lm.data import records

FORMATS = (".csv", ".tsv", ".jsonl")
FIX = "--config.data.text_field / label_field"


def read(path, fields=("text", "label")):
    return records.read(str(path), "Labelled file", FORMATS, list(fields), FIX)


def test_each_format_gives_the_same_records(tmp_path):
    (tmp_path / "a.csv").write_text('text,label\n"a, b",1\nc,0\n')
    (tmp_path / "a.tsv").write_text("text\tlabel\na, b\t1\nc\t0\n")
    (tmp_path / "a.jsonl").write_text('{"text": "a, b", "label": "1"}\n\n{"text": "c", "label": "0"}\n')
    expected = [{"text": "a, b", "label": "1"}, {"text": "c", "label": "0"}]
    assert read(tmp_path / "a.csv") == read(tmp_path / "a.tsv") == read(tmp_path / "a.jsonl") == expected
    (tmp_path / "long.tsv").write_text("text\tlabel\n" + "w " * 100_000 + "\t1\n")  # 200k characters in a field
    assert read(tmp_path / "long.tsv") == [{"text": "w " * 100_000, "label": "1"}]


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("missing.csv", None, r"Labelled file '.*missing.csv' does not exist. Pass a .csv or .tsv or .jsonl file"),
        ("a.txt", "text,label\n", r"a.txt' is neither .csv, .tsv nor .jsonl. Convert it"),
        ("a.jsonl", '{"text": \n', r"a.jsonl cannot be read as JSONL \(.*\)\. Fix the file\."),
        ("a.csv", b"text,label\n\xff,1\n", r"a.csv cannot be read as CSV \(.*utf-8.*\)\. Fix the file\."),
        ("a.tsv", "", r"a.tsv' has no records\."),
        ("a.jsonl", '["a", 1]\n', r"a.jsonl has lines that are not JSON objects"),
        ("a.csv", "words,label\nx,1\n", r"a.csv has no field\(s\) \['text'\] \(it has \['label', 'words'\]\)\. Set "),
    ],
)
def test_a_malformed_file_names_itself_and_the_fix(tmp_path, name, content, message):
    if isinstance(content, bytes):
        (tmp_path / name).write_bytes(content)
    elif content is not None:
        (tmp_path / name).write_text(content)
    with pytest.raises(ValueError, match=message):
        read(tmp_path / name)
