"""The training loop: resume, step, log, evaluate, checkpoint, and sample at the end.

The loop only moves data and reads metrics when it logs them; the step itself (lm/step.py) is a
pure function compiled once by the runner (lm/parallel.py), and so are the evaluators (lm/evaluators/).
"""

import os

import ml_collections
import numpy as np

from lm import console, evaluators, modes, workdir_files
from lm import metrics as metrics_lib
from lm.data import tokenizers
from lm.decoding.text import encode_prompt
from lm.run import Run, compile_train_step, describe, make_evaluators, prepare


def train(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Trains to config.train.num_steps, resuming from the workdir's latest checkpoint.

    Returns:
      The final eval metrics ("eval/loss", ...).
    """
    run = prepare(config, workdir)
    config = run.config
    evals = make_evaluators(run)
    if config.model.causal:
        encode_prompt(run.model, run.tokenizer, config.sample)  # a bad prompt fails now, not after training
    os.makedirs(workdir, exist_ok=True)
    workdir_files.write_config(config, workdir)
    tokenizers.save(run.tokenizer, workdir)
    run.data.save(workdir)  # what the next launch needs of the data: token ids, label names
    console.log(describe(run))

    start = int(run.state.step)
    if start:
        console.log(f"resuming from the checkpoint at step {start}")
    train_fn = compile_train_step(run)
    state = run.runner.put_state(run.state)
    writer = metrics_lib.MetricsWriter(workdir)
    progress = metrics_lib.Progress(start, config.train.num_steps, config.data.batch_size * config.data.seq_len)
    pending = []  # device-side metrics since the last log: read only when logged, no sync per step
    eval_metrics = {}
    batches = (
        run.data.train_batch(s, config.seed, config.data.batch_size, config.data.seq_len)
        for s in range(start, config.train.num_steps)
    )
    for s, batch in zip(range(start, config.train.num_steps), run.runner.prefetch(batches), strict=True):
        state, metrics = train_fn(state, batch)
        pending.append(metrics)
        done = s + 1
        last = done == config.train.num_steps
        if done % config.train.log_every == 0 or last:
            logged = _mean([run.runner.get_metrics(m) for m in pending])
            pending = []
            writer.write(done, {f"train/{k}": v for k, v in logged.items()})
            console.log(progress.line(done, logged))
        if (config.train.eval_every and done % config.train.eval_every == 0) or last:
            eval_metrics = _evaluate(run, evals, state, writer, done)
        if done % config.train.checkpoint_every == 0 or last:
            run.checkpointer.save(run.runner.get_state(state))
    if start >= config.train.num_steps:  # nothing to train: report the checkpoint as it is
        eval_metrics = _evaluate(run, evals, state, writer, start)
    run.checkpointer.close()
    writer.close()
    if config.model.causal:
        modes.print_samples(run, run.runner.get_state(state).params)
    return eval_metrics


def _evaluate(run: Run, evals: list, state, writer, step_number: int) -> dict[str, float]:
    results = evaluators.run(evals, state)
    scalars = {f"eval/{k}": v for k, v in results.items()}
    writer.write(step_number, scalars)
    shown = " | ".join(f"{k} {v:.4f}" for k, v in results.items() if k != "tokens")
    optimal = f" | optimal loss {run.data.optimal_loss:.4f}" if run.data.optimal_loss is not None else ""
    console.log(f"eval at step {step_number}: {shown}{optimal}")
    return scalars


def _mean(records: list[dict]) -> dict[str, float]:
    """Average of the per-step metrics over the logging window (the last learning rate)."""
    mean = {k: float(np.mean([r[k] for r in records])) for k in records[0]}
    mean["learning_rate"] = float(records[-1]["learning_rate"])
    mean["tokens"] = float(np.sum([r["tokens"] for r in records]))
    return mean
