"""Our causal LM training equals nanoGPT's, restated in PyTorch, step for step.

The reference is tools/nanogpt_torch.py (which also gives the README's PyTorch figures): nanoGPT's
model.py / train.py recipe (pre-norm GPT, bias-free LayerNorm and Linear, exact GELU, tied embeddings,
N(0, 0.02) init with scaled residual projections, AdamW with decay on >= 2-dim weights, warmup + cosine
schedule, global-norm clipping). Both sides start from the same weights and see the same batches; the
losses must agree at every step.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lm import config as config_lib
from lm import objectives, optim, parallel, run
from lm.models.config import ModelConfig
from lm.models.transformer import TransformerLM, init_params

torch = pytest.importorskip("torch")
from tools import nanogpt_torch  # noqa: E402  (needs torch)

V, L, N, D, T, B = 20, 2, 2, 32, 16, 4


def to_ours(ref: nanogpt_torch.GPT) -> dict:
    """The reference's weights in our parameter layout (torch Linear stores [out, in])."""
    w = {k: v.detach().numpy() for k, v in ref.state_dict().items()}
    H = D // N
    params = {
        "embed": {"embedding": w["wte.weight"]},
        "position_embed": {"embedding": w["wpe.weight"]},
        "final_norm": {"norm": {"scale": w["ln_f.weight"]}},
    }
    for i in range(L):
        p = f"h.{i}."
        qkv = w[p + "c_attn.weight"]
        params[f"block_{i}"] = {
            "attention_norm": {"norm": {"scale": w[p + "ln_1.weight"]}},
            "mlp_norm": {"norm": {"scale": w[p + "ln_2.weight"]}},
            "attention": {
                **{
                    name: {"kernel": qkv[j * D : (j + 1) * D].T.reshape(D, N, H)}
                    for j, name in enumerate(("query", "key", "value"))
                },
                "out": {"kernel": w[p + "c_proj.weight"].T.reshape(N, H, D)},
            },
            "mlp": {"up": {"kernel": w[p + "c_fc.weight"].T}, "down": {"kernel": w[p + "mlp_proj.weight"].T}},
        }
    return jax.tree.map(jnp.asarray, params)


def test_training_matches_nanogpt_in_pytorch_step_for_step():
    torch.manual_seed(0)
    ref = nanogpt_torch.GPT(V, num_layers=L, num_heads=N, d_model=D, context=T)
    c = config_lib.default_config()
    c.model.size, c.model.vocab_size, c.data.seq_len = "custom", V, T
    c.model.num_layers, c.model.num_heads, c.model.d_model, c.model.d_ff = L, N, D, 4 * D
    c.model.use_bias, c.model.gelu_approximate = False, False
    c.optim.learning_rate, c.optim.min_learning_rate, c.optim.warmup_steps = 1e-2, 1e-3, 3
    c.optim.decay_embeddings, c.optim.weight_decay, c.optim.grad_clip = True, 0.1, 1.0
    c.train.num_steps = 12
    c = config_lib.resolve(c, V)
    model = TransformerLM(ModelConfig.from_config(c.model))
    params = to_ours(ref)
    assert jax.tree.structure(params) == jax.tree.structure(init_params(model, jax.random.PRNGKey(0)))
    state = run.make_state(c, model, params, objectives.CAUSAL)  # prepare's state, of nanoGPT's weights
    lr = optim.schedule(c.optim)
    train_fn = run.train_step_of(c, parallel.Runner(1), objectives.CAUSAL)

    opt = nanogpt_torch.make_optimizer(ref, 1e-2)
    rng = np.random.default_rng(0)
    for it in range(12):
        tokens = rng.integers(0, V, (B, T + 1))
        for group in opt.param_groups:
            group["lr"] = float(lr(it))
        loss = ref(torch.from_numpy(tokens[:, :-1]), torch.from_numpy(tokens[:, 1:])).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ref.parameters(), 1.0)
        opt.step()
        state, metrics = train_fn(state, {"inputs": tokens[:, :-1], "targets": tokens[:, 1:]})
        np.testing.assert_allclose(float(metrics["loss"]), loss.item(), atol=1e-5, err_msg=f"step {it}")
    for ours, theirs in zip(jax.tree.leaves(state.params), jax.tree.leaves(to_ours(ref)), strict=True):
        np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), atol=1e-5)


def test_the_reference_schedule_is_ours_at_the_shakespeare_char_cpu_recipe():
    c = config_lib.resolve(config_lib.default_config(), V)
    c.optim.learning_rate, c.optim.min_learning_rate, c.optim.warmup_steps, c.optim.decay_steps = 1e-3, 1e-4, 100, 2000
    ours = optim.schedule(c.optim)
    steps = np.arange(2001)
    np.testing.assert_allclose(
        np.asarray(jax.vmap(ours)(steps)), [nanogpt_torch.nanogpt_lr(s) for s in steps], rtol=1e-6
    )


def test_the_whole_split_loss_counts_every_target_once():
    torch.manual_seed(0)
    ref = nanogpt_torch.GPT(V, num_layers=1, num_heads=N, d_model=D, context=T).eval()
    data = torch.randint(0, V, (3 * T + 5,))  # 3 full windows and a short one of 4 targets
    with torch.no_grad():
        by_window = [
            ref(data[s : s + n][None], data[s + 1 : s + 1 + n][None])
            for s, n in [(0, T), (T, T), (2 * T, T), (3 * T, 4)]
        ]
    expected = torch.cat([w.flatten() for w in by_window]).mean().item()
    assert nanogpt_torch.whole_split_loss(ref, data, T, batch_size=2) == pytest.approx(expected, rel=1e-6)
