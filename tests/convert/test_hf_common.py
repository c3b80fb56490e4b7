"""Reading a Hugging Face directory: a clear error for every missing or malformed file."""

import json

import pytest

from lm import convert
from lm.convert import bert, gpt2


def test_missing_and_malformed_files_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="config.json not found"):
        gpt2.read(str(tmp_path))
    (tmp_path / "config.json").write_text("{")
    with pytest.raises(ValueError, match="model.safetensors not found"):
        gpt2.read(str(tmp_path))
    (tmp_path / "pytorch_model.bin").write_bytes(b"a pickle")
    with pytest.raises(ValueError, match="pytorch_model.bin but no model.safetensors.*save_pretrained"):
        bert.read(str(tmp_path))
    (tmp_path / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ValueError, match="config.json cannot be read as JSON"):
        gpt2.read(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="not a GPT-2 config"):
        gpt2.read(str(tmp_path))
    with pytest.raises(ValueError, match="not a BERT config"):
        bert.read(str(tmp_path))
    gpt2_config = dict(model_type="gpt2", n_embd=8, n_layer=1, n_head=2, n_positions=8, vocab_size=8)
    (tmp_path / "config.json").write_text(json.dumps(gpt2_config))
    with pytest.raises(ValueError, match="model.safetensors could not be read as safetensors"):
        gpt2.read(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps(gpt2_config | {"activation_function": "relu"}))
    with pytest.raises(ValueError, match="activation 'relu'"):
        convert.read_model(str(tmp_path))
