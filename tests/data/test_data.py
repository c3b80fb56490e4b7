"""lm.data.load: the objective's kind of data decides the loader."""

import json

import pytest

from lm import data


def test_the_kind_decides_the_loader_and_tags_are_word_labels(tiny_config, tmp_path):
    rows = [{"text": ["the", "cat"], "label": ["D", "N"]}, {"text": ["a", "dog", "ran"], "label": ["D", "N", "V"]}]
    (tmp_path / "tags.jsonl").write_text("\n".join(json.dumps(r) for r in rows * 10))
    tiny_config.data.path = str(tmp_path / "tags.jsonl")
    tags = data.load(tiny_config, "tags", specials=True)
    assert tags.label_names == ["D", "N", "V"] and tags.train.labels.ndim == 2
    labels = tiny_config.copy_and_resolve_references()
    with pytest.raises(ValueError, match="needs rows whose 'text' is a text.*--config.objective=tag"):
        data.load(labels, "labels", specials=True)  # a JSONL of word lists is no text classification file
