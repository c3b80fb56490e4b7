"""Our causal LM training equals nanoGPT's, restated in PyTorch, step for step.

The reference below is nanoGPT's model.py / train.py recipe (pre-norm GPT, bias-free LayerNorm and
Linear, exact GELU, tied embeddings, N(0, 0.02) init with scaled residual projections, AdamW with
decay on >= 2-dim weights, warmup + cosine schedule, global-norm clipping). Both sides start from the
same weights and see the same batches; the losses must agree at every step.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lm import config as config_lib
from lm import optim, step
from lm.model import ModelConfig, TransformerLM, init_params

torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional

V, L, N, D, T, B = 20, 2, 2, 32, 16, 4


class RefBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(D, bias=False), nn.LayerNorm(D, bias=False)
        self.c_attn, self.c_proj = nn.Linear(D, 3 * D, bias=False), nn.Linear(D, D, bias=False)
        self.c_fc, self.mlp_proj = nn.Linear(D, 4 * D, bias=False), nn.Linear(4 * D, D, bias=False)

    def forward(self, x):
        b, t, _ = x.shape
        q, k, v = (z.view(b, t, N, D // N).transpose(1, 2) for z in self.c_attn(self.ln_1(x)).split(D, dim=2))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, D)
        x = x + self.c_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class RefGPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, D), nn.Embedding(T, D)
        self.h = nn.ModuleList([RefBlock() for _ in range(L)])
        self.ln_f = nn.LayerNorm(D, bias=False)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, 0.0, 0.02)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight") or name.endswith("mlp_proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * L))

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.h:
            x = block(x)
        logits = self.ln_f(x) @ self.wte.weight.T  # tied head
        return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))


def to_ours(ref: RefGPT) -> dict:
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
    ref = RefGPT()
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
    state = step.TrainState.create(apply_fn=model.apply, params=params, tx=optim.make(c.optim))
    lr = optim.schedule(c.optim)
    train_fn = jax.jit(lambda s, b: step.train_step(s, b, seed=0, learning_rate=lr))

    decay = [p for p in ref.parameters() if p.dim() >= 2]
    no_decay = [p for p in ref.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=1e-2, betas=(0.9, 0.99), eps=1e-8)
    rng = np.random.default_rng(0)
    for it in range(12):
        tokens = rng.integers(0, V, (B, T + 1))
        for group in opt.param_groups:
            group["lr"] = float(lr(it))
        loss = ref(torch.from_numpy(tokens[:, :-1]), torch.from_numpy(tokens[:, 1:]))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ref.parameters(), 1.0)
        opt.step()
        state, metrics = train_fn(state, {"inputs": tokens[:, :-1], "targets": tokens[:, 1:]})
        np.testing.assert_allclose(float(metrics["loss"]), loss.item(), atol=1e-5, err_msg=f"step {it}")
    for ours, theirs in zip(jax.tree.leaves(state.params), jax.tree.leaves(to_ours(ref)), strict=True):
        np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), atol=1e-5)
