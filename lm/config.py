"""Default configuration and validation.

Every field an experiment can set lives here, with its default and a comment, except the model's, which
live with the model (lm/models/config.py: ModelConfig, and the size table) and are copied from there. An
experiment file (`experiments/*.py`) calls `default_config()` and overrides a few fields; the command
line overrides more (`--config.model.num_layers=6`). `resolve()` then fills the fields derived from
others (model shape from `model.size`, `model.vocab_size` from the tokenizer) and `validate()` rejects
bad values with a message that names the field and the fix.

This module imports no JAX: experiment files import it while launch.py parses its flags, before JAX's
environment is set up (the objectives, which need JAX, are imported where they are used).
"""

import math

import ml_collections
from ml_collections import config_dict

from lm.models import config as model_config
from lm.models import families
from lm.models.config import SHAPE, SIZES, rotary_dims

SYNTHETIC_TASKS = ("repeated_tokens", "modular_addition")  # lm/data/synthetic.py

CHOICES = {
    "model.position": ("learned", "sinusoidal", "rotary", "relative"),
    "model.rope_scaling": ("linear", "llama3"),
    "model.mlp": ("gelu", "relu", "swiglu", "geglu", "none"),
    "model.norm": ("layernorm", "rmsnorm", "none"),
    "model.dtype": ("float32", "bfloat16"),
    "model.remat": ("none", "full", "dots"),
    "model.attention": ("einsum", "xla", "cudnn"),
    "model.norm_position": ("pre", "post"),
    "data.tokenizer": ("byte", "char", "sentencepiece", "hf"),
    "data.sentencepiece_type": ("bpe", "unigram"),
    "train.nonfinite": ("stop", "skip"),
    "parallel.mode": ("pmap", "mesh"),
}


def default_config() -> ml_collections.ConfigDict:
    """The defaults every experiment starts from."""
    c = ml_collections.ConfigDict()
    c.seed = 0  # everything random (init, batches, dropout) derives from (seed, step)
    c.objective = "causal"  # causal (next token) | masked (BERT's masked LM) | classify | tag (lm/objectives.py)
    # evaluators, comma-separated (lm/evaluators/: perplexity, estimate, by_position, classification, exact_match,
    # bleu, rouge); "": the objective's own
    c.evals = ""
    # A pretraining workdir, or a Hugging Face GPT-2 / BERT directory (config.json, model.safetensors and the
    # tokenizer's files): its architecture, tokenizer and weights are used (train continues from them; eval,
    # sample and score use them while the workdir has no checkpoint).
    c.init_from = ""

    c.finetune = ml_collections.ConfigDict()
    c.finetune.load_weights = True  # False: init_from's architecture and tokenizer, fresh weights (scratch)
    c.finetune.freeze_encoder = False  # train only the head
    c.finetune.encoder_lr_scale = 1.0  # the encoder's learning rate relative to the head's

    c.model = model_config.defaults()  # every field, its default and its meaning: lm/models/config.py

    c.data = ml_collections.ConfigDict()
    # The source is the first one set of: path (a .txt file or a directory of .txt files),
    # tfds_name (any TFDS text dataset: tiny_shakespeare, lm1b, ...), else the built-in corpus.
    c.data.path = ""
    c.data.tfds_name = ""
    c.data.tfds_dir = ""  # tfds data_dir; empty is TFDS's default (~/tensorflow_datasets)
    c.data.tfds_text_key = "text"
    c.data.train_split = "train"  # tfds split names (any TFDS split spec, e.g. train[:10%])
    c.data.eval_split = "validation"
    c.data.val_fraction = 0.1  # path / built-in: the last fraction of the text is validation
    c.data.synthetic_chars = 400_000  # size of the built-in corpus
    c.data.tokenizer = "char"  # byte | char | sentencepiece | hf (a Hugging Face model's, from init_from)
    c.data.vocab_size = 1000  # sentencepiece's pieces; repeated_tokens: its random tokens
    # Labelled data (objective classify / tag), see lm/data/labelled.py: a .csv / .tsv / .jsonl data.path,
    # a TFDS dataset, or an offline task.
    # A built-in task: shakespeare_speakers (classify) | reverse, sort, add (seq2seq, lm/data/pairs.py) |
    # repeated_tokens, modular_addition (causal, lm/data/synthetic.py)
    c.data.task = ""
    c.data.num_speakers = 4  # shakespeare_speakers: the most frequent speakers of the held-out text
    c.data.speakers = ""  # shakespeare_speakers: comma-separated names instead (e.g. PETRUCHIO,PROSPERO)
    c.data.text_field = "text"
    c.data.text_pair_field = ""  # a second text (sentence pairs): [CLS] a [SEP] b [SEP], token types 0 / 1
    c.data.label_field = "label"
    c.data.eval_path = ""  # a separate labelled eval file; default: hold out examples of data.path
    c.data.pack = False  # classify: pack several short texts per row (segment ids), saving padding
    c.data.eval_fraction = 0.2  # labelled data without an eval split: every (1 / eval_fraction)-th example
    c.data.sentencepiece_type = "bpe"  # SentencePiece's model type: bpe | unigram
    c.data.seq_len = 64  # tokens per training window (seq2seq: of the decoder, [BOS] + target)
    # Sequence pairs (objective seq2seq), see lm/data/pairs.py: data.task, a .tsv / .jsonl data.path, or TFDS.
    c.data.source_field = "source"  # the source's column / feature (TFDS wmt14_translate/de-en: en or de)
    c.data.target_field = "target"
    c.data.source_len = 64  # the encoder's input; longer sources are cut (the console counts them)
    c.data.task_examples = 20_000  # reverse / sort / add: pairs generated (eval_fraction of them held out)
    c.data.task_max_len = 16  # reverse / sort: string length 1..this; add: up to this // 2 digits a number
    c.data.task_seed = 0  # the task's pairs depend on this, not on the run's seed
    c.data.modulus = 113  # modular_addition: p (lm/data/synthetic.py)
    c.data.batch_size = 32  # global batch (all devices, all micro-batches)

    c.optim = ml_collections.ConfigDict()
    c.optim.learning_rate = 1e-3  # peak, reached after warmup_steps
    c.optim.min_learning_rate = 1e-4  # cosine floor, reached at decay_steps
    c.optim.warmup_steps = 100
    c.optim.decay_steps = config_dict.placeholder(int)  # default: train.num_steps
    c.optim.b1 = 0.9
    c.optim.b2 = 0.99
    c.optim.eps = 1e-8
    c.optim.weight_decay = 0.1  # decoupled (AdamW), on weight matrices only
    c.optim.decay_embeddings = False  # also decay embedding tables (nanoGPT does)
    c.optim.grad_clip = 1.0  # global-norm clipping; 0 disables
    c.optim.grad_accum_steps = 1  # micro-batches per update; batch_size is split among them
    c.optim.label_smoothing = 0.0  # training loss against (1 - e) one-hot + e uniform (Szegedy et al., 2016)

    c.masking = ml_collections.ConfigDict()  # the masked objective (Devlin et al., 2019)
    c.masking.rate = 0.15  # fraction of non-special, non-padding tokens selected for prediction
    c.masking.mask_fraction = 0.8  # of the selected: replaced by [MASK]
    c.masking.random_fraction = 0.1  # of the selected: replaced by a random token (the rest stay)
    c.masking.whole_word = False  # select whole words (SentencePiece vocabularies only)

    c.span_corruption = ml_collections.ConfigDict()  # the span_corruption objective (Raffel et al., 2020)
    c.span_corruption.noise_density = 0.15  # of each window's tokens, dropped from the source
    c.span_corruption.mean_span_length = 3.0  # tokens per dropped span, on average

    c.train = ml_collections.ConfigDict()
    c.train.num_steps = 1000
    c.train.log_every = 50
    c.train.eval_every = 250  # 0: only at the end
    c.train.checkpoint_every = 250
    c.train.keep_checkpoints = 3
    c.train.eval_batch_size = 64
    c.train.estimate_batches = 20  # evals=estimate: random eval batches of data.batch_size (nanoGPT's eval_iters)
    c.train.data_parallel = True  # pmap across local devices when more than one is visible
    # A step whose loss or gradient norm is not finite: stop (checked whenever metrics are read; nothing
    # non-finite is ever saved) | skip (its update is not applied; counted as train/skipped).
    c.train.nonfinite = "stop"

    # How the step runs on several devices (lm/parallel.py): pmap (data parallel; train.data_parallel) or a
    # mesh of data x fsdp x tensor devices under one jit (FSDP: weights and optimizer state split over fsdp;
    # tensor parallelism: heads, MLP units and the vocabulary split over tensor).
    c.parallel = ml_collections.ConfigDict()
    c.parallel.mode = "pmap"  # pmap | mesh
    c.parallel.data = 0  # mesh: devices along the data axis; 0: all that fsdp x tensor leave
    c.parallel.fsdp = 1
    c.parallel.tensor = 1
    c.eval_decode = ml_collections.ConfigDict()  # the evaluators of decoded text (exact_match, bleu, rouge)
    c.eval_decode.num_examples = 256  # the first eval pairs decoded at each eval; 0: all of them
    c.eval_decode.num_beams = 1  # 1: greedy; more: beam search, the best beam scored
    c.eval_decode.length_penalty = 0.6  # beam search's alpha in ((5 + length) / 6) ** alpha
    c.eval_decode.bleu_tokenize = "13a"  # sacreBLEU's tokenizer: 13a (its default, words) | char | intl | zh ...

    c.sample = ml_collections.ConfigDict()
    c.sample.prompt = "\n"  # what the end of a training run samples from ("": no samples)
    c.sample.num_samples = 3
    c.sample.max_new_tokens = 200
    c.sample.temperature = 0.8
    c.sample.top_k = 0  # 0: off
    c.sample.top_p = 1.0  # 1.0: off
    c.sample.repetition_penalty = 1.0  # > 1 makes tokens already in the prompt or output less likely; 1: off
    c.sample.stop_at_eos = True  # end a sample at the tokenizer's EOS token, when it has one (GPT-2's)
    c.sample.stop = ()  # strings that end a sample (not included); launch.py --stop=... sets them
    c.sample.seed = 0  # the same seed gives the same samples
    # > 1: beam search (lm/decoding/beam.py) instead of sampling; the num_samples best of the beams
    c.sample.num_beams = 1
    c.sample.length_penalty = 0.6  # beam search: scores are log P / ((5 + length) / 6) ** length_penalty
    return c


def shrink_to_smoke(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Any experiment at a seconds-long CPU size: same objective, data and options, tiny shapes."""
    c.model.size = "nano"
    c.data.synthetic_chars = 20_000
    c.data.seq_len = 16
    c.data.batch_size = 8
    c.optim.grad_accum_steps = 1  # a batch of 8 may be split over 8 devices (the tests')
    c.train.num_steps = 4
    c.train.log_every = 2
    c.train.eval_every = 0
    c.train.checkpoint_every = 2
    c.train.eval_batch_size = 8
    c.sample.num_samples = 2
    c.sample.max_new_tokens = 8
    return c


def resolve(config: ml_collections.ConfigDict, vocab_size: int) -> ml_collections.ConfigDict:
    """Returns a copy with the derived fields filled: model shape, vocabulary, context, decay."""
    from lm import objectives  # see the module docstring

    validate(config)
    c = ml_collections.ConfigDict(config.to_dict())  # unlocked copy, placeholders kept typed
    m = c.model
    for i, name in enumerate(SHAPE):
        if m[name] is None:
            _check(m.size != "custom", f"model.{name}", None, "must be set when model.size='custom'")
            m[name] = SIZES[m.size][i]
    if m.num_kv_heads is None and m.size != "custom" and len(SIZES[m.size]) > len(SHAPE):
        m.num_kv_heads = SIZES[m.size][len(SHAPE)]  # a grouped-query shape
    if m.vocab_size is None:
        m.vocab_size = vocab_size
    elif m.vocab_size < vocab_size:
        raise ValueError(
            f"model.vocab_size={m.vocab_size} is smaller than the tokenizer's vocabulary "
            f"({vocab_size}). Remove the override or set --config.model.vocab_size>={vocab_size}."
        )
    if m.max_len is None:
        m.max_len = c.data.seq_len
    objective = objectives.get(c.objective)
    if m.family is None:
        m.family = objective.families[0]
    _check(
        m.family in objective.families,
        "model.family",
        m.family,
        f"cannot train objective={c.objective}, which needs model.family= one of {', '.join(objective.families)}",
    )
    if m.causal is None:  # what the objective needs; either will do for fine-tuning: bidirectional
        m.causal = objective.attention == "causal"
    for name, value in model_config.derived_defaults(m.to_dict()).items():
        m[name] = value
    _check(
        not c.data.pack or (m.pooling == "first" and not m.causal),
        "data.pack",
        True,
        "needs an encoder with model.pooling=first (each packed text is read from its own [CLS])",
    )
    causal_objective = objective.attention == "causal"
    _check(m.causal or not causal_objective, "model.causal", m.causal, f"must be True for objective={c.objective}")
    if c.optim.decay_steps is None:
        c.optim.decay_steps = c.train.num_steps
    _check(
        config.model.head_dim is not None or m.d_model % m.num_heads == 0,
        "model.d_model",
        m.d_model,
        f"must divide by model.num_heads={m.num_heads}, or set model.head_dim (T5: d_kv)",
    )
    _check(
        m.num_kv_heads >= 1 and m.num_heads % m.num_kv_heads == 0,
        "model.num_kv_heads",
        m.num_kv_heads,
        f"must be >= 1 and divide model.num_heads={m.num_heads} (each key / value head serves a group)",
    )
    head_dim = m.head_dim
    _check(m.position != "rotary" or head_dim % 2 == 0, "model.position", m.position, "rotary needs an even head dim")
    rotary = rotary_dims(head_dim, m.rotary_fraction)
    _check(
        0.0 < m.rotary_fraction <= 1.0 and rotary >= 2 and rotary % 2 == 0,
        "model.rotary_fraction",
        m.rotary_fraction,
        f"must be in (0, 1] and rotate an even number (>= 2) of the {head_dim} dims of a head (it rotates {rotary})",
    )
    for field, value, rule in families.get(m.family).check(m):
        _check(False, field, value, rule)
    _check(c.data.seq_len <= m.max_len, "data.seq_len", c.data.seq_len, f"must be <= model.max_len={m.max_len}")
    return c


def validate(config: ml_collections.ConfigDict) -> None:
    """Raises ValueError naming the first field whose value cannot work."""
    from lm import objectives  # see the module docstring

    choices = {**CHOICES, "objective": tuple(objectives.OBJECTIVES)}
    if config.model.family is not None:  # None: the objective's first family
        choices["model.family"] = tuple(families.FAMILIES)
    for key, allowed in choices.items():
        value = _get(config, key)
        _check(value in allowed, key, value, f"choose one of {', '.join(allowed)}")
    sizes = (*SIZES, "custom")
    _check(config.model.size in sizes, "model.size", config.model.size, f"choose one of {', '.join(sizes)}")
    positive = (
        "data.seq_len data.batch_size train.num_steps train.log_every train.checkpoint_every "
        "train.keep_checkpoints train.eval_batch_size optim.grad_accum_steps sample.num_samples "
        "sample.max_new_tokens data.source_len data.task_examples data.task_max_len train.estimate_batches "
        "data.modulus"
    )
    for key in positive.split():
        _check(_get(config, key) > 0, key, _get(config, key), "must be > 0")
    for key in (
        "model.num_layers model.num_encoder_layers model.num_heads model.d_model model.d_ff model.vocab_size "
        "model.max_len model.head_dim"
    ).split():
        value = _get(config, key)
        _check(value is None or value > 0, key, value, "must be > 0 (or unset to use model.size)")
    for key in ("model.sliding_window",):
        _check(_get(config, key) >= 0, key, _get(config, key), "must be >= 0 (0: no window)")
    buckets, distance = config.model.relative_attention_num_buckets, config.model.relative_attention_max_distance
    _check(
        buckets >= 4,
        "model.relative_attention_num_buckets",
        buckets,
        "must be >= 4 (half for keys before the query, half after, each half exact and log-spaced; T5: 32)",
    )
    _check(
        distance > buckets // 2,
        "model.relative_attention_max_distance",
        distance,
        f"must exceed the exact buckets (relative_attention_num_buckets // 2 = {buckets // 2}); T5: 128",
    )
    factor = config.model.rope_scaling_factor
    _check(0.0 < factor < math.inf, "model.rope_scaling_factor", factor, "must be finite and > 0 (1: no scaling)")
    low, high = config.model.rope_low_freq_factor, config.model.rope_high_freq_factor
    _check(0 < low < high, "model.rope_low_freq_factor", low, f"must be > 0 and < model.rope_high_freq_factor={high}")
    original = config.model.rope_original_max_len
    _check(original > 0, "model.rope_original_max_len", original, "must be > 0")
    for key in "model.dropout model.attention_dropout model.embedding_dropout".split():
        _check(0.0 <= _get(config, key) < 1.0, key, _get(config, key), "must be in [0, 1)")
    _check(
        config.model.attention == "einsum" or config.model.attention_dropout == 0.0,
        "model.attention_dropout",
        config.model.attention_dropout,
        f"must be 0 with model.attention={config.model.attention} (jax.nn.dot_product_attention has no "
        "dropout); use model.attention=einsum",
    )
    pooling = config.model.pooling
    _check(pooling in (None, "first", "last", "mean"), "model.pooling", pooling, "choose one of first, last, mean")
    _check(
        config.data.task in ("", "shakespeare_speakers", *("reverse", "sort", "add"), *SYNTHETIC_TASKS),
        "data.task",
        config.data.task,
        "choose shakespeare_speakers (classify), reverse, sort or add (seq2seq), repeated_tokens or "
        "modular_addition (causal), or leave empty",
    )
    _check(
        config.finetune.encoder_lr_scale >= 0,
        "finetune.encoder_lr_scale",
        config.finetune.encoder_lr_scale,
        "must be >= 0",
    )
    _check(
        not config.data.pack or objectives.get(config.objective).data == "labels",
        "data.pack",
        True,
        "packs texts for objective=classify only",
    )
    _check(0.0 < config.data.eval_fraction < 1.0, "data.eval_fraction", config.data.eval_fraction, "must be in (0, 1)")
    _check(0.0 < config.data.val_fraction < 1.0, "data.val_fraction", config.data.val_fraction, "must be in (0, 1)")
    optim = config.optim
    _check(0 < optim.learning_rate < math.inf, "optim.learning_rate", optim.learning_rate, "must be finite and > 0")
    _check(
        0 <= optim.min_learning_rate <= optim.learning_rate,
        "optim.min_learning_rate",
        optim.min_learning_rate,
        f"must be in [0, optim.learning_rate={optim.learning_rate}]",
    )
    _check(optim.warmup_steps >= 0, "optim.warmup_steps", optim.warmup_steps, "must be >= 0")
    _check(optim.decay_steps is None or optim.decay_steps > 0, "optim.decay_steps", optim.decay_steps, "must be > 0")
    for key in ("b1", "b2"):  # Adam's moment decay rates
        _check(0.0 <= optim[key] < 1.0, f"optim.{key}", optim[key], "must be in [0, 1)")
    _check(0.0 < optim.eps < math.inf, "optim.eps", optim.eps, "must be finite and > 0")
    _check(0.0 <= optim.weight_decay < math.inf, "optim.weight_decay", optim.weight_decay, "must be finite, >= 0")
    _check(0.0 <= optim.grad_clip < math.inf, "optim.grad_clip", optim.grad_clip, "must be finite, >= 0 (0: off)")
    _check(
        0.0 <= config.model.teacher_forcing_ratio <= 1.0,
        "model.teacher_forcing_ratio",
        config.model.teacher_forcing_ratio,
        "must be in [0, 1]",
    )
    _check(0.0 <= optim.label_smoothing < 1.0, "optim.label_smoothing", optim.label_smoothing, "must be in [0, 1)")
    _check(config.train.eval_every >= 0, "train.eval_every", config.train.eval_every, "must be >= 0")
    for key in ("parallel.fsdp", "parallel.tensor"):
        _check(_get(config, key) >= 1, key, _get(config, key), "must be >= 1")
    data = config.parallel.data
    _check(data >= 0, "parallel.data", data, "must be >= 0 (0: what fsdp x tensor leave)")
    _check(
        config.data.batch_size % config.optim.grad_accum_steps == 0,
        "data.batch_size",
        config.data.batch_size,
        f"must divide into optim.grad_accum_steps={config.optim.grad_accum_steps} micro-batches",
    )
    span = config.span_corruption
    _check(0.0 < span.noise_density < 1.0, "span_corruption.noise_density", span.noise_density, "must be in (0, 1)")
    _check(span.mean_span_length >= 1.0, "span_corruption.mean_span_length", span.mean_span_length, "must be >= 1")
    masking = config.masking
    _check(0.0 < masking.rate < 1.0, "masking.rate", masking.rate, "must be in (0, 1)")
    _check(
        masking.mask_fraction >= 0
        and masking.random_fraction >= 0
        and masking.mask_fraction + masking.random_fraction <= 1,
        "masking.mask_fraction",
        masking.mask_fraction,
        f"and masking.random_fraction={masking.random_fraction} must be >= 0 and add up to at most 1",
    )
    _check(
        not masking.whole_word or config.data.tokenizer == "sentencepiece",
        "masking.whole_word",
        True,
        "needs word pieces: use it with --config.data.tokenizer=sentencepiece",
    )
    _check(
        config.data.tokenizer != "hf" or config.init_from,
        "data.tokenizer",
        "hf",
        "comes with a pretrained model: set --config.init_from=DIR (a Hugging Face model directory)",
    )
    _check(config.sample.temperature >= 0, "sample.temperature", config.sample.temperature, "must be >= 0")
    _check(0.0 < config.sample.top_p <= 1.0, "sample.top_p", config.sample.top_p, "must be in (0, 1]")
    _check(
        config.sample.repetition_penalty > 0,
        "sample.repetition_penalty",
        config.sample.repetition_penalty,
        "must be > 0 (1 is off)",
    )
    _check(config.sample.top_k >= 0, "sample.top_k", config.sample.top_k, "must be >= 0 (0 is off)")
    decode = config.eval_decode
    _check(decode.num_examples >= 0, "eval_decode.num_examples", decode.num_examples, "must be >= 0 (0: all)")
    _check(config.eval_decode.num_beams >= 1, "eval_decode.num_beams", config.eval_decode.num_beams, "must be >= 1")
    _check(config.sample.num_beams >= 1, "sample.num_beams", config.sample.num_beams, "must be >= 1 (1: no beams)")
    _check(
        config.sample.num_beams == 1 or config.sample.num_samples <= config.sample.num_beams,
        "sample.num_samples",
        config.sample.num_samples,
        f"must be <= sample.num_beams={config.sample.num_beams}: beam search returns its best beams",
    )
    _check(config.sample.length_penalty >= 0, "sample.length_penalty", config.sample.length_penalty, "must be >= 0")


def _get(config, dotted_key):
    for part in dotted_key.split("."):
        config = config[part]
    return config


def _check(ok, key, value, requirement):
    if not ok:
        raise ValueError(f"Config field {key}={value!r} {requirement}. Fix it with --config.{key}=... .")
