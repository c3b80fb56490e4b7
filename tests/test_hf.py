"""Hugging Face GPT-2 checkpoints: our model gives the reference's logits (transformers, PyTorch CPU)."""

import jax.numpy as jnp
import numpy as np
import pytest

from lm import hf
from lm.model import ModelConfig, TransformerLM

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        n_layer=2,
        n_head=4,
        n_embd=32,
        vocab_size=97,
        n_positions=24,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        initializer_range=0.1,  # large activations, so that e.g. the GELU variant shows in the logits
    )
    model = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # move LayerNorms off their (1, 0) init so that a swapped scale / bias shows
        for name, p in model.named_parameters():
            if "ln" in name:
                p.add_(0.1 * torch.randn_like(p))
    directory = tmp_path_factory.mktemp("gpt2")
    model.save_pretrained(directory, safe_serialization=True)
    return str(directory), model


def test_imported_gpt2_matches_transformers_logits(gpt2_dir):
    directory, reference = gpt2_dir
    fields, params = hf.read_gpt2(directory)
    model = TransformerLM(ModelConfig(**fields))
    tokens = np.random.default_rng(0).integers(0, 97, (3, 24))
    ours = model.apply({"params": params}, jnp.asarray(tokens))
    with torch.no_grad():
        theirs = reference(torch.from_numpy(tokens)).logits.numpy()
    np.testing.assert_allclose(np.asarray(ours), theirs, atol=1e-4)


def test_missing_and_malformed_files_name_the_problem(tmp_path, gpt2_dir):
    with pytest.raises(ValueError, match="config.json not found"):
        hf.read_gpt2(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="model.safetensors not found"):
        hf.read_gpt2(str(tmp_path))
    (tmp_path / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ValueError, match="not a GPT-2 config"):
        hf.read_gpt2(str(tmp_path))
