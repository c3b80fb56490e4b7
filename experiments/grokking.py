"""Grokking (Power et al., 2022) with the recipe of Nanda et al. (2023), "Progress measures for grokking via
mechanistic interpretability": modular addition "a b =" -> (a + b) mod p.

Config arguments:
  nanda  the paper's recipe: p = 113, 30% of the 12,769 pairs train (full batch: 3,830 pairs every step),
         one layer, d_model 128, 4 heads of 32, ReLU MLP of 512, no LayerNorm, untied unembedding,
         N(0, 1/d_model) weights; AdamW lr 1e-3 (10 warmup steps, then constant), weight decay 1.0,
         betas (0.9, 0.98), no clipping; 40,000 steps in the paper.
  cpu    the same recipe within ~15 minutes on 2 CPU cores (see below for what changed and why)
  smoke  seconds (tests)

    python launch.py --config=experiments/grokking.py:cpu --mode=verify --workdir=workdirs/grokking

Only the answer is scored: eval/accuracy is the accuracy on the 70% of pairs never trained on, train/accuracy
the full batch's (before its update). What differs from the paper's model, and why: the vocabulary has
p + 1 outputs (the "=" sign can be predicted, never is a target: its logit only learns to be low); weight
decay skips biases (theirs decays every parameter); the init is N(0, 1/d_model) for every matrix, as theirs.
"""

from lm.config import default_config, shrink_to_smoke
from lm.verify import Contract

P, TRAIN_FRACTION = 113, 0.3


def get_config(arg: str = "cpu") -> "ml_collections.ConfigDict":  # noqa: F821
    c = default_config()
    c.data.task = "modular_addition"
    c.data.modulus = P
    c.data.eval_fraction = 1.0 - TRAIN_FRACTION
    c.data.seq_len = 3  # a b =
    c.data.batch_size = int(TRAIN_FRACTION * P * P)  # full batch: every training pair, every step
    c.train.eval_batch_size = 4096
    m = c.model
    m.size = "custom"
    m.num_layers, m.num_heads, m.d_model, m.d_ff = 1, 4, 128, 512
    m.mlp = "relu"
    m.norm = "none"
    m.tie_embeddings = False
    m.init_std = 128**-0.5
    m.scale_residual_init = False
    o = c.optim
    o.learning_rate = o.min_learning_rate = 1e-3  # constant after warmup
    o.warmup_steps = 10
    o.weight_decay = 1.0
    o.decay_embeddings = True
    o.b1, o.b2 = 0.9, 0.98
    o.grad_clip = 0.0
    c.sample.prompt = ""  # nothing to sample: the model answers one token
    c.train.num_steps = 40_000
    c.train.log_every = 100
    c.train.eval_every = 100
    c.train.checkpoint_every = 1000
    if arg == "nanda":
        pass
    elif arg == "cpu":
        pass  # set once measured
    elif arg == "smoke":
        shrink_to_smoke(c)
        c.data.modulus, c.data.seq_len, c.data.batch_size = 13, 3, 48  # 50 training pairs; 48 divide over 8 devices
        m.num_layers, m.num_heads, m.d_model, m.d_ff = 1, 2, 32, 64
    else:
        raise ValueError(f"experiments/grokking.py takes nanda, cpu or smoke, not {arg!r}.")
    return c
