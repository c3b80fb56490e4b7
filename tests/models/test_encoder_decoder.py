"""The encoder-decoder Transformer: torch.nn.Transformer's outputs with the same weights; cross-attention sees
every source position and no source padding; the decoder is causal; cached decoding is teacher forcing."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lm.models import families
from lm.models.config import ModelConfig
from lm.models.layout import set_layer_layout

V, D, N, F = 23, 16, 2, 24


def config(**overrides) -> ModelConfig:
    fields = dict(
        family="encoder_decoder", vocab_size=V, num_layers=2, num_encoder_layers=3, num_heads=N, d_model=D, d_ff=F,
        max_len=12, position="learned",
    )  # fmt: skip
    return ModelConfig(**{**fields, **overrides})


def init(c: ModelConfig, seed=0):
    model = families.build(c)
    source, tokens = jnp.zeros((1, 7), jnp.int32), jnp.zeros((1, 5), jnp.int32)
    return model, jax.jit(lambda key: model.init(key, tokens, source=source))(jax.random.PRNGKey(seed))["params"]


def test_the_parameter_tree():
    _, params = init(config(num_layers=1, num_encoder_layers=1))
    assert sorted(params) == [
        "block_0", "embed", "encoder_block_0", "encoder_norm", "final_norm", "position_embed", "source_position_embed",
    ]  # fmt: skip
    assert sorted(params["block_0"]) == ["attention", "attention_norm", "cross_attention", "cross_attention_norm",
                                         "mlp", "mlp_norm"]  # fmt: skip
    assert sorted(params["encoder_block_0"]) == ["attention", "attention_norm", "mlp", "mlp_norm"]
    _, separate = init(config(num_layers=1, num_encoder_layers=1, share_embeddings=False, tie_embeddings=False))
    assert {"source_embed", "head"} <= set(separate)


def padded(seed, lengths, T):
    rng = np.random.default_rng(seed)
    return rng.integers(0, V, (len(lengths), T)), np.arange(T)[None] < np.asarray(lengths)[:, None]


def test_matches_torch_nn_transformer_with_its_options_and_our_weights():
    torch = pytest.importorskip("torch")
    c = config(norm_position="post", mlp="relu", final_norm=True, init_std=0.2)
    model, params = init(c, seed=3)
    params = jax.tree.map(
        lambda x: x + 0.05 * jax.random.normal(jax.random.PRNGKey(9), x.shape), params
    )  # norms off 1, 0
    reference = torch.nn.Transformer(D, N, 3, 2, F, dropout=0.0, activation="relu", batch_first=True).eval()
    reference.encoder.enable_nested_tensor = False  # its fast path's nested tensors are a prototype (a warning)
    p = jax.tree.map(lambda x: torch.tensor(np.asarray(x, np.float32)), params)

    def attention(ours, theirs):
        theirs.in_proj_weight.copy_(torch.cat([ours[n]["kernel"].reshape(D, D).T for n in ("query", "key", "value")]))
        theirs.in_proj_bias.copy_(torch.cat([ours[n]["bias"].reshape(D) for n in ("query", "key", "value")]))
        theirs.out_proj.weight.copy_(ours["out"]["kernel"].reshape(D, D).T)
        theirs.out_proj.bias.copy_(ours["out"]["bias"])

    def norm(ours, theirs):
        theirs.weight.copy_(ours["norm"]["scale"])
        theirs.bias.copy_(ours["norm"]["bias"])

    def mlp(ours, layer):
        layer.linear1.weight.copy_(ours["up"]["kernel"].T)
        layer.linear1.bias.copy_(ours["up"]["bias"])
        layer.linear2.weight.copy_(ours["down"]["kernel"].T)
        layer.linear2.bias.copy_(ours["down"]["bias"])

    with torch.no_grad():
        for i, layer in enumerate(reference.encoder.layers):
            ours = p[f"encoder_block_{i}"]
            attention(ours["attention"], layer.self_attn)
            norm(ours["attention_norm"], layer.norm1)
            mlp(ours["mlp"], layer)
            norm(ours["mlp_norm"], layer.norm2)
        for i, layer in enumerate(reference.decoder.layers):
            ours = p[f"block_{i}"]
            attention(ours["attention"], layer.self_attn)
            norm(ours["attention_norm"], layer.norm1)
            attention(ours["cross_attention"], layer.multihead_attn)
            norm(ours["cross_attention_norm"], layer.norm2)
            mlp(ours["mlp"], layer)
            norm(ours["mlp_norm"], layer.norm3)
        norm(p["encoder_norm"], reference.encoder.norm)
        norm(p["final_norm"], reference.decoder.norm)
    source, source_valid = padded(1, (9, 6, 3), 9)
    tokens, valid = padded(2, (7, 7, 4), 7)
    ours = model.apply({"params": params}, jnp.asarray(tokens), valid=jnp.asarray(valid), source=jnp.asarray(source),
                       source_valid=jnp.asarray(source_valid))  # fmt: skip
    # torch.nn.Transformer takes embedded inputs: ours (token + position), and its output before our head
    E = np.asarray(params["embed"]["embedding"])
    src = E[source] + np.asarray(params["source_position_embed"]["embedding"])[:9]
    tgt = E[tokens] + np.asarray(params["position_embed"]["embedding"])[:7]
    with torch.no_grad():
        out = reference(
            torch.tensor(src, dtype=torch.float32),
            torch.tensor(tgt, dtype=torch.float32),
            tgt_mask=torch.triu(torch.ones(7, 7, dtype=torch.bool), diagonal=1),  # True: may not attend
            src_key_padding_mask=torch.tensor(~source_valid),
            tgt_key_padding_mask=torch.tensor(~valid),
            memory_key_padding_mask=torch.tensor(~source_valid),
            tgt_is_causal=True,
        ).numpy()
    theirs = out @ E.T
    np.testing.assert_allclose(np.asarray(ours)[valid], theirs[valid], atol=1e-4)


def test_every_target_position_sees_every_real_source_position_and_no_source_padding():
    model, params = init(config())
    source, source_valid = padded(3, (9, 5), 9)
    tokens = jnp.asarray(padded(4, (6, 6), 6)[0])
    run = jax.jit(lambda src: model.apply({"params": params}, tokens, source=src, source_valid=source_valid))
    base = run(source)
    changed = source.copy()
    changed[1, 4] = (changed[1, 4] + 1) % V  # the last real position of row 1
    moved = np.abs(np.asarray(run(changed) - base)).max(axis=-1)
    assert (moved[1] > 1e-6).all() and (moved[0] == 0).all()  # every target position of row 1, no other row
    changed = source.copy()
    changed[1, 6] = (changed[1, 6] + 1) % V  # padding
    np.testing.assert_array_equal(run(changed), base)


@pytest.mark.parametrize("position", ["learned", "sinusoidal", "rotary", "relative"])
def test_the_decoder_is_causal(position):
    model, params = init(config(position=position))
    source = jnp.asarray(padded(5, (8,), 8)[0])
    tokens = np.asarray(padded(6, (7,), 7)[0])
    run = jax.jit(lambda t: model.apply({"params": params}, t, source=source))
    base = run(tokens)
    for t in range(7):
        changed = tokens.copy()
        changed[0, t] = (changed[0, t] + 1) % V
        out = run(changed)
        np.testing.assert_allclose(out[0, :t], base[0, :t], atol=1e-6)
        assert np.abs(np.asarray(out[0, t:] - base[0, t:])).max() > 1e-6


@pytest.mark.parametrize(
    "scan_layers, position, window",
    [(False, "rotary", 0), (True, "rotary", 0), (False, "relative", 0), (True, "learned", 3)],
)
def test_cached_decoding_gives_the_teacher_forced_logits(scan_layers, position, window):
    # relative: T5's options, 4 buckets up to distance 3, so that the 6 tokens reach the log-spaced and last ones
    t5 = dict(relative_attention_num_buckets=4, relative_attention_max_distance=3, attention_scale=False, head_dim=5)
    options = dict(position=position, sliding_window=window, **(t5 if position == "relative" else {}))
    c = config(scan_layers=scan_layers, **options)
    model, params = init(config(**options))
    if scan_layers:
        params = set_layer_layout(params, scan=True)
        model = families.build(c)
    source, source_valid = padded(7, (8, 5), 8)
    tokens = jnp.asarray(padded(8, (6, 6), 6)[0])
    source, source_valid = jnp.asarray(source), jnp.asarray(source_valid)
    full = model.apply({"params": params}, tokens, source=source, source_valid=source_valid)
    encoded = model.apply({"params": params}, source, source_valid, method="encode")
    cache = families.init_cache(c, 2, 6, source_len=8)
    logits, cache = model.apply(
        {"params": params}, tokens[:, :2], cache, 0, encoded=encoded, encoder_valid=source_valid, method="decode"
    )  # prefill: two tokens, and the encoder's keys and values
    np.testing.assert_allclose(logits, full[:, :2], atol=1e-5)
    step = jax.jit(lambda token, cache, t: model.apply({"params": params}, token, cache, t, method="decode"))
    for t in range(2, 6):  # then one token at a time, the source only through the cache
        logits, cache = step(tokens[:, t : t + 1], cache, t)
        np.testing.assert_allclose(logits[:, 0], full[:, t], atol=1e-5)


def test_a_sliding_window_limits_what_the_decoder_reads_of_its_own_tokens():
    """With one decoder layer and a window of 2, target position t reads tokens t-1 and t (and the whole
    source): changing token 0 changes the logits at positions 0 and 1 only; without the window, all of them."""
    source = jnp.asarray(padded(1, (7,), 7)[0])
    tokens = jnp.asarray(padded(2, (6,), 6)[0])
    changed = tokens.at[0, 0].set((tokens[0, 0] + 1) % V)
    for window, moved in ((2, [0, 1]), (0, [0, 1, 2, 3, 4, 5])):
        model, params = init(config(num_layers=1, sliding_window=window))
        logits = [model.apply({"params": params}, t, source=source)[0] for t in (tokens, changed)]
        differs = np.abs(np.asarray(logits[0] - logits[1])).max(axis=-1) > 1e-6
        assert np.flatnonzero(differs).tolist() == moved


def test_relative_positions_are_one_table_per_stack_and_no_position_embeddings():
    _, params = init(config(num_layers=1, num_encoder_layers=1, position="relative", relative_attention_num_buckets=6))
    assert params["encoder_relative_bias"].shape == params["relative_bias"].shape == (6, N)
    assert not {"position_embed", "source_position_embed"} & set(params)
    assert not any("relative" in k for k in params["block_0"]) and "relative" not in str(params["encoder_block_0"])


def test_every_option_of_the_blocks_builds_and_keeps_its_shapes():
    for overrides in (dict(mlp="swiglu", norm="rmsnorm"), dict(remat="full", dropout=0.1), dict(dtype="bfloat16")):
        model, params = init(config(**overrides))
        apply = jax.jit(lambda p, t, s, m=model: m.apply({"params": p}, t, source=s, deterministic=False,
                                                         rngs={"dropout": jax.random.PRNGKey(0)}))  # fmt: skip
        out = apply(params, jnp.zeros((2, 5), jnp.int32), jnp.zeros((2, 7), jnp.int32))
        assert out.shape == (2, 5, V) and out.dtype == jnp.float32
    assert dataclasses.replace(config(), num_encoder_layers=None).num_encoder_layers == 2
