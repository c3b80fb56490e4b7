"""Default configuration and its resolution.

Every field an experiment can set lives here, with its default and a comment, except the model's, which
live with the model (lm/models/config.py: ModelConfig, and the size table) and are copied from there. An
experiment file (`experiments/*.py`) calls `default_config()` and overrides a few fields; the command
line overrides more (`--config.model.num_layers=6`). `resolve()` then fills the fields derived from
others (model shape from `model.size`, `model.vocab_size` from the tokenizer) and checks the rules across
fields; `validate()` (lm/validation.py) first rejects bad values field by field. Every refusal names the
field and the fix.

This module imports no JAX: experiment files import it while launch.py parses its flags, before JAX's
environment is set up (the objectives, which need JAX, are imported where they are used).
"""

import ml_collections
from ml_collections import config_dict

from lm.models import config as model_config
from lm.models import families
from lm.models.config import SHAPE, SIZES, rotary_dims
from lm.validation import check, validate


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
    # hf without init_from: a directory with a Hugging Face tokenizer (tokenizer.json, or GPT-2's vocab.json +
    # merges.txt): training from scratch with GPT-2's tokenizer, say
    c.data.tokenizer_path = ""
    # Token shards (lm/data/shards.py): --mode=prepare writes the corpus of data.path (.txt, .jsonl, .parquet
    # files, a directory or a glob) or data.hf_dataset into this directory, and training reads it (a memory
    # map: memory does not grow with the corpus) instead of the sources above.
    c.data.shards = ""
    c.data.hf_dataset = ""  # prepare: a Hugging Face dataset saved with save_to_disk (its train split)
    c.data.shard_seed = 0  # prepare: which documents are held out for validation (val_fraction of them)
    c.data.document_mask = False  # shards, causal: a token attends only within its document; positions restart
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
    c.train.keep_checkpoints = 3  # the latest ones
    c.train.keep_best = True  # and the one with the lowest eval loss, whatever came after it
    # The checkpoint a run starts from: latest | best (the lowest eval loss) | a step number. Training from an
    # earlier one than the latest moves the later ones aside (a roll-back); eval, sample, ... read it.
    c.train.restore = "latest"
    c.train.eval_batch_size = 64
    # START:NUM_STEPS: a jax.profiler trace of the steps after step START in WORKDIR/profile (TensorBoard's
    # Profile tab, Perfetto); "": none. launch.py --profile=START:NUM_STEPS sets it.
    c.train.profile = ""
    c.train.estimate_batches = 20  # evals=estimate: random eval batches of data.batch_size (nanoGPT's eval_iters)
    c.train.data_parallel = True  # pmap across local devices when more than one is visible
    # A step whose loss or gradient norm is not finite: stop (checked whenever metrics are read; nothing
    # non-finite is ever saved) | skip (its update is not applied; counted as train/skipped).
    c.train.nonfinite = "stop"
    c.train.max_skipped = 20  # nonfinite=skip: this many skipped steps in a row stop the run
    # A finite divergence: a logged training loss above spike_factor x the median of the 10 logged before it
    # (and at least 1 nat above it) stops the run before that step is saved; 0 disables.
    c.train.spike_factor = 4.0

    # How the step runs on several devices (lm/parallel.py): pmap (data parallel; train.data_parallel) or a
    # mesh of data x fsdp x tensor devices under one jit (FSDP: weights and optimizer state split over fsdp;
    # tensor parallelism: heads, MLP units and the vocabulary split over tensor).
    c.parallel = ml_collections.ConfigDict()
    c.parallel.mode = "pmap"  # pmap | mesh
    c.parallel.data = 0  # mesh: devices along the data axis; 0: all that fsdp x tensor leave
    c.parallel.fsdp = 1
    c.parallel.tensor = 1
    # Tracking beyond metrics.jsonl and TensorBoard (lm/metrics.py): a run's scalars and config on Weights &
    # Biases, from process 0 (pip install -r requirements-wandb.txt). A resumed run continues the same W&B run.
    c.log = ml_collections.ConfigDict()
    c.log.wandb = False
    c.log.wandb_project = "lm"
    c.log.wandb_entity = ""  # "": W&B's default (your user)
    c.log.wandb_name = ""  # "": the workdir's name
    c.log.wandb_mode = "online"  # online (needs `wandb login`) | offline (WORKDIR/wandb, sent later by `wandb sync`)
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
            check(m.size != "custom", f"model.{name}", None, "must be set when model.size='custom'")
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
    check(
        m.family in objective.families,
        "model.family",
        m.family,
        f"cannot train objective={c.objective}, which needs model.family= one of {', '.join(objective.families)}",
    )
    if m.causal is None:  # what the objective needs; either will do for fine-tuning: bidirectional
        m.causal = objective.attention == "causal"
    for name, value in model_config.derived_defaults(m.to_dict()).items():
        m[name] = value
    check(
        not c.data.pack or (m.pooling == "first" and not m.causal),
        "data.pack",
        True,
        "needs an encoder with model.pooling=first (each packed text is read from its own [CLS])",
    )
    causal_objective = objective.attention == "causal"
    check(m.causal or not causal_objective, "model.causal", m.causal, f"must be True for objective={c.objective}")
    if c.optim.decay_steps is None:
        c.optim.decay_steps = c.train.num_steps
    check(
        config.model.head_dim is not None or m.d_model % m.num_heads == 0,
        "model.d_model",
        m.d_model,
        f"must divide by model.num_heads={m.num_heads}, or set model.head_dim (T5: d_kv)",
    )
    check(
        m.num_kv_heads >= 1 and m.num_heads % m.num_kv_heads == 0,
        "model.num_kv_heads",
        m.num_kv_heads,
        f"must be >= 1 and divide model.num_heads={m.num_heads} (each key / value head serves a group)",
    )
    head_dim = m.head_dim
    check(m.position != "rotary" or head_dim % 2 == 0, "model.position", m.position, "rotary needs an even head dim")
    rotary = rotary_dims(head_dim, m.rotary_fraction)
    check(
        0.0 < m.rotary_fraction <= 1.0 and rotary >= 2 and rotary % 2 == 0,
        "model.rotary_fraction",
        m.rotary_fraction,
        f"must be in (0, 1] and rotate an even number (>= 2) of the {head_dim} dims of a head (it rotates {rotary})",
    )
    for field, value, rule in families.get(m.family).check(m):
        check(False, field, value, rule)
    check(c.data.seq_len <= m.max_len, "data.seq_len", c.data.seq_len, f"must be <= model.max_len={m.max_len}")
    return c
