"""Config values checked field by field, before anything is built: choices, ranges, and the few rules that
need only the fields as given. lm/config.py's resolve() calls validate() first, then fills the derived fields
and checks the rules across them (the model family's own among them). This module imports no JAX.
"""

import math
import re

import ml_collections

from lm.models import families
from lm.models.config import SIZES

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
    "log.wandb_mode": ("online", "offline"),
}


def validate(config: ml_collections.ConfigDict) -> None:
    """Raises ValueError naming the first field whose value cannot work."""
    for checks in (_choices_and_counts, _model, _data_and_training, _sampling):
        checks(config)


def _choices_and_counts(config: ml_collections.ConfigDict) -> None:
    from lm import objectives  # JAX: imported when a config is checked, not when this module is

    choices = {**CHOICES, "objective": tuple(objectives.OBJECTIVES)}
    if config.model.family is not None:  # None: the objective's first family
        choices["model.family"] = tuple(families.FAMILIES)
    for key, allowed in choices.items():
        value = _get(config, key)
        check(value in allowed, key, value, f"choose one of {', '.join(allowed)}")
    sizes = (*SIZES, "custom")
    check(config.model.size in sizes, "model.size", config.model.size, f"choose one of {', '.join(sizes)}")
    positive = (
        "data.seq_len data.batch_size train.num_steps train.log_every train.checkpoint_every "
        "train.keep_checkpoints train.eval_batch_size optim.grad_accum_steps sample.num_samples "
        "sample.max_new_tokens data.source_len data.task_examples data.task_max_len train.estimate_batches "
        "data.modulus train.max_skipped"
    )
    for key in positive.split():
        check(_get(config, key) > 0, key, _get(config, key), "must be > 0")
    for key in (
        "model.num_layers model.num_encoder_layers model.num_heads model.d_model model.d_ff model.vocab_size "
        "model.max_len model.head_dim"
    ).split():
        value = _get(config, key)
        check(value is None or value > 0, key, value, "must be > 0 (or unset to use model.size)")
    for key in ("seed", "data.task_seed", "data.shard_seed", "sample.seed", "model.sliding_window"):
        check(_get(config, key) >= 0, key, _get(config, key), "must be >= 0" + " (0: no window)" * ("window" in key))
    factor = config.train.spike_factor
    check(factor == 0 or factor > 1, "train.spike_factor", factor, "must be > 1 (a multiple of the median), or 0: off")
    profile = config.train.profile
    check(
        not profile or re.fullmatch(r"\d+:[1-9]\d*", profile),
        "train.profile",
        profile,
        "must be START:NUM_STEPS (e.g. 10:5: the 5 steps after step 10), or empty",
    )
    restore = str(config.train.restore)
    check(
        restore in ("latest", "best") or restore.isdigit(),
        "train.restore",
        restore,
        "choose latest, best or a step number",
    )


def _model(config: ml_collections.ConfigDict) -> None:
    buckets, distance = config.model.relative_attention_num_buckets, config.model.relative_attention_max_distance
    check(
        buckets >= 4,
        "model.relative_attention_num_buckets",
        buckets,
        "must be >= 4 (half for keys before the query, half after, each half exact and log-spaced; T5: 32)",
    )
    check(
        distance > buckets // 2,
        "model.relative_attention_max_distance",
        distance,
        f"must exceed the exact buckets (relative_attention_num_buckets // 2 = {buckets // 2}); T5: 128",
    )
    factor = config.model.rope_scaling_factor
    check(0.0 < factor < math.inf, "model.rope_scaling_factor", factor, "must be finite and > 0 (1: no scaling)")
    low, high = config.model.rope_low_freq_factor, config.model.rope_high_freq_factor
    check(0 < low < high, "model.rope_low_freq_factor", low, f"must be > 0 and < model.rope_high_freq_factor={high}")
    original = config.model.rope_original_max_len
    check(original > 0, "model.rope_original_max_len", original, "must be > 0")
    for key in "model.dropout model.attention_dropout model.embedding_dropout".split():
        check(0.0 <= _get(config, key) < 1.0, key, _get(config, key), "must be in [0, 1)")
    check(
        config.model.attention == "einsum" or config.model.attention_dropout == 0.0,
        "model.attention_dropout",
        config.model.attention_dropout,
        f"must be 0 with model.attention={config.model.attention} (jax.nn.dot_product_attention has no "
        "dropout); use model.attention=einsum",
    )
    pooling = config.model.pooling
    check(pooling in (None, "first", "last", "mean"), "model.pooling", pooling, "choose one of first, last, mean")


def _data_and_training(config: ml_collections.ConfigDict) -> None:
    from lm import objectives  # JAX: see _choices_and_counts

    check(
        config.data.task in ("", "shakespeare_speakers", *("reverse", "sort", "add"), *SYNTHETIC_TASKS),
        "data.task",
        config.data.task,
        "choose shakespeare_speakers (classify), reverse, sort or add (seq2seq), repeated_tokens or "
        "modular_addition (causal), or leave empty",
    )
    check(
        config.finetune.encoder_lr_scale >= 0,
        "finetune.encoder_lr_scale",
        config.finetune.encoder_lr_scale,
        "must be >= 0",
    )
    check(
        not config.data.pack or objectives.get(config.objective).data == "labels",
        "data.pack",
        True,
        "packs texts for objective=classify only",
    )
    check(
        not config.data.shards or objectives.get(config.objective).data == "text",
        "data.shards",
        config.data.shards,
        f"holds token windows for the language-model objectives, not for objective={config.objective}",
    )
    check(
        not config.data.document_mask
        or config.data.shards
        and objectives.get(config.objective).attention == "causal"
        and objectives.get(config.objective).data == "text",
        "data.document_mask",
        True,
        "masks the documents of token shards for a causal language model: set data.shards (objective=causal)",
    )
    check(
        not config.data.hf_dataset or config.data.shards,
        "data.hf_dataset",
        config.data.hf_dataset,
        "is read by --mode=prepare into token shards, which training then reads: set --config.data.shards=DIR too",
    )
    check(0.0 < config.data.eval_fraction < 1.0, "data.eval_fraction", config.data.eval_fraction, "must be in (0, 1)")
    check(0.0 < config.data.val_fraction < 1.0, "data.val_fraction", config.data.val_fraction, "must be in (0, 1)")
    optim = config.optim
    check(0 < optim.learning_rate < math.inf, "optim.learning_rate", optim.learning_rate, "must be finite and > 0")
    check(
        0 <= optim.min_learning_rate <= optim.learning_rate,
        "optim.min_learning_rate",
        optim.min_learning_rate,
        f"must be in [0, optim.learning_rate={optim.learning_rate}]",
    )
    check(optim.warmup_steps >= 0, "optim.warmup_steps", optim.warmup_steps, "must be >= 0")
    check(optim.decay_steps is None or optim.decay_steps > 0, "optim.decay_steps", optim.decay_steps, "must be > 0")
    for key in ("b1", "b2"):  # Adam's moment decay rates
        check(0.0 <= optim[key] < 1.0, f"optim.{key}", optim[key], "must be in [0, 1)")
    check(0.0 < optim.eps < math.inf, "optim.eps", optim.eps, "must be finite and > 0")
    check(0.0 <= optim.weight_decay < math.inf, "optim.weight_decay", optim.weight_decay, "must be finite, >= 0")
    check(0.0 <= optim.grad_clip < math.inf, "optim.grad_clip", optim.grad_clip, "must be finite, >= 0 (0: off)")
    check(
        0.0 <= config.model.teacher_forcing_ratio <= 1.0,
        "model.teacher_forcing_ratio",
        config.model.teacher_forcing_ratio,
        "must be in [0, 1]",
    )
    check(0.0 <= optim.label_smoothing < 1.0, "optim.label_smoothing", optim.label_smoothing, "must be in [0, 1)")
    check(config.train.eval_every >= 0, "train.eval_every", config.train.eval_every, "must be >= 0")
    for key in ("parallel.fsdp", "parallel.tensor"):
        check(_get(config, key) >= 1, key, _get(config, key), "must be >= 1")
    data = config.parallel.data
    check(data >= 0, "parallel.data", data, "must be >= 0 (0: what fsdp x tensor leave)")
    check(
        config.data.batch_size % config.optim.grad_accum_steps == 0,
        "data.batch_size",
        config.data.batch_size,
        f"must divide into optim.grad_accum_steps={config.optim.grad_accum_steps} micro-batches",
    )
    span = config.span_corruption
    check(0.0 < span.noise_density < 1.0, "span_corruption.noise_density", span.noise_density, "must be in (0, 1)")
    check(span.mean_span_length >= 1.0, "span_corruption.mean_span_length", span.mean_span_length, "must be >= 1")
    masking = config.masking
    check(0.0 < masking.rate < 1.0, "masking.rate", masking.rate, "must be in (0, 1)")
    check(
        masking.mask_fraction >= 0
        and masking.random_fraction >= 0
        and masking.mask_fraction + masking.random_fraction <= 1,
        "masking.mask_fraction",
        masking.mask_fraction,
        f"and masking.random_fraction={masking.random_fraction} must be >= 0 and add up to at most 1",
    )
    check(
        not masking.whole_word or config.data.tokenizer == "sentencepiece",
        "masking.whole_word",
        True,
        "needs word pieces: use it with --config.data.tokenizer=sentencepiece",
    )
    check(
        config.data.tokenizer != "hf" or config.init_from or config.data.tokenizer_path,
        "data.tokenizer",
        "hf",
        "is a Hugging Face tokenizer's: set --config.data.tokenizer_path=DIR (a directory with tokenizer.json, or "
        "GPT-2's vocab.json and merges.txt), or --config.init_from=DIR (a pretrained model, its tokenizer with it)",
    )
    path = config.data.tokenizer_path
    check(
        not path or (config.data.tokenizer == "hf" and not config.init_from),
        "data.tokenizer_path",
        path,
        "names a Hugging Face tokenizer for --config.data.tokenizer=hf; init_from brings its own tokenizer",
    )


def _sampling(config: ml_collections.ConfigDict) -> None:
    check(config.sample.temperature >= 0, "sample.temperature", config.sample.temperature, "must be >= 0")
    check(0.0 < config.sample.top_p <= 1.0, "sample.top_p", config.sample.top_p, "must be in (0, 1]")
    check(
        config.sample.repetition_penalty > 0,
        "sample.repetition_penalty",
        config.sample.repetition_penalty,
        "must be > 0 (1 is off)",
    )
    check(config.sample.top_k >= 0, "sample.top_k", config.sample.top_k, "must be >= 0 (0 is off)")
    decode = config.eval_decode
    check(decode.num_examples >= 0, "eval_decode.num_examples", decode.num_examples, "must be >= 0 (0: all)")
    check(config.eval_decode.num_beams >= 1, "eval_decode.num_beams", config.eval_decode.num_beams, "must be >= 1")
    from sacrebleu.metrics.bleu import BLEU

    tokenizers = tuple(BLEU.TOKENIZERS)
    tokenize = decode.bleu_tokenize
    check(
        tokenize in tokenizers,
        "eval_decode.bleu_tokenize",
        tokenize,
        f"choose one of sacreBLEU's tokenizers: {', '.join(tokenizers)}",
    )
    stops = tuple(config.sample.stop)
    check(all(stops), "sample.stop", stops, "holds an empty string, which would end every sample at once")
    check(config.sample.num_beams >= 1, "sample.num_beams", config.sample.num_beams, "must be >= 1 (1: no beams)")
    check(
        config.sample.num_beams == 1 or config.sample.num_samples <= config.sample.num_beams,
        "sample.num_samples",
        config.sample.num_samples,
        f"must be <= sample.num_beams={config.sample.num_beams}: beam search returns its best beams",
    )
    check(config.sample.length_penalty >= 0, "sample.length_penalty", config.sample.length_penalty, "must be >= 0")


def _get(config, dotted_key):
    for part in dotted_key.split("."):
        config = config[part]
    return config


def check(ok, key, value, requirement):
    """Raises the ValueError that names the field `key`, its value, the requirement it breaks and the fix."""
    if not ok:
        raise ValueError(f"Config field {key}={value!r} {requirement}. Fix it with --config.{key}=... .")
