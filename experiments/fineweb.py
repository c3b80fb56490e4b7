"""GPT-2 124M on 10B tokens of FineWeb: llm.c's run (its discussion #481), from token shards --mode=prepare writes.

GPT-2's tokenizer as experiments/gpt2_owt.py says (vocab.json + merges.txt in ~/models/gpt2). FineWeb's 10B-token
sample is parquet files on the Hugging Face Hub (HuggingFaceFW/fineweb, sample/10BT/*.parquet, about 29 GB);
fetch them once with any tool, e.g. `hf download HuggingFaceFW/fineweb --repo-type=dataset --include
"sample/10BT/*" --local-dir ~/data/fineweb`. Then prepare (GPT-2 tokens, 0.1% of the documents held out: about
10M validation tokens, as many as modded-nanogpt evaluates on), train, and run HellaSwag through the harness:

    python launch.py --config=experiments/fineweb.py --mode=prepare \\
        --config.data.path='~/data/fineweb/sample/10BT/*.parquet' --config.data.tokenizer_path=~/models/gpt2
    python launch.py --config=experiments/fineweb.py --config.data.tokenizer_path=~/models/gpt2
    python launch.py --config=experiments/fineweb.py --config.data.tokenizer_path=~/models/gpt2 --mode=harness \\
        --tasks=hellaswag_local --hellaswag=hellaswag_val.jsonl

hellaswag_val.jsonl is HellaSwag's validation set (10,042 questions) from github.com/rowanz/hellaswag (data/);
--mode=harness adds its accuracy to metrics.jsonl, where `--mode=verify` reads the contract's value.

Arguments:
  (none)  llm.c's GPT-2 124M (train_gpt2cu -b 64 -t 1024 -d 524288 -c 0.1 -l 0.0006 -q 0.0 -u 700): 12 layers,
          12 heads, d_model 768, context 1024, vocabulary padded to 50304, GPT-2's biases, no dropout; 512
          sequences (524,288 tokens) per step, 19,073 steps (10B tokens); AdamW lr 6e-4 (700 warmup steps, cosine
          to 0), betas (0.9, 0.95), weight decay 0.1, clipping 1.0; bfloat16. llm.c: about 90 minutes on 8x A100
          80GB. Not run here (no GPU).
  cpu     the same pipeline on a 2-core CPU: tiny Shakespeare (`--config.data.path`, one .txt split 90/10) in
          GPT-2's tokens, llm.c's model and schedule at a 4-layer size, 600 steps.
  smoke   seconds (tests).

    python launch.py --config=experiments/fineweb.py:cpu --mode=verify \\
        --config.data.path=../shared/data/tinyshakespeare.txt --config.data.tokenizer_path=~/models/gpt2
"""

import os

from lm import experiment
from lm.experiment import Contract

HERE = os.path.dirname(os.path.abspath(__file__))

CONTRACTS = {
    "": [  # declared for llm.c's hardware; no GPU here, so not measured yet
        Contract(
            metric="eval/loss", target=3.28, bound="at_most", step=19_073,
            source="modded-nanogpt's target for GPT-2 124M on FineWeb (validation loss 3.28, llm.c's baseline)",
            hardware="8x A100 80GB (llm.c's)", time="about 90 min there",
        ),
        Contract(
            metric="harness/hellaswag_local/acc_norm", target=0.299, bound="at_least", step=19_073,
            source="llm.c's discussion #481: HellaSwag 29.9 for this run, in llm.c's own completion-style eval, a "
            "little above OpenAI's GPT-2 124M there. The harness's acc_norm normalizes by bytes: close, not identical",
            hardware="8x A100 80GB (llm.c's)", time="about 90 min there, then the harness",
        ),
    ],
    "cpu": Contract(
        metric="eval/loss", target=5.40, bound="at_most", step=600,
        source="this recipe on 2 CPU cores (seeds 0 / 1: 5.2355 / 5.2861); a unigram model of the training tokens "
        "scores 6.46 nats on the validation tokens: the model must learn more than token frequencies",
        hardware="2 CPU cores", time="3 min 53 s", measured=5.2355,
    ),
}  # fmt: skip


def get_config(arg: str = "") -> "ml_collections.ConfigDict":  # noqa: F821
    if arg not in ("", "cpu", "smoke"):
        raise ValueError(f"experiments/fineweb.py takes no argument, cpu or smoke, not {arg!r}.")
    # nanoGPT's GPT-2 124M (and its CPU size, whose shards this shares), with llm.c's differences
    c = experiment.load(os.path.join(HERE, "gpt2_owt.py")).get_config(arg)
    c.model.use_bias = True  # llm.c's GPT-2 keeps GPT-2's biases
    c.optim.min_learning_rate = 0.0  # llm.c's -q 0.0: cosine to zero
    if arg == "":
        c.data.shards = "workdirs/shards/fineweb10B_gpt2"
        c.data.val_fraction = 0.001  # about 10M of 10B tokens
        c.data.batch_size, c.optim.grad_accum_steps = 512, 1  # 64 per GPU x 8
        c.optim.warmup_steps = 700
        c.train.num_steps = 19_073  # 10B tokens / 524,288 per step
        c.train.eval_every = 250
    return c
