"""The GRU encoder-decoder: its GRU is torch.nn.GRU's with the same weights; teacher forcing and its ratio;
cached decoding equals teacher forcing; attention hides the source's padding."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lm.models import families
from lm.models.config import ModelConfig

V, D = 17, 12


def config(**overrides) -> ModelConfig:
    fields = dict(family="gru", vocab_size=V, num_layers=2, num_heads=1, d_model=D, d_ff=D, max_len=16)
    return ModelConfig(**{**fields, **overrides})


def init(c, seed=0):
    model = families.build(c)
    return model, families.init_params(model, jax.random.PRNGKey(seed))


def test_the_encoders_gru_is_torch_nn_grus_step_with_the_same_weights():
    torch = pytest.importorskip("torch")
    model, params = init(config(num_encoder_layers=2), seed=1)
    params = jax.tree.map(lambda x: x + 0.1 * jax.random.normal(jax.random.PRNGKey(2), x.shape), params)
    reference = torch.nn.GRU(D, D, num_layers=2, batch_first=True)
    with torch.no_grad():
        for layer in range(2):
            cell = jax.tree.map(lambda x: torch.tensor(np.asarray(x)), params[f"encoder_{layer}"]["cell"])
            w_ih = torch.cat([cell[g]["kernel"].T for g in ("ir", "iz", "in")])
            w_hh = torch.cat([cell[g]["kernel"].T for g in ("hr", "hz", "hn")])
            getattr(reference, f"weight_ih_l{layer}").copy_(w_ih)
            getattr(reference, f"weight_hh_l{layer}").copy_(w_hh)
            # torch has two biases where flax has one (reset and update gates): theirs sum to ours
            getattr(reference, f"bias_ih_l{layer}").copy_(
                torch.cat([cell["ir"]["bias"], cell["iz"]["bias"], cell["in"]["bias"]])
            )
            getattr(reference, f"bias_hh_l{layer}").copy_(torch.cat([torch.zeros(2 * D), cell["hn"]["bias"]]))
    source = np.random.default_rng(3).integers(0, V, (3, 9))
    encoded = jax.jit(lambda s: model.apply({"params": params}, s, method="encode"))(jnp.asarray(source))
    embedded = np.asarray(params["embed"]["embedding"])[source]
    with torch.no_grad():
        out, final = reference(torch.tensor(embedded, dtype=torch.float32))
    np.testing.assert_allclose(np.asarray(encoded["states"]), out.numpy(), atol=1e-5)
    np.testing.assert_allclose(np.asarray(encoded["final"]).transpose(1, 0, 2), final.numpy(), atol=1e-5)


def test_cached_decoding_gives_the_teacher_forced_logits_and_padding_is_invisible():
    c = config()
    model, params = init(c)
    source = jnp.asarray([[3, 4, 5, 6, 7, 8], [9, 10, 11, 0, 0, 0]])
    source_valid = jnp.asarray([[True] * 6, [True] * 3 + [False] * 3])
    tokens = jnp.asarray(np.random.default_rng(4).integers(0, V, (2, 7)))
    forward = jax.jit(lambda s: model.apply({"params": params}, tokens, source=s, source_valid=source_valid))
    full = forward(source)
    encoded = model.apply({"params": params}, source, source_valid, method="encode")
    cache = families.init_cache(c, 2, 8, source_len=6)
    prefill = dict(encoded=encoded, encoder_valid=source_valid, method="decode")
    logits, cache = model.apply({"params": params}, tokens[:, :1], cache, 0, **prefill)
    np.testing.assert_allclose(logits[:, 0], full[:, 0], atol=1e-5)
    step = jax.jit(lambda token, cache, t: model.apply({"params": params}, token, cache, t, method="decode"))
    for t in range(1, 7):
        logits, cache = step(tokens[:, t : t + 1], cache, t)
        np.testing.assert_allclose(logits[:, 0], full[:, t], atol=1e-5)
    padded = source.at[1, 4].set(15)  # in row 1's padding
    np.testing.assert_array_equal(forward(padded), full)


def test_a_teacher_forcing_ratio_below_1_feeds_back_predictions_only_in_training():
    source = jnp.asarray(np.random.default_rng(5).integers(0, V, (4, 6)))
    tokens = jnp.asarray(np.random.default_rng(6).integers(0, V, (4, 9)))
    run = {}

    def forward(ratio, deterministic):
        model, params = init(config(teacher_forcing_ratio=ratio))
        rngs = {"dropout": jax.random.PRNGKey(7)}
        return jax.jit(lambda t: model.apply({"params": params}, t, source=source, deterministic=deterministic,
                                             rngs=rngs))  # fmt: skip

    for ratio in (1.0, 0.5, 0.0):
        run[ratio] = forward(ratio, False)(tokens)
        np.testing.assert_allclose(forward(ratio, True)(tokens), run[1.0])  # evaluation is always teacher forced
    assert not np.allclose(run[0.5], run[1.0]) and not np.allclose(run[0.0], run[0.5])
    np.testing.assert_allclose(run[0.5][:, 0], run[1.0][:, 0])  # the first step always reads [BOS]
    # with ratio 0 the decoder reads only its own greedy predictions: the target tokens after the first change nothing
    other = tokens.at[:, 1:].set((tokens[:, 1:] + 1) % V)
    np.testing.assert_allclose(forward(0.0, False)(other), run[0.0])
