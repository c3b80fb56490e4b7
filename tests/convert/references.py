"""Reference checkpoints for the converter tests: tiny random GPT-2 and BERT written by transformers (PyTorch,
CPU), and helpers to compare parameter trees."""

import numpy as np
import pytest
from flax import traverse_util

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
