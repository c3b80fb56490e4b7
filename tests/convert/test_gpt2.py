"""GPT-2 in and out: imported logits and greedy generation equal transformers' (PyTorch, CPU); an exported
model loads in transformers with our logits; models GPT-2 cannot express are refused."""

import copy
import dataclasses
import json

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

from lm.convert import gpt2
from lm.decoding import generate, sampling
from lm.models.config import ARCHITECTURE, ModelConfig
from lm.models.transformer import TransformerLM, init_params
from tests.convert.references import VOCAB, assert_same_tree, padded

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


# Right padding is invisible to a causal model's valid positions; left padding needs the mask (`valid`).
# Right padding is invisible to a causal model's valid positions; left padding needs the mask (`valid`).
@pytest.mark.parametrize("lengths, left", [((24, 24, 24), False), ((24, 17, 9), False), ((24, 17, 9), True)])
def test_imported_gpt2_matches_transformers_logits(gpt2_dir, lengths, left):
    directory, reference = gpt2_dir
    fields, params = gpt2.read(directory)
    model = TransformerLM(ModelConfig(**fields))
    tokens, valid = padded(0, lengths, 24, left)
    ours = model.apply({"params": params}, jnp.asarray(tokens), valid=jnp.asarray(valid))
    with torch.no_grad():
        theirs = reference(torch.from_numpy(tokens), attention_mask=torch.from_numpy(valid).long()).logits.numpy()
    np.testing.assert_allclose(np.asarray(ours)[valid], theirs[valid], atol=1e-4)  # padding's logits are moot


def test_bfloat16_and_sharded_checkpoints_read_as_float32(gpt2_dir, tmp_path):
    directory, reference = gpt2_dir
    fields, params = gpt2.read(directory)
    copy.deepcopy(reference).to(torch.bfloat16).save_pretrained(tmp_path, max_shard_size="20KB")
    assert not (tmp_path / "model.safetensors").exists()  # sharded: model-0000x-of-0000y.safetensors + index
    bf16_fields, bf16_params = gpt2.read(str(tmp_path))
    assert bf16_fields == fields
    assert_same_tree(bf16_params, jax.tree.map(lambda x: x.astype(ml_dtypes.bfloat16).astype(np.float32), params))


@pytest.mark.parametrize("gelu_approximate", [True, False])
def test_exported_gpt2_loads_in_transformers_with_our_logits(tmp_path, gelu_approximate):
    config = ModelConfig(
        vocab_size=VOCAB, num_layers=2, num_heads=4, d_model=32, d_ff=48, max_len=16, gelu_approximate=gelu_approximate
    )
    model = TransformerLM(config)

    @jax.jit  # one compilation, not one per op
    def random_params(key):  # our init, moved off its (1, 0) norms and 0 biases, and larger
        leaves, treedef = jax.tree.flatten(init_params(model, key))
        keys = jax.random.split(jax.random.fold_in(key, 1), len(leaves))
        return treedef.unflatten([x + 0.1 * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys, strict=True)])

    params = random_params(jax.random.key(0))
    fields = dataclasses.asdict(config)
    gpt2.write(str(tmp_path), fields, params)

    reference, info = transformers.GPT2LMHeadModel.from_pretrained(str(tmp_path), output_loading_info=True)
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    assert json.loads((tmp_path / "config.json").read_text())["activation_function"] == (
        "gelu_new" if gelu_approximate else "gelu"
    )
    tokens = np.random.default_rng(2).integers(0, VOCAB, (2, 16))
    with torch.no_grad():
        theirs = reference.eval()(torch.from_numpy(tokens)).logits.numpy()
    np.testing.assert_allclose(np.asarray(model.apply({"params": params}, jnp.asarray(tokens))), theirs, atol=1e-4)

    read_fields, read_params = gpt2.read(str(tmp_path))
    assert read_fields == {k: fields[k] for k in read_fields}
    assert_same_tree(read_params, params)


@pytest.mark.parametrize(
    "override",
    [
        dict(causal=False),
        dict(norm_position="post"),
        dict(position="rotary"),
        dict(norm="rmsnorm"),
        dict(mlp="swiglu"),
        dict(use_bias=False),
        dict(tie_embeddings=False),
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
    """Greedy continuations of left-padded prompts: (ours, transformers' generate), [B, max_new_tokens] each."""
    directory, reference = gpt2_dir
    fields, params = gpt2.read(directory)
    model = TransformerLM(ModelConfig(**fields))
    tokens, valid = generate.pad_left([np.asarray(p) for p in prompts], pad_id=0)
    options = sampling.Options(temperature=0.0, repetition_penalty=repetition_penalty)
    run = generate.compile_generate(model, max_new_tokens, eos_id)
    ours, lengths = run(params, tokens, valid, jax.random.PRNGKey(0), options)
    with torch.no_grad():
        theirs = reference.generate(
            torch.from_numpy(tokens).long(),
            attention_mask=torch.from_numpy(valid).long(),
            max_new_tokens=max_new_tokens,
            min_new_tokens=0,
            do_sample=False,
            repetition_penalty=repetition_penalty,
            eos_token_id=eos_id,
            pad_token_id=0 if eos_id is None else eos_id,
        )[:, tokens.shape[1] :].numpy()
    return np.asarray(ours), np.asarray(lengths), theirs


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
