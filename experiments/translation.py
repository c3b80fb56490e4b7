"""The Transformer on WMT14 English-German (Vaswani et al., 2017): the paper's base and big models.

Config arguments:
  base   Transformer-base: 6 + 6 layers, d_model 512, 8 heads, d_ff 2048, dropout 0.1;
         63.1M parameters (the paper: 65M)
  big    Transformer-big: 6 + 6 layers, d_model 1024, 16 heads, d_ff 4096, dropout 0.3;
         214.2M parameters (the paper: 213M)
  smoke  seconds on a CPU (tests): the same options at nano size, on the built-in reversal task

Both read TFDS `wmt14_translate/de-en` (English source, German target; the data must be on disk or
downloadable), share one SentencePiece vocabulary of 37,000 pieces between source and target (the paper: a
shared byte-pair vocabulary of about 37,000 tokens), use post-norm blocks with ReLU, sinusoidal positions,
dropout, label smoothing 0.1, Adam (0.9, 0.98, eps 1e-9), and tie the output projection to the shared
embedding, as the paper does. Eval: BLEU (sacreBLEU, 13a) of beam search (4 beams, length penalty 0.6) on
newstest2014 (TFDS' test split).

    python launch.py --config=experiments/translation.py:base --workdir=workdirs/wmt14_base

What the paper reports, and what it took (its Table 2): BLEU 27.3 (base, 100,000 steps, 12 hours on 8 P100
GPUs) and 28.4 (big, 300,000 steps, 3.5 days on 8 P100 GPUs), on newstest2014. Not run here: no accelerator
and no WMT14 data on this machine. Two differences from the paper: its learning rate rises for 4,000
steps then falls as 1 / sqrt(step), ours (lm/optim.py) warms up for 4,000 steps then decays on a cosine to
a tenth; and it batches about 25,000 source + 25,000 target tokens by length, ours 256 pairs of up to 256
tokens, bucketed by length (lm/data/pairs.py).
"""

from lm.config import default_config, shrink_to_smoke


def get_config(arg: str = "base") -> "ml_collections.ConfigDict":  # noqa: F821
    c = default_config()
    c.objective = "seq2seq"
    c.data.tfds_name = "wmt14_translate/de-en"
    c.data.source_field, c.data.target_field = "en", "de"
    c.data.train_split, c.data.eval_split = "train", "test"  # newstest2014
    c.data.tokenizer = "sentencepiece"
    c.data.vocab_size = 37_000
    c.data.source_len = c.data.seq_len = 256
    c.data.batch_size = 256
    m = c.model
    m.family = "encoder_decoder"
    m.norm_position, m.mlp, m.position = "post", "relu", "sinusoidal"
    m.embedding_scale = True  # embeddings x sqrt(d_model), then the sinusoids
    m.max_len = 256
    m.scale_residual_init = False
    c.optim.b1, c.optim.b2, c.optim.eps = 0.9, 0.98, 1e-9
    c.optim.label_smoothing = 0.1
    c.optim.weight_decay = 0.0
    c.optim.warmup_steps = 4000
    c.eval_decode.num_examples = 0  # all of newstest2014
    c.eval_decode.num_beams = 4
    c.eval_decode.length_penalty = 0.6
    c.evals = "perplexity,bleu"
    c.train.log_every = 100
    c.train.eval_every = 10_000
    c.train.checkpoint_every = 5_000
    c.sample.prompt = "The house is wonderful."
    c.sample.temperature = 0.0
    c.sample.num_beams, c.sample.num_samples = 4, 1
    c.sample.max_new_tokens = 64
    if arg == "base":
        m.size = "transformer-base"
        m.dropout = m.attention_dropout = m.embedding_dropout = 0.1
        c.optim.learning_rate, c.optim.min_learning_rate = 7e-4, 7e-5
        c.train.num_steps = 100_000
    elif arg == "big":
        m.size = "transformer-big"
        m.dropout = m.attention_dropout = m.embedding_dropout = 0.3
        c.optim.learning_rate, c.optim.min_learning_rate = 5e-4, 5e-5
        c.train.num_steps = 300_000
    elif arg == "smoke":
        shrink_to_smoke(c)
        c.data.tfds_name, c.data.task, c.data.task_examples, c.data.task_max_len = "", "reverse", 400, 6
        c.data.tokenizer = "char"
        c.data.source_len = c.data.seq_len = m.max_len = 8
        c.eval_decode.num_examples = 8
        c.sample.prompt, c.sample.max_new_tokens = "abc", 6
    else:
        raise ValueError(f"experiments/translation.py takes base, big or smoke, not {arg!r}.")
    return c
