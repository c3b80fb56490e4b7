"""T5-style denoising (Raffel et al., 2020): span-corruption pretraining of an encoder-decoder on plain text,
then fine-tuning on a sequence-pair task from its checkpoint, like bert_mlm.py -> finetune.py.

Config arguments:
  pretrain   span corruption on tiny Shakespeare (TFDS tiny_shakespeare, or --config.data.path=FILE): 15% of
             each 64-byte window dropped in spans of 3 on average, each span a sentinel in the encoder's input
             and written back after its sentinel by the decoder; bytes, the tiny encoder-decoder
  finetune   the built-in reversal task (lm/data/pairs.py) from a pretraining workdir (--config.init_from):
             its architecture, byte tokenizer and weights
  smoke      seconds on a CPU (tests)

    python launch.py --config=experiments/t5_denoise.py:pretrain --workdir=workdirs/t5_pretrain \\
        --config.data.path=../shared/data/tinyshakespeare.txt
    python launch.py --config=experiments/t5_denoise.py:finetune --workdir=workdirs/t5_reverse \\
        --config.init_from=workdirs/t5_pretrain
    python launch.py --config=experiments/t5_denoise.py:finetune --workdir=workdirs/t5_reverse_scratch \\
        --config.init_from=workdirs/t5_pretrain --config.finetune.load_weights=False   # the scratch baseline

Measured on 2 CPU cores (2026-11-30), one seed:
  pretrain   span-corruption eval loss 2.099 (3.03 bits per target token, accuracy 0.400) at step 2000;
             1 min 44 s. Too little to learn much: the decoder writes the same generic spans whatever the
             source ("<extra_id_0> <extra_id_1> the <extra_id_2> the" for any prompt)
  finetune   reversal, step 1000: from the pretrained weights exact match 0.000, BLEU 0.4, loss 2.909; from
             scratch (load_weights=False) exact match 0.522, BLEU 62.9, loss 0.394; about 65 s each. On this
             task, whose targets are random letters read off the source, a decoder that learned to ignore
             its source is a worse start than random weights. T5's gains come from far more pretraining
             (2^35 tokens) on tasks that share its language; this experiment shows the path, not that gain.
"""

from lm.config import default_config, shrink_to_smoke


def get_config(arg: str = "pretrain") -> "ml_collections.ConfigDict":  # noqa: F821
    c = default_config()
    c.model.family = "encoder_decoder"
    c.model.size = "tiny"
    c.data.tokenizer = "byte"  # any text, and the fine-tuning task's, encodes
    c.optim.learning_rate, c.optim.min_learning_rate, c.optim.warmup_steps = 2e-3, 2e-4, 100
    c.optim.weight_decay = 0.01
    c.train.log_every = 100
    c.train.eval_every = 500
    c.train.checkpoint_every = 500
    c.sample.temperature = 0.0
    c.sample.num_samples = 1
    if arg in ("pretrain", "smoke"):
        c.objective = "span_corruption"
        c.data.tfds_name = "tiny_shakespeare"
        c.data.seq_len = 64
        c.data.batch_size = 32
        c.train.num_steps = 2000
        c.sample.prompt, c.sample.max_new_tokens = "ROMEO:", 16
    elif arg == "finetune":
        c.objective = "seq2seq"
        c.data.task, c.data.task_examples, c.data.task_max_len = "reverse", 20_000, 16
        c.data.eval_fraction = 0.05
        c.data.source_len, c.data.seq_len = 16, 17
        c.data.batch_size = 64
        c.train.num_steps = 1000
        c.eval_decode.num_examples, c.eval_decode.bleu_tokenize = 512, "char"
        c.sample.prompt, c.sample.max_new_tokens = "hello", 16
    else:
        raise ValueError(f"experiments/t5_denoise.py takes pretrain, finetune or smoke, not {arg!r}.")
    if arg == "smoke":
        shrink_to_smoke(c)
        c.sample.max_new_tokens = 6
    return c
