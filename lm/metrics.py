"""Metrics out: WORKDIR/metrics.jsonl (one JSON object per line), TensorBoard event files, the progress line."""

import json
import os
import sys
import time
import types

import jax

if "tensorflow" not in sys.modules:
    # TensorBoard's writer imports TensorFlow when it is installed (~5 s, ~650 MB) unless the module
    # tensorboard.compat.notf exists (its "no_tensorflow" build); then it uses its own file I/O stub.
    sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))

from tensorboard.compat.proto import event_pb2, summary_pb2  # noqa: E402
from tensorboard.summary.writer.event_file_writer import EventFileWriter  # noqa: E402

METRICS_FILE = "metrics.jsonl"


class MetricsWriter:
    """Appends scalars to metrics.jsonl and to TensorBoard event files under WORKDIR/tensorboard.

    A run resumed from the checkpoint of step `start` first drops what an earlier run logged after that
    step (it is about to be logged again): metrics.jsonl keeps the records up to `start`, and TensorBoard
    is told that the run restarted after it, so it discards its later points too. (TensorBoard drops every
    point at or after a restart marker's step, so the marker goes at `start + 1`: step `start` itself was
    logged before its checkpoint and is not logged again.)
    """

    def __init__(self, workdir: str, start: int = 0):
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
        self._tensorboard = EventFileWriter(os.path.join(workdir, "tensorboard"))
        if start:
            restart = event_pb2.SessionLog(status=event_pb2.SessionLog.START)
            marker = event_pb2.Event(wall_time=time.time(), step=start + 1, session_log=restart)
            self._tensorboard.add_event(marker)

    def write(self, step: int, scalars: dict) -> None:
        """One record of `step`; a list value (a curve, e.g. eval/loss_by_position) goes to metrics.jsonl only."""
        if not self._writes:
            return
        record = {k: [float(x) for x in v] if isinstance(v, list) else float(v) for k, v in scalars.items()}
        with open(self._path, "a") as f:
            f.write(json.dumps({"step": int(step), **record}) + "\n")
        scalars = {k: v for k, v in record.items() if not isinstance(v, list)}
        values = [summary_pb2.Summary.Value(tag=k, simple_value=v) for k, v in scalars.items()]
        event = event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary_pb2.Summary(value=values))
        self._tensorboard.add_event(event)

    def has(self, step: int, prefix: str) -> bool:
        """Whether a record of `step` with a key starting with `prefix` ("eval/") is already logged."""
        records = read(os.path.dirname(self._path))
        return any(r["step"] == step and any(k.startswith(prefix) for k in r) for r in records)

    def close(self) -> None:
        if self._tensorboard is not None:
            self._tensorboard.close()


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
