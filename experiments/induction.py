"""Induction heads (Olsson et al., 2022, "In-context learning and induction heads"): a two-layer attention-only
Transformer learns to copy from its context; a one-layer one cannot.

Data (lm/data/synthetic.py, task=repeated_tokens): random tokens from an alphabet of 512 that repeat with a
period, context 64. Training rows draw the period from 8 to 32, so that no fixed offset solves them; the
eval rows repeat their first half exactly. On the eval rows the first half is unpredictable (ln 512 = 6.24
nats, a little less for a model that learns a period's tokens are distinct) and every token of the second
half is the one that followed the current token's earlier occurrence: copying it is the induction head's
algorithm, which takes two layers (a previous-token head, then a head whose keys are composed with it).

Config arguments:
  cpu    attention-only blocks (model.mlp=none), 4 heads, d_model 128, learned positions, LayerNorm;
         batch 32, 2000 steps, lr 1e-3; the sweep trains 1 and 2 layers x seeds 0, 1, 2
  smoke  seconds (tests)

    python launch.py --config=experiments/induction.py:cpu --mode=verify --workdir=workdirs/induction
    python launch.py --config=experiments/induction.py:cpu --mode=collate --workdir=workdirs/induction

verify trains the six runs it needs (the sweep's: --mode=sweep trains the same ones) and checks both
contracts; collate writes results.md and loss_by_position.png (the eval loss at each position, last eval).

Measured on 2 CPU cores (2026-11-30), eval at step 2000 on 512 held-out rows, seeds 0 / 1 / 2:
  2 layers (206,592 parameters): second-half loss 0.0052 / 0.0021 / 0.0024, copying accuracy 0.9998 /
      1.0000 / 1.0000; first half 6.18 / 6.19 / 6.18 (ln 512 = 6.24). Copying is learned by step 500
      (second-half loss 0.56, accuracy 0.93).
  1 layer (140,288 parameters): second-half loss 4.155 / 4.090 / 3.997, accuracy 0.086 / 0.088 / 0.108;
      first half 6.64 / 6.61 / 6.61. It learns that tokens of the context are likely (4.1 nats, below
      ln 512, above ln 32 = 3.47 for a uniform guess among the 32 seen), not which one comes next.
6 min 23 s for the six runs (85 s per 2-layer run, 41 s per 1-layer run). Greedy samples of the 2-layer
model continue "t5 t9 t2 t7 t1 t5 t9" with "t2 t7 t1"; the 1-layer model's with "t5 t5 t9".
"""

from lm import experiment
from lm.config import default_config, shrink_to_smoke
from lm.experiment import Contract


def get_config(arg: str = "cpu") -> "ml_collections.ConfigDict":  # noqa: F821
    c = default_config()
    c.data.task = "repeated_tokens"
    c.data.vocab_size = 512
    c.data.seq_len = 64
    c.data.task_examples = 512  # eval rows
    c.data.batch_size = 32
    c.evals = "perplexity,by_position"
    m = c.model
    m.size = "custom"
    m.num_layers, m.num_heads, m.d_model, m.d_ff = 2, 4, 128, 512
    m.mlp = "none"  # attention-only
    c.optim.learning_rate = 1e-3
    c.optim.min_learning_rate = 1e-4
    c.optim.warmup_steps = 100
    c.train.num_steps = 2000
    c.train.log_every = 100
    c.train.eval_every = 250
    c.train.checkpoint_every = 1000
    c.train.eval_batch_size = 128
    c.sample.prompt = "t5 t9 t2 t7 t1 t5 t9"  # a copier continues t2 t7 t1
    c.sample.max_new_tokens = 3
    c.sample.temperature = 0.0
    if arg == "cpu":
        pass
    elif arg == "smoke":
        shrink_to_smoke(c)
        c.data.task_examples, c.data.vocab_size = 16, 32
        m.num_layers, m.num_heads, m.d_model, m.d_ff = 2, 2, 32, 64
        c.sample.max_new_tokens = 3
    else:
        raise ValueError(f"experiments/induction.py takes cpu or smoke, not {arg!r}.")
    return c


def get_sweep(arg: str = "cpu") -> list[dict]:
    del arg
    return experiment.grid({"model.num_layers": [1, 2]}, seeds=[0, 1, 2])


SOURCE = "Olsson et al. (2022), in-context copying of repeated random tokens"
BESIDE = ("eval/loss_first_half", "eval/accuracy_second_half")
TWO, ONE = {"model.num_layers": 2}, {"model.num_layers": 1}
CONTRACTS = {  # --mode=verify (lm/verify.py)
    "cpu": [
        Contract(
            metric="eval/loss_second_half", target=0.1, bound="at_most", step=2000, overrides=TWO, seeds=(0, 1, 2),
            beside=BESIDE, source=SOURCE, hardware="2 CPU cores", time="6 min 23 s, both", measured=0.0052,
        ),
        Contract(
            metric="eval/loss_second_half", target=3.0, bound="at_least", step=2000, overrides=ONE, seeds=(0, 1, 2),
            beside=BESIDE, source=SOURCE + ": one layer cannot", hardware="2 CPU cores", time="(the same runs)",
            measured=3.9974,
        ),
    ],
}  # fmt: skip
