"""Reference checkpoints for the converter tests: tiny random GPT-2 and BERT written by transformers (PyTorch,
CPU), and helpers to compare parameter trees."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from lm.decoding import generate, sampling
from lm.models.config import ModelConfig
from lm.models.transformer import TransformerLM, init_params

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

VOCAB = 97


def perturb(model, norm_name):
    """Moves LayerNorms off their (1, 0) init and biases off 0, so that a swapped or dropped tensor shows."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if norm_name in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))


def padded(seed, lengths, T, left=False):
    """Random tokens [B, T] and the valid mask [B, T] of rows padded (right, or left) to `lengths`."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, VOCAB, (len(lengths), T))
    valid = np.arange(T)[None, :] < np.asarray(lengths)[:, None]
    return tokens, valid[:, ::-1].copy() if left else valid


def assert_same_tree(ours, expected):
    ours, expected = traverse_util.flatten_dict(ours), traverse_util.flatten_dict(expected)
    assert sorted(ours) == sorted(expected)
    for path, value in expected.items():
        np.testing.assert_array_equal(np.asarray(ours[path]), np.asarray(value), err_msg="/".join(path))


def logits_both(fields, params, reference, tokens, valid):
    """[B, T, V] logits of our model (fields, params) and of transformers' `reference` on padded tokens."""
    model = TransformerLM(ModelConfig(**fields))
    ours = model.apply({"params": params}, jnp.asarray(tokens), valid=jnp.asarray(valid))
    with torch.no_grad():
        theirs = reference(torch.from_numpy(tokens), attention_mask=torch.from_numpy(valid).long()).logits.numpy()
    return np.asarray(ours), theirs


def generate_both(fields, params, reference, prompts, max_new_tokens, eos_id=None, repetition_penalty=1.0):
    """Greedy continuations of left-padded prompts: (ours, our lengths, transformers' generate), [B, new] each."""
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


def random_params(model: TransformerLM, seed: int = 0):
    """Our init, moved off its (1, 0) norms and 0 biases, and larger: a swapped or dropped tensor shows."""

    @jax.jit  # one compilation, not one per op
    def perturbed(key):
        leaves, treedef = jax.tree.flatten(init_params(model, key))
        keys = jax.random.split(jax.random.fold_in(key, 1), len(leaves))
        return treedef.unflatten([x + 0.1 * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys, strict=True)])

    return perturbed(jax.random.key(seed))


def check_exported(
    directory, model: TransformerLM, params, fields: dict, read, reference_class, length: int, exact_fields=True
):
    """transformers loads the exported `directory` whole, with our logits; `read` gives back fields and params
    (`exact_fields`), or fields and params of a model with the same logits.

    Returns:
      transformers' model.
    """
    reference, info = reference_class.from_pretrained(str(directory), output_loading_info=True)
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    tokens = np.random.default_rng(2).integers(0, VOCAB, (2, length))
    with torch.no_grad():
        theirs = reference.eval()(torch.from_numpy(tokens)).logits.numpy()
    np.testing.assert_allclose(np.asarray(model.apply({"params": params}, jnp.asarray(tokens))), theirs, atol=1e-4)
    read_fields, read_params = read(str(directory))
    if exact_fields:
        assert read_fields == {k: fields[k] for k in read_fields}
        assert_same_tree(read_params, params)
    else:  # the format's own options (a bias-free model reads back with zero biases): the same function
        reread = TransformerLM(ModelConfig(**{**fields, **read_fields}))
        np.testing.assert_allclose(
            np.asarray(reread.apply({"params": read_params}, jnp.asarray(tokens))), theirs, atol=1e-4
        )
    return reference
