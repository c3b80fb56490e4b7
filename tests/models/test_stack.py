"""lm/models/stack.py, what both Transformer families are built from: masks equal to hand-written loops, the
embedding's sum, and the blocks named per layer or scanned in both families."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lm.models import families, stack
from lm.models.config import ModelConfig

FIELDS = dict(vocab_size=11, num_layers=2, num_heads=2, d_model=8, d_ff=8, max_len=8)


def test_self_attention_mask_is_causal_windowed_segmented_and_padded_as_loops_say():
    c = ModelConfig(**FIELDS, sliding_window=2)
    positions = np.array([[0, 1, 2, 0, 1, 2]])
    segments = np.array([[0, 0, 0, 1, 1, 1]])
    valid = np.array([[True, True, True, True, True, False]])
    mask = np.asarray(stack.self_attention_mask(c, jnp.asarray(positions), True, jnp.asarray(segments), valid))
    expected = np.zeros((1, 1, 6, 6), bool)
    for q, k in itertools.product(range(6), range(6)):
        expected[0, 0, q, k] = (
            positions[0, k] <= positions[0, q]  # causal
            and positions[0, q] - positions[0, k] < 2  # the window: itself and one before
            and segments[0, q] == segments[0, k]
            and valid[0, q]
            and valid[0, k]
        )
    np.testing.assert_array_equal(mask, expected)
    assert stack.self_attention_mask(c, jnp.asarray(positions), causal=False) is None  # an encoder sees all


@pytest.mark.parametrize("window", [0, 2])
def test_decode_mask_sees_the_written_slots_in_the_window_but_padding(window):
    c = ModelConfig(**FIELDS, sliding_window=window)
    cache = families.init_cache(c, 2, 6)
    key_valid = np.array([[False, True, True, True, True, True], [True] * 6])  # row 0: a left-padded prompt
    queries, keys, mask = stack.decode_mask(c, cache, 2, (2, 2), jnp.asarray(key_valid))
    np.testing.assert_array_equal(queries, [[2, 3], [2, 3]])
    np.testing.assert_array_equal(keys, [list(range(6))] * 2)
    for b, t, s in itertools.product(range(2), range(2), range(6)):
        seen = s <= 2 + t and (not window or 2 + t - s < window) and key_valid[b, s]
        assert bool(mask[b, 0, t, s]) == seen, (b, t, s)


def test_the_embedding_is_the_scaled_table_plus_positions():
    c = ModelConfig(**FIELDS, embedding_scale=True, position="learned")
    model = families.build(c)
    params = families.init_params(model, jax.random.PRNGKey(0))
    tokens, positions = jnp.array([[3, 5, 7]]), jnp.array([[0, 1, 2]])
    x = model.apply({"params": params}, tokens, positions, True, method=lambda m, *a: stack.embed(m, *a))
    expected = params["embed"]["embedding"][tokens] * np.sqrt(8) + params["position_embed"]["embedding"][positions]
    np.testing.assert_allclose(x, expected, rtol=1e-6)


@pytest.mark.parametrize("scan", [False, True])
def test_both_families_name_their_blocks_per_layer_or_scanned(scan):
    decoder = families.init_params(families.build(ModelConfig(**FIELDS, scan_layers=scan)), jax.random.PRNGKey(0))
    fields = dict(FIELDS, family="encoder_decoder", num_encoder_layers=3, scan_layers=scan)
    both = families.init_params(families.build(ModelConfig(**fields)), jax.random.PRNGKey(0))
    if scan:
        assert {"blocks"} <= set(decoder) and {"blocks", "encoder_blocks"} <= set(both)
        assert jax.tree.leaves(both["encoder_blocks"])[0].shape[0] == 3  # the layer axis
    else:
        assert {"block_0", "block_1"} <= set(decoder) and "block_2" not in decoder
        assert {"block_1", "encoder_block_2"} <= set(both) and "encoder_block_3" not in both
