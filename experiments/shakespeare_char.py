"""Character-level tiny Shakespeare: a reproduction of nanoGPT's shakespeare_char runs.

Config arguments:
  cpu    nanoGPT's documented CPU run (README "I only have a macbook"): 4 layers, 4 heads, d_model 128,
         context 64, batch 12, 2000 steps, lr 1e-3 (100 warmup steps, cosine to 1e-4), AdamW betas
         (0.9, 0.99), weight decay 0.1 on every matrix including the embeddings, clipping 1.0, no dropout,
         no biases, learned positions, exact GELU, LayerNorm, N(0, 0.02) init with residual projections
         scaled by 1/sqrt(2 x layers), tied embeddings, 65-character vocabulary, 90/10 split.
  gpu    nanoGPT's config/train_shakespeare_char.py: 6 layers, 6 heads, d_model 384, context 256,
         batch 64, dropout 0.2, 5000 steps.
  smoke  the cpu shape shrunk to run in seconds (tests).

Reproduce (2 CPU cores, the corpus from TFDS tiny_shakespeare or any local copy of it):

    python launch.py --config=experiments/shakespeare_char.py:cpu --workdir=workdirs/sc_cpu \\
        --config.data.path=../shared/data/tinyshakespeare.txt

Expected: nanoGPT reports val loss ~1.88 for this configuration, estimated from 20 random batches
(nanoGPT's train.py run here once: 1.8857 at step 2000). On the whole validation split, measured here on
2 CPU cores at step 2000:
  ours, seeds 0-9:      mean 1.905, sd 0.007, range 1.894-1.918
                        (1.906 / 1.903 / 1.894 / 1.918 / 1.908 / 1.907 / 1.907 / 1.900 / 1.897 / 1.909)
  nanoGPT's model and loop in PyTorch (tools/nanogpt_torch.py), seeds 1337, 1-9:
                        mean 1.906, sd 0.009, range 1.894-1.926
  its 20-batch estimates, as nanoGPT logs them: mean 1.905, sd 0.023, range 1.878-1.955
  ours, the same estimator (evals=estimate: 20 random batches of 12 x 64 from the validation split,
                        logged as eval/loss_estimate and printed beside the contract's verdict):
                        1.8863 at step 2000 for seed 0 (whole split: 1.9056)
Started from the same weights and fed the same batches, our run and the PyTorch one agree at every
step (losses within 2e-6 over 300 steps of this configuration; tests/test_reference.py checks a small
one), so the spread above is seed noise. So nanoGPT's ~1.88 is its noisy 20-batch estimate: on the
whole split neither implementation reaches 1.88 on any seed, and the issue's target (<= 1.88 there)
waits on a restatement (issue 2).
Time: about as fast as nanoGPT's own train.py, per step and per run, measured side by side on one 2-core
machine by `python tools/compare_nanogpt.py --nanogpt=NANOGPT_CHECKOUT --data=tinyshakespeare.txt`
(alternating runs; 2026-11-30: median steps of 37.5 ms for nanoGPT, 39.8 ms for ours, 34.9 ms for
tools/nanogpt_torch.py; whole runs to step 2000 of 94-102 s for nanoGPT and 97-98 s for ours).
With `--config.data.path` the text is split 90/10 as nanoGPT does; without it the TFDS
tiny_shakespeare train / validation splits are used (a different validation text).
"""

from lm.config import default_config, shrink_to_smoke
from lm.experiment import Contract


def get_config(arg: str = "cpu") -> "ml_collections.ConfigDict":  # noqa: F821
    c = default_config()
    c.data.tfds_name = "tiny_shakespeare"
    c.data.tokenizer = "char"
    c.model.size = "mini"  # 4 layers, 4 heads, d_model 128, d_ff 512
    c.model.use_bias = False
    c.model.gelu_approximate = False  # nanoGPT uses torch.nn.GELU(): the exact erf form
    c.model.position = "learned"
    c.model.norm = "layernorm"
    c.optim.learning_rate = 1e-3
    c.optim.min_learning_rate = 1e-4
    c.optim.warmup_steps = 100
    c.optim.b1, c.optim.b2 = 0.9, 0.99
    c.optim.weight_decay = 0.1
    c.optim.decay_embeddings = True  # nanoGPT decays every parameter with >= 2 dims
    c.optim.grad_clip = 1.0
    c.data.seq_len = 64
    c.data.batch_size = 12
    c.train.num_steps = 2000
    c.train.log_every = 100
    c.train.eval_every = 500
    c.train.checkpoint_every = 500
    c.train.eval_batch_size = 64
    c.evals = "perplexity,estimate"  # the whole split, and nanoGPT's 20-batch estimate (train.estimate_batches)
    c.sample.prompt = "ROMEO:"
    c.sample.max_new_tokens = 58  # prompt + new tokens must fit the context of 64

    if arg == "cpu":
        # The same update as one batch of 12 (tested), computed as two micro-batches of 6: with 2 MiB of
        # L2 cache per core, the step's arrays then stay in cache (41 -> 29-34 ms per step on 2 cores, measured
        # one after the other with --mode=bench).
        c.optim.grad_accum_steps = 2
    elif arg == "gpu":
        c.model.size = "custom"
        c.model.num_layers, c.model.num_heads, c.model.d_model, c.model.d_ff = 6, 6, 384, 1536
        c.model.dropout = 0.2
        c.data.seq_len = 256
        c.data.batch_size = 64
        c.train.num_steps = 5000
        c.train.eval_every = 250
        c.train.checkpoint_every = 1000
        c.sample.max_new_tokens = 250
        c.train.estimate_batches = 200  # nanoGPT's eval_iters in this config
    elif arg == "smoke":
        shrink_to_smoke(c)
    else:
        raise ValueError(f"experiments/shakespeare_char.py takes cpu, gpu or smoke, not {arg!r}.")
    return c


CONTRACTS = {  # --mode=verify (lm/verify.py); needs --config.data.path=tinyshakespeare.txt
    "cpu": Contract(
        metric="eval/loss", target=1.92, bound="at_most", step=2000,
        source="nanoGPT's README (CPU run: ~1.88, a 20-batch estimate); 1.89-1.93 over seeds on the whole split",
        hardware="2 CPU cores", time="1 min 42 s", measured=1.9056, beside=("eval/loss_estimate",),
    ),
    "gpu": Contract(  # declared for a GPU run; no GPU here, so not measured yet
        metric="eval/loss_estimate", target=1.50, bound="at_most", step=5000, beside=("eval/loss",),
        source="nanoGPT's README: val 1.4697 (its 200-batch estimate) for config/train_shakespeare_char.py",
        hardware="1 A100 (nanoGPT's)", time="about 3 min there",
    ),
}  # fmt: skip
