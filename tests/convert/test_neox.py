"""GPT-NeoX / Pythia in: the parallel residual, partial rotary positions and the fused per-head QKV layout give
transformers' logits and greedy generations."""

import json

import numpy as np
import pytest

from lm import convert
from lm.convert import neox
from tests.convert.references import generate_both, logits_both, padded

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

DIRECTORIES = ("neox_dir", "neox_sequential_dir")


@pytest.mark.parametrize("directory", DIRECTORIES)
@pytest.mark.parametrize("left", [False, True])
def test_imported_models_match_transformers_logits(directory, left, request):
    directory, reference = request.getfixturevalue(directory)
    tokens, valid = padded(2, (24, 17, 9), 24, left)
    ours, theirs = logits_both(*convert.read_model(directory), reference, tokens, valid)
    np.testing.assert_allclose(ours[valid], theirs[valid], atol=1e-4)


def test_the_readers_fields_are_pythias_options(neox_dir, neox_sequential_dir):
    fields, params = neox.read(neox_dir[0])
    assert fields["parallel_residual"] and fields["rotary_fraction"] == 0.25 and not fields["gelu_approximate"]
    assert not fields["tie_embeddings"] and params["head"]["kernel"].shape == (32, 97)
    sequential, _ = neox.read(neox_sequential_dir[0])
    assert not sequential["parallel_residual"] and sequential["rotary_fraction"] == 0.5
    assert sequential["rope_base"] == 1000.0


def test_greedy_generation_equals_transformers_generate(neox_dir):
    directory, reference = neox_dir
    prompts = [[5, 6, 7, 8, 9, 10, 11], [3, 1], [40, 41, 42, 43]]
    ours, _, theirs = generate_both(*neox.read(directory), reference, prompts, 12)
    np.testing.assert_array_equal(ours, theirs)


def test_transformers_4_config_keys_read_alike(neox_dir, tmp_path):
    directory = neox_dir[0]
    hf = json.loads(open(f"{directory}/config.json").read())
    del hf["rope_parameters"]
    hf |= {"rotary_pct": 0.25, "rotary_emb_base": 10000}  # as Pythia's files on the Hub have them
    (tmp_path / "config.json").write_text(json.dumps(hf))
    (tmp_path / "model.safetensors").symlink_to(f"{directory}/model.safetensors")
    assert neox.read(str(tmp_path))[0] == neox.read(directory)[0]
    (tmp_path / "config.json").write_text(json.dumps(hf | {"attention_bias": False}))
    with pytest.raises(ValueError, match="attention_bias=false"):
        neox.read(str(tmp_path))
