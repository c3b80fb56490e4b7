"""The Transformer family: parameter counts, causality, the KV cache, padding, packing, heads, remat, scan."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from lm.models.config import ModelConfig
from lm.models.layout import count_params, set_layer_layout
from lm.models.transformer import TransformerLM, init_cache, init_params


def small(**overrides) -> ModelConfig:
    fields = dict(vocab_size=13, num_layers=2, num_heads=2, d_model=16, d_ff=32, max_len=12)
    return ModelConfig(**{**fields, **overrides})


def test_gpt2_small_has_exactly_gpt2s_parameter_count():
    config = ModelConfig(vocab_size=50257, num_layers=12, num_heads=12, d_model=768, d_ff=3072, max_len=1024)
    model = TransformerLM(config)
    shapes = jax.eval_shape(lambda: init_params(model, jax.random.PRNGKey(0)))
    assert count_params(shapes) == 124_439_808


def num_params(config):
    return count_params(jax.eval_shape(lambda: init_params(TransformerLM(config), jax.random.PRNGKey(0))))


def test_untied_head_and_no_bias_change_the_count_as_expected():
    tied = num_params(small())
    assert num_params(small(tie_embeddings=False)) - tied == 13 * 16
    no_bias = num_params(small(use_bias=False))
    # per layer: q, k, v, out (16 + 16 + 16 + 16), up 32, down 16, two norms 2 * 16; final norm 16
    assert tied - no_bias == 2 * (64 + 32 + 16 + 32) + 16


def test_attention_only_blocks_are_blocks_whose_mlp_adds_nothing():
    full, attention_only = small(), small(mlp="none")
    # per layer: up 16 x 32 + 32, down 32 x 16 + 16, the MLP's norm 2 x 16
    assert num_params(full) - num_params(attention_only) == 2 * (16 * 32 + 32 + 32 * 16 + 16 + 2 * 16)
    params = init_params(TransformerLM(full), jax.random.PRNGKey(0))
    flat = traverse_util.flatten_dict(params, sep="/")
    silent = {k: jnp.zeros_like(v) if "/mlp/down/" in k else v for k, v in flat.items()}  # the MLP adds zero
    kept = {k: v for k, v in flat.items() if "/mlp/" not in k and "mlp_norm" not in k}
    tokens = jax.random.randint(jax.random.PRNGKey(1), (2, 10), 0, 13)
    expected = TransformerLM(full).apply({"params": traverse_util.unflatten_dict(silent, sep="/")}, tokens)
    got = TransformerLM(attention_only).apply({"params": traverse_util.unflatten_dict(kept, sep="/")}, tokens)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_grouped_query_attention_is_attention_with_each_key_value_head_repeated_over_its_group():
    grouped = small(num_heads=4, num_kv_heads=2, position="rotary")  # heads of 4: two groups of two
    params = init_params(TransformerLM(grouped), jax.random.PRNGKey(0))
    flat = traverse_util.flatten_dict(params, sep="/")
    attention = params["block_0"]["attention"]
    assert attention["key"]["kernel"].shape == (16, 2, 4) and attention["query"]["kernel"].shape == (16, 4, 4)
    # the same model as plain multi-head attention: key / value head g copied to query heads 2g and 2g + 1
    repeated = {k: jnp.repeat(v, 2, axis=-2 if k.endswith("kernel") else 0) if ("/key/" in k or "/value/" in k) else v
                for k, v in flat.items()}  # fmt: skip
    tokens = jax.random.randint(jax.random.PRNGKey(1), (2, 10), 0, 13)
    expected = TransformerLM(small(num_heads=4, position="rotary")).apply(
        {"params": traverse_util.unflatten_dict(repeated, sep="/")}, tokens
    )
    np.testing.assert_allclose(TransformerLM(grouped).apply({"params": params}, tokens), expected, atol=1e-5)
    # 2 layers x (key + value) x (16 x 2 x 4 kernel + 2 x 4 bias) fewer than with 4 key / value heads
    assert num_params(small(num_heads=4, position="rotary")) - num_params(grouped) == 2 * 2 * (16 * 2 * 4 + 2 * 4)


def test_grouped_query_decoding_keeps_a_cache_of_the_key_value_heads_only():
    config = small(num_heads=4, num_kv_heads=1, position="rotary")  # multi-query attention
    model = TransformerLM(config)
    params = init_params(model, jax.random.PRNGKey(0))
    tokens = jax.random.randint(jax.random.PRNGKey(2), (3, 9), 0, 13)
    cache = init_cache(config, 3, config.max_len)
    assert cache[0]["k"].shape == (3, 12, 1, 4)  # [B, S_max, 1 head, H]: a quarter of multi-head's
    prefill, cache = model.apply({"params": params}, tokens[:, :5], cache, 0, method=TransformerLM.decode)
    steps = [prefill]
    for i in range(5, 9):
        logits, cache = model.apply({"params": params}, tokens[:, i : i + 1], cache, i, method=TransformerLM.decode)
        steps.append(logits)
    np.testing.assert_allclose(jnp.concatenate(steps, axis=1), model.apply({"params": params}, tokens), atol=1e-5)


def test_without_norms_the_model_has_no_norm_parameters():
    names = traverse_util.flatten_dict(init_params(TransformerLM(small(norm="none")), jax.random.PRNGKey(0)), sep="/")
    assert not [k for k in names if "norm" in k]
    # per layer two norms of scale and bias (2 x 2 x 16), and the final norm (2 x 16)
    assert num_params(small()) - num_params(small(norm="none")) == 2 * 64 + 32


@pytest.mark.parametrize("position", ["learned", "sinusoidal", "rotary", "relative"])
@pytest.mark.parametrize("mlp,norm", [("gelu", "layernorm"), ("swiglu", "rmsnorm"), ("none", "none")])
def test_changing_token_t_changes_no_logit_before_t(position, mlp, norm):
    model = TransformerLM(small(position=position, mlp=mlp, norm=norm))
    params = init_params(model, jax.random.PRNGKey(0))
    tokens = jax.random.randint(jax.random.PRNGKey(1), (2, 10), 0, 13)
    t = 6
    changed = tokens.at[:, t].set((tokens[:, t] + 1) % 13)
    a, b = model.apply({"params": params}, tokens), model.apply({"params": params}, changed)
    np.testing.assert_array_equal(a[:, :t], b[:, :t])
    assert jnp.abs(a[:, t:] - b[:, t:]).max() > 1e-4


@pytest.mark.parametrize("position", ["learned", "rotary", "relative"])
def test_kv_cache_decoding_gives_the_full_forward_logits(position):
    # relative: 8 buckets up to distance 6, so that the 9 tokens reach the log-spaced and the last buckets
    config = small(position=position, relative_attention_num_buckets=8, relative_attention_max_distance=6)
    model = TransformerLM(config)
    params = init_params(model, jax.random.PRNGKey(0))
    tokens = jax.random.randint(jax.random.PRNGKey(2), (3, 9), 0, 13)
    full = model.apply({"params": params}, tokens)
    cache = init_cache(config, 3, config.max_len)
    prefill, cache = model.apply({"params": params}, tokens[:, :5], cache, 0, method=TransformerLM.decode)
    steps = [prefill]
    for i in range(5, 9):
        logits, cache = model.apply({"params": params}, tokens[:, i : i + 1], cache, i, method=TransformerLM.decode)
        steps.append(logits)
    np.testing.assert_allclose(jnp.concatenate(steps, axis=1), full, atol=1e-5)


def test_scale_head_input_scales_the_logits_by_one_over_sqrt_d_model():
    """T5 v1.0's tied head reads the last hidden states x d_model**-0.5: the logits are scaled alike."""
    model = TransformerLM(small())
    params = init_params(model, jax.random.PRNGKey(0))
    tokens = jax.random.randint(jax.random.PRNGKey(1), (2, 6), 0, 13)
    scaled = TransformerLM(small(scale_head_input=True)).apply({"params": params}, tokens)
    np.testing.assert_allclose(scaled, model.apply({"params": params}, tokens) / 4.0, rtol=1e-5, atol=1e-6)


def test_packed_segments_match_separate_sequences():
    model = TransformerLM(small(position="rotary"))
    params = init_params(model, jax.random.PRNGKey(0))
    a = jax.random.randint(jax.random.PRNGKey(3), (1, 4), 0, 13)
    b = jax.random.randint(jax.random.PRNGKey(4), (1, 6), 0, 13)
    packed = jnp.concatenate([a, b], axis=1)
    segments = jnp.array([[0] * 4 + [1] * 6])
    positions = jnp.array([list(range(4)) + list(range(6))])
    out = model.apply({"params": params}, packed, positions, segments)
    np.testing.assert_allclose(out[:, :4], model.apply({"params": params}, a), atol=1e-5)
    np.testing.assert_allclose(out[:, 4:], model.apply({"params": params}, b), atol=1e-5)


def test_padding_changes_no_output_at_valid_positions():
    model = TransformerLM(small())
    params = init_params(model, jax.random.PRNGKey(0))
    tokens = jax.random.randint(jax.random.PRNGKey(5), (1, 8), 0, 13)
    valid = jnp.arange(8)[None] < 5
    junk = jnp.where(valid, tokens, 7)
    a = model.apply({"params": params}, tokens, valid=valid)
    b = model.apply({"params": params}, junk, valid=valid)
    np.testing.assert_allclose(a[:, :5], b[:, :5], atol=1e-6)


def test_bfloat16_compute_keeps_float32_params_and_close_logits():
    tokens = jax.random.randint(jax.random.PRNGKey(6), (2, 8), 0, 13)
    params = init_params(TransformerLM(small()), jax.random.PRNGKey(0))
    assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(params))
    f32 = TransformerLM(small()).apply({"params": params}, tokens)
    bf16 = TransformerLM(small(dtype="bfloat16")).apply({"params": params}, tokens)
    assert bf16.dtype == jnp.float32  # logits are upcast for the loss
    np.testing.assert_allclose(bf16, f32, atol=0.1)


def test_dropout_is_active_only_when_not_deterministic():
    model = TransformerLM(small(dropout=0.5, attention_dropout=0.5, embedding_dropout=0.5))
    params = init_params(model, jax.random.PRNGKey(0))
    tokens = jnp.zeros((1, 6), jnp.int32)
    det = model.apply({"params": params}, tokens)
    np.testing.assert_array_equal(det, model.apply({"params": params}, tokens))
    drop = lambda seed: model.apply(  # noqa: E731
        {"params": params}, tokens, deterministic=False, rngs={"dropout": jax.random.PRNGKey(seed)}
    )
    assert jnp.abs(drop(0) - det).max() > 1e-3
    np.testing.assert_array_equal(drop(0), drop(0))
    assert jnp.abs(drop(0) - drop(1)).max() > 1e-3


def test_residual_projections_are_initialised_smaller():
    config = small(num_layers=8, d_model=64, d_ff=256, num_heads=4)
    params = init_params(TransformerLM(config), jax.random.PRNGKey(0))
    std_in = float(params["block_0"]["mlp"]["up"]["kernel"].std())
    std_out = float(params["block_0"]["mlp"]["down"]["kernel"].std())
    np.testing.assert_allclose(std_in, 0.02, rtol=0.1)
    np.testing.assert_allclose(std_out, 0.02 / np.sqrt(16), rtol=0.1)


def bert_like(**overrides) -> ModelConfig:
    fields = dict(
        causal=False,
        norm_position="post",
        embedding_norm=True,
        type_vocab_size=2,
        mlm_transform=True,
        head_bias=True,
        gelu_approximate=False,
        num_classes=3,
    )
    return small(**{**fields, **overrides})


def test_bidirectional_encoder_sees_both_sides():
    model = TransformerLM(bert_like())
    params = init_params(model, jax.random.PRNGKey(0))
    tokens = jax.random.randint(jax.random.PRNGKey(1), (2, 10), 0, 13)
    changed = tokens.at[:, 6].set((tokens[:, 6] + 1) % 13)
    a, b = model.apply({"params": params}, tokens), model.apply({"params": params}, changed)
    assert jnp.abs(a[:, :6] - b[:, :6]).max() > 1e-4  # earlier positions see the later token
    assert jnp.abs(a[:, 7:] - b[:, 7:]).max() > 1e-4


@pytest.mark.parametrize("causal", [True, False])
def test_padding_changes_no_output_at_valid_positions_in_either_family(causal):
    model = TransformerLM(bert_like(causal=causal, norm_position="pre"))
    params = {
        **init_params(model, jax.random.PRNGKey(0)),
        **init_params(model, jax.random.PRNGKey(0), method="classify"),
    }
    tokens = jax.random.randint(jax.random.PRNGKey(5), (2, 8), 0, 13)
    valid = jnp.arange(8)[None].repeat(2, 0) < jnp.array([[5], [8]])
    junk = jnp.where(valid, tokens, 7)
    for method in (None, "classify"):
        kwargs = {} if method is None else {"method": method}
        a = model.apply({"params": params}, tokens, valid=valid, **kwargs)
        b = model.apply({"params": params}, junk, valid=valid, **kwargs)
        if method is None:
            np.testing.assert_allclose(a[0, :5], b[0, :5], atol=1e-5)
            np.testing.assert_allclose(a[1], b[1], atol=1e-5)
        else:
            np.testing.assert_allclose(a, b, atol=1e-5)


def test_post_norm_block_outputs_are_normalised():
    model = TransformerLM(bert_like(mlm_transform=False, head_bias=False))
    params = init_params(model, jax.random.PRNGKey(0))
    tokens = jax.random.randint(jax.random.PRNGKey(2), (2, 8), 0, 13)
    h = model.apply({"params": params}, tokens, method="encode")
    np.testing.assert_allclose(h.mean(-1), 0.0, atol=1e-5)  # LayerNorm with zero bias at init, unit scale
    np.testing.assert_allclose(h.std(-1), 1.0, atol=1e-2)
    assert "final_norm" not in params and "embed_norm" in params and "type_embed" in params


def test_token_types_change_the_output():
    model = TransformerLM(bert_like())
    params = init_params(model, jax.random.PRNGKey(0))
    tokens = jax.random.randint(jax.random.PRNGKey(3), (1, 6), 0, 13)
    types = jnp.array([[0, 0, 0, 1, 1, 1]])
    a = model.apply({"params": params}, tokens)
    b = model.apply({"params": params}, tokens, token_types=types)
    np.testing.assert_allclose(a, model.apply({"params": params}, tokens, token_types=jnp.zeros_like(types)))
    assert jnp.abs(a - b).max() > 1e-4


@pytest.mark.parametrize("pooling", ["first", "last", "mean"])
def test_classification_heads(pooling):
    model = TransformerLM(bert_like(pooling=pooling))
    tokens = jax.random.randint(jax.random.PRNGKey(4), (2, 7), 0, 13)
    params = model.init(jax.random.PRNGKey(0), tokens, method="classify")["params"]
    assert "classifier" in params and "pooler" in params
    assert model.apply({"params": params}, tokens, method="classify").shape == (2, 3)
    assert model.apply({"params": params}, tokens, method="tag").shape == (2, 7, 3)
    if pooling == "last":  # the pooled vector is the last valid token's hidden state
        valid = jnp.arange(7)[None].repeat(2, 0) < 4
        h = model.apply({"params": params}, tokens, valid=valid, method="encode")
        pooled = jnp.tanh(h[:, 3] @ params["pooler"]["kernel"] + params["pooler"]["bias"])
        expected = pooled @ params["classifier"]["kernel"] + params["classifier"]["bias"]
        np.testing.assert_allclose(
            model.apply({"params": params}, tokens, valid=valid, method="classify"), expected, atol=1e-5
        )


@pytest.mark.parametrize("remat", ["full", "dots"])
def test_remat_gives_the_same_loss_and_gradients(remat):
    base = ModelConfig(vocab_size=13, num_layers=2, num_heads=2, d_model=16, d_ff=32, max_len=8, dropout=0.1)
    tokens = jax.random.randint(jax.random.PRNGKey(1), (2, 8), 0, 13)
    params = init_params(TransformerLM(base), jax.random.PRNGKey(0))

    def loss_and_grads(config):
        def loss(p):
            logits = TransformerLM(config).apply(
                {"params": p}, tokens, deterministic=False, rngs={"dropout": jax.random.PRNGKey(2)}
            )
            return jnp.mean(jax.nn.log_softmax(logits)[..., 0])

        return jax.jit(jax.value_and_grad(loss))(params)

    plain, rematted = loss_and_grads(base), loss_and_grads(dataclasses.replace(base, remat=remat))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), plain, rematted)


def test_jax_attention_gives_the_einsum_models_logits_and_gradients():
    tokens = jax.random.randint(jax.random.PRNGKey(1), (2, 9), 0, 13)
    valid = jnp.arange(9)[None].repeat(2, 0) < jnp.array([[9], [5]])
    params = init_params(TransformerLM(small()), jax.random.PRNGKey(0))

    def loss(config, p):
        logits = TransformerLM(config).apply({"params": p}, tokens, valid=valid)
        return jnp.mean(jax.nn.log_softmax(logits)[..., 3] * valid)

    value, grads = jax.value_and_grad(loss, argnums=1)(small(), params)
    fused_value, fused_grads = jax.value_and_grad(loss, argnums=1)(small(attention="xla"), params)
    np.testing.assert_allclose(fused_value, value, rtol=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), fused_grads, grads)


@pytest.mark.parametrize("remat", ["none", "full"])
def test_scanned_layers_give_the_per_layer_model_logits_gradients_and_cache(remat):
    config = small(num_layers=3, remat=remat)
    scanned = dataclasses.replace(config, scan_layers=True)
    tokens = jax.random.randint(jax.random.PRNGKey(1), (2, 9), 0, 13)
    params = init_params(TransformerLM(config), jax.random.PRNGKey(0))
    stacked = set_layer_layout(params, scan=True)
    # the scanned model initialises the same tree as the conversion makes
    fresh = jax.eval_shape(lambda: init_params(TransformerLM(scanned), jax.random.PRNGKey(0)))
    assert jax.tree.map(jnp.shape, fresh) == jax.tree.map(jnp.shape, stacked)
    assert stacked["blocks"]["mlp"]["up"]["kernel"].shape == (3, 16, 32)

    def loss(config, p):
        return jnp.mean(jax.nn.log_softmax(TransformerLM(config).apply({"params": p}, tokens))[..., 3])

    value, grads = jax.value_and_grad(loss, argnums=1)(config, params)
    scanned_value, scanned_grads = jax.value_and_grad(loss, argnums=1)(scanned, stacked)
    np.testing.assert_allclose(scanned_value, value, rtol=1e-6)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
        set_layer_layout(scanned_grads, scan=False),
        grads,
    )
    # decoding one token at a time over the stacked [L, B, S, N, H] cache gives the full forward logits
    model = TransformerLM(scanned)
    full = model.apply({"params": stacked}, tokens)
    cache = init_cache(scanned, 2, 9)
    assert cache["k"].shape == (3, 2, 9, 2, 8)
    for t in range(9):
        logits, cache = model.apply({"params": stacked}, tokens[:, t : t + 1], cache, t, method="decode")
        np.testing.assert_allclose(logits[:, 0], full[:, t], atol=1e-5)


def test_the_parameter_tree_is_the_one_checkpoints_hold():
    """Checkpoints written by earlier versions restore only while these paths and shapes stay (orbax matches them)."""
    config = small(num_layers=1, num_classes=2, type_vocab_size=2, mlm_transform=True, head_bias=True)
    model = TransformerLM(config)
    both = lambda module, tokens: (module(tokens), module.classify(tokens))  # noqa: E731
    shapes = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, 4), jnp.int32), method=both))
    flat = {"/".join(path): leaf.shape for path, leaf in traverse_util.flatten_dict(shapes["params"]).items()}
    qkv = {
        f"block_0/attention/{n}/{p}": s
        for n in ("query", "key", "value")
        for p, s in (("kernel", (16, 2, 8)), ("bias", (2, 8)))
    }
    assert flat == {
        "embed/embedding": (13, 16),
        "position_embed/embedding": (12, 16),
        "type_embed/embedding": (2, 16),
        **qkv,
        "block_0/attention/out/kernel": (2, 8, 16),
        "block_0/attention/out/bias": (16,),
        "block_0/attention_norm/norm/scale": (16,),
        "block_0/attention_norm/norm/bias": (16,),
        "block_0/mlp/up/kernel": (16, 32),
        "block_0/mlp/up/bias": (32,),
        "block_0/mlp/down/kernel": (32, 16),
        "block_0/mlp/down/bias": (16,),
        "block_0/mlp_norm/norm/scale": (16,),
        "block_0/mlp_norm/norm/bias": (16,),
        "final_norm/norm/scale": (16,),
        "final_norm/norm/bias": (16,),
        "mlm_dense/kernel": (16, 16),
        "mlm_dense/bias": (16,),
        "mlm_norm/norm/scale": (16,),
        "mlm_norm/norm/bias": (16,),
        "head_bias": (13,),
        "pooler/kernel": (16, 16),
        "pooler/bias": (16,),
        "classifier/kernel": (16, 2),
        "classifier/bias": (2,),
    }
