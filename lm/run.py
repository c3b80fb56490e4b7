"""Run set-up: from a config and a workdir to what a mode needs: data, model, state, runner, checkpoints.

Everything that can be wrong with the input (config, data, init_from, a workdir trained with another
model) is checked here, before anything is written. The steps, in order: the objective, the pretrained
model (init_from) and its architecture, the workdir's tokenizer and config, the data, the resolved
config, the runner, the model and its state (fresh, transplanted from init_from, or restored).
"""

import dataclasses
import functools

import jax
import ml_collections

from lm import checkpoint, console, evaluators, objectives, optim, parallel, pretrained, step, workdir_files
from lm import config as config_lib
from lm import data as data_lib
from lm.data import tokenizers
from lm.data.dataset import Dataset
from lm.models import families
from lm.models.config import ModelConfig
from lm.models.layout import count_params, transplant


@dataclasses.dataclass
class Run:
    config: ml_collections.ConfigDict  # resolved
    workdir: str | None  # None: a run that reads no workdir and writes none (bench)
    data: Dataset | None  # None when sampling or scoring
    tokenizer: tokenizers.Tokenizer
    objective: objectives.Objective
    model: families.Model
    state: step.TrainState  # on the host's first device, not yet replicated
    runner: parallel.Runner
    checkpointer: checkpoint.Checkpointer | None  # None without a workdir


def prepare(
    config: ml_collections.ConfigDict,
    workdir: str | None,
    restore: str = "if_present",
    data: bool = True,
    abstract: bool = False,
) -> Run:
    """Loads data, builds the model and state, and restores the latest checkpoint of `workdir`.

    With `init_from` (a pretraining workdir or a Hugging Face model directory) the run takes that
    model's architecture and tokenizer, and its weights for everything but a new fine-tuning head
    (unless the workdir has a checkpoint of its own, which wins).

    Args:
      config: the experiment config with command-line overrides (not yet resolved).
      workdir: the run's directory; its saved tokenizer, config and cached token ids are reused. None:
        nothing is read from a workdir (bench: the run depends only on the config).
      restore: "if_present" (train: resume when there is a checkpoint), "required" (eval, sample,
        score: the workdir's checkpoint, else init_from's weights) or "never" (fresh weights).
      data: False skips reading a text dataset (sampling and scoring need only the tokenizer).
      abstract: the state as shapes only (jax.ShapeDtypeStruct leaves), nothing allocated and no weights
        loaded: bench's preflight compiles the step for models that would not fit here.
    """
    config_lib.validate(config)
    check_platform(config)
    if workdir:
        workdir_files.check_structure(workdir)
    objective = objectives.get(config.objective)
    evaluators.names(config.evals, objective)  # an unknown evaluator fails now, not at the first eval
    init_from = pretrained.load(config.init_from) if config.init_from else None
    if init_from:
        config = pretrained.adopt_architecture(config, init_from, objective)
    saved_config = workdir_files.read_config(workdir) if workdir else None
    tokenizer = (tokenizers.load(workdir) if workdir else None) or (init_from.tokenizer if init_from else None)
    tokenizer = tokenizers.from_path(config.data, tokenizer)
    if saved_config and tokenizer:
        workdir_files.check_same_tokenizer(config, saved_config, workdir)
    checkpointer = checkpoint.Checkpointer(workdir, read_only=True) if workdir else None  # train writes under its lock
    resume = restore != "never" and checkpointer is not None and checkpointer.latest_step() is not None
    # the checkpoint train.restore names (None: the latest readable one); a step not saved fails now
    chosen = checkpointer.step_for(str(config.train.restore)) if resume and config.train.restore != "latest" else None
    if restore == "required" and not resume and not init_from:
        raise ValueError(
            f"No checkpoint in {workdir}. Train first (--mode=train) with this --workdir, or name a pretrained "
            "model with --config.init_from=DIR (a workdir or a Hugging Face model directory)."
        )
    dataset = None
    if data or objective.new_head:  # a fine-tuned model's head size comes from its labels
        dataset = data_lib.load(config, objective.data, objective.specials, tokenizer, workdir)
        tokenizer = dataset.tokenizer
    if objective.new_head:  # the labels decide the head's size; a user's other value would be ignored
        labels = len(dataset.label_names)
        if config.model.num_classes not in (0, labels):
            raise ValueError(
                f"model.num_classes={config.model.num_classes}, but {dataset.name} has {labels} labels "
                f"({', '.join(map(str, dataset.label_names[:10]))}{', ...' if labels > 10 else ''}). Leave "
                "model.num_classes unset: fine-tuning sizes the head from the labels."
            )
    extra = objective.extra_tokens(config) if objective.extra_tokens else 0  # span corruption's sentinels
    config = config_lib.resolve(config, tokenizer.vocab_size + extra)  # a copy: the caller's config stays
    if objective.new_head:
        config.model.num_classes = labels
    if saved_config:
        workdir_files.check_same_model(config, saved_config, workdir)
    runner = parallel.for_config(config)
    runner.check_batch_size(
        config.data.batch_size // config.optim.grad_accum_steps, "data.batch_size / optim.grad_accum_steps"
    )
    runner.check_batch_size(config.train.eval_batch_size, "train.eval_batch_size")

    objective = objective.bind(config, tokenizer)
    model = families.build(ModelConfig.from_config(config.model))
    init = jax.jit(families.init_params, static_argnums=(0, 2, 3))  # one compilation per model, reused
    args = (model, jax.random.PRNGKey(config.seed), config.data.seq_len, objective.method)
    params = init.eval_shape(*args) if abstract else init(*args)
    if init_from and config.finetune.load_weights and not resume and not abstract:
        params, copied = transplant(params, init_from.load_params())
        new_head = " ; the head is new" if objective.new_head else ""
        console.log(f"init_from {init_from.path}: {copied} pretrained arrays restored{new_head}")
    create = functools.partial(make_state, config, model, objective=objective)
    state = jax.eval_shape(create, params) if abstract else create(params)
    if resume:  # the latest readable checkpoint, or the one train.restore names
        try:
            state = checkpointer.restore(state, chosen)
        except checkpoint.CheckpointMismatch as e:
            schedule = ("learning_rate", "min_learning_rate", "warmup_steps", "decay_steps")  # values, not structure
            changed = workdir_files.changed_fields(config, saved_config or {}, "optim", ignore=schedule)
            if changed and all(p.startswith("['opt_state']") for p in e.paths):  # clipping or decay on or off
                raise checkpoint.CheckpointMismatch(
                    f"The optimizer state of the checkpoint in {checkpointer.directory} does not fit this run's "
                    f"optimizer: {'; '.join(changed)}. Resume with the optim settings of the workdir's config.json, "
                    "or train in a fresh --workdir (with --config.init_from=THIS_WORKDIR to keep the weights).",
                    e.paths,
                ) from e
            raise
    return Run(config, workdir, dataset, tokenizer, objective, model, state, runner, checkpointer)


def make_state(config: ml_collections.ConfigDict, model, params, objective: objectives.Objective) -> step.TrainState:
    """The train state of `params`: the optimizer of config.optim (a fine-tuned head's encoder at
    finetune.encoder_lr_scale, or frozen), the model's apply."""
    scale = 0.0 if config.finetune.freeze_encoder else config.finetune.encoder_lr_scale
    tx = optim.make(config.optim, scale if objective.new_head else 1.0)
    return step.TrainState.create(apply_fn=model.apply, params=params, tx=tx)


def compile_train_step(run: Run):
    """The run's train step, compiled by its runner (training and --mode=bench run this same step)."""
    return train_step_of(run.config, run.runner, run.objective)


def train_step_of(config: ml_collections.ConfigDict, runner, objective: objectives.Objective):
    """The train step `config` asks for (seed, schedule, micro-batches, non-finite steps), compiled by `runner`."""
    return runner.compile(
        step.train_step,
        seed=config.seed,
        learning_rate=optim.schedule(config.optim),
        objective=objective,
        grad_accum_steps=config.optim.grad_accum_steps,
        skip_nonfinite=config.train.nonfinite == "skip",
    )


def make_evaluators(run: Run) -> list:
    """The evaluators config.evals names (or the objective's own), compiled once for this run."""
    return evaluators.make(run.config, run.runner, run.objective, run.data, run.model, run.workdir)


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


def describe(run: Run) -> str:
    """What this run is, for the first lines of the console."""
    c, m = run.config, run.config.model
    n = count_params(run.state.params)
    tokenizer = f"{run.tokenizer.kind} tokenizer, vocab {run.tokenizer.vocab_size}"
    kind, layers, shape = families.get(m.family).describe(m)
    lines = [
        f"data: {run.data.name} | {tokenizer} | {run.data.describe()}" if run.data else f"tokenizer: {tokenizer}",
        f"objective: {c.objective} | model: {m.size}, {kind} | {layers} layers, {shape} | {n:,} parameters "
        f"({optim.num_decayed(run.state.params, c.optim.decay_embeddings):,} with weight decay) | {m.dtype}",
        f"devices: {run.runner.num_devices} x {jax.devices()[0].platform} "
        f"({run.runner.describe()}) | batch {c.data.batch_size} x {c.data.seq_len} "
        f"tokens" + (f" in {c.optim.grad_accum_steps} micro-batches" if c.optim.grad_accum_steps > 1 else ""),
    ]
    if run.data and run.data.optimal_loss is not None:
        lines.append(
            f"built-in corpus: the generator's own loss on the eval split is {run.data.optimal_loss:.4f} "
            "nats/token (the best any model can do)"
        )
    return "\n".join(lines)
