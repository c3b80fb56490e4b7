"""--mode=export (lm/modes/export.py): the checkpoint as Hugging Face files that load whole."""

import os

import numpy as np
import pytest

from lm import checkpoint
from lm.convert import gpt2
from lm.data import tokenizers
from lm.modes import export, sample


def test_export_writes_gpt2_files_that_read_back_as_the_checkpoint(tiny_config, workdir, tmp_path, capsys):
    out = str(tmp_path / "hf")
    export.export(tiny_config, workdir, out)
    assert "exported step 4" in capsys.readouterr().out
    fields, params = gpt2.read(out)
    assert (fields["num_layers"], fields["d_model"]) == (2, 32)
    saved = checkpoint.Checkpointer(workdir, read_only=True).restore_params()
    np.testing.assert_array_equal(params["block_1"]["mlp"]["up"]["kernel"], saved["block_1"]["mlp"]["up"]["kernel"])


def test_the_export_loads_whole_in_transformers_with_our_ids_and_greedy_text(tiny_config, workdir, tmp_path):
    """AutoTokenizer + AutoModelForCausalLM on the directory alone (no hand edits): our ids, our greedy text."""
    transformers = pytest.importorskip("transformers")
    out = str(tmp_path / "hf")
    written = export.export(tiny_config, workdir, out)
    files = ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]
    assert sorted(os.listdir(out)) == sorted(written) == files
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    model = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
    tiny_config.sample.temperature, tiny_config.sample.num_samples, tiny_config.sample.max_new_tokens = 0.0, 1, 10
    prompts = ["cat", "a dog"]
    ours = tokenizers.load(workdir)
    for prompt, text in zip(prompts, sample.sample(tiny_config, workdir, prompts), strict=True):
        ids = tokenizer(prompt, return_tensors="pt").input_ids
        assert ids[0].tolist() == ours.encode(prompt).tolist()
        generated = model.generate(ids, max_new_tokens=10, do_sample=False)  # generation_config.json: no EOS
        assert tokenizer.decode(generated[0]) == text and generated.shape[1] == ids.shape[1] + 10
