"""Pretrained GPT-2 from Hugging Face files: generate, score, and continue training on a text.

The model, its tokenizer and its weights come from `--config.init_from`, a local directory with
GPT-2's config.json, model.safetensors, vocab.json and merges.txt (any size: gpt2, gpt2-medium,
gpt2-large, gpt2-xl). Fetch them once with any tool, e.g.

    mkdir -p ~/models/gpt2 && for f in config.json model.safetensors vocab.json merges.txt; do
        curl -sSL -o ~/models/gpt2/$f https://huggingface.co/openai-community/gpt2/resolve/main/$f; done

Nothing is downloaded at run time. Then:

    python launch.py --config=experiments/gpt2.py --config.init_from=~/models/gpt2 --mode=sample \\
        --prompt="Hello, my name is" --num_samples=5
    python launch.py --config=experiments/gpt2.py --config.init_from=~/models/gpt2 --mode=score \\
        --text="The quick brown fox jumps over the lazy dog."
    python launch.py --config=experiments/gpt2.py --config.init_from=~/models/gpt2 \\
        --config.data.path=../shared/data/tinyshakespeare.txt --workdir=workdirs/gpt2_shakespeare

The last one continues training GPT-2 with the causal objective on the text (fine-tuning); the
workdir's checkpoints then take the place of init_from's weights for eval, sample and score.

Arguments:
  (none)  fine-tuning sized for a CPU: 4 x 256 tokens per step, 100 steps, learning rate 3e-5.
  smoke   seconds on a CPU (tests, with a tiny GPT-2 directory).
"""

from lm.config import default_config, shrink_to_smoke


def get_config(arg: str = ""):
    c = default_config()
    c.objective = "causal"
    c.data.tokenizer = "hf"  # init_from's tokenizer (GPT-2's byte-level BPE)
    c.data.seq_len = 256
    c.data.batch_size = 4
    c.model.dropout = 0.1  # GPT-2's resid / embd / attn dropout when training
    c.model.attention_dropout = 0.1
    c.model.embedding_dropout = 0.1
    c.optim.learning_rate = 3e-5
    c.optim.min_learning_rate = 3e-6
    c.optim.warmup_steps = 10
    c.optim.weight_decay = 0.1
    c.train.num_steps = 100
    c.train.log_every = 10
    c.train.eval_every = 50
    c.train.checkpoint_every = 50
    c.train.eval_batch_size = 8
    c.sample.prompt = "Hello, my name is"
    c.sample.num_samples = 5
    c.sample.max_new_tokens = 40
    c.sample.temperature = 1.0
    c.sample.top_k = 50  # transformers' default for GPT-2 sampling
    if arg == "smoke":
        c = shrink_to_smoke(c)
        c.sample.max_new_tokens = 6
    elif arg:
        raise ValueError(f"experiments/gpt2.py takes no argument or 'smoke', not {arg!r}.")
    return c
