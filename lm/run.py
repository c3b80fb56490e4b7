"""From a config and a workdir to everything a run needs: data, model, state, runner, checkpoints.

Shared by training, evaluation and sampling. Everything that can be wrong with the input (config,
data, a workdir trained with another model) is checked here, before anything is written.
"""

import dataclasses
import json
import os
from typing import Callable

import jax
import ml_collections

from lm import checkpoint, data_cache, hf, labelled, objectives, optim, parallel, step, tokenizers
from lm import config as config_lib
from lm import data as data_lib
from lm.model import ModelConfig, TransformerLM, count_params, init_params, transplant

CONFIG_FILE = "config.json"


@dataclasses.dataclass
class Run:
    config: ml_collections.ConfigDict  # resolved
    workdir: str
    data: data_lib.Dataset | labelled.LabelledDataset | None  # None when sampling or scoring
    tokenizer: tokenizers.Tokenizer
    objective: objectives.Objective
    model: TransformerLM
    state: step.TrainState  # on the host's first device, not yet replicated
    runner: parallel.Runner
    checkpointer: checkpoint.Checkpointer
    eval_fn: Callable | None = None  # the compiled eval step, made on first use


@dataclasses.dataclass
class Pretrained:
    """What `init_from` names: a pretraining workdir of ours, or a Hugging Face model directory."""

    path: str
    model: dict  # the architecture fields (ARCHITECTURE) and size
    tokenizer: tokenizers.Tokenizer
    load_params: Callable[[], dict]  # read on demand: a resumed run never needs them


def load_pretrained(path: str) -> Pretrained:
    """The architecture, tokenizer and (lazily) weights of a workdir or a Hugging Face directory."""
    path = os.path.expanduser(path)
    if hf.is_hf_directory(path):
        fields, params = hf.read_model(path)
        tokenizer = tokenizers.HFTokenizer.from_directory(path)
        defaults = {f.name: f.default for f in dataclasses.fields(ModelConfig) if f.name in ARCHITECTURE}
        model = {**defaults, **fields, "size": "custom"}
        if tokenizer.vocab_size > model["vocab_size"]:
            raise ValueError(
                f"The tokenizer in {path} has {tokenizer.vocab_size} tokens but the model's embedding only "
                f"{model['vocab_size']}: the tokenizer files belong to another model."
            )
        return Pretrained(path, model, tokenizer, lambda: params)
    saved = read_config(path)
    if saved is None:
        raise ValueError(
            f"--config.init_from={path!r} is neither a workdir (no config.json from launch.py --mode=train) nor a "
            "Hugging Face model directory (config.json with a model_type, model.safetensors and the tokenizer's "
            "files). Point it at one of these."
        )
    tokenizer = tokenizers.load(path)
    return Pretrained(path, saved["model"], tokenizer, checkpoint.Checkpointer(path, create=False).restore_params)


def prepare(config: ml_collections.ConfigDict, workdir: str, restore: str = "if_present", data: bool = True) -> Run:
    """Loads data, builds the model and state, and restores the latest checkpoint of `workdir`.

    With `init_from` (a pretraining workdir or a Hugging Face model directory) the run takes that
    model's architecture and tokenizer, and its weights for everything but a new fine-tuning head
    (unless the workdir has a checkpoint of its own, which wins).

    Args:
      config: the experiment config with command-line overrides (not yet resolved).
      workdir: the run's directory; its saved tokenizer, config and cached token ids are reused.
      restore: "if_present" (train: resume when there is a checkpoint), "required" (eval, sample,
        score: the workdir's checkpoint, else init_from's weights) or "never" (bench: fresh weights).
      data: False skips reading the dataset (sampling and scoring need only the tokenizer).
    """
    config_lib.validate(config)
    check_platform(config)
    saved_config = read_config(workdir)
    finetuning = config.objective in ("classify", "tag")
    pretrained = load_pretrained(config.init_from) if config.init_from else None
    if pretrained:
        config = adopt_architecture(config, pretrained)
    tokenizer = tokenizers.load(workdir) or (pretrained.tokenizer if pretrained else None)
    if saved_config and tokenizer and saved_config["data"]["tokenizer"] != config.data.tokenizer:
        raise ValueError(
            f"--workdir={workdir} was trained with data.tokenizer={saved_config['data']['tokenizer']!r}, not "
            f"{config.data.tokenizer!r}. Use the config that trained it, or a fresh --workdir."
        )
    checkpointer = checkpoint.Checkpointer(workdir, config.train.keep_checkpoints, create=False)
    resume = restore != "never" and checkpointer.latest_step() is not None
    if restore == "required" and not resume and not pretrained:
        raise ValueError(
            f"No checkpoint in {workdir}. Train first (--mode=train) with this --workdir, or name a pretrained "
            "model with --config.init_from=DIR (a workdir or a Hugging Face model directory)."
        )
    dataset = None
    if finetuning:
        dataset = labelled.load(config.data, tokenizer, config.objective == "tag", labelled.load_labels(workdir))
        config.model.num_classes = len(dataset.label_names)
    elif data:
        # Eval keeps the token ids in an existing workdir; training keeps them once its checks have passed
        # and it has created the workdir (lm/train.py); bench only reads them: it writes nothing.
        write_cache = restore == "required" and os.path.isdir(workdir)
        cache_dir = os.path.join(workdir, data_cache.DIRECTORY)
        dataset = data_lib.load(config.data, tokenizer, config.objective != "causal", cache_dir, write_cache)
    tokenizer = dataset.tokenizer if dataset else tokenizer
    config = config_lib.resolve(config, tokenizer.vocab_size)
    if saved_config:
        check_same_model(config, saved_config, workdir)
    runner = parallel.Runner.for_config(config.train.data_parallel)
    runner.check_batch_size(
        config.data.batch_size // config.optim.grad_accum_steps, "data.batch_size / optim.grad_accum_steps"
    )
    runner.check_batch_size(config.train.eval_batch_size, "train.eval_batch_size")

    objective = objectives.make(config, tokenizer)
    model = TransformerLM(ModelConfig.from_config(config.model))
    params = jax.jit(init_params, static_argnums=(0, 2, 3))(
        model, jax.random.PRNGKey(config.seed), config.data.seq_len, objective.method
    )
    if pretrained and config.finetune.load_weights and not resume:
        params, copied = transplant(params, pretrained.load_params())
        new_head = " ; the head is new" if finetuning else ""
        print(f"init_from {pretrained.path}: {copied} pretrained arrays restored{new_head}", flush=True)
    scale = 0.0 if config.finetune.freeze_encoder else config.finetune.encoder_lr_scale
    tx = optim.make(config.optim, scale if finetuning else 1.0)
    state = step.TrainState.create(apply_fn=model.apply, params=params, tx=tx)
    if resume:
        state = checkpointer.restore(state)
    return Run(config, workdir, dataset, tokenizer, objective, model, state, runner, checkpointer)


def compile_train_step(run: Run):
    """The run's train step, compiled by its runner (training and --mode=bench run this same step)."""
    c = run.config
    return run.runner.compile(
        step.train_step,
        seed=c.seed,
        learning_rate=optim.schedule(c.optim),
        objective=run.objective,
        grad_accum_steps=c.optim.grad_accum_steps,
    )


# Fields that fix the shapes and the function of a pretrained model; fine-tuning may change the rest
# (dropout, pooling, the head, the compute dtype).
ARCHITECTURE = (
    "vocab_size num_layers num_heads d_model d_ff max_len causal position rope_base mlp gelu_approximate norm "
    "norm_eps norm_position embedding_norm type_vocab_size use_bias tie_embeddings mlm_transform head_bias"
).split()


def adopt_architecture(config: ml_collections.ConfigDict, pretrained: Pretrained) -> ml_collections.ConfigDict:
    """config with the pretrained model's architecture and tokenizer kind.

    Raises:
      ValueError: the objective needs the other attention direction (a causal LM from an encoder,
        or a masked LM from a decoder).
    """
    causal = pretrained.model["causal"]
    wrong = {"causal": not causal, "masked": causal}.get(config.objective, False)
    if wrong:
        kind = "a causal (decoder)" if causal else "a bidirectional (encoder)"
        raise ValueError(
            f"--config.init_from={pretrained.path} is {kind} model, which objective={config.objective!r} cannot "
            f"train. Use objective={'causal' if causal else 'masked'} (or classify / tag to fine-tune it)."
        )
    config = config.copy_and_resolve_references()
    for field in ARCHITECTURE:
        config.model[field] = pretrained.model[field]
    config.model.size = pretrained.model["size"]
    config.data.tokenizer = pretrained.tokenizer.kind
    return config


def read_config(workdir: str) -> dict | None:
    path = os.path.join(workdir, CONFIG_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def write_config(config: ml_collections.ConfigDict, workdir: str) -> None:
    """The resolved config, written atomically (a crash never leaves half a file)."""
    path = os.path.join(workdir, CONFIG_FILE)
    with open(path + ".tmp", "w") as f:
        f.write(config.to_json(indent=2, sort_keys=True))
    os.replace(path + ".tmp", path)


def check_platform(config: ml_collections.ConfigDict) -> None:
    """Choices that only some devices can run, refused before anything else happens."""
    if config.model.attention == "cudnn":
        if jax.default_backend() != "gpu":
            raise ValueError(
                f"model.attention=cudnn is cuDNN's fused attention, for NVIDIA GPUs; this machine runs on "
                f"{jax.default_backend()}. Use --config.model.attention=xla (or einsum)."
            )
        if config.model.dtype == "float32":
            raise ValueError(
                "model.attention=cudnn computes in bfloat16 (or float16), not float32. Add "
                "--config.model.dtype=bfloat16, or use --config.model.attention=xla."
            )


# Fields that change how the step computes, not what: a resumed run may change them (to fit memory, say).
HOW_NOT_WHAT = ("remat", "attention")


def check_same_model(config: ml_collections.ConfigDict, saved: dict, workdir: str) -> None:
    """A workdir holds one model: its checkpoints only fit the model config that wrote them."""
    ours = config.model.to_dict()
    theirs = saved.get("model", {})
    differ = [
        f"model.{k}: {theirs.get(k)!r} in the workdir, {ours.get(k)!r} now"
        for k in sorted(ours)
        if theirs.get(k) != ours.get(k) and k not in HOW_NOT_WHAT
    ]
    if differ:
        raise ValueError(
            f"--workdir={workdir} holds a run of a different model ({'; '.join(differ)}). Pass the config that "
            "trained it (its config.json lists every field), or use a fresh --workdir for the new model."
        )


def describe(run: Run) -> str:
    """What this run is, for the first lines of the console."""
    c, m = run.config, run.config.model
    n = count_params(run.state.params)
    tokenizer = f"{run.tokenizer.kind} tokenizer, vocab {run.tokenizer.vocab_size}"
    lines = [
        f"data: {run.data.name} | {tokenizer} | {run.data.describe()}" if run.data else f"tokenizer: {tokenizer}",
        f"objective: {c.objective} | model: {m.size}, {'causal' if m.causal else 'bidirectional'} | "
        f"{m.num_layers} layers, {m.num_heads} heads, d_model {m.d_model}, d_ff {m.d_ff}, "
        f"context {m.max_len}, {m.position} positions | {n:,} parameters "
        f"({optim.num_decayed(run.state.params, c.optim.decay_embeddings):,} with weight decay) | {m.dtype}",
        f"devices: {run.runner.num_devices} x {jax.devices()[0].platform} "
        f"({'pmap data parallel' if run.runner.pmap else 'jit'}) | batch {c.data.batch_size} x {c.data.seq_len} "
        f"tokens" + (f" in {c.optim.grad_accum_steps} micro-batches" if c.optim.grad_accum_steps > 1 else ""),
    ]
    if getattr(run.data, "optimal_loss", None) is not None:
        lines.append(
            f"built-in corpus: the generator's own loss on the eval split is {run.data.optimal_loss:.4f} "
            "nats/token (the best any model can do)"
        )
    return "\n".join(lines)
