"""Parameter layouts: per layer <-> scanned, transplanting into a fresh model, what is copied and what not."""

import jax
import numpy as np
import pytest

from lm.models.layout import count_params, set_layer_layout, transplant
from lm.models.transformer import TransformerLM, init_params
from tests.models.test_transformer import small


def test_layer_layout_round_trips_and_transplants_across_layouts():
    params = init_params(TransformerLM(small(num_layers=3)), jax.random.PRNGKey(0))
    stacked = set_layer_layout(params, scan=True)
    assert "block_0" not in stacked and set_layer_layout(stacked, scan=True) is stacked
    jax.tree.map(np.testing.assert_array_equal, set_layer_layout(stacked, scan=False), params)
    # per-layer weights into a scanned model, and back
    fresh = init_params(TransformerLM(small(num_layers=3, scan_layers=True)), jax.random.PRNGKey(5))
    moved, copied = transplant(fresh, params)
    assert copied == len(jax.tree.leaves(fresh))  # every (stacked) array
    jax.tree.map(np.testing.assert_array_equal, moved, stacked)
    back, _ = transplant(init_params(TransformerLM(small(num_layers=3)), jax.random.PRNGKey(5)), moved)
    jax.tree.map(np.testing.assert_array_equal, back, params)


def test_transplant_keeps_the_classifier_fresh_and_names_what_does_not_fit():
    config = small(num_classes=3)
    tokens = np.zeros((1, 4), np.int32)
    fresh = TransformerLM(config).init(jax.random.PRNGKey(1), tokens, method="classify")["params"]
    pretrained = init_params(TransformerLM(small()), jax.random.PRNGKey(0))  # no heads
    moved, copied = transplant(fresh, pretrained)
    assert copied == len(jax.tree.leaves(pretrained))
    jax.tree.map(np.testing.assert_array_equal, moved["classifier"], fresh["classifier"])
    jax.tree.map(np.testing.assert_array_equal, moved["block_1"], pretrained["block_1"])
    wider = init_params(TransformerLM(small(d_ff=64)), jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="block_0/mlp/up/kernel has shape \\(16, 64\\), the model needs \\(16, 32\\)"):
        transplant(fresh, wider)


def test_count_params_sums_every_array():
    assert count_params({"a": np.zeros((2, 3)), "b": {"c": np.zeros(5)}}) == 11
