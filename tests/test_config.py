"""Config defaults and resolution: the derived fields, and the rules across fields name the field and the fix."""

import pytest

from lm import config as config_lib


def test_resolve_fills_the_shape_from_the_size_table_and_keeps_overrides():
    c = config_lib.default_config()
    c.model.size = "small"
    c.model.num_layers = 3
    r = config_lib.resolve(c, vocab_size=100)
    assert (r.model.num_layers, r.model.num_heads, r.model.d_model, r.model.d_ff) == (3, 12, 768, 3072)
    assert r.model.vocab_size == 100 and r.model.max_len == c.data.seq_len
    assert r.optim.decay_steps == c.train.num_steps
    assert c.model.num_heads is None  # the input config is not modified


def test_resolve_rejects_inconsistent_shapes():
    c = config_lib.default_config()
    c.model.num_heads = 3  # tiny: d_model 64
    with pytest.raises(ValueError, match="must divide by model.num_heads=3"):
        config_lib.resolve(c, 10)
    c = config_lib.default_config()
    c.model.num_kv_heads = 3  # tiny: 4 heads
    with pytest.raises(ValueError, match="num_kv_heads.*must be >= 1 and divide model.num_heads=4"):
        config_lib.resolve(c, 10)
    c.model.num_kv_heads = 2
    assert config_lib.resolve(c, 10).model.num_kv_heads == 2
    c.model.num_kv_heads = None  # default: one key / value head per query head
    assert config_lib.resolve(c, 10).model.num_kv_heads == 4
    c.model.position, c.model.rotary_fraction = "rotary", 0.1  # tiny's 16-dim heads: rotates 1 dim
    with pytest.raises(ValueError, match=r"rotary_fraction.*rotate an even number .* \(it rotates 1\)"):
        config_lib.resolve(c, 10)
    c.model.rotary_fraction, c.model.parallel_residual, c.model.norm_position = 0.5, True, "post"
    with pytest.raises(ValueError, match="parallel_residual.*needs pre-norm blocks"):
        config_lib.resolve(c, 10)
    c.model.norm_position, c.objective, c.model.sliding_window = "pre", "masked", 4
    with pytest.raises(ValueError, match="sliding_window=4 is for causal attention"):
        config_lib.resolve(c, 10)
    c.objective, c.model.family, c.model.parallel_residual = "seq2seq", "encoder_decoder", False
    assert config_lib.resolve(c, 10).model.sliding_window == 4  # its decoder's self-attention
    c.model.parallel_residual = True
    with pytest.raises(ValueError, match="parallel_residual=True needs blocks without cross-attention"):
        config_lib.resolve(c, 10)
    c.model.family, c.model.parallel_residual = "gru", False
    with pytest.raises(ValueError, match="sliding_window=4 is an option of the Transformer blocks; a GRU has none"):
        config_lib.resolve(c, 10)
    c = config_lib.default_config()
    c.model.num_heads, c.model.head_dim = 3, 16  # heads of their own width (T5's d_kv): d_model need not divide
    assert config_lib.resolve(c, 10).model.head_dim == 16
    assert config_lib.resolve(config_lib.default_config(), 10).model.head_dim == 16  # tiny: 64 / 4
    c = config_lib.default_config()
    c.model.size = "custom"
    with pytest.raises(ValueError, match="must be set when model.size='custom'"):
        config_lib.resolve(c, 10)
    c = config_lib.default_config()
    c.model.max_len = 8
    with pytest.raises(ValueError, match="data.seq_len=64 must be <= model.max_len=8"):
        config_lib.resolve(c, 10)


def test_the_objective_decides_the_attention_unless_set():
    for objective, causal in (("causal", True), ("masked", False), ("classify", False)):
        c = config_lib.default_config()
        c.objective = objective
        resolved = config_lib.resolve(c, vocab_size=10)
        assert resolved.model.causal is causal and resolved.model.pooling == ("last" if causal else "first")
    c = config_lib.default_config()
    c.model.causal = False
    with pytest.raises(ValueError, match="model.causal=False must be True for objective=causal"):
        config_lib.resolve(c, 10)
    c.objective = "classify"
    assert config_lib.resolve(c, 10).model.causal is False
