"""Metrics out: WORKDIR/metrics.jsonl (one JSON object per line), TensorBoard event files, the progress line."""

import json
import os
import time

import jax

METRICS_FILE = "metrics.jsonl"


class MetricsWriter:
    """Appends scalars to metrics.jsonl and to TensorBoard event files under WORKDIR/tensorboard (through
    tensorboardX, which needs no TensorFlow), with the run's config as its hyperparameters (the HParams tab).

    A run resumed from the checkpoint of step `start` first drops what an earlier run logged after that
    step (it is about to be logged again): metrics.jsonl keeps the records up to `start`, and TensorBoard
    is told that the run restarted after it, so it discards its later points too. (TensorBoard drops every
    point at or after a restart marker's step, so the marker goes at `start + 1`: step `start` itself was
    logged before its checkpoint and is not logged again.)
    """

    def __init__(self, workdir: str, start: int = 0, hparams: dict | None = None):
        self._path = os.path.join(workdir, METRICS_FILE)
        self._writes = jax.process_index() == 0  # several processes: the first one writes, the others only read
        self._tensorboard = None
        if not self._writes:
            return
        records = read(workdir)
        kept = [r for r in records if r["step"] <= start]
        if len(kept) < len(records):
            with open(self._path + ".tmp", "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in kept)
            os.replace(self._path + ".tmp", self._path)
        # Imported here, by the runs that log: tensorboardX imports torch where it finds it installed
        # (1.5 s here), which the other modes need not pay.
        import tensorboardX
        from tensorboardX import summary as tensorboard_summary

        self._tensorboard = tensorboardX.SummaryWriter(
            os.path.join(workdir, "tensorboard"), purge_step=start + 1 if start else None, flush_secs=30
        )
        if hparams:
            # Only the session's start (its hyperparameters): TensorBoard then takes every scalar tag of the
            # run as a metric of the HParams tab, instead of a list fixed before the first eval.
            _, session_start, _ = tensorboard_summary.hparams(hparams, {})
            self._tensorboard.file_writer.add_summary(session_start, global_step=start)

    def write(self, step: int, scalars: dict) -> None:
        """One record of `step`; a list value (a curve, e.g. eval/loss_by_position) goes to metrics.jsonl only."""
        if not self._writes:
            return
        record = {k: [float(x) for x in v] if isinstance(v, list) else float(v) for k, v in scalars.items()}
        with open(self._path, "a") as f:
            f.write(json.dumps({"step": int(step), **record}) + "\n")
        for tag, value in record.items():
            if not isinstance(value, list):
                self._tensorboard.add_scalar(tag, value, int(step))
        # On disk with metrics.jsonl's line: a run killed without warning (kill -9, a lost node) keeps both
        # up to its last checkpoint, which its resumption continues from.
        self._tensorboard.flush()

    def has(self, step: int, prefix: str) -> bool:
        """Whether a record of `step` with a key starting with `prefix` ("eval/") is already logged."""
        records = read(os.path.dirname(self._path))
        return any(r["step"] == step and any(k.startswith(prefix) for k in r) for r in records)

    def close(self) -> None:
        if self._tensorboard is not None:
            self._tensorboard.close()


def hyperparameters(config: dict, prefix: str = "") -> dict:
    """A run's config (`config.to_dict()`) as TensorBoard hyperparameters: one per field, named by its dotted
    path ("optim.learning_rate"); a number, string or bool as it is, anything else (a tuple, None) as its text."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(hyperparameters(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value if isinstance(value, (bool, int, float, str)) else str(value)
    return flat


def append(workdir: str, step: int, scalars: dict[str, float]) -> None:
    """One record added to metrics.jsonl by a mode other than training (--mode=harness's numbers), where
    --mode=verify and --mode=collate read it; TensorBoard is not written."""
    if jax.process_index() == 0 and scalars:
        with open(os.path.join(workdir, METRICS_FILE), "a") as f:
            f.write(json.dumps({"step": int(step), **{k: float(v) for k, v in scalars.items()}}) + "\n")


def read(workdir: str) -> list[dict]:
    """The records of WORKDIR/metrics.jsonl, in order."""
    path = os.path.join(workdir, METRICS_FILE)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


class Progress:
    """The console line: step, loss, learning rate, steps/s, tokens/s, ETA."""

    def __init__(self, first_step: int, last_step: int, tokens_per_step: int):
        self.last_step, self.tokens_per_step = last_step, tokens_per_step
        self._time, self._step = time.perf_counter(), first_step

    def line(self, step: int, metrics: dict[str, float]) -> str:
        now = time.perf_counter()
        steps_per_s = (step - self._step) / max(now - self._time, 1e-9)
        self._time, self._step = now, step
        eta = (self.last_step - step) / max(steps_per_s, 1e-9)
        return (
            f"step {step:>6}/{self.last_step} | loss {metrics['loss']:.4f} | lr {metrics['learning_rate']:.2e} | "
            f"{steps_per_s:6.2f} steps/s | {steps_per_s * self.tokens_per_step / 1e3:7.1f}k tok/s | "
            f"ETA {_duration(eta)}"
        )


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"
