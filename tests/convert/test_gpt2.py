"""GPT-2 in and out: imported logits and greedy generation equal transformers' (PyTorch, CPU); an exported
model loads in transformers with our logits; models GPT-2 cannot express are refused."""

import copy
import dataclasses
import json

import jax
import ml_dtypes
import numpy as np
import pytest

from lm.convert import gpt2
from lm.models.config import ARCHITECTURE, ModelConfig
from lm.models.transformer import TransformerLM
from tests.convert.references import (
    VOCAB,
    assert_same_tree,
    check_exported,
    generate_both,
    logits_both,
    padded,
    random_params,
)

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


# Right padding is invisible to a causal model's valid positions; left padding needs the mask (`valid`).
@pytest.mark.parametrize("lengths, left", [((24, 24, 24), False), ((24, 17, 9), False), ((24, 17, 9), True)])
def test_imported_gpt2_matches_transformers_logits(gpt2_dir, lengths, left):
    directory, reference = gpt2_dir
    tokens, valid = padded(0, lengths, 24, left)
    ours, theirs = logits_both(*gpt2.read(directory), reference, tokens, valid)
    np.testing.assert_allclose(ours[valid], theirs[valid], atol=1e-4)  # padding's logits are moot


def test_bfloat16_and_sharded_checkpoints_read_as_float32(gpt2_dir, tmp_path):
    directory, reference = gpt2_dir
    fields, params = gpt2.read(directory)
    copy.deepcopy(reference).to(torch.bfloat16).save_pretrained(tmp_path, max_shard_size="20KB")
    assert not (tmp_path / "model.safetensors").exists()  # sharded: model-0000x-of-0000y.safetensors + index
    bf16_fields, bf16_params = gpt2.read(str(tmp_path))
    assert bf16_fields == fields
    assert_same_tree(bf16_params, jax.tree.map(lambda x: x.astype(ml_dtypes.bfloat16).astype(np.float32), params))


@pytest.mark.parametrize(
    "options",
    [
        dict(gelu_approximate=True),
        dict(gelu_approximate=False),
        dict(use_bias=False),  # nanoGPT's bias=False: zero biases
        dict(use_bias=False, qkv_bias=True),
        dict(tie_embeddings=False),  # its own lm_head.weight
    ],
    ids=str,
)
def test_exported_gpt2_loads_in_transformers_with_our_logits(tmp_path, options):
    config = ModelConfig(vocab_size=VOCAB, num_layers=2, num_heads=4, d_model=32, d_ff=48, max_len=16, **options)
    model = TransformerLM(config)

    params = random_params(model)
    fields = dataclasses.asdict(config)
    gpt2.write(str(tmp_path), fields, params)

    biased = config.use_bias and config.qkv_bias is not False
    reference = check_exported(
        tmp_path, model, params, fields, gpt2.read, transformers.GPT2LMHeadModel, 16, exact_fields=biased
    )
    hf = json.loads((tmp_path / "config.json").read_text())
    assert hf["activation_function"] == ("gelu_new" if config.gelu_approximate else "gelu")
    assert hf["tie_word_embeddings"] == config.tie_embeddings
    tied = reference.lm_head.weight.data_ptr() == reference.transformer.wte.weight.data_ptr()
    assert tied == config.tie_embeddings


@pytest.mark.parametrize(
    "override",
    [
        dict(causal=False),
        dict(norm_position="post"),
        dict(position="rotary"),
        dict(norm="rmsnorm"),
        dict(mlp="swiglu"),
        dict(embedding_norm=True),
        dict(type_vocab_size=2),
        dict(mlm_transform=True),
        dict(head_bias=True),
        dict(num_kv_heads=1),
    ],
)
def test_export_refuses_models_outside_the_gpt2_family(tmp_path, override):
    fields = dict(vocab_size=VOCAB, num_layers=1, num_heads=2, d_model=8, d_ff=16, max_len=8) | override
    ((name, value),) = override.items()
    with pytest.raises(ValueError, match=f"GPT-2-family models only; this one has {name}={value!r}"):
        gpt2.write(str(tmp_path), fields, params={})
    assert not (tmp_path / "model.safetensors").exists()


def test_export_refuses_params_or_fields_that_do_not_fit(tmp_path):
    fields = dict(vocab_size=VOCAB, num_layers=1, num_heads=2, d_model=8, d_ff=16, max_len=8)
    with pytest.raises(ValueError, match="params do not fit"):
        gpt2.write(str(tmp_path), fields, params={"embed": {"embedding": np.zeros((VOCAB, 8))}})
    with pytest.raises(ValueError, match="do not describe a model.*'num_layers'"):
        gpt2.write(str(tmp_path), {"vocab_size": VOCAB}, params={})
    with pytest.raises(ValueError, match="do not describe a model.*n_embd"):
        gpt2.write(str(tmp_path), fields | {"n_embd": 8}, params={})


def _generate_both(gpt2_dir, prompts, max_new_tokens, eos_id=None, repetition_penalty=1.0):
    """Greedy continuations of left-padded prompts: (ours, our lengths, transformers' generate)."""
    directory, reference = gpt2_dir
    return generate_both(*gpt2.read(directory), reference, prompts, max_new_tokens, eos_id, repetition_penalty)


def test_greedy_generation_of_prompts_of_different_lengths_equals_transformers_generate(gpt2_dir):
    ours, lengths, theirs = _generate_both(gpt2_dir, [[5, 6, 7, 8, 9, 10, 11], [3, 1], [40, 41, 42, 43]], 12)
    np.testing.assert_array_equal(ours, theirs)
    assert (lengths == 12).all()


def test_greedy_generation_with_repetition_penalty_and_eos_equals_transformers_generate(gpt2_dir):
    prompts = [[5, 6, 7], [3, 1, 2], [40, 41, 42]]
    free, _, _ = _generate_both(gpt2_dir, prompts, 12, repetition_penalty=1.3)
    eos = int(free[1, 4])  # row 1 ends at its fifth token
    ours, lengths, theirs = _generate_both(gpt2_dir, prompts, 12, eos_id=eos, repetition_penalty=1.3)
    assert theirs.shape[1] <= 12
    padded = np.full((3, 12), eos)  # transformers stops when every row has ended
    padded[:, : theirs.shape[1]] = theirs
    np.testing.assert_array_equal(ours, padded)
    assert lengths[1] <= 5 and (ours[1, lengths[1] :] == eos).all()


def test_the_gpt2_family_is_stated_in_model_fields_and_read_back_by_the_reader(gpt2_dir):
    assert set(gpt2.GPT2_FAMILY) <= set(ARCHITECTURE)
    fields, _ = gpt2.read(gpt2_dir[0])
    assert {k: fields[k] for k in gpt2.GPT2_FAMILY} == gpt2.GPT2_FAMILY
