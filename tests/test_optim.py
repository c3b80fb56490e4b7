"""The optimizer: nanoGPT's schedule, the weight-decay mask, and a frozen encoder for fine-tuning."""

import jax
import numpy as np

from lm import config as config_lib
from lm import optim
from lm.models.transformer import TransformerLM, init_params
from tests.test_step import MODEL


def test_schedule_matches_nanogpts_get_lr():
    c = config_lib.default_config()
    c.optim.learning_rate, c.optim.min_learning_rate, c.optim.warmup_steps = 1e-3, 1e-4, 100
    c.optim.decay_steps = 2000
    lr = optim.schedule(c.optim)

    def nanogpt(it):  # nanoGPT train.py get_lr
        if it < 100:
            return 1e-3 * (it + 1) / (100 + 1)
        if it > 2000:
            return 1e-4
        ratio = (it - 100) / (2000 - 100)
        return 1e-4 + 0.5 * (1.0 + np.cos(np.pi * ratio)) * (1e-3 - 1e-4)

    for it in [0, 50, 99, 100, 101, 1000, 1999, 2000, 2500]:
        np.testing.assert_allclose(float(lr(it)), nanogpt(it), rtol=1e-5, err_msg=str(it))


def test_weight_decay_mask():
    params = init_params(TransformerLM(MODEL), jax.random.PRNGKey(0))
    mask = optim.decay_mask(params, decay_embeddings=False)
    assert mask["block_0"]["mlp"]["up"]["kernel"]
    assert not mask["block_0"]["mlp_norm"]["norm"]["scale"]
    assert not mask["block_0"]["attention_norm"]["norm"]["scale"]
    assert not mask["embed"]["embedding"]
    assert optim.decay_mask(params, decay_embeddings=True)["embed"]["embedding"]


def test_encoder_lr_scale_scales_every_update_but_the_heads():
    params = {"block_0": {"kernel": np.ones((2, 2), np.float32)}, "classifier": {"kernel": np.ones((2, 2), np.float32)}}
    grads = jax.tree.map(np.ones_like, params)
    c = config_lib.default_config()
    c.optim.decay_steps, c.optim.weight_decay, c.optim.warmup_steps = 10, 0.0, 0
    full, scaled, frozen = (optim.make(c.optim, scale) for scale in (1.0, 0.1, 0.0))
    step = {
        name: tx.update(grads, tx.init(params), params)[0] for name, tx in (("1", full), ("0.1", scaled), ("0", frozen))
    }
    np.testing.assert_allclose(step["0.1"]["block_0"]["kernel"], 0.1 * step["1"]["block_0"]["kernel"], rtol=1e-6)
    np.testing.assert_array_equal(step["0"]["block_0"]["kernel"], 0.0)
    for name in step:  # the head always takes the full step
        np.testing.assert_array_equal(step[name]["classifier"]["kernel"], step["1"]["classifier"]["kernel"])
