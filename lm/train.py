"""The training loop: resume, step, log, evaluate, checkpoint, and sample at the end; stop without losing a step.

The loop only moves data and reads metrics when it logs, evaluates or checkpoints; the step itself
(lm/step.py) is a pure function compiled once by the runner (lm/parallel.py), and so are the evaluators
(lm/evaluators/). What can go wrong during a run, and what happens then:

  SIGTERM / SIGINT    the step in flight finishes, its checkpoint is written and the run stops (`Preempted`);
                      the same command resumes there, and ends with the parameters of an uninterrupted run
  non-finite loss     checked on the host whenever metrics are read (never once a step): the run stops
  or gradient         before any non-finite state is saved, naming the step and the last checkpoint
                      (train.nonfinite=stop), or such steps are skipped inside the step (skip), and
                      train.max_skipped of them in a row stop the run
  a finite divergence a logged loss train.spike_factor x the recent median stops the run before its step is
                      saved; the checkpoint of the lowest eval loss is never rotated out (train.keep_best),
                      and a run that ends above it says so (`Guard`); train.restore=best goes back to it
  a second run        refused by the workdir's lock (lm/workdir_files.py)
  a failed save       an error naming the last complete checkpoint (lm/checkpoint.py)
"""

import os

import jax
import ml_collections
import numpy as np

from lm import checkpoint, console, evaluators, workdir_files
from lm import metrics as metrics_lib
from lm.data import tokenizers
from lm.decoding.text import can_generate, encode_prompt, print_samples
from lm.run import Run, compile_train_step, describe, make_evaluators, prepare
from lm.signals import StopRequests


class Preempted(Exception):
    """A signal stopped training after the checkpoint of `step` was saved."""

    def __init__(self, step: int, signal_name: str, workdir: str):
        self.step, self.signal_name = step, signal_name
        super().__init__(
            f"{signal_name}: stopped after step {step}, whose checkpoint is saved in {workdir}. Run the same "
            "command again to continue from there."
        )


class Diverged(ValueError):
    """A step's loss or gradient norm was not finite (train.nonfinite=stop)."""


def train(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Trains to config.train.num_steps, resuming from the workdir's latest readable checkpoint.

    Returns:
      The final eval metrics ("eval/loss", ...).
    Raises:
      Preempted: SIGTERM or SIGINT; the step reached is saved.
      ValueError: bad input (nothing written), another run holding the workdir, a diverged run
        (`Diverged`), or a failed checkpoint save.
    """
    run = prepare(config, workdir)
    evals = make_evaluators(run)
    if sampled(run):
        encode_prompt(run.model, run.tokenizer, run.config.sample)  # a bad prompt fails now, not after training
    metrics_lib.check_wandb(run.config.log)  # on every process: each goes on only if process 0 will
    try:
        os.makedirs(workdir, exist_ok=True)
    except OSError as e:
        raise ValueError(f"Cannot create the workdir {workdir} ({e.strerror}). Choose another --workdir.") from e
    if jax.process_index():  # several processes (jax.distributed): process 0 holds the lock and writes the files
        return _train(run, evals)
    lock = workdir_files.Lock(workdir)
    lock.acquire()
    try:
        return _train(run, evals)
    finally:
        lock.release()


def _train(run: Run, evals: list) -> dict[str, float]:
    config, workdir = run.config, run.workdir
    checkpointer = checkpoint.Checkpointer(workdir, config.train.keep_checkpoints, keep_best=config.train.keep_best)
    checkpointer.set_aside(run.checkpointer.unreadable)  # ours to write, under the lock
    start = int(run.state.step)
    if config.train.restore != "latest" and start:
        checkpointer.roll_back(start)  # a run from an earlier checkpoint: the later ones are not its own
    if (checkpointer.latest_step() or 0) != start:
        raise ValueError(
            f"The checkpoints of {workdir} changed while this run was starting (another run wrote step "
            f"{checkpointer.latest_step()}). Run the same command again."
        )
    if jax.process_index() == 0:
        workdir_files.write_config(config, workdir)
        tokenizers.save(run.tokenizer, workdir)
        run.data.save(workdir)  # what the next launch needs of the data: token ids, label names
    console.log(describe(run))
    if start:
        console.log(f"resuming from the checkpoint at step {start}")
    train_fn = compile_train_step(run)
    state = run.runner.put_state(run.state)
    fields = config.to_dict()
    hparams = metrics_lib.hyperparameters(fields)
    writer = metrics_lib.MetricsWriter(workdir, start, hparams=hparams, log=config.log, config=fields)
    progress = metrics_lib.Progress(start, config.train.num_steps, config.data.batch_size * config.data.seq_len)
    # device-side metrics not yet read; read ones not yet logged (those of the steps before a resumed checkpoint
    # that its run had not logged yet come with the checkpoint)
    pending, fetched = [], checkpointer.log_window(start) if start else []
    eval_metrics = {}
    guard = Guard(config, checkpointer, workdir, start)
    profiler = Profiler(config.train.profile, os.path.join(workdir, PROFILE))
    rows = run.runner.local_rows(config.data.batch_size)  # several processes: each reads its own rows
    batches = (
        run.data.train_batch(s, config.seed, config.data.batch_size, config.data.seq_len, rows)
        for s in range(start, config.train.num_steps)
    )
    eval_due = config.train.eval_every and start % config.train.eval_every == 0 or start >= config.train.num_steps
    if start and eval_due and not writer.has(start, "eval/"):  # a run stopped before evaluating its last step
        eval_metrics = _evaluate(run, evals, state, writer, start)
    try:
        with StopRequests() as stop:
            placed = run.runner.prefetch(batches, batch_size=config.data.batch_size)
            for s, batch in zip(range(start, config.train.num_steps), placed, strict=True):
                profiler.before(s)
                state, metrics = train_fn(state, batch)
                profiler.after(s, metrics)
                pending.append((s + 1, metrics))
                done = s + 1
                stopping = stop.requested  # read once: a signal from here on is seen after the next step
                last = done == config.train.num_steps
                log = done % config.train.log_every == 0 or last  # a stop keeps its steps in the checkpoint
                evaluate = (config.train.eval_every and done % config.train.eval_every == 0) or last
                save = done % config.train.checkpoint_every == 0 or last or stopping
                if log or evaluate or save:  # reading the metrics waits for the device: only here
                    read = [(step, _floats(run.runner.get_metrics(m))) for step, m in pending]
                    guard.check_steps(read)  # before anything of these steps is logged or saved
                    fetched, pending = fetched + read, []
                if log:
                    logged = _mean([m for _, m in fetched])
                    fetched = []
                    writer.write(done, {f"train/{k}": v for k, v in logged.items()})
                    console.log(progress.line(done, logged))
                    guard.check_logged(done, logged["loss"])  # a spike stops the run before its step is saved
                if evaluate and not stopping:
                    eval_metrics = _evaluate(run, evals, state, writer, done)
                if save:  # with the steps not yet logged: a run resumed here logs the same records
                    checkpointer.save(run.runner.get_state(state), log_window=fetched)
                if stopping:
                    checkpointer.close()  # the step reached is on disk before the run ends
                    raise Preempted(done, stop.signal_name, workdir)
        if start >= config.train.num_steps and not eval_metrics:  # nothing to train: report the checkpoint
            eval_metrics = _evaluate(run, evals, state, None, start)  # already logged at this step
    finally:
        profiler.stop()
        checkpointer.close()
        writer.close()
    guard.compare_with_best(eval_metrics)
    if sampled(run):
        print_samples(run.model, run.tokenizer, run.runner.get_state(state).params, config.sample)
    return eval_metrics


PROFILE = "profile"  # under the workdir: train.profile's traces


class Profiler:
    """train.profile = "START:NUM": a jax.profiler trace of the steps START + 1 .. START + NUM (loop indices
    START .. START + NUM - 1) into `directory`, by process 0; the last traced step is waited for, so that its
    device work is in the trace."""

    def __init__(self, spec: str, directory: str):
        first, count = map(int, spec.split(":")) if spec else (-1, 0)
        self.first, self.end, self.directory, self.tracing = first, first + count, directory, False

    def before(self, s: int) -> None:
        if s == self.first and jax.process_index() == 0:
            jax.profiler.start_trace(self.directory)
            self.tracing = True

    def after(self, s: int, metrics) -> None:
        if self.tracing and s == self.end - 1:
            jax.block_until_ready(metrics)
            self.stop()
            console.log(f"profile: steps {self.first + 1} to {self.end} traced in {self.directory}")

    def stop(self) -> None:
        if self.tracing:
            self.tracing = False
            jax.profiler.stop_trace()


def sampled(run: Run) -> bool:
    """Whether the run ends with samples: a causal model, a prompt (sample.prompt "": none) and one process
    (--mode=sample on the workdir samples a run trained on several)."""
    return can_generate(run.model) and bool(run.config.sample.prompt) and jax.process_count() == 1


class Guard:
    """What stops a diverging run before it saves a bad state, and what says a run ended worse than its best.

    - nonfinite=stop: the first step whose loss or gradient norm is not finite;
    - nonfinite=skip: train.max_skipped skipped steps in a row (a run that skips everything learns nothing);
    - spike_factor: a logged training loss above spike_factor x the median of the SPIKE_WINDOW logged before it
      (metrics.jsonl's, across resumptions) and at least SPIKE_NATS above it: a divergence that stays finite.
    Each raises Diverged naming the step and the checkpoint to continue from.
    """

    SPIKE_WINDOW, SPIKE_NATS = 10, 1.0

    def __init__(self, config, checkpointer: checkpoint.Checkpointer, workdir: str, start: int):
        self.config, self.checkpointer, self.workdir = config, checkpointer, workdir
        self.losses = [r["train/loss"] for r in metrics_lib.read(workdir) if "train/loss" in r and r["step"] <= start]
        self.skipped_in_a_row = 0

    def check_steps(self, records: list[tuple[int, dict]]) -> None:
        for step, m in records:
            if self.config.train.nonfinite == "stop" and not (np.isfinite(m["loss"]) and np.isfinite(m["grad_norm"])):
                self._stop(
                    f"Step {step} had a non-finite loss ({m['loss']}) or gradient norm ({m['grad_norm']})",
                    "or set --config.train.nonfinite=skip to skip such steps",
                )
            if self.config.train.nonfinite == "skip":
                self.skipped_in_a_row = self.skipped_in_a_row + 1 if m["skipped"] else 0
                if self.skipped_in_a_row >= self.config.train.max_skipped:
                    self._stop(
                        f"Steps {step - self.skipped_in_a_row + 1} to {step} were all skipped (non-finite loss or "
                        f"gradient; train.max_skipped={self.config.train.max_skipped} in a row)",
                        "",
                    )

    def check_logged(self, step: int, loss: float) -> None:
        factor, recent = self.config.train.spike_factor, self.losses[-self.SPIKE_WINDOW :]
        if factor and len(recent) >= 3 and np.isfinite(loss):
            median = float(np.median(recent))
            if loss > factor * median and loss > median + self.SPIKE_NATS:
                self._stop(
                    f"The training loss logged at step {step}, {loss:.4g}, is {loss / median:.1f}x the median "
                    f"{median:.4g} of the {len(recent)} logged before it (train.spike_factor={factor})",
                    "or raise --config.train.spike_factor (0: off) if such a jump is expected",
                )
        self.losses.append(loss)

    def compare_with_best(self, eval_metrics: dict) -> None:
        """A run that ends above its best checkpoint's eval loss says so, and how to use that checkpoint."""
        final, best = eval_metrics.get("eval/loss"), self.checkpointer.step_for("best")
        losses = {r["step"]: r["eval/loss"] for r in metrics_lib.read(self.workdir) if "eval/loss" in r}
        if final is None or best is None or best not in losses or not losses[best] < final:
            return
        console.log(
            f"warning: the run ended at eval/loss {final:.4f}, worse than its best checkpoint, step {best} "
            f"(eval/loss {losses[best]:.4f}), which is kept. Use it with --config.train.restore=best (eval, "
            "sample, export; or train on from it)."
        )

    def _stop(self, what: str, other_fix: str) -> None:
        best, last = self.checkpointer.step_for("best"), self.checkpointer.latest_step()
        kept = f"the last checkpoint is step {last}" if last is not None else "there is no checkpoint yet"
        if best is not None and best != last:
            kept += f", the best (lowest eval loss) step {best}"
        raise Diverged(
            f"{what}: the run diverged. Nothing after it was saved; {kept}, in {self.checkpointer.directory}. "
            f"Lower --config.optim.learning_rate (now {self.config.optim.learning_rate}) or "
            f"--config.optim.grad_clip{', ' + other_fix if other_fix else ''}; --config.train.restore=best continues "
            "from the best checkpoint."
        )


def _evaluate(run: Run, evals: list, state, writer, step_number: int) -> dict[str, float]:
    results = evaluators.run(evals, state)
    scalars = {f"eval/{k}": v for k, v in results.items()}
    if writer is not None:
        writer.write(step_number, scalars)
    shown = " | ".join(f"{k} {v:.4f}" for k, v in results.items() if k != "tokens" and not isinstance(v, list))
    optimal = f" | optimal loss {run.data.optimal_loss:.4f}" if run.data.optimal_loss is not None else ""
    console.log(f"eval at step {step_number}: {shown}{optimal}")
    return scalars


def _floats(metrics: dict) -> dict[str, float]:
    """A step's metrics as Python floats: the same numbers whether read now or from a checkpoint's window."""
    return {k: float(v) for k, v in metrics.items()}


def _mean(records: list[dict]) -> dict[str, float]:
    """Per-step metrics over the logging window: means, the last learning rate, summed tokens (and skipped
    steps, whose non-finite values the means leave out)."""
    mean = {k: float(np.mean([r[k] for r in records])) for k in records[0]}
    if "skipped" in records[0]:
        kept = [r for r in records if not r["skipped"]] or records
        mean.update({k: float(np.mean([r[k] for r in kept])) for k in ("loss", "accuracy", "grad_norm")})
        mean["skipped"] = float(np.sum([r["skipped"] for r in records]))
    mean["learning_rate"] = float(records[-1]["learning_rate"])
    mean["tokens"] = float(np.sum([r["tokens"] for r in records]))
    return mean
