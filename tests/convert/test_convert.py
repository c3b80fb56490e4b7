"""lm.convert.read_model: which reader a Hugging Face directory gets, and which directories are one."""

import json

import pytest

from lm import convert
from lm.convert import bert, gpt2
from tests.convert.references import assert_same_tree


def test_read_model_dispatches_on_model_type(gpt2_dir, bert_dir, tmp_path):
    for (directory, _), read in ((gpt2_dir, gpt2.read), (bert_dir, bert.read)):
        assert convert.is_hf_directory(directory)
        fields, params = convert.read_model(directory)
        expected_fields, expected_params = read(directory)
        assert fields == expected_fields
        assert_same_tree(params, expected_params)
    with pytest.raises(ValueError, match="model_type 'bert', not 'gpt2'"):
        gpt2.read(bert_dir[0])
    assert not convert.is_hf_directory(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"model": {"vocab_size": 8}}))  # one of our workdirs
    assert not convert.is_hf_directory(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "falcon"}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert convert.is_hf_directory(str(tmp_path))
    with pytest.raises(
        ValueError, match="model_type 'falcon'; the Hugging Face models we read are gpt2, bert, gpt_neox"
    ):
        convert.read_model(str(tmp_path))
